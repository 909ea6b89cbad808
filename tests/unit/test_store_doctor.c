/*
 * test_store_doctor.c - doctor finds each planted problem (planted with
 * raw SQL on the store file, as an admin with sqlite3 or a bug would),
 * explains it with a stable code, and repair relinks what it can while
 * prune removes only orphan keys.
 */
#include "test_store_util.h"

#include "store/renewal.h"

/* Number of findings named name (whose object contains obj, if given). */
static size_t
count(const struct ck_findings *f, const char *name, const char *obj)
{
	size_t i, n = 0;

	for (i = 0; i < f->n; i++) {
		if (strcmp(f->items[i].name, name) == 0 &&
		    (obj == NULL || strstr(f->items[i].object, obj) != NULL))
			n++;
	}
	return n;
}

static void
run_doctor(struct t_env *e, struct ck_findings *f)
{
	struct ck_doctor_opts o;
	struct ck_err err;
	size_t i;

	memset(&o, 0, sizeof(o));
	o.now = e->now;
	ck_err_clear(&err);
	if (ck_store_doctor(e->st, &o, f, &err) != CK_OK)
		fail_msg("doctor: %s", err.msg);
	for (i = 0; i < f->n; i++) {
		const struct ck_finding *x = &f->items[i];
		/* Every finding explains itself fully. */
		assert_true(strncmp(x->code, "CK-D0", 5) == 0);
		assert_true(x->what[0] && x->why[0] && x->fix[0] && x->object[0]);
	}
}

static void
test_clean_store_has_no_findings(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_findings f;
	struct t_pki p;
	struct ck_der d;

	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	t_leaf(&p, k, "clean.test", 40, e->now, 90, &d);
	t_put_cert(e->st, &d, &p.chain, 0, "clean", NULL);
	run_doctor(e, &f);
	if (f.n != 0)
		fail_msg("unexpected finding %s: %s", f.items[0].name, f.items[0].what);
	ck_findings_cleanup(&f);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

static void
test_key_problems_and_repair(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k1 = t_key(CK_KEY_EC256), *k2 = t_key(CK_KEY_RSA2048), *k3 = t_key(CK_KEY_EC384);
	EVP_PKEY *k4 = t_key(CK_KEY_EC256);
	struct ck_findings f, done;
	struct ck_cert_row row;
	struct t_pki p;
	struct ck_der d1, d2, d3, d4;
	int64_t kid1, kid2, c1, c2, c3, c4;
	char sql[300];

	t_pki_init(&p, e->now);
	kid1 = t_put_key(e->st, k1);
	kid2 = t_put_key(e->st, k2);
	t_leaf(&p, k1, "one.test", 41, e->now, 90, &d1);
	t_leaf(&p, k2, "two.test", 42, e->now, 90, &d2);
	t_leaf(&p, k3, "three.test", 43, e->now, 90, &d3);
	t_leaf(&p, k4, "four.test", 44, e->now, 90, &d4);
	c1 = t_put_cert(e->st, &d1, &p.chain, 0, "one", NULL);
	c2 = t_put_cert(e->st, &d2, &p.chain, 0, "two", NULL);
	c3 = t_put_cert(e->st, &d3, &p.chain, 0, "three", NULL); /* no key anywhere */
	c4 = t_put_cert(e->st, &d4, &p.chain, 0, "four", NULL);
	/* c1 loses its link though its key is there; c2 is linked to k1's row;
	 * c4 points at a key row that does not exist. */
	snprintf(sql, sizeof(sql),
		 "UPDATE certificates SET key_id = NULL, key_state = 'no-key' WHERE id = %lld;"
		 "UPDATE certificates SET key_id = %lld WHERE id = %lld;"
		 "UPDATE certificates SET key_id = 999, key_state = 'linked' WHERE id = %lld;",
		 (long long)c1, (long long)kid1, (long long)c2, (long long)c4);
	t_sql(e->path, sql);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "cert-key-relinkable", NULL), 1);
	assert_int_equal(count(&f, "key-spki-mismatch", NULL), 1);
	assert_int_equal(count(&f, "cert-key-missing", NULL), 2); /* c3 labelled, c4 dangling */
	ck_findings_cleanup(&f);
	/* Repair relinks c1 and c2 (and nothing is deleted). */
	assert_int_equal(ck_store_doctor_repair(e->st, &done, NULL), CK_OK);
	assert_int_equal(done.n, 2);
	assert_true(done.items[0].fixed && done.items[1].fixed);
	ck_findings_cleanup(&done);
	assert_int_equal(ck_store_cert_get(e->st, c1, &row, NULL), CK_OK);
	assert_int_equal(row.key_id, kid1);
	ck_cert_row_cleanup(&row);
	assert_int_equal(ck_store_cert_get(e->st, c2, &row, NULL), CK_OK);
	assert_int_equal(row.key_id, kid2);
	ck_cert_row_cleanup(&row);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "cert-key-relinkable", NULL), 0);
	assert_int_equal(count(&f, "key-spki-mismatch", NULL), 0);
	assert_int_equal(count(&f, "cert-key-missing", NULL), 2);
	ck_findings_cleanup(&f);
	(void)c3;
	free(d1.data);
	free(d2.data);
	free(d3.data);
	free(d4.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
	EVP_PKEY_free(k4);
}

