/*
 * renewal.h - the store's renewal state (migration 6), for the renewal
 * scheduler (src/renew/): per lineage the ARI window and the moment chosen
 * in it, the failure count and backoff, and the claim of the run renewing
 * it; per ACME server and name the Retry-After the server asked for.
 *
 * Library-internal (not exported).  Fleets (issue 12): the claim is a
 * lease with a fencing token, shared by every node on one store.
 * Every write is one transaction and writes only the columns it names.
 */
#ifndef CK_STORE_RENEWAL_H
#define CK_STORE_RENEWAL_H

#include "store/store.h"

#define CK_RENEWAL_OWNER_MAX 200      /* a claim owner's text */
#define CK_RENEWAL_ERROR_MAX 1024     /* last error kept per lineage */

/* One lineage's renewal row.  Times are 0 when not set. */
struct ck_renewal {
	char lineage[CK_STORE_NAME_MAX + 1];
	char cert_sha256[65];     /* the certificate the ARI fields describe ("" = none) */
	time_t ari_start;         /* suggestedWindow */
	time_t ari_end;
	time_t ari_moment;        /* the moment chosen in the window, once */
	time_t ari_next;          /* renewalInfo is not asked again before this */
	char *ari_explanation;    /* explanationURL, or NULL */
	int failures;             /* failed renewals since the last success */
	time_t backoff_until;     /* no renewal attempt before this */
	char *last_error;
	char *claim_owner;        /* NULL: not claimed */
	time_t claim_until;
	int64_t claim_token;      /* grows with every claim */
};

/* CK_ERR_NOT_FOUND (no message) if the lineage has no renewal row. */
enum ck_code ck_store_renewal_get(struct ck_store *st, const char *lineage, struct ck_renewal *out,
				  struct ck_err *err);
void ck_renewal_cleanup(struct ck_renewal *r);

/* Sets lineage's due_at to "now, compute it" (a random negative number, as
 * the migration-15 triggers set), inside the caller's transaction. */
enum ck_code st_due_reset_tx(struct ck_store *st, const char *lineage, struct ck_err *err);

/* The ARI answer for certificate sha256 of lineage (explanation may be NULL). */
struct ck_renewal_ari {
	const char *cert_sha256;
	time_t start, end, moment, next;
	const char *explanation;
};
/* Records r's ARI fields (the rest of the row is left as it is). */
enum ck_code ck_store_renewal_ari_set(struct ck_store *st, const char *lineage,
				      const struct ck_renewal_ari *a, struct ck_err *err);
/* A failed renewal: failures + 1, no attempt before backoff_until, error kept. */
enum ck_code ck_store_renewal_failed(struct ck_store *st, const char *lineage, time_t backoff_until,
				     const char *error, struct ck_err *err);
/* A renewal succeeded: failures, backoff, error and the old certificate's ARI state cleared. */
enum ck_code ck_store_renewal_done(struct ck_store *st, const char *lineage, struct ck_err *err);

/*
 * The claim is a lease: owner, expiry and a fencing token.
 *
 * Claims lineage for owner until `until`, in one transaction: granted when
 * nobody holds it, the claim expired, owner already holds it, or the
 * holder is `steal` (a holder the caller proved gone; NULL = none).  The
 * row is read with the driver's lock_skip_locked suffix (PostgreSQL:
 * FOR UPDATE SKIP LOCKED), so a row another transaction holds is busy.
 * The claim token grows by one with every grant (*token, may be NULL).
 * Refused: CK_ERR_BUSY naming the holder and its expiry; nothing changed.
 */
enum ck_code ck_store_renewal_claim(struct ck_store *st, const char *lineage, const char *owner,
				    time_t until, const char *steal, int64_t *token,
				    struct ck_err *err);
/*
 * ck_store_renewal_release(release) and then ck_store_renewal_claim in one
 * transaction (a worker giving back its last lineage as it takes the next:
 * one commit instead of two).  The release commits even when the claim is
 * refused; the claim's outcome is returned.  release NULL = a plain claim.
 */
enum ck_code ck_store_renewal_claim_after(struct ck_store *st, const char *release,
					  const char *lineage, const char *owner, time_t until,
					  const char *steal, int64_t *token, struct ck_err *err);
/* Releases owner's claim (a claim someone else holds is left alone). */
enum ck_code ck_store_renewal_release(struct ck_store *st, const char *lineage, const char *owner,
				      struct ck_err *err);
/*
 * The holder's heartbeat: moves the expiry of owner's lease (token) to
 * until, if it still holds it and it has not expired.  Otherwise
 * CK_ERR_LEASE_LOST naming who holds it now; nothing changed.
 */
enum ck_code ck_store_renewal_extend(struct ck_store *st, const char *lineage, const char *owner,
				     int64_t token, time_t until, struct ck_err *err);
/*
 * Fences st with the lease (lineage, owner, token): from now on every
 * write transaction of st checks, inside the transaction just before its
 * commit, that the lease row still has this owner, this token and an
 * expiry in the future; if not the transaction is rolled back and fails
 * with CK_ERR_LEASE_LOST naming the lineage and its holder now.  Call
 * outside a transaction (CK_ERR_INTERNAL otherwise).  One lease per handle.
 */
enum ck_code ck_store_renewal_fence(struct ck_store *st, const char *lineage, const char *owner,
				    int64_t token, struct ck_err *err);
/* Ends the fence (NULL or an unfenced handle: no-op). */
void ck_store_renewal_unfence(struct ck_store *st);

/*
 * Records that server asked for nothing to be sent for name ("" = for
 * anything) before until.  A later time already recorded is kept.
 */
enum ck_code ck_store_ratelimit_set(struct ck_store *st, const char *server, const char *name,
				    time_t until, const char *reason, struct ck_err *err);
/*
 * The latest `until` after now recorded for server and "" or one of names
 * into *until (0 when none) and its reason into reason (may be NULL).
 */
enum ck_code ck_store_ratelimit_until(struct ck_store *st, const char *server,
				      const char *const *names, size_t n, time_t now, time_t *until,
				      char reason[CK_RENEWAL_ERROR_MAX], struct ck_err *err);
/* *any = 1 if some Retry-After recorded for any server lasts past now. */
enum ck_code ck_store_ratelimit_any(struct ck_store *st, time_t now, int *any, struct ck_err *err);
/*
 * Orders placed since `since` by the accounts of server: *count, and the
 * creation time of the oldest of them (*oldest, 0 when none).
 */
enum ck_code ck_store_orders_since(struct ck_store *st, const char *server, time_t since,
				   size_t *count, time_t *oldest, struct ck_err *err);

#endif
