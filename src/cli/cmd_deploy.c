/*
 * cmd_deploy.c - `certkeep deploy [NAME... | --all] [--dry-run] [--json]
 * [--timeout S]`: calls ck_deploy once per binding, prints each outcome.
 * Exit 0 when every deploy succeeded (deployed, unchanged, would-deploy),
 * 1 when any was refused, failed or rolled back.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <certkeep/deploy.h>

#include "cli/cli.h"
#include "cli/print.h"
#include "store/store.h"

static void
deploy_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep deploy [NAME... | --all] [--dry-run] [--json] [--timeout S]\n"
		"\n"
		"Deploys each binding's certificate (its lineage's current one, or the pinned\n"
		"one) to its target.  First the checks of 'certkeep bind' and the target's\n"
		"own (nothing changes if one fails); then the new set is written into a new\n"
		"generation directory beside the old one and switched in with one rename of\n"
		"DIR/live; then the server's configuration test, its graceful reload, and\n"
		"with --verify (set at bind time) a TLS handshake that must serve the new\n"
		"leaf.  If the test, the reload or the handshake fails, the previous set is\n"
		"switched back, the server reloaded again, and the old leaf verified.  A\n"
		"binding already deployed (same certificate, files intact, handshake agrees)\n"
		"is left alone.  Ctrl-C stops at the next step and rolls back.\n"
		"\n"
		"options:\n"
		"  --all          every binding\n"
		"  --dry-run      run the checks and render the files; change nothing\n"
		"  --timeout S    seconds each configuration test or reload may take\n"
		"                 (default 30; it is ended, and the deploy rolled back, after)\n"
		"  --json         an array with, per binding: name, state (deployed, unchanged,\n"
		"                 would-deploy, rolled-back, failed, refused), sha256,\n"
		"                 previous_sha256, served_sha256, verified, rolled_back,\n"
		"                 rollback_verified, generation, message\n"
		"  -h, --help     this text\n"
		"\n"
		"exit status: 0 every binding deployed or unchanged, 1 otherwise.\n");
}

static json_t *
result_json(const struct ck_deploy_result *r)
{
	return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:b, s:b, s:b, s:s?, s:s}",
			 "name", r->binding, "state", r->state,
			 "sha256", r->sha256[0] ? r->sha256 : NULL,
			 "previous_sha256", r->previous_sha256[0] ? r->previous_sha256 : NULL,
			 "served_sha256", r->served_sha256[0] ? r->served_sha256 : NULL,
			 "verified", r->verified, "rolled_back", r->rolled_back,
			 "rollback_verified", r->rollback_verified,
			 "generation", r->generation[0] ? r->generation : NULL,
			 "message", r->message);
}

/* The binding names to deploy: argv's, or every binding's (--all). */
static int
deploy_names(struct cli *cli, struct ck_store *st, int all, int argc, char **argv,
	     struct ck_strv *names, struct ck_err *err)
{
	struct ck_binding_list l = { 0 };
	size_t i;
	int i2;

	if (!all) {
		for (i2 = optind; i2 < argc; i2++)
			if (ck_strv_add(names, argv[i2], CK_STORE_ROWS_MAX, CK_STORE_NAME_MAX,
					err) != CK_OK)
				return -1;
		return 0;
	}
	(void)cli;
	if (ck_store_binding_list(st, &l, err) != CK_OK)
		return -1;
	for (i = 0; i < l.n; i++)
		if (ck_strv_add(names, l.items[i].name, CK_STORE_ROWS_MAX, CK_STORE_NAME_MAX,
				err) != CK_OK)
			break;
	ck_binding_list_cleanup(&l);
	return i == l.n ? 0 : -1;
}

int
cmd_deploy(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ck_deploy_opts o;
	struct ck_strv names = { 0 };
	struct ck_store *st = NULL;
	struct ck_err err;
	json_t *arr = NULL;
	int c, all = 0, json = 0, rc = CLI_EXIT_OK;
	size_t i;

	ck_err_clear(&err);
	memset(&o, 0, sizeof(o));
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 'n': o.dry_run = 1; break;
		case 'j': json = 1; break;
		case 't': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 || v > 3600)
				return cli_usage_error("deploy", "--timeout needs seconds, 1-3600");
			o.timeout_s = (unsigned)v;
			break;
		}
		case 'h':
			deploy_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("deploy", "unknown option");
		}
	}
	if (all == (optind < argc))
		return cli_usage_error("deploy", "give binding NAMEs or --all (one of them)");
	o.ca_bundle = cli->ca_bundle;
	cli_cancel_on_signal(cli);
	if (cli_store_open(cli, &st, &err) != 0 ||
	    deploy_names(cli, st, all, argc, argv, &names, &err) != 0) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	if (json && (arr = json_array()) == NULL) {
		rc = print_json_out(NULL);
		goto out;
	}
	for (i = 0; i < names.n; i++) {
		struct ck_deploy_result res;

		ck_err_clear(&err);
		if (ck_deploy(&cli->ctx, st, names.v[i], &o, &res, &err) != CK_OK) {
			rc = CLI_EXIT_FAIL;
			cli_fail(cli, &err);
		}
		if (res.binding[0] == '\0')
			snprintf(res.binding, sizeof(res.binding), "%s", names.v[i]);
		if (json) {
			if (json_array_append_new(arr, result_json(&res)) != 0) {
				json_decref(arr);
				arr = NULL;
				break;
			}
		} else if (res.state != NULL && strcmp(res.state, "refused") != 0 &&
			   strcmp(res.state, "rolled-back") != 0 && strcmp(res.state, "failed") != 0) {
			printf("%s: %s\n", res.binding, res.message);
		}
	}
	if (json && print_json_out(arr) != CLI_EXIT_OK)
		rc = CLI_EXIT_FAIL;
out:
	ck_strv_cleanup(&names);
	ck_store_close(st);
	return rc;
}
