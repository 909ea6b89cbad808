/*
 * cmd_agent.c - `certkeep agent`: one node of a fleet sharing one store,
 * long-running under systemd (dist/systemd/certkeep-agent.service).  It
 * heart-beats into the store's nodes table (a thread with its own store
 * handle, so a long renewal does not look like a dead node), waits for
 * the store's generation to change (ck_store_wait_change: LISTEN/NOTIFY
 * on PostgreSQL), deploys this node's bindings that are behind as soon as
 * a change arrives, and every --renew-interval runs renewal through
 * ck_renew (its claims make several agents share the lineages), keeping
 * its account sessions and ACME share (directory, nonces, connections)
 * across runs (ck_renew_cache; a store change drops stale sessions).  SIGTERM
 * or SIGINT: the running step stops at its next wait, the agent records
 * that it no longer promises heartbeats, and exits 0.
 *
 * Must never: touch another node's bindings (ck_deploy_node), or end on a
 * store error it can wait out (a lost database connection is logged and
 * tried again after a heartbeat interval).
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <certkeep/deploy.h>
#include <certkeep/renew.h>
#include <certkeep/version.h>

#include "cli/cli.h"
#include "cli/print.h"

#define AGENT_RENEW_DEFAULT_S 3600
#define AGENT_HEARTBEAT_DEFAULT_S 30
/* A binding whose deploy failed is tried again after this long (or at the
 * next change): a broken target is not reloaded every heartbeat. */
#define AGENT_DEPLOY_RETRY_S 300

static void
agent_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep agent [--renew-interval S] [--heartbeat S] [--no-renew]\n"
		"                      [--concurrency N] [--once]\n"
		"\n"
		"Runs this machine as a node of a fleet sharing one store (the global --node\n"
		"names it), until SIGTERM or SIGINT.  It records a heartbeat in the store,\n"
		"waits for changes other nodes commit (at once on PostgreSQL, by LISTEN),\n"
		"and deploys this node's bindings that are behind as soon as one arrives:\n"
		"a lineage renewed anywhere reaches this node's targets within seconds.\n"
		"Every --renew-interval it renews what is due, as 'certkeep renew --all'\n"
		"does; a lineage is claimed before it is renewed, so agents on several\n"
		"nodes share the work and never renew one lineage twice.  What it does is\n"
		"logged on stderr (the journal under systemd).\n"
		"\n"
		"options:\n"
		"  --renew-interval S   seconds between renewal runs (default %d); the first\n"
		"                       runs at start\n"
		"  --heartbeat S        seconds between heartbeats (default %d); doctor calls\n"
		"                       a node that missed three in a row stopped\n"
		"  --no-renew           deploy only: leave renewal to other nodes\n"
		"  --concurrency N      orders in flight at once while renewing (default %d)\n"
		"  --once               one round (deploy what is behind, renew), then exit\n"
		"  -h, --help           this text\n"
		"\n"
		"Exit status: 0 when stopped by SIGTERM/SIGINT (or after --once with nothing\n"
		"failed), 1 if the store cannot be opened (or --once had a failure), 2 on a\n"
		"usage error.\n",
		AGENT_RENEW_DEFAULT_S, AGENT_HEARTBEAT_DEFAULT_S, CK_RENEW_CONCURRENCY_DEFAULT);
}

int
cli_node_beat(struct cli *cli, struct ck_store *st, unsigned heartbeat_s, int restart,
	      uint64_t gen, int deployed)
{
	struct ck_node_beat b = { ck_ctx_node(&cli->ctx), CERTKEEP_VERSION, heartbeat_s, restart,
				  gen, deployed };
	struct ck_err err;

	ck_err_clear(&err);
	if (ck_store_node_beat(st, &b, &err) == CK_OK)
		return 0;
	ck_log(&cli->ctx.log, CK_LOG_WARN, "node %s: the heartbeat was not recorded: %s", b.name,
	       err.msg);
	return -1;
}

/*
 * A store handle that failed (a lost PostgreSQL connection stays lost):
 * closed and opened again; *st is NULL if that failed too (tried again
 * at the next use).
 */
