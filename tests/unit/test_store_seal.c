/*
 * test_store_seal.c - private keys at rest sealed with AES-256-GCM under
 * a node key: nothing in the database file is a private key; a wrong key
 * is refused at open; a blob moved to another row does not open (the row
 * id is the associated data); a sealed store without its key lists
 * certificates but refuses to use a key, naming the option; key files
 * with loose permissions are refused; seal and rekey killed at every
 * fault point leave every key readable with exactly one of the two keys.
 */
#include <signal.h>
#include <sys/wait.h>

#include "test_store_util.h"
#include "crypto/crypto.h"

#define NKEYS 3

struct seal_env {
	struct t_env *e;
	char key_a[320], key_b[320];
	EVP_PKEY *keys[NKEYS];
	int64_t ids[NKEYS];
};

/* Writes a key file at path: 64 hex digits of fill, mode `mode`. */
static void
write_key_file(const char *path, char fill, mode_t mode)
{
	char hex[66];
	FILE *fp;

	memset(hex, fill, 64);
	hex[64] = '\n';
	hex[65] = '\0';
	unlink(path);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(hex, fp) >= 0, 1);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

static struct ck_store *
reopen(struct t_env *e, const char *key_file, enum ck_code want, struct ck_err *err)
{
	struct ck_store *st = NULL;

	ck_err_clear(err);
	assert_int_equal(ck_store_open(e->path, &e->ctx, &st, err), CK_OK);
	if (key_file != NULL && ck_store_seal_key_use(st, key_file, err) != CK_OK) {
		assert_int_equal(err->code, want);
		ck_store_close(st);
		return NULL;
	}
	assert_int_equal(CK_OK, want);
	return st;
}

static int
setup(void **state)
{
	struct seal_env *s = calloc(1, sizeof(*s));
	int i;

	assert_non_null(s);
	t_setup((void **)&s->e);
	snprintf(s->key_a, sizeof(s->key_a), "%s/a.key", s->e->dir);
	snprintf(s->key_b, sizeof(s->key_b), "%s/b.key", s->e->dir);
	write_key_file(s->key_a, 'a', 0600);
	write_key_file(s->key_b, 'b', 0600);
	for (i = 0; i < NKEYS; i++)
		s->keys[i] = t_key(i == 1 ? CK_KEY_RSA2048 : CK_KEY_EC256);
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	struct seal_env *s = *state;
	int i;

	for (i = 0; i < NKEYS; i++)
		EVP_PKEY_free(s->keys[i]);
	t_teardown((void **)&s->e);
	free(s);
	return 0;
}

/* 1 if the file at path holds needle[0..n) anywhere (the database and its WAL). */
static int
file_holds(const char *path, const unsigned char *needle, size_t n)
{
	unsigned char *d = NULL;
	size_t len = 0;
	int hit;

	if (ck_file_read(path, 64 << 20, &d, &len, NULL) != CK_OK)
		return 0;
	hit = memmem(d, len, needle, n) != NULL;
	free(d);
	return hit;
}

