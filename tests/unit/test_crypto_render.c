/*
 * test_crypto_render.c - the renderers shared by export and deploy
 * (src/crypto/render.c): byte for byte what export wrote before they moved
 * (tests/data/render/), the block order of every output, the PEM set, and
 * PKCS#12 (modern and legacy) opened by the openssl CLI with its password.
 */
#include "test_crypto_util.h"

#include "crypto/render.h"

#define T_MAX (4 * CK_PEM_MAX)

struct fix {
	unsigned char *leaf, *key_der;
	size_t leaf_len, key_len;
	struct ck_der_list chain;
	EVP_PKEY *key;
	char data[512];
	char *dir;
};

static unsigned char *
fix_read(struct fix *f, const char *name, size_t *len)
{
	return t_read(f->data, name, len);
}

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	const char *src = getenv("CK_TEST_SRCDIR");
	unsigned char *pem;
	size_t len;

	assert_non_null(f);
	assert_non_null(src);
	snprintf(f->data, sizeof(f->data), "%s/tests/data/render", src);
	f->leaf = fix_read(f, "cert.der", &f->leaf_len);
	f->key_der = fix_read(f, "key.der", &f->key_len);
	assert_int_equal(ck_key_from_pkcs8_der(f->key_der, f->key_len, &f->key, NULL), CK_OK);
	pem = fix_read(f, "chain.pem", &len);
	assert_int_equal(ck_pem_certs_parse((char *)pem, len, &f->chain, NULL), CK_OK);
	free(pem);
	f->dir = t_mkdtemp();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	free(f->leaf);
	free(f->key_der);
	ck_der_list_cleanup(&f->chain);
	EVP_PKEY_free(f->key);
	t_rmdir(f->dir);
	free(f);
	return 0;
}

/* b holds exactly the bytes of the fixture file name. */
static void
assert_fixture(struct fix *f, const struct ck_buf *b, const char *name)
{
	unsigned char *want;
	size_t len;

	want = fix_read(f, name, &len);
	if (b->len != len || memcmp(b->data, want, len) != 0)
		fail_msg("rendered %s differs from what export wrote before the move "
			 "(%zu bytes, want %zu)", name, b->len, len);
	free(want);
}

static void
test_render_export_bytes(void **state)
{
	struct fix *f = *state;
	struct ck_buf b;

	ck_buf_init(&b, T_MAX);
	assert_int_equal(ck_render_cert_pem(f->leaf, f->leaf_len, &b, NULL), CK_OK);
	assert_fixture(f, &b, "cert.pem");
	ck_buf_cleanup(&b);
	ck_buf_init(&b, T_MAX);
	assert_int_equal(ck_render_chain_pem(&f->chain, &b, NULL), CK_OK);
	assert_fixture(f, &b, "chain.pem");
	ck_buf_cleanup(&b);
	ck_buf_init(&b, T_MAX);
	assert_int_equal(ck_render_fullchain(f->leaf, f->leaf_len, &f->chain, &b, NULL), CK_OK);
	assert_fixture(f, &b, "full.pem");
	ck_buf_cleanup(&b);
	ck_buf_init_secret(&b, T_MAX);
	assert_int_equal(ck_render_key_pem(f->key, &b, NULL), CK_OK);
	assert_fixture(f, &b, "key.pem");
	ck_buf_cleanup(&b);
	ck_buf_init_secret(&b, T_MAX);
	assert_int_equal(ck_render_key_der(f->key, &b, NULL), CK_OK);
	assert_fixture(f, &b, "key.der");
	ck_buf_cleanup(&b);
	/* export --out: leaf, chain, key; without the key it is the full chain */
	ck_buf_init_secret(&b, T_MAX);
	assert_int_equal(ck_render_combined(f->key, f->leaf, f->leaf_len, &f->chain, &b, NULL),
			 CK_OK);
	assert_fixture(f, &b, "single.pem");
	ck_buf_cleanup(&b);
	ck_buf_init(&b, T_MAX);
	assert_int_equal(ck_render_combined(NULL, f->leaf, f->leaf_len, &f->chain, &b, NULL),
			 CK_OK);
	assert_fixture(f, &b, "full.pem");
	ck_buf_cleanup(&b);
}

