/*
 * tokens.h - the CLI's glue between the store and the token module: the
 * configured tokens kept in the store's settings (CK_TOKEN_SETTING), and
 * the key finder that lets an import link a certificate to a key on one
 * of them.  The store knows nothing of PKCS#11 and the token module
 * nothing of the store; this file is where the two meet.
 */
#ifndef CK_FLOW_TOKENS_H
#define CK_FLOW_TOKENS_H

#include "flow/ops.h"
#include "token/token.h"

/* The configured tokens (an empty list when none is). */
enum ck_code ck_tokens_load(struct ck_store *st, struct ck_token_conf_list *out,
			     struct ck_err *err);
/* Stores l as the configuration (an empty list removes the setting). */
enum ck_code ck_tokens_save(struct ck_store *st, const struct ck_token_conf_list *l,
			     struct ck_err *err);
/*
 * A key finder over the configured tokens for ck_store_import_with: *f
 * uses *set (free it with ck_token_set_free after the import).  With no
 * token configured, *set is NULL and f->find is NULL (no search).
 */
enum ck_code ck_tokens_finder(struct ck_store *st, struct ck_token_set **set,
			       struct ck_key_finder *f, struct ck_err *err);

#endif
