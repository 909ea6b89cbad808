/*
 * test_acme_client.c - the acme client against a scripted server
 * (test_acme_fake.h): nonce pool, badNonce, https-only, body bound,
 * accounts, EAB, keyChange, the rollover grace.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/hmac.h>

#include "acme/acme_int.h"
#include "challenge/http01.h"
#include "test_acme_fake.h"

/* The index of the last recorded request to path, or -1. */
static int
last_req(struct fake *f, const char *path)
{
	int i;

	for (i = (f->n < FAKE_MAX_REQ ? f->n : FAKE_MAX_REQ) - 1; i >= 0; i--)
		if (strcmp(f->reqs[i].url + strlen(FAKE_BASE), path) == 0)
			return i;
	return -1;
}

static const char *
hdr_str(json_t *hdr, const char *name)
{
	return json_string_value(json_object_get(hdr, name));
}

static void
test_directory_cached(void **state)
{
	struct fake_env *e = *state;
	const struct acme_directory *d1, *d2;

	assert_int_equal(acme_directory_get(e->c, &d1, &e->err), CK_OK);
	assert_int_equal(acme_directory_get(e->c, &d2, &e->err), CK_OK);
	assert_ptr_equal(d1, d2);
	assert_int_equal(e->f.n, 1);
	assert_int_equal(e->f.reqs[0].method, ACME_METHOD_GET);
	assert_string_equal(d1->key_change, FAKE_BASE "/key-change");
}

static void
test_nonce_reuse(void **state)
{
	struct fake_env *e = *state;
	struct acme_account a = { 0 };
	json_t *h1, *h2;
	int i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(acme_account_fetch(e->c, &a, &e->err), CK_OK);
		acme_account_cleanup(&a);
	}
	/* GET directory, HEAD newNonce once, then three POSTs on Replay-Nonces. */
	assert_int_equal(e->f.heads, 1);
	assert_int_equal(e->f.posts, 3);
	assert_int_equal(acme_client_request_count(e->c), 5);
	h1 = fake_protected(e->f.reqs[2].body);
	h2 = fake_protected(e->f.reqs[3].body);
	assert_string_equal(hdr_str(h1, "nonce"), "nonce-1"); /* from HEAD */
	assert_string_equal(hdr_str(h2, "nonce"), "nonce-2"); /* from the first POST's answer */
	assert_string_equal(hdr_str(h2, "kid"), FAKE_BASE "/acct/1");
	assert_null(json_object_get(h2, "jwk"));
	json_decref(h1);
	json_decref(h2);
}

/* Clients of one batch (ctx->acme_share): one directory fetch, and every
 * answer's nonce handed to exactly one later request, of any client,
 * instead of a HEAD. */
static void
test_share_hands_on(void **state)
{
	struct fake_env *e = *state;
	struct acme_account a = { 0 };
	struct acme_client *c1, *c2;
	char seen[4][32];
	int i, j;

	assert_int_equal(acme_share_new(&e->ctx.acme_share, &e->err), CK_OK);
	for (i = 0; i < 2; i++) { /* one after the other */
		c1 = fake_client(&e->ctx, &e->f, e->key, FAKE_BASE "/acct/1");
		assert_int_equal(acme_account_fetch(c1, &a, &e->err), CK_OK);
		acme_account_cleanup(&a);
		acme_client_free(c1);
	}
	/* GET directory + HEAD for the first; the second only its POST. */
	assert_int_equal(e->f.n, 4);
	assert_int_equal(e->f.heads, 1);
	/* Two alive at once: each request draws the nonce the last answer put back. */
	c1 = fake_client(&e->ctx, &e->f, e->key, FAKE_BASE "/acct/1");
	c2 = fake_client(&e->ctx, &e->f, e->key, FAKE_BASE "/acct/1");
	assert_int_equal(acme_account_fetch(c1, &a, &e->err), CK_OK);
	acme_account_cleanup(&a);
	assert_int_equal(acme_account_fetch(c2, &a, &e->err), CK_OK);
	acme_account_cleanup(&a);
	acme_client_free(c1);
	acme_client_free(c2);
	assert_int_equal(e->f.heads, 1); /* before the pool: 2, one for c2 */
	assert_int_equal(e->f.n, 6);
	assert_int_equal(last_req(&e->f, "/dir"), 0); /* never fetched again */
	/* No nonce was ever sent twice. */
	for (i = 0; i < 4; i++) {
		static const int post[4] = { 2, 3, 4, 5 };
		json_t *h = fake_protected(e->f.reqs[post[i]].body);
		assert_non_null(h);
		snprintf(seen[i], sizeof(seen[i]), "%s", hdr_str(h, "nonce"));
		json_decref(h);
	}
	for (i = 0; i < 4; i++)
		for (j = i + 1; j < 4; j++)
			assert_string_not_equal(seen[i], seen[j]);
	acme_share_free(e->ctx.acme_share);
	e->ctx.acme_share = NULL;
}

