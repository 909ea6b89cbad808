/*
 * sqlite.c - the SQLite backend's connection: opening the file with safe
 * modes, pragmas (WAL, synchronous=FULL, foreign keys, busy timeout),
 * statement helpers with bound parameters, transactions, the generation
 * counter and the settings table.
 *
 * Must never: build SQL from caller strings, widen a file's mode after
 * creating it, leave a transaction open on return.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"

enum ck_code
st_db_fail(struct ck_store *st, struct ck_err *err, const char *where, const char *what)
{
	int rc = sqlite3_extended_errcode(st->db);
	int prim = rc & 0xff;

	if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
		return ck_err_set(err, CK_ERR_BUSY, where,
				  "%s: the store is locked by another process (waited %d ms); "
				  "nothing was changed, try again", what, CK_STORE_BUSY_MS);
	if (prim == SQLITE_CONSTRAINT)
		return ck_err_set(err, CK_ERR_STORE, where,
				  "%s: the store refused the change (%s); nothing was changed",
				  what, sqlite3_errmsg(st->db));
	return ck_err_set(err, CK_ERR_STORE, where, "%s: database error: %s", what,
			  sqlite3_errmsg(st->db));
}

enum ck_code
st_prepare(struct ck_store *st, const char *sql, sqlite3_stmt **out, struct ck_err *err)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, out, NULL) != SQLITE_OK)
		return ST_DB_FAIL(st, err, "preparing a query");
	return CK_OK;
}

enum ck_code
st_bind(struct ck_store *st, sqlite3_stmt *s, const char *fmt, va_list ap, struct ck_err *err)
{
	int idx = 1, rc = SQLITE_OK;

	for (; fmt != NULL && *fmt != '\0' && rc == SQLITE_OK; fmt++, idx++) {
		switch (*fmt) {
		case 'i':
			rc = sqlite3_bind_int64(s, idx, va_arg(ap, int64_t));
			break;
		case 'I': {
			int64_t v = va_arg(ap, int64_t);
			rc = v == 0 ? sqlite3_bind_null(s, idx) : sqlite3_bind_int64(s, idx, v);
			break;
		}
		case 't': {
			const char *t = va_arg(ap, const char *);
			rc = t == NULL ? sqlite3_bind_null(s, idx)
				       : sqlite3_bind_text(s, idx, t, -1, SQLITE_TRANSIENT);
			break;
		}
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);
			rc = p == NULL ? sqlite3_bind_null(s, idx)
				       : sqlite3_bind_blob64(s, idx, p, n, SQLITE_TRANSIENT);
			break;
		}
		default:
			return CK_FAIL(err, CK_ERR_INTERNAL, "bad bind format '%c'", *fmt);
		}
	}
	if (rc != SQLITE_OK)
		return ST_DB_FAIL(st, err, "binding a query parameter");
	return CK_OK;
}

enum ck_code
st_prepare_bind(struct ck_store *st, struct ck_err *err, sqlite3_stmt **out, const char *sql,
		const char *fmt, ...)
{
	sqlite3_stmt *s = NULL;
	enum ck_code rc;
	va_list ap;

	if ((rc = st_prepare(st, sql, &s, err)) != CK_OK)
		return rc;
	va_start(ap, fmt);
	rc = st_bind(st, s, fmt, ap, err);
	va_end(ap);
	if (rc != CK_OK) {
		sqlite3_finalize(s);
		return rc;
	}
	*out = s;
	return CK_OK;
}

int
st_step(struct ck_store *st, sqlite3_stmt *s, struct ck_err *err)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	ST_DB_FAIL(st, err, "running a query");
	return -1;
}

enum ck_code
st_exec(struct ck_store *st, struct ck_err *err, int *changes, const char *sql, const char *fmt,
	...)
{
	sqlite3_stmt *s = NULL;
	enum ck_code rc;
	va_list ap;

	if ((rc = st_prepare(st, sql, &s, err)) != CK_OK)
		return rc;
	va_start(ap, fmt);
	rc = st_bind(st, s, fmt, ap, err);
	va_end(ap);
	if (rc == CK_OK && st_step(st, s, err) < 0)
		rc = err ? err->code : CK_ERR_STORE;
	if (rc == CK_OK && changes != NULL)
		*changes = sqlite3_changes(st->db);
	sqlite3_finalize(s);
	return rc;
}

enum ck_code
st_query_int(struct ck_store *st, struct ck_err *err, int64_t *out, const char *sql,
	     const char *fmt, ...)
{
	sqlite3_stmt *s = NULL;
	enum ck_code rc;
	va_list ap;
	int r;

	if ((rc = st_prepare(st, sql, &s, err)) != CK_OK)
		return rc;
	va_start(ap, fmt);
	rc = st_bind(st, s, fmt, ap, err);
	va_end(ap);
	if (rc == CK_OK) {
		r = st_step(st, s, err);
		if (r < 0)
			rc = err ? err->code : CK_ERR_STORE;
		else if (r == 0 || sqlite3_column_type(s, 0) == SQLITE_NULL)
			rc = CK_ERR_NOT_FOUND;
		else
			*out = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	return rc;
}

char *
st_col_dup(sqlite3_stmt *s, int i, int *oom)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	char *d;

	if (t == NULL)
		return NULL;
	d = strdup((const char *)t);
	if (d == NULL)
		*oom = 1;
	return d;
}

void
st_col_copy(sqlite3_stmt *s, int i, char *dst, size_t n)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	snprintf(dst, n, "%s", t ? (const char *)t : "");
}

unsigned char *
st_col_blob(sqlite3_stmt *s, int i, size_t *len, int *oom)
{
	const void *p = sqlite3_column_blob(s, i);
	int n = sqlite3_column_bytes(s, i);
	unsigned char *d;

	*len = 0;
	if (p == NULL || n <= 0)
		return NULL;
	d = malloc((size_t)n + 1);
	if (d == NULL) {
		*oom = 1;
		return NULL;
	}
	memcpy(d, p, (size_t)n);
	d[n] = 0;
	*len = (size_t)n;
	return d;
}

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
		return CK_FAIL(err, CK_ERR_NOMEM, "out of memory");
	memcpy(itemsp, &grown, sizeof(grown));
	*cap = ncap;
	return CK_OK;
}

/* ---- transactions ---------------------------------------------------- */

