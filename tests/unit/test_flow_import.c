/*
 * test_flow_import.c - the import / export / request flows
 * (src/flow/ops.h): linking by SPKI across key types (in the input, in
 * the store, in a pending request), chains ordered by issuer, labelled
 * certificates healed by a later key, the no-op re-import, a wrong password
 * storing nothing, --name with several leaves refused, and export's rules
 * (option combinations, missing key, token key, file modes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "flow/ops.h"
#include "test_store_util.h"

/* A root, an intermediate under it, and the PEM text of both. */
struct t_ca2 {
	EVP_PKEY *root_key, *inter_key;
	X509 *root, *inter;
};

static void
ca2_init(struct t_ca2 *c, time_t now)
{
	c->root_key = t_key(CK_KEY_EC256);
	c->inter_key = t_key(CK_KEY_EC384);
	c->root = t_x509(c->root_key, NULL, NULL, "test root", 1, NULL, 1, now - T_DAY,
			 now + 3650 * T_DAY);
	c->inter = t_x509(c->inter_key, c->root, c->root_key, "test intermediate", 1, NULL, 2,
			  now - T_DAY, now + 3650 * T_DAY);
}

static void
ca2_cleanup(struct t_ca2 *c)
{
	EVP_PKEY_free(c->root_key);
	EVP_PKEY_free(c->inter_key);
	X509_free(c->root);
	X509_free(c->inter);
}

/* A growing PEM text in a memory BIO. */
static void
pem_cert(BIO *b, X509 *x)
{
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
}

static void
pem_key(BIO *b, EVP_PKEY *k, const char *password)
{
	if (password == NULL)
		assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_256_cbc(), NULL, 0,
							      NULL, (void *)password), 1);
}

static enum ck_code
import_bio(struct t_env *e, BIO *b, const char *password, const char *lineage,
	   struct ck_import_result *r, struct ck_err *err)
{
	struct ck_import_source src;
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);

	src.name = "test.pem";
	src.data = (const unsigned char *)data;
	src.len = (size_t)n;
	memset(r, 0, sizeof(*r));
	ck_err_clear(err);
	return ck_store_import(e->st, &src, 1, password, lineage, r, err);
}

static size_t
count_certs(struct t_env *e)
{
	struct ck_cert_list l = { NULL, 0 };
	size_t n;

	assert_int_equal(ck_store_cert_list(e->st, &l, NULL), CK_OK);
	n = l.n;
	ck_cert_list_cleanup(&l);
	return n;
}

static size_t
count_keys(struct t_env *e)
{
	struct ck_key_list l = { NULL, 0 };
	size_t n;

	assert_int_equal(ck_store_key_list(e->st, 0, &l, NULL), CK_OK);
	n = l.n;
	ck_key_list_cleanup(&l);
	return n;
}

static void
check_der_equal(const struct ck_der *d, X509 *x)
{
	struct ck_der want;

	t_der(x, &want);
	assert_int_equal(d->len, want.len);
	assert_memory_equal(d->data, want.data, want.len);
	free(want.data);
}

