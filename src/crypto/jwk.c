/*
 * jwk.c - public keys as JWK (RFC 7517) with only the required members, and
 * the RFC 7638 thumbprint.  JSON is built with jansson only, never by string
 * formatting.  Never handles a private member ("d", "p", ...): a JWK that
 * carries one is read for its public part only.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "crypto/crypto_int.h"

#define JWK_RSA_MAX_BYTES 2048 /* 16384-bit modulus */
#define JWK_E_MAX_BYTES 16

/* Sets obj[name] = base64url(data). */
static enum ck_code
jwk_set_b64(json_t *obj, const char *name, const unsigned char *data, size_t len,
	    struct ck_err *err)
{
	char *s = NULL;
	enum ck_code rc;

	rc = ck_b64url_encode(data, len, &s, err);
	if (rc != CK_OK)
		return rc;
	if (json_object_set_new(obj, name, json_string(s)) != 0)
		rc = CK_OOM(err);
	free(s);
	return rc;
}

static enum ck_code
jwk_set_bn(json_t *obj, const char *name, EVP_PKEY *key, const char *param, struct ck_err *err)
{
	BIGNUM *bn = NULL;
	unsigned char *buf = NULL;
	enum ck_code rc;
	int n;

	if (!EVP_PKEY_get_bn_param(key, param, &bn))
		return CK_FAIL_SSL(err, "reading an RSA parameter failed");
	n = BN_num_bytes(bn);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf == NULL) {
		rc = CK_OOM(err);
	} else {
		BN_bn2bin(bn, buf);
		rc = jwk_set_b64(obj, name, buf, (size_t)n, err);
	}
	free(buf);
	BN_free(bn);
	return rc;
}

static enum ck_code
jwk_ec(EVP_PKEY *key, json_t *jwk, struct ck_err *err)
{
	unsigned char pub[1 + 2 * 66];
	size_t len = 0, half;
	const char *crv;
	enum ck_key_type t = ck_key_type_of(key);
	enum ck_code rc;

	if (t == CK_KEY_EC256)
		crv = "P-256", half = 32;
	else if (t == CK_KEY_EC384)
		crv = "P-384", half = 48;
	else
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "only EC P-256 and P-384 keys have a JWK here");
	if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub,
					     sizeof(pub), &len) ||
	    len != 1 + 2 * half || pub[0] != 0x04)
		return CK_FAIL_SSL(err, "reading the EC public point failed");
	if (json_object_set_new(jwk, "crv", json_string(crv)) != 0 ||
	    json_object_set_new(jwk, "kty", json_string("EC")) != 0)
		return CK_OOM(err);
	rc = jwk_set_b64(jwk, "x", pub + 1, half, err);
	if (rc == CK_OK)
		rc = jwk_set_b64(jwk, "y", pub + 1 + half, half, err);
	return rc;
}

enum ck_code
ck_jwk_from_key(EVP_PKEY *key, json_t **out, struct ck_err *err)
{
	unsigned char raw[32];
	size_t rawlen = sizeof(raw);
	enum ck_code rc;
	json_t *jwk;

	if (key == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no key");
	jwk = json_object();
	if (jwk == NULL)
		return CK_OOM(err);
	/* Members in lexicographic order, as RFC 7638 hashes them. */
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		rc = jwk_ec(key, jwk, err);
		break;
	case EVP_PKEY_RSA:
		rc = jwk_set_bn(jwk, "e", key, OSSL_PKEY_PARAM_RSA_E, err);
		if (rc == CK_OK && json_object_set_new(jwk, "kty", json_string("RSA")) != 0)
			rc = CK_OOM(err);
		if (rc == CK_OK)
			rc = jwk_set_bn(jwk, "n", key, OSSL_PKEY_PARAM_RSA_N, err);
		break;
	case EVP_PKEY_ED25519:
		if (!EVP_PKEY_get_raw_public_key(key, raw, &rawlen) || rawlen != 32) {
			rc = CK_FAIL_SSL(err, "reading the Ed25519 public key failed");
			break;
		}
		rc = CK_OK;
		if (json_object_set_new(jwk, "crv", json_string("Ed25519")) != 0 ||
		    json_object_set_new(jwk, "kty", json_string("OKP")) != 0)
			rc = CK_OOM(err);
		if (rc == CK_OK)
			rc = jwk_set_b64(jwk, "x", raw, rawlen, err);
		break;
	default:
		rc = CK_FAIL(err, CK_ERR_UNSUPPORTED, "a %s key has no JWK here",
			     EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "unknown");
		break;
	}
	if (rc != CK_OK) {
		json_decref(jwk);
		return rc;
	}
	*out = jwk;
	return CK_OK;
}

