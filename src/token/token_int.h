/*
 * token_int.h - inside the token module: turning the public-key
 * attributes a PKCS#11 module returns into an OpenSSL public key.  Kept
 * apart from pkcs11.c so that file alone sees <p11-kit/pkcs11.h> (whose
 * compatibility macros rename words such as "value" and "count").
 *
 * Must never: hand-write ASN.1 beyond unwrapping CKA_EC_POINT's OCTET
 * STRING with d2i_ASN1_OCTET_STRING, or accept a point not on its curve.
 */
#ifndef CK_TOKEN_INT_H
#define CK_TOKEN_INT_H

#include <stddef.h>

#include <openssl/evp.h>

#include "core/core.h"

/*
 * An EC or EdDSA public key from CKA_EC_PARAMS (DER: a named-curve OID,
 * or a PrintableString "edwards25519"/"edwards448") and CKA_EC_POINT (DER
 * OCTET STRING around the point; a raw point is accepted too).
 * CK_ERR_UNSUPPORTED for explicit curve parameters or unknown curves,
 * CK_ERR_PARSE for a malformed or off-curve point.
 */
enum ck_code tok_pkey_ec(const unsigned char *ec_params, size_t plen, const unsigned char *point,
			 size_t ptlen, int edwards, EVP_PKEY **out, struct ck_err *err);
/* An RSA public key from CKA_MODULUS and CKA_PUBLIC_EXPONENT (big-endian). */
enum ck_code tok_pkey_rsa(const unsigned char *n, size_t nlen, const unsigned char *e,
			  size_t elen, EVP_PKEY **out, struct ck_err *err);

/* Makes a token RSA signer use CKM_RSA_PKCS over a host-built DigestInfo
 * as it does on a token without CKM_SHA256_RSA_PKCS (for tests). */
struct ck_signer;
void tok_signer_no_combined(struct ck_signer *s);

#endif
