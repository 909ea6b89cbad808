/*
 * copy_store.c - a whole store copied to another location, engine to
 * engine (`certkeep store copy --to`): the destination's schema and every
 * row of every table in ONE destination transaction, read from one
 * snapshot of the source, then verified.  Tables and columns come from
 * the databases' own catalogs (the driver's columns_sql), so what a later
 * migration adds travels without a change here; a column type other than
 * integer, text or blob stops the copy before anything is written.
 * docs/store.md ("Copying a whole store") explains the choices.
 *
 * Must never: write into a store that already holds rows, change the
 * source, change an id (a sealed key's associated data is its row id;
 * references are ids), leave part of a copy committed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "store/store_int.h"

#define CS_COLS_MAX 32
#define CS_NAME_MAX 63
/* every table of a store: the copied ones and the schema's own */
#define CS_ALL_TABLES_MAX (CK_STORE_COPY_TABLES_MAX + 8)

struct cs_table {
	char name[CS_NAME_MAX + 1];
	char col[CS_COLS_MAX][CS_NAME_MAX + 1];
	char kind[CS_COLS_MAX];   /* 'i' integer, 't' text, 'b' blob */
	int ncols;
};

struct cs_schema {
	struct cs_table t[CS_ALL_TABLES_MAX];
	int n;
};

/* One copy: both stores, both catalogs, the plan and the results. */
struct cs_job {
	struct ck_store *src, *dst;
	char where[512];          /* the destination, password redacted */
	struct cs_schema ssch, dsch;
	const struct cs_table *plan[CK_STORE_COPY_TABLES_MAX];
	int nplan;
	struct ck_store_copy_summary sum;
};

/*
 * Tables the schema itself fills (migrations write their rows in both
 * stores) and the generation counter (set, not copied): never copied.
 */
static const char *const cs_own[] = { "schema_version", "certkeep_store", "generation" };
/* Tables whose rows others refer to come first; any other table follows, by name. */
static const char *const cs_order[] = {
	"settings", "keys", "lineages", "certificates", "chain", "accounts",
	"orders", "requests", "bindings", "renewal", "rate_limits",
};
/* Columns that refer to a table copied later: written once it is there. */
static const struct {
	const char *table, *col;
} cs_deferred[] = {
	{ "lineages", "current_cert_id" },
};

static int
cs_name_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n > 0 && n <= CS_NAME_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* 'i', 't' or 'b' for a declared column type (SQLite's or PostgreSQL's), else 0. */
static char
cs_kind(const char *type)
{
	char low[64];
	size_t i;

	for (i = 0; type != NULL && type[i] != '\0' && i + 1 < sizeof(low); i++)
		low[i] = (char)(type[i] >= 'A' && type[i] <= 'Z' ? type[i] + 32 : type[i]);
	low[i] = '\0';
	if (strstr(low, "int") != NULL)
		return 'i';
	if (strcmp(low, "text") == 0 || strstr(low, "char") != NULL)
		return 't';
	if (strcmp(low, "blob") == 0 || strcmp(low, "bytea") == 0)
		return 'b';
	return 0;
}

static int
cs_is_own(const char *table)
{
	size_t i;

	for (i = 0; i < CK_ARRAY_LEN(cs_own); i++)
		if (strcmp(table, cs_own[i]) == 0)
			return 1;
	return 0;
}

static int
cs_is_deferred(const char *table, const char *col)
{
	size_t i;

	for (i = 0; i < CK_ARRAY_LEN(cs_deferred); i++)
		if (strcmp(table, cs_deferred[i].table) == 0 && strcmp(col, cs_deferred[i].col) == 0)
			return 1;
	return 0;
}

static const struct cs_table *
cs_find(const struct cs_schema *sch, const char *name)
{
	int i;

	for (i = 0; i < sch->n; i++)
		if (strcmp(sch->t[i].name, name) == 0)
			return &sch->t[i];
	return NULL;
}

