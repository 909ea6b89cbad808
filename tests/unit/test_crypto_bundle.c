/*
 * test_crypto_bundle.c - the import parser (PEM in any order, DER,
 * PKCS#12 from `openssl pkcs12 -export` default and -legacy, passwords,
 * limits) and PKCS#12 output, checked both by parsing it back and by the
 * openssl CLI's report of the algorithms used.
 */
#include "test_crypto_util.h"

struct pki {
	EVP_PKEY *root_key, *int_key, *leaf_key;
	X509 *root, *inter, *leaf;
	unsigned char *leaf_der, *int_der, *root_der;
	size_t leaf_len, int_len, root_len;
	char *dir;
};

static int
setup(void **state)
{
	struct pki *p = calloc(1, sizeof(*p));

	p->root_key = t_key(CK_KEY_EC384);
	p->int_key = t_key(CK_KEY_EC256);
	p->leaf_key = t_key(CK_KEY_RSA2048);
	p->root = t_make_cert(p->root_key, NULL, NULL, "Bundle Root", 1, NULL, 1, 1600000000,
			      2000000000);
	p->inter = t_make_cert(p->int_key, p->root, p->root_key, "Bundle Intermediate", 1, NULL, 2,
			       1600000000, 2000000000);
	p->leaf = t_make_cert(p->leaf_key, p->inter, p->int_key, "leaf.example", 0,
			      "DNS:leaf.example", 3, 1700000000, 1900000000);
	p->leaf_der = t_cert_der(p->leaf, &p->leaf_len);
	p->int_der = t_cert_der(p->inter, &p->int_len);
	p->root_der = t_cert_der(p->root, &p->root_len);
	p->dir = t_mkdtemp();
	*state = p;
	return 0;
}

static int
teardown(void **state)
{
	struct pki *p = *state;

	EVP_PKEY_free(p->root_key);
	EVP_PKEY_free(p->int_key);
	EVP_PKEY_free(p->leaf_key);
	X509_free(p->root);
	X509_free(p->inter);
	X509_free(p->leaf);
	free(p->leaf_der);
	free(p->int_der);
	free(p->root_der);
	t_rmdir(p->dir);
	free(p);
	return 0;
}

static void
assert_cert(const struct ck_der_list *l, size_t i, const unsigned char *der, size_t len)
{
	assert_true(i < l->n);
	assert_int_equal(l->items[i].len, len);
	assert_memory_equal(l->items[i].data, der, len);
}

static void
test_bundle_pem_odd_order(void **state)
{
	struct pki *p = *state;
	struct t_text t = {0};
	struct ck_bundle b = {0};

	t_text_add(&t, "Bag Attributes: written by some tool\n", 37);
	t_text_add_cert(&t, p->inter);
	t_text_add_key(&t, p->leaf_key);
	t_text_add_cert(&t, p->leaf);
	t_text_add(&t, "\n\n", 2);
	t_text_add_cert(&t, p->root);
	assert_int_equal(ck_bundle_parse((unsigned char *)t.s, t.len, NULL, &b, NULL), CK_OK);
	assert_int_equal(b.certs.n, 3);
	assert_int_equal(b.nkeys, 1);
	assert_cert(&b.certs, 0, p->int_der, p->int_len);
	assert_cert(&b.certs, 1, p->leaf_der, p->leaf_len);
	assert_cert(&b.certs, 2, p->root_der, p->root_len);
	assert_true(ck_key_public_equal(b.keys[0], p->leaf_key));
	ck_bundle_cleanup(&b);
	assert_int_equal(b.nkeys, 0);
	free(t.s);
}

static void
test_bundle_pem_encrypted_and_traditional(void **state)
{
	struct pki *p = *state;
	struct t_text t = {0};
	struct ck_bundle b = {0};
	struct ck_err err;
	BIO *bio = BIO_new(BIO_s_mem());

	t_text_add_cert(&t, p->leaf);
	assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, p->leaf_key, EVP_aes_256_cbc(), NULL, 0,
						       NULL, (void *)"pw"),
			 1);
	t_text_add_bio(&t, bio);
	BIO_free(bio);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, p->int_key, NULL, NULL, 0, NULL,
							      NULL),
			 1);
	t_text_add_bio(&t, bio);
	BIO_free(bio);
	assert_int_equal(ck_bundle_parse((unsigned char *)t.s, t.len, "pw", &b, NULL), CK_OK);
	assert_int_equal(b.nkeys, 2);
	assert_true(ck_key_public_equal(b.keys[0], p->leaf_key));
	assert_true(ck_key_public_equal(b.keys[1], p->int_key));
	ck_bundle_cleanup(&b);
	ck_err_clear(&err);
	assert_int_equal(ck_bundle_parse((unsigned char *)t.s, t.len, "wrong", &b, &err),
			 CK_ERR_BAD_PASSWORD);
	assert_non_null(strstr(err.msg, "nothing was imported"));
	assert_null(b.keys);
	assert_int_equal(b.certs.n, 0);
	free(t.s);
}

