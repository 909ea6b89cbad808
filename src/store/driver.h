/*
 * driver.h - the store driver seam: the one interface between the store's
 * invariant code (the .c files in src/store/) and a database's C API.  A driver fills a
 * `struct st_driver_ops`; today there is one, SQLite (src/store/sqlite/).
 * docs/store.md says which parts are driver and which are invariant.
 *
 * A driver owns: connecting (and refusing what is not a store before it
 * writes), session settings, the SQL dialect of the schema (its
 * migrations), the rewriting of `?` placeholders if its database wants
 * another form, mapping its errors to the four kinds below, and the
 * clock function ck_now() in SQL (the store's clock, so a test clock
 * reaches queries).  It must never: decide anything the invariants
 * decide (links, generations, what may be deleted), log a bound value,
 * or leave a transaction open when the store closes it.
 *
 * The SQL the invariant code hands a driver is portable: `?` placeholders
 * numbered left to right, `INSERT ... RETURNING id` for new rows, integer
 * (64-bit), text (UTF-8) and blob (bytes) values and NULL, and the
 * function ck_now().  Where it is not yet portable, docs/store.md lists it.
 */
#ifndef CK_STORE_DRIVER_H
#define CK_STORE_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* A driver's connection and prepared statement; defined by the driver. */
struct st_conn;
struct st_drv_stmt;

/* What a failure was, as the invariant code needs to know it. */
enum st_fail {
	ST_FAIL_OTHER = 0,   /* anything else: CK_ERR_STORE with the driver's message */
	ST_FAIL_BUSY,        /* another process holds the lock, after the driver waited */
	ST_FAIL_CONSTRAINT,  /* the schema refused the change (unique, foreign key, check) */
	ST_FAIL_RETRY,       /* the transaction lost a race (serialization failure, deadlock):
			      * nothing was changed; running it again may succeed */
	ST_FAIL_CANCELLED,   /* a wait on the database was ended by the context's cancel flag */
};

/*
 * The operations.  Every int-returning call returns 0 on success and -1
 * on failure, after which errmsg() and fail_kind() describe the failure
 * until the next call on the same connection.  Statement handles belong
 * to the connection that prepared them and are finalized before it
 * closes.  Column indexes count from 0, parameter indexes from 1.
 */
struct st_driver_ops {
	const char *name;

	/*
	 * Connects to the store at `path`.  Without CK_STORE_CREATE in flags
	 * an absent store is CK_ERR_NOT_FOUND and nothing is created; a
	 * location that holds something that is not a certkeep store is
	 * CK_ERR_STORE and is left unchanged.  ctx supplies the clock (for
	 * ck_now() in SQL), sleeping and the log; it outlives the connection.
	 * OUT: *out on success only.
	 */
	enum ck_code (*open)(const char *path, unsigned flags, const struct ck_ctx *ctx,
			     struct st_conn **out, struct ck_err *err);
	/* Closes; NULL is a no-op.  An open transaction is rolled back. */
	void (*close)(struct st_conn *c);

	/* One statement with `?` placeholders.  OUT: *out on success. */
	int (*prepare)(struct st_conn *c, const char *sql, struct st_drv_stmt **out);
	/* Values are copied: the caller's buffer may go away after the call. */
	int (*bind_int64)(struct st_drv_stmt *s, int idx, int64_t v);
	int (*bind_text)(struct st_drv_stmt *s, int idx, const char *t);
	int (*bind_blob)(struct st_drv_stmt *s, int idx, const void *p, size_t n);
	int (*bind_null)(struct st_drv_stmt *s, int idx);
	/* 1: a row is ready; 0: done; -1: failure. */
	int (*step)(struct st_drv_stmt *s);
	/*
	 * The current row's columns.  Text and blob pointers stay valid until
	 * the next step, reset or finalize; a NULL column gives NULL (text,
	 * blob, *len 0) or 0 (int64).
	 */
	int (*column_is_null)(struct st_drv_stmt *s, int i);
	int64_t (*column_int64)(struct st_drv_stmt *s, int i);
	const char *(*column_text)(struct st_drv_stmt *s, int i);
	const void *(*column_blob)(struct st_drv_stmt *s, int i, size_t *len);
	/* Rows changed by the last statement that changed rows. */
	int64_t (*changes)(struct st_conn *c);
	/* Ready to run again with new bindings. */
	int (*reset)(struct st_drv_stmt *s);
	/* NULL is a no-op. */
	void (*finalize)(struct st_drv_stmt *s);

