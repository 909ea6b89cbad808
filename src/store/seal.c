/*
 * seal.c - private keys at rest sealed with AES-256-GCM under a node key.
 *
 * A sealed blob (keys.pkcs8_der) is
 *   "CKS" | version (1 byte, 1) | nonce (12 bytes) | ciphertext | tag (16 bytes)
 * where ciphertext is the PKCS#8 DER encrypted with AES-256-GCM under the
 * node key, with associated data "CKS" | version | the key's row id as 8
 * bytes big-endian: a blob moved to another row does not open.  The
 * settings table says whether the store is sealed (ST_SEAL_SETTING) and
 * holds a key-check value (HMAC-SHA256 of a fixed label under the node
 * key, ST_SEAL_CHECK_SETTING) so a wrong key is refused at open.
 *
 * Must never: write a plaintext PKCS#8 into a sealed store, log or keep
 * the node key or a plaintext outside a buffer wiped after use, reuse a
 * nonce (each seal draws 96 random bits).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "store/store_int.h"

#define SEAL_MAGIC "CKS"
#define SEAL_VERSION 1
#define SEAL_HDR 4                /* magic + version */
#define SEAL_NONCE 12
#define SEAL_TAG 16
#define SEAL_AAD (SEAL_HDR + 8)
#define SEAL_KEYFILE_MAX 128      /* 64 hex digits and a newline, or 32 raw bytes */
#define SEAL_CHECK_LABEL "certkeep store key check v1"

/* The associated data of the blob for row id. */
static void
seal_aad(int64_t id, unsigned char aad[SEAL_AAD])
{
	uint64_t v = (uint64_t)id;
	int i;

	memcpy(aad, SEAL_MAGIC, 3);
	aad[3] = SEAL_VERSION;
	for (i = 0; i < 8; i++)
		aad[SEAL_HDR + i] = (unsigned char)(v >> (56 - 8 * i));
}

/* Decodes the key file's bytes (32 raw, or 64 hex digits and an optional newline). */
static int
seal_key_decode(const unsigned char *d, size_t n, unsigned char key[ST_SEAL_KEY_LEN])
{
	size_t i;

	if (n == ST_SEAL_KEY_LEN) {
		memcpy(key, d, ST_SEAL_KEY_LEN);
		return 0;
	}
	while (n > 0 && (d[n - 1] == '\n' || d[n - 1] == '\r'))
		n--;
	if (n != 2 * ST_SEAL_KEY_LEN)
		return -1;
	for (i = 0; i < n; i++)
		if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f') ||
		      (d[i] >= 'A' && d[i] <= 'F')))
			return -1;
	for (i = 0; i < ST_SEAL_KEY_LEN; i++) {
		char pair[3] = { (char)d[2 * i], (char)d[2 * i + 1], '\0' };
		key[i] = (unsigned char)strtol(pair, NULL, 16);
	}
	return 0;
}

