/*
 * cmd_chain.c - `certkeep chain REF [--select N|CN] [--json]`: lists the
 * chains stored for a certificate (the server's default one and the
 * alternates it offered) and, with --select, records which one export
 * and deploy use (ck_chain_select decides; this prints).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <certkeep/io.h>

#include "cli/cli.h"
#include "cli/print.h"
#include "store/store.h"

static void
chain_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep chain REF [--select N|CN] [--json]\n"
		"\n"
		"Lists the chains stored for a certificate: chain 0 is the one the ACME\n"
		"server sent by default, 1, 2, ... the alternates it offered.  Each is shown\n"
		"with the issuer it leads to (the common name of the topmost certificate's\n"
		"issuer: the root), its length, and which one is selected: the chain\n"
		"'export' writes and deploys install.\n"
		"\n"
		"REF is a lineage name (its current certificate), a full SHA-256 thumbprint\n"
		"or a unique prefix of at least 8 hex digits, or a SHA-1 thumbprint.\n"
		"\n"
		"options:\n"
		"  --select N|CN  select chain N, or the first chain leading to the issuer\n"
		"                 named CN (digits only are an index); no new order is\n"
		"                 placed.  Later certificates of the lineage follow\n"
		"                 `issue --preferred-chain`, not this\n"
		"  --json         {sha256, selected, chains: [{index, top_issuer, length,\n"
		"                 selected}]}\n"
		"  -h, --help     this text\n");
}

static int
chain_print(const char *sha256, const struct ck_cert_chains *c, int json)
{
	json_t *o;

	if (!json) {
		printf("certificate %s\n", sha256);
		print_chains_human(c, "chains");
		return CLI_EXIT_OK;
	}
	o = json_object();
	if (o != NULL && (json_object_set_new(o, "sha256", json_string(sha256)) != 0 ||
			  json_object_set_new(o, "selected", json_integer((json_int_t)c->selected)) ||
			  json_object_set_new(o, "chains", print_chains_json(c)) != 0)) {
		json_decref(o);
		o = NULL;
	}
	return print_json_out(o);
}

/* Selects (when spec is given), then prints the chains as they now are. */
static int
chain_run(struct cli *cli, struct ck_store *st, const char *ref, const char *spec, int json)
{
	struct ck_cert_chains c = { NULL, 0, 0 };
	struct ck_cert_row row;
	struct ck_err err;
	int64_t id = 0;
	size_t index = 0;
	int rc;

	ck_err_clear(&err);
	memset(&row, 0, sizeof(row));
	if ((spec != NULL && ck_chain_select(st, ref, spec, &index, &err) != CK_OK) ||
	    ck_store_ref_resolve(st, ref, &id, &err) != CK_OK ||
	    ck_store_cert_get(st, id, &row, &err) != CK_OK ||
	    ck_store_cert_chains(st, id, &c, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	if (spec != NULL && !json)
		printf("chain %zu selected: export and deploy now use the chain to \"%s\"\n", index,
		       index < c.n ? c.items[index].top_issuer : "?");
	rc = chain_print(row.sha256, &c, json);
out:
	ck_cert_chains_cleanup(&c);
	ck_cert_row_cleanup(&row);
	return rc;
}

int
cmd_chain(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "select", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ck_store *st = NULL;
	struct ck_err err;
	const char *spec = NULL;
	int c, json = 0, rc;

	ck_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (optarg[0] == '\0')
				return cli_usage_error("chain", "--select needs an index or an issuer "
							"common name");
			spec = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			chain_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("chain", "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("chain", optind >= argc ? "a REF is required"
							    : "exactly one REF, please");
	if (cli_store_open(cli, &st, &err) != 0)
		return cli_fail(cli, &err);
	rc = chain_run(cli, st, argv[optind], spec, json);
	ck_store_close(st);
	return rc;
}
