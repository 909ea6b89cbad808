/*
 * test_store_crash.c - crash safety of the store's write paths (invariant
 * 2).  For each scenario (issue-finalize, import with key, request ->
 * import, copy, move, account rollover) a child process first runs the
 * operation with CERTKEEP_FAULT_LOG to list every fault point it passes;
 * then, for each point, a fresh store is prepared, a child is killed
 * there (CERTKEEP_FAULT=name -> abort), and the parent reopens the store
 * and asserts: the old state or the new one, nothing committed before
 * the crash lost, doctor reports no error.  Needs -Dfault_injection=true;
 * skipped otherwise.
 */
#include <signal.h>
#include <sys/wait.h>

#include "test_store_util.h"

#define MAX_POINTS 64

struct crash_env {
	char dir[256];
	char path[300];
	char path2[300];
	struct ck_ctx ctx;
	time_t now;
	struct t_pki pki;
	EVP_PKEY *key, *key2;
	struct ck_der leaf;
	int64_t key_id, key2_id, order_id, cert_id, account_id;
};

struct scenario {
	const char *name;
	void (*prepare)(struct crash_env *c, struct ck_store *st, struct ck_store *dst);
	void (*act)(struct crash_env *c, struct ck_store *st, struct ck_store *dst);
	/* Asserts old-or-new; `finished` says the child ran to the end. */
	void (*check)(struct crash_env *c, struct ck_store *st, struct ck_store *dst, int finished);
};

#ifdef CK_FAULT_INJECTION
/* The crash runs need the fault points: without -Dfault_injection=true the
 * test skips, and these would be unused (an error under -Werror). */
static unsigned total_runs;
#endif

static struct ck_store *
open_store(struct crash_env *c, const char *path)
{
	struct ck_store *st = NULL;
	struct ck_err err;

	ck_err_clear(&err);
	if (ck_store_open(path, &c->ctx, &st, &err) != CK_OK)
		fail_msg("open %s: %s", path, err.msg);
	return st;
}

static size_t
count_certs(struct ck_store *st)
{
	struct ck_cert_list l;
	size_t n;

	assert_int_equal(ck_store_cert_list(st, &l, NULL), CK_OK);
	n = l.n;
	ck_cert_list_cleanup(&l);
	return n;
}

static int
cert_linked(struct ck_store *st, int64_t *id)
{
	struct ck_cert_list l;
	int linked;

	assert_int_equal(ck_store_cert_list(st, &l, NULL), CK_OK);
	assert_int_equal(l.n, 1);
	linked = l.items[0].linked;
	if (id != NULL)
		*id = l.items[0].id;
	ck_cert_list_cleanup(&l);
	return linked;
}

static void
doctor_no_errors(struct crash_env *c, struct ck_store *st, const char *where)
{
	struct ck_doctor_opts o;
	struct ck_findings f;
	size_t i;

	memset(&o, 0, sizeof(o));
	o.now = c->now;
	assert_int_equal(ck_store_doctor(st, &o, &f, NULL), CK_OK);
	for (i = 0; i < f.n; i++) {
		if (f.items[i].severity == CK_SEV_ERROR)
			fail_msg("after crash at %s: %s %s: %s", where, f.items[i].code,
				 f.items[i].name, f.items[i].what);
	}
	ck_findings_cleanup(&f);
}

/* ---- scenarios ------------------------------------------------------- */

static void
prep_issue(struct crash_env *c, struct ck_store *st, struct ck_store *dst)
{
	const char *names[] = { "www.test" };
	struct ck_order_new on;

	(void)dst;
	c->key_id = t_put_key(st, c->key);
	memset(&on, 0, sizeof(on));
	on.lineage = "www";
	on.key_id = c->key_id;
	on.identifiers = names;
	on.nidentifiers = 1;
	on.url = "https://acme.test/order/1";
	on.status = "processing";
	assert_int_equal(ck_store_order_put(st, &on, &c->order_id, NULL), CK_OK);
}

static void
act_issue(struct crash_env *c, struct ck_store *st, struct ck_store *dst)
{
	struct ck_cert_new in;

	(void)dst;
	memset(&in, 0, sizeof(in));
	in.der = c->leaf.data;
	in.len = c->leaf.len;
	in.chain = &c->pki.chain;
	in.key_id = c->key_id;
	in.lineage = "www";
	in.order_id = c->order_id;
	assert_int_equal(ck_store_cert_put(st, &in, NULL, NULL), CK_OK);
}

static void
check_issue(struct crash_env *c, struct ck_store *st, struct ck_store *dst, int finished)
{
	struct ck_order o;

	(void)dst;
	/* The key committed before finalize survives every crash (invariant 3). */
	assert_int_equal(ck_store_key_info(st, c->key_id, &(struct ck_key_info){ 0 }, NULL), CK_OK);
	assert_int_equal(ck_store_order_get(st, c->order_id, &o, NULL), CK_OK);
	if (count_certs(st) == 1) {
		assert_true(cert_linked(st, NULL));
		assert_int_equal(o.closed, 1);
	} else {
		assert_false(finished);
		assert_int_equal(o.closed, 0);
	}
	ck_order_cleanup(&o);
}

