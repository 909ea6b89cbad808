/*
 * certkeep.h - the public face of libcertkeep.
 *
 * libcertkeep is an ACME (RFC 8555) client, a certificate-and-private-key
 * store, and a TLS deployer.  This header holds what an embedding program
 * needs: the error type shared by every call, and the store API (see
 * docs/store.md for the schema and docs/invariants.md for what the store
 * guarantees).
 *
 * Conventions (every function follows them):
 *  - Functions return enum ck_code: CK_OK (0) on success.  On failure they
 *    fill the caller's struct ck_err (which may be NULL) and leave every
 *    OUT parameter untouched.
 *  - x_free(NULL) is a no-op; x_cleanup(&p) frees and NULLs the pointer.
 *  - Secrets (keys, PINs, passwords, EAB keys) are wiped before they are
 *    freed and never appear in error messages or logs.
 */
#ifndef CERTKEEP_H
#define CERTKEEP_H

#include <stddef.h>
#include <stdint.h>

#include <certkeep/version.h> /* CERTKEEP_VERSION, generated from meson.build */

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes.  Numbers are never reused or renumbered: only added. */
enum ck_code {
	CK_OK = 0,
	CK_ERR_INTERNAL = 1,          /* a bug: an invariant of the code broke */
	CK_ERR_NOMEM = 2,
	CK_ERR_INVALID_ARG = 3,       /* the caller's arguments are wrong */
	CK_ERR_IO = 4,                /* file system: open/read/write/fsync/rename */
	CK_ERR_PARSE = 5,             /* malformed outside data (JSON, PEM, DER, ...) */
	CK_ERR_TOO_LARGE = 6,         /* outside data over its named maximum */
	CK_ERR_CRYPTO = 7,            /* OpenSSL refused an operation */
	CK_ERR_NOT_FOUND = 8,         /* a reference matches nothing */
	CK_ERR_AMBIGUOUS = 9,         /* a reference matches several things */
	CK_ERR_EXISTS = 10,           /* already there */
	CK_ERR_STORE = 11,            /* the store's database failed */
	CK_ERR_BUSY = 12,             /* store locked by another process for too long */
	CK_ERR_NETWORK = 13,          /* connect/send/receive failed */
	CK_ERR_TLS = 14,              /* TLS handshake or verification failed */
	CK_ERR_HTTP = 15,             /* unexpected HTTP status without a problem document */
	CK_ERR_ACME = 16,             /* the ACME server answered with a problem document */
	CK_ERR_TIMEOUT = 17,          /* a bounded wait ran out */
	CK_ERR_KEY_MISSING = 18,      /* a certificate has no private key here */
	CK_ERR_KEY_MISMATCH = 19,     /* a key does not match its certificate */
	CK_ERR_KEY_NOT_EXPORTABLE = 20, /* the key lives on a token and cannot leave it */
	CK_ERR_BAD_PASSWORD = 21,     /* decryption with the given password failed */
	CK_ERR_IN_USE = 22,           /* refused: something still uses it (a binding) */
	CK_ERR_UNSUPPORTED = 23,      /* a valid request this build does not support */
	CK_ERR_STATE = 24,            /* not allowed in the current state (e.g. deactivated account) */
	CK_ERR_VALIDATION = 25,       /* the server could not validate a challenge */
	CK_ERR_CORRUPT = 26,          /* the store holds data that breaks an invariant */
	CK_ERR_PERMISSION = 27,       /* file or directory permissions are unsafe or denied */
};

#define CK_ERR_MSG_MAX 512
#define CK_ERR_PROBLEM_TYPE_MAX 160
#define CK_ERR_SUBPROBLEMS_MAX 1024

/*
 * Detail of a failure.  `msg` is one line a user can act on.  For
 * CK_ERR_ACME the problem fields hold the server's problem document
 * (RFC 8555 section 6.7), matched by `problem_type`, never by text.
 */
struct ck_err {
	enum ck_code code;
	char where[64];                 /* function that failed first */
	char msg[CK_ERR_MSG_MAX];
	int http_status;                /* 0 if no HTTP response */
	char problem_type[CK_ERR_PROBLEM_TYPE_MAX]; /* e.g. urn:ietf:params:acme:error:badNonce */
	char problem_detail[CK_ERR_MSG_MAX];
	char subproblems[CK_ERR_SUBPROBLEMS_MAX];   /* "type (ident): detail; ..." */
	long retry_after;               /* seconds from the server's Retry-After, -1 if none */
};

/*
 * Process-wide set-up of the libraries libcertkeep uses: OpenSSL
 * (OPENSSL_init_crypto with its configuration file, error strings, all
 * ciphers and digests; OPENSSL_init_ssl) and libcurl
 * (curl_global_init(CURL_GLOBAL_DEFAULT)).  Call it once, at the start of
 * main, BEFORE any other thread exists (curl_global_init is not
 * thread-safe), and before any other ck_ call that may reach the network.
 * Idempotent: a second call returns CK_OK and changes nothing.  Returns
 * CK_OK, CK_ERR_CRYPTO (OpenSSL could not initialise) or CK_ERR_NOMEM /
 * CK_ERR_INTERNAL (libcurl could not).  Apart from this call libcertkeep
 * changes no process-wide state (no umask, signals or environment).
 */
enum ck_code ck_global_init(void);
/*
 * Undoes ck_global_init's libcurl part (curl_global_cleanup), when every
 * other thread that used libcertkeep has finished; a no-op without a
 * matching ck_global_init.  OpenSSL releases its own state at exit.
 */
void ck_global_cleanup(void);

/* Resets *e to "no error" (code CK_OK, empty strings, retry_after -1). */
void ck_err_clear(struct ck_err *e);
/* Stable name of a code, e.g. "key-missing". */
const char *ck_code_name(enum ck_code code);
/* Short name of an ACME problem type without its URN prefix ("badNonce"), or "" */
const char *ck_err_problem_short(const struct ck_err *e);

#ifdef __cplusplus
}
#endif
#endif