/* Key, root, leaf, intermediate in that order: linked, chain in issuer order. */
static void
test_links_in_input_each_key_type(void **state)
{
	static const enum ck_key_type types[] = { CK_KEY_EC256, CK_KEY_RSA2048, CK_KEY_ED25519 };
	struct t_env *e = *state;
	struct t_ca2 ca;
	size_t i;

	ca2_init(&ca, e->now);
	for (i = 0; i < CK_ARRAY_LEN(types); i++) {
		EVP_PKEY *k = t_key(types[i]);
		X509 *leaf = t_x509(k, ca.inter, ca.inter_key, "leaf.test", 0, "DNS:leaf.test",
				    (long)(10 + i), e->now - T_DAY, e->now + 90 * T_DAY);
		struct ck_import_result r;
		struct ck_der_list chain = { NULL, 0 };
		unsigned char *der = NULL;
		size_t len = 0;
		struct ck_err err;
		BIO *b = BIO_new(BIO_s_mem());

		pem_key(b, k, NULL);
		pem_cert(b, ca.root);
		pem_cert(b, leaf);
		pem_cert(b, ca.inter);
		if (import_bio(e, b, NULL, NULL, &r, &err) != CK_OK)
			fail_msg("import: %s", err.msg);
		assert_int_equal(r.ncerts, 1);
		assert_int_equal(r.chain_only, 2);
		assert_int_equal(r.nkeys, 1);
		assert_true(r.changed);
		assert_int_equal(r.certs[0].key_source, CK_IMPORT_KEY_INPUT);
		assert_true(r.certs[0].key_id > 0);
		assert_int_equal(r.certs[0].chain_len, 2);
		assert_string_equal(r.certs[0].key_location, "store");
		assert_int_equal(ck_store_cert_der(e->st, r.certs[0].cert_id, &der, &len, &chain,
						   NULL), CK_OK);
		assert_int_equal(chain.n, 2);
		check_der_equal(&chain.items[0], ca.inter);
		check_der_equal(&chain.items[1], ca.root);
		free(der);
		ck_der_list_cleanup(&chain);
		ck_import_result_cleanup(&r);
		BIO_free(b);
		X509_free(leaf);
		EVP_PKEY_free(k);
	}
	ca2_cleanup(&ca);
}

/* A certificate alone is labelled; its key later links it; the same again is a no-op. */
static void
test_labelled_then_key_links(void **state)
{
	struct t_env *e = *state;
	struct t_ca2 ca;
	struct ck_import_result r;
	struct ck_err err;
	EVP_PKEY *k = t_key(CK_KEY_RSA2048);
	X509 *leaf;
	BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem());

	ca2_init(&ca, e->now);
	leaf = t_x509(k, ca.inter, ca.inter_key, "late.test", 0, "DNS:late.test", 7,
		      e->now - T_DAY, e->now + 90 * T_DAY);
	pem_cert(b1, leaf);
	assert_int_equal(import_bio(e, b1, NULL, NULL, &r, &err), CK_OK);
	assert_int_equal(r.certs[0].key_id, 0);
	assert_int_equal(r.certs[0].key_source, CK_IMPORT_KEY_NONE);
	assert_null(r.certs[0].key_location);
	ck_import_result_cleanup(&r);

	pem_key(b2, k, NULL);
	assert_int_equal(import_bio(e, b2, NULL, NULL, &r, &err), CK_OK);
	assert_int_equal(r.ncerts, 0);
	assert_int_equal(r.nkeys, 1);
	assert_int_equal(r.keys[0].relinked, 1);
	assert_true(r.keys[0].used);
	assert_true(r.changed);
	ck_import_result_cleanup(&r);

	/* The certificate again: already there, linked, nothing changes. */
	assert_int_equal(import_bio(e, b1, NULL, NULL, &r, &err), CK_OK);
	assert_true(r.certs[0].already_present);
	assert_int_equal(r.certs[0].key_source, CK_IMPORT_KEY_STORE);
	assert_false(r.changed);
	ck_import_result_cleanup(&r);
	BIO_free(b1);
	BIO_free(b2);
	X509_free(leaf);
	EVP_PKEY_free(k);
	ca2_cleanup(&ca);
}

/* A key alone is kept, unlinked. */
static void
test_key_alone_kept(void **state)
{
	struct t_env *e = *state;
	struct ck_import_result r;
	struct ck_err err;
	EVP_PKEY *k = t_key(CK_KEY_ED25519);
	BIO *b = BIO_new(BIO_s_mem());

	pem_key(b, k, NULL);
	assert_int_equal(import_bio(e, b, NULL, NULL, &r, &err), CK_OK);
	assert_int_equal(r.nkeys, 1);
	assert_true(r.keys[0].created);
	assert_false(r.keys[0].used);
	assert_int_equal(count_keys(e), 1);
	ck_import_result_cleanup(&r);
	BIO_free(b);
	EVP_PKEY_free(k);
}