static int
cs_table_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cs_table *)a)->name, ((const struct cs_table *)b)->name);
}

/* Adds column (table, col, type) of the catalog row to sch. */
static enum ck_code
cs_schema_add(struct cs_schema *sch, const char *table, const char *col, const char *type,
	      const char *where, struct ck_err *err)
{
	struct cs_table *t = (struct cs_table *)cs_find(sch, table != NULL ? table : "");
	char kind = cs_kind(type);

	if (!cs_name_ok(table) || !cs_name_ok(col))
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "%s has a table or column named '%s.%s' "
			       "that store copy does not carry; nothing was written",
			       where, table ? table : "", col ? col : "");
	if (kind == 0)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "column %s.%s of %s has the type '%s', "
			       "which store copy does not know how to carry; nothing was written",
			       table, col, where, type ? type : "");
	if (t == NULL) {
		if (sch->n >= CS_ALL_TABLES_MAX)
			return CK_FAIL(err, CK_ERR_UNSUPPORTED, "%s has more than %d tables, more "
				       "than store copy carries; nothing was written", where,
				       CS_ALL_TABLES_MAX);
		t = &sch->t[sch->n++];
		snprintf(t->name, sizeof(t->name), "%s", table);
	}
	if (t->ncols >= CS_COLS_MAX)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "table %s of %s has more than %d columns, "
			       "more than store copy carries; nothing was written", table, where,
			       CS_COLS_MAX);
	snprintf(t->col[t->ncols], sizeof(t->col[0]), "%s", col);
	t->kind[t->ncols++] = kind;
	return CK_OK;
}

/* Reads st's tables and columns from its catalog, tables sorted by name. */
static enum ck_code
cs_schema_read(struct ck_store *st, struct cs_schema *sch, const char *where, struct ck_err *err)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r;

	memset(sch, 0, sizeof(*sch));
	if ((rc = st_prepare(st, st->drv->columns_sql, &s, err)) != CK_OK)
		return rc;
	while ((r = st_step(st, s, err)) == 1) {
		if ((rc = cs_schema_add(sch, st_col_text(s, 0), st_col_text(s, 1),
					st_col_text(s, 2), where, err)) != CK_OK)
			break;
	}
	if (r < 0)
		rc = err ? err->code : CK_ERR_STORE;
	st_finalize(s);
	if (rc == CK_OK)
		qsort(sch->t, (size_t)sch->n, sizeof(sch->t[0]), cs_table_cmp);
	return rc;
}

/* The tables to copy, in the order their references need. */
static enum ck_code
cs_plan(struct cs_job *j, struct ck_err *err)
{
	const struct cs_table *t;
	size_t i;
	int k, known;

	j->nplan = 0;
	for (i = 0; i < CK_ARRAY_LEN(cs_order); i++)
		if ((t = cs_find(&j->ssch, cs_order[i])) != NULL)
			j->plan[j->nplan++] = t;
	for (k = 0; k < j->ssch.n; k++) {
		t = &j->ssch.t[k];
		for (i = 0, known = 0; i < CK_ARRAY_LEN(cs_order); i++)
			known |= strcmp(t->name, cs_order[i]) == 0;
		if (known || cs_is_own(t->name))
			continue;
		if (j->nplan >= CK_STORE_COPY_TABLES_MAX)
			return CK_FAIL(err, CK_ERR_UNSUPPORTED, "the store has more than %d tables, "
				       "more than store copy carries; nothing was written",
				       CK_STORE_COPY_TABLES_MAX);
		j->plan[j->nplan++] = t;
	}
	return CK_OK;
}

