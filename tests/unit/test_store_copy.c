/*
 * test_store_copy.c - copy and move between two stores: the key, chain
 * and lineage travel; a keyless certificate is refused unless asked;
 * move removes from the source only after the destination has it, and
 * refuses when a binding in the source uses the certificate.
 */
#include "test_store_util.h"

static void
open_dst(struct t_env *e, struct ck_store **dst, char *path, size_t n)
{
	struct ck_err err;

	snprintf(path, n, "%s/other/store.db", e->dir);
	ck_err_clear(&err);
	if (ck_store_open(path, &e->ctx, dst, &err) != CK_OK)
		fail_msg("open dst: %s", err.msg);
}

static void
test_copy_carries_key_chain_lineage(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256), *back = NULL;
	struct ck_copy_result r;
	struct ck_cert_row src_row, row;
	struct ck_der_list chain = { NULL, 0 };
	struct ck_store *dst = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	char path[400];
	struct t_pki p;
	struct ck_der d;
	int64_t cid, got = 0;

	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	t_leaf(&p, k, "copy.test", 30, e->now, 90, &d);
	cid = t_put_cert(e->st, &d, &p.chain, 0, "copy", NULL);
	open_dst(e, &dst, path, sizeof(path));
	assert_int_equal(ck_store_cert_copy(e->st, cid, e->st, 0, &r, NULL), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_store_cert_copy(e->st, cid, dst, 0, &r, NULL), CK_OK);
	assert_false(r.already_present);
	assert_true(r.dst_key_id > 0);
	assert_int_equal(ck_store_cert_get(e->st, cid, &src_row, NULL), CK_OK);
	assert_int_equal(ck_store_cert_get(dst, r.dst_cert_id, &row, NULL), CK_OK);
	assert_string_equal(row.sha256, src_row.sha256);
	assert_true(row.linked);
	assert_true(row.is_current);
	assert_string_equal(row.lineage, "copy");
	assert_string_equal(row.origin, "import:test.pem");
	ck_cert_row_cleanup(&row);
	ck_cert_row_cleanup(&src_row);
	assert_int_equal(ck_store_cert_der(dst, r.dst_cert_id, &der, &len, &chain, NULL), CK_OK);
	assert_int_equal(len, d.len);
	assert_memory_equal(der, d.data, len);
	assert_int_equal(chain.n, 1);
	assert_memory_equal(chain.items[0].data, p.ca_der.data, p.ca_der.len);
	assert_int_equal(ck_store_key_load(dst, r.dst_key_id, &back, NULL), CK_OK);
	assert_int_equal(ck_key_public_equal(k, back), 1);
	assert_int_equal(ck_store_ref_resolve(dst, "copy", &got, NULL), CK_OK);
	assert_int_equal(got, r.dst_cert_id);
	/* Copying again is a no-op that says so. */
	assert_int_equal(ck_store_cert_copy(e->st, cid, dst, 0, &r, NULL), CK_OK);
	assert_true(r.already_present);
	free(der);
	ck_der_list_cleanup(&chain);
	EVP_PKEY_free(back);
	ck_store_close(dst);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