/* request -> certificate for the request's key -> import closes it and completes the lineage. */
static void
test_request_then_import(void **state)
{
	static const char *const names[] = { "offline.test", "www.offline.test" };
	struct t_env *e = *state;
	struct ck_request req;
	struct ck_import_result r;
	struct ck_err err;
	struct t_ca2 ca;
	EVP_PKEY *k = NULL;
	X509 *leaf;
	char *pem = NULL;
	int64_t rid = 0;
	BIO *b = BIO_new(BIO_s_mem());

	ca2_init(&ca, e->now);
	ck_err_clear(&err);
	if (ck_store_request_create(e->st, names, 2, NULL, CK_KEY_EC384, &rid, &pem, &err) != CK_OK)
		fail_msg("request: %s", err.msg);
	assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE REQUEST-----"));
	memset(&req, 0, sizeof(req));
	assert_int_equal(ck_store_request_get(e->st, rid, &req, NULL), CK_OK);
	assert_string_equal(req.lineage, "offline.test");
	assert_int_equal(ck_store_key_load(e->st, req.key_id, &k, NULL), CK_OK);
	leaf = t_x509(k, ca.inter, ca.inter_key, "offline.test", 0,
		      "DNS:offline.test,DNS:www.offline.test", 9, e->now - T_DAY,
		      e->now + 90 * T_DAY);
	pem_cert(b, leaf);
	pem_cert(b, ca.inter);
	assert_int_equal(import_bio(e, b, NULL, NULL, &r, &err), CK_OK);
	assert_int_equal(r.certs[0].key_source, CK_IMPORT_KEY_REQUEST);
	assert_int_equal(r.certs[0].request_closed, rid);
	assert_int_equal(r.certs[0].key_id, req.key_id);
	assert_string_equal(r.certs[0].lineage, "offline.test");
	ck_import_result_cleanup(&r);
	ck_request_cleanup(&req);
	free(pem);
	BIO_free(b);
	X509_free(leaf);
	EVP_PKEY_free(k);
	ca2_cleanup(&ca);
}

/* A wrong password stores nothing, not even the certificate beside the key. */
static void
test_wrong_password_stores_nothing(void **state)
{
	struct t_env *e = *state;
	struct ck_import_result r;
	struct ck_err err;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	X509 *leaf = t_x509(k, NULL, NULL, "self.test", 0, "DNS:self.test", 3, e->now - T_DAY,
			    e->now + 90 * T_DAY);
	BIO *b = BIO_new(BIO_s_mem());

	pem_cert(b, leaf);
	pem_key(b, k, "right password");
	assert_int_equal(import_bio(e, b, "wrong password", NULL, &r, &err), CK_ERR_BAD_PASSWORD);
	assert_non_null(strstr(err.msg, "nothing was imported"));
	assert_int_equal(import_bio(e, b, NULL, NULL, &r, &err), CK_ERR_BAD_PASSWORD);
	assert_int_equal(count_certs(e), 0);
	assert_int_equal(count_keys(e), 0);
	assert_int_equal(import_bio(e, b, "right password", NULL, &r, &err), CK_OK);
	assert_int_equal(r.certs[0].key_source, CK_IMPORT_KEY_INPUT);
	ck_import_result_cleanup(&r);
	BIO_free(b);
	X509_free(leaf);
	EVP_PKEY_free(k);
}

