/*
 * facts.c - verified facts, keyed by the SHA-256 of the exact bytes they
 * were proven from (table facts, migration 16; docs/store.md, "Verified
 * facts").  The code that already parses a certificate or key on its way
 * into the store records what doctor would otherwise recompute on every
 * run: a certificate's SPKI and notAfter, and whether its stored chain
 * verified (by the digest of that chain); a software key's real public
 * key (by the digest of its stored bytes, sealed or clear).  Doctor hashes
 * the stored bytes again and trusts a fact only when the digest matches,
 * so changed bytes are always recomputed.
 *
 * Must never: record a fact that was not proven from those exact bytes,
 * digest a sealed key's clear PKCS#8 (only what is stored), write outside
 * the caller's transaction.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "store/store_int.h"

void
st_facts_chain_digest(const struct ck_der_list *chain, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c;
	size_t i;
	int ok;

	out[0] = '\0';
	if (chain == NULL || chain->n == 0 || (c = EVP_MD_CTX_new()) == NULL)
		return;
	/* DER is self-delimiting: the concatenation names one list only. */
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
	for (i = 0; ok && i < chain->n; i++)
		ok = EVP_DigestUpdate(c, chain->items[i].data, chain->items[i].len) == 1;
	if (ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1)
		ck_hex_encode(md, mdlen, out, 65);
	EVP_MD_CTX_free(c);
}

/* Inserts or replaces the fact for digest (text columns may be NULL). */
static enum ck_code
facts_put(struct ck_store *st, const char *digest, const char *kind, int64_t key_id,
	  const char *spki, const char *chain, int64_t not_after, struct ck_err *err)
{
	return st_exec(st, err, NULL,
		       "INSERT INTO facts (digest, kind, key_id, spki_sha256, chain_sha256, "
		       "not_after, created) VALUES (?, ?, ?, ?, ?, ?, ?) "
		       "ON CONFLICT (digest) DO UPDATE SET kind = excluded.kind, "
		       "key_id = excluded.key_id, spki_sha256 = excluded.spki_sha256, "
		       "chain_sha256 = excluded.chain_sha256, not_after = excluded.not_after, "
		       "created = excluded.created",
		       "ttIttIi", digest, kind, key_id, spki, chain, not_after,
		       (int64_t)st_now(st));
}

/* The fact of certificate der; chain_ok: its chain verified link by link. */
static enum ck_code
facts_put_cert(struct ck_store *st, const unsigned char *der, size_t len,
	       const struct ck_cert_info *info, const struct ck_der_list *chain, int chain_ok,
	       struct ck_err *err)
{
	char digest[65], chain_digest[65];
	const char *verified = NULL;

	ck_sha256_hex(der, len, digest);
	if (chain_ok && chain != NULL && chain->n > 0) {
		st_facts_chain_digest(chain, chain_digest);
		verified = chain_digest[0] ? chain_digest : NULL;
	}
	return facts_put(st, digest, "cert", 0, info->spki_sha256, verified,
			 (int64_t)info->not_after, err);
}

enum ck_code
st_cert_parse(struct ck_store *st, const unsigned char *der, size_t len,
	      const struct ck_der_list *chain, struct ck_cert_info *info, int *chain_verified,
	      struct ck_err *err)
{
	enum ck_code rc, chain_rc = CK_ERR_PARSE;

	*chain_verified = 0;
	/* Without a checker (out of memory) the certificate is still read;
	 * its chain is then only not recorded as verified. */
	if (st->facts_chains == NULL && ck_chain_checker_new(&st->facts_chains, NULL) != CK_OK)
		return ck_cert_info_from_der(der, len, info, err);
	rc = ck_chain_checker_cert(st->facts_chains, der, len, chain, info, &chain_rc, NULL, err);
	*chain_verified = rc == CK_OK && chain != NULL && chain->n > 0 && chain_rc == CK_OK;
	return rc;
}

enum ck_code
st_facts_cert_tx(struct ck_store *st, const unsigned char *der, size_t len,
		 const struct ck_cert_info *info, const struct ck_der_list *chain,
		 int chain_verified, struct ck_err *err)
{
	return facts_put_cert(st, der, len, info, chain, chain_verified, err);
}

