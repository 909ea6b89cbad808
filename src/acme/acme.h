/*
 * acme.h - the RFC 8555 protocol layer: transport (libcurl, replaceable
 * for tests), directory, nonce pool, signed requests, problem documents,
 * Retry-After, accounts (new, lookup, update, deactivate, EAB, keyChange),
 * orders, authorizations, challenges, finalize, certificate download.
 *
 * It takes EVP_PKEYs and URLs and returns parsed objects.  It never knows
 * the store, never writes files and never logs secrets.  Every string a
 * server hands back is type-checked and bounded before use; every URL it
 * hands back must be https:// and on the directory's origin (scheme,
 * host, port) or on an origin the caller allowed for that server
 * (acme_client_allow_origin): no request ever goes anywhere else.
 *
 * Ownership: objects filled by acme_* functions are owned by the caller
 * and released with their _cleanup function (safe on a zeroed or already
 * cleaned-up struct).  OUT structs are filled only on success.
 *
 * Threading: one struct acme_client belongs to one thread at a time.
 */
#ifndef CK_ACME_H
#define CK_ACME_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "certkeep.h"
#include "core/core.h"

/* ---- named maxima ------------------------------------------------------ */

#define ACME_USER_AGENT "certkeep/" CERTKEEP_VERSION
#define ACME_BODY_MAX (1024 * 1024)       /* any response body (JSON or PEM chain) */
#define ACME_JSON_DEPTH_MAX 16            /* nesting of arrays/objects in a response */
#define ACME_URL_MAX 2048                 /* any URL from the server */
#define ACME_ORIGIN_MAX 300               /* "https://" host ":" port, NUL included */
#define ACME_ORIGINS_MAX 8                /* extra origins allowed for one server */
#define ACME_NONCE_MAX 512                /* a Replay-Nonce value */
/* A nonce kept longer than this is dropped, not used (a server expires
 * nonces; a stale one costs a badNonce round trip). */
#define ACME_NONCE_MAX_AGE_MS 60000
/* With a share: how long a client waits for another's nonce before it
 * sends HEAD newNonce. */
#define ACME_NONCE_WAIT_MS 250
#define ACME_TOKEN_MAX 256                /* a challenge token (base64url only) */
#define ACME_HEADERS_MAX 64               /* headers kept from one response */
#define ACME_HEADER_VALUE_MAX 8192        /* one header value */
#define ACME_LINKS_MAX 16                 /* alternate chains recorded per certificate */
#define ACME_CONTACTS_MAX 32              /* contacts of one account */
#define ACME_IDENTIFIERS_MAX 100          /* identifiers in one order */
#define ACME_CHALLENGES_MAX 16            /* challenges in one authorization */
#define ACME_PROFILES_MAX 32              /* profiles one directory may offer */
#define ACME_PROFILE_NAME_MAX 64          /* a profile name: [A-Za-z0-9._-] */
#define ACME_PROFILE_DESC_MAX 1024        /* a profile's description */
/* badNonce answers retried before giving up.  Each retry is one request and
 * no sleep; Pebble's PEBBLE_WFE_NONCEREJECT=60 rejects 60 % of good nonces,
 * so a 20-try run of rejections (0.6^20 = 3.7e-5 per request) stays rare
 * across a whole test suite, while a server that rejects every nonce still
 * ends quickly. */
#define ACME_BAD_NONCE_RETRIES 20
#define ACME_CONNECT_TIMEOUT_S 15         /* default connect timeout */
#define ACME_TOTAL_TIMEOUT_S 60           /* default whole-request timeout */
#define ACME_POLL_TIMEOUT_S 120           /* default bound on one authz/order wait */
#define ACME_POLL_MIN_S 1                 /* Retry-After clamp for polling */
#define ACME_POLL_MAX_S 3600
#define ACME_POLL_DEFAULT_S 1             /* poll interval when Retry-After is absent */
#define ACME_POLL_FIRST_MS 250            /* first poll without Retry-After; doubles up to the interval */
#define ACME_ROLLOVER_GRACE_S 10          /* default stale-key-cache tolerance */

