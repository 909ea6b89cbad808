/*
 * test_acme_fake.h - a scripted ACME server behind struct acme_http_ops,
 * shared by the acme unit tests.  It answers like RFC 8555 (directory,
 * nonces, accounts, orders, authorizations, certificates), records every
 * request, and can be told to misbehave (badNonce, stale key cache, ...).
 * No network: everything happens in the test's process.
 */
#ifndef TEST_ACME_FAKE_H
#define TEST_ACME_FAKE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "crypto/crypto.h"

#define FAKE_UNUSED __attribute__((unused))
#define FAKE_BASE "https://acme.test"
#define FAKE_DIR FAKE_BASE "/dir"
#define FAKE_MAX_REQ 256

struct fake_req {
	enum acme_method method;
	char url[256];
	char *body;
	char accept[64];
};

struct fake;
/* Returns 1 if it answered the request itself. */
typedef int (*fake_hook)(struct fake *f, const struct acme_http_request *req,
			 struct acme_http_response *out);

struct fake {
	struct fake_req reqs[FAKE_MAX_REQ];
	int n;
	int heads;
	int posts;
	unsigned nonce_seq;
	int no_nonce;            /* 1: replies carry no Replay-Nonce; 2: a non-base64url one */
	int bad_nonce_left;      /* answer badNonce this many times; -1 forever */
	int stale_left;          /* answer "JWS verification error" to kid-signed requests */
	int stale_after_keychange;
	int keychanged;
	int account_status;      /* HTTP status for newAccount (201 default) */
	int authz_polls_pending; /* authz answers "pending" this many times */
	int order_polls_processing;
	const char *retry_after; /* Retry-After on polls */
	char acct_tp[64];        /* thumbprint of the key of /acct/1 (onlyReturnExisting) */
	char other_tp[64];       /* thumbprint of the key of /acct/2 */
	int key_changes;         /* keyChange requests received */
	fake_hook hook;
	void *hook_arg;
};

static FAKE_UNUSED void
fake_reset(struct fake *f)
{
	int i;

	for (i = 0; i < f->n && i < FAKE_MAX_REQ; i++)
		free(f->reqs[i].body);
	memset(f, 0, sizeof(*f));
	f->account_status = 201;
}

static FAKE_UNUSED void
fake_header(struct acme_http_response *out, const char *name, const char *value)
{
	if (acme_http_response_add_header(out, name, value, NULL) != CK_OK)
		abort();
}

static FAKE_UNUSED void
fake_body(struct acme_http_response *out, long status, const char *ctype, const char *body)
{
	out->status = status;
	if (ctype != NULL)
		fake_header(out, "Content-Type", ctype);
	if (body != NULL && acme_http_response_set_body(out, body, strlen(body), NULL) != CK_OK)
		abort();
}

static FAKE_UNUSED void
fake_nonce(struct fake *f, struct acme_http_response *out)
{
	char n[32];

	if (f->no_nonce == 2) {
		fake_header(out, "Replay-Nonce", "not/base64url+");
		return;
	}
	if (f->no_nonce)
		return;
	snprintf(n, sizeof(n), "nonce-%u", ++f->nonce_seq);
	fake_header(out, "Replay-Nonce", n);
}

static FAKE_UNUSED void
fake_problem(struct acme_http_response *out, long status, const char *type, const char *detail)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"type\":\"urn:ietf:params:acme:error:%s\",\"detail\":\"%s\","
		 "\"status\":%ld}", type, detail, status);
	fake_body(out, status, "application/problem+json", body);
}

