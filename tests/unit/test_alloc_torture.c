/*
 * test_alloc_torture.c - fails the Nth allocation, for every N, of the JWS
 * and ACME JSON building, import, export and store write paths (the
 * jansson/curl "chaos" loop; the failer is alloc_fail.c).  Every N must end
 * in a clean error or success: no crash (ASan), no leak (a LeakSanitizer
 * check after every N), and for the store no trace of a failed write (the
 * store file is read through its own connection and must match its state
 * before the call, row for row).  See tests/README.md.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "acme/acme.h"
#include "crypto/crypto.h"
#include "flow/ops.h"
#include "store/store.h"
#include "alloc_fail.h"
#include "test_acme_fake.h"
#include "test_store_util.h"

static const enum ck_key_type key_types[] = { CK_KEY_EC256, CK_KEY_EC384, CK_KEY_RSA2048,
					      CK_KEY_ED25519 };

/* ---- crypto: JWS and JWK ---------------------------------------------- */

struct jws_case {
	EVP_PKEY *key;
	const char *kid;
};

static enum ck_code
op_jws_sign(void *arg, struct ck_err *err)
{
	struct jws_case *c = arg;
	char *jws = NULL, *payload = NULL, *tp = NULL;
	enum ck_code rc;

	rc = ck_jws_sign(c->key, c->kid, "nonce-1", "https://acme.test/new-order",
			 "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}", &jws, err);
	if (rc == CK_OK)
		rc = ck_key_thumbprint(c->key, &tp, err);
	if (rc == CK_OK) {
		af_pause();
		if (ck_jws_verify(jws, c->key, &payload, NULL, err) != CK_OK)
			fail_msg("the JWS made does not verify: %s: %s", err->msg, jws);
		assert_non_null(strstr(payload, "a.test"));
		af_resume();
	}
	free(payload);
	free(tp);
	free(jws);
	return rc;
}

static void
test_jws_sign_each_key_type(void **state)
{
	struct jws_case c;
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(key_types); i++) {
		c.key = t_key(key_types[i]);
		c.kid = NULL; /* jwk in the header */
		assert_true(af_torture("jws jwk", AF_ALL, op_jws_sign, NULL, &c) > 0);
		c.kid = "https://acme.test/acct/1";
		assert_true(af_torture("jws kid", AF_ALL, op_jws_sign, NULL, &c) > 0);
		EVP_PKEY_free(c.key);
	}
}

/*
 * OpenSSL 3.0 refreshes an RSA key's blinding at every 32nd private-key use.
 * An allocation that fails inside that refresh must not leave the key
 * signing wrongly without a word (a JWS the CA answers with "JWS
 * verification error", again and again in a long-lived agent): for each
 * allocation of the 32nd to 34th signatures in turn, a fresh copy of the
 * key signs 36 times and every signature certkeep reports as made must
 * verify under the key's public half.
 */
static void
test_rsa_signer_after_failed_blinding_refresh(void **state)
{
	static const unsigned char msg[] = "protected.payload";
	EVP_PKEY *gen = t_key(CK_KEY_RSA2048), *key = NULL;
	unsigned char *der = NULL, *sig = NULL;
	struct ck_signer *s = NULL;
	size_t len = 0, siglen = 0;
	unsigned long n;
	EVP_MD_CTX *v;
	int i, hit = 1, made, wrong;
	struct ck_err e;

	(void)state;
	assert_int_equal(ck_key_to_pkcs8_der(gen, &der, &len, NULL), CK_OK);
	for (n = 1; hit; n++) {
		assert_int_equal(ck_key_from_pkcs8_der(der, len, &key, NULL), CK_OK);
		assert_int_equal(ck_signer_from_key(key, &s, NULL), CK_OK);
		made = wrong = 0;
		for (i = 1; i <= 36; i++) {
			if (i == 32)
				af_arm(n, AF_OPENSSL);
			ck_err_clear(&e);
			if (ck_signer_sign(s, EVP_sha256(), msg, sizeof(msg), &sig, &siglen, &e) ==
			    CK_OK) {
				made++;
				af_pause();
				v = EVP_MD_CTX_new();
				assert_non_null(v);
				if (EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL, gen) != 1 ||
				    EVP_DigestVerify(v, sig, siglen, msg, sizeof(msg)) != 1)
					wrong++;
				EVP_MD_CTX_free(v);
				af_resume();
				free(sig);
				sig = NULL;
			} else {
				assert_true(e.msg[0] != '\0');
			}
			if (i == 34)
				hit = af_disarm();
		}
		ERR_clear_error();
		if (wrong > 0)
			fail_msg("allocation %lu of the 32nd-34th RSA signatures failed: %d of the "
				 "%d signatures reported as made do not verify", n, wrong, made);
		ck_signer_free(s);
		EVP_PKEY_free(key);
		s = NULL;
	}
	free(der);
	EVP_PKEY_free(gen);
}

