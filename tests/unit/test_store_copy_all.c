/*
 * test_store_copy_all.c - a whole store copied to another location
 * (ck_store_copy_all, `certkeep store copy`).  A store with a row in
 * every table and a value in every column is copied and copied back; both
 * copies hold exactly the source's rows, read here with each database's
 * own C API (not with the code under test).  On the @pg pass the copies go
 * PostgreSQL -> SQLite -> PostgreSQL.  Also: refusals (a store with rows,
 * a foreign database, the source itself), failures and kills leave
 * nothing, a sealed store stays sealed, and a copy that differs from its
 * source is an error naming the difference.
 *
 * The guard for later migrations: test_copy_carries_every_column fails
 * while any table of a new store has no row, or any column no value, in
 * the fixture below; give it one in fill_every_table and the test proves
 * store copy carries it.
 */
#include <signal.h>
#include <sys/wait.h>

#include "test_store_util.h"

#define T_ROWS_MAX 4000

/* A store's content: one string per row, "table|col=value|col=value..." (columns by name). */
struct t_dump {
	char *row[T_ROWS_MAX];
	size_t n;
	char tables[64][64];      /* tables seen (with or without rows) */
	size_t ntables;
	char cols[512][130];      /* "table.column" of every row seen */
	int filled[512];          /* that column had a value in some row */
	size_t ncols;
};

/* Records that table.col was seen, with a value or not. */
static void
t_dump_col(struct t_dump *d, const char *table, const char *col, int has_value)
{
	char tc[130];
	size_t i;

	snprintf(tc, sizeof(tc), "%s.%s", table, col);
	for (i = 0; i < d->ncols && strcmp(d->cols[i], tc) != 0; i++)
		;
	if (i == d->ncols) {
		assert_true(d->ncols < 512);
		snprintf(d->cols[d->ncols++], sizeof(d->cols[0]), "%s", tc);
	}
	d->filled[i] |= has_value;
}

/* Tables the schema fills itself (or that differ on purpose), not compared. */
static int
t_own(const char *table)
{
	return strcmp(table, "schema_version") == 0 || strcmp(table, "generation") == 0 ||
	       strcmp(table, "certkeep_store") == 0 || strncmp(table, "sqlite_", 7) == 0;
}

static int
t_str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends one row from n (name, value) pairs, NULL value = SQL NULL. */
static void
t_dump_row(struct t_dump *d, const char *table, char **names, char **vals, int n)
{
	char *items[64], *row;
	size_t len = strlen(table) + 1;
	int i;

	assert_true(n <= 64 && d->n < T_ROWS_MAX);
	for (i = 0; i < n; i++) {
		size_t l = strlen(names[i]) + (vals[i] ? strlen(vals[i]) : 6) + 3;
		t_dump_col(d, table, names[i], vals[i] != NULL);
		items[i] = malloc(l);
		assert_non_null(items[i]);
		snprintf(items[i], l, "%s=%s", names[i], vals[i] ? vals[i] : "<null>");
		len += l;
	}
	qsort(items, (size_t)n, sizeof(char *), t_str_cmp);
	row = malloc(len + 1);
	assert_non_null(row);
	strcpy(row, table);
	for (i = 0; i < n; i++) {
		strcat(row, "|");
		strcat(row, items[i]);
		free(items[i]);
	}
	d->row[d->n++] = row;
}

static void
t_dump_table_seen(struct t_dump *d, const char *table)
{
	assert_true(d->ntables < 64);
	snprintf(d->tables[d->ntables++], sizeof(d->tables[0]), "%s", table);
}

