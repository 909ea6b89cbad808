/*
 * renewal.c - the renewal scheduler's state (renewal.h): ARI window and
 * chosen moment, failures and backoff, claims, and the servers'
 * Retry-After per name.  Each write is one transaction that touches only
 * the columns it is about, so two runs never undo each other's fields.
 *
 * A claim is a lease (owner, expiry, fencing token): granted with the row
 * read through the driver's SKIP LOCKED suffix, extended by its holder's
 * heartbeat, and checked by every commit of a handle fenced with it
 * (st_fence_check_tx, called from st_commit).
 *
 * Must never: grant a claim another live holder has, let a fenced handle
 * commit after its lease expired or passed to another owner, or shorten
 * a Retry-After a server gave.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "store/renewal.h"
#include "store/store_int.h"

#define RENEWAL_COLS \
	"SELECT lineage, cert_sha256, ari_start, ari_end, ari_moment, ari_next, " \
	"ari_explanation, failures, backoff_until, last_error, claim_owner, claim_until, " \
	"claim_token FROM renewal "

enum ck_code
st_renewal_cols(struct st_stmt *s, int at, struct ck_renewal *r, struct ck_err *err)
{
	int oom = 0;

	st_col_copy(s, at + 0, r->lineage, sizeof(r->lineage));
	st_col_copy(s, at + 1, r->cert_sha256, sizeof(r->cert_sha256));
	r->ari_start = (time_t)st_col_int64(s, at + 2);
	r->ari_end = (time_t)st_col_int64(s, at + 3);
	r->ari_moment = (time_t)st_col_int64(s, at + 4);
	r->ari_next = (time_t)st_col_int64(s, at + 5);
	r->ari_explanation = st_col_dup(s, at + 6, &oom);
	r->failures = st_col_int(s, at + 7);
	r->backoff_until = (time_t)st_col_int64(s, at + 8);
	r->last_error = st_col_dup(s, at + 9, &oom);
	r->claim_owner = st_col_dup(s, at + 10, &oom);
	r->claim_until = (time_t)st_col_int64(s, at + 11);
	r->claim_token = st_col_int64(s, at + 12);
	return oom ? CK_OOM(err) : CK_OK;
}

static enum ck_code
renewal_row(struct st_stmt *s, void *elem, struct ck_err *err)
{
	return st_renewal_cols(s, 0, elem, err);
}

void
ck_renewal_cleanup(struct ck_renewal *r)
{
	if (r == NULL)
		return;
	free(r->ari_explanation);
	free(r->last_error);
	free(r->claim_owner);
	memset(r, 0, sizeof(*r));
}

static void
renewal_free(void *elem)
{
	ck_renewal_cleanup(elem);
}

static const struct st_list_spec renewal_spec = {
	sizeof(struct ck_renewal), "renewal rows", renewal_row, renewal_free,
};

enum ck_code
ck_store_renewal_get(struct ck_store *st, const char *lineage, struct ck_renewal *out,
		     struct ck_err *err)
{
	struct ck_renewal r;
	enum ck_code rc;

	if ((rc = st_check_name("lineage name", lineage, 1, err)) != CK_OK)
		return rc;
	memset(&r, 0, sizeof(r));
	rc = st_row_read(st, err, &renewal_spec, &r, RENEWAL_COLS "WHERE lineage = ?", "t",
			 lineage);
	if (rc == CK_OK)
		*out = r;
	return rc;
}

/* The row exists afterwards (inside the caller's transaction). */
static enum ck_code
renewal_ensure_tx(struct ck_store *st, const char *lineage, struct ck_err *err)
{
	return st_exec(st, err, NULL,
		       "INSERT INTO renewal (lineage, updated) VALUES (?, ?) "
		       "ON CONFLICT (lineage) DO NOTHING",
		       "ti", lineage, (int64_t)st_now(st));
}

/*
 * Sets lineage's next look to "now, compute it" (migration 15): a random
 * negative number, as the triggers set, so that a plan that read the
 * lineage before this change cannot store its value over it.
 */
enum ck_code
st_due_reset_tx(struct ck_store *st, const char *lineage, struct ck_err *err)
{
	uint64_t r = 0;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint64_t)st_now(st);
	return st_exec(st, err, NULL, "UPDATE lineages SET due_at = ? WHERE name = ?", "it",
		       -1 - (int64_t)(r & 0x3fffffffffffffffULL), lineage);
}

/* What ari_body and failed_body write. */
struct renewal_write {
	const char *lineage;
	const struct ck_renewal_ari *ari;
	time_t backoff_until;
	const char *error;
};

