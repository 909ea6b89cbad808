/*
 * pg/driver.c - the PostgreSQL store driver: the only file that speaks
 * libpq.  Connecting with any libpq connection string (the password only
 * from libpq's own mechanisms: PGPASSFILE, the service file; TLS as libpq
 * does it), refusing a database that is not a certkeep store before
 * anything writes, statements (the portable SQL rewritten by
 * st_pg_rewrite, run through st_pg_exec under a deadline (pg/wait.c);
 * ints and text in text format,
 * blobs as binary bytea), SERIALIZABLE transactions and savepoints,
 * errors mapped to enum st_fail by SQLSTATE, and generation bumps
 * announced with NOTIFY and waited for with LISTEN (ck_store_wait_change).
 *
 * Must never: build SQL from caller strings, log a bound value or the
 * connection string (it may hold a password), write to a database that
 * is not a certkeep store, decide anything the invariant code decides.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/driver.h"
#include "store/pg/pg_int.h"
#include "store/pg/pq_api.h"
#include "store/store.h"

#define PG_BYTEA_OID 17
#define PG_INT8_OID 20
#define PG_PARAMS_MAX 64
#define PG_COLS_MAX 32
#define PG_PING_MS 10000  /* a listening connection's longest silence before a ping */

/* The channel every generation bump is announced on (pg_notify at commit). */
#define PG_CHANNEL "certkeep_generation"

struct st_drv_stmt {
	struct st_conn *c;
	char *sql;
	int nparams, now_idx;
	char *val[PG_PARAMS_MAX];
	int len[PG_PARAMS_MAX], fmt[PG_PARAMS_MAX];
	unsigned types[PG_PARAMS_MAX];
	PGresult *res;
	int row, nrows;
	unsigned char *blob[PG_COLS_MAX]; /* the row's unescaped bytea columns */
	size_t blob_len[PG_COLS_MAX];
};

static enum st_fail
pg_fail_kind(struct st_conn *c)
{
	if (c->cancelled)
		return ST_FAIL_CANCELLED;
	if (strcmp(c->sqlstate, "40001") == 0 || strcmp(c->sqlstate, "40P01") == 0)
		return ST_FAIL_RETRY;
	if (strncmp(c->sqlstate, "23", 2) == 0)
		return ST_FAIL_CONSTRAINT;
	if (strcmp(c->sqlstate, "55P03") == 0)
		return ST_FAIL_BUSY;
	return ST_FAIL_OTHER;
}

static const char *
pg_errmsg(struct st_conn *c)
{
	return c->msg;
}

/* Runs sql without parameters (several statements allowed) under the
 * deadline; the result, or NULL with the failure recorded. */
static PGresult *
exec_ok(struct st_conn *c, const char *sql)
{
	PGresult *r = st_pg_exec(c, sql, -1, NULL, NULL, NULL, NULL);
	int st = PQresultStatus(r);

	if (r != NULL && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		st_pg_set_fail(c, r);
		PQclear(r);
		r = NULL;
	}
	return r;
}

/* Runs a statement without parameters; 0 or -1 (failure recorded). */
static int
run(struct st_conn *c, const char *sql)
{
	PGresult *r = exec_ok(c, sql);

	PQclear(r);
	return r != NULL ? 0 : -1;
}

/*
 * What the database holds, read only: out[0] tables in the current
 * schema, out[1] certkeep's schema-1 tables among them, out[2] whether
 * schema_version is there, out[3] whether the certkeep_store marker is.
 */
static int
read_identity(struct st_conn *c, long out[4])
{
	static const char sql[] =
		"SELECT count(*),"
		" count(*) FILTER (WHERE table_name IN"
		"  ('schema_version', 'generation', 'keys', 'certificates')),"
		" count(*) FILTER (WHERE table_name = 'schema_version'),"
		" count(*) FILTER (WHERE table_name = 'certkeep_store')"
		" FROM information_schema.tables WHERE table_schema = current_schema()";
	PGresult *r = exec_ok(c, sql);
	int i, rc = -1;

	if (r != NULL && PQntuples(r) == 1) {
		for (i = 0; i < 4; i++)
			out[i] = strtol(PQgetvalue(r, 0, i), NULL, 10);
		rc = 0;
	} else if (r != NULL) {
		snprintf(c->msg, sizeof(c->msg), "the table list came back with %d rows",
			 PQntuples(r));
	}
	PQclear(r);
	return rc;
}

