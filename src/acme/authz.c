/*
 * authz.c - ACME authorizations and challenges (RFC 8555 sections 7.5,
 * 8): fetch, parse, respond, wait, and the key authorization.  Owns the
 * rule that a token is base64url before anything uses it.  Never serves
 * challenges (src/challenge does).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"
#include "crypto/crypto.h"

#define CHALLENGE_TYPE_MAX 64

static void
challenge_cleanup(struct acme_challenge *ch)
{
	free(ch->type);
	free(ch->url);
	free(ch->status);
	free(ch->token);
}

void
acme_authz_cleanup(struct acme_authz *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nchallenges; i++)
		challenge_cleanup(&a->challenges[i]);
	free(a->challenges);
	free(a->url);
	free(a->status);
	free(a->expires);
	free(a->identifier.type);
	free(a->identifier.value);
	memset(a, 0, sizeof(*a));
	a->retry_after = -1;
}

static enum ck_code
challenge_parse(json_t *j, struct acme_challenge *out, struct ck_err *err)
{
	struct acme_challenge ch = { 0 };
	enum ck_code rc;

	if (!json_is_object(j))
		return CK_FAIL(err, CK_ERR_PARSE, "a challenge is not an object");
	if ((rc = acme_json_str(j, "type", CHALLENGE_TYPE_MAX, 1, &ch.type, err)) != CK_OK ||
	    (rc = acme_json_url(j, "url", 1, &ch.url, err)) != CK_OK ||
	    (rc = acme_json_status(j, &ch.status, &ch.state, err)) != CK_OK ||
	    (rc = acme_json_str(j, "token", ACME_TOKEN_MAX, 0, &ch.token, err)) != CK_OK ||
	    (rc = acme_error_member(j, &ch.has_error, &ch.error, err)) != CK_OK)
		goto out;
	if (ch.token != NULL && !ck_str_is_b64url(ch.token, ACME_TOKEN_MAX)) {
		rc = CK_FAIL(err, CK_ERR_PARSE, "a %s challenge token is not base64url; refusing it",
			     ch.type);
		goto out;
	}
	*out = ch;
	return CK_OK;
out:
	challenge_cleanup(&ch);
	return rc;
}

static enum ck_code
authz_challenges(json_t *j, struct acme_authz *a, struct ck_err *err)
{
	json_t *arr = json_object_get(j, "challenges");
	size_t i, n;
	enum ck_code rc;

	if (!json_is_array(arr))
		return CK_FAIL(err, CK_ERR_PARSE, "the authorization's \"challenges\" is not an array");
	n = json_array_size(arr);
	if (n > ACME_CHALLENGES_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "the authorization has %zu challenges (limit %d)",
			       n, ACME_CHALLENGES_MAX);
	if (n == 0)
		return CK_OK;
	if ((a->challenges = calloc(n, sizeof(*a->challenges))) == NULL)
		return CK_OOM(err);
	for (i = 0; i < n; i++) {
		if ((rc = challenge_parse(json_array_get(arr, i), &a->challenges[i], err)) != CK_OK)
			return rc;
		a->nchallenges = i + 1;
	}
	return CK_OK;
}

enum ck_code
acme_authz_parse(const char *body, size_t len, struct acme_authz *out, struct ck_err *err)
{
	struct acme_authz a = { 0 };
	json_t *j = NULL;
	enum ck_code rc;
	int wildcard = -1;

	a.retry_after = -1;
	if ((rc = acme_json_load(body, len, &j, err)) != CK_OK ||
	    (rc = acme_json_status(j, &a.status, &a.state, err)) != CK_OK ||
	    (rc = acme_json_str(j, "expires", ACME_FIELD_MAX, 0, &a.expires, err)) != CK_OK ||
	    (rc = acme_identifier_parse(json_object_get(j, "identifier"), &a.identifier, err)) !=
		    CK_OK ||
	    (rc = acme_json_bool(j, "wildcard", &wildcard, err)) != CK_OK ||
	    (rc = authz_challenges(j, &a, err)) != CK_OK)
		goto out;
	a.wildcard = wildcard == 1;
	*out = a;
	memset(&a, 0, sizeof(a));
out:
	if (rc != CK_OK)
		ck_err_prefix(err, "bad authorization object");
	acme_authz_cleanup(&a);
	json_decref(j);
	return rc;
}

enum ck_code
acme_authz_fetch(struct acme_client *c, const char *url, struct acme_authz *out,
		 struct ck_err *err)
{
	struct acme_http_response resp = { 0 };
	struct acme_authz a = { 0 };
	enum ck_code rc;
	size_t i;

	if ((rc = acme_client_need_kid(c, err)) != CK_OK)
		return rc;
	if ((rc = acme_post(c, url, "", &resp, err)) != CK_OK)
		goto out;
	if ((rc = acme_authz_parse(resp.body, resp.body_len, &a, err)) != CK_OK)
		goto out;
	for (i = 0; i < a.nchallenges; i++)
		if ((rc = acme_url_check_origin(c, a.challenges[i].url, "the challenge URL",
						err)) != CK_OK)
			goto out;
	if ((a.url = strdup(url)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	a.retry_after = acme_response_retry_after(c, &resp);
	*out = a;
	memset(&a, 0, sizeof(a));
out:
	acme_authz_cleanup(&a);
	acme_http_response_cleanup(&resp);
	return rc;
}

const struct acme_challenge *
acme_authz_challenge(const struct acme_authz *a, const char *type)
{
	size_t i;

	for (i = 0; a != NULL && i < a->nchallenges; i++)
		if (strcmp(a->challenges[i].type, type) == 0)
			return &a->challenges[i];
	return NULL;
}

enum ck_code
acme_challenge_respond(struct acme_client *c, const struct acme_challenge *ch,
		       struct ck_err *err)
{
	struct acme_http_response resp = { 0 };
	enum ck_code rc;

	if (ch == NULL || ch->url == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no challenge to respond to");
	if ((rc = acme_client_need_kid(c, err)) != CK_OK)
		return rc;
	rc = acme_post(c, ch->url, "{}", &resp, err);
	/* Only a 4xx answer is a refusal; a cancel, a 5xx or a timeout is not. */
	if (rc != CK_OK && err != NULL && err->http_status >= 400 && err->http_status < 500)
		ck_err_prefix(err, "the server refused the %s challenge", ch->type);
	else if (rc != CK_OK && rc != CK_ERR_CANCELLED)
		ck_err_prefix(err, "answering the %s challenge failed", ch->type);
	acme_http_response_cleanup(&resp);
	return rc;
}

