/*
 * test_store_account.c - ACME accounts in the store: put/get, several per
 * server with a default, and the two-step key rollover (pending key
 * committed first; commit switches in one transaction and bumps the
 * generation; clear forgets the pending key but keeps the key row), the
 * update that never writes a key back (a row read before a network round
 * trip must not undo a rollover committed meanwhile), and the previous key
 * that stays in use, never an orphan for doctor or prune, for the
 * rollover's grace.  Two processes rolling the same account over at once
 * (on PostgreSQL: two connections) lose no rollover.
 */
#include <sys/wait.h>

#include "test_store_util.h"

#define SRV "https://acme.test/dir"

static int64_t
put_account(struct ck_store *st, const char *name, int64_t key_id)
{
	struct ck_account a;
	struct ck_err err;
	int64_t id = 0;

	memset(&a, 0, sizeof(a));
	a.name = (char *)name;
	a.server = (char *)SRV;
	a.url = (char *)"https://acme.test/acct/1";
	a.key_id = key_id;
	a.contacts = (char *)"[\"mailto:admin@example.org\"]";
	a.tos_agreed = 1;
	ck_err_clear(&err);
	if (ck_store_account_put(st, &a, &id, &err) != CK_OK)
		fail_msg("account put: %s", err.msg);
	return id;
}

static void
test_account_put_get_default(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k1 = t_key(CK_KEY_EC256), *k2 = t_key(CK_KEY_EC256);
	struct ck_account a;
	struct ck_account_list l;
	struct ck_err err;
	int64_t kid1 = t_put_key(e->st, k1), kid2 = t_put_key(e->st, k2), id1, id2;

	id1 = put_account(e->st, NULL, kid1);
	assert_int_equal(ck_store_account_get(e->st, SRV, NULL, &a, NULL), CK_OK);
	assert_int_equal(a.id, id1);
	assert_string_equal(a.name, "default");
	assert_string_equal(a.status, "valid");
	assert_int_equal(a.tos_agreed, 1);
	assert_true(a.is_default);
	ck_account_cleanup(&a);
	/* Idempotent by (server, name). */
	assert_int_equal(put_account(e->st, NULL, kid1), id1);
	id2 = put_account(e->st, "second", kid2);
	assert_true(id2 != id1);
	assert_int_equal(ck_store_account_get(e->st, SRV, NULL, &a, NULL), CK_OK);
	assert_int_equal(a.id, id1);
	ck_account_cleanup(&a);
	assert_int_equal(ck_store_account_set_default(e->st, SRV, "second", NULL), CK_OK);
	assert_int_equal(ck_store_account_get(e->st, SRV, NULL, &a, NULL), CK_OK);
	assert_int_equal(a.id, id2);
	ck_account_cleanup(&a);
	assert_int_equal(ck_store_account_list(e->st, &l, NULL), CK_OK);
	assert_int_equal(l.n, 2);
	assert_true(l.items[0].is_default != l.items[1].is_default);
	ck_account_list_cleanup(&l);
	ck_err_clear(&err);
	assert_int_equal(ck_store_account_get(e->st, "https://other.test/dir", NULL, &a, &err),
			 CK_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "account register"));
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static void
test_account_key_must_exist(void **state)
{
	struct t_env *e = *state;
	struct ck_account a;

	memset(&a, 0, sizeof(a));
	a.server = (char *)SRV;
	a.key_id = 42;
	assert_int_equal(ck_store_account_put(e->st, &a, NULL, NULL), CK_ERR_NOT_FOUND);
	a.contacts = (char *)"not json";
	assert_int_equal(ck_store_account_put(e->st, &a, NULL, NULL), CK_ERR_INVALID_ARG);
}

