/*
 * sign.c - a private key on a token as a struct ck_signer (crypto.h), so
 * CSRs and JWS are signed there through the same interface a software
 * key implements.  ECDSA: the host hashes, the token signs with CKM_ECDSA
 * and returns r||s (the signer's contract form).  RSA PKCS#1 v1.5:
 * CKM_SHA256_RSA_PKCS (or SHA-384/512) where the token offers it for
 * signing, else CKM_RSA_PKCS over a DigestInfo that OpenSSL encodes
 * (X509_SIG).  Ed25519: CKM_EDDSA over the message.
 *
 * The key is held by CKA_ID, not by handle alone: after a fork (a new
 * session generation) the handle is looked up again, and a key deleted
 * behind certkeep's back is reported as such.
 *
 * Must never: read the private key's value, or sign with a key other
 * than the one whose public key the signer reports.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "token/p11.h"

#define TOK_SIG_MAX 1024        /* RSA 8192 */
#define TOK_DIGESTINFO_MAX 128  /* SHA-512's DigestInfo is 83 bytes */

struct tok_signer {
	struct ck_signer base;
	struct ck_token *t;
	unsigned char id[CK_TOKEN_ID_MAX];
	size_t id_len;
	CK_OBJECT_HANDLE priv;
	unsigned generation;      /* t's generation when priv was found */
	CK_KEY_TYPE kt;
	int combined;             /* CKM_SHA*_RSA_PKCS offered for signing */
};

/* The one private key with CKA_ID id on t. */
static enum ck_code
tok_priv_find(struct ck_token *t, const unsigned char *id, size_t id_len, CK_OBJECT_HANDLE *o,
	      struct ck_err *err)
{
	CK_OBJECT_HANDLE objs[2];
	char hex[2 * CK_TOKEN_ID_MAX + 1];
	size_t n = 0;
	enum ck_code rc;

	rc = tok_find(t, CKO_PRIVATE_KEY, id, id_len, NULL, objs, 2, &n, err);
	ck_hex_encode(id, id_len, hex, sizeof(hex));
	if (rc == CK_ERR_TOO_LARGE || (rc == CK_OK && n > 1))
		return CK_FAIL(err, CK_ERR_AMBIGUOUS, "token '%s' holds several private keys "
			       "with CKA_ID %s: give each key its own id", t->label, hex);
	if (rc != CK_OK)
		return rc;
	if (n == 0)
		return CK_FAIL(err, CK_ERR_KEY_MISSING, "token '%s' holds no private key with "
			       "CKA_ID %s%s: it was deleted or the token was re-initialised "
			       "(certkeep doctor lists what is linked to it)", t->label, hex,
			       t->logged_in ? "" : " visible without login (log in first)");
	*o = objs[0];
	return CK_OK;
}

/* The public key that goes with private key priv (CKA_ID id): the public
 * object with that id, else the private object's own RSA attributes. */
static enum ck_code
tok_signer_pub(struct ck_token *t, const unsigned char *id, size_t id_len,
	       CK_OBJECT_HANDLE priv, EVP_PKEY **out, struct ck_err *err)
{
	CK_OBJECT_HANDLE objs[2];
	size_t n = 0;
	enum ck_code rc;

	rc = tok_find(t, CKO_PUBLIC_KEY, id, id_len, NULL, objs, 2, &n, err);
	if (rc == CK_OK && n == 1)
		return tok_obj_pkey(t, objs[0], out, err);
	if (rc != CK_OK && rc != CK_ERR_TOO_LARGE)
		return rc;
	if ((rc = tok_obj_pkey(t, priv, out, err)) == CK_OK)
		return CK_OK;
	return CK_FAIL(err, CK_ERR_NOT_FOUND, "token '%s' holds %s public key with the private "
		       "key's CKA_ID, and the private key does not show its public part: "
		       "certkeep cannot tell which public key it signs for", t->label,
		       n == 0 ? "no" : "more than one");
}

/* 1 if the token offers mechanism m for signing. */
static int
tok_mech_signs(struct ck_token *t, CK_MECHANISM_TYPE m)
{
	CK_MECHANISM_INFO mi;

	return t->f->C_GetMechanismInfo(t->slot, m, &mi) == CKR_OK && (mi.flags & CKF_SIGN);
}

/* The combined RSA mechanism for md, or CKM_RSA_PKCS (0 found) if none. */
static CK_MECHANISM_TYPE
tok_rsa_combined(const EVP_MD *md)
{
	switch (md ? EVP_MD_get_type(md) : NID_undef) {
	case NID_sha256: return CKM_SHA256_RSA_PKCS;
	case NID_sha384: return CKM_SHA384_RSA_PKCS;
	case NID_sha512: return CKM_SHA512_RSA_PKCS;
	default: return CKM_RSA_PKCS;
	}
}

