/*
 * x509_lite.c - a certificate read only as far as its serial number and
 * extensions, through an OpenSSL ASN.1 template whose names, validity and
 * public key stay undecoded (ASN1_ANY).  d2i_X509 in OpenSSL 3.0 builds a
 * decoder chain for the public key of every certificate; the renewal plan
 * needs only the ARI certificate ID (RFC 9773 4.1) of each due lineage.
 *
 * Must never: parse DER by hand (every byte is read by OpenSSL's ASN.1
 * decoder, the same INTEGER and X509_EXTENSION types d2i_X509 uses), accept
 * trailing bytes, answer for a certificate with more than one AKI (OpenSSL's
 * X509_get0_authority_key_id does not either).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "crypto/crypto_int.h"

/* TBSCertificate (RFC 5280 4.1) with only the serial and extensions decoded. */
typedef struct {
	ASN1_INTEGER *version;
	ASN1_INTEGER *serial;
	X509_ALGOR *signature;
	ASN1_TYPE *issuer;
	ASN1_TYPE *validity;
	ASN1_TYPE *subject;
	ASN1_TYPE *spki;
	ASN1_BIT_STRING *issuer_uid;
	ASN1_BIT_STRING *subject_uid;
	STACK_OF(X509_EXTENSION) *extensions;
} LITE_TBS;

typedef struct {
	LITE_TBS *tbs;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *sig;
} LITE_CERT;

ASN1_SEQUENCE(LITE_TBS) = {
	ASN1_EXP_OPT(LITE_TBS, version, ASN1_INTEGER, 0),
	ASN1_SIMPLE(LITE_TBS, serial, ASN1_INTEGER),
	ASN1_SIMPLE(LITE_TBS, signature, X509_ALGOR),
	ASN1_SIMPLE(LITE_TBS, issuer, ASN1_ANY),
	ASN1_SIMPLE(LITE_TBS, validity, ASN1_ANY),
	ASN1_SIMPLE(LITE_TBS, subject, ASN1_ANY),
	ASN1_SIMPLE(LITE_TBS, spki, ASN1_ANY),
	ASN1_IMP_OPT(LITE_TBS, issuer_uid, ASN1_BIT_STRING, 1),
	ASN1_IMP_OPT(LITE_TBS, subject_uid, ASN1_BIT_STRING, 2),
	ASN1_EXP_SEQUENCE_OF_OPT(LITE_TBS, extensions, X509_EXTENSION, 3)
} static_ASN1_SEQUENCE_END(LITE_TBS)

ASN1_SEQUENCE(LITE_CERT) = {
	ASN1_SIMPLE(LITE_CERT, tbs, LITE_TBS),
	ASN1_SIMPLE(LITE_CERT, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(LITE_CERT, sig, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(LITE_CERT)

/* A malloc'd copy of n bytes at p into *out, *out_len. */
static enum ck_code
lite_dup(const unsigned char *p, size_t n, unsigned char **out, size_t *out_len,
	 struct ck_err *err)
{
	if ((*out = malloc(n > 0 ? n : 1)) == NULL)
		return CK_OOM(err);
	memcpy(*out, p, n);
	*out_len = n;
	return CK_OK;
}

/* The serial's DER content octets (leading zero kept, RFC 9773 4.1). */
static enum ck_code
lite_serial(const ASN1_INTEGER *serial, unsigned char **out, size_t *out_len,
	    struct ck_err *err)
{
	unsigned char *sder = NULL;
	const unsigned char *content;
	long clen;
	int slen, tag, xclass;
	enum ck_code rc;

	if ((slen = i2d_ASN1_INTEGER((ASN1_INTEGER *)serial, &sder)) <= 0) {
		ERR_clear_error();
		return CK_FAIL(err, CK_ERR_PARSE, "the certificate's serial number does not encode");
	}
	content = sder;
	if ((ASN1_get_object(&content, &clen, &tag, &xclass, slen) & 0x80) != 0 ||
	    tag != V_ASN1_INTEGER || clen <= 0) {
		ERR_clear_error();
		rc = CK_FAIL(err, CK_ERR_PARSE, "the certificate's serial number does not encode");
	} else {
		rc = lite_dup(content, (size_t)clen, out, out_len, err);
	}
	OPENSSL_free(sder);
	return rc;
}

enum ck_code
ck_cert_aki_serial(const unsigned char *der, size_t len, unsigned char **kid, size_t *kid_len,
		   unsigned char **serial, size_t *serial_len, struct ck_err *err)
{
	const unsigned char *p = der;
	AUTHORITY_KEYID *akid = NULL;
	LITE_CERT *c = NULL;
	unsigned char *k = NULL;
	size_t klen = 0;
	enum ck_code rc;

	if (der == NULL || len == 0 || len > CK_PEM_MAX ||
	    (c = (LITE_CERT *)ASN1_item_d2i(NULL, &p, (long)len, ASN1_ITEM_rptr(LITE_CERT))) ==
		    NULL ||
	    p != der + len) {
		ERR_clear_error();
		rc = CK_FAIL(err, CK_ERR_PARSE, "not a certificate (DER)");
		goto out;
	}
	/* NULL for none, for more than one, or for one that does not decode. */
	akid = X509V3_get_d2i(c->tbs->extensions, NID_authority_key_identifier, NULL, NULL);
	ERR_clear_error();
	if (akid == NULL || akid->keyid == NULL || ASN1_STRING_length(akid->keyid) <= 0) {
		rc = CK_FAIL(err, CK_ERR_UNSUPPORTED,
			     "the certificate has no Authority Key Identifier: no ARI certificate ID");
		goto out;
	}
	if ((rc = lite_dup(ASN1_STRING_get0_data(akid->keyid),
			   (size_t)ASN1_STRING_length(akid->keyid), &k, &klen, err)) != CK_OK ||
	    (rc = lite_serial(c->tbs->serial, serial, serial_len, err)) != CK_OK)
		goto out;
	*kid = k;
	*kid_len = klen;
	k = NULL;
out:
	free(k);
	AUTHORITY_KEYID_free(akid);
	ASN1_item_free((ASN1_VALUE *)c, ASN1_ITEM_rptr(LITE_CERT));
	return rc;
}