static void
t_dump_sqlite(const char *path, struct t_dump *d)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *t = NULL, *s = NULL;
	char sql[200], *names[64], *vals[64];
	int i, n;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = "
					    "'table' ORDER BY name", -1, &t, NULL), SQLITE_OK);
	while (sqlite3_step(t) == SQLITE_ROW) {
		const char *table = (const char *)sqlite3_column_text(t, 0);
		if (t_own(table))
			continue;
		t_dump_table_seen(d, table);
		snprintf(sql, sizeof(sql), "SELECT * FROM %s", table);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
		while (sqlite3_step(s) == SQLITE_ROW) {
			n = sqlite3_column_count(s);
			for (i = 0; i < n; i++) {
				names[i] = (char *)sqlite3_column_name(s, i);
				vals[i] = NULL;
				if (sqlite3_column_type(s, i) == SQLITE_BLOB) {
					const unsigned char *b = sqlite3_column_blob(s, i);
					int k, len = sqlite3_column_bytes(s, i);
					vals[i] = malloc((size_t)len * 2 + 3);
					strcpy(vals[i], "\\x");
					for (k = 0; k < len; k++)
						sprintf(vals[i] + 2 + k * 2, "%02x", b[k]);
				} else if (sqlite3_column_type(s, i) != SQLITE_NULL) {
					vals[i] = strdup((const char *)sqlite3_column_text(s, i));
				}
			}
			t_dump_row(d, table, names, vals, n);
			for (i = 0; i < n; i++)
				free(vals[i]);
		}
		sqlite3_finalize(s);
	}
	sqlite3_finalize(t);
	sqlite3_close(db);
}

#ifdef CK_HAVE_POSTGRESQL
static void
t_dump_pg(const char *url, struct t_dump *d)
{
	PGconn *c = PQconnectdb(url);
	PGresult *t, *r;
	char sql[200], *names[64], *vals[64];
	int i, k, row;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	t = PQexec(c, "SELECT table_name FROM information_schema.tables WHERE table_schema = "
		   "current_schema() ORDER BY 1");
	assert_int_equal(PQresultStatus(t), PGRES_TUPLES_OK);
	for (k = 0; k < PQntuples(t); k++) {
		const char *table = PQgetvalue(t, k, 0);
		if (t_own(table))
			continue;
		t_dump_table_seen(d, table);
		snprintf(sql, sizeof(sql), "SELECT * FROM %s", table);
		r = PQexec(c, sql);
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		for (row = 0; row < PQntuples(r); row++) {
			for (i = 0; i < PQnfields(r); i++) {
				names[i] = PQfname(r, i);
				vals[i] = PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
			}
			t_dump_row(d, table, names, vals, PQnfields(r));
		}
		PQclear(r);
	}
	PQclear(t);
	PQfinish(c);
}
#endif

static void
t_dump(const char *loc, struct t_dump *d)
{
	memset(d, 0, sizeof(*d));
	if (strstr(loc, "://") == NULL)
		t_dump_sqlite(loc, d);
	else {
#ifdef CK_HAVE_POSTGRESQL
		t_dump_pg(loc, d);
#else
		fail_msg("no PostgreSQL in this build");
#endif
	}
	qsort(d->row, d->n, sizeof(char *), t_str_cmp);
}

static void
t_dump_free(struct t_dump *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->row[i]);
	d->n = 0;
}

/* Both dumps hold exactly the same rows. */
static void
t_dump_same(const struct t_dump *a, const struct t_dump *b, const char *what)
{
	size_t i;

	for (i = 0; i < a->n && i < b->n; i++)
		if (strcmp(a->row[i], b->row[i]) != 0)
			fail_msg("%s: the source has row\n  %.600s\nwhere the copy has\n  %.600s", what,
				 a->row[i], b->row[i]);
	if (a->n != b->n)
		fail_msg("%s: %zu rows in the source, %zu in the copy", what, a->n, b->n);
}

