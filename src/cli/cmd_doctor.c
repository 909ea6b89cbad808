/*
 * cmd_doctor.c - `certkeep doctor [--json] [--repair] [--prune] [--full]
 * [--pending-days N] [--expiry-days N]`: runs the
 * store's checks (ck_store_doctor), optionally its repair (relinks, never
 * deletes) and prune (orphan keys only), and prints each finding with its
 * stable code, what, why and fix.  Exit 0 when no findings remain, 1
 * otherwise.  The store decides what is wrong and what may be changed;
 * ck_doctor_run (flow/doctor.h) the order of repair, prune and checks.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/print.h"
#include "flow/doctor.h"

#include <certkeep/deploy.h>

static void
doctor_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep doctor [--json] [--repair] [--prune] [--full]\n"
		"                       [--pending-days N] [--expiry-days N] [--node-grace S]\n"
		"\n"
		"Checks every invariant of the store and explains each finding: a stable\n"
		"code, what is wrong, why it matters, and the fix.  Among them: certificates\n"
		"without their key (\"Keyset does not exist\"), keys that do not match their\n"
		"certificate, orphan keys, old pending requests, bindings naming a thumbprint\n"
		"the store does not have (IIS \"invalid certificate hash\"), expired or soon\n"
		"expiring certificates, chains that do not verify, loose file permissions;\n"
		"bindings not redeployed since a renewal, serving an expired certificate,\n"
		"or whose deployed files differ from the store (an interrupted deploy:\n"
		"which set is on disk; files edited behind certkeep's back).\n"
		"\n"
		"A certificate or key whose stored bytes still have the SHA-256 of the\n"
		"verified facts recorded when it entered the store (its public key, expiry,\n"
		"that its chain verified) is checked by that digest instead of being parsed\n"
		"and verified again; changed bytes are always recomputed.\n"
		"\n"
		"options:\n"
		"  --repair    relink certificates whose key is in the store (never deletes),\n"
		"              and record the verified facts of certificates and keys that\n"
		"              have none (a store made before certkeep recorded them), and\n"
		"              reset a lineage's stored next look that is later than it is\n"
		"              due (CK-D021), so the next renew computes it\n"
		"  --full      trust no recorded fact: parse and verify every certificate\n"
		"              and key from its stored bytes\n"
		"  --prune     remove orphan keys (keys nothing uses) and say which\n"
		"  --json      {\"actions\": [...], \"findings\": [...]}, each with code, name,\n"
		"              severity, object, what, why, fix, cert_id, key_id, fixed;\n"
		"              \"checked\": certificates, keys and how many of each were\n"
		"              recomputed rather than matched to a verified fact\n"
		"  --pending-days N  report pending requests older than N days (default 30)\n"
		"  --expiry-days N   report certificates expiring within N days (default 30)\n"
		"  --node-grace S    on a fleet, report a node whose bindings are behind\n"
		"                    their lineage's current certificate for more than S\n"
		"                    seconds (default 600; 0 = at once)\n"
		"  -h, --help  this text\n"
		"\n"
		"exit status: 0 no findings remain, 1 findings remain (or the check failed).\n");
}

static json_t *
doctor_json_list(const struct ck_findings *f)
{
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; arr != NULL && i < f->n; i++) {
		const struct ck_finding *x = &f->items[i];
		o = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:I, s:I, s:b}", "code",
			      x->code, "name", x->name, "severity", ck_severity_name(x->severity),
			      "object", x->object, "what", x->what, "why", x->why, "fix", x->fix,
			      "cert_id", (json_int_t)x->cert_id, "key_id", (json_int_t)x->key_id,
			      "fixed", x->fixed);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static void
doctor_print_one(const struct ck_finding *x, const char *prefix)
{
	printf("%s%s %s [%s] %s: %s\n", prefix, x->code, x->name, ck_severity_name(x->severity),
	       x->object ? x->object : "", x->what ? x->what : "");
	if (x->why != NULL && x->why[0] != '\0')
		printf("    why: %s\n", x->why);
	if (x->fix != NULL && x->fix[0] != '\0' && !x->fixed)
		printf("    fix: %s\n", x->fix);
}

static void
doctor_human(const struct ck_findings *actions, const struct ck_findings *f)
{
	size_t i;

	for (i = 0; i < actions->n; i++)
		doctor_print_one(&actions->items[i], actions->items[i].fixed ? "done: " : "");
	if (f->n == 0) {
		printf("no findings: every certificate is linked to its key or labelled, and "
		       "every check passed\n");
		return;
	}
	for (i = 0; i < f->n; i++)
		doctor_print_one(&f->items[i], "");
	printf("%zu finding(s)\n", f->n);
}

int
cmd_doctor(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "repair", no_argument, NULL, 'r' },
		{ "prune", no_argument, NULL, 'p' },
		{ "full", no_argument, NULL, 'F' },
		{ "pending-days", required_argument, NULL, 'P' },
		{ "expiry-days", required_argument, NULL, 'E' },
		{ "node-grace", required_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ck_doctor_report rep;
	struct ck_doctor_run_opts dopts;
	struct ck_doctor_stats stats;
	struct ck_store *st = NULL;
	struct ck_err err;
	int c, json = 0, rc;

	ck_err_clear(&err);
	memset(&rep, 0, sizeof(rep));
	memset(&dopts, 0, sizeof(dopts));
	memset(&stats, 0, sizeof(stats));
	dopts.check.stats = &stats;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'r': dopts.repair = 1; break;
		case 'p': dopts.prune = 1; break;
		case 'F': dopts.check.full = 1; break;
		case 'P':
		case 'E': {
			long v = cli_number(optarg, 1, 3650);
			if (v < 0)
				return cli_usage_error("doctor", "--%s needs a number of days, 1-3650",
						       c == 'P' ? "pending-days" : "expiry-days");
			if (c == 'P')
				dopts.check.pending_max_age_days = (int)v;
			else
				dopts.check.expiry_warn_days = (int)v;
			break;
		}
		case 'G': {
			long v = cli_number(optarg, 0, 30 * 86400);
			if (v < 0)
				return cli_usage_error("doctor", "--node-grace needs seconds, "
						       "0-2592000");
			dopts.check.node_grace_s = v == 0 ? -1 : (int)v;
			break;
		}
		case 'h':
			doctor_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("doctor", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("doctor", "unexpected argument '%s'", argv[optind]);
	if (cli_store_open(cli, &st, &err) != 0 ||
	    ck_doctor_run(st, &dopts, &rep, &err) != CK_OK ||
	    ck_deploy_doctor(&cli->ctx, st, &rep.found, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
	} else if (json) {
		json_t *o = json_pack("{s:o, s:o, s:b, s:{s:I, s:I, s:I, s:I}}", "actions",
				      doctor_json_list(&rep.actions), "findings",
				      doctor_json_list(&rep.found), "clean", rep.found.n == 0,
				      "checked", "certificates", (json_int_t)stats.certs,
				      "certificates_recomputed", (json_int_t)stats.certs_recomputed,
				      "keys", (json_int_t)stats.keys, "keys_recomputed",
				      (json_int_t)stats.keys_recomputed);
		rc = print_json_out(o);
		if (rc == CLI_EXIT_OK && rep.found.n > 0)
			rc = CLI_EXIT_FAIL;
	} else {
		doctor_human(&rep.actions, &rep.found);
		rc = rep.found.n > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	}
	ck_doctor_report_cleanup(&rep);
	ck_store_close(st);
	return rc;
}
