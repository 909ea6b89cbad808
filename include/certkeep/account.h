/*
 * certkeep/account.h - an ACME account made ready to use: the store's record, its
 * key, and an acme_client signing with it.  Opening an account resolves an
 * interrupted key rollover first (invariant 3: the new key was committed as
 * the account's pending key before keyChange was sent, so asking the server
 * which key it accepts always finds one we hold), so no caller ever signs
 * with a key the server no longer accepts.
 *
 * Sits above acme and store; knows nothing of the CLI.
 */
#ifndef CERTKEEP_ACCOUNT_H
#define CERTKEEP_ACCOUNT_H

#include <openssl/evp.h>

#include <certkeep/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ACME protocol client a session signs with: internal, opaque here. */
struct acme_client;

/* Extra origins ("https://host:port") the server's client may follow besides
 * its directory's own, as given on a command line; given = 0: use the list
 * the store keeps for that server. */
struct ck_origins_arg {
	const char *const *v;
	size_t n;
	int given;
};

/* ck_account_open flags */
#define CK_ACCOUNT_REQUIRE_VALID 0x1  /* fail with CK_ERR_STATE unless status is "valid" */

struct ck_account_session {
	struct acme_client *client;  /* signs with key, kid = account.url */
	struct ck_account account;   /* the store's row (after any resolution) */
	EVP_PKEY *key;               /* the account key in use */
	char server[CK_STORE_URL_MAX + 1];
	void *signing;               /* internal: what signs for key (e.g. its token session) */
};

/*
 * Opens the account named `name` (NULL: the server's default account) for
 * `server` (NULL: the store's default server, CK_SETTING_DEFAULT_SERVER),
 * creates its client (ca_bundle may be NULL) and, if a rollover was left
 * pending, resolves it (asks the server which key it accepts, keeps that
 * one, logs what it did).  Errors: CK_ERR_NOT_FOUND with a message that
 * says to run `certkeep account register --server URL --agree-tos`;
 * CK_ERR_STATE for a deactivated account when CK_ACCOUNT_REQUIRE_VALID.
 * *out is filled only on success; release it with ck_account_session_cleanup.
 */
CK_API enum ck_code ck_account_open(const struct ck_ctx *ctx, struct ck_store *st, const char *server,
				    const char *name, const char *ca_bundle, unsigned flags,
				    struct ck_account_session *out, struct ck_err *err);
/* ck_account_open for an account whose key may be on a PKCS#11 token: the
 * token is logged in to with the PIN from pin_file (a file or fd:N; NULL:
 * none, and a token key then fails saying --pin-file is needed). */
CK_API enum ck_code ck_account_open_pin(const struct ck_ctx *ctx, struct ck_store *st,
					const char *server, const char *name,
					const char *ca_bundle, unsigned flags, const char *pin_file,
					struct ck_account_session *out, struct ck_err *err);
CK_API void ck_account_session_cleanup(struct ck_account_session *s);

/* ---- account lifecycle (what `certkeep account ...` runs) ---------------- */

/*
 * Settings key prefix of the record "<epoch> <grace seconds>" of an
 * account's last key rollover ("rollover:<account id>"): a later process
 * re-arms the stale-key-cache tolerance for what is left of the window.
 */
#define CK_ACCOUNT_ROLLOVER_SETTING "rollover:"
#define CK_ACCOUNT_GRACE_MAX 600      /* longest stale-key-cache tolerance, seconds */

struct ck_account_register_opts {
	const char *server;              /* directory URL (https://), required */
	const char *name;                /* NULL: "default" */
	const char *const *contacts;     /* "mailto:..." */
	size_t ncontacts;
	int agree_tos;                   /* the user agreed to the server's terms */
	enum ck_key_type key_type;       /* of a generated key; CK_KEY_NONE: ec256 */
	EVP_PKEY *key;                   /* bring your own account key (NULL: generate) */
	const char *eab_kid;             /* External Account Binding, NULL = none */
	const unsigned char *eab_hmac_key; /* raw HMAC key (decoded) */
	size_t eab_hmac_key_len;
	const char *ca_bundle;           /* may be NULL */
	struct ck_origins_arg allow_origins; /* given: replace the server's list on success */
	/* The account key on a PKCS#11 token (NULL: a software key): an RFC 7512
	 * URI naming the token (and maybe an existing key by id= or object=;
	 * else a key pair is made there, labelled "acme-account-NAME"), the
	 * module when the URI names none, the user PIN's file or fd:N. */
	const char *token_uri;
	const char *pkcs11_module;
	const char *pin_file;
};

#define CK_ACCOUNT_EAB_FILE_MAX 4096 /* bytes of an EAB HMAC key file (base64url text) */

/*
 * Reads an account private key (PEM) from path (or fd:N), at most 1 MiB, wiping the text after parsing.  OUTPUT *out
 * (EVP_PKEY_free), set only on success; errors are prefixed with path.
 */
CK_API enum ck_code ck_account_key_file_read(const char *path, EVP_PKEY **out,
					     struct ck_err *err);
/*
 * The EAB HMAC key: base64url text in a file (or fd:N), '=' padding
 * allowed, decoded.  OUTPUT *key and *len, set only on success; *key is a
 * secret: wipe it (OPENSSL_cleanse(*key, *len + 1)) and free() it.  A file
 * that holds no key (empty, or only '=' padding) is an error that says
 * what was expected.
 */