static void
test_corruption_detected_by_recomputing(void **state)
{
	struct t_env *e = *state;

	T_SQLITE_ONLY(); /* plants a blob through sqlite3 */
	EVP_PKEY *k = t_key(CK_KEY_EC256), *other = t_key(CK_KEY_EC256);
	unsigned char *p8 = NULL;
	size_t p8_len = 0;
	struct ck_findings f;
	struct t_pki p;
	struct ck_der d;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t kid, cid;
	char sql[300];

	t_pki_init(&p, e->now);
	kid = t_put_key(e->st, k);
	t_leaf(&p, k, "corrupt.test", 45, e->now, 90, &d);
	cid = t_put_cert(e->st, &d, NULL, 0, "corrupt", NULL);
	/* Replace the private key bytes with another key's: columns still agree. */
	assert_int_equal(ck_key_to_pkcs8_der(other, &p8, &p8_len, NULL), CK_OK);
	assert_int_equal(sqlite3_open(e->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE keys SET pkcs8_der = ? WHERE id = ?", -1,
					    &s, NULL), SQLITE_OK);
	sqlite3_bind_blob(s, 1, p8, (int)p8_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, kid);
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	sqlite3_close(db);
	snprintf(sql, sizeof(sql),
		 "UPDATE certificates SET sha256 = '%064d' WHERE id = %lld", 7, (long long)cid);
	t_sql(e->path, sql);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "key-corrupt", NULL), 1);
	assert_int_equal(count(&f, "key-spki-mismatch", NULL), 1);
	assert_int_equal(count(&f, "cert-corrupt", NULL), 1);
	ck_findings_cleanup(&f);
	/* Loading the damaged key is refused, not handed out. */
	{
		EVP_PKEY *bad = NULL;
		assert_int_equal(ck_store_key_load(e->st, kid, &bad, NULL), CK_ERR_CORRUPT);
	}
	ck_secure_free(p8, p8_len);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

static void
test_orphans_requests_bindings_lineages_accounts(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256), *orphan = t_key(CK_KEY_EC256);
	EVP_PKEY *rk = t_key(CK_KEY_EC256), *ak = t_key(CK_KEY_EC256);
	const char *names[] = { "stale.test" };
	struct ck_account acc;
	struct ck_findings f, pruned;
	struct ck_key_list kl;
	struct t_pki p;
	struct ck_der d;
	int64_t okid, rkid, akid, aid = 0;

	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	okid = t_put_key(e->st, orphan);
	rkid = t_put_key(e->st, rk);
	akid = t_put_key(e->st, ak);
	t_leaf(&p, k, "b.test", 46, e->now, 90, &d);
	t_put_cert(e->st, &d, NULL, 0, "b", NULL);
	assert_int_equal(ck_store_request_put(e->st, rkid, (const unsigned char *)"csr", 3, names, 1,
					      NULL, NULL, NULL), CK_OK);
	memset(&acc, 0, sizeof(acc));
	acc.server = (char *)"https://acme.test/dir";
	acc.key_id = akid;
	assert_int_equal(ck_store_account_put(e->st, &acc, &aid, NULL), CK_OK);
	assert_int_equal(ck_store_account_set_pending_key(e->st, aid, okid, NULL), CK_OK);
	t_sql(e->path,
	      "UPDATE requests SET created = created - 40 * 86400;"
	      "INSERT INTO bindings (name, pinned_sha256, target, state, updated) VALUES "
	      "('iis-site', '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', "
	      "'iis:Default Web Site', 'deployed', 0);"
	      "INSERT INTO bindings (name, lineage, target, state, updated) VALUES "
	      "('gone', 'nolineage', 'nginx', 'new', 0);"
	      "INSERT INTO lineages (name, identifiers, current_cert_id, created) VALUES "
	      "('ghost', '[]', 12345, 0);");
	run_doctor(e, &f);
	assert_int_equal(count(&f, "orphan-key", NULL), 0); /* pending account key is used */
	assert_int_equal(count(&f, "pending-request-stale", NULL), 1);
	assert_int_equal(count(&f, "binding-dangling", "iis-site"), 1);
	assert_int_equal(count(&f, "binding-dangling", "gone"), 1);
	assert_int_equal(count(&f, "lineage-dangling", "ghost"), 1);
	assert_int_equal(count(&f, "account-rollover-pending", NULL), 1);
	ck_findings_cleanup(&f);
	/* The rollover ends with the server keeping the old key: the new one is an orphan. */
	assert_int_equal(ck_store_account_clear_pending(e->st, aid, NULL), CK_OK);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "orphan-key", NULL), 1);
	ck_findings_cleanup(&f);
	assert_int_equal(ck_store_doctor_prune(e->st, &pruned, NULL), CK_OK);
	assert_int_equal(pruned.n, 1);
	assert_int_equal(pruned.items[0].key_id, okid);
	ck_findings_cleanup(&pruned);
	/* Prune removed only the orphan: certificate, request and account keys stay. */
	assert_int_equal(ck_store_key_list(e->st, 0, &kl, NULL), CK_OK);
	assert_int_equal(kl.n, 3);
	ck_key_list_cleanup(&kl);
	t_sql(e->path, "PRAGMA foreign_keys = OFF; UPDATE accounts SET key_id = 777;");
	run_doctor(e, &f);
	assert_int_equal(count(&f, "account-key-missing", NULL), 1);
	ck_findings_cleanup(&f);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
	EVP_PKEY_free(orphan);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ak);
}