static FAKE_UNUSED const char fake_directory[] =
	"{\"newNonce\":\"" FAKE_BASE "/new-nonce\",\"newAccount\":\"" FAKE_BASE "/new-acct\","
	"\"newOrder\":\"" FAKE_BASE "/new-order\",\"revokeCert\":\"" FAKE_BASE "/revoke\","
	"\"keyChange\":\"" FAKE_BASE "/key-change\",\"renewalInfo\":\"" FAKE_BASE "/ari\","
	"\"meta\":{\"termsOfService\":\"" FAKE_BASE "/tos.pdf\",\"externalAccountRequired\":false,"
	"\"website\":\"https://example.org\",\"caaIdentities\":[\"acme.test\"]}}";

static FAKE_UNUSED const char fake_account[] =
	"{\"status\":\"valid\",\"contact\":[\"mailto:a@example.org\"],"
	"\"termsOfServiceAgreed\":true,\"orders\":\"" FAKE_BASE "/acct/1/orders\"}";

static FAKE_UNUSED const char fake_order_pending[] =
	"{\"status\":\"pending\",\"expires\":\"2030-01-01T00:00:00Z\","
	"\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	"\"authorizations\":[\"" FAKE_BASE "/authz/1\"],\"finalize\":\"" FAKE_BASE "/order/1/fin\"}";

static FAKE_UNUSED const char fake_order_processing[] =
	"{\"status\":\"processing\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	"\"authorizations\":[\"" FAKE_BASE "/authz/1\"],\"finalize\":\"" FAKE_BASE "/order/1/fin\"}";

static FAKE_UNUSED const char fake_order_valid[] =
	"{\"status\":\"valid\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	"\"authorizations\":[\"" FAKE_BASE "/authz/1\"],\"finalize\":\"" FAKE_BASE "/order/1/fin\","
	"\"certificate\":\"" FAKE_BASE "/cert/1\"}";

#define FAKE_AUTHZ(status) \
	"{\"status\":\"" status "\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"}," \
	"\"challenges\":[{\"type\":\"http-01\",\"url\":\"" FAKE_BASE "/chall/1\",\"status\":\"" \
	status "\",\"token\":\"tok_-123\"},{\"type\":\"dns-01\",\"url\":\"" FAKE_BASE \
	"/chall/2\",\"status\":\"pending\",\"token\":\"tok_-123\"}]}"

static FAKE_UNUSED const char fake_pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/* Protected header of a recorded JWS (new reference). */
static FAKE_UNUSED json_t *
fake_protected(const char *jws)
{
	json_t *j = json_loads(jws, 0, NULL), *hdr = NULL;
	const char *p;
	unsigned char *dec = NULL;
	size_t len;

	if (j == NULL)
		return NULL;
	p = json_string_value(json_object_get(j, "protected"));
	if (p != NULL && ck_b64url_decode(p, strlen(p), &dec, &len, NULL) == CK_OK)
		hdr = json_loadb((char *)dec, len, 0, NULL);
	free(dec);
	json_decref(j);
	return hdr;
}

/* 1 if the JWS body is signed with kid (not jwk). */
static FAKE_UNUSED int
fake_uses_kid(const char *body)
{
	json_t *hdr = body != NULL ? fake_protected(body) : NULL;
	int r = hdr != NULL && json_object_get(hdr, "kid") != NULL;

	json_decref(hdr);
	return r;
}

/* Decoded payload of a recorded JWS (free()). */
static FAKE_UNUSED char *
fake_payload(const char *jws)
{
	json_t *j = json_loads(jws, 0, NULL);
	const char *p;
	unsigned char *dec = NULL;
	size_t len;

	if (j == NULL)
		return NULL;
	p = json_string_value(json_object_get(j, "payload"));
	if (p != NULL && p[0] == '\0')
		dec = (unsigned char *)strdup("");
	else if (p == NULL || ck_b64url_decode(p, strlen(p), &dec, &len, NULL) != CK_OK)
		dec = NULL;
	json_decref(j);
	return (char *)dec;
}

/* 1 if the JWS payload asks onlyReturnExisting. */
static FAKE_UNUSED int
fake_lookup(const char *body)
{
	char *p = fake_payload(body);
	int r = p != NULL && strstr(p, "\"onlyReturnExisting\":true") != NULL;

	free(p);
	return r;
}

