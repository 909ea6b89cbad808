/*
 * crypto.h - keys, base64url, JWK/JWS, CSR, X.509 facts, PEM/DER/PKCS#12
 * parsing and writing.  Built on OpenSSL 3; knows nothing of ACME, HTTP or
 * the store.  Private keys stay inside EVP_PKEY; any serialized form is a
 * secret buffer the caller wipes with ck_secure_free(p, len).
 */
#ifndef CK_CRYPTO_H
#define CK_CRYPTO_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <certkeep/keys.h> /* key types, DER lists, PFX flavours: public */

#include "core/core.h"

/* Named maxima for outside data. */
#define CK_PEM_MAX (1024 * 1024)       /* one PEM/DER/PKCS#12 input */
#define CK_BUNDLE_MAX_ITEMS 64         /* certificates + keys in one input */
#define CK_CSR_MAX_NAMES 100           /* identifiers in one CSR (RFC 8555 servers allow ~100) */
#define CK_NAME_MAX 253                /* one DNS name */

/* ---- base64url (RFC 4648 section 5, no padding) ------------------------ */

/* *out is NUL-terminated; free with free(). */
enum ck_code ck_b64url_encode(const unsigned char *in, size_t len, char **out, struct ck_err *err);
/* Accepts no padding and no whitespace; rejects any non-alphabet byte.
 * *out is NUL-terminated (not counted in *outlen); free with free(). */
enum ck_code ck_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen,
			      struct ck_err *err);

/* ---- keys ----------------------------------------------------------- */

/* Type of an existing key (public or private); CK_KEY_NONE if none of ours
 * (e.g. RSA 1024 - such keys can still be imported, named by ck_key_describe). */
enum ck_key_type ck_key_type_of(EVP_PKEY *key);
/* Human description: "EC P-256", "RSA 2048", "Ed25519", "RSA 1024" ... into out. */
void ck_key_describe(EVP_PKEY *key, char *out, size_t n);

/* Private key as unencrypted PKCS#8 DER (secret) / PEM (secret, NUL-terminated). */
enum ck_code ck_key_to_pkcs8_der(EVP_PKEY *key, unsigned char **der, size_t *len,
				 struct ck_err *err);
enum ck_code ck_key_to_pem(EVP_PKEY *key, char **pem, size_t *len, struct ck_err *err);
enum ck_code ck_key_from_pkcs8_der(const unsigned char *der, size_t len, EVP_PKEY **out,
				   struct ck_err *err);
/* A key from a PEM file's contents (PKCS#8, encrypted PKCS#8 with password,
 * traditional RSA/EC, plain or with a Proc-Type encryption header).  Wrong
 * or missing password -> CK_ERR_BAD_PASSWORD; never prompts on a tty.
 * CERTIFICATE and EC PARAMETERS blocks are skipped; no key or more than
 * one -> CK_ERR_PARSE. */
enum ck_code ck_key_from_pem(const char *pem, size_t len, const char *password, EVP_PKEY **out,
			     struct ck_err *err);

/*
 * A reader that checks many stored keys quickly (key_reader.c): its
 * decoders are built once.  ck_key_reader_matches returns 1 only if p8 (a
 * PKCS#8 DER private key, read whole) has exactly the public key of spki
 * (SubjectPublicKeyInfo DER); 0 means "not proven": decide with
 * ck_key_from_pkcs8_der and ck_key_spki_sha256.  Free with
 * ck_key_reader_free (NULL is a no-op).
 */
struct ck_key_reader;
enum ck_code ck_key_reader_new(struct ck_key_reader **out, struct ck_err *err);
int ck_key_reader_matches(struct ck_key_reader *r, const unsigned char *p8, size_t p8_len,
			  const unsigned char *spki, size_t spki_len);
void ck_key_reader_free(struct ck_key_reader *r);

/* SubjectPublicKeyInfo DER of a key (free with free()). */
enum ck_code ck_key_spki_der(EVP_PKEY *key, unsigned char **der, size_t *len,
			     struct ck_err *err);
