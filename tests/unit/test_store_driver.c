/*
 * test_store_driver.c - the store's driver seam (src/store/driver.h) and
 * the transaction runner on top of it.  SQLite never reports a lost race
 * (ST_FAIL_RETRY: its busy timeout waits for the lock instead), so these
 * tests wrap the store's driver's table (SQLite's, or PostgreSQL's when the
 * suite runs on it) in one whose commit loses the race
 * a given number of times, the way PostgreSQL reports a serialization
 * failure, and check what a user of the store would see: the change lands
 * once after a bounded number of runs, or not at all with CK_ERR_BUSY.
 * A renewal lease's transactions (claim, claim-after-release, extend)
 * begin unsynced where the driver can (SQLite: synchronous NORMAL for that
 * transaction only); every other write, and a lease change inside a
 * caller's transaction, commits synced (FULL).
 */
#include "test_store_util.h"

#include <sqlite3.h>

#include "store/renewal.h"
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

/* Which begin the store called, through a wrapped driver. */
static int begins, begins_unsynced;
static struct st_driver_ops counting;

static int
counting_begin(struct st_conn *c)
{
	begins++;
	return real->begin(c);
}

static int
counting_begin_unsynced(struct st_conn *c)
{
	begins_unsynced++;
	return real->begin_unsynced(c);
}

static void
use_counting(struct ck_store *st)
{
	real = st->drv;
	counting = *real;
	counting.begin = counting_begin;
	/* PostgreSQL has none: the store then begins as always. */
	counting.begin_unsynced = real->begin_unsynced ? counting_begin_unsynced : NULL;
	st->drv = &counting;
	begins = begins_unsynced = 0;
}

/* SQLite's synchronous level now: 1 NORMAL, 2 FULL. */
static int64_t
sync_level(struct ck_store *st)
{
	int64_t v = -1;

	assert_int_equal(st_query_int(st, NULL, &v, "PRAGMA synchronous", ""), CK_OK);
	return v;
}

static enum ck_code
read_sync_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	(void)err;
	*(int64_t *)arg = sync_level(st);
	return CK_OK;
}

static enum ck_code
failing_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	(void)st;
	(void)arg;
	return CK_FAIL(err, CK_ERR_INVALID_ARG, "the body refuses");
}

/* Lease changes begin unsynced where the driver can; nothing else does. */
static void
test_lease_commits_unsynced(void **state)
{
	struct t_env *e = *state;
	int unsynced = !t_engine_pg();
	int64_t tok = 0, level = 0;
	struct ck_err err;

	ck_err_clear(&err);
	assert_int_equal(ck_store_lineage_put(e->st, "www", NULL, 0, "ec256", NULL, &err), CK_OK);
	assert_int_equal(ck_store_lineage_put(e->st, "api", NULL, 0, "ec256", NULL, &err), CK_OK);
	use_counting(e->st);
	assert_int_equal(ck_store_renewal_claim(e->st, "www", "host pid 1 run a", e->now + 60, NULL,
						&tok, &err), CK_OK);
	assert_int_equal(ck_store_renewal_extend(e->st, "www", "host pid 1 run a", tok,
						 e->now + 120, &err), CK_OK);
	assert_int_equal(ck_store_renewal_claim_after(e->st, "www", "api", "host pid 1 run a",
						      e->now + 60, NULL, &tok, &err), CK_OK);
	assert_int_equal(begins_unsynced, unsynced ? 3 : 0);
	assert_int_equal(begins, unsynced ? 0 : 3);
	/* Any other write is synced. */
	assert_int_equal(ck_store_lineage_put(e->st, "mail", NULL, 0, "ec256", NULL, &err), CK_OK);
	assert_int_equal(begins_unsynced, unsynced ? 3 : 0);
	assert_int_equal(begins, unsynced ? 1 : 4);
	e->st->drv = real;
	if (!unsynced)
		return;
	/* On SQLite: NORMAL inside an unsynced transaction only; FULL after it,
	 * after one whose body failed, and for one inside a synced caller's. */
	assert_int_equal(st_tx_run_unsynced(e->st, &err, "test.unsynced", read_sync_body, &level),
			 CK_OK);
	assert_int_equal(level, 1);
	assert_int_equal(sync_level(e->st), 2);
	assert_int_equal(st_tx_run(e->st, &err, "test.synced", read_sync_body, &level), CK_OK);
	assert_int_equal(level, 2);
	assert_int_equal(st_tx_run_unsynced(e->st, &err, "test.unsynced", failing_body, NULL),
			 CK_ERR_INVALID_ARG);
	assert_int_equal(st_tx_run(e->st, &err, "test.synced", read_sync_body, &level), CK_OK);
	assert_int_equal(level, 2);
	assert_int_equal(st_begin(e->st, &err), CK_OK);
	assert_int_equal(st_tx_run_unsynced(e->st, &err, "test.nested", read_sync_body, &level),
			 CK_OK);
	assert_int_equal(level, 2);
	assert_int_equal(st_commit(e->st, &err), CK_OK);
	st_rollback(e->st);
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
		cmocka_unit_test_setup_teardown(test_lease_commits_unsynced, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_shed_gives_back_cached_pages, t_setup,
						t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
