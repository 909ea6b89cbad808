/*
 * cmd_renew.c - `certkeep renew`: argv to struct ck_renew_opts, one call
 * to ck_renew, then a table (or JSON) of what was due, why, and what
 * became of it; a progress line on a terminal while it runs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <certkeep/deploy.h>
#include <certkeep/renew.h>

#include "cli/cli.h"
#include "cli/print.h"

static void
renew_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep renew NAME... | --all [options]\n"
		"\n"
		"Renews the lineages that are due.  Due: the CA's renewal window (ARI,\n"
		"RFC 9773) has reached the moment chosen in it, else two thirds of the\n"
		"certificate's lifetime have passed (half for lifetimes of 10 days or\n"
		"less), a little earlier by a jitter fixed per certificate; also a revoked\n"
		"certificate, one whose key is gone, one that no longer covers the\n"
		"lineage's names, and an order in flight (resumed, never placed again).\n"
		"Each lineage renews with the account, key type, profile and challenge it\n"
		"was issued with (one responder per challenge type serves every order in\n"
		"flight); the new order names the certificate it replaces where the CA offers\n"
		"ARI.  A server's Retry-After is kept in the store: nothing is sent for\n"
		"those names before it, across runs; failures back off exponentially.\n"
		"Each lineage is renewed under a lease in the store (owner, expiry, a\n"
		"fencing token): two runs or nodes sharing one store never renew the same\n"
		"lineage twice, a lease is taken over only once it expired (or its holder\n"
		"died on this node), and a run whose lease was lost commits nothing more for\n"
		"that lineage (it is reported failed: the lease was lost).\n"
		"Then this node's bindings that are behind (another node renewed their\n"
		"lineage, a deploy failed) are deployed as 'certkeep deploy' does; other\n"
		"nodes' bindings are never touched (--json: \"deploys\").\n"
		"\n"
		"options:\n"
		"  --all                  consider every lineage (else only the NAMEs given);\n"
		"                         only the due ones (or held, or in flight) are\n"
		"                         read and listed, found by their stored next-due time\n"
		"  --show-all             with --all: list the lineages not due as well (reads\n"
		"                         every lineage; NAMEs given are always listed)\n"
		"  --dry-run              list what is due, when and why; send and change nothing\n"
		"  --force                renew now even if not due (Retry-After still holds)\n"
		"  --concurrency N        orders in flight at once (default %d, at most %d)\n"
		"  --json                 print the lineages as a JSON array (--dry-run), or\n"
		"                         a summary object with them\n"
		"  --account NAME         for this run: this account on each lineage's server\n"
		"  --key-type T           for this run: a new key of this type\n"
		"  --profile NAME         for this run: ask for this ACME profile ('' = none)\n"
		"  --http-port N          for this run: prove every name by http-01 on this\n"
		"                         port (default: each lineage's recorded challenge)\n"
		"  --http-address A       for this run: the http-01 listener's address\n"
		"  --pin-file F           for this run: the user PIN's file for lineages whose\n"
		"                         keys are on a PKCS#11 token (default: each lineage's\n"
		"                         recorded one, see `certkeep issue --pin-file`)\n"
		"  --order-cap N          new orders per server per window (default %d)\n"
		"  --order-cap-window S   that window in seconds (default %d)\n"
		"  --lease-ttl S          a lineage's lease lasts S seconds without a heartbeat\n"
		"                         (default %d, %d-%d); the run extends its leases\n"
		"                         every S/3 s; a node stopped longer loses them\n"
		"  -h, --help             this text\n"
		"\n"
		"Exit status: 0 if nothing failed (lineages waiting for a Retry-After or\n"
		"claimed by another run are not failures), 1 otherwise, 2 on a usage error.\n",
		CK_RENEW_CONCURRENCY_DEFAULT, CK_RENEW_CONCURRENCY_MAX, CK_RENEW_CAP_DEFAULT,
		CK_RENEW_CAP_WINDOW_DEFAULT, CK_RENEW_LEASE_TTL_DEFAULT, CK_RENEW_LEASE_TTL_MIN,
		CK_RENEW_LEASE_TTL_MAX);
}

/* The progress line on a terminal (stderr), rewritten in place. */
static void
renew_progress(void *arg, const struct ck_renew_counts *c)
{
	const struct cli *cli = arg;
	time_t el = ck_now(&cli->ctx) - c->started;

	fprintf(stderr, "\r%zu/%zu renewed \xc2\xb7 %zu waiting for Retry-After \xc2\xb7 %zu failed "
		"\xc2\xb7 %02ld:%02ld ", c->renewed, c->total, c->waiting, c->failed,
		(long)(el / 60), (long)(el % 60));
	fflush(stderr);
}

