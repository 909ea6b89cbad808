/*
 * csr.c - PKCS#10 requests for ACME finalize (RFC 8555 section 7.4): every
 * name a SAN (dNSName or iPAddress), CN the first DNS name when it fits.
 * Owns the name checks (count, length, characters) and the one DNS name rule
 * (ck_dns_name_valid).  Never signs with any
 * key but the one whose public key goes into the request.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "crypto/crypto_int.h"

#define CSR_CN_MAX 64 /* ub-common-name (RFC 5280) */

int
ck_name_is_ip(const char *s)
{
	unsigned char buf[16];

	if (s == NULL)
		return 0;
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* 1 if s[0..n) is one LDH label: 1..63 of [A-Za-z0-9-], no '-' at either end. */
static int
dns_label_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return 0;
	}
	return 1;
}

int
ck_dns_name_valid(const char *s, int wildcard_ok)
{
	const char *dot;
	size_t len;

	if (s == NULL || (len = strnlen(s, CK_NAME_MAX + 1)) == 0 || len > CK_NAME_MAX)
		return 0;
	if (wildcard_ok && strncmp(s, "*.", 2) == 0)
		s += 2;
	for (;;) {
		dot = strchr(s, '.');
		if (!dns_label_valid(s, dot ? (size_t)(dot - s) : strlen(s)))
			return 0;
		if (dot == NULL)
			return 1;
		s = dot + 1;
	}
}

int
ck_identifier_valid(const char *s, int wildcard_ok)
{
	return ck_name_is_ip(s) || ck_dns_name_valid(s, wildcard_ok);
}

/* A DNS name (possibly a wildcard) or an IP literal; the error says which rule failed. */
static enum ck_code
csr_name_check(const char *s, size_t i, struct ck_err *err)
{
	size_t len, k;

	if (s == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "name %zu is missing", i + 1);
	len = strlen(s);
	if (len == 0 || len > CK_NAME_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "name %zu is %zu bytes; a name has 1 to %d bytes", i + 1, len,
			       CK_NAME_MAX);
	if (ck_identifier_valid(s, 1))
		return CK_OK;
	for (k = 0; k < len; k++) {
		unsigned char c = (unsigned char)s[k];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '*'))
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "name %zu has a character that is not allowed in a DNS name "
				       "or IP address (byte 0x%02x at %zu)",
				       i + 1, c, k);
	}
	return CK_FAIL(err, CK_ERR_INVALID_ARG,
		       "name %zu is not a DNS name: each dot-separated label has 1 to 63 "
		       "letters, digits or '-' (not at either end), and '*' is only allowed "
		       "as a whole first label (\"*.example.org\")", i + 1);
}

/* One GENERAL_NAME for s (DNS or IP). */
static GENERAL_NAME *
csr_general_name(const char *s)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5;
	ASN1_OCTET_STRING *ip;

	if (gn == NULL)
		return NULL;
	if (ck_name_is_ip(s)) {
		ip = a2i_IPADDRESS(s);
		if (ip == NULL)
			goto fail;
		GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
	} else {
		ia5 = ASN1_IA5STRING_new();
		if (ia5 == NULL || !ASN1_STRING_set(ia5, s, (int)strlen(s))) {
			ASN1_IA5STRING_free(ia5);
			goto fail;
		}
		GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
	}
	return gn;
fail:
	GENERAL_NAME_free(gn);
	return NULL;
}

/* Subject (CN) and the SAN extension request. */
static enum ck_code
csr_fill(X509_REQ *req, const char *const *names, size_t n, struct ck_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	X509_NAME *subj = X509_NAME_new();
	const char *cn = NULL;
	enum ck_code rc = CK_ERR_NOMEM;
	GENERAL_NAME *gn;
	int cn_done = 0;
	size_t i;

	if (gens == NULL || subj == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		if (!cn_done && !ck_name_is_ip(names[i])) {
			/* Only the first DNS name may be the CN; a longer one leaves none. */
			cn_done = 1;
			if (strlen(names[i]) <= CSR_CN_MAX)
				cn = names[i];
		}
		gn = csr_general_name(names[i]);
		if (gn == NULL || !sk_GENERAL_NAME_push(gens, gn)) {
			GENERAL_NAME_free(gn);
			goto nomem;
		}
	}
	if (cn != NULL && !X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
						       (const unsigned char *)cn, -1, -1, 0))
		goto nomem;
	if (!X509_REQ_set_subject_name(req, subj) ||
	    X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1 ||
	    !X509_REQ_add_extensions(req, exts))
		goto nomem;
	rc = CK_OK;
	goto out;
nomem:
	rc = CK_FAIL_SSL(err, "building the certificate request failed");
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(subj);
	return rc;
}

static int
i2d_req(const void *obj, unsigned char **pp)
{
	return i2d_X509_REQ((X509_REQ *)obj, pp);
}