/* The directory GETs recorded so far. */
static int
dir_gets(struct fake *f)
{
	int i, n = 0;

	for (i = 0; i < f->n && i < FAKE_MAX_REQ; i++)
		n += f->reqs[i].method == ACME_METHOD_GET &&
		     strcmp(f->reqs[i].url, FAKE_BASE "/dir") == 0;
	return n;
}

static int
hook_new_order_gone(struct fake *f, const struct acme_http_request *req,
		    struct acme_http_response *out)
{
	(void)f;
	if (strcmp(req->url, FAKE_BASE "/new-order") != 0)
		return 0;
	fake_problem(out, 404, "malformed", "no such resource");
	return 1;
}

/* A 404 on one of the directory's URLs: the share forgets the directory and
 * the client, at its next safe point, fetches it again. */
static void
test_stale_directory_fetched_again(void **state)
{
	struct fake_env *e = *state;
	const struct acme_directory *d;
	struct acme_order o = { 0 };
	struct acme_client *c2;
	const char *names[] = { "a.test" };

	assert_int_equal(acme_share_new(&e->ctx.acme_share, &e->err), CK_OK);
	c2 = fake_client(&e->ctx, &e->f, e->key, FAKE_BASE "/acct/1");
	e->f.hook = hook_new_order_gone;
	assert_int_not_equal(acme_order_new(c2, names, 1, &o, &e->err), CK_OK);
	assert_int_equal(e->err.http_status, 404);
	e->f.hook = NULL;
	assert_int_equal(dir_gets(&e->f), 1);
	acme_client_refresh_stale(c2);
	assert_int_equal(acme_directory_get(c2, &d, &e->err), CK_OK);
	assert_int_equal(dir_gets(&e->f), 2); /* fetched again */
	acme_client_free(c2);
	/* A new client of the share does not get the stale one either. */
	c2 = fake_client(&e->ctx, &e->f, e->key, FAKE_BASE "/acct/1");
	assert_int_equal(acme_directory_get(c2, &d, &e->err), CK_OK);
	assert_int_equal(dir_gets(&e->f), 2); /* the fresh one, kept again */
	acme_client_free(c2);
	acme_share_free(e->ctx.acme_share);
	e->ctx.acme_share = NULL;
}

static void
test_nonce_not_b64url(void **state)
{
	struct fake_env *e = *state;
	struct acme_http_response r = { 0 };

	/* No nonce, or one that is not base64url: never used, never sent. */
	e->f.no_nonce = 1;
	assert_int_equal(acme_post(e->c, FAKE_BASE "/acct/1", "", &r, &e->err), CK_ERR_HTTP);
	assert_non_null(strstr(e->err.msg, "Replay-Nonce"));
	e->f.no_nonce = 2;
	assert_int_equal(acme_post(e->c, FAKE_BASE "/acct/1", "", &r, &e->err), CK_ERR_HTTP);
	assert_non_null(strstr(e->err.msg, "Replay-Nonce"));
	assert_int_equal(e->f.posts, 0);
	acme_http_response_cleanup(&r);
}

static void
test_bad_nonce_retried(void **state)
{
	struct fake_env *e = *state;
	struct acme_account a = { 0 };

	e->f.bad_nonce_left = 2;
	assert_int_equal(acme_account_fetch(e->c, &a, &e->err), CK_OK);
	assert_int_equal(e->f.posts, 3);
	assert_int_equal(e->f.heads, 1); /* retries use the nonce of the error answer */
	acme_account_cleanup(&a);
}

static void
test_bad_nonce_forever(void **state)
{
	struct fake_env *e = *state;
	struct acme_account a = { 0 };

	e->f.bad_nonce_left = -1;
	assert_int_equal(acme_account_fetch(e->c, &a, &e->err), CK_ERR_ACME);
	assert_int_equal(e->err.code, CK_ERR_ACME);
	assert_string_equal(ck_err_problem_short(&e->err), "badNonce");
	assert_int_equal(e->f.posts, 1 + ACME_BAD_NONCE_RETRIES);
	assert_non_null(strstr(e->err.msg, "fresh nonces in a row (badNonce); giving up"));
	assert_null(a.url);
}

