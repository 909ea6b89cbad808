/*
 * renew_int.h - what the scheduler's files share: the plan (who is due,
 * plan.c), the run (workers, politeness, run.c) and its leases (lease.c).  The public
 * face is include/certkeep/renew.h.
 *
 * The scheduler decides and calls ck_issue; it never talks ACME itself
 * except to ask renewalInfo (ARI), and never writes a key or certificate.
 */
#ifndef CK_RENEW_INT_H
#define CK_RENEW_INT_H

#include <pthread.h>

#include <certkeep/renew.h>

#include "acme/acme.h"
#include "core/core.h"
#include "store/renewal.h"
#include "store/store.h"

#define RENEW_RATELIMIT_DEFAULT_S 3600      /* a 429 without Retry-After */
#define RENEW_BACKOFF_BASE_S 60             /* first backoff after an unknown failure */
#define RENEW_BACKOFF_MAX_S 3600
#define RENEW_VALIDATION_BASE_S 300         /* first backoff after a failed validation */
#define RENEW_VALIDATION_MAX_S 86400
#define RENEW_SERVERS_MAX 64                /* distinct ACME servers in one run */
#define RENEW_PLAN_PAGE 250                 /* lineages read per due-scan page */
/* The rate_limits name under which renewalInfo's own Retry-After is kept
 * (never an identifier: '#' is not in a DNS name or an IP literal). */
#define RENEW_ARI_HOLD "#renewalInfo"

struct acct_cache;

/* What a long-running process keeps between runs (certkeep/renew.h). */
struct ck_renew_cache {
	struct ck_ctx ctx;           /* the runs' context; ctx.acme_share lives as long */
	struct acct_cache *accounts; /* the account sessions, borrowed by each run's pool */
};

/* One ACME server the plan talks to (renewalInfo). */
struct renew_server {
	char *url;
	struct acme_client *client;  /* made on first need */
	int broken;                  /* the directory could not be read: no ARI this run */
	time_t ari_hold;             /* renewalInfo is not asked before this (Retry-After) */
};

/* What the run needs for one item beyond the item itself. */
struct renew_job {
	char *server;                /* directory URL (resolved) */
	char *account;               /* account name on it; NULL = the server's default */
	char *replaces;              /* ARI ID of the current certificate, or NULL */
	char **names;                /* the lineage's identifiers */
	size_t nnames;
};
void renew_job_cleanup(struct renew_job *j);

struct renew_plan {
	const struct ck_ctx *ctx;
	struct ck_store *st;
	const struct ck_renew_opts *o;
	time_t now;
	char *default_server;        /* NULL when the store has none */
	struct renew_server servers[RENEW_SERVERS_MAX];
	size_t nservers;
	size_t page;                 /* lineages per due-scan page (RENEW_PLAN_PAGE) */
	const struct ck_renewal *row; /* the renewal row of the lineage planned now, or NULL */
	time_t ari_look;             /* what renewalInfo says of the next look at it:
				      * > 0 no later than this, 0 no constraint,
				      * < 0 look again next plan (answer not stored) */
	int ari_stored;              /* this plan stored its ARI answer (due_at reset) */
	int limits;                  /* some server's Retry-After still holds */
	int64_t acct_id;             /* the account last read (plan_account), 0 = none */
	char *acct_server, *acct_name;
};

/*
 * Fills items[i] and jobs[i] for the named lineages, due or not, or else
 * for every lineage that is due (by the stored due_at, read page by page:
 * docs/store.md, "The due-scan") or has an order in flight; with force or
 * show_all for every lineage.  Each says why, when, and what holds it
 * (Retry-After, backoff).  Asks renewalInfo where the server offers it and
 * the stored answer's Retry-After has passed; stores the answer unless
 * dry_run.  Stores each not-due lineage's next look (due_at), dry run too:
 * a cache of stored facts.  Items of a scan are by lineage name.
 */
enum ck_code renew_plan_make(struct renew_plan *p, struct ck_renew_item **items,
			     struct renew_job **jobs, size_t *n, struct ck_err *err);
void renew_plan_cleanup(struct renew_plan *p);

/* One worker's lease, seen by the heartbeat. */
struct renew_lease_slot {
	char lineage[CK_STORE_NAME_MAX + 1];
	int64_t token;
	size_t index;                /* its place in renew_leases.slots */
	int held;                    /* the worker holds this lease now */
	int lost;                    /* the heartbeat found it lost: not extended again */
	char done[CK_STORE_NAME_MAX + 1]; /* dropped, given back with the next take ("" none) */
};

/* A run's leases (lease.c): its owner name, the workers' slots, the heartbeat. */
struct renew_leases {
	const struct ck_ctx *ctx;
	const char *path;            /* the store: the heartbeat opens its own handle */
	char owner[CK_RENEWAL_OWNER_MAX];
	unsigned ttl;                /* seconds a lease lasts without a heartbeat */
	pthread_mutex_t lock;
	pthread_cond_t wake;         /* on CLOCK_MONOTONIC */
	pthread_t tid;
	int stop, started;
	struct renew_lease_slot slots[CK_RENEW_CONCURRENCY_MAX];
	size_t nslots;
};

/* Names the run's owner and starts the heartbeat (every ttl/3 s, at least 1). */
enum ck_code renew_leases_start(struct renew_leases *l, const struct ck_ctx *ctx,
				const char *path, unsigned ttl, struct ck_err *err);
/* Stops and joins the heartbeat; a lease still held then is left to expire. */
void renew_leases_stop(struct renew_leases *l);
/* A slot for one worker (at most CK_RENEW_CONCURRENCY_MAX workers). */
size_t renew_leases_slot(struct renew_leases *l);
/*
 * Takes the lease on lineage for the worker's slot and fences st with it
 * (store/renewal.h): granted if free, expired, or held by a process of
 * this node that is gone.  CK_ERR_BUSY naming the holder otherwise.
 */
enum ck_code renew_lease_take(struct renew_leases *l, size_t slot, struct ck_store *st,
			      const char *lineage, struct ck_err *err);
/*
 * Unfences st and stops extending the slot's lease.  The lease itself is
 * given back in the transaction of the slot's next take, or by
 * renew_lease_flush (one commit per lineage instead of two); one lost is
 * left alone.
 */
void renew_lease_drop(struct renew_leases *l, size_t slot, struct ck_store *st,
		      const char *lineage);
/* Gives back the lease the slot dropped last, if any (a worker's end). */
void renew_lease_flush(struct renew_leases *l, size_t slot, struct ck_store *st);

/* Runs the due items (state CK_RENEW_ST_DUE) on the worker pool. */
enum ck_code renew_run(const struct ck_ctx *ctx, struct ck_store *st,
		       const struct ck_renew_opts *o, struct ck_renew_item *items,
		       struct renew_job *jobs, size_t n, struct ck_renew_counts *counts,
		       struct ck_err *err);

/* Replaces *slot with a copy of text (NULL allowed); 0 on allocation failure. */
int renew_set_text(char **slot, const char *text);

#endif