/* Runs a printf-formatted statement on the store at loc (SQLite file or PostgreSQL). */
static void __attribute__((format(printf, 2, 3)))
t_sqlf(const char *loc, const char *fmt, ...)
{
	char sql[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	t_sql(loc, sql);
}

/*
 * A row in every table, a value in every column (two rows where a CHECK
 * makes columns exclusive).  A migration that adds a table or a column
 * adds its value here.  Returns the software key (EVP_PKEY_free).
 */
static EVP_PKEY *
fill_every_table(struct t_env *e)
{
	EVP_PKEY *k = t_key(CK_KEY_EC256), *tk = t_key(CK_KEY_EC256);
	unsigned char *spki = NULL;
	size_t spki_len = 0;
	int64_t kid, tkid = 0, cid;
	struct t_pki p;
	struct ck_der d;

	t_pki_init(&p, e->now);
	kid = t_put_key(e->st, k);
	assert_int_equal(ck_key_spki_der(tk, &spki, &spki_len, NULL), CK_OK);
	assert_int_equal(ck_store_key_put_token(e->st, "pkcs11:token=copy;id=%01", spki, spki_len,
						&tkid, NULL, NULL), CK_OK);
	t_leaf(&p, k, "copy.test", 7, e->now, 90, &d);
	/* facts (migration 16): the puts above and here record a key fact
	 * (key_id) and a certificate fact (chain_sha256, not_after). */
	cid = t_put_cert(e->st, &d, &p.chain, kid, "lin", NULL);
	assert_int_equal(ck_store_setting_set(e->st, "copy_test", "v", NULL), CK_OK);
	t_sqlf(e->path, "UPDATE lineages SET profile = 'prof', preferred_chain = 'Root X', "
	       "challenge = '{}', token_uri = 'pkcs11:token=copy', token_module = '/m.so', "
	       "token_pin_file = '/pin'");
	t_sqlf(e->path, "UPDATE certificates SET alternates = '[]', revoked_at = 5, "
	       "revoke_reason = 'superseded', chain_selected = 0");
	t_sqlf(e->path, "UPDATE lineages SET due_at = 12345"); /* after the revocation reset it */
	t_sqlf(e->path, "INSERT INTO accounts (name, server, url, key_id, pending_key_id, contacts, "
	       "status, tos_agreed, eab_kid, created, previous_key_id, previous_until) VALUES "
	       "('acc', 'https://ca/dir', 'https://ca/acct/1', %lld, %lld, '[]', 'valid', 1, "
	       "'kid', 11, %lld, 12)", (long long)kid, (long long)kid, (long long)kid);
	t_sqlf(e->path, "INSERT INTO orders (lineage, account_id, key_id, identifiers, url, status, "
	       "finalize_url, closed, cert_id, created, updated) SELECT 'lin', id, %lld, "
	       "'[\"dns:copy.test\"]', 'https://ca/order/1', 'pending', 'https://ca/fin/1', 0, "
	       "%lld, 13, 14 FROM accounts", (long long)kid, (long long)cid);
	t_sqlf(e->path, "INSERT INTO requests (key_id, csr_der, identifiers, lineage, created, "
	       "closed, cert_id) SELECT %lld, der, '[\"dns:copy.test\"]', 'lin', 15, 16, id "
	       "FROM certificates", (long long)kid);
	t_sqlf(e->path, "INSERT INTO bindings (name, lineage, pinned_sha256, target, last_sha256, "
	       "state, updated, reload, verify, deployed_at, result, generation, pending_sha256, "
	       "node) VALUES ('b1', 'lin', NULL, 'pem:/etc/x', 'aa', 'ok', 17, 'true', "
	       "'127.0.0.1:443', 18, 'deployed', 'g1', 'bb', 'web1'), ('b2', NULL, 'cc', "
	       "'pem:/etc/y', 'dd', 'ok', 19, 'true', 'host:1', 20, 'deployed', 'g2', 'ee', NULL)");
	t_sqlf(e->path, "INSERT INTO nodes (name, started, heartbeat, heartbeat_s, version, "
	       "seen_generation, deployed_generation) VALUES ('web1', 29, 30, 31, '0.1', 1, 1)");
	t_sqlf(e->path, "INSERT INTO renewal (lineage, cert_sha256, ari_start, ari_end, ari_moment, "
	       "ari_next, ari_explanation, failures, backoff_until, last_error, claim_owner, "
	       "claim_until, claim_token, updated) VALUES ('lin', 'ff', 21, 22, 23, 24, "
	       "'https://ca/why', 2, 25, 'boom', 'node-a', 26, 7, 27)");
	t_sqlf(e->path, "INSERT INTO rate_limits (server, name, until, reason) VALUES "
	       "('https://ca/dir', 'copy.test', 28, 'rateLimited')");
	free(spki);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(tk);
	return k;
}

/* The fixture reaches every table and column, or names what it misses. */
static void
t_dump_complete(const struct t_dump *d)
{
	size_t i, r;

	for (i = 0; i < d->ntables; i++) {
		size_t len = strlen(d->tables[i]);
		for (r = 0; r < d->n; r++)
			if (strncmp(d->row[r], d->tables[i], len) == 0 && d->row[r][len] == '|')
				break;
		if (r == d->n)
			fail_msg("table %s has no row in the fixture: give it one in "
				 "fill_every_table, so store copy is proven to carry it", d->tables[i]);
	}
	for (i = 0; i < d->ncols; i++)
		if (!d->filled[i])
			fail_msg("column %s has no value in the fixture: give it one in "
				 "fill_every_table, so store copy is proven to carry it", d->cols[i]);
}

/* A second location of the other kind where there is one (PostgreSQL <-> SQLite). */
static void
t_other_location(struct t_env *e, const char *file, int pg, char *out, size_t n, char *db,
		 size_t dn)
{
	db[0] = '\0';
	if (!pg) {
		snprintf(out, n, "%s/%s", e->dir, file);
		return;
	}
#ifdef CK_HAVE_POSTGRESQL
	t_pg_newdb(out, n, db, dn);
#else
	(void)dn;
	fail_msg("no PostgreSQL in this build");
#endif
}

static void
t_drop(const char *db)
{
#ifdef CK_HAVE_POSTGRESQL
	if (db[0] != '\0')
		t_pg_dropdb(db);
#else
	(void)db;
#endif
}

static struct ck_store *
t_open(struct t_env *e, const char *loc)
{
	struct ck_store *st = NULL;
	struct ck_err err;

	ck_err_clear(&err);
	if (ck_store_open_ex(loc, &e->ctx, 0, &st, &err) != CK_OK)
		fail_msg("open %s: %s", loc, err.msg);
	return st;
}

static void
t_copy_ok(struct ck_store *src, const char *to, struct ck_store_copy_summary *sum)
{
	struct ck_err err;

	ck_err_clear(&err);
	if (ck_store_copy_all(src, to, sum, &err) != CK_OK)
		fail_msg("store copy to %s: %s", to, err.msg);
}

static void
test_copy_carries_every_column(void **state)
{
	struct t_env *e = *state;
	struct ck_store_copy_summary sum;
	struct t_dump src, d1, d2;
	struct ck_store *st1 = NULL, *st2 = NULL;
	char loc1[400], loc2[400], db1[64], db2[64];
	EVP_PKEY *k = fill_every_table(e), *back = NULL;
	int64_t id = 0;
	size_t i;

	t_dump(e->path, &src);
	t_dump_complete(&src);
	/* on the @pg pass: PostgreSQL -> SQLite -> PostgreSQL */
	t_other_location(e, "d1.db", 0, loc1, sizeof(loc1), db1, sizeof(db1));
	t_other_location(e, "d2.db", t_engine_pg(), loc2, sizeof(loc2), db2, sizeof(db2));

	t_copy_ok(e->st, loc1, &sum);
	assert_int_equal(sum.src_generation, t_gen(e->st));
	assert_int_equal(sum.dst_generation, sum.src_generation + 1);
	assert_int_equal(sum.keys_loaded, 1);
	assert_false(sum.sealed);
	for (i = 0; i < sum.n; i++)
		if (strcmp(sum.tables[i].name, "bindings") == 0)
			assert_int_equal(sum.tables[i].rows, 2);
	t_dump(loc1, &d1);
	t_dump_same(&src, &d1, "first copy");
	st1 = t_open(e, loc1);
	assert_int_equal(t_gen(st1), sum.dst_generation);
	assert_false(ck_store_is_sealed(st1));

	t_copy_ok(st1, loc2, &sum);
	t_dump(loc2, &d2);
	t_dump_same(&src, &d2, "copy of the copy");
	st2 = t_open(e, loc2);
	assert_int_equal(t_gen(st2), t_gen(st1) + 1);
	/* The copy's key works, and its next id follows the copied ones. */
	assert_int_equal(ck_store_key_load(st2, 1, &back, NULL), CK_OK);
	assert_int_equal(ck_key_public_equal(k, back), 1);
	EVP_PKEY_free(back);
	back = t_key(CK_KEY_EC256);
	id = t_put_key(st2, back);
	assert_true(id > 2);

	EVP_PKEY_free(back);
	ck_store_close(st2);
	ck_store_close(st1);
	t_dump_free(&d2);
	t_dump_free(&d1);
	t_dump_free(&src);
	t_drop(db2);
	t_drop(db1);
	EVP_PKEY_free(k);
}

/* A store with something in it, a foreign database and the source itself are refused, untouched. */
static void
test_copy_refuses_nonempty_destination(void **state)
{
	struct t_env *e = *state;
	struct t_dump before, after;
	struct ck_store *dst = NULL;
	struct ck_err err;
	char loc[400], db[64], foreign[400];
	EVP_PKEY *k = fill_every_table(e);
	uint64_t gen;

	t_other_location(e, "full.db", t_engine_pg(), loc, sizeof(loc), db, sizeof(db));
	assert_int_equal(ck_store_open(loc, &e->ctx, &dst, NULL), CK_OK);
	assert_int_equal(ck_store_setting_set(dst, "mine", "keep", NULL), CK_OK);
	gen = t_gen(dst);
	ck_store_close(dst);
	t_dump(loc, &before);
	ck_err_clear(&err);
	assert_int_equal(ck_store_copy_all(e->st, loc, NULL, &err), CK_ERR_EXISTS);
	assert_non_null(strstr(err.msg, "settings"));
	assert_non_null(strstr(err.msg, "not changed"));
	t_dump(loc, &after);
	t_dump_same(&before, &after, "refused destination");
	dst = t_open(e, loc);
	assert_int_equal(t_gen(dst), gen);
	ck_store_close(dst);

	snprintf(foreign, sizeof(foreign), "%s/foreign.db", e->dir);
	t_sql(foreign, "CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('mine')");
	assert_int_equal(ck_store_copy_all(e->st, foreign, NULL, &err), CK_ERR_STORE);
	t_dump_free(&after);
	t_dump(foreign, &after);
	assert_int_equal(after.n, 1);
	assert_string_equal(after.row[0], "notes|x=mine");

	assert_int_equal(ck_store_copy_all(e->st, e->path, NULL, &err), CK_ERR_INVALID_ARG);
	t_dump_free(&after);
	t_dump_free(&before);
	t_drop(db);
	EVP_PKEY_free(k);
}

/*
 * A copy that fails after it created the destination leaves nothing
 * there (a SQLite file it made is removed; a PostgreSQL database keeps
 * no table); a column type the copy does not know stops it, named.
 */
static void
test_copy_failure_leaves_nothing(void **state)
{
	struct t_env *e = *state;
	struct t_dump d;
	struct ck_err err;
	struct stat sb;
	char loc[400], db[64];
	EVP_PKEY *k = fill_every_table(e);

	/* a table no migration makes: the destination's schema has no room for it */
	t_sql(e->path, "CREATE TABLE zz_extra (id bigint PRIMARY KEY); "
	      "INSERT INTO zz_extra (id) VALUES (1)");
	snprintf(loc, sizeof(loc), "%s/new/d.db", e->dir);
	ck_err_clear(&err);
	assert_int_equal(ck_store_copy_all(e->st, loc, NULL, &err), CK_ERR_STORE);
	assert_non_null(strstr(err.msg, "zz_extra"));
	assert_non_null(strstr(err.msg, "nothing was written"));
	assert_int_equal(stat(loc, &sb), -1);
	if (t_engine_pg()) {
		t_other_location(e, "", 1, loc, sizeof(loc), db, sizeof(db));
		assert_int_equal(ck_store_copy_all(e->st, loc, NULL, &err), CK_ERR_STORE);
		t_dump(loc, &d);
		assert_int_equal(d.ntables, 0);
		t_drop(db);
	}
	t_sql(e->path, "DROP TABLE zz_extra; ALTER TABLE settings ADD COLUMN zz real");
	snprintf(loc, sizeof(loc), "%s/new/d.db", e->dir);
	assert_int_equal(ck_store_copy_all(e->st, loc, NULL, &err), CK_ERR_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "settings.zz"));
	assert_int_equal(stat(loc, &sb), -1);
	EVP_PKEY_free(k);
}