/* The marker's value, or -1. */
static long long
read_marker(struct st_conn *c)
{
	PGresult *r = exec_ok(c, "SELECT min(application_id) FROM certkeep_store");
	long long v = -1;

	if (r != NULL && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/*
 * Whether the database is a certkeep store, decided by reads only: one
 * with the certkeep_store marker (migration 3), or with certkeep's
 * schema-1 tables (a store another process is creating right now), or
 * with no tables but schema_version (empty: only with CK_STORE_CREATE).
 */
static enum ck_code
check_is_store(struct st_conn *c, const char *where, unsigned flags, struct ck_err *err)
{
	long id[4] = { 0 };

	if (read_identity(c, id) != 0)
		return CK_FAIL(err, CK_ERR_STORE, "cannot read the PostgreSQL store %s: %s",
			       where, c->msg);
	if (id[3] == 1) {
		if (read_marker(c) == CK_STORE_APPLICATION_ID)
			return CK_OK;
		return CK_FAIL(err, CK_ERR_STORE, "%s has a certkeep_store table with another "
			       "application id, not a certkeep store; it was not changed: check "
			       "--store", where);
	}
	if (id[0] == id[2]) {
		if (flags & CK_STORE_CREATE)
			return CK_OK;
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "no store in the PostgreSQL database %s "
			       "(it has no tables); nothing was created (only commands that put "
			       "something in a store create one): check --store", where);
	}
	if (id[1] == 4)
		return CK_OK;
	return CK_FAIL(err, CK_ERR_STORE, "the PostgreSQL database %s has tables that are not "
		       "a certkeep store's; it was not changed: check --store", where);
}

/* The database name and host for messages, never the password. */
static void
describe(const struct st_conn *c, char *out, size_t n)
{
	snprintf(out, n, "postgresql://%s/%s", c->where, PQdb(c->pg) ? PQdb(c->pg) : "");
}

static void
pg_close(struct st_conn *c)
{
	if (c == NULL)
		return;
	if (c->pg != NULL && PQtransactionStatus(c->pg) != PQTRANS_IDLE &&
	    PQstatus(c->pg) == CONNECTION_OK)
		run(c, "ROLLBACK");
	if (c->pg != NULL) /* NULL also when libpq could not be loaded */
		PQfinish(c->pg);
	free(c);
}

static enum ck_code
pg_open(const char *path, unsigned flags, const struct ck_ctx *ctx, struct st_conn **out,
	struct ck_err *err)
{
	struct st_conn *c = calloc(1, sizeof(*c));
	char where[300], set[64];
	enum ck_code rc;

	if (c == NULL) {
		rc = CK_FAIL(err, CK_ERR_NOMEM, "out of memory opening the store");
		goto out;
	}
	c->ctx = ctx;
	if ((rc = st_pg_load(err)) != CK_OK)
		goto out;
	if (st_pg_connect(c, path) != 0) {
		rc = CK_FAIL(err, c->cancelled ? CK_ERR_CANCELLED : CK_ERR_STORE,
			     "cannot connect to the PostgreSQL store: %s", c->msg);
		goto out;
	}
	describe(c, where, sizeof(where));
	/* Notices (e.g. "relation already exists, skipping") are not for the user. */
	PQsetNoticeProcessor(c->pg, NULL, NULL);
	snprintf(set, sizeof(set), "SET lock_timeout = %d", CK_STORE_BUSY_MS);
	if (run(c, set) != 0 ||
	    run(c, "SET client_min_messages = warning") != 0) {
		rc = CK_FAIL(err, CK_ERR_STORE, "cannot configure the PostgreSQL store %s: %s",
			     where, c->msg);
		goto out;
	}
	if ((rc = check_is_store(c, where, flags, err)) != CK_OK)
		goto out;
	*out = c;
	c = NULL;
out:
	pg_close(c);
	return rc;
}

/* Frees the current row's unescaped blobs. */
static void
row_clear(struct st_drv_stmt *s)
{
	int i;

	for (i = 0; i < PG_COLS_MAX; i++) {
		PQfreemem(s->blob[i]);
		s->blob[i] = NULL;
	}
}

static void
stmt_clear_result(struct st_drv_stmt *s)
{
	PQclear(s->res);
	s->res = NULL;
	row_clear(s);
	s->row = -1;
	s->nrows = 0;
}

static int
pg_prepare(struct st_conn *c, const char *sql, struct st_drv_stmt **out)
{
	struct st_drv_stmt *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->sql = st_pg_rewrite(sql, &s->nparams, &s->now_idx)) == NULL) {
		snprintf(c->msg, sizeof(c->msg), "out of memory preparing a query");
		c->sqlstate[0] = '\0';
		free(s);
		return -1;
	}
	if (s->nparams + (s->now_idx ? 1 : 0) > PG_PARAMS_MAX) {
		snprintf(c->msg, sizeof(c->msg), "a query has too many parameters");
		c->sqlstate[0] = '\0';
		free(s->sql);
		free(s);
		return -1;
	}
	s->c = c;
	s->row = -1;
	*out = s;
	return 0;
}