static enum ck_code
op_jws_eab(void *arg, struct ck_err *err)
{
	static const unsigned char hmac[32] = { 1, 2, 3 };
	json_t *jwk = NULL, *eab = NULL;
	enum ck_code rc;

	rc = ck_jwk_from_key(arg, &jwk, err);
	if (rc == CK_OK)
		rc = ck_jws_eab(hmac, sizeof(hmac), "kid-1", FAKE_BASE "/new-acct", jwk, &eab, err);
	json_decref(eab);
	json_decref(jwk);
	return rc;
}

static void
test_jws_eab(void **state)
{
	EVP_PKEY *k = t_key(CK_KEY_EC256);

	(void)state;
	assert_true(af_torture("eab", AF_ALL, op_jws_eab, NULL, k) > 0);
	EVP_PKEY_free(k);
}

/* ---- acme: request payloads, through the fake server ------------------ */

/* The fake and the client's set-up run with memory: only certkeep's side
 * of each exchange is tortured. */
static enum ck_code
paused_request(void *arg, const struct acme_http_request *req, struct acme_http_response *out,
	       struct ck_err *err)
{
	enum ck_code rc;

	af_pause();
	rc = fake_request(arg, req, out, err);
	af_resume();
	return rc;
}

struct acme_case {
	struct fake f;
	struct fake_clock clk;
	struct ck_ctx ctx;
	EVP_PKEY *key, *key2;
	const char *kid;
	enum ck_code (*run)(struct acme_case *ac, struct acme_client *c, struct ck_err *err);
};

static enum ck_code
op_acme(void *arg, struct ck_err *err)
{
	struct acme_case *ac = arg;
	struct acme_http_ops ops = { paused_request, &ac->f };
	struct acme_client *c;
	enum ck_code rc;

	af_pause();
	fake_reset(&ac->f);
	fake_ctx_init(&ac->ctx, &ac->clk);
	c = fake_client(&ac->ctx, &ac->f, ac->key, ac->kid);
	acme_client_set_transport(c, &ops);
	af_resume();
	rc = ac->run(ac, c, err);
	af_pause();
	acme_client_free(c);
	fake_reset(&ac->f);
	af_resume();
	return rc;
}

static enum ck_code
run_new_account(struct acme_case *ac, struct acme_client *c, struct ck_err *err)
{
	static const char *const contacts[] = { "mailto:a@example.org", "mailto:b@example.org" };
	struct acme_account_new_opts o;
	struct acme_account a;
	enum ck_code rc;

	(void)ac;
	memset(&o, 0, sizeof(o));
	memset(&a, 0, sizeof(a));
	o.contacts = contacts;
	o.ncontacts = 2;
	o.agree_tos = 1;
	rc = acme_account_new(c, &o, &a, err);
	if (rc == CK_OK)
		acme_account_cleanup(&a);
	return rc;
}

static enum ck_code
run_new_order(struct acme_case *ac, struct acme_client *c, struct ck_err *err)
{
	static const char *const names[] = { "a.test", "192.0.2.1" };
	struct acme_order o;
	enum ck_code rc;

	(void)ac;
	memset(&o, 0, sizeof(o));
	rc = acme_order_new(c, names, 2, &o, err);
	if (rc == CK_OK)
		acme_order_cleanup(&o);
	return rc;
}

