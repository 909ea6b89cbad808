/*
 * jws.c - JWS in the flattened JSON serialization (RFC 7515, RFC 8555
 * section 6.2): ES256/ES384 (raw r||s), RS256, EdDSA, and the HS256 JWS of
 * External Account Binding.  Headers are built with jansson, never by
 * string formatting.  Never lets a header choose the algorithm for a key:
 * verification uses the algorithm the key implies and requires the header
 * to name that one.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>

#include "crypto/crypto_int.h"

#define JWS_MAX (1024 * 1024)  /* one JWS to verify */
#define JWS_SIG_MAX 1024       /* RSA 8192 */

const char *
ck_jws_alg(EVP_PKEY *key)
{
	switch (ck_key_type_of(key)) {
	case CK_KEY_EC256: return "ES256";
	case CK_KEY_EC384: return "ES384";
	case CK_KEY_RSA2048:
	case CK_KEY_RSA3072:
	case CK_KEY_RSA4096: return "RS256";
	case CK_KEY_ED25519: return "EdDSA";
	default: return NULL;
	}
}

/* Digest for a JWS algorithm (NULL for EdDSA, which hashes internally); half is r/s width. */
static const EVP_MD *
jws_md(const char *alg, size_t *half)
{
	*half = 0;
	if (strcmp(alg, "ES256") == 0) {
		*half = 32;
		return EVP_sha256();
	}
	if (strcmp(alg, "ES384") == 0) {
		*half = 48;
		return EVP_sha384();
	}
	if (strcmp(alg, "RS256") == 0)
		return EVP_sha256();
	return NULL;
}

static enum ck_code
jws_hmac(const unsigned char *key, size_t key_len, const char *input, unsigned char **sig,
	 size_t *siglen, struct ck_err *err)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2];
	unsigned char *buf = malloc(32);
	size_t len = 0;
	enum ck_code rc = CK_OK;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (buf == NULL || ctx == NULL || EVP_MAC_init(ctx, key, key_len, params) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)input, strlen(input)) != 1 ||
	    EVP_MAC_final(ctx, buf, &len, 32) != 1 || len != 32) {
		rc = CK_FAIL_SSL(err, "HMAC-SHA256 failed");
		free(buf);
	} else {
		*sig = buf;
		*siglen = len;
	}
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

/* {protected, payload, signature} over hdr, signed by key or else by HMAC-SHA256. */
static enum ck_code
jws_build(json_t *hdr, const unsigned char *payload, size_t plen, struct ck_signer *key,
	  const unsigned char *hmac_key, size_t hmac_len, json_t **out, struct ck_err *err)
{
	char *hdr_text = NULL, *hdr_b64 = NULL, *pay_b64 = NULL, *input = NULL, *sig_b64 = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0, half;
	json_t *jws = NULL;
	enum ck_code rc;

	hdr_text = ck_json_dumps(hdr, JSON_COMPACT);
	if (hdr_text == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	rc = ck_b64url_encode((const unsigned char *)hdr_text, strlen(hdr_text), &hdr_b64, err);
	if (rc == CK_OK)
		rc = ck_b64url_encode(payload, plen, &pay_b64, err);
	if (rc != CK_OK)
		goto out;
	input = malloc(strlen(hdr_b64) + strlen(pay_b64) + 2);
	if (input == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	strcpy(input, hdr_b64);
	strcat(input, ".");
	strcat(input, pay_b64);
	if (key != NULL)
		rc = ck_signer_sign(key, jws_md(json_string_value(json_object_get(hdr, "alg")),
						&half),
				    (const unsigned char *)input, strlen(input), &sig, &siglen, err);
	else
		rc = jws_hmac(hmac_key, hmac_len, input, &sig, &siglen, err);
	if (rc == CK_OK)
		rc = ck_b64url_encode(sig, siglen, &sig_b64, err);
	if (rc != CK_OK)
		goto out;
	jws = json_object();
	if (jws == NULL || json_object_set_new(jws, "protected", json_string(hdr_b64)) != 0 ||
	    json_object_set_new(jws, "payload", json_string(pay_b64)) != 0 ||
	    json_object_set_new(jws, "signature", json_string(sig_b64)) != 0) {
		rc = CK_OOM(err);
		goto out;
	}
	*out = jws;
	jws = NULL;
out:
	json_decref(jws);
	free(hdr_text);
	free(hdr_b64);
	free(pay_b64);
	free(input);
	free(sig_b64);
	free(sig);
	return rc;
}

static int
hdr_set_str(json_t *hdr, const char *name, const char *v)
{
	return json_object_set_new(hdr, name, json_string(v));
}

enum ck_code
ck_jws_sign_json_with(struct ck_signer *s, const char *kid, const char *nonce, const char *url,
		      const char *payload, json_t **out, struct ck_err *err)
{
	EVP_PKEY *key = ck_signer_pubkey(s);
	const char *alg = crypto_signer_jws_alg(s);
	json_t *hdr = NULL, *jwk = NULL;
	enum ck_code rc;

	if (alg == NULL)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED,
			       "this key cannot sign a JWS; use EC P-256/P-384, RSA or Ed25519");
	if (url == NULL || payload == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a JWS needs a url and a payload");
	hdr = json_object();
	if (hdr == NULL || hdr_set_str(hdr, "alg", alg) != 0) {
		rc = CK_OOM(err);
		goto out;
	}
	/* Member order as RFC 8555 examples: alg, kid|jwk, nonce, url. */
	if (kid != NULL) {
		if (hdr_set_str(hdr, "kid", kid) != 0) {
			rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "kid is not valid UTF-8");
			goto out;
		}
	} else {
		rc = ck_jwk_from_key(key, &jwk, err);
		if (rc != CK_OK)
			goto out;
		if (json_object_set_new(hdr, "jwk", jwk) != 0) {
			rc = CK_OOM(err);
			goto out;
		}
	}
	if ((nonce != NULL && hdr_set_str(hdr, "nonce", nonce) != 0) ||
	    hdr_set_str(hdr, "url", url) != 0) {
		rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "nonce or url is not valid UTF-8");
		goto out;
	}
	rc = jws_build(hdr, (const unsigned char *)payload, strlen(payload), s, NULL, 0, out, err);
out:
	json_decref(hdr);
	return rc;
}