	/* A write transaction that holds the write lock from its start, so it
	 * never fails half-way for want of it. */
	int (*begin)(struct st_conn *c);
	/*
	 * begin() for a transaction whose commit need not reach the disk
	 * before it returns: lost only if the machine itself stops before a
	 * later synced commit, which makes it durable, since every commit after
	 * it includes it (a write-ahead log is written in order).  Only where
	 * every process that shares the store runs on the one machine, so no
	 * process outlives such a loss (SQLite; not PostgreSQL, whose server
	 * may restart under a fleet's live nodes).  Every transaction begin()
	 * opens afterwards commits synced again.  NULL: begin() is used.
	 */
	int (*begin_unsynced)(struct st_conn *c);
	/* A read-only transaction: one consistent snapshot for several reads. */
	int (*begin_read)(struct st_conn *c);
	int (*commit)(struct st_conn *c);
	/* Never fails loudly; a connection without a transaction is left as is. */
	void (*rollback)(struct st_conn *c);
	/*
	 * 1 while the transaction begin() opened is still open and usable; 0
	 * once the database ended it by itself after an error (SQLite rolls
	 * back on out of memory, a full disk or I/O errors; PostgreSQL marks
	 * it aborted on any error).  A statement run after that must be
	 * refused: it would commit on its own, half of a change.
	 */
	int (*tx_alive)(struct st_conn *c);
	/* Nested levels inside begin(): depth 1 is the first savepoint. */
	int (*savepoint)(struct st_conn *c, int depth);
	int (*release)(struct st_conn *c, int depth);
	/* Undoes and ends savepoint `depth`; never fails loudly. */
	void (*rollback_to)(struct st_conn *c, int depth);

	/* Several statements without parameters (a migration's DDL). */
	int (*exec_script)(struct st_conn *c, const char *sql);
	const char *(*errmsg)(struct st_conn *c);
	enum st_fail (*fail_kind)(struct st_conn *c);
	/*
	 * After key material was deleted and committed: make sure no older
	 * copy of it stays in the database's files (SQLite: checkpoint and
	 * truncate the WAL).  Never fails the caller; logs a warning.
	 */
	void (*scrub)(struct st_conn *c);
	/*
	 * Gives back the memory the connection keeps only to be faster (cached
	 * pages; SQLite: sqlite3_db_release_memory), outside a transaction;
	 * nothing it holds changes.  NULL: the driver keeps no such memory.
	 */
	void (*shed)(struct st_conn *c);
	/*
	 * 0 when the connection can serve no more (PostgreSQL: it was lost),
	 * so a pool closes it instead of lending it again.  NULL: always 1.
	 */
	int (*usable)(struct st_conn *c);

	/*
	 * For copying a whole store (copy_store.c): SQL without parameters
	 * whose rows are (table, column, declared type) for every column of
	 * every table of the store, the database's own tables left out.
	 */
	const char *columns_sql;
	/*
	 * After rows were inserted with their ids given: SQL with two `?`
	 * (the table's name, the largest id inserted) after which the
	 * table's next generated id is larger; NULL if the database needs
	 * nothing (SQLite's INTEGER PRIMARY KEY follows its largest id).
	 */
	const char *ids_follow_sql;
	/*
	 * Generations across processes (docs/store.md, "Generations and
	 * caches").  All three NULL for a database without notifications
	 * (SQLite): ck_store_wait_change then polls the counter.
	 *  - notify: inside the write transaction that bumped the generation:
	 *    every listener hears of it when the transaction commits, and
	 *    nobody if it rolls back (PostgreSQL: pg_notify).
	 *  - listen: from now on this connection hears those (idempotent; never
	 *    inside a transaction).  Before the counter is read, so no commit
	 *    falls between the read and the wait.
	 *  - wait_notify: waits at most timeout_ms for one; 1: at least one
	 *    came (every pending one is consumed), 0: none, -1: failure (a lost
	 *    connection).
	 */
	int (*notify)(struct st_conn *c);
	int (*listen)(struct st_conn *c);
	int (*wait_notify)(struct st_conn *c, unsigned timeout_ms);

	/*
	 * The schema in this driver's dialect: the DDL of migration n
	 * (1-based, taking the schema from version n-1 to n; NULL past the
	 * last), run by exec_script inside a transaction.  Migration 0 creates
	 * the schema_version table if it is absent.  Every driver has the same
	 * versions with the same meaning.
	 */
	const char *(*migration)(int n);

	/*
	 * SQL appended to a SELECT of one table's rows inside begin()'s
	 * transaction to lock them until it ends, skipping rows another
	 * transaction holds locked instead of waiting for it (PostgreSQL:
	 * " FOR UPDATE SKIP LOCKED"); "" where begin() already excludes every
	 * other writer and there are no row locks (SQLite).  The renewal lease
	 * (renewal.c) reads its row this way: a row another node is granting
	 * or fencing is busy now, never a queue to wait in.
	 */
	const char *lock_skip_locked;
};

/*
 * The store's error for a failed database call, for drivers and the
 * store alike: kind decides the code (CK_ERR_BUSY for ST_FAIL_BUSY, else
 * CK_ERR_STORE) and the words; msg is the database's own message.
 */
enum ck_code st_fail_err(struct ck_err *err, const char *where, const char *what,
			 enum st_fail kind, const char *msg);

/* The SQLite driver (src/store/sqlite/driver.c). */
extern const struct st_driver_ops st_sqlite_driver;
#ifdef CK_HAVE_POSTGRESQL
/* The PostgreSQL driver (src/store/pg/driver.c), when built with libpq. */
extern const struct st_driver_ops st_pg_driver;
#endif

/*
 * Whether a store location names a PostgreSQL database: a URI starting
 * "postgresql://" or "postgres://", or a libpq keyword string (it starts
 * with one of libpq's keywords followed by '=', e.g. "host=... dbname=...";
 * a file path never contains '=' before its first '/').  Anything else is
 * a SQLite file path.
 */
int st_location_is_pg(const char *path);

#endif
