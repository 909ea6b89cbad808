/*
 * pool.c - store handles that take turns on a few connections.  A batch's
 * workers each need a store handle of their own (a transaction, a lease's
 * fence, the facts cache are a handle's), but they use it for a few
 * milliseconds between network round trips that take hundreds: eight
 * connections, each with its own parsed schema, prepared statements and
 * page cache (about 300 KB in SQLite), mostly sat idle.  A pooled handle
 * borrows a connection when it starts to use one (a statement prepared, a
 * transaction or read snapshot begun) and gives it back when it holds
 * none of them any more (st_hold / st_let, counted per handle), so a
 * handle never changes connection inside a transaction or while a
 * statement of it is alive.
 *
 * Must never: hand a connection to two handles at once; give back one
 * with a transaction or a statement open; keep a connection the driver
 * says is unusable (it is closed and a new one opened on demand); wait
 * for a connection while holding one (a handle holds at most one, and
 * borrows only when it holds none).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "store/store_int.h"

struct ck_store_pool {
	struct ck_store *parent;    /* a pooled handle itself until the pool is freed */
	const struct st_driver_ops *drv;
	char *path;
	const struct ck_ctx *ctx;
	int schema_version;
	unsigned char seal_key[ST_SEAL_KEY_LEN];
	int seal_have;
	pthread_mutex_t lock;
	pthread_cond_t freed;       /* a connection was given back or closed */
	struct st_conn *idle[CK_STORE_POOL_MAX];
	unsigned nidle;             /* connections open and not lent */
	unsigned nopen;             /* connections open or being opened */
	unsigned max;
};

enum ck_code
ck_store_pool_new(struct ck_store *parent, const struct ck_ctx *ctx, unsigned max,
		  struct ck_store_pool **out, struct ck_err *err)
{
	struct ck_store_pool *p;

	if (parent == NULL || max == 0 || max > CK_STORE_POOL_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a store pool needs an open store and "
			       "1 to %d connections", CK_STORE_POOL_MAX);
	if (parent->pool != NULL || parent->in_tx > 0 || parent->in_read)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a store pool needs a handle of its own "
			       "with no transaction open");
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->path = strdup(parent->path)) == NULL) {
		free(p);
		return CK_FAIL(err, CK_ERR_NOMEM, "out of memory for a store pool");
	}
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p->path);
		free(p);
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a mutex");
	}
	if (pthread_cond_init(&p->freed, NULL) != 0) {
		pthread_mutex_destroy(&p->lock);
		free(p->path);
		free(p);
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a condition variable");
	}
	p->drv = parent->drv;
	p->ctx = ctx != NULL ? ctx : parent->ctx;
	p->schema_version = parent->schema_version;
	memcpy(p->seal_key, parent->seal_key, sizeof(p->seal_key));
	p->seal_have = parent->seal_have;
	p->max = max;
	/* The parent's own connection (its schema, statements and pages) is
	 * closed: while the pool lives the parent borrows like the others. */
	p->parent = parent;
	parent->drv->close(parent->conn);
	parent->conn = NULL;
	parent->pool = p;
	*out = p;
	return CK_OK;
}

void
ck_store_pool_free(struct ck_store_pool *p)
{
	unsigned i;

	if (p == NULL)
		return;
	/* A handle of its own again: it connects at its next use (st_hold). */
	p->parent->pool = NULL;
	for (i = 0; i < p->nidle; i++)
		p->drv->close(p->idle[i]);
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->lock);
	OPENSSL_cleanse(p->seal_key, sizeof(p->seal_key));
	free(p->path);
	free(p);
}

unsigned
ck_store_pool_open_count(struct ck_store_pool *p)
{
	unsigned n;

	pthread_mutex_lock(&p->lock);
	n = p->nopen;
	pthread_mutex_unlock(&p->lock);
	return n;
}

enum ck_code
ck_store_open_pooled(struct ck_store_pool *p, struct ck_store **out, struct ck_err *err)
{
	struct ck_store *st = calloc(1, sizeof(*st));

	if (st == NULL || (st->path = strdup(p->path)) == NULL) {
		free(st);
		return CK_FAIL(err, CK_ERR_NOMEM, "out of memory opening the store");
	}
	st->drv = p->drv;
	st->ctx = p->ctx;
	st->pool = p;
	st->schema_version = p->schema_version;
	memcpy(st->seal_key, p->seal_key, sizeof(st->seal_key));
	st->seal_have = p->seal_have;
	*out = st;
	return CK_OK;
}

/*
 * A connection for one handle: an idle one, a new one while fewer than
 * max are open, else the first one given back.  Once the context is
 * cancelled no new one is opened (a connect to a silent server would
 * take its grace period for each handle in turn): the use fails at once.
 */
static enum ck_code
pool_take(struct ck_store_pool *p, struct st_conn **out, struct ck_err *err)
{
	enum ck_code rc;

	pthread_mutex_lock(&p->lock);
	while (p->nidle == 0 && p->nopen >= p->max)
		pthread_cond_wait(&p->freed, &p->lock);
	if (p->nidle > 0) {
		*out = p->idle[--p->nidle];
		pthread_mutex_unlock(&p->lock);
		return CK_OK;
	}
	if ((rc = ck_cancel_check(p->ctx, "connecting to the store", err)) != CK_OK) {
		pthread_mutex_unlock(&p->lock);
		return rc;
	}
	p->nopen++;
	pthread_mutex_unlock(&p->lock);
	/* Opened outside the lock: the others may take and give back meanwhile.
	 * The store exists and is migrated: the parent handle opened it. */
	rc = p->drv->open(p->path, CK_STORE_SMALL_CACHE, p->ctx, out, err);
	if (rc != CK_OK) {
		pthread_mutex_lock(&p->lock);
		p->nopen--;
		pthread_cond_signal(&p->freed);
		pthread_mutex_unlock(&p->lock);
	}
	return rc;
}

/* Back to the pool, or closed if it can no longer serve (or is dirty). */
static void
pool_give(struct ck_store_pool *p, struct st_conn *c, int clean)
{
	if (!clean || (p->drv->usable != NULL && !p->drv->usable(c))) {
		p->drv->close(c);
		c = NULL;
	}
	pthread_mutex_lock(&p->lock);
	if (c != NULL)
		p->idle[p->nidle++] = c;
	else
		p->nopen--;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

enum ck_code
st_hold(struct ck_store *st, struct ck_err *err)
{
	enum ck_code rc;

	if (st->pool == NULL) {
		/* A handle of its own whose connection a pool closed. */
		if (st->conn == NULL)
			return st->drv->open(st->path, st->open_flags, st->ctx, &st->conn, err);
		return CK_OK;
	}
	if (st->held > 0) {
		st->held++;
		return CK_OK;
	}
	if ((rc = pool_take(st->pool, &st->conn, err)) != CK_OK)
		return rc;
	st->held = 1;
	return CK_OK;
}

void
st_let(struct ck_store *st)
{
	if (st->pool == NULL || st->held == 0 || --st->held > 0)
		return;
	pool_give(st->pool, st->conn, 1);
	st->conn = NULL;
}

void
st_pool_detach(struct ck_store *st)
{
	struct ck_store_pool *p = st->pool;

	if (p == NULL)
		return;
	/* Still held at close: a statement was left alive; the connection
	 * may be in any state, so it is closed, not lent again. */
	if (st->conn != NULL)
		pool_give(p, st->conn, 0);
	st->conn = NULL;
	st->held = 0;
}
