/*
 * key.c - keys: software keys (PKCS#8 in the store) and token key
 * references (pkcs11 URI + SPKI), identified by the SHA-256 of their
 * SPKI.  Putting a key links every certificate labelled "no private key"
 * that has the same SPKI (invariant 1 heals in the same transaction).
 *
 * Must never: log or copy key material outside a wiped buffer, delete a
 * key something uses, return a key whose public part disagrees with its
 * recorded SPKI.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

enum ck_code
st_key_put_tx(struct ck_store *st, const struct st_key_raw *k, int64_t *id, int *created,
	      struct ck_err *err)
{
	char spki[65];
	int64_t kid = 0;
	enum ck_code rc;
	int linked = 0, made = 0;

	ck_sha256_hex(k->spki_der, k->spki_len, spki);
	rc = st_query_int(st, err, &kid, "SELECT id FROM keys WHERE spki_sha256 = ?", "t", spki);
	if (rc == CK_ERR_NOT_FOUND) {
		rc = st_query_int(st, err, &kid,
				  "INSERT INTO keys (spki_sha256, spki_der, key_type, algorithm, "
				  "pkcs8_der, pkcs11_uri, created) VALUES (?, ?, ?, ?, ?, ?, ?) "
				  "RETURNING id",
			     "tbttbti", spki, k->spki_der, k->spki_len, k->key_type, k->algorithm,
			     k->pkcs8 != NULL ? (const unsigned char *)"" : NULL, (size_t)0,
			     k->pkcs11_uri, (int64_t)st_now(st));
		if (rc != CK_OK)
			return rc;
		/* The material needs the row id (sealing's AAD): written in the same
		 * transaction, so the row never commits without it. */
		if (k->pkcs8 != NULL &&
		    ((rc = st_key_seal_row_tx(st, kid, k->pkcs8, k->pkcs8_len, err)) != CK_OK ||
		     (rc = st_facts_key_tx(st, kid, spki, err)) != CK_OK))
			return rc;
		made = 1;
		CK_FAULT("store.key_put.insert");
	} else if (rc != CK_OK) {
		return rc;
	}
	rc = st_exec(st, err, &linked,
		     "UPDATE certificates SET key_id = ?, key_state = 'linked' "
		     "WHERE key_id IS NULL AND spki_sha256 = ?",
		     "it", kid, spki);
	if (rc != CK_OK)
		return rc;
	if (linked > 0)
		CK_FAULT("store.key_put.link");
	if ((made || linked > 0) && (rc = st_generation_bump_tx(st, err)) != CK_OK)
		return rc;
	*id = kid;
	if (created != NULL)
		*created = made;
	return CK_OK;
}

enum ck_code
st_key_exists_tx(struct ck_store *st, int64_t key_id, const char *whose, const char *then,
		 struct ck_err *err)
{
	int64_t dummy = 0;
	enum ck_code rc;

	rc = st_query_int(st, err, &dummy, "SELECT id FROM keys WHERE id = ?", "i", key_id);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "%s %lld is not in the store%s", whose,
			       (long long)key_id, then);
	return rc;
}

/* What key_put_body reads and writes. */
struct key_put_args {
	const struct st_key_raw *k;
	int64_t id;               /* OUT */
	int created;              /* OUT */
};

static enum ck_code
key_put_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct key_put_args *a = arg;

	return st_key_put_tx(st, a->k, &a->id, &a->created, err);
}

static enum ck_code
key_put_raw(struct ck_store *st, const struct st_key_raw *k, int64_t *id, int *created,
	    struct ck_err *err)
{
	struct key_put_args a = { k, 0, 0 };
	enum ck_code rc;

	if ((rc = st_tx_run(st, err, "store.key_put", key_put_body, &a)) != CK_OK)
		return rc;
	*id = a.id;
	if (created != NULL)
		*created = a.created;
	return CK_OK;
}

enum ck_code
ck_store_key_put(struct ck_store *st, EVP_PKEY *key, int64_t *id, int *created,
		 struct ck_err *err)
{
	struct st_key_raw k;
	unsigned char *spki = NULL, *p8 = NULL;
	size_t spki_len = 0, p8_len = 0;
	char alg[32];
	enum ck_code rc;

	if (key == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no key given");
	if ((rc = ck_key_spki_der(key, &spki, &spki_len, err)) != CK_OK)
		goto out;
	if ((rc = ck_key_to_pkcs8_der(key, &p8, &p8_len, err)) != CK_OK)
		goto out;
	if (spki_len > CK_STORE_KEY_MAX || p8_len > CK_STORE_KEY_MAX) {
		rc = CK_FAIL(err, CK_ERR_TOO_LARGE, "key larger than %d bytes", CK_STORE_KEY_MAX);
		goto out;
	}
	ck_key_describe(key, alg, sizeof(alg));
	memset(&k, 0, sizeof(k));
	k.spki_der = spki;
	k.spki_len = spki_len;
	k.pkcs8 = p8;
	k.pkcs8_len = p8_len;
	k.key_type = ck_key_type_name(ck_key_type_of(key));
	k.algorithm = alg;
	rc = key_put_raw(st, &k, id, created, err);
out:
	free(spki);
	ck_secure_free(p8, p8_len);
	return rc;
}

enum ck_code
ck_store_key_put_token(struct ck_store *st, const char *pkcs11_uri,
		       const unsigned char *spki_der, size_t spki_len, int64_t *id, int *created,
		       struct ck_err *err)
{
	struct st_key_raw k;
	EVP_PKEY *pub = NULL;
	char alg[32];
	enum ck_code rc;

