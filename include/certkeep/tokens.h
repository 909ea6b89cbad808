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

#ifdef __cplusplus
}
#endif
#endif
