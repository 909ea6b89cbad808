/*
 * test_store_chains.c - a certificate's chains (the default one and the
 * alternates), which one is selected, and the pure rules that pick one by
 * index or by the CN of the issuer it leads to; a lineage's preference.
 */
#include "crypto/alternates.h"
#include "test_store_util.h"

/* Two roots; the same intermediate (subject, key) under each; a leaf under it. */
struct t_two_roots {
	EVP_PKEY *root_key[2], *int_key, *leaf_key;
	X509 *root[2], *inter[2];
	struct ck_der inter_der[2], leaf_der, root_der;
};

static void
two_roots_init(struct t_two_roots *t, time_t now)
{
	static const char *const cn[2] = { "Root A", "Root B \xc3\x84" }; /* UTF-8 too */
	X509 *leaf;
	int i;

	memset(t, 0, sizeof(*t));
	t->int_key = t_key(CK_KEY_EC256);
	t->leaf_key = t_key(CK_KEY_EC256);
	for (i = 0; i < 2; i++) {
		t->root_key[i] = t_key(CK_KEY_EC256);
		t->root[i] = t_x509(t->root_key[i], NULL, NULL, cn[i], 1, NULL, 1, now - T_DAY,
				    now + 3650 * T_DAY);
		t->inter[i] = t_x509(t->int_key, t->root[i], t->root_key[i], "Intermediate", 1, NULL,
				     2, now - T_DAY, now + 3650 * T_DAY);
		t_der(t->inter[i], &t->inter_der[i]);
	}
	t_der(t->root[0], &t->root_der);
	leaf = t_x509(t->leaf_key, t->inter[0], t->int_key, "leaf.test", 0, "DNS:leaf.test", 3,
		      now - T_DAY, now + 90 * T_DAY);
	t_der(leaf, &t->leaf_der);
	X509_free(leaf);
}

static void
two_roots_cleanup(struct t_two_roots *t)
{
	int i;

	for (i = 0; i < 2; i++) {
		EVP_PKEY_free(t->root_key[i]);
		X509_free(t->root[i]);
		X509_free(t->inter[i]);
		free(t->inter_der[i].data);
	}
	EVP_PKEY_free(t->int_key);
	EVP_PKEY_free(t->leaf_key);
	free(t->leaf_der.data);
	free(t->root_der.data);
}

/* The leaf stored in lineage "www" with chain [inter A] and alternate [inter B]. */
static int64_t
put_with_alternate(struct t_env *e, struct t_two_roots *t)
{
	struct ck_der_list chain = { &t->inter_der[0], 1 };
	struct ck_der_list alt_chain = { &t->inter_der[1], 1 };
	struct ck_alternates alt = { &alt_chain, 1 };
	char *json = NULL;
	int64_t id;

	id = t_put_cert(e->st, &t->leaf_der, &chain, t_put_key(e->st, t->leaf_key), "www", NULL);
	assert_int_equal(ck_alternates_encode(&alt, &json, NULL), CK_OK);
	assert_int_equal(ck_store_cert_alternates_set(e->st, id, json, NULL), CK_OK);
	free(json);
	return id;
}

static void
test_find_rules(void **state)
{
	char a[] = "Root A", b[] = "Root B", empty[] = "";
	struct ck_cert_chain items[3] = {
		{ { NULL, 0 }, a }, { { NULL, 0 }, b }, { { NULL, 0 }, b },
	};
	struct ck_cert_chains c = { items, 3, 1 };
	const struct ck_cert_chain *sel = NULL;
	struct ck_err err;
	size_t i = 99;

	(void)state;
	assert_int_equal(ck_cert_chains_find_issuer(&c, "Root B", &i, NULL), CK_OK);
	assert_int_equal(i, 1); /* the first chain to that root */
	assert_int_equal(ck_cert_chains_find_issuer(&c, "Root A", &i, NULL), CK_OK);
	assert_int_equal(i, 0);
	i = 99;
	ck_err_clear(&err);
	assert_int_equal(ck_cert_chains_find_issuer(&c, "root a", &i, &err), CK_ERR_NOT_FOUND);
	assert_int_equal(i, 99); /* exact match only; OUTPUT untouched on failure */
	assert_non_null(strstr(err.msg, "\"root a\""));
	assert_non_null(strstr(err.msg, "\"Root A\" (chain 0)"));
	assert_non_null(strstr(err.msg, "\"Root B\" (chain 1)"));

	assert_int_equal(ck_cert_chains_find(&c, "2", &i, NULL), CK_OK);
	assert_int_equal(i, 2);
	assert_int_equal(ck_cert_chains_find(&c, "0", &i, NULL), CK_OK);
	assert_int_equal(i, 0);
	assert_int_equal(ck_cert_chains_find(&c, "Root B", &i, NULL), CK_OK);
	assert_int_equal(i, 1);
	ck_err_clear(&err);
	assert_int_equal(ck_cert_chains_find(&c, "3", &i, &err), CK_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "0 to 2"));
	assert_int_equal(ck_cert_chains_find(&c, "99999999999999999999", &i, NULL),
			 CK_ERR_NOT_FOUND);
	/* A chain to an issuer without a CN is matched by nothing but its index. */
	items[2].top_issuer = empty;
	assert_int_equal(ck_cert_chains_find(&c, "", &i, NULL), CK_OK);
	assert_int_equal(i, 2);

	assert_int_equal(ck_cert_chains_selected(&c, &sel, NULL), CK_OK);
	assert_ptr_equal(sel, &items[1]);
	c.selected = 3;
	sel = NULL;
	assert_int_equal(ck_cert_chains_selected(&c, &sel, NULL), CK_ERR_CORRUPT);
	assert_null(sel);
}

