/*
 * issue.h - what the library includes for issuance.  ck_issue and its
 * checks are public: include/certkeep/issue.h (the order of steps and the
 * resume rules are written there).
 */
#ifndef CK_FLOW_ISSUE_H
#define CK_FLOW_ISSUE_H

#include <certkeep/issue.h>

#include <pthread.h>

#include "challenge/challenge.h"
#include "core/core.h"
#include "crypto/crypto.h"
#include "store/store.h"

struct acme_client;
struct acme_order;
struct acct_cache;
struct issue_pool;

/*
 * The responders of one issuance, or of many orders in flight (the
 * renewal scheduler): one per challenge type in use, made and started on
 * first need, shared by every order authorized through it, all stopped by
 * issue_challenges_stop (every file, record and listener gone).
 * issue_challenges_authorize may run on several threads at once.
 */
struct issue_challenges {
	const struct ck_ctx *ctx;                  /* borrowed */
	const struct ck_challenge_settings *cfg;   /* borrowed; outlives the set */
	pthread_mutex_t lock;                      /* guards r[] */
	struct chall_responder *r[CK_CHALLENGE_DNS01 + 1]; /* by enum ck_challenge_type */
	struct issue_pool *pool;   /* NULL, or the pool whose listeners r[] borrows */
	unsigned char borrowed[CK_CHALLENGE_DNS01 + 1]; /* r[t] is the pool's: not stopped here */
	int inited;
	/* Account sessions kept between the issuances that share this set
	 * (account_cache.h; borrowed from the pool, NULL: each opens its own). */
	struct acct_cache *accounts;
};

enum ck_code issue_challenges_init(struct issue_challenges *c, const struct ck_ctx *ctx,
				   const struct ck_challenge_settings *cfg, struct ck_err *err);
/*
 * Proves every pending authorization of order: per name the type
 * chall_type_for picks (a wildcard only by dns-01, an IP never by dns-01:
 * CK_ERR_UNSUPPORTED), add to its responder, ready, tell the server, wait
 * until each is valid (CK_ERR_VALIDATION with the server's problem and a
 * hint of what to check; CK_ERR_CANCELLED when ctx is cancelled).  Every
 * item it added is removed before it returns; the responders stay up.
 */
enum ck_code issue_challenges_authorize(struct issue_challenges *c, struct acme_client *client,
					EVP_PKEY *account_key, const struct acme_order *order,
					struct ck_err *err);

/*
 * The same step in three parts, so the items stay served past it:
 * issue_challenges_answer proves every pending authorization of order up
 * to telling the server (*out: what was added; NULL on failure, when
 * nothing stays added); issue_proof_wait waits like
 * issue_challenges_authorize, or, with until_served, stops at the first
 * poll round that finds every proof fetched from its responder at least
 * ISSUE_SETTLE_MS ago (*served = 1: the authorizations are likely valid
 * but unconfirmed; webroot and dns-01 cannot tell, so they are polled);
 * a second wait asks only for those not yet seen valid.
 * issue_proof_release withdraws every item (NULL-safe).  One proof is used
 * by one thread.
 */
#define ISSUE_SETTLE_MS 250   /* from the CA's look at a proof to its verdict */
struct issue_proof;
enum ck_code issue_challenges_answer(struct issue_challenges *c, struct acme_client *client,
				     EVP_PKEY *account_key, const struct acme_order *order,
				     struct issue_proof **out, struct ck_err *err);
enum ck_code issue_proof_wait(struct issue_proof *p, int until_served, int *served,
			      struct ck_err *err);
void issue_proof_release(struct issue_proof *p);
/* Stops every responder (NULL-safe, idempotent). */
void issue_challenges_stop(struct issue_challenges *c);

/*
 * ck_issue whose authorizations go through shared (NULL: its own set,
 * stopped before it returns), so several issuances in flight share one
 * listener per type.  The caller made shared with the settings these
 * names use (the lineage's record or p->challenge: ck_issue still checks
 * and records those) and stops it after the last issuance.
 */
