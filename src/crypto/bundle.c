/*
 * bundle.c - the import parser: what one input file holds (certificates and
 * private keys), whether PEM, DER or PKCS#12.  Owns the sniffing and the PEM
 * block rules: known blocks are read, EC PARAMETERS skipped, anything else
 * rejected by name.  Never prompts for a password (no tty callback) and
 * never returns part of an input: it is all imported or none of it.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "crypto/crypto_int.h"

#define PEM_BLOCKS_MAX (4 * CK_BUNDLE_MAX_ITEMS) /* incl. skipped EC PARAMETERS */

void
ck_bundle_cleanup(struct ck_bundle *b)
{
	size_t i;

	if (b == NULL)
		return;
	ck_der_list_cleanup(&b->certs);
	for (i = 0; i < b->nkeys; i++)
		EVP_PKEY_free(b->keys[i]);
	free(b->keys);
	b->keys = NULL;
	b->nkeys = 0;
}

enum ck_code
crypto_bundle_add_key(struct ck_bundle *b, EVP_PKEY *key, struct ck_err *err)
{
	EVP_PKEY **keys;

	if (b->nkeys + b->certs.n >= CK_BUNDLE_MAX_ITEMS) {
		EVP_PKEY_free(key);
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %d items in one input; nothing "
						      "was imported", CK_BUNDLE_MAX_ITEMS);
	}
	keys = realloc(b->keys, (b->nkeys + 1) * sizeof(*keys));
	if (keys == NULL) {
		EVP_PKEY_free(key);
		return CK_OOM(err);
	}
	b->keys = keys;
	b->keys[b->nkeys++] = key;
	return CK_OK;
}

/* A certificate's DER into b: parsed first unless `unparsed` (the caller
 * parses it later: CRYPTO_PEM_CERTS_UNPARSED). */
static enum ck_code
bundle_add_cert(struct ck_bundle *b, const unsigned char *der, size_t len, int unparsed,
		struct ck_err *err)
{
	X509 *x = NULL;
	enum ck_code rc;

	if (b->nkeys + b->certs.n >= CK_BUNDLE_MAX_ITEMS)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %d items in one input; nothing "
						      "was imported", CK_BUNDLE_MAX_ITEMS);
	if (!unparsed) {
		if ((rc = crypto_x509_from_der(der, len, &x, err)) != CK_OK)
			return rc;
		X509_free(x);
	}
	return crypto_der_list_add(&b->certs, der, len, err);
}

/* Hands the password to OpenSSL; never asks a terminal. */
static int
pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pw = u;
	size_t n;

	(void)rwflag;
	if (pw == NULL || size <= 0)
		return -1;
	n = strlen(pw);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, pw, n);
	return (int)n;
}

static enum ck_code
pem_encrypted_pkcs8(const unsigned char *data, long len, const char *password, EVP_PKEY **out,
		    struct ck_err *err)
{
	const unsigned char *p = data;
	X509_SIG *sig = d2i_X509_SIG(NULL, &p, len);
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	EVP_PKEY *key = NULL;
	enum ck_code rc = CK_OK;

	if (sig == NULL || p != data + len) {
		rc = CK_FAIL(err, CK_ERR_PARSE, "the ENCRYPTED PRIVATE KEY block is malformed");
	} else if (password == NULL) {
		rc = CK_FAIL(err, CK_ERR_BAD_PASSWORD, "the private key is encrypted and no password "
						       "was given; nothing was imported");
	} else if ((p8 = PKCS8_decrypt(sig, password, (int)strlen(password))) == NULL) {
		rc = CK_FAIL(err, CK_ERR_BAD_PASSWORD, "the password does not open the encrypted "
						       "private key; nothing was imported");
	} else if ((key = EVP_PKCS82PKEY(p8)) == NULL) {
		rc = CK_FAIL(err, CK_ERR_PARSE, "the decrypted private key is not usable");
	}
	ERR_clear_error();
	PKCS8_PRIV_KEY_INFO_free(p8);
	X509_SIG_free(sig);
	if (rc == CK_OK)
		*out = key;
	return rc;
}

/* "RSA PRIVATE KEY" / "EC PRIVATE KEY", possibly with a Proc-Type encryption header. */
static enum ck_code
pem_traditional(int type, const char *header, unsigned char *data, long len,
		const char *password, EVP_PKEY **out, struct ck_err *err)
{
	EVP_CIPHER_INFO ci;
	const unsigned char *p;
	EVP_PKEY *key;

	if (!PEM_get_EVP_CIPHER_INFO((char *)header, &ci)) {
		ERR_clear_error();
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "the private key's PEM encryption header "
							"names a cipher this build cannot use");
	}
	if (ci.cipher != NULL && password == NULL)
		return CK_FAIL(err, CK_ERR_BAD_PASSWORD, "the private key is encrypted and no "
							 "password was given; nothing was imported");
	if (ci.cipher != NULL && !PEM_do_header(&ci, data, &len, pem_pass_cb, (void *)password)) {
		ERR_clear_error();
		return CK_FAIL(err, CK_ERR_BAD_PASSWORD, "the password does not open the encrypted "
							 "private key; nothing was imported");
	}
	p = data;
	key = d2i_PrivateKey(type, NULL, &p, len);
	if (key == NULL || p != data + len) {
		EVP_PKEY_free(key);
		ERR_clear_error();
		/* This encryption has no integrity check: a wrong password gives
		 * valid padding about once in 256 tries, and garbage. */
		if (ci.cipher != NULL)
			return CK_FAIL(err, CK_ERR_BAD_PASSWORD,
				       "the password does not open the encrypted private key (or "
				       "the file is damaged); nothing was imported");
		return CK_FAIL(err, CK_ERR_PARSE, "the %s private key is malformed",
			       type == EVP_PKEY_RSA ? "RSA" : "EC");
	}
	*out = key;
	return CK_OK;
}