/* CK_ERR_EXISTS if any table of the destination (but the schema's own) has a row. */
static enum ck_code
cs_dst_check_empty(struct cs_job *j, struct ck_err *err)
{
	enum ck_code rc;
	int64_t n = 0;
	char *sql;
	int i;

	if ((rc = cs_schema_read(j->dst, &j->dsch, j->where, err)) != CK_OK)
		return rc;
	for (i = 0; i < j->dsch.n; i++) {
		if (cs_is_own(j->dsch.t[i].name))
			continue;
		if ((sql = st_printf("SELECT count(*) FROM %s", j->dsch.t[i].name)) == NULL)
			return CK_OOM(err);
		rc = st_query_int(j->dst, err, &n, sql, "");
		free(sql);
		if (rc != CK_OK)
			return rc;
		if (n > 0)
			return CK_FAIL(err, CK_ERR_EXISTS, "%s already holds a store (table %s has "
				       "%lld rows); it was not changed: store copy writes only into "
				       "an absent or empty store", j->where, j->dsch.t[i].name,
				       (long long)n);
	}
	return CK_OK;
}

/* Every table and column of the source exists at the destination, and no more. */
static enum ck_code
cs_check_same(const struct cs_schema *a, const struct cs_schema *b, const char *where,
	      struct ck_err *err)
{
	const struct cs_table *t, *u;
	int i, k, m, found;

	for (m = 0; m < 2; m++) {
		const struct cs_schema *x = m ? b : a, *y = m ? a : b;
		for (i = 0; i < x->n; i++) {
			t = &x->t[i];
			if (cs_is_own(t->name))
				continue; /* one engine's marker, not the other's */
			u = cs_find(y, t->name);
			for (k = 0, found = u != NULL; u != NULL && k < t->ncols && found; k++) {
				int c;
				for (c = 0, found = 0; c < u->ncols; c++)
					found |= strcmp(t->col[k], u->col[c]) == 0;
			}
			if (!found)
				return CK_FAIL(err, CK_ERR_STORE, "the schemas differ: %s has table "
					       "%s%s%s and %s has not; nothing was written",
					       m ? where : "the source", t->name, u ? "." : "",
					       u ? t->col[k - 1] : "", m ? "the source" : where);
		}
	}
	return CK_OK;
}

/* "SELECT a, b FROM t" (all columns) or "INSERT INTO t (a, b) VALUES (?, ?)"
 * (the deferred ones left out: they start NULL).  NULL on NOMEM. */
static char *
cs_sql(const struct cs_table *t, int insert)
{
	size_t cap = 64 + (size_t)t->ncols * (CS_NAME_MAX + 8), len;
	char *b = malloc(cap);
	int k, n = 0;

	if (b == NULL)
		return NULL;
	len = (size_t)snprintf(b, cap, insert ? "INSERT INTO %s (" : "SELECT ", t->name);
	for (k = 0; k < t->ncols; k++) {
		if (insert && cs_is_deferred(t->name, t->col[k]))
			continue;
		len += (size_t)snprintf(b + len, cap - len, "%s%s", n++ ? ", " : "", t->col[k]);
	}
	if (!insert) {
		snprintf(b + len, cap - len, " FROM %s", t->name);
		return b;
	}
	len += (size_t)snprintf(b + len, cap - len, ") VALUES (");
	for (k = 0; k < n; k++)
		len += (size_t)snprintf(b + len, cap - len, "%s?", k ? ", " : "");
	snprintf(b + len, cap - len, ")");
	return b;
}

/* Binds row of sel (t's columns) to ins, deferred columns left out; *id: its id column. */
static enum ck_code
cs_bind_row(struct ck_store *dst, const struct cs_table *t, struct st_stmt *sel,
	    struct st_stmt *ins, int64_t *id, struct ck_err *err)
{
	enum ck_code rc;
	int k, idx = 1;

	for (k = 0; k < t->ncols; k++) {
		if (strcmp(t->col[k], "id") == 0 && t->kind[k] == 'i')
			*id = st_col_int64(sel, k);
		if (cs_is_deferred(t->name, t->col[k]))
			continue;
		if ((rc = st_bind_col(dst, ins, idx++, sel, k, t->kind[k], err)) != CK_OK)
			return rc;
	}
	return CK_OK;
}