/*
 * Transactions nest: the outermost is BEGIN IMMEDIATE ... COMMIT; inner
 * ones are savepoints, so a multi-step operation (an import of several
 * keys and certificates) built from single-step calls commits as one.
 */
enum ck_code
st_begin(struct ck_store *st, struct ck_err *err)
{
	char sql[48];

	if (st->in_tx == 0) {
		/* IMMEDIATE takes the write lock now (waiting up to the busy timeout),
		 * so a transaction never fails half-way for want of the lock. */
		if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
			return ST_DB_FAIL(st, err, "starting a store transaction");
	} else {
		if (st->in_tx >= ST_TX_DEPTH_MAX)
			return CK_FAIL(err, CK_ERR_INTERNAL, "store transactions nested too deep");
		snprintf(sql, sizeof(sql), "SAVEPOINT ck_sp%d", st->in_tx);
		if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
			return ST_DB_FAIL(st, err, "starting a nested store transaction");
	}
	st->in_tx++;
	st->tx_committed = 0;
	return CK_OK;
}

enum ck_code
st_commit(struct ck_store *st, struct ck_err *err)
{
	char sql[48];

	if (st->in_tx <= 0)
		return CK_FAIL(err, CK_ERR_INTERNAL, "commit without a store transaction");
	if (st->in_tx > 1) {
		snprintf(sql, sizeof(sql), "RELEASE ck_sp%d", st->in_tx - 1);
		if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			enum ck_code rc = ST_DB_FAIL(st, err, "committing a nested transaction");
			st_rollback(st);
			return rc;
		}
		st->in_tx--;
		st->tx_committed = 1;
		return CK_OK;
	}
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		enum ck_code rc = ST_DB_FAIL(st, err, "committing to the store");
		st_rollback(st);
		return rc;
	}
	st->in_tx = 0;
	st->tx_committed = 1;
	if (st->wal_scrub)
		st_wal_scrub(st);
	return CK_OK;
}

