/*
 * test_acme_order.c - orders, authorizations, challenges, polling with
 * Retry-After, finalize and certificate download against the scripted
 * server (test_acme_fake.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_acme_fake.h"

static void
test_issue_flow(void **state)
{
	struct fake_env *e = *state;
	const char *names[] = { "a.test", "192.0.2.7", "2001:db8::1" };
	static const unsigned char csr[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	struct acme_order o = { 0 };
	struct acme_authz a = { 0 };
	struct acme_cert cert = { 0 }, *alts = NULL;
	const struct acme_challenge *ch;
	unsigned long before;
	char *payload;
	size_t nalts = 0, i;
	json_t *p;

	assert_int_equal(acme_order_new(e->c, names, 3, &o, &e->err), CK_OK);
	assert_string_equal(o.url, FAKE_BASE "/order/1");
	assert_string_equal(o.status, "pending");
	payload = fake_payload(e->f.reqs[e->f.n - 1].body);
	p = json_loads(payload, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
				    json_object_get(p, "identifiers"), 1), "type")), "ip");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
				    json_object_get(p, "identifiers"), 2), "type")), "ip");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
				    json_object_get(p, "identifiers"), 0), "type")), "dns");
	assert_null(json_object_get(p, "notBefore"));
	assert_null(json_object_get(p, "profile")); /* none asked for, none sent */
	json_decref(p);
	free(payload);

	before = acme_client_request_count(e->c);
	assert_int_equal(acme_authz_fetch(e->c, o.authorizations.v[0], &a, &e->err), CK_OK);
	ch = acme_authz_challenge(&a, "http-01");
	assert_non_null(ch);
	assert_int_equal(acme_challenge_respond(e->c, ch, &e->err), CK_OK);
	payload = fake_payload(e->f.reqs[e->f.n - 1].body);
	assert_string_equal(payload, "{}");
	free(payload);

	/* Two pending answers with Retry-After: 3 -> the client sleeps 3 s twice. */
	e->f.authz_polls_pending = 2;
	e->f.retry_after = "3";
	acme_authz_cleanup(&a);
	assert_int_equal(acme_authz_fetch(e->c, o.authorizations.v[0], &a, &e->err), CK_OK);
	assert_string_equal(a.status, "pending");
	assert_int_equal(a.retry_after, 3);
	assert_int_equal(acme_authz_wait(e->c, &a, &e->err), CK_OK);
	assert_string_equal(a.status, "valid");
	assert_int_equal(e->clk.slept_ms, 6000);
	acme_authz_cleanup(&a);

	/* Finalize answers "processing"; without Retry-After the client polls
	 * after 250 ms, then doubles the total wait: 250 + 250 ms here. */
	e->f.retry_after = NULL;
	e->f.order_polls_processing = 1;
	assert_int_equal(acme_order_finalize(e->c, &o, csr, sizeof(csr), &e->err), CK_OK);
	payload = fake_payload(e->f.reqs[e->f.n - 1].body);
	assert_string_equal(payload, "{\"csr\":\"MAMCAQA\"}");
	free(payload);
	assert_string_equal(o.status, "processing");
	assert_string_equal(o.url, FAKE_BASE "/order/1");
	assert_int_equal(acme_order_wait(e->c, &o, &e->err), CK_OK);
	assert_string_equal(o.status, "valid");
	assert_int_equal(e->clk.slept_ms, 6500);

	assert_int_equal(acme_cert_download(e->c, o.certificate, &cert, &e->err), CK_OK);
	assert_string_equal(e->f.reqs[e->f.n - 1].accept, "application/pem-certificate-chain");
	assert_string_equal(cert.pem, fake_pem);
	assert_int_equal(cert.alternates.n, 3);
	assert_string_equal(cert.alternates.v[0], FAKE_BASE "/cert/1/alt1");
	assert_string_equal(cert.alternates.v[1], FAKE_BASE "/cert/1/alt2");
	assert_string_equal(cert.alternates.v[2], FAKE_BASE "/cert/1/alt3");
	/* authz, challenge, authz x3, finalize, order poll x2, certificate. */
	assert_int_equal(acme_client_request_count(e->c) - before, 9);

	assert_int_equal(acme_cert_download_alternates(e->c, &cert, &alts, &nalts, &e->err), CK_OK);
	assert_int_equal(nalts, 3);
	for (i = 0; i < nalts; i++) {
		assert_string_equal(alts[i].pem, fake_pem);
		acme_cert_cleanup(&alts[i]);
	}
	free(alts);
	acme_cert_cleanup(&cert);
	acme_order_cleanup(&o);
}