static void
test_rollover_commit(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *old = t_key(CK_KEY_EC256), *nk = t_key(CK_KEY_RSA2048);
	struct ck_account a;
	struct ck_key_list orphans;
	int64_t kold = t_put_key(e->st, old), knew, id;
	uint64_t g;

	id = put_account(e->st, NULL, kold);
	assert_int_equal(ck_store_account_commit_rollover(e->st, id, NULL), CK_ERR_STATE);
	knew = t_put_key(e->st, nk);
	assert_int_equal(ck_store_account_set_pending_key(e->st, id, knew, NULL), CK_OK);
	/* Same pending key again is fine; a different one is refused. */
	assert_int_equal(ck_store_account_set_pending_key(e->st, id, knew, NULL), CK_OK);
	assert_int_equal(ck_store_account_set_pending_key(e->st, id, kold, NULL), CK_ERR_STATE);
	/* The pending key is in use: never an orphan. */
	assert_int_equal(ck_store_key_list(e->st, 1, &orphans, NULL), CK_OK);
	assert_int_equal(orphans.n, 0);
	ck_key_list_cleanup(&orphans);
	/* A "process restart": a new handle still sees the pending key. */
	ck_store_close(e->st);
	assert_int_equal(ck_store_open(e->path, &e->ctx, &e->st, NULL), CK_OK);
	assert_int_equal(ck_store_account_get_id(e->st, id, &a, NULL), CK_OK);
	assert_int_equal(a.pending_key_id, knew);
	assert_int_equal(a.key_id, kold);
	ck_account_cleanup(&a);
	g = t_gen(e->st);
	assert_int_equal(ck_store_account_commit_rollover(e->st, id, NULL), CK_OK);
	assert_true(t_gen(e->st) > g);
	assert_int_equal(ck_store_account_get_id(e->st, id, &a, NULL), CK_OK);
	assert_int_equal(a.key_id, knew);
	assert_int_equal(a.pending_key_id, 0);
	ck_account_cleanup(&a);
	/* The old key is kept, not deleted: the account's previous key, in use
	 * for CK_STORE_ACCOUNT_KEEP_S, then an orphan. */
	assert_int_equal(ck_store_key_list(e->st, 1, &orphans, NULL), CK_OK);
	assert_int_equal(orphans.n, 0);
	ck_key_list_cleanup(&orphans);
	e->now += CK_STORE_ACCOUNT_KEEP_S;
	assert_int_equal(ck_store_key_list(e->st, 1, &orphans, NULL), CK_OK);
	assert_int_equal(orphans.n, 1);
	assert_int_equal(orphans.items[0].id, kold);
	ck_key_list_cleanup(&orphans);
	EVP_PKEY_free(old);
	EVP_PKEY_free(nk);
}

static void
test_rollover_clear(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *old = t_key(CK_KEY_EC256), *nk = t_key(CK_KEY_EC256);
	struct ck_account a;
	int64_t kold = t_put_key(e->st, old), knew = t_put_key(e->st, nk), id;

	id = put_account(e->st, NULL, kold);
	assert_int_equal(ck_store_account_set_pending_key(e->st, id, knew, NULL), CK_OK);
	assert_int_equal(ck_store_account_clear_pending(e->st, id, NULL), CK_OK);
	assert_int_equal(ck_store_account_get_id(e->st, id, &a, NULL), CK_OK);
	assert_int_equal(a.key_id, kold);
	assert_int_equal(a.pending_key_id, 0);
	ck_account_cleanup(&a);
	assert_int_equal(ck_store_key_info(e->st, knew, &(struct ck_key_info){ 0 }, NULL), CK_OK);
	EVP_PKEY_free(old);
	EVP_PKEY_free(nk);
}

/* An update carrying a stale row (the key read before a concurrent rollover)
 * records the server's fields and leaves the key alone. */
