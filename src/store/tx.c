/*
 * tx.c - the store's transactions over the driver seam: nesting (the
 * outermost level is the driver's write transaction, inner levels are
 * savepoints), the transaction runner every write path uses (begin, fault
 * points, body, commit, rollback, bounded retry of a lost race), read
 * snapshots, the WAL scrub deferred to the outermost commit, and the
 * renewal lease's fencing check just before it (st_fence_check_tx).
 *
 * Must never: leave a transaction open on return, retry a body that ran
 * inside a caller's transaction (only the outermost level can be run
 * again), retry without a bound.
 */
#include <stdarg.h>
#include <stdio.h>

#include "store/store_int.h"

/*
 * Transactions nest: the outermost is the driver's begin (the write lock
 * taken at once) ... commit; inner ones are savepoints, so a multi-step
 * operation (an import of several keys and certificates) built from
 * single-step calls commits as one.
 */
/* Holds a connection and opens a transaction on it with begin (the
 * driver's begin or begin_read); on failure the message is read before
 * the connection goes back. */
static enum ck_code
hold_and_begin(struct ck_store *st, int (*begin)(struct st_conn *), const char *what,
	       struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_hold(st, err)) != CK_OK)
		return rc;
	if (begin(st->conn) != 0) {
		rc = ST_DB_FAIL(st, err, what);
		st_let(st);
		return rc;
	}
	return CK_OK;
}

/* st_begin; unsynced: the outermost transaction's commit need not reach
 * the disk (st_tx_run_unsynced), where the driver can do that. */
static enum ck_code
tx_begin(struct ck_store *st, int unsynced, struct ck_err *err)
{
	enum ck_code rc;

	if (st->in_tx == 0) {
		if ((rc = hold_and_begin(st, unsynced && st->drv->begin_unsynced != NULL
					 ? st->drv->begin_unsynced : st->drv->begin,
					 "starting a store transaction", err)) != CK_OK)
			return rc;
	} else {
		if (st->in_tx >= ST_TX_DEPTH_MAX)
			return CK_FAIL(err, CK_ERR_INTERNAL, "store transactions nested too deep");
		if (st->drv->savepoint(st->conn, st->in_tx) != 0)
			return ST_DB_FAIL(st, err, "starting a nested store transaction");
	}
	st->in_tx++;
	st->tx_committed = 0;
	return CK_OK;
}

enum ck_code
st_begin(struct ck_store *st, struct ck_err *err)
{
	return tx_begin(st, 0, err);
}

enum ck_code
st_commit(struct ck_store *st, struct ck_err *err)
{
	enum ck_code rc;

	if (st->in_tx <= 0)
		return CK_FAIL(err, CK_ERR_INTERNAL, "commit without a store transaction");
	if (st->in_tx > 1) {
		if (st->drv->release(st->conn, st->in_tx - 1) != 0) {
			rc = ST_DB_FAIL(st, err, "committing a nested transaction");
			st_rollback(st);
			return rc;
		}
		st->in_tx--;
		st->tx_committed = 1;
		return CK_OK;
	}
	/* Every outermost commit passes this point: a crash test may stop
	 * here, and a test counts a flow's commits (CERTKEEP_FAULT_LOG). */
	CK_FAULT("store.commit");
	/* A lease lost since the body ran commits nothing of it (fencing). */
	if (st->fenced && (rc = st_fence_check_tx(st, err)) != CK_OK) {
		st_rollback(st);
		return rc;
	}
	if (st->drv->commit(st->conn) != 0) {
		rc = ST_DB_FAIL(st, err, "committing to the store");
		st_rollback(st);
		return rc;
	}
	st->in_tx = 0;
	st->tx_committed = 1;
	if (st->wal_scrub)
		st_wal_scrub(st);
	st_let(st);
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
	if (st->tx_committed) {
		st->tx_committed = 0;
		return;
	}
	if (st->in_tx <= 0)
		return;
	if (st->in_tx > 1) {
		st->drv->rollback_to(st->conn, st->in_tx - 1);
	} else {
		st->drv->rollback(st->conn);
		st->wal_scrub = 0; /* nothing was deleted after all */
	}
	if (--st->in_tx == 0)
		st_let(st);
}

void
st_wal_scrub(struct ck_store *st)
{
	if (st->in_tx > 0) {
		st->wal_scrub = 1;
		return;
	}
	st->wal_scrub = 0;
	/* Never fails the caller (driver.h): without a connection, no scrub. */
	if (st_hold(st, NULL) != CK_OK)
		return;
	st->drv->scrub(st->conn);
	st_let(st);
}

