/*
 * certkeep/tokens.h - the PKCS#11 tokens (smart cards, HSMs) a store is
 * configured with, kept in the store's settings: what `certkeep token
 * add|rm` change, and the key finder that lets an import link a
 * certificate to a key that lives on one of them (ck_store_import_with).
 * Tokens are found by label, never by slot; no PIN is asked for or kept.
 */
#ifndef CERTKEEP_TOKENS_H
#define CERTKEEP_TOKENS_H

#include <stddef.h>

#include <certkeep/io.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CK_TOKEN_MODULE_PATH_MAX 1024  /* bytes of a module path */
#define CK_TOKEN_LABEL_MAX 32          /* CK_TOKEN_INFO.label: 32 bytes, blank padded */
#define CK_TOKEN_NAME_MAX 64           /* a configured token's name */
#define CK_TOKEN_CONF_MAX 16           /* configured tokens */

/* One configured token: a name of the user's, the PKCS#11 module (an
 * absolute path) and the token's label. */
struct ck_token_conf {
	char name[CK_TOKEN_NAME_MAX + 1];
	char module[CK_TOKEN_MODULE_PATH_MAX + 1];
	char label[CK_TOKEN_LABEL_MAX + 1];
};

struct ck_token_conf_list {
	struct ck_token_conf items[CK_TOKEN_CONF_MAX];
	size_t n;
};

/* The configured tokens, opened on demand to find keys (opaque). */
struct ck_token_set;
/* Closes every token the set opened and frees it.  NULL is a no-op. */
CK_API void ck_token_set_free(struct ck_token_set *s);

/* The configured tokens (an empty list when none is). */
CK_API enum ck_code ck_tokens_load(struct ck_store *st, struct ck_token_conf_list *out,
				    struct ck_err *err);
/* Stores l as the configuration (an empty list removes the setting). */
CK_API enum ck_code ck_tokens_save(struct ck_store *st, const struct ck_token_conf_list *l,
				    struct ck_err *err);
/*
 * A key finder over the configured tokens for ck_store_import_with: *f
 * uses *set (free it with ck_token_set_free after the import).  With no
 * token configured, *set is NULL and f->find is NULL (no search).
 */
CK_API enum ck_code ck_tokens_finder(struct ck_store *st, struct ck_token_set **set,
				      struct ck_key_finder *f, struct ck_err *err);

/*
 * Adds token name (module, label) to the configuration in one transaction;
 * a name already configured, an invalid one, or a full list is refused and
 * nothing is saved.
 */
CK_API enum ck_code ck_tokens_add(struct ck_store *st, const char *name, const char *module,
				  const char *label, struct ck_err *err);
/* Removes token name from the configuration in one transaction
 * (CK_ERR_NOT_FOUND when it is not configured; nothing changes). */
CK_API enum ck_code ck_tokens_remove(struct ck_store *st, const char *name, struct ck_err *err);

/*
 * A key on a token, as `--token URI --pkcs11-module M --pin-file F` name
 * it: uri an RFC 7512 pkcs11: URI (token= and/or serial=; id= or object=
 * for an existing key), module when the URI has no module-path (NULL:
 * p11-kit's proxy), pin_file the user PIN's file or fd:N (NULL: the URI's
 * pin-source).  Never the PIN itself.
 */
struct ck_token_target {
	const char *uri;
	const char *module;
	const char *pin_file;
};

/*
 * ck_request_create_file with the key on a token: the key pair is made
 * there (never extractable, labelled with the lineage; or the existing key
 * the URI names) and its reference committed before the token signs the
 * CSR; the names are checked before anything is made.  The certificate an
 * outside CA issues later is linked by `import` (by public key) and
 * written onto the token by ck_tokens_write_imported.
 */
CK_API enum ck_code ck_request_create_token_file(struct ck_store *st, const char *const *names,
						 size_t n, const char *lineage, enum ck_key_type t,
						 const struct ck_token_target *tok,
						 const char *csr_path, int64_t *request_id,
						 struct ck_err *err);
/*
 * After an import: every certificate of r linked to a key on a token
 * (also one the store had: importing it again with a PIN writes it) is
 * written onto that token as a certificate object with the key's CKA_ID,
 * labelled with its lineage (else its request's lineage), replacing the
 * lineage's previous certificate object.  The token is opened through
 * the key's stored URI and logged in with tok's PIN (tok->uri may be NULL;
 * tok->module is used when the stored URI names no module).  The token's
 * public key is checked against the stored one first.  *written: how many
 * certificates were written.  A failure names the certificate and says
 * the import itself stands.
 */
CK_API enum ck_code ck_tokens_write_imported(struct ck_store *st, const struct ck_import_result *r,
					     const struct ck_token_target *tok, size_t *written,
					     struct ck_err *err);

#ifdef __cplusplus
}
#endif
#endif