static int
hook_http_location(struct fake *f, const struct acme_http_request *req,
		   struct acme_http_response *out)
{
	(void)f;
	if (strcmp(req->url, FAKE_BASE "/new-order") != 0)
		return 0;
	fake_nonce(f, out);
	fake_header(out, "Location", "http://acme.test/order/1");
	fake_body(out, 201, "application/json", fake_order_pending);
	return 1;
}

static void
test_http_refused(void **state)
{
	struct fake_env *e = *state;
	struct acme_client *c = NULL;
	struct acme_http_response r = { 0 };
	struct acme_order o = { 0 };
	const char *names[] = { "a.test" };
	int before;

	assert_int_equal(acme_client_new(&e->ctx, "http://acme.test/dir", NULL, &c, &e->err),
			 CK_ERR_INVALID_ARG);
	assert_null(c);
	assert_non_null(strstr(e->err.msg, "https://"));

	before = e->f.n;
	assert_int_equal(acme_post(e->c, "http://acme.test/acct/1", "", &r, &e->err),
			 CK_ERR_INVALID_ARG);
	assert_int_equal(acme_get(e->c, "ftp://acme.test/x", &r, &e->err), CK_ERR_INVALID_ARG);
	assert_int_equal(e->f.n - before, 0); /* nothing was sent */

	e->f.hook = hook_http_location;
	assert_int_equal(acme_order_new(e->c, names, 1, &o, &e->err), CK_ERR_PARSE);
	assert_null(o.url);
}

static int
hook_big_body(struct fake *f, const struct acme_http_request *req, struct acme_http_response *out)
{
	(void)f;
	if (req->method != ACME_METHOD_GET)
		return 0;
	out->status = 200;
	out->body = calloc(1, ACME_BODY_MAX + 2);
	memset(out->body, ' ', ACME_BODY_MAX + 1);
	out->body_len = ACME_BODY_MAX + 1;
	return 1;
}

static void
test_oversized_body(void **state)
{
	struct fake_env *e = *state;
	struct acme_http_response r = { 0 };
	const struct acme_directory *d;

	assert_int_equal(acme_http_response_set_body(&r, "x", ACME_BODY_MAX + 1, &e->err),
			 CK_ERR_TOO_LARGE);
	e->f.hook = hook_big_body;
	assert_int_equal(acme_directory_get(e->c, &d, &e->err), CK_ERR_TOO_LARGE);
}

static enum ck_code
failing_transport(void *arg, const struct acme_http_request *req, struct acme_http_response *out,
		  struct ck_err *err)
{
	(void)arg;
	(void)req;
	(void)out;
	return CK_FAIL(err, CK_ERR_NETWORK, "connection refused");
}

static void
test_transport_error(void **state)
{
	struct fake_env *e = *state;
	struct acme_http_ops ops = { failing_transport, NULL };
	struct acme_account a = { 0 };

	acme_client_set_transport(e->c, &ops);
	assert_int_equal(acme_account_fetch(e->c, &a, &e->err), CK_ERR_NETWORK);
	assert_non_null(strstr(e->err.msg, "connection refused"));
}

static void
test_account_new(void **state)
{
	struct fake_env *e = *state;
	struct acme_client *c = fake_client(&e->ctx, &e->f, e->key, NULL);
	struct acme_account a = { 0 };
	const char *contacts[] = { "mailto:a@example.org" };
	struct acme_account_new_opts o = { .contacts = contacts, .ncontacts = 1, .agree_tos = 1 };
	json_t *hdr, *p;
	char *payload;
	int i;

	assert_null(acme_client_kid(c));
	assert_int_equal(acme_account_new(c, &o, &a, &e->err), CK_OK);
	assert_int_equal(a.created, 1);
	assert_string_equal(a.url, FAKE_BASE "/acct/1");
	assert_string_equal(a.status, "valid");
	assert_int_equal(a.contacts.n, 1);
	assert_int_equal(a.tos_agreed, 1);
	assert_string_equal(acme_client_kid(c), FAKE_BASE "/acct/1");
	acme_account_cleanup(&a);

	i = last_req(&e->f, "/new-acct");
	hdr = fake_protected(e->f.reqs[i].body);
	assert_non_null(json_object_get(hdr, "jwk"));
	assert_null(json_object_get(hdr, "kid"));
	json_decref(hdr);
	payload = fake_payload(e->f.reqs[i].body);
	p = json_loads(payload, 0, NULL);
	assert_true(json_is_true(json_object_get(p, "termsOfServiceAgreed")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(p, "contact"), 0)),
			    "mailto:a@example.org");
	assert_null(json_object_get(p, "onlyReturnExisting"));
	json_decref(p);
	free(payload);

	/* 200: an existing account adopted. */
	e->f.account_status = 200;
	assert_int_equal(acme_account_new(c, NULL, &a, &e->err), CK_OK);
	assert_int_equal(a.created, 0);
	acme_account_cleanup(&a);
	acme_client_free(c);
}