/* ---- transport --------------------------------------------------------- */

enum acme_method { ACME_METHOD_GET = 0, ACME_METHOD_HEAD = 1, ACME_METHOD_POST = 2 };

struct acme_http_request {
	enum acme_method method;
	const char *url;
	const char *body;           /* POST only; NULL otherwise */
	size_t body_len;
	const char *content_type;   /* POST: "application/jose+json"; NULL otherwise */
	const char *accept;         /* NULL = no Accept header */
};

struct acme_http_header {
	char *name;
	char *value;
};

/*
 * One HTTP response.  body is NUL-terminated (not counted in body_len),
 * may be NULL for an empty body.  Header names compare case-insensitively;
 * a header sent several times (Link) appears several times, in order.
 */
struct acme_http_response {
	long status;
	char *body;
	size_t body_len;
	struct acme_http_header *headers;
	size_t nheaders;
};

/*
 * The transport.  request() performs one HTTP exchange and fills *out
 * (which it receives zeroed) or fails with CK_ERR_NETWORK, CK_ERR_TLS,
 * CK_ERR_TIMEOUT or CK_ERR_TOO_LARGE (body over ACME_BODY_MAX).  Any
 * status code, 4xx/5xx included, is a successful exchange.  The client
 * checks the URL scheme before calling it.
 */
struct acme_http_ops {
	enum ck_code (*request)(void *arg, const struct acme_http_request *req,
				struct acme_http_response *out, struct ck_err *err);
	void *arg;
};

/* Appends a header (copies both strings).  CK_ERR_TOO_LARGE past ACME_HEADERS_MAX. */
enum ck_code acme_http_response_add_header(struct acme_http_response *r, const char *name,
					   const char *value, struct ck_err *err);
/* Replaces the body with a copy of n bytes.  CK_ERR_TOO_LARGE past ACME_BODY_MAX. */
enum ck_code acme_http_response_set_body(struct acme_http_response *r, const char *body,
					 size_t n, struct ck_err *err);
/* First header called name (case-insensitive), or NULL. */
const char *acme_http_response_header(const struct acme_http_response *r, const char *name);
void acme_http_response_cleanup(struct acme_http_response *r);

/* ---- client ------------------------------------------------------------- */

struct acme_client;

/*
 * A client for one ACME directory.  directory_url must be https://.
 * ca_bundle names a PEM file of trust anchors used instead of the system
 * store (NULL: the system store); unreadable -> CK_ERR_IO.  TLS is always
 * verified (peer and host name); redirects are never followed.  ctx
 * (clock, sleep, log) is borrowed and must outlive the client.  Nothing is
 * fetched yet: the directory is loaded on first use.
 */
enum ck_code acme_client_new(const struct ck_ctx *ctx, const char *directory_url,
			     const char *ca_bundle, struct acme_client **out, struct ck_err *err);
void acme_client_free(struct acme_client *c);
/* Frees *c and sets it to NULL. */
void acme_client_cleanup(struct acme_client **c);

/*
 * What the clients of one batch hand on to each other (ctx->acme_share):
 * per directory URL and CA bundle the directory, unused nonces (each given
 * to one client only) and idle libcurl handles, which a client of the
 * batch borrows for one request at a time.  Thread-safe; free it after
 * the last client that used it.
 */
enum ck_code acme_share_new(struct acme_share **out, struct ck_err *err);
void acme_share_free(struct acme_share *sh);

/* Replaces the libcurl transport (unit tests).  ops is copied. */
void acme_client_set_transport(struct acme_client *c, const struct acme_http_ops *ops);
/* Connect and whole-request timeouts in seconds (0 keeps the current value). */
void acme_client_set_timeouts(struct acme_client *c, unsigned connect_s, unsigned total_s);
/* Bound on one acme_authz_wait / acme_order_wait, seconds (default ACME_POLL_TIMEOUT_S). */
void acme_client_set_poll_timeout(struct acme_client *c, unsigned seconds);
/* Poll interval when the server sends no Retry-After, milliseconds (default
 * ACME_POLL_DEFAULT_S * 1000; at least 50).  A Retry-After always wins. */
