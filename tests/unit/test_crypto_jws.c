/*
 * test_crypto_jws.c - JWS sign/verify for ES256, ES384, RS256 and EdDSA,
 * the protected header's members and order, tampering, and the HS256 JWS
 * of External Account Binding.
 */
#include <openssl/hmac.h>

#include "test_crypto_util.h"

static const enum ck_key_type jws_types[] = {CK_KEY_EC256, CK_KEY_EC384, CK_KEY_RSA2048,
					     CK_KEY_ED25519};
static const char *const jws_algs[] = {"ES256", "ES384", "RS256", "EdDSA"};
static const size_t jws_siglen[] = {64, 96, 256, 64};
static EVP_PKEY *keys[4];

static int
setup(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(jws_types); i++)
		keys[i] = t_key(jws_types[i]);
	return 0;
}

static int
teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(keys); i++)
		EVP_PKEY_free(keys[i]);
	return 0;
}

/* Decoded member `name` of a JWS JSON text. */
static unsigned char *
member(const char *jws, const char *name, size_t *len)
{
	json_t *o = json_loads(jws, 0, NULL);
	const char *v;
	unsigned char *out = NULL;

	assert_non_null(o);
	v = json_string_value(json_object_get(o, name));
	assert_non_null(v);
	assert_int_equal(ck_b64url_decode(v, strlen(v), &out, len, NULL), CK_OK);
	json_decref(o);
	return out;
}

/* The protected header's member names in order, comma separated. */
static void
header_order(const char *jws, char *out, size_t n)
{
	size_t len = 0;
	unsigned char *text = member(jws, "protected", &len);
	json_t *h = json_loadb((const char *)text, len, 0, NULL);
	void *it;

	assert_non_null(h);
	out[0] = '\0';
	for (it = json_object_iter(h); it != NULL; it = json_object_iter_next(h, it)) {
		if (out[0] != '\0')
			strncat(out, ",", n - strlen(out) - 1);
		strncat(out, json_object_iter_key(it), n - strlen(out) - 1);
	}
	json_decref(h);
	free(text);
}

static void
test_jws_roundtrip_all(void **state)
{
	size_t i, len = 0;
	char order[128];

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(keys); i++) {
		char *jws = NULL, *payload = NULL;
		json_t *hdr = NULL;
		unsigned char *sig;

		assert_string_equal(ck_jws_alg(keys[i]), jws_algs[i]);
		assert_int_equal(ck_jws_sign(keys[i], NULL, "nonce-1", "https://ca.test/new-acct",
					     "{\"termsOfServiceAgreed\":true}", &jws, NULL),
				 CK_OK);
		header_order(jws, order, sizeof(order));
		assert_string_equal(order, "alg,jwk,nonce,url");
		sig = member(jws, "signature", &len);
		assert_int_equal(len, jws_siglen[i]);
		free(sig);
		/* verified by the header's own jwk, and by the key */
		assert_int_equal(ck_jws_verify(jws, NULL, &payload, &hdr, NULL), CK_OK);
		assert_string_equal(payload, "{\"termsOfServiceAgreed\":true}");
		assert_string_equal(json_string_value(json_object_get(hdr, "alg")), jws_algs[i]);
		assert_string_equal(json_string_value(json_object_get(hdr, "nonce")), "nonce-1");
		assert_string_equal(json_string_value(json_object_get(hdr, "url")),
				    "https://ca.test/new-acct");
		free(payload);
		json_decref(hdr);
		assert_int_equal(ck_jws_verify(jws, keys[i], NULL, NULL, NULL), CK_OK);
		/* another key of another algorithm does not verify it */
		assert_int_not_equal(ck_jws_verify(jws, keys[(i + 1) % 4], NULL, NULL, NULL), CK_OK);
		free(jws);
	}
}

