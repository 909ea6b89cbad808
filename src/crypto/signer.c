/*
 * signer.c - the one signing interface (struct ck_signer) that CSRs and
 * JWS sign through, and its software implementation over an EVP_PKEY.  A
 * token key implements the same ops in src/token/sign.c, so no caller
 * asks where a key lives.  Also the ECDSA signature conversions between
 * JOSE's raw r||s and X.509's DER ECDSA-Sig-Value, both through
 * OpenSSL's ECDSA_SIG (never hand-written ASN.1).
 *
 * Must never: hand back a signature in any form but the one the contract
 * names (ECDSA raw r||s of twice the field size), or let a signer's
 * private part out of the signer.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "crypto/crypto_int.h"

#define SIGNER_SIG_MAX 1024    /* RSA 8192 */

struct soft_signer {
	struct ck_signer base;
	EVP_PKEY *key;
	/* EVP_DigestSignInit done once for the key's usual digest (tmpl_md):
	 * each signature starts from a copy of it.  OpenSSL 3's init fetches
	 * the provider's signature and builds its context, as much CPU as the
	 * ECDSA signature itself; an account key signs every ACME request.
	 * Only read after ck_signer_from_key, so a signer may be shared. */
	EVP_MD_CTX *tmpl;
	const EVP_MD *tmpl_md;
	const char *jws_alg;           /* ck_jws_alg(key), NULL if it has none */
};

/* The digest an EC key signs JWS and CSRs with; NULL for other keys (an
 * RSA context copied under allocation failure signed wrongly in
 * test_alloc_torture: RSA keeps a fresh init per signature). */
static const EVP_MD *
soft_usual_md(EVP_PKEY *key)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		return EVP_PKEY_get_bits(key) <= 256 ? EVP_sha256() :
		       EVP_PKEY_get_bits(key) <= 384 ? EVP_sha384() : EVP_sha512();
	default:
		return NULL;
	}
}

/* A signing context for md, for one signature: a copy of the template
 * when md is its digest.  FINALISE: its final step signs in place instead
 * of on a duplicate of the key's context kept for a reuse that never
 * comes. */
static EVP_MD_CTX *
soft_ctx(struct soft_signer *ss, const EVP_MD *md)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL)
		return NULL;
	if (ss->tmpl != NULL && md == ss->tmpl_md ? EVP_MD_CTX_copy_ex(ctx, ss->tmpl) == 1 :
	    EVP_DigestSignInit(ctx, NULL, md, NULL, ss->key) == 1) {
		EVP_MD_CTX_set_flags(ctx, EVP_MD_CTX_FLAG_FINALISE);
		return ctx;
	}
	EVP_MD_CTX_free(ctx);
	return NULL;
}

size_t
ck_signer_ec_half(EVP_PKEY *pub)
{
	if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC)
		return 0;
	return ((size_t)EVP_PKEY_get_bits(pub) + 7) / 8;
}

enum ck_code
crypto_ecdsa_der_to_raw(const unsigned char *der, size_t len, size_t half, unsigned char *out,
			struct ck_err *err)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *s;
	enum ck_code rc = CK_OK;

	if (sig == NULL)
		return CK_FAIL_SSL(err, "decoding the ECDSA signature failed");
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, out, (int)half) != (int)half ||
	    BN_bn2binpad(s, out + half, (int)half) != (int)half)
		rc = CK_FAIL(err, CK_ERR_CRYPTO, "ECDSA signature does not fit %zu bytes", half);
	ECDSA_SIG_free(sig);
	return rc;
}

static int
i2d_ecdsa_sig(const void *obj, unsigned char **pp)
{
	return i2d_ECDSA_SIG((const ECDSA_SIG *)obj, pp);
}

enum ck_code
crypto_ecdsa_raw_to_der(const unsigned char *raw, size_t half, unsigned char **der, size_t *len,
			struct ck_err *err)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)half, NULL);
	BIGNUM *s = BN_bin2bn(raw + half, (int)half, NULL);
	enum ck_code rc;

	if (sig == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return CK_OOM(err);
	}
	rc = crypto_i2d(sig, i2d_ecdsa_sig, 0, der, len, err);
	ECDSA_SIG_free(sig);
	return rc;
}

/*
 * 1 if sig verifies over msg under the key's own public half.  OpenSSL 3.0
 * refreshes an RSA key's blinding at every 32nd use; when an allocation
 * fails inside that refresh, later signatures come out wrong while
 * EVP_DigestSign reports success (test_alloc_torture
 * test_rsa_signer_after_failed_blinding_refresh: 4 of 36).  A wrong
 * signature sent to a CA is a "JWS verification error" with no cause in
 * sight, so RSA signatures are checked before they leave (about 2 % of an
 * RSA-2048 signature's cost).
 */
static int
soft_rsa_verifies(struct soft_signer *ss, const EVP_MD *md, const unsigned char *msg,
		  size_t len, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *v = EVP_MD_CTX_new();
	int ok = v != NULL && EVP_DigestVerifyInit(v, NULL, md, NULL, ss->key) == 1 &&
		 EVP_DigestVerify(v, sig, siglen, msg, len) == 1;

	EVP_MD_CTX_free(v);
	return ok;
}

