/*
 * test_store_driver.c - the store's driver seam (src/store/driver.h) and
 * the transaction runner on top of it.  SQLite never reports a lost race
 * (ST_FAIL_RETRY: its busy timeout waits for the lock instead), so these
 * tests wrap the store's driver's table (SQLite's, or PostgreSQL's when the
 * suite runs on it) in one whose commit loses the race
 * a given number of times, the way PostgreSQL reports a serialization
 * failure, and check what a user of the store would see: the change lands
 * once after a bounded number of runs, or not at all with CK_ERR_BUSY.
 */
#include "test_store_util.h"

#include <sqlite3.h>

#include "store/store_int.h"

/* How the flaky driver behaves; one test at a time. */
static int lose_commits;   /* commits (or releases) still to lose */
static int commits_tried;
static int lost_last;      /* the last failure was a lost race */
static const struct st_driver_ops *real; /* the store's own driver */

/* 1 if this commit loses the race (counted either way). */
static int
lose_this_one(void)
{
	commits_tried++;
	lost_last = lose_commits > 0;
	if (lost_last)
		lose_commits--;
	return lost_last;
}

static int
flaky_commit(struct st_conn *c)
{
	return lose_this_one() ? -1 : real->commit(c);
}

static int
flaky_release(struct st_conn *c, int depth)
{
	return lose_this_one() ? -1 : real->release(c, depth);
}

static enum st_fail
flaky_fail_kind(struct st_conn *c)
{
	return lost_last ? ST_FAIL_RETRY : real->fail_kind(c);
}

static struct st_driver_ops flaky;

static void
use_flaky(struct ck_store *st, int lose)
{
	if (st->drv != &flaky)
		real = st->drv;
	flaky = *real;
	flaky.commit = flaky_commit;
	flaky.release = flaky_release;
	flaky.fail_kind = flaky_fail_kind;
	st->drv = &flaky;
	lose_commits = lose;
	commits_tried = 0;
	lost_last = 0;
}

/* A transaction that loses the race is run again and lands exactly once. */
static void
test_lost_race_is_run_again(void **state)
{
	struct t_env *e = *state;
	uint64_t gen0 = 0, gen1 = 0;
	struct ck_lineage_list l = { NULL, 0 };
	struct ck_err err;
	int64_t id = 0;

	ck_err_clear(&err);
	assert_int_equal(ck_store_generation(e->st, &gen0, NULL), CK_OK);
	use_flaky(e->st, 2);
	assert_int_equal(ck_store_lineage_put(e->st, "www", NULL, 0, "ec256", &id, &err), CK_OK);
	assert_int_equal(commits_tried, 3);
	assert_true(id > 0);
	e->st->drv = real;
	assert_int_equal(ck_store_lineage_list(e->st, &l, NULL), CK_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].id, id);
	ck_lineage_list_cleanup(&l);
	assert_int_equal(ck_store_generation(e->st, &gen1, NULL), CK_OK);
	assert_true(gen1 == gen0); /* a lineage alone does not bump it, nor do the lost runs */
}

/* Many writers at once (a fleet's nodes times their workers): a
 * transaction that loses six races in a row still lands, the waits
 * between its tries growing. */
static void
test_six_lost_races_still_land(void **state)
{
	struct t_env *e = *state;
	struct ck_err err;
	char *v = NULL;

	ck_err_clear(&err);
	use_flaky(e->st, 6);
	assert_int_equal(ck_store_setting_set(e->st, "k", "v", &err), CK_OK);
	assert_int_equal(commits_tried, 7);
	e->st->drv = real;
	assert_int_equal(ck_store_setting_get(e->st, "k", &v, NULL), CK_OK);
	assert_string_equal(v, "v");
	free(v);
}