/* Lower-case hex SHA-256 of the SPKI DER: the link identity between keys and certificates. */
enum ck_code ck_key_spki_sha256(EVP_PKEY *key, char out[65], struct ck_err *err);
/*
 * SHA-1 of the key's subjectPublicKey BIT STRING (RFC 5280 4.2.1.2, method
 * 1: the subjectKeyIdentifier OpenSSL writes): the CKA_ID certkeep gives
 * the key pairs it makes on a token and their certificate objects.
 */
enum ck_code ck_key_id_sha1(EVP_PKEY *key, unsigned char out[20], struct ck_err *err);
/* A public-only EVP_PKEY from SPKI DER. */
enum ck_code ck_key_from_spki_der(const unsigned char *der, size_t len, EVP_PKEY **out,
				  struct ck_err *err);
/* 1 if the two keys have the same public part. */
int ck_key_public_equal(EVP_PKEY *a, EVP_PKEY *b);

/*
 * DER -> PEM text under "-----BEGIN label-----" (e.g. "CERTIFICATE",
 * "CERTIFICATE REQUEST"), 64-column base64 by OpenSSL's PEM writer: the one
 * DER-to-PEM encoder.  Does not parse der (callers that must know it is a
 * certificate parse it first).  *pem is NUL-terminated, *pem_len (may be
 * NULL) its length without the NUL; free with free().  An empty or
 * over-CK_PEM_MAX der -> CK_ERR_INVALID_ARG; CK_ERR_NOMEM; CK_ERR_CRYPTO.
 */
enum ck_code ck_der_to_pem(const char *label, const unsigned char *der, size_t len, char **pem,
			   size_t *pem_len, struct ck_err *err);

/* Lower-case hex of SHA-256 / SHA-1 over data (out of 65 / 41 bytes). */
void ck_sha256_hex(const unsigned char *data, size_t len, char out[65]);
void ck_sha1_hex(const unsigned char *data, size_t len, char out[41]);

/* ---- signers: one interface over a software key and a token key ------- */

struct ck_signer;
struct ck_signer_ops {
	/*
	 * Signs msg (len bytes) hashed with md (NULL for Ed25519, which signs
	 * the message itself).  *sig (malloc'd, free()) is in one form for
	 * every implementation: ECDSA raw r||s of twice the field size (what
	 * JOSE wants), RSA PKCS#1 v1.5, Ed25519's 64 bytes.
	 */
	enum ck_code (*sign)(struct ck_signer *s, const EVP_MD *md, const unsigned char *msg,
			     size_t len, unsigned char **sig, size_t *siglen, struct ck_err *err);
	void (*free)(struct ck_signer *s);
};
/* A key that signs, wherever its private part lives.  Implementations
 * embed this first and own pub. */
struct ck_signer {
	const struct ck_signer_ops *ops;
	EVP_PKEY *pub;                /* the public key (for a software key: the key) */
};

/* A signer over a software key (a reference is taken: free key as before). */
enum ck_code ck_signer_from_key(EVP_PKEY *key, struct ck_signer **out, struct ck_err *err);
/* NULL is a no-op. */
void ck_signer_free(struct ck_signer *s);
/* The signer's public key (owned by the signer). */
EVP_PKEY *ck_signer_pubkey(const struct ck_signer *s);
/* s->ops->sign, with its result checked against the contract (an ECDSA
 * signature of exactly twice the field size; at most 1024 bytes). */
enum ck_code ck_signer_sign(struct ck_signer *s, const EVP_MD *md, const unsigned char *msg,
			    size_t len, unsigned char **sig, size_t *siglen, struct ck_err *err);
/* Bytes of r (and of s) in an ECDSA signature by pub; 0 for a key not EC. */
size_t ck_signer_ec_half(EVP_PKEY *pub);

/* ---- JWK and JWS (RFC 7517, 7638, 7515; RFC 8555 section 6.2) ------- */

/*
 * json_dumps that never returns incomplete text: NULL when memory runs out
 * at any point (jansson's own json_dumps can drop an object key then and
 * still succeed).  Free the result with free().
 */