/* err for an invalid authorization: the failed challenge's problem. */
static enum ck_code
authz_invalid(const struct acme_authz *a, struct ck_err *err)
{
	const struct acme_challenge *bad = NULL;
	size_t i;

	for (i = 0; i < a->nchallenges && bad == NULL; i++)
		if (a->challenges[i].has_error)
			bad = &a->challenges[i];
	if (bad == NULL)
		return CK_FAIL(err, CK_ERR_VALIDATION,
			       "the server could not validate %s (no reason given)",
			       a->identifier.value);
	if (err != NULL) {
		*err = bad->error;
		err->code = CK_ERR_VALIDATION;
		ck_err_prefix(err, "the server could not validate %s with %s", a->identifier.value,
			      bad->type);
	}
	return CK_ERR_VALIDATION;
}

/* CK_OK with *done 1 (valid) or 0 (pending, processing); else why it failed. */
static enum ck_code
authz_settled(const struct acme_authz *a, int *done, struct ck_err *err)
{
	*done = a->state == ACME_ST_VALID;
	if (a->state == ACME_ST_VALID || a->state == ACME_ST_PENDING ||
	    a->state == ACME_ST_PROCESSING)
		return CK_OK;
	if (a->state == ACME_ST_INVALID)
		return authz_invalid(a, err);
	return CK_FAIL(err, CK_ERR_STATE, "the authorization for %s is %s; start a new order",
		       a->identifier.value, a->status);
}

