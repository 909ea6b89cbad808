/*
 * test_store_copy.c - copy and move between two stores: the key, chain
 * and lineage travel; a keyless certificate is refused unless asked;
 * move removes from the source only after the destination has it, and
 * refuses when a binding in the source uses the certificate; move never
 * deletes a software key the destination holds only as a token
 * reference, and a crash at any fault point of a move leaves the key
 * usable in at least one of the two stores.  A key removed by move (or
 * ck_store_key_remove) leaves no copy in store.db or store.db-wal.
 */
#include <signal.h>
#include <sys/wait.h>

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

/* A revoked certificate stays revoked in the copy (a copy must never make a
 * revoked certificate look deployable), and its lineage keeps its profile
 * and its challenge settings (renewals there repeat them). */
static void
test_copy_carries_revocation_and_profile(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_copy_result r;
	struct ck_cert_row row;
	struct ck_lineage lin;
	struct ck_store *dst = NULL;
	char path[400];
	struct t_pki p;
	struct ck_der d;
	int64_t cid;

	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	t_leaf(&p, k, "revoked.test", 30, e->now, 90, &d);
	cid = t_put_cert(e->st, &d, &p.chain, 0, "rev", NULL);
	assert_int_equal(ck_store_lineage_profile_set(e->st, "rev", "shortlived", NULL), CK_OK);
	assert_int_equal(ck_store_lineage_challenge_set(e->st, "rev", "{\"type\":\"tls-alpn-01\"}",
						       NULL), CK_OK);
	assert_int_equal(ck_store_lineage_token_set(e->st, "rev", "pkcs11:token=T", NULL,
						    "/etc/pin", NULL), CK_OK);
	assert_int_equal(ck_store_cert_revoked_set(e->st, cid, e->now - 60, "keyCompromise", NULL),
			 CK_OK);
	open_dst(e, &dst, path, sizeof(path));
	assert_int_equal(ck_store_cert_copy(e->st, cid, dst, 0, &r, NULL), CK_OK);
	assert_int_equal(ck_store_cert_get(dst, r.dst_cert_id, &row, NULL), CK_OK);
	assert_int_equal(row.revoked_at, e->now - 60);
	assert_string_equal(row.revoke_reason, "keyCompromise");
	assert_string_equal(row.profile, "shortlived");
	ck_cert_row_cleanup(&row);
	assert_int_equal(ck_store_lineage_get(dst, "rev", &lin, NULL), CK_OK);
	assert_non_null(lin.challenge);
	assert_string_equal(lin.challenge, "{\"type\":\"tls-alpn-01\"}");
	assert_non_null(lin.token_uri);
	assert_string_equal(lin.token_uri, "pkcs11:token=T");
	assert_null(lin.token_module);
	assert_string_equal(lin.token_pin_file, "/etc/pin");
	ck_lineage_cleanup(&lin);
	ck_store_close(dst);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

/* The lineage's token record: a pin-value or an fd is refused, "" clears it. */
static void
test_lineage_token_record(void **state)
{
	struct t_env *e = *state;
	struct ck_lineage lin;
	const char *ids[] = { "tok.test" };

	assert_int_equal(ck_store_lineage_put(e->st, "tok", ids, 1, NULL, NULL, NULL), CK_OK);
	assert_int_equal(ck_store_lineage_token_set(e->st, "tok", "pkcs11:token=T?pin-value=1234",
						    NULL, NULL, NULL), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_store_lineage_token_set(e->st, "tok", "pkcs11:token=T", NULL, "fd:3",
						    NULL), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_store_lineage_token_set(e->st, "nope", "pkcs11:token=T", NULL, NULL,
						    NULL), CK_ERR_NOT_FOUND);
	assert_int_equal(ck_store_lineage_token_set(e->st, "tok", "pkcs11:token=T", "/m.so",
						    "/p", NULL), CK_OK);
	assert_int_equal(ck_store_lineage_get(e->st, "tok", &lin, NULL), CK_OK);
	assert_string_equal(lin.token_uri, "pkcs11:token=T");
	assert_string_equal(lin.token_module, "/m.so");
	assert_string_equal(lin.token_pin_file, "/p");
	ck_lineage_cleanup(&lin);
	assert_int_equal(ck_store_lineage_token_set(e->st, "tok", "", "/m.so", "/p", NULL), CK_OK);
	assert_int_equal(ck_store_lineage_get(e->st, "tok", &lin, NULL), CK_OK);
	assert_null(lin.token_uri);
	assert_null(lin.token_module);
	assert_null(lin.token_pin_file);
	ck_lineage_cleanup(&lin);
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

/* The software key of the certificate sha256 in st loads and is k. */
static int
t_key_usable(struct ck_store *st, const char *sha256, EVP_PKEY *k)
{
	struct ck_cert_list l;
	EVP_PKEY *back = NULL;
	int64_t key_id = 0;
	size_t i;
	int ok;

	assert_int_equal(ck_store_cert_list(st, &l, NULL), CK_OK);
	for (i = 0; i < l.n; i++)
		if (strcmp(l.items[i].sha256, sha256) == 0 && l.items[i].linked)
			key_id = l.items[i].key_id;
	ck_cert_list_cleanup(&l);
	if (key_id == 0)
		return 0;
	ok = ck_store_key_load(st, key_id, &back, NULL) == CK_OK && ck_key_public_equal(k, back);
	EVP_PKEY_free(back);
	return ok;
}

static void
test_move_keeps_key_dest_has_only_reference(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_copy_result r;
	struct ck_cert_row row;
	struct ck_cert_list l;
	struct ck_store *dst = NULL;
	unsigned char *spki = NULL;
	size_t len = 0;
	struct ck_err err;
	char path[400];
	struct t_pki p;
	struct ck_der d;
	int64_t cid, kid = 0;

	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	t_leaf(&p, k, "soft.test", 34, e->now, 90, &d);
	cid = t_put_cert(e->st, &d, &p.chain, 0, "soft", NULL);
	assert_int_equal(ck_store_cert_get(e->st, cid, &row, NULL), CK_OK);
	open_dst(e, &dst, path, sizeof(path));
	/* The destination knows the same public key only as a token reference. */
	assert_int_equal(ck_key_spki_der(k, &spki, &len, NULL), CK_OK);
	assert_int_equal(ck_store_key_put_token(dst, "pkcs11:token=card;id=%07", spki, len, &kid,
						NULL, NULL), CK_OK);
	ck_err_clear(&err);
	assert_int_equal(ck_store_cert_move(e->st, cid, dst, 0, &r, &err), CK_ERR_STATE);
	assert_non_null(strstr(err.msg, "token reference"));
	assert_non_null(strstr(err.msg, "nothing was changed"));
	/* The source still has the certificate and can sign with its key ... */
	assert_true(t_key_usable(e->st, row.sha256, k));
	/* ... and the destination did not get a certificate it cannot sign for here. */
	assert_int_equal(ck_store_cert_list(dst, &l, NULL), CK_OK);
	assert_int_equal(l.n, 0);
	ck_cert_list_cleanup(&l);
	/* copy is still allowed: it deletes nothing. */
	assert_int_equal(ck_store_cert_copy(e->st, cid, dst, 0, &r, NULL), CK_OK);
	assert_true(r.key_is_token);
	assert_true(t_key_usable(e->st, row.sha256, k));
	ck_cert_row_cleanup(&row);
	ck_store_close(dst);
	free(spki);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k);
}

/* A destination whose PKCS#8 for the key is unreadable cannot sign: the source keeps it. */
static void
test_move_keeps_key_dest_copy_broken(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256), *other = t_key(CK_KEY_EC256);
	struct ck_copy_result r;
	struct ck_cert_row row;
	struct ck_store *dst = NULL;
	struct ck_err err;
	char path[400], sql[300];
	struct t_pki p;
	struct ck_der d;
	int64_t cid, dkid;

	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	t_leaf(&p, k, "broken.test", 35, e->now, 90, &d);
	cid = t_put_cert(e->st, &d, NULL, 0, NULL, NULL);
	assert_int_equal(ck_store_cert_get(e->st, cid, &row, NULL), CK_OK);
	open_dst(e, &dst, path, sizeof(path));
	dkid = t_put_key(dst, other);
	/* Plant a row for k's public key whose PKCS#8 is another key's. */
	ck_store_close(dst);
	snprintf(sql, sizeof(sql), "UPDATE keys SET spki_sha256 = '%s' WHERE id = %lld",
		 row.spki_sha256, (long long)dkid);
	t_sql(path, sql);
	open_dst(e, &dst, path, sizeof(path));
	ck_err_clear(&err);
	assert_int_not_equal(ck_store_cert_move(e->st, cid, dst, 0, &r, &err), CK_OK);
	assert_true(t_key_usable(e->st, row.sha256, k));
	ck_cert_row_cleanup(&row);
	ck_store_close(dst);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(other);
	EVP_PKEY_free(k);
}

