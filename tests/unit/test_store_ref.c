/*
 * test_store_ref.c - references: the pure parser, and resolution of each
 * REF form against a store (lineage name, full SHA-256, prefix, too-short
 * prefix, ambiguous prefix listing candidates, SHA-1 in every Windows/IIS
 * spelling).
 */
#include <ctype.h>

#include "test_store_util.h"

static void
test_parse_forms(void **state)
{
	struct ck_ref r;
	struct ck_err err;
	char full[65];

	(void)state;
	memset(full, 'A', 64);
	full[64] = '\0';
	assert_int_equal(ck_ref_parse("www", &r, NULL), CK_OK);
	assert_string_equal(r.name, "www");
	assert_int_equal(r.hex_len, 0);
	assert_int_equal(ck_ref_parse("deadbeef", &r, NULL), CK_OK);
	assert_string_equal(r.name, "deadbeef");
	assert_true(r.sha256_prefix);
	assert_false(r.sha1);
	assert_int_equal(ck_ref_parse(full, &r, NULL), CK_OK);
	assert_true(r.sha256_full);
	assert_int_equal(r.hex[0], 'a');
	assert_int_equal(ck_ref_parse("AB CD EF 01 23 45 67 89 AB CD EF 01 23 45 67 89 AB CD EF 01",
				      &r, NULL), CK_OK);
	assert_true(r.sha1);
	assert_false(r.sha256_prefix);
	assert_string_equal(r.name, "");
	assert_string_equal(r.hex, "abcdef0123456789abcdef0123456789abcdef01");
	/* The invisible left-to-right mark the Windows dialog copies. */
	assert_int_equal(ck_ref_parse("\xe2\x80\x8e" "abcdef0123456789abcdef0123456789abcdef01", &r,
				      NULL), CK_OK);
	assert_true(r.sha1);
	ck_err_clear(&err);
	assert_int_equal(ck_ref_parse("", &r, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_ref_parse("ab:cd:ef:01", &r, &err), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(err.msg, "complete"));
	assert_int_equal(ck_ref_parse("a b", &r, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_ref_parse("../x", &r, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_ref_parse("-rf", &r, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_store_name_valid("www.example-1_b"), 1);
	assert_int_equal(ck_store_name_valid(".hidden"), 0);
}

/* SHA-1 hex spelt the ways Windows and IIS show it. */
static void
sha1_forms(const char *hex, char out[4][200])
{
	size_t i, o;

	for (i = 0; i < 40; i++)
		out[0][i] = (char)toupper((unsigned char)hex[i]);
	out[0][40] = '\0';
	for (i = 0, o = 0; i < 40; i++) {
		if (i > 0 && i % 2 == 0)
			out[1][o++] = ' ';
		out[1][o++] = hex[i];
	}
	out[1][o] = '\0';
	for (i = 0, o = 0; i < 40; i++) {
		if (i > 0 && i % 2 == 0)
			out[2][o++] = ':';
		out[2][o++] = (char)toupper((unsigned char)hex[i]);
	}
	out[2][o] = '\0';
	snprintf(out[3], 200, "%s", hex);
}

static void
test_resolve_forms(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_cert_row row;
	struct ck_err err;
	struct t_pki p;
	struct ck_der d;
	char forms[4][200], prefix[9], upper[65];
	int64_t cid, got = 0;
	size_t i;

	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	t_leaf(&p, k, "www.test", 20, e->now, 90, &d);
	cid = t_put_cert(e->st, &d, NULL, 0, "www", NULL);
	assert_int_equal(ck_store_cert_get(e->st, cid, &row, NULL), CK_OK);
	assert_int_equal(ck_store_ref_resolve(e->st, "www", &got, NULL), CK_OK);
	assert_int_equal(got, cid);
	got = 0;
	assert_int_equal(ck_store_ref_resolve(e->st, row.sha256, &got, NULL), CK_OK);
	assert_int_equal(got, cid);
	for (i = 0; i < 64; i++)
		upper[i] = (char)toupper((unsigned char)row.sha256[i]);
	upper[64] = '\0';
	got = 0;
	assert_int_equal(ck_store_ref_resolve(e->st, upper, &got, NULL), CK_OK);
	assert_int_equal(got, cid);
	memcpy(prefix, row.sha256, 8);
	prefix[8] = '\0';
	got = 0;
	assert_int_equal(ck_store_ref_resolve(e->st, prefix, &got, NULL), CK_OK);
	assert_int_equal(got, cid);
	prefix[7] = '\0';
	ck_err_clear(&err);
	assert_int_equal(ck_store_ref_resolve(e->st, prefix, &got, &err), CK_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "at least 8"));
	sha1_forms(row.sha1, forms);
	for (i = 0; i < 4; i++) {
		got = 0;
		if (ck_store_ref_resolve(e->st, forms[i], &got, &err) != CK_OK)
			fail_msg("sha1 form '%s': %s", forms[i], err.msg);
		assert_int_equal(got, cid);
	}
	assert_int_equal(ck_store_ref_resolve(e->st, "nosuch", &got, &err), CK_ERR_NOT_FOUND);
	assert_int_equal(ck_store_ref_resolve(e->st, "0000000000", &got, &err), CK_ERR_NOT_FOUND);
	ck_cert_row_cleanup(&row);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

static void
test_resolve_lineage_wins_and_empty_lineage(void **state)
{
	struct t_env *e = *state;
	const char *names[] = { "x.test" };
	struct ck_err err;
	int64_t got = 0;

	assert_int_equal(ck_store_lineage_put(e->st, "empty", names, 1, "ec256", NULL, NULL), CK_OK);
	ck_err_clear(&err);
	assert_int_equal(ck_store_ref_resolve(e->st, "empty", &got, &err), CK_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "no certificate"));
}

static void
test_resolve_ambiguous_lists_candidates(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_cert_list l;
	struct ck_err err;
	struct t_pki p;
	char seen[16][65];
	int64_t ids[16];
	size_t n = 0, i, j;
	long serial;
	int found = 0;

	/* Make certificates until two share their first hex digit; an 8-digit
	 * prefix cannot collide in a test, so plant a shared prefix directly. */
	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	for (serial = 100; serial < 102; serial++) {
		struct ck_der d;
		char name[32];
		snprintf(name, sizeof(name), "amb%ld.test", serial);
		t_leaf(&p, k, name, serial, e->now, 90, &d);
		ids[n++] = t_put_cert(e->st, &d, NULL, 0, serial == 100 ? "first" : NULL, NULL);
		free(d.data);
	}
	t_sql(e->path, "UPDATE certificates SET sha256 = 'abcdef01' || substr(sha256, 9)");
	assert_int_equal(ck_store_cert_list(e->st, &l, NULL), CK_OK);
	assert_int_equal(l.n, 2);
	for (i = 0; i < l.n; i++)
		memcpy(seen[i], l.items[i].sha256, 65);
	ck_cert_list_cleanup(&l);
	ck_err_clear(&err);
	assert_int_equal(ck_store_ref_resolve(e->st, "abcdef01", &ids[0], &err), CK_ERR_AMBIGUOUS);
	for (i = 0; i < 2; i++) {
		char sixteen[17];
		memcpy(sixteen, seen[i], 16);
		sixteen[16] = '\0';
		assert_non_null(strstr(err.msg, sixteen));
	}
	assert_non_null(strstr(err.msg, "first"));
	/* More digits pick one. */
	for (j = 0; j < 2; j++) {
		int64_t got = 0;
		char more[20];
		memcpy(more, seen[j], 19);
		more[19] = '\0';
		if (ck_store_ref_resolve(e->st, more, &got, NULL) == CK_OK)
			found++;
	}
	assert_int_equal(found, 2);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test_setup_teardown(test_resolve_forms, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_resolve_lineage_wins_and_empty_lineage, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_resolve_ambiguous_lists_candidates, t_setup,
						t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