static void
test_expiry_chain_permissions(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256), *k2 = t_key(CK_KEY_EC256);
	struct ck_findings f;
	struct ck_der_list wrong;
	struct t_pki p, q;
	struct ck_der dold, dsoon, dbad;
	X509 *x;

	t_pki_init(&p, e->now);
	t_pki_init(&q, e->now);
	t_put_key(e->st, k);
	t_put_key(e->st, k2);
	x = t_x509(k, p.ca, p.ca_key, "old.test", 0, "DNS:old.test", 50, e->now - 100 * T_DAY,
		   e->now - T_DAY);
	t_der(x, &dold);
	X509_free(x);
	t_leaf(&p, k, "soon.test", 51, e->now, 10, &dsoon);
	t_leaf(&p, k2, "bad.test", 52, e->now, 90, &dbad);
	t_put_cert(e->st, &dold, &p.chain, 0, "old", NULL);
	t_put_cert(e->st, &dsoon, &p.chain, 0, "soon", NULL);
	wrong = q.chain; /* another CA: does not sign bad.test */
	t_put_cert(e->st, &dbad, &wrong, 0, "bad", NULL);
	if (!t_engine_pg()) /* a PostgreSQL store has no file of its own */
		assert_int_equal(chmod(e->path, 0644), 0);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "cert-expired", NULL), 1);
	assert_int_equal(count(&f, "cert-expiring", NULL), 1);
	assert_int_equal(count(&f, "chain-invalid", NULL), 1);
	assert_int_equal(count(&f, "store-permissions", "store file"), t_engine_pg() ? 0 : 1);
	ck_findings_cleanup(&f);
	free(dold.data);
	free(dsoon.data);
	free(dbad.data);
	t_pki_cleanup(&p);
	t_pki_cleanup(&q);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

/* 1 if doctor calls key_id an orphan. */
static int
is_orphan(const struct ck_findings *f, int64_t key_id)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->items[i].name, "orphan-key") == 0 && f->items[i].key_id == key_id)
			return 1;
	return 0;
}

