/*
 * render.h - the bytes a certificate leaves the store as, shared by export
 * and the deploy targets: the PEM set (cert.pem, chain.pem, fullchain.pem,
 * privkey.pem), the full chain, the combined PEM HAProxy reads (leaf, chain,
 * key) and PKCS#12.  Pure functions: inputs in, bytes appended to a
 * caller's bounded buffer; no file system, no store, no globals.  Key
 * material only ever lands in a buffer the caller made secret
 * (ck_buf_init_secret), so it is wiped with the buffer.
 */
#ifndef CK_CRYPTO_RENDER_H
#define CK_CRYPTO_RENDER_H

#include "crypto/crypto.h"

/* Appends the leaf certificate as PEM (the contents of cert.pem). */
enum ck_code ck_render_cert_pem(const unsigned char *leaf, size_t leaf_len, struct ck_buf *out,
				struct ck_err *err);
/* Appends every chain certificate as PEM, in order (chain.pem); NULL or an
 * empty chain appends nothing. */
enum ck_code ck_render_chain_pem(const struct ck_der_list *chain, struct ck_buf *out,
				 struct ck_err *err);
/* Appends leaf then chain (fullchain.pem: what nginx's ssl_certificate reads). */
enum ck_code ck_render_fullchain(const unsigned char *leaf, size_t leaf_len,
				 const struct ck_der_list *chain, struct ck_buf *out,
				 struct ck_err *err);
/* Appends the private key as unencrypted PKCS#8 PEM (privkey.pem) / DER.
 * out must be a secret buffer. */
enum ck_code ck_render_key_pem(EVP_PKEY *key, struct ck_buf *out, struct ck_err *err);
enum ck_code ck_render_key_der(EVP_PKEY *key, struct ck_buf *out, struct ck_err *err);
/*
 * Appends the combined PEM: leaf, chain, key (the order HAProxy's `crt`
 * and `set ssl cert` read, and export's single PEM file).  key may be NULL
 * (certificate-only: leaf and chain).  out must be secret when key is set.
 */
enum ck_code ck_render_combined(EVP_PKEY *key, const unsigned char *leaf, size_t leaf_len,
				const struct ck_der_list *chain, struct ck_buf *out,
				struct ck_err *err);
/*
 * Appends a PKCS#12 file (ck_pkcs12_create: modern AES-256/SHA-256, or
 * legacy 3DES/SHA-1 for old Windows and Java keystores).  key may be NULL
 * (certificate only); password must not be NULL ("" makes an unprotected
 * file); friendly_name may be NULL.  out should be secret.
 */
enum ck_code ck_render_pkcs12(EVP_PKEY *key, const unsigned char *leaf, size_t leaf_len,
			      const struct ck_der_list *chain, const char *password,
			      const char *friendly_name, enum ck_pfx_compat compat,
			      struct ck_buf *out, struct ck_err *err);

/* The four files of a PEM set, each its own buffer (privkey secret). */
struct ck_render_set {
	struct ck_buf cert;
	struct ck_buf chain;
	struct ck_buf fullchain;
	struct ck_buf privkey;
};
/*
 * Renders the PEM set for key (NULL: privkey stays empty), leaf and chain
 * into *out, each buffer bounded by max.  On failure *out is cleaned (all
 * buffers empty).  Release with ck_render_set_cleanup (wipes privkey).
 */
enum ck_code ck_render_pem_set(EVP_PKEY *key, const unsigned char *leaf, size_t leaf_len,
			       const struct ck_der_list *chain, size_t max,
			       struct ck_render_set *out, struct ck_err *err);
void ck_render_set_cleanup(struct ck_render_set *s);

#endif
