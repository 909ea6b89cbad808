/*
 * spki.c - public-key attributes of a PKCS#11 object -> EVP_PKEY, built
 * by OpenSSL (EVP_PKEY_fromdata / EVP_PKEY_new_raw_public_key), so the
 * SPKI DER the store links by is OpenSSL's own encoding.
 *
 * Must never: hand-write ASN.1 (only d2i of the OBJECT IDENTIFIER /
 * PrintableString of CKA_EC_PARAMS and the OCTET STRING of CKA_EC_POINT),
 * or accept a point OpenSSL does not accept.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

#include "token/token_int.h"

/* Curve of CKA_EC_PARAMS: *nid (a named curve or NID_ED25519 / NID_ED448). */
static enum ck_code
spki_curve(const unsigned char *der, size_t len, int *nid, struct ck_err *err)
{
	const unsigned char *p = der;
	ASN1_OBJECT *obj = NULL;
	ASN1_PRINTABLESTRING *ps = NULL;
	enum ck_code rc = CK_ERR_UNSUPPORTED;

	*nid = NID_undef;
	if (len == 0 || len > 1024)
		return CK_FAIL(err, CK_ERR_PARSE, "CKA_EC_PARAMS is empty or too long");
	if (der[0] == V_ASN1_OBJECT) {
		obj = d2i_ASN1_OBJECT(NULL, &p, (long)len);
		if (obj != NULL && p == der + len)
			*nid = OBJ_obj2nid(obj);
	} else if (der[0] == V_ASN1_PRINTABLESTRING) {
		ps = d2i_ASN1_PRINTABLESTRING(NULL, &p, (long)len);
		if (ps != NULL && p == der + len) {
			if (ASN1_STRING_length(ps) == 12 &&
			    memcmp(ASN1_STRING_get0_data(ps), "edwards25519", 12) == 0)
				*nid = NID_ED25519;
			else if (ASN1_STRING_length(ps) == 10 &&
				 memcmp(ASN1_STRING_get0_data(ps), "edwards448", 10) == 0)
				*nid = NID_ED448;
		}
	}
	if (*nid == NID_undef)
		rc = CK_FAIL(err, CK_ERR_UNSUPPORTED, "CKA_EC_PARAMS names no curve this "
			     "version knows (explicit parameters are not supported)");
	else
		rc = CK_OK;
	ASN1_OBJECT_free(obj);
	ASN1_STRING_free(ps);
	return rc;
}

/* The point inside CKA_EC_POINT's OCTET STRING (or the attribute itself
 * when it is not one) copied into buf (size cap). */
static enum ck_code
spki_point(const unsigned char *der, size_t len, unsigned char *buf, size_t cap, size_t *outlen,
	   struct ck_err *err)
{
	const unsigned char *p = der;
	ASN1_OCTET_STRING *os = NULL;
	const unsigned char *src = der;
	size_t n = len;

	if (len > 2 && der[0] == V_ASN1_OCTET_STRING) {
		os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)len);
		if (os != NULL && p == der + len) {
			src = ASN1_STRING_get0_data(os);
			n = (size_t)ASN1_STRING_length(os);
		}
	}
	if (n == 0 || n > cap) {
		ASN1_OCTET_STRING_free(os);
		return CK_FAIL(err, CK_ERR_PARSE, "CKA_EC_POINT is empty or too long");
	}
	memcpy(buf, src, n);
	*outlen = n;
	ASN1_OCTET_STRING_free(os);
	return CK_OK;
}

static enum ck_code
spki_fromdata(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **out, struct ck_err *err)
{
	OSSL_PARAM *prm = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *key = NULL;
	enum ck_code rc = CK_ERR_PARSE;

	if (prm == NULL || ctx == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, prm) <= 0 || key == NULL) {
		rc = ck_err_openssl(err, CK_ERR_PARSE, __func__,
				    "the token's public-key attributes do not form a valid key");
		goto out;
	}
	*out = key;
	key = NULL;
	rc = CK_OK;
out:
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(prm);
	return rc;
}

enum ck_code
tok_pkey_ec(const unsigned char *ec_params, size_t plen, const unsigned char *point,
	    size_t ptlen, int edwards, EVP_PKEY **out, struct ck_err *err)
{
	unsigned char pt[160];
	size_t n = 0;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *key;
	const char *group;
	enum ck_code rc;
	int nid;

	if ((rc = spki_curve(ec_params, plen, &nid, err)) != CK_OK ||
	    (rc = spki_point(point, ptlen, pt, sizeof(pt), &n, err)) != CK_OK)
		return rc;
	if (nid == NID_ED25519 || nid == NID_ED448) {
		key = EVP_PKEY_new_raw_public_key(nid == NID_ED25519 ? EVP_PKEY_ED25519 :
						  EVP_PKEY_ED448, NULL, pt, n);
		if (key == NULL)
			return ck_err_openssl(err, CK_ERR_PARSE, __func__,
					      "CKA_EC_POINT is not a valid EdDSA public key");
		*out = key;
		return CK_OK;
	}
	if (edwards)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "an EdDSA key names a curve that is "
			       "not an Edwards curve");
	if ((group = OBJ_nid2sn(nid)) == NULL)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "CKA_EC_PARAMS names an unknown curve");
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, n)) {
		OSSL_PARAM_BLD_free(bld);
		return CK_OOM(err);
	}
	rc = spki_fromdata("EC", bld, out, err);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

enum ck_code
tok_pkey_rsa(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen,
	     EVP_PKEY **out, struct ck_err *err)
{
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	enum ck_code rc;

	if (nlen == 0 || elen == 0 || elen > 64)
		return CK_FAIL(err, CK_ERR_PARSE, "an RSA public key with an empty modulus or a "
			       "bad exponent");
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	if (bn == NULL || be == NULL || (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)) {
		rc = CK_OOM(err);
		goto out;
	}
	rc = spki_fromdata("RSA", bld, out, err);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return rc;
}