static int
hook_authz_invalid(struct fake *f, const struct acme_http_request *req,
		   struct acme_http_response *out)
{
	if (strcmp(req->url, FAKE_BASE "/authz/1") != 0)
		return 0;
	fake_nonce(f, out);
	fake_body(out, 200, "application/json",
		  "{\"status\":\"invalid\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
		  "\"challenges\":[{\"type\":\"http-01\",\"url\":\"" FAKE_BASE "/chall/1\","
		  "\"status\":\"invalid\",\"token\":\"tok\",\"error\":{\"type\":"
		  "\"urn:ietf:params:acme:error:connection\",\"detail\":\"Connection refused\","
		  "\"status\":400}}]}");
	return 1;
}

/* RFC 8738 section 3: an ip identifier's value is the address in its
 * canonical text form (RFC 5952 for IPv6), whatever form was typed. */
static void
test_ip_identifier_canonical(void **state)
{
	struct fake_env *e = *state;
	const char *names[] = { "0:0:0:0:0:0:0:1", "2001:DB8:0:0::1", "192.0.2.7" };
	const char *want[] = { "::1", "2001:db8::1", "192.0.2.7" };
	struct acme_order o = { 0 };
	char *payload;
	json_t *p, *ids;
	size_t i;

	assert_int_equal(acme_order_new(e->c, names, 3, &o, &e->err), CK_OK);
	payload = fake_payload(e->f.reqs[e->f.n - 1].body);
	p = json_loads(payload, 0, NULL);
	ids = json_object_get(p, "identifiers");
	for (i = 0; i < 3; i++) {
		assert_string_equal(json_string_value(json_object_get(json_array_get(ids, i),
								      "type")), "ip");
		assert_string_equal(json_string_value(json_object_get(json_array_get(ids, i),
								      "value")), want[i]);
	}
	json_decref(p);
	free(payload);
	acme_order_cleanup(&o);
}

static void
test_authz_invalid(void **state)
{
	struct fake_env *e = *state;
	struct acme_authz a = { 0 };

	e->f.hook = hook_authz_invalid;
	assert_int_equal(acme_authz_fetch(e->c, FAKE_BASE "/authz/1", &a, &e->err), CK_OK);
	assert_int_equal(acme_authz_wait(e->c, &a, &e->err), CK_ERR_VALIDATION);
	assert_int_equal(e->err.code, CK_ERR_VALIDATION);
	assert_string_equal(ck_err_problem_short(&e->err), "connection");
	assert_string_equal(e->err.problem_detail, "Connection refused");
	assert_non_null(strstr(e->err.msg, "a.test"));
	assert_non_null(strstr(e->err.msg, "http-01"));
	acme_authz_cleanup(&a);
}

static void
test_poll_bounded(void **state)
{
	struct fake_env *e = *state;
	struct acme_authz a = { 0 };

	e->f.authz_polls_pending = 1000000;
	acme_client_set_poll_timeout(e->c, 10);
	assert_int_equal(acme_authz_fetch(e->c, FAKE_BASE "/authz/1", &a, &e->err), CK_OK);
	assert_int_equal(acme_authz_wait(e->c, &a, &e->err), CK_ERR_TIMEOUT);
	assert_true(e->clk.slept_ms <= 10000);
	assert_true(e->clk.sleeps >= 9);
	assert_non_null(strstr(e->err.msg, "still pending"));
	acme_authz_cleanup(&a);

	/* A huge Retry-After is clamped to the bound, then the wait ends at once. */
	e->f.retry_after = "86400";
	e->clk.sleeps = 0;
	assert_int_equal(acme_authz_fetch(e->c, FAKE_BASE "/authz/1", &a, &e->err), CK_OK);
	assert_int_equal(acme_authz_wait(e->c, &a, &e->err), CK_ERR_TIMEOUT);
	assert_int_equal(e->clk.sleeps, 0);
	acme_authz_cleanup(&a);
}