static enum ck_code
ari_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct renewal_write *w = arg;
	const struct ck_renewal_ari *a = w->ari;
	enum ck_code rc;

	if ((rc = renewal_ensure_tx(st, w->lineage, err)) != CK_OK)
		return rc;
	/* A new ARI answer moves the lineage's next look (migration 15). */
	if ((rc = st_due_reset_tx(st, w->lineage, err)) != CK_OK)
		return rc;
	return st_exec(st, err, NULL,
		       "UPDATE renewal SET cert_sha256 = ?, ari_start = ?, ari_end = ?, "
		       "ari_moment = ?, ari_next = ?, ari_explanation = ?, updated = ? "
		       "WHERE lineage = ?",
		       "tiiiitit", a->cert_sha256, (int64_t)a->start, (int64_t)a->end,
		       (int64_t)a->moment, (int64_t)a->next, a->explanation, (int64_t)st_now(st),
		       w->lineage);
}

enum ck_code
ck_store_renewal_ari_set(struct ck_store *st, const char *lineage, const struct ck_renewal_ari *a,
			 struct ck_err *err)
{
	struct renewal_write w = { lineage, a, 0, NULL };
	enum ck_code rc;

	if ((rc = st_check_name("lineage name", lineage, 1, err)) != CK_OK ||
	    (rc = st_check_text("certificate thumbprint", a->cert_sha256, 64, 1, err)) != CK_OK ||
	    (rc = st_check_text("explanation URL", a->explanation, CK_STORE_URL_MAX, 0, err)) !=
		    CK_OK)
		return rc;
	return st_tx_run(st, err, "store.renewal_ari", ari_body, &w);
}

static enum ck_code
failed_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct renewal_write *w = arg;
	enum ck_code rc;

	if ((rc = renewal_ensure_tx(st, w->lineage, err)) != CK_OK)
		return rc;
	return st_exec(st, err, NULL,
		       "UPDATE renewal SET failures = failures + 1, backoff_until = ?, "
		       "last_error = ?, updated = ? WHERE lineage = ?",
		       "itit", (int64_t)w->backoff_until, w->error, (int64_t)st_now(st),
		       w->lineage);
}

enum ck_code
ck_store_renewal_failed(struct ck_store *st, const char *lineage, time_t backoff_until,
			const char *error, struct ck_err *err)
{
	char msg[CK_RENEWAL_ERROR_MAX];
	struct renewal_write w = { lineage, NULL, backoff_until, msg };
	enum ck_code rc;

	if ((rc = st_check_name("lineage name", lineage, 1, err)) != CK_OK)
		return rc;
	ck_str_printable(msg, sizeof(msg), error != NULL ? error : "");
	return st_tx_run(st, err, "store.renewal_failed", failed_body, &w);
}

/* The old certificate's ARI state goes, so does the next look it set. */
static enum ck_code
done_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	const char *lineage = arg;
	enum ck_code rc;

	rc = st_exec(st, err, NULL,
		     "UPDATE renewal SET failures = 0, backoff_until = NULL, last_error = NULL, "
		     "cert_sha256 = NULL, ari_start = NULL, ari_end = NULL, ari_moment = NULL, "
		     "ari_next = NULL, ari_explanation = NULL, updated = ? WHERE lineage = ?",
		     "it", (int64_t)st_now(st), lineage);
	if (rc == CK_OK)
		rc = st_due_reset_tx(st, lineage, err);
	return rc;
}

enum ck_code
ck_store_renewal_done(struct ck_store *st, const char *lineage, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_check_name("lineage name", lineage, 1, err)) != CK_OK)
		return rc;
	return st_tx_run(st, err, "store.renewal_done", done_body, (void *)lineage);
}

/*
 * Why the lease (lineage, owner, token) does not hold, from its row read
 * inside the caller's transaction: CK_ERR_LEASE_LOST naming the lineage,
 * who holds it now and until when; `then` ends the message.
 */