void acme_client_set_poll_interval(struct acme_client *c, unsigned ms);

/*
 * The account the client signs with.  key is up-referenced (the caller
 * keeps its own reference); kid is the account URL, or NULL before the
 * account exists (requests are then signed with "jwk").  An armed rollover
 * grace stays tied to the key it was armed for.  The _signer form signs
 * through s (a key on a token: crypto.h's struct ck_signer), borrowed: s
 * must outlive the client or be replaced first.
 */
struct ck_signer;
enum ck_code acme_client_set_account_signer(struct acme_client *c, struct ck_signer *s,
					    const char *kid, struct ck_err *err);
/* Replaces the client's signer (own: the client frees it); internal to acme. */
void acme_client_signer_set(struct acme_client *c, struct ck_signer *s, int own);
enum ck_code acme_client_set_account(struct acme_client *c, EVP_PKEY *key, const char *kid,
				     struct ck_err *err);
/* The account URL in use, or NULL. */
const char *acme_client_kid(const struct acme_client *c);
/* The account key in use (borrowed), or NULL. */
EVP_PKEY *acme_client_key(const struct acme_client *c);

/*
 * Stale server key cache tolerance (Boulder cached account keys after
 * keyChange): for `seconds` after a rollover, answers "unauthorized" or
 * "malformed" whose detail mentions JWS verification, to requests signed
 * with the new key, are retried with backoff until the grace runs out;
 * then the server's message is returned.  0 disables.  Default
 * ACME_ROLLOVER_GRACE_S.  The window opens only after acme_account_key_change
 * succeeds on this client, or by acme_client_arm_rollover_grace.
 */
void acme_client_set_rollover_grace(struct acme_client *c, unsigned seconds);
/* Opens the grace window now for the client's current key (after resolving
 * an interrupted rollover to the new key).  The grace applies only to
 * requests signed with that key. */
void acme_client_arm_rollover_grace(struct acme_client *c);

/*
 * Origins.  Every URL the client requests must be on the directory's
 * origin or on one allowed here; anything else is refused before a byte
 * is sent, with an error (CK_ERR_PARSE) that names both origins.  Origins
 * compare as "https://host:port": host case-insensitive, an IPv6 literal
 * in brackets, the port explicit or 443.  URLs are parsed by libcurl's URL
 * API, as the transport parses them.
 */

/* Normalises "https://HOST[:PORT][/]" into out; anything with a path,
 * query, fragment or user name, or not https -> CK_ERR_INVALID_ARG. */
enum ck_code acme_origin_parse(const char *text, char out[ACME_ORIGIN_MAX], struct ck_err *err);
/* The origin of an https:// URL into out; CK_ERR_PARSE if it has none. */
enum ck_code acme_origin_of(const char *url, char out[ACME_ORIGIN_MAX], struct ck_err *err);
/* Allows one more origin (acme_origin_parse syntax) for this client, for a
 * CA that really serves from several hosts; at most ACME_ORIGINS_MAX
 * (CK_ERR_TOO_LARGE).  Allowing an origin twice is harmless. */
enum ck_code acme_client_allow_origin(struct acme_client *c, const char *origin,
				      struct ck_err *err);
/* Forgets every origin allowed with acme_client_allow_origin (to replace the list). */
void acme_client_clear_origins(struct acme_client *c);
/* The directory's origin ("https://host:port"), borrowed. */
const char *acme_client_origin(const struct acme_client *c);

/*
 * Gives the nonce in hand back to the batch's pool (ctx->acme_share; none:
 * it is freed): the client is about to sleep, or to be kept idle.
 */
void acme_client_park(struct acme_client *c);
/*
 * Drops the client's parsed directory when a request found it stale (a 404
 * on one of its URLs, a badNonce storm); the next use fetches it again.
 * Only where nothing borrows from the directory (between operations).
 */