CK_API enum ck_code ck_account_eab_key_read(const char *path, unsigned char **key, size_t *len,
					    struct ck_err *err);

/*
 * Registers (or adopts) an account.  Refuses, before anything is stored,
 * when the server has terms of service and agree_tos is 0 (the message
 * names the terms URL).  The account key is committed to the store first,
 * with the account row (URL still empty: an interrupted registration is
 * resumed by running it again with the same key); then newAccount; then
 * the row gets URL, status, contacts.  The server becomes the store's
 * default server; the account becomes the server's default account if
 * the server had none.  *adopted = 1 when the key already had an account
 * (newAccount answered 200).  An existing valid account of the same name
 * with another key: CK_ERR_EXISTS.  With allow_origins.given the client
 * follows those origins (instead of the stored ones) and they become the
 * server's stored list once the account is stored.  *out: the stored row.
 */
CK_API enum ck_code ck_account_register(const struct ck_ctx *ctx, struct ck_store *st,
					const struct ck_account_register_opts *o, struct ck_account *out,
					int *adopted, struct ck_err *err);

/*
 * Finds the account of `key` on `server` by onlyReturnExisting and stores
 * the key and the account under `name` (NULL: "default").  allow_origins
 * (may be NULL) as in ck_account_register_opts.  No account:
 * CK_ERR_NOT_FOUND and nothing stored.  A different account already
 * stored under that name: CK_ERR_EXISTS.
 */
CK_API enum ck_code ck_account_recover(const struct ck_ctx *ctx, struct ck_store *st, const char *server,
				       const char *name, EVP_PKEY *key, const char *ca_bundle,
				       const struct ck_origins_arg *allow_origins, struct ck_account *out,
				       struct ck_err *err);
/*
 * The same for an account key that stayed on a PKCS#11 token: tok names
 * the existing key (its URI with id= or object=), its module and the PIN's
 * file (tried once).  The key is stored as its pkcs11: URI only after the
 * server found the account.
 */
struct ck_token_target;
CK_API enum ck_code ck_account_recover_token(const struct ck_ctx *ctx, struct ck_store *st,
					     const char *server, const char *name,
					     const struct ck_token_target *tok,
					     const char *ca_bundle,
					     const struct ck_origins_arg *allow_origins,
					     struct ck_account *out, struct ck_err *err);

/* Deactivates the account on the server (final) and records the status. */
CK_API enum ck_code ck_account_deactivate(struct ck_store *st, struct ck_account_session *s,
					  struct ck_err *err);

/*
 * Key rollover (RFC 8555 section 7.3.5), key first: the new key (new_key
 * if not NULL, else generated of key_type; CK_KEY_NONE = the current
 * key's type) is committed and recorded as the account's pending key
 * before keyChange is sent; the server's yes is then one transaction
 * (commit_rollover; the replaced key stays in use as the account's previous
 * key for grace_s).  Only a definite refusal clears the pending key: 409 ->
 * CK_ERR_EXISTS (the key belongs to another account), or a 4xx problem
 * document that refuses the request itself (malformed other than a JWS
 * verification failure, badPublicKey, badSignatureAlgorithm, badNonce,
 * rateLimited, userActionRequired).  Any other answer (5xx, gateway pages,
 * unauthorized, JWS verification errors) and an answer that never came are
 * resolved at once by asking the server (see ck_account_resolve_rollover);
 * if that fails too the next ck_account_open does it.  grace_s (0 disables, at
 * most CK_ACCOUNT_GRACE_MAX) is the stale-key-cache tolerance, recorded
 * so the next commands honour it too.  Fault points: rollover.after_key,
 * rollover.after_pending, rollover.after_keychange, rollover.after_commit,
 * rollover.after_record.
 */
CK_API enum ck_code ck_account_rollover(const struct ck_ctx *ctx, struct ck_store *st,
					struct ck_account_session *s, enum ck_key_type key_type,
					EVP_PKEY *new_key, unsigned grace_s, struct ck_err *err);
/* The same with the new key made on a PKCS#11 token (or the existing key
 * token_uri names by id= or object=), labelled acme-account-NAME; the
 * token is logged in to with the PIN from pin_file (file or fd:N). */
CK_API enum ck_code ck_account_rollover_token(const struct ck_ctx *ctx, struct ck_store *st,
					      struct ck_account_session *s,
					      enum ck_key_type key_type, const char *token_uri,
					      const char *pkcs11_module, const char *pin_file,
					      unsigned grace_s, struct ck_err *err);

/*
 * Resolves a pending rollover of s->account (s->client must exist; its
 * account is reset afterwards by the caller): asks the server with the
 * pending key, then the old one (newAccount onlyReturnExisting).  New key
 * accepted -> commit_rollover and the grace window armed; old accepted
 * -> pending cleared; neither (or no answer) -> CK_ERR_STATE and both
 * keys kept.  Logs what it did at INFO.  s->account is re-read.
 */
CK_API enum ck_code ck_account_resolve_rollover(const struct ck_ctx *ctx, struct ck_store *st,
						struct ck_account_session *s, struct ck_err *err);

#ifdef __cplusplus
}
#endif
#endif
