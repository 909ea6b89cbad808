/*
 * crypto_int.h - helpers shared between the crypto module's files.  Not part
 * of the module's contract (crypto.h is); nothing outside src/crypto/ may
 * include this.
 */
#ifndef CK_CRYPTO_INT_H
#define CK_CRYPTO_INT_H

#include <openssl/pkcs12.h>

#include "crypto/crypto.h"

/* Full DER encoding of an OpenSSL object into a malloc'd buffer (free() or
 * ck_secure_free()).  i2d is one of the i2d_* functions cast to this type. */
typedef int (*crypto_i2d_fn)(const void *obj, unsigned char **pp);
enum ck_code crypto_i2d(const void *obj, crypto_i2d_fn i2d, int secret, unsigned char **der,
			size_t *len, struct ck_err *err);

/* Longest public point crypto_pubkey_fill copies (P-384 uncompressed: 97). */
#define CRYPTO_PUBKEY_POINT_MAX 133
/*
 * Sets pub to key's public half without OpenSSL 3.0's encoder, for EC
 * P-256/P-384 and Ed25519 keys: 1 if set (the same DER i2d_PUBKEY writes),
 * 0 if key is of another type or its parameters cannot be read, pub then
 * untouched: the caller takes the encoder path (X509_PUBKEY_set).
 */
int crypto_pubkey_fill(EVP_PKEY *key, X509_PUBKEY *pub);
/*
 * The named curve (NID_X9_62_prime256v1 or NID_secp384r1) of an EC key and
 * its encoded public point (*ptlen in: room, out: length); NID_undef for
 * another curve or a key with explicit parameters.
 */
int crypto_ec_named_point(EVP_PKEY *key, unsigned char *pt, size_t *ptlen);
/*
 * key's PKCS#8 PrivateKeyInfo without OpenSSL 3.0's encoder, for EC
 * P-256/P-384 and Ed25519 keys (pkcs8_lite.c): the same DER EVP_PKEY2PKCS8
 * writes; NULL for any other key, or when it fails (the caller then takes
 * the encoder path, which says why).
 */
PKCS8_PRIV_KEY_INFO *crypto_pkcs8_lite(EVP_PKEY *key);

/* A certificate from DER that must be consumed whole. */
enum ck_code crypto_x509_from_der(const unsigned char *der, size_t len, X509 **out,
				  struct ck_err *err);

/*
 * crypto_x509_from_der through this thread's cache of the last few
 * certificates decoded (x509_cache.c): *out is shared with the cache, so
 * it must only be read, never changed; X509_free it as usual.
 */
enum ck_code crypto_x509_shared(const unsigned char *der, size_t len, X509 **out,
				struct ck_err *err);
/*
 * The leaf der for ck_chain_checker_leaf, through the same cache: when
 * known (may be NULL) describes its key, *out may be "lite", its public key
 * left undecoded (X509_get0_pubkey answers NULL), and key_desc is then its
 * key's description; else key_desc is "" and *out is crypto_x509_shared's.
 * A lite X509 may be read for its names, serial, validity, extensions and
 * SPKI bytes, and be the subject of crypto_chain_link_ok; never an issuer.
 */
enum ck_code crypto_x509_leaf(const unsigned char *der, size_t len,
			      const struct ck_known_spki *known, X509 **out,
			      char key_desc[CK_KEY_DESC_MAX], struct ck_err *err);
/* Empties this thread's certificate cache (tests; a thread's cache is also
 * freed when the thread exits). */
void crypto_x509_cache_clear(void);
/*
 * 1 when this thread's cache holds the certificate der and
 * crypto_x509_link_note said signer (exact bytes) signed it; 0 otherwise.
 * Note only after crypto_chain_link_ok(signer, der) returned 1.
 */
int crypto_x509_link_known(const unsigned char *der, size_t len, const unsigned char *signer,
			   size_t signer_len);
void crypto_x509_link_note(const unsigned char *der, size_t len, const unsigned char *signer,
			   size_t signer_len);

/* ck_cert_info_from_der's facts of x, parsed from der (len bytes); the key's
 * description is key_desc when that is not NULL or "" (a lite X509). */
enum ck_code crypto_cert_info_from_x509(X509 *x, const unsigned char *der, size_t len,
					const char *key_desc, struct ck_cert_info *out,
					struct ck_err *err);
/* 1 if issuer issued and signed subject (names and signature). */
int crypto_chain_link_ok(X509 *issuer, X509 *subject);

/* Appends a copy of der to l, bounded by CK_BUNDLE_MAX_ITEMS. */
enum ck_code crypto_der_list_add(struct ck_der_list *l, const unsigned char *der, size_t len,
				 struct ck_err *err);

/* Appends key (taking it) to b->keys, bounded by CK_BUNDLE_MAX_ITEMS. */
enum ck_code crypto_bundle_add_key(struct ck_bundle *b, EVP_PKEY *key, struct ck_err *err);

/*
 * Every block of a PEM text into b (certificates and private keys, see
 * ck_bundle_parse).  With certs_only, any block but CERTIFICATE is
 * CK_ERR_PARSE (keys are not even decoded); with CRYPTO_PEM_CERTS_UNPARSED
 * as certs_only, the certificates are not parsed either (ck_pem_certs_split).
 */
#define CRYPTO_PEM_CERTS_UNPARSED 2
enum ck_code crypto_pem_parse(const unsigned char *data, size_t len, const char *password,
			      int certs_only, struct ck_bundle *b, struct ck_err *err);

/* The PKCS#12 part of ck_bundle_parse (pkcs12.c). */
enum ck_code crypto_pkcs12_parse(const unsigned char *data, size_t len, const char *password,
				 struct ck_bundle *b, struct ck_err *err);

/* DER ECDSA-Sig-Value -> fixed-width r||s (out: 2 * half bytes), and back
 * (*der malloc'd), both through OpenSSL's ECDSA_SIG (signer.c). */
enum ck_code crypto_ecdsa_der_to_raw(const unsigned char *der, size_t len, size_t half,
				     unsigned char *out, struct ck_err *err);
enum ck_code crypto_ecdsa_raw_to_der(const unsigned char *raw, size_t half, unsigned char **der,
				     size_t *len, struct ck_err *err);

/* ck_jws_alg of the signer's key, worked out once for a software signer
 * (its curve lookup costs as much as a JWS's JSON) (signer.c). */
const char *crypto_signer_jws_alg(const struct ck_signer *s);

#endif
