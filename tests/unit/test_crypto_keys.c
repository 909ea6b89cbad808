/*
 * test_crypto_keys.c - base64url, key generation and types, PKCS#8/PEM
 * round trips (plain, encrypted, traditional), SPKI identity, JWK and the
 * RFC 7638 thumbprint.
 */
#include "test_crypto_util.h"

static const enum ck_key_type all_types[] = {CK_KEY_EC256,   CK_KEY_EC384,   CK_KEY_RSA2048,
					     CK_KEY_RSA3072, CK_KEY_RSA4096, CK_KEY_ED25519};
static EVP_PKEY *keys[6];

static int
setup_keys(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(all_types); i++)
		keys[i] = t_key(all_types[i]);
	return 0;
}

static int
teardown_keys(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(keys); i++)
		EVP_PKEY_free(keys[i]);
	return 0;
}

static void
check_encode(const char *in, size_t len, const char *want)
{
	char *out = NULL;
	unsigned char *back = NULL;
	size_t blen = 99;

	assert_int_equal(ck_b64url_encode((const unsigned char *)in, len, &out, NULL), CK_OK);
	assert_string_equal(out, want);
	assert_int_equal(ck_b64url_decode(out, strlen(out), &back, &blen, NULL), CK_OK);
	assert_int_equal(blen, len);
	assert_memory_equal(back, len ? in : "", len);
	assert_int_equal(back[blen], '\0');
	free(out);
	free(back);
}

static void
test_b64url_edges(void **state)
{
	(void)state;
	check_encode("", 0, "");
	check_encode("f", 1, "Zg");
	check_encode("fo", 2, "Zm8");
	check_encode("foo", 3, "Zm9v");
	check_encode("foob", 4, "Zm9vYg");
	check_encode("\xfb\xff", 2, "-_8");
	check_encode("\xfb\xef\xbe", 3, "----");
	check_encode("\xff\xff\xff", 3, "____");
	check_encode("\0\0", 2, "AAA");
}

static void
check_reject(const char *in)
{
	unsigned char *out = NULL;
	size_t len = 0;
	struct ck_err err;

	ck_err_clear(&err);
	assert_int_equal(ck_b64url_decode(in, strlen(in), &out, &len, &err), CK_ERR_PARSE);
	assert_null(out);
	assert_true(strlen(err.msg) > 0);
}

static void
test_b64url_rejects(void **state)
{
	(void)state;
	check_reject("Zg==");
	check_reject("Zm8=");
	check_reject("a+b/");
	check_reject("ab+c");
	check_reject("ab/c");
	check_reject("Zm 9v");
	check_reject("Zm9v\n");
	check_reject("\tZm9v");
	check_reject("Zm9vY");  /* 5 chars: no byte sequence encodes to that */
	check_reject("Zm9v.");
	check_reject("Zh");   /* "Zg" is the one encoding of "f" */
	check_reject("Zm9");  /* "Zm8" is the one encoding of "fo" */
}

static void
test_key_types(void **state)
{
	enum ck_key_type t;
	char desc[32];
	size_t i;
	static const char *const want_desc[] = {"EC P-256", "EC P-384", "RSA 2048",
						"RSA 3072", "RSA 4096", "Ed25519"};

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(all_types); i++) {
		assert_int_equal(ck_key_type_of(keys[i]), all_types[i]);
		assert_int_equal(ck_key_type_parse(ck_key_type_name(all_types[i]), &t, NULL), CK_OK);
		assert_int_equal(t, all_types[i]);
		ck_key_describe(keys[i], desc, sizeof(desc));
		assert_string_equal(desc, want_desc[i]);
	}
	assert_int_equal(ck_key_type_parse("p256", &t, NULL), CK_OK);
	assert_int_equal(t, CK_KEY_EC256);
	assert_int_equal(ck_key_type_parse("rsa", &t, NULL), CK_OK);
	assert_int_equal(t, CK_KEY_RSA2048);
	assert_int_equal(ck_key_type_parse("dsa", &t, NULL), CK_ERR_INVALID_ARG);
	assert_string_equal(ck_key_type_name(CK_KEY_NONE), "unknown");
	assert_int_equal(ck_key_generate(CK_KEY_NONE, &keys[0], NULL), CK_ERR_INVALID_ARG);
}