enum ck_code
ck_store_key_file_read(const char *path, unsigned char key[ST_SEAL_KEY_LEN], struct ck_err *err)
{
	unsigned char buf[SEAL_KEYFILE_MAX + 1];
	struct stat sb;
	size_t n = 0;
	ssize_t r;
	enum ck_code rc = CK_ERR_IO;
	int fd;

	if (path == NULL || path[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no store key file given");
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return CK_FAIL(err, errno == ENOENT ? CK_ERR_NOT_FOUND : CK_ERR_IO,
			       "cannot open the store key file %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
	    (sb.st_mode & 077) != 0) {
		rc = CK_FAIL(err, CK_ERR_PERMISSION,
			     "the store key file %s must be a regular file owned by you with "
			     "mode 0600 (or 0400); it was not used", path);
		goto out;
	}
	while (n < sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = CK_FAIL(err, CK_ERR_IO, "cannot read the store key file %s: %s", path,
				     strerror(errno));
			goto out;
		}
		n += (size_t)r;
	}
	if (n > SEAL_KEYFILE_MAX || seal_key_decode(buf, n, key) != 0) {
		rc = CK_FAIL(err, CK_ERR_PARSE,
			     "the store key file %s must hold 32 random bytes, or 64 hex digits "
			     "(e.g. made by 'openssl rand -hex 32')", path);
		goto out;
	}
	rc = CK_OK;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return rc;
}

/* The key-check value of key: hex HMAC-SHA256 of SEAL_CHECK_LABEL. */
static enum ck_code
seal_check_value(const unsigned char key[ST_SEAL_KEY_LEN], char out[65], struct ck_err *err)
{
	unsigned char mac[32];
	unsigned int len = 0;
	static const char hex[] = "0123456789abcdef";
	int i;

	if (HMAC(EVP_sha256(), key, ST_SEAL_KEY_LEN, (const unsigned char *)SEAL_CHECK_LABEL,
		 strlen(SEAL_CHECK_LABEL), mac, &len) == NULL || len != sizeof(mac))
		return CK_FAIL_SSL(err, "HMAC of the store key check");
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[64] = '\0';
	return CK_OK;
}

/* The store's seal state inside the caller's transaction or read:
 * *sealed 1 and check[] filled if sealed, else *sealed 0. */
static enum ck_code
seal_state(struct ck_store *st, int *sealed, char check[65], struct ck_err *err)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r;

	check[0] = '\0';
	if ((rc = st_prepare_bind(st, err, &s, "SELECT value FROM settings WHERE key = ?", "t",
				  ST_SEAL_CHECK_SETTING)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r == 1)
		st_col_copy(s, 0, check, 65);
	st_finalize(s);
	if (r < 0)
		return err ? err->code : CK_ERR_STORE;
	*sealed = r == 1;
	return CK_OK;
}

/* Marks a store with no software key sealed under check value arg (st_tx_body). */
static enum ck_code
seal_empty_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	char check[65];
	int64_t n = 0;
	enum ck_code rc;
	int sealed = 0;

	if ((rc = seal_state(st, &sealed, check, err)) != CK_OK)
		return rc;
	if (sealed) /* sealed meanwhile: the key must be that one */
		return CRYPTO_memcmp(check, arg, 64) == 0
			       ? CK_OK
			       : CK_FAIL(err, CK_ERR_PERMISSION, "this store's keys are sealed "
					 "with another key: check --store-key-file");
	if ((rc = st_query_int(st, err, &n, "SELECT count(*) FROM keys WHERE pkcs8_der IS NOT "
			       "NULL", "")) != CK_OK)
		return rc;
	if (n > 0)
		return CK_FAIL(err, CK_ERR_STATE,
			       "this store's keys are not sealed and a store key file was given: "
			       "seal them first with 'certkeep store seal --key-file FILE'");
	return st_exec(st, err, NULL, "INSERT INTO settings (key, value) VALUES (?, ?)", "tt",
		       ST_SEAL_CHECK_SETTING, (const char *)arg);
}

enum ck_code
ck_store_seal_key_use(struct ck_store *st, const char *path, struct ck_err *err)
{
	unsigned char key[ST_SEAL_KEY_LEN];
	char want[65], have[65];
	enum ck_code rc;
	int sealed = 0;

	if ((rc = ck_store_key_file_read(path, key, err)) != CK_OK)
		goto out;
	if ((rc = seal_state(st, &sealed, want, err)) != CK_OK ||
	    (rc = seal_check_value(key, have, err)) != CK_OK)
		goto out;
	if (sealed && CRYPTO_memcmp(want, have, 64) != 0) {
		rc = CK_FAIL(err, CK_ERR_PERMISSION,
			     "this store's keys are sealed with another key: check "
			     "--store-key-file (%s)", path);
		goto out;
	}
	/* A plain store given a key: sealed now if it holds no software key. */
	if (!sealed && (rc = st_tx_run(st, err, "store.seal_empty", seal_empty_body, have)) !=
		       CK_OK)
		goto out;
	memcpy(st->seal_key, key, sizeof(key));
	st->seal_have = 1;
out:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int
ck_store_is_sealed(struct ck_store *st)
{
	char check[65];
	int sealed = 0;

	return seal_state(st, &sealed, check, NULL) == CK_OK && sealed;
}

/* Seals plain[0..n) for row id under key into a new blob (free()). */
static enum ck_code
seal_blob(const unsigned char key[ST_SEAL_KEY_LEN], int64_t id, const unsigned char *plain,
	  size_t n, unsigned char **out, size_t *out_len, struct ck_err *err)
{
	unsigned char aad[SEAL_AAD], *b = NULL;
	EVP_CIPHER_CTX *c = NULL;
	size_t len = SEAL_HDR + SEAL_NONCE + n + SEAL_TAG;
	enum ck_code rc = CK_ERR_CRYPTO;
	int l1 = 0, l2 = 0;

	if (n > CK_STORE_KEY_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "key larger than %d bytes", CK_STORE_KEY_MAX);
	seal_aad(id, aad);
	if ((b = malloc(len)) == NULL)
		return CK_OOM(err);
	memcpy(b, aad, SEAL_HDR);
	if (RAND_bytes(b + SEAL_HDR, SEAL_NONCE) != 1 || (c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, b + SEAL_HDR) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &l1, aad, sizeof(aad)) != 1 ||
	    EVP_EncryptUpdate(c, b + SEAL_HDR + SEAL_NONCE, &l1, plain, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(c, b + SEAL_HDR + SEAL_NONCE + l1, &l2) != 1 ||
	    (size_t)(l1 + l2) != n ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, b + len - SEAL_TAG) != 1) {
		rc = CK_FAIL_SSL(err, "sealing a key with AES-256-GCM");
		goto out;
	}
	*out = b;
	*out_len = len;
	b = NULL;
	rc = CK_OK;
out:
	EVP_CIPHER_CTX_free(c);
	free(b);
	return rc;
}

