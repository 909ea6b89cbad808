/*
 * test_store_core.c - opening the store (modes, migrations), keys,
 * certificates linked or labelled (invariant 1), generation counter,
 * lineages, pending requests, orders, removal refused by bindings.
 */
#include <dirent.h>
#include <sys/wait.h>

#include "test_store_util.h"

static void
test_open_modes(void **state)
{
	struct t_env *e = *state;

	T_SQLITE_ONLY(); /* the file and directory modes SQLite creates */
	struct stat sb;
	char dir[300];

	assert_int_equal(stat(e->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(dir, sizeof(dir), "%s/sub", e->dir);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_true(ck_store_schema_version(e->st) >= 1);
}

static void
test_open_twice_idempotent(void **state)
{
	struct t_env *e = *state;
	struct ck_store *b = NULL, *c = NULL;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	int64_t id = t_put_key(e->st, k), id2 = 0;
	int ver = ck_store_schema_version(e->st);

	/* A second and third handle (as another process would) see the same store. */
	assert_int_equal(ck_store_open(e->path, &e->ctx, &b, NULL), CK_OK);
	assert_int_equal(ck_store_open(e->path, &e->ctx, &c, NULL), CK_OK);
	assert_int_equal(ck_store_schema_version(b), ver);
	assert_int_equal(ck_store_key_put(b, k, &id2, NULL, NULL), CK_OK);
	assert_int_equal(id, id2);
	assert_int_equal(t_gen(b), t_gen(e->st));
	ck_store_close(c);
	ck_store_cleanup(&b);
	assert_null(b);
	EVP_PKEY_free(k);
}

static void
test_open_newer_schema_refused(void **state)
{
	struct t_env *e = *state;
	struct ck_store *b = NULL;
	struct ck_err err;

	t_sql(e->path, "INSERT INTO schema_version (version, applied) VALUES (999, 0)");
	ck_err_clear(&err);
	assert_int_equal(ck_store_open(e->path, &e->ctx, &b, &err), CK_ERR_UNSUPPORTED);
	assert_null(b);
	assert_non_null(strstr(err.msg, "newer"));
}

static int64_t
t_application_id(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* Without CK_STORE_CREATE an absent store is "no store at", and nothing appears. */
static void
test_open_without_create(void **state)
{
	struct t_env *e = *state;
	struct ck_store *b = NULL;
	struct ck_err err;
	struct stat sb;
	char path[400], dir[400];

	snprintf(dir, sizeof(dir), "%s/typo", e->dir);
	snprintf(path, sizeof(path), "%s/store.db", dir);
	ck_err_clear(&err);
	assert_int_equal(ck_store_open_ex(path, &e->ctx, 0, &b, &err), CK_ERR_NOT_FOUND);
	assert_null(b);
	assert_non_null(strstr(err.msg, "no store at"));
	assert_int_equal(stat(dir, &sb), -1);
	/* The existing store opens without the flag; the flag creates. */
	assert_int_equal(ck_store_open_ex(e->path, &e->ctx, 0, &b, NULL), CK_OK);
	ck_store_cleanup(&b);
	assert_int_equal(ck_store_open_ex(path, &e->ctx, CK_STORE_CREATE, &b, NULL), CK_OK);
	ck_store_cleanup(&b);
	assert_int_equal(t_application_id(path), CK_STORE_APPLICATION_ID);
}

/* Another program's database is refused before anything writes to it. */
static void
test_open_foreign_database_untouched(void **state)
{
	struct t_env *e = *state;
	struct ck_store *b = NULL;
	struct ck_err err;
	struct stat before, after;
	char path[400], wal[420];

	snprintf(path, sizeof(path), "%s/other.sqlite", e->dir);
	t_sql(path, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x')");
	assert_int_equal(stat(path, &before), 0);
	ck_err_clear(&err);
	assert_int_equal(ck_store_open_ex(path, &e->ctx, CK_STORE_CREATE, &b, &err), CK_ERR_STORE);
	assert_null(b);
	assert_non_null(strstr(err.msg, "not a certkeep store"));
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(after.st_mtime, before.st_mtime);
	assert_int_equal(t_application_id(path), 0);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	assert_int_equal(stat(wal, &after), -1);
}

/* A store made before the application_id (tests/data/store-v1.db, written
 * by the certkeep of schema version 1) opens without CK_STORE_CREATE,
 * migrates through every later migration, and gets the id from
 * migration 3.  A copy is used: the fixture itself never changes. */
static void
test_open_store_without_application_id(void **state)
{
	struct t_env *e = *state;

	T_SQLITE_ONLY(); /* PRAGMA application_id of a SQLite file */
	struct ck_store *b = NULL;
	const char *src = getenv("CK_TEST_SRCDIR");
	char fixture[PATH_MAX];
	FILE *in, *out;
	char buf[4096];
	size_t n;

	assert_non_null(src);
	snprintf(fixture, sizeof(fixture), "%s/tests/data/store-v1.db", src);
	ck_store_cleanup(&e->st);
	unlink(e->path);
	in = fopen(fixture, "rb");
	assert_non_null(in);
	out = fopen(e->path, "wb");
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(t_application_id(e->path), 0);
	assert_int_equal(ck_store_open_ex(e->path, &e->ctx, 0, &b, NULL), CK_OK);
	ck_store_cleanup(&b);
	assert_int_equal(t_application_id(e->path), CK_STORE_APPLICATION_ID);
}

static void
test_key_put_idempotent(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256), *back = NULL;
	struct ck_key_info info;
	int64_t a = 0, b = 0;
	int created = -1;
	char spki[65];

	assert_int_equal(ck_store_key_put(e->st, k, &a, &created, NULL), CK_OK);
	assert_int_equal(created, 1);
	assert_int_equal(ck_store_key_put(e->st, k, &b, &created, NULL), CK_OK);
	assert_int_equal(created, 0);
	assert_int_equal(a, b);
	assert_int_equal(ck_store_key_load(e->st, a, &back, NULL), CK_OK);
	assert_int_equal(ck_key_public_equal(k, back), 1);
	assert_int_equal(ck_store_key_info(e->st, a, &info, NULL), CK_OK);
	assert_int_equal(ck_key_spki_sha256(k, spki, NULL), CK_OK);
	assert_string_equal(info.spki_sha256, spki);
	assert_string_equal(info.key_type, "ec256");
	assert_null(info.pkcs11_uri);
	assert_int_equal(info.used, 0);
	ck_key_info_cleanup(&info);
	assert_int_equal(ck_store_key_find_spki(e->st, spki, &b, NULL), CK_OK);
	assert_int_equal(a, b);
	EVP_PKEY_free(k);
	EVP_PKEY_free(back);
}

static void
test_token_key_not_exportable(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256), *back = NULL;
	unsigned char *spki = NULL;
	size_t len = 0;
	struct ck_key_info info;
	struct ck_err err;
	int64_t id = 0;

	assert_int_equal(ck_key_spki_der(k, &spki, &len, NULL), CK_OK);
	assert_int_equal(ck_store_key_put_token(e->st, "pkcs11:token=t;object=k", spki, len, &id,
						NULL, NULL), CK_OK);
	ck_err_clear(&err);
	assert_int_equal(ck_store_key_load(e->st, id, &back, &err), CK_ERR_KEY_NOT_EXPORTABLE);
	assert_non_null(strstr(err.msg, "pkcs11:token=t"));
	assert_int_equal(ck_store_key_public(e->st, id, &back, NULL), CK_OK);
	assert_int_equal(ck_key_public_equal(k, back), 1);
	assert_int_equal(ck_store_key_info(e->st, id, &info, NULL), CK_OK);
	assert_string_equal(info.pkcs11_uri, "pkcs11:token=t;object=k");
	ck_key_info_cleanup(&info);
	free(spki);
	EVP_PKEY_free(k);
	EVP_PKEY_free(back);
}

static void
test_cert_links_each_key_type(void **state)
{
	struct t_env *e = *state;
	static const enum ck_key_type types[] = { CK_KEY_EC256, CK_KEY_EC384, CK_KEY_RSA2048,
						  CK_KEY_ED25519 };
	struct t_pki p;
	size_t i;

	t_pki_init(&p, e->now);
	for (i = 0; i < CK_ARRAY_LEN(types); i++) {
		EVP_PKEY *k = t_key(types[i]);
		struct ck_der d;
		struct ck_cert_row row;
		struct ck_cert_put_result r;
		char name[32];
		int64_t kid = t_put_key(e->st, k);

		snprintf(name, sizeof(name), "t%zu.test", i);
		t_leaf(&p, k, name, 10 + (long)i, e->now, 90, &d);
		/* key_id 0: the store finds the key by SPKI itself. */
		t_put_cert(e->st, &d, &p.chain, 0, NULL, &r);
		assert_int_equal(r.key_id, kid);
		assert_int_equal(ck_store_cert_get(e->st, r.cert_id, &row, NULL), CK_OK);
		assert_true(row.linked);
		assert_string_equal(row.key_location, "store");
		assert_int_equal(row.chain_len, 1);
		assert_int_equal(row.nsans, 1);
		assert_string_equal(row.sans[0], name);
		ck_cert_row_cleanup(&row);
		free(d.data);
		EVP_PKEY_free(k);
	}
	t_pki_cleanup(&p);
}

static void
test_cert_mismatch_refused_unchanged(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k1 = t_key(CK_KEY_EC256), *k2 = t_key(CK_KEY_EC256);
	struct ck_cert_list l;
	struct ck_cert_new in;
	struct ck_err err;
	struct t_pki p;
	struct ck_der d;
	int64_t other;
	uint64_t g;

	t_pki_init(&p, e->now);
	t_put_key(e->st, k1);
	other = t_put_key(e->st, k2);
	t_leaf(&p, k1, "a.test", 2, e->now, 90, &d);
	g = t_gen(e->st);
	memset(&in, 0, sizeof(in));
	in.der = d.data;
	in.len = d.len;
	in.key_id = other;
	in.lineage = "a";
	ck_err_clear(&err);
	assert_int_equal(ck_store_cert_put(e->st, &in, NULL, &err), CK_ERR_KEY_MISMATCH);
	assert_non_null(strstr(err.msg, "does not match"));
	assert_int_equal(t_gen(e->st), g);
	assert_int_equal(ck_store_cert_list(e->st, &l, NULL), CK_OK);
	assert_int_equal(l.n, 0);
	ck_cert_list_cleanup(&l);
	assert_int_equal(ck_store_lineage_get(e->st, "a", &(struct ck_lineage){ 0 }, NULL),
			 CK_ERR_NOT_FOUND);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static void
test_cert_labelled_then_key_heals(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_RSA2048);
	struct ck_cert_put_result r, r2;
	struct ck_cert_row row;
	struct t_pki p;
	struct ck_der d;
	int64_t kid;
	uint64_t g;

	t_pki_init(&p, e->now);
	t_leaf(&p, k, "late.test", 3, e->now, 90, &d);
	t_put_cert(e->st, &d, &p.chain, 0, "late", &r);
	assert_int_equal(r.key_id, 0);
	assert_int_equal(ck_store_cert_get(e->st, r.cert_id, &row, NULL), CK_OK);
	assert_false(row.linked);
	assert_null(row.key_location);
	assert_string_equal(row.key_algorithm, "RSA 2048");
	assert_true(row.is_current);
	assert_string_equal(row.lineage, "late");
	ck_cert_row_cleanup(&row);
	/* Same certificate again: a no-op that says so. */
	g = t_gen(e->st);
	t_put_cert(e->st, &d, &p.chain, 0, "late", &r2);
	assert_int_equal(r2.already_present, 1);
	assert_int_equal(r2.cert_id, r.cert_id);
	assert_int_equal(t_gen(e->st), g);
	/* The key arrives later (the smart-card case): putting it links. */
	kid = t_put_key(e->st, k);
	assert_true(t_gen(e->st) > g);
	assert_int_equal(ck_store_cert_get(e->st, r.cert_id, &row, NULL), CK_OK);
	assert_true(row.linked);
	assert_int_equal(row.key_id, kid);
	ck_cert_row_cleanup(&row);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

static void
test_generation_bumps(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_cert_list l;
	struct t_pki p;
	struct ck_der d;
	uint64_t g0, g1, g2;
	int64_t cid;

	t_pki_init(&p, e->now);
	g0 = t_gen(e->st);
	t_put_key(e->st, k);
	g1 = t_gen(e->st);
	assert_true(g1 > g0);
	t_leaf(&p, k, "g.test", 4, e->now, 90, &d);
	cid = t_put_cert(e->st, &d, NULL, 0, "g", NULL);
	g2 = t_gen(e->st);
	assert_true(g2 > g1);
	/* Reads never bump. */
	assert_int_equal(ck_store_cert_list(e->st, &l, NULL), CK_OK);
	ck_cert_list_cleanup(&l);
	assert_int_equal(ck_store_lineage_put(e->st, "g", (const char *[]){ "g.test" }, 1, NULL,
					      NULL, NULL), CK_OK);
	assert_int_equal(t_gen(e->st), g2);
	assert_int_equal(ck_store_cert_remove(e->st, cid, NULL), CK_OK);
	assert_true(t_gen(e->st) > g2);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

static void
test_pending_request_closes_on_cert(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC384);
	const char *names[] = { "req.test" };
	struct ck_request_list rl;
	struct ck_request rq;
	struct ck_cert_put_result r;
	struct ck_lineage lin;
	unsigned char *csr = NULL;
	size_t csr_len = 0;
	struct t_pki p;
	struct ck_der d;
	int64_t kid, rid = 0;
	char spki[65];

	t_pki_init(&p, e->now);
	kid = t_put_key(e->st, k);
	assert_int_equal(ck_csr_create(k, names, 1, &csr, &csr_len, NULL), CK_OK);
	assert_int_equal(ck_store_request_put(e->st, kid, csr, csr_len, names, 1, "req", &rid,
					      NULL), CK_OK);
	assert_int_equal(ck_store_request_list(e->st, 0, &rl, NULL), CK_OK);
	assert_int_equal(rl.n, 1);
	assert_int_equal(rl.items[0].csr_len, csr_len);
	assert_memory_equal(rl.items[0].csr_der, csr, csr_len);
	ck_request_list_cleanup(&rl);
	assert_int_equal(ck_key_spki_sha256(k, spki, NULL), CK_OK);
	assert_int_equal(ck_store_request_find_spki(e->st, spki, &rq, NULL), CK_OK);
	assert_int_equal(rq.id, rid);
	assert_int_equal(rq.key_id, kid);
	assert_string_equal(rq.lineage, "req");
	ck_request_cleanup(&rq);
	/* Days later the certificate arrives with no key and no lineage named. */
	t_leaf(&p, k, "req.test", 5, e->now, 90, &d);
	t_put_cert(e->st, &d, &p.chain, 0, NULL, &r);
	assert_int_equal(r.key_id, kid);
	assert_int_equal(r.request_closed, rid);
	assert_int_equal(ck_store_request_list(e->st, 0, &rl, NULL), CK_OK);
	assert_int_equal(rl.n, 0);
	ck_request_list_cleanup(&rl);
	assert_int_equal(ck_store_request_get(e->st, rid, &rq, NULL), CK_OK);
	assert_int_equal(rq.cert_id, r.cert_id);
	assert_true(rq.closed > 0);
	ck_request_cleanup(&rq);
	assert_int_equal(ck_store_lineage_get(e->st, "req", &lin, NULL), CK_OK);
	assert_int_equal(lin.current_cert_id, r.cert_id);
	assert_string_equal(lin.key_type, "ec384");
	ck_lineage_cleanup(&lin);
	free(csr);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

static void
test_order_key_first_and_issue(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	const char *names[] = { "www.test" };
	struct ck_order_new on;
	struct ck_order_list ol;
	struct ck_cert_new in;
	struct ck_cert_put_result r;
	struct ck_order o;
	struct t_pki p;
	struct ck_der d;
	int64_t kid, oid = 0;

	t_pki_init(&p, e->now);
	memset(&on, 0, sizeof(on));
	on.lineage = "www";
	on.identifiers = names;
	on.nidentifiers = 1;
	on.key_id = 999; /* not committed */
	assert_int_equal(ck_store_order_put(e->st, &on, &oid, NULL), CK_ERR_NOT_FOUND);
	kid = t_put_key(e->st, k);
	on.key_id = kid;
	on.url = "https://acme.test/order/1";
	assert_int_equal(ck_store_order_put(e->st, &on, &oid, NULL), CK_OK);
	assert_int_equal(ck_store_order_update(e->st, oid, "processing", NULL,
					       "https://acme.test/finalize/1", 0, NULL), CK_OK);
	assert_int_equal(ck_store_order_list_open(e->st, &ol, NULL), CK_OK);
	assert_int_equal(ol.n, 1);
	assert_string_equal(ol.items[0].status, "processing");
	assert_string_equal(ol.items[0].url, "https://acme.test/order/1");
	ck_order_list_cleanup(&ol);
	t_leaf(&p, k, "www.test", 6, e->now, 90, &d);
	memset(&in, 0, sizeof(in));
	in.der = d.data;
	in.len = d.len;
	in.chain = &p.chain;
	in.key_id = kid;
	in.lineage = "www";
	in.order_id = oid;
	in.origin = "https://acme.test/order/1";
	assert_int_equal(ck_store_cert_put(e->st, &in, &r, NULL), CK_OK);
	assert_int_equal(ck_store_order_get(e->st, oid, &o, NULL), CK_OK);
	assert_string_equal(o.status, "valid");
	assert_int_equal(o.closed, 1);
	ck_order_cleanup(&o);
	assert_int_equal(ck_store_order_list_open(e->st, &ol, NULL), CK_OK);
	assert_int_equal(ol.n, 0);
	ck_order_list_cleanup(&ol);
	/* A second order (resumed after a crash) for a certificate already stored closes. */
	on.url = "https://acme.test/order/2";
	assert_int_equal(ck_store_order_put(e->st, &on, &oid, NULL), CK_OK);
	in.order_id = oid;
	assert_int_equal(ck_store_cert_put(e->st, &in, &r, NULL), CK_OK);
	assert_true(r.already_present);
	assert_int_equal(ck_store_order_get(e->st, oid, &o, NULL), CK_OK);
	assert_int_equal(o.closed, 1);
	ck_order_cleanup(&o);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

/* The query plan SQLite chose for sql (one line per step), for a test that
 * an index is used. */
static void
plan_of(const char *path, const char *sql, char *out, size_t n)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char q[512];
	size_t len = 0;

	out[0] = '\0';
	snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW && len + 2 < n)
		len += (size_t)snprintf(out + len, n - len, "%s\n",
					(const char *)sqlite3_column_text(s, 3));
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/* An issuance resumes one of its lineage's open orders: they are read by
 * lineage, through an index, never by reading every order ever placed. */
static void
test_order_list_open_lineage(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	const char *names[] = { "a.test" };
	struct ck_order_new on;
	struct ck_order_list ol;
	int64_t ids[4];
	char plan[1024];
	int i;

	memset(&on, 0, sizeof(on));
	on.identifiers = names;
	on.nidentifiers = 1;
	on.key_id = t_put_key(e->st, k);
	for (i = 0; i < 4; i++) {
		char url[64];

		snprintf(url, sizeof(url), "https://acme.test/order/%d", i);
		on.url = url;
		on.lineage = i == 2 ? "b" : "a";
		assert_int_equal(ck_store_order_put(e->st, &on, &ids[i], NULL), CK_OK);
	}
	assert_int_equal(ck_store_order_update(e->st, ids[0], "invalid", NULL, NULL, 1, NULL),
			 CK_OK);
	assert_int_equal(ck_store_order_list_open_lineage(e->st, "a", &ol, NULL), CK_OK);
	assert_int_equal(ol.n, 2);                   /* not the closed one, not b's */
	assert_int_equal(ol.items[0].id, ids[1]);    /* oldest first */
	assert_int_equal(ol.items[1].id, ids[3]);
	assert_string_equal(ol.items[1].url, "https://acme.test/order/3");
	ck_order_list_cleanup(&ol);
	assert_int_equal(ck_store_order_list_open_lineage(e->st, "b", &ol, NULL), CK_OK);
	assert_int_equal(ol.n, 1);
	assert_int_equal(ol.items[0].id, ids[2]);
	ck_order_list_cleanup(&ol);
	assert_int_equal(ck_store_order_list_open_lineage(e->st, "c", &ol, NULL), CK_OK);
	assert_int_equal(ol.n, 0);
	ck_order_list_cleanup(&ol);
	assert_int_equal(ck_store_order_list_open_lineage(e->st, "no/such", &ol, NULL),
			 CK_ERR_INVALID_ARG);
	if (!t_engine_pg()) { /* PostgreSQL plans per run, by its statistics */
		plan_of(e->path, "SELECT id FROM orders WHERE closed = 0 AND lineage = 'a' "
			"ORDER BY id", plan, sizeof(plan));
		assert_non_null(strstr(plan, "orders_open"));
		assert_null(strstr(plan, "SCAN"));
	}
	EVP_PKEY_free(k);
}

/* How many of this process's open files are SQLite temporary files. */
static int
open_temp_files(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char link[PATH_MAX], path[300];
	int n = 0;
	ssize_t len;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		if ((len = readlink(path, link, sizeof(link) - 1)) <= 0)
			continue;
		link[len] = '\0';
		n += strstr(link, "etilqs_") != NULL;
	}
	closedir(d);
	return n;
}

/* A renewal worker's connection (CK_STORE_SMALL_CACHE) keeps a
 * transaction's statement journal in memory: a certificate's commit, which
 * changes more pages than its 64 KiB cache, made a file in /var/tmp. */
static void
test_small_cache_no_temp_files(void **state)
{
	struct t_env *e = *state;
	struct ck_store *st = NULL;
	struct ck_cert_put_result r;
	struct ck_cert_new in;
	struct t_pki p;
	int i;

	T_SQLITE_ONLY(); /* SQLite's temporary files */
	t_pki_init(&p, e->now);
	assert_int_equal(ck_store_open_ex(e->path, &e->ctx, CK_STORE_SMALL_CACHE, &st, NULL),
			 CK_OK);
	assert_int_equal(ck_store_tx_begin(st, NULL), CK_OK);
	for (i = 0; i < 40; i++) {
		EVP_PKEY *k = t_key(CK_KEY_EC256);
		char name[32], lin[32];
		struct ck_der d;

		snprintf(name, sizeof(name), "s%d.test", i);
		snprintf(lin, sizeof(lin), "s%d", i);
		t_put_key(st, k);
		t_leaf(&p, k, name, 100 + i, e->now, 90, &d);
		memset(&in, 0, sizeof(in));
		in.der = d.data;
		in.len = d.len;
		in.chain = &p.chain;
		in.lineage = lin;
		assert_int_equal(ck_store_cert_put(st, &in, &r, NULL), CK_OK);
		free(d.data);
		EVP_PKEY_free(k);
	}
	assert_int_equal(open_temp_files(), 0);
	assert_int_equal(ck_store_tx_commit(st, NULL), CK_OK);
	ck_store_close(st);
	t_pki_cleanup(&p);
}

static void
test_rm_refused_by_binding_and_repoints_lineage(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_binding b;
	struct ck_binding_list bl;
	struct ck_lineage lin;
	struct ck_cert_row row;
	struct ck_err err;
	struct t_pki p;
	struct ck_der d1, d2;
	int64_t c1, c2;

	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	t_leaf(&p, k, "site.test", 7, e->now - 30 * T_DAY, 90, &d1);
	t_leaf(&p, k, "site.test", 8, e->now, 90, &d2);
	c1 = t_put_cert(e->st, &d1, NULL, 0, "site", NULL);
	c2 = t_put_cert(e->st, &d2, NULL, 0, "site", NULL);
	assert_int_equal(ck_store_cert_get(e->st, c2, &row, NULL), CK_OK);
	memset(&b, 0, sizeof(b));
	b.name = "nginx-site";
	memcpy(b.pinned_sha256, row.sha256, 65);
	b.target = "nginx:/etc/nginx/certs/site";
	ck_cert_row_cleanup(&row);
	assert_int_equal(ck_store_binding_put(e->st, &b, NULL, NULL), CK_OK);
	ck_err_clear(&err);
	assert_int_equal(ck_store_cert_remove(e->st, c2, &err), CK_ERR_IN_USE);
	assert_non_null(strstr(err.msg, "nginx-site"));
	assert_int_equal(ck_store_cert_bindings(e->st, c2, &bl, NULL), CK_OK);
	assert_int_equal(bl.n, 1);
	ck_binding_list_cleanup(&bl);
	/* A binding may not be created dangling. */
	memset(b.pinned_sha256, 'a', 64);
	b.name = "dangling";
	assert_int_equal(ck_store_binding_put(e->st, &b, NULL, NULL), CK_ERR_NOT_FOUND);
	/* Remove the binding, then the current cert: lineage falls back to c1. */
	assert_int_equal(ck_store_binding_remove(e->st, "nginx-site", NULL), CK_OK);
	assert_int_equal(ck_store_cert_remove(e->st, c2, NULL), CK_OK);
	assert_int_equal(ck_store_lineage_get(e->st, "site", &lin, NULL), CK_OK);
	assert_int_equal(lin.current_cert_id, c1);
	ck_lineage_cleanup(&lin);
	assert_int_equal(ck_store_cert_remove(e->st, c1, NULL), CK_OK);
	assert_int_equal(ck_store_lineage_get(e->st, "site", &lin, NULL), CK_OK);
	assert_int_equal(lin.current_cert_id, 0);
	ck_lineage_cleanup(&lin);
	free(d1.data);
	free(d2.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

static void
test_key_list_orphans_and_remove(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k1 = t_key(CK_KEY_EC256), *k2 = t_key(CK_KEY_EC256);
	struct ck_key_list kl;
	struct ck_err err;
	struct t_pki p;
	struct ck_der d;
	int64_t a, b;

	t_pki_init(&p, e->now);
	a = t_put_key(e->st, k1);
	b = t_put_key(e->st, k2);
	t_leaf(&p, k1, "o.test", 9, e->now, 90, &d);
	t_put_cert(e->st, &d, NULL, 0, NULL, NULL);
	assert_int_equal(ck_store_key_list(e->st, 1, &kl, NULL), CK_OK);
	assert_int_equal(kl.n, 1);
	assert_int_equal(kl.items[0].id, b);
	ck_key_list_cleanup(&kl);
	ck_err_clear(&err);
	assert_int_equal(ck_store_key_remove(e->st, a, &err), CK_ERR_IN_USE);
	assert_non_null(strstr(err.msg, "certificate"));
	assert_int_equal(ck_store_key_remove(e->st, b, NULL), CK_OK);
	assert_int_equal(ck_store_key_list(e->st, 0, &kl, NULL), CK_OK);
	assert_int_equal(kl.n, 1);
	ck_key_list_cleanup(&kl);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

/* Several calls in one transaction: an outer rollback undoes inner commits,
 * another process sees nothing before the outer commit. */
static void
test_tx_spans_calls(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k1 = t_key(CK_KEY_EC256), *k2 = t_key(CK_KEY_EC384);
	struct ck_store *other = NULL;
	struct ck_key_list l = { 0 };
	uint64_t g0 = t_gen(e->st);
	int64_t id = 0;
	char spki[65];

	assert_int_equal(ck_store_tx_begin(e->st, NULL), CK_OK);
	assert_int_equal(ck_store_key_put(e->st, k1, &id, NULL, NULL), CK_OK);
	assert_int_equal(ck_store_key_put(e->st, k2, &id, NULL, NULL), CK_OK);
	ck_store_tx_rollback(e->st);
	assert_int_equal(ck_store_key_list(e->st, 0, &l, NULL), CK_OK);
	assert_int_equal(l.n, 0);
	ck_key_list_cleanup(&l);
	assert_int_equal(t_gen(e->st), g0);

	assert_int_equal(ck_store_tx_begin(e->st, NULL), CK_OK);
	assert_int_equal(ck_store_key_put(e->st, k1, &id, NULL, NULL), CK_OK);
	assert_int_equal(ck_store_key_put(e->st, k2, &id, NULL, NULL), CK_OK);
	/* A second connection (another process) does not see uncommitted keys. */
	assert_int_equal(ck_store_open(e->path, NULL, &other, NULL), CK_OK);
	assert_int_equal(ck_key_spki_sha256(k2, spki, NULL), CK_OK);
	assert_int_equal(ck_store_key_find_spki(other, spki, &id, NULL), CK_ERR_NOT_FOUND);
	assert_int_equal(ck_store_tx_commit(e->st, NULL), CK_OK);
	assert_int_equal(ck_store_key_find_spki(other, spki, &id, NULL), CK_OK);
	ck_store_close(other);
	assert_int_equal(ck_store_key_list(e->st, 0, &l, NULL), CK_OK);
	assert_int_equal(l.n, 2);
	ck_key_list_cleanup(&l);
	assert_true(t_gen(e->st) > g0);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static void
test_settings(void **state)
{
	struct t_env *e = *state;
	char *v = NULL;

	assert_int_equal(ck_store_setting_get(e->st, CK_SETTING_DEFAULT_SERVER, &v, NULL),
			 CK_ERR_NOT_FOUND);
	assert_int_equal(ck_store_setting_set(e->st, CK_SETTING_DEFAULT_SERVER,
					      "https://acme.test/dir", NULL), CK_OK);
	assert_int_equal(ck_store_setting_get(e->st, CK_SETTING_DEFAULT_SERVER, &v, NULL), CK_OK);
	assert_string_equal(v, "https://acme.test/dir");
	free(v);
	assert_int_equal(ck_store_setting_set(e->st, CK_SETTING_DEFAULT_SERVER, NULL, NULL), CK_OK);
	assert_int_equal(ck_store_setting_get(e->st, CK_SETTING_DEFAULT_SERVER, &v, NULL),
			 CK_ERR_NOT_FOUND);
}

static void
test_bad_input_bounded(void **state)
{
	struct t_env *e = *state;
	unsigned char junk[16] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	struct ck_cert_new in;
	struct ck_err err;

	memset(&in, 0, sizeof(in));
	in.der = junk;
	in.len = sizeof(junk);
	ck_err_clear(&err);
	assert_int_not_equal(ck_store_cert_put(e->st, &in, NULL, &err), CK_OK);
	in.len = CK_STORE_CERT_MAX + 1;
	assert_int_equal(ck_store_cert_put(e->st, &in, NULL, &err), CK_ERR_TOO_LARGE);
	in.len = sizeof(junk);
	in.lineage = "../etc";
	assert_int_equal(ck_store_cert_put(e->st, &in, NULL, &err), CK_ERR_INVALID_ARG);
	in.lineage = NULL;
	in.alternates = "{not json";
	assert_int_equal(ck_store_cert_put(e->st, &in, NULL, &err), CK_ERR_PARSE);
	/* A directory where the file should be: a clear error, no handle. */
	{
		struct ck_store *st = NULL;
		assert_int_not_equal(ck_store_open(e->dir, &e->ctx, &st, &err), CK_OK);
		assert_null(st);
		assert_int_equal(ck_store_open("", &e->ctx, &st, &err), CK_ERR_INVALID_ARG);
	}
}

/* Several processes writing one store at once: the busy timeout makes each
 * wait for the others instead of failing; nothing is lost. */
static void
test_concurrent_processes(void **state)
{
	struct t_env *e = *state;
	struct ck_key_list kl;
	pid_t pids[4];
	int i, status;

	ck_store_close(e->st);
	e->st = NULL;
	fflush(NULL);
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct ck_store *st = NULL;
			int j, bad = 0;
			if (ck_store_open(e->path, &e->ctx, &st, NULL) != CK_OK)
				_exit(2);
			for (j = 0; j < 10; j++) {
				EVP_PKEY *k = NULL;
				int64_t id = 0;
				if (ck_key_generate(CK_KEY_EC256, &k, NULL) != CK_OK ||
				    ck_store_key_put(st, k, &id, NULL, NULL) != CK_OK)
					bad = 1;
				EVP_PKEY_free(k);
			}
			ck_store_close(st);
			_exit(bad);
		}
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(ck_store_open(e->path, &e->ctx, &e->st, NULL), CK_OK);
	assert_int_equal(ck_store_key_list(e->st, 0, &kl, NULL), CK_OK);
	assert_int_equal(kl.n, 40);
	ck_key_list_cleanup(&kl);
	assert_int_equal(t_gen(e->st), 40);
}

/* Several processes creating the same new store at once: each migration is
 * applied exactly once and every process gets a working store. */
static void
test_concurrent_create(void **state)
{
	struct t_env *e = *state;
	char path[400];
	pid_t pids[4];
	int i, status;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	snprintf(path, sizeof(path), "%s/fresh/new.db", e->dir);
	fflush(NULL);
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct ck_store *st = NULL;
			uint64_t g = 0;
			int bad = ck_store_open(path, &e->ctx, &st, NULL) != CK_OK ||
				  ck_store_generation(st, &g, NULL) != CK_OK;
			ck_store_close(st);
			_exit(bad);
		}
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), count(DISTINCT version) FROM "
					    "schema_version", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), sqlite3_column_int(s, 1));
	assert_int_equal(sqlite3_column_int(s, 0), ck_store_schema_version(e->st));
	sqlite3_finalize(s);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_modes, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_order_list_open_lineage, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_small_cache_no_temp_files, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_open_twice_idempotent, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_open_newer_schema_refused, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_open_without_create, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_open_foreign_database_untouched, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_open_store_without_application_id, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_key_put_idempotent, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_token_key_not_exportable, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_cert_links_each_key_type, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_cert_mismatch_refused_unchanged, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_cert_labelled_then_key_heals, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_generation_bumps, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_pending_request_closes_on_cert, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_order_key_first_and_issue, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_rm_refused_by_binding_and_repoints_lineage,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_key_list_orphans_and_remove, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_tx_spans_calls, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_settings, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_bad_input_bounded, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_processes, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_create, t_setup, t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