/* Decodes the base64url string member `name` of jwk; its length must be in [min, max]. */
static enum ck_code
jwk_get_b64(json_t *jwk, const char *name, size_t min, size_t max, unsigned char **out,
	    size_t *outlen, struct ck_err *err)
{
	json_t *v = json_object_get(jwk, name);
	unsigned char *bin = NULL;
	size_t n = 0;
	enum ck_code rc;

	if (!json_is_string(v))
		return CK_FAIL(err, CK_ERR_PARSE, "JWK member \"%s\" is missing or not a string", name);
	rc = ck_b64url_decode(json_string_value(v), json_string_length(v), &bin, &n, err);
	if (rc != CK_OK) {
		ck_err_prefix(err, "JWK member \"%s\"", name);
		return rc;
	}
	if (n < min || n > max) {
		free(bin);
		return CK_FAIL(err, CK_ERR_PARSE, "JWK member \"%s\" has a wrong length (%zu bytes)",
			       name, n);
	}
	*out = bin;
	*outlen = n;
	return CK_OK;
}

/* A public key from parameters (EVP_PKEY_fromdata). */
static enum ck_code
jwk_fromdata(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **out, struct ck_err *err)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *key = NULL;
	enum ck_code rc = CK_OK;

	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		rc = ck_err_openssl(err, CK_ERR_PARSE, __func__, "the JWK is not a valid public key");
	else
		*out = key;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return rc;
}

static enum ck_code
jwk_to_ec(json_t *jwk, EVP_PKEY **out, struct ck_err *err)
{
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	unsigned char *x = NULL, *y = NULL, pub[1 + 2 * 48];
	size_t xl = 0, yl = 0, half;
	OSSL_PARAM_BLD *bld = NULL;
	enum ck_code rc;

	if (crv != NULL && strcmp(crv, "P-256") == 0)
		half = 32;
	else if (crv != NULL && strcmp(crv, "P-384") == 0)
		half = 48;
	else
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "JWK curve is not P-256 or P-384");
	rc = jwk_get_b64(jwk, "x", half, half, &x, &xl, err);
	if (rc == CK_OK)
		rc = jwk_get_b64(jwk, "y", half, half, &y, &yl, err);
	if (rc != CK_OK)
		goto out;
	pub[0] = 0x04;
	memcpy(pub + 1, x, half);
	memcpy(pub + 1 + half, y, half);
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					     half == 32 ? "prime256v1" : "secp384r1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * half)) {
		rc = CK_OOM(err);
		goto out;
	}
	rc = jwk_fromdata("EC", bld, out, err);
out:
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return rc;
}

static enum ck_code
jwk_to_rsa(json_t *jwk, EVP_PKEY **out, struct ck_err *err)
{
	unsigned char *n = NULL, *e = NULL;
	size_t nl = 0, el = 0;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	enum ck_code rc;

	rc = jwk_get_b64(jwk, "n", 1, JWK_RSA_MAX_BYTES, &n, &nl, err);
	if (rc == CK_OK)
		rc = jwk_get_b64(jwk, "e", 1, JWK_E_MAX_BYTES, &e, &el, err);
	if (rc != CK_OK)
		goto out;
	bn = BN_bin2bn(n, (int)nl, NULL);
	be = BN_bin2bn(e, (int)el, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn == NULL || be == NULL || bld == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)) {
		rc = CK_OOM(err);
		goto out;
	}
	rc = jwk_fromdata("RSA", bld, out, err);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return rc;
}