/*
 * Milliseconds before a is asked again: its Retry-After clamped to
 * ACME_POLL_MIN_S..ACME_POLL_MAX_S; without one ACME_POLL_FIRST_MS, then
 * doubling its own total wait (*backoff) up to the client's interval.
 */
static unsigned long
authz_delay(const struct acme_client *c, const struct acme_authz *a, unsigned long *backoff)
{
	unsigned long ms;

	if (a->retry_after >= 0)
		return 1000ul * acme_retry_after_clamp(a->retry_after, ACME_POLL_MIN_S,
						       ACME_POLL_MAX_S, ACME_POLL_DEFAULT_S);
	ms = *backoff > ACME_POLL_FIRST_MS ? *backoff : ACME_POLL_FIRST_MS;
	if (ms > c->poll_interval_ms)
		ms = c->poll_interval_ms;
	*backoff += ms;
	return ms;
}

#define AUTHZ_ASK_NOW ULONG_MAX   /* due[i]: just answered, not yet scheduled */

/* One poll round's bookkeeping; times are ms slept since the wait began. */
struct authz_poll {
	unsigned long clock;        /* ms slept so far: a lower bound of the time passed */
	unsigned long *due;         /* per authorization: when to ask again */
	unsigned long *backoff;     /* per authorization: its own waits without Retry-After */
};

/*
 * Schedules every authorization answered since the last round and finds the
 * earliest one due; *next = index, or n when every one is valid.  A final
 * state other than valid ends the wait (*next = its index).
 */
static enum ck_code
authz_round_plan(const struct acme_client *c, struct acme_authz **v, size_t n,
		 struct authz_poll *p, size_t *next, struct ck_err *err)
{
	enum ck_code rc;
	size_t i;
	int done;

	*next = n;
	for (i = 0; i < n; i++) {
		if ((rc = authz_settled(v[i], &done, err)) != CK_OK) {
			*next = i;
			return rc;
		}
		if (done)
			continue;
		if (p->due[i] == AUTHZ_ASK_NOW)
			p->due[i] = p->clock + authz_delay(c, v[i], &p->backoff[i]);
		if (*next == n || p->due[i] < p->due[*next])
			*next = i;
	}
	return CK_OK;
}

/* Asks again every pending authorization that is due by now, in turn. */
static enum ck_code
authz_round_fetch(struct acme_client *c, struct acme_authz **v, size_t n, struct authz_poll *p,
		  size_t *which, struct ck_err *err)
{
	struct acme_authz fresh;
	enum ck_code rc;
	size_t i;

	for (i = 0; i < n; i++) {
		if (v[i]->state == ACME_ST_VALID || p->due[i] == AUTHZ_ASK_NOW ||
		    p->due[i] > p->clock)
			continue;
		if ((rc = acme_authz_fetch(c, v[i]->url, &fresh, err)) != CK_OK) {
			*which = i;
			return rc;
		}
		acme_authz_cleanup(v[i]);
		*v[i] = fresh;
		p->due[i] = AUTHZ_ASK_NOW;
	}
	return CK_OK;
}

enum ck_code
acme_authz_wait_all(struct acme_client *c, struct acme_authz **v, size_t n, size_t *which,
		    struct ck_err *err)
{
	return acme_authz_wait_until(c, v, n, which, NULL, NULL, err);
}