/* Passes the fault point "<name>.<step>" (a crash test may abort there). */
static void
tx_point(const char *name, const char *step)
{
#ifdef CK_FAULT_INJECTION
	char point[96];

	snprintf(point, sizeof(point), "%s.%s", name, step);
	CK_FAULT(point);
#else
	(void)name;
	(void)step;
#endif
}

/* One attempt: begin, body, commit; rolled back unless committed. */
static enum ck_code
tx_once(struct ck_store *st, struct ck_err *err, const char *name, st_tx_body body, void *arg,
	int unsynced)
{
	enum ck_code rc;

	if ((rc = tx_begin(st, unsynced, err)) != CK_OK)
		return rc;
	tx_point(name, "begin");
	if ((rc = body(st, arg, err)) != CK_OK)
		goto out;
	tx_point(name, "commit");
	if ((rc = st_commit(st, err)) != CK_OK)
		goto out;
	tx_point(name, "committed");
out:
	st_rollback(st);
	return rc;
}

static enum ck_code
tx_run(struct ck_store *st, struct ck_err *err, const char *name, st_tx_body body, void *arg,
       int unsynced)
{
	int outermost = st->in_tx == 0;
	unsigned attempt, wait_ms = ST_TX_RETRY_MS;
	enum ck_code rc = CK_ERR_INTERNAL;

	for (attempt = 0; attempt < ST_TX_RETRY_MAX; attempt++) {
		st->last_fail = ST_FAIL_OTHER;
		rc = tx_once(st, err, name, body, arg, unsynced);
		/* A lost race changed nothing: the whole transaction may run again,
		 * but only at the outermost level (a savepoint's enclosing
		 * transaction is aborted on a database that reports it). */
		if (rc == CK_OK || !outermost || st->last_fail != ST_FAIL_RETRY)
			break;
		ck_log(&st->ctx->log, CK_LOG_DEBUG, "store: %s lost a race with another writer; "
		       "running it again", name);
		ck_sleep_ms(st->ctx, wait_ms / 2 + (unsigned)ck_random_below(wait_ms / 2 + 1));
		wait_ms = wait_ms * 2 > ST_TX_RETRY_CAP_MS ? ST_TX_RETRY_CAP_MS : wait_ms * 2;
	}
	return rc;
}

enum ck_code
st_tx_run(struct ck_store *st, struct ck_err *err, const char *name, st_tx_body body, void *arg)
{
	return tx_run(st, err, name, body, arg, 0);
}

enum ck_code
st_tx_run_unsynced(struct ck_store *st, struct ck_err *err, const char *name, st_tx_body body,
		   void *arg)
{
	return tx_run(st, err, name, body, arg, 1);
}

/* One statement, its bindings and its result, for st_tx_exec. */
struct tx_exec_args {
	const char *sql;
	const char *fmt;
	va_list ap;
	int changes;
};

static enum ck_code
tx_exec_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct tx_exec_args *a = arg;
	enum ck_code rc;
	va_list ap;

	va_copy(ap, a->ap); /* a retry binds the same values again */
	rc = st_vexec(st, err, &a->changes, a->sql, a->fmt, ap);
	va_end(ap);
	return rc;
}

enum ck_code
st_tx_exec(struct ck_store *st, struct ck_err *err, const char *name, int *changes,
	   const char *sql, const char *fmt, ...)
{
	struct tx_exec_args a;
	enum ck_code rc;

	a.sql = sql;
	a.fmt = fmt;
	a.changes = 0;
	va_start(a.ap, fmt);
	rc = st_tx_run(st, err, name, tx_exec_body, &a);
	va_end(a.ap);
	if (rc == CK_OK && changes != NULL)
		*changes = a.changes;
	return rc;
}

enum ck_code
st_read_begin(struct ck_store *st, struct ck_err *err)
{
	enum ck_code rc;

	if (st->in_tx > 0)
		return CK_OK; /* already inside one snapshot */
	if ((rc = hold_and_begin(st, st->drv->begin_read, "reading the store", err)) != CK_OK)
		return rc;
	st->in_read = 1;
	return CK_OK;
}

void
st_read_end(struct ck_store *st)
{
	if (!st->in_read)
		return;
	st->in_read = 0;
	st->drv->rollback(st->conn); /* it read only: nothing to keep */
	st_let(st);
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
