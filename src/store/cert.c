/*
 * cert.c - writing certificates: put (link by SPKI or label "no private
 * key", lineage current, order and pending request closed, generation
 * bumped: one transaction), and remove (refused while a binding uses it).
 *
 * The certificate's SPKI is always computed here from its DER; a caller's
 * key_id is checked against it, never trusted (invariant 1).
 *
 * Must never: store a certificate linked to a key with another public key,
 * leave a certificate neither linked nor labelled, remove a certificate a
 * binding uses.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/store_int.h"

/* Alternate chains text (NULL allowed): bounded, and a JSON array. */
static enum ck_code
cert_check_alternates(const char *alternates, struct ck_err *err)
{
	enum ck_code rc;
	json_t *j;
	int ok;

	if ((rc = st_check_text("alternate chains", alternates, ST_ALTERNATES_MAX, 0, err)) != CK_OK)
		return rc;
	if (alternates == NULL)
		return CK_OK;
	j = json_loads(alternates, 0, NULL);
	ok = json_is_array(j);
	json_decref(j);
	if (!ok)
		return CK_FAIL(err, CK_ERR_PARSE, "alternate chains are not a JSON array");
	return CK_OK;
}

enum ck_code
st_cert_check_input(const unsigned char *der, size_t len, const struct ck_der_list *chain,
		    const char *origin, const char *alternates, struct ck_err *err)
{
	size_t i;
	enum ck_code rc;

	if (der == NULL || len == 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no certificate given");
	if (len > CK_STORE_CERT_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "certificate larger than %d bytes",
			       CK_STORE_CERT_MAX);
	if (chain != NULL) {
		if (chain->n > CK_STORE_CHAIN_MAX)
			return CK_FAIL(err, CK_ERR_TOO_LARGE,
				       "chain of %zu certificates; at most %d are kept", chain->n,
				       CK_STORE_CHAIN_MAX);
		for (i = 0; i < chain->n; i++) {
			if (chain->items[i].data == NULL || chain->items[i].len == 0 ||
			    chain->items[i].len > CK_STORE_CERT_MAX)
				return CK_FAIL(err, CK_ERR_TOO_LARGE,
					       "chain certificate %zu is empty or too large", i + 1);
		}
	}
	if ((rc = st_check_text("origin", origin, CK_STORE_TEXT_MAX, 0, err)) != CK_OK)
		return rc;
	return cert_check_alternates(alternates, err);
}

enum ck_code
st_lineage_ensure_tx(struct ck_store *st, const char *name, const char *identifiers_json,
		     const char *key_type, int64_t *id, struct ck_err *err)
{
	enum ck_code rc;

	rc = st_query_int(st, err, id, "SELECT id FROM lineages WHERE name = ?", "t", name);
	if (rc != CK_ERR_NOT_FOUND)
		return rc;
	return st_query_int(st, err, id,
			    "INSERT INTO lineages (name, identifiers, key_type, created) "
			    "VALUES (?, ?, ?, ?) RETURNING id",
		     "ttti", name, identifiers_json ? identifiers_json : "[]",
		     key_type ? key_type : "", (int64_t)st_now(st));
}

enum ck_code
st_cert_insert_tx(struct ck_store *st, const struct st_cert_raw *c, int64_t *id,
		  struct ck_err *err)
{
	const struct ck_cert_info *in = c->info;
	char *sans = NULL;
	int64_t cid;
	enum ck_code rc;
	size_t i;

	rc = st_strv_to_json((const char *const *)in->sans, in->nsans, 100000, 4096, &sans, err);
	if (rc != CK_OK)
		return rc;
	rc = st_query_int(st, err, &cid,
			  "INSERT INTO certificates (der, sha256, sha1, spki_sha256, subject, issuer, "
			  "serial, sans, not_before, not_after, key_algorithm, key_id, key_state, "
			  "lineage_id, origin, alternates, created) "
			  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
		     "btttttttiitItItti", c->der, c->len, in->sha256, in->sha1, in->spki_sha256,
		     in->subject ? in->subject : "", in->issuer ? in->issuer : "", in->serial,
		     sans, (int64_t)in->not_before, (int64_t)in->not_after, in->key_desc,
		     c->key_id, c->key_id ? "linked" : "no-key", c->lineage_id, c->origin,
		     c->alternates, (int64_t)(c->created ? c->created : st_now(st)));
	free(sans);
	if (rc != CK_OK || (rc = st_facts_cert_tx(st, c->der, c->len, in, c->chain, c->chain_verified,
					   err)) != CK_OK)
		return rc;
	CK_FAULT("store.cert_put.insert");
	for (i = 0; c->chain != NULL && i < c->chain->n; i++) {
		rc = st_exec(st, err, NULL, "INSERT INTO chain (cert_id, pos, der) VALUES (?, ?, ?)",
			     "iib", cid, (int64_t)i, c->chain->items[i].data,
			     c->chain->items[i].len);
		if (rc != CK_OK)
			return rc;
	}
	CK_FAULT("store.cert_put.chain");
	*id = cid;
	return CK_OK;
}

/* Picks the key for a new certificate: the caller's (checked) or one by SPKI. */
static enum ck_code
choose_key(struct ck_store *st, const struct ck_cert_info *info, int64_t want, int64_t *key_id,
	   struct ck_err *err)
{
	char have[65];
	enum ck_code rc;

	if (want > 0) {
		if ((rc = st_key_spki_tx(st, want, have, err)) != CK_OK)
			return rc;
		if (strcmp(have, info->spki_sha256) != 0)
			return CK_FAIL(err, CK_ERR_KEY_MISMATCH,
				       "the certificate's public key does not match key %lld; "
				       "nothing was stored", (long long)want);
		*key_id = want;
		return CK_OK;
	}
	rc = st_query_int(st, err, key_id, "SELECT id FROM keys WHERE spki_sha256 = ?", "t",
			  info->spki_sha256);
	if (rc == CK_ERR_NOT_FOUND) {
		*key_id = 0;
		return CK_OK;
	}
	if (rc != CK_OK)
		return rc;
	/* The column matched; confirm from the stored SPKI itself. */
	if ((rc = st_key_spki_tx(st, *key_id, have, err)) != CK_OK)
		return rc;
	if (strcmp(have, info->spki_sha256) != 0)
		*key_id = 0;
	return CK_OK;
}

/* The open request for this SPKI (id and lineage), if any. */
static enum ck_code
find_request(struct ck_store *st, const char *spki, int64_t *req_id, char *lineage, size_t n,
	     struct ck_err *err)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r;

	*req_id = 0;
	lineage[0] = '\0';
	if ((rc = st_prepare_bind(st, err, &s,
				  "SELECT r.id, r.lineage FROM requests r JOIN keys k ON "
				  "k.id = r.key_id WHERE r.closed IS NULL AND k.spki_sha256 = ? "
				  "ORDER BY r.id LIMIT 1",
				  "t", spki)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r < 0)
		rc = err ? err->code : CK_ERR_STORE;
	else if (r == 1) {
		*req_id = st_col_int64(s, 0);
		st_col_copy(s, 1, lineage, n);
	}
	st_finalize(s);
	return rc;
}

/* The certificate is already stored: link it if it is labelled and a key now fits. */
static enum ck_code
put_existing(struct ck_store *st, int64_t cid, const struct ck_cert_info *info,
	     const struct ck_cert_new *in, struct ck_cert_put_result *res, struct ck_err *err)
{
	int64_t cur = 0, key_id = 0;
	enum ck_code rc, rc2;

	rc = st_query_int(st, err, &cur, "SELECT key_id FROM certificates WHERE id = ?", "i", cid);
	if (rc != CK_OK && rc != CK_ERR_NOT_FOUND)
		return rc;
	res->cert_id = cid;
	res->already_present = 1;
	/* A resumed order whose certificate is already here is finished too. */
	if (in->order_id > 0 &&
	    (rc2 = st_exec(st, err, NULL,
			   "UPDATE orders SET status = 'valid', closed = 1, cert_id = ?, "
			   "updated = ? WHERE id = ?",
			   "iii", cid, (int64_t)st_now(st), in->order_id)) != CK_OK)
		return rc2;
	if (rc == CK_OK) {
		res->key_id = cur;
		return CK_OK;
	}
	if (in->key_id == 0)
		return CK_OK;
	if ((rc = choose_key(st, info, in->key_id, &key_id, err)) != CK_OK)
		return rc;
	rc = st_exec(st, err, NULL,
		     "UPDATE certificates SET key_id = ?, key_state = 'linked' WHERE id = ?",
		     "ii", key_id, cid);
	if (rc == CK_OK)
		rc = st_generation_bump_tx(st, err);
	if (rc == CK_OK)
		res->key_id = key_id;
	return rc;
}

/* The stored key type name ("ec256") of key_id, for a new lineage's key policy. */
static enum ck_code
key_type_of(struct ck_store *st, int64_t key_id, char *out, size_t n, struct ck_err *err)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;

	if ((rc = st_prepare_bind(st, err, &s, "SELECT key_type FROM keys WHERE id = ?", "i",
				  key_id)) != CK_OK)
		return rc;
	switch (st_step(st, s, err)) {
	case 1:
		st_col_copy(s, 0, out, n);
		break;
	case -1:
		rc = CK_ERR_STORE;
		break;
	}
	st_finalize(s);
	return rc;
}