char *ck_json_dumps(const json_t *v, size_t flags);

/* "ES256", "ES384", "RS256", "EdDSA"; NULL for keys JWS cannot use. */
const char *ck_jws_alg(EVP_PKEY *key);
/* Public JWK with only the required members (new reference). */
enum ck_code ck_jwk_from_key(EVP_PKEY *key, json_t **out, struct ck_err *err);
/* Public key from a JWK (EC P-256/P-384, RSA, OKP Ed25519). */
enum ck_code ck_jwk_to_key(json_t *jwk, EVP_PKEY **out, struct ck_err *err);
/* RFC 7638 thumbprint, base64url of SHA-256 over the canonical JSON. */
enum ck_code ck_jwk_thumbprint(json_t *jwk, char **out, struct ck_err *err);
enum ck_code ck_key_thumbprint(EVP_PKEY *key, char **out, struct ck_err *err);

/*
 * Flattened JWS JSON serialization.  Protected header: alg, then either
 * kid (if kid != NULL) or jwk, then nonce (omitted if NULL: the inner JWS
 * of keyChange), then url.  payload is the exact bytes to sign ("" for
 * POST-as-GET).  ECDSA signatures are raw r||s as JOSE requires.
 * *out is a compact JSON string; free with free().
 */
enum ck_code ck_jws_sign(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
			 const char *payload, char **out, struct ck_err *err);
/* The same, returning the JSON object (for nesting as a payload). */
enum ck_code ck_jws_sign_json(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
			      const char *payload, json_t **out, struct ck_err *err);
/* Both, signed through a signer (a software or a token key). */
enum ck_code ck_jws_sign_with(struct ck_signer *s, const char *kid, const char *nonce,
			      const char *url, const char *payload, char **out,
			      struct ck_err *err);
enum ck_code ck_jws_sign_json_with(struct ck_signer *s, const char *kid, const char *nonce,
				   const char *url, const char *payload, json_t **out,
				   struct ck_err *err);
/* External Account Binding (RFC 8555 section 7.3.4): HS256 over the account
 * JWK with protected {alg: HS256, kid: eab_kid, url}. */
enum ck_code ck_jws_eab(const unsigned char *hmac_key, size_t key_len, const char *eab_kid,
			const char *url, json_t *account_jwk, json_t **out, struct ck_err *err);
/*
 * Verifies a flattened JWS.  With key == NULL the key is the header's jwk
 * (which must then be present).  On success returns the decoded payload
 * (NUL-terminated) and the protected header (new reference), either may be NULL.
 */
enum ck_code ck_jws_verify(const char *jws, EVP_PKEY *key, char **payload, json_t **protected_hdr,
			   struct ck_err *err);

/* ---- CSR ---------------------------------------------------------------- */

/*
 * A PKCS#10 request signed by key, for names (DNS names, or IPv4/IPv6
 * literals which become iPAddress SANs).  The subject CN is the first DNS
 * name (if it is at most 64 bytes); every name is a SAN.  DER out, free().
 */
enum ck_code ck_csr_create(EVP_PKEY *key, const char *const *names, size_t n, unsigned char **der,
			   size_t *len, struct ck_err *err);
/* The same, signed through a signer: the TBS is signed by s and the
 * result verified with s's public key before it is returned. */
enum ck_code ck_csr_create_with(struct ck_signer *s, const char *const *names, size_t n,
				unsigned char **der, size_t *len, struct ck_err *err);
/* 1 if s is an IPv4 or IPv6 literal. */
int ck_name_is_ip(const char *s);
/*
 * The one rule for a DNS name we put in an order or a CSR (RFC 1034 3.5 as
 * relaxed by RFC 1123 2.1, the "preferred name syntax"): 1..CK_NAME_MAX
 * bytes of labels separated by '.', each label 1..63 bytes of ASCII letters,
 * digits and '-', neither starting nor ending with '-'; no trailing dot (an
 * absolute name is not an identifier), no '_' (CAs may not issue for it,
 * CA/B Forum ballot SC12).  With wildcard_ok, a leftmost label of exactly
 * "*" followed by a valid name is accepted too (RFC 8555 section 7.1.3);
 * '*' anywhere else never is.  Returns 1 if valid, 0 if not (NULL too).
 */
