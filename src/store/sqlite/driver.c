/*
 * sqlite/driver.c - the SQLite store driver: the only file that speaks
 * SQLite's C API (with sqlite/schema.c, which holds the schema in
 * SQLite's dialect).  Opening the file with safe modes and refusing what
 * is not a store before anything writes, pragmas (WAL, synchronous=FULL,
 * foreign keys, secure_delete, busy timeout), the SQL function ck_now(),
 * statements, transactions and savepoints, errors mapped to enum
 * st_fail, and the WAL scrub after key material was deleted.
 *
 * Must never: build SQL from caller strings, widen a file's mode after
 * creating it, write to a file that is not a certkeep store, decide
 * anything the store's invariant code decides.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/driver.h"
#include "store/sqlite/sqlite_int.h"
#include "store/store.h"

/*
 * A statement: SQLite's, with the text it was prepared from and its
 * connection.  A finished one is reset and kept (at most SQ_CACHE_MAX per
 * connection, the least recently used dropped) so the next use of the same
 * SQL skips sqlite3_prepare: a renewal runs about a hundred statements of
 * a few dozen texts, and parsing them was a tenth of its CPU.
 */
struct sq_stmt {
	sqlite3_stmt *s;
	struct st_conn *c;
	char *sql;
};

#define SQ_CACHE_MAX 96

struct st_conn {
	sqlite3 *db;
	char *path;
	const struct ck_ctx *ctx;
	struct sq_stmt *idle[SQ_CACHE_MAX]; /* reset, unbound; the newest last */
	size_t nidle;
	int unsynced;             /* synchronous is NORMAL (sqlite_begin_unsynced) */
};

#define STMT(s) (((struct sq_stmt *)(void *)(s))->s)

static void
sq_stmt_free(struct sq_stmt *q)
{
	if (q == NULL)
		return;
	sqlite3_finalize(q->s);
	free(q->sql);
	free(q);
}

/* Finalizes every kept statement (before the connection closes). */
static void
sq_cache_clear(struct st_conn *c)
{
	while (c->nidle > 0)
		sq_stmt_free(c->idle[--c->nidle]);
}

static enum st_fail
conn_fail_kind(struct st_conn *c)
{
	int prim = sqlite3_extended_errcode(c->db) & 0xff;

	/* BUSY comes after the busy timeout waited: retrying would only wait again. */
	if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
		return ST_FAIL_BUSY;
	if (prim == SQLITE_CONSTRAINT)
		return ST_FAIL_CONSTRAINT;
	return ST_FAIL_OTHER;
}

static enum ck_code
conn_fail(struct st_conn *c, struct ck_err *err, const char *where, const char *what)
{
	return st_fail_err(err, where, what, conn_fail_kind(c), sqlite3_errmsg(c->db));
}

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
pragma_retry(struct st_conn *c, const char *sql, struct ck_err *err)
{
	unsigned waited = 0, step = 5;

	for (;;) {
		int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return CK_OK;
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		if (waited >= CK_STORE_BUSY_MS)
			break;
		ck_sleep_ms(c->ctx, step);
		waited += step;
		if (step < 100)
			step *= 2;
	}
	return conn_fail(c, err, __func__, "configuring the store");
}

static enum ck_code
set_pragmas(struct st_conn *c, struct ck_err *err)
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
		if ((rc = pragma_retry(c, pragmas[i], err)) != CK_OK)
			return rc;
	}
	return CK_OK;
}

/* SQL ck_now(): the store's clock (ck_now of its ctx), so a test clock reaches queries too. */
static void
sql_now(sqlite3_context *c, int argc, sqlite3_value **argv)
{
	(void)argc;
	(void)argv;
	const struct st_conn *conn = sqlite3_user_data(c);

	sqlite3_result_int64(c, (sqlite3_int64)ck_now(conn->ctx));
}

/*
 * What the file holds, in one read-only statement: out[0] application_id,
 * out[1] tables, out[2] certkeep schema-1 tables among them, out[3] 1 if
 * schema_version is one, exactly as st_schema_migrate creates it.  Retried while another process holds the lock
 * (a store being created is switched to WAL under an exclusive lock).
 * Returns the SQLite result code.
 */
