/*
 * test_core_dl.c - opening a library on first use (src/core/dl.c): a
 * library that is not there, or that lacks a function, is an error naming
 * what needs it, the library and the package, never a crash; a library that
 * is there is loaded once, from several threads at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/dl.h"

#define DL_THREADS 8

static struct ck_dl libc_dl = CK_DL_INIT("libc.so.6", "this test", "libc6");
static size_t (*dl_strlen)(const char *);
static int loads;

static void
libc_load_once(void)
{
	void *h = ck_dl_open(&libc_dl);
	int ok = h != NULL;

	loads++;
	ok = ok && (dl_strlen = (size_t (*)(const char *))ck_dl_sym(&libc_dl, h, "strlen")) != NULL;
	ck_dl_done(&libc_dl, h, ok);
}

static void *
load_thread(void *arg)
{
	if (ck_dl_load(&libc_dl, libc_load_once, NULL) != CK_OK)
		return NULL;
	return dl_strlen("four") == 4 ? arg : NULL;
}

static void
test_loaded_once_from_threads(void **state)
{
	pthread_t t[DL_THREADS];
	void *ret;
	int i;

	(void)state;
	for (i = 0; i < DL_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, load_thread, &libc_dl), 0);
	for (i = 0; i < DL_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_ptr_equal(ret, &libc_dl);
	}
	assert_int_equal(loads, 1);
}

static void
test_missing_library_names_the_package(void **state)
{
	struct ck_dl d = CK_DL_INIT("libcertkeep-no-such.so.9", "the frobnicator", "libfrob9");
	struct ck_err e = { 0 };

	(void)state;
	ck_dl_done(&d, ck_dl_open(&d), 0);
	assert_int_equal(ck_dl_result(&d, &e), CK_ERR_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "the frobnicator needs the library libcertkeep-no-such.so.9, "
			       "which cannot be loaded: "));
	assert_non_null(strstr(e.msg, "install the package libfrob9"));
}

static void
test_missing_function_names_it(void **state)
{
	struct ck_dl d = CK_DL_INIT("libc.so.6", "the frobnicator", "libc6");
	struct ck_err e = { 0 };
	void *h = ck_dl_open(&d);

	(void)state;
	assert_non_null(h);
	assert_null(ck_dl_sym(&d, h, "ck_no_such_function"));
	ck_dl_done(&d, h, 0);
	assert_null(d.handle);
	assert_int_equal(ck_dl_result(&d, &e), CK_ERR_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "it has no function ck_no_such_function"));
	assert_non_null(strstr(e.msg, "install the package libc6"));
}

#ifdef CK_FAULT_INJECTION
static void
test_missing_by_test_variable(void **state)
{
	struct ck_dl d = CK_DL_INIT("libc.so.6", "the frobnicator", "libc6");
	struct ck_err e = { 0 };

	(void)state;
	setenv("CERTKEEP_TEST_DL_MISSING", "libother.so.1,libc.so.6", 1);
	ck_dl_done(&d, ck_dl_open(&d), 0);
	unsetenv("CERTKEEP_TEST_DL_MISSING");
	assert_int_equal(ck_dl_result(&d, &e), CK_ERR_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "needs the library libc.so.6, which cannot be loaded"));
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loaded_once_from_threads),
		cmocka_unit_test(test_missing_library_names_the_package),
		cmocka_unit_test(test_missing_function_names_it),
#ifdef CK_FAULT_INJECTION
		cmocka_unit_test(test_missing_by_test_variable),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
