/*
 * test_store_pg.c - what only the PostgreSQL driver does, against the real
 * server of the store suite's @pg pass: which locations select it, how its
 * SQLSTATEs map to the store's failure kinds, a real serialization failure
 * run again by the transaction runner, and a connection lost in the middle
 * of a transaction (an error; nothing of the transaction is kept).  On the
 * SQLite pass only the location rule runs.
 */
#include "test_store_util.h"

#include "store/store_int.h"

static void
test_location_selects_the_driver(void **state)
{
	(void)state;
	assert_true(st_location_is_pg("postgresql://ck@127.0.0.1:5432/certkeep"));
	assert_true(st_location_is_pg("postgres://db.example/certkeep?sslmode=verify-full"));
	assert_true(st_location_is_pg("host=127.0.0.1 port=5432 dbname=certkeep"));
	assert_true(st_location_is_pg("service=certkeep"));
	assert_false(st_location_is_pg("/var/lib/certkeep/store.db"));
	assert_false(st_location_is_pg("store.db"));
	assert_false(st_location_is_pg("./host=x/store.db"));
	assert_false(st_location_is_pg("postgresql.db"));
}

/* A location for a message keeps everything but the password. */
static void
test_location_redacts_the_password(void **state)
{
	static const char *const cases[][2] = {
		{ "postgresql://ck:s3cret@127.0.0.1:5432/certkeep",
		  "postgresql://ck:***@127.0.0.1:5432/certkeep" },
		{ "postgres://ck:p@ss@db.example/certkeep?sslmode=require",
		  "postgres://ck:***@db.example/certkeep?sslmode=require" },
		{ "postgresql://ck@db/certkeep?password=s3cret&sslmode=require",
		  "postgresql://ck@db/certkeep?password=***&sslmode=require" },
		{ "postgresql://db/certkeep", "postgresql://db/certkeep" },
		{ "host=db password=s3cret dbname=certkeep", "host=db password=*** dbname=certkeep" },
		{ "host=db password='s3 \\'cret' dbname=ck", "host=db password=*** dbname=ck" },
		{ "host=db passfile=/x dbname=ck", "host=db passfile=/x dbname=ck" },
		{ "/var/lib/certkeep/store.db", "/var/lib/certkeep/store.db" },
	};
	char out[128], small[16];
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(cases); i++) {
		ck_store_location_redact(cases[i][0], out, sizeof(out));
		assert_string_equal(out, cases[i][1]);
	}
	ck_store_location_redact("postgresql://ck:s3cret@127.0.0.1/certkeep", small,
				 sizeof(small));
	assert_null(strstr(small, "s3"));
	assert_true(strlen(small) < sizeof(small));
}

#ifdef CK_HAVE_POSTGRESQL
/* The failure kind of a statement that fails with SQLSTATE code. */
static enum st_fail
kind_of(struct ck_store *st, const char *code)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '%s'; "
		 "END $$", code);
	assert_int_equal(st->drv->exec_script(st->conn, sql), -1);
	return st->drv->fail_kind(st->conn);
}

static void
test_sqlstates_map_to_failure_kinds(void **state)
{
	struct t_env *e = *state;

	if (!t_engine_pg())
		skip(); /* the @pg pass */
	assert_int_equal(kind_of(e->st, "40001"), ST_FAIL_RETRY);
	assert_int_equal(kind_of(e->st, "40P01"), ST_FAIL_RETRY);
	assert_int_equal(kind_of(e->st, "23505"), ST_FAIL_CONSTRAINT);
	assert_int_equal(kind_of(e->st, "23503"), ST_FAIL_CONSTRAINT);
	assert_int_equal(kind_of(e->st, "55P03"), ST_FAIL_BUSY);
	assert_int_equal(kind_of(e->st, "XX000"), ST_FAIL_OTHER);
}

static int body_runs;

/* Writes a setting; the first run loses a (real) serialization failure. */
static enum ck_code
racy_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	enum ck_code rc;

	(void)arg;
	rc = st_exec(st, err, NULL, "INSERT INTO settings (key, value) VALUES ('k', 'v')", "");
	if (rc == CK_OK && body_runs++ == 0)
		rc = st_exec(st, err, NULL, "DO $$ BEGIN RAISE EXCEPTION 'lost' USING "
			     "ERRCODE = '40001'; END $$", "");
	return rc;
}

static void
test_serialization_failure_is_run_again(void **state)
{
	struct t_env *e = *state;
	char *v = NULL;

	if (!t_engine_pg())
		skip();
	body_runs = 0;
	assert_int_equal(st_tx_run(e->st, NULL, "store.test", racy_body, NULL), CK_OK);
	assert_int_equal(body_runs, 2);
	/* The aborted first run left nothing: one row, no unique violation. */
	assert_int_equal(ck_store_setting_get(e->st, "k", &v, NULL), CK_OK);
	assert_string_equal(v, "v");
	free(v);
}

static void
test_lost_connection_keeps_nothing(void **state)
{
	struct t_env *e = *state;
	struct ck_key_list kl = { 0 };
	EVP_PKEY *k;
	struct ck_err err;
	char admin[300], sql[300];

	if (!t_engine_pg())
		skip();
	k = t_key(CK_KEY_EC256);
	assert_int_equal(ck_store_tx_begin(e->st, NULL), CK_OK);
	t_put_key(e->st, k);
	snprintf(admin, sizeof(admin), "%s/postgres", getenv("CK_TEST_PG_URL"));
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		 "WHERE datname = '%s'", e->db);
	t_pg_sql(admin, sql);
	ck_err_clear(&err);
	assert_int_not_equal(ck_store_tx_commit(e->st, &err), CK_OK);
	assert_non_null(strstr(err.msg, "connection"));
	ck_store_close(e->st);
	e->st = NULL;
	assert_int_equal(ck_store_open(e->path, &e->ctx, &e->st, NULL), CK_OK);
	assert_int_equal(ck_store_key_list(e->st, 0, &kl, NULL), CK_OK);
	assert_int_equal(kl.n, 0);
	ck_key_list_cleanup(&kl);
	EVP_PKEY_free(k);
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_location_selects_the_driver),
		cmocka_unit_test(test_location_redacts_the_password),
#ifdef CK_HAVE_POSTGRESQL
		cmocka_unit_test_setup_teardown(test_sqlstates_map_to_failure_kinds, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_serialization_failure_is_run_again, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_lost_connection_keeps_nothing, t_setup,
						t_teardown),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