static void
test_copy_refuses_keyless_unless_asked(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_copy_result r;
	struct ck_cert_list l;
	struct ck_store *dst = NULL;
	struct ck_err err;
	char path[400];
	struct t_pki p;
	struct ck_der d;
	int64_t cid;

	t_pki_init(&p, e->now);
	t_leaf(&p, k, "nokey.test", 31, e->now, 90, &d);
	cid = t_put_cert(e->st, &d, NULL, 0, NULL, NULL);
	open_dst(e, &dst, path, sizeof(path));
	ck_err_clear(&err);
	assert_int_equal(ck_store_cert_copy(e->st, cid, dst, 0, &r, &err), CK_ERR_KEY_MISSING);
	assert_non_null(strstr(err.msg, "Keyset does not exist"));
	assert_int_equal(ck_store_cert_list(dst, &l, NULL), CK_OK);
	assert_int_equal(l.n, 0);
	ck_cert_list_cleanup(&l);
	assert_int_equal(ck_store_cert_copy(e->st, cid, dst, CK_STORE_COPY_NO_KEY, &r, NULL), CK_OK);
	assert_int_equal(r.dst_key_id, 0);
	assert_int_equal(ck_store_cert_list(dst, &l, NULL), CK_OK);
	assert_int_equal(l.n, 1);
	assert_false(l.items[0].linked);
	ck_cert_list_cleanup(&l);
	ck_store_close(dst);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

static void
test_move_removes_source_after_dest(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_ED25519);
	struct ck_copy_result r;
	struct ck_cert_list l;
	struct ck_key_list kl;
	struct ck_binding b;
	struct ck_cert_row row;
	struct ck_store *dst = NULL;
	struct ck_err err;
	char path[400];
	struct t_pki p;
	struct ck_der d;
	int64_t cid;

	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	t_leaf(&p, k, "move.test", 32, e->now, 90, &d);
	cid = t_put_cert(e->st, &d, &p.chain, 0, "move", NULL);
	open_dst(e, &dst, path, sizeof(path));
	/* A binding in the source refuses the move, and nothing is copied. */
	assert_int_equal(ck_store_cert_get(e->st, cid, &row, NULL), CK_OK);
	memset(&b, 0, sizeof(b));
	b.name = "haproxy";
	b.lineage = (char *)"move";
	b.target = (char *)"haproxy:/etc/haproxy/move.pem";
	assert_int_equal(ck_store_binding_put(e->st, &b, NULL, NULL), CK_OK);
	ck_err_clear(&err);
	assert_int_equal(ck_store_cert_move(e->st, cid, dst, 0, &r, &err), CK_ERR_IN_USE);
	assert_non_null(strstr(err.msg, "haproxy"));
	assert_int_equal(ck_store_cert_list(dst, &l, NULL), CK_OK);
	assert_int_equal(l.n, 0);
	ck_cert_list_cleanup(&l);
	assert_int_equal(ck_store_binding_remove(e->st, "haproxy", NULL), CK_OK);
	assert_int_equal(ck_store_cert_move(e->st, cid, dst, 0, &r, NULL), CK_OK);
	assert_int_equal(ck_store_cert_list(e->st, &l, NULL), CK_OK);
	assert_int_equal(l.n, 0);
	ck_cert_list_cleanup(&l);
	/* The key went with it (nothing else in the source used it). */
	assert_int_equal(ck_store_key_list(e->st, 0, &kl, NULL), CK_OK);
	assert_int_equal(kl.n, 0);
	ck_key_list_cleanup(&kl);
	assert_int_equal(ck_store_cert_list(dst, &l, NULL), CK_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].sha256, row.sha256);
	assert_true(l.items[0].linked);
	assert_string_equal(l.items[0].key_algorithm, "Ed25519");
	ck_cert_list_cleanup(&l);
	ck_cert_row_cleanup(&row);
	ck_store_close(dst);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

static void
test_copy_token_key_travels_as_reference(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_copy_result r;
	struct ck_key_info ki;
	struct ck_store *dst = NULL;
	unsigned char *spki = NULL;
	size_t len = 0;
	char path[400];
	struct t_pki p;
	struct ck_der d;
	int64_t cid, kid = 0;

	t_pki_init(&p, e->now);
	assert_int_equal(ck_key_spki_der(k, &spki, &len, NULL), CK_OK);
	assert_int_equal(ck_store_key_put_token(e->st, "pkcs11:token=card;id=%01", spki, len, &kid,
						NULL, NULL), CK_OK);
	t_leaf(&p, k, "card.test", 33, e->now, 90, &d);
	cid = t_put_cert(e->st, &d, NULL, 0, NULL, NULL);
	open_dst(e, &dst, path, sizeof(path));
	assert_int_equal(ck_store_cert_copy(e->st, cid, dst, 0, &r, NULL), CK_OK);
	assert_true(r.key_is_token);
	assert_int_equal(ck_store_key_info(dst, r.dst_key_id, &ki, NULL), CK_OK);
	assert_string_equal(ki.pkcs11_uri, "pkcs11:token=card;id=%01");
	ck_key_info_cleanup(&ki);
	ck_store_close(dst);
	free(spki);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_carries_key_chain_lineage, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_copy_refuses_keyless_unless_asked, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_move_removes_source_after_dest, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_copy_token_key_travels_as_reference, t_setup,
						t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
