/*
 * pkcs8_lite.c - the PKCS#8 PrivateKeyInfo (RFC 5208, 5915, 8410) of the
 * keys certkeep makes most (EC P-256/P-384, Ed25519) written from the
 * key's provider parameters through OpenSSL's ASN.1 types, not through
 * OpenSSL 3.0's encoder: EVP_PKEY2PKCS8 builds an encoder chain for every
 * key (about 0.7 million instructions, 6 % of a renewal's CPU), while the
 * bytes are fixed by the standards.  The result is byte for byte what
 * EVP_PKEY2PKCS8 writes (test_crypto_fast test_pkcs8_fast_path_identical).
 *
 * ECPrivateKey (RFC 5915) is declared here as an ASN.1 template, as OpenSSL
 * declares its own (EC_PRIVATEKEY, not exported): version 1, the private
 * scalar padded to the group order's size, no parameters (PKCS#8 carries
 * the curve in the AlgorithmIdentifier, as OpenSSL's encoder does), the
 * public point as the key encodes it.
 *
 * Must never: encode DER by hand; leave a copy of the private scalar
 * behind (every buffer and ASN.1 string that held it is cleansed); take
 * a key it does not know (RSA, other curves, explicit parameters: the
 * caller uses the encoder).
 */
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "crypto/crypto_int.h"

typedef struct {
	int32_t version;
	ASN1_OCTET_STRING *priv;
	ASN1_OBJECT *params;          /* never set: PKCS#8 names the curve outside */
	ASN1_BIT_STRING *pub;
} CK_EC_PRIVKEY;

ASN1_SEQUENCE(CK_EC_PRIVKEY) = {
	ASN1_EMBED(CK_EC_PRIVKEY, version, INT32),
	ASN1_SIMPLE(CK_EC_PRIVKEY, priv, ASN1_OCTET_STRING),
	ASN1_EXP_OPT(CK_EC_PRIVKEY, params, ASN1_OBJECT, 0),
	ASN1_EXP_OPT(CK_EC_PRIVKEY, pub, ASN1_BIT_STRING, 1),
} static_ASN1_SEQUENCE_END(CK_EC_PRIVKEY)

DECLARE_ASN1_FUNCTIONS(CK_EC_PRIVKEY)
IMPLEMENT_ASN1_FUNCTIONS(CK_EC_PRIVKEY)

#define P8_SCALAR_MAX 48   /* P-384 */

static void
ec_privkey_free(CK_EC_PRIVKEY *ec)
{
	if (ec == NULL)
		return;
	if (ec->priv != NULL && ec->priv->data != NULL)
		OPENSSL_cleanse(ec->priv->data, (size_t)ec->priv->length);
	CK_EC_PRIVKEY_free(ec);
}

/* ECPrivateKey's DER (OPENSSL_malloc'd, *der to be cleansed) and the curve. */
static int
p8_ec_body(EVP_PKEY *key, int *curve, unsigned char **der, int *len)
{
	unsigned char pt[CRYPTO_PUBKEY_POINT_MAX], d[P8_SCALAR_MAX];
	size_t ptlen = sizeof(pt), dlen;
	CK_EC_PRIVKEY *ec = NULL;
	BIGNUM *bn = NULL;
	int ok = 0;

	*der = NULL;
	if ((*curve = crypto_ec_named_point(key, pt, &ptlen)) == NID_undef)
		return 0;
	dlen = *curve == NID_secp384r1 ? 48 : 32;
	if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &bn) ||
	    BN_bn2binpad(bn, d, (int)dlen) != (int)dlen || (ec = CK_EC_PRIVKEY_new()) == NULL ||
	    (ec->pub = ASN1_BIT_STRING_new()) == NULL)
		goto out;
	ec->version = 1;
	if (!ASN1_OCTET_STRING_set(ec->priv, d, (int)dlen) ||
	    !ASN1_BIT_STRING_set(ec->pub, pt, (int)ptlen))
		goto out;
	/* No unused bits: without the flag OpenSSL trims trailing zero bytes. */
	ec->pub->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	ec->pub->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	ok = (*len = i2d_CK_EC_PRIVKEY(ec, der)) > 0;
out:
	OPENSSL_cleanse(d, sizeof(d));
	BN_clear_free(bn);
	ec_privkey_free(ec);
	return ok;
}

/* Ed25519's CurvePrivateKey (RFC 8410 7): the 32-byte seed as an OCTET STRING. */
static int
p8_ed25519_body(EVP_PKEY *key, unsigned char **der, int *len)
{
	unsigned char seed[32];
	size_t n = sizeof(seed);
	ASN1_OCTET_STRING *oct = NULL;
	int ok = 0;

	*der = NULL;
	if (EVP_PKEY_get_raw_private_key(key, seed, &n) == 1 && n == sizeof(seed) &&
	    (oct = ASN1_OCTET_STRING_new()) != NULL && ASN1_OCTET_STRING_set(oct, seed, (int)n))
		ok = (*len = i2d_ASN1_OCTET_STRING(oct, der)) > 0;
	OPENSSL_cleanse(seed, sizeof(seed));
	if (oct != NULL && oct->data != NULL)
		OPENSSL_cleanse(oct->data, (size_t)oct->length);
	ASN1_OCTET_STRING_free(oct);
	return ok;
}

PKCS8_PRIV_KEY_INFO *
crypto_pkcs8_lite(EVP_PKEY *key)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	unsigned char *body = NULL;
	int len = 0, curve = NID_undef, ok = 0;

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		ok = p8_ec_body(key, &curve, &body, &len);
		break;
	case EVP_PKEY_ED25519:
		ok = p8_ed25519_body(key, &body, &len);
		break;
	default:
		break;
	}
	if (ok && (p8 = PKCS8_PRIV_KEY_INFO_new()) != NULL) {
		/* set0 takes body; PKCS8_PRIV_KEY_INFO_free cleanses it */
		ok = curve == NID_undef
			? PKCS8_pkey_set0(p8, OBJ_nid2obj(NID_ED25519), 0, V_ASN1_UNDEF, NULL, body,
					  len)
			: PKCS8_pkey_set0(p8, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), 0,
					  V_ASN1_OBJECT, OBJ_nid2obj(curve), body, len);
		if (ok)
			body = NULL;
	}
	if (body != NULL)
		OPENSSL_clear_free(body, (size_t)len);
	if (!ok) {
		PKCS8_PRIV_KEY_INFO_free(p8);
		p8 = NULL;
		ERR_clear_error();
	}
	return p8;
}