static enum ck_code
lease_lost_tx(struct ck_store *st, const char *lineage, const char *owner, int64_t token,
	      const char *then, struct ck_err *err)
{
	struct ck_renewal r;
	char when[21];
	enum ck_code rc;

	memset(&r, 0, sizeof(r));
	rc = st_row_read(st, err, &renewal_spec, &r, RENEWAL_COLS "WHERE lineage = ?", "t",
			 lineage);
	if (rc != CK_OK && rc != CK_ERR_NOT_FOUND)
		return rc;
	ck_time_rfc3339(r.claim_until, when);
	if (r.claim_owner == NULL)
		rc = CK_FAIL(err, CK_ERR_LEASE_LOST, "the lease of %s on lineage %s (token %lld) was "
			     "lost: nobody holds it now; %s", owner, lineage, (long long)token, then);
	else if (strcmp(r.claim_owner, owner) == 0 && r.claim_token == token)
		rc = CK_FAIL(err, CK_ERR_LEASE_LOST, "the lease of %s on lineage %s (token %lld) "
			     "expired at %s; %s", owner, lineage, (long long)token, when, then);
	else
		rc = CK_FAIL(err, CK_ERR_LEASE_LOST, "the lease of %s on lineage %s (token %lld) was "
			     "lost: %s holds it now (token %lld, until %s); %s", owner, lineage,
			     (long long)token, r.claim_owner, (long long)r.claim_token, when, then);
	ck_renewal_cleanup(&r);
	return rc;
}

/* What claim_body reads and writes. */
struct claim_args {
	const char *lineage, *owner, *steal;
	time_t until;
	int64_t token;            /* OUT */
};

/* 1 if row r may be granted to a (free, expired, a's own, or a's steal). */
static int
claim_free(const struct ck_renewal *r, const struct claim_args *a, time_t now)
{
	return r->claim_owner == NULL || r->claim_until <= now ||
	       strcmp(r->claim_owner, a->owner) == 0 ||
	       (a->steal != NULL && strcmp(r->claim_owner, a->steal) == 0);
}

/*
 * The row is read and locked with the driver's SKIP LOCKED suffix: a row
 * another transaction holds (a node granting or fencing it) is busy now.
 * The grant is written conditionally on the token read, so it never
 * overwrites a grant it did not see.
 */
static enum ck_code
claim_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct claim_args *a = arg;
	struct ck_renewal r;
	time_t now = st_now(st);
	char *sql = NULL, when[21];
	int changes = 0;
	enum ck_code rc;

	a->token = 0;
	memset(&r, 0, sizeof(r));
	if ((rc = renewal_ensure_tx(st, a->lineage, err)) != CK_OK)
		return rc;
	if ((sql = st_printf(RENEWAL_COLS "WHERE lineage = ?%s", st->drv->lock_skip_locked)) ==
	    NULL)
		return CK_OOM(err);
	rc = st_row_read(st, err, &renewal_spec, &r, sql, "t", a->lineage);
	free(sql);
	if (rc == CK_ERR_NOT_FOUND) /* it exists: another transaction holds it locked */
		return CK_FAIL(err, CK_ERR_BUSY, "lineage %s is being claimed by another node right "
			       "now", a->lineage);
	if (rc != CK_OK)
		return rc;
	if (!claim_free(&r, a, now)) {
		ck_time_rfc3339(r.claim_until, when);
		rc = CK_FAIL(err, CK_ERR_BUSY, "lineage %s is being renewed by %s (claimed until %s)",
			     a->lineage, r.claim_owner, when);
		goto out;
	}
	rc = st_exec(st, err, &changes,
		     "UPDATE renewal SET claim_owner = ?, claim_until = ?, claim_token = ?, "
		     "updated = ? WHERE lineage = ? AND claim_token = ?",
		     "tiiiti", a->owner, (int64_t)a->until, r.claim_token + 1, (int64_t)now,
		     a->lineage, r.claim_token);
	if (rc == CK_OK && changes != 1)
		rc = CK_FAIL(err, CK_ERR_BUSY, "lineage %s was claimed by another node meanwhile",
			     a->lineage);
	if (rc == CK_OK)
		a->token = r.claim_token + 1;
out:
	ck_renewal_cleanup(&r);
	return rc;
}

enum ck_code
ck_store_renewal_claim(struct ck_store *st, const char *lineage, const char *owner, time_t until,
		       const char *steal, int64_t *token, struct ck_err *err)
{
	struct claim_args a = { lineage, owner, steal, until, 0 };
	enum ck_code rc;

	if ((rc = st_check_name("lineage name", lineage, 1, err)) != CK_OK ||
	    (rc = st_check_text("claim owner", owner, CK_RENEWAL_OWNER_MAX, 1, err)) != CK_OK)
		return rc;
	if ((rc = st_tx_run_unsynced(st, err, "store.renewal_claim", claim_body, &a)) == CK_OK &&
	    token != NULL)
		*token = a.token;
	return rc;
}

/* What claim_after_body reads and writes. */
struct claim_after_args {
	struct claim_args claim;
	const char *release;      /* the lineage whose lease is given back first */
	enum ck_code claim_rc;    /* OUT: the claim's own outcome */
};