/*
 * Write paths end with `commit; out: st_rollback()`: right after a
 * successful commit the rollback is a no-op, so an inner commit never
 * rolls back the transaction that encloses it.
 */
void
st_rollback(struct ck_store *st)
{
	char sql[80];

	if (st->tx_committed) {
		st->tx_committed = 0;
		return;
	}
	if (st->in_tx <= 0)
		return;
	if (st->in_tx > 1) {
		snprintf(sql, sizeof(sql), "ROLLBACK TO ck_sp%d; RELEASE ck_sp%d", st->in_tx - 1,
			 st->in_tx - 1);
		sqlite3_exec(st->db, sql, NULL, NULL, NULL);
	} else {
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		st->wal_scrub = 0; /* nothing was deleted after all */
	}
	st->in_tx--;
}

void
st_wal_scrub(struct ck_store *st)
{
	int rc, frames = 0, copied = 0;

	if (st->in_tx > 0) {
		st->wal_scrub = 1;
		return;
	}
	st->wal_scrub = 0;
	/* Waits for readers of older snapshots, but not as long as for a lock. */
	sqlite3_busy_timeout(st->db, ST_WAL_SCRUB_MS);
	rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &frames,
				       &copied);
	sqlite3_busy_timeout(st->db, CK_STORE_BUSY_MS);
	if (rc != SQLITE_OK)
		ck_log(&st->ctx->log, CK_LOG_WARN,
		       "store %s: the removed key is gone from the store, but another process "
		       "was reading it, so an older copy stays in %s-wal until SQLite next "
		       "checkpoints it (%s)", st->path, st->path, sqlite3_errstr(rc));
}

enum ck_code
ck_store_tx_begin(struct ck_store *st, struct ck_err *err)
{
	return st_begin(st, err);
}

enum ck_code
ck_store_tx_commit(struct ck_store *st, struct ck_err *err)
{
	return st_commit(st, err);
}

void
ck_store_tx_rollback(struct ck_store *st)
{
	st->tx_committed = 0; /* an explicit rollback always undoes the open level */
	st_rollback(st);
}