void acme_client_refresh_stale(struct acme_client *c);

/* Number of HTTP requests this client has sent (for tests and benchmarks). */
unsigned long acme_client_request_count(const struct acme_client *c);

/* ---- directory --------------------------------------------------------- */

/* One profile the server offers (meta.profiles, the ACME profiles extension). */
struct acme_profile {
	char *name;                 /* [A-Za-z0-9._-], 1..ACME_PROFILE_NAME_MAX */
	char *description;          /* printable, at most ACME_PROFILE_DESC_MAX bytes */
};

struct acme_directory {
	char *new_nonce;
	char *new_account;
	char *new_order;
	char *new_authz;            /* optional: NULL */
	char *revoke_cert;
	char *key_change;
	char *renewal_info;         /* RFC 9773 ARI, optional: NULL */
	char *terms_of_service;     /* meta.termsOfService, optional */
	char *website;              /* meta.website, optional */
	int external_account_required; /* meta.externalAccountRequired, 0 if absent */
	struct acme_profile *profiles; /* meta.profiles in the server's order, NULL if none */
	size_t nprofiles;
};

/*
 * The directory (fetched on first call, then cached for the client's life).
 * *out is borrowed from the client.  newNonce, newAccount and newOrder are
 * required; every URL must be https:// and on an allowed origin (the
 * directory's own, or one given to acme_client_allow_origin): otherwise
 * CK_ERR_PARSE and the directory is not kept.
 */
enum ck_code acme_directory_get(struct acme_client *c, const struct acme_directory **out,
				struct ck_err *err);
/* Parses a directory document (exposed for tests and fuzzing). */
enum ck_code acme_directory_parse(const char *body, size_t len, struct acme_directory *out,
				  struct ck_err *err);
void acme_directory_cleanup(struct acme_directory *d);
/* 1 if d offers a profile named name, else 0. */
int acme_directory_has_profile(const struct acme_directory *d, const char *name);
/*
 * CK_OK if profile is NULL or one d offers; otherwise CK_ERR_INVALID_ARG
 * with a message naming the profiles d offers (or saying it offers none).
 */
enum ck_code acme_directory_check_profile(const struct acme_directory *d, const char *profile,
					  struct ck_err *err);

/* ---- problems, Retry-After, Link ---------------------------------------- */

/*
 * Fills err from a response that is not a success: an
 * application/problem+json body gives problem_type, problem_detail,
 * subproblems ("type (ident): detail; ...") and the code CK_ERR_ACME; any
 * other body gives CK_ERR_HTTP with the status.  http_status is always
 * set; retry_after is set from the Retry-After header on 429/503.
 * Returns the code it set.  Server text is sanitised (printable ASCII).
 */
enum ck_code acme_problem_from_response(const struct acme_http_response *r, time_t now,
					struct ck_err *err);
/* Parses a problem document body (any content type) into err; CK_ERR_ACME
 * on success, CK_ERR_PARSE if it is not a problem document. */
enum ck_code acme_problem_parse(const char *body, size_t len, long http_status,
				struct ck_err *err);

/*
 * Retry-After value -> seconds from now: delta-seconds or an HTTP-date
 * (dates in the past give 0).  -1 if value is NULL or garbage.
 */
long acme_retry_after_parse(const char *value, time_t now);
/* Clamp: -1 (absent) -> dflt; else into [min, max]. */
unsigned acme_retry_after_clamp(long seconds, unsigned min, unsigned max, unsigned dflt);

/* Lists of strings (URLs, contacts) are struct ck_strv (core.h). */

/*
 * Appends to *out the targets of every link in one Link header value
 * (RFC 8288: comma-separated `<uri>; param=value`) whose rel list contains
 * `rel`.  Targets must be https://; at most `max` entries in *out (later
 * ones are ignored, not an error).  Malformed syntax -> CK_ERR_PARSE.
 */
enum ck_code acme_link_parse(const char *value, const char *rel, size_t max,
			     struct ck_strv *out, struct ck_err *err);

