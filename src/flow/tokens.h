/*
 * tokens.h - where the store and the token module meet: the configured
 * tokens kept in the store's settings (CK_TOKEN_SETTING), the changes to
 * that configuration (`certkeep token add|rm`), the public keys of one
 * configured token (`token keys`), and the key finder that lets an import
 * link a certificate to a key on one of them.  The store knows nothing of
 * PKCS#11 and the token module nothing of the store.
 *
 * Must never: keep a PIN, or save a token that could not be opened.
 */
#ifndef CK_FLOW_TOKENS_H
#define CK_FLOW_TOKENS_H

#include <certkeep/tokens.h> /* load, save, add, remove, finder: public */

#include "flow/ops.h"
#include "token/token.h"

/*
 * Opens the token labelled label in module (no login) and lists its public
 * keys, for `token add` to check a token before saving it; call it before
 * opening the store, so the store is not locked while a slow module loads.
 * A failure says "token 'name' was not added".  OUTPUT *t (ck_token_close)
 * and *keys (ck_token_key_list_cleanup), set only on success.
 */
enum ck_code ck_tokens_probe(const char *name, const char *module, const char *label,
			     struct ck_token **t, struct ck_token_key_list *keys,
			     struct ck_err *err);
/*
 * The public keys of configured token name, l being the configuration
 * (ck_tokens_load: read it, close the store, then call this).
 * CK_ERR_NOT_FOUND when no token of that name is configured; a token that
 * cannot be opened is an error prefixed "token 'name'".  OUTPUT as
 * ck_tokens_probe.
 */
enum ck_code ck_tokens_keys(const struct ck_token_conf_list *l, const char *name,
			    struct ck_token **t, struct ck_token_key_list *keys,
			    struct ck_err *err);

/*
 * Before a move: a certificate whose key lives on a token moves only when
 * that token can be reached from here (its module loads, the token is
 * present); else CK_ERR_STATE saying nothing changed and that copy keeps
 * the reference.  module: for a stored URI without module-path.  CK_OK for
 * a certificate whose key is not on a token.
 */
enum ck_code ck_tokens_move_check(struct ck_store *src, int64_t cert_id, const char *module,
				  struct ck_err *err);

#endif