#ifdef CK_FAULT_INJECTION
/* Kills a child at fault point `point` in a copy of e's store to loc. */
static void
t_copy_killed(struct t_env *e, const char *loc, const char *point)
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct ck_store *src = NULL;
		setenv("CERTKEEP_FAULT", point, 1);
		if (ck_store_open_ex(e->path, &e->ctx, 0, &src, NULL) != CK_OK)
			_exit(3);
		ck_store_copy_all(src, loc, NULL, NULL);
		_exit(4); /* the fault point was not reached */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("the copy was not killed at %s (status %d)", point, status);
}
#endif

/* A copy killed before its commit leaves nothing at the destination; copying again works. */
static void
test_copy_killed_leaves_nothing(void **state)
{
#ifdef CK_FAULT_INJECTION
	static const char *const points[] = { "store.copy_all.table:3", "store.copy_all.commit" };
	struct t_env *e = *state;
	struct ck_store_copy_summary sum;
	struct t_dump src, d;
	char loc[400], db[64], file[40];
	EVP_PKEY *k = fill_every_table(e);
	size_t i;

	t_dump(e->path, &src);
	for (i = 0; i < CK_ARRAY_LEN(points); i++) {
		snprintf(file, sizeof(file), "killed%zu.db", i);
		t_other_location(e, file, t_engine_pg(), loc, sizeof(loc), db, sizeof(db));
		t_copy_killed(e, loc, points[i]);
		t_dump(loc, &d);
		assert_int_equal(d.n, 0);
		assert_int_equal(d.ntables, 0); /* not even the schema */
		t_copy_ok(e->st, loc, &sum);
		t_dump(loc, &d);
		t_dump_same(&src, &d, points[i]);
		t_dump_free(&d);
		t_drop(db);
	}
	t_dump_free(&src);
	EVP_PKEY_free(k);
#else
	(void)state;
	skip(); /* needs -Dfault_injection=true (build-test) */
#endif
}

