/*
 * cmd_revoke.c - `certkeep revoke REF`: parses the options, calls
 * ck_revoke once, prints what the server said and what the store recorded.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <certkeep/revoke.h>

#include "cli/cli.h"
#include "cli/print.h"
#include "store/store.h"

static void
revoke_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep revoke REF [--reason REASON] [--with-cert-key] [--json]\n"
		"                       [--server URL] [--account NAME] [--pin-file F]\n"
		"\n"
		"Asks the ACME server to revoke a stored certificate (RFC 8555 section 7.6)\n"
		"and records the revocation (time, reason) in the store: 'list' and 'show'\n"
		"mark it, 'doctor' flags bindings that still deploy it.  Signed by the\n"
		"account that ordered it (the store's order record), else by the default\n"
		"account of the store's default server.  Revoking a certificate the server\n"
		"already revoked is not an error: the store records it.  When the server\n"
		"gives no definite answer (5xx, timeout) nothing is recorded: run the\n"
		"command again.\n"
		"\n"
		"REF is a lineage name (its current certificate), a full SHA-256 thumbprint\n"
		"or a unique prefix of at least 8 hex digits, or a SHA-1 thumbprint.\n"
		"\n"
		"options:\n"
		"  --reason REASON   unspecified (default), keyCompromise, superseded,\n"
		"                    affiliationChanged or cessationOfOperation (RFC 5280)\n"
		"  --with-cert-key   sign with the certificate's own key instead of an account\n"
		"                    (the way to revoke when the account is lost or\n"
		"                    deactivated; a key on a PKCS#11 token signs there)\n"
		"  --server URL      ACME directory URL, when the store has no order for the\n"
		"                    certificate (default: the store's default server)\n"
		"  --account NAME    account on that server (default: its default account)\n"
		"  --pin-file F      the user PIN of the token holding the signing key (the\n"
		"                    account's, or the certificate's with --with-cert-key),\n"
		"                    read from file F or fd:N; tried once, never retried\n"
		"  --json            print the result as JSON\n"
		"  -h, --help        this text\n");
}

static int
revoke_json(const struct ck_revoke_result *r)
{
	json_t *o = json_object();
	char when[21];
	int bad;

	if (o == NULL)
		return print_json_out(NULL);
	ck_time_rfc3339(r->revoked_at, when);
	bad = json_object_set_new(o, "sha256", json_string(r->sha256));
	bad |= json_object_set_new(o, "serial", json_string(r->serial));
	bad |= json_object_set_new(o, "already_revoked", json_boolean(r->already));
	bad |= json_object_set_new(o, "revoked_at", json_string(when));
	bad |= json_object_set_new(o, "reason", r->reason[0] ? json_string(r->reason) : json_null());
	bad |= json_object_set_new(o, "server", json_string(r->server));
	bad |= json_object_set_new(o, "signed_by", json_string(r->signer));
	if (bad) {
		json_decref(o);
		o = NULL;
	}
	return print_json_out(o);
}

static void
revoke_human(const struct ck_revoke_result *r)
{
	char when[21];

	ck_time_rfc3339(r->revoked_at, when);
	if (r->already)
		printf("certificate %s (serial %s) was already revoked: the server says "
		       "alreadyRevoked; recorded in the store\n", r->sha256, r->serial);
	else
		printf("revoked certificate %s (serial %s), reason %s\n", r->sha256, r->serial,
		       r->reason[0] ? r->reason : "not known");
	printf("  server     %s\n  signed by  %s\n  recorded   revoked at %s, reason %s\n",
	       r->server, r->signer, when, r->reason[0] ? r->reason : "not known");
}

int
cmd_revoke(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "with-cert-key", no_argument, NULL, 'k' },
		{ "server", required_argument, NULL, 's' },
		{ "account", required_argument, NULL, 'a' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ck_revoke_opts o = { 0 };
	struct ck_revoke_result res;
	struct ck_store *st = NULL;
	struct ck_err err;
	int c, json = 0, rc;

	ck_err_clear(&err);
	memset(&res, 0, sizeof(res));
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (ck_revoke_reason_parse(optarg, &o.reason, &err) != CK_OK)
				return cli_usage_error("revoke", "%s", err.msg);
			break;
		case 'k':
			o.with_cert_key = 1;
			break;
		case 's':
			o.server = optarg;
			break;
		case 'a':
			o.account = optarg;
			break;
		case 'p':
			o.pin_file = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			revoke_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("revoke", "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("revoke", optind >= argc ? "a REF is required"
							     : "exactly one REF, please");
	o.ca_bundle = cli->ca_bundle;
	if (cli_store_open(cli, &st, &err) != 0 ||
	    ck_revoke(&cli->ctx, st, argv[optind], &o, &res, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
	} else if (json) {
		rc = revoke_json(&res);
	} else {
		revoke_human(&res);
		rc = CLI_EXIT_OK;
	}
	ck_store_close(st);
	return rc;
}