/* Stores a copy of p (n bytes) as parameter idx. */
static int
bind_val(struct st_drv_stmt *s, int idx, const void *p, size_t n, int fmt, unsigned type)
{
	char *v = NULL;

	if (idx < 1 || idx > PG_PARAMS_MAX || n > 0x7fffffff)
		return -1;
	if (p != NULL) {
		if ((v = malloc(n + 1)) == NULL)
			return -1;
		memcpy(v, p, n);
		v[n] = '\0';
	}
	free(s->val[idx - 1]);
	s->val[idx - 1] = v;
	s->len[idx - 1] = (int)n;
	s->fmt[idx - 1] = fmt;
	s->types[idx - 1] = type;
	return 0;
}

static int
pg_bind_int64(struct st_drv_stmt *s, int idx, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", (long long)v);

	/* Type left to the server: an integer in substr() wants int, a column bigint. */
	return bind_val(s, idx, num, (size_t)n, 0, 0);
}

static int
pg_bind_text(struct st_drv_stmt *s, int idx, const char *t)
{
	return bind_val(s, idx, t, strlen(t), 0, 0);
}

static int
pg_bind_blob(struct st_drv_stmt *s, int idx, const void *p, size_t n)
{
	return bind_val(s, idx, n ? p : "", n, 1, PG_BYTEA_OID);
}

static int
pg_bind_null(struct st_drv_stmt *s, int idx)
{
	return bind_val(s, idx, NULL, 0, 0, 0);
}

/* Runs the statement with its bindings (and the store's clock for ck_now()). */
static int
stmt_run(struct st_drv_stmt *s)
{
	int n = s->nparams + (s->now_idx ? 1 : 0), st;
	const char *vals[PG_PARAMS_MAX];
	char now[24];
	const char *tuples;

	if (s->now_idx) {
		snprintf(now, sizeof(now), "%lld", (long long)ck_now(s->c->ctx));
		if (bind_val(s, s->now_idx, now, strlen(now), 0, PG_INT8_OID) != 0)
			return -1;
	}
	memcpy(vals, s->val, sizeof(vals));
	s->res = st_pg_exec(s->c, s->sql, n, s->types, vals, s->len, s->fmt);
	if (s->res == NULL)
		return -1;
	st = PQresultStatus(s->res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		st_pg_set_fail(s->c, s->res);
		stmt_clear_result(s);
		return -1;
	}
	s->nrows = PQntuples(s->res);
	tuples = PQcmdTuples(s->res);
	if (st == PGRES_COMMAND_OK || (tuples != NULL && tuples[0] != '\0' &&
				       strncmp(PQcmdStatus(s->res), "SELECT", 6) != 0))
		s->c->changes = tuples && tuples[0] ? strtoll(tuples, NULL, 10) : 0;
	return 0;
}

static int
pg_step(struct st_drv_stmt *s)
{
	if (s->res == NULL && stmt_run(s) != 0)
		return -1;
	row_clear(s);
	if (s->row + 1 >= s->nrows) {
		s->row = s->nrows;
		return 0;
	}
	s->row++;
	return 1;
}

static int
pg_column_is_null(struct st_drv_stmt *s, int i)
{
	return s->res == NULL || s->row < 0 || s->row >= s->nrows ||
	       PQgetisnull(s->res, s->row, i);
}

static int64_t
pg_column_int64(struct st_drv_stmt *s, int i)
{
	const char *v;

	if (pg_column_is_null(s, i))
		return 0;
	v = PQgetvalue(s->res, s->row, i);
	/* A boolean expression (EXISTS, a comparison) comes back as t/f. */
	if (v[0] == 't')
		return 1;
	if (v[0] == 'f')
		return 0;
	return strtoll(v, NULL, 10);
}

static const char *
pg_column_text(struct st_drv_stmt *s, int i)
{
	if (pg_column_is_null(s, i))
		return NULL;
	return PQgetvalue(s->res, s->row, i);
}