static void
test_poll_interval(void **state)
{
	struct fake_env *e = *state;
	struct acme_authz a = { 0 };

	/* Without Retry-After the client's interval applies; with one, the server's. */
	acme_client_set_poll_interval(e->c, 200);
	e->f.authz_polls_pending = 3;
	assert_int_equal(acme_authz_fetch(e->c, FAKE_BASE "/authz/1", &a, &e->err), CK_OK);
	assert_int_equal(acme_authz_wait(e->c, &a, &e->err), CK_OK);
	assert_int_equal(e->clk.slept_ms, 600);
	acme_authz_cleanup(&a);
	e->f.authz_polls_pending = 2;
	e->f.retry_after = "0"; /* clamped up to 1 s */
	assert_int_equal(acme_authz_fetch(e->c, FAKE_BASE "/authz/1", &a, &e->err), CK_OK);
	assert_int_equal(acme_authz_wait(e->c, &a, &e->err), CK_OK);
	assert_int_equal(e->clk.slept_ms, 600 + 2000);
	acme_authz_cleanup(&a);
}

static void
test_poll_backoff_without_retry_after(void **state)
{
	struct fake_env *e = *state;
	struct acme_authz a = { 0 };

	/* Default interval 1 s: 250, 250, 500, then 1000 ms per poll - quick
	 * for the common case, never faster than 1 s for a slow server. */
	e->f.authz_polls_pending = 5;
	assert_int_equal(acme_authz_fetch(e->c, FAKE_BASE "/authz/1", &a, &e->err), CK_OK);
	assert_int_equal(acme_authz_wait(e->c, &a, &e->err), CK_OK);
	assert_int_equal(e->clk.sleeps, 5);
	assert_int_equal(e->clk.slept_ms, 250 + 250 + 500 + 1000 + 1000);
	acme_authz_cleanup(&a);
}

static int
hook_order_invalid(struct fake *f, const struct acme_http_request *req,
		   struct acme_http_response *out)
{
	if (strcmp(req->url, FAKE_BASE "/order/1") != 0)
		return 0;
	fake_nonce(f, out);
	fake_body(out, 200, "application/json",
		  "{\"status\":\"invalid\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
		  "\"authorizations\":[\"" FAKE_BASE "/authz/1\"],\"finalize\":\"" FAKE_BASE
		  "/order/1/fin\",\"error\":{\"type\":\"urn:ietf:params:acme:error:badCSR\","
		  "\"detail\":\"CSR has the account key\"}}");
	return 1;
}

static void
test_order_invalid(void **state)
{
	struct fake_env *e = *state;
	struct acme_order o = { 0 };

	e->f.hook = hook_order_invalid;
	assert_int_equal(acme_order_fetch(e->c, FAKE_BASE "/order/1", &o, &e->err), CK_OK);
	assert_int_equal(acme_order_wait(e->c, &o, &e->err), CK_ERR_VALIDATION);
	assert_string_equal(ck_err_problem_short(&e->err), "badCSR");
	acme_order_cleanup(&o);
	assert_int_equal(acme_order_fetch(e->c, FAKE_BASE "/order/1", &o, &e->err), CK_OK);
	assert_int_equal(acme_order_wait(e->c, &o, NULL), CK_ERR_VALIDATION);
	acme_order_cleanup(&o);
}

static int
hook_not_pem(struct fake *f, const struct acme_http_request *req, struct acme_http_response *out)
{
	if (strcmp(req->url, FAKE_BASE "/cert/1") != 0)
		return 0;
	fake_nonce(f, out);
	fake_body(out, 200, "text/html", "<html>hello</html>");
	return 1;
}

static void
test_cert_not_pem(void **state)
{
	struct fake_env *e = *state;
	struct acme_cert cert = { 0 };

	e->f.hook = hook_not_pem;
	assert_int_equal(acme_cert_download(e->c, FAKE_BASE "/cert/1", &cert, &e->err),
			 CK_ERR_PARSE);
	assert_null(cert.pem);
}