/*
 * The keyChange payload nests a JWS by the new key over {account, oldKey}.
 * Before the fix, a failed set of "oldKey" (which takes the JWK even when
 * it fails) was followed by a second decref: a use-after-free under ASan.
 */
static enum ck_code
run_key_change(struct acme_case *ac, struct acme_client *c, struct ck_err *err)
{
	return acme_account_key_change(c, ac->key2, err);
}

static void
acme_torture(const char *name, enum ck_code (*run)(struct acme_case *, struct acme_client *,
						   struct ck_err *), const char *kid)
{
	struct acme_case *ac = calloc(1, sizeof(*ac));

	assert_non_null(ac);
	ac->key = t_key(CK_KEY_EC256);
	ac->key2 = t_key(CK_KEY_EC256);
	ac->kid = kid;
	ac->run = run;
	assert_true(af_torture(name, AF_ALL, op_acme, NULL, ac) > 0);
	EVP_PKEY_free(ac->key);
	EVP_PKEY_free(ac->key2);
	free(ac);
}

static void
test_acme_new_account(void **state)
{
	(void)state;
	acme_torture("newAccount", run_new_account, NULL);
}

static void
test_acme_new_order(void **state)
{
	(void)state;
	acme_torture("newOrder", run_new_order, FAKE_BASE "/acct/1");
}

static void
test_acme_key_change(void **state)
{
	(void)state;
	acme_torture("keyChange", run_key_change, FAKE_BASE "/acct/1");
}

/* ---- the store: a failed write leaves no trace ------------------------ */

/* Every row of every table of the store file, as text, through a
 * connection of its own (what another process would see). */
static char *
store_dump(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *tables = NULL, *rows = NULL;
	char *text = NULL, sql[300];
	size_t len = 0;
	FILE *fp;
	int i;

	af_pause();
	assert_non_null(fp = open_memstream(&text, &len));
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE "
					    "type = 'table' ORDER BY name", -1, &tables, NULL),
			 SQLITE_OK);
	while (sqlite3_step(tables) == SQLITE_ROW) {
		snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" ORDER BY 1",
			 (const char *)sqlite3_column_text(tables, 0));
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &rows, NULL), SQLITE_OK);
		fprintf(fp, "%s\n", sql);
		while (sqlite3_step(rows) == SQLITE_ROW) {
			for (i = 0; i < sqlite3_column_count(rows); i++)
				fprintf(fp, "%s|", sqlite3_column_type(rows, i) == SQLITE_NULL
						       ? "NULL" : (const char *)sqlite3_column_text(rows, i));
			fputc('\n', fp);
		}
		sqlite3_finalize(rows);
	}
	sqlite3_finalize(tables);
	sqlite3_close(db);
	fclose(fp);
	af_resume();
	return text;
}

/* OpenSSL's own allocations are not failed on these paths: its encoders and
 * decoders make thousands per key or certificate (tests/README.md). */
#define AF_STORE_MASK (AF_CK | AF_JANSSON | AF_SQLITE)

struct store_case {
	struct t_env *e;
	struct ck_store *dst;     /* copy: the destination */
	char dst_path[400];
	char *before, *dst_before;
	EVP_PKEY *key;
	struct ck_der leaf;
	struct t_pki pki;
	int64_t cert_id, key_id;
	unsigned char *csr;
	size_t csr_len;
	const char *bundle;       /* import: PEM text */
	struct ck_export_opts xo; /* export */
	enum ck_code (*run)(struct store_case *sc, struct ck_err *err);
};

static enum ck_code
op_store(void *arg, struct ck_err *err)
{
	struct store_case *sc = arg;

	return sc->run(sc, err);
}

