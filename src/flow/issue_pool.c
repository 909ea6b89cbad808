/*
 * issue_pool.c - challenge responders shared by many issuances in flight
 * (the renewal scheduler): one struct issue_challenges per distinct set of
 * challenge settings (compared by their record, chall_settings_encode), so
 * lineages proven the same way share one listener per type; handed to
 * issue_with_challenges.  Settings that differ elsewhere but bind the same
 * listener (address and port) share that listener too, and settings whose
 * listener would collide with another's on a port are refused before their
 * issuance starts.  Owns a copy of each set's settings; the owner stops
 * everything once, at the end.  It also owns
 * the account sessions its issuances keep between them (account_cache.h),
 * or borrows a longer-lived process's (the agent's, across its runs).
 *
 * Must never: stop or replace a set while an issuance may use it; start two
 * listeners on one port.
 */
#include <stdlib.h>
#include <string.h>

#include "flow/account_cache.h"
#include "flow/issue.h"

enum ck_code
issue_pool_init(struct issue_pool *p, const struct ck_ctx *ctx, struct acct_cache *accounts,
		struct ck_err *err)
{
	memset(p, 0, sizeof(*p));
	p->ctx = ctx;
	p->accounts = accounts;
	if (accounts == NULL) {
		if (acct_cache_new(&p->accounts, err) != CK_OK)
			return err != NULL ? err->code : CK_ERR_NOMEM;
		p->own_accounts = 1;
	}
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		if (p->own_accounts)
			acct_cache_free(p->accounts);
		p->accounts = NULL;
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a mutex");
	}
	p->inited = 1;
	return CK_OK;
}

