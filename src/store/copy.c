/*
 * copy.c - copy and move a certificate between two stores.  The key
 * (PKCS#8, or a token reference as a reference), chain, alternates (and
 * which chain is selected) and lineage travel with the certificate in ONE
 * destination transaction
 * (invariant 5: nothing leaves without its key unless asked).  move
 * deletes from the source only after the destination committed, so a
 * crash leaves the certificate in both stores, never in neither.
 *
 * move deletes the source key only when the destination can sign with it
 * itself: a software key needs the destination's own PKCS#8 (loaded and
 * checked against the public key); a token reference needs a row for the
 * same public key there.  A destination that knows the key only as a
 * token reference is NOT upgraded to the software key: the schema keeps
 * one place per key (pkcs8_der XOR pkcs11_uri), and replacing the
 * reference would quietly turn the destination's other certificates on
 * that key from token-backed into software keys that deploys write to
 * files.  Such a move is refused with nothing changed; copy still works.
 *
 * Must never: write a certificate into the destination without its key
 * unless CK_STORE_COPY_NO_KEY; send a key whose public part disagrees with
 * the certificate; delete the source's key while the destination cannot
 * sign with it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store_int.h"

#define COPY_URI_SHOWN 120 /* bytes of a pkcs11: URI quoted in an error */

/* Everything one certificate brings along, read from the source. */
struct copy_set {
	unsigned char *der;
	size_t len;
	struct ck_der_list chain;
	struct ck_cert_info info;
	char *origin, *alternates;
	time_t created;
	time_t revoked_at;             /* 0 = not recorded as revoked */
	char *revoke_reason, *lineage_profile, *lineage_challenge;
	char *lineage_chain;           /* the lineage's preferred chain (issuer CN), or NULL */
	char *lineage_token[3];        /* the lineage's token: URI, module, PIN file path */
	char *lineage, *lineage_idents, lineage_key_type[16];
	int is_current;
	int chain_verified;            /* st_cert_parse */
	int64_t key_id;
	int64_t chain_selected;   /* which of its chains is selected */
	unsigned char *spki, *pkcs8;
	size_t spki_len, pkcs8_len;
	char *uri, key_type[16], algorithm[32];
};

static void
copy_set_cleanup(struct copy_set *c)
{
	free(c->der);
	ck_der_list_cleanup(&c->chain);
	ck_cert_info_cleanup(&c->info);
	free(c->origin);
	free(c->alternates);
	free(c->revoke_reason);
	free(c->lineage_profile);
	free(c->lineage_challenge);
	free(c->lineage_chain);
	free(c->lineage_token[0]);
	free(c->lineage_token[1]);
	free(c->lineage_token[2]);
	free(c->lineage);
	free(c->lineage_idents);
	free(c->spki);
	ck_secure_free(c->pkcs8, c->pkcs8_len + 1);
	free(c->uri);
}

static enum ck_code
read_cert(struct ck_store *st, int64_t id, struct copy_set *c, struct ck_err *err)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r, oom = 0;

	if ((rc = ck_store_cert_der(st, id, &c->der, &c->len, &c->chain, err)) != CK_OK)
		return rc;
	if ((rc = st_cert_parse(st, c->der, c->len, &c->chain, &c->info, &c->chain_verified,
				err)) != CK_OK)
		return rc;
	if ((rc = st_prepare_bind(st, err, &s,
				  "SELECT c.origin, c.alternates, c.created, l.name, l.identifiers, "
				  "l.key_type, (l.current_cert_id = c.id), c.key_id, "
				  "c.revoked_at, c.revoke_reason, l.profile, c.chain_selected, "
				  "l.preferred_chain, l.challenge, l.token_uri, l.token_module, "
				  "l.token_pin_file "
				  "FROM certificates c LEFT JOIN lineages l ON l.id = c.lineage_id "
				  "WHERE c.id = ?",
				  "i", id)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r == 1) {
		c->origin = st_col_dup(s, 0, &oom);
		c->alternates = st_col_dup(s, 1, &oom);
		c->created = (time_t)st_col_int64(s, 2);
		c->lineage = st_col_dup(s, 3, &oom);
		c->lineage_idents = st_col_dup(s, 4, &oom);
		st_col_copy(s, 5, c->lineage_key_type, sizeof(c->lineage_key_type));
		c->is_current = st_col_int(s, 6) == 1;
		c->key_id = st_col_int64(s, 7);
		c->revoked_at = (time_t)st_col_int64(s, 8);
		c->revoke_reason = st_col_dup(s, 9, &oom);
		c->lineage_profile = st_col_dup(s, 10, &oom);
		c->chain_selected = st_col_int64(s, 11);
		c->lineage_chain = st_col_dup(s, 12, &oom);
		c->lineage_challenge = st_col_dup(s, 13, &oom);
		c->lineage_token[0] = st_col_dup(s, 14, &oom);
		c->lineage_token[1] = st_col_dup(s, 15, &oom);
		c->lineage_token[2] = st_col_dup(s, 16, &oom);
	}
	st_finalize(s);
	if (r != 1)
		return r < 0 ? (err ? err->code : CK_ERR_STORE)
			     : CK_FAIL(err, CK_ERR_NOT_FOUND, "certificate vanished");
	return oom ? CK_OOM(err) : CK_OK;
}