static json_t *
renew_item_json(const struct ck_renew_item *it)
{
	json_t *o = json_object(), *w = NULL;
	int bad;

	if (o == NULL)
		return NULL;
	bad = json_object_set_new(o, "lineage", json_string(it->lineage));
	bad |= json_object_set_new(o, "state", json_string(ck_renew_state_name(it->state)));
	bad |= json_object_set_new(o, "due", json_boolean(it->why != CK_RENEW_NOT_DUE));
	bad |= json_object_set_new(o, "why", json_string(ck_renew_why_name(it->why)));
	bad |= json_object_set_new(o, "due_at", print_json_time(it->due_at));
	bad |= json_object_set_new(o, "certificate",
				   it->sha256[0] ? json_string(it->sha256) : json_null());
	bad |= json_object_set_new(o, "not_after", print_json_time(it->not_after));
	if (it->ari_end != 0 && (w = json_object()) != NULL) {
		bad |= json_object_set_new(w, "start", print_json_time(it->ari_start));
		bad |= json_object_set_new(w, "end", print_json_time(it->ari_end));
	}
	bad |= json_object_set_new(o, "ari_window", w != NULL ? w : json_null());
	bad |= json_object_set_new(o, "explanation_url", it->explanation_url
				   ? json_string(it->explanation_url) : json_null());
	bad |= json_object_set_new(o, "wait_until", print_json_time(it->wait_until));
	bad |= json_object_set_new(o, "wait_reason",
				   it->wait_reason ? json_string(it->wait_reason) : json_null());
	bad |= json_object_set_new(o, "new_certificate",
				   it->new_sha256[0] ? json_string(it->new_sha256) : json_null());
	bad |= json_object_set_new(o, "resumed", json_boolean(it->resumed));
	bad |= json_object_set_new(o, "error", it->error ? json_string(it->error) : json_null());
	bad |= json_object_set_new(o, "deploy_error",
				   it->deploy_error ? json_string(it->deploy_error) : json_null());
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int
renew_json(const struct ck_renew_report *rep, int dry_run, json_t *deploys)
{
	json_t *arr = json_array(), *o;
	size_t i;
	int bad = arr == NULL;

	for (i = 0; !bad && i < rep->n; i++)
		bad = json_array_append_new(arr, renew_item_json(&rep->items[i])) != 0;
	if (bad || dry_run) {
		if (bad)
			json_decref(arr);
		return print_json_out(bad ? NULL : arr);
	}
	if ((o = json_object()) == NULL) {
		json_decref(arr);
		return print_json_out(NULL);
	}
	bad = json_object_set_new(o, "due", json_integer((json_int_t)rep->counts.total));
	bad |= json_object_set_new(o, "renewed", json_integer((json_int_t)rep->counts.renewed));
	bad |= json_object_set_new(o, "waiting", json_integer((json_int_t)rep->counts.waiting));
	bad |= json_object_set_new(o, "failed", json_integer((json_int_t)rep->counts.failed));
	bad |= json_object_set_new(o, "claimed", json_integer((json_int_t)rep->counts.claimed));
	bad |= json_object_set_new(o, "lineages", arr);
	if (deploys != NULL)
		bad |= json_object_set(o, "deploys", deploys);
	if (bad) {
		json_decref(o);
		o = NULL;
	}
	return print_json_out(o);
}

/* One line per lineage: name, state, why, when, and what to know. */
static void
renew_table(const struct ck_renew_report *rep)
{
	char due[21], until[21];
	size_t i;

	printf("%-24s %-10s %-16s %-20s %s\n", "LINEAGE", "STATE", "WHY", "DUE", "NOTE");
	for (i = 0; i < rep->n; i++) {
		const struct ck_renew_item *it = &rep->items[i];
		const char *note = it->error ? it->error : it->wait_reason;

		if (it->due_at != 0)
			ck_time_rfc3339(it->due_at, due);
		else
			snprintf(due, sizeof(due), "now");
		printf("%-24s %-10s %-16s %-20s ", it->lineage, ck_renew_state_name(it->state),
		       ck_renew_why_name(it->why), due);
		if (it->state == CK_RENEW_ST_RENEWED)
			printf("%s%s", it->new_sha256, it->resumed ? " (order resumed)" : "");
		if (it->wait_until != 0 && it->state == CK_RENEW_ST_WAITING) {
			ck_time_rfc3339(it->wait_until, until);
			printf("until %s: ", until);
		}
		if (note != NULL)
			printf("%s", note);
		if (it->deploy_error != NULL)
			printf(" deploy failed: %s", it->deploy_error);
		if (it->explanation_url != NULL)
			printf(" (CA's explanation: %s)", it->explanation_url);
		printf("\n");
	}
	printf("%zu due: %zu renewed, %zu waiting, %zu failed, %zu claimed by another run\n",
	       rep->counts.total, rep->counts.renewed, rep->counts.waiting, rep->counts.failed,
	       rep->counts.claimed);
}

/* After a renewal: the lineage's bindings get the new certificate (ck_renew_deploy_fn). */
static enum ck_code
renew_redeploy(void *arg, const struct ck_ctx *ctx, struct ck_store *st, const char *lineage,
	       struct ck_err *err)
{
	return ck_deploy_lineage(ctx, st, lineage, arg, NULL, err);
}

/* The options that take a number; 0 on success, else a usage error's exit code. */
static int
renew_number_opt(int c, const char *arg, struct ck_renew_opts *o)
{
	long v;

	switch (c) {
	case 'C':
		if ((v = cli_number(arg, 1, CK_RENEW_CONCURRENCY_MAX)) < 0)
			return cli_usage_error("renew", "--concurrency needs a number 1-%d",
					       CK_RENEW_CONCURRENCY_MAX);
		o->concurrency = (unsigned)v;
		return 0;
	case 'p':
		if ((v = cli_number(arg, 1, 65535)) < 0)
			return cli_usage_error("renew", "--http-port needs a port 1-65535");
		o->http_port = (unsigned)v;
		return 0;
	case 'O':
		if ((v = cli_number(arg, 1, 1000000)) < 0)
			return cli_usage_error("renew", "--order-cap needs a number 1-1000000");
		o->order_cap = (unsigned)v;
		return 0;
	case 'L':
		if ((v = cli_number(arg, CK_RENEW_LEASE_TTL_MIN, CK_RENEW_LEASE_TTL_MAX)) < 0)
			return cli_usage_error("renew", "--lease-ttl needs seconds %d-%d",
					       CK_RENEW_LEASE_TTL_MIN, CK_RENEW_LEASE_TTL_MAX);
		o->lease_ttl_s = (unsigned)v;
		return 0;
	default:
		if ((v = cli_number(arg, 1, 7 * 86400)) < 0)
			return cli_usage_error("renew", "--order-cap-window needs seconds 1-604800");
		o->order_cap_window_s = (unsigned)v;
		return 0;
	}
}

int
cmd_renew(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ "show-all", no_argument, NULL, 'S' },
		{ "concurrency", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "account", required_argument, NULL, 'A' },
		{ "key-type", required_argument, NULL, 'k' },
		{ "profile", required_argument, NULL, 'P' },
		{ "http-port", required_argument, NULL, 'p' },
		{ "http-address", required_argument, NULL, 'H' },
		{ "pin-file", required_argument, NULL, 'I' },
		{ "order-cap", required_argument, NULL, 'O' },
		{ "order-cap-window", required_argument, NULL, 'W' },
		{ "lease-ttl", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ck_renew_opts o;
	struct ck_deploy_opts dopts;
	struct ck_renew_report rep;
	struct ck_store *st = NULL;
	struct ck_err err;
	json_t *deploys = NULL;
	uint64_t gen = 0;
	int c, all = 0, json = 0, ret = CLI_EXIT_FAIL, tty, dep = CLI_EXIT_OK;

	memset(&o, 0, sizeof(o));
	memset(&dopts, 0, sizeof(dopts));
	memset(&rep, 0, sizeof(rep));
	ck_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 'n': o.dry_run = 1; break;
		case 'f': o.force = 1; break;
		case 'S': o.show_all = 1; break;
		case 'j': json = 1; break;
		case 'A': o.account = optarg; break;
		case 'P': o.profile = optarg; break;
		case 'H': o.http_address = optarg; break;
		case 'I': o.pin_file = optarg; break;
		case 'k':
			if (ck_key_type_parse(optarg, &o.key_type, &err) != CK_OK)
				return cli_usage_error("renew", "%s", err.msg);
			break;
		case 'C': case 'p': case 'O': case 'W': case 'L':
			if ((ret = renew_number_opt(c, optarg, &o)) != 0)
				return ret;
			break;
		case 'h':
			renew_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("renew", "unknown option");
		}
	}
	if (all == (optind < argc))
		return cli_usage_error("renew", all ? "give lineage NAMEs or --all, not both"
						    : "give lineage NAMEs or --all");
	if (o.show_all && !all)
		return cli_usage_error("renew", "--show-all goes with --all (NAMEs given are "
				       "always listed)");
	o.lineages = (const char *const *)argv + optind;
	o.nlineages = (size_t)(argc - optind);
	o.ca_bundle = cli->ca_bundle;
	tty = !json && !o.dry_run && isatty(STDERR_FILENO);
	if (tty) {
		o.progress = renew_progress;
		o.progress_arg = cli;
	}
	if (cli_store_open(cli, &st, &err) != 0) {
		ret = cli_fail(cli, &err);
		goto out;
	}
	dopts.ca_bundle = cli->ca_bundle;
	o.deploy = renew_redeploy;
	o.deploy_arg = &dopts;
	cli_cancel_on_signal(cli);
	if (ck_renew(&cli->ctx, st, &o, &rep, &err) != CK_OK) {
		ret = cli_fail(cli, &err);
		goto out;
	}
	if (tty && rep.counts.total > 0)
		fputc('\n', stderr);
	if (!o.dry_run) { /* fan-out: this node's bindings another node's renewal left behind */
		if (json && (deploys = json_array()) == NULL)
			dep = CLI_EXIT_FAIL;
		else if (ck_store_generation(st, &gen, &err) != CK_OK)
			dep = cli_fail(cli, &err);
		else if ((dep = cli_deploy_node(cli, st, &dopts, 1, deploys)) == CLI_EXIT_OK)
			cli_node_beat(cli, st, 0, 0, gen, 1);
	}
	if (json)
		ret = renew_json(&rep, o.dry_run, deploys);
	else {
		renew_table(&rep);
		ret = CLI_EXIT_OK;
	}
	if (rep.counts.failed > 0 || dep != CLI_EXIT_OK)
		ret = CLI_EXIT_FAIL;
out:
	json_decref(deploys);
	ck_renew_report_cleanup(&rep);
	ck_store_close(st);
	return ret;
}