/*
 * A move killed at each of its fault points (a child aborts there): the
 * certificate is in one store or both, and wherever it is, the software
 * key loads and is the certificate's; at least one store can sign.
 */
static void
test_move_crash_never_loses_key(void **state)
{
#ifdef CK_FAULT_INJECTION
	static const char *const points[] = {
		"store.copy.commit",    "store.copy.committed", "store.move.copied",
		"store.move.src_begin", "store.move.src_cert",  "store.move.src_verified",
		"store.move.src_key",   "store.move.src_commit",
	};
	struct t_env *e = *state;
	char path[400], sha[65], sub[420];
	size_t i;

	for (i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		EVP_PKEY *k = t_key(CK_KEY_EC256);
		struct ck_store *src = NULL, *dst = NULL;
		struct ck_cert_row row;
		struct ck_err err;
		struct t_pki p;
		struct ck_der d;
		int64_t cid;
		int status = 0;
		pid_t pid;

		snprintf(sub, sizeof(sub), "%s/crash%zu/store.db", e->dir, i);
		snprintf(path, sizeof(path), "%s/crash%zu/dst/store.db", e->dir, i);
		ck_err_clear(&err);
		assert_int_equal(ck_store_open(sub, &e->ctx, &src, &err), CK_OK);
		assert_int_equal(ck_store_open(path, &e->ctx, &dst, &err), CK_OK);
		ck_store_close(dst);
		t_pki_init(&p, e->now);
		t_put_key(src, k);
		t_leaf(&p, k, "crash.test", 40 + (long)i, e->now, 90, &d);
		cid = t_put_cert(src, &d, NULL, 0, NULL, NULL);
		assert_int_equal(ck_store_cert_get(src, cid, &row, NULL), CK_OK);
		snprintf(sha, sizeof(sha), "%s", row.sha256);
		ck_cert_row_cleanup(&row);
		ck_store_close(src);
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* SQLite connections do not cross fork(): the child opens its own. */
			setenv("CERTKEEP_FAULT", points[i], 1);
			if (ck_store_open(sub, &e->ctx, &src, NULL) == CK_OK &&
			    ck_store_open(path, &e->ctx, &dst, NULL) == CK_OK)
				ck_store_cert_move(src, cid, dst, 0, NULL, NULL);
			_exit(0); /* the fault point was not reached */
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT))
			fail_msg("the move did not pass fault point %s", points[i]);
		assert_int_equal(ck_store_open(sub, &e->ctx, &src, &err), CK_OK);
		assert_int_equal(ck_store_open(path, &e->ctx, &dst, &err), CK_OK);
		if (!t_key_usable(src, sha, k) && !t_key_usable(dst, sha, k))
			fail_msg("a move killed at %s lost the key", points[i]);
		ck_store_close(src);
		ck_store_close(dst);
		free(d.data);
		t_pki_cleanup(&p);
		EVP_PKEY_free(k);
	}