static void
test_store_chains_select(void **state)
{
	struct t_env *e = *state;
	struct t_two_roots t;
	struct ck_cert_chains c = { NULL, 0, 0 };
	struct ck_der_list l = { NULL, 0 };
	struct ck_cert_row row;
	struct ck_err err;
	uint64_t gen;
	size_t index = 99;
	int64_t id;

	two_roots_init(&t, e->now);
	id = put_with_alternate(e, &t);
	assert_int_equal(ck_store_cert_chains(e->st, id, &c, NULL), CK_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.selected, 0);
	assert_string_equal(c.items[0].top_issuer, "Root A");
	assert_string_equal(c.items[1].top_issuer, "Root B \xc3\x84");
	assert_memory_equal(c.items[1].certs.items[0].data, t.inter_der[1].data,
			    t.inter_der[1].len);
	ck_cert_chains_cleanup(&c);

	/* The default chain until something is selected. */
	assert_int_equal(ck_store_cert_chain_selected(e->st, id, &l, &index, NULL), CK_OK);
	assert_int_equal(index, 0);
	assert_int_equal(l.n, 1);
	assert_memory_equal(l.items[0].data, t.inter_der[0].data, t.inter_der[0].len);
	ck_der_list_cleanup(&l);

	gen = t_gen(e->st);
	assert_int_equal(ck_store_cert_chain_select(e->st, id, 1, NULL), CK_OK);
	assert_true(t_gen(e->st) > gen); /* what a deploy installs changed */
	assert_int_equal(ck_store_cert_chain_selected(e->st, id, &l, &index, NULL), CK_OK);
	assert_int_equal(index, 1);
	assert_memory_equal(l.items[0].data, t.inter_der[1].data, t.inter_der[1].len);
	ck_der_list_cleanup(&l);
	gen = t_gen(e->st);
	assert_int_equal(ck_store_cert_chain_select(e->st, id, 1, NULL), CK_OK);
	assert_int_equal(t_gen(e->st), gen); /* no change, no bump */
	assert_int_equal(ck_store_cert_get(e->st, id, &row, NULL), CK_OK);
	assert_int_equal(row.chain_selected, 1);
	ck_cert_row_cleanup(&row);

	/* No such chain, no such certificate: refused, nothing changed. */
	ck_err_clear(&err);
	assert_int_equal(ck_store_cert_chain_select(e->st, id, 2, &err), CK_ERR_NOT_FOUND);
	if (strstr(err.msg, "0 to 1") == NULL)
		fail_msg("message: %s", err.msg);
	assert_int_equal(ck_store_cert_chain_select(e->st, id + 100, 0, NULL), CK_ERR_NOT_FOUND);
	assert_int_equal(t_gen(e->st), gen);

	/* A damaged selection is an error, never silently another chain. */
	t_sql(e->path, "UPDATE certificates SET chain_selected = 5");
	ck_err_clear(&err);
	assert_int_equal(ck_store_cert_chain_selected(e->st, id, &l, NULL, &err), CK_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "--select 0"));
	assert_int_equal(ck_store_cert_chain_select(e->st, id, 0, NULL), CK_OK);
	assert_int_equal(ck_store_cert_chain_selected(e->st, id, &l, &index, NULL), CK_OK);
	assert_int_equal(index, 0);
	ck_der_list_cleanup(&l);
	two_roots_cleanup(&t);
}

static void
test_chain_without_alternates_or_issuers(void **state)
{
	struct t_env *e = *state;
	struct t_two_roots t;
	struct ck_cert_chains c = { NULL, 0, 0 };
	int64_t id;

	two_roots_init(&t, e->now);
	/* No chain stored: the topmost certificate is the leaf, its issuer the intermediate. */
	id = t_put_cert(e->st, &t.leaf_der, NULL, 0, NULL, NULL);
	assert_int_equal(ck_store_cert_chains(e->st, id, &c, NULL), CK_OK);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.items[0].top_issuer, "Intermediate");
	assert_int_equal(c.items[0].certs.n, 0);
	ck_cert_chains_cleanup(&c);
	assert_int_equal(ck_store_cert_chain_select(e->st, id, 1, NULL), CK_ERR_NOT_FOUND);
	two_roots_cleanup(&t);
}