static enum ck_code
jwk_to_okp(json_t *jwk, EVP_PKEY **out, struct ck_err *err)
{
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	unsigned char *x = NULL;
	size_t xl = 0;
	EVP_PKEY *key;
	enum ck_code rc;

	if (crv == NULL || strcmp(crv, "Ed25519") != 0)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "JWK OKP curve is not Ed25519");
	rc = jwk_get_b64(jwk, "x", 32, 32, &x, &xl, err);
	if (rc != CK_OK)
		return rc;
	key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xl);
	free(x);
	if (key == NULL)
		return ck_err_openssl(err, CK_ERR_PARSE, __func__, "the JWK is not an Ed25519 key");
	*out = key;
	return CK_OK;
}

enum ck_code
ck_jwk_to_key(json_t *jwk, EVP_PKEY **out, struct ck_err *err)
{
	const char *kty;

	if (!json_is_object(jwk))
		return CK_FAIL(err, CK_ERR_PARSE, "JWK is not a JSON object");
	kty = json_string_value(json_object_get(jwk, "kty"));
	if (kty == NULL)
		return CK_FAIL(err, CK_ERR_PARSE, "JWK has no \"kty\" string");
	if (strcmp(kty, "EC") == 0)
		return jwk_to_ec(jwk, out, err);
	if (strcmp(kty, "RSA") == 0)
		return jwk_to_rsa(jwk, out, err);
	if (strcmp(kty, "OKP") == 0)
		return jwk_to_okp(jwk, out, err);
	return CK_FAIL(err, CK_ERR_UNSUPPORTED, "JWK key type is not EC, RSA or OKP");
}

/* Copies the required members (all strings) of jwk into canon. */
static enum ck_code
jwk_copy_required(json_t *jwk, json_t *canon, const char *const *names, struct ck_err *err)
{
	json_t *v;

	for (; *names != NULL; names++) {
		v = json_object_get(jwk, *names);
		if (!json_is_string(v))
			return CK_FAIL(err, CK_ERR_PARSE, "JWK member \"%s\" is missing or not a string",
				       *names);
		if (json_object_set(canon, *names, v) != 0)
			return CK_OOM(err);
	}
	return CK_OK;
}

enum ck_code
ck_jwk_thumbprint(json_t *jwk, char **out, struct ck_err *err)
{
	static const char *const ec[] = {"crv", "kty", "x", "y", NULL};
	static const char *const rsa[] = {"e", "kty", "n", NULL};
	static const char *const okp[] = {"crv", "kty", "x", NULL};
	unsigned char md[32];
	const char *kty;
	const char *const *names;
	json_t *canon = NULL;
	char *text = NULL;
	enum ck_code rc;

	if (!json_is_object(jwk))
		return CK_FAIL(err, CK_ERR_PARSE, "JWK is not a JSON object");
	kty = json_string_value(json_object_get(jwk, "kty"));
	if (kty != NULL && strcmp(kty, "EC") == 0)
		names = ec;
	else if (kty != NULL && strcmp(kty, "RSA") == 0)
		names = rsa;
	else if (kty != NULL && strcmp(kty, "OKP") == 0)
		names = okp;
	else
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "JWK key type is not EC, RSA or OKP");
	canon = json_object();
	if (canon == NULL)
		return CK_OOM(err);
	rc = jwk_copy_required(jwk, canon, names, err);
	if (rc != CK_OK)
		goto out;
	/* RFC 7638 section 3: required members only, sorted, no whitespace. */
	text = ck_json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	if (EVP_Digest(text, strlen(text), md, NULL, EVP_sha256(), NULL) != 1) {
		rc = CK_FAIL_SSL(err, "SHA-256 failed");
		goto out;
	}
	rc = ck_b64url_encode(md, sizeof(md), out, err);
out:
	free(text);
	json_decref(canon);
	return rc;
}

enum ck_code
ck_key_thumbprint(EVP_PKEY *key, char **out, struct ck_err *err)
{
	json_t *jwk = NULL;
	enum ck_code rc;

	rc = ck_jwk_from_key(key, &jwk, err);
	if (rc != CK_OK)
		return rc;
	rc = ck_jwk_thumbprint(jwk, out, err);
	json_decref(jwk);
	return rc;
}