/* The table and the first line where the two dumps differ, for the message. */
static void
dump_diff(const char *a, const char *b)
{
	const char *table;
	size_t i = 0;

	while (a[i] != '\0' && a[i] == b[i])
		i++;
	while (i > 0 && a[i - 1] != '\n')
		i--;
	for (table = a + i; table > a && strncmp(table, "SELECT", 6) != 0; table--)
		;
	fprintf(stderr, "in %.*s\nbefore: %.*s\nafter:  %.*s\n", (int)strcspn(table, "\n"),
		table, (int)strcspn(a + i, "\n"), a + i, (int)strcspn(b + i, "\n"), b + i);
}

/* Copies file from to to (to replaced); a missing from removes to. */
static void
copy_file(const char *from, const char *to)
{
	char buf[8192];
	FILE *in = fopen(from, "rb"), *out;
	size_t n;

	unlink(to);
	if (in == NULL)
		return;
	assert_non_null(out = fopen(to, "wb"));
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

/* Saves (save != 0) or puts back the store file of *st, closed meanwhile. */
static void
store_snapshot(struct t_env *e, struct ck_store **st, const char *path, int save)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char a[420], b[420];
	size_t i;

	af_pause();
	ck_store_close(*st);
	*st = NULL;
	for (i = 0; i < CK_ARRAY_LEN(sfx); i++) {
		snprintf(a, sizeof(a), "%s%s", path, sfx[i]);
		snprintf(b, sizeof(b), "%s.snap%s", path, sfx[i]);
		if (save)
			copy_file(a, b);
		else
			copy_file(b, a);
	}
	assert_int_equal(ck_store_open(path, &e->ctx, st, NULL), CK_OK);
	af_resume();
}

/*
 * After a failed N, both store files are as before, row for row.  An N
 * the code got by (OpenSSL, for one, retries some allocations another way)
 * wrote for real: the store is put back so the next N takes the same path.
 */
static void
check_store(void *arg, enum ck_code rc, unsigned long n, int hit)
{
	struct store_case *sc = arg;
	char *now;

	if (rc == CK_OK) {
		if (hit) {
			store_snapshot(sc->e, &sc->e->st, sc->e->path, 0);
			if (sc->dst != NULL)
				store_snapshot(sc->e, &sc->dst, sc->dst_path, 0);
		}
		return;
	}
	now = store_dump(sc->e->path);
	if (strcmp(now, sc->before) != 0) {
		dump_diff(sc->before, now);
		free(now);
		fail_msg("store changed although the write failed at allocation %lu", n);
	}
	free(now);
	if (sc->dst != NULL) {
		now = store_dump(sc->dst_path);
		if (strcmp(now, sc->dst_before) != 0) {
			dump_diff(sc->dst_before, now);
			free(now);
			fail_msg("copy's destination changed although it failed at %lu", n);
		}
		free(now);
	}
}

static void
store_torture(struct t_env *e, struct store_case *sc, const char *name,
	      enum ck_code (*run)(struct store_case *, struct ck_err *))
{
	char *after;

	sc->e = e;
	sc->run = run;
	store_snapshot(e, &e->st, e->path, 1);
	sc->before = store_dump(e->path);
	if (sc->dst != NULL) {
		store_snapshot(e, &sc->dst, sc->dst_path, 1);
		sc->dst_before = store_dump(sc->dst_path);
	}
	assert_true(af_torture_sites(name, AF_STORE_MASK, op_store, check_store, sc) > 0);
	after = store_dump(e->path);
	if (sc->dst == NULL && sc->xo.out == NULL && strcmp(after, sc->before) == 0)
		fail_msg("%s: the successful run changed nothing", name);
	free(after);
	free(sc->before);
	free(sc->dst_before);
	sc->before = sc->dst_before = NULL;
}

static void
store_case_init(struct t_env *e, struct store_case *sc, enum ck_key_type kt)
{
	memset(sc, 0, sizeof(*sc));
	t_pki_init(&sc->pki, e->now);
	sc->key = t_key(kt);
	t_leaf(&sc->pki, sc->key, "torture.test", 7, e->now, 90, &sc->leaf);
}

