/*
 * run.c - renews the due lineages of a plan on a small worker pool: each
 * worker has its own store handle (context.h's threading rule), pooled on
 * one connection per eight workers (pool.c), and runs
 * one lineage at a time through ck_issue, under its lease (lease.c: two
 * runs or nodes never renew one lineage twice; a run whose lease was lost
 * commits nothing), re-checking that nobody renewed it since the plan,
 * the servers' Retry-After and the per-server cap on new orders.  Records
 * the outcome: a server's Retry-After per name, a backoff per lineage, or
 * success.
 *
 * Must never: send anything for a name before a stored Retry-After, place
 * an order for a lineage whose lease another live run holds or that was
 * renewed since the plan, or stop the batch because one lineage failed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow/issue.h"
#include "renew/renew_int.h"

/* Orders placed on one server in this run (the cap's sliding window). */
struct run_server {
	const char *url;           /* borrowed from a job */
	size_t before;             /* orders in the window when the run began */
	time_t *starts;            /* orders this run placed */
	size_t n;
};

struct run {
	const struct ck_ctx *ctx;
	const char *path;
	/* The workers' handles take turns on a few connections (pool.c): one
	 * is used for milliseconds between round trips of hundreds. */
	struct ck_store_pool *conns;
	const struct ck_renew_opts *o;
	struct ck_renew_item *items;
	struct renew_job *jobs;
	size_t n;
	size_t next;               /* next item to look at */
	pthread_mutex_t lock;
	struct ck_renew_counts counts;
	struct run_server servers[RENEW_SERVERS_MAX];
	size_t nservers;
	unsigned cap, cap_window;
	struct issue_pool pool;    /* one responder per challenge type for every order in flight */
	struct ck_challenge_settings override; /* --http-port/--http-address: this run's way */
	int have_override;
	struct renew_leases leases;
};

/*
 * Workers per store connection: a renewal uses the store for about 15
 * short statements between round trips that take far longer, and SQLite
 * lets one writer in at a time whatever the count.  Measured at 1,000
 * renewals with 8 workers (bench/README.md, session 8): 8 connections
 * 19.3 MiB peak RSS, 2: 16.1-16.3 MiB, 1: 15.8 MiB, wall and CPU the same.
 */
#define RENEW_WORKERS_PER_CONN 8

/* base * 2^failures, at most max, with up to a quarter taken off at random. */
static time_t
run_backoff(int failures, time_t base, time_t max)
{
	time_t b = base;
	int i;

	for (i = 1; i < failures && b < max; i++)
		b *= 2;
	if (b > max)
		b = max;
	return b - (time_t)ck_random_below((unsigned long)b / 4 + 1);
}

/*
 * The exactly-once check, under the lease: 1 in *changed if the lineage's
 * current certificate is no longer the one the plan saw (another run or
 * node renewed it between the plan and this lease); its thumbprint in now.
 */
static enum ck_code
run_changed(struct ck_store *st, const struct ck_renew_item *it, int *changed, char now[65],
	    struct ck_err *err)
{
	struct ck_lineage lin;
	struct ck_cert_row row;
	enum ck_code rc;

	memset(&lin, 0, sizeof(lin));
	memset(&row, 0, sizeof(row));
	now[0] = '\0';
	if ((rc = ck_store_lineage_get(st, it->lineage, &lin, err)) != CK_OK)
		return rc;
	if (lin.current_cert_id != 0 &&
	    (rc = ck_store_cert_get(st, lin.current_cert_id, &row, err)) == CK_OK)
		memcpy(now, row.sha256, 65);
	*changed = strcmp(now, it->sha256) != 0;
	ck_cert_row_cleanup(&row);
	ck_lineage_cleanup(&lin);
	return rc;
}