static int
hook_no_account(struct fake *f, const struct acme_http_request *req,
		struct acme_http_response *out)
{
	if (strcmp(req->url, FAKE_BASE "/new-acct") != 0)
		return 0;
	fake_nonce(f, out);
	fake_problem(out, 400, "accountDoesNotExist", "No account exists with the provided key");
	return 1;
}

static void
test_account_lookup_missing(void **state)
{
	struct fake_env *e = *state;
	struct acme_client *c = fake_client(&e->ctx, &e->f, e->key, NULL);
	struct acme_account a = { 0 };
	struct acme_account_new_opts o = { .only_return_existing = 1 };
	char *payload;

	e->f.hook = hook_no_account;
	assert_int_equal(acme_account_new(c, &o, &a, &e->err), CK_ERR_NOT_FOUND);
	assert_string_equal(ck_err_problem_short(&e->err), "accountDoesNotExist");
	assert_null(acme_client_kid(c));
	payload = fake_payload(e->f.reqs[last_req(&e->f, "/new-acct")].body);
	assert_non_null(strstr(payload, "\"onlyReturnExisting\":true"));
	free(payload);
	acme_client_free(c);
}

static void
test_eab_shape(void **state)
{
	struct fake_env *e = *state;
	struct acme_client *c = fake_client(&e->ctx, &e->f, e->key, NULL);
	struct acme_account a = { 0 };
	static const unsigned char hmac_key[] = "a-32-byte-hmac-key-for-the-test!";
	struct acme_account_new_opts o = { .agree_tos = 1, .eab_kid = "kid-1",
					   .eab_hmac_key = hmac_key, .eab_hmac_key_len = 32 };
	json_t *p, *eab, *hdr, *jwk = NULL, *inner = NULL;
	char *payload, *signing, *mac_b64 = NULL, *eab_text;
	unsigned char *inner_raw = NULL, mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t inner_len;
	const char *prot, *pl;

	assert_int_equal(acme_account_new(c, &o, &a, &e->err), CK_OK);
	acme_account_cleanup(&a);
	payload = fake_payload(e->f.reqs[last_req(&e->f, "/new-acct")].body);
	p = json_loads(payload, 0, NULL);
	eab = json_object_get(p, "externalAccountBinding");
	assert_true(json_is_object(eab));
	prot = json_string_value(json_object_get(eab, "protected"));
	pl = json_string_value(json_object_get(eab, "payload"));
	assert_non_null(prot);
	assert_non_null(pl);
	/* Protected: HS256, the EAB kid, the newAccount URL; no nonce. */
	eab_text = json_dumps(eab, 0);
	hdr = fake_protected(eab_text);
	free(eab_text);
	assert_string_equal(hdr_str(hdr, "alg"), "HS256");
	assert_string_equal(hdr_str(hdr, "kid"), "kid-1");
	assert_string_equal(hdr_str(hdr, "url"), FAKE_BASE "/new-acct");
	assert_null(json_object_get(hdr, "nonce"));
	/* Payload: the account JWK. */
	assert_int_equal(ck_b64url_decode(pl, strlen(pl), &inner_raw, &inner_len, NULL), CK_OK);
	inner = json_loadb((char *)inner_raw, inner_len, 0, NULL);
	assert_int_equal(ck_jwk_from_key(e->key, &jwk, NULL), CK_OK);
	assert_true(json_equal(inner, jwk));
	/* Signature: HMAC-SHA256 over protected.payload with the key. */
	signing = malloc(strlen(prot) + strlen(pl) + 2);
	assert_non_null(signing);
	snprintf(signing, strlen(prot) + strlen(pl) + 2, "%s.%s", prot, pl);
	HMAC(EVP_sha256(), hmac_key, 32, (unsigned char *)signing, strlen(signing), mac, &maclen);
	assert_int_equal(ck_b64url_encode(mac, maclen, &mac_b64, NULL), CK_OK);
	assert_string_equal(json_string_value(json_object_get(eab, "signature")), mac_b64);

	free(mac_b64);
	free(signing);
	free(inner_raw);
	json_decref(inner);
	json_decref(jwk);
	json_decref(hdr);
	json_decref(p);
	free(payload);
	acme_client_free(c);
}

