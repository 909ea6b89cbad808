/*
 * print_chain.c - a certificate's chains (ck_cert_chains) as `show` and
 * `chain` print them: index, the issuer the chain leads to, its length,
 * which one is selected.  Formats; the selection is the store's.
 */
#include "cli/print.h"

json_t *
print_chains_json(const struct ck_cert_chains *c)
{
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; arr != NULL && i < c->n; i++) {
		o = json_pack("{s:I, s:s, s:I, s:b}", "index", (json_int_t)i, "top_issuer",
			      c->items[i].top_issuer, "length", (json_int_t)c->items[i].certs.n,
			      "selected", i == c->selected);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

void
print_chains_human(const struct ck_cert_chains *c, const char *label)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		printf("  %-12s %zu. to \"%s\", %zu certificate(s)%s%s\n", i == 0 ? label : "", i,
		       c->items[i].top_issuer, c->items[i].certs.n, i == 0 ? ", the default" : "",
		       i == c->selected ? " (selected)" : "");
	if (c->selected >= c->n)
		printf("  %-12s chain %zu is selected but not stored: run `certkeep chain REF "
		       "--select 0`\n", "", c->selected);
}
