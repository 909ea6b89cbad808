/*
 * test_store_pool.c - pooled store handles (pool.c), what a renewal
 * batch's workers use: they take turns on at most the pool's size of
 * connections; a handle keeps its connection for a whole transaction
 * (another handle waits, and never sees the change half-made); a failed
 * statement reports the database's own message and gives the connection
 * back; the node key reaches the pooled handles; the parent handle
 * borrows too while the pool lives and connects anew after; a pooled handle refuses
 * to wait for changes (LISTEN would stay with a lent connection); on
 * PostgreSQL a connection the server dropped is closed, not lent again;
 * once the context is cancelled no new connection is opened.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "test_store_util.h"

#include "store/store_int.h"

static void
nap_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static struct ck_store_pool *
pool_of(struct t_env *e, unsigned max)
{
	struct ck_store_pool *p = NULL;
	struct ck_err err;

	ck_err_clear(&err);
	if (ck_store_pool_new(e->st, &e->ctx, max, &p, &err) != CK_OK)
		fail_msg("pool: %s", err.msg);
	return p;
}

static struct ck_store *
pooled(struct ck_store_pool *p)
{
	struct ck_store *st = NULL;

	assert_int_equal(ck_store_open_pooled(p, &st, NULL), CK_OK);
	return st;
}

/* A reader on another thread: the generation it read, and when. */
struct reader {
	struct ck_store *st;
	uint64_t gen;
	int rc;
	atomic_int done;
};

static void *
reader_run(void *arg)
{
	struct reader *r = arg;

	r->rc = ck_store_generation(r->st, &r->gen, NULL);
	atomic_store(&r->done, 1);
	return NULL;
}

static void
test_handles_take_turns_on_at_most_max_connections(void **state)
{
	struct t_env *e = *state;
	struct ck_store_pool *p = pool_of(e, 2);
	struct ck_store *a = pooled(p), *b = pooled(p), *c = pooled(p);
	struct st_stmt *sa = NULL, *sb = NULL;
	struct reader r = { .st = c, .rc = -1 };
	pthread_t th;

	/* Opening a pooled handle opens no connection. */
	assert_int_equal(ck_store_pool_open_count(p), 0);
	assert_int_equal(st_prepare(a, "SELECT 1", &sa, NULL), CK_OK);
	assert_int_equal(st_prepare(b, "SELECT 1", &sb, NULL), CK_OK);
	assert_int_equal(ck_store_pool_open_count(p), 2);
	/* A third user waits for one of the two ... */
	assert_int_equal(pthread_create(&th, NULL, reader_run, &r), 0);
	nap_ms(300);
	assert_false(atomic_load(&r.done));
	/* ... and goes on once a statement is finalized: no third connection. */
	st_finalize(sa);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(r.rc, CK_OK);
	assert_int_equal(r.gen, t_gen(e->st));
	assert_int_equal(ck_store_pool_open_count(p), 2);
	st_finalize(sb);
	ck_store_close(a);
	ck_store_close(b);
	ck_store_close(c);
	ck_store_pool_free(p);
}

static void
test_a_transaction_keeps_its_connection_to_the_end(void **state)
{
	struct t_env *e = *state;
	struct ck_store_pool *p = pool_of(e, 1);
	struct ck_store *a = pooled(p), *b = pooled(p);
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct reader r = { .st = b, .rc = -1 };
	uint64_t before = t_gen(e->st);
	pthread_t th;

	assert_int_equal(ck_store_tx_begin(a, NULL), CK_OK);
	t_put_key(a, k); /* a statement begun and finalized inside the transaction */
	/* The only connection is a's until it commits: b neither takes it
	 * mid-transaction (it would read the change half-made) nor opens one. */
	assert_int_equal(pthread_create(&th, NULL, reader_run, &r), 0);
	nap_ms(300);
	assert_false(atomic_load(&r.done));
	assert_int_equal(ck_store_pool_open_count(p), 1);
	assert_int_equal(ck_store_tx_commit(a, NULL), CK_OK);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(r.rc, CK_OK);
	assert_true(r.gen > before);
	assert_int_equal(r.gen, t_gen(e->st));
	ck_store_close(a);
	ck_store_close(b);
	ck_store_pool_free(p);
	EVP_PKEY_free(k);
}