static void
test_update_never_writes_the_key(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *old = t_key(CK_KEY_EC256), *nk = t_key(CK_KEY_EC256);
	struct ck_account stale, a, in;
	int64_t kold = t_put_key(e->st, old), knew = t_put_key(e->st, nk), id;

	id = put_account(e->st, NULL, kold);
	assert_int_equal(ck_store_account_get_id(e->st, id, &stale, NULL), CK_OK);
	/* another process rolls the account over meanwhile */
	assert_int_equal(ck_store_account_set_pending_key(e->st, id, knew, NULL), CK_OK);
	assert_int_equal(ck_store_account_commit_rollover(e->st, id, NULL), CK_OK);
	in = stale;
	in.contacts = (char *)"[\"mailto:new@example.org\"]";
	in.status = (char *)"deactivated";
	in.tos_agreed = 0;
	assert_int_equal(ck_store_account_update(e->st, &in, NULL), CK_OK);
	assert_int_equal(ck_store_account_get_id(e->st, id, &a, NULL), CK_OK);
	assert_int_equal(a.key_id, knew);
	assert_int_equal(a.pending_key_id, 0);
	assert_string_equal(a.contacts, "[\"mailto:new@example.org\"]");
	assert_string_equal(a.status, "deactivated");
	assert_int_equal(a.tos_agreed, 1); /* 0 leaves an agreement as it is */
	assert_string_equal(a.url, "https://acme.test/acct/1");
	ck_account_cleanup(&a);
	/* NULL fields stay as stored; bad input and a missing row are refused */
	memset(&in, 0, sizeof(in));
	in.id = id;
	in.status = (char *)"valid";
	assert_int_equal(ck_store_account_update(e->st, &in, NULL), CK_OK);
	assert_int_equal(ck_store_account_get_id(e->st, id, &a, NULL), CK_OK);
	assert_string_equal(a.contacts, "[\"mailto:new@example.org\"]");
	assert_string_equal(a.status, "valid");
	ck_account_cleanup(&a);
	in.status = (char *)"bogus";
	assert_int_equal(ck_store_account_update(e->st, &in, NULL), CK_ERR_INVALID_ARG);
	in.status = NULL;
	in.id = id + 100;
	assert_int_equal(ck_store_account_update(e->st, &in, NULL), CK_ERR_NOT_FOUND);
	ck_account_cleanup(&stale);
	EVP_PKEY_free(old);
	EVP_PKEY_free(nk);
}

/* put may replace a key (registration, recovery), never under a pending rollover. */
static void
test_put_refuses_a_key_during_a_rollover(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *old = t_key(CK_KEY_EC256), *nk = t_key(CK_KEY_EC256), *x = t_key(CK_KEY_EC256);
	struct ck_account a;
	struct ck_err err;
	int64_t kold = t_put_key(e->st, old), knew = t_put_key(e->st, nk);
	int64_t kx = t_put_key(e->st, x), id;

	id = put_account(e->st, NULL, kold);
	assert_int_equal(ck_store_account_set_pending_key(e->st, id, knew, NULL), CK_OK);
	assert_int_equal(ck_store_account_get_id(e->st, id, &a, NULL), CK_OK);
	a.key_id = kx;
	ck_err_clear(&err);
	assert_int_equal(ck_store_account_put(e->st, &a, NULL, &err), CK_ERR_STATE);
	assert_non_null(strstr(err.msg, "rollover in progress"));
	ck_account_cleanup(&a);
	assert_int_equal(ck_store_account_get_id(e->st, id, &a, NULL), CK_OK);
	assert_int_equal(a.key_id, kold);
	assert_int_equal(a.pending_key_id, knew);
	ck_account_cleanup(&a);
	EVP_PKEY_free(old);
	EVP_PKEY_free(nk);
	EVP_PKEY_free(x);
}

static size_t
orphan_findings(struct t_env *e, int64_t key_id)
{
	struct ck_doctor_opts o;
	struct ck_findings f;
	size_t i, n = 0;

	memset(&o, 0, sizeof(o));
	o.now = e->now;
	assert_int_equal(ck_store_doctor(e->st, &o, &f, NULL), CK_OK);
	for (i = 0; i < f.n; i++)
		n += strcmp(f.items[i].name, "orphan-key") == 0 && f.items[i].key_id == key_id;
	ck_findings_cleanup(&f);
	return n;
}

/* The key a rollover replaced is the account's previous key: in use until
 * the grace given to commit_rollover_keep ends, then an orphan. */