/* Copies every row of t; *rows: how many.  Inside the destination's transaction. */
static enum ck_code
cs_copy_table(struct cs_job *j, const struct cs_table *t, int64_t *rows, struct ck_err *err)
{
	struct st_stmt *sel = NULL, *ins = NULL;
	char *qs = cs_sql(t, 0), *qi = cs_sql(t, 1);
	int64_t id = 0, max_id = 0;
	enum ck_code rc = CK_ERR_NOMEM;
	int r;

	*rows = 0;
	if (qs == NULL || qi == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	if ((rc = st_prepare(j->src, qs, &sel, err)) != CK_OK ||
	    (rc = st_prepare(j->dst, qi, &ins, err)) != CK_OK)
		goto out;
	while ((r = st_step(j->src, sel, err)) == 1) {
		if ((rc = cs_bind_row(j->dst, t, sel, ins, &id, err)) != CK_OK)
			goto out;
		if (st_step(j->dst, ins, err) < 0 || (rc = st_reset(j->dst, ins, err)) != CK_OK) {
			rc = err ? err->code : CK_ERR_STORE;
			goto out;
		}
		max_id = id > max_id ? id : max_id;
		(*rows)++;
	}
	rc = r < 0 ? (err ? err->code : CK_ERR_STORE) : CK_OK;
	if (rc == CK_OK && max_id > 0 && j->dst->drv->ids_follow_sql != NULL)
		rc = st_exec(j->dst, err, NULL, j->dst->drv->ids_follow_sql, "ti", t->name, max_id);
out:
	st_finalize(ins);
	st_finalize(sel);
	free(qi);
	free(qs);
	return rc;
}

/* Writes the deferred columns (references to tables copied later), by id. */
static enum ck_code
cs_copy_deferred(struct cs_job *j, struct ck_err *err)
{
	struct st_stmt *sel = NULL, *upd = NULL;
	char *qs = NULL, *qu = NULL;
	enum ck_code rc = CK_OK;
	size_t i;
	int r;

	for (i = 0; i < CK_ARRAY_LEN(cs_deferred) && rc == CK_OK; i++) {
		const char *t = cs_deferred[i].table, *c = cs_deferred[i].col;
		if (cs_find(&j->ssch, t) == NULL)
			continue;
		qs = st_printf("SELECT id, %s FROM %s WHERE %s IS NOT NULL", c, t, c);
		qu = st_printf("UPDATE %s SET %s = ? WHERE id = ?", t, c);
		if (qs == NULL || qu == NULL)
			rc = CK_OOM(err);
		if (rc == CK_OK && (rc = st_prepare(j->src, qs, &sel, err)) == CK_OK &&
		    (rc = st_prepare(j->dst, qu, &upd, err)) == CK_OK) {
			while (rc == CK_OK && (r = st_step(j->src, sel, err)) == 1) {
				if ((rc = st_bind_col(j->dst, upd, 1, sel, 1, 'i', err)) != CK_OK ||
				    (rc = st_bind_col(j->dst, upd, 2, sel, 0, 'i', err)) != CK_OK)
					break;
				if (st_step(j->dst, upd, err) < 0)
					rc = err ? err->code : CK_ERR_STORE;
				else
					rc = st_reset(j->dst, upd, err);
			}
			if (rc == CK_OK && r < 0)
				rc = err ? err->code : CK_ERR_STORE;
		}
		st_finalize(upd);
		st_finalize(sel);
		upd = sel = NULL;
		free(qu);
		free(qs);
		qu = qs = NULL;
	}
	return rc;
}

/* The destination's one transaction: schema, every table, references, generation. */
static enum ck_code
cs_copy_tx(struct cs_job *j, struct ck_err *err)
{
	enum ck_code rc;
	int i;

	if ((rc = st_begin(j->dst, err)) != CK_OK)
		return rc;
	/* Looked at inside the transaction: nobody writes there between the look and the copy. */
	if ((rc = cs_dst_check_empty(j, err)) != CK_OK ||
	    (rc = st_schema_migrate(j->dst, err)) != CK_OK)
		goto out;
	if (j->dst->schema_version != j->src->schema_version) {
		rc = CK_FAIL(err, CK_ERR_UNSUPPORTED, "%s would have schema version %d, the source "
			     "has %d; nothing was written", j->where, j->dst->schema_version,
			     j->src->schema_version);
		goto out;
	}
	if ((rc = cs_schema_read(j->dst, &j->dsch, j->where, err)) != CK_OK ||
	    (rc = cs_check_same(&j->ssch, &j->dsch, j->where, err)) != CK_OK)
		goto out;
	for (i = 0; i < j->nplan; i++) {
		snprintf(j->sum.tables[i].name, sizeof(j->sum.tables[i].name), "%s",
			 j->plan[i]->name);
		if ((rc = cs_copy_table(j, j->plan[i], &j->sum.tables[i].rows, err)) != CK_OK)
			goto out;
		j->sum.n = (size_t)i + 1;
		CK_FAULT("store.copy_all.table");
	}
	if ((rc = cs_copy_deferred(j, err)) != CK_OK)
		goto out;
	/* Greater than any generation read from the source: a cache keyed by it reloads. */
	j->sum.dst_generation = j->sum.src_generation + 1;
	if ((rc = st_exec(j->dst, err, NULL, "UPDATE generation SET value = ? WHERE id = 1", "i",
			  (int64_t)j->sum.dst_generation)) != CK_OK)
		goto out;
	CK_FAULT("store.copy_all.commit");
	if ((rc = st_commit(j->dst, err)) != CK_OK)
		goto out;
	CK_FAULT("store.copy_all.committed");
out:
	st_rollback(j->dst);
	return rc;
}

/* ---- verification, after the commit ------------------------------------ */

/* The difference found: CK_ERR_CORRUPT saying the destination stays as written. */
static enum ck_code
cs_differs(const struct cs_job *j, const char *what, struct ck_err *err)
{
	return CK_FAIL(err, CK_ERR_CORRUPT, "the copy at %s differs from the source: %s; the "
		       "destination was left as written (committed): remove it before copying "
		       "again", j->where, what);
}

/* SHA-256 hex of blob column i, "none" for NULL. */
static void
cs_digest(struct st_stmt *s, int i, char out[65])
{
	size_t n = 0;
	const void *p = st_col_blob_ref(s, i, &n);

	if (st_col_is_null(s, i))
		snprintf(out, 65, "none");
	else
		ck_sha256_hex(p != NULL ? p : (const void *)"", p != NULL ? n : 0, out);
}

/*
 * Runs sql (rows: a label, a blob; same order in both) on both stores and
 * compares them row by row: the labels, and the blobs by SHA-256.  what
 * names a row in the message ("certificate", "key").
 */
static enum ck_code
cs_verify_pairs(struct cs_job *j, const char *sql, const char *what, const char *blob,
		struct ck_err *err)
{
	struct st_stmt *a = NULL, *b = NULL;
	char da[65], db[65], msg[400];
	enum ck_code rc;
	int ra, rb;

	if ((rc = st_prepare(j->src, sql, &a, err)) != CK_OK ||
	    (rc = st_prepare(j->dst, sql, &b, err)) != CK_OK)
		goto out;
	for (;;) {
		ra = st_step(j->src, a, err);
		rb = ra < 0 ? 0 : st_step(j->dst, b, err);
		if (ra < 0 || rb < 0) {
			rc = err ? err->code : CK_ERR_STORE;
			goto out;
		}
		if (ra != rb) {
			snprintf(msg, sizeof(msg), "the %s %s %s is missing %s", what,
				 st_col_text(ra ? a : b, 0), ra ? "of the source" : "found there",
				 ra ? "there" : "in the source");
			rc = cs_differs(j, msg, err);
			goto out;
		}
		if (ra == 0)
			break;
		cs_digest(a, 1, da);
		cs_digest(b, 1, db);
		if (strcmp(st_col_text(a, 0), st_col_text(b, 0)) != 0 || strcmp(da, db) != 0) {
			snprintf(msg, sizeof(msg), "%s %s: %s %.16s in the source, %s %s there", what,
				 st_col_text(a, 0), blob, da, st_col_text(b, 0), db);
			rc = cs_differs(j, msg, err);
			goto out;
		}
	}
	rc = CK_OK;
out:
	st_finalize(b);
	st_finalize(a);
	return rc;
}

/* Row counts per table equal in both (and to what was copied). */
static enum ck_code
cs_verify_counts(struct cs_job *j, struct ck_err *err)
{
	int64_t ns = 0, nd = 0;
	enum ck_code rc = CK_OK;
	char *sql, msg[200];
	size_t i;

	for (i = 0; i < j->sum.n && rc == CK_OK; i++) {
		if ((sql = st_printf("SELECT count(*) FROM %s", j->sum.tables[i].name)) == NULL)
			return CK_OOM(err);
		if ((rc = st_query_int(j->src, err, &ns, sql, "")) == CK_OK &&
		    (rc = st_query_int(j->dst, err, &nd, sql, "")) == CK_OK &&
		    (ns != nd || nd != j->sum.tables[i].rows)) {
			snprintf(msg, sizeof(msg), "table %s has %lld rows in the source, %lld there",
				 j->sum.tables[i].name, (long long)ns, (long long)nd);
			rc = cs_differs(j, msg, err);
		}
		free(sql);
	}
	return rc;
}

/*
 * Opens every software key at the destination (ck_store_key_load checks
 * it against its stored public key), when it can: a plain store, or a
 * sealed one whose node key the source was given (the same key opens it:
 * the ids did not change).
 */
static enum ck_code
cs_verify_keys_load(struct cs_job *j, struct ck_err *err)
{
	struct st_stmt *s = NULL;
	EVP_PKEY *k = NULL;
	enum ck_code rc;
	char msg[CK_ERR_MSG_MAX + 64];
	int r;

	if (j->sum.sealed && !j->src->seal_have)
		return CK_OK;
	if (j->sum.sealed) {
		memcpy(j->dst->seal_key, j->src->seal_key, sizeof(j->dst->seal_key));
		j->dst->seal_have = 1;
	}
	if ((rc = st_prepare(j->dst, "SELECT id FROM keys WHERE pkcs8_der IS NOT NULL ORDER BY id",
			     &s, err)) != CK_OK)
		return rc;
	while ((r = st_step(j->dst, s, err)) == 1) {
		if ((rc = ck_store_key_load(j->dst, st_col_int64(s, 0), &k, err)) != CK_OK) {
			snprintf(msg, sizeof(msg), "key %lld does not open: %s",
				 (long long)st_col_int64(s, 0), err ? err->msg : "");
			rc = cs_differs(j, msg, err);
			break;
		}
		EVP_PKEY_free(k);
		k = NULL;
		j->sum.keys_loaded++;
	}
	if (r < 0)
		rc = err ? err->code : CK_ERR_STORE;
	st_finalize(s);
	return rc;
}

/*
 * After the commit, with the source still in its snapshot: counts, then
 * certificates, keys (public and stored private), lineages' current
 * certificates, compared row by row by id; then the keys opened there.
 */
static enum ck_code
cs_verify(struct cs_job *j, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_read_begin(j->dst, err)) != CK_OK)
		return rc;
	if ((rc = cs_verify_counts(j, err)) == CK_OK &&
	    (rc = cs_verify_pairs(j, "SELECT id, der FROM certificates ORDER BY id", "certificate",
				  "SHA-256", err)) == CK_OK &&
	    (rc = cs_verify_pairs(j, "SELECT id, spki_der FROM keys ORDER BY id", "key",
				  "public-key thumbprint", err)) == CK_OK &&
	    (rc = cs_verify_pairs(j, "SELECT id, pkcs8_der FROM keys ORDER BY id", "key",
				  "stored private key", err)) == CK_OK)
		rc = cs_verify_pairs(j, "SELECT l.name, c.der FROM lineages l LEFT JOIN "
				     "certificates c ON c.id = l.current_cert_id ORDER BY l.id",
				     "lineage", "current certificate", err);
	st_read_end(j->dst);
	if (rc == CK_OK)
		rc = cs_verify_keys_load(j, err);
	return rc;
}

