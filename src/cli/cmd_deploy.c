/*
 * cmd_deploy.c - `certkeep deploy [NAME... | --all] [--dry-run] [--json]
 * [--timeout S]`: calls ck_deploy once per binding (NAMEs), or
 * ck_deploy_node for this node's bindings (--all) or those of them that
 * are behind (no NAME), prints each outcome.
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
		"On a fleet sharing one store each binding belongs to a node (bind --node;\n"
		"the global --node names this one): deploy never touches another node's\n"
		"binding.  Without NAMEs or --all it deploys this node's bindings that are\n"
		"behind: their lineage's current certificate (renewed by any node) is not\n"
		"the one deployed there, or a deploy failed or was interrupted.\n"
		"\n"
		"options:\n"
		"  (no NAME)      this node's bindings that are behind\n"
		"  --all          every binding of this node\n"
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

/* One outcome, printed as deploy prints it (text, or appended to arr). */
static int
deploy_print(json_t *arr, const struct ck_deploy_result *res)
{
	if (arr != NULL)
		return json_array_append_new(arr, result_json(res)) == 0 ? 0 : -1;
	if (res->state != NULL && strcmp(res->state, "refused") != 0 &&
	    strcmp(res->state, "rolled-back") != 0 && strcmp(res->state, "failed") != 0)
		printf("%s: %s\n", res->binding, res->message);
	return 0;
}

/* What deploy_each (ck_deploy_each_fn) prints into. */
struct deploy_out {
	struct cli *cli;
	json_t *arr;
	int bad;                  /* the JSON array could not grow */
	size_t tried;
};

static void
deploy_each(void *arg, const struct ck_deploy_result *r, enum ck_code rc, const struct ck_err *e)
{
	struct deploy_out *d = arg;

	d->tried++;
	if (rc != CK_OK)
		cli_fail(d->cli, e);
	if (deploy_print(d->arr, r) != 0)
		d->bad = 1;
}

int
cli_deploy_node(struct cli *cli, struct ck_store *st, const struct ck_deploy_opts *o,
		int behind_only, json_t *arr)
{
	struct deploy_out d = { cli, arr, 0, 0 };
	struct ck_err err;
	enum ck_code rc;

	ck_err_clear(&err);
	rc = ck_deploy_node(&cli->ctx, st, o, behind_only, deploy_each, &d, NULL, &err);
	if (rc != CK_OK && d.tried == 0)
		cli_fail(cli, &err); /* nothing was tried: the store could not list them */
	return rc == CK_OK && !d.bad ? CLI_EXIT_OK : CLI_EXIT_FAIL;
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
	struct ck_store *st = NULL;
	struct ck_err err;
	json_t *arr = NULL;
	int c, i, all = 0, json = 0, rc = CLI_EXIT_OK;

	ck_err_clear(&err);
	memset(&o, 0, sizeof(o));
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 'n': o.dry_run = 1; break;
		case 'j': json = 1; break;
		case 't': {
			long v = cli_number(optarg, 1, 3600);
			if (v < 0)
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
	if (all && optind < argc)
		return cli_usage_error("deploy", "give binding NAMEs or --all, not both");
	o.ca_bundle = cli->ca_bundle;
	cli_cancel_on_signal(cli);
	if (cli_store_open(cli, &st, &err) != 0) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	if (json && (arr = json_array()) == NULL) {
		rc = print_json_out(NULL);
		goto out;
	}
	if (optind == argc) {
		/* This node's bindings: the generation first, so that a change
		 * during the run is not recorded as deployed. */
		uint64_t gen = 0;
		int have_gen = ck_store_generation(st, &gen, &err) == CK_OK;

		rc = cli_deploy_node(cli, st, &o, !all, arr);
		if (have_gen && !o.dry_run)
			cli_node_beat(cli, st, 0, 0, gen, rc == CLI_EXIT_OK);
	}
	for (i = optind; i < argc; i++) {
		struct ck_deploy_result res;

		ck_err_clear(&err);
		if (ck_deploy(&cli->ctx, st, argv[i], &o, &res, &err) != CK_OK) {
			rc = CLI_EXIT_FAIL;
			cli_fail(cli, &err);
		}
		if (res.binding[0] == '\0')
			snprintf(res.binding, sizeof(res.binding), "%s", argv[i]);
		if (deploy_print(arr, &res) != 0) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	if (json && print_json_out(arr) != CLI_EXIT_OK)
		rc = CLI_EXIT_FAIL;
out:
	ck_store_close(st);
	return rc;
}
