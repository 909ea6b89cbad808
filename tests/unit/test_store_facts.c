/*
 * test_store_facts.c - verified facts (facts.c, migration 16): recorded
 * when a certificate or key enters the store, trusted by doctor only for
 * bytes whose digest still matches (a changed byte is recomputed and
 * found), ignored by --full, recorded for an older store by repair only,
 * and never a digest of a sealed key's clear PKCS#8.
 */
#include "test_store_util.h"

#include "store/store_int.h"

/* Number of findings named name. */
static size_t
count(const struct ck_findings *f, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < f->n; i++)
		n += strcmp(f->items[i].name, name) == 0;
	return n;
}

/* Runs doctor (full or not) into *f and *stats. */
static void
doctor(struct t_env *e, int full, struct ck_findings *f, struct ck_doctor_stats *stats)
{
	struct ck_doctor_opts o;
	struct ck_err err;

	memset(&o, 0, sizeof(o));
	memset(stats, 0, sizeof(*stats));
	o.now = e->now;
	o.full = full;
	o.stats = stats;
	ck_err_clear(&err);
	if (ck_store_doctor(e->st, &o, f, &err) != CK_OK)
		fail_msg("doctor: %s", err.msg);
}

static int64_t
facts_count(struct t_env *e, const char *kind)
{
	int64_t n = -1;

	assert_int_equal(st_query_int(e->st, NULL, &n, "SELECT count(*) FROM facts WHERE kind = ?",
				      "t", kind), CK_OK);
	return n;
}

/* A key and a certificate with its chain, each with a verified fact. */
struct fx {
	EVP_PKEY *k;
	struct t_pki p;
	struct ck_der d;
	int64_t kid, cid;
};

static void
fx_init(struct t_env *e, struct fx *x)
{
	x->k = t_key(CK_KEY_EC256);
	t_pki_init(&x->p, e->now);
	x->kid = t_put_key(e->st, x->k);
	t_leaf(&x->p, x->k, "facts.test", 61, e->now, 90, &x->d);
	x->cid = t_put_cert(e->st, &x->d, &x->p.chain, 0, "facts", NULL);
}

static void
fx_cleanup(struct fx *x)
{
	free(x->d.data);
	t_pki_cleanup(&x->p);
	EVP_PKEY_free(x->k);
}

/* Import records the facts, and doctor checks those bytes by digest only;
 * --full recomputes them all. */
static void
test_facts_recorded_and_trusted(void **state)
{
	struct t_env *e = *state;
	struct ck_doctor_stats s;
	struct ck_findings f;
	struct fx x;

	fx_init(e, &x);
	assert_int_equal(facts_count(e, "cert"), 1);
	assert_int_equal(facts_count(e, "key"), 1);
	doctor(e, 0, &f, &s);
	assert_int_equal(f.n, 0);
	assert_int_equal(s.certs, 1);
	assert_int_equal(s.certs_recomputed, 0);
	assert_int_equal(s.keys, 1);
	assert_int_equal(s.keys_recomputed, 0);
	ck_findings_cleanup(&f);
	doctor(e, 1, &f, &s);
	assert_int_equal(f.n, 0);
	assert_int_equal(s.certs_recomputed, 1);
	assert_int_equal(s.keys_recomputed, 1);
	ck_findings_cleanup(&f);
	fx_cleanup(&x);
}

/* A fact is trusted without a signature check: a planted "the chain
 * verified" for a chain that does not is believed by doctor and caught by
 * --full.  (The digests still match, so no byte changed.) */
static void
test_fact_spares_the_signature_check(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_doctor_stats s;
	struct ck_findings f;
	struct t_pki p, q;
	struct ck_der d;
	char sha[65], chain[65], sql[400];

	t_pki_init(&p, e->now);
	t_pki_init(&q, e->now);
	t_put_key(e->st, k);
	t_leaf(&p, k, "wrong-chain.test", 62, e->now, 90, &d);
	t_put_cert(e->st, &d, &q.chain, 0, "wrong", NULL); /* q's CA did not sign it */
	doctor(e, 0, &f, &s);
	assert_int_equal(count(&f, "chain-invalid"), 1); /* no verified chain was recorded */
	assert_int_equal(s.certs_recomputed, 1);
	ck_findings_cleanup(&f);
	ck_sha256_hex(d.data, d.len, sha);
	st_facts_chain_digest(&q.chain, chain);
	snprintf(sql, sizeof(sql), "UPDATE facts SET chain_sha256 = '%s' WHERE digest = '%s'",
		 chain, sha);
	t_sql(e->path, sql);
	doctor(e, 0, &f, &s);
	assert_int_equal(count(&f, "chain-invalid"), 0);
	assert_int_equal(s.certs_recomputed, 0);
	ck_findings_cleanup(&f);
	doctor(e, 1, &f, &s);
	assert_int_equal(count(&f, "chain-invalid"), 1);
	ck_findings_cleanup(&f);
	free(d.data);
	t_pki_cleanup(&p);
	t_pki_cleanup(&q);
	EVP_PKEY_free(k);
}