	if ((rc = st_check_text("pkcs11 URI", pkcs11_uri, CK_STORE_URL_MAX, 1, err)) != CK_OK)
		return rc;
	if (strncmp(pkcs11_uri, "pkcs11:", 7) != 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a token key reference must be a pkcs11: URI");
	if (spki_der == NULL || spki_len == 0 || spki_len > CK_STORE_KEY_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "token key public part missing or too large");
	if ((rc = ck_key_from_spki_der(spki_der, spki_len, &pub, err)) != CK_OK)
		return rc;
	ck_key_describe(pub, alg, sizeof(alg));
	memset(&k, 0, sizeof(k));
	k.spki_der = spki_der;
	k.spki_len = spki_len;
	k.pkcs11_uri = pkcs11_uri;
	k.key_type = ck_key_type_name(ck_key_type_of(pub));
	k.algorithm = alg;
	rc = key_put_raw(st, &k, id, created, err);
	EVP_PKEY_free(pub);
	return rc;
}

enum ck_code
st_key_spki_tx(struct ck_store *st, int64_t key_id, char out[65], struct ck_err *err)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r;

	if ((rc = st_prepare_bind(st, err, &s, "SELECT spki_der FROM keys WHERE id = ?", "i",
				  key_id)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r < 0)
		rc = err ? err->code : CK_ERR_STORE;
	else if (r == 0)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "key %lld is not in the store", (long long)key_id);
	else
		ck_sha256_hex(st_col_blob_ref(s, 0, NULL), st_col_bytes(s, 0), out);
	st_finalize(s);
	return rc;
}

enum ck_code
ck_store_key_load(struct ck_store *st, int64_t id, EVP_PKEY **out, struct ck_err *err)
{
	struct st_stmt *s = NULL;
	EVP_PKEY *key = NULL;
	unsigned char *p8 = NULL;
	size_t p8_len = 0;
	char want[65], have[65];
	enum ck_code rc;
	int r;

	if ((rc = st_prepare_bind(st, err, &s,
				  "SELECT pkcs8_der, pkcs11_uri, spki_sha256 FROM keys WHERE id = ?",
				  "i", id)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r < 0) {
		rc = err ? err->code : CK_ERR_STORE;
		goto out;
	}
	if (r == 0) {
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "key %lld is not in the store", (long long)id);
		goto out;
	}
	if (st_col_is_null(s, 0)) {
		char uri[256];
		st_col_copy(s, 1, uri, sizeof(uri));
		rc = CK_FAIL(err, CK_ERR_KEY_NOT_EXPORTABLE,
			     "key %lld lives on a token (%s) and cannot leave it", (long long)id,
			     uri);
		goto out;
	}
	st_col_copy(s, 2, want, sizeof(want));
	if ((rc = st_key_unseal(st, id, st_col_blob_ref(s, 0, NULL), st_col_bytes(s, 0), &p8,
				&p8_len, err)) != CK_OK)
		goto out;
	rc = ck_key_from_pkcs8_der(p8, p8_len, &key, err);
	if (rc != CK_OK) {
		rc = CK_FAIL(err, CK_ERR_CORRUPT,
			     "key %lld in the store cannot be read; run 'certkeep doctor'",
			     (long long)id);
		goto out;
	}
	if ((rc = ck_key_spki_sha256(key, have, err)) != CK_OK)
		goto out;
	if (strcmp(want, have) != 0) {
		rc = CK_FAIL(err, CK_ERR_CORRUPT,
			     "key %lld in the store does not match its recorded public key; "
			     "nothing was used: run 'certkeep doctor'", (long long)id);
		goto out;
	}
	*out = key;
	key = NULL;
out:
	ck_secure_free(p8, p8_len + 1);
	EVP_PKEY_free(key);
	st_finalize(s);
	return rc;
}

enum ck_code
ck_store_key_public(struct ck_store *st, int64_t id, EVP_PKEY **out, struct ck_err *err)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r;

	if ((rc = st_prepare_bind(st, err, &s, "SELECT spki_der FROM keys WHERE id = ?", "i",
				  id)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r < 0)
		rc = err ? err->code : CK_ERR_STORE;
	else if (r == 0)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "key %lld is not in the store", (long long)id);
	else
		rc = ck_key_from_spki_der(st_col_blob_ref(s, 0, NULL),
					  st_col_bytes(s, 0), out, err);
	st_finalize(s);
	return rc;
}

#define KEY_COLS                                                                       \
	"SELECT k.id, k.spki_sha256, k.key_type, k.algorithm, k.pkcs11_uri, k.created, " \
	ST_KEY_USED_SQL " FROM keys k "