/* Reads the key and checks it is the certificate's (recomputing both sides). */
static enum ck_code
read_key(struct ck_store *st, struct copy_set *c, struct ck_err *err)
{
	struct st_stmt *s = NULL;
	EVP_PKEY *k = NULL;
	char have[65], spki_hash[65];
	enum ck_code rc;
	int r, oom = 0;

	if ((rc = st_prepare_bind(st, err, &s,
				  "SELECT spki_der, pkcs8_der, pkcs11_uri, key_type, algorithm "
				  "FROM keys WHERE id = ?",
				  "i", c->key_id)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r == 1) {
		c->spki = st_col_blob(s, 0, &c->spki_len, &oom);
		if (!st_col_is_null(s, 1))
			rc = st_key_unseal(st, c->key_id, st_col_blob_ref(s, 1, NULL),
					   st_col_bytes(s, 1), &c->pkcs8, &c->pkcs8_len, err);
		c->uri = st_col_dup(s, 2, &oom);
		st_col_copy(s, 3, c->key_type, sizeof(c->key_type));
		st_col_copy(s, 4, c->algorithm, sizeof(c->algorithm));
	}
	st_finalize(s);
	if (r < 0)
		return err ? err->code : CK_ERR_STORE;
	if (oom)
		return CK_OOM(err);
	if (rc != CK_OK)
		return rc;
	if (r == 0 || c->spki == NULL) {
		c->key_id = 0;  /* linked to a key that is gone: treated as missing */
		return CK_OK;
	}
	if (c->pkcs8 != NULL) {
		if ((rc = ck_key_from_pkcs8_der(c->pkcs8, c->pkcs8_len, &k, err)) != CK_OK)
			return CK_FAIL(err, CK_ERR_CORRUPT, "the certificate's key cannot be read; "
				       "nothing was copied: run 'certkeep doctor'");
		rc = ck_key_spki_sha256(k, have, err);
		EVP_PKEY_free(k);
		if (rc != CK_OK)
			return rc;
	} else {
		ck_sha256_hex(c->spki, c->spki_len, have);
	}
	ck_sha256_hex(c->spki, c->spki_len, spki_hash);
	/* The destination records the key as proven (facts.c): its public part too. */
	if (strcmp(have, c->info.spki_sha256) != 0 || strcmp(have, spki_hash) != 0)
		return CK_FAIL(err, CK_ERR_CORRUPT,
			       "the certificate's stored key does not match it; nothing was copied: "
			       "run 'certkeep doctor'");
	return CK_OK;
}

/*
 * CK_OK if dst can sign with the key whose SPKI SHA-256 is spki without
 * the source: for a software source key (software != 0) dst's row for
 * spki must hold a PKCS#8 that loads and matches; for a token reference,
 * any row for spki will do.  Otherwise CK_ERR_STATE (or dst's error);
 * the message ends with `kept` (what the caller leaves as it was).  Reads
 * only.
 */
static enum ck_code
dst_holds_key(struct ck_store *dst, const char *spki, int software, const char *kept,
	      struct ck_err *err)
{
	EVP_PKEY *k = NULL;
	int64_t id = 0;
	enum ck_code rc;
	char *uri = NULL;

	rc = st_query_int(dst, err, &id, "SELECT id FROM keys WHERE spki_sha256 = ?", "t", spki);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_STATE, "refusing to move: the destination does not "
			       "hold the key (public key %.16s); %s", spki, kept);
	if (rc != CK_OK || !software)
		return rc;
	rc = ck_store_key_load(dst, id, &k, err);
	EVP_PKEY_free(k);
	if (rc == CK_ERR_KEY_NOT_EXPORTABLE) {
		struct ck_key_info ki;
		if (ck_store_key_info(dst, id, &ki, NULL) == CK_OK) {
			uri = ki.pkcs11_uri;
			ki.pkcs11_uri = NULL;
		}
		rc = CK_FAIL(err, CK_ERR_STATE,
			     "refusing to move: the destination holds this public key only as a "
			     "token reference (%.*s), so deleting the software key here would "
			     "leave no copy that can leave a token; %s (use 'certkeep copy' to "
			     "keep the software key in this store)",
			     COPY_URI_SHOWN, uri ? uri : "?", kept);
		free(uri);
	} else if (rc != CK_OK) {
		ck_err_prefix(err, "refusing to move: the destination's copy of the key is "
			      "unusable; %s", kept);
	}
	return rc;
}

