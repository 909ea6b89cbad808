/*
 * db.c - the store's statements over the driver seam (driver.h): prepare
 * and bind with a format string, step, read columns, run a statement or a
 * one-number query, read a whole list, and errors mapped to ck_code.  No
 * database's C API here: every call goes through st->drv.
 *
 * Must never: build SQL from caller strings (values are bound), keep a
 * pointer into a row after the next step.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* A statement: the driver's handle and the table that knows it. */
struct st_stmt {
	const struct st_driver_ops *ops;
	struct st_drv_stmt *h;
	struct ck_store *st;      /* holds st's connection until finalized */
};

enum ck_code
st_fail_err(struct ck_err *err, const char *where, const char *what, enum st_fail kind,
	    const char *msg)
{
	if (kind == ST_FAIL_BUSY)
		return ck_err_set(err, CK_ERR_BUSY, where,
				  "%s: the store is locked by another process (waited %d ms); "
				  "nothing was changed, try again", what, CK_STORE_BUSY_MS);
	if (kind == ST_FAIL_CONSTRAINT)
		return ck_err_set(err, CK_ERR_STORE, where,
				  "%s: the store refused the change (%s); nothing was changed",
				  what, msg);
	if (kind == ST_FAIL_CANCELLED)
		return ck_err_set(err, CK_ERR_CANCELLED, where, "%s: %s", what, msg);
	if (kind == ST_FAIL_RETRY)
		return ck_err_set(err, CK_ERR_BUSY, where,
				  "%s: another writer changed the store at the same time (%s); "
				  "nothing was changed, try again", what, msg);
	return ck_err_set(err, CK_ERR_STORE, where, "%s: database error: %s", what, msg);
}

enum ck_code
st_db_fail(struct ck_store *st, struct ck_err *err, const char *where, const char *what)
{
	if (st->conn == NULL) /* a pooled handle that holds none: a bug */
		return ck_err_set(err, CK_ERR_INTERNAL, where, "%s: no store connection", what);
	st->last_fail = st->drv->fail_kind(st->conn);
	return st_fail_err(err, where, what, st->last_fail, st->drv->errmsg(st->conn));
}

enum ck_code
st_prepare(struct ck_store *st, const char *sql, struct st_stmt **out, struct ck_err *err)
{
	struct st_stmt *s = calloc(1, sizeof(*s));
	enum ck_code rc;

	if (s == NULL)
		return CK_FAIL(err, CK_ERR_NOMEM, "out of memory preparing a query");
	if ((rc = st_hold(st, err)) != CK_OK) {
		free(s);
		return rc;
	}
	s->ops = st->drv;
	s->st = st;
	if (st->drv->prepare(st->conn, sql, &s->h) != 0) {
		rc = ST_DB_FAIL(st, err, "preparing a query");
		st_let(st);
		free(s);
		return rc;
	}
	*out = s;
	return CK_OK;
}

void
st_finalize(struct st_stmt *s)
{
	if (s == NULL)
		return;
	s->ops->finalize(s->h);
	st_let(s->st);
	free(s);
}

enum ck_code
st_bind(struct ck_store *st, struct st_stmt *s, const char *fmt, va_list ap,
	struct ck_err *err)
{
	const struct st_driver_ops *d = st->drv;
	int idx = 1, rc = 0;

	for (; fmt != NULL && *fmt != '\0' && rc == 0; fmt++, idx++) {
		switch (*fmt) {
		case 'i':
			rc = d->bind_int64(s->h, idx, va_arg(ap, int64_t));
			break;
		case 'I': {
			int64_t v = va_arg(ap, int64_t);
			rc = v == 0 ? d->bind_null(s->h, idx) : d->bind_int64(s->h, idx, v);
			break;
		}
		case 't': {
			const char *t = va_arg(ap, const char *);
			rc = t == NULL ? d->bind_null(s->h, idx) : d->bind_text(s->h, idx, t);
			break;
		}
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);
			rc = p == NULL ? d->bind_null(s->h, idx) : d->bind_blob(s->h, idx, p, n);
			break;
		}
		default:
			return CK_FAIL(err, CK_ERR_INTERNAL, "bad bind format '%c'", *fmt);
		}
	}
	if (rc != 0)
		return ST_DB_FAIL(st, err, "binding a query parameter");
	return CK_OK;
}

