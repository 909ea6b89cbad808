/*
 * x509.c - facts about certificates (thumbprints, names, SANs, validity,
 * SPKI link), PEM certificate lists and chain order checks.  Reads only;
 * never trusts a certificate (no trust store here): callers decide.
 * Every text taken from a certificate is made printable before it leaves.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "crypto/crypto_int.h"

#define CERT_SANS_MAX 1000

enum ck_code
crypto_x509_from_der(const unsigned char *der, size_t len, X509 **out, struct ck_err *err)
{
	const unsigned char *p = der;
	X509 *x;

	if (der == NULL || len == 0)
		return CK_FAIL(err, CK_ERR_PARSE, "empty certificate");
	if (len > CK_PEM_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "certificate of %zu bytes is over the limit",
			       len);
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL || p != der + len) {
		X509_free(x);
		ERR_clear_error();
		return CK_FAIL(err, CK_ERR_PARSE, "not a DER X.509 certificate");
	}
	*out = x;
	return CK_OK;
}

void
ck_der_list_cleanup(struct ck_der_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->items[i].data);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

enum ck_code
crypto_der_list_add(struct ck_der_list *l, const unsigned char *der, size_t len,
		    struct ck_err *err)
{
	struct ck_der *items;
	unsigned char *copy;

	if (l->n >= CK_BUNDLE_MAX_ITEMS)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %d certificates in one input",
			       CK_BUNDLE_MAX_ITEMS);
	copy = malloc(len ? len : 1);
	items = realloc(l->items, (l->n + 1) * sizeof(*items));
	if (copy == NULL || items == NULL) {
		free(copy);
		if (items != NULL)
			l->items = items;
		return CK_OOM(err);
	}
	memcpy(copy, der, len);
	l->items = items;
	l->items[l->n].data = copy;
	l->items[l->n].len = len;
	l->n++;
	return CK_OK;
}

/* Printable, NUL-terminated copy of n bytes from a certificate. */
static char *
text_dup(const unsigned char *s, size_t n)
{
	char *t = malloc(n + 1);
	size_t i;

	if (t == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		t[i] = (s[i] < 0x20 || s[i] >= 0x7f) ? '?' : (char)s[i];
	t[n] = '\0';
	return t;
}

static char *
name_text(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *t = NULL;
	long n;

	if (bio == NULL)
		return NULL;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(bio, &data);
		t = text_dup((const unsigned char *)(n > 0 ? data : ""), n > 0 ? (size_t)n : 0);
	}
	BIO_free(bio);
	return t;
}

/* SANs (DNS and IP) as text. */
static enum ck_code
cert_sans(X509 *x, struct ck_cert_info *info, struct ck_err *err)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char ipbuf[INET6_ADDRSTRLEN];
	enum ck_code rc = CK_OK;
	int i, count = gens ? sk_GENERAL_NAME_num(gens) : 0;

	ERR_clear_error();
	if (count > CERT_SANS_MAX)
		count = CERT_SANS_MAX;
	if (count > 0 && (info->sans = calloc((size_t)count, sizeof(char *))) == NULL)
		rc = CK_OOM(err);
	for (i = 0; rc == CK_OK && i < count; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		char *t = NULL;
		int len;

		if (gn->type != GEN_DNS && gn->type != GEN_IPADD)
			continue;
		d = ASN1_STRING_get0_data(gn->type == GEN_DNS ? gn->d.dNSName : gn->d.iPAddress);
		len = ASN1_STRING_length(gn->type == GEN_DNS ? gn->d.dNSName : gn->d.iPAddress);
		if (gn->type == GEN_DNS)
			t = text_dup(d, (size_t)len);
		else if ((len == 4 && inet_ntop(AF_INET, d, ipbuf, sizeof(ipbuf)) != NULL) ||
			 (len == 16 && inet_ntop(AF_INET6, d, ipbuf, sizeof(ipbuf)) != NULL))
			t = strdup(ipbuf);
		else
			continue;
		if (t == NULL)
			rc = CK_OOM(err);
		else
			info->sans[info->nsans++] = t;
	}
	GENERAL_NAMES_free(gens);
	return rc;
}

static enum ck_code
cert_time(const ASN1_TIME *t, time_t *out, const char *which, struct ck_err *err)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm)) {
		ERR_clear_error();
		return CK_FAIL(err, CK_ERR_PARSE, "certificate %s time is malformed", which);
	}
	*out = timegm(&tm);
	return CK_OK;
}

