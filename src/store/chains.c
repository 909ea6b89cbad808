/*
 * chains.c - a certificate's chains: the default one (table chain), the
 * alternates the ACME server offered (certificates.alternates, in the
 * format crypto/alternates.h owns) and which one is selected
 * (certificates.chain_selected).  Also the pure rules that pick a chain
 * by index or by its top issuer's CN: export, deploy and issuance all
 * use these, so "which chain" is decided in this file only.
 *
 * Must never: hand out another chain than the selected one (a selection
 * the store cannot honour is an error), or record a selection that names
 * no stored chain.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/alternates.h"
#include "store/store_int.h"

/* Everything of certificate id that its chains are made of. */
struct chains_raw {
	unsigned char *der;
	size_t len;
	struct ck_der_list chain;
	char *alternates;
	int64_t selected;
};

static void
chains_raw_cleanup(struct chains_raw *r)
{
	free(r->der);
	ck_der_list_cleanup(&r->chain);
	free(r->alternates);
	memset(r, 0, sizeof(*r));
}

/*
 * No read snapshot is needed: a certificate's DER and chain never change,
 * issuance attaches its alternates once (ck_store_cert_alternates_set
 * right after the certificate is stored, before anything selects), and a
 * selection is recorded only for a chain already stored.  So the
 * selection is read first: every chain it can name is there when the
 * alternates are read after it.
 */
static enum ck_code
chains_raw_read(struct ck_store *st, int64_t id, struct chains_raw *r, struct ck_err *err)
{
	enum ck_code rc;

	rc = st_query_int(st, err, &r->selected,
			  "SELECT chain_selected FROM certificates WHERE id = ?", "i", id);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "certificate %lld is not in the store",
			       (long long)id);
	if (rc == CK_OK &&
	    (rc = ck_store_cert_der(st, id, &r->der, &r->len, &r->chain, err)) == CK_OK)
		rc = ck_store_cert_alternates(st, id, &r->alternates, err);
	return rc;
}

/* One chain (taken from *certs) with its top issuer CN, into *out. */
static enum ck_code
chains_add(const struct ck_der *leaf, struct ck_der_list *certs, struct ck_cert_chain *out,
	   struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = ck_chain_top_issuer_cn(leaf, certs, &out->top_issuer, err)) != CK_OK)
		return rc;
	out->certs = *certs;
	certs->items = NULL;
	certs->n = 0;
	return CK_OK;
}

