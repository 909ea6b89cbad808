/*
 * key.c - private keys: types, generation, PKCS#8 in and out, SPKI and its
 * SHA-256 (the link identity between keys and certificates).  Owns the
 * rule that serialized private keys live only in buffers the caller wipes.
 * Never prompts for a password and never writes a key anywhere but memory.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "crypto/crypto_int.h"

static const struct {
	const char *name;
	enum ck_key_type type;
} key_names[] = {
	{"ec256", CK_KEY_EC256},     {"p256", CK_KEY_EC256},     {"ec384", CK_KEY_EC384},
	{"p384", CK_KEY_EC384},      {"rsa2048", CK_KEY_RSA2048}, {"rsa", CK_KEY_RSA2048},
	{"rsa3072", CK_KEY_RSA3072}, {"rsa4096", CK_KEY_RSA4096}, {"ed25519", CK_KEY_ED25519},
};

enum ck_code
ck_key_type_parse(const char *s, enum ck_key_type *out, struct ck_err *err)
{
	size_t i;

	if (s != NULL) {
		for (i = 0; i < CK_ARRAY_LEN(key_names); i++) {
			if (strcmp(s, key_names[i].name) == 0) {
				*out = key_names[i].type;
				return CK_OK;
			}
		}
	}
	return CK_FAIL(err, CK_ERR_INVALID_ARG,
		       "unknown key type; use ec256, ec384, rsa2048, rsa3072, rsa4096 or ed25519");
}

const char *
ck_key_type_name(enum ck_key_type t)
{
	switch (t) {
	case CK_KEY_EC256: return "ec256";
	case CK_KEY_EC384: return "ec384";
	case CK_KEY_RSA2048: return "rsa2048";
	case CK_KEY_RSA3072: return "rsa3072";
	case CK_KEY_RSA4096: return "rsa4096";
	case CK_KEY_ED25519: return "ed25519";
	default: return "unknown";
	}
}

/* NID of an EC key's named curve, NID_undef if none. */
static int
key_curve_nid(EVP_PKEY *key)
{
	char group[64];
	size_t glen = 0;

	if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					    &glen))
		return NID_undef;
	return OBJ_txt2nid(group);
}

enum ck_key_type
ck_key_type_of(EVP_PKEY *key)
{
	if (key == NULL)
		return CK_KEY_NONE;
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		switch (key_curve_nid(key)) {
		case NID_X9_62_prime256v1: return CK_KEY_EC256;
		case NID_secp384r1: return CK_KEY_EC384;
		default: return CK_KEY_NONE;
		}
	case EVP_PKEY_RSA:
		switch (EVP_PKEY_get_bits(key)) {
		case 2048: return CK_KEY_RSA2048;
		case 3072: return CK_KEY_RSA3072;
		case 4096: return CK_KEY_RSA4096;
		default: return CK_KEY_NONE;
		}
	case EVP_PKEY_ED25519:
		return CK_KEY_ED25519;
	default:
		return CK_KEY_NONE;
	}
}

void
ck_key_describe(EVP_PKEY *key, char *out, size_t n)
{
	const char *curve;
	int nid;

	if (n == 0)
		return;
	if (key == NULL) {
		snprintf(out, n, "none");
		return;
	}
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		nid = key_curve_nid(key);
		curve = nid == NID_undef ? NULL : EC_curve_nid2nist(nid);
		if (curve == NULL)
			curve = nid == NID_undef ? "unnamed curve" : OBJ_nid2sn(nid);
		snprintf(out, n, "EC %s", curve);
		break;
	case EVP_PKEY_RSA:
		snprintf(out, n, "RSA %d", EVP_PKEY_get_bits(key));
		break;
	case EVP_PKEY_RSA_PSS:
		snprintf(out, n, "RSA-PSS %d", EVP_PKEY_get_bits(key));
		break;
	case EVP_PKEY_ED25519:
		snprintf(out, n, "Ed25519");
		break;
	case EVP_PKEY_ED448:
		snprintf(out, n, "Ed448");
		break;
	default:
		snprintf(out, n, "%s %d", EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key)
									: "unknown",
			 EVP_PKEY_get_bits(key));
		break;
	}
}

