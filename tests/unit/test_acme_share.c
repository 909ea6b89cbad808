/*
 * test_acme_share.c - the batch's nonce pool (share.c) under threads: every
 * nonce is handed to exactly one taker, a nonce put back is drawn by a
 * waiting client instead of a HEAD, one kept too long is never handed out,
 * a forgotten directory is not served again, and the clients of a batch
 * borrow a connection per request instead of keeping one each.  (TSan is
 * not available here: the stress case runs under ASan and counts every
 * hand-out.)
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acme/acme_int.h"

#define URL "https://127.0.0.1:14000/dir"
#define STRESS_THREADS 8
#define STRESS_ROUNDS 3000
#define STRESS_IDS (STRESS_THREADS * STRESS_ROUNDS * 2 + 16)

static struct acme_share *g_sh;
static unsigned g_next_id;              /* the "server": next nonce number */
static unsigned g_uses[STRESS_IDS];     /* times each nonce was handed out */

/* A fresh nonce from the "server" ("n<id>"). */
static char *
server_nonce(void)
{
	unsigned id = __atomic_fetch_add(&g_next_id, 1, __ATOMIC_SEQ_CST);
	char *n = malloc(16);

	assert_non_null(n);
	snprintf(n, 16, "n%u", id);
	return n;
}

/* One worker: take (or "HEAD"), use once, get the answer's nonce, and
 * now and then sleep (put it back) or lose it. */
static void *
stress_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg, i;
	int held = 0;
	char *n;

	for (i = 0; i < STRESS_ROUNDS; i++) {
		n = acme_share_take_nonce(g_sh, URL, NULL, (rand_r(&seed) % 4) ? 0 : 2, &held);
		if (n == NULL) {
			n = server_nonce(); /* HEAD newNonce */
			acme_share_held_nonce(g_sh, URL, NULL, &held);
		} else {
			__atomic_fetch_add(&g_uses[atoi(n + 1)], 1, __ATOMIC_SEQ_CST);
		}
		free(n);                /* sent with one request ... */
		n = server_nonce();     /* ... whose answer brings the next */
		switch (rand_r(&seed) % 3) {
		case 0: /* about to sleep: back to the pool */
			acme_share_put_nonce(g_sh, URL, NULL, n, ck_mono_ms(), &held);
			break;
		case 1: /* an answer without a nonce: holding nothing */
			free(n);
			acme_share_put_nonce(g_sh, URL, NULL, NULL, 0, &held);
			break;
		default: /* keeps it, and puts it back at the end */
			acme_share_put_nonce(g_sh, URL, NULL, n, ck_mono_ms(), &held);
			break;
		}
	}
	assert_int_equal(held, 0);
	return NULL;
}

static void
test_nonce_given_once_under_threads(void **state)
{
	pthread_t t[STRESS_THREADS];
	struct ck_err err;
	size_t i;
	unsigned handed = 0;

	(void)state;
	ck_err_clear(&err);
	assert_int_equal(acme_share_new(&g_sh, &err), CK_OK);
	for (i = 0; i < STRESS_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, stress_worker,
						(void *)(uintptr_t)(i + 1)), 0);
	for (i = 0; i < STRESS_THREADS; i++)
		pthread_join(t[i], NULL);
	assert_true(g_next_id < STRESS_IDS);
	for (i = 0; i < g_next_id; i++) {
		if (g_uses[i] > 1)
			fail_msg("nonce n%zu was handed out %u times", i, g_uses[i]);
		handed += g_uses[i];
	}
	assert_true(handed > 0); /* the pool was drawn from, not only fed */
	acme_share_free(g_sh);
	g_sh = NULL;
}

/* A client that waits is handed the nonce another puts back before the wait ends. */
struct waiter {
	char *got;
	int held;
	long long waited_ms;
};

static void *
wait_for_nonce(void *arg)
{
	struct waiter *w = arg;
	long long t0 = ck_mono_ms();

	w->got = acme_share_take_nonce(g_sh, URL, NULL, 5000, &w->held);
	w->waited_ms = ck_mono_ms() - t0;
	return NULL;
}

static void
test_waiter_gets_the_nonce_put_back(void **state)
{
	struct waiter w = { 0 };
	struct ck_err err;
	pthread_t t;
	char *n = strdup("back");
	int held = 0, other = 0;

	(void)state;
	ck_err_clear(&err);
	assert_int_equal(acme_share_new(&g_sh, &err), CK_OK);
	/* Nobody holds one: no wait at all (the caller asks the server). */
	assert_null(acme_share_take_nonce(g_sh, URL, NULL, 5000, &other));
	acme_share_held_nonce(g_sh, URL, NULL, &held); /* this client got one by HEAD */
	assert_int_equal(pthread_create(&t, NULL, wait_for_nonce, &w), 0);
	ck_sleep_ms(NULL, 50);
	acme_share_put_nonce(g_sh, URL, NULL, n, ck_mono_ms(), &held); /* about to sleep */
	pthread_join(t, NULL);
	assert_non_null(w.got);
	assert_string_equal(w.got, "back");
	assert_true(w.waited_ms < 4000);
	assert_int_equal(w.held, 1);
	free(w.got);
	/* The last holder lets go without a nonce: a waiter stops waiting at once. */
	acme_share_put_nonce(g_sh, URL, NULL, NULL, 0, &w.held);
	assert_null(acme_share_take_nonce(g_sh, URL, NULL, 5000, &other));
	acme_share_free(g_sh);
	g_sh = NULL;
}

