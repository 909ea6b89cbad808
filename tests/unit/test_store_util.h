/*
 * test_store_util.h - helpers for the store unit tests: a temp directory
 * per test, a fresh store in it, keys from the crypto module, and
 * certificates made with OpenSSL directly (a throw-away CA and leaves),
 * plus raw SQL on the store file to plant problems.  static inline so each
 * test binary takes what it uses.
 *
 * One suite, two engines: with CK_TEST_STORE_ENGINE=postgresql and
 * CK_TEST_PG_URL=postgresql://user@127.0.0.1:PORT (a server the runner
 * started, scripts/pg-test-server), each test gets a fresh PostgreSQL
 * database instead of a SQLite file, and t_sql plants SQL through libpq.
 * A case about SQLite's file itself (modes, pragmas) says so with
 * T_SQLITE_ONLY(), which skips it on PostgreSQL.
 */
#ifndef CK_TEST_STORE_UTIL_H
#define CK_TEST_STORE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#ifdef CK_HAVE_POSTGRESQL
#include <libpq-fe.h>
#endif
#include <openssl/x509v3.h>

#include "store/store.h"

#define T_DAY 86400L

struct t_env {
	char dir[256];
	char path[300];
	char db[64];              /* the PostgreSQL database of path, or "" */
	struct ck_ctx ctx;
	struct ck_store *st;
	time_t now;
};

static inline time_t
t_fixed_now(void *arg)
{
	return *(const time_t *)arg;
}

static inline void
t_rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Whether this run's stores are PostgreSQL databases. */
static inline int
t_engine_pg(void)
{
	const char *e = getenv("CK_TEST_STORE_ENGINE");

	return e != NULL && strcmp(e, "postgresql") == 0;
}

/* A case about SQLite's file itself: not applicable to a PostgreSQL store. */
#define T_SQLITE_ONLY() do { if (t_engine_pg()) skip(); } while (0)

#ifdef CK_HAVE_POSTGRESQL
/* Runs sql on the database at url (a libpq connection string). */
static inline void
t_pg_sql(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r;

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect %s: %s", url, PQerrorMessage(c));
	/* As an admin planting a problem: foreign keys are not checked (as
	 * PRAGMA foreign_keys = OFF does on SQLite; the PRAGMA itself is cut). */
	PQclear(PQexec(c, "SET session_replication_role = replica"));
	if (strncmp(sql, "PRAGMA foreign_keys = OFF;", 26) == 0)
		sql += 26;
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("sql %s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/* A new, empty database on the run's server: out = its URL, name = its name. */
static inline void
t_pg_newdb(char *out, size_t n, char *name, size_t nn)
{
	static unsigned seq;
	const char *base = getenv("CK_TEST_PG_URL");
	char admin[300], sql[200];

	if (base == NULL)
		fail_msg("CK_TEST_STORE_ENGINE=postgresql needs CK_TEST_PG_URL");
	snprintf(name, nn, "ck_%ld_%u_%ld", (long)getpid(), seq++, (long)time(NULL));
	snprintf(admin, sizeof(admin), "%s/postgres", base);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	t_pg_sql(admin, sql);
	snprintf(out, n, "%s/%s", base, name);
}

static inline void
t_pg_dropdb(const char *name)
{
	char admin[300], sql[200];

	snprintf(admin, sizeof(admin), "%s/postgres", getenv("CK_TEST_PG_URL"));
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	t_pg_sql(admin, sql);
}
#endif

/*
 * A fresh store location in dir: DIR/sub/store.db (sub does not exist
 * yet: open creates it), or on PostgreSQL a new database (db names it,
 * for t_rm_store).
 */
static inline void
t_store_location(const char *dir, const char *file, char *out, size_t n, char *db, size_t dn)
{
	db[0] = '\0';
	if (!t_engine_pg()) {
		snprintf(out, n, "%s/%s", dir, file);
		return;
	}
#ifdef CK_HAVE_POSTGRESQL
	t_pg_newdb(out, n, db, dn);
#else
	fail_msg("this build has no PostgreSQL driver");
#endif
}

/* Entries of a directory, "." and ".." not counted. */
static inline int
t_dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* Runs a shell command (printf-formatted); the test fails if it does. */
static inline void __attribute__((format(printf, 1, 2)))
t_sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* A fresh store at DIR/sub/store.db (sub does not exist yet: open creates it). */
static inline int
t_setup(void **state)
{
	struct t_env *e = calloc(1, sizeof(*e));
	struct ck_err err;

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/ck-store-test-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	t_store_location(e->dir, "sub/store.db", e->path, sizeof(e->path), e->db, sizeof(e->db));
	ck_ctx_init(&e->ctx);
	e->ctx.log.level = CK_LOG_ERROR;
	e->now = time(NULL);
	e->ctx.clock.now = t_fixed_now;
	e->ctx.clock.arg = &e->now;
	ck_err_clear(&err);
	if (ck_store_open(e->path, &e->ctx, &e->st, &err) != CK_OK)
		fail_msg("open: %s", err.msg);
	*state = e;
	return 0;
}

static inline int
t_teardown(void **state)
{
	struct t_env *e = *state;

	ck_store_close(e->st);
#ifdef CK_HAVE_POSTGRESQL
	if (e->db[0] != '\0')
		t_pg_dropdb(e->db);
#endif
	t_rm_rf(e->dir);
	free(e);
	return 0;
}

static inline EVP_PKEY *
t_key(enum ck_key_type t)
{
	EVP_PKEY *k = NULL;
	struct ck_err err;

	ck_err_clear(&err);
	if (ck_key_generate(t, &k, &err) != CK_OK)
		fail_msg("keygen: %s", err.msg);
	return k;
}

/* A certificate for key, issued by (ca, ca_key) or self-signed when ca is NULL.
 * san like "DNS:a.test,DNS:b.test" (may be NULL). */
static inline X509 *
t_x509(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, const char *cn, int is_ca, const char *san,
       long serial, time_t nb, time_t na)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	EVP_PKEY *signer = ca ? ca_key : key;
	const EVP_MD *md = EVP_PKEY_get_base_id(signer) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();

	assert_non_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : name);
	X509_NAME_free(name);
	ASN1_TIME_set(X509_getm_notBefore(x), nb);
	ASN1_TIME_set(X509_getm_notAfter(x), na);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, ca ? ca : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				  is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (san != NULL) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
		assert_non_null(ext);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, signer, md) > 0);
	return x;
}