/* One PEM block into b.  Key material in data is wiped by the caller. */
static enum ck_code
pem_block(const char *name, const char *header, unsigned char *data, long len,
	  const char *password, int certs_only, struct ck_bundle *b, struct ck_err *err)
{
	char shown[48];
	EVP_PKEY *key = NULL;
	enum ck_code rc;

	if (strcmp(name, "CERTIFICATE") == 0)
		return bundle_add_cert(b, data, (size_t)len,
				       certs_only == CRYPTO_PEM_CERTS_UNPARSED, err);
	if (certs_only) {
		ck_str_printable(shown, sizeof(shown), name);
		return CK_FAIL(err, CK_ERR_PARSE,
			       "PEM block \"%s\" where only certificates belong; nothing was read",
			       shown);
	}
	if (strcmp(name, "EC PARAMETERS") == 0)
		return CK_OK;
	if (strcmp(name, "PRIVATE KEY") == 0)
		rc = ck_key_from_pkcs8_der(data, (size_t)len, &key, err);
	else if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0)
		rc = pem_encrypted_pkcs8(data, len, password, &key, err);
	else if (strcmp(name, "RSA PRIVATE KEY") == 0)
		rc = pem_traditional(EVP_PKEY_RSA, header, data, len, password, &key, err);
	else if (strcmp(name, "EC PRIVATE KEY") == 0)
		rc = pem_traditional(EVP_PKEY_EC, header, data, len, password, &key, err);
	else {
		ck_str_printable(shown, sizeof(shown), name);
		return CK_FAIL(err, CK_ERR_PARSE,
			       "PEM block \"%s\" is not a certificate or private key this build "
			       "reads; nothing was imported", shown);
	}
	if (rc != CK_OK)
		return rc;
	return crypto_bundle_add_key(b, key, err);
}

enum ck_code
crypto_pem_parse(const unsigned char *data, size_t len, const char *password, int certs_only,
		 struct ck_bundle *b, struct ck_err *err)
{
	char *name = NULL, *header = NULL;
	unsigned char *body = NULL;
	long blen = 0;
	size_t blocks = 0;
	enum ck_code rc = CK_OK;
	unsigned long e;
	BIO *bio;

	if (len > CK_PEM_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "input of %zu bytes is over the limit of %d",
			       len, CK_PEM_MAX);
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio == NULL)
		return CK_OOM(err);
	ERR_clear_error();
	while (rc == CK_OK) {
		if (!PEM_read_bio(bio, &name, &header, &body, &blen)) {
			e = ERR_peek_last_error();
			ERR_clear_error();
			if (ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
				rc = CK_FAIL(err, CK_ERR_PARSE, "PEM block %zu is malformed (bad "
								"base64 or missing END line)",
					     blocks + 1);
			break;
		}
		if (++blocks > PEM_BLOCKS_MAX)
			rc = CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %d PEM blocks in one input",
				     PEM_BLOCKS_MAX);
		else
			rc = pem_block(name, header, body, blen, password, certs_only, b, err);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_clear_free(body, blen > 0 ? (size_t)blen : 0);
		name = header = NULL;
		body = NULL;
	}
	BIO_free(bio);
	if (rc == CK_OK && blocks == 0)
		rc = CK_FAIL(err, CK_ERR_PARSE, "the input has no PEM block");
	return rc;
}

/* DER: one certificate, one unencrypted PKCS#8 key, or PKCS#12. */
static enum ck_code
bundle_der(const unsigned char *data, size_t len, const char *password, struct ck_bundle *b,
	   struct ck_err *err)
{
	const unsigned char *p = data;
	PKCS8_PRIV_KEY_INFO *p8;
	X509 *x = NULL;
	EVP_PKEY *key = NULL;
	enum ck_code rc;

	if (crypto_x509_from_der(data, len, &x, NULL) == CK_OK) {
		X509_free(x);
		return crypto_der_list_add(&b->certs, data, len, err);
	}
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	PKCS8_PRIV_KEY_INFO_free(p8);
	ERR_clear_error();
	if (p8 != NULL && p == data + len) {
		rc = ck_key_from_pkcs8_der(data, len, &key, err);
		if (rc != CK_OK)
			return rc;
		return crypto_bundle_add_key(b, key, err);
	}
	return crypto_pkcs12_parse(data, len, password, b, err);
}

enum ck_code
ck_bundle_parse(const unsigned char *data, size_t len, const char *password,
		struct ck_bundle *out, struct ck_err *err)
{
	struct ck_bundle b = {0};
	enum ck_code rc;

	if (data == NULL || len == 0)
		return CK_FAIL(err, CK_ERR_PARSE, "the input is empty");
	if (len > CK_PEM_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "input of %zu bytes is over the limit of %d; "
						      "nothing was imported", len, CK_PEM_MAX);
	if (memmem(data, len, "-----BEGIN ", 11) != NULL)
		rc = crypto_pem_parse(data, len, password, 0, &b, err);
	else if (data[0] == 0x30)
		rc = bundle_der(data, len, password, &b, err);
	else
		rc = CK_FAIL(err, CK_ERR_PARSE, "the input is neither PEM nor DER (certificate, "
						"PKCS#8 key or PKCS#12)");
	if (rc == CK_OK && b.certs.n == 0 && b.nkeys == 0)
		rc = CK_FAIL(err, CK_ERR_PARSE, "the input holds no certificate and no private key");
	if (rc != CK_OK) {
		ck_bundle_cleanup(&b);
		return rc;
	}
	*out = b;
	return CK_OK;
}