static void
store_case_cleanup(struct store_case *sc)
{
	EVP_PKEY_free(sc->key);
	free(sc->leaf.data);
	free(sc->csr);
	t_pki_cleanup(&sc->pki);
	if (sc->dst != NULL)
		ck_store_close(sc->dst);
}

static enum ck_code
run_key_put(struct store_case *sc, struct ck_err *err)
{
	return ck_store_key_put(sc->e->st, sc->key, &sc->key_id, NULL, err);
}

static enum ck_code
run_cert_put(struct store_case *sc, struct ck_err *err)
{
	struct ck_cert_put_result r;
	struct ck_cert_new in;

	memset(&in, 0, sizeof(in));
	in.der = sc->leaf.data;
	in.len = sc->leaf.len;
	in.chain = &sc->pki.chain;
	in.lineage = "torture";
	in.origin = "import:torture.pem";
	return ck_store_cert_put(sc->e->st, &in, &r, err);
}

static enum ck_code
run_lineage_put(struct store_case *sc, struct ck_err *err)
{
	static const char *const ids[] = { "a.test", "b.test" };
	int64_t id;

	return ck_store_lineage_put(sc->e->st, "web", ids, 2, "ec256", &id, err);
}

static enum ck_code
run_account_put(struct store_case *sc, struct ck_err *err)
{
	struct ck_account a;
	int64_t id;

	memset(&a, 0, sizeof(a));
	a.name = "default";
	a.server = FAKE_DIR;
	a.url = FAKE_BASE "/acct/1";
	a.key_id = sc->key_id;
	a.contacts = "[\"mailto:a@example.org\"]";
	a.tos_agreed = 1;
	return ck_store_account_put(sc->e->st, &a, &id, err);
}

static enum ck_code
run_request_put(struct store_case *sc, struct ck_err *err)
{
	static const char *const ids[] = { "a.test", "b.test" };
	int64_t id;

	return ck_store_request_put(sc->e->st, sc->key_id, sc->csr, sc->csr_len, ids, 2, "web",
				    &id, err);
}

static void
test_store_writes(void **state)
{
	static const char *const names[] = { "a.test", "b.test" };
	struct t_env *e = *state;
	struct store_case sc;

	store_case_init(e, &sc, CK_KEY_EC256);
	store_torture(e, &sc, "key put", run_key_put);
	store_torture(e, &sc, "cert put", run_cert_put);
	store_torture(e, &sc, "lineage put", run_lineage_put);
	store_torture(e, &sc, "account put", run_account_put);
	assert_int_equal(ck_csr_create(sc.key, names, 2, &sc.csr, &sc.csr_len, NULL), CK_OK);
	store_torture(e, &sc, "request put", run_request_put);
	store_case_cleanup(&sc);
}

static enum ck_code
run_copy(struct store_case *sc, struct ck_err *err)
{
	struct ck_copy_result r;

	return ck_store_cert_copy(sc->e->st, sc->cert_id, sc->dst, 0, &r, err);
}

static void
test_store_copy(void **state)
{
	struct t_env *e = *state;
	struct store_case sc;

	store_case_init(e, &sc, CK_KEY_EC256);
	t_put_key(e->st, sc.key);
	sc.cert_id = t_put_cert(e->st, &sc.leaf, &sc.pki.chain, 0, "copy", NULL);
	snprintf(sc.dst_path, sizeof(sc.dst_path), "%s/dst.db", e->dir);
	assert_int_equal(ck_store_open(sc.dst_path, &e->ctx, &sc.dst, NULL), CK_OK);
	store_torture(e, &sc, "copy", run_copy);
	store_case_cleanup(&sc);
}

/* ---- import and export ------------------------------------------------ */

