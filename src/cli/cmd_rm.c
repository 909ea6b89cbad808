/*
 * cmd_rm.c - `certkeep rm REF`: resolves the reference and asks the store
 * to remove the certificate; the store refuses while a binding uses it.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"

static void
rm_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep rm REF\n"
		"\n"
		"Removes a certificate and its chain.  Refused while a binding uses it\n"
		"(change or remove the binding first).  Its key stays as an unlinked key:\n"
		"'certkeep doctor --prune' removes keys nothing uses.  If it was a lineage's\n"
		"current certificate, the lineage falls back to its newest remaining one.\n"
		"\n"
		"REF is a lineage name (its current certificate), a full SHA-256 thumbprint\n"
		"or a unique prefix of at least 8 hex digits, or a SHA-1 thumbprint.\n"
		"\n"
		"options:\n"
		"  -h, --help  this text\n");
}

int
cmd_rm(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ck_cert_row row;
	struct ck_store *st = NULL;
	struct ck_err err;
	int64_t id = 0;
	int c, rc;

	ck_err_clear(&err);
	memset(&row, 0, sizeof(row));
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			rm_usage(stdout);
			return CLI_EXIT_OK;
		}
		return cli_usage_error("rm", "unknown option");
	}
	if (optind >= argc)
		return cli_usage_error("rm", "a REF is required");
	if (optind != argc - 1)
		return cli_usage_error("rm", "exactly one REF, please");
	if (cli_store_open(cli, &st, &err) != 0 ||
	    ck_store_ref_resolve(st, argv[optind], &id, &err) != CK_OK ||
	    ck_store_cert_get(st, id, &row, &err) != CK_OK ||
	    ck_store_cert_remove(st, id, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
	} else {
		printf("removed certificate %s%s%s%s\n", row.sha256,
		       row.lineage ? " (lineage " : "", row.lineage ? row.lineage : "",
		       row.lineage ? ")" : "");
		if (row.linked)
			printf("its key %lld stays in the store; 'certkeep doctor --prune' removes "
			       "it if nothing else uses it\n", (long long)row.key_id);
		rc = CLI_EXIT_OK;
	}
	ck_cert_row_cleanup(&row);
	ck_store_close(st);
	return rc;
}