static void
test_the_parent_borrows_while_the_pool_lives(void **state)
{
	struct t_env *e = *state;
	struct ck_store_pool *p = pool_of(e, 1);
	struct ck_store *a = pooled(p);
	struct st_stmt *s = NULL;
	struct reader r = { .st = e->st, .rc = -1 };
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	uint64_t g;
	pthread_t th;

	/* The parent's own connection is closed: it waits for the pool's one. */
	assert_int_equal(st_prepare(a, "SELECT 1", &s, NULL), CK_OK);
	assert_int_equal(pthread_create(&th, NULL, reader_run, &r), 0);
	nap_ms(300);
	assert_false(atomic_load(&r.done));
	st_finalize(s);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(r.rc, CK_OK);
	g = r.gen;
	ck_store_close(a);
	ck_store_pool_free(p);
	/* A handle of its own again: it connects anew and reads and writes. */
	assert_int_equal(t_gen(e->st), g);
	t_put_key(e->st, k);
	assert_true(t_gen(e->st) > g);
	EVP_PKEY_free(k);
}

static void
test_a_rolled_back_transaction_gives_the_connection_back(void **state)
{
	struct t_env *e = *state;
	struct ck_store_pool *p = pool_of(e, 1);
	struct ck_store *a = pooled(p), *b = pooled(p);
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	uint64_t before = t_gen(e->st);

	assert_int_equal(ck_store_tx_begin(a, NULL), CK_OK);
	t_put_key(a, k);
	ck_store_tx_rollback(a);
	/* Same thread, the one connection: it must be back, and clean. */
	assert_int_equal(t_gen(b), before);
	assert_int_equal(ck_store_pool_open_count(p), 1);
	ck_store_close(a);
	ck_store_close(b);
	ck_store_pool_free(p);
	EVP_PKEY_free(k);
}

static void
test_a_failed_statement_says_why_and_gives_the_connection_back(void **state)
{
	struct t_env *e = *state;
	struct ck_store_pool *p = pool_of(e, 1);
	struct ck_store *a = pooled(p), *b = pooled(p);
	struct ck_err err;
	int64_t v = 0;

	ck_err_clear(&err);
	assert_int_equal(st_exec(a, &err, NULL, "SELECT no_such_column FROM generation", ""),
			 CK_ERR_STORE);
	/* The database's own words, read while the connection was still a's. */
	assert_non_null(strstr(err.msg, "no_such_column"));
	assert_int_equal(st_query_int(b, NULL, &v, "SELECT value FROM generation WHERE id = 1",
				      ""), CK_OK);
	assert_int_equal((uint64_t)v, t_gen(e->st));
	ck_store_close(a);
	ck_store_close(b);
	ck_store_pool_free(p);
}

static void
test_pooled_handles_use_the_node_key(void **state)
{
	struct t_env *e = *state;
	struct ck_store_pool *p;
	struct ck_store *a, *plain = NULL;
	char key_file[320];
	EVP_PKEY *k = t_key(CK_KEY_EC256), *back = NULL;
	FILE *fp;
	int64_t id;

	snprintf(key_file, sizeof(key_file), "%s/node.key", e->dir);
	assert_non_null(fp = fopen(key_file, "w"));
	assert_true(fputs("5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\n",
			  fp) >= 0);
	fclose(fp);
	assert_int_equal(chmod(key_file, 0600), 0);
	assert_int_equal(ck_store_seal_key_use(e->st, key_file, NULL), CK_OK);
	p = pool_of(e, 1);
	a = pooled(p);
	id = t_put_key(a, k);
	/* Sealed by the pooled handle: a handle without the key cannot use it ... */
	assert_int_equal(ck_store_open(e->path, &e->ctx, &plain, NULL), CK_OK);
	assert_int_equal(ck_store_key_load(plain, id, &back, NULL), CK_ERR_KEY_MISSING);
	/* ... the pooled handle and its parent can. */
	assert_int_equal(ck_store_key_load(a, id, &back, NULL), CK_OK);
	assert_int_equal(EVP_PKEY_eq(k, back), 1);
	EVP_PKEY_free(back);
	back = NULL;
	assert_int_equal(ck_store_key_load(e->st, id, &back, NULL), CK_OK);
	ck_store_close(plain);
	ck_store_close(a);
	ck_store_pool_free(p);
	EVP_PKEY_free(k);
	EVP_PKEY_free(back);
}