static void
test_bundle_pem_rejects(void **state)
{
	struct pki *p = *state;
	struct t_text t = {0};
	struct ck_bundle b = {0};
	struct ck_err err;

	t_text_add_cert(&t, p->leaf);
	t_text_add(&t, "-----BEGIN DSA PRIVATE KEY-----\nMAA=\n-----END DSA PRIVATE KEY-----\n",
		   67);
	ck_err_clear(&err);
	assert_int_equal(ck_bundle_parse((unsigned char *)t.s, t.len, NULL, &b, &err), CK_ERR_PARSE);
	assert_non_null(strstr(err.msg, "\"DSA PRIVATE KEY\""));
	assert_int_equal(b.certs.n, 0);
	free(t.s);
	/* a truncated block */
	t.s = NULL;
	t.len = 0;
	t_text_add_cert(&t, p->leaf);
	t.len -= 30;
	assert_int_equal(ck_bundle_parse((unsigned char *)t.s, t.len, NULL, &b, NULL), CK_ERR_PARSE);
	free(t.s);
	assert_int_equal(ck_bundle_parse((const unsigned char *)"", 0, NULL, &b, NULL), CK_ERR_PARSE);
	assert_int_equal(ck_bundle_parse((const unsigned char *)"hello", 5, NULL, &b, NULL),
			 CK_ERR_PARSE);
}

static void
test_bundle_der(void **state)
{
	struct pki *p = *state;
	struct ck_bundle b = {0};
	unsigned char *der = NULL;
	size_t len = 0;

	assert_int_equal(ck_bundle_parse(p->leaf_der, p->leaf_len, NULL, &b, NULL), CK_OK);
	assert_int_equal(b.certs.n, 1);
	assert_int_equal(b.nkeys, 0);
	assert_cert(&b.certs, 0, p->leaf_der, p->leaf_len);
	ck_bundle_cleanup(&b);
	assert_int_equal(ck_key_to_pkcs8_der(p->int_key, &der, &len, NULL), CK_OK);
	assert_int_equal(ck_bundle_parse(der, len, NULL, &b, NULL), CK_OK);
	assert_int_equal(b.certs.n, 0);
	assert_int_equal(b.nkeys, 1);
	assert_true(ck_key_public_equal(b.keys[0], p->int_key));
	ck_bundle_cleanup(&b);
	/* a DER that is none of the three */
	assert_int_equal(ck_bundle_parse(der, len - 3, NULL, &b, NULL), CK_ERR_PARSE);
	ck_secure_free(der, len);
}

static void
test_bundle_limits(void **state)
{
	struct pki *p = *state;
	struct t_text t = {0};
	struct ck_bundle b = {0};
	unsigned char *big;
	size_t i;

	big = calloc(1, CK_PEM_MAX + 1);
	memcpy(big, "-----BEGIN CERTIFICATE-----\n", 28);
	assert_int_equal(ck_bundle_parse(big, CK_PEM_MAX + 1, NULL, &b, NULL), CK_ERR_TOO_LARGE);
	free(big);
	for (i = 0; i < CK_BUNDLE_MAX_ITEMS; i++)
		t_text_add_cert(&t, p->root);
	assert_int_equal(ck_bundle_parse((unsigned char *)t.s, t.len, NULL, &b, NULL), CK_OK);
	assert_int_equal(b.certs.n, CK_BUNDLE_MAX_ITEMS);
	ck_bundle_cleanup(&b);
	t_text_add_key(&t, p->leaf_key);
	assert_int_equal(ck_bundle_parse((unsigned char *)t.s, t.len, NULL, &b, NULL),
			 CK_ERR_TOO_LARGE);
	assert_int_equal(b.certs.n, 0);
	free(t.s);
}

