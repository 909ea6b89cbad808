/*
 * test_acme_parse.c - the acme module's parsers without a server:
 * directory, problem documents, Retry-After, Link headers, order and
 * authorization objects, the JSON bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "acme/acme_int.h"
#include "test_acme_fake.h"

static void
test_directory_parse(void **state)
{
	struct acme_directory d = { 0 };
	struct ck_err err;

	(void)state;
	ck_err_clear(&err);
	assert_int_equal(acme_directory_parse(fake_directory, strlen(fake_directory), &d, &err),
			 CK_OK);
	assert_string_equal(d.new_nonce, FAKE_BASE "/new-nonce");
	assert_string_equal(d.new_account, FAKE_BASE "/new-acct");
	assert_string_equal(d.new_order, FAKE_BASE "/new-order");
	assert_string_equal(d.key_change, FAKE_BASE "/key-change");
	assert_string_equal(d.revoke_cert, FAKE_BASE "/revoke");
	assert_string_equal(d.renewal_info, FAKE_BASE "/ari");
	assert_string_equal(d.terms_of_service, FAKE_BASE "/tos.pdf");
	assert_null(d.new_authz);
	assert_int_equal(d.external_account_required, 0);
	acme_directory_cleanup(&d);

	static const char eab[] = "{\"newNonce\":\"https://x/n\",\"newAccount\":\"https://x/a\","
				  "\"newOrder\":\"https://x/o\",\"meta\":{\"externalAccountRequired\":true}}";
	assert_int_equal(acme_directory_parse(eab, strlen(eab), &d, &err), CK_OK);
	assert_int_equal(d.external_account_required, 1);
	assert_null(d.key_change);
	assert_null(d.renewal_info);
	acme_directory_cleanup(&d);
}

static void
test_directory_rejects(void **state)
{
	struct acme_directory d = { 0 };
	struct ck_err err;
	static const char *const bad[] = {
		/* http:// endpoint */
		"{\"newNonce\":\"http://x/n\",\"newAccount\":\"https://x/a\",\"newOrder\":\"https://x/o\"}",
		/* missing newOrder */
		"{\"newNonce\":\"https://x/n\",\"newAccount\":\"https://x/a\"}",
		/* wrong type */
		"{\"newNonce\":5,\"newAccount\":\"https://x/a\",\"newOrder\":\"https://x/o\"}",
		("{\"newNonce\":\"https://x/n\",\"newAccount\":\"https://x/a\",\"newOrder\":\"https://x/o\","
		 "\"meta\":{\"externalAccountRequired\":\"yes\"}}"),
		"[1,2]", "not json", "", "{\"a\":1,\"a\":2}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(bad); i++) {
		ck_err_clear(&err);
		assert_int_not_equal(acme_directory_parse(bad[i], strlen(bad[i]), &d, &err), CK_OK);
		assert_null(d.new_nonce); /* OUT untouched */
		assert_true(err.msg[0] != '\0');
	}
	ck_err_clear(&err);
	acme_directory_parse(bad[0], strlen(bad[0]), &d, &err);
	assert_non_null(strstr(err.msg, "https://"));
}

#define PROF_DIR(meta)                                                                     \
	"{\"newNonce\":\"https://x/n\",\"newAccount\":\"https://x/a\","                      \
	"\"newOrder\":\"https://x/o\",\"meta\":{\"profiles\":" meta "}}"

/* Parses PROF_DIR-style text; returns the rc and leaves d filled on CK_OK. */
static enum ck_code
prof_parse(const char *text, struct acme_directory *d, struct ck_err *err)
{
	ck_err_clear(err);
	return acme_directory_parse(text, strlen(text), d, err);
}