static void
test_order_needs_account(void **state)
{
	struct fake_env *e = *state;
	struct acme_client *c = fake_client(&e->ctx, &e->f, e->key, NULL);
	struct acme_order o = { 0 };
	const char *names[] = { "a.test" };
	const char *bad[] = { "a test" };

	assert_int_equal(acme_order_new(c, names, 1, &o, &e->err), CK_ERR_STATE);
	assert_int_equal(acme_order_new(e->c, bad, 1, &o, &e->err), CK_ERR_INVALID_ARG);
	assert_int_equal(acme_order_new(e->c, names, 0, &o, &e->err), CK_ERR_INVALID_ARG);
	/* A profile the directory does not offer: refused before newOrder. */
	assert_int_equal(acme_order_new_profile(e->c, names, 1, "classic", &o, &e->err),
			 CK_ERR_INVALID_ARG);
	assert_non_null(strstr(e->err.msg, "offers no profiles"));
	assert_int_equal(e->f.posts, 0);
	acme_client_free(c);
}

/* ---- same origin ----------------------------------------------------------- */

#define EVIL "https://evil.test"
#define ORDER_BODY(authz, fin, cert) \
	"{\"status\":\"valid\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]," \
	"\"authorizations\":[\"" authz "\"],\"finalize\":\"" fin "\",\"certificate\":\"" cert "\"}"

/* newOrder answered with location and body; the error names both origins. */
static void
new_order_refused(struct fake_env *e, const char *location, const char *body, const char *foreign,
		  const char *what)
{
	const struct fake_canned canned[] = {
		{ ACME_METHOD_POST, FAKE_BASE "/new-order", 201, location, NULL, NULL, body },
		{ 0 },
	};
	const char *names[] = { "a.test" };
	struct acme_order o = { 0 };

	e->f.hook = fake_canned_hook;
	e->f.hook_arg = (void *)canned;
	assert_int_equal(acme_order_new(e->c, names, 1, &o, &e->err), CK_ERR_PARSE);
	assert_null(o.url);
	assert_non_null(strstr(e->err.msg, what));
	assert_non_null(strstr(e->err.msg, foreign));
	assert_non_null(strstr(e->err.msg, "https://acme.test:443"));
	assert_non_null(strstr(e->err.msg, "--allow-origin"));
	e->f.hook = NULL;
	e->f.hook_arg = NULL;
}

static void
test_order_foreign_urls_refused(void **state)
{
	struct fake_env *e = *state;

	new_order_refused(e, FAKE_BASE "/order/1",
			  ORDER_BODY(EVIL "/authz/1", FAKE_BASE "/fin", FAKE_BASE "/cert/1"),
			  "https://evil.test:443", "authorization URL");
	new_order_refused(e, FAKE_BASE "/order/1",
			  ORDER_BODY(FAKE_BASE "/authz/1", "https://acme.test:8443/fin",
				     FAKE_BASE "/cert/1"),
			  "https://acme.test:8443", "finalize URL");
	new_order_refused(e, FAKE_BASE "/order/1",
			  ORDER_BODY(FAKE_BASE "/authz/1", FAKE_BASE "/fin", EVIL "/cert/1"),
			  "https://evil.test:443", "certificate URL");
	new_order_refused(e, EVIL "/order/1",
			  ORDER_BODY(FAKE_BASE "/authz/1", FAKE_BASE "/fin", FAKE_BASE "/cert/1"),
			  "https://evil.test:443", "order URL (Location)");
	/* A user name in the URL does not fool the comparison: the host is evil.test. */
	new_order_refused(e, FAKE_BASE "/order/1",
			  ORDER_BODY("https://acme.test@evil.test/authz/1", FAKE_BASE "/fin",
				     FAKE_BASE "/cert/1"),
			  "https://evil.test:443", "authorization URL");
	assert_int_equal(fake_requests_to(&e->f, EVIL), 0);
	assert_int_equal(fake_requests_to(&e->f, "https://acme.test:8443"), 0);
	assert_int_equal(fake_requests_to(&e->f, "https://acme.test@"), 0);
}