static int
read_identity(struct st_conn *c, int64_t out[4])
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

		rc = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
		if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			for (i = 0; i < 4; i++)
				out[i] = sqlite3_column_int64(s, i);
			rc = SQLITE_OK;
		}
		sqlite3_finalize(s);
		if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) ||
		    waited >= CK_STORE_BUSY_MS)
			return rc;
		ck_sleep_ms(c->ctx, step);
		waited += step;
		if (step < 100)
			step *= 2;
	}
}

/*
 * Whether the file at c->path is a certkeep store, decided by reads only
 * (before anything that writes): *empty is set for a database with no
 * tables (a new or zero-length file) or only the schema_version table (a
 * store another process is creating right now).  A certkeep store carries
 * CK_STORE_APPLICATION_ID; one made before that (schema 1) is recognised
 * by its tables and gets the id from migration 3.  Anything else is
 * refused, so that it is never modified.
 */
static enum ck_code
check_is_store(struct st_conn *c, int *empty, struct ck_err *err)
{
	int64_t id[4] = { 0 };
	int rc = read_identity(c, id);

	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return conn_fail(c, err, __func__, "opening the store");
	if (rc != SQLITE_OK)
		return CK_FAIL(err, CK_ERR_STORE,
			       "%s is not a certkeep store (%s); it was not changed: check --store",
			       c->path, sqlite3_errmsg(c->db));
	*empty = id[0] == 0 && id[1] == id[3];
	if (id[0] == CK_STORE_APPLICATION_ID || *empty || (id[0] == 0 && id[2] == 4))
		return CK_OK;
	if (id[0] != 0)
		return CK_FAIL(err, CK_ERR_STORE,
			       "%s is a SQLite database of another application (application_id "
			       "0x%08llx), not a certkeep store; it was not changed: check --store",
			       c->path, (unsigned long long)(uint32_t)id[0]);
	return CK_FAIL(err, CK_ERR_STORE,
		       "%s is a SQLite database without certkeep's tables, not a certkeep "
		       "store; it was not changed: check --store", c->path);
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
store_connect(struct st_conn *c, unsigned flags, struct ck_err *err)
{
	int exists = 0, empty = 0;
	enum ck_code rc;

	if ((rc = stat_store(c->path, &exists, err)) != CK_OK)
		return rc;
	if (!exists && !(flags & CK_STORE_CREATE))
		return CK_FAIL(err, CK_ERR_NOT_FOUND,
			       "no store at %s; nothing was created (only commands that put "
			       "something in a store create one): check --store", c->path);
	if (!exists && (rc = create_file(c->path, err)) != CK_OK)
		return rc;
	/* READWRITE without CREATE: SQLite itself never makes the file. */
	if (sqlite3_open_v2(c->path, &c->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK)
		return CK_FAIL(err, CK_ERR_STORE, "cannot open the store %s: %s", c->path,
			       c->db ? sqlite3_errmsg(c->db) : "out of memory");
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, CK_STORE_BUSY_MS);
	/* Eight workers with 2 MiB of cached pages each were a fifth of a
	 * 1,000-lineage renewal's peak RSS; the OS caches the file anyway.
	 * 64 KiB, not 256: in WAL mode every other handle's commit empties
	 * this cache at the next transaction, so the bigger one bought no CPU
	 * measurably and cost 1.2-1.5 MiB over eight workers (bench/README.md).
	 * With one pooled connection for eight workers (pool.c) 256 KiB saves
	 * about 3.5 % CPU for 0.1-0.2 MiB: not taken while peak RSS is the
	 * tighter goal (session 9).
	 * temp_store = MEMORY: a transaction that changes more pages than that
	 * cache holds (a certificate's commit does) wrote its savepoint's
	 * statement journal to a new file in /var/tmp, created and unlinked
	 * once per certificate, and re-read pages through it; in memory it is
	 * a few pages for the length of one savepoint (-9 % CPU for a 1,000
	 * lineage renewal, RSS unchanged).  Only here: such a connection runs
	 * small statements, never the large sorts a temporary file is for. */
	if ((flags & CK_STORE_SMALL_CACHE) &&
	    sqlite3_exec(c->db, "PRAGMA cache_size = -64; PRAGMA temp_store = MEMORY", NULL,
			 NULL, NULL) != SQLITE_OK)
		return conn_fail(c, err, __func__, "configuring the store");
	if ((rc = check_is_store(c, &empty, err)) != CK_OK)
		return rc;
	if (empty && !(flags & CK_STORE_CREATE))
		return CK_FAIL(err, CK_ERR_STORE,
			       "%s is empty (no tables), not a certkeep store; it was not "
			       "changed: check --store", c->path);
	return CK_OK;
}


static void
sqlite_close(struct st_conn *c)
{
	if (c == NULL)
		return;
	sq_cache_clear(c);
	if (c->db != NULL && !sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	if (c->db != NULL)
		sqlite3_close_v2(c->db);
	free(c->path);
	free(c);
}

static enum ck_code
sqlite_open(const char *path, unsigned flags, const struct ck_ctx *ctx, struct st_conn **out,
	    struct ck_err *err)
{
	struct st_conn *c = calloc(1, sizeof(*c));
	enum ck_code rc;

	if (c == NULL || (c->path = strdup(path)) == NULL) {
		rc = CK_FAIL(err, CK_ERR_NOMEM, "out of memory opening the store");
		goto out;
	}
	c->ctx = ctx;
	if ((rc = store_connect(c, flags, err)) != CK_OK)
		goto out;
	if (sqlite3_create_function(c->db, "ck_now", 0, SQLITE_UTF8, c, sql_now, NULL,
				    NULL) != SQLITE_OK) {
		rc = CK_FAIL(err, CK_ERR_STORE, "cannot open the store %s: %s", path,
			     sqlite3_errmsg(c->db));
		goto out;
	}
	if ((rc = set_pragmas(c, err)) != CK_OK)
		goto out;
	*out = c;
	c = NULL;
out:
	sqlite_close(c);
	return rc;
}

static int
ok(int rc)
{
	return rc == SQLITE_OK ? 0 : -1;
}

static int
sqlite_prepare(struct st_conn *c, const char *sql, struct st_drv_stmt **out)
{
	struct sq_stmt *q;
	size_t i;

	for (i = c->nidle; i-- > 0;) {
		if (strcmp(c->idle[i]->sql, sql) != 0)
			continue;
		q = c->idle[i];
		memmove(&c->idle[i], &c->idle[i + 1], (c->nidle - i - 1) * sizeof(c->idle[0]));
		c->nidle--;
		*out = (struct st_drv_stmt *)(void *)q;
		return 0;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL || (q->sql = strdup(sql)) == NULL) {
		free(q);
		return -1;
	}
	q->c = c;
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q->s, NULL) !=
	    SQLITE_OK) {
		sq_stmt_free(q);
		return -1;
	}
	*out = (struct st_drv_stmt *)(void *)q;
	return 0;
}