/* The chains of r (taken from it) into *out. */
static enum ck_code
chains_build(struct chains_raw *r, struct ck_cert_chains *out, struct ck_err *err)
{
	struct ck_alternates alt = { NULL, 0 };
	struct ck_cert_chains c = { NULL, 0, 0 };
	struct ck_der leaf = { r->der, r->len };
	enum ck_code rc;
	size_t i;

	if ((rc = ck_alternates_decode(r->alternates, &alt, err)) != CK_OK) {
		ck_err_prefix(err, "the stored alternate chains are damaged");
		return rc == CK_ERR_PARSE ? CK_ERR_CORRUPT : rc;
	}
	if ((c.items = calloc(alt.n + 1, sizeof(*c.items))) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	for (i = 0; i <= alt.n; i++, c.n++)
		if ((rc = chains_add(&leaf, i == 0 ? &r->chain : &alt.chains[i - 1], &c.items[i],
				     err)) != CK_OK)
			goto out;
	c.selected = r->selected < 0 ? SIZE_MAX : (size_t)r->selected;
	*out = c;
	c.items = NULL;
	c.n = 0;
out:
	ck_cert_chains_cleanup(&c);
	ck_alternates_cleanup(&alt);
	return rc;
}

enum ck_code
ck_store_cert_chains(struct ck_store *st, int64_t id, struct ck_cert_chains *out,
		     struct ck_err *err)
{
	struct chains_raw r;
	enum ck_code rc;

	memset(&r, 0, sizeof(r));
	if ((rc = chains_raw_read(st, id, &r, err)) == CK_OK)
		rc = chains_build(&r, out, err);
	chains_raw_cleanup(&r);
	return rc;
}

enum ck_code
ck_cert_chains_selected(const struct ck_cert_chains *c, const struct ck_cert_chain **out,
			struct ck_err *err)
{
	if (c->selected >= c->n)
		return CK_FAIL(err, CK_ERR_CORRUPT,
			       "the selected chain (%zu) is not one of the %zu chains stored "
			       "(`certkeep chain REF --select 0` selects the default one)",
			       c->selected, c->n);
	*out = &c->items[c->selected];
	return CK_OK;
}

enum ck_code
ck_store_cert_chain_selected(struct ck_store *st, int64_t id, struct ck_der_list *out,
			     size_t *index, struct ck_err *err)
{
	struct ck_cert_chains c = { NULL, 0, 0 };
	const struct ck_cert_chain *sel;
	enum ck_code rc;

	if ((rc = ck_store_cert_chains(st, id, &c, err)) != CK_OK)
		return rc;
	if ((rc = ck_cert_chains_selected(&c, &sel, err)) == CK_OK) {
		if (index != NULL)
			*index = c.selected;
		*out = c.items[c.selected].certs;
		c.items[c.selected].certs.items = NULL;
		c.items[c.selected].certs.n = 0;
	}
	ck_cert_chains_cleanup(&c);
	return rc;
}

/* What chain_select_body reads and writes. */
struct chain_select_args {
	int64_t id;
	size_t index;
};

static enum ck_code
chain_select_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct chain_select_args *a = arg;
	struct ck_alternates alt = { NULL, 0 };
	char *text = NULL;
	enum ck_code rc;
	int changes = 0;
	size_t n;

	if ((rc = ck_store_cert_alternates(st, a->id, &text, err)) != CK_OK)
		return rc;
	rc = ck_alternates_decode(text, &alt, err);
	free(text);
	if (rc != CK_OK)
		return rc;
	n = alt.n;
	ck_alternates_cleanup(&alt);
	if (a->index > n)
		return CK_FAIL(err, CK_ERR_NOT_FOUND,
			       "certificate %lld has no chain %zu: it has %zu (0 to %zu)",
			       (long long)a->id, a->index, n + 1, n);
	rc = st_exec(st, err, &changes,
		     "UPDATE certificates SET chain_selected = ? WHERE id = ? AND "
		     "chain_selected <> ?", "iii", (int64_t)a->index, a->id, (int64_t)a->index);
	if (rc == CK_OK && changes > 0)
		rc = st_generation_bump_tx(st, err);
	return rc;
}

enum ck_code
ck_store_cert_chain_select(struct ck_store *st, int64_t id, size_t index, struct ck_err *err)
{
	struct chain_select_args a = { id, index };

	if (index > CK_ALTERNATES_MAX)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "no certificate has a chain %zu (at most %d)",
			       index, CK_ALTERNATES_MAX);
	return st_tx_run(st, err, "store.cert_chain_select", chain_select_body, &a);
}

/* The chains' top issuers for a message: "A" (chain 0), "B" (chain 1). */
static void
chains_offered(const struct ck_cert_chains *c, char *buf, size_t size)
{
	size_t i, used = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < c->n && used < size; i++) {
		n = snprintf(buf + used, size - used, "%s\"%s\" (chain %zu)", i ? ", " : "",
			     c->items[i].top_issuer, i);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

enum ck_code
ck_cert_chains_find_issuer(const struct ck_cert_chains *c, const char *cn, size_t *index,
			   struct ck_err *err)
{
	char offered[CK_ERR_MSG_MAX];
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (strcmp(c->items[i].top_issuer, cn) == 0) {
			*index = i;
			return CK_OK;
		}
	}
	chains_offered(c, offered, sizeof(offered));
	return CK_FAIL(err, CK_ERR_NOT_FOUND, "no chain leads to an issuer named \"%s\"; the "
		       "server offered %s", cn, offered);
}

enum ck_code
ck_cert_chains_find(const struct ck_cert_chains *c, const char *spec, size_t *index,
		    struct ck_err *err)
{
	size_t n = strspn(spec, "0123456789"), i = 0, k;

	if (spec[0] == '\0' || spec[n] != '\0' || n > 9)
		return ck_cert_chains_find_issuer(c, spec, index, err);
	for (k = 0; k < n; k++)
		i = i * 10 + (size_t)(spec[k] - '0');
	if (i >= c->n)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "there is no chain %zu: the certificate has "
			       "%zu (0 to %zu)", i, c->n, c->n - 1);
	*index = i;
	return CK_OK;
}

void
ck_cert_chains_cleanup(struct ck_cert_chains *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		ck_der_list_cleanup(&c->items[i].certs);
		free(c->items[i].top_issuer);
	}
	free(c->items);
	memset(c, 0, sizeof(*c));
}