int ck_dns_name_valid(const char *s, int wildcard_ok);
/* 1 if s is an identifier: ck_name_is_ip(s) or ck_dns_name_valid(s, wildcard_ok). */
int ck_identifier_valid(const char *s, int wildcard_ok);

/* ---- X.509 facts ------------------------------------------------------ */

#define CK_KEY_DESC_MAX 32

struct ck_cert_info {
	char sha256[65];         /* hex thumbprint of the DER */
	char sha1[41];
	char spki_sha256[65];
	char *subject;           /* RFC 2253 one line */
	char *issuer;
	char serial[80];         /* hex, upper case, no separators */
	char **sans;             /* DNS names and IP addresses as text */
	size_t nsans;
	time_t not_before;
	time_t not_after;
	char key_desc[CK_KEY_DESC_MAX]; /* ck_key_describe of the public key */
	int is_ca;
	int self_signed;
};

enum ck_code ck_cert_info_from_der(const unsigned char *der, size_t len, struct ck_cert_info *out,
				   struct ck_err *err);
void ck_cert_info_cleanup(struct ck_cert_info *info);
/* Public key of a certificate (caller frees). */
enum ck_code ck_cert_pubkey(const unsigned char *der, size_t len, EVP_PKEY **out,
			    struct ck_err *err);
/* One certificate as PEM text (NUL-terminated, free()). */
enum ck_code ck_cert_der_to_pem(const unsigned char *der, size_t len, char **pem,
				struct ck_err *err);

/* Every CERTIFICATE block of a PEM text, in order (leaf first for ACME
 * downloads).  Rejects non-certificate blocks (CK_ERR_PARSE), no certificate
 * at all (CK_ERR_PARSE), and more than CK_BUNDLE_MAX_ITEMS or CK_PEM_MAX
 * (CK_ERR_TOO_LARGE).  Text outside blocks is ignored. */
enum ck_code ck_pem_certs_parse(const char *pem, size_t len, struct ck_der_list *out,
				struct ck_err *err);
/* ck_pem_certs_parse without parsing each certificate: for a caller that
 * parses every one of them next (ck_chain_checker_cert), so each is
 * decoded once (OpenSSL 3's decoders cost ~0.2 ms per certificate). */
enum ck_code ck_pem_certs_split(const char *pem, size_t len, struct ck_der_list *out,
				struct ck_err *err);
/*
 * The ARI certificate ID's parts (RFC 9773 4.1) of certificate der: its
 * Authority Key Identifier's keyIdentifier and its serial number's DER
 * content octets, malloc'd into *kid and *serial (the caller frees both),
 * without decoding its names or public key (x509_lite.c).  CK_ERR_PARSE:
 * not one DER certificate; CK_ERR_UNSUPPORTED: no (single) AKI keyIdentifier.
 */
enum ck_code ck_cert_aki_serial(const unsigned char *der, size_t len, unsigned char **kid,
				size_t *kid_len, unsigned char **serial, size_t *serial_len,
				struct ck_err *err);
/* Verifies that chain[0..] signs leaf in order (issuer names and signatures),
 * not against a trust store.  An empty chain is CK_OK; a break is
 * CK_ERR_PARSE naming the position. */
enum ck_code ck_chain_check(const unsigned char *leaf, size_t leaf_len,
			    const struct ck_der_list *chain, struct ck_err *err);
/*
 * A checker for many certificates of one store (chain_checker.c): chain
 * certificates seen before are not parsed again, links between two of
 * them verified before are not verified again.  ck_chain_checker_cert
 * gives ck_cert_info_from_der(der) in *info (its result is the return
 * value) and, when that succeeded and chain has certificates,
 * ck_chain_check(der, chain)'s result in *chain_rc (its message in cerr,
 * may be NULL), parsing der once.  Free with ck_chain_checker_free (NULL
 * is a no-op).
 */
