/*
 * token.h - PKCS#11 tokens (smart cards, HSMs, SoftHSM) through the
 * module's own function list (dlopen + C_GetFunctionList; no libp11):
 * opening a token found by its label, reading its public-key objects as
 * SPKI DER (so a certificate can be linked to a key that never leaves
 * the token), RFC 7512 pkcs11: URIs that name such a key, and the list of
 * configured tokens (name -> module + label) as JSON text.
 *
 * A token named by a pkcs11: URI can be logged in to (the PIN read from a
 * file or descriptor, used once, wiped), and then make key pairs that
 * never leave it, sign (as a struct ck_signer, crypto.h) and hold
 * certificate objects.
 *
 * Must never: read a private or secret attribute, keep or log a PIN,
 * retry a wrong PIN, trust a size the module reports without its named
 * maximum, or find a token by slot id (ids change when a token is
 * initialised: always by label or serial).
 */
#ifndef CK_TOKEN_H
#define CK_TOKEN_H

#include <stddef.h>

#include <certkeep/tokens.h> /* configured tokens, the token set: public */

#include "core/core.h"
#include "crypto/crypto.h"

/* ---- named maxima ----------------------------------------------------- */

#define CK_TOKEN_ID_MAX 128            /* bytes of one CKA_ID */
#define CK_TOKEN_OBJ_LABEL_MAX 256     /* bytes of one CKA_LABEL */
#define CK_TOKEN_ATTR_MAX 4096         /* bytes of any attribute read (RSA 16384-bit modulus: 2048) */
#define CK_TOKEN_OBJECTS_MAX 1024      /* public-key objects on one token */
#define CK_TOKEN_SLOTS_MAX 256         /* slots one module may report */
#define CK_TOKEN_URI_MAX 2048          /* one pkcs11: URI (== CK_STORE_URL_MAX) */

/* The store setting (ck_store_setting_get/set) that holds the configured
 * tokens as ck_token_conf_format text. */
#define CK_TOKEN_SETTING "tokens"

/* ---- an open token ------------------------------------------------------ */

struct ck_token;

/*
 * Loads module_path (an absolute path), initialises it (CKF_OS_LOCKING_OK;
 * a module another part of the process initialised already is shared and
 * left initialised), finds the one slot whose token label is label
 * (compared without the label's blank padding) and opens a read-only
 * session there.  Errors say what to check: CK_ERR_INVALID_ARG (path not
 * absolute, label too long), CK_ERR_NOT_FOUND (no such module file; no
 * token with that label - the message lists the labels present),
 * CK_ERR_PERMISSION (the module file or a directory on its resolved path
 * is owned by another uid than root or the effective user, or writable by
 * group or others: refused with the path and the reason, never loaded),
 * CK_ERR_AMBIGUOUS (several tokens carry the label), CK_ERR_UNSUPPORTED
 * (not a PKCS#11 module), CK_ERR_IO (the module refused an operation).
 * Close with ck_token_close.  Open one token at a time per module.
 */
enum ck_code ck_token_open(const char *module_path, const char *label, struct ck_token **out,
			   struct ck_err *err);
/* Closes the session, finalises the module if this handle initialised it,
 * unloads it.  NULL is a no-op. */
void ck_token_close(struct ck_token *t);
/* 1 if the token says CKF_LOGIN_REQUIRED (it may hide objects until login). */
int ck_token_login_required(const struct ck_token *t);
/* The token's serial number as it reports it (blank padding removed). */
const char *ck_token_serial(const struct ck_token *t);
/* The token's label, and the module path it was loaded from. */
const char *ck_token_label(const struct ck_token *t);
const char *ck_token_module(const struct ck_token *t);
/* Bumped whenever the session is reopened (a fork): object handles and
 * login of an older generation are gone. */
unsigned ck_token_generation(const struct ck_token *t);

#define CK_TOKEN_PIN_MAX 256           /* bytes of one PIN */