/* The software sign op: OpenSSL signs, ECDSA's DER becomes raw r||s. */
static enum ck_code
soft_sign(struct ck_signer *s, const EVP_MD *md, const unsigned char *msg, size_t len,
	  unsigned char **sig, size_t *siglen, struct ck_err *err)
{
	struct soft_signer *ss = (struct soft_signer *)s;
	size_t half = ck_signer_ec_half(s->pub), n = 0;
	unsigned char *buf = NULL, *raw = NULL;
	EVP_MD_CTX *ctx = soft_ctx(ss, md);
	enum ck_code rc = CK_ERR_CRYPTO;
	int max = EVP_PKEY_get_size(ss->key);  /* the longest signature the key makes */

	/* One call with a buffer of the key's maximum, not a size query first. */
	if (ctx == NULL || max <= 0 || (buf = malloc((size_t)max)) == NULL ||
	    (n = (size_t)max, EVP_DigestSign(ctx, buf, &n, msg, len) != 1)) {
		rc = CK_FAIL_SSL(err, "signing with the key failed");
		goto out;
	}
	if (EVP_PKEY_get_base_id(ss->key) == EVP_PKEY_RSA &&
	    !soft_rsa_verifies(ss, md, msg, len, buf, n)) {
		ERR_clear_error();
		rc = CK_FAIL(err, CK_ERR_CRYPTO, "the RSA key's signature does not verify with its "
			     "own public key (OpenSSL's state for the key after a failed "
			     "allocation): nothing was sent with it; try again");
		goto out;
	}
	if (half > 0) {
		if ((raw = malloc(2 * half)) == NULL) {
			rc = CK_OOM(err);
			goto out;
		}
		if ((rc = crypto_ecdsa_der_to_raw(buf, n, half, raw, err)) != CK_OK)
			goto out;
		free(buf);
		buf = raw;
		raw = NULL;
		n = 2 * half;
	}
	*sig = buf;
	*siglen = n;
	buf = NULL;
	rc = CK_OK;
out:
	free(raw);
	free(buf);
	EVP_MD_CTX_free(ctx);
	return rc;
}

static void
soft_free(struct ck_signer *s)
{
	struct soft_signer *ss = (struct soft_signer *)s;

	EVP_MD_CTX_free(ss->tmpl);
	EVP_PKEY_free(ss->key);
	EVP_PKEY_free(s->pub);
	free(ss);
}

static const struct ck_signer_ops soft_ops = { soft_sign, soft_free };

enum ck_code
ck_signer_from_key(EVP_PKEY *key, struct ck_signer **out, struct ck_err *err)
{
	struct soft_signer *ss;

	if (key == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no key to sign with");
	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		return CK_OOM(err);
	if (!EVP_PKEY_up_ref(key)) {
		free(ss);
		return CK_FAIL_SSL(err, "taking a reference to the key failed");
	}
	if (!EVP_PKEY_up_ref(key)) {
		EVP_PKEY_free(key);
		free(ss);
		return CK_FAIL_SSL(err, "taking a reference to the key failed");
	}
	ss->key = key;
	ss->base.pub = key; /* the public half of the same object */
	ss->base.ops = &soft_ops;
	ss->jws_alg = ck_jws_alg(key);
	/* Without a template (an EdDSA key, or init failed) each signature
	 * initialises its own context, as before. */
	if ((ss->tmpl_md = soft_usual_md(key)) != NULL && (ss->tmpl = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestSignInit(ss->tmpl, NULL, ss->tmpl_md, NULL, key) != 1) {
		EVP_MD_CTX_free(ss->tmpl);
		ss->tmpl = NULL;
	}
	ERR_clear_error();
	*out = &ss->base;
	return CK_OK;
}

const char *
crypto_signer_jws_alg(const struct ck_signer *s)
{
	if (s->ops == &soft_ops)
		return ((const struct soft_signer *)s)->jws_alg;
	return ck_jws_alg(s->pub);
}

void
ck_signer_free(struct ck_signer *s)
{
	if (s != NULL)
		s->ops->free(s);
}

EVP_PKEY *
ck_signer_pubkey(const struct ck_signer *s)
{
	return s->pub;
}

enum ck_code
ck_signer_sign(struct ck_signer *s, const EVP_MD *md, const unsigned char *msg, size_t len,
	       unsigned char **sig, size_t *siglen, struct ck_err *err)
{
	size_t half = ck_signer_ec_half(s->pub);
	unsigned char *out = NULL;
	size_t n = 0;
	enum ck_code rc;

	if ((rc = s->ops->sign(s, md, msg, len, &out, &n, err)) != CK_OK)
		return rc;
	if ((half > 0 && n != 2 * half) || n == 0 || n > SIGNER_SIG_MAX) {
		free(out);
		return CK_FAIL(err, CK_ERR_CRYPTO, "the signer returned a signature of %zu bytes, "
			       "which its key cannot make", n);
	}
	*sig = out;
	*siglen = n;
	return CK_OK;
}
