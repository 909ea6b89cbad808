/*
 * account.h - the account API as the library sees it: the public part
 * (sessions, register, recover, rollover, deactivate) is
 * include/certkeep/account.h; here are the parts that name acme types:
 * the origins a server's client may follow, refresh and update.
 *
 * Sits above acme and store; knows nothing of the CLI.
 */
#ifndef CK_FLOW_ACCOUNT_H
#define CK_FLOW_ACCOUNT_H

#include <certkeep/account.h>

#include "acme/acme.h"
#include "core/core.h"
#include "store/store.h"

/* ---- origins allowed per server (origins.c) ----------------------------- */

/*
 * A client follows only URLs on its directory's origin (acme.h), and on
 * the extra origins the user listed for that directory URL, kept in the
 * settings under this prefix + the directory URL as space-separated
 * normalised origins ("https://host:port").
 */
#define CK_SERVER_ORIGINS_SETTING "origins:"

/* The stored extra origins of server into *out (empty if none;
 * ck_strv_cleanup).  A damaged value -> CK_ERR_CORRUPT saying how to
 * set it again. */
enum ck_code ck_server_origins_get(struct ck_store *st, const char *server,
				   struct ck_strv *out, struct ck_err *err);
/* Replaces the stored list (each checked and normalised with
 * acme_origin_parse, duplicates dropped, at most ACME_ORIGINS_MAX); n = 0
 * removes it. */
enum ck_code ck_server_origins_set(struct ck_store *st, const char *server,
				   const char *const *origins, size_t n, struct ck_err *err);
/* The server to use: `server` when given, else the store's default server
 * (CK_ERR_NOT_FOUND saying how to set one).  *out is allocated. */
enum ck_code ck_server_pick(struct ck_store *st, const char *server, char **out,
			    struct ck_err *err);
/* A client for server that allows `given` origins if given->given, else
 * the stored ones (given may be NULL; st NULL: none), sending through ctx->acme_transport
 * when set (else libcurl).  Every ACME client of the flows is made here. */
enum ck_code ck_server_client_new(const struct ck_ctx *ctx, struct ck_store *st,
				  const char *server, const char *ca_bundle,
				  const struct ck_origins_arg *given, struct acme_client **out,
				  struct ck_err *err);
/* ck_server_origins_set for the session's server, and its client follows
 * the new list from now on. */
enum ck_code ck_account_origins_set(struct ck_store *st, struct ck_account_session *s,
				    const char *const *origins, size_t n, struct ck_err *err);

/*
 * Fetches the account from the server (POST-as-GET with the kid, so a
 * success proves the server accepts the stored key) and stores its
 * status, contacts and terms agreement; s->account is re-read.  *out (may
 * be NULL) receives the server's view.  This, update and deactivate store
 * only what the server said (ck_store_account_update), never the key read
 * before the round trip: a rollover committed meanwhile by another process
 * stays.
 */
enum ck_code ck_account_refresh(struct ck_store *st, struct ck_account_session *s,
				struct acme_account *out, struct ck_err *err);
/* Updates contacts (replace; an empty list clears) and/or agrees to the
 * terms, on the server and then in the store. */
enum ck_code ck_account_update(struct ck_store *st, struct ck_account_session *s,
			       const struct acme_account_update_opts *o, struct ck_err *err);

#endif
