/*
 * http01.h - the http-01 standalone responder (RFC 8555 section 8.3) on
 * libevent's evhttp.  It serves only GET (and HEAD) of
 * /.well-known/acme-challenge/<token> for tokens registered for the
 * current order, answering the key authorization as text/plain; anything
 * else is 404, a request over the responder's bounds (headers, a body,
 * connections at once: http01.c) is refused.  It never touches files, never serves a token it was not
 * given, and never logs key authorizations.
 *
 * Threading: the responder answers from its own thread; http01_add,
 * http01_remove and http01_clear may be called from the owner's thread at
 * any time (the token table is locked).
 */
#ifndef CK_HTTP01_H
#define CK_HTTP01_H

#include "certkeep.h"
#include "core/core.h"

#define HTTP01_DEFAULT_PORT 80
#define HTTP01_TOKENS_MAX 256          /* tokens served at once (one order: <= 100 names) */
#define HTTP01_TOKEN_MAX 256           /* one token (base64url) */
#define HTTP01_KEYAUTH_MAX 512         /* one key authorization */
#define HTTP01_PATH_PREFIX "/.well-known/acme-challenge/"

struct http01;

/*
 * Starts listening on address:port.  address NULL or "" means every
 * address (IPv6 and IPv4 where the system allows dual stack, else IPv4);
 * otherwise an IPv4 or IPv6 literal.  port 0 picks a free port (see
 * http01_port).  ctx is borrowed and must outlive the responder.  Bind
 * failure -> CK_ERR_NETWORK (or CK_ERR_PERMISSION) naming address:port and
 * suggesting --http-port / --http-address.
 */
enum ck_code http01_start(const struct ck_ctx *ctx, const char *address, unsigned port,
			  struct http01 **out, struct ck_err *err);
/* The port actually bound (useful after port 0). */
unsigned http01_port(const struct http01 *h);
/*
 * Serves keyauth at /.well-known/acme-challenge/<token>.  token must be
 * base64url (<= HTTP01_TOKEN_MAX), keyauth printable "<token>.<b64url>"
 * (<= HTTP01_KEYAUTH_MAX).  Re-adding a token replaces its answer.
 */
enum ck_code http01_add(struct http01 *h, const char *token, const char *keyauth,
			struct ck_err *err);
/*
 * 1 when token has been answered with its key authorization since it was
 * (last) added, *at (may be NULL) the ck_mono_ms() of the first answer; 0
 * when not yet or unknown.  A re-add starts over.
 */
int http01_served(struct http01 *h, const char *token, long long *at);
/* Stops serving token (no-op if unknown). */
void http01_remove(struct http01 *h, const char *token);
/* Stops serving every token. */
void http01_clear(struct http01 *h);
/* Stops serving (every connection, the socket, the thread), frees
 * everything.  NULL is a no-op. */
void http01_stop(struct http01 *h);
/* Number of challenge requests answered with a key authorization (tests, logs). */
unsigned long http01_hits(const struct http01 *h);

#endif
