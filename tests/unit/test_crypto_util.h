/*
 * test_crypto_util.h - helpers for the crypto unit tests: certificates made
 * with OpenSSL directly (so the code under test is not used to make its own
 * fixtures), temp directories, files, and the openssl CLI through popen.
 * Everything is static inline so each test binary takes what it uses.
 */
#ifndef CK_TEST_CRYPTO_UTIL_H
#define CK_TEST_CRYPTO_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"

/* A certificate for key, issued by (issuer_cert, issuer_key) or self-signed
 * when issuer_cert is NULL.  san may be NULL ("DNS:a,IP:1.2.3.4" syntax). */
static inline X509 *
t_make_cert(EVP_PKEY *key, X509 *issuer_cert, EVP_PKEY *issuer_key, const char *cn, int ca,
	    const char *san, long serial, time_t nb, time_t na)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	EVP_PKEY *signer = issuer_cert ? issuer_key : key;
	const EVP_MD *md = EVP_PKEY_get_base_id(signer) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"certkeep test",
				   -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer_cert ? X509_get_subject_name(issuer_cert) : name);
	X509_NAME_free(name);
	ASN1_TIME_set(X509_getm_notBefore(x), nb);
	ASN1_TIME_set(X509_getm_notAfter(x), na);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, issuer_cert ? issuer_cert : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
				  ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (issuer_cert != NULL) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (san != NULL) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
		assert_non_null(ext);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, signer, md) > 0);
	return x;
}

/* DER of a certificate (malloc'd). */
static inline unsigned char *
t_cert_der(X509 *x, size_t *len)
{
	int n = i2d_X509(x, NULL);
	unsigned char *der = malloc((size_t)n), *p = der;

	assert_non_null(der);
	assert_int_equal(i2d_X509(x, &p), n);
	*len = (size_t)n;
	return der;
}

/* A simple self-signed certificate's DER for key. */
static inline unsigned char *
t_self_signed_der(EVP_PKEY *key, const char *cn, size_t *len)
{
	X509 *x = t_make_cert(key, NULL, NULL, cn, 0, "DNS:example.com", 1, 1700000000,
			      1900000000);
	unsigned char *der = t_cert_der(x, len);

	X509_free(x);
	return der;
}

static inline EVP_PKEY *
t_key(enum ck_key_type t)
{
	EVP_PKEY *k = NULL;

	assert_int_equal(ck_key_generate(t, &k, NULL), CK_OK);
	return k;
}

/* A PEM text growing by appends (malloc'd, NUL-terminated). */
struct t_text {
	char *s;
	size_t len;
};

static inline void
t_text_add(struct t_text *t, const char *s, size_t n)
{
	t->s = realloc(t->s, t->len + n + 1);
	assert_non_null(t->s);
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static inline void
t_text_add_bio(struct t_text *t, BIO *bio)
{
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);

	t_text_add(t, data, (size_t)n);
}

static inline void
t_text_add_cert(struct t_text *t, X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());

	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	t_text_add_bio(t, bio);
	BIO_free(bio);
}

static inline void
t_text_add_key(struct t_text *t, EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());

	assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
	t_text_add_bio(t, bio);
	BIO_free(bio);
}

static inline char *
t_mkdtemp(void)
{
	char *dir = strdup("/tmp/ck-crypto-test-XXXXXX");

	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static inline void
t_write(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static inline unsigned char *
t_read(const char *dir, const char *name, size_t *len)
{
	char path[512];
	unsigned char *data = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(ck_file_read(path, CK_PEM_MAX, &data, len, NULL), CK_OK);
	return data;
}

/* Runs a shell command (built by the test from fixed strings) and returns its
 * stdout+stderr (malloc'd); *status gets the exit status. */
static inline char *t_run(int *status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline char *
t_run(int *status, const char *fmt, ...)
{
	char cmd[2048], buf[4096];
	struct t_text out = {0};
	va_list ap;
	FILE *p;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	t_text_add(&out, "", 0);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		t_text_add(&out, buf, n);
	*status = pclose(p);
	return out.s;
}

static inline void
t_rmdir(char *dir)
{
	int st;

	free(t_run(&st, "rm -rf '%s'", dir));
	free(dir);
}

#endif