static void
test_directory_profiles(void **state)
{
	struct acme_directory d = { 0 };
	struct ck_err err;

	(void)state;
	assert_int_equal(prof_parse(PROF_DIR("{\"classic\":\"90 days\","
					     "\"short.lived-6_d\":\"six days\"}"), &d, &err),
			 CK_OK);
	assert_int_equal(d.nprofiles, 2);
	assert_string_equal(d.profiles[0].name, "classic");
	assert_string_equal(d.profiles[0].description, "90 days");
	assert_string_equal(d.profiles[1].name, "short.lived-6_d");
	assert_true(acme_directory_has_profile(&d, "classic"));
	assert_false(acme_directory_has_profile(&d, "tlsserver"));
	assert_int_equal(acme_directory_check_profile(&d, NULL, &err), CK_OK);
	assert_int_equal(acme_directory_check_profile(&d, "classic", &err), CK_OK);
	assert_int_equal(acme_directory_check_profile(&d, "tlsserver", &err), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(err.msg, "\"tlsserver\""));
	assert_non_null(strstr(err.msg, "classic, short.lived-6_d"));
	acme_directory_cleanup(&d);

	/* None offered: empty object, null, absent; asking for one says so. */
	assert_int_equal(prof_parse(PROF_DIR("{}"), &d, &err), CK_OK);
	assert_int_equal(d.nprofiles, 0);
	acme_directory_cleanup(&d);
	assert_int_equal(prof_parse(PROF_DIR("null"), &d, &err), CK_OK);
	assert_int_equal(d.nprofiles, 0);
	assert_int_equal(acme_directory_check_profile(&d, "classic", &err), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(err.msg, "offers no profiles"));
	acme_directory_cleanup(&d);
}

static void
test_directory_profiles_rejects(void **state)
{
	static const char *const bad[] = {
		PROF_DIR("[\"classic\"]"),                 /* not an object */
		PROF_DIR("\"classic\""),
		PROF_DIR("{\"classic\":5}"),               /* description not a string */
		PROF_DIR("{\"classic\":{\"d\":\"x\"}}"),
		PROF_DIR("{\"classic\":\"bell\\u0007\"}"), /* not printable */
		PROF_DIR("{\"bad name\":\"x\"}"),        /* name outside [A-Za-z0-9._-] */
		PROF_DIR("{\"a/b\":\"x\"}"),
		PROF_DIR("{\"\":\"x\"}"),
	};
	struct acme_directory d = { 0 };
	struct ck_err err;
	char *text, *p;
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(bad); i++) {
		assert_int_equal(prof_parse(bad[i], &d, &err), CK_ERR_PARSE);
		assert_null(d.profiles);
		assert_non_null(strstr(err.msg, "profile"));
	}
	/* Bounds: a name one too long, a description one too long, one profile
	 * too many; each at the limit parses. */
	text = malloc(64 * 1024);
	assert_non_null(text);
	for (i = 0; i < 4; i++) {
		/* i = 0, 1: the name at and over its limit; 2, 3: the description. */
		char long_text[ACME_PROFILE_DESC_MAX + 2];
		size_t max = i < 2 ? ACME_PROFILE_NAME_MAX : ACME_PROFILE_DESC_MAX;
		memset(long_text, 'n', sizeof(long_text) - 1);
		long_text[max + i % 2] = '\0';
		snprintf(text, 64 * 1024, i < 2 ? PROF_DIR("{\"%s\":\"x\"}") :
			 PROF_DIR("{\"p\":\"%s\"}"), long_text);
		assert_int_equal(prof_parse(text, &d, &err), i % 2 ? CK_ERR_PARSE : CK_OK);
		acme_directory_cleanup(&d);
	}
	for (i = 0; i < 2; i++) {
		size_t k, n = ACME_PROFILES_MAX + i;
		char head[] = PROF_DIR("{");
		p = text + snprintf(text, 64 * 1024, "%.*s", (int)strlen(head) - 2, head);
		for (k = 0; k < n; k++)
			p += sprintf(p, "%s\"p%zu\":\"x\"", k ? "," : "", k);
		strcpy(p, "}}}");
		assert_int_equal(prof_parse(text, &d, &err), i ? CK_ERR_PARSE : CK_OK);
		if (i == 0)
			assert_int_equal(d.nprofiles, ACME_PROFILES_MAX);
		else
			assert_non_null(strstr(err.msg, "at most"));
		acme_directory_cleanup(&d);
	}
	free(text);
}