struct ck_chain_checker;
enum ck_code ck_chain_checker_new(struct ck_chain_checker **out, struct ck_err *err);
enum ck_code ck_chain_checker_cert(struct ck_chain_checker *c, const unsigned char *der,
				   size_t len, const struct ck_der_list *chain,
				   struct ck_cert_info *info, enum ck_code *chain_rc,
				   struct ck_err *cerr, struct ck_err *err);
/*
 * A public key the caller holds, as its SPKI DER and its ck_key_describe
 * text (ck_known_spki_of fills both; ck_known_spki_cleanup frees der).
 */
struct ck_known_spki {
	unsigned char *der;
	size_t len;
	char desc[CK_KEY_DESC_MAX];
};
enum ck_code ck_known_spki_of(EVP_PKEY *key, struct ck_known_spki *out, struct ck_err *err);
void ck_known_spki_cleanup(struct ck_known_spki *k);
/*
 * ck_chain_checker_cert for a certificate expected to be known's (known
 * may be NULL): when its SPKI is exactly known's bytes, its public key is
 * described from known and not decoded (OpenSSL 3.0 builds a decoder chain
 * for every certificate's key, about 90 us), and this thread's next
 * ck_chain_checker_cert of the same bytes (the store proving the facts the
 * flow just checked) does not decode it either.  The facts are the same
 * either way: the same SPKI bytes are the same key.
 */
enum ck_code ck_chain_checker_leaf(struct ck_chain_checker *c, const unsigned char *der,
				   size_t len, const struct ck_der_list *chain,
				   const struct ck_known_spki *known, struct ck_cert_info *info,
				   enum ck_code *chain_rc, struct ck_err *cerr, struct ck_err *err);
void ck_chain_checker_free(struct ck_chain_checker *c);

/* ---- import parser: PEM / DER / PKCS#12 -------------------------------- */

/*
 * Everything one input file holds: certificates (DER, in file order) and
 * private keys.  Recognises PEM (any mix and order of CERTIFICATE,
 * PRIVATE KEY, ENCRYPTED PRIVATE KEY, RSA/EC PRIVATE KEY blocks), a single
 * DER certificate, a DER PKCS#8 key, and PKCS#12 (PBES2/AES and legacy
 * 3DES/RC2).  Bounded by CK_PEM_MAX and CK_BUNDLE_MAX_ITEMS.
 * password opens encrypted PEM keys and PKCS#12 (NULL: none given; a
 * PKCS#12 file is then tried with "" and no password).  Failures:
 * CK_ERR_BAD_PASSWORD (missing or wrong password), CK_ERR_UNSUPPORTED (a
 * legacy PKCS#12 file and OpenSSL's legacy provider is not installed),
 * CK_ERR_PARSE (unknown PEM block, named in the message; malformed data),
 * CK_ERR_TOO_LARGE.  All or nothing: *out is set only on success.  The
 * legacy provider is loaded only into a private library context while one
 * such file is read; the keys returned live in the default context.
 */
struct ck_bundle {
	struct ck_der_list certs;
	EVP_PKEY **keys;
	size_t nkeys;
};
enum ck_code ck_bundle_parse(const unsigned char *data, size_t len, const char *password,
			     struct ck_bundle *out, struct ck_err *err);
void ck_bundle_cleanup(struct ck_bundle *b);

/* ---- PKCS#12 output ----------------------------------------------------- */

/* key may be NULL (certificate-only PFX).  friendly_name may be NULL.
 * password must not be NULL ("" is allowed).  A key that does not match the
 * certificate is CK_ERR_KEY_MISMATCH.  2048 iterations for the KDF and MAC.
 * *der is free()d by the caller. */
enum ck_code ck_pkcs12_create(EVP_PKEY *key, const unsigned char *cert, size_t cert_len,
			      const struct ck_der_list *chain, const char *password,
			      const char *friendly_name, enum ck_pfx_compat compat,
			      unsigned char **der, size_t *len, struct ck_err *err);

#endif