static enum ck_code
write_dst(struct ck_store *dst, const struct copy_set *c, int move, struct ck_copy_result *res,
	  struct ck_err *err)
{
	struct st_key_raw k;
	struct st_cert_raw raw;
	int64_t key_id = 0, lin_id = 0, cid = 0, cur = 0, is_ref = 0;
	enum ck_code rc;

	if (c->key_id > 0) {
		memset(&k, 0, sizeof(k));
		k.spki_der = c->spki;
		k.spki_len = c->spki_len;
		k.pkcs8 = c->pkcs8;
		k.pkcs8_len = c->pkcs8_len;
		k.pkcs11_uri = c->uri;
		k.key_type = c->key_type;
		k.algorithm = c->algorithm;
		if ((rc = st_key_put_tx(dst, &k, &key_id, NULL, err)) != CK_OK)
			return rc;
		if (move && (rc = dst_holds_key(dst, c->info.spki_sha256, c->pkcs8 != NULL,
						"nothing was changed", err)) != CK_OK)
			return rc;
		CK_FAULT("store.copy.key");
	}
	if (c->lineage != NULL &&
	    (rc = st_lineage_ensure_tx(dst, c->lineage, c->lineage_idents, c->lineage_key_type,
				       &lin_id, err)) != CK_OK)
		return rc;
	rc = st_query_int(dst, err, &cid, "SELECT id FROM certificates WHERE sha256 = ?", "t",
			  c->info.sha256);
	if (rc == CK_OK) {
		res->already_present = 1;
		/* st_key_put_tx linked it if it was labelled. */
		rc = st_query_int(dst, err, &cur, "SELECT key_id FROM certificates WHERE id = ?",
				  "i", cid);
		if (rc == CK_ERR_NOT_FOUND)
			rc = CK_OK;
	} else if (rc == CK_ERR_NOT_FOUND) {
		memset(&raw, 0, sizeof(raw));
		raw.der = c->der;
		raw.len = c->len;
		raw.info = &c->info;
		raw.chain = &c->chain;
		raw.origin = c->origin;
		raw.alternates = c->alternates;
		raw.key_id = key_id;
		raw.lineage_id = lin_id;
		raw.created = c->created;
		raw.chain_verified = c->chain_verified;
		rc = st_cert_insert_tx(dst, &raw, &cid, err);
		if (rc == CK_OK && c->chain_selected != 0)
			rc = st_exec(dst, err, NULL, "UPDATE certificates SET chain_selected = ? "
				     "WHERE id = ?", "ii", c->chain_selected, cid);
		cur = key_id;
	}
	if (rc != CK_OK)
		return rc;
	if (lin_id > 0 && (c->is_current || !res->already_present)) {
		rc = st_exec(dst, err, NULL,
			     "UPDATE lineages SET current_cert_id = ? WHERE id = ? AND "
			     "(? OR current_cert_id IS NULL)",
			     "iii", cid, lin_id, (int64_t)c->is_current);
		if (rc != CK_OK)
			return rc;
	}
	/* What the store learnt about the certificate travels with it: a copy
	 * must not make a revoked certificate look deployable, nor a lineage
	 * forget the profile, the chain, the challenge settings or the token its renewals
	 * use.  A destination's own record is kept (the first revocation record
	 * stands). */
	if (c->revoked_at != 0 &&
	    (rc = st_exec(dst, err, NULL,
			  "UPDATE certificates SET revoked_at = ?, revoke_reason = ? "
			  "WHERE id = ? AND revoked_at IS NULL",
			  "iti", (int64_t)c->revoked_at, c->revoke_reason, cid)) != CK_OK)
		return rc;
	if (lin_id > 0 && c->lineage_profile != NULL &&
	    (rc = st_exec(dst, err, NULL,
			  "UPDATE lineages SET profile = ? WHERE id = ? AND profile IS NULL",
			  "ti", c->lineage_profile, lin_id)) != CK_OK)
		return rc;
	if (lin_id > 0 && c->lineage_chain != NULL &&
	    (rc = st_exec(dst, err, NULL,
			  "UPDATE lineages SET preferred_chain = ? WHERE id = ? AND "
			  "preferred_chain IS NULL", "ti", c->lineage_chain, lin_id)) != CK_OK)
		return rc;
	if (lin_id > 0 && c->lineage_challenge != NULL &&
	    (rc = st_exec(dst, err, NULL,
			  "UPDATE lineages SET challenge = ? WHERE id = ? AND challenge IS NULL",
			  "ti", c->lineage_challenge, lin_id)) != CK_OK)
		return rc;
	if (lin_id > 0 && c->lineage_token[0] != NULL &&
	    (rc = st_exec(dst, err, NULL,
			  "UPDATE lineages SET token_uri = ?, token_module = ?, token_pin_file = ? "
			  "WHERE id = ? AND token_uri IS NULL", "ttti", c->lineage_token[0],
			  c->lineage_token[1], c->lineage_token[2], lin_id)) != CK_OK)
		return rc;
	CK_FAULT("store.copy.cert");
	if ((rc = st_generation_bump_tx(dst, err)) != CK_OK)
		return rc;
	res->dst_cert_id = cid;
	res->dst_key_id = cur;
	/* What the destination holds, which may be a reference it had already. */
	if (key_id > 0 && (rc = st_query_int(dst, err, &is_ref, "SELECT pkcs8_der IS NULL FROM "
					     "keys WHERE id = ?", "i", key_id)) != CK_OK)
		return rc;
	res->key_is_token = is_ref != 0;
	return CK_OK;
}