/* Replaces blob column col of table's row id with its bytes, byte at flipped. */
static void
flip_byte(struct t_env *e, const char *table, const char *col, int64_t id, size_t at)
{
	char sql[400];

	if (t_engine_pg())
		snprintf(sql, sizeof(sql), "UPDATE %s SET %s = overlay(%s placing "
			 "decode(lpad(to_hex(get_byte(%s, %zu) # 1), 2, '0'), 'hex') from %zu) "
			 "WHERE id = %lld", table, col, col, col, at, at + 1, (long long)id);
	else
		snprintf(sql, sizeof(sql), "UPDATE %s SET %s = CAST(substr(%s, 1, %zu) || "
			 "CASE WHEN substr(%s, %zu, 1) = x'00' THEN x'01' ELSE x'00' END || "
			 "substr(%s, %zu) AS BLOB) WHERE id = %lld", table, col, col, at, col,
			 at + 1, col, at + 2, (long long)id);
	t_sql(e->path, sql);
}

/* One changed byte in a stored certificate or key: its digest misses the
 * fact, doctor recomputes and reports the damage (CK-D005, CK-D004). */
static void
test_tampered_bytes_still_found(void **state)
{
	struct t_env *e = *state;
	struct ck_doctor_stats s;
	struct ck_findings f;
	unsigned char *der = NULL;
	size_t len = 0;
	struct fx x;

	fx_init(e, &x);
	/* The signature's last byte: still a certificate, no longer the one recorded. */
	flip_byte(e, "certificates", "der", x.cid, x.d.len - 1);
	assert_int_equal(ck_store_cert_der(e->st, x.cid, &der, &len, NULL, NULL), CK_OK);
	assert_int_equal(len, x.d.len);
	assert_memory_not_equal(der, x.d.data, len);
	free(der);
	/* The last byte of the public point the PKCS#8 carries: off the curve. */
	assert_int_equal(ck_key_to_pkcs8_der(x.k, &der, &len, NULL), CK_OK);
	ck_secure_free(der, len);
	flip_byte(e, "keys", "pkcs8_der", x.kid, len - 1);
	doctor(e, 0, &f, &s);
	assert_int_equal(count(&f, "cert-corrupt"), 1);
	assert_int_equal(count(&f, "key-corrupt"), 1);
	assert_int_equal(s.certs_recomputed, 1);
	assert_int_equal(s.keys_recomputed, 1);
	ck_findings_cleanup(&f);
	fx_cleanup(&x);
}

/* A store without facts (made before migration 16): doctor recomputes and
 * writes nothing; repair records them, and later runs trust them. */
static void
test_store_without_facts_repaired(void **state)
{
	struct t_env *e = *state;
	struct ck_doctor_stats s;
	struct ck_findings f, done;
	struct fx x;
	size_t i, n = 0;

	fx_init(e, &x);
	t_sql(e->path, "DELETE FROM facts");
	doctor(e, 0, &f, &s);
	assert_int_equal(f.n, 0);
	assert_int_equal(s.certs_recomputed, 1);
	assert_int_equal(s.keys_recomputed, 1);
	ck_findings_cleanup(&f);
	assert_int_equal(facts_count(e, "cert") + facts_count(e, "key"), 0); /* never writes */
	assert_int_equal(ck_store_doctor_repair(e->st, &done, NULL), CK_OK);
	for (i = 0; i < done.n; i++) {
		if (strcmp(done.items[i].name, "facts-missing") != 0)
			continue;
		n++;
		assert_true(done.items[i].fixed);
		assert_non_null(strstr(done.items[i].what, "1 certificate(s) and 1 key(s)"));
	}
	assert_int_equal(n, 1);
	ck_findings_cleanup(&done);
	doctor(e, 0, &f, &s);
	assert_int_equal(f.n, 0);
	assert_int_equal(s.certs_recomputed, 0);
	assert_int_equal(s.keys_recomputed, 0);
	ck_findings_cleanup(&f);
	/* Nothing left to record: repair says nothing about facts. */
	assert_int_equal(ck_store_doctor_repair(e->st, &done, NULL), CK_OK);
	assert_int_equal(done.n, 0);
	ck_findings_cleanup(&done);
	fx_cleanup(&x);
}

/* A node key file (0600) under e's directory: 32 bytes of hex byte `b`. */
static void
seal_key_file(struct t_env *e, const char *name, const char *b, char *path, size_t size)
{
	FILE *fp;
	int i;

	snprintf(path, size, "%s/%s", e->dir, name);
	assert_non_null(fp = fopen(path, "w"));
	for (i = 0; i < 32; i++)
		fputs(b, fp);
	fputc('\n', fp);
	fclose(fp);
	assert_int_equal(chmod(path, 0600), 0);
}

/* A sealed key's fact names the digest of what is stored (ciphertext),
 * never of its clear PKCS#8; doctor trusts it, and a blob moved from
 * another row misses it and is found. */
