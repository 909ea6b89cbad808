/*
 * doctor_keys.c - what one doctor (or repair) run learns about keys: each
 * key's real public key, recomputed from its stored PKCS#8 once per run
 * and remembered by key id, so a store of n certificates costs n key
 * decodes, not 2n (every certificate's link and every key's own check ask
 * for it).  Decoding goes through a crypto key reader (one set of OpenSSL
 * decoders for the whole run); what the reader cannot prove sound is
 * decided the slow, one-key-at-a-time way, exactly as before.  The run
 * also holds a chain checker (crypto): each distinct chain certificate is
 * parsed once per run.  A key whose stored bytes still have the digest of
 * a verified fact (facts.c) is not opened at all unless the run is --full:
 * its public key is the fact's.  The run's two per-row look-ups (a key,
 * a chain) are prepared once and reused.
 *
 * Must never: trust the spki_sha256 column, keep a decoded private key,
 * outlive the run's read snapshot (facts are only good inside it).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "store/doctor_int.h"

/* What is known about one key; id 0 marks an empty slot. */
struct dr_key_fact {
	int64_t id;
	char actual[65];
	unsigned char exists, corrupt;
};

enum ck_code
dr_keys_init(struct dr_keys *k, struct ck_err *err)
{
	enum ck_code rc;

	memset(k, 0, sizeof(*k));
	if ((rc = ck_key_reader_new(&k->reader, err)) != CK_OK ||
	    (rc = ck_chain_checker_new(&k->chains, err)) != CK_OK)
		dr_keys_cleanup(k);
	return rc;
}

void
dr_keys_cleanup(struct dr_keys *k)
{
	if (k == NULL)
		return;
	st_finalize(k->key_stmt);
	st_finalize(k->chain_stmt);
	ck_key_reader_free(k->reader);
	ck_chain_checker_free(k->chains);
	free(k->slots);
	memset(k, 0, sizeof(*k));
}