/* The signatureAlgorithm of a request signed by pub with SHA-256 (Ed25519: none). */
static X509_ALGOR *
csr_sig_alg(EVP_PKEY *pub, const EVP_MD **md)
{
	X509_ALGOR *alg = X509_ALGOR_new();
	int id = EVP_PKEY_get_base_id(pub), nid, ptype = V_ASN1_UNDEF;

	*md = EVP_sha256();
	if (id == EVP_PKEY_EC) {
		nid = NID_ecdsa_with_SHA256;
	} else if (id == EVP_PKEY_RSA) {
		nid = NID_sha256WithRSAEncryption;
		ptype = V_ASN1_NULL; /* RFC 4055 section 5: parameters NULL */
	} else if (id == EVP_PKEY_ED25519) {
		nid = NID_ED25519;
		*md = NULL;   /* Ed25519 signs the message itself */
	} else {
		X509_ALGOR_free(alg);
		return NULL;
	}
	if (alg != NULL && !X509_ALGOR_set0(alg, OBJ_nid2obj(nid), ptype, NULL)) {
		X509_ALGOR_free(alg);
		return NULL;
	}
	return alg;
}

/*
 * Signs req's TBS (CertificationRequestInfo) through s and sets the
 * algorithm and signature: ECDSA's raw r||s becomes a DER ECDSA-Sig-Value
 * through OpenSSL's ECDSA_SIG.  The result is verified with the public
 * key, so a signer that signs wrongly is caught here, not by the CA.
 */
static enum ck_code
csr_sign(X509_REQ *req, struct ck_signer *s, struct ck_err *err)
{
	EVP_PKEY *pub = ck_signer_pubkey(s);
	unsigned char *tbs = NULL, *sig = NULL, *der = NULL;
	size_t siglen = 0, derlen = 0;
	ASN1_BIT_STRING *bits = NULL;
	const EVP_MD *md = NULL;
	X509_ALGOR *alg = csr_sig_alg(pub, &md);
	enum ck_code rc = CK_ERR_CRYPTO;
	int tbslen;

	if (alg == NULL || !X509_REQ_set1_signature_algo(req, alg) ||
	    (tbslen = i2d_re_X509_REQ_tbs(req, &tbs)) <= 0) {
		rc = CK_FAIL_SSL(err, "preparing the certificate request for its signature "
				 "failed");
		goto out;
	}
	if ((rc = ck_signer_sign(s, md, tbs, (size_t)tbslen, &sig, &siglen, err)) != CK_OK)
		goto out;
	if (ck_signer_ec_half(pub) > 0 &&
	    (rc = crypto_ecdsa_raw_to_der(sig, siglen / 2, &der, &derlen, err)) != CK_OK)
		goto out;
	if ((bits = ASN1_BIT_STRING_new()) == NULL ||
	    !ASN1_BIT_STRING_set(bits, der ? der : sig, (int)(der ? derlen : siglen))) {
		rc = CK_FAIL_SSL(err, "building the request's signature failed");
		goto out;
	}
	/* No unused bits: without the flag OpenSSL trims trailing zero bytes. */
	bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	X509_REQ_set0_signature(req, bits);
	bits = NULL;
	if (X509_REQ_verify(req, pub) != 1) {
		rc = CK_FAIL_SSL(err, "the certificate request's signature does not verify "
				 "with its own public key: the signer signed wrongly");
		goto out;
	}
	rc = CK_OK;
out:
	ASN1_BIT_STRING_free(bits);
	X509_ALGOR_free(alg);
	OPENSSL_free(tbs);
	free(sig);
	free(der);
	return rc;
}

enum ck_code
ck_csr_create_with(struct ck_signer *s, const char *const *names, size_t n, unsigned char **der,
		   size_t *len, struct ck_err *err)
{
	X509_REQ *req = NULL;
	enum ck_code rc;
	size_t i;

	if (s == NULL || names == NULL || n == 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a certificate request needs a key and at "
							 "least one name");
	if (n > CK_CSR_MAX_NAMES)
		return CK_FAIL(err, CK_ERR_TOO_LARGE,
			       "%zu names is more than the %d one certificate request may hold", n,
			       CK_CSR_MAX_NAMES);
	for (i = 0; i < n; i++) {
		rc = csr_name_check(names[i], i, err);
		if (rc != CK_OK)
			return rc;
	}
	/* X509_REQ_set_pubkey in OpenSSL 3.0 encodes the key and decodes it
	 * again: the request's key is filled from its parameters where it can
	 * be (the same bytes, test_crypto_fast test_csr_pubkey_identical). */
	req = X509_REQ_new();
	if (req == NULL || !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    (!crypto_pubkey_fill(ck_signer_pubkey(s), X509_REQ_get_X509_PUBKEY(req)) &&
	     !X509_REQ_set_pubkey(req, ck_signer_pubkey(s)))) {
		rc = CK_FAIL_SSL(err, "building the certificate request failed");
		goto out;
	}
	if ((rc = csr_fill(req, names, n, err)) != CK_OK ||
	    (rc = csr_sign(req, s, err)) != CK_OK)
		goto out;
	rc = crypto_i2d(req, i2d_req, 0, der, len, err);
out:
	X509_REQ_free(req);
	return rc;
}

enum ck_code
ck_csr_create(EVP_PKEY *key, const char *const *names, size_t n, unsigned char **der,
	      size_t *len, struct ck_err *err)
{
	struct ck_signer *s = NULL;
	enum ck_code rc;

	if (key == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a certificate request needs a key and at "
							 "least one name");
	if ((rc = ck_signer_from_key(key, &s, err)) != CK_OK)
		return rc;
	rc = ck_csr_create_with(s, names, n, der, len, err);
	ck_signer_free(s);
	return rc;
}