static void
test_previous_key_kept_for_the_grace(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *old = t_key(CK_KEY_EC256), *nk = t_key(CK_KEY_EC256);
	struct ck_findings pruned;
	struct ck_key_list orphans;
	int64_t kold = t_put_key(e->st, old), knew = t_put_key(e->st, nk), id;

	id = put_account(e->st, NULL, kold);
	assert_int_equal(ck_store_account_set_pending_key(e->st, id, knew, NULL), CK_OK);
	assert_int_equal(ck_store_account_commit_rollover_keep(e->st, id, 30, NULL), CK_OK);
	e->now += 29;
	assert_int_equal(orphan_findings(e, kold), 0);
	assert_int_equal(ck_store_key_list(e->st, 1, &orphans, NULL), CK_OK);
	assert_int_equal(orphans.n, 0);
	ck_key_list_cleanup(&orphans);
	assert_int_equal(ck_store_doctor_prune(e->st, &pruned, NULL), CK_OK);
	assert_int_equal(pruned.n, 0);
	ck_findings_cleanup(&pruned);
	assert_int_equal(ck_store_key_remove(e->st, kold, NULL), CK_ERR_IN_USE);
	/* the grace is over: the old key is unused, and prune may remove it */
	e->now += 1;
	assert_int_equal(orphan_findings(e, kold), 1);
	assert_int_equal(orphan_findings(e, knew), 0);
	assert_int_equal(ck_store_doctor_prune(e->st, &pruned, NULL), CK_OK);
	assert_int_equal(pruned.n, 1);
	assert_int_equal(pruned.items[0].key_id, kold);
	ck_findings_cleanup(&pruned);
	assert_int_equal(ck_store_key_info(e->st, knew, &(struct ck_key_info){ 0 }, NULL), CK_OK);
	EVP_PKEY_free(old);
	EVP_PKEY_free(nk);
}

/* One rollover by this process: a new key, pending (waiting while the other
 * process's rollover is pending), committed.  0 on success. */
static int
rollover_once(struct ck_store *st, int64_t id)
{
	EVP_PKEY *k = NULL;
	int64_t kid = 0;
	enum ck_code rc = CK_ERR_STATE;
	int tries;

	if (ck_key_generate(CK_KEY_EC256, &k, NULL) != CK_OK ||
	    ck_store_key_put(st, k, &kid, NULL, NULL) != CK_OK) {
		EVP_PKEY_free(k);
		return 1;
	}
	EVP_PKEY_free(k);
	for (tries = 0; tries < 5000 && rc == CK_ERR_STATE; tries++) {
		rc = ck_store_account_set_pending_key(st, id, kid, NULL);
		if (rc == CK_ERR_STATE)
			usleep(1000);
	}
	if (rc != CK_OK)
		return 1;
	return ck_store_account_commit_rollover(st, id, NULL) == CK_OK ? 0 : 1;
}

#define T_ROUNDS 15

static void
test_concurrent_rollovers_lose_nothing(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k0 = t_key(CK_KEY_EC256);
	int64_t id = put_account(e->st, NULL, t_put_key(e->st, k0));
	struct ck_account a;
	uint64_t g0, g1, per_round;
	pid_t pids[2];
	int i, status;

	/* What one rollover bumps, measured alone. */
	g0 = t_gen(e->st);
	assert_int_equal(rollover_once(e->st, id), 0);
	per_round = t_gen(e->st) - g0;
	g0 = t_gen(e->st);
	ck_store_close(e->st);
	e->st = NULL;
	fflush(NULL);
	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct ck_store *st = NULL;
			int j, bad = 0;
			if (ck_store_open(e->path, &e->ctx, &st, NULL) != CK_OK)
				_exit(2);
			for (j = 0; j < T_ROUNDS; j++)
				bad |= rollover_once(st, id);
			ck_store_close(st);
			_exit(bad);
		}
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(ck_store_open(e->path, &e->ctx, &e->st, NULL), CK_OK);
	g1 = t_gen(e->st);
	/* Every rollover of both processes landed, each exactly once. */
	assert_int_equal(g1 - g0, 2 * T_ROUNDS * per_round);
	assert_int_equal(ck_store_account_get(e->st, SRV, NULL, &a, NULL), CK_OK);
	assert_int_equal(a.pending_key_id, 0);
	assert_true(a.key_id > 0);
	ck_account_cleanup(&a);
	EVP_PKEY_free(k0);
}