static void
test_account_update_deactivate(void **state)
{
	struct fake_env *e = *state;
	struct acme_account a = { 0 };
	struct acme_account_update_opts u = { .set_contacts = 1, .ncontacts = 0, .agree_tos = 1 };
	const char *bad[] = { "mailto:a b@example.org" };
	struct acme_account_update_opts ub = { .set_contacts = 1, .contacts = bad, .ncontacts = 1 };
	char *payload;

	assert_int_equal(acme_account_update(e->c, &u, &a, &e->err), CK_OK);
	acme_account_cleanup(&a);
	payload = fake_payload(e->f.reqs[last_req(&e->f, "/acct/1")].body);
	assert_string_equal(payload, "{\"contact\":[],\"termsOfServiceAgreed\":true}");
	free(payload);

	assert_int_equal(acme_account_update(e->c, &ub, &a, &e->err), CK_ERR_INVALID_ARG);

	assert_int_equal(acme_account_deactivate(e->c, NULL, &e->err), CK_OK);
	payload = fake_payload(e->f.reqs[last_req(&e->f, "/acct/1")].body);
	assert_string_equal(payload, "{\"status\":\"deactivated\"}");
	free(payload);
}

static void
test_key_change_shape(void **state)
{
	struct fake_env *e = *state;
	const char *outer;
	char *inner_text = NULL, *payload = NULL;
	json_t *ohdr = NULL, *ihdr = NULL, *p, *oldjwk = NULL;
	int i;

	assert_int_equal(acme_account_key_change(e->c, e->key2, &e->err), CK_OK);
	assert_ptr_equal(acme_client_key(e->c), e->key2);
	i = last_req(&e->f, "/key-change");
	assert_true(i >= 0);
	outer = e->f.reqs[i].body;
	/* Outer: signed by the old key, with kid and a nonce. */
	assert_int_equal(ck_jws_verify(outer, e->key, &inner_text, &ohdr, &e->err), CK_OK);
	assert_string_equal(hdr_str(ohdr, "kid"), FAKE_BASE "/acct/1");
	assert_string_equal(hdr_str(ohdr, "url"), FAKE_BASE "/key-change");
	assert_non_null(hdr_str(ohdr, "nonce"));
	assert_int_not_equal(ck_jws_verify(outer, e->key2, NULL, NULL, NULL), CK_OK);
	/* Inner: signed by the new key, jwk, same url, no nonce. */
	assert_int_equal(ck_jws_verify(inner_text, e->key2, &payload, &ihdr, &e->err), CK_OK);
	assert_int_equal(ck_jws_verify(inner_text, NULL, NULL, NULL, &e->err), CK_OK);
	assert_non_null(json_object_get(ihdr, "jwk"));
	assert_null(json_object_get(ihdr, "kid"));
	assert_null(json_object_get(ihdr, "nonce"));
	assert_string_equal(hdr_str(ihdr, "url"), FAKE_BASE "/key-change");
	p = json_loads(payload, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(p, "account")), FAKE_BASE "/acct/1");
	assert_int_equal(ck_jwk_from_key(e->key, &oldjwk, NULL), CK_OK);
	assert_true(json_equal(json_object_get(p, "oldKey"), oldjwk));

	/* Later requests are signed by the new key. */
	struct acme_account a = { 0 };
	assert_int_equal(acme_account_fetch(e->c, &a, &e->err), CK_OK);
	assert_int_equal(ck_jws_verify(e->f.reqs[last_req(&e->f, "/acct/1")].body, e->key2, NULL,
				       NULL, &e->err), CK_OK);
	acme_account_cleanup(&a);

	json_decref(p);
	json_decref(oldjwk);
	json_decref(ohdr);
	json_decref(ihdr);
	free(inner_text);
	free(payload);
}

/* The key authorization the client computes equals the one-off one for
 * whichever key is asked, before and after the client's key changed (its
 * cached thumbprint never outlives its key). */