/* Releases a->release, then claims in a savepoint: a refused claim still
 * commits the release. */
static enum ck_code
claim_after_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct claim_after_args *a = arg;
	enum ck_code rc;

	rc = st_exec(st, err, NULL,
		     "UPDATE renewal SET claim_owner = NULL, claim_until = NULL, updated = ? "
		     "WHERE lineage = ? AND claim_owner = ?",
		     "itt", (int64_t)st_now(st), a->release, a->claim.owner);
	if (rc != CK_OK || (rc = st_begin(st, err)) != CK_OK)
		return rc;
	if ((a->claim_rc = claim_body(st, &a->claim, err)) == CK_OK)
		return st_commit(st, err);
	st_rollback(st);
	/* The claim's refusal is in err and claim_rc; what the release did stays. */
	return CK_OK;
}

enum ck_code
ck_store_renewal_claim_after(struct ck_store *st, const char *release, const char *lineage,
			     const char *owner, time_t until, const char *steal, int64_t *token,
			     struct ck_err *err)
{
	struct claim_after_args a = { { lineage, owner, steal, until, 0 }, release, CK_OK };
	enum ck_code rc;

	if (release == NULL)
		return ck_store_renewal_claim(st, lineage, owner, until, steal, token, err);
	if ((rc = st_check_name("lineage name", lineage, 1, err)) != CK_OK ||
	    (rc = st_check_name("lineage name", release, 1, err)) != CK_OK ||
	    (rc = st_check_text("claim owner", owner, CK_RENEWAL_OWNER_MAX, 1, err)) != CK_OK)
		return rc;
	if ((rc = st_tx_run_unsynced(st, err, "store.renewal_claim", claim_after_body, &a)) != CK_OK)
		return rc;
	if (a.claim_rc == CK_OK && token != NULL)
		*token = a.claim.token;
	return a.claim_rc;
}

/* What extend_body writes. */
struct extend_args {
	const char *lineage, *owner;
	int64_t token;
	time_t until;
};

static enum ck_code
extend_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct extend_args *a = arg;
	int changes = 0;
	enum ck_code rc;

	rc = st_exec(st, err, &changes,
		     "UPDATE renewal SET claim_until = ? WHERE lineage = ? AND claim_owner = ? "
		     "AND claim_token = ? AND claim_until > ck_now()",
		     "itti", (int64_t)a->until, a->lineage, a->owner, a->token);
	if (rc == CK_OK && changes != 1)
		rc = lease_lost_tx(st, a->lineage, a->owner, a->token, "it was not extended", err);
	return rc;
}

enum ck_code
ck_store_renewal_extend(struct ck_store *st, const char *lineage, const char *owner,
			int64_t token, time_t until, struct ck_err *err)
{
	struct extend_args a = { lineage, owner, token, until };
	enum ck_code rc;

	if ((rc = st_check_name("lineage name", lineage, 1, err)) != CK_OK ||
	    (rc = st_check_text("claim owner", owner, CK_RENEWAL_OWNER_MAX, 1, err)) != CK_OK)
		return rc;
	return st_tx_run_unsynced(st, err, "store.renewal_extend", extend_body, &a);
}

enum ck_code
ck_store_renewal_release(struct ck_store *st, const char *lineage, const char *owner,
			 struct ck_err *err)
{
	return st_tx_exec(st, err, "store.renewal_release", NULL,
			  "UPDATE renewal SET claim_owner = NULL, claim_until = NULL, updated = ? "
			  "WHERE lineage = ? AND claim_owner = ?",
			  "itt", (int64_t)st_now(st), lineage, owner);
}

enum ck_code
ck_store_renewal_fence(struct ck_store *st, const char *lineage, const char *owner,
		       int64_t token, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_check_name("lineage name", lineage, 1, err)) != CK_OK ||
	    (rc = st_check_text("claim owner", owner, ST_FENCE_OWNER_MAX, 1, err)) != CK_OK)
		return rc;
	if (st->in_tx > 0)
		return CK_FAIL(err, CK_ERR_INTERNAL, "a lease fence is set outside transactions");
	snprintf(st->fence_lineage, sizeof(st->fence_lineage), "%s", lineage);
	snprintf(st->fence_owner, sizeof(st->fence_owner), "%s", owner);
	st->fence_token = token;
	st->fenced = 1;
	return CK_OK;
}

void
ck_store_renewal_unfence(struct ck_store *st)
{
	if (st == NULL)
		return;
	st->fenced = 0;
	st->fence_token = 0;
	st->fence_lineage[0] = '\0';
	st->fence_owner[0] = '\0';
}

