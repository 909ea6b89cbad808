/*
 * test_challenge_http01.c - the http-01 standalone responder, fetched with
 * libcurl over loopback: the exact key authorization for a registered
 * token, 404 for everything else, clear errors on bind failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "challenge/http01.h"

#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define KEYAUTH TOKEN ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

struct fetch {
	char body[1024];
	size_t len;
	long status;
	char ctype[64];
};

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct fetch *f = arg;
	size_t k = sz * n;

	if (f->len + k >= sizeof(f->body))
		return 0;
	memcpy(f->body + f->len, p, k);
	f->len += k;
	f->body[f->len] = '\0';
	return k;
}

/* Fetches path from host:port (host as it goes in a URL: "127.0.0.1",
 * "[::1]"); method NULL = GET. */
static void
fetch_at(const char *host, unsigned port, const char *path, const char *method,
	 struct fetch *f)
{
	CURL *h = curl_easy_init();
	char url[512];
	char *ct = NULL;

	memset(f, 0, sizeof(*f));
	snprintf(url, sizeof(url), "http://%s:%u%s", host, port, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* send "../" as is */
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	if (method != NULL && strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (method != NULL)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &f->status);
	curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
	if (ct != NULL)
		snprintf(f->ctype, sizeof(f->ctype), "%s", ct);
	curl_easy_cleanup(h);
}

static void
fetch(unsigned port, const char *path, const char *method, struct fetch *f)
{
	fetch_at("127.0.0.1", port, path, method, f);
}

/* Whether this machine has an IPv6 loopback at all: a socket bound to ::1.
 * Only then may the responder's IPv6 test be skipped; anything else that
 * goes wrong on ::1 is the responder's failure. */
static int
have_ipv6_loopback(void)
{
	struct sockaddr_in6 sa;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok;

	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	sa.sin6_addr = in6addr_loopback;
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void
test_serves_only_registered_tokens(void **state)
{
	struct ck_ctx ctx;
	struct ck_err err;
	struct http01 *h = NULL;
	struct fetch f;
	unsigned port;
	long long at = 0, before;

	(void)state;
	ck_ctx_init(&ctx);
	ck_err_clear(&err);
	assert_int_equal(http01_start(&ctx, "127.0.0.1", 0, &h, &err), CK_OK);
	port = http01_port(h);
	assert_true(port > 0);

	fetch(port, HTTP01_PATH_PREFIX TOKEN, NULL, &f);
	assert_int_equal(f.status, 404); /* not registered yet */

	assert_int_equal(http01_add(h, TOKEN, KEYAUTH, &err), CK_OK);
	assert_int_equal(http01_served(h, TOKEN, &at), 0); /* a 404 before the add is no look */
	before = ck_mono_ms();
	fetch(port, HTTP01_PATH_PREFIX TOKEN, NULL, &f);
	assert_int_equal(f.status, 200);
	assert_int_equal(http01_served(h, TOKEN, &at), 1); /* the flow may finalize now */
	assert_true(at >= before && at <= ck_mono_ms());
	assert_int_equal(http01_served(h, "unknownToken", &at), 0);
	assert_string_equal(f.body, KEYAUTH);
	assert_string_equal(f.ctype, "text/plain");
	assert_int_equal(http01_hits(h), 1);

	fetch(port, HTTP01_PATH_PREFIX "unknownToken", NULL, &f);
	assert_int_equal(f.status, 404);
	assert_null(strstr(f.body, KEYAUTH));
	fetch(port, HTTP01_PATH_PREFIX "../../" TOKEN, NULL, &f);
	assert_int_equal(f.status, 404);
	fetch(port, HTTP01_PATH_PREFIX "x/../" TOKEN, NULL, &f);
	assert_int_equal(f.status, 404);
	fetch(port, HTTP01_PATH_PREFIX "%2e%2e%2f" TOKEN, NULL, &f);
	assert_int_equal(f.status, 404);
	fetch(port, "/.well-known/acme-challenge/", NULL, &f);
	assert_int_equal(f.status, 404);
	fetch(port, "/", NULL, &f);
	assert_int_equal(f.status, 404);
	fetch(port, "/etc/passwd", NULL, &f);
	assert_int_equal(f.status, 404);
	fetch(port, HTTP01_PATH_PREFIX TOKEN "/", NULL, &f);
	assert_int_equal(f.status, 404);
	fetch(port, HTTP01_PATH_PREFIX TOKEN, "POST", &f);
	assert_int_equal(f.status, 404);
	fetch(port, HTTP01_PATH_PREFIX TOKEN "?x=1", NULL, &f);
	assert_int_equal(f.status, 200); /* the query is not part of the path */
	assert_int_equal(http01_hits(h), 2);

	http01_remove(h, TOKEN);
	fetch(port, HTTP01_PATH_PREFIX TOKEN, NULL, &f);
	assert_int_equal(f.status, 404);

	assert_int_equal(http01_add(h, TOKEN, KEYAUTH, &err), CK_OK);
	assert_int_equal(http01_served(h, TOKEN, &at), 0); /* added again: not looked at yet */
	http01_clear(h);
	fetch(port, HTTP01_PATH_PREFIX TOKEN, NULL, &f);
	assert_int_equal(f.status, 404);
	http01_stop(h);
	http01_stop(NULL);
}

static void
test_add_validates(void **state)
{
	struct ck_ctx ctx;
	struct ck_err err;
	struct http01 *h = NULL;

	(void)state;
	ck_ctx_init(&ctx);
	assert_int_equal(http01_start(&ctx, "127.0.0.1", 0, &h, &err), CK_OK);
	assert_int_equal(http01_add(h, "../etc", "../etc.abc", &err), CK_ERR_INVALID_ARG);
	assert_int_equal(http01_add(h, "", "x", &err), CK_ERR_INVALID_ARG);
	assert_int_equal(http01_add(h, "tok", "other.abc", &err), CK_ERR_INVALID_ARG);
	assert_int_equal(http01_add(h, "tok", "tok.a\nb", &err), CK_ERR_INVALID_ARG);
	assert_int_equal(http01_add(h, "tok", "tok.abc", &err), CK_OK);
	assert_int_equal(http01_add(h, "tok", "tok.def", &err), CK_OK); /* replaces */
	http01_stop(h);
}

static void
test_bind_failure_is_clear(void **state)
{
	struct ck_ctx ctx;
	struct ck_err err;
	struct http01 *a = NULL, *b = NULL;
	char where[64];

	(void)state;
	ck_ctx_init(&ctx);
	ck_err_clear(&err);
	assert_int_equal(http01_start(&ctx, "127.0.0.1", 0, &a, &err), CK_OK);
	assert_int_equal(http01_start(&ctx, "127.0.0.1", http01_port(a), &b, &err), CK_ERR_NETWORK);
	assert_null(b);
	snprintf(where, sizeof(where), "127.0.0.1 port %u", http01_port(a));
	assert_non_null(strstr(err.msg, where));
	assert_non_null(strstr(err.msg, "--http-port"));
	assert_int_equal(http01_start(&ctx, "not-an-address", 0, &b, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(http01_start(&ctx, "127.0.0.1", 70000, &b, &err), CK_ERR_INVALID_ARG);
	http01_stop(a);
}

static void
test_every_address(void **state)
{
	struct ck_ctx ctx;
	struct ck_err err;
	struct http01 *h = NULL;
	struct fetch f;

	(void)state;
	ck_ctx_init(&ctx);
	/* NULL: every address (dual stack), so IPv4 loopback reaches it too. */
	assert_int_equal(http01_start(&ctx, NULL, 0, &h, &err), CK_OK);
	assert_int_equal(http01_add(h, TOKEN, KEYAUTH, &err), CK_OK);
	fetch(http01_port(h), HTTP01_PATH_PREFIX TOKEN, NULL, &f);
	assert_int_equal(f.status, 200);
	assert_string_equal(f.body, KEYAUTH);
	fetch(http01_port(h), HTTP01_PATH_PREFIX TOKEN, "HEAD", &f);
	assert_int_equal(f.status, 200);
	assert_int_equal(f.len, 0);
	http01_stop(h);
}

static void
test_ipv6_loopback(void **state)
{
	struct ck_ctx ctx;
	struct ck_err err;
	struct http01 *h = NULL;

	struct fetch f;

	(void)state;
	if (!have_ipv6_loopback())
		skip(); /* the machine has no ::1: nothing to test */
	ck_ctx_init(&ctx);
	ck_err_clear(&err);
	if (http01_start(&ctx, "::1", 0, &h, &err) != CK_OK)
		fail_msg("the responder did not start on ::1 although the machine has it: %s",
			 err.msg);
	assert_true(http01_port(h) > 0);
	assert_int_equal(http01_add(h, TOKEN, KEYAUTH, &err), CK_OK);
	fetch_at("[::1]", http01_port(h), HTTP01_PATH_PREFIX TOKEN, NULL, &f);
	assert_int_equal(f.status, 200);
	assert_string_equal(f.body, KEYAUTH);
	http01_stop(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serves_only_registered_tokens),
		cmocka_unit_test(test_add_validates),
		cmocka_unit_test(test_bind_failure_is_clear),
		cmocka_unit_test(test_every_address),
		cmocka_unit_test(test_ipv6_loopback),
	};
	int rc;

	if (ck_global_init() != CK_OK)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	ck_global_cleanup();
	return rc;
}