static void
test_copy_keeps_selection(void **state)
{
	struct t_env *e = *state;
	struct t_two_roots t;
	struct ck_store *dst = NULL;
	struct ck_copy_result res;
	struct ck_der_list l = { NULL, 0 };
	struct ck_lineage lin;
	char path[400];
	size_t index = 99;
	int64_t id;

	two_roots_init(&t, e->now);
	id = put_with_alternate(e, &t);
	assert_int_equal(ck_store_cert_chain_select(e->st, id, 1, NULL), CK_OK);
	assert_int_equal(ck_store_lineage_preferred_chain_set(e->st, "www", "Root B", NULL), CK_OK);
	snprintf(path, sizeof(path), "%s/other.db", e->dir);
	assert_int_equal(ck_store_open(path, &e->ctx, &dst, NULL), CK_OK);
	assert_int_equal(ck_store_cert_copy(e->st, id, dst, 0, &res, NULL), CK_OK);
	assert_int_equal(ck_store_cert_chain_selected(dst, res.dst_cert_id, &l, &index, NULL),
			 CK_OK);
	assert_int_equal(index, 1);
	assert_memory_equal(l.items[0].data, t.inter_der[1].data, t.inter_der[1].len);
	ck_der_list_cleanup(&l);
	/* The lineage's preference travels too: its renewals there keep it. */
	assert_int_equal(ck_store_lineage_get(dst, "www", &lin, NULL), CK_OK);
	assert_non_null(lin.preferred_chain);
	assert_string_equal(lin.preferred_chain, "Root B");
	ck_lineage_cleanup(&lin);
	ck_store_close(dst);
	two_roots_cleanup(&t);
}

static void
test_lineage_preferred_chain(void **state)
{
	struct t_env *e = *state;
	const char *names[] = { "x.test" };
	char long_cn[CK_STORE_CN_MAX + 2];
	struct ck_lineage l;
	struct ck_err err;

	assert_int_equal(ck_store_lineage_put(e->st, "www", names, 1, "ec256", NULL, NULL), CK_OK);
	assert_int_equal(ck_store_lineage_get(e->st, "www", &l, NULL), CK_OK);
	assert_null(l.preferred_chain);
	ck_lineage_cleanup(&l);

	assert_int_equal(ck_store_lineage_preferred_chain_set(e->st, "www", "ISRG Root X1 \xc3\x84",
							       NULL), CK_OK);
	/* The next issue's lineage_put keeps it. */
	assert_int_equal(ck_store_lineage_put(e->st, "www", names, 1, NULL, NULL, NULL), CK_OK);
	assert_int_equal(ck_store_lineage_get(e->st, "www", &l, NULL), CK_OK);
	assert_string_equal(l.preferred_chain, "ISRG Root X1 \xc3\x84");
	ck_lineage_cleanup(&l);

	/* Refused, nothing changed: control characters, bad UTF-8, too long, no lineage. */
	memset(long_cn, 'r', sizeof(long_cn) - 1);
	long_cn[sizeof(long_cn) - 1] = '\0';
	ck_err_clear(&err);
	assert_int_equal(ck_store_lineage_preferred_chain_set(e->st, "www", "a\nb", &err),
			 CK_ERR_INVALID_ARG);
	assert_non_null(strstr(err.msg, "common name"));
	assert_int_equal(ck_store_lineage_preferred_chain_set(e->st, "www", "a\xff", NULL),
			 CK_ERR_INVALID_ARG);
	assert_int_equal(ck_store_lineage_preferred_chain_set(e->st, "www", "a\xc3", NULL),
			 CK_ERR_INVALID_ARG);
	assert_int_equal(ck_store_lineage_preferred_chain_set(e->st, "www", long_cn, NULL),
			 CK_ERR_INVALID_ARG);
	assert_int_equal(ck_store_lineage_preferred_chain_set(e->st, "nope", "X", NULL),
			 CK_ERR_NOT_FOUND);
	assert_int_equal(ck_store_lineage_get(e->st, "www", &l, NULL), CK_OK);
	assert_string_equal(l.preferred_chain, "ISRG Root X1 \xc3\x84");
	ck_lineage_cleanup(&l);

	/* "" clears it. */
	assert_int_equal(ck_store_lineage_preferred_chain_set(e->st, "www", "", NULL), CK_OK);
	assert_int_equal(ck_store_lineage_get(e->st, "www", &l, NULL), CK_OK);
	assert_null(l.preferred_chain);
	ck_lineage_cleanup(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_rules),
		cmocka_unit_test_setup_teardown(test_store_chains_select, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_chain_without_alternates_or_issuers, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_copy_keeps_selection, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_lineage_preferred_chain, t_setup, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