/* Thumbprint of the jwk in the protected header into tp[64] ("" if none). */
static FAKE_UNUSED void
fake_jwk_tp(const char *body, char tp[64])
{
	json_t *hdr = fake_protected(body);
	char *t = NULL;

	tp[0] = '\0';
	if (hdr != NULL && ck_jwk_thumbprint(json_object_get(hdr, "jwk"), &t, NULL) == CK_OK)
		snprintf(tp, 64, "%s", t);
	free(t);
	json_decref(hdr);
}

static FAKE_UNUSED int
fake_route_post(struct fake *f, const char *path, const char *body,
		struct acme_http_response *out)
{
	if (strcmp(path, "/new-acct") == 0 && fake_lookup(body)) {
		char tp[64];
		fake_jwk_tp(body, tp);
		if (f->acct_tp[0] != '\0' && strcmp(tp, f->acct_tp) == 0) {
			fake_header(out, "Location", FAKE_BASE "/acct/1");
			fake_body(out, 200, "application/json", fake_account);
		} else if (f->other_tp[0] != '\0' && strcmp(tp, f->other_tp) == 0) {
			fake_header(out, "Location", FAKE_BASE "/acct/2");
			fake_body(out, 200, "application/json", fake_account);
		} else {
			fake_problem(out, 400, "accountDoesNotExist", "no account for this key");
		}
	} else if (strcmp(path, "/new-acct") == 0) {
		fake_header(out, "Location", FAKE_BASE "/acct/1");
		fake_body(out, f->account_status, "application/json", fake_account);
	} else if (strcmp(path, "/acct/1") == 0) {
		fake_body(out, 200, "application/json", fake_account);
	} else if (strcmp(path, "/key-change") == 0) {
		f->keychanged = 1;
		f->key_changes++;
		fake_body(out, 200, "application/json", fake_account);
	} else if (strcmp(path, "/new-order") == 0) {
		fake_header(out, "Location", FAKE_BASE "/order/1");
		fake_body(out, 201, "application/json", fake_order_pending);
	} else if (strcmp(path, "/authz/1") == 0) {
		if (f->retry_after != NULL)
			fake_header(out, "Retry-After", f->retry_after);
		if (f->authz_polls_pending > 0) {
			f->authz_polls_pending--;
			fake_body(out, 200, "application/json", FAKE_AUTHZ("pending"));
		} else {
			fake_body(out, 200, "application/json", FAKE_AUTHZ("valid"));
		}
	} else if (strcmp(path, "/chall/1") == 0) {
		fake_body(out, 200, "application/json",
			  "{\"type\":\"http-01\",\"url\":\"" FAKE_BASE "/chall/1\","
			  "\"status\":\"processing\",\"token\":\"tok_-123\"}");
	} else if (strcmp(path, "/order/1/fin") == 0) {
		fake_header(out, "Location", FAKE_BASE "/order/1");
		fake_body(out, 200, "application/json", fake_order_processing);
	} else if (strcmp(path, "/order/1") == 0) {
		if (f->retry_after != NULL)
			fake_header(out, "Retry-After", f->retry_after);
		if (f->order_polls_processing > 0) {
			f->order_polls_processing--;
			fake_body(out, 200, "application/json", fake_order_processing);
		} else {
			fake_body(out, 200, "application/json", fake_order_valid);
		}
	} else if (strcmp(path, "/cert/1") == 0) {
		fake_header(out, "Link", "<" FAKE_BASE "/dir>;rel=\"index\"");
		fake_header(out, "Link", "<" FAKE_BASE "/cert/1/alt1>;rel=\"alternate\"");
		fake_header(out, "Link", "<" FAKE_BASE "/cert/1/alt2>; rel=alternate, <"
			    FAKE_BASE "/cert/1/alt3>; title=\"a, b\"; rel=\"alternate up\"");
		fake_body(out, 200, "application/pem-certificate-chain", fake_pem);
	} else if (strncmp(path, "/cert/1/alt", 11) == 0) {
		fake_body(out, 200, "application/pem-certificate-chain", fake_pem);
	} else {
		fake_problem(out, 404, "malformed", "no such resource");
	}
	return 0;
}