/* ---- generic requests (for later extensions: ARI, revocation) ----------- */

/*
 * Signed POST of payload (JSON text; "" or NULL = POST-as-GET) to url with the
 * client's account (kid if known, else jwk), with nonce handling and
 * bounded badNonce retries.  2xx -> CK_OK and *out filled; otherwise the
 * problem is in err (see acme_problem_from_response).
 */
enum ck_code acme_post(struct acme_client *c, const char *url, const char *payload,
		       struct acme_http_response *out, struct ck_err *err);
/* Unauthenticated GET (directory, ARI renewalInfo); non-2xx -> error as above. */
enum ck_code acme_get(struct acme_client *c, const char *url, struct acme_http_response *out,
		      struct ck_err *err);

/* ---- object statuses (RFC 8555 section 7.1.6) --------------------------- */

/*
 * The status of an account, order, authorization or challenge, parsed once
 * where the JSON is read (the objects below keep the server's text too, in
 * `status`, for messages and for the store, which stores the text form).
 * ACME_ST_UNKNOWN is 0: a zeroed object, and any text RFC 8555 does not
 * define, is unknown.
 */
enum acme_status {
	ACME_ST_UNKNOWN = 0,
	ACME_ST_PENDING,
	ACME_ST_READY,
	ACME_ST_PROCESSING,
	ACME_ST_VALID,
	ACME_ST_INVALID,
	ACME_ST_EXPIRED,
	ACME_ST_DEACTIVATED,
	ACME_ST_REVOKED,
};
/* The status for its RFC 8555 text (exact, case-sensitive); NULL or other -> ACME_ST_UNKNOWN. */
enum acme_status acme_status_parse(const char *text);
/* The RFC 8555 text of st ("pending", ...); "unknown" for ACME_ST_UNKNOWN or out of range. */
const char *acme_status_name(enum acme_status st);

/* ---- accounts (RFC 8555 section 7.3) ------------------------------------ */

struct acme_account {
	char *url;                  /* the kid */
	char *status;               /* "valid", "deactivated", "revoked" */
	enum acme_status state;     /* status, parsed */
	struct ck_strv contacts;
	int tos_agreed;             /* termsOfServiceAgreed: 1, 0, or -1 if not reported */
	char *orders;               /* orders list URL, optional */
	int created;                /* newAccount: 1 = 201 created, 0 = 200 existing adopted */
};
void acme_account_cleanup(struct acme_account *a);

struct acme_account_new_opts {
	const char *const *contacts;   /* e.g. "mailto:a@example.org"; may be NULL */
	size_t ncontacts;
	int agree_tos;                 /* termsOfServiceAgreed: true */
	int only_return_existing;      /* look up, never create */
	const char *eab_kid;           /* External Account Binding, NULL = none */
	const unsigned char *eab_hmac_key; /* raw key bytes (decoded from base64url) */
	size_t eab_hmac_key_len;
};

/*
 * newAccount with the client's key (acme_client_set_account with kid NULL
 * or any kid; the request is signed with jwk).  On success *out holds the
 * account and the client's kid is set to out->url.  With
 * only_return_existing and no account for the key: CK_ERR_NOT_FOUND with
 * problem_type accountDoesNotExist.
 */
enum ck_code acme_account_new(struct acme_client *c, const struct acme_account_new_opts *opts,
			      struct acme_account *out, struct ck_err *err);
/* POST-as-GET to the kid. */
enum ck_code acme_account_fetch(struct acme_client *c, struct acme_account *out,
				struct ck_err *err);

struct acme_account_update_opts {
	int set_contacts;              /* send "contact" (an empty list clears) */
	const char *const *contacts;
	size_t ncontacts;
	int agree_tos;                 /* send termsOfServiceAgreed: true */
};
enum ck_code acme_account_update(struct acme_client *c, const struct acme_account_update_opts *o,
				 struct acme_account *out, struct ck_err *err);
/* {"status":"deactivated"}; *out (may be NULL) receives the answer. */
enum ck_code acme_account_deactivate(struct acme_client *c, struct acme_account *out,
				     struct ck_err *err);