static void
test_sealed_key_fact_is_ciphertext_digest(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k1 = t_key(CK_KEY_EC256), *k2 = t_key(CK_KEY_EC256);
	struct ck_doctor_stats s;
	struct ck_findings f;
	unsigned char *p8 = NULL;
	size_t p8_len = 0;
	char path[300], clear[65], sql[300];
	int64_t id1, id2, n = -1;

	seal_key_file(e, "seal.key", "5c", path, sizeof(path));
	assert_int_equal(ck_store_seal_key_use(e->st, path, NULL), CK_OK);
	assert_int_equal(ck_store_is_sealed(e->st), 1);
	id1 = t_put_key(e->st, k1);
	id2 = t_put_key(e->st, k2);
	assert_int_equal(ck_key_to_pkcs8_der(k1, &p8, &p8_len, NULL), CK_OK);
	ck_sha256_hex(p8, p8_len, clear);
	ck_secure_free(p8, p8_len);
	assert_int_equal(st_query_int(e->st, NULL, &n, "SELECT count(*) FROM facts WHERE "
				      "digest = ?", "t", clear), CK_OK);
	assert_int_equal(n, 0);
	assert_int_equal(facts_count(e, "key"), 2);
	doctor(e, 0, &f, &s);
	assert_int_equal(s.keys, 2);
	assert_int_equal(s.keys_recomputed, 0);
	assert_int_equal(count(&f, "key-corrupt"), 0);
	ck_findings_cleanup(&f);
	snprintf(sql, sizeof(sql), "UPDATE keys SET pkcs8_der = (SELECT pkcs8_der FROM keys "
		 "WHERE id = %lld) WHERE id = %lld", (long long)id1, (long long)id2);
	t_sql(e->path, sql);
	doctor(e, 0, &f, &s);
	assert_int_equal(s.keys_recomputed, 1);
	assert_int_equal(count(&f, "key-corrupt"), 1);
	ck_findings_cleanup(&f);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}


/* Sealing a plain store and re-sealing it under a new node key rewrite
 * every key's stored bytes: the facts follow them (the same PKCS#8, read by
 * an authenticated unseal), so doctor still re-derives no key. */
static void
test_reseal_carries_key_facts(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k1 = t_key(CK_KEY_EC256), *k2 = t_key(CK_KEY_EC256);
	struct ck_doctor_stats s;
	struct ck_findings f;
	char path[300], next[300];

	(void)t_put_key(e->st, k1);
	(void)t_put_key(e->st, k2);
	seal_key_file(e, "seal.key", "a1", path, sizeof(path));
	seal_key_file(e, "next.key", "b2", next, sizeof(next));
	assert_int_equal(ck_store_seal(e->st, path, NULL), CK_OK);
	doctor(e, 0, &f, &s);
	assert_int_equal(s.keys, 2);
	assert_int_equal(s.keys_recomputed, 0);
	assert_int_equal(count(&f, "key-corrupt"), 0);
	ck_findings_cleanup(&f);
	assert_int_equal(ck_store_rekey(e->st, next, NULL), CK_OK);
	doctor(e, 0, &f, &s);
	assert_int_equal(s.keys_recomputed, 0);
	assert_int_equal(count(&f, "key-corrupt"), 0);
	ck_findings_cleanup(&f);
	assert_int_equal(facts_count(e, "key"), 2);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

/* A deleted certificate or key takes its fact with it, in the same
 * transaction: the table holds no fact for a row the store does not have. */
static void
test_deleted_rows_leave_no_facts(void **state)
{
	struct t_env *e = *state;
	struct ck_findings pruned;
	EVP_PKEY *k2 = t_key(CK_KEY_EC256);
	struct ck_err err;
	struct fx x;
	int64_t kid2;

	ck_err_clear(&err);
	fx_init(e, &x);
	kid2 = t_put_key(e->st, k2);
	assert_int_equal(facts_count(e, "cert"), 1);
	assert_int_equal(facts_count(e, "key"), 2);
	assert_int_equal(ck_store_cert_remove(e->st, x.cid, &err), CK_OK);
	assert_int_equal(facts_count(e, "cert"), 0);
	assert_int_equal(ck_store_key_remove(e->st, x.kid, &err), CK_OK);
	assert_int_equal(facts_count(e, "key"), 1);
	assert_int_equal(ck_store_doctor_prune(e->st, &pruned, &err), CK_OK);
	assert_int_equal(pruned.n, 1);
	assert_int_equal(pruned.items[0].key_id, kid2);
	ck_findings_cleanup(&pruned);
	assert_int_equal(facts_count(e, "key"), 0);
	EVP_PKEY_free(k2);
	fx_cleanup(&x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_facts_recorded_and_trusted, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_fact_spares_the_signature_check, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_tampered_bytes_still_found, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_store_without_facts_repaired, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_sealed_key_fact_is_ciphertext_digest, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_reseal_carries_key_facts, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_deleted_rows_leave_no_facts, t_setup, t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
