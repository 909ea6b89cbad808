/*
 * issue_pool.c - challenge responders shared by many issuances in flight
 * (the renewal scheduler): one struct issue_challenges per distinct set of
 * challenge settings (compared by their record, chall_settings_encode), so
 * lineages proven the same way share one listener per type; handed to
 * issue_with_challenges.  Owns a copy
 * of each set's settings, and the account sessions its issuances keep
 * between them (account_cache.h); the owner stops everything once, at the end.
 *
 * Must never: stop or replace a set while an issuance may use it.
 */
#include <stdlib.h>
#include <string.h>

#include "flow/account_cache.h"
#include "flow/issue.h"

enum ck_code
issue_pool_init(struct issue_pool *p, const struct ck_ctx *ctx, struct ck_err *err)
{
	memset(p, 0, sizeof(*p));
	p->ctx = ctx;
	if (acct_cache_new(&p->accounts, err) != CK_OK)
		return err != NULL ? err->code : CK_ERR_NOMEM;
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		acct_cache_free(p->accounts);
		p->accounts = NULL;
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a mutex");
	}
	p->inited = 1;
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
	    (rc = issue_challenges_init(&s->set, p->ctx, &s->rec.s, err)) != CK_OK) {
		chall_settings_rec_cleanup(&s->rec);
		return rc;
	}
	s->set.accounts = p->accounts;
	s->key = key;
	p->n++;
	return CK_OK;
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
	for (i = 0; i < p->n; i++) {
		issue_challenges_stop(&p->sets[i].set);
		chall_settings_rec_cleanup(&p->sets[i].rec);
		free(p->sets[i].key);
	}
	p->n = 0;
	acct_cache_free(p->accounts); /* after the last issuance gave its session back */
	p->accounts = NULL;
	pthread_mutex_destroy(&p->lock);
	p->inited = 0;
}