/*
 * keyChange (RFC 8555 section 7.3.5): inner JWS by new_key (jwk, url =
 * keyChange URL, no nonce; payload {account, oldKey}), outer JWS by the
 * current key with kid.  On success the client signs with new_key from
 * now on and the rollover grace window opens.
 *
 * First asks the server whether new_key already has an account
 * (newAccount onlyReturnExisting signed by new_key; one extra request):
 *  - another account -> CK_ERR_EXISTS naming it, nothing changed (servers
 *    disagree on the keyChange answer here: RFC 409, Pebble 2.4 500);
 *  - this account (an earlier keyChange went through, e.g. before a
 *    crash) -> CK_OK without a second keyChange: the call is idempotent.
 * A 409 from keyChange itself is also CK_ERR_EXISTS.  The client keeps the
 * old key on any failure; the caller must have persisted new_key first.
 */
enum ck_code acme_account_key_change(struct acme_client *c, EVP_PKEY *new_key,
				     struct ck_err *err);
/* The same with the new key's signer (a key on a token), borrowed: it must
 * outlive the client, which signs with it after a success. */
enum ck_code acme_account_key_change_signer(struct acme_client *c, struct ck_signer *new_key,
					    struct ck_err *err);

/* ---- orders, authorizations, challenges (RFC 8555 section 7.4, 7.5) ---- */

struct acme_identifier {
	char *type;                 /* "dns" or "ip" */
	char *value;
};

struct acme_order {
	char *url;                  /* Location of the order */
	char *status;               /* pending, ready, processing, valid, invalid */
	enum acme_status state;     /* status, parsed */
	char *expires;              /* RFC 3339 text, optional */
	struct acme_identifier *identifiers;
	size_t nidentifiers;
	struct ck_strv authorizations;
	char *finalize;
	char *certificate;          /* once valid */
	int has_error;
	struct ck_err error;        /* the order's "error" problem when has_error */
	long retry_after;           /* seconds from the last answer's Retry-After, -1 if none */
};
void acme_order_cleanup(struct acme_order *o);

/* newOrder for names (IP literals become type "ip", others "dns"). */
enum ck_code acme_order_new(struct acme_client *c, const char *const *names, size_t n,
			    struct acme_order *out, struct ck_err *err);
/*
 * acme_order_new asking for profile (NULL: none, the payload has no
 * "profile").  A profile the directory does not offer is refused by
 * acme_directory_check_profile before anything is sent.
 */
enum ck_code acme_order_new_profile(struct acme_client *c, const char *const *names, size_t n,
				    const char *profile, struct acme_order *out,
				    struct ck_err *err);
/*
 * acme_order_new_profile naming the certificate the order replaces
 * (RFC 9773 section 5: "replaces", the old certificate's ARI ID;
 * NULL: none).  Sent only when the directory offers renewalInfo: a server
 * without ARI is not sent a field it does not know.
 */
enum ck_code acme_order_new_replacing(struct acme_client *c, const char *const *names, size_t n,
				      const char *profile, const char *replaces,
				      struct acme_order *out, struct ck_err *err);
/* POST-as-GET of an order URL (resume an order in flight). */
enum ck_code acme_order_fetch(struct acme_client *c, const char *url, struct acme_order *out,
			      struct ck_err *err);
/* Parses an order object (exposed for tests and fuzzing); url is left NULL. */
enum ck_code acme_order_parse(const char *body, size_t len, struct acme_order *out,
			      struct ck_err *err);
/* POST {"csr": base64url(der)} to order->finalize; *order is replaced by the answer. */
enum ck_code acme_order_finalize(struct acme_client *c, struct acme_order *order,
				 const unsigned char *csr_der, size_t csr_len, struct ck_err *err);
/*
 * Polls order->url while the status is "pending" or "processing",
 * honouring Retry-After (clamped ACME_POLL_MIN_S..ACME_POLL_MAX_S, default
 * ACME_POLL_DEFAULT_S), bounded by the poll timeout (CK_ERR_TIMEOUT).
 * Returns CK_OK at "ready" or "valid"; "invalid" -> CK_ERR_VALIDATION with
 * the order's problem.  *order is updated in place.
 */