/* The slot for id: the one holding it, or the empty one where it goes. */
static struct dr_key_fact *
keys_slot(struct dr_key_fact *slots, size_t cap, int64_t id)
{
	size_t i = ((uint64_t)id * 0x9e3779b97f4a7c15ULL) & (cap - 1);

	while (slots[i].id != 0 && slots[i].id != id)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

/* Remembers f (best effort: a failed allocation only costs a later decode). */
static void
keys_remember(struct dr_keys *k, const struct dr_key_fact *f)
{
	struct dr_key_fact *grown;
	size_t ncap, i;

	if (f->id <= 0)
		return;
	if ((k->n + 1) * 2 > k->cap) {
		ncap = k->cap ? k->cap * 2 : 256;
		if ((grown = calloc(ncap, sizeof(*grown))) == NULL)
			return;
		for (i = 0; i < k->cap; i++)
			if (k->slots[i].id != 0)
				*keys_slot(grown, ncap, k->slots[i].id) = k->slots[i];
		free(k->slots);
		k->slots = grown;
		k->cap = ncap;
	}
	*keys_slot(k->slots, k->cap, f->id) = *f;
	k->n++;
}

/* 1 if row s (a software key) has a verified fact for its stored bytes
 * as they are now (columns 3, 4: the fact's digest and public key). */
static int
keys_fact_holds(const struct dr_keys *k, struct st_stmt *s, char fact_spki[65])
{
	char digest[65], want[65];

	if (k->full || st_col_is_null(s, 1) || st_col_is_null(s, 3))
		return 0;
	st_col_copy(s, 3, want, sizeof(want));
	ck_sha256_hex(st_col_blob_ref(s, 1, NULL), st_col_bytes(s, 1), digest);
	if (strcmp(digest, want) != 0)
		return 0;
	st_col_copy(s, 4, fact_spki, 65);
	return 1;
}

/*
 * Recomputes the real SPKI of the key in row s (spki_der, pkcs8_der,
 * spki_sha256, fact digest, fact SPKI), opening a sealed key first, or
 * takes it from the fact for exactly these stored bytes.  A sealed store
 * opened without its key cannot check the private part: the stored SPKI
 * stands.
 */
static void
keys_compute(struct ck_store *st, struct dr_keys *k, struct st_stmt *s, struct dr_key_fact *f)
{
	const unsigned char *spki = st_col_blob_ref(s, 0, NULL);
	size_t spki_len = st_col_bytes(s, 0), p8_len = 0;
	unsigned char *p8 = NULL;
	EVP_PKEY *key = NULL;
	char spki_hash[65], col[65];
	enum ck_code rc = CK_OK;

	f->exists = 1;
	ck_sha256_hex(spki, spki_len, spki_hash);
	st_col_copy(s, 2, col, sizeof(col));
	if (!st_col_is_null(s, 1))
		k->stats.keys++;
	if (keys_fact_holds(k, s, f->actual)) {
		f->corrupt = strcmp(f->actual, spki_hash) != 0 || strcmp(f->actual, col) != 0;
		return;
	}
	if (!st_col_is_null(s, 1)) {
		k->stats.keys_recomputed++;
		rc = st_key_unseal(st, f->id, st_col_blob_ref(s, 1, NULL), st_col_bytes(s, 1), &p8,
				   &p8_len, NULL);
	}
	if (st_col_is_null(s, 1) || rc == CK_ERR_KEY_MISSING ||
	    (rc == CK_OK && ck_key_reader_matches(k->reader, p8, p8_len, spki, spki_len))) {
		/* A token key's public part is the stored SPKI; a software key
		 * proven to have exactly that public key is that SPKI too. */
		memcpy(f->actual, spki_hash, sizeof(spki_hash));
		f->corrupt = strcmp(col, spki_hash) != 0;
		goto out;
	}
	if (rc != CK_OK || ck_key_from_pkcs8_der(p8, p8_len, &key, NULL) != CK_OK ||
	    ck_key_spki_sha256(key, f->actual, NULL) != CK_OK) {
		f->actual[0] = '\0';
		f->corrupt = 1;
	} else {
		f->corrupt = strcmp(f->actual, spki_hash) != 0 || strcmp(f->actual, col) != 0;
	}
	EVP_PKEY_free(key);
out:
	ck_secure_free(p8, p8_len + 1);
}

/* Binds fmt's values to s (st_bind with a variable argument list). */
static enum ck_code
stmt_bind(struct ck_store *st, struct st_stmt *s, struct ck_err *err, const char *fmt, ...)
{
	enum ck_code rc;
	va_list ap;

	va_start(ap, fmt);
	rc = st_bind(st, s, fmt, ap, err);
	va_end(ap);
	return rc;
}

enum ck_code
dr_stmt_run(struct ck_store *st, struct st_stmt **s, const char *sql, int64_t id,
	    struct ck_err *err)
{
	enum ck_code rc;

	if (*s == NULL)
		return st_prepare_bind(st, err, s, sql, "i", id);
	if ((rc = st_reset(st, *s, err)) != CK_OK)
		return rc;
	return stmt_bind(st, *s, err, "i", id);
}

enum ck_code
dr_key_actual_spki(struct ck_store *st, struct dr_keys *k, int64_t key_id, char out[65],
		   int *exists, int *corrupt, struct ck_err *err)
{
	struct dr_key_fact f, *hit;
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r;

	if (k->cap > 0 && (hit = keys_slot(k->slots, k->cap, key_id))->id == key_id) {
		f = *hit;
		goto done;
	}
	memset(&f, 0, sizeof(f));
	f.id = key_id;
	if ((rc = dr_stmt_run(st, &k->key_stmt,
			      "SELECT k.spki_der, k.pkcs8_der, k.spki_sha256, f.digest, "
			      "f.spki_sha256 FROM keys k LEFT JOIN facts f ON f.key_id = k.id AND "
			      "f.kind = 'key' WHERE k.id = ?",
			      key_id, err)) != CK_OK)
		return rc;
	s = k->key_stmt;
	r = st_step(st, s, err);
	if (r == 1)
		keys_compute(st, k, s, &f);
	if (r < 0)
		return err ? err->code : CK_ERR_STORE;
	(void)st_reset(st, s, NULL); /* no statement left open inside the snapshot */
	keys_remember(k, &f);
done:
	memcpy(out, f.actual, sizeof(f.actual));
	*exists = f.exists;
	*corrupt = f.corrupt;
	return CK_OK;
}