static FAKE_UNUSED enum ck_code
fake_request(void *arg, const struct acme_http_request *req, struct acme_http_response *out,
	     struct ck_err *err)
{
	struct fake *f = arg;
	const char *path = req->url + strlen(FAKE_BASE);
	struct fake_req *r;

	(void)err;
	if (f->n < FAKE_MAX_REQ) {
		r = &f->reqs[f->n];
		r->method = req->method;
		snprintf(r->url, sizeof(r->url), "%s", req->url);
		r->body = req->body != NULL ? strndup(req->body, req->body_len) : NULL;
		snprintf(r->accept, sizeof(r->accept), "%s", req->accept ? req->accept : "");
	}
	f->n++;
	if (f->hook != NULL && f->hook(f, req, out))
		return CK_OK;
	if (strncmp(req->url, FAKE_BASE, strlen(FAKE_BASE)) != 0) {
		fake_problem(out, 404, "malformed", "wrong host");
		return CK_OK;
	}
	if (req->method == ACME_METHOD_GET && strcmp(path, "/dir") == 0) {
		fake_body(out, 200, "application/json", fake_directory);
		return CK_OK;
	}
	if (req->method == ACME_METHOD_HEAD && strcmp(path, "/new-nonce") == 0) {
		f->heads++;
		fake_nonce(f, out);
		out->status = 200;
		return CK_OK;
	}
	if (req->method != ACME_METHOD_POST) {
		fake_problem(out, 405, "malformed", "method");
		return CK_OK;
	}
	f->posts++;
	fake_nonce(f, out);
	if (f->bad_nonce_left != 0) {
		if (f->bad_nonce_left > 0)
			f->bad_nonce_left--;
		fake_problem(out, 400, "badNonce", "JWS has an invalid anti-replay nonce");
		return CK_OK;
	}
	if (f->stale_left > 0 && (!f->stale_after_keychange || f->keychanged) &&
	    fake_uses_kid(req->body) && strcmp(path, "/key-change") != 0) {
		f->stale_left--;
		fake_problem(out, 403, "unauthorized", "JWS verification error");
		return CK_OK;
	}
	fake_route_post(f, path, req->body, out);
	return CK_OK;
}

/*
 * Canned answers for exact URLs (any host), for a test that needs the
 * server to hand out URLs on other origins: set f->hook = fake_canned_hook
 * and f->hook_arg to an array ended by an entry with url NULL.  Requests
 * to other URLs get the scripted answers.
 */
struct fake_canned {
	enum acme_method method;
	const char *url;
	long status;
	const char *location;    /* Location header, or NULL */
	const char *link;        /* Link header, or NULL */
	const char *ctype;
	const char *body;
};

static FAKE_UNUSED int
fake_canned_hook(struct fake *f, const struct acme_http_request *req,
		 struct acme_http_response *out)
{
	const struct fake_canned *c;

	for (c = f->hook_arg; c != NULL && c->url != NULL; c++) {
		if (c->method != req->method || strcmp(c->url, req->url) != 0)
			continue;
		fake_nonce(f, out);
		if (c->location != NULL)
			fake_header(out, "Location", c->location);
		if (c->link != NULL)
			fake_header(out, "Link", c->link);
		fake_body(out, c->status, c->ctype != NULL ? c->ctype : "application/json", c->body);
		return 1;
	}
	return 0;
}