static void
keyauth_is(struct acme_client *c, EVP_PKEY *key)
{
	char *got = NULL, *want = NULL;

	assert_int_equal(acme_client_key_authorization(c, key, "tok_-1", &got, NULL), CK_OK);
	assert_int_equal(acme_key_authorization(key, "tok_-1", &want, NULL), CK_OK);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

static void
test_key_authorization_follows_the_key(void **state)
{
	struct fake_env *e = *state;
	char *ka = NULL;

	keyauth_is(e->c, e->key);
	keyauth_is(e->c, e->key); /* the cached thumbprint */
	keyauth_is(e->c, e->key2); /* not the client's key */
	assert_int_equal(acme_client_key_authorization(e->c, e->key, "../x", &ka, &e->err),
			 CK_ERR_PARSE);
	assert_null(ka);
	assert_int_equal(acme_account_key_change(e->c, e->key2, &e->err), CK_OK);
	keyauth_is(e->c, e->key2);
	keyauth_is(e->c, e->key);
	keyauth_is(e->c, e->key2);
}

static int
hook_conflict(struct fake *f, const struct acme_http_request *req, struct acme_http_response *out)
{
	if (strcmp(req->url, FAKE_BASE "/key-change") != 0)
		return 0;
	fake_nonce(f, out);
	fake_header(out, "Location", FAKE_BASE "/acct/2");
	fake_problem(out, 409, "malformed", "New key is already in use for a different account");
	return 1;
}

static void
test_key_change_conflict(void **state)
{
	struct fake_env *e = *state;

	e->f.hook = hook_conflict;
	assert_int_equal(acme_account_key_change(e->c, e->key2, &e->err), CK_ERR_EXISTS);
	assert_non_null(strstr(e->err.msg, "already in use by another account"));
	assert_int_equal(e->err.http_status, 409);
	assert_ptr_equal(acme_client_key(e->c), e->key);
	assert_int_equal(acme_account_key_change(e->c, e->key, &e->err), CK_ERR_INVALID_ARG);
}

static void
test_key_change_taken_key(void **state)
{
	struct fake_env *e = *state;
	char *tp = NULL;

	/* The new key belongs to another account: refused before any keyChange. */
	assert_int_equal(ck_key_thumbprint(e->key2, &tp, NULL), CK_OK);
	snprintf(e->f.other_tp, sizeof(e->f.other_tp), "%s", tp);
	assert_int_equal(acme_account_key_change(e->c, e->key2, &e->err), CK_ERR_EXISTS);
	assert_non_null(strstr(e->err.msg, "already in use by another account"));
	assert_non_null(strstr(e->err.msg, FAKE_BASE "/acct/2"));
	assert_int_equal(e->f.key_changes, 0);
	assert_ptr_equal(acme_client_key(e->c), e->key);

	/* The new key is already this account's (an interrupted rollover went
	 * through): adopted without a second keyChange. */
	e->f.other_tp[0] = '\0';
	snprintf(e->f.acct_tp, sizeof(e->f.acct_tp), "%s", tp);
	assert_int_equal(acme_account_key_change(e->c, e->key2, &e->err), CK_OK);
	assert_int_equal(e->f.key_changes, 0);
	assert_ptr_equal(acme_client_key(e->c), e->key2);
	free(tp);
}

static void
test_rollover_grace_retries(void **state)
{
	struct fake_env *e = *state;
	struct acme_order o = { 0 };
	const char *names[] = { "a.test" };

	e->f.stale_left = 3;
	e->f.stale_after_keychange = 1;
	assert_int_equal(acme_account_key_change(e->c, e->key2, &e->err), CK_OK);
	assert_int_equal(acme_order_new(e->c, names, 1, &o, &e->err), CK_OK);
	assert_int_equal(e->f.stale_left, 0);
	assert_int_equal(e->clk.sleeps, 3);
	assert_true(e->clk.slept_ms < 10000);
	acme_order_cleanup(&o);
}

static void
test_rollover_grace_disabled(void **state)
{
	struct fake_env *e = *state;
	struct acme_order o = { 0 };
	const char *names[] = { "a.test" };

	acme_client_set_rollover_grace(e->c, 0);
	e->f.stale_left = 3;
	e->f.stale_after_keychange = 1;
	assert_int_equal(acme_account_key_change(e->c, e->key2, &e->err), CK_OK);
	assert_int_equal(acme_order_new(e->c, names, 1, &o, &e->err), CK_ERR_ACME);
	assert_string_equal(ck_err_problem_short(&e->err), "unauthorized");
	assert_string_equal(e->err.problem_detail, "JWS verification error");
	assert_int_equal(e->clk.sleeps, 0);
}

static void
test_rollover_grace_runs_out(void **state)
{
	struct fake_env *e = *state;
	struct acme_order o = { 0 };
	const char *names[] = { "a.test" };

	e->f.stale_left = 1000;
	e->f.stale_after_keychange = 1;
	acme_client_set_rollover_grace(e->c, 5);
	assert_int_equal(acme_account_key_change(e->c, e->key2, &e->err), CK_OK);
	assert_int_equal(acme_order_new(e->c, names, 1, &o, &e->err), CK_ERR_ACME);
	assert_string_equal(e->err.problem_detail, "JWS verification error");
	assert_true(e->clk.slept_ms >= 5000 - 2000 && e->clk.slept_ms <= 5000 + 2000);
	assert_true(e->f.stale_left > 980);
}

static void
test_rollover_grace_only_after_rollover(void **state)
{
	struct fake_env *e = *state;
	struct acme_order o = { 0 };
	const char *names[] = { "a.test" };

	/* No rollover: the same answer fails at once. */
	e->f.stale_left = 2;
	assert_int_equal(acme_order_new(e->c, names, 1, &o, &e->err), CK_ERR_ACME);
	assert_int_equal(e->clk.sleeps, 0);
	/* Armed explicitly (an interrupted rollover resolved to this key): tolerated. */
	acme_client_arm_rollover_grace(e->c);
	assert_int_equal(acme_order_new(e->c, names, 1, &o, &e->err), CK_OK);
	assert_int_equal(e->clk.sleeps, 1);
	acme_order_cleanup(&o);
}

static void
test_curl_transport(void **state)
{
	struct fake_env *e = *state;
	struct acme_curl *t = NULL;
	struct http01 *h = NULL;
	struct acme_http_response r = { 0 };
	struct acme_http_request req = { .method = ACME_METHOD_GET };
	struct acme_client *c = NULL;
	char url[128];
	enum ck_code rc;

	/* A plain-HTTP listener on loopback stands in for a server. */
	assert_int_equal(http01_start(&e->ctx, "127.0.0.1", 0, &h, &e->err), CK_OK);
	assert_int_equal(acme_curl_new(NULL, &t, &e->err), CK_OK);
	acme_curl_set_timeouts(t, 5, 10);
	/* The transport itself refuses http:// (defence behind the client's check). */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", http01_port(h));
	req.url = url;
	assert_int_equal(acme_curl_request(t, &req, &r, &e->err), CK_ERR_NETWORK);
	/* https:// to a server that does not speak TLS fails, never falls back. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/", http01_port(h));
	rc = acme_curl_request(t, &req, &r, &e->err);
	assert_true(rc == CK_ERR_TLS || rc == CK_ERR_NETWORK);
	assert_int_equal(r.status, 0);
	acme_curl_free(t);
	http01_stop(h);

	assert_int_equal(acme_client_new(&e->ctx, FAKE_DIR, "/nonexistent/ca.pem", &c, &e->err),
			 CK_ERR_IO);
	assert_non_null(strstr(e->err.msg, "/nonexistent/ca.pem"));
	assert_null(c);
}

/* ---- same origin ----------------------------------------------------------- */

#define EVIL "https://evil.test"
#define DIR_WITH(new_order, key_change) \
	"{\"newNonce\":\"" FAKE_BASE "/new-nonce\",\"newAccount\":\"" FAKE_BASE "/new-acct\"," \
	"\"newOrder\":\"" new_order "\",\"keyChange\":\"" key_change "\"," \
	"\"meta\":{\"termsOfService\":\"https://legal.example.org/tos.pdf\"}}"

/* A directory naming a resource on another origin is not used at all. */
static void
test_directory_foreign_url_refused(void **state)
{
	struct fake_env *e = *state;
	const struct fake_canned canned[] = {
		{ ACME_METHOD_GET, FAKE_DIR, 200, NULL, NULL, NULL,
		  DIR_WITH(FAKE_BASE "/new-order", EVIL "/key-change") },
		{ 0 },
	};
	const struct acme_directory *d = NULL;
	const char *names[] = { "a.test" };
	struct acme_order o = { 0 };

	e->f.hook = fake_canned_hook;
	e->f.hook_arg = (void *)canned;
	assert_int_equal(acme_directory_get(e->c, &d, &e->err), CK_ERR_PARSE);
	assert_null(d);
	assert_non_null(strstr(e->err.msg, "keyChange"));
	assert_non_null(strstr(e->err.msg, "https://evil.test:443"));
	assert_non_null(strstr(e->err.msg, "https://acme.test:443"));
	assert_non_null(strstr(e->err.msg, "--allow-origin https://evil.test:443"));
	/* Nothing of it is kept: every later call asks again and refuses again. */
	assert_int_equal(acme_order_new(e->c, names, 1, &o, &e->err), CK_ERR_PARSE);
	assert_int_equal(acme_account_key_change(e->c, e->key2, &e->err), CK_ERR_PARSE);
	assert_int_equal(e->f.posts, 0);
	assert_int_equal(fake_requests_to(&e->f, EVIL), 0);

	/* Allowed for this server: used. */
	assert_int_equal(acme_client_allow_origin(e->c, EVIL, &e->err), CK_OK);
	assert_int_equal(acme_directory_get(e->c, &d, &e->err), CK_OK);
	assert_string_equal(d->key_change, EVIL "/key-change");
}

/* An account URL (Location, the kid) elsewhere is never adopted nor signed for. */
static void
test_account_location_foreign_refused(void **state)
{
	struct fake_env *e = *state;
	const struct fake_canned canned[] = {
		{ ACME_METHOD_POST, FAKE_BASE "/new-acct", 201, EVIL "/acct/1", NULL, NULL,
		  fake_account },
		{ 0 },
	};
	struct acme_client *c = fake_client(&e->ctx, &e->f, e->key, NULL);
	struct acme_client *stored = fake_client(&e->ctx, &e->f, e->key, EVIL "/acct/1");
	struct acme_account a = { 0 };

	e->f.hook = fake_canned_hook;
	e->f.hook_arg = (void *)canned;
	assert_int_equal(acme_account_new(c, NULL, &a, &e->err), CK_ERR_PARSE);
	assert_non_null(strstr(e->err.msg, "account URL"));
	assert_non_null(strstr(e->err.msg, "https://evil.test:443"));
	assert_null(acme_client_kid(c));
	assert_null(a.url);
	/* A kid on another origin (a store written before this rule) signs nothing there. */
	assert_int_equal(acme_account_fetch(stored, &a, &e->err), CK_ERR_PARSE);
	assert_int_equal(acme_account_deactivate(stored, NULL, &e->err), CK_ERR_PARSE);
	assert_int_equal(fake_requests_to(&e->f, EVIL), 0);
	acme_client_free(c);
	acme_client_free(stored);
}

static void
test_allow_origin_checks(void **state)
{
	struct fake_env *e = *state;
	char name[32];
	int i;

	assert_string_equal(acme_client_origin(e->c), "https://acme.test:443");
	assert_int_equal(acme_client_allow_origin(e->c, "https://cdn.test/path", &e->err),
			 CK_ERR_INVALID_ARG);
	assert_non_null(strstr(e->err.msg, "https://HOST"));
	assert_int_equal(acme_client_allow_origin(e->c, "http://cdn.test", &e->err),
			 CK_ERR_INVALID_ARG);
	for (i = 0; i < ACME_ORIGINS_MAX; i++) {
		snprintf(name, sizeof(name), "https://h%d.test", i);
		assert_int_equal(acme_client_allow_origin(e->c, name, &e->err), CK_OK);
	}
	assert_int_equal(acme_client_allow_origin(e->c, "https://h0.test", &e->err), CK_OK);
	assert_int_equal(acme_client_allow_origin(e->c, "https://one-more.test", &e->err),
			 CK_ERR_TOO_LARGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FAKE_ENV_TEST(test_directory_cached),
		FAKE_ENV_TEST(test_nonce_reuse),
		FAKE_ENV_TEST(test_share_hands_on),
		FAKE_ENV_TEST(test_stale_directory_fetched_again),
		FAKE_ENV_TEST(test_nonce_not_b64url),
		FAKE_ENV_TEST(test_bad_nonce_retried),
		FAKE_ENV_TEST(test_bad_nonce_forever),
		FAKE_ENV_TEST(test_http_refused),
		FAKE_ENV_TEST(test_oversized_body),
		FAKE_ENV_TEST(test_transport_error),
		FAKE_ENV_TEST(test_curl_transport),
		FAKE_ENV_TEST(test_account_new),
		FAKE_ENV_TEST(test_account_lookup_missing),
		FAKE_ENV_TEST(test_eab_shape),
		FAKE_ENV_TEST(test_account_update_deactivate),
		FAKE_ENV_TEST(test_key_authorization_follows_the_key),
		FAKE_ENV_TEST(test_key_change_shape),
		FAKE_ENV_TEST(test_key_change_conflict),
		FAKE_ENV_TEST(test_key_change_taken_key),
		FAKE_ENV_TEST(test_rollover_grace_retries),
		FAKE_ENV_TEST(test_rollover_grace_disabled),
		FAKE_ENV_TEST(test_rollover_grace_runs_out),
		FAKE_ENV_TEST(test_rollover_grace_only_after_rollover),
		FAKE_ENV_TEST(test_directory_foreign_url_refused),
		FAKE_ENV_TEST(test_account_location_foreign_refused),
		FAKE_ENV_TEST(test_allow_origin_checks),
	};
	int rc;

	if (ck_global_init() != CK_OK)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	ck_global_cleanup();
	return rc;
}
