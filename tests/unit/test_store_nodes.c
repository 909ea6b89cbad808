/*
 * test_store_nodes.c - fleets (schema 12) on both engines: which bindings
 * a node deploys (its own and those of no node, never another node's),
 * which of them are behind their lineage's current certificate, node
 * heartbeats (the seen generation never goes down), and doctor's fleet
 * findings: CK-D040 a dead agent's lease, CK-D041 a node behind past its
 * grace, CK-D042 a generation that went backwards (and its repair); and
 * migration 12 on a store made before it: its bindings belong to no node,
 * so every node (a single machine) still deploys them.
 */
#include "test_store_util.h"
#include "store/renewal.h"

/* Lineage "site" with a current certificate; *sha its thumbprint. */
static void
site_cert(struct t_env *e, struct t_pki *p, EVP_PKEY *k, long serial, char sha[65])
{
	struct ck_cert_row row;
	struct ck_der d;

	t_leaf(p, k, "site.test", serial, e->now, 90, &d);
	assert_int_equal(ck_store_cert_get(e->st, t_put_cert(e->st, &d, NULL, 0, "site", NULL),
					   &row, NULL), CK_OK);
	memcpy(sha, row.sha256, 65);
	ck_cert_row_cleanup(&row);
	free(d.data);
}

static void
put_binding(struct t_env *e, const char *name, const char *node)
{
	struct ck_binding b;

	memset(&b, 0, sizeof(b));
	b.name = (char *)name;
	b.lineage = "site";
	b.target = "pem:/srv/x";
	b.node = (char *)node;
	assert_int_equal(ck_store_binding_put(e->st, &b, NULL, NULL), CK_OK);
}

/* The names in l, joined by ','. */
static void
names(const struct ck_binding_list *l, char *out, size_t n)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < l->n; i++)
		snprintf(out + strlen(out), n - strlen(out), "%s%s", i ? "," : "", l->items[i].name);
}

static void
of_node(struct t_env *e, const char *node, int behind, const char *want)
{
	struct ck_binding_list l = { NULL, 0 };
	char got[256];

	assert_int_equal(ck_store_bindings_of_node(e->st, node, behind, &l, NULL), CK_OK);
	names(&l, got, sizeof(got));
	assert_string_equal(got, want);
	ck_binding_list_cleanup(&l);
}

static void
deployed(struct t_env *e, const char *name, const char *sha)
{
	struct ck_binding_outcome o = { "deployed", "ok", sha, NULL };

	assert_int_equal(ck_store_binding_deploy_end(e->st, name, &o, NULL), CK_OK);
}

static void
test_bindings_of_node_and_behind(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_binding got;
	char old[65], cur[65];
	struct t_pki p;

	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	site_cert(e, &p, k, 1, old);
	put_binding(e, "any", NULL);    /* as every binding made before schema 12 */
	put_binding(e, "web-a", "a");
	put_binding(e, "web-b", "b");
	assert_int_equal(ck_store_binding_get(e->st, "web-b", &got, NULL), CK_OK);
	assert_string_equal(got.node, "b");
	ck_binding_cleanup(&got);
	assert_int_equal(ck_store_binding_get(e->st, "any", &got, NULL), CK_OK);
	assert_null(got.node);
	ck_binding_cleanup(&got);

	of_node(e, "a", 0, "any,web-a");
	of_node(e, "b", 0, "any,web-b");
	of_node(e, "c", 0, "any");
	/* never deployed: behind */
	of_node(e, "a", 1, "any,web-a");
	deployed(e, "any", old);
	deployed(e, "web-a", old);
	deployed(e, "web-b", old);
	of_node(e, "a", 1, "");
	of_node(e, "b", 1, "");

	/* another node renews: every node's binding of the lineage is behind */
	e->now += 60;
	site_cert(e, &p, k, 2, cur);
	assert_string_not_equal(old, cur);
	of_node(e, "a", 1, "any,web-a");
	of_node(e, "b", 1, "any,web-b");
	deployed(e, "web-b", cur);
	of_node(e, "b", 1, "any");
	of_node(e, "a", 1, "any,web-a");
	/* an interrupted deploy is behind even with the current certificate recorded */
	assert_int_equal(ck_store_binding_deploy_begin(e->st, "web-b", cur, NULL), CK_OK);
	of_node(e, "b", 1, "any,web-b");

	assert_int_equal(ck_store_bindings_of_node(e->st, "bad name!", 0, NULL, NULL),
			 CK_ERR_INVALID_ARG);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

static const struct ck_node *
node_named(const struct ck_node_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->items[i].name, name) == 0)
			return &l->items[i];
	fail_msg("no node %s", name);
	return NULL;
}