static void
test_json_depth_and_size(void **state)
{
	struct acme_directory d = { 0 };
	struct ck_err err;
	char deep[256], *big;
	size_t i, n = 0;

	(void)state;
	n += (size_t)snprintf(deep, sizeof(deep), "{\"newNonce\":\"https://x/n\",\"newAccount\":"
			      "\"https://x/a\",\"newOrder\":\"https://x/o\",\"x\":");
	for (i = 0; i < 20; i++)
		deep[n++] = '[';
	for (i = 0; i < 20; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	ck_err_clear(&err);
	assert_int_equal(acme_directory_parse(deep, n, &d, &err), CK_ERR_PARSE);
	assert_non_null(strstr(err.msg, "nested"));

	/* Brackets inside strings do not count. */
	static const char strs[] = "{\"newNonce\":\"https://x/n\",\"newAccount\":\"https://x/a\","
				   "\"newOrder\":\"https://x/o\",\"x\":\"[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[\"}";
	assert_int_equal(acme_directory_parse(strs, strlen(strs), &d, &err), CK_OK);
	acme_directory_cleanup(&d);

	big = malloc(ACME_BODY_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', ACME_BODY_MAX + 1);
	big[0] = '{';
	big[ACME_BODY_MAX] = '}';
	big[ACME_BODY_MAX + 1] = '\0';
	assert_int_equal(acme_directory_parse(big, ACME_BODY_MAX + 1, &d, &err), CK_ERR_TOO_LARGE);
	free(big);
}

static void
test_problem_document(void **state)
{
	struct acme_http_response r = { 0 };
	struct ck_err err;
	static const char body[] =
		"{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\","
		"\"detail\":\"Some identifiers were rejected\",\"status\":400,\"subproblems\":["
		"{\"type\":\"urn:ietf:params:acme:error:malformed\",\"detail\":\"Invalid underscore\","
		"\"identifier\":{\"type\":\"dns\",\"value\":\"_example.org\"}},"
		"{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"policy\\u0007\","
		"\"identifier\":{\"type\":\"dns\",\"value\":\"bad.example.net\"}}, 7]}";

	(void)state;
	fake_body(&r, 400, "application/problem+json; charset=utf-8", body);
	ck_err_clear(&err);
	assert_int_equal(acme_problem_from_response(&r, 0, &err), CK_ERR_ACME);
	assert_int_equal(err.code, CK_ERR_ACME);
	assert_int_equal(err.http_status, 400);
	assert_string_equal(err.problem_type, "urn:ietf:params:acme:error:rejectedIdentifier");
	assert_string_equal(ck_err_problem_short(&err), "rejectedIdentifier");
	assert_string_equal(err.problem_detail, "Some identifiers were rejected");
	assert_string_equal(err.subproblems,
			    "malformed (_example.org): Invalid underscore; "
			    "rejectedIdentifier (bad.example.net): policy?");
	assert_int_equal(err.retry_after, -1);
	assert_non_null(strstr(err.msg, "rejectedIdentifier"));
	acme_http_response_cleanup(&r);
}

static void
test_problem_rate_limited(void **state)
{
	struct acme_http_response r = { 0 };
	struct ck_err err;

	(void)state;
	fake_problem(&r, 429, "rateLimited", "too many certificates");
	fake_header(&r, "Retry-After", "7200");
	ck_err_clear(&err);
	assert_int_equal(acme_problem_from_response(&r, 0, &err), CK_ERR_ACME);
	assert_string_equal(ck_err_problem_short(&err), "rateLimited");
	assert_int_equal(err.retry_after, 7200); /* the raw value, not the polling clamp */
	acme_http_response_cleanup(&r);

	fake_body(&r, 503, "text/html", "<html>maintenance</html>");
	fake_header(&r, "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT");
	ck_err_clear(&err);
	assert_int_equal(acme_problem_from_response(&r, 1445412480 - 60, &err), CK_ERR_HTTP);
	assert_int_equal(err.retry_after, 60);
	acme_http_response_cleanup(&r);
}

static void
test_problem_not_json(void **state)
{
	struct acme_http_response r = { 0 };
	struct ck_err err;

	(void)state;
	fake_body(&r, 502, "text/html", "<html><body>Bad Gateway\n</body></html>");
	ck_err_clear(&err);
	assert_int_equal(acme_problem_from_response(&r, 0, &err), CK_ERR_HTTP);
	assert_int_equal(err.http_status, 502);
	assert_string_equal(err.problem_type, "");
	assert_non_null(strstr(err.msg, "502"));
	assert_non_null(strstr(err.msg, "Bad Gateway?")); /* newline made printable */
	acme_http_response_cleanup(&r);

	/* Claims to be a problem but is not JSON. */
	fake_body(&r, 500, "application/problem+json", "{oops");
	ck_err_clear(&err);
	assert_int_equal(acme_problem_from_response(&r, 0, &err), CK_ERR_HTTP);
	acme_http_response_cleanup(&r);

	/* No body at all. */
	r.status = 500;
	ck_err_clear(&err);
	assert_int_equal(acme_problem_from_response(&r, 0, &err), CK_ERR_HTTP);
	acme_http_response_cleanup(&r);

	assert_int_equal(acme_problem_parse("{\"detail\":\"x\"}", 14, 400, &err), CK_ERR_PARSE);
}

static void
test_retry_after(void **state)
{
	time_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */

	(void)state;
	assert_int_equal(acme_retry_after_parse("120", now), 120);
	assert_int_equal(acme_retry_after_parse("  0 ", now), 0);
	assert_int_equal(acme_retry_after_parse("Wed, 21 Oct 2015 07:28:30 GMT", now), 30);
	assert_int_equal(acme_retry_after_parse("Wednesday, 21-Oct-15 07:29:00 GMT", now), 60);
	assert_int_equal(acme_retry_after_parse("Wed Oct 21 07:28:05 2015", now), 5);
	assert_int_equal(acme_retry_after_parse("Tue, 20 Oct 2015 07:28:00 GMT", now), 0); /* past */
	assert_int_equal(acme_retry_after_parse(NULL, now), -1);
	assert_int_equal(acme_retry_after_parse("", now), -1);
	assert_int_equal(acme_retry_after_parse("soon", now), -1);
	assert_int_equal(acme_retry_after_parse("-5", now), -1);
	assert_int_equal(acme_retry_after_parse("12abc", now), -1);
	assert_int_equal(acme_retry_after_parse("1.5", now), -1);
	assert_int_equal(acme_retry_after_parse("99999999999999999999", now), -1);

	assert_int_equal(acme_retry_after_clamp(-1, 1, 3600, 1), 1);
	assert_int_equal(acme_retry_after_clamp(0, 1, 3600, 1), 1);
	assert_int_equal(acme_retry_after_clamp(30, 1, 3600, 1), 30);
	assert_int_equal(acme_retry_after_clamp(86400, 1, 3600, 1), 3600);
	assert_int_equal(acme_retry_after_clamp(-1, 1, 3600, 5), 5);
}

static void
test_link_header(void **state)
{
	struct ck_strv v = { 0 };
	struct ck_err err;

	(void)state;
	ck_err_clear(&err);
	assert_int_equal(acme_link_parse("<https://a.test/cert/1/1>;rel=\"alternate\"", "alternate",
					 8, &v, &err), CK_OK);
	assert_int_equal(acme_link_parse("<https://a.test/dir>;rel=\"index\", "
					 "<https://a.test/cert/1/2> ; title=\"x, <y>; rel=z\" ; "
					 "rel=\"up ALTERNATE\", <https://a.test/cert/1/3>;rel=alternate",
					 "alternate", 8, &v, &err), CK_OK);
	assert_int_equal(v.n, 3);
	assert_string_equal(v.v[0], "https://a.test/cert/1/1");
	assert_string_equal(v.v[1], "https://a.test/cert/1/2");
	assert_string_equal(v.v[2], "https://a.test/cert/1/3");
	/* http:// and relative targets are not followed; the bound holds. */
	assert_int_equal(acme_link_parse("<http://a.test/x>;rel=alternate, </rel>;rel=alternate",
					 "alternate", 8, &v, &err), CK_OK);
	assert_int_equal(v.n, 3);
	assert_int_equal(acme_link_parse("<https://a.test/4>;rel=alternate,<https://a.test/5>;"
					 "rel=alternate", "alternate", 4, &v, &err), CK_OK);
	assert_int_equal(v.n, 4);
	assert_string_equal(v.v[3], "https://a.test/4");
	ck_strv_cleanup(&v);

	assert_int_equal(acme_link_parse("https://a.test/x;rel=alternate", "alternate", 8, &v, &err),
			 CK_ERR_PARSE);
	assert_int_equal(acme_link_parse("<https://a.test/x;rel=alternate", "alternate", 8, &v, &err),
			 CK_ERR_PARSE);
	assert_int_equal(acme_link_parse("<https://a.test/x>;rel=\"alternate", "alternate", 8, &v,
					 &err), CK_ERR_PARSE);
	assert_int_equal(acme_link_parse("<https://a.test/x> junk", "alternate", 8, &v, &err),
			 CK_ERR_PARSE);
	ck_strv_cleanup(&v);
}

static void
test_order_parse(void **state)
{
	struct acme_order o = { 0 };
	struct ck_err err;
	static const char invalid[] =
		"{\"status\":\"invalid\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"},"
		"{\"type\":\"ip\",\"value\":\"192.0.2.1\"}],\"authorizations\":[\"https://x/a/1\","
		"\"https://x/a/2\"],\"finalize\":\"https://x/f\",\"error\":{\"type\":"
		"\"urn:ietf:params:acme:error:unauthorized\",\"detail\":\"no\",\"status\":403}}";

	(void)state;
	ck_err_clear(&err);
	assert_int_equal(acme_order_parse(fake_order_valid, strlen(fake_order_valid), &o, &err),
			 CK_OK);
	assert_string_equal(o.status, "valid");
	assert_int_equal(o.nidentifiers, 1);
	assert_string_equal(o.identifiers[0].type, "dns");
	assert_string_equal(o.identifiers[0].value, "a.test");
	assert_int_equal(o.authorizations.n, 1);
	assert_string_equal(o.finalize, FAKE_BASE "/order/1/fin");
	assert_string_equal(o.certificate, FAKE_BASE "/cert/1");
	assert_int_equal(o.has_error, 0);
	acme_order_cleanup(&o);

	assert_int_equal(acme_order_parse(invalid, strlen(invalid), &o, &err), CK_OK);
	assert_int_equal(o.nidentifiers, 2);
	assert_string_equal(o.identifiers[1].type, "ip");
	assert_int_equal(o.has_error, 1);
	assert_string_equal(ck_err_problem_short(&o.error), "unauthorized");
	assert_int_equal(o.error.http_status, 403);
	acme_order_cleanup(&o);

	static const char *const bad[] = {
		"{\"status\":\"valid\",\"identifiers\":[],\"authorizations\":[],\"finalize\":\"https://x/f\"}",
		"{\"status\":\"valid\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a\"}],"
		"\"authorizations\":[\"http://x/a\"],\"finalize\":\"https://x/f\"}",
		"{\"status\":\"valid\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a\"}],"
		"\"authorizations\":[\"https://x/a\"],\"finalize\":\"https://x/f\",\"certificate\":7}",
		"{\"status\":1}",
		"{\"status\":\"valid\",\"identifiers\":[{\"type\":\"dns\"}],"
		"\"authorizations\":[\"https://x/a\"],\"finalize\":\"https://x/f\"}",
	};
	size_t i;
	for (i = 0; i < CK_ARRAY_LEN(bad); i++) {
		assert_int_not_equal(acme_order_parse(bad[i], strlen(bad[i]), &o, &err), CK_OK);
		assert_null(o.status);
	}
}

static void
test_authz_parse(void **state)
{
	struct acme_authz a = { 0 };
	struct ck_err err;
	const struct acme_challenge *ch;
	static const char body[] = FAKE_AUTHZ("pending");
	static const char badtok[] =
		"{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
		"\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://x/c\",\"status\":\"pending\","
		"\"token\":\"../../etc/passwd\"}]}";
	static const char wild[] =
		"{\"status\":\"invalid\",\"wildcard\":true,\"identifier\":{\"type\":\"dns\",\"value\":"
		"\"a.test\"},\"challenges\":[{\"type\":\"dns-01\",\"url\":\"https://x/c\",\"status\":"
		"\"invalid\",\"token\":\"abc\",\"error\":{\"type\":\"urn:ietf:params:acme:error:dns\","
		"\"detail\":\"NXDOMAIN\"}}]}";

	(void)state;
	ck_err_clear(&err);
	assert_int_equal(acme_authz_parse(body, strlen(body), &a, &err), CK_OK);
	assert_string_equal(a.status, "pending");
	assert_string_equal(a.identifier.value, "a.test");
	assert_int_equal(a.wildcard, 0);
	assert_int_equal(a.nchallenges, 2);
	ch = acme_authz_challenge(&a, "http-01");
	assert_non_null(ch);
	assert_string_equal(ch->token, "tok_-123");
	assert_string_equal(ch->url, FAKE_BASE "/chall/1");
	assert_null(acme_authz_challenge(&a, "tls-alpn-01"));
	acme_authz_cleanup(&a);

	assert_int_equal(acme_authz_parse(badtok, strlen(badtok), &a, &err), CK_ERR_PARSE);
	assert_non_null(strstr(err.msg, "base64url"));
	assert_null(a.status);

	assert_int_equal(acme_authz_parse(wild, strlen(wild), &a, &err), CK_OK);
	assert_int_equal(a.wildcard, 1);
	assert_int_equal(a.challenges[0].has_error, 1);
	assert_string_equal(ck_err_problem_short(&a.challenges[0].error), "dns");
	acme_authz_cleanup(&a);
}

/* Every RFC 8555 status (section 7.1.6) is parsed once, where the JSON is read. */
static void
test_status_parse(void **state)
{
	static const struct {
		const char *text;
		enum acme_status st;
	} all[] = {
		{ "pending", ACME_ST_PENDING },         { "ready", ACME_ST_READY },
		{ "processing", ACME_ST_PROCESSING },   { "valid", ACME_ST_VALID },
		{ "invalid", ACME_ST_INVALID },         { "expired", ACME_ST_EXPIRED },
		{ "deactivated", ACME_ST_DEACTIVATED }, { "revoked", ACME_ST_REVOKED },
	};
	static const char *const unknown[] = { "bogus", "", "Valid", "valid ", "unknown" };
	char body[512];
	struct acme_order o = { 0 };
	struct acme_authz a = { 0 };
	struct ck_err err;
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(all); i++) {
		assert_int_equal(acme_status_parse(all[i].text), all[i].st);
		assert_string_equal(acme_status_name(all[i].st), all[i].text);
		snprintf(body, sizeof(body),
			 "{\"status\":\"%s\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
			 "\"authorizations\":[\"https://x/a\"],\"finalize\":\"https://x/f\"}",
			 all[i].text);
		assert_int_equal(acme_order_parse(body, strlen(body), &o, &err), CK_OK);
		assert_int_equal(o.state, all[i].st);
		assert_string_equal(o.status, all[i].text); /* the text stays for the store */
		acme_order_cleanup(&o);
		snprintf(body, sizeof(body),
			 "{\"status\":\"%s\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"
			 "\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://x/c\","
			 "\"status\":\"%s\",\"token\":\"abc\"}]}",
			 all[i].text, all[i].text);
		assert_int_equal(acme_authz_parse(body, strlen(body), &a, &err), CK_OK);
		assert_int_equal(a.state, all[i].st);
		assert_int_equal(a.challenges[0].state, all[i].st);
		acme_authz_cleanup(&a);
	}
	for (i = 0; i < CK_ARRAY_LEN(unknown); i++) {
		assert_int_equal(acme_status_parse(unknown[i]), ACME_ST_UNKNOWN);
		snprintf(body, sizeof(body),
			 "{\"status\":\"%s\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
			 "\"authorizations\":[\"https://x/a\"],\"finalize\":\"https://x/f\"}",
			 unknown[i]);
		assert_int_equal(acme_order_parse(body, strlen(body), &o, &err), CK_OK);
		assert_int_equal(o.state, ACME_ST_UNKNOWN);
		assert_string_equal(o.status, unknown[i]);
		acme_order_cleanup(&o);
	}
	assert_int_equal(acme_status_parse(NULL), ACME_ST_UNKNOWN);
	assert_string_equal(acme_status_name(ACME_ST_UNKNOWN), "unknown");
	assert_string_equal(acme_status_name((enum acme_status)99), "unknown");
	assert_string_equal(acme_status_name((enum acme_status)-1), "unknown");
}

