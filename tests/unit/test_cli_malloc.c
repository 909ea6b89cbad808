/*
 * test_cli_malloc.c - the CLI's malloc policy (src/cli/malloc_policy.c):
 * one arena however many threads allocate, and the user's own
 * MALLOC_ARENA_MAX or glibc.malloc.arena_max tunable left to win.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli/cli.h"

#if defined(__SANITIZE_ADDRESS__)
#define CK_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CK_TEST_ASAN 1
#endif
#endif

static void
the_user_choice_wins(void **state)
{
	(void)state;
	assert_int_equal(cli_one_arena_wanted(NULL, NULL), 1);
	assert_int_equal(cli_one_arena_wanted(NULL, "glibc.malloc.tcache_count=0"), 1);
	assert_int_equal(cli_one_arena_wanted("8", NULL), 0);
	assert_int_equal(cli_one_arena_wanted("", NULL), 0);
	assert_int_equal(cli_one_arena_wanted(NULL, "glibc.malloc.arena_max=4"), 0);
	assert_int_equal(cli_one_arena_wanted(NULL,
					      "glibc.malloc.tcache_count=0:glibc.malloc.arena_max=2"),
			 0);
}

#if defined(__GLIBC__) && defined(M_ARENA_MAX) && !defined(CK_TEST_ASAN)
/* Holds its allocation until every worker has one, so none can reuse
 * another's arena; kept where the compiler cannot drop the malloc. */
static pthread_barrier_t all_hold;
static void *volatile held[8];

static void *
allocate(void *arg)
{
	size_t i = (size_t)(uintptr_t)arg;

	held[i] = malloc(4096);
	assert_non_null(held[i]);
	pthread_barrier_wait(&all_hold);
	pthread_barrier_wait(&all_hold);
	free(held[i]);
	return NULL;
}

/* How many arenas malloc_info reports once n threads hold an allocation. */
static int
arenas_with_threads(int n)
{
	pthread_t t[8];
	char *xml = NULL;
	size_t len = 0;
	FILE *f;
	int i, heaps = 0;
	const char *p;

	assert_true(n <= 8);
	assert_int_equal(pthread_barrier_init(&all_hold, NULL, (unsigned)n + 1), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(pthread_create(&t[i], NULL, allocate, (void *)(uintptr_t)i), 0);
	pthread_barrier_wait(&all_hold);
	f = open_memstream(&xml, &len);
	assert_non_null(f);
	assert_int_equal(malloc_info(0, f), 0);
	fclose(f);
	pthread_barrier_wait(&all_hold);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&all_hold);
	for (p = xml; (p = strstr(p, "<heap nr=")) != NULL; p++)
		heaps++;
	free(xml);
	return heaps;
}

/* Eight threads that allocate at once share the main arena (glibc alone
 * gave them up to eight more). */
static void
eight_threads_share_one_arena(void **state)
{
	(void)state;
	unsetenv("MALLOC_ARENA_MAX");
	unsetenv("GLIBC_TUNABLES");
	assert_int_equal(cli_malloc_policy(), 1);
	assert_int_equal(arenas_with_threads(8), 1);
}
#endif

/* A user who set MALLOC_ARENA_MAX keeps glibc's own handling of it. */
static void
an_explicit_arena_max_is_left_alone(void **state)
{
	(void)state;
	assert_int_equal(setenv("MALLOC_ARENA_MAX", "8", 1), 0);
	assert_int_equal(cli_malloc_policy(), 0);
	unsetenv("MALLOC_ARENA_MAX");
	assert_int_equal(setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=3", 1), 0);
	assert_int_equal(cli_malloc_policy(), 0);
	unsetenv("GLIBC_TUNABLES");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_user_choice_wins),
		cmocka_unit_test(an_explicit_arena_max_is_left_alone),
#if defined(__GLIBC__) && defined(M_ARENA_MAX) && !defined(CK_TEST_ASAN)
		cmocka_unit_test(eight_threads_share_one_arena),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
