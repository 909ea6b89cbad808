/*
 * pkcs12.c - PKCS#12 in (the PFX part of the import parser) and out
 * (modern AES-256-CBC + HMAC-SHA256 MAC, or legacy 3DES + SHA-1 MAC for
 * Windows Server 2016 and older).  Owns the scoped use of OpenSSL's legacy
 * provider: it is loaded only into a private library context, made this
 * thread's default only while one legacy file is read, and everything read
 * is re-created in the normal context before the scope ends.  Never changes
 * what providers other code sees.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>

#include "crypto/crypto_int.h"

#define PFX_ITER 2048 /* PBKDF2 / PKCS#12 KDF iterations, also the MAC's */

/* What one PKCS#12 file held, as DER (the key is a secret PKCS#8 buffer). */
struct pfx_items {
	unsigned char *key_der;
	size_t key_len;
	struct ck_der_list certs;
};

static void
pfx_items_cleanup(struct pfx_items *it)
{
	ck_secure_free(it->key_der, it->key_len);
	it->key_der = NULL;
	it->key_len = 0;
	ck_der_list_cleanup(&it->certs);
}

static int
i2d_x509(const void *obj, unsigned char **pp)
{
	return i2d_X509((X509 *)obj, pp);
}

static enum ck_code
pfx_add_cert(struct pfx_items *it, X509 *x, struct ck_err *err)
{
	unsigned char *der = NULL;
	size_t len = 0;
	enum ck_code rc;

	rc = crypto_i2d(x, i2d_x509, 0, &der, &len, err);
	if (rc != CK_OK)
		return rc;
	rc = crypto_der_list_add(&it->certs, der, len, err);
	free(der);
	return rc;
}

/*
 * d2i + PKCS12_parse in whatever library context is this thread's default,
 * everything copied out as DER.  CK_ERR_CRYPTO when the contents could not
 * be decrypted (password or algorithm).
 */
static enum ck_code
pfx_read(const unsigned char *data, size_t len, const char *pass, struct pfx_items *it,
	 struct ck_err *err)
{
	const unsigned char *p = data;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
	STACK_OF(X509) *ca = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	enum ck_code rc = CK_OK;
	int i;

	if (p12 == NULL || !PKCS12_parse(p12, pass, &key, &cert, &ca)) {
		rc = CK_FAIL_SSL(err, "decrypting the PKCS#12 contents failed");
		goto out;
	}
	if (key != NULL)
		rc = ck_key_to_pkcs8_der(key, &it->key_der, &it->key_len, err);
	if (rc == CK_OK && cert != NULL)
		rc = pfx_add_cert(it, cert, err);
	for (i = 0; rc == CK_OK && i < sk_X509_num(ca); i++)
		rc = pfx_add_cert(it, sk_X509_value(ca, i), err);
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	return rc;
}

/* pfx_read with the legacy provider (RC2, 3DES, ...) in a private context. */
static enum ck_code
pfx_read_legacy(const unsigned char *data, size_t len, const char *pass, struct pfx_items *it,
		struct ck_err *err)
{
	OSSL_LIB_CTX *lctx = OSSL_LIB_CTX_new(), *prev;
	OSSL_PROVIDER *legacy = NULL, *deflt = NULL;
	enum ck_code rc;

	if (lctx != NULL) {
		legacy = OSSL_PROVIDER_load(lctx, "legacy");
		deflt = OSSL_PROVIDER_load(lctx, "default");
	}
	if (legacy == NULL || deflt == NULL) {
		rc = CK_FAIL(err, CK_ERR_UNSUPPORTED,
			     "this PKCS#12 file uses legacy encryption (RC2/3DES/RC4) and OpenSSL's "
			     "legacy provider is not available; nothing was imported: install it or "
			     "re-export the file with AES");
		goto out;
	}
	prev = OSSL_LIB_CTX_set0_default(lctx);
	rc = pfx_read(data, len, pass, it, err);
	OSSL_LIB_CTX_set0_default(prev);
out:
	ERR_clear_error();
	OSSL_PROVIDER_unload(deflt);
	OSSL_PROVIDER_unload(legacy);
	OSSL_LIB_CTX_free(lctx);
	return rc;
}

/* The password that opens p12's MAC (password, or "" / NULL when none given). */
static enum ck_code
pfx_mac_password(PKCS12 *p12, const char *password, const char **pass, struct ck_err *err)
{
	if (!PKCS12_mac_present(p12)) {
		*pass = password ? password : "";
		return CK_OK;
	}
	if (password != NULL && PKCS12_verify_mac(p12, password, -1)) {
		*pass = password;
		return CK_OK;
	}
	if (password == NULL && PKCS12_verify_mac(p12, "", 0)) {
		*pass = "";
		return CK_OK;
	}
	if (password == NULL && PKCS12_verify_mac(p12, NULL, 0)) {
		*pass = NULL;
		return CK_OK;
	}
	ERR_clear_error();
	if (password == NULL)
		return CK_FAIL(err, CK_ERR_BAD_PASSWORD,
			       "this PKCS#12 file needs a password; nothing was imported");
	return CK_FAIL(err, CK_ERR_BAD_PASSWORD,
		       "the password does not open this PKCS#12 file; nothing was imported");
}