/* Prepare + bind from a va_list; *out set on success only. */
static enum ck_code
prepare_bind_v(struct ck_store *st, struct ck_err *err, struct st_stmt **out, const char *sql,
	       const char *fmt, va_list ap)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;

	if ((rc = st_prepare(st, sql, &s, err)) != CK_OK)
		return rc;
	if ((rc = st_bind(st, s, fmt, ap, err)) != CK_OK) {
		st_finalize(s);
		return rc;
	}
	*out = s;
	return CK_OK;
}

enum ck_code
st_prepare_bind(struct ck_store *st, struct ck_err *err, struct st_stmt **out, const char *sql,
		const char *fmt, ...)
{
	enum ck_code rc;
	va_list ap;

	va_start(ap, fmt);
	rc = prepare_bind_v(st, err, out, sql, fmt, ap);
	va_end(ap);
	return rc;
}

enum ck_code
st_bind_col(struct ck_store *st, struct st_stmt *dst, int idx, struct st_stmt *src, int col,
	    char kind, struct ck_err *err)
{
	const struct st_driver_ops *d = st->drv;
	const void *p;
	size_t n = 0;
	int rc;

	if (src->ops->column_is_null(src->h, col))
		rc = d->bind_null(dst->h, idx);
	else if (kind == 'i')
		rc = d->bind_int64(dst->h, idx, src->ops->column_int64(src->h, col));
	else if (kind == 't')
		rc = d->bind_text(dst->h, idx, src->ops->column_text(src->h, col));
	else if (kind == 'b') {
		/* an empty blob is still a blob, not NULL */
		p = src->ops->column_blob(src->h, col, &n);
		rc = d->bind_blob(dst->h, idx, p != NULL ? p : "", p != NULL ? n : 0);
	} else
		return CK_FAIL(err, CK_ERR_INTERNAL, "bad column kind '%c'", kind);
	if (rc != 0)
		return ST_DB_FAIL(st, err, "binding a query parameter");
	return CK_OK;
}

enum ck_code
st_reset(struct ck_store *st, struct st_stmt *s, struct ck_err *err)
{
	if (s->ops->reset(s->h) != 0)
		return ST_DB_FAIL(st, err, "resetting a query");
	return CK_OK;
}

int
st_step(struct ck_store *st, struct st_stmt *s, struct ck_err *err)
{
	int rc;

	/* A transaction the database ended by itself after an error is gone:
	 * a statement run now would commit on its own, half of a change. */
	if (st->in_tx > 0 && !st->drv->tx_alive(st->conn)) {
		ck_err_set(err, CK_ERR_STORE, __func__, "the store transaction was rolled back "
			   "after an error (out of memory or I/O); nothing of it was written");
		return -1;
	}
	rc = st->drv->step(s->h);
	if (rc < 0)
		ST_DB_FAIL(st, err, "running a query");
	return rc;
}

enum ck_code
st_exec(struct ck_store *st, struct ck_err *err, int *changes, const char *sql, const char *fmt,
	...)
{
	enum ck_code rc;
	va_list ap;

	va_start(ap, fmt);
	rc = st_vexec(st, err, changes, sql, fmt, ap);
	va_end(ap);
	return rc;
}

