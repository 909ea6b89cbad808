/*
 * bench_ca.h - what bench/gen_certs.c and bench/fleet_gen.c share: P-256
 * key generation, an extension added through OpenSSL's config syntax, and
 * the throw-away CA kept in DIR/ca.pem and DIR/ca.key between calls (so
 * every batch chains to the same CA).  Static functions, included by each
 * one-file program (`cc -std=c11 ... prog.c -lcrypto`, bench/store and
 * bench/fleet compile them so).  Never does: write outside DIR.
 */
#ifndef BENCH_CA_H
#define BENCH_CA_H

#include <stdio.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define DAY 86400L

/* A key generation context for EC P-256 keys (one for every key: a fresh
 * context per key costs OpenSSL 3 a provider fetch, more than the key). */
static EVP_PKEY_CTX *
bench_p256_keygen(void)
{
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

	if (kctx == NULL || EVP_PKEY_keygen_init(kctx) <= 0 ||
	    EVP_PKEY_CTX_set_group_name(kctx, "P-256") <= 0) {
		EVP_PKEY_CTX_free(kctx);
		return NULL;
	}
	return kctx;
}

/* Adds extension nid = value (OpenSSL config syntax) to subject; 1 if it did. */
static int
bench_add_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, subject, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(subject, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/*
 * A new certificate (v3) with serial, subject CN=cn, valid [nb, na) (UNIX
 * times), issued by ca (NULL: self-issued); the caller sets the key and
 * the extensions, then bench_cert_sign.  NULL if OpenSSL fails.
 */
static X509 *
bench_cert_new(const char *cn, long serial, time_t nb, time_t na, X509 *ca)
{
	X509 *x = X509_new();
	X509_NAME *name;

	if (x == NULL)
		return NULL;
	name = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
	    ASN1_TIME_set(X509_getm_notBefore(x), nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), na) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
					-1, 0) ||
	    !X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : name)) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* x signed with key (SHA-256) if ok; else, or if signing fails, x freed and NULL. */
static X509 *
bench_cert_sign(X509 *x, int ok, EVP_PKEY *key)
{
	if (ok && X509_sign(x, key, EVP_sha256()) > 0)
		return x;
	X509_free(x);
	return NULL;
}

/* The CA of an earlier call: 1 read, -1 none there yet (DIR/ca.pem missing),
 * 0 unreadable. */
static int
bench_ca_read(const char *dir, X509 **ca, EVP_PKEY **ca_key)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	*ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	*ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return *ca != NULL && *ca_key != NULL;
}

/* Keeps a new CA for later calls: DIR/ca.pem and DIR/ca.key; 1 if written. */
static int
bench_ca_write(const char *dir, X509 *ca, EVP_PKEY *ca_key)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	if ((f = fopen(path, "w")) == NULL)
		return 0;
	ok = PEM_write_X509(f, ca);
	ok = fclose(f) == 0 && ok;
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	if (!ok || (f = fopen(path, "w")) == NULL)
		return 0;
	ok = PEM_write_PrivateKey(f, ca_key, NULL, NULL, 0, NULL, NULL);
	return fclose(f) == 0 && ok;
}

#endif