enum ck_code
st_facts_key_tx(struct ck_store *st, int64_t key_id, const char *spki_sha256,
		struct ck_err *err)
{
	struct st_stmt *s = NULL;
	char digest[65];
	enum ck_code rc;
	int r;

	if ((rc = st_prepare_bind(st, err, &s, "SELECT pkcs8_der FROM keys WHERE id = ?", "i",
				  key_id)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	digest[0] = '\0';
	if (r == 1 && !st_col_is_null(s, 0))
		ck_sha256_hex(st_col_blob_ref(s, 0, NULL), st_col_bytes(s, 0), digest);
	st_finalize(s);
	if (r < 0)
		return err ? err->code : CK_ERR_STORE;
	if (digest[0] == '\0')
		return CK_OK; /* a token key: nothing private is stored to prove */
	/* One fact per key row: a re-sealed or replaced row's old fact goes. */
	if ((rc = st_facts_forget_key_tx(st, key_id, err)) != CK_OK)
		return rc;
	return facts_put(st, digest, "key", key_id, spki_sha256, NULL, 0, err);
}

enum ck_code
st_facts_forget_key_tx(struct ck_store *st, int64_t key_id, struct ck_err *err)
{
	return st_exec(st, err, NULL, "DELETE FROM facts WHERE kind = 'key' AND key_id = ?", "i",
		       key_id);
}

enum ck_code
st_facts_forget_cert_tx(struct ck_store *st, int64_t cert_id, struct ck_err *err)
{
	return st_exec(st, err, NULL, "DELETE FROM facts WHERE kind = 'cert' AND digest = "
		       "(SELECT sha256 FROM certificates WHERE id = ?)", "i", cert_id);
}

enum ck_code
st_facts_key_moved_tx(struct ck_store *st, int64_t key_id, const char *was,
		      const unsigned char *now, size_t now_len, struct ck_err *err)
{
	char is[65];

	ck_sha256_hex(now, now_len, is);
	return st_exec(st, err, NULL, "UPDATE facts SET digest = ? WHERE digest = ? AND "
		       "kind = 'key' AND key_id = ?", "tti", is, was, key_id);
}

/* Ids of the rows a query lists (st_row_visit): column 0. */
struct facts_ids {
	int64_t *v;
	size_t cap, n;
};

static enum ck_code
facts_collect(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	struct facts_ids *ids = arg;
	char digest[65], want[65];
	enum ck_code rc;

	(void)st;
	/* Column 1: the stored bytes; 2: the digest of the fact they may have. */
	if (!st_col_is_null(s, 2)) {
		st_col_copy(s, 2, want, sizeof(want));
		ck_sha256_hex(st_col_blob_ref(s, 1, NULL), st_col_bytes(s, 1), digest);
		if (strcmp(digest, want) == 0)
			return CK_OK;
	}
	if ((rc = st_list_reserve(&ids->v, &ids->cap, ids->n, sizeof(*ids->v), "rows",
				  err)) != CK_OK)
		return rc;
	ids->v[ids->n++] = st_col_int64(s, 0);
	return CK_OK;
}

/* What one repair's recording reuses: chain certificates parsed and links
 * verified once (a store's leaves share a few issuers), key decoders built
 * once. */
struct facts_run {
	struct ck_chain_checker *chains;
	struct ck_key_reader *reader;
};

/* Records the fact of certificate id if its DER parses (*done += 1). */
static enum ck_code
facts_record_cert(struct ck_store *st, struct facts_run *run, int64_t id, size_t *done,
		  struct ck_err *err)
{
	struct ck_der_list chain = { NULL, 0 };
	struct ck_cert_info info;
	unsigned char *der = NULL;
	size_t len = 0;
	enum ck_code rc, chain_rc = CK_OK;

	memset(&info, 0, sizeof(info));
	if ((rc = ck_store_cert_der(st, id, &der, &len, &chain, err)) != CK_OK)
		return rc;
	if (ck_chain_checker_cert(run->chains, der, len, &chain, &info, &chain_rc, NULL,
				  NULL) == CK_OK) {
		rc = facts_put_cert(st, der, len, &info, &chain, chain_rc == CK_OK, err);
		*done += rc == CK_OK;
	}
	ck_cert_info_cleanup(&info);
	ck_der_list_cleanup(&chain);
	free(der);
	return rc;
}

/* Records the fact of software key id if it opens, decodes and has the
 * public key stored with it (*done += 1); a corrupt key gets none. */
static enum ck_code
facts_record_key(struct ck_store *st, struct facts_run *run, int64_t id, size_t *done,
		 struct ck_err *err)
{
	struct st_stmt *s = NULL;
	unsigned char *p8 = NULL;
	size_t p8_len = 0;
	EVP_PKEY *key = NULL;
	char actual[65], decoded[65];
	enum ck_code rc;
	int r, sound = 0;

	if ((rc = st_prepare_bind(st, err, &s, "SELECT pkcs8_der, spki_der FROM keys WHERE id = ?",
				  "i", id)) != CK_OK)
		return rc;
	/* Sound only if the private key is proven to have the stored public key:
	 * by the reader's reused decoders, else decoded the one-at-a-time way. */
	if ((r = st_step(st, s, err)) == 1 && !st_col_is_null(s, 0) &&
	    st_key_unseal(st, id, st_col_blob_ref(s, 0, NULL), st_col_bytes(s, 0), &p8, &p8_len,
			  NULL) == CK_OK) {
		ck_sha256_hex(st_col_blob_ref(s, 1, NULL), st_col_bytes(s, 1), actual);
		if (ck_key_reader_matches(run->reader, p8, p8_len, st_col_blob_ref(s, 1, NULL),
					  st_col_bytes(s, 1)))
			sound = 1;
		else if (ck_key_from_pkcs8_der(p8, p8_len, &key, NULL) == CK_OK &&
			 ck_key_spki_sha256(key, decoded, NULL) == CK_OK)
			sound = strcmp(decoded, actual) == 0;
	}
	st_finalize(s);
	EVP_PKEY_free(key);
	ck_secure_free(p8, p8_len + 1);
	if (r < 0)
		return err ? err->code : CK_ERR_STORE;
	if (!sound)
		return CK_OK;
	if ((rc = st_facts_key_tx(st, id, actual, err)) == CK_OK)
		(*done)++;
	return rc;
}

enum ck_code
st_facts_record_missing_tx(struct ck_store *st, size_t *certs, size_t *keys, struct ck_err *err)
{
	struct facts_ids c = { NULL, 0, 0 }, k = { NULL, 0, 0 };
	struct facts_run run = { NULL, NULL };
	enum ck_code rc;
	size_t i;

	*certs = *keys = 0;
	if ((rc = ck_chain_checker_new(&run.chains, err)) != CK_OK ||
	    (rc = ck_key_reader_new(&run.reader, err)) != CK_OK)
		goto out;
	/* The ids first: no statement over a table stays open while facts changes. */
	rc = st_each_row(st, err, facts_collect, &c,
			 "SELECT c.id, c.der, f.digest FROM certificates c LEFT JOIN facts f "
			 "ON f.digest = c.sha256 AND f.kind = 'cert' ORDER BY c.id", "");
	if (rc == CK_OK)
		rc = st_each_row(st, err, facts_collect, &k,
				 "SELECT k.id, k.pkcs8_der, f.digest FROM keys k LEFT JOIN facts f "
				 "ON f.key_id = k.id AND f.kind = 'key' "
				 "WHERE k.pkcs8_der IS NOT NULL ORDER BY k.id", "");
	for (i = 0; rc == CK_OK && i < c.n; i++)
		rc = facts_record_cert(st, &run, c.v[i], certs, err);
	for (i = 0; rc == CK_OK && i < k.n; i++)
		rc = facts_record_key(st, &run, k.v[i], keys, err);
out:
	ck_chain_checker_free(run.chains);
	ck_key_reader_free(run.reader);
	free(c.v);
	free(k.v);
	return rc;
}