/*
 * What the token signs for msg: the message itself (combined RSA,
 * EdDSA), the digest (ECDSA) or the digest's DigestInfo (CKM_RSA_PKCS),
 * into buf (cap bytes) or pointing at msg.
 */
static enum ck_code
tok_sign_input(struct tok_signer *ts, const EVP_MD *md, CK_MECHANISM_TYPE mech,
	       const unsigned char *msg, size_t len, unsigned char *buf, size_t cap,
	       const unsigned char **in, size_t *inlen, struct ck_err *err)
{
	unsigned char hash[EVP_MAX_MD_SIZE], *p = buf;
	unsigned int hlen = 0;
	X509_SIG *di = NULL;
	X509_ALGOR *alg;
	ASN1_OCTET_STRING *d;
	int n;

	if (mech != CKM_ECDSA && mech != CKM_RSA_PKCS) {
		*in = msg;
		*inlen = len;
		return CK_OK;
	}
	if (md == NULL || EVP_Digest(msg, len, hash, &hlen, md, NULL) != 1)
		return CK_FAIL_SSL(err, "hashing the data to sign failed");
	if (mech == CKM_ECDSA) {
		memcpy(buf, hash, hlen);
		*in = buf;
		*inlen = hlen;
		return CK_OK;
	}
	/* DigestInfo (RFC 8017 9.2): OpenSSL encodes it, as its own RSA code does. */
	if ((di = X509_SIG_new()) == NULL)
		return CK_OOM(err);
	X509_SIG_getm(di, &alg, &d);
	if (!X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, NULL) ||
	    !ASN1_OCTET_STRING_set(d, hash, (int)hlen) || (n = i2d_X509_SIG(di, NULL)) <= 0 ||
	    (size_t)n > cap || i2d_X509_SIG(di, &p) != n) {
		X509_SIG_free(di);
		return CK_FAIL_SSL(err, "encoding the DigestInfo failed");
	}
	X509_SIG_free(di);
	*in = buf;
	*inlen = (size_t)n;
	return CK_OK;
}

/* The mechanism for this key and md. */
static enum ck_code
tok_sign_mech(struct tok_signer *ts, const EVP_MD *md, CK_MECHANISM_TYPE *m, struct ck_err *err)
{
	if (ts->kt == CKK_EC && md != NULL)
		*m = CKM_ECDSA;
	else if (ts->kt == CKK_RSA && md != NULL)
		*m = ts->combined ? tok_rsa_combined(md) : CKM_RSA_PKCS;
	else if (ts->kt == CKK_EC_EDWARDS && md == NULL)
		*m = CKM_EDDSA;
	else
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "the token key of type 0x%lx cannot sign "
			       "this way", (unsigned long)ts->kt);
	return CK_OK;
}

/* The error for a C_SignInit / C_Sign that failed with rv. */
static enum ck_code
tok_sign_error(struct tok_signer *ts, CK_RV rv, struct ck_err *err)
{
	if (rv == CKR_USER_NOT_LOGGED_IN)
		return CK_FAIL(err, CK_ERR_STATE, "token '%s' needs a login before it signs "
			       "(--pin-file)", ts->t->label);
	if (rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID)
		return CK_FAIL(err, CK_ERR_KEY_MISSING, "the key vanished from token '%s' while "
			       "certkeep used it", ts->t->label);
	return CK_FAIL(err, CK_ERR_IO, "token '%s' failed to sign (0x%lx)", ts->t->label,
		       (unsigned long)rv);
}