#ifdef CK_HAVE_POSTGRESQL
/* Whether a row of the PostgreSQL store's keys table holds needle in clear. */
static int
pg_holds(const char *url, const unsigned char *needle, size_t n)
{
	const char *vals[1] = { (const char *)needle };
	int lens[1] = { (int)n }, fmts[1] = { 1 }, hit;
	PGconn *c = PQconnectdb(url);
	PGresult *r;

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect %s: %s", url, PQerrorMessage(c));
	r = PQexecParams(c, "SELECT count(*) FROM keys WHERE position($1::bytea in pkcs8_der) > 0",
			 1, NULL, vals, lens, fmts, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("search keys: %s", PQresultErrorMessage(r));
	hit = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
	PQclear(r);
	PQfinish(c);
	return hit;
}
#endif

/* How many of the keys' PKCS#8 DER the store file or its WAL (on PostgreSQL:
 * the keys table) holds in clear. */
static int
plain_keys_in_file(struct seal_env *s)
{
	char wal[320];
	int i, n = 0;

	snprintf(wal, sizeof(wal), "%s-wal", s->e->path);
	for (i = 0; i < NKEYS; i++) {
		unsigned char *der = NULL;
		size_t len = 0;
		assert_int_equal(ck_key_to_pkcs8_der(s->keys[i], &der, &len, NULL), CK_OK);
#ifdef CK_HAVE_POSTGRESQL
		if (s->e->db[0] != '\0')
			n += pg_holds(s->e->path, der, len);
		else
#endif
		n += file_holds(s->e->path, der, len) || file_holds(wal, der, len);
		ck_secure_free(der, len);
	}
	return n;
}

static void
assert_no_plain_key(struct seal_env *s)
{
	int n = plain_keys_in_file(s);

	if (n != 0)
		fail_msg("%d keys found in clear in the store", n);
}

static void
assert_loads(struct ck_store *st, struct seal_env *s, enum ck_code want)
{
	struct ck_err err;
	int i;

	for (i = 0; i < NKEYS; i++) {
		EVP_PKEY *k = NULL;
		ck_err_clear(&err);
		assert_int_equal(ck_store_key_load(st, s->ids[i], &k, &err), want);
		if (want == CK_OK)
			assert_int_equal(EVP_PKEY_eq(k, s->keys[i]), 1);
		EVP_PKEY_free(k);
	}
}

static void
put_keys(struct ck_store *st, struct seal_env *s)
{
	int i;

	for (i = 0; i < NKEYS; i++)
		s->ids[i] = t_put_key(st, s->keys[i]);
}

/* A new store given a key is sealed: its file holds no key, the keys load. */
static void
test_new_store_sealed(void **state)
{
	struct seal_env *s = *state;
	struct ck_store *st;
	struct ck_err err;

	st = reopen(s->e, s->key_a, CK_OK, &err);
	assert_int_equal(ck_store_is_sealed(st), 1);
	put_keys(st, s);
	assert_loads(st, s, CK_OK);
	ck_store_close(st);
	assert_no_plain_key(s);

	/* The wrong key is refused at open, with the message naming the option. */
	assert_null(reopen(s->e, s->key_b, CK_ERR_PERMISSION, &err));
	assert_non_null(strstr(err.msg, "sealed with another key: check --store-key-file"));

	/* No key: certificates can be listed, keys cannot be used. */
	st = reopen(s->e, NULL, CK_OK, &err);
	assert_loads(st, s, CK_ERR_KEY_MISSING);
	ck_err_clear(&err);
	{
		EVP_PKEY *k = NULL, *fresh = t_key(CK_KEY_EC256);
		int64_t id = 0;
		assert_int_equal(ck_store_key_load(st, s->ids[0], &k, &err), CK_ERR_KEY_MISSING);
		assert_non_null(strstr(err.msg, "--store-key-file"));
		/* Nor can a new key be stored in clear. */
		ck_err_clear(&err);
		assert_int_equal(ck_store_key_put(st, fresh, &id, NULL, &err), CK_ERR_KEY_MISSING);
		EVP_PKEY_free(fresh);
	}
	ck_store_close(st);
}

/* A sealed blob copied into another row does not open there (AAD = row id). */
static void
test_blob_moved_to_other_row(void **state)
{
	struct seal_env *s = *state;
	struct ck_store *st;
	struct ck_err err;
	char sql[200];
	EVP_PKEY *k = NULL;

	st = reopen(s->e, s->key_a, CK_OK, &err);
	put_keys(st, s);
	ck_store_close(st);
	/* Same key type (EC) for rows 0 and 2: only the AAD can tell them apart. */
	snprintf(sql, sizeof(sql), "UPDATE keys SET pkcs8_der = (SELECT pkcs8_der FROM keys "
		 "WHERE id = %lld) WHERE id = %lld", (long long)s->ids[0], (long long)s->ids[2]);
	t_sql(s->e->path, sql);
	st = reopen(s->e, s->key_a, CK_OK, &err);
	ck_err_clear(&err);
	assert_int_equal(ck_store_key_load(st, s->ids[2], &k, &err), CK_ERR_CORRUPT);
	assert_null(k);
	assert_int_equal(ck_store_key_load(st, s->ids[0], &k, &err), CK_OK);
	EVP_PKEY_free(k);
	ck_store_close(st);
}

/* Key files that are not 0600 and ours, or not a key, are refused naming the file. */
static void
test_key_file_refused(void **state)
{
	struct seal_env *s = *state;
	unsigned char key[32];
	struct ck_err err;
	char bad[320];

	snprintf(bad, sizeof(bad), "%s/loose.key", s->e->dir);
	write_key_file(bad, 'c', 0644);
	ck_err_clear(&err);
	assert_int_equal(ck_store_key_file_read(bad, key, &err), CK_ERR_PERMISSION);
	assert_non_null(strstr(err.msg, bad));
	write_key_file(bad, 'z', 0600);
	assert_int_equal(ck_store_key_file_read(bad, key, &err), CK_ERR_PARSE);
	write_key_file(bad, 'c', 0400);
	assert_int_equal(ck_store_key_file_read(bad, key, &err), CK_OK);
}

/* A plain store with keys: a key file alone is refused; seal, then rekey. */
static void
test_seal_then_rekey(void **state)
{
	struct seal_env *s = *state;
	struct ck_store *st;
	struct ck_err err;

	st = reopen(s->e, NULL, CK_OK, &err);
	put_keys(st, s);
	assert_int_equal(ck_store_is_sealed(st), 0);
	ck_store_close(st);
	assert_int_equal(plain_keys_in_file(s), NKEYS); /* the search finds keys in clear */
	assert_null(reopen(s->e, s->key_a, CK_ERR_STATE, &err));
	assert_non_null(strstr(err.msg, "certkeep store seal"));

	st = reopen(s->e, NULL, CK_OK, &err);
	assert_int_equal(ck_store_rekey(st, s->key_b, &err), CK_ERR_KEY_MISSING);
	assert_int_equal(ck_store_seal(st, s->key_a, &err), CK_OK);
	assert_loads(st, s, CK_OK);
	assert_int_equal(ck_store_seal(st, s->key_a, &err), CK_ERR_STATE);
	ck_store_close(st);
	assert_no_plain_key(s);

	st = reopen(s->e, s->key_a, CK_OK, &err);
	assert_int_equal(ck_store_rekey(st, s->key_b, &err), CK_OK);
	assert_loads(st, s, CK_OK);
	ck_store_close(st);
	assert_null(reopen(s->e, s->key_a, CK_ERR_PERMISSION, &err));
	st = reopen(s->e, s->key_b, CK_OK, &err);
	assert_loads(st, s, CK_OK);
	ck_store_close(st);
	assert_no_plain_key(s);
}

/* ---- crash: seal and rekey killed at every fault point ----------------- */

#ifdef CK_FAULT_INJECTION
/* Which of the two states the store is in: 0 = every key opens with
 * `before` (NULL: plain), 1 = every key opens with `after`; fails otherwise. */
static int
which_key(struct seal_env *s, const char *before, const char *after)
{
	struct ck_store *st;
	struct ck_err err;
	int state = -1;

	ck_err_clear(&err);
	assert_int_equal(ck_store_open(s->e->path, &s->e->ctx, &st, &err), CK_OK);
	if (before == NULL && !ck_store_is_sealed(st))
		state = 0;
	else if (before != NULL && ck_store_seal_key_use(st, before, &err) == CK_OK)
		state = 0;
	ck_store_close(st);
	if (state < 0) {
		assert_int_equal(ck_store_open(s->e->path, &s->e->ctx, &st, &err), CK_OK);
		if (ck_store_seal_key_use(st, after, &err) != CK_OK)
			fail_msg("neither key opens the store: %s", err.msg);
		state = 1;
		ck_store_close(st);
	}
	st = reopen(s->e, state ? after : before, CK_OK, &err);
	assert_loads(st, s, CK_OK);
	ck_store_close(st);
	return state;
}

/* Runs seal (rekey 0) or rekey in a child killed at `fault`; returns its status. */
static int
run_reseal(struct seal_env *s, int rekey, const char *fault, const char *log)
{
	pid_t pid;
	int status = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ck_store *st = NULL;
		struct ck_err err;
		if (fault != NULL)
			setenv("CERTKEEP_FAULT", fault, 1);
		if (log != NULL)
			setenv("CERTKEEP_FAULT_LOG", log, 1);
		ck_err_clear(&err);
		if (ck_store_open(s->e->path, &s->e->ctx, &st, &err) != CK_OK ||
		    (rekey && ck_store_seal_key_use(st, s->key_a, &err) != CK_OK) ||
		    (rekey ? ck_store_rekey(st, s->key_b, &err)
			   : ck_store_seal(st, s->key_a, &err)) != CK_OK)
			_exit(3);
		ck_store_close(st);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void
fresh_store(struct seal_env *s, int rekey)
{
	struct ck_store *st;
	struct ck_err err;

	ck_store_close(s->e->st);
	s->e->st = NULL;
	t_rm_rf(s->e->dir);
	assert_int_equal(mkdir(s->e->dir, 0700), 0);
#ifdef CK_HAVE_POSTGRESQL
	if (s->e->db[0] != '\0') { /* a new database, as a new file on SQLite */
		t_pg_dropdb(s->e->db);
		t_pg_newdb(s->e->path, sizeof(s->e->path), s->e->db, sizeof(s->e->db));
	}
#endif
	write_key_file(s->key_a, 'a', 0600);
	write_key_file(s->key_b, 'b', 0600);
	st = reopen(s->e, NULL, CK_OK, &err);
	put_keys(st, s);
	if (rekey)
		assert_int_equal(ck_store_seal(st, s->key_a, &err), CK_OK);
	ck_store_close(st);
}

static size_t
list_points(struct seal_env *s, int rekey, char points[][80], size_t max)
{
	char log[320];

	snprintf(log, sizeof(log), "%s.points", s->e->dir);
	unlink(log);
	fresh_store(s, rekey);
	assert_int_equal(run_reseal(s, rekey, NULL, log), 0);
	return t_fault_points_read(log, points, max);
}
#endif

static void
test_crash_seal_and_rekey(void **state)
{
#ifdef CK_FAULT_INJECTION
	struct seal_env *s = *state;
	char points[32][80];
	size_t n, i;
	int rekey, status, seen[2];

	for (rekey = 0; rekey <= 1; rekey++) {
		n = list_points(s, rekey, points, 32);
		assert_true(n >= 3);
		seen[0] = seen[1] = 0;
		for (i = 0; i < n; i++) {
			fresh_store(s, rekey);
			status = run_reseal(s, rekey, points[i], NULL);
			if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT))
				fail_msg("%s: child did not die at %s", rekey ? "rekey" : "seal",
					 points[i]);
			seen[which_key(s, rekey ? s->key_a : NULL, rekey ? s->key_b : s->key_a)]++;
		}
		/* Killed before the commit: the old state; after it: the new one. */
		assert_true(seen[0] > 0 && seen[1] > 0);
		print_message("%s: %zu fault points, each killed and checked\n",
			      rekey ? "rekey" : "seal", n);
	}
#else
	(void)state;
	skip();
#endif
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_store_sealed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_moved_to_other_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seal_then_rekey, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_seal_and_rekey, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