static int64_t
acct_gen(struct ck_store *st, int64_t id)
{
	struct ck_account a;
	int64_t g;

	memset(&a, 0, sizeof(a));
	assert_int_equal(ck_store_account_get_id(st, id, &a, NULL), CK_OK);
	g = a.generation;
	ck_account_cleanup(&a);
	return g;
}

/* An account's own generation moves with its key, URL and status, and with
 * nothing else (the global counter moves with every key and certificate);
 * a row read through one handle is seen stale after a rollover through
 * another (another process or node), which is what an account cache keys on. */
static void
test_account_generation_moves_with_its_key_only(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k1 = t_key(CK_KEY_EC256), *k2 = t_key(CK_KEY_EC256), *k3 = t_key(CK_KEY_EC256);
	EVP_PKEY *other = t_key(CK_KEY_EC256);
	struct ck_account in, cached;
	struct ck_store *node_a = NULL;
	int64_t id, id_b, g, k2_id, k3_id;
	uint64_t global;

	id = put_account(e->st, "a", t_put_key(e->st, k1));
	id_b = put_account(e->st, "b", t_put_key(e->st, other));
	g = acct_gen(e->st, id);
	global = t_gen(e->st);
	/* Unrelated writes: a key, another account's rollover, a setting, a
	 * refresh that changes nothing, new contacts. */
	k2_id = t_put_key(e->st, k2);
	assert_int_equal(ck_store_account_set_pending_key(e->st, id_b, k2_id, NULL), CK_OK);
	assert_int_equal(ck_store_account_commit_rollover(e->st, id_b, NULL), CK_OK);
	assert_int_equal(ck_store_setting_set(e->st, "x", "y", NULL), CK_OK);
	memset(&in, 0, sizeof(in));
	in.id = id;
	in.url = (char *)"https://acme.test/acct/1";
	in.status = (char *)"valid";
	in.contacts = (char *)"[\"mailto:other@example.org\"]";
	assert_int_equal(ck_store_account_update(e->st, &in, NULL), CK_OK);
	assert_true(t_gen(e->st) > global);
	assert_int_equal(acct_gen(e->st, id), g);
	/* A rollover through another handle: the row this handle read before
	 * is stale (pending set, then committed: each moves it). */
	memset(&cached, 0, sizeof(cached));
	assert_int_equal(ck_store_account_get_id(e->st, id, &cached, NULL), CK_OK);
	assert_int_equal(ck_store_open(e->path, &e->ctx, &node_a, NULL), CK_OK);
	k3_id = t_put_key(node_a, k3);
	assert_int_equal(ck_store_account_set_pending_key(node_a, id, k3_id, NULL), CK_OK);
	assert_true(acct_gen(e->st, id) > cached.generation);
	g = acct_gen(e->st, id);
	assert_int_equal(ck_store_account_commit_rollover(node_a, id, NULL), CK_OK);
	assert_true(acct_gen(e->st, id) > g);
	ck_store_close(node_a);
	/* A pending key cleared moves it; so does a new status (deactivated). */
	assert_int_equal(ck_store_account_set_pending_key(e->st, id, k2_id, NULL), CK_OK);
	g = acct_gen(e->st, id);
	assert_int_equal(ck_store_account_clear_pending(e->st, id, NULL), CK_OK);
	assert_true(acct_gen(e->st, id) > g);
	g = acct_gen(e->st, id);
	memset(&in, 0, sizeof(in));
	in.id = id;
	in.status = (char *)"deactivated";
	assert_int_equal(ck_store_account_update(e->st, &in, NULL), CK_OK);
	assert_true(acct_gen(e->st, id) > g);
	ck_account_cleanup(&cached);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
	EVP_PKEY_free(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_account_put_get_default, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_account_generation_moves_with_its_key_only,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_account_key_must_exist, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_rollover_commit, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_rollover_clear, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_update_never_writes_the_key, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_put_refuses_a_key_during_a_rollover, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_previous_key_kept_for_the_grace, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_rollovers_lose_nothing, t_setup,
						t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