enum ck_code
st_vexec(struct ck_store *st, struct ck_err *err, int *changes, const char *sql, const char *fmt,
	 va_list ap)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;

	rc = prepare_bind_v(st, err, &s, sql, fmt, ap);
	if (rc == CK_OK && st_step(st, s, err) < 0)
		rc = err ? err->code : CK_ERR_STORE;
	if (rc == CK_OK && changes != NULL)
		*changes = (int)st->drv->changes(st->conn);
	st_finalize(s);
	return rc;
}

enum ck_code
st_query_int(struct ck_store *st, struct ck_err *err, int64_t *out, const char *sql,
	     const char *fmt, ...)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	va_list ap;
	int r;

	va_start(ap, fmt);
	rc = prepare_bind_v(st, err, &s, sql, fmt, ap);
	va_end(ap);
	if (rc == CK_OK) {
		r = st_step(st, s, err);
		if (r < 0)
			rc = err ? err->code : CK_ERR_STORE;
		else if (r == 0 || st_col_is_null(s, 0))
			rc = CK_ERR_NOT_FOUND;
		else
			*out = st_col_int64(s, 0);
	}
	st_finalize(s);
	return rc;
}

int
st_col_is_null(struct st_stmt *s, int i)
{
	return s->ops->column_is_null(s->h, i);
}

int64_t
st_col_int64(struct st_stmt *s, int i)
{
	return s->ops->column_int64(s->h, i);
}

int
st_col_int(struct st_stmt *s, int i)
{
	return (int)s->ops->column_int64(s->h, i);
}

const char *
st_col_text(struct st_stmt *s, int i)
{
	return s->ops->column_text(s->h, i);
}

const void *
st_col_blob_ref(struct st_stmt *s, int i, size_t *len)
{
	size_t n = 0;
	const void *p = s->ops->column_blob(s->h, i, &n);

	if (len != NULL)
		*len = n;
	return p;
}

size_t
st_col_bytes(struct st_stmt *s, int i)
{
	size_t n = 0;

	s->ops->column_blob(s->h, i, &n);
	return n;
}

char *
st_col_dup(struct st_stmt *s, int i, int *oom)
{
	const char *t = st_col_text(s, i);
	char *d;

	if (t == NULL)
		return NULL;
	d = strdup(t);
	if (d == NULL)
		*oom = 1;
	return d;
}

void
st_col_copy(struct st_stmt *s, int i, char *dst, size_t n)
{
	const char *t = st_col_text(s, i);

	snprintf(dst, n, "%s", t ? t : "");
}

unsigned char *
st_col_blob(struct st_stmt *s, int i, size_t *len, int *oom)
{
	size_t n = 0;
	const void *p = st_col_blob_ref(s, i, &n);
	unsigned char *d;

	*len = 0;
	if (p == NULL || n == 0)
		return NULL;
	d = malloc(n + 1);
	if (d == NULL) {
		*oom = 1;
		return NULL;
	}
	memcpy(d, p, n);
	d[n] = 0;
	*len = n;
	return d;
}

/* ---- lists ------------------------------------------------------------- */

enum ck_code
st_list_reserve(void *itemsp, size_t *cap, size_t n, size_t elem, const char *what,
		struct ck_err *err)
{
	void *items, *grown;
	size_t ncap;

	if (n >= CK_STORE_ROWS_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %d %s", CK_STORE_ROWS_MAX, what);
	if (n < *cap)
		return CK_OK;
	/* itemsp points at a `struct x *`; copy it out rather than alias it as void *. */
	memcpy(&items, itemsp, sizeof(items));
	ncap = *cap ? *cap * 2 : 16;
	if ((grown = realloc(items, ncap * elem)) == NULL)
		return CK_OOM(err);
	memcpy(itemsp, &grown, sizeof(grown));
	*cap = ncap;
	return CK_OK;
}

void
st_list_free(void *itemsp, size_t *n, size_t elem, void (*row_free)(void *))
{
	unsigned char *items;
	size_t i;

	memcpy(&items, itemsp, sizeof(items));
	for (i = 0; items != NULL && row_free != NULL && i < *n; i++)
		row_free(items + i * elem);
	free(items);
	items = NULL;
	memcpy(itemsp, &items, sizeof(items));
	*n = 0;
}

/* st_each_row with a va_list. */
static enum ck_code
each_row_v(struct ck_store *st, struct ck_err *err, st_row_visit fn, void *arg, const char *sql,
	   const char *fmt, va_list ap)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r;