static void
agent_reopen(struct cli *cli, struct ck_store **st)
{
	struct ck_err err;

	ck_store_close(*st);
	*st = NULL;
	ck_err_clear(&err);
	if (cli_store_open(cli, st, &err) != 0)
		ck_log(&cli->ctx.log, CK_LOG_ERROR, "agent: the store cannot be opened again: %s",
		       err.msg);
}

/* The heartbeat thread and what it shares with the main one. */
struct agent_beat {
	struct cli *cli;
	struct ck_store *st;      /* the thread's own handle */
	unsigned interval_s;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	uint64_t gen;             /* the generation the main thread saw last */
	pthread_t thread;
	int running;
};

static void *
agent_beat_main(void *arg)
{
	struct agent_beat *b = arg;
	struct timespec until;
	uint64_t gen;

	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += b->interval_s;
		while (!b->stop && pthread_cond_timedwait(&b->cv, &b->mu, &until) == 0)
			;
		if (b->stop)
			break;
		gen = b->gen;
		pthread_mutex_unlock(&b->mu);
		if (b->st == NULL || cli_node_beat(b->cli, b->st, b->interval_s, 0, gen, 0) != 0)
			agent_reopen(b->cli, &b->st);
		pthread_mutex_lock(&b->mu);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* Starts the heartbeat thread on a handle of its own; 0, or -1 with err set. */
static int
agent_beat_start(struct agent_beat *b, struct ck_err *err)
{
	sigset_t term, old;
	int made;

	if (cli_store_open(b->cli, &b->st, err) != 0)
		return -1;
	/* SIGTERM/SIGINT go to the main thread, whose waits they must end:
	 * the heartbeat thread is started with them blocked. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	pthread_sigmask(SIG_BLOCK, &term, &old);
	made = pthread_create(&b->thread, NULL, agent_beat_main, b) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!made) {
		ck_store_close(b->st);
		b->st = NULL;
		ck_err_set(err, CK_ERR_INTERNAL, __func__, "cannot start the heartbeat thread");
		return -1;
	}
	b->running = 1;
	return 0;
}

static void
agent_beat_stop(struct agent_beat *b)
{
	if (b->running) {
		pthread_mutex_lock(&b->mu);
		b->stop = 1;
		pthread_cond_signal(&b->cv);
		pthread_mutex_unlock(&b->mu);
		pthread_join(b->thread, NULL);
		b->running = 0;
	}
	ck_store_close(b->st);
	b->st = NULL;
}

static void
agent_beat_seen(struct agent_beat *b, uint64_t gen)
{
	pthread_mutex_lock(&b->mu);
	b->gen = gen;
	pthread_mutex_unlock(&b->mu);
}

/* After a renewal: this node's bindings of the lineage (ck_renew_deploy_fn). */
static enum ck_code
agent_redeploy(void *arg, const struct ck_ctx *ctx, struct ck_store *st, const char *lineage,
	       struct ck_err *err)
{
	return ck_deploy_lineage(ctx, st, lineage, arg, NULL, err);
}

/* What one agent runs with. */
struct agent {
	struct cli *cli;
	struct ck_store *st;
	struct ck_deploy_opts dopts;
	struct ck_renew_opts ropts;
	unsigned renew_s, beat_s;
	int no_renew, once;
	struct agent_beat beat;
	long long next_renew;     /* ck_mono_ms() of the next renewal run */
	long long deploy_retry;   /* ... of the next try of a failed deploy; 0 = none */
	int deploy_due;           /* the store changed (or the agent started) */
};

/* One renewal run of every lineage; 0 when nothing failed. */
static int
agent_renew(struct agent *a)
{
	struct ck_renew_report rep;
	struct ck_err err;
	int bad = 0;

	memset(&rep, 0, sizeof(rep));
	ck_err_clear(&err);
	if (ck_renew(&a->cli->ctx, a->st, &a->ropts, &rep, &err) != CK_OK) {
		ck_log(&a->cli->ctx.log, CK_LOG_ERROR, "agent: renewal did not run: %s", err.msg);
		return -1;
	}
	ck_log(&a->cli->ctx.log, CK_LOG_INFO,
	       "agent: renewal: %zu due, %zu renewed, %zu waiting, %zu failed, %zu claimed by "
	       "another node", rep.counts.total, rep.counts.renewed, rep.counts.waiting,
	       rep.counts.failed, rep.counts.claimed);
	bad = rep.counts.failed > 0;
	ck_renew_report_cleanup(&rep);
	return bad ? -1 : 0;
}

/*
 * One round: this node's bindings that are behind (after a change, or a
 * failed deploy's retry time), then (when it is time) renewal.  *gen: the
 * generation read before the deploys (a change during them wakes the next
 * wait at once).  0 when nothing failed.
 */
static int
agent_round(struct agent *a, uint64_t *gen)
{
	struct ck_err err;
	int bad = 0, dep = CLI_EXIT_OK;
	long long now = ck_mono_ms();

	ck_err_clear(&err);
	if (a->st == NULL)
		agent_reopen(a->cli, &a->st);
	if (a->st == NULL || ck_store_generation(a->st, gen, &err) != CK_OK) {
		ck_log(&a->cli->ctx.log, CK_LOG_ERROR, "agent: the store cannot be read: %s",
		       a->st == NULL ? "not open" : err.msg);
		return -1;
	}
	agent_beat_seen(&a->beat, *gen);
	if (a->deploy_due || (a->deploy_retry != 0 && now >= a->deploy_retry)) {
		dep = cli_deploy_node(a->cli, a->st, &a->dopts, 1, NULL);
		fflush(stdout);
		a->deploy_due = 0;
		a->deploy_retry = dep == CLI_EXIT_OK ? 0 : now + AGENT_DEPLOY_RETRY_S * 1000LL;
	}
	cli_node_beat(a->cli, a->st, a->beat_s, 0, *gen, a->deploy_retry == 0);
	bad = dep != CLI_EXIT_OK;
	if (!a->no_renew && ck_mono_ms() >= a->next_renew && !ck_ctx_cancelled(&a->cli->ctx)) {
		bad |= agent_renew(a) != 0;
		a->next_renew = ck_mono_ms() + (long long)a->renew_s * 1000;
		/* *gen stays as read before: the renewal's own change (and any
		 * other node's meanwhile) wakes the next wait at once, and the
		 * next round deploys what is still behind. */
	}
	return bad ? -1 : 0;
}

/* Rounds until cancelled (or one, --once); the exit status. */
static int
agent_loop(struct agent *a)
{
	long long left;
	uint64_t gen = 0, now_gen = 0;
	struct ck_err err;
	unsigned wait_ms;
	int bad;

	a->next_renew = ck_mono_ms();
	a->deploy_due = 1;
	for (;;) {
		bad = agent_round(a, &gen);
		if (a->once)
			return bad ? CLI_EXIT_FAIL : CLI_EXIT_OK;
		if (ck_ctx_cancelled(&a->cli->ctx))
			return CLI_EXIT_OK;
		left = (long long)a->beat_s * 1000;
		if (!a->no_renew && a->next_renew - ck_mono_ms() < left)
			left = a->next_renew - ck_mono_ms();
		if (a->deploy_retry != 0 && a->deploy_retry - ck_mono_ms() < left)
			left = a->deploy_retry - ck_mono_ms();
		wait_ms = left <= 0 ? 0 : (unsigned)left;
		ck_err_clear(&err);
		if (a->st == NULL)
			ck_err_set(&err, CK_ERR_STORE, __func__, "the store is not open");
		else if (ck_store_wait_change(a->st, gen, wait_ms, &now_gen, &err) == CK_OK) {
			if (now_gen != gen) {
				ck_log(&a->cli->ctx.log, CK_LOG_INFO, "agent: the store changed "
				       "(generation %llu -> %llu)", (unsigned long long)gen,
				       (unsigned long long)now_gen);
				a->deploy_due = 1;
				ck_renew_cache_changed(a->ropts.cache, a->st);
			}
			continue;
		}
		if (err.code == CK_ERR_CANCELLED)
			return CLI_EXIT_OK;
		ck_log(&a->cli->ctx.log, CK_LOG_ERROR, "agent: waiting for changes failed: %s; "
		       "trying again in %u s", err.msg, a->beat_s);
		agent_reopen(a->cli, &a->st);
		a->deploy_due = 1; /* what changed meanwhile is not known */
		for (left = (long long)a->beat_s * 4; left > 0 && !ck_ctx_cancelled(&a->cli->ctx);
		     left--)
			ck_sleep_ms(&a->cli->ctx, 250);
	}
}

/* argv into a; 0, or the usage error's exit status. */
static int
agent_args(struct agent *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "renew-interval", required_argument, NULL, 'r' },
		{ "heartbeat", required_argument, NULL, 'b' },
		{ "no-renew", no_argument, NULL, 'n' },
		{ "concurrency", required_argument, NULL, 'C' },
		{ "once", no_argument, NULL, '1' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if ((v = cli_number(optarg, 1, 7 * 86400)) < 0)
				return cli_usage_error("agent", "--renew-interval needs seconds "
						       "1-604800");
			a->renew_s = (unsigned)v;
			break;
		case 'b':
			if ((v = cli_number(optarg, 1, 3600)) < 0)
				return cli_usage_error("agent", "--heartbeat needs seconds 1-3600");
			a->beat_s = (unsigned)v;
			break;
		case 'C':
			if ((v = cli_number(optarg, 1, CK_RENEW_CONCURRENCY_MAX)) < 0)
				return cli_usage_error("agent", "--concurrency needs a number 1-%d",
						       CK_RENEW_CONCURRENCY_MAX);
			a->ropts.concurrency = (unsigned)v;
			break;
		case 'n': a->no_renew = 1; break;
		case '1': a->once = 1; break;
		case 'h':
			agent_usage(stdout);
			return -1;
		default:
			return cli_usage_error("agent", "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error("agent", "no arguments, only options");
	return 0;
}

int
cmd_agent(struct cli *cli, int argc, char **argv)
{
	struct agent a;
	struct ck_err err;
	int rc;

	memset(&a, 0, sizeof(a));
	a.cli = cli;
	a.renew_s = AGENT_RENEW_DEFAULT_S;
	a.beat_s = AGENT_HEARTBEAT_DEFAULT_S;
	if ((rc = agent_args(&a, argc, argv)) != 0)
		return rc < 0 ? CLI_EXIT_OK : rc;
	a.dopts.ca_bundle = cli->ca_bundle;
	a.ropts.ca_bundle = cli->ca_bundle;
	a.ropts.deploy = agent_redeploy;
	a.ropts.deploy_arg = &a.dopts;
	a.beat.cli = cli;
	a.beat.interval_s = a.beat_s;
	pthread_mutex_init(&a.beat.mu, NULL);
	pthread_cond_init(&a.beat.cv, NULL);
	ck_err_clear(&err);
	cli_cancel_on_signal(cli);
	if (ck_renew_cache_new(&cli->ctx, &a.ropts.cache, &err) != CK_OK ||
	    cli_store_open(cli, &a.st, &err) != 0 || (!a.once && agent_beat_start(&a.beat, &err))) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	cli_node_beat(cli, a.st, a.once ? 0 : a.beat_s, 1, 0, 0);
	ck_log(&cli->ctx.log, CK_LOG_INFO, "agent: node %s started (renewal %s, heartbeat every "
	       "%u s)", ck_ctx_node(&cli->ctx), a.no_renew ? "off" : "on", a.beat_s);
	rc = agent_loop(&a);
	agent_beat_stop(&a.beat);
	/* No more heartbeats promised: a stopped agent is not a dead one (a
	 * store that could not be opened again is left as the last beat said). */
	if (a.st != NULL)
		cli_node_beat(cli, a.st, 0, 0, 0, 0);
	ck_log(&cli->ctx.log, CK_LOG_INFO, "agent: node %s stopped%s", ck_ctx_node(&cli->ctx),
	       ck_ctx_cancelled(&cli->ctx) ? " (signal)" : "");
out:
	agent_beat_stop(&a.beat);
	pthread_cond_destroy(&a.beat.cv);
	pthread_mutex_destroy(&a.beat.mu);
	ck_store_close(a.st);
	ck_renew_cache_free(a.ropts.cache);
	return rc;
}
