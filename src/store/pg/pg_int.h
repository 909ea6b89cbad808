/*
 * pg/pg_int.h - what the PostgreSQL driver's files share.
 */
#ifndef CK_STORE_PG_INT_H
#define CK_STORE_PG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "store/pg/pq_api.h"

/* How long one statement may wait for the server (CERTKEEP_STORE_TIMEOUT
 * overrides, in seconds), and a connection attempt (the URL's
 * connect_timeout overrides; never longer than a statement's). */
#define PG_STMT_TIMEOUT_S 30
#define PG_CONNECT_TIMEOUT_S 10
#define PG_STORE_TIMEOUT_ENV "CERTKEEP_STORE_TIMEOUT"
#define PG_STORE_TIMEOUT_MAX_S 86400

/* A connection: libpq's, NULL once it was given up (a wait past its deadline). */
struct st_conn {
	PGconn *pg;
	const struct ck_ctx *ctx;
	char msg[512];
	char sqlstate[6];
	char where[160];          /* "HOST:PORT" for messages, never the password */
	int64_t changes;
	int listening;            /* LISTEN PG_CHANNEL was run on this connection */
	int cancelled;            /* the last failure: a wait ended by the cancel flag */
	int gave_up;              /* the last failure: a wait given up (c->msg says why) */
	unsigned stmt_ms;         /* the deadline of one statement */
	long long heard_ms;       /* ck_mono_ms() when the server last answered */
};

/* The DDL of migration n (1-based) in PostgreSQL's dialect, NULL past the
 * last; 0: the schema_version table, created if absent. */
const char *st_pg_migration(int n);

/*
 * Rewrites the store's portable SQL for PostgreSQL: `?` -> `$1`, `$2`, ...
 * (`?N` -> `$N`) and `ck_now()` -> `$K::bigint`, K one past the last
 * placeholder, outside string literals.  *nparams: K-1; *now_idx: K if
 * ck_now() appears, else 0.  Returns a new string (free()) or NULL.
 */
char *st_pg_rewrite(const char *sql, int *nparams, int *now_idx);

/*
 * Connects c->pg to conninfo without blocking past the connect deadline
 * (the URL's connect_timeout, else PG_CONNECT_TIMEOUT_S capped by the
 * statement deadline; per host, in order, when conninfo names several)
 * and ends the wait early when c->ctx is cancelled.
 * Reads CERTKEEP_STORE_TIMEOUT into c->stmt_ms first.  0, or -1 with
 * c->msg saying what happened (c->pg may be set; the caller finishes it).
 */
int st_pg_connect(struct st_conn *c, const char *conninfo);

/*
 * Runs sql (nparams < 0: without parameters, several statements allowed)
 * and waits for its answer at most c->stmt_ms; a cancelled context cuts
 * the wait to a short grace.  Returns the result (the first failed one
 * when several statements ran; the caller clears it and looks at its
 * status), or NULL with c->msg set: the connection failed, or the wait was
 * given up, and then the connection was closed (c->pg NULL: every later
 * call fails at once) after a best-effort cancel of the statement, and
 * c->msg says whether the transaction's outcome is known.
 */
PGresult *st_pg_exec(struct st_conn *c, const char *sql, int nparams, const unsigned *types,
		     const char *const *vals, const int *lens, const int *fmts);

/* Records the failure of res (or of the connection when res is NULL). */
void st_pg_set_fail(struct st_conn *c, const PGresult *res);

#endif
