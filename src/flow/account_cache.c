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
#include "flow/account_int.h"

struct acct_cache_entry {
	struct ck_account_session s;  /* s.account.generation: what it was read at */
	char *ca_bundle;              /* the options it was opened with (NULL: none) */
	char *pin_file;
	int used;
};

/* A decoded software account key and the row it was decoded from. */
struct acct_cache_key {
	int64_t key_id;
	char spki_sha256[65];
	EVP_PKEY *pkey;               /* NULL: a free slot */
};

struct acct_cache {
	pthread_mutex_t lock;         /* guards e[] */
	struct acct_cache_entry e[ACCT_CACHE_MAX];
	/* Guards keys[], and is held while a key is decoded, so the workers
	 * that open one account at once wait for one decode, not make n. */
	pthread_mutex_t key_lock;
	struct acct_cache_key keys[ACCT_CACHE_KEYS];
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
	if (pthread_mutex_init(&c->key_lock, NULL) != 0) {
		pthread_mutex_destroy(&c->lock);
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
	for (i = 0; i < ACCT_CACHE_KEYS; i++)
		EVP_PKEY_free(c->keys[i].pkey); /* frees (and clears) the private half */
	pthread_mutex_destroy(&c->key_lock);
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
	return acct_open(ctx, st, server, name, ca_bundle, flags, pin_file, c, out, err);
}

/*
 * The kept key of row ki in c (key_lock held): its slot, *hit 1; else the
 * slot a key decoded for it goes to, *hit 0: a free one, else the first
 * (the signers made on the key it held keep their own references).
 */
static struct acct_cache_key *
key_slot(struct acct_cache *c, const struct ck_key_info *ki, int *hit)
{
	struct acct_cache_key *free_slot = NULL;
	size_t i;

	*hit = 0;
	for (i = 0; i < ACCT_CACHE_KEYS; i++) {
		if (c->keys[i].pkey != NULL && c->keys[i].key_id == ki->id &&
		    strcmp(c->keys[i].spki_sha256, ki->spki_sha256) == 0) {
			*hit = 1;
			return &c->keys[i];
		}
		if (free_slot == NULL && c->keys[i].pkey == NULL)
			free_slot = &c->keys[i];
	}
	return free_slot != NULL ? free_slot : &c->keys[0];
}

enum ck_code
acct_cache_key_load(struct acct_cache *c, struct ck_store *st, int64_t key_id,
		    const struct flow_key_src *src, struct flow_key *k, struct ck_err *err)
{
	struct flow_key nk;
	struct ck_key_info ki;
	struct acct_cache_key *slot;
	EVP_PKEY *pkey = NULL;
	enum ck_code rc;
	int hit = 0;

	memset(&ki, 0, sizeof(ki));
	memset(&nk, 0, sizeof(nk));
	if (c == NULL || ck_store_key_info(st, key_id, &ki, NULL) != CK_OK ||
	    ki.pkcs11_uri != NULL) {
		/* No cache, a token key, or a row not readable: flow_key_load says
		 * what is wrong in its own words. */
		ck_key_info_cleanup(&ki);
		return flow_key_load(k, st, key_id, src, err);
	}
	nk.key_id = key_id;
	pthread_mutex_lock(&c->key_lock);
	slot = key_slot(c, &ki, &hit);
	if (hit) {
		rc = ck_signer_from_key(slot->pkey, &nk.signer, err);
	} else if ((rc = ck_store_key_load(st, key_id, &pkey, err)) == CK_OK &&
		   (rc = ck_signer_from_key(pkey, &nk.signer, err)) == CK_OK) {
		EVP_PKEY_free(slot->pkey);
		slot->pkey = pkey; /* the cache's reference */
		slot->key_id = key_id;
		memcpy(slot->spki_sha256, ki.spki_sha256, sizeof(slot->spki_sha256));
		pkey = NULL;
	}
	pthread_mutex_unlock(&c->key_lock);
	EVP_PKEY_free(pkey);
	ck_key_info_cleanup(&ki);
	if (rc == CK_OK) {
		*k = nk;
		memset(&nk, 0, sizeof(nk));
	}
	flow_key_cleanup(&nk);
	return rc;
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
	size_t i, k;

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
	/* A decoded key no kept session signs with (its account rolled over or
	 * gone) is not kept in memory for the life of the process. */
	pthread_mutex_lock(&c->key_lock);
	for (k = 0; k < ACCT_CACHE_KEYS; k++) {
		for (i = 0; i < ACCT_CACHE_MAX; i++)
			if (c->e[i].used && c->e[i].s.account.key_id == c->keys[k].key_id)
				break;
		if (c->keys[k].pkey != NULL && i == ACCT_CACHE_MAX) {
			EVP_PKEY_free(c->keys[k].pkey);
			memset(&c->keys[k], 0, sizeof(c->keys[k]));
		}
	}
	pthread_mutex_unlock(&c->key_lock);
	pthread_mutex_unlock(&c->lock);
}
