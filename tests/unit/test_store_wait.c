/*
 * test_store_wait.c - ck_store_wait_change, what a long-running node (the
 * agent) waits in for another node's change: it returns soon after
 * another handle commits a change (on PostgreSQL woken by the NOTIFY the
 * commit sends; on SQLite by polling), returns the same generation when
 * the timeout passes with nothing changed, and stops when the context is
 * cancelled.  On PostgreSQL a commit that bumped the generation is
 * announced on the channel certkeep_generation, and a rollback is not.
 */
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "test_store_util.h"

#include "core/core.h"

/* What the helper thread does after its delay. */
struct later {
	const char *path;
	const struct ck_ctx *ctx;
	unsigned delay_ms;
	volatile sig_atomic_t *cancel;  /* set this, or else commit a change: */
	EVP_PKEY *key;                  /* ... put this key (made by the main thread) */
	int rc;
};

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Another handle (another node) commits a new key after the delay. */
static void *
later_run(void *arg)
{
	struct later *l = arg;
	struct ck_store *st = NULL;
	int64_t id = 0;

	sleep_ms(l->delay_ms);
	if (l->cancel != NULL) {
		*l->cancel = 1;
		return NULL;
	}
	l->rc = ck_store_open(l->path, l->ctx, &st, NULL);
	if (l->rc == CK_OK)
		l->rc = ck_store_key_put(st, l->key, &id, NULL, NULL);
	ck_store_close(st);
	return NULL;
}

static void
test_wait_wakes_on_another_handles_commit(void **state)
{
	struct t_env *e = *state;
	struct later l = { e->path, &e->ctx, 300, NULL, t_key(CK_KEY_EC256), -1 };
	uint64_t known = t_gen(e->st), now = 0;
	long long t0;
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, later_run, &l), 0);
	t0 = ck_mono_ms();
	assert_int_equal(ck_store_wait_change(e->st, known, 30000, &now, NULL), CK_OK);
	/* Soon after the commit (at 300 ms), far from the 30 s timeout. */
	assert_true(ck_mono_ms() - t0 < 10000);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(l.rc, CK_OK);
	assert_true(now > known);
	assert_int_equal(now, t_gen(e->st));
	EVP_PKEY_free(l.key);
}

static void
test_wait_times_out_with_the_same_generation(void **state)
{
	struct t_env *e = *state;
	uint64_t known = t_gen(e->st), now = 0;
	long long t0 = ck_mono_ms(), took;

	assert_int_equal(ck_store_wait_change(e->st, known, 400, &now, NULL), CK_OK);
	took = ck_mono_ms() - t0;
	assert_int_equal(now, known);
	assert_true(took >= 350);
	assert_true(took < 10000);
	/* A generation already different: no wait at all. */
	t0 = ck_mono_ms();
	assert_int_equal(ck_store_wait_change(e->st, known + 1, 30000, &now, NULL), CK_OK);
	assert_int_equal(now, known);
	assert_true(ck_mono_ms() - t0 < 10000);
}

static void
test_wait_stops_on_cancel(void **state)
{
	struct t_env *e = *state;
	volatile sig_atomic_t flag = 0;
	struct later l = { e->path, &e->ctx, 300, &flag, NULL, 0 };
	uint64_t known = t_gen(e->st), now = 0;
	struct ck_err err;
	long long t0;
	pthread_t th;

	ck_ctx_set_cancel(&e->ctx, &flag);
	assert_int_equal(pthread_create(&th, NULL, later_run, &l), 0);
	t0 = ck_mono_ms();
	ck_err_clear(&err);
	assert_int_equal(ck_store_wait_change(e->st, known, 60000, &now, &err), CK_ERR_CANCELLED);
	assert_true(ck_mono_ms() - t0 < 10000);
	assert_int_equal(pthread_join(th, NULL), 0);
	ck_ctx_set_cancel(&e->ctx, NULL);
	/* The handle is still usable. */
	assert_int_equal(t_gen(e->st), known);
}

#ifdef CK_HAVE_POSTGRESQL
/* Waits up to ms for a notification on certkeep_generation on c: 1 if one came. */
static int
pg_heard(PGconn *c, unsigned ms)
{
	long long end = ck_mono_ms() + ms;
	PGnotify *n;
	int got = 0;

	while (!got && ck_mono_ms() < end) {
		assert_int_equal(PQconsumeInput(c), 1);
		while ((n = PQnotifies(c)) != NULL) {
			got |= strcmp(n->relname, "certkeep_generation") == 0;
			PQfreemem(n);
		}
		if (!got)
			sleep_ms(20);
	}
	return got;
}
#endif

/* Another node, listening the way PostgreSQL's clients do, hears a commit
 * that changed the store, and nothing of one rolled back. */
static void
test_pg_commit_announces_the_change(void **state)
{
#ifdef CK_HAVE_POSTGRESQL
	struct t_env *e = *state;
	EVP_PKEY *k1, *k2;
	PGconn *c;
	PGresult *r;

	if (!t_engine_pg())
		skip();
	k1 = t_key(CK_KEY_EC256);
	k2 = t_key(CK_KEY_EC256);
	c = PQconnectdb(e->path);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, "LISTEN certkeep_generation");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	/* Rolled back: never announced. */
	assert_int_equal(ck_store_tx_begin(e->st, NULL), CK_OK);
	t_put_key(e->st, k1);
	assert_false(pg_heard(c, 300));
	ck_store_tx_rollback(e->st);
	assert_false(pg_heard(c, 300));
	/* Committed: announced. */
	t_put_key(e->st, k2);
	assert_true(pg_heard(c, 5000));
	PQfinish(c);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
#else
	(void)state;
	skip();
#endif
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wait_wakes_on_another_handles_commit, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_wait_times_out_with_the_same_generation,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_wait_stops_on_cancel, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_pg_commit_announces_the_change, t_setup,
						t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