/* Opens blob of row id under key into a new secret buffer (ck_secure_free). */
static enum ck_code
unseal_blob(const unsigned char key[ST_SEAL_KEY_LEN], int64_t id, const unsigned char *b,
	    size_t len, unsigned char **out, size_t *out_len, struct ck_err *err)
{
	unsigned char aad[SEAL_AAD], *p = NULL;
	EVP_CIPHER_CTX *c = NULL;
	size_t n;
	enum ck_code rc = CK_ERR_CORRUPT;
	int l1 = 0, l2 = 0;

	seal_aad(id, aad);
	if (len < SEAL_HDR + SEAL_NONCE + SEAL_TAG || memcmp(b, aad, SEAL_HDR) != 0)
		return CK_FAIL(err, CK_ERR_CORRUPT, "key %lld in the store is not a sealed key "
			       "of a known format; run 'certkeep doctor'", (long long)id);
	n = len - SEAL_HDR - SEAL_NONCE - SEAL_TAG;
	if ((p = malloc(n + 1)) == NULL)
		return CK_OOM(err);
	if ((c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, b + SEAL_HDR) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &l1, aad, sizeof(aad)) != 1 ||
	    EVP_DecryptUpdate(c, p, &l1, b + SEAL_HDR + SEAL_NONCE, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG,
				(void *)(b + len - SEAL_TAG)) != 1 ||
	    EVP_DecryptFinal_ex(c, p + l1, &l2) != 1 || (size_t)(l1 + l2) != n) {
		rc = CK_FAIL(err, CK_ERR_CORRUPT,
			     "key %lld in the store does not open under the store key (altered, "
			     "or moved from another row); nothing was used: run 'certkeep "
			     "doctor'", (long long)id);
		goto out;
	}
	*out = p;
	*out_len = n;
	p = NULL;
	rc = CK_OK;
out:
	EVP_CIPHER_CTX_free(c);
	ck_secure_free(p, n + 1);
	return rc;
}

/* *sealed for the store; CK_ERR_KEY_MISSING (message ending `then`) if
 * sealed and the store was given no key. */
static enum ck_code
seal_need_key(struct ck_store *st, int *sealed, const char *then, struct ck_err *err)
{
	char check[65];
	enum ck_code rc;

	if ((rc = seal_state(st, sealed, check, err)) != CK_OK)
		return rc;
	if (*sealed && !st->seal_have)
		return CK_FAIL(err, CK_ERR_KEY_MISSING,
			       "this store's keys are sealed and no store key was given: use "
			       "--store-key-file (or $CERTKEEP_STORE_KEY_FILE)%s", then);
	return CK_OK;
}

enum ck_code
st_key_unseal(struct ck_store *st, int64_t id, const unsigned char *blob, size_t len,
	      unsigned char **out, size_t *out_len, struct ck_err *err)
{
	unsigned char *p;
	enum ck_code rc;
	int sealed = 0;

	if ((rc = seal_need_key(st, &sealed, "; the key was not used", err)) != CK_OK)
		return rc;
	if (sealed)
		return unseal_blob(st->seal_key, id, blob, len, out, out_len, err);
	if ((p = malloc(len + 1)) == NULL)
		return CK_OOM(err);
	memcpy(p, blob, len);
	*out = p;
	*out_len = len;
	return CK_OK;
}

enum ck_code
st_key_seal_row_tx(struct ck_store *st, int64_t id, const unsigned char *plain, size_t n,
		   struct ck_err *err)
{
	unsigned char *b = NULL;
	size_t len = 0;
	enum ck_code rc;
	int sealed = 0;

	if ((rc = seal_need_key(st, &sealed, "; nothing was stored", err)) != CK_OK)
		return rc;
	if (sealed && (rc = seal_blob(st->seal_key, id, plain, n, &b, &len, err)) != CK_OK)
		return rc;
	rc = st_exec(st, err, NULL, "UPDATE keys SET pkcs8_der = ? WHERE id = ?", "bi",
		     sealed ? b : plain, sealed ? len : n, id);
	free(b);
	return rc;
}

/* What reseal_body reads. */
struct reseal_args {
	const unsigned char *old_key;   /* NULL: the rows are plain (seal) */
	const unsigned char *new_key;
	const char *check;              /* new_key's check value */
};

