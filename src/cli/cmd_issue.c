/*
 * cmd_issue.c - `certkeep issue`: argv to struct ck_issue_params, the new
 * certificate's SHA-256 thumbprint to stdout.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <certkeep/tokens.h>

#include "cli/cli.h"
#include "flow/issue.h"

static void
issue_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep issue -d NAME [-d NAME]... [options]\n"
		"\n"
		"Obtains a certificate from an ACME server by http-01 into the store and\n"
		"prints its SHA-256 thumbprint.  The certificate key is stored before the\n"
		"order is finalized; the certificate is stored linked to it.\n"
		"\n"
		"options:\n"
		"  -d, --domain NAME      a DNS name or IP address (repeat for more names)\n"
		"  --name LINEAGE         lineage name (default: the first name); issuing again\n"
		"                         for a lineage makes the new certificate current\n"
		"  --server URL           ACME directory URL (default: the store's default server)\n"
		"  --account NAME         account to use (default: the server's default account)\n"
		"  --key-type T           ec256 (default), ec384, rsa2048, rsa3072, rsa4096, ed25519\n"
		"  --http-port N          port for the built-in http-01 responder (default 80)\n"
		"  --http-address A       address it listens on (default: every address)\n"
		"  --profile NAME         ask for this ACME profile (see `certkeep profiles`),\n"
		"                         recorded on the lineage and asked for again by later\n"
		"                         issues without --profile; '' clears it.  One the server\n"
		"                         does not offer is refused before any order\n"
		"  --preferred-chain CN   select the chain leading to the issuer named CN (the\n"
		"                         root, e.g. \"ISRG Root X1\") among those the server\n"
		"                         offers; recorded on the lineage and used again by\n"
		"                         later issues without it; '' clears it.  When no chain\n"
		"                         matches, the default chain is used with a warning\n"
		CLI_TOKEN_HELP
		"  -h, --help             this text\n");
}

int
cmd_issue(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "server", required_argument, NULL, 's' },
		{ "account", required_argument, NULL, 'a' },
		{ "key-type", required_argument, NULL, 'k' },
		{ "http-port", required_argument, NULL, 'p' },
		{ "http-address", required_argument, NULL, 'A' },
		{ "profile", required_argument, NULL, 'P' },
		{ "preferred-chain", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		CLI_TOKEN_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ck_issue_params p;
	struct ck_token_target tok = { NULL, NULL, NULL };
	struct ck_issue_result res;
	struct ck_store *st = NULL;
	struct ck_err err;
	const char **names = NULL;
	size_t nnames = 0;
	int c, ret = CLI_EXIT_FAIL;

	memset(&p, 0, sizeof(p));
	ck_err_clear(&err);
	if ((names = calloc((size_t)argc + 1, sizeof(*names))) == NULL)
		return CLI_EXIT_FAIL;
	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			names[nnames++] = optarg;
			break;
		case 'n':
			p.lineage = optarg;
			break;
		case 's':
			p.server = optarg;
			break;
		case 'a':
			p.account = optarg;
			break;
		case 'k':
			if (ck_key_type_parse(optarg, &p.key_type, &err) != CK_OK) {
				ret = cli_usage_error("issue", "%s", err.msg);
				goto out;
			}
			break;
		case 'p': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 || v > 65535) {
				ret = cli_usage_error("issue", "--http-port needs a port 1-65535");
				goto out;
			}
			p.http_port = (unsigned)v;
			break;
		}
		case 'A':
			p.http_address = optarg;
			break;
		case 'P':
			p.profile = optarg;
			break;
		case 'C':
			p.preferred_chain = optarg;
			break;
		case 'h':
			issue_usage(stdout);
			ret = CLI_EXIT_OK;
			goto out;
		default:
			if (cli_token_opt(c, optarg, &tok))
				break;
			ret = cli_usage_error("issue", "unknown option");
			goto out;
		}
	}
	if (optind < argc) {
		ret = cli_usage_error("issue", "unexpected argument '%s' (names go after -d)",
				      argv[optind]);
		goto out;
	}
	if (nnames == 0) {
		ret = cli_usage_error("issue", "give at least one name with -d NAME");
		goto out;
	}
	p.names = names;
	p.nnames = nnames;
	p.token_uri = tok.uri;
	p.pkcs11_module = tok.module;
	p.pin_file = tok.pin_file;
	p.ca_bundle = cli->ca_bundle;
	if (ck_issue_check_names(p.names, p.nnames, &err) != CK_OK) {
		ret = cli_usage_error("issue", "%s", err.msg);
		goto out;
	}
	if (cli_store_open_create(cli, &st, &err) != 0) {
		ret = cli_fail(cli, &err);
		goto out;
	}
	if (ck_issue(&cli->ctx, st, &p, &res, &err) != CK_OK) {
		ret = cli_fail(cli, &err);
		goto out;
	}
	printf("%s\n", res.sha256);
	ret = CLI_EXIT_OK;
out:
	ck_store_close(st);
	free(names);
	return ret;
}
