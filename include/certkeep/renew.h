/*
 * certkeep/renew.h - renew the lineages that are due: the scheduler.
 *
 * Due: inside the CA's ARI window (RFC 9773), at a moment chosen in it
 * once and stored; without ARI at two thirds of the lifetime (half for a
 * lifetime of 10 days or less) minus a jitter of up to a twentieth of the
 * lifetime, derived from the certificate's thumbprint (so every run, dry
 * or not, on any machine, computes the same moment).  Also due at once: a
 * revoked certificate, a certificate whose key is gone from the store, one
 * that no longer covers the lineage's names, a lineage without a
 * certificate, and a lineage with an order in flight (it is resumed from
 * its URL, never ordered again).
 *
 * Polite: a server's Retry-After (429, 503, rateLimited) is stored per
 * server and per name and nothing is sent for those names before it,
 * across runs; a failed renewal backs off exponentially (stored); new
 * orders per server are capped per time window.  Each lineage is renewed
 * under a lease in the store (owner "<node> pid <pid> run <nonce>", an
 * expiry its heartbeat extends, a fencing token that grows with every
 * grant), so two runs or nodes on one store never renew the same lineage
 * twice: a run re-reads the lineage under its lease and skips it if
 * another renewed it since its plan, and a run whose lease expired or was
 * taken over commits nothing more (CK_ERR_LEASE_LOST, the lineage failed
 * for this run).  A lease is taken over only when it expired or its
 * holder is a process of this node that is gone; the order of a node
 * that died is resumed from its URL.
 *
 * Each lineage renews with the account that ordered its certificate, its
 * recorded key type and profile; the overrides in ck_renew_opts apply to
 * this run only.
 */
#ifndef CERTKEEP_RENEW_H
#define CERTKEEP_RENEW_H

#include <certkeep/issue.h>
#include <certkeep/store.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CK_RENEW_CONCURRENCY_DEFAULT 8
#define CK_RENEW_CONCURRENCY_MAX 64
#define CK_RENEW_CAP_DEFAULT 300          /* new orders per server per window */
#define CK_RENEW_CAP_WINDOW_DEFAULT 10800 /* seconds (3 h) */
#define CK_RENEW_LEASE_TTL_DEFAULT 600    /* seconds a lease lasts without a heartbeat */
#define CK_RENEW_LEASE_TTL_MIN 3
#define CK_RENEW_LEASE_TTL_MAX 86400

/* Why a lineage is due (stable names: ck_renew_why_name). */
enum ck_renew_why {
	CK_RENEW_NOT_DUE = 0,   /* "not-due" */
	CK_RENEW_FORCED,        /* "forced": --force */
	CK_RENEW_ARI,           /* "ari-window": the chosen moment in the CA's window passed */
	CK_RENEW_LIFETIME,      /* "lifetime": 2/3 (or 1/2) of the lifetime passed */
	CK_RENEW_REVOKED,       /* "revoked" */
	CK_RENEW_KEY_GONE,      /* "key-gone": the certificate has no key in the store */
	CK_RENEW_NAMES,         /* "names-changed": it no longer covers the lineage's names */
	CK_RENEW_NO_CERT,       /* "no-certificate" */
	CK_RENEW_IN_FLIGHT,     /* "order-in-flight": an open order is resumed */
};
CK_API const char *ck_renew_why_name(enum ck_renew_why w);

/* What happened to a lineage in this run (stable names: ck_renew_state_name). */
enum ck_renew_state {
	CK_RENEW_ST_NOT_DUE = 0, /* "not-due" (also: renewed by another run since the plan,
				  * wait_reason says so) */
	CK_RENEW_ST_DUE,         /* "due": due, not renewed in this run (--dry-run) */
	CK_RENEW_ST_WAITING,     /* "waiting": due, but a Retry-After or backoff holds it */
	CK_RENEW_ST_RENEWED,     /* "renewed" */
	CK_RENEW_ST_FAILED,      /* "failed" */
	CK_RENEW_ST_CLAIMED,     /* "claimed": another run is renewing it (holds its lease) */
	CK_RENEW_ST_CANCELLED,   /* "cancelled": stopped by a signal before it was done */
};
CK_API const char *ck_renew_state_name(enum ck_renew_state s);

struct ck_renew_item {
	char lineage[CK_STORE_NAME_MAX + 1];
	char sha256[65];           /* current certificate, "" = none */
	time_t not_after;          /* of the current certificate, 0 = none */
	enum ck_renew_why why;     /* CK_RENEW_NOT_DUE: not due */
	time_t due_at;             /* when it is or was due (0: now) */
	time_t ari_start;          /* the CA's suggested window, 0 = none */
	time_t ari_end;
	char *explanation_url;     /* the CA's explanationURL, or NULL */
	time_t wait_until;         /* nothing is sent for it before this, 0 = none */
	char *wait_reason;         /* why it waits, or NULL */
	enum ck_renew_state state;
	char new_sha256[65];       /* the new certificate when renewed */
	int resumed;               /* an order in flight was resumed */
	char *error;               /* why it failed, or NULL */
	char *deploy_error;        /* renewed, but redeploying failed: why; or NULL */
};