static enum ck_code
cert_serial(X509 *x, char out[80], struct ck_err *err)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	enum ck_code rc = CK_OK;

	if (hex == NULL)
		rc = CK_FAIL_SSL(err, "reading the serial number failed");
	else if (strlen(hex) >= 80)
		rc = CK_FAIL(err, CK_ERR_PARSE, "certificate serial number is too long");
	else
		snprintf(out, 80, "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

static int
i2d_x509_pubkey(const void *obj, unsigned char **pp)
{
	return i2d_X509_PUBKEY((X509_PUBKEY *)obj, pp);
}

/* Fills everything but the thumbprints (key_desc: as for
 * crypto_cert_info_from_x509). */
static enum ck_code
cert_facts(X509 *x, const char *key_desc, struct ck_cert_info *info, struct ck_err *err)
{
	unsigned char *spki = NULL;
	size_t spki_len = 0;
	EVP_PKEY *pub;
	enum ck_code rc;

	rc = crypto_i2d(X509_get_X509_PUBKEY(x), i2d_x509_pubkey, 0, &spki, &spki_len, err);
	if (rc != CK_OK)
		return rc;
	ck_sha256_hex(spki, spki_len, info->spki_sha256);
	free(spki);
	info->subject = name_text(X509_get_subject_name(x));
	info->issuer = name_text(X509_get_issuer_name(x));
	if (info->subject == NULL || info->issuer == NULL)
		return CK_OOM(err);
	if ((rc = cert_serial(x, info->serial, err)) != CK_OK ||
	    (rc = cert_sans(x, info, err)) != CK_OK ||
	    (rc = cert_time(X509_get0_notBefore(x), &info->not_before, "not-before", err)) != CK_OK ||
	    (rc = cert_time(X509_get0_notAfter(x), &info->not_after, "not-after", err)) != CK_OK)
		return rc;
	if (key_desc != NULL && key_desc[0] != '\0')
		snprintf(info->key_desc, sizeof(info->key_desc), "%s", key_desc);
	else if ((pub = X509_get0_pubkey(x)) != NULL)
		ck_key_describe(pub, info->key_desc, sizeof(info->key_desc));
	else
		snprintf(info->key_desc, sizeof(info->key_desc), "unknown");
	info->is_ca = (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
	info->self_signed = X509_self_signed(x, 1) == 1;
	ERR_clear_error();
	return CK_OK;
}

enum ck_code
crypto_cert_info_from_x509(X509 *x, const unsigned char *der, size_t len, const char *key_desc,
			   struct ck_cert_info *out, struct ck_err *err)
{
	struct ck_cert_info info;
	enum ck_code rc;

	memset(&info, 0, sizeof(info));
	ck_sha256_hex(der, len, info.sha256);
	ck_sha1_hex(der, len, info.sha1);
	rc = cert_facts(x, key_desc, &info, err);
	if (rc != CK_OK) {
		ck_cert_info_cleanup(&info);
		return rc;
	}
	*out = info;
	return CK_OK;
}

enum ck_code
ck_cert_info_from_der(const unsigned char *der, size_t len, struct ck_cert_info *out,
		      struct ck_err *err)
{
	X509 *x = NULL;
	enum ck_code rc;

	rc = crypto_x509_from_der(der, len, &x, err);
	if (rc != CK_OK)
		return rc;
	rc = crypto_cert_info_from_x509(x, der, len, NULL, out, err);
	X509_free(x);
	return rc;
}

void
ck_cert_info_cleanup(struct ck_cert_info *info)
{
	size_t i;

	if (info == NULL)
		return;
	free(info->subject);
	free(info->issuer);
	for (i = 0; i < info->nsans; i++)
		free(info->sans[i]);
	free(info->sans);
	memset(info, 0, sizeof(*info));
}

enum ck_code
ck_cert_pubkey(const unsigned char *der, size_t len, EVP_PKEY **out, struct ck_err *err)
{
	X509 *x = NULL;
	EVP_PKEY *pub;
	enum ck_code rc;

	rc = crypto_x509_from_der(der, len, &x, err);
	if (rc != CK_OK)
		return rc;
	pub = X509_get_pubkey(x);
	X509_free(x);
	if (pub == NULL)
		return ck_err_openssl(err, CK_ERR_UNSUPPORTED, __func__,
				      "the certificate's public key is of a kind this build cannot use");
	*out = pub;
	return CK_OK;
}

enum ck_code
ck_der_to_pem(const char *label, const unsigned char *der, size_t len, char **pem,
	      size_t *pem_len, struct ck_err *err)
{
	BIO *bio = NULL;
	char *data = NULL, *copy;
	enum ck_code rc;
	long n;

	if (label == NULL || der == NULL || len == 0 || len > CK_PEM_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no DER (or more than %d bytes) to write "
			       "as PEM", CK_PEM_MAX);
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return CK_OOM(err);
	if (!PEM_write_bio(bio, label, "", der, (long)len) ||
	    (n = BIO_get_mem_data(bio, &data)) <= 0) {
		rc = ck_err_openssl(err, CK_ERR_CRYPTO, __func__, "writing PEM failed");
		goto out;
	}
	if ((copy = malloc((size_t)n + 1)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*pem = copy;
	if (pem_len != NULL)
		*pem_len = (size_t)n;
	rc = CK_OK;
out:
	BIO_free(bio);
	return rc;
}

enum ck_code
ck_cert_der_to_pem(const unsigned char *der, size_t len, char **pem, struct ck_err *err)
{
	X509 *x = NULL;
	enum ck_code rc;

	/* Parsed first: only a certificate is written as one. */
	rc = crypto_x509_from_der(der, len, &x, err);
	if (rc != CK_OK)
		return rc;
	X509_free(x);
	return ck_der_to_pem("CERTIFICATE", der, len, pem, NULL, err);
}

/* ck_pem_certs_parse and ck_pem_certs_split: certs_only as crypto_pem_parse. */
static enum ck_code
pem_certs(const char *pem, size_t len, int certs_only, struct ck_der_list *out,
	  struct ck_err *err)
{
	struct ck_bundle b = {0};
	enum ck_code rc;

	if (pem == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no PEM text");
	rc = crypto_pem_parse((const unsigned char *)pem, len, NULL, certs_only, &b, err);
	if (rc == CK_OK && b.certs.n == 0)
		rc = CK_FAIL(err, CK_ERR_PARSE, "the PEM text holds no certificate");
	if (rc == CK_OK) {
		*out = b.certs;
		b.certs.items = NULL;
		b.certs.n = 0;
	}
	ck_bundle_cleanup(&b);
	return rc;
}

enum ck_code
ck_pem_certs_parse(const char *pem, size_t len, struct ck_der_list *out, struct ck_err *err)
{
	return pem_certs(pem, len, 1, out, err);
}

enum ck_code
ck_pem_certs_split(const char *pem, size_t len, struct ck_der_list *out, struct ck_err *err)
{
	return pem_certs(pem, len, CRYPTO_PEM_CERTS_UNPARSED, out, err);
}

int
crypto_chain_link_ok(X509 *issuer, X509 *subject)
{
	EVP_PKEY *pub = X509_get0_pubkey(issuer);
	int ok;

	ok = X509_check_issued(issuer, subject) == X509_V_OK && pub != NULL &&
	     X509_verify(subject, pub) == 1;
	ERR_clear_error();
	return ok;
}

enum ck_code
ck_chain_check(const unsigned char *leaf, size_t leaf_len, const struct ck_der_list *chain,
	       struct ck_err *err)
{
	X509 *prev = NULL, *cur = NULL;
	enum ck_code rc;
	size_t i;

	rc = crypto_x509_from_der(leaf, leaf_len, &prev, err);
	if (rc != CK_OK)
		return rc;
	for (i = 0; chain != NULL && i < chain->n; i++) {
		rc = crypto_x509_from_der(chain->items[i].data, chain->items[i].len, &cur, err);
		if (rc != CK_OK) {
			ck_err_prefix(err, "chain certificate %zu", i + 1);
			break;
		}
		if (!crypto_chain_link_ok(cur, prev)) {
			rc = CK_FAIL(err, CK_ERR_PARSE,
				     "chain certificate %zu did not issue %s; the chain is out of "
				     "order or incomplete",
				     i + 1, i == 0 ? "the leaf" : "the certificate before it");
			X509_free(cur);
			break;
		}
		X509_free(prev);
		prev = cur;
		cur = NULL;
	}
	X509_free(prev);
	return rc;
}