static enum ck_code
tok_sign(struct ck_signer *s, const EVP_MD *md, const unsigned char *msg, size_t len,
	 unsigned char **sig, size_t *siglen, struct ck_err *err)
{
	struct tok_signer *ts = (struct tok_signer *)s;
	unsigned char buf[TOK_DIGESTINFO_MAX], *out = NULL;
	const unsigned char *in = NULL;
	CK_MECHANISM mech = { 0, NULL, 0 };
	CK_ULONG n = 0;
	size_t inlen = 0;
	enum ck_code rc;
	CK_RV rv;

	if ((rc = tok_ready(ts->t, err)) != CK_OK)
		return rc;
	if (ts->generation != ts->t->generation) {
		if ((rc = tok_priv_find(ts->t, ts->id, ts->id_len, &ts->priv, err)) != CK_OK)
			return rc;
		ts->generation = ts->t->generation;
	}
	if ((rc = tok_sign_mech(ts, md, &mech.mechanism, err)) != CK_OK ||
	    (rc = tok_sign_input(ts, md, mech.mechanism, msg, len, buf, sizeof(buf), &in, &inlen,
				 err)) != CK_OK)
		return rc;
	if ((out = malloc(TOK_SIG_MAX)) == NULL)
		return CK_OOM(err);
	n = TOK_SIG_MAX;
	/* One call into a buffer of the maximum: a module that would write more
	 * (CKR_BUFFER_TOO_SMALL) is refused, never asked how much to allocate. */
	if ((rv = ts->t->f->C_SignInit(ts->t->session, &mech, ts->priv)) != CKR_OK ||
	    (rv = ts->t->f->C_Sign(ts->t->session, (CK_BYTE_PTR)in, inlen, out, &n)) != CKR_OK ||
	    n == 0 || n > TOK_SIG_MAX) {
		free(out);
		return rv == CKR_BUFFER_TOO_SMALL || rv == CKR_OK
			       ? CK_FAIL(err, CK_ERR_TOO_LARGE, "token '%s' makes signatures "
					 "over %d bytes", ts->t->label, TOK_SIG_MAX)
			       : tok_sign_error(ts, rv, err);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	*sig = out;
	*siglen = n;
	return CK_OK;
}

static void
tok_signer_free(struct ck_signer *s)
{
	EVP_PKEY_free(s->pub);
	free(s);
}

static const struct ck_signer_ops tok_signer_ops = { tok_sign, tok_signer_free };

enum ck_code
ck_token_signer_new(struct ck_token *t, const unsigned char *id, size_t id_len,
		    struct ck_signer **out, struct ck_err *err)
{
	CK_KEY_TYPE kt = CKK_VENDOR_DEFINED;
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };
	struct tok_signer *ts = NULL;
	enum ck_code rc;

	if (id == NULL || id_len == 0 || id_len > CK_TOKEN_ID_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a token key is named by its CKA_ID (1 "
			       "to %d bytes)", CK_TOKEN_ID_MAX);
	if ((ts = calloc(1, sizeof(*ts))) == NULL)
		return CK_OOM(err);
	ts->base.ops = &tok_signer_ops;
	ts->t = t;
	memcpy(ts->id, id, id_len);
	ts->id_len = id_len;
	if ((rc = tok_priv_find(t, id, id_len, &ts->priv, err)) != CK_OK)
		goto out;
	ts->generation = t->generation;
	if (t->f->C_GetAttributeValue(t->session, ts->priv, &a, 1) != CKR_OK) {
		rc = CK_FAIL(err, CK_ERR_UNSUPPORTED, "token '%s': a private key without a "
			     "readable key type", t->label);
		goto out;
	}
	ts->kt = kt;
	ts->combined = kt == CKK_RSA && tok_mech_signs(t, CKM_SHA256_RSA_PKCS);
	if ((rc = tok_signer_pub(t, id, id_len, ts->priv, &ts->base.pub, err)) != CK_OK)
		goto out;
	*out = &ts->base;
	ts = NULL;
out:
	if (ts != NULL)
		tok_signer_free(&ts->base);
	return rc;
}

void
tok_signer_no_combined(struct ck_signer *s)
{
	((struct tok_signer *)s)->combined = 0;
}

enum ck_code
ck_token_key_id_by_label(struct ck_token *t, const char *label, unsigned char *id,
			 size_t *id_len, struct ck_err *err)
{
	CK_OBJECT_HANDLE objs[2];
	unsigned char *v = NULL;
	size_t n = 0, len = 0;
	int present = 0;
	enum ck_code rc;

	rc = tok_find(t, CKO_PRIVATE_KEY, NULL, 0, label, objs, 2, &n, err);
	if (rc == CK_ERR_TOO_LARGE || (rc == CK_OK && n > 1))
		return CK_FAIL(err, CK_ERR_AMBIGUOUS, "token '%s' holds several private keys "
			       "labelled '%s': name the key by id= instead", t->label, label);
	if (rc != CK_OK)
		return rc;
	if (n == 0)
		return CK_FAIL(err, CK_ERR_KEY_MISSING, "token '%s' holds no private key labelled "
			       "'%s'", t->label, label);
	if ((rc = tok_attr(t, objs[0], CKA_ID, CK_TOKEN_ID_MAX, &v, &len, &present, err)))
		return rc;
	if (!present || len == 0) {
		free(v);
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "the private key labelled '%s' on token "
			       "'%s' has no CKA_ID: certkeep links keys and certificates by it",
			       label, t->label);
	}
	memcpy(id, v, len);
	*id_len = len;
	free(v);
	return CK_OK;
}
