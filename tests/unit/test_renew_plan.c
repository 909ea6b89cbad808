/*
 * test_renew_plan.c - who is due (ck_renew with dry_run, no ACME server):
 * two thirds of a 90-day lifetime, half of a 6-day one, a stable jitter
 * that only ever moves the moment earlier, revoked, key gone, names
 * changed, no certificate, --force; a dry run writes no renewal state; a
 * named lineage that does not exist stops the run before anything; the
 * due-scan reads by the stored next-due time, page by page; what the plan
 * keeps per lineage: arrays of exactly the lineages kept, server URLs and
 * account names once, the jobs' strings in a pool given back for a lineage
 * not kept.
 */
#include "test_store_util.h"

#include <malloc.h>
#include <stdint.h>

#include <certkeep/renew.h>

#include "renew/renew_int.h"

/* A leaf for name, nb = now - age days, lifetime days long, put as lineage name. */
static int64_t
plan_cert(struct t_env *e, struct t_pki *p, const char *name, long age, long lifetime, int keyed,
	  long serial)
{
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_der d;
	int64_t kid = keyed ? t_put_key(e->st, k) : 0, id;

	/* t_leaf: notBefore = its now - 1 day, notAfter = its now + days */
	t_leaf(p, k, name, serial, e->now - (age - 1) * T_DAY, lifetime - 1, &d);
	id = t_put_cert(e->st, &d, &p->chain, kid, name, NULL);
	free(d.data);
	EVP_PKEY_free(k);
	return id;
}

/* The integer sql answers, read through a connection of the test's own. */
static long long
plan_rows(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static const struct ck_renew_item *
plan_find(const struct ck_renew_report *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->items[i].lineage, name) == 0)
			return &r->items[i];
	fail_msg("no item %s", name);
	return NULL;
}

/* A dry run over every lineage; show_all: the not-due ones listed too. */
static void
plan_run_all(struct t_env *e, int force, int show_all, struct ck_renew_report *rep)
{
	struct ck_renew_opts o;
	struct ck_err err;

	memset(&o, 0, sizeof(o));
	o.dry_run = 1;
	o.force = force;
	o.show_all = show_all;
	ck_err_clear(&err);
	if (ck_renew(&e->ctx, e->st, &o, rep, &err) != CK_OK)
		fail_msg("ck_renew: %s", err.msg);
}

static void
plan_run(struct t_env *e, int force, struct ck_renew_report *rep)
{
	plan_run_all(e, force, 1, rep);
}

