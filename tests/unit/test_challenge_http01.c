/*
 * test_challenge_http01.c - the http-01 standalone responder, fetched with
 * libcurl over loopback: the exact key authorization for a registered
 * token, 404 for everything else, clear errors on bind failure; and, over
 * raw sockets, its bounds: oversized headers and bodies are refused, at most
 * 64 connections are served at once, and the listener keeps serving.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <arpa/inet.h>
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

/* A TCP connection to 127.0.0.1:port (asserted). */
static int
raw_connect(unsigned port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Sends req (len bytes) on a new connection and reads until the responder
 * closes it (every refusal closes; the requests here say "close").  The
 * status, or 0 when nothing came back (a reset after a refusal); out holds
 * what came back. */
static long
raw_ask(unsigned port, const char *req, size_t len, char *out, size_t outsz)
{
	struct timeval tv = { 10, 0 };
	size_t got = 0, off = 0;
	ssize_t k;
	long status = 0;
	int fd = raw_connect(port);

	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	while (off < len && (k = send(fd, req + off, len - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)k;
	while (got + 1 < outsz && (k = recv(fd, out + got, outsz - 1 - got, 0)) > 0)
		got += (size_t)k;
	out[got] = '\0';
	close(fd);
	if (sscanf(out, "HTTP/1.%*d %ld", &status) != 1)
		status = 0;
	return status;
}

/* A responder on 127.0.0.1 (a free port) serving TOKEN. */
static struct http01 *
serving_token(struct ck_ctx *ctx)
{
	struct ck_err err;
	struct http01 *h = NULL;

	ck_ctx_init(ctx);
	assert_int_equal(http01_start(ctx, "127.0.0.1", 0, &h, &err), CK_OK);
	assert_int_equal(http01_add(h, TOKEN, KEYAUTH, &err), CK_OK);
	return h;
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

/* Request line and headers beyond 8 KiB are refused (a 4xx, or a reset
 * while the rest is still arriving); the token is not counted as served and the
 * listener answers the next request. */
static void
test_oversized_headers_refused(void **state)
{
	static char req[24 * 1024], out[4096];
	struct ck_ctx ctx;
	struct http01 *h = NULL;
	struct fetch f;
	long status;
	int n;

	(void)state;
	h = serving_token(&ctx);
	n = snprintf(req, sizeof(req), "GET " HTTP01_PATH_PREFIX TOKEN " HTTP/1.1\r\n"
		     "Host: 127.0.0.1\r\nConnection: close\r\nX-Big: ");
	memset(req + n, 'a', 16 * 1024);
	n += 16 * 1024;
	n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n\r\n");
	status = raw_ask(http01_port(h), req, (size_t)n, out, sizeof(out));
	assert_true(status == 0 || (status >= 400 && status < 500));
	assert_null(strstr(out, KEYAUTH));
	assert_int_equal(http01_served(h, TOKEN, NULL), 0);
	assert_int_equal(http01_hits(h), 0);

	/* A request just under the bound is answered. */
	n = snprintf(req, sizeof(req), "GET " HTTP01_PATH_PREFIX TOKEN " HTTP/1.1\r\n"
		     "Host: 127.0.0.1\r\nConnection: close\r\nX-Big: ");
	memset(req + n, 'a', 6 * 1024);
	n += 6 * 1024;
	n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n\r\n");
	assert_int_equal(raw_ask(http01_port(h), req, (size_t)n, out, sizeof(out)), 200);
	assert_non_null(strstr(out, "\r\n\r\n" KEYAUTH));

	fetch(http01_port(h), HTTP01_PATH_PREFIX TOKEN, NULL, &f);
	assert_int_equal(f.status, 200);
	assert_string_equal(f.body, KEYAUTH);
	http01_stop(h);
}

/* Only GET and HEAD are served: a POST with a body is refused before it is
 * read (413), other methods get 404, none counts as served. */
static void
test_only_get_and_head_served(void **state)
{
	static const char post[] = "POST " HTTP01_PATH_PREFIX TOKEN " HTTP/1.1\r\n"
				   "Host: 127.0.0.1\r\nConnection: close\r\n"
				   "Content-Length: 5\r\n\r\nhello";
	static const char *const others[] = { "PUT", "DELETE", "OPTIONS", "PATCH" };
	char out[4096];
	struct ck_ctx ctx;
	struct http01 *h = NULL;
	struct fetch f;
	size_t i;

	(void)state;
	h = serving_token(&ctx);
	assert_int_equal(raw_ask(http01_port(h), post, sizeof(post) - 1, out, sizeof(out)), 413);
	assert_null(strstr(out, KEYAUTH));
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		fetch(http01_port(h), HTTP01_PATH_PREFIX TOKEN, others[i], &f);
		assert_int_equal(f.status, 404);
		assert_null(strstr(f.body, KEYAUTH));
	}
	assert_int_equal(http01_served(h, TOKEN, NULL), 0);
	assert_int_equal(http01_hits(h), 0);
	http01_stop(h);
}

/* A HEAD counts as the CA's look (the flow may finalize on it) and carries
 * the length and type its GET would. */
static void
test_head_counts_as_served(void **state)
{
	static const char head[] = "HEAD " HTTP01_PATH_PREFIX TOKEN " HTTP/1.1\r\n"
				   "Host: 127.0.0.1\r\nConnection: close\r\n\r\n";
	char out[4096], clen[64];
	struct ck_ctx ctx;
	struct http01 *h = NULL;

	(void)state;
	h = serving_token(&ctx);
	assert_int_equal(raw_ask(http01_port(h), head, sizeof(head) - 1, out, sizeof(out)), 200);
	snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", strlen(KEYAUTH));
	assert_non_null(strstr(out, clen));
	assert_non_null(strstr(out, "Content-Type: text/plain\r\n"));
	assert_null(strstr(out, KEYAUTH)); /* no body: it would break the next response */
	assert_int_equal(http01_served(h, TOKEN, NULL), 1);
	assert_int_equal(http01_hits(h), 1);
	http01_stop(h);
}

/* At most 64 connections at once: with 64 open and silent, the 65th is not
 * answered; when one closes, the next is.  Connections that ended every way
 * (answered, refused, the client gone) first are not counted any more.
 * Stop with connections open ends them (LeakSanitizer checks nothing is
 * left). */
static void
test_connection_limit(void **state)
{
	static const char bad[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad\r\n\r\n";
	static const char post[] = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				   "Content-Length: 5\r\n\r\nhello";
	char out[4096];
	int fds[64];
	struct ck_ctx ctx;
	struct http01 *h = NULL;
	struct fetch f;
	CURL *c;
	char url[256];
	size_t i;

	(void)state;
	h = serving_token(&ctx);
	for (i = 0; i < 100; i++) {
		switch (i % 4) {
		case 0:
			fetch(http01_port(h), HTTP01_PATH_PREFIX TOKEN, NULL, &f);
			assert_int_equal(f.status, 200);
			break;
		case 1:
			assert_int_equal(raw_ask(http01_port(h), bad, sizeof(bad) - 1, out,
						 sizeof(out)), 400);
			break;
		case 2:
			assert_int_equal(raw_ask(http01_port(h), post, sizeof(post) - 1, out,
						 sizeof(out)), 413);
			break;
		default:
			close(raw_connect(http01_port(h))); /* gone before a word */
		}
	}
	assert_int_equal(http01_hits(h), 25);
	for (i = 0; i < 64; i++)
		fds[i] = raw_connect(http01_port(h));
	/* Queued behind the 64 in the listen backlog: never accepted while they
	 * are open.  (A responder without the limit answers at once.) */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u" HTTP01_PATH_PREFIX TOKEN, http01_port(h));
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1500L);
	memset(&f, 0, sizeof(f));
	assert_int_equal(curl_easy_perform(c), CURLE_OPERATION_TIMEDOUT);
	curl_easy_cleanup(c);
	assert_int_equal(http01_hits(h), 25);

	close(fds[0]);
	fetch(http01_port(h), HTTP01_PATH_PREFIX TOKEN, NULL, &f);
	assert_int_equal(f.status, 200);
	assert_string_equal(f.body, KEYAUTH);
	http01_stop(h);
	for (i = 1; i < 64; i++)
		close(fds[i]);
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
		cmocka_unit_test(test_oversized_headers_refused),
		cmocka_unit_test(test_only_get_and_head_served),
		cmocka_unit_test(test_head_counts_as_served),
		cmocka_unit_test(test_connection_limit),
	};
	int rc;

	if (ck_global_init() != CK_OK)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	ck_global_cleanup();
	return rc;
}
