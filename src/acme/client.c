/*
 * client.c - struct acme_client and the request engine: the https-only
 * and same-origin rules for every URL (origin.c), nonces (one in hand, the
 * batch's pool in the share, HEAD newNonce only when neither has one; one
 * older than ACME_NONCE_MAX_AGE_MS is dropped), signed POSTs with bounded
 * badNonce retries, a directory that looks stale (a 404 on one of its URLs,
 * a badNonce storm) marked to be fetched again, and the bounded
 * stale-key-cache tolerance after a rollover.  Never parses ACME objects
 * (directory.c, account.c, order.c do) and never logs payloads.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme/acme_int.h"
#include "crypto/crypto.h"

#define GRACE_BACKOFF_FIRST_MS 250
#define GRACE_BACKOFF_MAX_MS 2000

/*
 * The transport of a client in a batch (ctx->acme_share): an idle handle
 * of the share (its connection and TLS session live) for this one
 * request, or a new one, given back right after.  A client waiting for a
 * poll or Retry-After holds no connection, so the batch opens as many as
 * it has requests in flight at once, not one per worker.
 */
static enum ck_code
client_shared_request(void *arg, const struct acme_http_request *req,
		      struct acme_http_response *out, struct ck_err *err)
{
	struct acme_client *c = arg;
	struct acme_share *sh = c->ctx->acme_share;
	struct acme_curl *t;
	enum ck_code rc;

	if ((t = acme_share_take_curl(sh, c->directory_url, c->ca_bundle)) == NULL &&
	    (rc = acme_curl_new(c->ca_bundle, &t, err)) != CK_OK)
		return rc;
	acme_curl_set_timeouts(t, c->connect_s, c->total_s);
	acme_curl_set_ctx(t, c->ctx);
	rc = acme_curl_request(t, req, out, err);
	acme_curl_set_ctx(t, NULL); /* this client's cancel flag is not the next one's */
	acme_share_put_curl(sh, c->directory_url, c->ca_bundle, t);
	return rc;
}

enum ck_code
acme_client_new(const struct ck_ctx *ctx, const char *directory_url, const char *ca_bundle,
		struct acme_client **out, struct ck_err *err)
{
	struct acme_client *c = NULL;
	enum ck_code rc = CK_ERR_NOMEM;