/* ---- the whole copy ------------------------------------------------------ */

/* The SQLite destination file and its companions, removed after a failed copy made them. */
static void
cs_remove_created(const char *path)
{
	static const char *const ext[] = { "", "-wal", "-shm", "-journal" };
	char p[4200];
	size_t i;

	for (i = 0; i < CK_ARRAY_LEN(ext); i++) {
		snprintf(p, sizeof(p), "%s%s", path, ext[i]);
		if (unlink(p) != 0 && errno != ENOENT)
			break;
	}
}

/* CK_ERR_INVALID_ARG if dst names the source's own SQLite file. */
static enum ck_code
cs_check_not_self(const struct ck_store *src, const char *dst, struct ck_err *err)
{
	struct stat a, b;

	if (strcmp(src->path, dst) == 0 ||
	    (!st_location_is_pg(dst) && !st_location_is_pg(src->path) && stat(src->path, &a) == 0 &&
	     stat(dst, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the destination is the source store "
			       "itself; nothing was copied");
	return CK_OK;
}

/* Reads the source's catalog, plan and generation, in the snapshot the copy reads. */
static enum ck_code
cs_source(struct cs_job *j, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = cs_schema_read(j->src, &j->ssch, "the source store", err)) != CK_OK ||
	    (rc = cs_plan(j, err)) != CK_OK ||
	    (rc = ck_store_generation(j->src, &j->sum.src_generation, err)) != CK_OK)
		return rc;
	j->sum.sealed = ck_store_is_sealed(j->src);
	j->sum.schema_version = j->src->schema_version;
	return CK_OK;
}