/* --name with two leaves is refused before anything is stored. */
static void
test_name_needs_one_leaf(void **state)
{
	struct t_env *e = *state;
	struct ck_import_result r;
	struct ck_err err;
	EVP_PKEY *k1 = t_key(CK_KEY_EC256), *k2 = t_key(CK_KEY_EC256);
	X509 *a = t_x509(k1, NULL, NULL, "a.test", 0, "DNS:a.test", 1, e->now - T_DAY,
			 e->now + 90 * T_DAY);
	X509 *c = t_x509(k2, NULL, NULL, "c.test", 0, "DNS:c.test", 2, e->now - T_DAY,
			 e->now + 90 * T_DAY);
	BIO *b = BIO_new(BIO_s_mem());

	pem_cert(b, a);
	pem_cert(b, c);
	pem_key(b, k1, NULL);
	assert_int_equal(import_bio(e, b, NULL, "www", &r, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(count_certs(e), 0);
	assert_int_equal(count_keys(e), 0);
	assert_int_equal(import_bio(e, b, NULL, NULL, &r, &err), CK_OK);
	assert_int_equal(r.ncerts, 2);
	ck_import_result_cleanup(&r);
	BIO_free(b);
	X509_free(a);
	X509_free(c);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

/* The option rules, no store needed. */
static void
test_export_check(void **state)
{
	struct ck_export_opts o;
	struct {
		enum ck_export_format f;
		const char *out, *cert, *key, *chain, *pw;
		int no_key;
		enum ck_code want;
	} cases[] = {
		{ CK_EXPORT_PEM, "a", NULL, NULL, NULL, NULL, 0, CK_OK },
		{ CK_EXPORT_PEM, NULL, "c", "k", "ch", NULL, 0, CK_OK },
		{ CK_EXPORT_PEM, NULL, NULL, NULL, NULL, NULL, 0, CK_ERR_INVALID_ARG },
		{ CK_EXPORT_PEM, "a", "c", NULL, NULL, NULL, 0, CK_ERR_INVALID_ARG },
		{ CK_EXPORT_PFX, "a", NULL, NULL, NULL, NULL, 0, CK_ERR_INVALID_ARG },
		{ CK_EXPORT_PFX, "a", NULL, NULL, NULL, "pw", 0, CK_OK },
		{ CK_EXPORT_PFX, NULL, "c", NULL, NULL, "pw", 0, CK_ERR_INVALID_ARG },
		{ CK_EXPORT_PEM, "a", NULL, NULL, NULL, "pw", 0, CK_ERR_INVALID_ARG },
		{ CK_EXPORT_PEM, NULL, "c", "k", NULL, NULL, 1, CK_ERR_INVALID_ARG },
		{ CK_EXPORT_DER, NULL, "c", "k", NULL, NULL, 0, CK_OK },
		{ CK_EXPORT_DER, NULL, "c", NULL, "ch", NULL, 0, CK_ERR_INVALID_ARG },
		{ CK_EXPORT_PEM, NULL, "same", "same", NULL, NULL, 0, CK_ERR_INVALID_ARG },
	};
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(cases); i++) {
		memset(&o, 0, sizeof(o));
		o.format = cases[i].f;
		o.out = cases[i].out;
		o.cert_out = cases[i].cert;
		o.key_out = cases[i].key;
		o.chain_out = cases[i].chain;
		o.password = cases[i].pw;
		o.no_key = cases[i].no_key;
		if (ck_export_check(&o, NULL) != cases[i].want)
			fail_msg("export option case %zu", i);
	}
}

static mode_t
file_mode(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 07777;
}

/* Missing key refused (nothing written) unless no_key; modes 0600 / 0644. */
static void
test_export_key_rules_and_modes(void **state)
{
	struct t_env *e = *state;
	struct ck_export_opts o;
	struct ck_export_result res;
	struct ck_err err;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_der d;
	char cert[400], key[400], one[400];
	int64_t cid;
	X509 *x = t_x509(k, NULL, NULL, "m.test", 0, "DNS:m.test", 5, e->now - T_DAY,
			 e->now + 90 * T_DAY);

	t_der(x, &d);
	snprintf(cert, sizeof(cert), "%s/cert.pem", e->dir);
	snprintf(key, sizeof(key), "%s/key.pem", e->dir);
	snprintf(one, sizeof(one), "%s/one.pem", e->dir);
	cid = t_put_cert(e->st, &d, NULL, 0, NULL, NULL);
	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	o.cert_out = cert;
	ck_err_clear(&err);
	assert_int_equal(ck_store_export(e->st, cid, &o, &res, &err), CK_ERR_KEY_MISSING);
	assert_non_null(strstr(err.msg, "Keyset does not exist"));
	assert_int_not_equal(access(cert, F_OK), 0);
	o.no_key = 1;
	assert_int_equal(ck_store_export(e->st, cid, &o, &res, NULL), CK_OK);
	assert_false(res.key_included);
	ck_export_result_cleanup(&res);

	t_put_key(e->st, k); /* links the labelled certificate */
	o.no_key = 0;
	o.key_out = key;
	assert_int_equal(ck_store_export(e->st, cid, &o, &res, NULL), CK_OK);
	assert_true(res.key_included);
	assert_string_equal(res.files[0].what, "private key"); /* the key first */
	assert_int_equal(file_mode(key), 0600);
	assert_int_equal(file_mode(cert), 0644);
	ck_export_result_cleanup(&res);
	memset(&o, 0, sizeof(o));
	o.out = one;
	assert_int_equal(ck_store_export(e->st, cid, &o, &res, NULL), CK_OK);
	assert_int_equal(file_mode(one), 0600);
	ck_export_result_cleanup(&res);
	free(d.data);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* A token key cannot leave its token; the certificate alone can. */
static void
test_export_token_key(void **state)
{
	struct t_env *e = *state;
	struct ck_export_opts o;
	struct ck_export_result res;
	struct ck_err err;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	unsigned char *spki = NULL;
	size_t spki_len = 0;
	struct ck_der d;
	char cert[400], key[400];
	int64_t kid = 0, cid;
	X509 *x = t_x509(k, NULL, NULL, "t.test", 0, "DNS:t.test", 6, e->now - T_DAY,
			 e->now + 90 * T_DAY);

	t_der(x, &d);
	assert_int_equal(ck_key_spki_der(k, &spki, &spki_len, NULL), CK_OK);
	assert_int_equal(ck_store_key_put_token(e->st, "pkcs11:token=test;object=k1", spki,
						spki_len, &kid, NULL, NULL), CK_OK);
	cid = t_put_cert(e->st, &d, NULL, 0, NULL, NULL);
	snprintf(cert, sizeof(cert), "%s/cert.pem", e->dir);
	snprintf(key, sizeof(key), "%s/key.pem", e->dir);
	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	o.cert_out = cert;
	o.key_out = key;
	ck_err_clear(&err);
	assert_int_equal(ck_store_export(e->st, cid, &o, &res, &err), CK_ERR_KEY_NOT_EXPORTABLE);
	assert_non_null(strstr(err.msg, "cannot leave its token"));
	assert_non_null(strstr(err.msg, "--no-key"));
	assert_int_not_equal(access(key, F_OK), 0);
	assert_int_not_equal(access(cert, F_OK), 0);
	o.key_out = NULL;
	o.no_key = 1;
	assert_int_equal(ck_store_export(e->st, cid, &o, &res, NULL), CK_OK);
	ck_export_result_cleanup(&res);
	free(spki);
	free(d.data);
	X509_free(x);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_links_in_input_each_key_type, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_labelled_then_key_links, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_key_alone_kept, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_request_then_import, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_wrong_password_stores_nothing, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_name_needs_one_leaf, t_setup, t_teardown),
		cmocka_unit_test(test_export_check),
		cmocka_unit_test_setup_teardown(test_export_key_rules_and_modes, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_export_token_key, t_setup, t_teardown),
	};

	return cmocka_run_group_tests_name("store_import", tests, NULL, NULL);
}