static enum ck_code
put_new(struct ck_store *st, const struct ck_cert_info *info, int chain_verified,
	const struct ck_cert_new *in, struct ck_cert_put_result *res, struct ck_err *err)
{
	struct st_cert_raw raw;
	char req_lineage[CK_STORE_NAME_MAX + 1], key_type[16] = "";
	const char *lineage = in->lineage;
	char *idents = NULL;
	int64_t key_id = 0, req_id = 0, lin_id = 0, cid = 0;
	enum ck_code rc;
	int changes = 0;

	if ((rc = choose_key(st, info, in->key_id, &key_id, err)) != CK_OK)
		goto out;
	if ((rc = find_request(st, info->spki_sha256, &req_id, req_lineage, sizeof(req_lineage),
			       err)) != CK_OK)
		goto out;
	if (lineage == NULL && req_lineage[0] != '\0')
		lineage = req_lineage;
	if (lineage != NULL) {
		if (key_id > 0 &&
		    (rc = key_type_of(st, key_id, key_type, sizeof(key_type), err)) != CK_OK)
			goto out;
		rc = st_strv_to_json((const char *const *)info->sans, info->nsans, 100000, 4096,
				     &idents, err);
		if (rc != CK_OK ||
		    (rc = st_lineage_ensure_tx(st, lineage, idents, key_type, &lin_id, err)) != CK_OK)
			goto out;
	}
	memset(&raw, 0, sizeof(raw));
	raw.der = in->der;
	raw.len = in->len;
	raw.info = info;
	raw.chain = in->chain;
	raw.origin = in->origin;
	raw.alternates = in->alternates;
	raw.key_id = key_id;
	raw.lineage_id = lin_id;
	raw.chain_verified = chain_verified;
	if ((rc = st_cert_insert_tx(st, &raw, &cid, err)) != CK_OK)
		goto out;
	if (lin_id > 0 &&
	    (rc = st_exec(st, err, NULL, "UPDATE lineages SET current_cert_id = ? WHERE id = ?",
			  "ii", cid, lin_id)) != CK_OK)
		goto out;
	CK_FAULT("store.cert_put.lineage");
	if (req_id > 0 &&
	    (rc = st_exec(st, err, NULL,
			  "UPDATE requests SET closed = ?, cert_id = ? WHERE id = ?", "iii",
			  (int64_t)st_now(st), cid, req_id)) != CK_OK)
		goto out;
	if (in->order_id > 0) {
		rc = st_exec(st, err, &changes,
			     "UPDATE orders SET status = 'valid', closed = 1, cert_id = ?, "
			     "updated = ? WHERE id = ?",
			     "iii", cid, (int64_t)st_now(st), in->order_id);
		if (rc != CK_OK)
			goto out;
		if (changes == 0) {
			rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "order %lld is not in the store; "
				     "nothing was stored", (long long)in->order_id);
			goto out;
		}
		CK_FAULT("store.cert_put.order");
	}
	if ((rc = st_generation_bump_tx(st, err)) != CK_OK)
		goto out;
	res->cert_id = cid;
	res->key_id = key_id;
	res->request_closed = req_id;
	res->lineage_id = lin_id;