static void
test_who_is_due(void **state)
{
	struct t_env *e = *state;
	struct ck_renew_report rep, again;
	const struct ck_renew_item *it;
	const char *names[] = { "changed.test", "extra.test" };
	struct t_pki p;
	struct ck_err err;
	int64_t revoked;
	time_t nb;
	size_t i;

	ck_err_clear(&err);
	t_pki_init(&p, e->now);
	plan_cert(e, &p, "young.test", 10, 90, 1, 2);   /* 10 of 90 days: not due */
	plan_cert(e, &p, "old.test", 61, 90, 1, 3);     /* 61 of 90 days: past 2/3 */
	plan_cert(e, &p, "short.test", 4, 6, 1, 4);     /* 4 of 6 days: past 1/2 */
	plan_cert(e, &p, "early.test", 2, 6, 1, 5);     /* 2 of 6 days: not due */
	revoked = plan_cert(e, &p, "revoked.test", 1, 90, 1, 6);
	plan_cert(e, &p, "nokey.test", 1, 90, 0, 7);
	plan_cert(e, &p, "changed.test", 1, 90, 1, 8);
	assert_int_equal(ck_store_cert_revoked_set(e->st, revoked, e->now, NULL, &err), CK_OK);
	assert_int_equal(ck_store_lineage_put(e->st, "changed.test", names, 2, NULL, NULL, &err),
			 CK_OK);
	assert_int_equal(ck_store_lineage_put(e->st, "empty.test", names + 1, 1, NULL, NULL, &err),
			 CK_OK);

	plan_run(e, 0, &rep);
	assert_int_equal(rep.n, 8);
	it = plan_find(&rep, "young.test");
	assert_int_equal(it->why, CK_RENEW_NOT_DUE);
	assert_int_equal(it->state, CK_RENEW_ST_NOT_DUE);
	/* due at 2/3 of 90 days, a jitter of at most 90/20 days earlier */
	nb = e->now - 10 * T_DAY;
	assert_true(it->due_at <= nb + 60 * T_DAY && it->due_at >= nb + 60 * T_DAY - 9 * T_DAY / 2);
	assert_int_equal(plan_find(&rep, "old.test")->why, CK_RENEW_LIFETIME);
	assert_int_equal(plan_find(&rep, "old.test")->state, CK_RENEW_ST_DUE);
	assert_int_equal(plan_find(&rep, "short.test")->why, CK_RENEW_LIFETIME);
	it = plan_find(&rep, "early.test");
	assert_int_equal(it->why, CK_RENEW_NOT_DUE);
	nb = e->now - 2 * T_DAY;
	assert_true(it->due_at <= nb + 3 * T_DAY && it->due_at >= nb + 3 * T_DAY - 6 * T_DAY / 20);
	assert_int_equal(plan_find(&rep, "revoked.test")->why, CK_RENEW_REVOKED);
	assert_int_equal(plan_find(&rep, "nokey.test")->why, CK_RENEW_KEY_GONE);
	assert_int_equal(plan_find(&rep, "changed.test")->why, CK_RENEW_NAMES);
	assert_int_equal(plan_find(&rep, "empty.test")->why, CK_RENEW_NO_CERT);
	assert_int_equal(rep.counts.total, 6);

	/* the same moments on every run; a dry run wrote no renewal state */
	plan_run(e, 0, &again);
	for (i = 0; i < rep.n; i++)
		assert_int_equal((long long)rep.items[i].due_at, (long long)again.items[i].due_at);
	ck_renew_report_cleanup(&again);
	ck_renew_report_cleanup(&rep);
	assert_int_equal(plan_rows(e->path, "SELECT count(*) FROM renewal"), 0);

	/* without --show-all only the due ones are read and listed */
	plan_run_all(e, 0, 0, &rep);
	assert_int_equal(rep.n, 6);
	assert_int_equal(rep.counts.total, 6);
	for (i = 0; i < rep.n; i++)
		assert_int_not_equal(rep.items[i].state, CK_RENEW_ST_NOT_DUE);
	for (i = 1; i < rep.n; i++) /* by name, as before */
		assert_true(strcmp(rep.items[i - 1].lineage, rep.items[i].lineage) < 0);
	ck_renew_report_cleanup(&rep);

	plan_run(e, 1, &rep);
	assert_int_equal(plan_find(&rep, "young.test")->why, CK_RENEW_FORCED);
	assert_int_equal(plan_find(&rep, "revoked.test")->why, CK_RENEW_REVOKED);
	assert_int_equal(rep.counts.total, 8);
	ck_renew_report_cleanup(&rep);
	t_pki_cleanup(&p);
}

/* The stored next-due time (migration 15) of lineage name. */
static long long
plan_due_at(struct t_env *e, const char *name)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "SELECT due_at FROM lineages WHERE name = '%s'", name);
	return plan_rows(e->path, sql);
}

/*
 * The scan trusts the stored next-due time: a lineage whose due_at is in
 * the future is not read (even one the lifetime rule would find due), one
 * in the past is, and a plan stores the moment of each not-due lineage it
 * read (a dry run too), so the next plan does not read it.
 */