enum ck_code acme_order_wait(struct acme_client *c, struct acme_order *order,
			     struct ck_err *err);

struct acme_challenge {
	char *type;                 /* "http-01", "dns-01", "tls-alpn-01", ... */
	char *url;
	char *status;
	enum acme_status state;     /* status, parsed */
	char *token;                /* checked base64url; NULL if the type has none */
	int has_error;
	struct ck_err error;
};

struct acme_authz {
	char *url;
	char *status;               /* pending, valid, invalid, deactivated, expired, revoked */
	enum acme_status state;     /* status, parsed */
	char *expires;
	struct acme_identifier identifier;
	int wildcard;
	struct acme_challenge *challenges;
	size_t nchallenges;
	long retry_after;           /* seconds from the last answer's Retry-After, -1 if none */
};
void acme_authz_cleanup(struct acme_authz *a);

enum ck_code acme_authz_fetch(struct acme_client *c, const char *url, struct acme_authz *out,
			      struct ck_err *err);
/* Parses an authorization object (exposed for tests and fuzzing); url is left NULL. */
enum ck_code acme_authz_parse(const char *body, size_t len, struct acme_authz *out,
			      struct ck_err *err);
/* The first challenge of that type, or NULL (borrowed from a). */
const struct acme_challenge *acme_authz_challenge(const struct acme_authz *a, const char *type);
/* POST {} to the challenge URL: "ready to be validated". */
enum ck_code acme_challenge_respond(struct acme_client *c, const struct acme_challenge *ch,
				    struct ck_err *err);
/*
 * Polls a->url until the status is no longer "pending" (nor "processing"),
 * honouring Retry-After like acme_order_wait.  "valid" -> CK_OK;
 * "invalid" -> CK_ERR_VALIDATION with the failed challenge's problem in
 * err (problem_type e.g. urn:ietf:params:acme:error:connection); other
 * final states -> CK_ERR_STATE.  *a is updated in place.
 */
enum ck_code acme_authz_wait(struct acme_client *c, struct acme_authz *a, struct ck_err *err);
/*
 * acme_authz_wait for n authorizations at once: one timeline, each polled
 * when its own Retry-After (clamped like acme_authz_wait) or its own
 * backoff says, those due in the same round asked in turn after one
 * shared sleep, so n names cost about one wait, not n.  The poll timeout
 * bounds the whole wait.  CK_OK when every one is valid; otherwise the
 * failure of the first that ended it, *which = its index (n when no
 * single authorization is to blame; which may be NULL).  v[i] are updated
 * in place.
 */
enum ck_code acme_authz_wait_all(struct acme_client *c, struct acme_authz **v, size_t n,
				 size_t *which, struct ck_err *err);
/*
 * acme_authz_wait_all that, each time a round of polls is due (after its
 * sleep), first calls enough(arg): nonzero ends the wait at once with
 * CK_OK and *which = n, without asking, leaving v as last heard (the
 * caller learns the outcome another way: a finalize that the server
 * refuses while any authorization is not valid).  enough NULL: never.
 */
enum ck_code acme_authz_wait_until(struct acme_client *c, struct acme_authz **v, size_t n,
				   size_t *which, int (*enough)(void *arg), void *arg,
				   struct ck_err *err);

/* token "." base64url(JWK thumbprint of key); the token must be base64url. */
enum ck_code acme_key_authorization(EVP_PKEY *key, const char *token, char **out,
				    struct ck_err *err);
/* acme_key_authorization for key; when key is the client's account key
 * (acme_client_key) its thumbprint is computed once per key, not once per
 * challenge.  c NULL: acme_key_authorization. */
enum ck_code acme_client_key_authorization(struct acme_client *c, EVP_PKEY *key,
					   const char *token, char **out, struct ck_err *err);

/* ---- certificate (RFC 8555 section 7.4.2) ------------------------------- */