static const void *
pg_column_blob(struct st_drv_stmt *s, int i, size_t *len)
{
	size_t n = 0;

	*len = 0;
	if (pg_column_is_null(s, i))
		return NULL;
	if (PQftype(s->res, i) != PG_BYTEA_OID) {
		*len = (size_t)PQgetlength(s->res, s->row, i);
		return PQgetvalue(s->res, s->row, i);
	}
	if (i < 0 || i >= PG_COLS_MAX)
		return NULL;
	if (s->blob[i] == NULL) {
		s->blob[i] = PQunescapeBytea((const unsigned char *)PQgetvalue(s->res, s->row, i),
					     &n);
		if (s->blob[i] == NULL)
			return NULL;
		s->blob_len[i] = n;
	}
	*len = s->blob_len[i];
	return *len > 0 ? s->blob[i] : NULL;
}

static int64_t
pg_changes(struct st_conn *c)
{
	return c->changes;
}

static int
pg_reset(struct st_drv_stmt *s)
{
	int i;

	stmt_clear_result(s);
	for (i = 0; i < PG_PARAMS_MAX; i++) {
		free(s->val[i]);
		s->val[i] = NULL;
		s->len[i] = 0;
		s->fmt[i] = 0;
		s->types[i] = 0;
	}
	return 0;
}

static void
pg_finalize(struct st_drv_stmt *s)
{
	if (s == NULL)
		return;
	pg_reset(s);
	free(s->sql);
	free(s);
}

static int
pg_exec_script(struct st_conn *c, const char *sql)
{
	return run(c, sql);
}

/*
 * One writer at a time, as on SQLite (BEGIN IMMEDIATE): the write lock is
 * an EXCLUSIVE lock on the generation table, taken before the
 * transaction's snapshot (LOCK takes none), so every write transaction
 * sees what the previous one committed and never fails half-way for want
 * of a lock; readers (ACCESS SHARE) are not blocked.  Every write bumps
 * the generation row anyway, so concurrent writers could never commit
 * side by side: under plain SERIALIZABLE they would only turn waiting
 * into serialization failures and retries.  SERIALIZABLE stays, so any
 * statement outside this discipline is still caught (40001 -> retry).
 * A lock not granted within CK_STORE_BUSY_MS (lock_timeout) is 55P03,
 * ST_FAIL_BUSY.  docs/store.md says why.
 */
static int
pg_begin(struct st_conn *c)
{
	if (run(c, "BEGIN ISOLATION LEVEL SERIALIZABLE") != 0)
		return -1;
	if (run(c, "LOCK TABLE generation IN EXCLUSIVE MODE") == 0)
		return 0;
	/* A store being created has no generation table before migration 1:
	 * its schema_version row (a primary key) already serializes creators. */
	if (strcmp(c->sqlstate, "42P01") == 0) {
		run(c, "ROLLBACK");
		return run(c, "BEGIN ISOLATION LEVEL SERIALIZABLE");
	}
	run(c, "ROLLBACK");
	return -1;
}

static int
pg_begin_read(struct st_conn *c)
{
	return run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

static int
pg_commit(struct st_conn *c)
{
	if (run(c, "COMMIT") == 0)
		return 0;
	/* Lost while COMMIT was on its way: the server may have committed
	 * (a COMMIT given up on says so already). */
	if (PQstatus(c->pg) != CONNECTION_OK && !c->gave_up)
		snprintf(c->msg, sizeof(c->msg), "the connection to PostgreSQL was lost during "
			 "COMMIT: the change was either committed whole or not at all; look "
			 "(certkeep list, show) before doing it again");
	return -1;
}

static void
pg_rollback(struct st_conn *c)
{
	if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		run(c, "ROLLBACK");
}

static int
pg_tx_alive(struct st_conn *c)
{
	return PQstatus(c->pg) == CONNECTION_OK &&
	       PQtransactionStatus(c->pg) == PQTRANS_INTRANS;
}

/* A lost connection is not lent again by a pool (driver.h: usable). */
static int
pg_usable(struct st_conn *c)
{
	return PQstatus(c->pg) == CONNECTION_OK;
}

static int
pg_savepoint(struct st_conn *c, int depth)
{
	char sql[48];

	snprintf(sql, sizeof(sql), "SAVEPOINT ck_sp%d", depth);
	return run(c, sql);
}

static int
pg_release(struct st_conn *c, int depth)
{
	char sql[48];

	snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT ck_sp%d", depth);
	return run(c, sql);
}

static void
pg_rollback_to(struct st_conn *c, int depth)
{
	char sql[80];

	snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT ck_sp%d; RELEASE SAVEPOINT ck_sp%d",
		 depth, depth);
	run(c, sql);
}

