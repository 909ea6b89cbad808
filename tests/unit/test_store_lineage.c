/*
 * test_store_lineage.c - what a lineage records besides its names and key
 * policy: the ACME profile it asks for (set, read back, cleared, bounded).
 */
#include "test_store_util.h"

static void
test_lineage_profile(void **state)
{
	struct t_env *e = *state;
	const char *names[] = { "x.test" };
	struct ck_lineage l;
	struct ck_lineage_list all = { 0 };
	struct ck_err err;
	char long_name[CK_STORE_NAME_MAX + 2];

	assert_int_equal(ck_store_lineage_put(e->st, "www", names, 1, "ec256", NULL, NULL), CK_OK);
	assert_int_equal(ck_store_lineage_get(e->st, "www", &l, NULL), CK_OK);
	assert_string_equal(l.profile, "");
	ck_lineage_cleanup(&l);

	assert_int_equal(ck_store_lineage_profile_set(e->st, "www", "short.lived-6_d", NULL),
			 CK_OK);
	/* A later lineage_put (the next issue) keeps it. */
	assert_int_equal(ck_store_lineage_put(e->st, "www", names, 1, NULL, NULL, NULL), CK_OK);
	assert_int_equal(ck_store_lineage_get(e->st, "www", &l, NULL), CK_OK);
	assert_string_equal(l.profile, "short.lived-6_d");
	ck_lineage_cleanup(&l);
	assert_int_equal(ck_store_lineage_list(e->st, &all, NULL), CK_OK);
	assert_int_equal(all.n, 1);
	assert_string_equal(all.items[0].profile, "short.lived-6_d");
	ck_lineage_list_cleanup(&all);

	/* Refused: a bad name, a too long one, no such lineage; nothing changes. */
	memset(long_name, 'p', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	ck_err_clear(&err);
	assert_int_equal(ck_store_lineage_profile_set(e->st, "www", "a b", &err),
			 CK_ERR_INVALID_ARG);
	assert_non_null(strstr(err.msg, "profile name"));
	assert_int_equal(ck_store_lineage_profile_set(e->st, "www", long_name, NULL),
			 CK_ERR_INVALID_ARG);
	assert_int_equal(ck_store_lineage_profile_set(e->st, "nope", "classic", NULL),
			 CK_ERR_NOT_FOUND);
	assert_int_equal(ck_store_lineage_get(e->st, "www", &l, NULL), CK_OK);
	assert_string_equal(l.profile, "short.lived-6_d");
	ck_lineage_cleanup(&l);

	/* "" and NULL clear it. */
	assert_int_equal(ck_store_lineage_profile_set(e->st, "www", "", NULL), CK_OK);
	assert_int_equal(ck_store_lineage_get(e->st, "www", &l, NULL), CK_OK);
	assert_string_equal(l.profile, "");
	ck_lineage_cleanup(&l);
	assert_int_equal(ck_store_lineage_profile_set(e->st, "www", "classic", NULL), CK_OK);
	assert_int_equal(ck_store_lineage_profile_set(e->st, "www", NULL, NULL), CK_OK);
	assert_int_equal(ck_store_lineage_get(e->st, "www", &l, NULL), CK_OK);
	assert_string_equal(l.profile, "");
	ck_lineage_cleanup(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lineage_profile, t_setup, t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