out:
	free(idents);
	return rc;
}

/* What cert_put_body reads and writes. */
struct cert_put_args {
	const struct ck_cert_new *in;
	const struct ck_cert_info *info;
	int chain_verified;              /* st_cert_parse */
	struct ck_cert_put_result res;   /* OUT */
};

static enum ck_code
cert_put_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct cert_put_args *a = arg;
	int64_t cid = 0;
	enum ck_code rc;

	memset(&a->res, 0, sizeof(a->res));
	rc = st_query_int(st, err, &cid, "SELECT id FROM certificates WHERE sha256 = ?", "t",
			  a->info->sha256);
	if (rc == CK_OK)
		return put_existing(st, cid, a->info, a->in, &a->res, err);
	if (rc == CK_ERR_NOT_FOUND)
		return put_new(st, a->info, a->chain_verified, a->in, &a->res, err);
	return rc;
}

enum ck_code
ck_store_cert_put(struct ck_store *st, const struct ck_cert_new *in,
		  struct ck_cert_put_result *out, struct ck_err *err)
{
	struct cert_put_args a;
	struct ck_cert_info info;
	enum ck_code rc;

	memset(&info, 0, sizeof(info));
	memset(&a, 0, sizeof(a));
	if (in == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no certificate given");
	if ((rc = st_cert_check_input(in->der, in->len, in->chain, in->origin, in->alternates,
				      err)) != CK_OK ||
	    (rc = st_check_name("lineage name", in->lineage, 0, err)) != CK_OK)
		return rc;
	if ((rc = st_cert_parse(st, in->der, in->len, in->chain, &info, &a.chain_verified,
				err)) != CK_OK) {
		ck_cert_info_cleanup(&info);
		return rc;
	}
	a.in = in;
	a.info = &info;
	rc = st_tx_run(st, err, "store.cert_put", cert_put_body, &a);
	if (rc == CK_OK && out != NULL)
		*out = a.res;
	ck_cert_info_cleanup(&info);
	return rc;
}

enum ck_code
st_cert_check_unbound_tx(struct ck_store *st, int64_t cert_id, const char *verb,
			 struct ck_err *err)
{
	struct ck_binding_list bl = { NULL, 0 };
	enum ck_code rc;