static void
test_old_nonce_never_handed_out(void **state)
{
	struct ck_err err;
	int held = 0;
	char *n;

	(void)state;
	ck_err_clear(&err);
	assert_int_equal(acme_share_new(&g_sh, &err), CK_OK);
	/* One the server sent longer ago than the bound: dropped when put back. */
	acme_share_put_nonce(g_sh, URL, NULL, strdup("old"),
			     ck_mono_ms() - ACME_NONCE_MAX_AGE_MS - 1000, &held);
	assert_null(acme_share_take_nonce(g_sh, URL, NULL, 0, &held));
	/* One that ages in the pool past the bound: dropped when drawn. */
	acme_share_put_nonce(g_sh, URL, NULL, strdup("aging"),
			     ck_mono_ms() - ACME_NONCE_MAX_AGE_MS + 200, &held);
	acme_share_put_nonce(g_sh, URL, NULL, strdup("fresh"), ck_mono_ms(), &held);
	n = acme_share_take_nonce(g_sh, URL, NULL, 0, &held);
	assert_string_equal(n, "fresh");
	free(n);
	acme_share_put_nonce(g_sh, URL, NULL, NULL, 0, &held);
	ck_sleep_ms(NULL, 400);
	assert_null(acme_share_take_nonce(g_sh, URL, NULL, 0, &held));
	acme_share_free(g_sh);
	g_sh = NULL;
}

static void
test_forgotten_directory_not_served(void **state)
{
	struct ck_err err;
	char *body = NULL;
	size_t len = 0;

	(void)state;
	ck_err_clear(&err);
	assert_int_equal(acme_share_new(&g_sh, &err), CK_OK);
	acme_share_keep_directory(g_sh, URL, NULL, "{}", 2);
	assert_int_equal(acme_share_directory(g_sh, URL, NULL, &body, &len), CK_OK);
	free(body);
	acme_share_forget_directory(g_sh, URL, NULL);
	assert_int_equal(acme_share_directory(g_sh, URL, NULL, &body, &len), CK_ERR_NOT_FOUND);
	acme_share_keep_directory(g_sh, URL, NULL, "{\"a\":1}", 7);
	assert_int_equal(acme_share_directory(g_sh, URL, NULL, &body, &len), CK_OK);
	assert_string_equal(body, "{\"a\":1}");
	free(body);
	acme_share_free(g_sh);
	g_sh = NULL;
}

#define REFUSED "https://127.0.0.1:1/dir" /* nothing listens: a request fails at connect */

static void
no_sleep(void *arg, unsigned ms)
{
	(void)arg;
	(void)ms;
}

/* How many idle handles the share keeps for REFUSED (taken out and freed). */
static size_t
idle_handles(struct acme_share *sh)
{
	struct acme_curl *t;
	size_t n = 0;

	while ((t = acme_share_take_curl(sh, REFUSED, NULL)) != NULL) {
		acme_curl_free(t);
		n++;
	}
	return n;
}

/*
 * The clients of a batch (renew's workers, each with an order in flight)
 * hold no connection between their requests: two clients alive at once
 * whose requests do not overlap go through one libcurl handle (one TLS
 * connection and handshake), where each had its own handle before.  Two
 * requests at once still get two.
 */
static void
test_clients_borrow_a_handle_per_request(void **state)
{
	struct ck_ctx ctx;
	struct acme_client *a = NULL, *b = NULL;
	struct acme_curl *busy = NULL;
	const struct acme_directory *d;
	struct ck_err err;

	(void)state;
	ck_err_clear(&err);
	ck_ctx_init(&ctx);
	ctx.log.level = CK_LOG_ERROR;
	ctx.clock.sleep_ms = no_sleep;
	assert_int_equal(acme_share_new(&ctx.acme_share, &err), CK_OK);
	assert_int_equal(acme_client_new(&ctx, REFUSED, NULL, &a, &err), CK_OK);
	assert_int_equal(acme_client_new(&ctx, REFUSED, NULL, &b, &err), CK_OK);
	assert_int_equal(acme_directory_get(a, &d, &err), CK_ERR_NETWORK);
	assert_int_equal(acme_directory_get(b, &d, &err), CK_ERR_NETWORK);
	acme_client_free(a);
	acme_client_free(b);
	assert_int_equal(idle_handles(ctx.acme_share), 1);
	/* While another request holds the one handle, a request makes a second. */
	assert_int_equal(acme_client_new(&ctx, REFUSED, NULL, &a, &err), CK_OK);
	assert_int_equal(acme_directory_get(a, &d, &err), CK_ERR_NETWORK);
	busy = acme_share_take_curl(ctx.acme_share, REFUSED, NULL);
	assert_non_null(busy);
	assert_int_equal(acme_directory_get(a, &d, &err), CK_ERR_NETWORK);
	acme_share_put_curl(ctx.acme_share, REFUSED, NULL, busy);
	acme_client_free(a);
	assert_int_equal(idle_handles(ctx.acme_share), 2);
	acme_share_free(ctx.acme_share);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nonce_given_once_under_threads),
		cmocka_unit_test(test_waiter_gets_the_nonce_put_back),
		cmocka_unit_test(test_old_nonce_never_handed_out),
		cmocka_unit_test(test_forgotten_directory_not_served),
		cmocka_unit_test(test_clients_borrow_a_handle_per_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