enum ck_code
ck_store_copy_all(struct ck_store *src, const char *dst_location,
		  struct ck_store_copy_summary *out, struct ck_err *err)
{
	struct cs_job *j = NULL;
	enum ck_code rc;
	struct stat sb;
	int created = 0, committed = 0;

	if (src == NULL || dst_location == NULL || dst_location[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no destination store given");
	if ((rc = cs_check_not_self(src, dst_location, err)) != CK_OK)
		return rc;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return CK_OOM(err);
	j->src = src;
	ck_store_location_redact(dst_location, j->where, sizeof(j->where));
	created = !st_location_is_pg(dst_location) && lstat(dst_location, &sb) != 0 &&
		  errno == ENOENT;
	if ((rc = st_read_begin(src, err)) != CK_OK)
		goto out;
	if ((rc = cs_source(j, err)) != CK_OK)
		goto out;
	if ((rc = ck_store_open_ex(dst_location, src->ctx, CK_STORE_CREATE | ST_OPEN_NO_MIGRATE,
				   &j->dst, err)) != CK_OK)
		goto out;
	if ((rc = cs_copy_tx(j, err)) != CK_OK)
		goto out;
	committed = 1;
	if ((rc = cs_verify(j, err)) != CK_OK)
		goto out;
	if (out != NULL)
		*out = j->sum;
out:
	st_read_end(src);
	ck_store_close(j->dst);
	if (rc != CK_OK && created && !committed)
		cs_remove_created(dst_location);
	free(j);
	return rc;
}