static void
test_a_pooled_handle_does_not_wait_for_changes(void **state)
{
	struct t_env *e = *state;
	struct ck_store_pool *p = pool_of(e, 1);
	struct ck_store *a = pooled(p);
	struct ck_err err;
	uint64_t now = 0;

	ck_err_clear(&err);
	assert_int_equal(ck_store_wait_change(a, 0, 10, &now, &err), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(err.msg, "handle of its own"));
	assert_int_equal(ck_store_pool_open_count(p), 0);
	ck_store_close(a);
	ck_store_pool_free(p);
}

static void
test_no_new_connection_once_cancelled(void **state)
{
	struct t_env *e = *state;
	struct ck_store_pool *p = pool_of(e, 2);
	struct ck_store *a = pooled(p), *b = pooled(p);
	volatile sig_atomic_t flag = 0;
	struct st_stmt *s = NULL;
	struct ck_err err;
	uint64_t g = 0;

	t_gen(a); /* one connection open, idle */
	ck_ctx_set_cancel(&e->ctx, &flag);
	flag = 1;
	/* The open one still serves (a renewal may store what it got) ... */
	assert_int_equal(st_prepare(a, "SELECT 1", &s, NULL), CK_OK);
	/* ... but no second one is opened after the request to stop. */
	ck_err_clear(&err);
	assert_int_equal(ck_store_generation(b, &g, &err), CK_ERR_CANCELLED);
	assert_non_null(strstr(err.msg, "stopped on request"));
	assert_int_equal(ck_store_pool_open_count(p), 1);
	st_finalize(s);
	ck_ctx_set_cancel(&e->ctx, NULL);
	ck_store_close(a);
	ck_store_close(b);
	ck_store_pool_free(p);
}

static void
test_pg_a_dropped_connection_is_not_lent_again(void **state)
{
#ifdef CK_HAVE_POSTGRESQL
	struct t_env *e = *state;
	struct ck_store_pool *p;
	struct ck_store *a;
	int64_t pid = 0;
	char admin[300], sql[120];
	struct ck_err err;

	if (!t_engine_pg())
		skip();
	p = pool_of(e, 1);
	a = pooled(p);
	assert_int_equal(st_query_int(a, NULL, &pid, "SELECT pg_backend_pid()", ""), CK_OK);
	snprintf(admin, sizeof(admin), "%s/postgres", getenv("CK_TEST_PG_URL"));
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)", (long long)pid);
	t_pg_sql(admin, sql);
	/* The next use finds it gone (an answer, not a hang) ... */
	ck_err_clear(&err);
	assert_int_not_equal(ck_store_generation(a, &(uint64_t){ 0 }, &err), CK_OK);
	/* ... and the pool closed it: the use after opens a new one. */
	assert_int_equal(ck_store_pool_open_count(p), 0);
	assert_int_equal(t_gen(a), t_gen(e->st));
	assert_int_equal(ck_store_pool_open_count(p), 1);
	ck_store_close(a);
	ck_store_pool_free(p);
#else
	(void)state;
	skip();
#endif
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handles_take_turns_on_at_most_max_connections,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_a_transaction_keeps_its_connection_to_the_end,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_the_parent_borrows_while_the_pool_lives,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
			test_a_rolled_back_transaction_gives_the_connection_back, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(
			test_a_failed_statement_says_why_and_gives_the_connection_back, t_setup,
			t_teardown),
		cmocka_unit_test_setup_teardown(test_pooled_handles_use_the_node_key,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_a_pooled_handle_does_not_wait_for_changes,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_no_new_connection_once_cancelled, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_pg_a_dropped_connection_is_not_lent_again,
						t_setup, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
