/*
 * store.c - the store handle: opening a store through its driver (today
 * always SQLite, src/store/sqlite/), applying the schema's migrations,
 * closing, the generation counter and the settings table.
 *
 * Must never: speak a database's C API (that is the driver's), leave a
 * transaction open on return.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "store/store_int.h"

/*
 * Every bump is announced to the other processes that wait for one
 * (ck_store_wait_change) when its transaction commits, by the driver's
 * notify (PostgreSQL: NOTIFY); a driver without one is polled.
 */
enum ck_code
st_generation_bump_tx(struct ck_store *st, struct ck_err *err)
{
	enum ck_code rc;

	rc = st_exec(st, err, NULL, "UPDATE generation SET value = value + 1 WHERE id = 1", "");
	if (rc == CK_OK && st->drv->notify != NULL && st->drv->notify(st->conn) != 0)
		rc = ST_DB_FAIL(st, err, "announcing the change to other nodes");
	return rc;
}

time_t
st_now(const struct ck_store *st)
{
	return ck_now(st->ctx);
}

enum ck_code
ck_store_generation(struct ck_store *st, uint64_t *out, struct ck_err *err)
{
	int64_t v = 0;
	enum ck_code rc;

	rc = st_query_int(st, err, &v, "SELECT value FROM generation WHERE id = 1", "");
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_CORRUPT, "the store has no generation counter");
	if (rc != CK_OK)
		return rc;
	*out = (uint64_t)v;
	return CK_OK;
}

/* How often ck_store_wait_change reads the counter without notifications
 * (SQLite), and how often it looks at the cancel flag with them. */
#define ST_WAIT_POLL_MS 250
#define ST_WAIT_CANCEL_MS 100

/*
 * With a driver that notifies (PostgreSQL), LISTEN comes first, then the
 * counter is read, then the wait: a commit after the read is heard, one
 * before it is in the value read.  The counter is read again only when a
 * notification came; the cancel flag every ST_WAIT_CANCEL_MS.
 */
enum ck_code
ck_store_wait_change(struct ck_store *st, uint64_t known, unsigned timeout_ms, uint64_t *now_gen,
		     struct ck_err *err)
{
	long long deadline = ck_mono_ms() + (long long)timeout_ms;
	long long left;
	enum ck_code rc;
	int heard = 1, notifies = st->drv->wait_notify != NULL;

	/* LISTEN stays with a connection: it would go on to other handles. */
	if (st->pool != NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a pooled store handle cannot wait for "
			       "changes; open a handle of its own");
	if ((rc = st_hold(st, err)) != CK_OK) /* a pool may have closed it */
		return rc;
	if (notifies && st->drv->listen(st->conn) != 0)
		return ST_DB_FAIL(st, err, "listening for changes in the store");
	for (;;) {
		if (heard) {
			if ((rc = ck_store_generation(st, now_gen, err)) != CK_OK)
				return rc;
			if (*now_gen != known)
				return CK_OK;
		}
		if ((rc = ck_cancel_check(st->ctx, "waiting for a change in the store", err)) !=
		    CK_OK)
			return rc;
		if ((left = deadline - ck_mono_ms()) <= 0)
			return CK_OK;
		if (!notifies) {
			ck_sleep_ms(st->ctx, (unsigned)(left < ST_WAIT_POLL_MS ? left
									       : ST_WAIT_POLL_MS));
			continue;
		}
		heard = st->drv->wait_notify(st->conn, (unsigned)(left < ST_WAIT_CANCEL_MS
								   ? left : ST_WAIT_CANCEL_MS));
		if (heard < 0)
			return ST_DB_FAIL(st, err, "waiting for a change in the store");
	}
}

int
st_location_is_pg(const char *path)
{
	static const char *const kw[] = {
		"host=", "hostaddr=", "port=", "dbname=", "user=", "service=", "sslmode=",
		"passfile=", "connect_timeout=", "application_name=", "options=",
	};
	size_t i;

	if (strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0)
		return 1;
	for (i = 0; i < CK_ARRAY_LEN(kw); i++) {
		if (strncmp(path, kw[i], strlen(kw[i])) == 0)
			return 1;
	}
	return 0;
}

/* Where a password= value starting at p (after the '=') ends: at '&' in a URL's
 * query, else after a quoted value or at white space (libpq's keyword form). */
static const char *
redact_value_end(const char *p, int url)
{
	if (url)
		return p + strcspn(p, "&");
	if (*p != '\'')
		return p + strcspn(p, " \t\n");
	for (p++; *p != '\0' && *p != '\''; p++)
		if (*p == '\\' && p[1] != '\0')
			p++;
	return *p == '\'' ? p + 1 : p;
}