/*
 * A deleted key's tuple stays in the table's pages until vacuum prunes
 * it: VACUUM the keys table (outside any transaction, after the commit).
 * It does not reach the server's WAL or its base backups: only keys
 * encrypted at rest keep a key out of those.
 */
static void
pg_scrub(struct st_conn *c)
{
	if (run(c, "VACUUM keys") != 0)
		ck_log(&c->ctx->log, CK_LOG_WARN, "store: the removed key is gone from the store, "
		       "but VACUUM of the keys table failed (%s): its old tuple stays until the "
		       "next vacuum", c->msg);
}

/*
 * Announces a generation bump.  NOTIFY is transactional: delivered to
 * every listening session when this transaction commits, never if it
 * rolls back; the same payload twice in one transaction is delivered once.
 */
static int
pg_notify(struct st_conn *c)
{
	return run(c, "SELECT pg_notify('" PG_CHANNEL "', '')");
}

static int
pg_listen(struct st_conn *c)
{
	if (c->listening)
		return 0;
	if (run(c, "LISTEN " PG_CHANNEL) != 0)
		return -1;
	c->listening = 1;
	return 0;
}

/* Takes the notifications libpq has read; 1 if ours was among them. */
static int
take_notifies(struct st_conn *c)
{
	PGnotify *n;
	int got = 0;

	while ((n = PQnotifies(c->pg)) != NULL) {
		got |= strcmp(n->relname, PG_CHANNEL) == 0;
		PQfreemem(n);
	}
	return got;
}

/*
 * A listening connection hears nothing from a silent server either: after
 * PG_PING_MS (at most a statement's deadline) without a word from it, a
 * SELECT 1 under the statement deadline tells a quiet server from a dead
 * one (TCP keepalives do not: a stopped postgres's kernel still answers).
 */
static int
pg_wait_notify(struct st_conn *c, unsigned timeout_ms)
{
	unsigned ping_ms = c->stmt_ms < PG_PING_MS ? c->stmt_ms : PG_PING_MS;
	struct pollfd pfd;
	int r;

	if (c->pg != NULL && ck_mono_ms() - c->heard_ms >= (long long)ping_ms && run(c, "SELECT 1"))
		return -1;
	if (c->pg == NULL)  /* given up earlier: says so */
		return st_pg_exec(c, "", -1, NULL, NULL, NULL, NULL) == NULL ? -1 : 0;
	/* Some may have come with the answer to an earlier statement. */
	if ((r = take_notifies(c)) != 0)
		return r;
	pfd.fd = PQsocket(c->pg);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0) {
		st_pg_set_fail(c, NULL);
		return -1;
	}
	if (timeout_ms > ping_ms)
		timeout_ms = ping_ms;
	r = poll(&pfd, 1, (int)timeout_ms);
	if (r < 0 && errno == EINTR)
		return 0; /* a signal: the caller looks at its cancel flag */
	if (r < 0) {
		snprintf(c->msg, sizeof(c->msg), "waiting for PostgreSQL: %s", strerror(errno));
		c->sqlstate[0] = '\0';
		return -1;
	}
	if (r == 0)
		return 0;
	if (PQconsumeInput(c->pg) != 1) {
		st_pg_set_fail(c, NULL);
		return -1;
	}
	c->heard_ms = ck_mono_ms();
	return take_notifies(c);
}

const struct st_driver_ops st_pg_driver = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.prepare = pg_prepare,
	.bind_int64 = pg_bind_int64,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.column_is_null = pg_column_is_null,
	.column_int64 = pg_column_int64,
	.column_text = pg_column_text,
	.column_blob = pg_column_blob,
	.changes = pg_changes,
	.reset = pg_reset,
	.finalize = pg_finalize,
	.begin = pg_begin,
	.begin_read = pg_begin_read,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.tx_alive = pg_tx_alive,
	.savepoint = pg_savepoint,
	.release = pg_release,
	.rollback_to = pg_rollback_to,
	.exec_script = pg_exec_script,
	.errmsg = pg_errmsg,
	.fail_kind = pg_fail_kind,
	.scrub = pg_scrub,
	.usable = pg_usable,
	.columns_sql = "SELECT table_name::text, column_name::text, data_type::text "
		       "FROM information_schema.columns WHERE table_schema = current_schema()",
	/* An identity column's sequence does not move for ids given explicitly. */
	.ids_follow_sql = "SELECT setval(pg_get_serial_sequence(?, 'id'), ?)",
	.migration = st_pg_migration,
	.notify = pg_notify,
	.listen = pg_listen,
	.wait_notify = pg_wait_notify,
	.lock_skip_locked = " FOR UPDATE SKIP LOCKED",
};
