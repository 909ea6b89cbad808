/*
 * cmd_list.c - `certkeep list [--json]`: one row per certificate (lineage,
 * SHA-256 thumbprint, names, not-after, key status).  Prints what the
 * store says; decides nothing.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
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

/* What the row printers share while the store streams rows. */
struct list_out {
	size_t n;                 /* rows printed so far */
};

/*
 * Writes the text of a jansson dump at one level of indent more, as
 * json_dumpf would inside an array: every newline in a dump is one
 * jansson wrote (a newline in a string is escaped), so the output is
 * byte for byte what the whole array dumped at once gives.
 */
static int
list_json_indented(const char *text)
{
	const char *p = text, *nl;

	while ((nl = strchr(p, '\n')) != NULL) {
		if (fwrite(p, 1, (size_t)(nl - p), stdout) != (size_t)(nl - p) ||
		    fputs("\n  ", stdout) == EOF)
			return -1;
		p = nl + 1;
	}
	return fputs(p, stdout) == EOF ? -1 : 0;
}

/* One row of `list --json` (ck_cert_row_fn): the array's next element. */
static enum ck_code
list_json_row(const struct ck_cert_row *r, void *arg, struct ck_err *err)
{
	struct list_out *lo = arg;
	json_t *o = print_cert_json(r);
	char *text = NULL;
	int bad;

	if (o == NULL || (text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		json_decref(o);
		return CK_FAIL(err, CK_ERR_NOMEM, "out of memory while building the JSON output");
	}
	json_decref(o);
	bad = fputs(lo->n++ == 0 ? "[\n  " : ",\n  ", stdout) == EOF ||
	      list_json_indented(text) != 0;
	free(text);
	if (bad)
		return CK_FAIL(err, CK_ERR_IO, "writing the JSON output failed");
	return CK_OK;
}

/* The end of `list --json`: "]" (or "[]" for no rows) and a newline. */
static int
list_json_end(const struct list_out *lo)
{
	if (fputs(lo->n == 0 ? "[]\n" : "\n]\n", stdout) == EOF || fflush(stdout) != 0) {
		fprintf(stderr, "certkeep: writing the JSON output failed\n");
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

/* One row of the human table (ck_cert_row_fn); the header before the first. */
static enum ck_code
list_human_row(const struct ck_cert_row *r, void *arg, struct ck_err *err)
{
	struct list_out *lo = arg;
	char date[11], sans[512], name[CK_STORE_NAME_MAX + 2];

	(void)err;
	if (lo->n++ == 0)
		printf("%-24s %-16s %-10s %-7s %s\n", "LINEAGE", "SHA-256", "NOT AFTER", "KEY",
		       "NAMES");
	snprintf(name, sizeof(name), "%s%s", r->lineage ? r->lineage : "-",
		 r->is_current ? "*" : "");
	print_date(r->not_after, date);
	print_sans(r, sans, sizeof(sans));
	printf("%-24s %.16s %-10s %-7s %s%s\n", name, r->sha256, date, print_key_state(r),
	       sans[0] ? sans : r->subject ? r->subject : "",
	       r->revoked_at != 0 ? " (REVOKED)" : "");
	return CK_OK;
}

int
cmd_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct list_out lo = { 0 };
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
	/* Rows are printed as the store reads them: memory stays the same for
	 * any number of certificates. */
	if (ck_store_cert_each(st, NULL, json ? list_json_row : list_human_row, &lo,
			       &err) != CK_OK) {
		if (lo.n > 0)
			fputs(json ? "\n" : "", stdout);
		fflush(stdout);
		rc = cli_fail(cli, &err);
	} else if (json) {
		rc = list_json_end(&lo);
	} else {
		if (lo.n == 0)
			printf("the store holds no certificates\n");
		rc = CLI_EXIT_OK;
	}
	ck_store_close(st);
	return rc;
}
