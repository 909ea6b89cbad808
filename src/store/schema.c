/*
 * schema.c - applies the driver's migrations (its dialect's DDL, e.g.
 * sqlite/schema.c) in order.  Migration N (1-based) takes the database
 * from version N-1 to N, in one transaction that also records the new
 * version; the version is re-read inside the transaction so two processes
 * opening a new store at once apply each migration exactly once.
 * docs/store.md documents every table.
 *
 * Must never: apply a migration twice, touch a store newer than the build.
 */
#include <string.h>

#include "store/store_int.h"

static enum ck_code
read_version(struct ck_store *st, int *out, struct ck_err *err)
{
	int64_t v = 0;
	enum ck_code rc;

	rc = st_query_int(st, err, &v, "SELECT max(version) FROM schema_version", "");
	if (rc == CK_ERR_NOT_FOUND) {
		*out = 0;
		return CK_OK;
	}
	if (rc == CK_OK)
		*out = (int)v;
	return rc;
}

/* Applies migration *(int *)arg unless another process did it first. */
static enum ck_code
apply_one(struct ck_store *st, void *arg, struct ck_err *err)
{
	int n = *(const int *)arg, have = 0;
	enum ck_code rc;

	if ((rc = read_version(st, &have, err)) != CK_OK || have >= n)
		return rc;
	if (st->drv->exec_script(st->conn, st->drv->migration(n)) != 0)
		return ST_DB_FAIL(st, err, "migrating the store schema");
	return st_exec(st, err, NULL, "INSERT INTO schema_version (version, applied) VALUES (?, ?)",
		       "ii", (int64_t)n, (int64_t)st_now(st));
}

/* How many migrations the driver has: the schema version this build makes. */
static int
schema_version_max(const struct ck_store *st)
{
	int n = 0;

	while (st->drv->migration(n + 1) != NULL)
		n++;
	return n;
}

enum ck_code
st_schema_migrate(struct ck_store *st, struct ck_err *err)
{
	int have = 0, n, max = schema_version_max(st);
	enum ck_code rc;

	if (st->drv->exec_script(st->conn, st->drv->migration(0)) != 0)
		return ST_DB_FAIL(st, err, "creating the schema version table");
	if ((rc = read_version(st, &have, err)) != CK_OK)
		return rc;
	if (have > max)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED,
			       "the store %s has schema version %d, newer than this certkeep "
			       "understands (%d); nothing was changed: use a newer certkeep",
			       st->path, have, max);
	for (n = have + 1; n <= max; n++) {
		if ((rc = st_tx_run(st, err, "store.migrate", apply_one, &n)) != CK_OK)
			return rc;
	}
	st->schema_version = max;
	return CK_OK;
}