void
ck_store_location_redact(const char *loc, char *out, size_t n)
{
	static const char key[] = "password=";
	int url = strncmp(loc, "postgresql://", 13) == 0 || strncmp(loc, "postgres://", 11) == 0;
	const char *p = loc, *auth, *at = NULL, *colon;
	size_t len = 0;

	if (n == 0)
		return;
	out[0] = '\0';
	if (url) {
		/* the user:password@ of the authority */
		auth = strstr(loc, "://") + 3;
		for (p = auth; *p != '\0' && *p != '/' && *p != '?'; p++)
			if (*p == '@')
				at = p;
		colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		p = loc;
		if (colon != NULL) {
			len = (size_t)snprintf(out, n, "%.*s:***", (int)(colon - loc), loc);
			p = at;
		}
	}
	for (; *p != '\0' && len + 1 < n; p++) {
		if (strncmp(p, key, sizeof(key) - 1) == 0 &&
		    (p == loc || strchr(url ? "?&" : " \t\n", p[-1]) != NULL)) {
			len += (size_t)snprintf(out + len, n - len, "%s***", key);
			p = redact_value_end(p + sizeof(key) - 1, url) - 1;
			continue;
		}
		out[len++] = *p;
		out[len] = '\0';
	}
	if (len >= n)
		out[n - 1] = '\0';
}

enum ck_code
ck_store_open_ex(const char *path, const struct ck_ctx *ctx, unsigned flags,
		 struct ck_store **out, struct ck_err *err)
{
	struct ck_store *st = NULL;
	enum ck_code rc = CK_ERR_NOMEM;

	if (path == NULL || path[0] == '\0' || strlen(path) >= PATH_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no store path given");
	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->path = strdup(path)) == NULL) {
		rc = CK_FAIL(err, CK_ERR_NOMEM, "out of memory opening the store");
		goto out;
	}
	if (ctx == NULL) {
		ck_ctx_init(&st->own_ctx);
		st->ctx = &st->own_ctx;
	} else {
		st->ctx = ctx;
	}
	st->drv = &st_sqlite_driver;
	if (st_location_is_pg(path)) {
#ifdef CK_HAVE_POSTGRESQL
		st->drv = &st_pg_driver;
#else
		rc = CK_FAIL(err, CK_ERR_UNSUPPORTED, "the store is a PostgreSQL database, but "
			     "this certkeep was built without PostgreSQL (meson -Dpostgresql)");
		goto out;
#endif
	}
	if ((rc = st->drv->open(path, flags, st->ctx, &st->conn, err)) != CK_OK)
		goto out;
	st->open_flags = flags & CK_STORE_SMALL_CACHE;
	if (!(flags & ST_OPEN_NO_MIGRATE) && (rc = st_schema_migrate(st, err)) != CK_OK)
		goto out;
	*out = st;
	st = NULL;
	rc = CK_OK;
out:
	ck_store_close(st);
	return rc;
}

enum ck_code
ck_store_open(const char *path, const struct ck_ctx *ctx, struct ck_store **out,
	      struct ck_err *err)
{
	return ck_store_open_ex(path, ctx, CK_STORE_CREATE, out, err);
}

void
ck_store_close(struct ck_store *st)
{
	if (st == NULL)
		return;
	st_rollback(st);
	st_read_end(st);
	st_pool_detach(st);
	if (st->conn != NULL)
		st->drv->close(st->conn);
	OPENSSL_cleanse(st->seal_key, sizeof(st->seal_key));
	ck_chain_checker_free(st->facts_chains);
	free(st->path);
	free(st);
}

void
ck_store_cleanup(struct ck_store **st)
{
	if (st == NULL)
		return;
	ck_store_close(*st);
	*st = NULL;
}

const char *
ck_store_path(const struct ck_store *st)
{
	return st->path;
}

int
ck_store_schema_version(const struct ck_store *st)
{
	return st->schema_version;
}

/* ---- settings ---------------------------------------------------------- */

enum ck_code
ck_store_setting_get(struct ck_store *st, const char *key, char **out, struct ck_err *err)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	char *v = NULL;
	int oom = 0, r;

	if ((rc = st_check_text("setting name", key, CK_STORE_NAME_MAX + CK_STORE_URL_MAX, 1,
				err)) != CK_OK)
		return rc;
	if ((rc = st_prepare_bind(st, err, &s, "SELECT value FROM settings WHERE key = ?", "t",
				  key)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r < 0) {
		rc = err ? err->code : CK_ERR_STORE;
	} else if (r == 0) {
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "setting %s is not set", key);
	} else {
		v = st_col_dup(s, 0, &oom);
		if (oom || v == NULL)
			rc = CK_OOM(err);
		else {
			*out = v;
			v = NULL;
		}
	}
	free(v);
	st_finalize(s);
	return rc;
}

enum ck_code
ck_store_setting_set(struct ck_store *st, const char *key, const char *value,
		     struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_check_text("setting name", key, CK_STORE_NAME_MAX + CK_STORE_URL_MAX, 1,
				err)) != CK_OK ||
	    (rc = st_check_text("setting value", value, CK_STORE_TEXT_MAX, 0, err)) != CK_OK)
		return rc;
	if (value == NULL)
		return st_tx_exec(st, err, "store.setting_set", NULL,
				  "DELETE FROM settings WHERE key = ?", "t", key);
	return st_tx_exec(st, err, "store.setting_set", NULL,
			  "INSERT INTO settings (key, value) VALUES (?, ?) "
			  "ON CONFLICT(key) DO UPDATE SET value = excluded.value", "tt", key, value);
}