static void
test_key_authorization(void **state)
{
	EVP_PKEY *key = NULL;
	char *ka = NULL, *tp = NULL, expect[256];
	struct ck_err err;

	(void)state;
	ck_err_clear(&err);
	assert_int_equal(ck_key_generate(CK_KEY_EC256, &key, &err), CK_OK);
	assert_int_equal(acme_key_authorization(key, "tok_-123", &ka, &err), CK_OK);
	assert_int_equal(ck_key_thumbprint(key, &tp, &err), CK_OK);
	snprintf(expect, sizeof(expect), "tok_-123.%s", tp);
	assert_string_equal(ka, expect);
	free(ka);
	ka = NULL;
	assert_int_equal(acme_key_authorization(key, "../x", &ka, &err), CK_ERR_PARSE);
	assert_int_equal(acme_key_authorization(key, "", &ka, &err), CK_ERR_PARSE);
	assert_null(ka);
	free(tp);
	EVP_PKEY_free(key);
}

/* Origins as libcurl parses URLs: scheme + lower-cased host + port (443 by default). */
static void
test_origin(void **state)
{
	static const struct {
		const char *url, *origin;
	} ok[] = {
		{ "https://acme.test/dir", "https://acme.test:443" },
		{ "https://ACME.Test:443/Dir?x=1#f", "https://acme.test:443" },
		{ "https://acme.test:14000", "https://acme.test:14000" },
		{ "https://127.0.0.1:14000/dir", "https://127.0.0.1:14000" },
		{ "https://[::1]:14000/dir", "https://[::1]:14000" },
		{ "https://[2001:DB8::1]/x", "https://[2001:db8::1]:443" },
		{ "https://acme.test@evil.test/x", "https://evil.test:443" },
		{ "https://evil.test#@acme.test/", "https://evil.test:443" },
	};
	static const char *const bad[] = { "http://acme.test/", "acme.test/dir", "https://",
					   "https://[fe80::1%25eth0]/", "ftp://acme.test/" };
	char o[ACME_ORIGIN_MAX];
	struct ck_err e;
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(ok); i++) {
		assert_int_equal(acme_origin_of(ok[i].url, o, &e), CK_OK);
		assert_string_equal(o, ok[i].origin);
	}
	for (i = 0; i < CK_ARRAY_LEN(bad); i++)
		assert_int_equal(acme_origin_of(bad[i], o, &e), CK_ERR_PARSE);
	/* What a user may list: an origin, nothing more. */
	assert_int_equal(acme_origin_parse("https://CDN.test", o, &e), CK_OK);
	assert_string_equal(o, "https://cdn.test:443");
	assert_int_equal(acme_origin_parse("https://cdn.test:8443/", o, &e), CK_OK);
	assert_string_equal(o, "https://cdn.test:8443");
	assert_int_equal(acme_origin_parse("https://[::1]:8443", o, &e), CK_OK);
	assert_string_equal(o, "https://[::1]:8443");
	assert_int_equal(acme_origin_parse("https://cdn.test/acme", o, &e), CK_ERR_INVALID_ARG);
	assert_int_equal(acme_origin_parse("https://cdn.test/?q", o, &e), CK_ERR_INVALID_ARG);
	assert_int_equal(acme_origin_parse("https://u@cdn.test", o, &e), CK_ERR_INVALID_ARG);
	assert_int_equal(acme_origin_parse("cdn.test", o, &e), CK_ERR_INVALID_ARG);
	assert_int_equal(acme_origin_parse(NULL, o, &e), CK_ERR_INVALID_ARG);
}

