/*
 * renew.c - ck_renew (certkeep/renew.h): the plan, then the run, and the
 * report both fill.  Owns the report's memory, the string pool the plan
 * keeps its jobs' strings in, and the stable names of reasons and states
 * (JSON contracts: values are only ever added).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow/account_cache.h"
#include "renew/renew_int.h"

#define RENEW_POOL_BLOCK 16384 /* bytes per pool block; a larger request gets its own */

struct renew_pool_block {
	struct renew_pool_block *next; /* allocated before this one */
	size_t used, cap;
	unsigned char data[];
};

void *
renew_pool_alloc(struct renew_pool *pool, size_t size, size_t align)
{
	struct renew_pool_block *b = pool->head;
	size_t at = b != NULL ? (b->used + align - 1) & ~(align - 1) : 0, cap;

	if (b == NULL || at > b->cap || size > b->cap - at) {
		if (size > SIZE_MAX - sizeof(*b) - RENEW_POOL_BLOCK)
			return NULL;
		cap = size > RENEW_POOL_BLOCK / 4 ? size : RENEW_POOL_BLOCK - sizeof(*b);
		if ((b = malloc(sizeof(*b) + cap)) == NULL)
			return NULL;
		b->next = pool->head;
		b->used = 0;
		b->cap = cap;
		pool->head = b;
		at = 0; /* data follows the header's size_t fields: aligned for a pointer */
	}
	b->used = at + size;
	return b->data + at;
}

const char *
renew_pool_strdup(struct renew_pool *pool, const char *s)
{
	size_t len;
	char *c;

	if (s == NULL)
		return NULL;
	len = strlen(s) + 1;
	if ((c = renew_pool_alloc(pool, len, 1)) != NULL)
		memcpy(c, s, len);
	return c;
}

struct renew_pool_mark
renew_pool_mark(const struct renew_pool *pool)
{
	struct renew_pool_mark m = { pool->head, pool->head != NULL ? pool->head->used : 0 };

	return m;
}

void
renew_pool_rollback(struct renew_pool *pool, struct renew_pool_mark m)
{
	struct renew_pool_block *b;

	while (pool->head != m.block && (b = pool->head) != NULL) {
		pool->head = b->next;
		free(b);
	}
	if (pool->head != NULL)
		pool->head->used = m.used;
}

void
renew_pool_free(struct renew_pool *pool)
{
	struct renew_pool_mark none = { NULL, 0 };

	renew_pool_rollback(pool, none);
}

const char *
ck_renew_why_name(enum ck_renew_why w)
{
	static const char *const names[] = {
		"not-due", "forced", "ari-window", "lifetime", "revoked", "key-gone",
		"names-changed", "no-certificate", "order-in-flight",
	};

	return (size_t)w < CK_ARRAY_LEN(names) ? names[w] : "unknown";
}

const char *
ck_renew_state_name(enum ck_renew_state s)
{
	static const char *const names[] = {
		"not-due", "due", "waiting", "renewed", "failed", "claimed", "cancelled",
	};

	return (size_t)s < CK_ARRAY_LEN(names) ? names[s] : "unknown";
}

void
ck_renew_report_cleanup(struct ck_renew_report *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->items[i].explanation_url);
		free(r->items[i].wait_reason);
		free(r->items[i].error);
		free(r->items[i].deploy_error);
	}
	free(r->items);
	memset(r, 0, sizeof(*r));
}

enum ck_code
ck_renew(const struct ck_ctx *ctx, struct ck_store *st, const struct ck_renew_opts *opts,
	 struct ck_renew_report *out, struct ck_err *err)
{
	struct renew_plan p;
	struct ck_ctx batch, *bctx = &batch;
	struct ck_renew_report rep;
	struct renew_job *jobs = NULL;
	size_t i;
	enum ck_code rc;

	if (ctx == NULL || st == NULL || opts == NULL || out == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "ck_renew needs a context, a store and options");
	if (opts->concurrency > CK_RENEW_CONCURRENCY_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "at most %d orders can be in flight at once",
			       CK_RENEW_CONCURRENCY_MAX);
	if (opts->lease_ttl_s != 0 && (opts->lease_ttl_s < CK_RENEW_LEASE_TTL_MIN ||
				       opts->lease_ttl_s > CK_RENEW_LEASE_TTL_MAX))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a lease lasts %d to %d seconds",
			       CK_RENEW_LEASE_TTL_MIN, CK_RENEW_LEASE_TTL_MAX);
	memset(&p, 0, sizeof(p));
	memset(&rep, 0, sizeof(rep));
	/* One ACME share for the whole run (the plan's ARI queries and the
	 * batch): the directory is fetched once, and a nonce left unused by a
	 * finished renewal and its live connection serve the next one (two
	 * requests and a TLS handshake less per certificate). */
	batch = *ctx;
	batch.acme_share = NULL;
	if (opts->cache != NULL) {
		/* The process's share, kept across runs (the caller's settings of now). */
		bctx = &opts->cache->ctx;
		batch.acme_share = bctx->acme_share;
		*bctx = batch;
		batch.acme_share = NULL;
	} else if ((rc = acme_share_new(&batch.acme_share, err)) != CK_OK) {
		return rc;
	}
	p.ctx = bctx;
	p.st = st;
	p.o = opts;
	if ((rc = renew_plan_make(&p, &rep.items, &jobs, &rep.n, err)) != CK_OK)
		goto out;
	if (opts->dry_run) {
		for (i = 0; i < rep.n; i++) {
			rep.counts.total += rep.items[i].state != CK_RENEW_ST_NOT_DUE;
			rep.counts.waiting += rep.items[i].state == CK_RENEW_ST_WAITING;
		}
	} else if ((rc = renew_run(bctx, st, opts, rep.items, jobs, rep.n, &rep.counts,
				   err)) != CK_OK) {
		goto out;
	}
	*out = rep;
	memset(&rep, 0, sizeof(rep));
out:
	free(jobs); /* what the jobs point to is the plan's */
	ck_renew_report_cleanup(&rep);
	renew_plan_cleanup(&p);
	acme_share_free(batch.acme_share);
	return rc;
}

enum ck_code
ck_renew_cache_new(const struct ck_ctx *ctx, struct ck_renew_cache **out, struct ck_err *err)
{
	struct ck_renew_cache *c;
	enum ck_code rc;

	if (ctx == NULL || out == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "ck_renew_cache_new needs a context");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return CK_OOM(err);
	c->ctx = *ctx;
	c->ctx.acme_share = NULL;
	if ((rc = acme_share_new(&c->ctx.acme_share, err)) != CK_OK ||
	    (rc = acct_cache_new(&c->accounts, err)) != CK_OK) {
		ck_renew_cache_free(c);
		return rc;
	}
	*out = c;
	return CK_OK;
}

void
ck_renew_cache_free(struct ck_renew_cache *c)
{
	if (c == NULL)
		return;
	acct_cache_free(c->accounts); /* its clients give their nonces to the share first */
	acme_share_free(c->ctx.acme_share);
	free(c);
}

void
ck_renew_cache_changed(struct ck_renew_cache *c, struct ck_store *st)
{
	if (c != NULL && st != NULL)
		acct_cache_prune(c->accounts, &c->ctx, st);
}