/* Requests the fake saw whose URL starts with prefix (e.g. "https://evil.test"). */
static FAKE_UNUSED int
fake_requests_to(const struct fake *f, const char *prefix)
{
	int i, n = 0;

	for (i = 0; i < f->n && i < FAKE_MAX_REQ; i++)
		if (strncmp(f->reqs[i].url, prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

/* Test context: clock that advances by the slept time, no real sleeping. */
struct fake_clock {
	time_t now;
	unsigned long slept_ms;
	unsigned sleeps;
};

static FAKE_UNUSED time_t
fake_now(void *arg)
{
	return ((struct fake_clock *)arg)->now;
}

static FAKE_UNUSED void
fake_sleep(void *arg, unsigned ms)
{
	struct fake_clock *c = arg;

	c->slept_ms += ms;
	c->sleeps++;
	c->now = 1700000000 + (time_t)(c->slept_ms / 1000);
}

static FAKE_UNUSED void
fake_ctx_init(struct ck_ctx *ctx, struct fake_clock *clk)
{
	ck_ctx_init(ctx);
	ctx->log.level = CK_LOG_ERROR;
	memset(clk, 0, sizeof(*clk));
	clk->now = 1700000000;
	ctx->clock.now = fake_now;
	ctx->clock.sleep_ms = fake_sleep;
	ctx->clock.arg = clk;
}

/* A client wired to the fake; with key != NULL the account is set (kid if given). */
static FAKE_UNUSED struct acme_client *
fake_client(const struct ck_ctx *ctx, struct fake *f, EVP_PKEY *key, const char *kid)
{
	struct acme_client *c = NULL;
	struct acme_http_ops ops = { fake_request, f };

	if (acme_client_new(ctx, FAKE_DIR, NULL, &c, NULL) != CK_OK)
		abort();
	acme_client_set_transport(c, &ops);
	if (key != NULL && acme_client_set_account(c, key, kid, NULL) != CK_OK)
		abort();
	return c;
}

/*
 * What the client tests share: the fake, its clock, a context, two EC
 * P-256 keys (the account's and one to roll over to) and a client wired to
 * the fake as account /acct/1.  fake_env_init / fake_env_cleanup on one a
 * test embeds; fake_env_setup / fake_env_teardown as cmocka's setup and
 * teardown of a bare one.
 */
struct fake_env {
	struct fake f;
	struct fake_clock clk;
	struct ck_ctx ctx;
	EVP_PKEY *key;
	EVP_PKEY *key2;
	struct acme_client *c;
	struct ck_err err;
};

/* 0, or -1 when a key cannot be made. */
static FAKE_UNUSED int
fake_env_init(struct fake_env *e)
{
	memset(e, 0, sizeof(*e));
	fake_reset(&e->f);
	fake_ctx_init(&e->ctx, &e->clk);
	if (ck_key_generate(CK_KEY_EC256, &e->key, NULL) != CK_OK ||
	    ck_key_generate(CK_KEY_EC256, &e->key2, NULL) != CK_OK)
		return -1;
	e->c = fake_client(&e->ctx, &e->f, e->key, FAKE_BASE "/acct/1");
	ck_err_clear(&e->err);
	return 0;
}

static FAKE_UNUSED void
fake_env_cleanup(struct fake_env *e)
{
	acme_client_free(e->c);
	EVP_PKEY_free(e->key);
	EVP_PKEY_free(e->key2);
	fake_reset(&e->f);
}

static FAKE_UNUSED int
fake_env_setup(void **state)
{
	struct fake_env *e = calloc(1, sizeof(*e));

	if (e == NULL || fake_env_init(e) != 0)
		return -1;
	*state = e;
	return 0;
}

static FAKE_UNUSED int
fake_env_teardown(void **state)
{
	fake_env_cleanup(*state);
	free(*state);
	return 0;
}

/* A cmocka test entry on a bare struct fake_env. */
#define FAKE_ENV_TEST(fn) cmocka_unit_test_setup_teardown(fn, fake_env_setup, fake_env_teardown)

#endif