enum ck_code
st_fence_check_tx(struct ck_store *st, struct ck_err *err)
{
	int changes = 0;
	enum ck_code rc;

	/* A no-op write: it locks the row (PostgreSQL) and counts only if the
	 * lease is still this handle's. */
	rc = st_exec(st, err, &changes,
		     "UPDATE renewal SET claim_until = claim_until WHERE lineage = ? AND "
		     "claim_owner = ? AND claim_token = ? AND claim_until > ck_now()",
		     "tti", st->fence_lineage, st->fence_owner, st->fence_token);
	if (rc == CK_OK && changes != 1)
		rc = lease_lost_tx(st, st->fence_lineage, st->fence_owner, st->fence_token,
				   "nothing of this change was committed", err);
	return rc;
}

enum ck_code
ck_store_ratelimit_set(struct ck_store *st, const char *server, const char *name, time_t until,
		       const char *reason, struct ck_err *err)
{
	char msg[CK_RENEWAL_ERROR_MAX];
	enum ck_code rc;

	if ((rc = st_check_text("server", server, CK_STORE_URL_MAX, 1, err)) != CK_OK ||
	    (rc = st_check_text("name", name, CK_NAME_MAX, 0, err)) != CK_OK)
		return rc;
	ck_str_printable(msg, sizeof(msg), reason != NULL ? reason : "");
	return st_tx_exec(st, err, "store.ratelimit_set", NULL,
			  "INSERT INTO rate_limits (server, name, until, reason) VALUES (?, ?, ?, ?) "
			  "ON CONFLICT (server, name) DO UPDATE SET "
			  "reason = CASE WHEN excluded.until > rate_limits.until THEN excluded.reason "
			  "ELSE rate_limits.reason END, until = CASE WHEN excluded.until > "
			  "rate_limits.until THEN excluded.until ELSE rate_limits.until END",
			  "ttit", server, name != NULL ? name : "", (int64_t)until, msg);
}

enum ck_code
ck_store_ratelimit_until(struct ck_store *st, const char *server, const char *const *names,
			 size_t n, time_t now, time_t *until, char reason[CK_RENEWAL_ERROR_MAX],
			 struct ck_err *err)
{
	struct st_stmt *s = NULL;
	time_t best = 0;
	enum ck_code rc = CK_OK;
	size_t i;
	int step;

	if (reason != NULL)
		reason[0] = '\0';
	for (i = 0; i <= n && rc == CK_OK; i++) {
		const char *name = i == 0 ? "" : names[i - 1];

		if ((rc = st_prepare_bind(st, err, &s,
					  "SELECT until, reason FROM rate_limits WHERE server = ? "
					  "AND name = ? AND until > ?",
					  "tti", server, name, (int64_t)now)) != CK_OK)
			break;
		if ((step = st_step(st, s, err)) < 0)
			rc = CK_ERR_STORE;
		else if (step == 1 && (time_t)st_col_int64(s, 0) > best) {
			best = (time_t)st_col_int64(s, 0);
			if (reason != NULL)
				st_col_copy(s, 1, reason, CK_RENEWAL_ERROR_MAX);
		}
		st_finalize(s);
		s = NULL;
	}
	if (rc == CK_OK)
		*until = best;
	return rc;
}

enum ck_code
ck_store_ratelimit_any(struct ck_store *st, time_t now, int *any, struct ck_err *err)
{
	int64_t n = 0;
	enum ck_code rc;

	rc = st_query_int(st, err, &n, "SELECT count(*) FROM rate_limits WHERE until > ?", "i",
			  (int64_t)now);
	if (rc == CK_OK)
		*any = n > 0;
	return rc;
}

enum ck_code
ck_store_orders_since(struct ck_store *st, const char *server, time_t since, size_t *count,
		      time_t *oldest, struct ck_err *err)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int step;

	if ((rc = st_prepare_bind(st, err, &s,
				  "SELECT count(*), min(o.created) FROM orders o JOIN accounts a "
				  "ON a.id = o.account_id WHERE a.server = ? AND o.created >= ?",
				  "ti", server, (int64_t)since)) != CK_OK)
		return rc;
	if ((step = st_step(st, s, err)) < 0) {
		rc = CK_ERR_STORE;
	} else if (step == 1) {
		*count = (size_t)st_col_int64(s, 0);
		*oldest = (time_t)st_col_int64(s, 1);
	} else {
		*count = 0;
		*oldest = 0;
	}
	st_finalize(s);
	return rc;
}