enum ck_code
st_generation_bump_tx(struct ck_store *st, struct ck_err *err)
{
	return st_exec(st, err, NULL, "UPDATE generation SET value = value + 1 WHERE id = 1", "");
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

/* ---- open / close ----------------------------------------------------- */

/* Creates the directory (0700) and the file (0600) if absent, at those modes. */
static enum ck_code
create_file(const char *path, struct ck_err *err)
{
	char dir[PATH_MAX];
	const char *slash;
	int fd;

	slash = strrchr(path, '/');
	if (slash != NULL && slash != path) {
		if ((size_t)(slash - path) >= sizeof(dir))
			return CK_FAIL(err, CK_ERR_INVALID_ARG, "store path too long");
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (ck_mkdir_p(dir, 0700, err) != CK_OK)
			return err ? err->code : CK_ERR_IO;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno != EEXIST)
		return CK_FAIL(err, errno == EACCES ? CK_ERR_PERMISSION : CK_ERR_IO,
			       "cannot create the store %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return CK_OK;
}

/*
 * One PRAGMA, retried while the database is busy.  Switching a new file
 * to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY there at
 * once without calling the busy handler: several processes creating the
 * same store together would otherwise fail.  Bounded by CK_STORE_BUSY_MS.
 */
static enum ck_code
pragma_retry(struct ck_store *st, const char *sql, struct ck_err *err)
{
	unsigned waited = 0, step = 5;

	for (;;) {
		int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return CK_OK;
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		if (waited >= CK_STORE_BUSY_MS)
			break;
		ck_sleep_ms(st->ctx, step);
		waited += step;
		if (step < 100)
			step *= 2;
	}
	return ST_DB_FAIL(st, err, "configuring the store");
}

static enum ck_code
set_pragmas(struct ck_store *st, struct ck_err *err)
{
	static const char *const pragmas[] = {
		"PRAGMA foreign_keys = ON",
		"PRAGMA journal_mode = WAL",
		"PRAGMA synchronous = FULL",
		"PRAGMA secure_delete = ON", /* removed keys do not linger in free pages */
	};
	enum ck_code rc;
	size_t i;

	for (i = 0; i < CK_ARRAY_LEN(pragmas); i++) {
		if ((rc = pragma_retry(st, pragmas[i], err)) != CK_OK)
			return rc;
	}
	return CK_OK;
}

/* SQL ck_now(): the store's clock (st_now), so a test clock reaches queries too. */
static void
sql_now(sqlite3_context *c, int argc, sqlite3_value **argv)
{
	(void)argc;
	(void)argv;
	sqlite3_result_int64(c, (sqlite3_int64)st_now(sqlite3_user_data(c)));
}

/*
 * What the file holds, in one read-only statement: out[0] application_id,
 * out[1] tables, out[2] certkeep schema-1 tables among them, out[3] 1 if
 * schema_version is one, exactly as st_schema_migrate creates it.  Retried while another process holds the lock
 * (a store being created is switched to WAL under an exclusive lock).
 * Returns the SQLite result code.
 */
static int
read_identity(struct ck_store *st, int64_t out[4])
{
	static const char sql[] =
		"SELECT (SELECT application_id FROM pragma_application_id()),"
		" (SELECT count(*) FROM sqlite_master WHERE type = 'table'),"
		" (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
		"  ('schema_version', 'generation', 'keys', 'certificates')),"
		" (SELECT count(*) FROM sqlite_master WHERE type = 'table'"
		"  AND name = 'schema_version' AND sql = 'CREATE TABLE schema_version ("
		" version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)')";
	unsigned waited = 0, step = 5;
	int rc, i;

	for (;;) {
		sqlite3_stmt *s = NULL;

		rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
		if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			for (i = 0; i < 4; i++)
				out[i] = sqlite3_column_int64(s, i);
			rc = SQLITE_OK;
		}
		sqlite3_finalize(s);
		if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) ||
		    waited >= CK_STORE_BUSY_MS)
			return rc;
		ck_sleep_ms(st->ctx, step);
		waited += step;
		if (step < 100)
			step *= 2;
	}
}

/*
 * Whether the file at st->path is a certkeep store, decided by reads only
 * (before anything that writes): *empty is set for a database with no
 * tables (a new or zero-length file) or only the schema_version table (a
 * store another process is creating right now).  A certkeep store carries
 * CK_STORE_APPLICATION_ID; one made before that (schema 1) is recognised
 * by its tables and gets the id from migration 3.  Anything else is
 * refused, so that it is never modified.
 */
static enum ck_code
check_is_store(struct ck_store *st, int *empty, struct ck_err *err)
{
	int64_t id[4] = { 0 };
	int rc = read_identity(st, id);

	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return ST_DB_FAIL(st, err, "opening the store");
	if (rc != SQLITE_OK)
		return CK_FAIL(err, CK_ERR_STORE,
			       "%s is not a certkeep store (%s); it was not changed: check --store",
			       st->path, sqlite3_errmsg(st->db));
	*empty = id[0] == 0 && id[1] == id[3];
	if (id[0] == CK_STORE_APPLICATION_ID || *empty || (id[0] == 0 && id[2] == 4))
		return CK_OK;
	if (id[0] != 0)
		return CK_FAIL(err, CK_ERR_STORE,
			       "%s is a SQLite database of another application (application_id "
			       "0x%08llx), not a certkeep store; it was not changed: check --store",
			       st->path, (unsigned long long)(uint32_t)id[0]);
	return CK_FAIL(err, CK_ERR_STORE,
		       "%s is a SQLite database without certkeep's tables, not a certkeep "
		       "store; it was not changed: check --store", st->path);
}

