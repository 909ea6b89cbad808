/*
 * test_store_binding.c - a binding's row through a deploy, on both
 * engines: created, updated by name (reload and verify replaced, what was
 * deployed kept), a deploy begun (pending) and ended (deployed, when, the
 * generation), an outcome without a certificate keeping the last one.
 */
#include "test_store_util.h"

static void
test_binding_through_a_deploy(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_binding_outcome o = { "deployed", "installed", NULL, "/gen/1" };
	struct ck_binding b, got;
	struct ck_cert_row row;
	struct t_pki p;
	struct ck_der d;
	int64_t id = 0, again = 0;

	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	t_leaf(&p, k, "site.test", 7, e->now, 90, &d);
	assert_int_equal(ck_store_cert_get(e->st, t_put_cert(e->st, &d, NULL, 0, "site", NULL),
					   &row, NULL), CK_OK);
	memset(&b, 0, sizeof(b));
	b.name = "web";
	b.lineage = "site";
	b.target = "pem:/srv/web";
	b.reload = "systemctl reload web";
	assert_int_equal(ck_store_binding_put(e->st, &b, &id, NULL), CK_OK);
	assert_int_equal(ck_store_binding_deploy_begin(e->st, "web", row.sha256, NULL), CK_OK);
	assert_int_equal(ck_store_binding_get(e->st, "web", &got, NULL), CK_OK);
	assert_string_equal(got.pending_sha256, row.sha256);
	assert_string_equal(got.state, "deploying");
	ck_binding_cleanup(&got);
	o.sha256 = row.sha256;
	assert_int_equal(ck_store_binding_deploy_end(e->st, "web", &o, NULL), CK_OK);

	/* Updated by name: reload and verify replaced, the deployed certificate kept. */
	b.reload = NULL;
	b.verify = "127.0.0.1:443";
	b.state = "deployed";
	assert_int_equal(ck_store_binding_put(e->st, &b, &again, NULL), CK_OK);
	assert_int_equal(again, id);
	/* An outcome without a certificate keeps the last one and its time. */
	o.state = "failed";
	o.result = "reload failed";
	o.sha256 = NULL;
	o.generation = NULL;
	e->now += 60;
	assert_int_equal(ck_store_binding_deploy_end(e->st, "web", &o, NULL), CK_OK);
	assert_int_equal(ck_store_binding_get(e->st, "web", &got, NULL), CK_OK);
	assert_string_equal(got.last_sha256, row.sha256);
	assert_int_equal(got.deployed_at, e->now - 60);
	assert_string_equal(got.generation, "/gen/1");
	assert_string_equal(got.pending_sha256, "");
	assert_string_equal(got.state, "failed");
	assert_string_equal(got.result, "reload failed");
	assert_null(got.reload);
	assert_string_equal(got.verify, "127.0.0.1:443");
	ck_binding_cleanup(&got);
	ck_cert_row_cleanup(&row);
	free(d.data);
	EVP_PKEY_free(k);
	t_pki_cleanup(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_binding_through_a_deploy, t_setup, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