static void
test_due_at_decides_what_is_read(void **state)
{
	struct t_env *e = *state;
	struct ck_renew_report rep, all;
	const struct ck_renew_item *it;
	struct t_pki p;
	char sql[200];

	t_pki_init(&p, e->now);
	plan_cert(e, &p, "young.test", 10, 90, 1, 2);
	plan_cert(e, &p, "old.test", 61, 90, 1, 3);
	assert_int_equal(plan_due_at(e, "young.test"), 0); /* new: look now */
	plan_run_all(e, 0, 0, &rep);
	assert_int_equal(rep.n, 1);
	assert_string_equal(rep.items[0].lineage, "old.test");
	ck_renew_report_cleanup(&rep);
	/* young's moment is stored; old, due, keeps what it had */
	plan_run_all(e, 0, 1, &all);
	it = plan_find(&all, "young.test");
	assert_int_equal(plan_due_at(e, "young.test"), (long long)it->due_at);
	assert_int_equal(plan_due_at(e, "old.test"), 0);
	ck_renew_report_cleanup(&all);
	/* a due_at in the future hides even a lineage the rule finds due ... */
	snprintf(sql, sizeof(sql), "UPDATE lineages SET due_at = %lld WHERE name = 'old.test'",
		 (long long)e->now + 3600);
	t_sql(e->path, sql);
	plan_run_all(e, 0, 0, &rep);
	assert_int_equal(rep.n, 0);
	ck_renew_report_cleanup(&rep);
	/* ... and one in the past is read and decided by the rule: not due */
	t_sql(e->path, "UPDATE lineages SET due_at = 1 WHERE name = 'young.test'");
	t_sql(e->path, "UPDATE lineages SET due_at = 1 WHERE name = 'old.test'");
	plan_run_all(e, 0, 0, &rep);
	assert_int_equal(rep.n, 1);
	assert_string_equal(rep.items[0].lineage, "old.test");
	assert_int_equal(rep.items[0].why, CK_RENEW_LIFETIME);
	ck_renew_report_cleanup(&rep);
	assert_true(plan_due_at(e, "young.test") > e->now);
	t_pki_cleanup(&p);
}

/* More lineages than one page (CERTKEEP_PLAN_PAGE=3 in a test build): every
 * due one planned exactly once, the not-due ones' moments stored between
 * pages without a lineage read twice. */
static void
test_pages_plan_each_once(void **state)
{
	struct t_env *e = *state;
	struct ck_renew_report rep;
	struct t_pki p;
	char name[40];
	size_t i, round;

	t_pki_init(&p, e->now);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "%c%02zu.test", i % 2 ? 'd' : 'n', i);
		plan_cert(e, &p, name, i % 2 ? 61 : 10, 90, 1, (long)i + 2);
	}
	assert_int_equal(setenv("CERTKEEP_PLAN_PAGE", "3", 1), 0);
	for (round = 0; round < 2; round++) {
		plan_run_all(e, 0, 0, &rep);
		assert_int_equal(rep.n, 10);
		for (i = 0; i < rep.n; i++) {
			assert_int_equal(rep.items[i].lineage[0], 'd');
			assert_int_equal(rep.items[i].state, CK_RENEW_ST_DUE);
			if (i > 0) /* sorted and so each once */
				assert_true(strcmp(rep.items[i - 1].lineage, rep.items[i].lineage) < 0);
		}
		ck_renew_report_cleanup(&rep);
	}
	assert_int_equal(plan_rows(e->path, "SELECT count(*) FROM lineages WHERE due_at > 0"), 10);
	plan_run_all(e, 0, 1, &rep);
	assert_int_equal(rep.n, 20);
	ck_renew_report_cleanup(&rep);
	assert_int_equal(unsetenv("CERTKEEP_PLAN_PAGE"), 0);
	t_pki_cleanup(&p);
}

static void
test_unknown_lineage(void **state)
{
	struct t_env *e = *state;
	const char *names[] = { "nope" };
	struct ck_renew_report rep;
	struct ck_renew_opts o;
	struct ck_err err;

	memset(&o, 0, sizeof(o));
	memset(&rep, 0, sizeof(rep));
	o.lineages = names;
	o.nlineages = 1;
	ck_err_clear(&err);
	assert_int_equal(ck_renew(&e->ctx, e->st, &o, &rep, &err), CK_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "nope"));
	assert_non_null(strstr(err.msg, "nothing was renewed"));
	assert_string_equal(ck_renew_why_name(CK_RENEW_ARI), "ari-window");
	assert_string_equal(ck_renew_state_name(CK_RENEW_ST_WAITING), "waiting");
}

/* A plan's arrays hold exactly its lineages, not the slack of their growth
 * (70 lineages grew them to 128): scanned and sorted, and named. */