static int
same_address(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static const char *
address_text(const char *a)
{
	return a != NULL ? a : "every address";
}

/*
 * The pool's listener that cfg's `type` responder would bind, in *out
 * (NULL: none yet).  CK_ERR_IN_USE when it would collide with one of
 * them: the same port with another type, or on every address against a
 * single one (or the other way round).
 */
static enum ck_code
pool_listener_find(struct issue_pool *p, const struct ck_challenge_settings *cfg,
		   enum ck_challenge_type type, struct issue_pool_listener **out,
		   struct ck_err *err)
{
	struct issue_pool_listener *l;
	const char *addr = NULL;
	unsigned port = 0;
	size_t i;

	*out = NULL;
	if (!chall_settings_listener(cfg, type, &addr, &port))
		return CK_OK;
	for (i = 0; i < p->nlisteners; i++) {
		l = &p->listeners[i];
		if (l->port != port ||
		    !(same_address(l->address, addr) || l->address == NULL || addr == NULL))
			continue;
		if (l->type == type && same_address(l->address, addr)) {
			*out = l;
			return CK_OK;
		}
		return CK_FAIL(err, CK_ERR_IN_USE,
			       "its %s listener on %s port %u would collide with another lineage's "
			       "%s listener on %s port %u in this run: record the same address for "
			       "both (certkeep issue --http-address/--tls-address), give the run "
			       "one listener (renew --http-port/--http-address), or renew them in "
			       "separate runs", ck_challenge_type_name(type),
			       address_text(addr), port, ck_challenge_type_name(l->type),
			       address_text(l->address), l->port);
	}
	return CK_OK;
}

/* Refuses cfg if a listener of it collides with the pool's; else adds the
 * new ones (not started). */
static enum ck_code
pool_listeners_add(struct issue_pool *p, const struct ck_challenge_settings *cfg,
		   struct ck_err *err)
{
	static const enum ck_challenge_type types[] = { CK_CHALLENGE_HTTP01,
							CK_CHALLENGE_TLSALPN01 };
	struct issue_pool_listener *found[2], *l;
	enum ck_code rc;
	size_t i;

	for (i = 0; i < CK_ARRAY_LEN(types); i++)
		if ((rc = pool_listener_find(p, cfg, types[i], &found[i], err)) != CK_OK)
			return rc;
	for (i = 0; i < CK_ARRAY_LEN(types); i++) {
		l = &p->listeners[p->nlisteners];
		if (found[i] != NULL || !chall_settings_listener(cfg, types[i], &l->address, &l->port))
			continue;
		l->type = types[i];
		l->cfg = cfg;
		l->r = NULL;
		p->nlisteners++;
	}
	return CK_OK;
}

/* A new set for cfg, whose record is key (taken on success), in slot n. */
static enum ck_code
pool_add(struct issue_pool *p, char *key, struct ck_err *err)
{
	struct issue_pool_set *s = &p->sets[p->n];
	enum ck_code rc;

	memset(s, 0, sizeof(*s));
	if ((rc = chall_settings_decode(key, &s->rec, err)) != CK_OK ||
	    (rc = issue_challenges_init(&s->set, p->ctx, &s->rec.s, err)) != CK_OK ||
	    (rc = pool_listeners_add(p, &s->rec.s, err)) != CK_OK) {
		issue_challenges_stop(&s->set); /* nothing started yet */
		chall_settings_rec_cleanup(&s->rec);
		return rc;
	}
	s->set.accounts = p->accounts;
	s->set.pool = p;
	s->key = key;
	p->n++;
	return CK_OK;
}

enum ck_code
issue_pool_responder(struct issue_pool *p, enum ck_challenge_type type,
		     const struct ck_challenge_settings *cfg, struct chall_responder **out,
		     struct ck_err *err)
{
	struct issue_pool_listener *l = NULL;
	struct chall_responder *r = NULL;
	enum ck_code rc;

	*out = NULL;
	pthread_mutex_lock(&p->lock);
	if ((rc = pool_listener_find(p, cfg, type, &l, err)) != CK_OK || l == NULL)
		goto out;
	if (l->r == NULL) {
		rc = chall_responder_new(p->ctx, type, l->cfg, &r, err);
		if (rc == CK_OK && (rc = chall_start(r, err)) != CK_OK)
			chall_stop(r);
		if (rc == CK_OK)
			l->r = r;
	}
	*out = l->r;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/*
 * The record of the settings p's issuance will use (the way ck_issue
 * decides them): p->challenge, else the lineage's record, else the http-01
 * listener on p->http_address/http_port.  *out is allocated.
 */
static enum ck_code
pool_key(struct ck_store *st, const struct ck_issue_params *p, char **out, struct ck_err *err)
{
	struct ck_challenge_settings fallback;
	struct ck_lineage lin;
	enum ck_code rc = CK_OK;

	memset(&lin, 0, sizeof(lin));
	if (p->challenge == NULL) {
		rc = ck_store_lineage_get(st, p->lineage, &lin, err);
		if (rc == CK_ERR_NOT_FOUND)
			ck_err_clear(err);
		else if (rc != CK_OK)
			return rc;
	}
	if (p->challenge == NULL && lin.challenge != NULL) {
		*out = lin.challenge; /* a record is its own key */
		lin.challenge = NULL;
		rc = CK_OK;
	} else {
		memset(&fallback, 0, sizeof(fallback));
		fallback.type = CK_CHALLENGE_HTTP01;
		fallback.http_address = p->http_address;
		fallback.http_port = p->http_port;
		fallback.dns_wait = -1;
		rc = chall_settings_encode(p->challenge != NULL ? p->challenge : &fallback, out, err);
	}
	ck_lineage_cleanup(&lin);
	return rc;
}

enum ck_code
issue_pool_get(struct issue_pool *pool, struct ck_store *st, const struct ck_issue_params *p,
	       struct issue_challenges **out, struct ck_err *err)
{
	char *key = NULL;
	enum ck_code rc;
	size_t i;

	if ((rc = pool_key(st, p, &key, err)) != CK_OK)
		return rc;
	pthread_mutex_lock(&pool->lock);
	for (i = 0; i < pool->n; i++) {
		if (strcmp(pool->sets[i].key, key) == 0) {
			*out = &pool->sets[i].set;
			goto out;
		}
	}
	if (pool->n == ISSUE_POOL_MAX) {
		rc = CK_FAIL(err, CK_ERR_TOO_LARGE,
			     "more than %d different challenge settings in one run: renew the "
			     "lineages in smaller groups", ISSUE_POOL_MAX);
		goto out;
	}
	if ((rc = pool_add(pool, key, err)) == CK_OK) {
		*out = &pool->sets[pool->n - 1].set;
		key = NULL;
	} else {
		ck_err_prefix(err, "lineage %s: its challenge settings", p->lineage);
	}
out:
	pthread_mutex_unlock(&pool->lock);
	free(key);
	return rc;
}

void
issue_pool_stop(struct issue_pool *p)
{
	size_t i;

	if (p == NULL || !p->inited)
		return;
	for (i = 0; i < p->n; i++)
		issue_challenges_stop(&p->sets[i].set); /* not the listeners it borrows */
	for (i = 0; i < p->nlisteners; i++) {
		chall_stop(p->listeners[i].r);
		p->listeners[i].r = NULL;
	}
	p->nlisteners = 0;
	for (i = 0; i < p->n; i++) {
		chall_settings_rec_cleanup(&p->sets[i].rec); /* the listeners' settings too */
		free(p->sets[i].key);
	}
	p->n = 0;
	if (p->own_accounts) /* after the last issuance gave its session back */
		acct_cache_free(p->accounts);
	p->accounts = NULL;
	p->own_accounts = 0;
	pthread_mutex_destroy(&p->lock);
	p->inited = 0;
}