static enum ck_code
run_import(struct store_case *sc, struct ck_err *err)
{
	struct ck_import_result r;
	struct ck_import_source src;
	enum ck_code rc;

	memset(&r, 0, sizeof(r));
	src.name = "bundle.pem";
	src.data = (const unsigned char *)sc->bundle;
	src.len = strlen(sc->bundle);
	rc = ck_store_import(sc->e->st, &src, 1, NULL, "imported", &r, err);
	if (rc == CK_OK) {
		af_pause();
		assert_int_equal(r.ncerts, 1);
		assert_true(r.certs[0].key_id > 0);
		assert_int_equal(r.certs[0].chain_len, 1);
		ck_import_result_cleanup(&r);
		af_resume();
	}
	return rc;
}

/* cert + key + chain, as one PEM text. */
static char *
bundle_text(EVP_PKEY *key, const struct ck_der *leaf_der, X509 *ca)
{
	BIO *b = BIO_new(BIO_s_mem());
	const unsigned char *p = leaf_der->data;
	X509 *leaf = d2i_X509(NULL, &p, (long)leaf_der->len);
	char *data = NULL, *out;
	long n;

	assert_non_null(leaf);
	assert_int_equal(PEM_write_bio_X509(b, leaf), 1);
	assert_int_equal(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(PEM_write_bio_X509(b, ca), 1);
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	assert_non_null(out);
	BIO_free(b);
	X509_free(leaf);
	return out;
}

static void
test_import_bundle(void **state)
{
	struct t_env *e = *state;
	struct store_case sc;

	store_case_init(e, &sc, CK_KEY_EC256);
	sc.bundle = bundle_text(sc.key, &sc.leaf, sc.pki.ca);
	store_torture(e, &sc, "import", run_import);
	free((char *)sc.bundle);
	store_case_cleanup(&sc);
}

static enum ck_code
run_export(struct store_case *sc, struct ck_err *err)
{
	struct ck_export_result r;
	enum ck_code rc;

	memset(&r, 0, sizeof(r));
	rc = ck_store_export(sc->e->st, sc->cert_id, &sc->xo, &r, err);
	af_pause();
	if (rc == CK_OK) {
		assert_int_equal(access(sc->xo.out, F_OK), 0);
		assert_true(r.key_included);
		ck_export_result_cleanup(&r);
	} else {
		/* Written whole or not at all, and no temporary file left. */
		DIR *d = opendir(sc->e->dir);
		struct dirent *de;

		assert_non_null(d);
		while ((de = readdir(d)) != NULL)
			if (strncmp(de->d_name, "out", 3) == 0)
				fail_msg("export failed but left %s", de->d_name);
		closedir(d);
	}
	af_resume();
	return rc;
}

static void
test_export_pem_pfx(void **state)
{
	struct t_env *e = *state;
	struct store_case sc;
	char out[400];

	store_case_init(e, &sc, CK_KEY_EC256);
	t_put_key(e->st, sc.key);
	sc.cert_id = t_put_cert(e->st, &sc.leaf, &sc.pki.chain, 0, "x", NULL);
	snprintf(out, sizeof(out), "%s/out.pem", e->dir);
	sc.xo.out = out;
	sc.xo.format = CK_EXPORT_PEM;
	store_torture(e, &sc, "export pem", run_export);
	assert_int_equal(unlink(out), 0);
	snprintf(out, sizeof(out), "%s/out.pfx", e->dir);
	sc.xo.format = CK_EXPORT_PFX;
	sc.xo.password = "torture";
	store_torture(e, &sc, "export pfx", run_export);
	store_case_cleanup(&sc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jws_sign_each_key_type),
		cmocka_unit_test(test_jws_eab),
		cmocka_unit_test(test_rsa_signer_after_failed_blinding_refresh),
		cmocka_unit_test(test_acme_new_account),
		cmocka_unit_test(test_acme_new_order),
		cmocka_unit_test(test_acme_key_change),
		cmocka_unit_test_setup_teardown(test_store_writes, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_store_copy, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_import_bundle, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_export_pem_pfx, t_setup, t_teardown),
	};

	af_init(); /* before OpenSSL or SQLite allocate anything */
	if (getenv("CK_TORTURE_ONLY") != NULL) /* e.g. "test_store_*" */
		cmocka_set_test_filter(getenv("CK_TORTURE_ONLY"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