static void
test_jws_kid_and_no_nonce(void **state)
{
	char *jws = NULL, *payload = NULL;
	char order[128];

	(void)state;
	assert_int_equal(ck_jws_sign(keys[0], "https://ca.test/acct/1", "n2", "https://ca.test/o",
				     "", &jws, NULL),
			 CK_OK);
	header_order(jws, order, sizeof(order));
	assert_string_equal(order, "alg,kid,nonce,url");
	/* POST-as-GET: empty payload member */
	assert_non_null(strstr(jws, "\"payload\":\"\""));
	assert_int_equal(ck_jws_verify(jws, keys[0], &payload, NULL, NULL), CK_OK);
	assert_string_equal(payload, "");
	free(payload);
	/* with kid and no key given there is nothing to verify with */
	assert_int_equal(ck_jws_verify(jws, NULL, NULL, NULL, NULL), CK_ERR_PARSE);
	free(jws);

	/* the inner JWS of keyChange has no nonce */
	jws = NULL;
	json_t *obj = NULL;
	assert_int_equal(ck_jws_sign_json(keys[1], NULL, NULL, "https://ca.test/key-change",
					  "{\"account\":\"x\"}", &obj, NULL),
			 CK_OK);
	jws = json_dumps(obj, JSON_COMPACT);
	header_order(jws, order, sizeof(order));
	assert_string_equal(order, "alg,jwk,url");
	assert_int_equal(ck_jws_verify(jws, NULL, NULL, NULL, NULL), CK_OK);
	free(jws);
	json_decref(obj);
}

/* Replaces member `name` of the JWS text with value. */
static char *
replace_member(const char *jws, const char *name, const char *value)
{
	json_t *o = json_loads(jws, 0, NULL);
	char *out;

	json_object_set_new(o, name, json_string(value));
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

static void
test_jws_tampered(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(keys); i++) {
		char *jws = NULL, *bad, *b64 = NULL, *payload = NULL;
		struct ck_err err;

		assert_int_equal(ck_jws_sign(keys[i], "kid", "n", "https://ca.test/x",
					     "{\"status\":\"deactivated\"}", &jws, NULL),
				 CK_OK);
		assert_int_equal(ck_b64url_encode((const unsigned char *)"{\"status\":\"valid\"}", 18,
						  &b64, NULL),
				 CK_OK);
		bad = replace_member(jws, "payload", b64);
		ck_err_clear(&err);
		assert_int_equal(ck_jws_verify(bad, keys[i], &payload, NULL, &err), CK_ERR_CRYPTO);
		assert_null(payload);
		assert_non_null(strstr(err.msg, "signature"));
		free(bad);
		/* a signature of the wrong length */
		bad = replace_member(jws, "signature", "AAAA");
		assert_int_equal(ck_jws_verify(bad, keys[i], NULL, NULL, NULL), CK_ERR_CRYPTO);
		free(bad);
		/* garbage */
		bad = replace_member(jws, "protected", "e30");
		assert_int_not_equal(ck_jws_verify(bad, keys[i], NULL, NULL, NULL), CK_OK);
		free(bad);
		free(b64);
		free(jws);
	}
	assert_int_equal(ck_jws_verify("not json", keys[0], NULL, NULL, NULL), CK_ERR_PARSE);
	assert_int_equal(ck_jws_verify("{\"protected\":1}", keys[0], NULL, NULL, NULL), CK_ERR_PARSE);
}

/* One signer kept for many requests (as an ACME client keeps its account
 * key's): every JWS it signs verifies, names the key's algorithm, and an
 * ECDSA signature is fresh each time. */
static void
test_jws_signer_kept(void **state)
{
	size_t i, j, len = 0;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(keys); i++) {
		struct ck_signer *s = NULL;
		unsigned char *prev = NULL;

		assert_int_equal(ck_signer_from_key(keys[i], &s, NULL), CK_OK);
		for (j = 0; j < 5; j++) {
			char *jws = NULL, *payload = NULL, url[64];
			json_t *hdr = NULL;
			unsigned char *sig;

			snprintf(url, sizeof(url), "https://ca.test/order/%zu", j);
			assert_int_equal(ck_jws_sign_with(s, "https://ca.test/acct/1", "n", url,
							  "{}", &jws, NULL), CK_OK);
			assert_int_equal(ck_jws_verify(jws, keys[i], &payload, &hdr, NULL), CK_OK);
			assert_string_equal(json_string_value(json_object_get(hdr, "alg")),
					    jws_algs[i]);
			assert_string_equal(json_string_value(json_object_get(hdr, "url")), url);
			sig = member(jws, "signature", &len);
			assert_int_equal(len, jws_siglen[i]);
			if (prev != NULL && i < 2)
				assert_memory_not_equal(sig, prev, len);
			free(prev);
			prev = sig;
			free(payload);
			json_decref(hdr);
			free(jws);
		}
		free(prev);
		ck_signer_free(s);
	}
}