/*
 * The same-origin rule on URLs a server hands out: the ones spelled like
 * the origin (checked without a parse) and the ones only a parse can
 * judge must get the answer the parse gives.
 */
static void
test_origin_check(void **state)
{
	static const char *const same[] = {
		"https://acme.test/acme/order/1", "https://acme.test:443/acme/order/1",
		"https://ACME.test/x", "HTTPS://acme.test:443/x", "https://acme.test",
		"https://acme.test?x", "https://cdn.test:8443/chain/2", "https://[::1]/x",
	};
	static const char *const other[] = {
		"https://acme.test.evil.test/x", "https://acme.test:4430/x",
		"https://acme.test:443@evil.test/x", "https://acme.test:8443/x",
		"https://cdn.test/x", "https://[::1]:8443/x",
	};
	static const char *const bad[] = { "http://acme.test/x", "https://acme.test/a b", NULL,
					   "https://acme.test/\x01", "https://acme.test:443.evil.test/x",
					   "https://cdn.test:84430/x" };
	struct acme_client c;
	struct ck_err e;
	size_t i;

	(void)state;
	memset(&c, 0, sizeof(c));
	strcpy(c.origin, "https://acme.test:443");
	assert_int_equal(acme_client_allow_origin(&c, "https://cdn.test:8443", &e), CK_OK);
	assert_int_equal(acme_client_allow_origin(&c, "https://[::1]", &e), CK_OK);
	for (i = 0; i < CK_ARRAY_LEN(same); i++)
		assert_int_equal(acme_url_check_origin(&c, same[i], "a URL", &e), CK_OK);
	for (i = 0; i < CK_ARRAY_LEN(other); i++) {
		assert_int_equal(acme_url_check_origin(&c, other[i], "a URL", &e), CK_ERR_PARSE);
		assert_non_null(strstr(e.msg, "--allow-origin"));
	}
	for (i = 0; i < CK_ARRAY_LEN(bad); i++) {
		assert_int_equal(acme_url_check_origin(&c, bad[i], "a URL", &e), CK_ERR_PARSE);
		assert_null(strstr(e.msg, "--allow-origin"));
	}
	acme_client_clear_origins(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_directory_parse),
		cmocka_unit_test(test_directory_rejects),
		cmocka_unit_test(test_directory_profiles),
		cmocka_unit_test(test_directory_profiles_rejects),
		cmocka_unit_test(test_json_depth_and_size),
		cmocka_unit_test(test_problem_document),
		cmocka_unit_test(test_problem_rate_limited),
		cmocka_unit_test(test_problem_not_json),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_link_header),
		cmocka_unit_test(test_order_parse),
		cmocka_unit_test(test_authz_parse),
		cmocka_unit_test(test_status_parse),
		cmocka_unit_test(test_key_authorization),
		cmocka_unit_test(test_origin),
		cmocka_unit_test(test_origin_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