static int
sqlite_bind_int64(struct st_drv_stmt *s, int idx, int64_t v)
{
	return ok(sqlite3_bind_int64(STMT(s), idx, v));
}

static int
sqlite_bind_text(struct st_drv_stmt *s, int idx, const char *t)
{
	return ok(sqlite3_bind_text(STMT(s), idx, t, -1, SQLITE_TRANSIENT));
}

static int
sqlite_bind_blob(struct st_drv_stmt *s, int idx, const void *p, size_t n)
{
	return ok(sqlite3_bind_blob64(STMT(s), idx, p, n, SQLITE_TRANSIENT));
}

static int
sqlite_bind_null(struct st_drv_stmt *s, int idx)
{
	return ok(sqlite3_bind_null(STMT(s), idx));
}

static int
sqlite_step(struct st_drv_stmt *s)
{
	int rc = sqlite3_step(STMT(s));

	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
sqlite_column_is_null(struct st_drv_stmt *s, int i)
{
	return sqlite3_column_type(STMT(s), i) == SQLITE_NULL;
}

static int64_t
sqlite_column_int64(struct st_drv_stmt *s, int i)
{
	return sqlite3_column_int64(STMT(s), i);
}

static const char *
sqlite_column_text(struct st_drv_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(STMT(s), i);
}

static const void *
sqlite_column_blob(struct st_drv_stmt *s, int i, size_t *len)
{
	const void *p = sqlite3_column_blob(STMT(s), i);
	int n = sqlite3_column_bytes(STMT(s), i);

	*len = p != NULL && n > 0 ? (size_t)n : 0;
	return p;
}

static int64_t
sqlite_changes(struct st_conn *c)
{
	return sqlite3_changes64(c->db);
}

static int
sqlite_reset(struct st_drv_stmt *s)
{
	sqlite3_clear_bindings(STMT(s));
	return ok(sqlite3_reset(STMT(s)));
}

/* Kept for the next use of its SQL once reset (never holding a row, a
 * lock or a bound value), else finalized. */
static void
sqlite_finalize(struct st_drv_stmt *s)
{
	struct sq_stmt *q = (struct sq_stmt *)(void *)s;
	struct st_conn *c;

	if (q == NULL)
		return;
	c = q->c;
	sqlite3_reset(q->s);
	if (sqlite3_clear_bindings(q->s) != SQLITE_OK || sqlite3_stmt_busy(q->s)) {
		sq_stmt_free(q);
		return;
	}
	if (c->nidle == SQ_CACHE_MAX) {
		sq_stmt_free(c->idle[0]);
		memmove(&c->idle[0], &c->idle[1], (SQ_CACHE_MAX - 1) * sizeof(c->idle[0]));
		c->nidle--;
	}
	c->idle[c->nidle++] = q;
}

static int
sqlite_exec_script(struct st_conn *c, const char *sql)
{
	return ok(sqlite3_exec(c->db, sql, NULL, NULL, NULL));
}

/* FULL again once an unsynced transaction ended, so nothing else (not even
 * a statement outside a transaction) commits unsynced.  0 when the
 * connection is synced; -1 if it still is not (the error is the
 * connection's), and sqlite_begin then refuses to begin. */
static int
sq_synced_again(struct st_conn *c)
{
	/* Inside a transaction SQLite refuses it, and says so. */
	if (c->unsynced &&
	    sqlite3_exec(c->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) == SQLITE_OK)
		c->unsynced = 0;
	return c->unsynced ? -1 : 0;
}

static int
sqlite_begin(struct st_conn *c)
{
	/* After an unsynced transaction, FULL again before anything else is
	 * written (SQLite cannot change it inside a transaction); a begin that
	 * cannot restore it fails rather than commit unsynced. */
	if (sq_synced_again(c) != 0)
		return -1;
	/* IMMEDIATE takes the write lock now (waiting up to the busy timeout). */
	return sqlite_exec_script(c, "BEGIN IMMEDIATE");
}

static int
sqlite_begin_unsynced(struct st_conn *c)
{
	/* NORMAL in WAL mode: the commit is written to the WAL, not synced;
	 * the next FULL commit's sync covers it (driver.h: begin_unsynced). */
	if (sqlite_exec_script(c, "PRAGMA synchronous = NORMAL") != 0)
		return -1;
	c->unsynced = 1;
	/* If BEGIN fails, its error is the caller's to read: the next
	 * transaction's begin (or commit/rollback) sets FULL again. */
	return sqlite_exec_script(c, "BEGIN IMMEDIATE");
}

static int
sqlite_begin_read(struct st_conn *c)
{
	/* Deferred: the snapshot starts at the first read and takes no write lock. */
	return sqlite_exec_script(c, "BEGIN");
}

static int
sqlite_commit(struct st_conn *c)
{
	int rc = sqlite_exec_script(c, "COMMIT");

	if (rc == 0) /* a failure's message is the caller's to read first */
		(void)sq_synced_again(c);
	return rc;
}

static void
sqlite_rollback(struct st_conn *c)
{
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	(void)sq_synced_again(c);
}

static int
sqlite_tx_alive(struct st_conn *c)
{
	/* After SQLITE_NOMEM, _FULL or _IOERR SQLite may have rolled back the
	 * whole transaction itself: the connection is in autocommit again. */
	return !sqlite3_get_autocommit(c->db);
}

static int
sqlite_savepoint(struct st_conn *c, int depth)
{
	char sql[48];

	snprintf(sql, sizeof(sql), "SAVEPOINT ck_sp%d", depth);
	return sqlite_exec_script(c, sql);
}

static int
sqlite_release(struct st_conn *c, int depth)
{
	char sql[48];

	snprintf(sql, sizeof(sql), "RELEASE ck_sp%d", depth);
	return sqlite_exec_script(c, sql);
}

static void
sqlite_rollback_to(struct st_conn *c, int depth)
{
	char sql[80];

	snprintf(sql, sizeof(sql), "ROLLBACK TO ck_sp%d; RELEASE ck_sp%d", depth, depth);
	sqlite3_exec(c->db, sql, NULL, NULL, NULL);
}

static const char *
sqlite_errmsg(struct st_conn *c)
{
	return sqlite3_errmsg(c->db);
}

/*
 * secure_delete zeroes the freed pages, but the WAL (store.db-wal) keeps
 * older page images with the key until a checkpoint resets it, and while
 * another connection has the store open nothing resets it.  TRUNCATE
 * copies every frame back and cuts the WAL to zero bytes.  If a reader
 * keeps the checkpoint from completing within ST_WAL_SCRUB_MS, a warning
 * is logged (the removal itself has committed).
 */
#define ST_WAL_SCRUB_MS 2000

static void
sqlite_scrub(struct st_conn *c)
{
	int rc, frames = 0, copied = 0;

	/* Waits for readers of older snapshots, but not as long as for a lock. */
	sqlite3_busy_timeout(c->db, ST_WAL_SCRUB_MS);
	rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &frames,
				       &copied);
	sqlite3_busy_timeout(c->db, CK_STORE_BUSY_MS);
	if (rc != SQLITE_OK)
		ck_log(&c->ctx->log, CK_LOG_WARN,
		       "store %s: the removed key is gone from the store, but another process "
		       "was reading it, so an older copy stays in %s-wal until SQLite next "
		       "checkpoints it (%s)", c->path, c->path, sqlite3_errstr(rc));
}