static void
test_key_pem_roundtrip(void **state)
{
	size_t i, len = 0;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(keys); i++) {
		char *pem = NULL;
		unsigned char *der = NULL;
		EVP_PKEY *back = NULL, *back2 = NULL;

		assert_int_equal(ck_key_to_pem(keys[i], &pem, &len, NULL), CK_OK);
		assert_int_equal(strlen(pem), len);
		assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
		assert_int_equal(ck_key_from_pem(pem, len, NULL, &back, NULL), CK_OK);
		assert_true(ck_key_public_equal(keys[i], back));
		assert_int_equal(EVP_PKEY_eq(keys[i], back), 1);
		ck_secure_free(pem, len);

		assert_int_equal(ck_key_to_pkcs8_der(keys[i], &der, &len, NULL), CK_OK);
		assert_int_equal(ck_key_from_pkcs8_der(der, len, &back2, NULL), CK_OK);
		assert_true(ck_key_public_equal(keys[i], back2));
		assert_int_equal(ck_key_type_of(back2), all_types[i]);
		/* a truncated DER is refused, not half-read */
		EVP_PKEY *bad = NULL;
		assert_int_equal(ck_key_from_pkcs8_der(der, len - 1, &bad, NULL), CK_ERR_PARSE);
		assert_null(bad);
		ck_secure_free(der, len);
		EVP_PKEY_free(back);
		EVP_PKEY_free(back2);
	}
}

static char *
encrypted_pem(EVP_PKEY *k, const char *pass, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *copy;
	long n;

	assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, k, EVP_aes_256_cbc(), NULL, 0, NULL,
						       (void *)pass),
			 1);
	n = BIO_get_mem_data(bio, &data);
	copy = strndup(data, (size_t)n);
	*len = (size_t)n;
	BIO_free(bio);
	return copy;
}

static void
test_key_encrypted_pkcs8(void **state)
{
	struct ck_err err;
	size_t i, len = 0;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(keys); i++) {
		char *pem = encrypted_pem(keys[i], "correct horse", &len);
		EVP_PKEY *back = NULL;

		assert_non_null(strstr(pem, "ENCRYPTED PRIVATE KEY"));
		assert_int_equal(ck_key_from_pem(pem, len, "correct horse", &back, NULL), CK_OK);
		assert_true(ck_key_public_equal(keys[i], back));
		EVP_PKEY_free(back);
		back = NULL;
		ck_err_clear(&err);
		assert_int_equal(ck_key_from_pem(pem, len, "wrong", &back, &err), CK_ERR_BAD_PASSWORD);
		assert_null(back);
		assert_non_null(strstr(err.msg, "password"));
		assert_null(strstr(err.msg, "wrong"));
		ck_err_clear(&err);
		assert_int_equal(ck_key_from_pem(pem, len, NULL, &back, &err), CK_ERR_BAD_PASSWORD);
		assert_non_null(strstr(err.msg, "no password"));
		free(pem);
	}
}

static char *
traditional_pem(EVP_PKEY *k, const EVP_CIPHER *enc, const char *pass)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *copy;
	long n;

	assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, k, enc, NULL, 0, NULL,
							      (void *)pass),
			 1);
	n = BIO_get_mem_data(bio, &data);
	copy = strndup(data, (size_t)n);
	BIO_free(bio);
	return copy;
}

static void
test_key_traditional(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) { /* EC256, EC384, RSA2048 */
		char *plain = traditional_pem(keys[i], NULL, NULL);
		char *enc = traditional_pem(keys[i], EVP_aes_128_cbc(), "s3cret");
		EVP_PKEY *back = NULL;

		assert_non_null(strstr(plain, i < 2 ? "BEGIN EC PRIVATE KEY" : "BEGIN RSA PRIVATE KEY"));
		assert_non_null(strstr(enc, "Proc-Type: 4,ENCRYPTED"));
		assert_int_equal(ck_key_from_pem(plain, strlen(plain), NULL, &back, NULL), CK_OK);
		assert_true(ck_key_public_equal(keys[i], back));
		EVP_PKEY_free(back);
		back = NULL;
		assert_int_equal(ck_key_from_pem(enc, strlen(enc), "s3cret", &back, NULL), CK_OK);
		assert_true(ck_key_public_equal(keys[i], back));
		EVP_PKEY_free(back);
		back = NULL;
		assert_int_equal(ck_key_from_pem(enc, strlen(enc), "nope", &back, NULL),
				 CK_ERR_BAD_PASSWORD);
		assert_int_equal(ck_key_from_pem(enc, strlen(enc), NULL, &back, NULL),
				 CK_ERR_BAD_PASSWORD);
		assert_null(back);
		free(plain);
		free(enc);
	}
}