/* Writes a node key file at path: 64 hex digits of fill, mode 0600. */
static void
t_key_file(const char *path, char fill)
{
	char hex[66];
	FILE *fp;

	memset(hex, fill, 64);
	hex[64] = '\n';
	hex[65] = '\0';
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_true(fputs(hex, fp) >= 0);
	fclose(fp);
	assert_int_equal(chmod(path, 0600), 0);
}

/*
 * A sealed store copies without its node key and stays sealed under it:
 * the copy holds no private key in clear and the same key file opens it;
 * with the key, the copy opens every key at the destination.
 */
static void
test_copy_sealed_stays_sealed(void **state)
{
	struct t_env *e = *state;
	struct ck_store_copy_summary sum;
	struct ck_store *src = NULL, *dst = NULL;
	unsigned char *p8 = NULL;
	struct t_dump d;
	char loc[400], loc2[400], db[64], db2[64], keyf[300], *hex;
	EVP_PKEY *k = fill_every_table(e), *back = NULL;
	int len, i;
	size_t r;

	snprintf(keyf, sizeof(keyf), "%s/node.key", e->dir);
	t_key_file(keyf, 'a');
	assert_int_equal(ck_store_seal(e->st, keyf, NULL), CK_OK);
	src = t_open(e, e->path); /* without the key */
	t_other_location(e, "sealed.db", t_engine_pg(), loc, sizeof(loc), db, sizeof(db));
	t_copy_ok(src, loc, &sum);
	assert_true(sum.sealed);
	assert_int_equal(sum.keys_loaded, 0);

	/* no PKCS#8 of the key in clear anywhere in the copy */
	len = i2d_PrivateKey(k, &p8);
	assert_true(len > 0);
	hex = malloc((size_t)len * 2 + 1);
	for (i = 0; i < len; i++)
		sprintf(hex + i * 2, "%02x", p8[i]);
	t_dump(loc, &d);
	for (r = 0; r < d.n; r++)
		assert_null(strstr(d.row[r], hex + 32));
	t_dump_free(&d);

	dst = t_open(e, loc);
	assert_true(ck_store_is_sealed(dst));
	assert_int_equal(ck_store_key_load(dst, 1, &back, NULL), CK_ERR_KEY_MISSING);
	assert_int_equal(ck_store_seal_key_use(dst, keyf, NULL), CK_OK);
	assert_int_equal(ck_store_key_load(dst, 1, &back, NULL), CK_OK);
	assert_int_equal(ck_key_public_equal(k, back), 1);

	/* with the node key the copy opens every key there too */
	t_other_location(e, "sealed2.db", 0, loc2, sizeof(loc2), db2, sizeof(db2));
	t_copy_ok(e->st, loc2, &sum);
	assert_int_equal(sum.keys_loaded, 1);

	EVP_PKEY_free(back);
	ck_store_close(dst);
	ck_store_close(src);
	OPENSSL_free(p8);
	free(hex);
	t_drop(db);
	EVP_PKEY_free(k);
}