enum ck_code
ck_key_generate(enum ck_key_type t, EVP_PKEY **out, struct ck_err *err)
{
	EVP_PKEY *key = NULL;

	switch (t) {
	case CK_KEY_EC256: key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"); break;
	case CK_KEY_EC384: key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"); break;
	case CK_KEY_RSA2048: key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048); break;
	case CK_KEY_RSA3072: key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072); break;
	case CK_KEY_RSA4096: key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096); break;
	case CK_KEY_ED25519: key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); break;
	default:
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "cannot generate a key of type %d", (int)t);
	}
	if (key == NULL)
		return CK_FAIL_SSL(err, "key generation failed");
	*out = key;
	return CK_OK;
}

enum ck_code
crypto_i2d(const void *obj, crypto_i2d_fn i2d, int secret, unsigned char **der, size_t *len,
	   struct ck_err *err)
{
	unsigned char *buf, *p;
	int n, m;

	n = i2d(obj, NULL);
	if (n <= 0)
		return CK_FAIL_SSL(err, "DER encoding failed");
	buf = malloc((size_t)n);
	if (buf == NULL)
		return CK_OOM(err);
	p = buf;
	m = i2d(obj, &p);
	if (m != n) {
		if (secret)
			ck_secure_free(buf, (size_t)n);
		else
			free(buf);
		return CK_FAIL_SSL(err, "DER encoding failed");
	}
	*der = buf;
	*len = (size_t)n;
	return CK_OK;
}

static int
i2d_p8inf(const void *obj, unsigned char **pp)
{
	return i2d_PKCS8_PRIV_KEY_INFO((PKCS8_PRIV_KEY_INFO *)obj, pp);
}

static int
i2d_pubkey(const void *obj, unsigned char **pp)
{
	return i2d_PUBKEY((EVP_PKEY *)obj, pp);
}