enum ck_code issue_with_challenges(const struct ck_ctx *ctx, struct ck_store *st,
				   const struct ck_issue_params *p, struct issue_challenges *shared,
				   struct ck_issue_result *out, struct ck_err *err);
/*
 * ck_issue_check_cert (issue_check.c), giving the leaf's facts in
 * *info_out when every check passed (NULL: not wanted); each certificate
 * is decoded once.
 */
enum ck_code issue_check_cert_info(const struct ck_der_list *certs, EVP_PKEY *key,
				   const char *const *names, size_t n,
				   struct ck_cert_info *info_out, struct ck_err *err);

/* ---- responders shared by issuances in flight (issue_pool.c) ------------ */

#define ISSUE_POOL_MAX 32 /* distinct challenge settings in one pool */
#define ISSUE_POOL_LISTENERS (2 * ISSUE_POOL_MAX) /* http-01 and tls-alpn-01 per set */

/*
 * A listener (chall_settings_listener) shared by every set whose settings
 * bind the same one: settings that differ elsewhere (a recorded type, a
 * port of another type) but listen on the same address and port use one
 * responder, where two would collide on the port.
 */
struct issue_pool_listener {
	enum ck_challenge_type type;     /* CK_CHALLENGE_HTTP01 or CK_CHALLENGE_TLSALPN01 */
	const char *address;             /* NULL = every address; borrowed from cfg */
	unsigned port;
	const struct ck_challenge_settings *cfg; /* the first set's that binds it (in the pool) */
	struct chall_responder *r;       /* made and started on first need */
};

struct issue_pool_set {
	char *key;                       /* the settings' record (chall_settings_encode) */
	struct chall_settings_rec rec;   /* the settings the set's responders use (owned) */
	struct issue_challenges set;
};

/*
 * The renewal scheduler's responders: one issue_challenges per distinct
 * challenge settings, made on first need and shared by every issuance in
 * flight that is proven the same way (one listener per type for all of
 * them), for issue_with_challenges.  issue_pool_get may be called from
 * several threads at once; issue_pool_stop once, after the last issuance
 * returned.
 */
struct issue_pool {
	const struct ck_ctx *ctx;        /* borrowed */
	pthread_mutex_t lock;            /* guards sets[] and n */
	struct issue_pool_set sets[ISSUE_POOL_MAX];
	size_t n;
	struct issue_pool_listener listeners[ISSUE_POOL_LISTENERS];
	size_t nlisteners;
	int inited;
	struct acct_cache *accounts;     /* the run's account sessions, for every set */
	int own_accounts;                /* made by the pool (else borrowed) */
};

/* accounts: a longer-lived process's account sessions to use (borrowed),
 * or NULL for the pool's own, freed by issue_pool_stop. */
enum ck_code issue_pool_init(struct issue_pool *p, const struct ck_ctx *ctx,
			     struct acct_cache *accounts, struct ck_err *err);
/*
 * The shared set for the settings p's issuance will use, as ck_issue
 * decides them: p->challenge if given, else the lineage's record, else the
 * http-01 listener on p->http_address/http_port.  Same settings, same set
 * (borrowed from pool).  p->lineage must be set.  Settings whose listener
 * would collide with another set's (the same port, one on every address
 * and one on a single address, or a listener of another type) are refused
 * (CK_ERR_IN_USE naming both) before the issuance starts; the same listener
 * is shared (issue_pool_responder).
 */
enum ck_code issue_pool_get(struct issue_pool *pool, struct ck_store *st,
			    const struct ck_issue_params *p, struct issue_challenges **out,
			    struct ck_err *err);
/*
 * The pool's started responder for the listener cfg binds for type (made
 * and started on first need, under the pool's lock); *out NULL when cfg
 * binds no listener for type (the caller makes its own responder).  For
 * issue_challenges of a pool set; the pool stops it.
 */
enum ck_code issue_pool_responder(struct issue_pool *p, enum ck_challenge_type type,
				  const struct ck_challenge_settings *cfg,
				  struct chall_responder **out, struct ck_err *err);
/* Stops every responder of every set and frees them (NULL-safe, idempotent). */
void issue_pool_stop(struct issue_pool *p);

#endif