/*
 * Traditional PEM encryption has no integrity check: about one wrong
 * password in 256 decrypts to valid padding and garbage.  That must still
 * read as a wrong password, never as "malformed" (which once made
 * test_key_traditional fail one run in a few hundred).  3000 wrong
 * passwords make such a decryption all but certain.
 */
static void
test_key_traditional_wrong_passwords(void **state)
{
	char *enc = traditional_pem(keys[0], EVP_aes_128_cbc(), "s3cret");
	EVP_PKEY *back = NULL;
	struct ck_err err;
	char pass[32];
	int i;

	(void)state;
	for (i = 0; i < 3000; i++) {
		snprintf(pass, sizeof(pass), "wrong-%d", i);
		if (ck_key_from_pem(enc, strlen(enc), pass, &back, &err) != CK_ERR_BAD_PASSWORD)
			fail_msg("password %s: %s", pass, err.msg);
		assert_null(back);
	}
	free(enc);
}

static void
test_key_from_pem_rejects(void **state)
{
	static const char two[] = "-----BEGIN FOO BAR-----\nAAAA\n-----END FOO BAR-----\n";
	struct ck_err err;
	EVP_PKEY *k = NULL;
	struct t_text t = {0};
	size_t len;

	(void)state;
	ck_err_clear(&err);
	assert_int_equal(ck_key_from_pem(two, strlen(two), NULL, &k, &err), CK_ERR_PARSE);
	assert_non_null(strstr(err.msg, "FOO BAR"));
	assert_int_equal(ck_key_from_pem("hello", 5, NULL, &k, NULL), CK_ERR_PARSE);
	/* two keys: which one was meant is unknowable */
	t_text_add_key(&t, keys[0]);
	t_text_add_key(&t, keys[1]);
	assert_int_equal(ck_key_from_pem(t.s, t.len, NULL, &k, &err), CK_ERR_PARSE);
	assert_null(k);
	free(t.s);
	/* an EC key file as `openssl ecparam -genkey` writes it: EC PARAMETERS first */
	int st;
	char *out = t_run(&st, "openssl ecparam -name prime256v1 -genkey 2>&1");
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "BEGIN EC PARAMETERS"));
	len = strlen(out);
	assert_int_equal(ck_key_from_pem(out, len, NULL, &k, NULL), CK_OK);
	assert_int_equal(ck_key_type_of(k), CK_KEY_EC256);
	EVP_PKEY_free(k);
	free(out);
}

static void
test_spki(void **state)
{
	size_t i, len = 0;
	char hex[65], hex2[65];

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(keys); i++) {
		unsigned char *der = NULL;
		EVP_PKEY *pub = NULL;

		assert_int_equal(ck_key_spki_der(keys[i], &der, &len, NULL), CK_OK);
		assert_int_equal(ck_key_from_spki_der(der, len, &pub, NULL), CK_OK);
		assert_true(ck_key_public_equal(keys[i], pub));
		assert_int_equal(ck_key_spki_sha256(keys[i], hex, NULL), CK_OK);
		assert_int_equal(ck_key_spki_sha256(pub, hex2, NULL), CK_OK);
		assert_string_equal(hex, hex2);
		assert_int_equal(strlen(hex), 64);
		assert_int_equal(strspn(hex, "0123456789abcdef"), 64);
		ck_sha256_hex(der, len, hex2);
		assert_string_equal(hex, hex2);
		if (i > 0) {
			assert_false(ck_key_public_equal(keys[i], keys[i - 1]));
			assert_int_equal(ck_key_spki_sha256(keys[i - 1], hex2, NULL), CK_OK);
			assert_string_not_equal(hex, hex2);
		}
		EVP_PKEY_free(pub);
		free(der);
	}
	ck_sha256_hex((const unsigned char *)"abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ck_sha1_hex((const unsigned char *)"abc", 3, hex);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
}

/* RFC 7638 section 3.1. */
static const char rfc7638_jwk[] =
	"{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86"
	"zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lq"
	"t7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn"
	"1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
	"Cur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";