enum ck_code
ck_key_to_pkcs8_der(EVP_PKEY *key, unsigned char **der, size_t *len, struct ck_err *err)
{
	PKCS8_PRIV_KEY_INFO *p8;
	enum ck_code rc;

	if (key == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no key");
	/* The encoder chain OpenSSL 3.0 builds per key is most of a renewal's
	 * key-storing cost: the usual keys are written directly (pkcs8_lite.c). */
	if ((p8 = crypto_pkcs8_lite(key)) == NULL)
		p8 = EVP_PKEY2PKCS8(key);
	if (p8 == NULL)
		return CK_FAIL_SSL(err, "the key has no private part that can be written as PKCS#8");
	rc = crypto_i2d(p8, i2d_p8inf, 1, der, len, err);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return rc;
}

enum ck_code
ck_key_to_pem(EVP_PKEY *key, char **pem, size_t *len, struct ck_err *err)
{
	enum ck_code rc = CK_ERR_CRYPTO;
	BIO *bio = NULL;
	char *data = NULL, *copy;
	long n;

	if (key == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no key");
	/* secmem: the BIO's buffer is cleansed when freed. */
	bio = BIO_new(BIO_s_secmem());
	if (bio == NULL || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
		rc = CK_FAIL_SSL(err, "writing the key as PEM failed");
		goto out;
	}
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0 || (copy = malloc((size_t)n + 1)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*pem = copy;
	*len = (size_t)n;
	rc = CK_OK;
out:
	BIO_free(bio);
	return rc;
}

enum ck_code
ck_key_from_pkcs8_der(const unsigned char *der, size_t len, EVP_PKEY **out, struct ck_err *err)
{
	PKCS8_PRIV_KEY_INFO *p8;
	const unsigned char *p = der;
	EVP_PKEY *key;

	if (der == NULL || len == 0)
		return CK_FAIL(err, CK_ERR_PARSE, "empty PKCS#8 key");
	if (len > CK_PEM_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "PKCS#8 key of %zu bytes is over the limit", len);
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	if (p8 == NULL || p != der + len) {
		PKCS8_PRIV_KEY_INFO_free(p8);
		ERR_clear_error();
		return CK_FAIL(err, CK_ERR_PARSE, "not a PKCS#8 private key (DER)");
	}
	key = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (key == NULL)
		return ck_err_openssl(err, CK_ERR_PARSE, __func__,
				      "the PKCS#8 structure holds no usable private key");
	*out = key;
	return CK_OK;
}

enum ck_code
ck_key_from_pem(const char *pem, size_t len, const char *password, EVP_PKEY **out,
		struct ck_err *err)
{
	struct ck_bundle b = {0};
	enum ck_code rc;

	if (pem == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no PEM text");
	rc = crypto_pem_parse((const unsigned char *)pem, len, password, 0, &b, err);
	if (rc != CK_OK)
		goto out;
	if (b.nkeys != 1) {
		rc = CK_FAIL(err, CK_ERR_PARSE,
			     b.nkeys == 0 ? "the PEM text holds no private key"
					  : "the PEM text holds more than one private key");
		goto out;
	}
	*out = b.keys[0];
	b.keys[0] = NULL;
	b.nkeys = 0;
out:
	ck_bundle_cleanup(&b);
	return rc;
}

/* The named curve (P-256 or P-384 only) and encoded point of an EC key, in
 * one provider query; NID_undef for any other curve, and for a key whose
 * parameters are written out explicitly (its SPKI carries them, not an OID). */
int
crypto_ec_named_point(EVP_PKEY *key, unsigned char *pt, size_t *ptlen)
{
	char group[64] = "", encoding[32] = "";
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group)),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, encoding, sizeof(encoding)),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, *ptlen),
		OSSL_PARAM_END,
	};
	int nid;

	if (!EVP_PKEY_get_params(key, params) || !OSSL_PARAM_modified(&params[0]) ||
	    !OSSL_PARAM_modified(&params[1]) || !OSSL_PARAM_modified(&params[2]) ||
	    strcmp(encoding, OSSL_PKEY_EC_ENCODING_GROUP) != 0 || params[2].return_size == 0 ||
	    params[2].return_size > *ptlen)
		return NID_undef;
	nid = OBJ_txt2nid(group);
	if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1)
		return NID_undef;
	*ptlen = params[2].return_size;
	return nid;
}

/* The parts of an EC (P-256, P-384) or Ed25519 public key's SPKI; 0 for
 * any other key, which then takes OpenSSL's encoder path. */
static int
key_spki_parts(EVP_PKEY *key, int *alg, int *curve, unsigned char *pt, size_t *ptlen)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		*alg = NID_X9_62_id_ecPublicKey;
		*curve = crypto_ec_named_point(key, pt, ptlen);
		return *curve != NID_undef;
	case EVP_PKEY_ED25519:
		*alg = NID_ED25519;
		*curve = NID_undef;
		return EVP_PKEY_get_raw_public_key(key, pt, ptlen) == 1 && *ptlen == 32;
	default:
		return 0;
	}
}

int
crypto_pubkey_fill(EVP_PKEY *key, X509_PUBKEY *pub)
{
	unsigned char pt[CRYPTO_PUBKEY_POINT_MAX], *penc;
	size_t ptlen = sizeof(pt);
	int alg, curve, ok;

	if (key == NULL || pub == NULL || !key_spki_parts(key, &alg, &curve, pt, &ptlen)) {
		ERR_clear_error();
		return 0;
	}
	if ((penc = OPENSSL_memdup(pt, ptlen)) == NULL)
		return 0;
	/* The same AlgorithmIdentifier OpenSSL's encoder writes: the named
	 * curve's OID for EC (RFC 5480), no parameters at all for Ed25519
	 * (RFC 8410); the BIT STRING holds the point as the key encodes it. */
	ok = curve == NID_undef
		? X509_PUBKEY_set0_param(pub, OBJ_nid2obj(alg), V_ASN1_UNDEF, NULL, penc,
					 (int)ptlen)
		: X509_PUBKEY_set0_param(pub, OBJ_nid2obj(alg), V_ASN1_OBJECT,
					 OBJ_nid2obj(curve), penc, (int)ptlen);
	if (!ok) {
		OPENSSL_free(penc);
		ERR_clear_error();
	}
	return ok;
}