static enum ck_code
same_file(const struct ck_store *a, const struct ck_store *b, struct ck_err *err)
{
	struct stat sa, sb;

	/* A database server's store is named by its connection string, not a file. */
	if (a == b || strcmp(a->path, b->path) == 0 ||
	    (stat(a->path, &sa) == 0 && stat(b->path, &sb) == 0 && sa.st_dev == sb.st_dev &&
	     sa.st_ino == sb.st_ino))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "the destination is the same store as the source");
	return CK_OK;
}

/* What write_body writes into the destination, and what it reports. */
struct write_args {
	const struct copy_set *c;
	int move;
	struct ck_copy_result res;   /* OUT */
};

static enum ck_code
write_body(struct ck_store *dst, void *arg, struct ck_err *err)
{
	struct write_args *a = arg;

	memset(&a->res, 0, sizeof(a->res));
	return write_dst(dst, a->c, a->move, &a->res, err);
}

/* Copy; for a move (move != 0) refused unless dst then holds the key itself. */
static enum ck_code
copy_cert(struct ck_store *src, int64_t cert_id, struct ck_store *dst, unsigned flags, int move,
	  struct ck_copy_result *out, struct ck_err *err)
{
	struct write_args w;
	struct copy_set c;
	enum ck_code rc;

	memset(&c, 0, sizeof(c));
	memset(&w, 0, sizeof(w));
	if ((rc = same_file(src, dst, err)) != CK_OK)
		return rc;
	if ((rc = read_cert(src, cert_id, &c, err)) != CK_OK)
		goto out;
	if (c.key_id > 0 && (rc = read_key(src, &c, err)) != CK_OK)
		goto out;
	if (c.key_id == 0 && !(flags & CK_STORE_COPY_NO_KEY)) {
		rc = CK_FAIL(err, CK_ERR_KEY_MISSING,
			     "certificate %.16s has no private key in this store; copying it alone "
			     "makes the state Windows reports as 'Keyset does not exist'; nothing "
			     "was copied (use --no-key to copy the certificate alone)",
			     c.info.sha256);
		goto out;
	}
	w.c = &c;
	w.move = move;
	if ((rc = st_tx_run(dst, err, "store.copy", write_body, &w)) == CK_OK && out != NULL)
		*out = w.res;
out:
	copy_set_cleanup(&c);
	return rc;
}