static void
test_open_order_stale_after_a_day(void **state)
{
	struct t_env *e = *state;
	const char *names[] = { "www.example.test", "example.test" };
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_order_new on;
	struct ck_findings f;
	int64_t kid, oid = 0;
	size_t i;

	kid = t_put_key(e->st, k);
	memset(&on, 0, sizeof(on));
	on.lineage = "www";
	on.key_id = kid;
	on.identifiers = names;
	on.nidentifiers = 2;
	on.url = "https://ca.test/order/7";
	on.status = "processing";
	assert_int_equal(ck_store_order_put(e->st, &on, &oid, NULL), CK_OK);
	/* A young open order: nothing to report, and its key is in use. */
	e->now += CK_STORE_ORDER_STALE_S;
	run_doctor(e, &f);
	assert_int_equal(count(&f, "order-stale", NULL), 0);
	assert_false(is_orphan(&f, kid));
	ck_findings_cleanup(&f);
	/* A second later it is older than a day: reported with its key, which is
	 * still not an orphan (the order may yet complete). */
	e->now += 1;
	run_doctor(e, &f);
	assert_int_equal(count(&f, "order-stale", "order "), 1);
	for (i = 0; strcmp(f.items[i].name, "order-stale") != 0; i++)
		;
	assert_int_equal(f.items[i].key_id, kid);
	assert_string_equal(f.items[i].code, "CK-D016");
	assert_non_null(strstr(f.items[i].what, "lineage www"));
	assert_non_null(strstr(f.items[i].what, "processing"));
	assert_non_null(strstr(f.items[i].fix, "certkeep issue --name www"));
	assert_false(is_orphan(&f, kid));
	ck_findings_cleanup(&f);
	/* Closed (the server gave it up): no longer stale, its key is unused. */
	assert_int_equal(ck_store_order_update(e->st, oid, "invalid", NULL, NULL, 1, NULL), CK_OK);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "order-stale", NULL), 0);
	assert_true(is_orphan(&f, kid));
	ck_findings_cleanup(&f);
	EVP_PKEY_free(k);
}

/* ck_store_cert_revoked_set records once and keeps the first record; doctor's
 * binding-revoked (CK-D017) finds a binding pinned to a revoked certificate
 * and one following a lineage whose current certificate is revoked, not a
 * binding on a certificate that is not revoked. */
static void
test_revoked_record_and_binding_revoked(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_cert_row row;
	struct ck_findings f;
	struct ck_err err;
	struct t_pki p;
	struct ck_der d1, d2;
	int64_t kid, c1, c2;
	char sql[512];
	size_t i;

	t_pki_init(&p, e->now);
	kid = t_put_key(e->st, k);
	t_leaf(&p, k, "rev.test", 50, e->now, 90, &d1);
	t_leaf(&p, k, "live.test", 51, e->now, 90, &d2);
	c1 = t_put_cert(e->st, &d1, NULL, kid, "rev", NULL);
	c2 = t_put_cert(e->st, &d2, NULL, kid, "live", NULL);
	assert_int_equal(ck_store_cert_get(e->st, c1, &row, NULL), CK_OK);
	assert_int_equal(row.revoked_at, 0);
	assert_string_equal(row.revoke_reason, "");
	snprintf(sql, sizeof(sql),
		 "INSERT INTO bindings (name, pinned_sha256, target, state, updated) VALUES "
		 "('pinned', '%s', 'nginx', 'deployed', 0);"
		 "INSERT INTO bindings (name, lineage, target, state, updated) VALUES "
		 "('follows', 'rev', 'haproxy', 'deployed', 0);"
		 "INSERT INTO bindings (name, lineage, target, state, updated) VALUES "
		 "('fine', 'live', 'haproxy', 'deployed', 0);", row.sha256);
	ck_cert_row_cleanup(&row);
	t_sql(e->path, sql);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "binding-revoked", NULL), 0);
	ck_findings_cleanup(&f);

	assert_int_equal(ck_store_cert_revoked_set(e->st, c1, 1000, "keyCompromise", NULL), CK_OK);
	/* Again (alreadyRevoked, another reason): succeeds, the first record stays. */
	assert_int_equal(ck_store_cert_revoked_set(e->st, c1, 2000, NULL, NULL), CK_OK);
	assert_int_equal(ck_store_cert_get(e->st, c1, &row, NULL), CK_OK);
	assert_int_equal(row.revoked_at, 1000);
	assert_string_equal(row.revoke_reason, "keyCompromise");
	ck_cert_row_cleanup(&row);
	assert_int_equal(ck_store_cert_revoked_set(e->st, 9999, 1000, NULL, &err),
			 CK_ERR_NOT_FOUND);
	assert_int_equal(ck_store_cert_revoked_set(e->st, c2, 1000, "", &err), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_store_cert_get(e->st, c2, &row, NULL), CK_OK);
	assert_int_equal(row.revoked_at, 0);
	ck_cert_row_cleanup(&row);

	run_doctor(e, &f);
	assert_int_equal(count(&f, "binding-revoked", NULL), 2);
	assert_int_equal(count(&f, "binding-revoked", "pinned"), 1);
	assert_int_equal(count(&f, "binding-revoked", "follows"), 1);
	assert_int_equal(count(&f, "binding-revoked", "fine"), 0);
	for (i = 0; strcmp(f.items[i].name, "binding-revoked") != 0; i++)
		;
	assert_string_equal(f.items[i].code, "CK-D017");
	assert_int_equal(f.items[i].severity, CK_SEV_ERROR);
	assert_int_equal(f.items[i].cert_id, c1);
	assert_non_null(strstr(f.items[i].what, "keyCompromise"));
	ck_findings_cleanup(&f);
	EVP_PKEY_free(k);
	free(d1.data);
	free(d2.data);
	t_pki_cleanup(&p);
}