enum ck_code
crypto_pkcs12_parse(const unsigned char *data, size_t len, const char *password,
		    struct ck_bundle *b, struct ck_err *err)
{
	struct pfx_items it = {0};
	const unsigned char *p = data;
	const char *pass = NULL;
	PKCS12 *p12;
	EVP_PKEY *key = NULL;
	enum ck_code rc;
	size_t i;

	p12 = d2i_PKCS12(NULL, &p, (long)len);
	if (p12 == NULL || p != data + len) {
		PKCS12_free(p12);
		ERR_clear_error();
		return CK_FAIL(err, CK_ERR_PARSE, "the input is not PEM, a DER certificate, a DER "
						  "PKCS#8 key or PKCS#12");
	}
	rc = pfx_mac_password(p12, password, &pass, err);
	PKCS12_free(p12);
	if (rc != CK_OK)
		return rc;
	rc = pfx_read(data, len, pass, &it, err);
	if (rc == CK_ERR_CRYPTO) {
		/* The password is right (MAC): the algorithms need the legacy provider. */
		pfx_items_cleanup(&it);
		rc = pfx_read_legacy(data, len, pass, &it, err);
		if (rc == CK_ERR_CRYPTO)
			rc = CK_FAIL(err, CK_ERR_BAD_PASSWORD,
				     "the PKCS#12 contents cannot be decrypted with this password "
				     "(or use an unknown algorithm); nothing was imported");
	}
	if (rc == CK_OK && it.key_der != NULL) {
		rc = ck_key_from_pkcs8_der(it.key_der, it.key_len, &key, err);
		if (rc == CK_OK)
			rc = crypto_bundle_add_key(b, key, err);
	}
	for (i = 0; rc == CK_OK && i < it.certs.n; i++) {
		if (b->nkeys + b->certs.n >= CK_BUNDLE_MAX_ITEMS)
			rc = CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %d items in one input; "
							    "nothing was imported", CK_BUNDLE_MAX_ITEMS);
		else
			rc = crypto_der_list_add(&b->certs, it.certs.items[i].data,
						 it.certs.items[i].len, err);
	}
	pfx_items_cleanup(&it);
	return rc;
}

/* The chain as a stack of X509 (NULL chain -> empty stack). */
static enum ck_code
pfx_chain(const struct ck_der_list *chain, STACK_OF(X509) **out, struct ck_err *err)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	enum ck_code rc = CK_OK;
	X509 *x;
	size_t i;

	if (sk == NULL)
		return CK_OOM(err);
	for (i = 0; chain != NULL && i < chain->n && rc == CK_OK; i++) {
		x = NULL;
		rc = crypto_x509_from_der(chain->items[i].data, chain->items[i].len, &x, err);
		if (rc == CK_OK && !sk_X509_push(sk, x)) {
			X509_free(x);
			rc = CK_OOM(err);
		}
	}
	if (rc != CK_OK) {
		sk_X509_pop_free(sk, X509_free);
		return rc;
	}
	*out = sk;
	return CK_OK;
}

static int
i2d_pkcs12(const void *obj, unsigned char **pp)
{
	return i2d_PKCS12((PKCS12 *)obj, pp);
}

enum ck_code
ck_pkcs12_create(EVP_PKEY *key, const unsigned char *cert, size_t cert_len,
		 const struct ck_der_list *chain, const char *password, const char *friendly_name,
		 enum ck_pfx_compat compat, unsigned char **der, size_t *len, struct ck_err *err)
{
	STACK_OF(X509) *ca = NULL;
	PKCS12 *p12 = NULL;
	X509 *x = NULL;
	const EVP_MD *mac_md;
	enum ck_code rc;
	int nid;

	if (password == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a PKCS#12 file needs a password");
	if (compat == CK_PFX_MODERN) {
		nid = NID_aes_256_cbc;
		mac_md = EVP_sha256();
	} else if (compat == CK_PFX_LEGACY) {
		/* 3DES and the PKCS#12 KDF are in the default provider: no legacy provider. */
		nid = NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
		mac_md = EVP_sha1();
	} else {
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "unknown PKCS#12 compatibility %d",
			       (int)compat);
	}
	rc = crypto_x509_from_der(cert, cert_len, &x, err);
	if (rc == CK_OK)
		rc = pfx_chain(chain, &ca, err);
	if (rc != CK_OK)
		goto out;
	if (key != NULL && X509_check_private_key(x, key) != 1) {
		ERR_clear_error();
		rc = CK_FAIL(err, CK_ERR_KEY_MISMATCH, "the private key does not match the "
						       "certificate; no PKCS#12 file was made");
		goto out;
	}
	p12 = PKCS12_create_ex(password, friendly_name, key, x, ca, nid, nid, PFX_ITER, -1, 0, NULL,
			       NULL);
	if (p12 == NULL || !PKCS12_set_mac(p12, password, -1, NULL, 0, PFX_ITER, mac_md)) {
		rc = CK_FAIL_SSL(err, "making the PKCS#12 file failed");
		goto out;
	}
	rc = crypto_i2d(p12, i2d_pkcs12, 1, der, len, err);
out:
	PKCS12_free(p12);
	sk_X509_pop_free(ca, X509_free);
	X509_free(x);
	return rc;
}