/*
 * Where the store file is: absent (*exists = 0), or a regular file.
 * Anything else (a directory, a symbolic link, a device) is an error.
 */
static enum ck_code
stat_store(const char *path, int *exists, struct ck_err *err)
{
	struct stat sb;

	*exists = 0;
	if (lstat(path, &sb) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return CK_OK;
		return CK_FAIL(err, errno == EACCES ? CK_ERR_PERMISSION : CK_ERR_IO,
			       "cannot reach the store %s: %s", path, strerror(errno));
	}
	if (!S_ISREG(sb.st_mode))
		return CK_FAIL(err, CK_ERR_STORE, "%s is %s, not a certkeep store file; it was not "
			       "changed: check --store", path,
			       S_ISDIR(sb.st_mode) ? "a directory" :
			       S_ISLNK(sb.st_mode) ? "a symbolic link" : "not a regular file");
	*exists = 1;
	return CK_OK;
}

/* Opens the file, refusing what is not a store before anything writes. */
static enum ck_code
store_connect(struct ck_store *st, unsigned flags, struct ck_err *err)
{
	int exists = 0, empty = 0;
	enum ck_code rc;

	if ((rc = stat_store(st->path, &exists, err)) != CK_OK)
		return rc;
	if (!exists && !(flags & CK_STORE_CREATE))
		return CK_FAIL(err, CK_ERR_NOT_FOUND,
			       "no store at %s; nothing was created (only commands that put "
			       "something in a store create one): check --store", st->path);
	if (!exists && (rc = create_file(st->path, err)) != CK_OK)
		return rc;
	/* READWRITE without CREATE: SQLite itself never makes the file. */
	if (sqlite3_open_v2(st->path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK)
		return CK_FAIL(err, CK_ERR_STORE, "cannot open the store %s: %s", st->path,
			       st->db ? sqlite3_errmsg(st->db) : "out of memory");
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, CK_STORE_BUSY_MS);
	if ((rc = check_is_store(st, &empty, err)) != CK_OK)
		return rc;
	if (empty && !(flags & CK_STORE_CREATE))
		return CK_FAIL(err, CK_ERR_STORE,
			       "%s is empty (no tables), not a certkeep store; it was not "
			       "changed: check --store", st->path);
	return CK_OK;
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
	if ((rc = store_connect(st, flags, err)) != CK_OK)
		goto out;
	if (sqlite3_create_function(st->db, "ck_now", 0, SQLITE_UTF8, st, sql_now, NULL,
				    NULL) != SQLITE_OK) {
		rc = CK_FAIL(err, CK_ERR_STORE, "cannot open the store %s: %s", path,
			     sqlite3_errmsg(st->db));
		goto out;
	}
	if ((rc = set_pragmas(st, err)) != CK_OK)
		goto out;
	if ((rc = st_schema_migrate(st, err)) != CK_OK)
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
	if (st->db != NULL)
		sqlite3_close_v2(st->db);
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
	sqlite3_stmt *s = NULL;
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
			rc = CK_FAIL(err, CK_ERR_NOMEM, "out of memory");
		else {
			*out = v;
			v = NULL;
		}
	}
	free(v);
	sqlite3_finalize(s);
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
	if ((rc = st_begin(st, err)) != CK_OK)
		return rc;
	CK_FAULT("store.setting_set.begin");
	if (value == NULL)
		rc = st_exec(st, err, NULL, "DELETE FROM settings WHERE key = ?", "t", key);
	else
		rc = st_exec(st, err, NULL,
			     "INSERT INTO settings (key, value) VALUES (?, ?) "
			     "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
			     "tt", key, value);
	if (rc == CK_OK) {
		CK_FAULT("store.setting_set.commit");
		rc = st_commit(st, err);
	}
	st_rollback(st);
	return rc;
}