struct ck_pkcs11_uri;
/* The module used when neither a URI's module-path nor the caller names one:
 * p11-kit's proxy (its path from p11-kit's pkg-config at build time). */
const char *ck_token_default_module(void);
/*
 * Opens the token u names by token= and/or serial= (one of them is
 * needed; never a slot number), with a read-write session where the token
 * allows one.  The module is u's module-path, else module (may be NULL),
 * else p11-kit's proxy module; it is loaded with ck_token_open's checks.
 * Errors as ck_token_open.  Close with ck_token_close.
 */
enum ck_code ck_token_open_uri(const struct ck_pkcs11_uri *u, const char *module,
			       struct ck_token **out, struct ck_err *err);
/*
 * Reads a PIN from source with ck_secret_read ("fd:N", else a file name;
 * a "file:" prefix, as in a URI's pin-source, is allowed): one trailing
 * newline (or CR LF) dropped; an empty PIN, one with a NUL or a line
 * break, or one past cap - 1 bytes is refused.  pin (cap bytes) gets the
 * PIN and a NUL, *len its length.  The caller wipes pin (OPENSSL_cleanse)
 * after use.
 */
enum ck_code ck_token_pin_read(const char *source, char *pin, size_t cap, size_t *len,
			       struct ck_err *err);
/*
 * Logs in as the user with the PIN read from pin_source
 * (ck_token_pin_read), once: the PIN is wiped right after C_Login.  A
 * token already logged in (this handle, this process) is CK_OK without
 * reading.  Wrong PIN: CK_ERR_BAD_PASSWORD, never retried (the message
 * passes on the token's "few tries left" / "final try" flags); a locked
 * PIN (checked before trying) or an expired one: CK_ERR_STATE with what
 * to do; no pin_source: CK_ERR_INVALID_ARG naming --pin-file and
 * pin-source.
 */
enum ck_code ck_token_login(struct ck_token *t, const char *pin_source, struct ck_err *err);

/* One public-key object. */
struct ck_token_key {
	unsigned char id[CK_TOKEN_ID_MAX]; /* CKA_ID (may be empty) */
	size_t id_len;
	char *label;              /* CKA_LABEL made printable; "" if none */
	char algorithm[32];       /* "EC P-256", "RSA 2048", "Ed25519" */
	unsigned char *spki;      /* SubjectPublicKeyInfo DER */
	size_t spki_len;
	char spki_sha256[65];     /* the link identity (as ck_key_spki_sha256) */
	char *uri;                /* pkcs11: URI of the private key with this key's CKA_ID */
};

struct ck_token_key_list {
	struct ck_token_key *items;
	size_t n;
	size_t skipped;           /* objects of a type this version cannot read (e.g. X25519) */
};

/*
 * Every public-key object visible without login, as SPKI DER: EC
 * (CKA_EC_PARAMS + CKA_EC_POINT), EdDSA (Ed25519/Ed448) and RSA
 * (CKA_MODULUS + CKA_PUBLIC_EXPONENT).  Each key's uri names the private
 * key with the same CKA_ID (by label when the object has no CKA_ID) on
 * this token, with the module path.  An object this version cannot read
 * (unsupported type, explicit curve parameters, an attribute past its
 * maximum, attributes that form no valid key, neither CKA_ID nor
 * CKA_LABEL) is skipped and counted in skipped.  CK_ERR_TOO_LARGE past
 * CK_TOKEN_OBJECTS_MAX objects; CK_ERR_IO when the module fails.  An
 * empty list is CK_OK (see ck_token_login_required).
 */
enum ck_code ck_token_public_keys(struct ck_token *t, struct ck_token_key_list *out,
				  struct ck_err *err);
void ck_token_key_list_cleanup(struct ck_token_key_list *l);

/* ---- keys on the token: signing, key pairs, certificate objects -------- */

/*
 * The private key with CKA_ID id on t as a signer (crypto.h): its public
 * key from the public-key object with the same CKA_ID (RSA: else from the
 * private object).  t must stay open while the signer lives; log in first
 * (a private key is usually invisible before).  CK_ERR_KEY_MISSING when
 * no such key is there, CK_ERR_AMBIGUOUS when several are.  Free with
 * ck_signer_free.
 */