enum ck_code
acme_authz_wait_until(struct acme_client *c, struct acme_authz **v, size_t n, size_t *which,
		      int (*enough)(void *arg), void *arg, struct ck_err *err)
{
	struct authz_poll p = { 0 };
	time_t start = ck_now(c->ctx);
	unsigned long elapsed, ms;
	size_t i, next = n, dummy;
	enum ck_code rc;
	char what[CK_NAME_MAX + 32];

	if (which == NULL)
		which = &dummy;
	*which = n;
	for (i = 0; i < n; i++)
		if (v[i] == NULL || v[i]->status == NULL || v[i]->url == NULL ||
		    v[i]->identifier.value == NULL)
			return CK_FAIL(err, CK_ERR_INVALID_ARG, "no authorization to wait for");
	if (n > 0 && ((p.due = calloc(n, sizeof(*p.due))) == NULL ||
		      (p.backoff = calloc(n, sizeof(*p.backoff))) == NULL)) {
		rc = CK_OOM(err);
		goto out;
	}
	for (i = 0; i < n; i++)
		p.due[i] = AUTHZ_ASK_NOW;
	for (;;) {
		if ((rc = authz_round_plan(c, v, n, &p, &next, err)) != CK_OK || next == n)
			break;
		ms = p.due[next] > p.clock ? p.due[next] - p.clock : 0;
		elapsed = ck_now(c->ctx) > start ? 1000ul * (unsigned long)(ck_now(c->ctx) - start)
			: 0;
		if (p.clock > elapsed)
			elapsed = p.clock;
		snprintf(what, sizeof(what), "the authorization for %s", v[next]->identifier.value);
		if (elapsed + ms > 1000ul * c->poll_timeout_s) {
			rc = CK_FAIL(err, CK_ERR_TIMEOUT, "%s is still %s after %lu s; it stays on "
				     "the server: try again later", what, v[next]->status,
				     elapsed / 1000);
			break;
		}
		if (ms > 0) {
			acme_client_sleep(c, (unsigned)ms);
			p.clock += ms;
			/* The sleep ends early on a cancel: stop, the caller cleans up. */
			if ((rc = ck_cancel_check(c->ctx, what, err)) != CK_OK)
				break;
		}
		if (enough != NULL && enough(arg)) {
			next = n;
			break;
		}
		if ((rc = authz_round_fetch(c, v, n, &p, &next, err)) != CK_OK)
			break;
	}
	*which = next;
out:
	free(p.due);
	free(p.backoff);
	return rc;
}

enum ck_code
acme_authz_wait(struct acme_client *c, struct acme_authz *a, struct ck_err *err)
{
	if (a == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no authorization to wait for");
	return acme_authz_wait_all(c, &a, 1, NULL, err);
}

/* token "." tp into *out. */
static enum ck_code
keyauth_join(const char *token, const char *tp, char **out, struct ck_err *err)
{
	size_t n = strlen(token) + 1 + strlen(tp) + 1;
	char *ka;

	if ((ka = malloc(n)) == NULL)
		return CK_OOM(err);
	snprintf(ka, n, "%s.%s", token, tp);
	*out = ka;
	return CK_OK;
}

enum ck_code
acme_key_authorization(EVP_PKEY *key, const char *token, char **out, struct ck_err *err)
{
	return acme_client_key_authorization(NULL, key, token, out, err);
}

enum ck_code
acme_client_key_authorization(struct acme_client *c, EVP_PKEY *key, const char *token,
			      char **out, struct ck_err *err)
{
	char *tp = NULL;
	enum ck_code rc;

	if (!ck_str_is_b64url(token, ACME_TOKEN_MAX))
		return CK_FAIL(err, CK_ERR_PARSE, "the challenge token is not base64url; refusing it");
	/* The client's own key: its thumbprint is kept until the key changes. */
	if (c != NULL && key != NULL && key == c->key) {
		if (c->thumbprint == NULL &&
		    (rc = ck_key_thumbprint(key, &c->thumbprint, err)) != CK_OK)
			return rc;
		return keyauth_join(token, c->thumbprint, out, err);
	}
	if ((rc = ck_key_thumbprint(key, &tp, err)) != CK_OK)
		return rc;
	rc = keyauth_join(token, tp, out, err);
	free(tp);
	return rc;
}
