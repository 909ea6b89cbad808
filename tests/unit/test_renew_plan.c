/*
 * test_renew_plan.c - who is due (ck_renew with dry_run, no ACME server):
 * two thirds of a 90-day lifetime, half of a 6-day one, a stable jitter
 * that only ever moves the moment earlier, revoked, key gone, names
 * changed, no certificate, --force; a dry run writes nothing; a named
 * lineage that does not exist stops the run before anything.
 */
#include "test_store_util.h"

#include <certkeep/renew.h>

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

static void
plan_run(struct t_env *e, int force, struct ck_renew_report *rep)
{
	struct ck_renew_opts o;
	struct ck_err err;

	memset(&o, 0, sizeof(o));
	o.dry_run = 1;
	o.force = force;
	ck_err_clear(&err);
	if (ck_renew(&e->ctx, e->st, &o, rep, &err) != CK_OK)
		fail_msg("ck_renew: %s", err.msg);
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

	plan_run(e, 1, &rep);
	assert_int_equal(plan_find(&rep, "young.test")->why, CK_RENEW_FORCED);
	assert_int_equal(plan_find(&rep, "revoked.test")->why, CK_RENEW_REVOKED);
	assert_int_equal(rep.counts.total, 8);
	ck_renew_report_cleanup(&rep);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_who_is_due, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_lineage, t_setup, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
