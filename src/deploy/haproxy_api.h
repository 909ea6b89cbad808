/*
 * haproxy_api.h - a client of HAProxy's runtime API (the `stats socket
 * ... level admin` unix socket) for swapping a certificate without a
 * reload: `set ssl cert FILE <<` with the combined PEM, `commit ssl cert`,
 * `abort ssl cert` when anything fails, `show ssl cert FILE` to read back
 * what is loaded.  One command per connection (HAProxy's non-interactive
 * mode answers and closes); every reply bounded in size and time.
 */
#ifndef CK_DEPLOY_HAPROXY_API_H
#define CK_DEPLOY_HAPROXY_API_H

#include "core/core.h"

#define HAPI_REPLY_MAX (64 * 1024)   /* one reply of the runtime API */
#define HAPI_TIMEOUT_MS 10000        /* one command: connect, send, read to the end */
#define HAPI_PAYLOAD_MAX (1024 * 1024) /* the combined PEM sent with set ssl cert */

/*
 * Sends cmd (one line, no newline) and, when payload is not NULL, the
 * payload after " <<\n" ending with an empty line, to the socket at path;
 * *reply (NUL-terminated, free()) gets everything HAProxy answered.  The
 * payload may hold a key: it is sent, never copied, never logged.
 * CK_ERR_NETWORK naming the socket when it cannot be reached or the
 * conversation breaks; CK_ERR_TIMEOUT; CK_ERR_TOO_LARGE past
 * HAPI_REPLY_MAX; CK_ERR_INVALID_ARG for a command with a control byte or
 * a payload with an empty line (it would end the payload early).
 */
enum ck_code dep_haproxy_cmd(const char *socket_path, const char *cmd, const void *payload,
			     size_t payload_len, char **reply, struct ck_err *err);

/*
 * Replaces the certificate HAProxy loaded from file (the name in its
 * configuration's `crt`) with pem (leaf, chain, key) in memory:
 * set ssl cert + commit ssl cert, and abort ssl cert when either fails
 * (HAProxy then keeps serving what it had).  CK_ERR_STATE with HAProxy's
 * answer (sanitized) when it refused: a file its configuration does not
 * reference, a key that does not match, ...
 */
enum ck_code dep_haproxy_cert_swap(const char *socket_path, const char *file, const void *pem,
				   size_t pem_len, struct ck_err *err);

/* The SHA-1 fingerprint (upper-case hex, as HAProxy prints it) of the
 * certificate HAProxy has committed for file, into out. */
enum ck_code dep_haproxy_cert_sha1(const char *socket_path, const char *file, char out[41],
				   struct ck_err *err);

#endif