#else
	(void)state;
	skip();
#endif
}

/* 1 if the bytes of file path contain needle. */
static int
t_file_has(const char *path, const unsigned char *needle, size_t n)
{
	unsigned char *buf;
	FILE *fp = fopen(path, "rb");
	size_t len = 0, i;
	long sz;
	int found = 0;

	if (fp == NULL)
		return 0; /* no WAL file at all */
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	sz = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)sz + 1);
	assert_non_null(buf);
	len = fread(buf, 1, (size_t)sz, fp);
	fclose(fp);
	for (i = 0; !found && n <= len && i <= len - n; i++)
		found = memcmp(buf + i, needle, n) == 0;
	free(buf);
	return found;
}

static int
t_store_has(const char *path, const unsigned char *needle, size_t n)
{
	char wal[420];

	snprintf(wal, sizeof(wal), "%s-wal", path);
	return t_file_has(path, needle, n) || t_file_has(wal, needle, n);
}

/*
 * With another connection holding the store open (as a second certkeep
 * process would), SQLite neither checkpoints nor deletes the WAL when a
 * command closes the store: a removed key's PKCS#8 stays in the old
 * frames and in the not-yet-checkpointed database page.  After move (the
 * source) and key removal, neither file may hold it.
 */
static void
test_removed_key_leaves_no_copy_in_wal(void **state)
{
	struct t_env *e = *state;

	T_SQLITE_ONLY(); /* SQLite's WAL file */
	EVP_PKEY *k = t_key(CK_KEY_EC256), *k2 = t_key(CK_KEY_EC256);
	struct ck_store *dst = NULL;
	unsigned char *p8 = NULL, *p82 = NULL;
	size_t len = 0, len2 = 0;
	char path[400];
	struct t_pki p;
	struct ck_der d;
	sqlite3 *reader = NULL;
	int64_t cid, kid;

	assert_int_equal(ck_key_to_pkcs8_der(k, &p8, &len, NULL), CK_OK);
	assert_int_equal(ck_key_to_pkcs8_der(k2, &p82, &len2, NULL), CK_OK);
	assert_int_equal(sqlite3_open(e->path, &reader), SQLITE_OK);
	assert_int_equal(sqlite3_exec(reader, "SELECT count(*) FROM keys", NULL, NULL, NULL),
			 SQLITE_OK);
	t_pki_init(&p, e->now);
	t_put_key(e->st, k);
	t_leaf(&p, k, "wal.test", 50, e->now, 90, &d);
	cid = t_put_cert(e->st, &d, NULL, 0, NULL, NULL);
	kid = t_put_key(e->st, k2);
	assert_true(t_store_has(e->path, p8, len)); /* the search finds what is there */
	assert_true(t_store_has(e->path, p82, len2));
	open_dst(e, &dst, path, sizeof(path));
	assert_int_equal(ck_store_cert_move(e->st, cid, dst, 0, NULL, NULL), CK_OK);
	assert_false(t_store_has(e->path, p8, len));
	assert_int_equal(ck_store_key_remove(e->st, kid, NULL), CK_OK);
	assert_false(t_store_has(e->path, p82, len2));
	sqlite3_close(reader);
	ck_store_close(dst);
	ck_secure_free(p8, len);
	ck_secure_free(p82, len2);
	free(d.data);
	t_pki_cleanup(&p);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_carries_key_chain_lineage, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_copy_carries_revocation_and_profile, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_lineage_token_record, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_copy_refuses_keyless_unless_asked, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_move_removes_source_after_dest, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_copy_token_key_travels_as_reference, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_move_keeps_key_dest_has_only_reference,
						t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_move_keeps_key_dest_copy_broken, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_move_crash_never_loses_key, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_removed_key_leaves_no_copy_in_wal, t_setup,
						t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