static void
test_node_beat(void **state)
{
	struct t_env *e = *state;
	struct ck_node_beat b = { "web1", "1.2.3", 30, 1, 7, 1 };
	struct ck_node_list l = { NULL, 0 };
	const struct ck_node *n;
	uint64_t gen = t_gen(e->st);
	time_t t0 = e->now;

	assert_int_equal(ck_store_node_beat(e->st, &b, NULL), CK_OK);
	assert_int_equal(t_gen(e->st), gen); /* a heartbeat wakes no one */
	e->now += 100;
	b.restart = 0;
	b.seen_generation = 3; /* lower: the highest seen is kept */
	b.deployed = 0;
	b.heartbeat_s = 0;
	assert_int_equal(ck_store_node_beat(e->st, &b, NULL), CK_OK);
	assert_int_equal(ck_store_node_list(e->st, &l, NULL), CK_OK);
	assert_int_equal(l.n, 1);
	n = node_named(&l, "web1");
	assert_int_equal(n->started, t0);
	assert_int_equal(n->heartbeat, t0 + 100);
	assert_int_equal(n->heartbeat_s, 0);
	assert_string_equal(n->version, "1.2.3");
	assert_int_equal(n->seen_generation, 7);
	assert_int_equal(n->deployed_generation, 7);
	ck_node_list_cleanup(&l);
	b.name = "no spaces allowed";
	assert_int_equal(ck_store_node_beat(e->st, &b, NULL), CK_ERR_INVALID_ARG);
}

/* 1 if f has a finding code about object. */
static int
has(const struct ck_findings *f, const char *code, const char *object)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->items[i].code, code) == 0 && strcmp(f->items[i].object, object) == 0)
			return 1;
	return 0;
}

static void
doctor_at(struct t_env *e, time_t now, int grace, struct ck_findings *f)
{
	struct ck_doctor_opts o = { now, 0, 0, grace, 0, NULL };

	memset(f, 0, sizeof(*f));
	assert_int_equal(ck_store_doctor(e->st, &o, f, NULL), CK_OK);
}

