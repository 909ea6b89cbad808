/*
 * certkeep/error.h - the one error type every libcertkeep call shares,
 * and CK_API, the mark of an exported function.
 *
 * Conventions (every public function follows them):
 *  - Functions return enum ck_code: CK_OK (0) on success.  On failure they
 *    fill the caller's struct ck_err (which may be NULL) and leave every
 *    OUT parameter untouched.
 *  - x_free(NULL) is a no-op; x_cleanup(&p) frees and NULLs the pointer.
 *  - Secrets (keys, PINs, passwords, EAB keys) are wiped before they are
 *    freed and never appear in error messages or logs.
 */
#ifndef CERTKEEP_ERROR_H
#define CERTKEEP_ERROR_H

#include <stddef.h>
#include <stdint.h>

/*
 * CK_API marks a function of the public API.  libcertkeep is compiled
 * with -fvisibility=hidden: only functions declared with CK_API in
 * include/certkeep/ are exported from libcertkeep.so; everything else is
 * internal (scripts/check-house fails on an exported symbol no public
 * header declares).
 */
#if defined(__GNUC__) || defined(__clang__)
#define CK_API __attribute__((visibility("default")))
#else
#define CK_API
#endif

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
	CK_ERR_CANCELLED = 28,        /* stopped on request (SIGINT/SIGTERM, ck_ctx_set_cancel) */
	CK_ERR_LEASE_LOST = 29,       /* a renewal lease this process held expired or was taken over:
				       * its writes for that lineage are refused (fencing) */
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

/* Resets *e to "no error" (code CK_OK, empty strings, retry_after -1). */
CK_API void ck_err_clear(struct ck_err *e);
/* Stable name of a code, e.g. "key-missing". */
CK_API const char *ck_code_name(enum ck_code code);
/* Short name of an ACME problem type without its URN prefix ("badNonce"), or "" */
CK_API const char *ck_err_problem_short(const struct ck_err *e);

#ifdef __cplusplus
}
#endif
#endif