enum ck_code
ck_jws_sign_json(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
		 const char *payload, json_t **out, struct ck_err *err)
{
	struct ck_signer *s = NULL;
	enum ck_code rc;

	if ((rc = ck_signer_from_key(key, &s, err)) != CK_OK)
		return rc;
	rc = ck_jws_sign_json_with(s, kid, nonce, url, payload, out, err);
	ck_signer_free(s);
	return rc;
}

enum ck_code
ck_jws_sign_with(struct ck_signer *s, const char *kid, const char *nonce, const char *url,
		 const char *payload, char **out, struct ck_err *err)
{
	json_t *jws = NULL;
	enum ck_code rc;
	char *text;

	rc = ck_jws_sign_json_with(s, kid, nonce, url, payload, &jws, err);
	if (rc != CK_OK)
		return rc;
	text = ck_json_dumps(jws, JSON_COMPACT);
	json_decref(jws);
	if (text == NULL)
		return CK_OOM(err);
	*out = text;
	return CK_OK;
}

enum ck_code
ck_jws_sign(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
	    const char *payload, char **out, struct ck_err *err)
{
	struct ck_signer *s = NULL;
	enum ck_code rc;

	if ((rc = ck_signer_from_key(key, &s, err)) != CK_OK)
		return rc;
	rc = ck_jws_sign_with(s, kid, nonce, url, payload, out, err);
	ck_signer_free(s);
	return rc;
}

enum ck_code
ck_jws_eab(const unsigned char *hmac_key, size_t key_len, const char *eab_kid, const char *url,
	   json_t *account_jwk, json_t **out, struct ck_err *err)
{
	json_t *hdr = NULL;
	char *payload = NULL;
	enum ck_code rc;

	if (hmac_key == NULL || key_len == 0 || eab_kid == NULL || url == NULL ||
	    !json_is_object(account_jwk))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "EAB needs an HMAC key, a key id, a url and the account JWK");
	hdr = json_object();
	if (hdr == NULL || hdr_set_str(hdr, "alg", "HS256") != 0 ||
	    hdr_set_str(hdr, "kid", eab_kid) != 0 || hdr_set_str(hdr, "url", url) != 0) {
		rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "EAB key id or url is not valid UTF-8");
		goto out;
	}
	payload = ck_json_dumps(account_jwk, JSON_COMPACT);
	if (payload == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	rc = jws_build(hdr, (const unsigned char *)payload, strlen(payload), NULL, hmac_key, key_len,
		       out, err);
out:
	free(payload);
	json_decref(hdr);
	return rc;
}

/* The string member `name` of a JWS object, base64url-checked. */
static enum ck_code
jws_member(json_t *jws, const char *name, const char **out, struct ck_err *err)
{
	const char *s = json_string_value(json_object_get(jws, name));

	if (s == NULL)
		return CK_FAIL(err, CK_ERR_PARSE, "JWS has no \"%s\" string", name);
	if (s[0] != '\0' && !ck_str_is_b64url(s, JWS_MAX))
		return CK_FAIL(err, CK_ERR_PARSE, "JWS \"%s\" is not base64url", name);
	*out = s;
	return CK_OK;
}