static inline void
t_der(X509 *x, struct ck_der *out)
{
	int n = i2d_X509(x, NULL);
	unsigned char *p;

	assert_true(n > 0);
	out->data = malloc((size_t)n);
	assert_non_null(out->data);
	p = out->data;
	i2d_X509(x, &p);
	out->len = (size_t)n;
}

/* A throw-away CA and a leaf under it for key; leaf valid [now-1d, now+days]. */
struct t_pki {
	EVP_PKEY *ca_key;
	X509 *ca;
	struct ck_der ca_der;
	struct ck_der_list chain; /* { ca_der } */
};

static inline void
t_pki_init(struct t_pki *p, time_t now)
{
	memset(p, 0, sizeof(*p));
	p->ca_key = t_key(CK_KEY_EC256);
	p->ca = t_x509(p->ca_key, NULL, NULL, "certkeep test CA", 1, NULL, 1, now - T_DAY,
		       now + 3650 * T_DAY);
	t_der(p->ca, &p->ca_der);
	p->chain.items = &p->ca_der;
	p->chain.n = 1;
}

static inline void
t_pki_cleanup(struct t_pki *p)
{
	EVP_PKEY_free(p->ca_key);
	X509_free(p->ca);
	free(p->ca_der.data);
}

static inline void
t_leaf(struct t_pki *p, EVP_PKEY *key, const char *name, long serial, time_t now, long days,
       struct ck_der *out)
{
	char san[300];
	X509 *x;

	snprintf(san, sizeof(san), "DNS:%s", name);
	x = t_x509(key, p->ca, p->ca_key, name, 0, san, serial, now - T_DAY, now + days * T_DAY);
	t_der(x, out);
	X509_free(x);
}

/* Runs SQL directly on the store file (as an admin with sqlite3 would). */
static inline void
t_sql(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

#ifdef CK_HAVE_POSTGRESQL
	if (t_engine_pg() && strchr(path, '/') != NULL && strstr(path, "://") != NULL) {
		t_pg_sql(path, sql);
		return;
	}
#endif
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("sql %s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

static inline uint64_t
t_gen(struct ck_store *st)
{
	uint64_t g = 0;

	assert_int_equal(ck_store_generation(st, &g, NULL), CK_OK);
	return g;
}

static inline int64_t
t_put_key(struct ck_store *st, EVP_PKEY *k)
{
	struct ck_err err;
	int64_t id = 0;

	ck_err_clear(&err);
	if (ck_store_key_put(st, k, &id, NULL, &err) != CK_OK)
		fail_msg("key put: %s", err.msg);
	return id;
}

static inline int64_t
t_put_cert(struct ck_store *st, const struct ck_der *d, const struct ck_der_list *chain,
	   int64_t key_id, const char *lineage, struct ck_cert_put_result *res)
{
	struct ck_cert_put_result r;
	struct ck_cert_new in;
	struct ck_err err;

	memset(&in, 0, sizeof(in));
	in.der = d->data;
	in.len = d->len;
	in.chain = chain;
	in.key_id = key_id;
	in.lineage = lineage;
	in.origin = "import:test.pem";
	ck_err_clear(&err);
	if (ck_store_cert_put(st, &in, &r, &err) != CK_OK)
		fail_msg("cert put: %s", err.msg);
	if (res != NULL)
		*res = r;
	return r.cert_id;
}

/* The store's fault points an operation passed, read from its
 * CERTKEEP_FAULT_LOG file `log` (one name a line): each "store.*" point
 * once, in first-seen order, migrations left out (they run at open, not
 * in the operation); at most `max` into points[].  The log is removed.
 * Returns how many. */
#define T_FAULT_POINT_LEN 80
static inline size_t
t_fault_points_read(const char *log, char points[][T_FAULT_POINT_LEN], size_t max)
{
	char line[T_FAULT_POINT_LEN];
	size_t n = 0, i;
	FILE *fp;
	int dup;

	fp = fopen(log, "r");
	assert_non_null(fp);
	while (n < max && fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "store.", 6) != 0 || strstr(line, "migrate") != NULL)
			continue;
		for (i = 0, dup = 0; i < n; i++)
			dup |= strcmp(points[i], line) == 0;
		if (!dup)
			snprintf(points[n++], T_FAULT_POINT_LEN, "%s", line);
	}
	fclose(fp);
	unlink(log);
	return n;
}

#endif