/* Retries are bounded: the caller gets CK_ERR_BUSY and nothing changed. */
static void
test_lost_race_retries_are_bounded(void **state)
{
	struct t_env *e = *state;
	struct ck_lineage_list l = { NULL, 0 };
	struct ck_err err;
	char *v = NULL;

	ck_err_clear(&err);
	use_flaky(e->st, 1000);
	assert_int_equal(ck_store_setting_set(e->st, "k", "v", &err), CK_ERR_BUSY);
	assert_int_equal(commits_tried, ST_TX_RETRY_MAX);
	assert_non_null(strstr(err.msg, "nothing was changed"));
	e->st->drv = real;
	assert_int_equal(ck_store_lineage_list(e->st, &l, NULL), CK_OK);
	assert_int_equal(l.n, 0);
	assert_int_equal(ck_store_setting_get(e->st, "k", &v, NULL), CK_ERR_NOT_FOUND);
}

/* Inside a caller's transaction the runner does not retry: the caller's
 * transaction is the one to run again. */
static void
test_no_retry_inside_a_transaction(void **state)
{
	struct t_env *e = *state;
	struct ck_err err;
	char *v = NULL;

	ck_err_clear(&err);
	assert_int_equal(ck_store_tx_begin(e->st, NULL), CK_OK);
	use_flaky(e->st, 1);
	assert_int_equal(ck_store_setting_set(e->st, "k", "v", &err), CK_ERR_BUSY);
	assert_int_equal(commits_tried, 1);
	e->st->drv = real;
	ck_store_tx_rollback(e->st);
	assert_int_equal(ck_store_setting_get(e->st, "k", &v, NULL), CK_ERR_NOT_FOUND);
}

/* New rows' ids come back from INSERT ... RETURNING, one per row. */
static void
test_insert_returns_the_new_id(void **state)
{
	struct t_env *e = *state;
	int64_t a = 0, b = 0, again = 0;

	assert_int_equal(ck_store_lineage_put(e->st, "a", NULL, 0, NULL, &a, NULL), CK_OK);
	assert_int_equal(ck_store_lineage_put(e->st, "b", NULL, 0, NULL, &b, NULL), CK_OK);
	assert_int_equal(ck_store_lineage_put(e->st, "a", NULL, 0, NULL, &again, NULL), CK_OK);
	assert_true(a > 0 && b > 0 && a != b);
	assert_int_equal(again, a);
}

/*
 * A handle that sheds its cache (ck_store_shed: renew's planning handle
 * while the workers hold the batch's peak) gives back the pages it read
 * and still reads the same.  SQLite only for the memory: PostgreSQL's
 * driver keeps no pages of its own.
 */
static void
test_shed_gives_back_cached_pages(void **state)
{
	struct t_env *e = *state;
	char key[32], value[1001];
	int64_t total = 0;
	sqlite3_int64 before, after;
	int i;

	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	assert_int_equal(ck_store_tx_begin(e->st, NULL), CK_OK);
	for (i = 0; i < 400; i++) {
		snprintf(key, sizeof(key), "shed.%d", i);
		assert_int_equal(ck_store_setting_set(e->st, key, value, NULL), CK_OK);
	}
	assert_int_equal(ck_store_tx_commit(e->st, NULL), CK_OK);
	assert_int_equal(st_query_int(e->st, NULL, &total, "SELECT sum(length(value)) FROM "
				      "settings WHERE key LIKE 'shed.%'", ""), CK_OK);
	assert_int_equal(total, 400 * 1000);
	before = sqlite3_memory_used();
	ck_store_shed(e->st);
	after = sqlite3_memory_used();
	if (!t_engine_pg()) /* 400 KB of pages were cached; at most a few pages stay */
		assert_true(before - after > 300 * 1000);
	total = 0;
	assert_int_equal(st_query_int(e->st, NULL, &total, "SELECT sum(length(value)) FROM "
				      "settings WHERE key LIKE 'shed.%'", ""), CK_OK);
	assert_int_equal(total, 400 * 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lost_race_is_run_again, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_six_lost_races_still_land, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_lost_race_retries_are_bounded, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_no_retry_inside_a_transaction, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_insert_returns_the_new_id, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_shed_gives_back_cached_pages, t_setup,
						t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