/* The cap's record for server (made on first use; NULL past RENEW_SERVERS_MAX). */
static struct run_server *
run_server_get(struct run *r, struct ck_store *st, const char *url)
{
	struct run_server *s;
	time_t oldest;
	size_t i;

	for (i = 0; i < r->nservers; i++)
		if (strcmp(r->servers[i].url, url) == 0)
			return &r->servers[i];
	if (r->nservers == RENEW_SERVERS_MAX)
		return NULL;
	s = &r->servers[r->nservers];
	memset(s, 0, sizeof(*s));
	s->url = url;
	if ((s->starts = calloc(r->n + 1, sizeof(*s->starts))) == NULL)
		return NULL;
	if (ck_store_orders_since(st, url, ck_now(r->ctx) - r->cap_window, &s->before, &oldest,
				  NULL) != CK_OK)
		s->before = 0;
	r->nservers++;
	return s;
}

/*
 * Takes one new-order slot of the job's server (under the lock): 0 and
 * *until set when the cap is reached.  Orders placed before this run
 * count as placed at its start (a conservative window).
 */
static int
run_cap_take(struct run *r, struct ck_store *st, const struct renew_job *j, time_t *until)
{
	struct run_server *s;
	time_t now = ck_now(r->ctx);
	size_t i, used;
	int ok = 1;

	pthread_mutex_lock(&r->lock);
	if ((s = run_server_get(r, st, j->server)) != NULL) {
		used = s->before;
		for (i = 0; i < s->n; i++)
			if (s->starts[i] > now - (time_t)r->cap_window)
				used++;
		if (used >= r->cap) {
			ok = 0;
			*until = (s->n > 0 ? s->starts[0] : now) + (time_t)r->cap_window;
		} else {
			s->starts[s->n++] = now;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ok;
}

/* Records a server's Retry-After for the job's names (or the whole server). */
static void
run_ratelimit(struct run *r, struct ck_store *st, const struct renew_job *j, int whole_server,
	      time_t until, const char *why)
{
	struct ck_err e;
	size_t i;

	ck_err_clear(&e);
	if (whole_server) {
		(void)ck_store_ratelimit_set(st, j->server, "", until, why, &e);
	} else {
		for (i = 0; i < j->nnames && e.code == CK_OK; i++)
			(void)ck_store_ratelimit_set(st, j->server, j->names[i], until, why, &e);
	}
	if (e.code != CK_OK)
		ck_log(&r->ctx->log, CK_LOG_WARN, "the server's Retry-After is not stored: %s",
		       e.msg);
}

/*
 * What a failed ck_issue means for the lineage: a Retry-After (429,
 * rateLimited, 503) is stored and the lineage waits; a cancel is a
 * cancel; anything else fails it with an exponential backoff, longer
 * after a failed validation.
 */
static void
run_failed(struct run *r, struct ck_store *st, struct ck_renew_item *it,
	   const struct renew_job *j, const struct ck_err *ie)
{
	time_t now = ck_now(r->ctx), until;
	const char *pt = ck_err_problem_short(ie);
	int limited = ie->http_status == 429 || strcmp(pt, "rateLimited") == 0;
	struct ck_renewal row;
	struct ck_err e;

	(void)renew_set_text(&it->error, ie->msg);
	if (ie->code == CK_ERR_CANCELLED) {
		it->state = CK_RENEW_ST_CANCELLED;
		return;
	}
	if (ie->code == CK_ERR_LEASE_LOST) {
		/* Fenced off: the lineage is another node's now, and so is its
		 * renewal state; this run writes nothing more for it. */
		it->state = CK_RENEW_ST_FAILED;
		return;
	}
	if (j->server != NULL && (limited || (ie->http_status == 503 && ie->retry_after > 0))) {
		until = now + (ie->retry_after > 0 ? ie->retry_after : RENEW_RATELIMIT_DEFAULT_S);
		run_ratelimit(r, st, j, !limited, until, ie->msg);
		it->state = CK_RENEW_ST_WAITING;
		it->wait_until = until;
		(void)renew_set_text(&it->wait_reason, ie->msg);
		return;
	}
	memset(&row, 0, sizeof(row));
	(void)ck_store_renewal_get(st, it->lineage, &row, NULL);
	until = now + (ie->code == CK_ERR_VALIDATION
			       ? run_backoff(row.failures + 1, RENEW_VALIDATION_BASE_S,
					     RENEW_VALIDATION_MAX_S)
			       : run_backoff(row.failures + 1, RENEW_BACKOFF_BASE_S,
					     RENEW_BACKOFF_MAX_S));
	ck_renewal_cleanup(&row);
	ck_err_clear(&e);
	if (ck_store_renewal_failed(st, it->lineage, until, ie->msg, &e) != CK_OK)
		ck_log(&r->ctx->log, CK_LOG_WARN, "the backoff of %s is not stored: %s",
		       it->lineage, e.msg);
	it->state = CK_RENEW_ST_FAILED;
	it->wait_until = until;
}

/* ck_issue with the lineage's settings and this run's overrides. */
static enum ck_code
run_issue(struct run *r, struct ck_store *st, struct ck_renew_item *it, const struct renew_job *j,
	  struct ck_err *err)
{
	struct ck_issue_params p;
	struct ck_issue_result res;
	struct issue_challenges *set = NULL;
	enum ck_code rc;

	memset(&p, 0, sizeof(p));
	p.server = j->server;
	p.account = j->account;
	p.ca_bundle = r->o->ca_bundle;
	p.lineage = it->lineage;
	p.names = (const char *const *)j->names;
	p.nnames = j->nnames;
	p.key_type = r->o->key_type;
	p.profile = r->o->profile;
	p.http_address = r->o->http_address;
	p.http_port = r->o->http_port;
	p.replaces = j->replaces;
	p.pin_file = r->o->pin_file;
	p.run_only = 1;
	p.renewal_done = 1;
	p.challenge = r->have_override ? &r->override : NULL;
	if ((rc = issue_pool_get(&r->pool, st, &p, &set, err)) != CK_OK ||
	    (rc = issue_with_challenges(r->ctx, st, &p, set, &res, err)) != CK_OK)
		return rc;
	memcpy(it->new_sha256, res.sha256, sizeof(it->new_sha256));
	it->resumed = res.resumed;
	return CK_OK;
}

/*
 * The lineage under this run's lease: skipped if another run or node
 * renewed it since the plan (never two orders in one round), held by a
 * Retry-After or the cap, else renewed; its outcome in it->state.
 */
static void
run_leased(struct run *r, struct ck_store *st, struct ck_renew_item *it,
	   const struct renew_job *j)
{
	char reason[CK_RENEWAL_ERROR_MAX], now_sha[65];
	time_t until = 0;
	int changed = 0;
	struct ck_err e;

	ck_err_clear(&e);
	if (run_changed(st, it, &changed, now_sha, &e) != CK_OK) {
		it->state = CK_RENEW_ST_FAILED;
		(void)renew_set_text(&it->error, e.msg);
		return;
	}
	if (changed) {
		it->state = CK_RENEW_ST_NOT_DUE;
		snprintf(reason, sizeof(reason), "renewed by another run or node since this run's "
			 "plan: its certificate is now %s", now_sha[0] ? now_sha : "none");
		(void)renew_set_text(&it->wait_reason, reason);
		return;
	}
	/* Another run may have heard a Retry-After since the plan was made. */
	if (j->server != NULL &&
	    ck_store_ratelimit_until(st, j->server, (const char *const *)j->names, j->nnames,
				     ck_now(r->ctx), &until, reason, &e) == CK_OK &&
	    until > ck_now(r->ctx)) {
		it->state = CK_RENEW_ST_WAITING;
		it->wait_until = until;
		(void)renew_set_text(&it->wait_reason, reason);
	} else if (j->server != NULL && it->why != CK_RENEW_IN_FLIGHT &&
		   !run_cap_take(r, st, j, &until)) {
		it->state = CK_RENEW_ST_WAITING;
		it->wait_until = until;
		(void)renew_set_text(&it->wait_reason, "the cap on new orders for this server");
	} else if (run_issue(r, st, it, j, &e) != CK_OK) {
		run_failed(r, st, it, j, &e);
	} else {
		/* Its renewal state was reset in the certificate's commit
		 * (p.renewal_done). */
		it->state = CK_RENEW_ST_RENEWED;
		ck_err_clear(&e);
		if (r->o->deploy != NULL &&
		    r->o->deploy(r->o->deploy_arg, r->ctx, st, it->lineage, &e) != CK_OK)
			(void)renew_set_text(&it->deploy_error, e.msg);
	}
}

/* One lineage, start to end, under its lease (worker slot `slot`). */
static void
run_one(struct run *r, struct ck_store *st, size_t slot, struct ck_renew_item *it,
	const struct renew_job *j)
{
	struct ck_err e;

	ck_err_clear(&e);
	if (ck_cancel_check(r->ctx, "the renewal", &e) != CK_OK) {
		it->state = CK_RENEW_ST_CANCELLED;
		return;
	}
	if (renew_lease_take(&r->leases, slot, st, it->lineage, &e) != CK_OK) {
		it->state = e.code == CK_ERR_BUSY ? CK_RENEW_ST_CLAIMED : CK_RENEW_ST_FAILED;
		(void)renew_set_text(&it->error, e.msg);
		return;
	}
	run_leased(r, st, it, j);
	renew_lease_drop(&r->leases, slot, st, it->lineage);
}

/* Counts one outcome and reports progress (under the lock). */
static void
run_count(struct run *r, const struct ck_renew_item *it)
{
	r->counts.in_flight--;
	if (it->state == CK_RENEW_ST_RENEWED)
		r->counts.renewed++;
	if (it->state == CK_RENEW_ST_WAITING)
		r->counts.waiting++;
	if (it->state == CK_RENEW_ST_FAILED || it->state == CK_RENEW_ST_CANCELLED ||
	    it->deploy_error != NULL)
		r->counts.failed++;
	/* Due when the run began, not due now: another run or node renewed it. */
	if (it->state == CK_RENEW_ST_CLAIMED || it->state == CK_RENEW_ST_NOT_DUE)
		r->counts.claimed++;
	if (r->o->progress != NULL)
		r->o->progress(r->o->progress_arg, &r->counts);
}

static void *
run_worker(void *arg)
{
	struct run *r = arg;
	struct ck_store *st = NULL;
	struct ck_err e;
	size_t i, slot = renew_leases_slot(&r->leases);

	ck_err_clear(&e);
	if (ck_store_open_pooled(r->conns, &st, &e) != CK_OK) {
		ck_log(&r->ctx->log, CK_LOG_ERROR, "a renewal worker cannot open the store: %s",
		       e.msg);
		st = NULL;
	}
	for (;;) {
		pthread_mutex_lock(&r->lock);
		while (r->next < r->n && r->items[r->next].state != CK_RENEW_ST_DUE)
			r->next++;
		if (r->next == r->n) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		i = r->next++;
		r->counts.in_flight++;
		pthread_mutex_unlock(&r->lock);
		if (st != NULL) {
			run_one(r, st, slot, &r->items[i], &r->jobs[i]);
		} else {
			r->items[i].state = CK_RENEW_ST_FAILED;
			(void)renew_set_text(&r->items[i].error, e.msg);
		}
		pthread_mutex_lock(&r->lock);
		run_count(r, &r->items[i]);
		pthread_mutex_unlock(&r->lock);
	}
	renew_lease_flush(&r->leases, slot, st);
	ck_store_close(st);
	return NULL;
}

enum ck_code
renew_run(const struct ck_ctx *ctx, struct ck_store *st, const struct ck_renew_opts *o,
	  struct ck_renew_item *items, struct renew_job *jobs, size_t n,
	  struct ck_renew_counts *counts, struct ck_err *err)
{
	struct run r;
	pthread_t tid[CK_RENEW_CONCURRENCY_MAX];
	size_t nt = 0, i, due = 0;
	unsigned want = o->concurrency ? o->concurrency : CK_RENEW_CONCURRENCY_DEFAULT;

	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.path = ck_store_path(st);
	r.o = o;
	r.items = items;
	r.jobs = jobs;
	r.n = n;
	r.cap = o->order_cap ? o->order_cap : CK_RENEW_CAP_DEFAULT;
	r.cap_window = o->order_cap_window_s ? o->order_cap_window_s : CK_RENEW_CAP_WINDOW_DEFAULT;
	r.counts.started = ck_now(ctx);
	for (i = 0; i < n; i++) {
		due += items[i].state == CK_RENEW_ST_DUE || items[i].state == CK_RENEW_ST_WAITING;
		r.counts.waiting += items[i].state == CK_RENEW_ST_WAITING;
	}
	r.counts.total = due;
	if (pthread_mutex_init(&r.lock, NULL) != 0)
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a mutex");
	if (issue_pool_init(&r.pool, ctx, o->cache != NULL ? o->cache->accounts : NULL,
			    err) != CK_OK) {
		pthread_mutex_destroy(&r.lock);
		return CK_ERR_INTERNAL;
	}
	if (due > 0 && renew_leases_start(&r.leases, ctx, r.path, o->lease_ttl_s ? o->lease_ttl_s
					  : CK_RENEW_LEASE_TTL_DEFAULT, err) != CK_OK) {
		issue_pool_stop(&r.pool);
		pthread_mutex_destroy(&r.lock);
		return CK_ERR_INTERNAL;
	}
	if (o->http_port != 0 || o->http_address != NULL) {
		/* Given to renew: http-01 on that listener for this run, whatever the
		 * lineages recorded (run_only keeps their records). */
		r.override.type = CK_CHALLENGE_HTTP01;
		r.override.http_port = o->http_port;
		r.override.http_address = o->http_address;
		r.override.dns_wait = -1;
		r.have_override = 1;
	}
	if (want > CK_RENEW_CONCURRENCY_MAX)
		want = CK_RENEW_CONCURRENCY_MAX;
	if (due > 0 && o->progress != NULL)
		o->progress(o->progress_arg, &r.counts);
	/* The plan's pages in the caller's handle are stale once a worker
	 * commits, and up to 2 MiB at 1,000 lineages: given back while the
	 * workers, each with a handle of the pool, hold the batch's peak. */
	if (due > 0)
		ck_store_shed(st);
	if (due > 0 && ck_store_pool_new(st, ctx, (want + RENEW_WORKERS_PER_CONN - 1) /
					 RENEW_WORKERS_PER_CONN, &r.conns, err) != CK_OK) {
		renew_leases_stop(&r.leases);
		issue_pool_stop(&r.pool);
		pthread_mutex_destroy(&r.lock);
		return CK_ERR_INTERNAL;
	}
	for (nt = 0; nt < want && nt < due; nt++)
		if (pthread_create(&tid[nt], NULL, run_worker, &r) != 0)
			break;
	if (nt == 0 && due > 0)
		run_worker(&r); /* no thread could start: do the work here */
	for (i = 0; i < nt; i++)
		pthread_join(tid[i], NULL);
	renew_leases_stop(&r.leases);
	ck_store_pool_free(r.conns);
	pthread_mutex_destroy(&r.lock);
	issue_pool_stop(&r.pool);
	for (i = 0; i < r.nservers; i++)
		free(r.servers[i].starts);
	*counts = r.counts;
	return CK_OK;
}
