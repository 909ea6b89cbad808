/*
 * acme_int.h - what the acme module's files share: the client struct,
 * the libcurl transport, bounded JSON helpers, the signed-request engine.
 * Not part of the module's contract (acme.h is); nothing outside
 * src/acme/ may include this.
 */
#ifndef CK_ACME_INT_H
#define CK_ACME_INT_H

#include <jansson.h>

#include "acme/acme.h"

#define ACME_CT_JOSE "application/jose+json"
#define ACME_CT_PROBLEM "application/problem+json"
#define ACME_CT_PEM_CHAIN "application/pem-certificate-chain"
#define ACME_PROBLEM_PREFIX "urn:ietf:params:acme:error:"
#define ACME_FIELD_MAX 256           /* status, type and other short server strings */
#define ACME_CONTACT_MAX 512         /* one contact URI */

struct acme_curl;

struct acme_client {
	const struct ck_ctx *ctx;
	char *directory_url;
	char *ca_bundle;                 /* as given (NULL: the system's); the share's key */
	char origin[ACME_ORIGIN_MAX];    /* the directory's origin */
	struct ck_strv extra_origins;  /* also allowed (acme_client_allow_origin) */
	struct acme_http_ops ops;
	struct acme_curl *curl;          /* the default transport without a share (ops.arg) */
	unsigned connect_s, total_s;     /* its timeouts (with a share: each borrowed handle's) */
	int have_directory;
	struct acme_directory dir;
	char *nonce;                     /* one nonce in hand, or NULL */
	long long nonce_at;              /* ck_mono_ms() when it arrived */
	int nonce_held;                  /* counted as a holder in the share */
	int dir_stale;                   /* the directory looked stale: fetch it again */
	EVP_PKEY *key;
	struct ck_signer *signer;        /* signs for key (a token key's, or one of key) */
	int own_signer;                  /* signer is the client's to free */
	char *kid;
	unsigned poll_timeout_s;
	unsigned poll_interval_ms;       /* when no Retry-After */
	unsigned grace_s;
	EVP_PKEY *grace_key;             /* key the rollover grace applies to */
	char *thumbprint;                /* key's JWK thumbprint once computed; NULL after a
					  * key change (acme_client_key_authorization) */
	time_t grace_until;
	unsigned long nrequests;
};

/* ---- http.c: the libcurl transport ---- */
/* CK_ERR_IO naming the file when ca_bundle (NULL: the system's, fine) cannot be read. */
enum ck_code acme_ca_bundle_check(const char *ca_bundle, struct ck_err *err);
enum ck_code acme_curl_new(const char *ca_bundle, struct acme_curl **out, struct ck_err *err);
void acme_curl_free(struct acme_curl *t);
/* Transfers abort (CK_ERR_CANCELLED) once ctx is cancelled; ctx borrowed, may be NULL. */
void acme_curl_set_ctx(struct acme_curl *t, const struct ck_ctx *ctx);
void acme_curl_set_timeouts(struct acme_curl *t, unsigned connect_s, unsigned total_s);
enum ck_code acme_curl_request(void *arg, const struct acme_http_request *req,
			       struct acme_http_response *out, struct ck_err *err);

/* ---- share.c: what the clients of one batch hand on (ctx->acme_share) ---- */
/* An idle handle for (url, ca_bundle), or NULL (sh NULL: always NULL). */
struct acme_curl *acme_share_take_curl(struct acme_share *sh, const char *url,
				       const char *ca_bundle);
/* Keeps t for the next client (or frees it: no share, no room). */
void acme_share_put_curl(struct acme_share *sh, const char *url, const char *ca_bundle,
			 struct acme_curl *t);
/*
 * An unused nonce no older than ACME_NONCE_MAX_AGE_MS, removed from the
 * pool (free()), or NULL.  When the pool is empty and another client holds
 * a nonce, waits up to wait_ms for one to be put back.  *held: whether the
 * caller counts as a holder; set to 1 when a nonce is handed out.
 */
char *acme_share_take_nonce(struct acme_share *sh, const char *url, const char *ca_bundle,
			    unsigned wait_ms, int *held);
/* Counts the caller as a holder (*held = 1): it got a nonce from the server. */
void acme_share_held_nonce(struct acme_share *sh, const char *url, const char *ca_bundle,
			   int *held);
/*
 * Gives back an unused nonce (may be NULL) the server sent at `at`
 * (ck_mono_ms()) and ends the caller's holding (*held = 0).  The share
 * takes the nonce: freed when too old, or the oldest goes when full.
 */
void acme_share_put_nonce(struct acme_share *sh, const char *url, const char *ca_bundle,
			  char *nonce, long long at, int *held);
/* Drops the directory kept for (url, ca_bundle): it looks stale. */
void acme_share_forget_directory(struct acme_share *sh, const char *url, const char *ca_bundle);
/* A copy of the directory body fetched for (url, ca_bundle): CK_OK, or
 * CK_ERR_NOT_FOUND (none yet), CK_ERR_NOMEM. */
enum ck_code acme_share_directory(struct acme_share *sh, const char *url, const char *ca_bundle,
				  char **body, size_t *len);
