/*
 * account_int.h - what account.c, account_ops.c and rollover.c share: the
 * rollover record (settings) and small conversions between the acme
 * layer's account and the store's row.  Not part of the flow's contract
 * (account.h is); nothing outside src/flow/ includes it.
 */
#ifndef CK_FLOW_ACCOUNT_INT_H
#define CK_FLOW_ACCOUNT_INT_H

#include "flow/account.h"

/* Writes "<when> <grace_s>" as the account's rollover record. */
enum ck_code acct_rollover_record(struct ck_store *st, int64_t account_id, time_t when,
				  unsigned grace_s, struct ck_err *err);
/* Reads the record; *when = 0 and *grace_s = ACME_ROLLOVER_GRACE_S when there is none
 * or it cannot be read (the record only tunes a tolerance: never fatal). */
void acct_rollover_read(struct ck_store *st, int64_t account_id, time_t *when,
			unsigned *grace_s);
/* JSON array text of a list of contacts (free()). */
enum ck_code acct_contacts_json(const struct ck_strv *v, char **out, struct ck_err *err);
/* Re-reads s->account from the store by its id. */
enum ck_code acct_reload(struct ck_store *st, struct ck_account_session *s, struct ck_err *err);
/* Records the server's view (url, status, contacts, terms) for the store row
 * row->id (ck_store_account_update: never the key, which a concurrent
 * rollover may have changed since `row` was read). */
enum ck_code acct_store_server_view(struct ck_store *st, struct ck_account *row,
				    const struct acme_account *a, struct ck_err *err);
/* "default" when name is NULL. */
const char *acct_name(const char *name);

struct acct_cache;
/*
 * The account key of s->account (key_id) as the session's key and its
 * client's signer (account_token.c): a software key from the store, or a
 * token key logged in to with pin_file (NULL: the stored URI's token then
 * needs one); through keys (acct_cache_key_load; NULL: none), which keeps
 * a software key decoded once.  s->client must exist; s->key and
 * s->signing are set.
 */
enum ck_code acct_session_key(struct ck_store *st, struct ck_account_session *s,
			      const char *pin_file, struct acct_cache *keys, struct ck_err *err);
/* ck_account_open_pin with its account key through keys (NULL: none): a
 * cache's decoded software key is signed with instead of decoded again. */
enum ck_code acct_open(const struct ck_ctx *ctx, struct ck_store *st, const char *server,
		       const char *name, const char *ca_bundle, unsigned flags,
		       const char *pin_file, struct acct_cache *keys,
		       struct ck_account_session *out, struct ck_err *err);
/* ck_account_resolve_rollover with the PIN for keys on a token (rollover.c). */
enum ck_code acct_resolve_rollover(const struct ck_ctx *ctx, struct ck_store *st,
				   struct ck_account_session *s, const char *pin_file,
				   struct ck_err *err);
/* Frees s->signing (after s->client, which borrows its signer). */
void acct_session_key_cleanup(struct ck_account_session *s);
/*
 * The key a registration with o->token_uri uses: made on the token
 * (labelled acme-account-NAME) or the one the URI names, committed to the
 * store; or, when an earlier run stored account name with a key on that
 * token but never got its URL (the server failed after the key was made),
 * that key again - never a second one.  *prev receives the stored account
 * (zeroed if none).  *fk (heap, acct_flow_key_free) signs for it,
 * (*fk)->key_id its row.  A valid stored account of that name with a URL
 * is CK_ERR_EXISTS; an interrupted rollover CK_ERR_STATE.
 */
struct flow_key;
enum ck_code acct_token_register_key(struct ck_store *st,
				     const struct ck_account_register_opts *o, const char *name,
				     struct ck_account *prev, struct flow_key **fk,
				     struct ck_err *err);
void acct_flow_key_free(struct flow_key *fk);

#endif