static void
test_doctor_fleet(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_node_beat a = { "a", "1", 5, 1, 0, 0 }, b = { "b", "1", 5, 1, 0, 0 };
	struct ck_findings f, fixed;
	char old[65], cur[65];
	struct t_pki p;

	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	site_cert(e, &p, k, 1, old);
	put_binding(e, "web-b", "b");
	deployed(e, "web-b", old);
	a.seen_generation = b.seen_generation = t_gen(e->st);
	assert_int_equal(ck_store_node_beat(e->st, &a, NULL), CK_OK);
	assert_int_equal(ck_store_node_beat(e->st, &b, NULL), CK_OK);
	site_cert(e, &p, k, 2, cur); /* node a renewed */
	/* a lease node a holds while it beats is no finding; b's binding is within grace */
	assert_int_equal(ck_store_renewal_claim(e->st, "site", "a pid 9 run x", e->now + 1800,
						NULL, NULL, NULL), CK_OK);
	doctor_at(e, e->now + 10, 0, &f);
	assert_false(has(&f, "CK-D040", "lineage site"));
	assert_false(has(&f, "CK-D041", "node b"));
	assert_false(has(&f, "CK-D042", "node a"));
	ck_findings_cleanup(&f);
	/* past the grace b is behind; past three missed beats a's lease is orphaned */
	doctor_at(e, e->now + CK_DOCTOR_NODE_GRACE_S + 1, 0, &f);
	assert_true(has(&f, "CK-D040", "lineage site"));
	assert_true(has(&f, "CK-D041", "node b"));
	ck_findings_cleanup(&f);
	doctor_at(e, e->now + 10, -1, &f); /* no grace */
	assert_true(has(&f, "CK-D041", "node b"));
	ck_findings_cleanup(&f);
	deployed(e, "web-b", cur);
	doctor_at(e, e->now + 10, -1, &f);
	assert_false(has(&f, "CK-D041", "node b"));
	ck_findings_cleanup(&f);

	/* the store restored from an older backup: a saw a higher generation */
	a.seen_generation = t_gen(e->st) + 10;
	assert_int_equal(ck_store_node_beat(e->st, &a, NULL), CK_OK);
	doctor_at(e, e->now, 0, &f);
	assert_true(has(&f, "CK-D042", "node a"));
	assert_false(has(&f, "CK-D042", "node b"));
	ck_findings_cleanup(&f);
	memset(&fixed, 0, sizeof(fixed));
	assert_int_equal(ck_store_doctor_repair(e->st, &fixed, NULL), CK_OK);
	assert_true(has(&fixed, "CK-D042", "store generation"));
	ck_findings_cleanup(&fixed);
	assert_true(t_gen(e->st) > a.seen_generation);
	doctor_at(e, e->now, 0, &f);
	assert_false(has(&f, "CK-D042", "node a"));
	ck_findings_cleanup(&f);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

static void
test_migration_12_keeps_old_bindings_deploying(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_node_list l = { NULL, 0 };
	struct ck_store *st = NULL;
	struct ck_binding got;
	struct t_pki p;
	char sha[65];

	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	site_cert(e, &p, k, 1, sha);
	ck_store_close(e->st);
	e->st = NULL;
	/* The store as schema 11 left it, with a binding made then (the later
	 * migrations undone too: 13 to 17 are applied again on open). */
	if (t_engine_pg())
		t_sql(e->path, "DROP TRIGGER lineages_due_reset ON lineages;"
			       "DROP TRIGGER certificates_due_reset ON certificates;"
			       "DROP FUNCTION ck_due_lineage(); DROP FUNCTION ck_due_cert()");
	else
		t_sql(e->path, "DROP TRIGGER lineages_due_reset; DROP TRIGGER certificates_due_reset");
	t_sql(e->path, "DROP INDEX lineages_due_at");
	t_sql(e->path, "DROP INDEX lineages_current");
	t_sql(e->path, "ALTER TABLE lineages DROP COLUMN due_at");
	t_sql(e->path, "DROP TABLE facts");
	t_sql(e->path, "DROP TABLE nodes");
	t_sql(e->path, "ALTER TABLE bindings DROP COLUMN node");
	t_sql(e->path, "ALTER TABLE accounts DROP COLUMN generation");
	t_sql(e->path, "DROP INDEX orders_cert");
	t_sql(e->path, "DROP INDEX orders_url");
	t_sql(e->path, "DROP INDEX orders_open");
	t_sql(e->path, "DELETE FROM schema_version WHERE version > 11");
	t_sql(e->path, "INSERT INTO bindings (name, lineage, target, state, updated) "
		       "VALUES ('old', 'site', 'pem:/srv/old', 'new', 1)");
	assert_int_equal(ck_store_open(e->path, &e->ctx, &st, NULL), CK_OK);
	e->st = st;
	assert_true(ck_store_schema_version(st) >= 12);
	assert_int_equal(ck_store_binding_get(st, "old", &got, NULL), CK_OK);
	assert_null(got.node);
	ck_binding_cleanup(&got);
	of_node(e, "web1", 0, "old");
	of_node(e, "any-other-host", 1, "old");
	assert_int_equal(ck_store_node_list(st, &l, NULL), CK_OK);
	assert_int_equal(l.n, 0);
	ck_node_list_cleanup(&l);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bindings_of_node_and_behind, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_node_beat, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_doctor_fleet, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_migration_12_keeps_old_bindings_deploying,
						t_setup, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
