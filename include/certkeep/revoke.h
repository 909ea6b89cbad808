/*
 * certkeep/revoke.h - revoke a stored certificate with its ACME server
 * (RFC 8555 section 7.6) and record the revocation in the store.
 *
 * Only a definite answer is recorded: the server's yes (revoked now) or
 * its alreadyRevoked.  Any other 4xx problem is a "no" and records
 * nothing.  A 5xx, a timeout or a dropped connection is unknown: nothing
 * is recorded and the error says to ask again (revoking twice is safe:
 * the second answer is alreadyRevoked).
 */
#ifndef CERTKEEP_REVOKE_H
#define CERTKEEP_REVOKE_H

#include <stdint.h>
#include <time.h>

#include <certkeep/context.h>
#include <certkeep/error.h>
#include <certkeep/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* RFC 5280 CRLReason codes that an ACME client may ask for. */
#define CK_REVOKE_UNSPECIFIED 0
#define CK_REVOKE_KEY_COMPROMISE 1
#define CK_REVOKE_AFFILIATION_CHANGED 3
#define CK_REVOKE_SUPERSEDED 4
#define CK_REVOKE_CESSATION_OF_OPERATION 5

/* The reason code of name ("unspecified", "keyCompromise",
 * "affiliationChanged", "superseded", "cessationOfOperation"; exact
 * case) into *code; anything else -> CK_ERR_INVALID_ARG naming the five. */
CK_API enum ck_code ck_revoke_reason_parse(const char *name, int *code, struct ck_err *err);
/* The name of one of the five codes above; NULL for any other code. */
CK_API const char *ck_revoke_reason_name(int code);

struct ck_revoke_opts {
	int reason;                /* CK_REVOKE_*; 0 = unspecified */
	int with_cert_key;         /* sign with the certificate's own key (jwk), not an account */
	const char *server;        /* directory URL when the store has no order for the
				    * certificate; NULL = the store's default server */
	const char *account;       /* account name in that case; NULL = the server's default */
	const char *ca_bundle;     /* trust anchors for the server's TLS; NULL = system */
	const char *pin_file;      /* the user PIN (a file or fd:N) of the token holding the
				    * signing key (the account's, or the certificate's with
				    * with_cert_key); NULL: the stored URI's pin-source.
				    * Never the PIN itself. */
};

struct ck_revoke_result {
	int64_t cert_id;
	char sha256[65];
	char serial[80];
	int already;               /* the server said alreadyRevoked */
	time_t revoked_at;         /* as recorded in the store (the first record kept) */
	char reason[32];           /* as recorded; "" = not known */
	char server[CK_STORE_URL_MAX + 1];
	char signer[CK_STORE_URL_MAX + 64]; /* "the certificate's key" or "account NAME (URL)" */
};

/*
 * Revokes the certificate that ref (a REF as `certkeep show` takes it)
 * names.  Signed by the account that ordered it (the store's order
 * record), else by opts->account on opts->server (defaults as in
 * ck_account_open); with opts->with_cert_key by the certificate's own key
 * from the store (a key on a token cannot sign ACME requests yet:
 * CK_ERR_UNSUPPORTED; no key here: CK_ERR_KEY_MISSING).  On the server's
 * yes or alreadyRevoked the store records the revocation
 * (ck_store_cert_revoked_set; alreadyRevoked with the reason not known)
 * and *out is filled.  Errors: the server's "no" as CK_ERR_ACME; an
 * unknown outcome keeps its code (CK_ERR_HTTP, _NETWORK, _TIMEOUT, or
 * CK_ERR_ACME with a 5xx) with a message saying it may or may not have
 * happened and to run the command again.
 */
CK_API enum ck_code ck_revoke(const struct ck_ctx *ctx, struct ck_store *st, const char *ref,
			      const struct ck_revoke_opts *opts, struct ck_revoke_result *out,
			      struct ck_err *err);

#ifdef __cplusplus
}
#endif
#endif