	if ((rc = st_cert_bindings_tx(st, cert_id, &bl, err)) != CK_OK)
		return rc;
	if (bl.n > 0)
		rc = CK_FAIL(err, CK_ERR_IN_USE,
			     "refusing to %s the certificate: binding '%s'%s uses it (target %s); "
			     "nothing was changed: change or remove the binding first",
			     verb, bl.items[0].name, bl.n > 1 ? " (and others)" : "",
			     bl.items[0].target ? bl.items[0].target : "?");
	ck_binding_list_cleanup(&bl);
	return rc;
}

enum ck_code
st_cert_delete_tx(struct ck_store *st, int64_t cert_id, struct ck_err *err)
{
	int64_t lin = 0;
	enum ck_code rc;
	int changes = 0;

	rc = st_query_int(st, err, &lin, "SELECT lineage_id FROM certificates WHERE id = ?", "i",
			  cert_id);
	if (rc != CK_OK && rc != CK_ERR_NOT_FOUND)
		return rc;
	if ((rc = st_facts_forget_cert_tx(st, cert_id, err)) != CK_OK ||
	    (rc = st_exec(st, err, &changes, "DELETE FROM certificates WHERE id = ?", "i",
			  cert_id)) != CK_OK)
		return rc;
	if (changes == 0)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "certificate %lld is not in the store",
			       (long long)cert_id);
	CK_FAULT("store.cert_remove.delete");
	if (lin > 0)
		rc = st_exec(st, err, NULL,
			     "UPDATE lineages SET current_cert_id = (SELECT id FROM certificates "
			     "WHERE lineage_id = ?1 ORDER BY not_before DESC, id DESC LIMIT 1) "
			     "WHERE id = ?1 AND current_cert_id IS NULL",
			     "i", lin);
	if (rc == CK_OK)
		rc = st_generation_bump_tx(st, err);
	return rc;
}

/* Deletes certificate *(int64_t *)arg unless a binding uses it (st_tx_body). */
static enum ck_code
cert_remove_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	int64_t id = *(const int64_t *)arg;
	enum ck_code rc;

	if ((rc = st_cert_check_unbound_tx(st, id, "remove", err)) != CK_OK)
		return rc;
	return st_cert_delete_tx(st, id, err);
}

enum ck_code
ck_store_cert_remove(struct ck_store *st, int64_t id, struct ck_err *err)
{
	return st_tx_run(st, err, "store.cert_remove", cert_remove_body, &id);
}

enum ck_code
ck_store_cert_alternates_set(struct ck_store *st, int64_t id, const char *alternates,
			     struct ck_err *err)
{
	enum ck_code rc;
	int changes = 0;

	if (alternates == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no alternate chains given");
	if ((rc = cert_check_alternates(alternates, err)) != CK_OK)
		return rc;
	rc = st_tx_exec(st, err, "store.cert_alternates_set", &changes,
			"UPDATE certificates SET alternates = ? WHERE id = ?", "ti", alternates, id);
	if (rc == CK_OK && changes == 0)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "certificate %lld is not in the store",
			     (long long)id);
	return rc;
}

enum ck_code
ck_store_cert_revoked_set(struct ck_store *st, int64_t id, time_t when, const char *reason,
			  struct ck_err *err)
{
	enum ck_code rc;
	int64_t n = 0;
	int changes = 0;

	if (reason != NULL && (reason[0] == '\0' || strlen(reason) >= 32))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "revocation reason \"%s\" is not a reason name",
			       reason);
	rc = st_tx_exec(st, err, "store.cert_revoked_set", &changes,
			"UPDATE certificates SET revoked_at = ?, revoke_reason = ? "
			"WHERE id = ? AND revoked_at IS NULL", "iti", (int64_t)when, reason, id);
	if (rc != CK_OK || changes != 0)
		return rc;
	/* Nothing changed: already recorded (kept), or no such certificate. */
	if ((rc = st_query_int(st, err, &n, "SELECT count(*) FROM certificates WHERE id = ?", "i",
			       id)) != CK_OK)
		return rc;
	if (n == 0)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "certificate %lld is not in the store",
			       (long long)id);
	return CK_OK;
}