/*
 * A copy that does not match its source is an error naming what differs,
 * and the destination stays as written: a trigger planted in an empty
 * SQLite store changes each row the copy writes.
 */
static void
test_copy_verify_names_difference(void **state)
{
	static const struct {
		const char *table, *set, *said;
	} traps[] = {
		{ "certificates", "der = zeroblob(40)", "SHA-256" },
		{ "keys", "spki_der = zeroblob(40)", "public-key thumbprint" },
		{ "keys", "pkcs8_der = zeroblob(40) WHERE pkcs8_der IS NOT NULL AND",
		  "stored private key" },
	};
	struct t_env *e = *state;
	struct ck_store *dst = NULL;
	struct t_dump d;
	struct ck_err err;
	char loc[400];
	EVP_PKEY *k = fill_every_table(e);
	size_t i;

	for (i = 0; i < CK_ARRAY_LEN(traps); i++) {
		snprintf(loc, sizeof(loc), "%s/trap%zu.db", e->dir, i);
		assert_int_equal(ck_store_open(loc, &e->ctx, &dst, NULL), CK_OK);
		ck_store_close(dst);
		t_sqlf(loc, "CREATE TRIGGER trap AFTER INSERT ON %s BEGIN UPDATE %s SET %s%s "
		       "id = NEW.id; END", traps[i].table, traps[i].table, traps[i].set,
		       strstr(traps[i].set, "WHERE") ? "" : " WHERE");
		ck_err_clear(&err);
		if (ck_store_copy_all(e->st, loc, NULL, &err) != CK_ERR_CORRUPT)
			fail_msg("%s: not CK_ERR_CORRUPT: %s", traps[i].said, err.msg);
		if (strstr(err.msg, traps[i].said) == NULL || strstr(err.msg, "left as written") == NULL)
			fail_msg("%s: %s", traps[i].said, err.msg);
		t_dump(loc, &d); /* committed: the rows are there */
		assert_true(d.n > 10);
		t_dump_free(&d);
	}
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_carries_every_column, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_copy_refuses_nonempty_destination, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_copy_failure_leaves_nothing, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_copy_killed_leaves_nothing, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_copy_sealed_stays_sealed, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_copy_verify_names_difference, t_setup,
						t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