enum ck_code ck_token_signer_new(struct ck_token *t, const unsigned char *id, size_t id_len,
				 struct ck_signer **out, struct ck_err *err);

/*
 * Makes a key pair of type (EC P-256/P-384, RSA 2048/3072/4096) on t
 * (logged in, read-write) with the explicit template of keygen.c:
 * private key sensitive, never extractable, sign only; CKA_ID =
 * ck_key_id_sha1 of the public key; CKA_LABEL = label.  *out (as a
 * ck_token_key: id, label, algorithm, SPKI, its SHA-256 and the key's
 * pkcs11: URI; free with ck_token_key_cleanup) only on success; on
 * failure no object of the pair is left on the token.
 */
enum ck_code ck_token_key_generate(struct ck_token *t, enum ck_key_type type, const char *label,
				   struct ck_token_key *out, struct ck_err *err);
/*
 * Writes certificate der onto t as a certificate object (CKA_ID id, the
 * key's; CKA_LABEL label, the lineage's; public, on the token), then
 * removes every other certificate object labelled label: a lineage has
 * one certificate object afterwards.  *replaced: how many were removed.
 * Needs a login on most tokens (CK_ERR_STATE otherwise).
 */
enum ck_code ck_token_cert_write(struct ck_token *t, const unsigned char *der, size_t len,
				 const unsigned char *id, size_t id_len, const char *label,
				 size_t *replaced, struct ck_err *err);
/*
 * The CKA_ID of the one private key labelled label on t (logged in), for
 * a URI that names a key by object= alone.  CK_ERR_KEY_MISSING if none,
 * CK_ERR_AMBIGUOUS if several, CK_ERR_UNSUPPORTED if it has no CKA_ID.
 */
enum ck_code ck_token_key_id_by_label(struct ck_token *t, const char *label, unsigned char *id,
				      size_t *id_len, struct ck_err *err);
/* One certificate object on a token. */
struct ck_token_cert {
	unsigned long handle;     /* valid in this session generation only */
	unsigned char id[CK_TOKEN_ID_MAX];
	size_t id_len;            /* 0: no CKA_ID */
	char *label;              /* printable; "" if none */
	unsigned char *der;       /* CKA_VALUE; NULL if unreadable */
	size_t der_len;
};
struct ck_token_cert_list {
	struct ck_token_cert *items;
	size_t n;
};
/* The certificate objects visible in t's session (at most 64; each at most
 * 64 KiB), for the doctor.  Free with ck_token_cert_list_cleanup. */
enum ck_code ck_token_cert_objects(struct ck_token *t, struct ck_token_cert_list *out,
				   struct ck_err *err);
void ck_token_cert_list_cleanup(struct ck_token_cert_list *l);
/* Sets the CKA_ID of certificate object handle (doctor --repair). */
enum ck_code ck_token_cert_set_id(struct ck_token *t, unsigned long handle,
				  const unsigned char *id, size_t id_len, struct ck_err *err);
/* Frees what one ck_token_key holds (not k itself).  NULL is a no-op. */
void ck_token_key_cleanup(struct ck_token_key *k);

/* ---- pkcs11: URIs (RFC 7512) -------------------------------------------- */

/* What certkeep reads from a URI; the rest of RFC 7512's attributes are refused. */
struct ck_pkcs11_uri {
	char token[CK_TOKEN_LABEL_MAX + 1];   /* "" if absent */
	unsigned char id[CK_TOKEN_ID_MAX];
	size_t id_len;
	int has_id;
	char object[CK_TOKEN_OBJ_LABEL_MAX + 1]; /* "" if absent */
	char type[16];                        /* "private", "public", "cert", ...; "" if absent */
	char serial[CK_TOKEN_LABEL_MAX + 1];  /* "" if absent */
	char module_path[CK_TOKEN_MODULE_PATH_MAX + 1]; /* "" if absent */
	char pin_source[CK_TOKEN_MODULE_PATH_MAX + 1];  /* "file:/p" or "/p"; "" if absent */
};