static enum ck_code
key_row(struct st_stmt *s, void *elem, struct ck_err *err)
{
	struct ck_key_info *k = elem;
	int oom = 0;

	k->id = st_col_int64(s, 0);
	st_col_copy(s, 1, k->spki_sha256, sizeof(k->spki_sha256));
	st_col_copy(s, 2, k->key_type, sizeof(k->key_type));
	st_col_copy(s, 3, k->algorithm, sizeof(k->algorithm));
	k->pkcs11_uri = st_col_dup(s, 4, &oom);
	k->created = (time_t)st_col_int64(s, 5);
	k->used = st_col_int(s, 6);
	return oom ? CK_OOM(err) : CK_OK;
}

static void
key_free(void *elem)
{
	ck_key_info_cleanup(elem);
}

static const struct st_list_spec key_spec = {
	sizeof(struct ck_key_info), "keys", key_row, key_free,
};

enum ck_code
ck_store_key_info(struct ck_store *st, int64_t id, struct ck_key_info *out, struct ck_err *err)
{
	struct ck_key_info k;
	enum ck_code rc;

	rc = st_row_read(st, err, &key_spec, &k, KEY_COLS "WHERE k.id = ?", "i", id);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "key %lld is not in the store", (long long)id);
	if (rc == CK_OK)
		*out = k;
	return rc;
}

enum ck_code
ck_store_key_find_spki(struct ck_store *st, const char *spki, int64_t *id, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_check_hex("SPKI SHA-256", spki, 64, err)) != CK_OK)
		return rc;
	rc = st_query_int(st, err, id, "SELECT id FROM keys WHERE spki_sha256 = ?", "t", spki);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "no key with that public key is in the store");
	return rc;
}

enum ck_code
ck_store_key_list(struct ck_store *st, int orphans_only, struct ck_key_list *out,
		  struct ck_err *err)
{
	return st_list_read(st, err, &key_spec, &out->items, &out->n,
			    orphans_only ? KEY_COLS "WHERE NOT " ST_KEY_USED_SQL " ORDER BY k.id"
					 : KEY_COLS "ORDER BY k.id",
			    "");
}

enum ck_code
st_key_used(struct ck_store *st, int64_t key_id, int *used, char *who, size_t n,
	    struct ck_err *err)
{
	static const struct {
		const char *sql;
		const char *what;
	} users[] = {
		{ "SELECT id FROM certificates WHERE key_id = ? LIMIT 1", "certificate" },
		{ "SELECT id FROM accounts WHERE key_id = ?1 OR pending_key_id = ?1 OR "
		  "(previous_key_id = ?1 AND previous_until > ck_now()) LIMIT 1",
		  "account" },
		{ "SELECT id FROM requests WHERE key_id = ? AND closed IS NULL LIMIT 1",
		  "pending request" },
		{ "SELECT id FROM orders WHERE key_id = ? AND closed = 0 LIMIT 1", "order" },
	};
	int64_t uid = 0;
	enum ck_code rc;
	size_t i;

	for (i = 0; i < CK_ARRAY_LEN(users); i++) {
		rc = st_query_int(st, err, &uid, users[i].sql, "i", key_id);
		if (rc == CK_OK) {
			*used = 1;
			if (who != NULL)
				snprintf(who, n, "%s %lld", users[i].what, (long long)uid);
			return CK_OK;
		}
		if (rc != CK_ERR_NOT_FOUND)
			return rc;
	}
	*used = 0;
	return CK_OK;
}

enum ck_code
st_key_delete_tx(struct ck_store *st, int64_t key_id, int *changes, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_facts_forget_key_tx(st, key_id, err)) != CK_OK)
		return rc;
	return st_exec(st, err, changes, "DELETE FROM keys WHERE id = ?", "i", key_id);
}

/* Deletes key *(int64_t *)arg unless something uses it (st_tx_body). */
static enum ck_code
key_remove_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	int64_t id = *(const int64_t *)arg;
	char who[64];
	enum ck_code rc;
	int used = 0, changes = 0;

	if ((rc = st_key_used(st, id, &used, who, sizeof(who), err)) != CK_OK)
		return rc;
	if (used)
		return CK_FAIL(err, CK_ERR_IN_USE, "key %lld is used by %s; it was kept",
			       (long long)id, who);
	if ((rc = st_key_delete_tx(st, id, &changes, err)) != CK_OK)
		return rc;
	if (changes == 0)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "key %lld is not in the store", (long long)id);
	st_wal_scrub(st); /* after the commit: no old copy of the key left in the WAL */
	return st_generation_bump_tx(st, err);
}

enum ck_code
ck_store_key_remove(struct ck_store *st, int64_t id, struct ck_err *err)
{
	return st_tx_run(st, err, "store.key_remove", key_remove_body, &id);
}

void
ck_key_info_cleanup(struct ck_key_info *k)
{
	if (k == NULL)
		return;
	free(k->pkcs11_uri);
	k->pkcs11_uri = NULL;
}

void
ck_key_list_cleanup(struct ck_key_list *l)
{
	if (l != NULL)
		st_list_free(&l->items, &l->n, sizeof(*l->items), key_free);
}