static void
prep_import(struct crash_env *c, struct ck_store *st, struct ck_store *dst)
{
	(void)c;
	(void)st;
	(void)dst;
}

static void
act_import(struct crash_env *c, struct ck_store *st, struct ck_store *dst)
{
	(void)dst;
	/* An import of key + certificate is two transactions: key, then cert. */
	c->key_id = t_put_key(st, c->key);
	t_put_cert(st, &c->leaf, &c->pki.chain, 0, "imp", NULL);
}

static void
check_import(struct crash_env *c, struct ck_store *st, struct ck_store *dst, int finished)
{
	struct ck_key_list kl;

	(void)c;
	(void)dst;
	assert_int_equal(ck_store_key_list(st, 0, &kl, NULL), CK_OK);
	if (count_certs(st) == 1) {
		assert_int_equal(kl.n, 1);
		assert_true(cert_linked(st, NULL));
	} else {
		assert_false(finished);
	}
	ck_key_list_cleanup(&kl);
}

static void
prep_request(struct crash_env *c, struct ck_store *st, struct ck_store *dst)
{
	const char *names[] = { "req.test" };

	(void)dst;
	c->key_id = t_put_key(st, c->key);
	assert_int_equal(ck_store_request_put(st, c->key_id, (const unsigned char *)"csr", 3, names,
					      1, "req", NULL, NULL), CK_OK);
}

static void
act_request(struct crash_env *c, struct ck_store *st, struct ck_store *dst)
{
	(void)dst;
	t_put_cert(st, &c->leaf, &c->pki.chain, 0, NULL, NULL);
}

static void
check_request(struct crash_env *c, struct ck_store *st, struct ck_store *dst, int finished)
{
	struct ck_request_list rl;

	(void)c;
	(void)dst;
	assert_int_equal(ck_store_request_list(st, 0, &rl, NULL), CK_OK);
	if (count_certs(st) == 1) {
		assert_true(cert_linked(st, NULL));
		assert_int_equal(rl.n, 0);
	} else {
		assert_false(finished);
		assert_int_equal(rl.n, 1);
	}
	ck_request_list_cleanup(&rl);
}

static void
prep_copy(struct crash_env *c, struct ck_store *st, struct ck_store *dst)
{
	(void)dst;
	c->key_id = t_put_key(st, c->key);
	c->cert_id = t_put_cert(st, &c->leaf, &c->pki.chain, 0, "cp", NULL);
}

static void
act_copy(struct crash_env *c, struct ck_store *st, struct ck_store *dst)
{
	assert_int_equal(ck_store_cert_copy(st, c->cert_id, dst, 0, NULL, NULL), CK_OK);
}

static void
act_move(struct crash_env *c, struct ck_store *st, struct ck_store *dst)
{
	assert_int_equal(ck_store_cert_move(st, c->cert_id, dst, 0, NULL, NULL), CK_OK);
}

static void
check_copy(struct crash_env *c, struct ck_store *st, struct ck_store *dst, int finished)
{
	size_t in_src = count_certs(st), in_dst = count_certs(dst);

	(void)c;
	/* Never in neither; wherever it is, its key is with it. */
	assert_true(in_src + in_dst >= 1);
	if (in_src)
		assert_true(cert_linked(st, NULL));
	if (in_dst)
		assert_true(cert_linked(dst, NULL));
	if (finished)
		assert_int_equal(in_dst, 1);
	doctor_no_errors(c, dst, "copy destination");
}

static void
prep_rollover(struct crash_env *c, struct ck_store *st, struct ck_store *dst)
{
	struct ck_account a;

	(void)dst;
	c->key_id = t_put_key(st, c->key);
	memset(&a, 0, sizeof(a));
	a.server = (char *)"https://acme.test/dir";
	a.key_id = c->key_id;
	assert_int_equal(ck_store_account_put(st, &a, &c->account_id, NULL), CK_OK);
}

static void
act_rollover(struct crash_env *c, struct ck_store *st, struct ck_store *dst)
{
	(void)dst;
	c->key2_id = t_put_key(st, c->key2);
	assert_int_equal(ck_store_account_set_pending_key(st, c->account_id, c->key2_id, NULL),
			 CK_OK);
	assert_int_equal(ck_store_account_commit_rollover(st, c->account_id, NULL), CK_OK);
}

static void
check_rollover(struct crash_env *c, struct ck_store *st, struct ck_store *dst, int finished)
{
	struct ck_account a;
	int64_t new_id = 0;
	char spki[65];

	(void)dst;
	assert_int_equal(ck_store_account_get_id(st, c->account_id, &a, NULL), CK_OK);
	assert_int_equal(ck_key_spki_sha256(c->key2, spki, NULL), CK_OK);
	if (ck_store_key_find_spki(st, spki, &new_id, NULL) != CK_OK)
		new_id = 0;
	/* Old key current, or new key current; a pending key is always stored. */
	if (a.key_id != c->key_id) {
		assert_int_equal(a.key_id, new_id);
		assert_int_equal(a.pending_key_id, 0);
	} else {
		assert_false(finished);
		if (a.pending_key_id != 0)
			assert_int_equal(a.pending_key_id, new_id);
	}
	ck_account_cleanup(&a);
}