static void
test_jws_unsupported_key(void **state)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	struct ck_signer *s = NULL;
	char *jws = NULL;

	(void)state;
	assert_non_null(k);
	assert_null(ck_jws_alg(k));
	assert_int_equal(ck_jws_sign(k, NULL, "n", "u", "", &jws, NULL), CK_ERR_UNSUPPORTED);
	assert_null(jws);
	assert_int_equal(ck_signer_from_key(k, &s, NULL), CK_OK);
	assert_int_equal(ck_jws_sign_with(s, NULL, "n", "u", "", &jws, NULL), CK_ERR_UNSUPPORTED);
	assert_null(jws);
	ck_signer_free(s);
	EVP_PKEY_free(k);
}

static void
test_jws_eab(void **state)
{
	static const unsigned char hmac_key[] = "an EAB key of 32 bytes, exactly!";
	json_t *jwk = NULL, *eab = NULL, *hdr;
	unsigned char *text, *sig, md[32];
	unsigned int mdlen = 0;
	const char *prot, *pay;
	char *input, order[128], *dump;
	size_t len = 0, siglen = 0;

	(void)state;
	assert_int_equal(ck_jwk_from_key(keys[0], &jwk, NULL), CK_OK);
	assert_int_equal(ck_jws_eab(hmac_key, 32, "kid-1", "https://ca.test/new-account", jwk, &eab,
				    NULL),
			 CK_OK);
	dump = json_dumps(eab, JSON_COMPACT);
	header_order(dump, order, sizeof(order));
	assert_string_equal(order, "alg,kid,url");
	text = member(dump, "protected", &len);
	hdr = json_loadb((const char *)text, len, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "HS256");
	assert_string_equal(json_string_value(json_object_get(hdr, "kid")), "kid-1");
	json_decref(hdr);
	free(text);
	/* the payload is the account JWK */
	text = member(dump, "payload", &len);
	hdr = json_loadb((const char *)text, len, 0, NULL);
	assert_true(json_equal(hdr, jwk));
	json_decref(hdr);
	free(text);
	/* the signature is HMAC-SHA256 over protected.payload with the key */
	prot = json_string_value(json_object_get(eab, "protected"));
	pay = json_string_value(json_object_get(eab, "payload"));
	input = malloc(strlen(prot) + strlen(pay) + 2);
	assert_non_null(input);
	snprintf(input, strlen(prot) + strlen(pay) + 2, "%s.%s", prot, pay);
	assert_non_null(HMAC(EVP_sha256(), hmac_key, 32, (unsigned char *)input, strlen(input), md,
			     &mdlen));
	sig = member(dump, "signature", &siglen);
	assert_int_equal(siglen, 32);
	assert_memory_equal(sig, md, 32);
	free(sig);
	free(input);
	free(dump);
	json_decref(eab);
	assert_int_equal(ck_jws_eab(hmac_key, 0, "kid-1", "u", jwk, &eab, NULL), CK_ERR_INVALID_ARG);
	json_decref(jwk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jws_roundtrip_all),
		cmocka_unit_test(test_jws_kid_and_no_nonce),
		cmocka_unit_test(test_jws_tampered),
		cmocka_unit_test(test_jws_signer_kept),
		cmocka_unit_test(test_jws_unsupported_key),
		cmocka_unit_test(test_jws_eab),
	};

	return cmocka_run_group_tests_name("crypto_jws", tests, setup, teardown);
}