/* Whatever hands the client a foreign URL, no signed request goes there. */
static void
test_no_signed_request_elsewhere(void **state)
{
	struct fake_env *e = *state;
	static const unsigned char csr[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	struct acme_order o = { 0 };
	struct acme_authz a = { 0 };
	struct acme_cert cert = { 0 };
	struct acme_challenge ch = { .type = "http-01", .url = EVIL "/chall/1" };
	int posts = e->f.posts;

	o.url = strdup(FAKE_BASE "/order/1");
	o.status = strdup("ready");
	o.finalize = strdup(EVIL "/fin");
	assert_int_equal(acme_order_finalize(e->c, &o, csr, sizeof(csr), &e->err), CK_ERR_PARSE);
	assert_non_null(strstr(e->err.msg, "https://evil.test:443"));
	acme_order_cleanup(&o);
	assert_int_equal(acme_order_fetch(e->c, "https://acme.test:444/order/1", &o, &e->err),
			 CK_ERR_PARSE);
	assert_int_equal(acme_authz_fetch(e->c, EVIL "/authz/1", &a, &e->err), CK_ERR_PARSE);
	assert_int_equal(acme_challenge_respond(e->c, &ch, &e->err), CK_ERR_PARSE);
	assert_int_equal(acme_cert_download(e->c, EVIL "/cert/1", &cert, &e->err), CK_ERR_PARSE);
	assert_int_equal(e->f.n, 0);       /* not even a nonce was fetched */
	assert_int_equal(e->f.posts, posts);
}

/* An authorization whose challenge is elsewhere is refused before any challenge is answered. */
static void
test_challenge_foreign_refused(void **state)
{
	struct fake_env *e = *state;
	const struct fake_canned canned[] = {
		{ ACME_METHOD_POST, FAKE_BASE "/authz/9", 200, NULL, NULL, NULL,
		  "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
		  "\"challenges\":[{\"type\":\"http-01\",\"url\":\"" EVIL "/chall/1\","
		  "\"status\":\"pending\",\"token\":\"tok\"}]}" },
		{ 0 },
	};
	struct acme_authz a = { 0 };

	e->f.hook = fake_canned_hook;
	e->f.hook_arg = (void *)canned;
	assert_int_equal(acme_authz_fetch(e->c, FAKE_BASE "/authz/9", &a, &e->err), CK_ERR_PARSE);
	assert_non_null(strstr(e->err.msg, "challenge URL"));
	assert_non_null(strstr(e->err.msg, "https://evil.test:443"));
	assert_null(a.url);
	assert_int_equal(fake_requests_to(&e->f, EVIL), 0);
}

/* Alternates elsewhere: none is fetched; the default chain was fine. */
static void
test_alternate_foreign_refused(void **state)
{
	struct fake_env *e = *state;
	const struct fake_canned canned[] = {
		{ ACME_METHOD_POST, FAKE_BASE "/cert/7", 200, NULL,
		  "<" FAKE_BASE "/cert/7/alt1>;rel=\"alternate\", <" EVIL "/alt2>;rel=\"alternate\"",
		  "application/pem-certificate-chain", fake_pem },
		{ 0 },
	};
	struct acme_cert cert = { 0 }, *alts = NULL;
	size_t n = 0;

	e->f.hook = fake_canned_hook;
	e->f.hook_arg = (void *)canned;
	assert_int_equal(acme_cert_download(e->c, FAKE_BASE "/cert/7", &cert, &e->err), CK_OK);
	assert_int_equal(cert.alternates.n, 2);
	assert_int_equal(acme_cert_download_alternates(e->c, &cert, &alts, &n, &e->err),
			 CK_ERR_PARSE);
	assert_non_null(strstr(e->err.msg, "alternate chain URL"));
	assert_non_null(strstr(e->err.msg, "https://evil.test:443"));
	assert_int_equal(fake_requests_to(&e->f, FAKE_BASE "/cert/7/alt1"), 0);
	assert_int_equal(fake_requests_to(&e->f, EVIL), 0);
	acme_cert_cleanup(&cert);
}

/* The fake answers newOrder with (location, body) and cert_url with a chain. */
static void
canned_order_and_cert(struct fake_env *e, struct fake_canned c[3], const char *location,
		      const char *body, const char *cert_url)
{
	c[0] = (struct fake_canned){ ACME_METHOD_POST, FAKE_BASE "/new-order", 201, location, NULL,
				     NULL, body };
	c[1] = (struct fake_canned){ ACME_METHOD_POST, cert_url, 200, NULL, NULL,
				     "application/pem-certificate-chain", fake_pem };
	c[2] = (struct fake_canned){ 0 };
	e->f.hook = fake_canned_hook;
	e->f.hook_arg = c;
}

/* Host case, an explicit default port and the path's case do not change the origin. */
static void
test_order_same_origin_accepted(void **state)
{
	struct fake_env *e = *state;
	struct fake_canned canned[3];
	const char *names[] = { "a.test" };
	struct acme_order o = { 0 };
	struct acme_cert cert = { 0 };

	canned_order_and_cert(e, canned, "https://ACME.test:443/Order/1",
			      ORDER_BODY("https://Acme.Test/AUTHZ/1",
					 "https://acme.test:443/Order/1/FIN", "https://ACME.TEST/Cert/1"),
			      "https://ACME.TEST/Cert/1");
	assert_int_equal(acme_order_new(e->c, names, 1, &o, &e->err), CK_OK);
	assert_string_equal(o.url, "https://ACME.test:443/Order/1");
	assert_string_equal(o.finalize, "https://acme.test:443/Order/1/FIN");
	assert_int_equal(acme_cert_download(e->c, o.certificate, &cert, &e->err), CK_OK);
	assert_int_equal(fake_requests_to(&e->f, "https://ACME.TEST/Cert/1"), 1);
	acme_cert_cleanup(&cert);
	acme_order_cleanup(&o);
}

/* An origin the user allowed for this server is followed like the directory's own. */
static void
test_order_extra_origin_accepted(void **state)
{
	struct fake_env *e = *state;
	struct fake_canned canned[3];
	const char *names[] = { "a.test" };
	struct acme_order o = { 0 };
	struct acme_cert cert = { 0 };

	canned_order_and_cert(e, canned, FAKE_BASE "/order/1",
			      ORDER_BODY(FAKE_BASE "/authz/1", FAKE_BASE "/fin",
					 "https://cdn.test:8443/c/1"),
			      "https://cdn.test:8443/c/1");
	assert_int_equal(acme_order_new(e->c, names, 1, &o, &e->err), CK_ERR_PARSE);
	assert_int_equal(acme_client_allow_origin(e->c, "https://CDN.test:8443/", &e->err), CK_OK);
	assert_int_equal(acme_client_allow_origin(e->c, "https://cdn.test:8443", &e->err), CK_OK);
	assert_int_equal(acme_order_new(e->c, names, 1, &o, &e->err), CK_OK);
	assert_int_equal(acme_cert_download(e->c, o.certificate, &cert, &e->err), CK_OK);
	assert_string_equal(cert.pem, fake_pem);
	assert_int_equal(fake_requests_to(&e->f, "https://cdn.test:8443/"), 1);
	/* The same host on another port is still another origin. */
	acme_cert_cleanup(&cert);
	assert_int_equal(acme_cert_download(e->c, "https://cdn.test/c/1", &cert, &e->err),
			 CK_ERR_PARSE);
	assert_int_equal(fake_requests_to(&e->f, "https://cdn.test/"), 0);
	acme_order_cleanup(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FAKE_ENV_TEST(test_issue_flow),
		FAKE_ENV_TEST(test_ip_identifier_canonical),
		FAKE_ENV_TEST(test_authz_invalid),
		FAKE_ENV_TEST(test_poll_bounded),
		FAKE_ENV_TEST(test_poll_interval),
		FAKE_ENV_TEST(test_poll_backoff_without_retry_after),
		FAKE_ENV_TEST(test_order_invalid),
		FAKE_ENV_TEST(test_cert_not_pem),
		FAKE_ENV_TEST(test_order_needs_account),
		FAKE_ENV_TEST(test_order_foreign_urls_refused),
		FAKE_ENV_TEST(test_no_signed_request_elsewhere),
		FAKE_ENV_TEST(test_challenge_foreign_refused),
		FAKE_ENV_TEST(test_alternate_foreign_refused),
		FAKE_ENV_TEST(test_order_same_origin_accepted),
		FAKE_ENV_TEST(test_order_extra_origin_accepted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
