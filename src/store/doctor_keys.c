/*
 * doctor_keys.c - what one doctor (or repair) run learns about keys: each
 * key's real public key, recomputed from its stored PKCS#8 once per run
 * and remembered by key id, so a store of n certificates costs n key
 * decodes, not 2n (every certificate's link and every key's own check ask
 * for it).  Decoding goes through a crypto key reader (one set of OpenSSL
 * decoders for the whole run); what the reader cannot prove sound is
 * decided the slow, one-key-at-a-time way, exactly as before.  The run
 * also holds a chain checker (crypto): each distinct chain certificate is
 * parsed once per run.
 *
 * Must never: trust the spki_sha256 column, keep a decoded private key,
 * outlive the run's read snapshot (facts are only good inside it).
 */
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

/*
 * Recomputes the real SPKI of the key in row s (spki_der, pkcs8_der,
 * spki_sha256), opening a sealed key first.  A sealed store opened
 * without its key cannot check the private part: the stored SPKI stands.
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
		rc = st_key_unseal(st, f->id, st_col_blob_ref(s, 1, NULL), st_col_bytes(s, 1), &p8,
				   &p8_len, NULL);
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
	if ((rc = st_prepare_bind(st, err, &s,
				  "SELECT spki_der, pkcs8_der, spki_sha256 FROM keys WHERE id = ?",
				  "i", key_id)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r == 1)
		keys_compute(st, k, s, &f);
	st_finalize(s);
	if (r < 0)
		return err ? err->code : CK_ERR_STORE;
	keys_remember(k, &f);
done:
	memcpy(out, f.actual, sizeof(f.actual));
	*exists = f.exists;
	*corrupt = f.corrupt;
	return CK_OK;
}