/* Frees the pages no statement holds (driver.h: shed); never fails. */
static void
sqlite_shed(struct st_conn *c)
{
	sqlite3_db_release_memory(c->db);
}

const struct st_driver_ops st_sqlite_driver = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.prepare = sqlite_prepare,
	.bind_int64 = sqlite_bind_int64,
	.bind_text = sqlite_bind_text,
	.bind_blob = sqlite_bind_blob,
	.bind_null = sqlite_bind_null,
	.step = sqlite_step,
	.column_is_null = sqlite_column_is_null,
	.column_int64 = sqlite_column_int64,
	.column_text = sqlite_column_text,
	.column_blob = sqlite_column_blob,
	.changes = sqlite_changes,
	.reset = sqlite_reset,
	.finalize = sqlite_finalize,
	.begin = sqlite_begin,
	.begin_unsynced = sqlite_begin_unsynced,
	.begin_read = sqlite_begin_read,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.tx_alive = sqlite_tx_alive,
	.savepoint = sqlite_savepoint,
	.release = sqlite_release,
	.rollback_to = sqlite_rollback_to,
	.exec_script = sqlite_exec_script,
	.errmsg = sqlite_errmsg,
	.fail_kind = conn_fail_kind,
	.scrub = sqlite_scrub,
	.shed = sqlite_shed,
	.columns_sql = "SELECT m.name, p.name, p.type FROM sqlite_master m, pragma_table_info(m.name) p "
		       "WHERE m.type = 'table' AND substr(m.name, 1, 7) <> 'sqlite_'",
	.ids_follow_sql = NULL,
	.migration = st_sqlite_migration,
	.lock_skip_locked = "",
};