struct acme_cert {
	char *pem;                  /* the chain as sent, leaf first, NUL-terminated */
	size_t pem_len;
	struct ck_strv alternates; /* Link rel="alternate" URLs (at most ACME_LINKS_MAX) */
};
void acme_cert_cleanup(struct acme_cert *cert);

/* POST-as-GET with Accept: application/pem-certificate-chain.  Works for
 * the order's certificate URL and for each alternate. */
enum ck_code acme_cert_download(struct acme_client *c, const char *url, struct acme_cert *out,
				struct ck_err *err);
/* Downloads every alternate of cert: *out is an array of cert->alternates.n
 * chains (free each with acme_cert_cleanup, then free(*out)). */
enum ck_code acme_cert_download_alternates(struct acme_client *c, const struct acme_cert *cert,
					   struct acme_cert **out, size_t *n, struct ck_err *err);

/* ---- renewal information (RFC 9773) -------------------------------------- */

#define ACME_ARI_RETRY_DEFAULT_S 21600    /* ask again after 6 h without Retry-After */
#define ACME_ARI_RETRY_MIN_S 60           /* Retry-After clamp for renewalInfo */
#define ACME_ARI_RETRY_MAX_S 86400

struct acme_ari {
	time_t start;               /* suggestedWindow.start */
	time_t end;                 /* suggestedWindow.end (>= start) */
	char *explanation_url;      /* https://, shown to the user only; NULL if absent */
	long retry_after;           /* seconds from Retry-After, -1 if none */
};
void acme_ari_cleanup(struct acme_ari *a);

/*
 * The ARI certificate ID of the certificate der (RFC 9773 section 4.1):
 * base64url(AKI keyIdentifier) "." base64url(the serial's DER content
 * octets), unpadded; *out is freed by the caller.  No AKI keyIdentifier ->
 * CK_ERR_UNSUPPORTED.
 */
enum ck_code acme_ari_cert_id(const unsigned char *der, size_t len, char **out,
			      struct ck_err *err);
/*
 * GET renewalInfo/<cert_id> (unauthenticated).  CK_ERR_UNSUPPORTED when
 * the directory has no renewalInfo; a non-2xx answer is an error as for
 * acme_get (429/503 carry retry_after); a window whose end is before its
 * start, or times that are not RFC 3339, are CK_ERR_PARSE.
 */
enum ck_code acme_ari_fetch(struct acme_client *c, const char *cert_id, struct acme_ari *out,
			    struct ck_err *err);
/* Parses a renewalInfo body (exposed for tests and fuzzing); retry_after is -1. */
enum ck_code acme_ari_parse(const char *body, size_t len, struct acme_ari *out,
			    struct ck_err *err);
/* RFC 3339 date-time ("2026-12-01T10:00:00Z", fractions and offsets
 * allowed) into *out; 1 on success, 0 if text is not one. */
int acme_rfc3339_parse(const char *text, time_t *out);

/* ---- revocation (RFC 8555 section 7.6) ----------------------------------- */

/*
 * Asks the server to revoke the certificate der (DER, leaf only) with the
 * RFC 5280 reason code `reason` (0..10, not 7), at the directory's
 * revokeCert URL.  cert_key NULL: signed by the client's account (kid,
 * which must be set); otherwise signed by that key with a jwk header (the
 * certificate's own key).  CK_OK: revoked now.  A 4xx problem is in err
 * (alreadyRevoked, unauthorized, badRevocationReason, ...): a definite
 * "no"; anything else (5xx, network) means the outcome is unknown.
 */
enum ck_code acme_cert_revoke(struct acme_client *c, const unsigned char *der, size_t len,
			      int reason, EVP_PKEY *cert_key, struct ck_err *err);
/* The same signed by the certificate key's signer s (a key on a token), borrowed. */
enum ck_code acme_cert_revoke_signer(struct acme_client *c, const unsigned char *der, size_t len,
				     int reason, struct ck_signer *cert_key, struct ck_err *err);

#endif