/* Writes leaf key, leaf cert and chain as PEM files into the temp dir. */
static void
write_pem_files(struct pki *p)
{
	struct t_text k = {0}, c = {0}, ch = {0};

	t_text_add_key(&k, p->leaf_key);
	t_text_add_cert(&c, p->leaf);
	t_text_add_cert(&ch, p->inter);
	t_text_add_cert(&ch, p->root);
	t_write(p->dir, "key.pem", k.s, k.len);
	t_write(p->dir, "cert.pem", c.s, c.len);
	t_write(p->dir, "chain.pem", ch.s, ch.len);
	t_write(p->dir, "pw", "pfx secret\n", 11);
	free(k.s);
	free(c.s);
	free(ch.s);
}

static void
check_pfx_import(struct pki *p, const char *file)
{
	struct ck_bundle b = {0};
	struct ck_err err;
	unsigned char *data;
	size_t len;

	data = t_read(p->dir, file, &len);
	ck_err_clear(&err);
	assert_int_equal(ck_bundle_parse(data, len, "pfx secret", &b, &err), CK_OK);
	assert_int_equal(b.nkeys, 1);
	assert_true(ck_key_public_equal(b.keys[0], p->leaf_key));
	assert_int_equal(b.certs.n, 3);
	assert_cert(&b.certs, 0, p->leaf_der, p->leaf_len);
	ck_bundle_cleanup(&b);
	/* the imported key works with the normal providers (it left the legacy scope) */
	ck_err_clear(&err);
	assert_int_equal(ck_bundle_parse(data, len, "wrong", &b, &err), CK_ERR_BAD_PASSWORD);
	assert_string_equal(err.msg,
			    "the password does not open this PKCS#12 file; nothing was imported");
	assert_null(b.keys);
	assert_int_equal(ck_bundle_parse(data, len, NULL, &b, &err), CK_ERR_BAD_PASSWORD);
	free(data);
}

static void
test_bundle_pkcs12_openssl_cli(void **state)
{
	struct pki *p = *state;
	char *out;
	int st;

	write_pem_files(p);
	out = t_run(&st, "cd '%s' && openssl pkcs12 -export -inkey key.pem -in cert.pem "
			 "-certfile chain.pem -passout file:pw -out default.p12 2>&1",
		    p->dir);
	assert_int_equal(st, 0);
	free(out);
	out = t_run(&st, "cd '%s' && openssl pkcs12 -export -legacy -inkey key.pem -in cert.pem "
			 "-certfile chain.pem -passout file:pw -out legacy.p12 2>&1",
		    p->dir);
	assert_int_equal(st, 0);
	free(out);
	/* -legacy really is RC2 (needs the legacy provider) */
	out = t_run(&st, "cd '%s' && openssl pkcs12 -info -nokeys -legacy -passin file:pw "
			 "-in legacy.p12 2>&1",
		    p->dir);
	assert_non_null(strstr(out, "RC2"));
	free(out);
	check_pfx_import(p, "default.p12");
	check_pfx_import(p, "legacy.p12");
	/* without the legacy provider the user is told exactly that */
	struct ck_bundle b = {0};
	struct ck_err err;
	unsigned char *data;
	size_t len;

	data = t_read(p->dir, "legacy.p12", &len);
	setenv("OPENSSL_MODULES", p->dir, 1);
	ck_err_clear(&err);
	assert_int_equal(ck_bundle_parse(data, len, "pfx secret", &b, &err), CK_ERR_UNSUPPORTED);
	unsetenv("OPENSSL_MODULES");
	assert_non_null(strstr(err.msg, "legacy provider is not available"));
	assert_null(b.keys);
	free(data);
	/* after a legacy import, normal operations still see only the default provider */
	assert_null(EVP_CIPHER_fetch(NULL, "RC2-CBC", NULL));
	ERR_clear_error();
}

/*
 * Drops the PEM bodies from `openssl pkcs12 -info` output, in place: the
 * certificates' base64 is random text that contains "AES" or "RC2" by
 * chance (about 1 run in 100), and only the report lines name algorithms.
 */
static void
strip_pem_bodies(char *out)
{
	char *r = out, *w = out;
	int in_pem = 0;

	while (*r != '\0') {
		char *eol = strchr(r, '\n');
		size_t n = eol ? (size_t)(eol - r) + 1 : strlen(r);
		int begin = strncmp(r, "-----BEGIN ", 11) == 0;
		int end = strncmp(r, "-----END ", 9) == 0;

		if (!in_pem || begin || end) {
			memmove(w, r, n);
			w += n;
		}
		if (begin)
			in_pem = 1;
		else if (end)
			in_pem = 0;
		r += n;
	}
	*w = '\0';
}