static void
test_render_pem_set(void **state)
{
	struct fix *f = *state;
	struct ck_render_set s;

	assert_int_equal(ck_render_pem_set(f->key, f->leaf, f->leaf_len, &f->chain, T_MAX, &s,
					   NULL), CK_OK);
	assert_fixture(f, &s.cert, "cert.pem");
	assert_fixture(f, &s.chain, "chain.pem");
	assert_fixture(f, &s.fullchain, "full.pem");
	assert_fixture(f, &s.privkey, "key.pem");
	assert_true(s.privkey.secret);
	ck_render_set_cleanup(&s);
	/* no key: privkey.pem stays empty; no chain: fullchain.pem = cert.pem */
	assert_int_equal(ck_render_pem_set(NULL, f->leaf, f->leaf_len, NULL, T_MAX, &s, NULL),
			 CK_OK);
	assert_int_equal(s.privkey.len, 0);
	assert_int_equal(s.chain.len, 0);
	assert_int_equal(s.fullchain.len, s.cert.len);
	assert_memory_equal(s.fullchain.data, s.cert.data, s.cert.len);
	ck_render_set_cleanup(&s);
}

static void
test_render_rejects(void **state)
{
	struct fix *f = *state;
	struct ck_render_set s;
	struct ck_buf b;
	struct ck_err err = {0};

	/* a bound too small for the leaf: an error, every buffer empty */
	assert_int_equal(ck_render_pem_set(f->key, f->leaf, f->leaf_len, &f->chain, 100, &s, &err),
			 CK_ERR_TOO_LARGE);
	assert_null(s.cert.data);
	assert_null(s.privkey.data);
	/* garbage where a certificate should be, and no key */
	ck_buf_init(&b, T_MAX);
	assert_int_not_equal(ck_render_cert_pem(f->key_der, f->key_len, &b, NULL), CK_OK);
	assert_int_equal(ck_render_key_pem(NULL, &b, NULL), CK_ERR_INVALID_ARG);
	assert_int_equal(b.len, 0);
	ck_buf_cleanup(&b);
}

/* The openssl CLI opens the PKCS#12 file with the password and reads the
 * leaf, the chain and the key, and names the algorithm we asked for. */
static void
check_pfx(struct fix *f, enum ck_pfx_compat compat, const char *alg)
{
	struct ck_buf b;
	char *out;
	int st;

	ck_buf_init_secret(&b, T_MAX);
	assert_int_equal(ck_render_pkcs12(f->key, f->leaf, f->leaf_len, &f->chain, "s3cret pw",
					  "www", compat, &b, NULL), CK_OK);
	t_write(f->dir, "out.p12", b.data, b.len);
	ck_buf_cleanup(&b);
	t_write(f->dir, "pw", "s3cret pw\n", 10);
	out = t_run(&st, "cd '%s' && openssl pkcs12 -in out.p12 -passin file:pw -info -nodes "
			 "2>&1", f->dir);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, alg));
	assert_non_null(strstr(out, "subject=CN = www.example.test"));
	assert_non_null(strstr(out, "subject=CN = TestCA"));
	assert_non_null(strstr(out, "-----BEGIN PRIVATE KEY-----"));
	free(out);
	out = t_run(&st, "cd '%s' && openssl pkcs12 -in out.p12 -passin pass:wrong -nodes 2>&1",
		    f->dir);
	assert_int_not_equal(st, 0);
	free(out);
}

static void
test_render_pkcs12(void **state)
{
	struct fix *f = *state;

	check_pfx(f, CK_PFX_MODERN, "PBES2, PBKDF2, AES-256-CBC");
	check_pfx(f, CK_PFX_LEGACY, "pbeWithSHA1And3-KeyTripleDES-CBC");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_export_bytes),
		cmocka_unit_test(test_render_pem_set),
		cmocka_unit_test(test_render_rejects),
		cmocka_unit_test(test_render_pkcs12),
	};

	return cmocka_run_group_tests_name("crypto_render", tests, setup, teardown);
}