	if ((rc = prepare_bind_v(st, err, &s, sql, fmt, ap)) != CK_OK)
		return rc;
	while ((r = st_step(st, s, err)) == 1) {
		if ((rc = fn(st, s, arg, err)) != CK_OK)
			goto out;
	}
	if (r < 0)
		rc = err ? err->code : CK_ERR_STORE;
out:
	st_finalize(s);
	return rc;
}

enum ck_code
st_each_row(struct ck_store *st, struct ck_err *err, st_row_visit fn, void *arg, const char *sql,
	    const char *fmt, ...)
{
	enum ck_code rc;
	va_list ap;

	va_start(ap, fmt);
	rc = each_row_v(st, err, fn, arg, sql, fmt, ap);
	va_end(ap);
	return rc;
}

/* A list being read by st_list_read. */
struct list_read {
	const struct st_list_spec *spec;
	unsigned char *items;
	size_t cap, n;
};

static enum ck_code
list_read_row(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	struct list_read *l = arg;
	size_t elem = l->spec->elem;
	enum ck_code rc;

	(void)st;
	if ((rc = st_list_reserve(&l->items, &l->cap, l->n, elem, l->spec->what, err)) != CK_OK)
		return rc;
	memset(l->items + l->n * elem, 0, elem);
	l->n++; /* a half-read row is freed with the others */
	return l->spec->row(s, l->items + (l->n - 1) * elem, err);
}

enum ck_code
st_list_read(struct ck_store *st, struct ck_err *err, const struct st_list_spec *spec,
	     void *itemsp, size_t *n, const char *sql, const char *fmt, ...)
{
	struct list_read l = { spec, NULL, 0, 0 };
	enum ck_code rc;
	va_list ap;

	va_start(ap, fmt);
	rc = each_row_v(st, err, list_read_row, &l, sql, fmt, ap);
	va_end(ap);
	if (rc != CK_OK) {
		st_list_free(&l.items, &l.n, spec->elem, spec->row_free);
		return rc;
	}
	memcpy(itemsp, &l.items, sizeof(l.items));
	*n = l.n;
	return CK_OK;
}

/* st_row_read with a va_list. */
static enum ck_code
row_read_v(struct ck_store *st, struct ck_err *err, const struct st_list_spec *spec,
	   void *elem, const char *sql, const char *fmt, va_list ap)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r;

	if ((rc = prepare_bind_v(st, err, &s, sql, fmt, ap)) != CK_OK)
		return rc;
	memset(elem, 0, spec->elem);
	r = st_step(st, s, err);
	if (r < 0)
		rc = err ? err->code : CK_ERR_STORE;
	else if (r == 0)
		rc = CK_ERR_NOT_FOUND;
	else if ((rc = spec->row(s, elem, err)) != CK_OK && spec->row_free != NULL)
		spec->row_free(elem);
	st_finalize(s);
	return rc;
}

enum ck_code
st_row_read(struct ck_store *st, struct ck_err *err, const struct st_list_spec *spec,
	    void *elem, const char *sql, const char *fmt, ...)
{
	enum ck_code rc;
	va_list ap;

	va_start(ap, fmt);
	rc = row_read_v(st, err, spec, elem, sql, fmt, ap);
	va_end(ap);
	return rc;
}

void
ck_store_shed(struct ck_store *st)
{
	/* A pooled handle holds no connection between uses. */
	if (st != NULL && st->drv->shed != NULL && st->conn != NULL)
		st->drv->shed(st->conn);
}
