/*
 * account_cache.h - account sessions (the account's row, its key loaded
 * and unsealed, its acme_client with the directory, a nonce and the kid)
 * kept between the issuances of one long-running process: a renewal batch
 * with many lineages on one account, the agent.  Keyed by account id, and
 * each kept with the account's own generation (schema 13, struct
 * ck_account.generation) it was read at.
 *
 * The rule (docs/store.md, "Generations and caches"): a cached session is
 * used only after the account's row has been read again and its generation
 * is the one the session was read at; otherwise it is dropped and the
 * account opened afresh (ck_account_open_pin: rollover resolved, key
 * loaded, client made).  A rollover committed by any process or node
 * therefore reaches the next order of every process, whatever it cached.
 *
 * A session is taken out whole (one user at a time: acme_client and token
 * sessions are not shared between threads) and put back after a success;
 * one that failed is freed, never reused.  Thread-safe.
 *
 * Beside the sessions, the cache keeps each software account key it
 * decoded (one EVP_PKEY, reference-counted, never mutated: OpenSSL 3 signs
 * with one key from several threads, each through its own signer and
 * context), so the n workers of a batch that open one account at once
 * decode its key once, not n times.  A kept key serves a key row only
 * while the row's id and SPKI hash are the ones it was decoded for.
 */
#ifndef CK_FLOW_ACCOUNT_CACHE_H
#define CK_FLOW_ACCOUNT_CACHE_H

#include "flow/account.h"
#include "flow/certkey.h"

#define ACCT_CACHE_MAX 16 /* sessions kept; more are freed when put back */
#define ACCT_CACHE_KEYS 8 /* decoded software account keys kept */

struct acct_cache;

/* A new, empty cache.  OUT *out (acct_cache_free), set only on success. */
enum ck_code acct_cache_new(struct acct_cache **out, struct ck_err *err);
/* Frees every session kept; NULL is a no-op.  No session may be taken out. */
void acct_cache_free(struct acct_cache *c);

/*
 * ck_account_open_pin through the cache c (NULL: no cache, always opened
 * afresh): the account (server, name) is looked up in st (the read that
 * precedes the use); a kept session of that account, server, ca_bundle and
 * pin_file whose generation equals the row's is handed out, a kept one
 * whose generation differs (or whose row has a rollover pending) is freed,
 * and the account is opened afresh.  OUT *out (give it back with
 * acct_cache_put), *hit (may be NULL): 1 when a kept session was used.
 */
enum ck_code acct_cache_take(struct acct_cache *c, const struct ck_ctx *ctx, struct ck_store *st,
			     const char *server, const char *name, const char *ca_bundle,
			     unsigned flags, const char *pin_file, struct ck_account_session *out,
			     int *hit, struct ck_err *err);
/*
 * flow_key_load through the cache c (NULL: flow_key_load itself): a
 * software key whose row (key_id, its SPKI hash read now from st) matches
 * a kept decoded key gets a new signer on that key, without decoding it
 * again; one decoded here is kept for the next.  A token key is always
 * opened afresh (its session belongs to one thread).  OUTPUT *k only on
 * success.
 */
enum ck_code acct_cache_key_load(struct acct_cache *c, struct ck_store *st, int64_t key_id,
				 const struct flow_key_src *src, struct flow_key *k,
				 struct ck_err *err);
/*
 * Gives a taken session back: kept (with the generation its row was read
 * at) when c is not NULL, keep is 1 and there is room, else freed.  *s is
 * zeroed either way.
 */
void acct_cache_put(struct acct_cache *c, struct ck_account_session *s, const char *ca_bundle,
		    const char *pin_file, int keep);
/*
 * Drops every kept session whose account's row in st has another
 * generation, a rollover pending, or is gone (the store changed; a
 * long-lived process learns it from ck_store_wait_change), and every
 * decoded key no kept session signs with.  No session may
 * be taken out meanwhile (between runs).  A row that cannot be read keeps
 * its session: acct_cache_take reads it again before any use.
 */
void acct_cache_prune(struct acct_cache *c, const struct ck_ctx *ctx, struct ck_store *st);

#endif
