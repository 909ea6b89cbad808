/*
 * cmd_list.c - `certkeep list [--json]`: one row per certificate (lineage,
 * SHA-256 thumbprint, names, not-after, key status).  Prints what the
 * store says; decides nothing.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/print.h"
#include "store/store.h"

static void
list_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep list [--json]\n"
		"\n"
		"Lists every certificate in the store: lineage (a '*' marks the lineage's\n"
		"current certificate), SHA-256 thumbprint, not-after date, where its private\n"
		"key is (store, token, or NO KEY: the state Windows reports as \"Keyset does\n"
		"not exist\") and its names.\n"
		"\n"
		"options:\n"
		"  --json      an array of objects: name, current, sha256, sha1, subject, sans,\n"
		"              issuer, serial, not_before, not_after (RFC 3339 UTC),\n"
		"              key {algorithm, location, linked}, chain_length, origin, created,\n"
		"              profile (the ACME profile its lineage asks for, or null)\n"
		"  -h, --help  this text\n");
}

static int
list_json(const struct ck_cert_list *l)
{
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; arr != NULL && i < l->n; i++) {
		o = print_cert_json(&l->items[i]);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return print_json_out(arr);
}

static void
list_human(const struct ck_cert_list *l)
{
	char date[11], sans[512], name[CK_STORE_NAME_MAX + 2];
	size_t i;

	if (l->n == 0) {
		printf("the store holds no certificates\n");
		return;
	}
	printf("%-24s %-16s %-10s %-7s %s\n", "LINEAGE", "SHA-256", "NOT AFTER", "KEY", "NAMES");
	for (i = 0; i < l->n; i++) {
		const struct ck_cert_row *r = &l->items[i];
		snprintf(name, sizeof(name), "%s%s", r->lineage ? r->lineage : "-",
			 r->is_current ? "*" : "");
		print_date(r->not_after, date);
		print_sans(r, sans, sizeof(sans));
		printf("%-24s %.16s %-10s %-7s %s%s\n", name, r->sha256, date, print_key_state(r),
		       sans[0] ? sans : r->subject ? r->subject : "",
		       r->revoked_at != 0 ? " (REVOKED)" : "");
	}
}

int
cmd_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ck_cert_list l = { NULL, 0 };
	struct ck_store *st = NULL;
	struct ck_err err;
	int c, json = 0, rc;

	ck_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			list_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("list", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("list", "unexpected argument '%s'", argv[optind]);
	if (cli_store_open(cli, &st, &err) != 0)
		return cli_fail(cli, &err);
	if (ck_store_cert_list(st, &l, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
	} else if (json) {
		rc = list_json(&l);
	} else {
		list_human(&l);
		rc = CLI_EXIT_OK;
	}
	ck_cert_list_cleanup(&l);
	ck_store_close(st);
	return rc;
}