static const struct scenario scenarios[] = {
	{ "issue-finalize", prep_issue, act_issue, check_issue },
	{ "import", prep_import, act_import, check_import },
	{ "request-import", prep_request, act_request, check_request },
	{ "copy", prep_copy, act_copy, check_copy },
	{ "move", prep_copy, act_move, check_copy },
	{ "account-rollover", prep_rollover, act_rollover, check_rollover },
};

/* ---- the loop -------------------------------------------------------- */

static void
fresh(struct crash_env *c, const struct scenario *sc)
{
	struct ck_store *st, *dst;

	t_rm_rf(c->dir);
	assert_int_equal(mkdir(c->dir, 0700), 0);
	st = open_store(c, c->path);
	dst = open_store(c, c->path2);
	sc->prepare(c, st, dst);
	ck_store_close(st);
	ck_store_close(dst);
}

/* Runs act in a child with the given environment; returns its wait status. */
static int
run_child(struct crash_env *c, const struct scenario *sc, const char *fault, const char *log)
{
	pid_t pid;
	int status = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ck_store *st, *dst;
		if (fault != NULL)
			setenv("CERTKEEP_FAULT", fault, 1);
		if (log != NULL)
			setenv("CERTKEEP_FAULT_LOG", log, 1);
		st = open_store(c, c->path);
		dst = open_store(c, c->path2);
		sc->act(c, st, dst);
		ck_store_close(st);
		ck_store_close(dst);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

#ifdef CK_FAULT_INJECTION
static size_t
list_points(struct crash_env *c, const struct scenario *sc, char points[][80])
{
	char log[320];
	int status;

	snprintf(log, sizeof(log), "%s.points", c->dir);
	unlink(log);
	fresh(c, sc);
	status = run_child(c, sc, NULL, log);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return t_fault_points_read(log, points, MAX_POINTS);
}

#endif

static void
test_crash_every_fault_point(void **state)
{
#ifdef CK_FAULT_INJECTION
	struct crash_env *c = *state;
	char points[MAX_POINTS][80];
	size_t s, i, n;

	for (s = 0; s < CK_ARRAY_LEN(scenarios); s++) {
		const struct scenario *sc = &scenarios[s];
		n = list_points(c, sc, points);
		assert_true(n >= 3);
		for (i = 0; i < n; i++) {
			struct ck_store *st, *dst;
			int status;
			fresh(c, sc);
			status = run_child(c, sc, points[i], NULL);
			if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT))
				fail_msg("%s: child did not die at %s", sc->name, points[i]);
			st = open_store(c, c->path);
			dst = open_store(c, c->path2);
			sc->check(c, st, dst, 0);
			doctor_no_errors(c, st, points[i]);
			ck_store_close(st);
			ck_store_close(dst);
			total_runs++;
		}
		print_message("crash scenario %s: %zu fault points, each killed and checked\n",
			      sc->name, n);
	}
	print_message("crash runs in total: %u\n", total_runs);
#else
	(void)state;
	skip();
#endif
}

static void
test_scenarios_finish_cleanly(void **state)
{
	struct crash_env *c = *state;
	size_t s;

	for (s = 0; s < CK_ARRAY_LEN(scenarios); s++) {
		struct ck_store *st, *dst;
		fresh(c, &scenarios[s]);
		assert_int_equal(run_child(c, &scenarios[s], NULL, NULL), 0);
		st = open_store(c, c->path);
		dst = open_store(c, c->path2);
		scenarios[s].check(c, st, dst, 1);
		doctor_no_errors(c, st, "no crash");
		ck_store_close(st);
		ck_store_close(dst);
	}
}

static int
setup(void **state)
{
	struct crash_env *c = calloc(1, sizeof(*c));
	char tmpl[] = "/tmp/ck-crash-XXXXXX";

	assert_non_null(c);
	assert_non_null(mkdtemp(tmpl));
	snprintf(c->dir, sizeof(c->dir), "%s/s", tmpl);
	snprintf(c->path, sizeof(c->path), "%s/a.db", c->dir);
	snprintf(c->path2, sizeof(c->path2), "%s/b.db", c->dir);
	ck_ctx_init(&c->ctx);
	c->ctx.log.level = CK_LOG_ERROR;
	c->now = time(NULL);
	t_pki_init(&c->pki, c->now);
	c->key = t_key(CK_KEY_EC256);
	c->key2 = t_key(CK_KEY_EC256);
	t_leaf(&c->pki, c->key, "www.test", 77, c->now, 90, &c->leaf);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct crash_env *c = *state;
	char parent[256];

	snprintf(parent, sizeof(parent), "%s", c->dir);
	*strrchr(parent, '/') = '\0';
	t_rm_rf(parent);
	t_pki_cleanup(&c->pki);
	EVP_PKEY_free(c->key);
	EVP_PKEY_free(c->key2);
	free(c->leaf.data);
	free(c);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scenarios_finish_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_every_fault_point, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