/* Re-seals row id's pkcs8_der (blob[0..len)) from a->old_key to a->new_key. */
static enum ck_code
reseal_row(struct ck_store *st, const struct reseal_args *a, int64_t id,
	   const unsigned char *blob, size_t len, struct ck_err *err)
{
	size_t n = 0, out_len = 0;
	unsigned char *plain = NULL, *out = NULL;
	char was[65];
	enum ck_code rc;

	ck_sha256_hex(blob, len, was);
	if (a->old_key != NULL)
		rc = unseal_blob(a->old_key, id, blob, len, &plain, &n, err);
	else
		rc = seal_blob(a->new_key, id, blob, len, &out, &out_len, err);
	if (rc == CK_OK && a->old_key != NULL)
		rc = seal_blob(a->new_key, id, plain, n, &out, &out_len, err);
	ck_secure_free(plain, n + 1);
	if (rc != CK_OK)
		return rc;
	rc = st_exec(st, err, NULL, "UPDATE keys SET pkcs8_der = ? WHERE id = ?", "bi", out,
		     out_len, id);
	/* the same PKCS#8 (authenticated by the unseal): its fact follows it */
	if (rc == CK_OK)
		rc = st_facts_key_moved_tx(st, id, was, out, out_len, err);
	free(out);
	CK_FAULT("store.seal.row");
	return rc;
}

/* Every software key re-sealed, then the new check value (st_tx_body). */
static enum ck_code
reseal_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	const struct reseal_args *a = arg;
	struct st_stmt *s = NULL;
	char check[65];
	int64_t last = 0, id = 0;
	enum ck_code rc;
	int sealed = 0, r;

	if ((rc = seal_state(st, &sealed, check, err)) != CK_OK)
		return rc;
	if (sealed != (a->old_key != NULL))
		return CK_FAIL(err, CK_ERR_STATE, sealed
			       ? "this store's keys are already sealed; nothing was changed: "
				 "use 'certkeep store rekey' to change the key"
			       : "this store's keys are not sealed; nothing was changed: use "
				 "'certkeep store seal' first");
	/* One row at a time, by id: no statement over keys stays open while keys changes. */
	for (;;) {
		if ((rc = st_prepare_bind(st, err, &s, "SELECT id, pkcs8_der FROM keys WHERE "
					  "pkcs8_der IS NOT NULL AND id > ? ORDER BY id LIMIT 1",
					  "i", last)) != CK_OK)
			return rc;
		r = st_step(st, s, err);
		if (r == 1) {
			id = st_col_int64(s, 0);
			rc = reseal_row(st, a, id, st_col_blob_ref(s, 1, NULL), st_col_bytes(s, 1),
					err);
		}
		st_finalize(s);
		if (r < 0)
			return err ? err->code : CK_ERR_STORE;
		if (r == 0)
			break;
		if (rc != CK_OK)
			return rc;
		last = id;
	}
	st_wal_scrub(st); /* after the commit: no copy under the old key (or plain) in the WAL */
	return st_exec(st, err, NULL, "INSERT INTO settings (key, value) VALUES (?, ?) "
		       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", "tt",
		       ST_SEAL_CHECK_SETTING, a->check);
}

/* Seals (old NULL) or re-seals every key under the key in new_path. */
static enum ck_code
reseal_all(struct ck_store *st, const unsigned char *old, const char *new_path,
	   const char *name, struct ck_err *err)
{
	unsigned char key[ST_SEAL_KEY_LEN];
	char check[65];
	struct reseal_args a;
	enum ck_code rc;

	if ((rc = ck_store_key_file_read(new_path, key, err)) != CK_OK ||
	    (rc = seal_check_value(key, check, err)) != CK_OK)
		goto out;
	a.old_key = old;
	a.new_key = key;
	a.check = check;
	if ((rc = st_tx_run(st, err, name, reseal_body, &a)) != CK_OK)
		goto out;
	memcpy(st->seal_key, key, sizeof(key));
	st->seal_have = 1;
out:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

enum ck_code
ck_store_seal(struct ck_store *st, const char *key_path, struct ck_err *err)
{
	return reseal_all(st, NULL, key_path, "store.seal", err);
}

enum ck_code
ck_store_rekey(struct ck_store *st, const char *new_key_path, struct ck_err *err)
{
	if (!st->seal_have)
		return CK_FAIL(err, CK_ERR_KEY_MISSING,
			       "rekey needs the current store key: use --store-key-file (or "
			       "$CERTKEEP_STORE_KEY_FILE); nothing was changed");
	return reseal_all(st, st->seal_key, new_key_path, "store.rekey", err);
}

enum ck_code
ck_store_seal_key_share(struct ck_store *dst, const struct ck_store *src, struct ck_err *err)
{
	if (dst == NULL || src == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no store handle");
	if (strcmp(dst->path, src->path) != 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "a node key is shared only between handles on the same store");
	if (!src->seal_have)
		return CK_OK;
	memcpy(dst->seal_key, src->seal_key, sizeof(dst->seal_key));
	dst->seal_have = 1;
	return CK_OK;
}