static void
test_jwk_thumbprint_rfc7638(void **state)
{
	json_t *jwk = json_loads(rfc7638_jwk, 0, NULL), *again = NULL;
	EVP_PKEY *k = NULL;
	char *tp = NULL, *tp2 = NULL;

	(void)state;
	assert_non_null(jwk);
	assert_int_equal(ck_jwk_thumbprint(jwk, &tp, NULL), CK_OK);
	assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	/* through a key and back: same thumbprint, only e/kty/n */
	assert_int_equal(ck_jwk_to_key(jwk, &k, NULL), CK_OK);
	assert_int_equal(EVP_PKEY_get_bits(k), 2048);
	assert_int_equal(ck_key_thumbprint(k, &tp2, NULL), CK_OK);
	assert_string_equal(tp2, tp);
	assert_int_equal(ck_jwk_from_key(k, &again, NULL), CK_OK);
	assert_int_equal(json_object_size(again), 3);
	assert_string_equal(json_string_value(json_object_get(again, "n")),
			    json_string_value(json_object_get(jwk, "n")));
	assert_string_equal(json_string_value(json_object_get(again, "e")), "AQAB");
	free(tp);
	free(tp2);
	json_decref(again);
	json_decref(jwk);
	EVP_PKEY_free(k);
}

static void
test_jwk_roundtrip(void **state)
{
	static const size_t members[] = {4, 4, 3, 3, 3, 3};
	static const char *const kty[] = {"EC", "EC", "RSA", "RSA", "RSA", "OKP"};
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(keys); i++) {
		json_t *jwk = NULL;
		EVP_PKEY *pub = NULL;
		char *a = NULL, *b = NULL;

		assert_int_equal(ck_jwk_from_key(keys[i], &jwk, NULL), CK_OK);
		assert_int_equal(json_object_size(jwk), members[i]);
		assert_string_equal(json_string_value(json_object_get(jwk, "kty")), kty[i]);
		assert_null(json_object_get(jwk, "d"));
		assert_int_equal(ck_jwk_to_key(jwk, &pub, NULL), CK_OK);
		assert_true(ck_key_public_equal(keys[i], pub));
		assert_int_equal(ck_key_thumbprint(keys[i], &a, NULL), CK_OK);
		assert_int_equal(ck_key_thumbprint(pub, &b, NULL), CK_OK);
		assert_string_equal(a, b);
		assert_int_equal(strlen(a), 43);
		free(a);
		free(b);
		EVP_PKEY_free(pub);
		json_decref(jwk);
	}
}

static void
test_jwk_rejects(void **state)
{
	static const char *const bad[] = {
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}",
		"{\"kty\":\"RSA\",\"e\":\"AQAB\"}",
		"{\"kty\":\"RSA\",\"n\":5,\"e\":\"AQAB\"}",
		"{\"kty\":\"oct\",\"k\":\"AAAA\"}",
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"A+A\"}",
		"[1]",
	};
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(bad); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		EVP_PKEY *k = NULL;
		char *tp = NULL;

		assert_non_null(j);
		assert_int_not_equal(ck_jwk_to_key(j, &k, NULL), CK_OK);
		assert_null(k);
		if (i >= 2 && i != 5) /* thumbprints hash members, they do not decode them */
			assert_int_not_equal(ck_jwk_thumbprint(j, &tp, NULL), CK_OK);
		json_decref(j);
	}
	/* an EC point that is not on the curve */
	json_t *off = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x",
				"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "y",
				"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	EVP_PKEY *k = NULL;
	assert_int_not_equal(ck_jwk_to_key(off, &k, NULL), CK_OK);
	assert_null(k);
	json_decref(off);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_edges),
		cmocka_unit_test(test_b64url_rejects),
		cmocka_unit_test(test_key_types),
		cmocka_unit_test(test_key_pem_roundtrip),
		cmocka_unit_test(test_key_encrypted_pkcs8),
		cmocka_unit_test(test_key_traditional),
		cmocka_unit_test(test_key_traditional_wrong_passwords),
		cmocka_unit_test(test_key_from_pem_rejects),
		cmocka_unit_test(test_spki),
		cmocka_unit_test(test_jwk_thumbprint_rfc7638),
		cmocka_unit_test(test_jwk_roundtrip),
		cmocka_unit_test(test_jwk_rejects),
	};

	return cmocka_run_group_tests_name("crypto_keys", tests, setup_keys, teardown_keys);
}
