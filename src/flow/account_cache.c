/*
 * account_cache.c - account sessions kept between issuances, each checked
 * against its account's generation before it is used again (see
 * account_cache.h for the rule).
 *
 * Must never: hand out a session without reading the account's row first,
 * hand one session to two users, or keep a session that failed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "flow/account_cache.h"

struct acct_cache_entry {
	struct ck_account_session s;  /* s.account.generation: what it was read at */
	char *ca_bundle;              /* the options it was opened with (NULL: none) */
	char *pin_file;
	int used;
};

struct acct_cache {
	pthread_mutex_t lock;         /* guards e[] */
	struct acct_cache_entry e[ACCT_CACHE_MAX];
};

enum ck_code
acct_cache_new(struct acct_cache **out, struct ck_err *err)
{
	struct acct_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return CK_OOM(err);
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a mutex");
	}
	*out = c;
	return CK_OK;
}

static void
entry_clear(struct acct_cache_entry *e)
{
	ck_account_session_cleanup(&e->s);
	free(e->ca_bundle);
	free(e->pin_file);
	memset(e, 0, sizeof(*e));
}

void
acct_cache_free(struct acct_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < ACCT_CACHE_MAX; i++)
		if (c->e[i].used)
			entry_clear(&c->e[i]);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Both NULL, or equal strings. */
static int
same_opt(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * Takes the kept session of row (its id and server) opened with these
 * options out of c into *out: 1 if it was fresh (its generation is the
 * row's, no rollover pending), 0 if there was none or it was stale (then
 * freed, and logged).
 */
static int
cache_find(struct acct_cache *c, const struct ck_ctx *ctx, const struct ck_account *row,
	   unsigned flags, const char *ca_bundle, const char *pin_file,
	   struct ck_account_session *out)
{
	struct acct_cache_entry *e, found;
	int fresh = 0;
	size_t i;

	memset(&found, 0, sizeof(found));
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < ACCT_CACHE_MAX; i++) {
		e = &c->e[i];
		if (e->used && e->s.account.id == row->id &&
		    strcmp(e->s.server, row->server) == 0 && same_opt(e->ca_bundle, ca_bundle) &&
		    same_opt(e->pin_file, pin_file)) {
			found = *e;
			memset(e, 0, sizeof(*e));
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (!found.used)
		return 0;
	/* A status other than valid moved the generation too; REQUIRE_VALID then
	 * wants the open's refusal, with its words. */
	fresh = found.s.account.generation == row->generation && row->pending_key_id == 0 &&
		(!(flags & CK_ACCOUNT_REQUIRE_VALID) || row->status == NULL ||
		 strcmp(row->status, "valid") == 0);
	if (fresh) {
		*out = found.s;
		memset(&found.s, 0, sizeof(found.s));
	} else {
		ck_log(&ctx->log, CK_LOG_INFO,
		       "account %s changed since this process read it (its generation %lld, now "
		       "%lld): its key and state are read again", row->name,
		       (long long)found.s.account.generation, (long long)row->generation);
	}
	entry_clear(&found);
	return fresh;
}

enum ck_code
acct_cache_take(struct acct_cache *c, const struct ck_ctx *ctx, struct ck_store *st,
		const char *server, const char *name, const char *ca_bundle, unsigned flags,
		const char *pin_file, struct ck_account_session *out, int *hit,
		struct ck_err *err)
{
	struct ck_account row;
	char *srv = NULL;
	int found = 0;

	memset(&row, 0, sizeof(row));
	if (hit != NULL)
		*hit = 0;
	/* The read before the use.  A failed look-up is left to the open below,
	 * which says what is wrong in the words of ck_account_open. */
	if (c != NULL && ck_server_pick(st, server, &srv, NULL) == CK_OK &&
	    ck_store_account_get(st, srv, name, &row, NULL) == CK_OK)
		found = cache_find(c, ctx, &row, flags, ca_bundle, pin_file, out);
	ck_account_cleanup(&row);
	free(srv);
	if (found) {
		acme_client_refresh_stale(out->client); /* between operations: nothing borrows it */
		if (hit != NULL)
			*hit = 1;
		return CK_OK;
	}
	return ck_account_open_pin(ctx, st, server, name, ca_bundle, flags, pin_file, out, err);
}

/* A copy of an option for an entry; 0 on OOM. */
static int
opt_dup(const char *v, char **out)
{
	*out = NULL;
	return v == NULL || (*out = strdup(v)) != NULL;
}

void
acct_cache_put(struct acct_cache *c, struct ck_account_session *s, const char *ca_bundle,
	       const char *pin_file, int keep)
{
	struct acct_cache_entry *e = NULL;
	size_t i;

	if (c != NULL && keep && s->client != NULL) {
		pthread_mutex_lock(&c->lock);
		for (i = 0; i < ACCT_CACHE_MAX && e == NULL; i++)
			if (!c->e[i].used)
				e = &c->e[i];
		if (e != NULL && opt_dup(ca_bundle, &e->ca_bundle) &&
		    opt_dup(pin_file, &e->pin_file)) {
			acme_client_park(s->client); /* its nonce serves the batch meanwhile */
			e->s = *s;
			e->used = 1;
			memset(s, 0, sizeof(*s));
		} else if (e != NULL) {
			free(e->ca_bundle);
			free(e->pin_file);
			memset(e, 0, sizeof(*e));
		}
		pthread_mutex_unlock(&c->lock);
	}
	ck_account_session_cleanup(s); /* not kept: freed (a no-op on a zeroed one) */
}

void
acct_cache_prune(struct acct_cache *c, const struct ck_ctx *ctx, struct ck_store *st)
{
	struct acct_cache_entry *e;
	struct ck_account row;
	struct ck_err err;
	enum ck_code rc;
	size_t i;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < ACCT_CACHE_MAX; i++) {
		e = &c->e[i];
		if (!e->used)
			continue;
		memset(&row, 0, sizeof(row));
		ck_err_clear(&err);
		rc = ck_store_account_get(st, e->s.server, e->s.account.name, &row, &err);
		if (rc == CK_ERR_NOT_FOUND || (rc == CK_OK && (row.id != e->s.account.id ||
		    row.generation != e->s.account.generation || row.pending_key_id != 0))) {
			ck_log(&ctx->log, CK_LOG_INFO, "account %s changed in the store (its "
			       "generation %lld, now %lld): its kept session is dropped",
			       e->s.account.name, (long long)e->s.account.generation,
			       rc == CK_OK ? (long long)row.generation : -1LL);
			entry_clear(e);
		}
		ck_account_cleanup(&row);
	}
	pthread_mutex_unlock(&c->lock);
}