/* Plants lineage name's stored next look at `when` (as a restore or a bug would). */
static void
due_plant(struct t_env *e, const char *name, time_t when)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "UPDATE lineages SET due_at = %lld WHERE name = '%s'",
		 (long long)when, name);
	t_sql(e->path, sql);
}

/*
 * CK-D021: a stored next look later than the lineage is due by the plan's
 * own rule (lifetime; a stored ARI moment and its Retry-After; at once
 * when revoked) is found; one at or before it is not; repair sets it to
 * "compute now" and never writes without --repair.
 */
static void
test_due_late_found_and_repaired(void **state)
{
	struct t_env *e = *state;
	struct ck_renewal_ari ari = { NULL, 0, 0, 0, 0, NULL };
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_findings f, done;
	struct ck_cert_row row;
	struct ck_err err;
	struct t_pki p;
	struct ck_der d;
	int64_t cid;

	ck_err_clear(&err);
	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	t_leaf(&p, k, "late.test", 48, e->now, 90, &d);
	cid = t_put_cert(e->st, &d, &p.chain, 0, "late", NULL);
	/* 91 days from yesterday: due at two thirds (day 59.7), jitter at most 4.55 days */
	due_plant(e, "late", e->now + 50 * T_DAY);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "due-late", NULL), 0);
	ck_findings_cleanup(&f);
	due_plant(e, "late", e->now + 70 * T_DAY);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "due-late", "lineage late"), 1);
	assert_int_equal(f.items[0].severity, CK_SEV_ERROR);
	assert_non_null(strstr(f.items[0].what, "the lifetime rule"));
	ck_findings_cleanup(&f);
	run_doctor(e, &f); /* doctor alone never writes */
	assert_int_equal(count(&f, "due-late", NULL), 1);
	ck_findings_cleanup(&f);
	/* a stored ARI window: its moment, and no later than its Retry-After */
	memset(&row, 0, sizeof(row));
	assert_int_equal(ck_store_cert_get(e->st, cid, &row, &err), CK_OK);
	ari.cert_sha256 = row.sha256;
	ari.start = e->now + 10 * T_DAY;
	ari.moment = e->now + 11 * T_DAY;
	ari.end = e->now + 12 * T_DAY;
	ari.next = e->now + T_DAY;
	assert_int_equal(ck_store_renewal_ari_set(e->st, "late", &ari, &err), CK_OK);
	due_plant(e, "late", e->now + T_DAY / 2);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "due-late", NULL), 0);
	ck_findings_cleanup(&f);
	due_plant(e, "late", e->now + 5 * T_DAY);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "due-late", NULL), 1);
	assert_non_null(strstr(f.items[0].what, "ARI"));
	ck_findings_cleanup(&f);
	/* its Retry-After passed (a server that since dropped ARI): the moment bounds */
	ari.next = e->now - 3600;
	assert_int_equal(ck_store_renewal_ari_set(e->st, "late", &ari, &err), CK_OK);
	due_plant(e, "late", ari.moment);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "due-late", NULL), 0);
	ck_findings_cleanup(&f);
	due_plant(e, "late", ari.moment + 1);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "due-late", NULL), 1);
	assert_non_null(strstr(f.items[0].what, "ARI window"));
	ck_findings_cleanup(&f);
	ck_cert_row_cleanup(&row); /* ari.cert_sha256 pointed into it */
	/* revoked: due at once */
	assert_int_equal(ck_store_cert_revoked_set(e->st, cid, e->now, NULL, &err), CK_OK);
	due_plant(e, "late", e->now + 3600);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "due-late", NULL), 1);
	assert_non_null(strstr(f.items[0].what, "revoked"));
	ck_findings_cleanup(&f);
	assert_int_equal(ck_store_doctor_repair(e->st, &done, &err), CK_OK);
	assert_int_equal(count(&done, "due-late", "lineage late"), 1);
	assert_true(done.items[0].fixed);
	ck_findings_cleanup(&done);
	run_doctor(e, &f);
	assert_int_equal(count(&f, "due-late", NULL), 0);
	ck_findings_cleanup(&f);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_due_late_found_and_repaired, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_clean_store_has_no_findings, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_key_problems_and_repair, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_corruption_detected_by_recomputing, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_orphans_requests_bindings_lineages_accounts,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_expiry_chain_permissions, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_open_order_stale_after_a_day, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_revoked_record_and_binding_revoked, t_setup,
						t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