/* Remembers the directory body for (url, ca_bundle) (the first one kept stands). */
void acme_share_keep_directory(struct acme_share *sh, const char *url, const char *ca_bundle,
			       const char *body, size_t len);

/* ---- json.c: bounded, type-checked JSON ---- */

/* 1 if url is an absolute https:// URL of at most ACME_URL_MAX printable bytes. */
int acme_url_ok(const char *url);
/* A JSON object from a body: size and nesting bounded, duplicates rejected. */
enum ck_code acme_json_load(const char *body, size_t len, json_t **out, struct ck_err *err);
/*
 * A string member copied into *out (NULL when absent and !required).
 * Present but not a string, longer than max, or not printable ->
 * CK_ERR_PARSE naming the member.
 */
enum ck_code acme_json_str(json_t *obj, const char *name, size_t max, int required, char **out,
			   struct ck_err *err);
/* The required "status" member: its text into *text (caller frees) and, parsed, *state. */
enum ck_code acme_json_status(json_t *obj, char **text, enum acme_status *state,
			      struct ck_err *err);
/* Like acme_json_str, and the value must satisfy acme_url_ok. */
enum ck_code acme_json_url(json_t *obj, const char *name, int required, char **out,
			   struct ck_err *err);
/* An array of strings (each <= max_len; urls: each acme_url_ok), at most max_items. */
enum ck_code acme_json_strv(json_t *obj, const char *name, size_t max_items, size_t max_len,
			    int urls, int required, struct ck_strv *out, struct ck_err *err);
/* A boolean member: 1/0, or -1 when absent. Present but not a boolean -> CK_ERR_PARSE. */
enum ck_code acme_json_bool(json_t *obj, const char *name, int *out, struct ck_err *err);
/* Compact JSON text of obj (free()). */
enum ck_code acme_json_dump(json_t *obj, char **out, struct ck_err *err);

/* ---- problem.c ---- */
/* Fills err (code CK_ERR_ACME unless overridden by code) from a problem object. */
enum ck_code acme_problem_from_json(json_t *obj, long http_status, enum ck_code code,
				    struct ck_err *err);
/* 1 if err carries the ACME problem `name` (short form, e.g. "badNonce"). */
int acme_problem_is(const struct ck_err *err, const char *name);

/* ---- order.c: shared by order and authorization parsing ---- */
/* One {type, value} identifier object. */
enum ck_code acme_identifier_parse(json_t *obj, struct acme_identifier *out, struct ck_err *err);
/* The optional "error" problem member of an order or challenge into *out. */
enum ck_code acme_error_member(json_t *j, int *has, struct ck_err *out, struct ck_err *err);
/*
 * The shared polling step: sleeps the server's Retry-After (clamped,
 * default ACME_POLL_DEFAULT_S) unless that passes the poll timeout
 * (CK_ERR_TIMEOUT).  *waited counts slept seconds so a test clock that
 * never moves still ends.  A Retry-After is clamped to
 * ACME_POLL_MIN_S..ACME_POLL_MAX_S; without one the client's poll interval
 * applies.
 */
enum ck_code acme_poll_sleep(struct acme_client *c, long retry_after, time_t start,
			     unsigned long *waited_ms, const char *what, const char *status,
			     struct ck_err *err);

/* ---- origin.c: the same-origin rule ---- */
/*
 * CK_OK if url is on the directory's origin or an allowed one; otherwise
 * CK_ERR_PARSE naming `what` (e.g. "the order's finalize URL"), the URL,
 * both origins and the --allow-origin way out.
 */
enum ck_code acme_url_check_origin(const struct acme_client *c, const char *url,
				   const char *what, struct ck_err *err);
/* acme_url_check_origin for each URL of a list. */
enum ck_code acme_strv_check_origin(const struct acme_client *c, const struct ck_strv *v,
				    const char *what, struct ck_err *err);

/* ---- client.c: the request engine ---- */

/* One HTTP exchange through the transport: URL checked, counted, nonce kept. */
enum ck_code acme_http_do(struct acme_client *c, const struct acme_http_request *req,
			  struct acme_http_response *out, struct ck_err *err);

struct acme_post_args {
	const char *url;
	const char *payload;             /* "" = POST-as-GET */
	EVP_PKEY *key;                   /* NULL: the client's key */
	struct ck_signer *signer;        /* signs for key when set (a token key) */
	int use_jwk;                     /* sign with jwk even if a kid is known */
	const char *accept;
};
/* Signed POST with badNonce retries and the rollover grace; see acme_post. */
enum ck_code acme_post_ex(struct acme_client *c, const struct acme_post_args *a,
			  struct acme_http_response *out, struct ck_err *err);
/* Requires an account URL (kid) on the client. */
enum ck_code acme_client_need_kid(struct acme_client *c, struct ck_err *err);
/* Sleeps ms through the context clock. */
void acme_client_sleep(struct acme_client *c, unsigned ms);
/* Seconds from a response's Retry-After, -1 if none. */
long acme_response_retry_after(const struct acme_client *c, const struct acme_http_response *r);

#endif
