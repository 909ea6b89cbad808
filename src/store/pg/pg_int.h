/*
 * pg/pg_int.h - what the PostgreSQL driver's files share.
 */
#ifndef CK_STORE_PG_INT_H
#define CK_STORE_PG_INT_H

#include <stddef.h>

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

#endif