static void
check_pfx_cli(struct pki *p, const char *file, const char *const *want, const char *unwanted)
{
	char *out;
	int st;

	out = t_run(&st, "cd '%s' && openssl pkcs12 -info -nokeys -passin file:pw -in %s 2>&1",
		    p->dir, file);
	assert_int_equal(st, 0);
	strip_pem_bodies(out);
	/* the certificates are still listed, by their subjects */
	assert_non_null(strstr(out, "-----BEGIN CERTIFICATE-----"));
	for (; *want != NULL; want++) {
		if (strstr(out, *want) == NULL)
			fail_msg("openssl pkcs12 -info output lacks \"%s\":\n%s", *want, out);
	}
	if (unwanted != NULL && strstr(out, unwanted) != NULL)
		fail_msg("openssl pkcs12 -info output names \"%s\":\n%s", unwanted, out);
	free(out);
}

static void
make_pfx(struct pki *p, enum ck_pfx_compat compat, const char *file, int with_key)
{
	struct ck_der_list chain = {0};
	struct ck_der items[2] = {{p->int_der, p->int_len}, {p->root_der, p->root_len}};
	unsigned char *der = NULL;
	size_t len = 0;

	chain.items = items;
	chain.n = 2;
	assert_int_equal(ck_pkcs12_create(with_key ? p->leaf_key : NULL, p->leaf_der, p->leaf_len,
					  &chain, "pfx secret", "www", compat, &der, &len, NULL),
			 CK_OK);
	t_write(p->dir, file, der, len);
	free(der);
}

static void
test_pkcs12_create(void **state)
{
	static const char *const modern[] = {"PBES2, PBKDF2, AES-256-CBC", "MAC: sha256",
					     "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC",
					     "friendlyName: www", NULL};
	static const char *const legacy[] = {"pbeWithSHA1And3-KeyTripleDES-CBC", "MAC: sha1",
					     "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC",
					     NULL};
	struct pki *p = *state;
	struct ck_bundle b = {0};
	unsigned char *data;
	size_t len;

	write_pem_files(p);
	make_pfx(p, CK_PFX_MODERN, "modern.p12", 1);
	make_pfx(p, CK_PFX_LEGACY, "legacy3des.p12", 1);
	check_pfx_import(p, "modern.p12");
	/* 3DES + SHA-1 MAC must open without OpenSSL's legacy provider (none found here) */
	setenv("OPENSSL_MODULES", p->dir, 1);
	check_pfx_import(p, "legacy3des.p12");
	unsetenv("OPENSSL_MODULES");
	check_pfx_cli(p, "modern.p12", modern, "RC2");
	check_pfx_cli(p, "legacy3des.p12", legacy, "AES");
	/* certificate-only */
	make_pfx(p, CK_PFX_MODERN, "certonly.p12", 0);
	data = t_read(p->dir, "certonly.p12", &len);
	assert_int_equal(ck_bundle_parse(data, len, "pfx secret", &b, NULL), CK_OK);
	assert_int_equal(b.nkeys, 0);
	assert_int_equal(b.certs.n, 3);
	ck_bundle_cleanup(&b);
	free(data);
}

static void
test_pkcs12_create_rejects(void **state)
{
	struct pki *p = *state;
	unsigned char *der = NULL;
	size_t len = 0;

	assert_int_equal(ck_pkcs12_create(p->int_key, p->leaf_der, p->leaf_len, NULL, "x", NULL,
					  CK_PFX_MODERN, &der, &len, NULL),
			 CK_ERR_KEY_MISMATCH);
	assert_int_equal(ck_pkcs12_create(p->leaf_key, p->leaf_der, p->leaf_len, NULL, NULL, NULL,
					  CK_PFX_MODERN, &der, &len, NULL),
			 CK_ERR_INVALID_ARG);
	assert_null(der);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bundle_pem_odd_order),
		cmocka_unit_test(test_bundle_pem_encrypted_and_traditional),
		cmocka_unit_test(test_bundle_pem_rejects),
		cmocka_unit_test(test_bundle_der),
		cmocka_unit_test(test_bundle_limits),
		cmocka_unit_test(test_bundle_pkcs12_openssl_cli),
		cmocka_unit_test(test_pkcs12_create),
		cmocka_unit_test(test_pkcs12_create_rejects),
	};

	return cmocka_run_group_tests_name("crypto_bundle", tests, setup, teardown);
}