enum ck_code
ck_store_cert_copy(struct ck_store *src, int64_t cert_id, struct ck_store *dst, unsigned flags,
		   struct ck_copy_result *out, struct ck_err *err)
{
	return copy_cert(src, cert_id, dst, flags, 0, out, err);
}

/* The source key's SPKI SHA-256 and whether it is a software key (PKCS#8 here). */
static enum ck_code
src_key_kind(struct ck_store *src, int64_t key_id, char spki[65], int *software,
	     struct ck_err *err)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r;

	if ((rc = st_prepare_bind(src, err, &s,
				  "SELECT spki_sha256, pkcs8_der IS NOT NULL FROM keys WHERE id = ?",
				  "i", key_id)) != CK_OK)
		return rc;
	r = st_step(src, s, err);
	if (r < 0)
		rc = err ? err->code : CK_ERR_STORE;
	else if (r == 0)
		rc = CK_ERR_NOT_FOUND;
	else {
		st_col_copy(s, 0, spki, 65);
		*software = st_col_int(s, 1);
	}
	st_finalize(s);
	return rc;
}

/*
 * Deletes the key from src (in src's open transaction) if nothing else
 * there uses it, after checking that dst holds it.  The caller holds
 * dst's write lock, so dst's key cannot go between the check and src's
 * commit.
 */
static enum ck_code
remove_source_key(struct ck_store *src, struct ck_store *dst, int64_t key_id,
		  struct ck_err *err)
{
	char spki[65];
	enum ck_code rc;
	int used = 0, software = 0;

	if ((rc = st_key_used(src, key_id, &used, NULL, 0, err)) != CK_OK || used)
		return rc;
	rc = src_key_kind(src, key_id, spki, &software, err);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_OK;
	if (rc != CK_OK || (rc = dst_holds_key(dst, spki, software,
					       "the source keeps the certificate and its key",
					       err)) != CK_OK)
		return rc;
	CK_FAULT("store.move.src_verified");
	if ((rc = st_key_delete_tx(src, key_id, NULL, err)) != CK_OK)
		return rc;
	st_wal_scrub(src);
	return CK_OK;
}

/*
 * Removes the certificate (and its key when unused) from src, in one src
 * transaction, while holding dst's write lock (an empty transaction,
 * rolled back at the end).  Two moves in opposite directions at once may
 * wait on each other's lock until CK_STORE_BUSY_MS: then both fail with
 * the certificate in both stores, never in neither.
 */
static enum ck_code
remove_source(struct ck_store *src, struct ck_store *dst, int64_t cert_id, int64_t key_id,
	      struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_begin(dst, err)) != CK_OK)
		return rc;
	if ((rc = st_begin(src, err)) != CK_OK)
		goto out;
	CK_FAULT("store.move.src_begin");
	if ((rc = st_cert_check_unbound_tx(src, cert_id, "move", err)) != CK_OK)
		goto out;
	if ((rc = st_cert_delete_tx(src, cert_id, err)) != CK_OK)
		goto out;
	CK_FAULT("store.move.src_cert");
	if (key_id > 0) {
		if ((rc = remove_source_key(src, dst, key_id, err)) != CK_OK)
			goto out;
		CK_FAULT("store.move.src_key");
	}
	CK_FAULT("store.move.src_commit");
	rc = st_commit(src, err);
out:
	st_rollback(src);
	st_rollback(dst);
	return rc;
}

enum ck_code
ck_store_cert_move(struct ck_store *src, int64_t cert_id, struct ck_store *dst, unsigned flags,
		   struct ck_copy_result *out, struct ck_err *err)
{
	struct ck_copy_result res;
	int64_t key_id = 0;
	enum ck_code rc;

	if ((rc = st_cert_check_unbound_tx(src, cert_id, "move", err)) != CK_OK)
		return rc;
	rc = st_query_int(src, err, &key_id, "SELECT key_id FROM certificates WHERE id = ?", "i",
			  cert_id);
	if (rc != CK_OK && rc != CK_ERR_NOT_FOUND)
		return rc;
	if ((rc = copy_cert(src, cert_id, dst, flags, 1, &res, err)) != CK_OK)
		return rc;
	CK_FAULT("store.move.copied");
	if ((rc = remove_source(src, dst, cert_id, key_id, err)) != CK_OK) {
		ck_err_prefix(err, "copied to the destination but not removed from the source "
			      "(it is now in both)");
		return rc;
	}
	CK_FAULT("store.move.done");
	if (out != NULL)
		*out = res;
	return CK_OK;
}