static void
test_plan_arrays_exact(void **state)
{
	struct t_env *e = *state;
	const char *names[] = { "l00.test", "l01.test", "l02.test" };
	struct ck_renew_report rep;
	struct ck_renew_opts o;
	struct ck_err err;
	struct t_pki p;
	char name[40];
	size_t i;

	t_pki_init(&p, e->now);
	for (i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "l%02zu.test", i);
		plan_cert(e, &p, name, 10, 90, 1, (long)i + 2);
	}
	plan_run_all(e, 1, 0, &rep);
	assert_int_equal(rep.n, 70);
	assert_true(malloc_usable_size(rep.items) < 71 * sizeof(*rep.items));
	for (i = 0; i < rep.n; i++)
		assert_int_equal(rep.items[i].why, CK_RENEW_FORCED);
	ck_renew_report_cleanup(&rep);
	memset(&o, 0, sizeof(o));
	o.dry_run = 1;
	o.lineages = names;
	o.nlineages = 3;
	ck_err_clear(&err);
	assert_int_equal(ck_renew(&e->ctx, e->st, &o, &rep, &err), CK_OK);
	assert_int_equal(rep.n, 3);
	assert_string_equal(rep.items[2].lineage, "l02.test");
	assert_true(malloc_usable_size(rep.items) < 4 * sizeof(*rep.items));
	ck_renew_report_cleanup(&rep);
	t_pki_cleanup(&p);
}

/* Interning: the same pointer for the same server, another for another;
 * past RENEW_INTERN_MAX a copy each time; all freed by the cleanup. */
static void
test_plan_intern(void **state)
{
	struct renew_plan p;
	char same[] = "https://a.test/dir", name[32];
	const char *a, *b, *first = NULL;
	size_t i;

	(void)state;
	memset(&p, 0, sizeof(p));
	a = renew_plan_intern(&p, "https://a.test/dir");
	assert_non_null(a);
	assert_ptr_equal(renew_plan_intern(&p, same), a);
	b = renew_plan_intern(&p, "https://b.test/dir");
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_string_equal(b, "https://b.test/dir");
	assert_null(renew_plan_intern(&p, NULL));
	for (i = 0; i < RENEW_INTERN_MAX + 2; i++) {
		snprintf(name, sizeof(name), "account-%zu", i);
		b = renew_plan_intern(&p, name);
		assert_string_equal(b, name);
		if (i == 0)
			first = b;
	}
	assert_ptr_equal(renew_plan_intern(&p, "account-0"), first);
	assert_ptr_equal(renew_plan_intern(&p, same), a);
	snprintf(name, sizeof(name), "account-%d", RENEW_INTERN_MAX);
	b = renew_plan_intern(&p, name); /* past the table: a new copy */
	assert_string_equal(b, name);
	assert_ptr_not_equal(renew_plan_intern(&p, name), b);
	renew_plan_cleanup(&p);
	assert_int_equal(p.ninterned, 0);
}

/* The pool: pointer-aligned arrays after strings, a request larger than a
 * block, and a rollback that gives back what was taken since the mark. */
static void
test_plan_pool(void **state)
{
	struct renew_pool pool = { NULL };
	struct renew_pool_mark m;
	const char *s, *again;
	char big[20000];
	void *v;
	size_t i;

	(void)state;
	assert_string_equal(renew_pool_strdup(&pool, "a"), "a");
	v = renew_pool_alloc(&pool, 3 * sizeof(char *), sizeof(char *));
	assert_non_null(v);
	assert_int_equal((uintptr_t)v % sizeof(char *), 0);
	assert_null(renew_pool_strdup(&pool, NULL));
	m = renew_pool_mark(&pool);
	s = renew_pool_strdup(&pool, "www.example.test");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_string_equal(renew_pool_strdup(&pool, big), big);
	for (i = 0; i < 2000; i++) /* more blocks */
		assert_non_null(renew_pool_strdup(&pool, "name.example.test"));
	renew_pool_rollback(&pool, m);
	again = renew_pool_strdup(&pool, "www.example.test");
	assert_ptr_equal(again, s);
	renew_pool_free(&pool);
	assert_null(pool.head);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_who_is_due, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_lineage, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_due_at_decides_what_is_read, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_pages_plan_each_once, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_plan_arrays_exact, t_setup, t_teardown),
		cmocka_unit_test(test_plan_intern),
		cmocka_unit_test(test_plan_pool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