/* Checks sig (JOSE form) over input with key for alg. */
static enum ck_code
jws_raw_verify(EVP_PKEY *key, const char *alg, const char *input, const unsigned char *sig,
	       size_t siglen, struct ck_err *err)
{
	EVP_MD_CTX *md = NULL;
	unsigned char *der = NULL;
	size_t derlen = 0, half;
	const EVP_MD *digest = jws_md(alg, &half);
	enum ck_code rc;

	if (half > 0) {
		if (siglen != 2 * half)
			return CK_FAIL(err, CK_ERR_CRYPTO, "%s signature is %zu bytes, not %zu", alg,
				       siglen, 2 * half);
		rc = crypto_ecdsa_raw_to_der(sig, half, &der, &derlen, err);
		if (rc != CK_OK)
			return rc;
		sig = der;
		siglen = derlen;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestVerifyInit(md, NULL, digest, NULL, key) != 1 ||
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)input, strlen(input)) != 1) {
		ERR_clear_error();
		rc = CK_FAIL(err, CK_ERR_CRYPTO, "the JWS signature does not verify");
	} else {
		rc = CK_OK;
	}
	EVP_MD_CTX_free(md);
	free(der);
	return rc;
}

/* Decodes and parses the protected header; finds the verifying key. */
static enum ck_code
jws_header(const char *prot, EVP_PKEY *key, json_t **hdr, EVP_PKEY **vkey, struct ck_err *err)
{
	unsigned char *text = NULL;
	size_t len = 0;
	const char *alg, *want;
	EVP_PKEY *k = NULL;
	json_t *h;
	enum ck_code rc;

	rc = ck_b64url_decode(prot, strlen(prot), &text, &len, err);
	if (rc != CK_OK)
		return rc;
	h = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	if (!json_is_object(h)) {
		json_decref(h);
		return CK_FAIL(err, CK_ERR_PARSE, "JWS protected header is not a JSON object");
	}
	if (key != NULL) {
		k = key;
		EVP_PKEY_up_ref(k);
	} else if (json_object_get(h, "jwk") == NULL) {
		rc = CK_FAIL(err, CK_ERR_PARSE, "JWS header has no \"jwk\" and no key was given");
		goto out;
	} else if ((rc = ck_jwk_to_key(json_object_get(h, "jwk"), &k, err)) != CK_OK) {
		goto out;
	}
	alg = json_string_value(json_object_get(h, "alg"));
	want = ck_jws_alg(k);
	if (alg == NULL || want == NULL || strcmp(alg, want) != 0) {
		rc = CK_FAIL(err, CK_ERR_CRYPTO, "JWS \"alg\" does not match the key (want %s)",
			     want ? want : "none");
		goto out;
	}
	*hdr = h;
	*vkey = k;
	h = NULL;
	k = NULL;
out:
	EVP_PKEY_free(k);
	json_decref(h);
	return rc;
}

enum ck_code
ck_jws_verify(const char *jws, EVP_PKEY *key, char **payload, json_t **protected_hdr,
	      struct ck_err *err)
{
	const char *prot = NULL, *pay = NULL, *sig_b64 = NULL;
	unsigned char *sig = NULL, *pbin = NULL;
	size_t siglen = 0, plen = 0;
	json_t *obj = NULL, *hdr = NULL;
	EVP_PKEY *vkey = NULL;
	char *input = NULL;
	enum ck_code rc;

	if (jws == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no JWS");
	if (strlen(jws) > JWS_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "JWS is over %d bytes", JWS_MAX);
	obj = json_loads(jws, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(obj)) {
		rc = CK_FAIL(err, CK_ERR_PARSE, "JWS is not a JSON object");
		goto out;
	}
	if ((rc = jws_member(obj, "protected", &prot, err)) != CK_OK ||
	    (rc = jws_member(obj, "payload", &pay, err)) != CK_OK ||
	    (rc = jws_member(obj, "signature", &sig_b64, err)) != CK_OK ||
	    (rc = jws_header(prot, key, &hdr, &vkey, err)) != CK_OK ||
	    (rc = ck_b64url_decode(sig_b64, strlen(sig_b64), &sig, &siglen, err)) != CK_OK ||
	    (rc = ck_b64url_decode(pay, strlen(pay), &pbin, &plen, err)) != CK_OK)
		goto out;
	if (siglen > JWS_SIG_MAX) {
		rc = CK_FAIL(err, CK_ERR_CRYPTO, "JWS signature is too long");
		goto out;
	}
	input = malloc(strlen(prot) + strlen(pay) + 2);
	if (input == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	strcpy(input, prot);
	strcat(input, ".");
	strcat(input, pay);
	rc = jws_raw_verify(vkey, ck_jws_alg(vkey), input, sig, siglen, err);
	if (rc != CK_OK)
		goto out;
	if (payload != NULL) {
		*payload = (char *)pbin;
		pbin = NULL;
	}
	if (protected_hdr != NULL) {
		*protected_hdr = hdr;
		hdr = NULL;
	}
out:
	free(input);
	free(sig);
	free(pbin);
	EVP_PKEY_free(vkey);
	json_decref(hdr);
	json_decref(obj);
	return rc;
}