struct ck_renew_counts {
	size_t total;              /* lineages due in this run */
	size_t renewed, waiting, failed, in_flight;
	size_t claimed;            /* held or renewed by another run or node */
	time_t started;
};

/*
 * Redeploys lineage's bindings after its renewal (the deploy module);
 * CK_OK when it has none.  Called from the worker that renewed it, with
 * that worker's store handle.  A failure is reported for the lineage and
 * does not stop the batch.
 */
typedef enum ck_code (*ck_renew_deploy_fn)(void *arg, const struct ck_ctx *ctx, struct ck_store *st,
					   const char *lineage, struct ck_err *err);

struct ck_renew_opts {
	const char *const *lineages;   /* names to consider; NULL/0 = every lineage */
	size_t nlineages;
	int force;                     /* renew every one considered now */
	int dry_run;                   /* decide and report only: nothing sent, nothing stored */
	unsigned concurrency;          /* orders in flight, 0 = CK_RENEW_CONCURRENCY_DEFAULT */
	const char *ca_bundle;         /* trust anchors for the servers' TLS; NULL = system */
	/* Overrides for this run only (NULL / 0 / CK_KEY_NONE = the lineage's own). */
	const char *account;           /* account name on the lineage's server */
	enum ck_key_type key_type;
	const char *profile;
	const char *http_address;
	unsigned http_port;
	unsigned order_cap;            /* new orders per server per window, 0 = default */
	unsigned order_cap_window_s;   /* 0 = CK_RENEW_CAP_WINDOW_DEFAULT */
	/* Called (serialised) after each lineage's outcome; may be NULL. */
	void (*progress)(void *arg, const struct ck_renew_counts *c);
	void *progress_arg;
	ck_renew_deploy_fn deploy;     /* NULL: no redeploy */
	void *deploy_arg;
	const char *pin_file;          /* for this run: the user PIN's file (or fd:N) of
					* token lineages; NULL = each lineage's recorded one */
	/* Seconds a lineage's lease lasts without a heartbeat (the run extends
	 * each lease it holds every third of it), 0 = CK_RENEW_LEASE_TTL_DEFAULT;
	 * CK_RENEW_LEASE_TTL_MIN..CK_RENEW_LEASE_TTL_MAX.  A node that stops
	 * for longer loses its leases and commits nothing more for them. */
	unsigned lease_ttl_s;
	/* What a long-running process keeps between its runs (ck_renew_cache_new),
	 * or NULL: everything is read and fetched afresh for this run. */
	struct ck_renew_cache *cache;
	/* With every lineage (no names): report the ones not due as well.  By
	 * default a plan reads and reports only the lineages that are due (or
	 * held, or in flight), found by their stored next-due time. */
	int show_all;
};

struct ck_renew_report {
	struct ck_renew_item *items;   /* every lineage considered, by name */
	size_t n;
	struct ck_renew_counts counts;
};

/*
 * Decides which lineages are due and renews them (opts->dry_run: decides
 * only), up to opts->concurrency at once, each worker with its own handle
 * on st's file.  Returns CK_OK when the run itself worked, whatever
 * became of each lineage (see the report: a lineage's failure is in its
 * item); an error only when the run could not start (store, arguments, a
 * named lineage that does not exist).  *out (ck_renew_report_cleanup) is
 * set on CK_OK.  A cancel (ck_ctx_set_cancel) stops new work; lineages
 * not finished are CK_RENEW_ST_CANCELLED.
 */
CK_API enum ck_code ck_renew(const struct ck_ctx *ctx, struct ck_store *st,
			     const struct ck_renew_opts *opts, struct ck_renew_report *out,
			     struct ck_err *err);
CK_API void ck_renew_report_cleanup(struct ck_renew_report *r);

/*
 * What a long-running process (certkeep agent) keeps between its ck_renew
 * runs instead of reading and fetching it again every run: the account
 * sessions (the account's key loaded, its ACME client with the directory
 * and kid) and the ACME share (each server's directory, unused nonces,
 * idle connections).  The rules stay those of one run: a kept account
 * session is used only after the account's row was read again and its
 * generation is the one the session was read at (a rollover by any
 * process or node reaches the next order); a directory that looks stale
 * (a 404 on one of its URLs, a badNonce storm) is fetched again; a nonce
 * older than a minute is dropped, not used.
 *
 * ctx is copied (and the copy refreshed from ck_renew's ctx at each run);
 * give the cache in ck_renew_opts.cache.  One run at a time may use it.
 */
struct ck_renew_cache;
CK_API enum ck_code ck_renew_cache_new(const struct ck_ctx *ctx, struct ck_renew_cache **out,
				       struct ck_err *err);
/* Frees it (NULL: a no-op); no run may be using it. */
CK_API void ck_renew_cache_free(struct ck_renew_cache *c);
/*
 * The store changed (ck_store_wait_change woke the caller): every kept
 * account session whose account's generation moved (or whose row is gone)
 * is dropped now rather than at its next use.  Between runs only.
 */
CK_API void ck_renew_cache_changed(struct ck_renew_cache *c, struct ck_store *st);

#ifdef __cplusplus
}
#endif
#endif
