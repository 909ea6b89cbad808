/*
 * test_store_schema.c - the two dialects of the schema stay one schema:
 * the SQLite and PostgreSQL drivers have the same number of migrations,
 * and a store made by each has the same tables with the same columns.  A
 * migration added to one driver and not the other fails here.  The
 * comparison needs the run's PostgreSQL (the store suite's @pg pass).
 * Also: the lookups a renewal plan makes for every lineage use an index on
 * both engines (a full scan of orders per lineage made a fleet's due-scan
 * grow with lineages x orders).
 */
#include "test_store_util.h"

#include "store/sqlite/sqlite_int.h"
#ifdef CK_HAVE_POSTGRESQL
#include "store/pg/pg_int.h"
#endif

#define T_COLS_MAX 400

struct t_cols {
	char *v[T_COLS_MAX];
	size_t n;
};

static int
t_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
t_cols_add(struct t_cols *c, const char *table, const char *col)
{
	char buf[200];

	/* The marker of a certkeep store: PRAGMA application_id on SQLite. */
	if (strcmp(table, "certkeep_store") == 0 || strncmp(table, "sqlite_", 7) == 0)
		return;
	assert_true(c->n < T_COLS_MAX);
	snprintf(buf, sizeof(buf), "%s.%s", table, col);
	c->v[c->n] = strdup(buf);
	assert_non_null(c->v[c->n]);
	c->n++;
}

static void
t_cols_free(struct t_cols *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->v[i]);
	c->n = 0;
}

static void
test_same_number_of_migrations(void **state)
{
	int n = 0;

	(void)state;
	while (st_sqlite_migration(n + 1) != NULL)
		n++;
	assert_true(n >= 6);
#ifdef CK_HAVE_POSTGRESQL
	assert_non_null(st_pg_migration(n));
	assert_null(st_pg_migration(n + 1));
#endif
}

#ifdef CK_HAVE_POSTGRESQL
static void
test_same_tables_and_columns(void **state)
{
	struct t_env *e = *state;
	struct t_cols lite = { { 0 }, 0 }, pg = { { 0 }, 0 };
	struct ck_store *other = NULL;
	char path[400];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	PGconn *c;
	PGresult *r;
	size_t i;
	int row;

	if (!t_engine_pg())
		skip(); /* needs the run's PostgreSQL: the store suite's @pg pass */
	snprintf(path, sizeof(path), "%s/lite.db", e->dir);
	assert_int_equal(ck_store_open(path, &e->ctx, &other, NULL), CK_OK);
	ck_store_close(other);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT m.name, p.name FROM sqlite_master m, "
					    "pragma_table_info(m.name) p WHERE m.type = 'table'",
					    -1, &s, NULL), SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW)
		t_cols_add(&lite, (const char *)sqlite3_column_text(s, 0),
			   (const char *)sqlite3_column_text(s, 1));
	sqlite3_finalize(s);
	sqlite3_close(db);

	c = PQconnectdb(e->path);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, "SELECT table_name, column_name FROM information_schema.columns "
		   "WHERE table_schema = current_schema()");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	for (row = 0; row < PQntuples(r); row++)
		t_cols_add(&pg, PQgetvalue(r, row, 0), PQgetvalue(r, row, 1));
	PQclear(r);
	PQfinish(c);

	qsort(lite.v, lite.n, sizeof(char *), t_cmp);
	qsort(pg.v, pg.n, sizeof(char *), t_cmp);
	for (i = 0; i < lite.n && i < pg.n; i++) {
		if (strcmp(lite.v[i], pg.v[i]) != 0)
			fail_msg("schemas differ: SQLite has %s where PostgreSQL has %s", lite.v[i],
				 pg.v[i]);
	}
	if (lite.n != pg.n)
		fail_msg("schemas differ: SQLite %zu columns, PostgreSQL %zu", lite.n, pg.n);
	assert_true(lite.n > 50);
	t_cols_free(&lite);
	t_cols_free(&pg);
}
#endif

/*
 * ck_store_cert_order_account's query (store/order.c), run once per lineage
 * by every renewal plan: the plan each engine makes for it must not read
 * the whole orders table.
 */
#define ORDER_ACCOUNT_SQL                                                              \
	"SELECT o.account_id FROM orders o JOIN accounts a ON a.id = o.account_id "   \
	"WHERE o.cert_id = %s OR (o.url IS NOT NULL AND o.url = "                     \
	"(SELECT c.origin FROM certificates c WHERE c.id = %s)) ORDER BY o.id DESC LIMIT 1"

static void
test_order_account_lookup_uses_an_index(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	char sql[600], plan[4000] = "";

	(void)t_put_key(e->st, k); /* the schema exists once something is stored */
	EVP_PKEY_free(k);
#ifdef CK_HAVE_POSTGRESQL
	if (t_engine_pg()) {
		PGconn *c = PQconnectdb(e->path);
		PGresult *r;
		int row;

		assert_int_equal(PQstatus(c), CONNECTION_OK);
		/* A store with some history, its statistics read (the planner
		 * reads a tiny table whole, index or not). */
		PQclear(PQexec(c, "INSERT INTO orders (lineage, identifiers, status, url, closed, "
			       "created, updated) SELECT 'l' || g, '[]', 'valid', "
			       "'https://ca.test/order/' || g, 1, 0, 0 FROM generate_series(1, 5000) g"));
		PQclear(PQexec(c, "ANALYZE orders"));
		snprintf(sql, sizeof(sql), "EXPLAIN " ORDER_ACCOUNT_SQL, "7", "7");
		r = PQexec(c, sql);
		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		for (row = 0; row < PQntuples(r); row++)
			snprintf(plan + strlen(plan), sizeof(plan) - strlen(plan), "%s\n",
				 PQgetvalue(r, row, 0));
		PQclear(r);
		PQfinish(c);
		if (strstr(plan, "Index Cond: (cert_id = 7)") == NULL ||
		    strstr(plan, "Seq Scan on orders") != NULL)
			fail_msg("every order is read per lineage:\n%s", plan);
		return;
	}
#endif
	{
		sqlite3 *db = NULL;
		sqlite3_stmt *s = NULL;

		assert_int_equal(sqlite3_open(e->path, &db), SQLITE_OK);
		snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN " ORDER_ACCOUNT_SQL, "?1", "?1");
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
		while (sqlite3_step(s) == SQLITE_ROW)
			snprintf(plan + strlen(plan), sizeof(plan) - strlen(plan), "%s\n",
				 (const char *)sqlite3_column_text(s, 3));
		sqlite3_finalize(s);
		sqlite3_close(db);
		if (strstr(plan, "SCAN o\n") != NULL)
			fail_msg("every order is read per lineage:\n%s", plan);
		assert_non_null(strstr(plan, "SEARCH o USING INDEX"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_number_of_migrations),
		cmocka_unit_test_setup_teardown(test_order_account_lookup_uses_an_index, t_setup,
						t_teardown),
#ifdef CK_HAVE_POSTGRESQL
		cmocka_unit_test_setup_teardown(test_same_tables_and_columns, t_setup, t_teardown),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
