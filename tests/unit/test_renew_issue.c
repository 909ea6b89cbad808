/*
 * test_renew_issue.c - what `certkeep issue` accepts as names before it
 * talks to any server: a typo must fail fast, before a key is made.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "renew/issue.h"

static enum ck_code
check1(const char *name, struct ck_err *e)
{
	const char *v[1] = { name };

	ck_err_clear(e);
	return ck_issue_check_names(v, 1, e);
}

static void
test_names_accepted(void **state)
{
	struct ck_err e;
	const char *many[] = { "a.example.test", "b.example.test", "127.0.0.1", "::1",
			       "xn--bcher-kva.example", "A-1.Example.TEST" };

	(void)state;
	assert_int_equal(ck_issue_check_names(many, 6, &e), CK_OK);
	assert_int_equal(check1("localhost", &e), CK_OK);
}

static void
test_names_rejected_with_reason(void **state)
{
	struct ck_err e;
	const char *dup[] = { "www.example.test", "WWW.example.test" };
	char longlabel[80];

	(void)state;
	assert_int_equal(check1("*.example.test", &e), CK_ERR_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "dns-01"));
	assert_int_equal(check1("bad_name.example", &e), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(e.msg, "bad_name.example"));
	assert_int_equal(check1("-lead.example", &e), CK_ERR_INVALID_ARG);
	assert_int_equal(check1("trail-.example", &e), CK_ERR_INVALID_ARG);
	assert_int_equal(check1("a..b", &e), CK_ERR_INVALID_ARG);
	assert_int_equal(check1("dot.example.", &e), CK_ERR_INVALID_ARG);
	assert_int_equal(check1("", &e), CK_ERR_INVALID_ARG);
	assert_int_equal(check1("evil\x1b[31m.example", &e), CK_ERR_INVALID_ARG);
	/* The control byte is not echoed back to the terminal. */
	assert_null(strchr(e.msg, '\x1b'));
	memset(longlabel, 'a', 64);
	strcpy(longlabel + 64, ".example");
	assert_int_equal(check1(longlabel, &e), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_issue_check_names(dup, 2, &e), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(e.msg, "twice"));
	assert_int_equal(ck_issue_check_names(dup, 0, &e), CK_ERR_INVALID_ARG);
}

static void
test_names_count_bounded(void **state)
{
	static char buf[CK_CSR_MAX_NAMES + 1][32];
	const char *v[CK_CSR_MAX_NAMES + 1];
	struct ck_err e;
	size_t i;

	(void)state;
	for (i = 0; i <= CK_CSR_MAX_NAMES; i++) {
		snprintf(buf[i], sizeof(buf[i]), "n%zu.example.test", i);
		v[i] = buf[i];
	}
	assert_int_equal(ck_issue_check_names(v, CK_CSR_MAX_NAMES, &e), CK_OK);
	assert_int_equal(ck_issue_check_names(v, CK_CSR_MAX_NAMES + 1, &e), CK_ERR_INVALID_ARG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_accepted),
		cmocka_unit_test(test_names_rejected_with_reason),
		cmocka_unit_test(test_names_count_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