/*
 * "pkcs11:token=T;id=I;type=private?module-path=M" with every byte
 * outside RFC 3986's unreserved set percent-encoded.  id may be empty
 * (id_len 0), then object (may be NULL) names the key by label instead.
 * module_path may be NULL (no query).  *out (free()).  CK_ERR_TOO_LARGE
 * past the maxima above.
 */
enum ck_code ck_pkcs11_uri_format(const char *token, const unsigned char *id, size_t id_len,
				  const char *object, const char *module_path, char **out,
				  struct ck_err *err);
/*
 * Parses text (at most CK_TOKEN_URI_MAX bytes) into *out.  Path
 * attributes: token, id, object, type, serial, manufacturer, model (the
 * last two checked and ignored); query attributes: module-path,
 * pin-source (where the PIN is read: ck_token_login), module-name
 * (ignored).  x- attributes are ignored.  Refused with
 * CK_ERR_PARSE: another scheme, an unknown or repeated attribute, a bad
 * %XX, a raw byte RFC 7512 does not allow, NUL in a text value, a
 * pin-value (a secret has no place in a URI), a value past its maximum.
 */
enum ck_code ck_pkcs11_uri_parse(const char *text, struct ck_pkcs11_uri *out,
				 struct ck_err *err);

/* ---- configured tokens (JSON: {"NAME": {"module": M, "token": L}, ...}) -- */

/* struct ck_token_conf, ck_token_conf_list: certkeep/tokens.h */

/* 1 if s is a valid token name: 1..CK_TOKEN_NAME_MAX of [A-Za-z0-9._-],
 * not starting with '.' or '-'. */
int ck_token_name_valid(const char *s);
/* text NULL or "" gives an empty list.  CK_ERR_PARSE names what is wrong. */
enum ck_code ck_token_conf_parse(const char *text, struct ck_token_conf_list *out,
				 struct ck_err *err);
/* Compact JSON, names in list order; *out (free()). */
enum ck_code ck_token_conf_format(const struct ck_token_conf_list *l, char **out,
				  struct ck_err *err);
/* Appends; CK_ERR_EXISTS if the name is taken, CK_ERR_TOO_LARGE past
 * CK_TOKEN_CONF_MAX, CK_ERR_INVALID_ARG for a bad name, relative module
 * path or over-long label. */
enum ck_code ck_token_conf_add(struct ck_token_conf_list *l, const char *name,
			       const char *module, const char *label, struct ck_err *err);
/* Removes by name; CK_ERR_NOT_FOUND if absent. */
enum ck_code ck_token_conf_remove(struct ck_token_conf_list *l, const char *name,
				  struct ck_err *err);
/* The entry named name, or NULL. */
const struct ck_token_conf *ck_token_conf_find(const struct ck_token_conf_list *l,
					       const char *name);

/* ---- finding a key by SPKI on the configured tokens ---------------------- */

/* A set over the configured tokens l (copied); tokens are opened only when
 * first searched, each once, one at a time.  *out: ck_token_set_free. */
enum ck_code ck_token_set_new(const struct ck_token_conf_list *l, struct ck_token_set **out,
			      struct ck_err *err);
/*
 * The public key whose SPKI SHA-256 is spki_sha256 on any configured
 * token, in list order: *key points into the set (valid until it is
 * freed), *conf names the token.  CK_ERR_NOT_FOUND if none has it.  A
 * token that cannot be opened or read fails the search with a code other
 * than CK_ERR_NOT_FOUND (a missing module or label becomes CK_ERR_IO; its
 * name and what to check are in the message): a key that cannot be looked
 * for must not be reported as absent.
 */
enum ck_code ck_token_set_find(struct ck_token_set *s, const char *spki_sha256,
			       const struct ck_token_key **key, const struct ck_token_conf **conf,
			       struct ck_err *err);

#endif
