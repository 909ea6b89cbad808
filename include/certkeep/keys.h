/*
 * certkeep/keys.h - the key and certificate types the public API names:
 * key types, lists of DER certificates, PKCS#12 flavours.  Keys
 * themselves are OpenSSL's EVP_PKEY (OpenSSL 3 is a public dependency).
 */
#ifndef CERTKEEP_KEYS_H
#define CERTKEEP_KEYS_H

#include <stddef.h>

#include <openssl/evp.h>

#include <certkeep/error.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ck_key_type {
	CK_KEY_NONE = 0,
	CK_KEY_EC256 = 1,
	CK_KEY_EC384 = 2,
	CK_KEY_RSA2048 = 3,
	CK_KEY_RSA3072 = 4,
	CK_KEY_RSA4096 = 5,
	CK_KEY_ED25519 = 6,
};

/* "ec256", "ec384", "rsa2048", "rsa3072", "rsa4096", "ed25519" (also "p256", "p384", "rsa"=2048). */
CK_API enum ck_code ck_key_type_parse(const char *s, enum ck_key_type *out, struct ck_err *err);
/* Canonical name, e.g. "ec256"; "unknown" for others. */
CK_API const char *ck_key_type_name(enum ck_key_type t);
/* A new private key of type t (CK_KEY_NONE is CK_ERR_INVALID_ARG); free it
 * with EVP_PKEY_free. */
CK_API enum ck_code ck_key_generate(enum ck_key_type t, EVP_PKEY **out, struct ck_err *err);

/* A list of DER blobs (certificates). */
struct ck_der {
	unsigned char *data;
	size_t len;
};
struct ck_der_list {
	struct ck_der *items;
	size_t n;
};
CK_API void ck_der_list_cleanup(struct ck_der_list *l);

/* PKCS#12 (PFX) flavours of ck_store_export. */
enum ck_pfx_compat {
	CK_PFX_MODERN = 0,   /* PBES2 AES-256-CBC, HMAC-SHA256 MAC */
	CK_PFX_LEGACY = 1,   /* pbeWithSHAAnd3-KeyTripleDES-CBC, SHA-1 MAC (Windows Server 2016 and older) */
};

#ifdef __cplusplus
}
#endif
#endif