	if (ctx == NULL || directory_url == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no ACME directory URL given");
	if (!acme_url_ok(directory_url))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "the ACME directory URL must be https:// (TLS is never optional)");
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->directory_url = strdup(directory_url)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	if ((rc = acme_origin_of(directory_url, c->origin, err)) != CK_OK) {
		rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "the ACME directory URL has no https:// origin");
		goto out;
	}
	c->ctx = ctx;
	c->poll_timeout_s = ACME_POLL_TIMEOUT_S;
	c->poll_interval_ms = ACME_POLL_DEFAULT_S * 1000u;
	c->grace_s = ACME_ROLLOVER_GRACE_S;
	if (ca_bundle != NULL && (c->ca_bundle = strdup(ca_bundle)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	c->connect_s = ACME_CONNECT_TIMEOUT_S;
	c->total_s = ACME_TOTAL_TIMEOUT_S;
	if (ctx->acme_share != NULL) {
		/* A batch: each request borrows a handle from the share (below). */
		if ((rc = acme_ca_bundle_check(ca_bundle, err)) != CK_OK)
			goto out;
		c->ops.request = client_shared_request;
		c->ops.arg = c;
	} else {
		if ((rc = acme_curl_new(ca_bundle, &c->curl, err)) != CK_OK)
			goto out;
		acme_curl_set_ctx(c->curl, ctx);
		c->ops.request = acme_curl_request;
		c->ops.arg = c->curl;
	}
	*out = c;
	c = NULL;
	rc = CK_OK;
out:
	acme_client_free(c);
	return rc;
}

void
acme_client_free(struct acme_client *c)
{
	if (c == NULL)
		return;
	if (c->ctx != NULL && c->directory_url != NULL) {
		acme_share_put_curl(c->ctx->acme_share, c->directory_url, c->ca_bundle, c->curl);
		acme_client_park(c);
	} else {
		acme_curl_free(c->curl);
		free(c->nonce);
	}
	acme_directory_cleanup(&c->dir);
	free(c->directory_url);
	free(c->ca_bundle);
	ck_strv_cleanup(&c->extra_origins);
	free(c->kid);
	if (c->own_signer)
		ck_signer_free(c->signer);
	EVP_PKEY_free(c->key);
	EVP_PKEY_free(c->grace_key);
	free(c->thumbprint);
	free(c);
}

void
acme_client_cleanup(struct acme_client **c)
{
	if (c == NULL)
		return;
	acme_client_free(*c);
	*c = NULL;
}

void
acme_client_set_transport(struct acme_client *c, const struct acme_http_ops *ops)
{
	c->ops = *ops;
}

void
acme_client_set_timeouts(struct acme_client *c, unsigned connect_s, unsigned total_s)
{
	if (connect_s > 0)
		c->connect_s = connect_s;
	if (total_s > 0)
		c->total_s = total_s;
	if (c->curl != NULL)
		acme_curl_set_timeouts(c->curl, connect_s, total_s);
}

void
acme_client_set_poll_timeout(struct acme_client *c, unsigned seconds)
{
	c->poll_timeout_s = seconds;
}

void
acme_client_set_poll_interval(struct acme_client *c, unsigned ms)
{
	c->poll_interval_ms = ms < 50 ? 50 : ms;
}

void
acme_client_signer_set(struct acme_client *c, struct ck_signer *s, int own)
{
	if (c->own_signer && c->signer != s)
		ck_signer_free(c->signer);
	c->signer = s;
	c->own_signer = own;
}

/* The account key and its signer s (own: the client frees it). */
static enum ck_code
client_account(struct acme_client *c, struct ck_signer *s, int own, const char *kid,
	       struct ck_err *err)
{
	EVP_PKEY *key = ck_signer_pubkey(s);
	char *k = NULL;

	if (key == NULL || ck_jws_alg(key) == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the account key cannot sign ACME requests");
	if (kid != NULL && !acme_url_ok(kid))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the account URL must be https://");
	if (kid != NULL && (k = strdup(kid)) == NULL)
		return CK_OOM(err);
	if (EVP_PKEY_up_ref(key) != 1) {
		free(k);
		return CK_FAIL(err, CK_ERR_CRYPTO, "cannot reference the account key");
	}
	EVP_PKEY_free(c->key);
	free(c->kid);
	free(c->thumbprint);
	c->thumbprint = NULL;
	c->key = key;
	c->kid = k;
	acme_client_signer_set(c, s, own);
	return CK_OK;
}

enum ck_code
acme_client_set_account(struct acme_client *c, EVP_PKEY *key, const char *kid, struct ck_err *err)
{
	struct ck_signer *s = NULL;
	enum ck_code rc;

	if (key == NULL || ck_jws_alg(key) == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the account key cannot sign ACME requests");
	if ((rc = ck_signer_from_key(key, &s, err)) != CK_OK)
		return rc;
	if ((rc = client_account(c, s, 1, kid, err)) != CK_OK)
		ck_signer_free(s);
	return rc;
}

enum ck_code
acme_client_set_account_signer(struct acme_client *c, struct ck_signer *s, const char *kid,
			       struct ck_err *err)
{
	return client_account(c, s, 0, kid, err);
}

const char *
acme_client_kid(const struct acme_client *c)
{
	return c->kid;
}

EVP_PKEY *
acme_client_key(const struct acme_client *c)
{
	return c->key;
}

void
acme_client_set_rollover_grace(struct acme_client *c, unsigned seconds)
{
	c->grace_s = seconds;
}

void
acme_client_arm_rollover_grace(struct acme_client *c)
{
	EVP_PKEY_free(c->grace_key);
	c->grace_key = NULL;
	if (c->key == NULL || EVP_PKEY_up_ref(c->key) != 1)
		return;
	c->grace_key = c->key;
	c->grace_until = ck_now(c->ctx) + (time_t)c->grace_s;
}

unsigned long
acme_client_request_count(const struct acme_client *c)
{
	return c->nrequests;
}

void
acme_client_park(struct acme_client *c)
{
	if (c == NULL)
		return;
	acme_share_put_nonce(c->ctx->acme_share, c->directory_url, c->ca_bundle, c->nonce,
			     c->nonce_at, &c->nonce_held);
	c->nonce = NULL;
}

void
acme_client_sleep(struct acme_client *c, unsigned ms)
{
	if (c->ctx->acme_share != NULL)
		acme_client_park(c); /* another client of the batch uses the nonce meanwhile */
	ck_sleep_ms(c->ctx, ms);
}

/* The directory looks stale: the share forgets it now, this client at its next safe point. */
static void
directory_stale(struct acme_client *c, const char *why)
{
	if (c->dir_stale)
		return;
	ck_log(&c->ctx->log, CK_LOG_INFO, "acme: %s; the directory is fetched again", why);
	acme_share_forget_directory(c->ctx->acme_share, c->directory_url, c->ca_bundle);
	c->dir_stale = 1;
}

void
acme_client_refresh_stale(struct acme_client *c)
{
	if (c == NULL || !c->dir_stale)
		return;
	acme_directory_cleanup(&c->dir);
	c->have_directory = 0;
	c->dir_stale = 0;
}

/* 1 if url is one of the directory's own URLs. */
static int
directory_url_is(const struct acme_client *c, const char *url)
{
	const char *u[] = { c->dir.new_nonce, c->dir.new_account, c->dir.new_order,
			    c->dir.new_authz, c->dir.revoke_cert, c->dir.key_change };
	size_t i;

	for (i = 0; c->have_directory && i < CK_ARRAY_LEN(u); i++)
		if (u[i] != NULL && strcmp(u[i], url) == 0)
			return 1;
	return 0;
}

enum ck_code
acme_client_need_kid(struct acme_client *c, struct ck_err *err)
{
	if (c->key == NULL)
		return CK_FAIL(err, CK_ERR_STATE, "no ACME account key is set");
	if (c->kid == NULL)
		return CK_FAIL(err, CK_ERR_STATE,
			       "no ACME account URL is known: register or recover the account first");
	return CK_OK;
}

long
acme_response_retry_after(const struct acme_client *c, const struct acme_http_response *r)
{
	return acme_retry_after_parse(acme_http_response_header(r, "Retry-After"), ck_now(c->ctx));
}

/* ---- one exchange ------------------------------------------------------ */

/*
 * The Replay-Nonce of any response (valid base64url only): kept in hand
 * when hand (a HEAD newNonce's, or no share), else given to the batch's
 * pool at once (any worker draws it; this client draws again for its next
 * request).  Ends this client's holding either way, with or without one.
 */
static void
nonce_keep(struct acme_client *c, const struct acme_http_response *r, int hand)
{
	const char *n = r != NULL ? acme_http_response_header(r, "Replay-Nonce") : NULL;
	char *copy = NULL;

	if (n != NULL && ck_str_is_b64url(n, ACME_NONCE_MAX))
		copy = strdup(n);
	if (!hand) {
		acme_share_put_nonce(c->ctx->acme_share, c->directory_url, c->ca_bundle, copy,
				     ck_mono_ms(), &c->nonce_held);
		return;
	}
	if (copy == NULL)
		return;
	free(c->nonce);
	c->nonce = copy;
	c->nonce_at = ck_mono_ms();
}

static enum ck_code
url_refused(const char *url, struct ck_err *err)
{
	char safe[96];

	ck_str_printable(safe, sizeof(safe), url != NULL ? url : "(none)");
	return CK_FAIL(err, CK_ERR_INVALID_ARG, "refusing %s: every ACME URL must be https://",
		       safe);
}

enum ck_code
acme_http_do(struct acme_client *c, const struct acme_http_request *req,
	     struct acme_http_response *out, struct ck_err *err)
{
	struct acme_http_response resp = { 0 };
	enum ck_code rc;

	if (!acme_url_ok(req->url))
		return url_refused(req->url, err);
	if ((rc = acme_url_check_origin(c, req->url, "a request to", err)) != CK_OK)
		return rc;
	c->nrequests++;
	rc = c->ops.request(c->ops.arg, req, &resp, err);
	nonce_keep(c, rc == CK_OK ? &resp : NULL,
		   c->ctx->acme_share == NULL || req->method == ACME_METHOD_HEAD);
	if (rc != CK_OK) {
		acme_http_response_cleanup(&resp);
		return rc;
	}
	if (resp.body_len > ACME_BODY_MAX) {
		acme_http_response_cleanup(&resp);
		return CK_FAIL(err, CK_ERR_TOO_LARGE,
			       "the server sent a body over %d bytes; refusing it", ACME_BODY_MAX);
	}
	if (resp.status == 404 && directory_url_is(c, req->url))
		directory_stale(c, "the server does not know one of its directory's URLs (404)");
	if (c->ctx->log.level >= CK_LOG_DEBUG) {
		char safe[160], ra[40];
		const char *raw = acme_http_response_header(&resp, "Retry-After");
		ck_str_printable(safe, sizeof(safe), req->url);
		ck_str_printable(ra, sizeof(ra), raw != NULL ? raw : "");
		ck_log(&c->ctx->log, CK_LOG_DEBUG, "acme: %s %s -> %ld%s%s",
		       req->method == ACME_METHOD_POST ? "POST" :
		       req->method == ACME_METHOD_HEAD ? "HEAD" : "GET", safe, resp.status,
		       raw != NULL ? ", Retry-After " : "", ra);
	}
	*out = resp;
	return CK_OK;
}

static int
status_ok(long s)
{
	return s >= 200 && s < 300;
}

enum ck_code
acme_get(struct acme_client *c, const char *url, struct acme_http_response *out,
	 struct ck_err *err)
{
	struct acme_http_request req = { .method = ACME_METHOD_GET, .url = url };
	struct acme_http_response resp = { 0 };
	enum ck_code rc;

	if ((rc = acme_http_do(c, &req, &resp, err)) != CK_OK)
		return rc;
	if (!status_ok(resp.status)) {
		rc = acme_problem_from_response(&resp, ck_now(c->ctx), err);
		acme_http_response_cleanup(&resp);
		return rc;
	}
	*out = resp;
	return CK_OK;
}

/* ---- nonces ---------------------------------------------------------------- */

/* Hands over the nonce in hand, or fetches one with HEAD newNonce. */
static enum ck_code
nonce_take(struct acme_client *c, char **out, struct ck_err *err)
{
	const struct acme_directory *d = NULL;
	struct acme_http_request req = { .method = ACME_METHOD_HEAD };
	struct acme_http_response resp = { 0 };
	enum ck_code rc;

	if (c->nonce != NULL && ck_mono_ms() - c->nonce_at > ACME_NONCE_MAX_AGE_MS) {
		free(c->nonce); /* the server may have forgotten it: a badNonce saved */
		c->nonce = NULL;
	}
	if (c->nonce == NULL) {
		c->nonce = acme_share_take_nonce(c->ctx->acme_share, c->directory_url, c->ca_bundle,
						 ACME_NONCE_WAIT_MS, &c->nonce_held);
		c->nonce_at = ck_mono_ms();
	}
	if (c->nonce == NULL) {
		if ((rc = acme_directory_get(c, &d, err)) != CK_OK)
			return rc;
		/* With a share, the directory's answer may have fed the pool meanwhile
		 * (without one, a nonce it brought is replaced by the HEAD's, as ever). */
		if (c->ctx->acme_share != NULL && c->nonce == NULL) {
			c->nonce = acme_share_take_nonce(c->ctx->acme_share, c->directory_url,
							 c->ca_bundle, 0, &c->nonce_held);
			c->nonce_at = ck_mono_ms();
		}
		if (c->ctx->acme_share == NULL) {
			free(c->nonce);
			c->nonce = NULL;
		}
	}
	if (c->nonce == NULL) {
		req.url = d->new_nonce;
		/* In flight, this HEAD counts as a holder: its nonce's answer feeds the pool. */
		acme_share_held_nonce(c->ctx->acme_share, c->directory_url, c->ca_bundle,
				      &c->nonce_held);
		if ((rc = acme_http_do(c, &req, &resp, err)) != CK_OK) {
			acme_client_park(c);
			return rc;
		}
		if (!status_ok(resp.status)) {
			rc = acme_problem_from_response(&resp, ck_now(c->ctx), err);
			ck_err_prefix(err, "cannot get a nonce");
			acme_http_response_cleanup(&resp);
			acme_client_park(c);
			return rc;
		}
		acme_http_response_cleanup(&resp);
		if (c->nonce == NULL) {
			acme_client_park(c);
			return CK_FAIL(err, CK_ERR_HTTP,
				       "the server's newNonce answer carried no valid Replay-Nonce");
		}
	}
	*out = c->nonce;
	c->nonce = NULL;
	return CK_OK;
}

/* ---- signed POST ------------------------------------------------------------ */

/* 1 if the answer looks like a server still holding the pre-rollover key. */
static int
grace_applies(struct acme_client *c, EVP_PKEY *key, const struct ck_err *e)
{
	if (c->grace_s == 0 || c->grace_key == NULL || ck_now(c->ctx) >= c->grace_until)
		return 0;
	if (!ck_key_public_equal(key, c->grace_key))
		return 0;
	if (!acme_problem_is(e, "unauthorized") && !acme_problem_is(e, "malformed"))
		return 0;
	return strcasestr(e->problem_detail, "JWS") != NULL &&
	       strcasestr(e->problem_detail, "verif") != NULL;
}

static enum ck_code
post_once(struct acme_client *c, const struct acme_post_args *a, EVP_PKEY *key, const char *kid,
	  struct acme_http_response *out, struct ck_err *err)
{
	struct acme_http_request req = { .method = ACME_METHOD_POST, .url = a->url,
					 .content_type = ACME_CT_JOSE, .accept = a->accept };
	/* The account key signs through its signer (it may live on a token). */
	struct ck_signer *signer = a->signer ? a->signer : key == c->key ? c->signer : NULL;
	char *nonce = NULL, *jws = NULL;
	enum ck_code rc;

	if ((rc = nonce_take(c, &nonce, err)) != CK_OK)
		goto out;
	if (signer != NULL)
		rc = ck_jws_sign_with(signer, kid, nonce, a->url, a->payload ? a->payload : "",
				      &jws, err);
	else
		rc = ck_jws_sign(key, kid, nonce, a->url, a->payload ? a->payload : "", &jws, err);
	if (rc != CK_OK) { /* never sent: back to the pool */
		acme_share_put_nonce(c->ctx->acme_share, c->directory_url, c->ca_bundle, nonce,
				     ck_mono_ms(), &c->nonce_held);
		nonce = NULL;
		goto out;
	}
	req.body = jws;
	req.body_len = strlen(jws);
	rc = acme_http_do(c, &req, out, err);
out:
	free(nonce);
	free(jws);
	return rc;
}

enum ck_code
acme_post_ex(struct acme_client *c, const struct acme_post_args *a,
	     struct acme_http_response *out, struct ck_err *err)
{
	struct acme_http_response resp = { 0 };
	EVP_PKEY *key = a->key != NULL ? a->key : c->key;
	const char *kid = a->use_jwk ? NULL : c->kid;
	unsigned bad_nonces = 0, backoff = GRACE_BACKOFF_FIRST_MS, slept = 0;
	struct ck_err e; /* decisions need the problem even when the caller passes no err */
	enum ck_code rc;

	if (key == NULL)
		return CK_FAIL(err, CK_ERR_STATE, "no ACME account key is set");
	if (!acme_url_ok(a->url))
		return url_refused(a->url, err); /* before a nonce is spent on it */
	if ((rc = acme_url_check_origin(c, a->url, "a signed request to", err)) != CK_OK)
		return rc;
	if (a->key != NULL && a->key != c->key)
		kid = NULL; /* a foreign key never speaks for the client's account */
	ck_err_clear(&e);
	for (;;) {
		acme_http_response_cleanup(&resp);
		if ((rc = post_once(c, a, key, kid, &resp, &e)) != CK_OK)
			break;
		if (status_ok(resp.status)) {
			*out = resp;
			return CK_OK;
		}
		rc = acme_problem_from_response(&resp, ck_now(c->ctx), &e);
		if (acme_problem_is(&e, "badNonce") && bad_nonces < ACME_BAD_NONCE_RETRIES) {
			bad_nonces++;
			continue; /* the error response's Replay-Nonce is in hand now */
		}
		if (acme_problem_is(&e, "badNonce")) {
			directory_stale(c, "the server keeps refusing its nonces (badNonce)");
			ck_err_set(&e, rc, __func__,
				   "the server rejected %u fresh nonces in a row (badNonce); giving up",
				   bad_nonces + 1);
			break;
		}
		/* Only kid-signed requests meet a stale key cache (jwk carries the key). */
		if (kid != NULL && grace_applies(c, key, &e) && slept < c->grace_s * 1000u) {
			ck_log(&c->ctx->log, CK_LOG_INFO,
			       "the server does not know the new account key yet (stale cache after "
			       "rollover); retrying in %u ms", backoff);
			acme_client_sleep(c, backoff);
			slept += backoff;
			backoff = backoff * 2 > GRACE_BACKOFF_MAX_MS ? GRACE_BACKOFF_MAX_MS : backoff * 2;
			continue;
		}
		if (slept > 0)
			ck_err_prefix(&e, "the server still rejects the new account key %u ms after the "
				      "rollover", slept);
		break;
	}
	acme_http_response_cleanup(&resp);
	if (err != NULL)
		*err = e;
	return rc;
}

enum ck_code
acme_post(struct acme_client *c, const char *url, const char *payload,
	  struct acme_http_response *out, struct ck_err *err)
{
	struct acme_post_args a = { .url = url, .payload = payload };

	return acme_post_ex(c, &a, out, err);
}