static int
i2d_x509_pubkey(const void *obj, unsigned char **pp)
{
	return i2d_X509_PUBKEY((X509_PUBKEY *)obj, pp);
}

/* OpenSSL 3.0 builds a new encoder chain for every i2d_PUBKEY (provider
 * walks, name lookups): the keys certkeep makes most are written from
 * their provider parameters instead, byte for byte the same DER
 * (test_crypto_fast test_spki_fast_path_identical). */
enum ck_code
ck_key_spki_der(EVP_PKEY *key, unsigned char **der, size_t *len, struct ck_err *err)
{
	X509_PUBKEY *pub;
	enum ck_code rc;

	if (key == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no key");
	if ((pub = X509_PUBKEY_new()) == NULL)
		return CK_OOM(err);
	if (crypto_pubkey_fill(key, pub))
		rc = crypto_i2d(pub, i2d_x509_pubkey, 0, der, len, err);
	else
		rc = crypto_i2d(key, i2d_pubkey, 0, der, len, err);
	X509_PUBKEY_free(pub);
	return rc;
}

enum ck_code
ck_key_spki_sha256(EVP_PKEY *key, char out[65], struct ck_err *err)
{
	unsigned char *der = NULL;
	size_t len = 0;
	enum ck_code rc;

	rc = ck_key_spki_der(key, &der, &len, err);
	if (rc != CK_OK)
		return rc;
	ck_sha256_hex(der, len, out);
	free(der);
	return CK_OK;
}

enum ck_code
ck_known_spki_of(EVP_PKEY *key, struct ck_known_spki *out, struct ck_err *err)
{
	enum ck_code rc;

	memset(out, 0, sizeof(*out));
	if ((rc = ck_key_spki_der(key, &out->der, &out->len, err)) != CK_OK)
		return rc;
	ck_key_describe(key, out->desc, sizeof(out->desc));
	return CK_OK;
}

void
ck_known_spki_cleanup(struct ck_known_spki *k)
{
	if (k == NULL)
		return;
	free(k->der);
	memset(k, 0, sizeof(*k));
}

enum ck_code
ck_key_from_spki_der(const unsigned char *der, size_t len, EVP_PKEY **out, struct ck_err *err)
{
	const unsigned char *p = der;
	EVP_PKEY *key;

	if (der == NULL || len == 0 || len > CK_PEM_MAX)
		return CK_FAIL(err, CK_ERR_PARSE, "no SubjectPublicKeyInfo");
	key = d2i_PUBKEY(NULL, &p, (long)len);
	if (key == NULL || p != der + len) {
		EVP_PKEY_free(key);
		ERR_clear_error();
		return CK_FAIL(err, CK_ERR_PARSE, "not a SubjectPublicKeyInfo (DER) this build can use");
	}
	*out = key;
	return CK_OK;
}

int
ck_key_public_equal(EVP_PKEY *a, EVP_PKEY *b)
{
	int r;

	if (a == NULL || b == NULL)
		return 0;
	r = EVP_PKEY_eq(a, b);
	ERR_clear_error();
	return r == 1;
}

enum ck_code
ck_key_id_sha1(EVP_PKEY *key, unsigned char out[20], struct ck_err *err)
{
	X509_PUBKEY *xpk = NULL;
	const unsigned char *pk = NULL;
	int pklen = 0;
	enum ck_code rc = CK_OK;

	if (key == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no key");
	if (!X509_PUBKEY_set(&xpk, key) ||
	    !X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, xpk) || pklen <= 0)
		rc = CK_FAIL_SSL(err, "encoding the public key failed");
	else
		SHA1(pk, (size_t)pklen, out);
	X509_PUBKEY_free(xpk);
	return rc;
}
