/*
 * cert_read.c - reading certificates: the rows `list` and `show` print,
 * the DER with its chain, alternates, lookup by thumbprint.
 *
 * Must never: change the store (no generation bump on reads).
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#define CERT_COLS                                                                     \
	"SELECT c.id, c.sha256, c.sha1, c.spki_sha256, c.subject, c.issuer, c.serial, " \
	"c.sans, c.not_before, c.not_after, l.name, c.lineage_id, "                     \
	"(l.current_cert_id = c.id), c.key_id, c.key_algorithm, "                       \
	"CASE WHEN k.id IS NULL THEN NULL WHEN k.pkcs11_uri IS NOT NULL "              \
	"THEN k.pkcs11_uri ELSE 'store' END, c.origin, c.created, "                     \
	"(SELECT count(*) FROM chain h WHERE h.cert_id = c.id), "                       \
	"c.revoked_at, c.revoke_reason, l.profile, c.chain_selected "                   \
	"FROM certificates c LEFT JOIN lineages l ON l.id = c.lineage_id "              \
	"LEFT JOIN keys k ON k.id = c.key_id "
/* The order `list` prints: by lineage name (unnamed last), newest first. */
#define CERT_ORDER "ORDER BY l.name IS NULL, l.name, c.not_before DESC, c.id DESC"

static enum ck_code
cert_row(struct st_stmt *s, void *elem, struct ck_err *err)
{
	const char *sans = st_col_text(s, 7);
	struct ck_cert_row *r = elem;
	int oom = 0;

	r->id = st_col_int64(s, 0);
	st_col_copy(s, 1, r->sha256, sizeof(r->sha256));
	st_col_copy(s, 2, r->sha1, sizeof(r->sha1));
	st_col_copy(s, 3, r->spki_sha256, sizeof(r->spki_sha256));
	r->subject = st_col_dup(s, 4, &oom);
	r->issuer = st_col_dup(s, 5, &oom);
	st_col_copy(s, 6, r->serial, sizeof(r->serial));
	r->not_before = (time_t)st_col_int64(s, 8);
	r->not_after = (time_t)st_col_int64(s, 9);
	r->lineage = st_col_dup(s, 10, &oom);
	r->lineage_id = st_col_int64(s, 11);
	r->is_current = st_col_int(s, 12) == 1;
	r->key_id = st_col_int64(s, 13);
	st_col_copy(s, 14, r->key_algorithm, sizeof(r->key_algorithm));
	r->key_location = st_col_dup(s, 15, &oom);
	/* A key_id whose key row is gone is not a link (doctor reports it). */
	r->linked = r->key_location != NULL;
	r->origin = st_col_dup(s, 16, &oom);
	r->created = (time_t)st_col_int64(s, 17);
	r->chain_len = (size_t)st_col_int64(s, 18);
	r->revoked_at = st_col_is_null(s, 19) ? 0 : (time_t)st_col_int64(s, 19);
	st_col_copy(s, 20, r->revoke_reason, sizeof(r->revoke_reason));
	st_col_copy(s, 21, r->profile, sizeof(r->profile));
	r->chain_selected = (size_t)st_col_int64(s, 22);
	if (oom)
		return CK_OOM(err);
	return st_strv_from_json(sans, CK_STORE_ROWS_MAX, &r->sans, &r->nsans, err);
}

static void
cert_free(void *elem)
{
	ck_cert_row_cleanup(elem);
}

static const struct st_list_spec cert_spec = {
	sizeof(struct ck_cert_row), "certificates", cert_row, cert_free,
};

enum ck_code
ck_store_cert_list(struct ck_store *st, struct ck_cert_list *out, struct ck_err *err)
{
	return st_list_read(st, err, &cert_spec, &out->items, &out->n, CERT_COLS CERT_ORDER, "");
}

/* What cert_each_row hands each row to. */
struct cert_each {
	ck_cert_row_fn fn;
	void *arg;
};

/* Decodes one row into a row of its own, hands it over, frees it (st_row_visit). */
static enum ck_code
cert_each_row(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	const struct cert_each *e = arg;
	struct ck_cert_row row;
	enum ck_code rc;

	(void)st;
	memset(&row, 0, sizeof(row));
	if ((rc = cert_row(s, &row, err)) == CK_OK)
		rc = e->fn(&row, e->arg, err);
	ck_cert_row_cleanup(&row);
	return rc;
}

enum ck_code
ck_store_cert_each(struct ck_store *st, const char *spki_sha256, ck_cert_row_fn fn, void *arg,
		   struct ck_err *err)
{
	struct cert_each e = { fn, arg };
	enum ck_code rc;

	if (fn == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no function to call for each certificate");
	if (spki_sha256 == NULL)
		return st_each_row(st, err, cert_each_row, &e, CERT_COLS CERT_ORDER, "");
	if ((rc = st_check_hex("public key SHA-256", spki_sha256, 64, err)) != CK_OK)
		return rc;
	return st_each_row(st, err, cert_each_row, &e,
			   CERT_COLS "WHERE c.spki_sha256 = ? " CERT_ORDER, "t", spki_sha256);
}

enum ck_code
ck_store_cert_get(struct ck_store *st, int64_t id, struct ck_cert_row *out, struct ck_err *err)
{
	struct ck_cert_row row;
	enum ck_code rc;

	rc = st_row_read(st, err, &cert_spec, &row, CERT_COLS "WHERE c.id = ?", "i", id);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "certificate %lld is not in the store",
			       (long long)id);
	if (rc == CK_OK)
		*out = row;
	return rc;
}

static enum ck_code
read_chain(struct ck_store *st, int64_t id, struct ck_der_list *out, struct ck_err *err)
{
	struct ck_der_list l = { NULL, 0 };
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r = 0, oom = 0;

	if ((rc = st_prepare_bind(st, err, &s,
				  "SELECT der FROM chain WHERE cert_id = ? ORDER BY pos", "i",
				  id)) != CK_OK)
		return rc;
	l.items = calloc(CK_STORE_CHAIN_MAX, sizeof(*l.items));
	if (l.items == NULL)
		oom = 1;
	while (!oom && (r = st_step(st, s, err)) == 1) {
		if (l.n == CK_STORE_CHAIN_MAX) {
			rc = CK_FAIL(err, CK_ERR_CORRUPT, "certificate %lld has too long a chain",
				     (long long)id);
			goto out;
		}
		l.items[l.n].data = st_col_blob(s, 0, &l.items[l.n].len, &oom);
		l.n++;
	}
	if (oom) {
		rc = CK_OOM(err);
		goto out;
	}
	if (r < 0) {
		rc = err ? err->code : CK_ERR_STORE;
		goto out;
	}
	*out = l;
	l.items = NULL;
	l.n = 0;
out:
	ck_der_list_cleanup(&l);
	st_finalize(s);
	return rc;
}

enum ck_code
ck_store_cert_der(struct ck_store *st, int64_t id, unsigned char **der, size_t *len,
		  struct ck_der_list *chain, struct ck_err *err)
{
	struct ck_der_list l = { NULL, 0 };
	struct st_stmt *s = NULL;
	unsigned char *d = NULL;
	size_t n = 0;
	enum ck_code rc;
	int r, oom = 0;

	if ((rc = st_prepare_bind(st, err, &s, "SELECT der FROM certificates WHERE id = ?", "i",
				  id)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r < 0) {
		rc = err ? err->code : CK_ERR_STORE;
		goto out;
	}
	if (r == 0) {
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "certificate %lld is not in the store",
			     (long long)id);
		goto out;
	}
	d = st_col_blob(s, 0, &n, &oom);
	if (oom || d == NULL) {
		rc = CK_FAIL(err, oom ? CK_ERR_NOMEM : CK_ERR_CORRUPT,
			     "certificate %lld cannot be read", (long long)id);
		goto out;
	}
	if (chain != NULL && (rc = read_chain(st, id, &l, err)) != CK_OK)
		goto out;
	*der = d;
	*len = n;
	d = NULL;
	if (chain != NULL) {
		*chain = l;
		l.items = NULL;
		l.n = 0;
	}
out:
	free(d);
	ck_der_list_cleanup(&l);
	st_finalize(s);
	return rc;
}

enum ck_code
ck_store_cert_alternates(struct ck_store *st, int64_t id, char **out, struct ck_err *err)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	char *v = NULL;
	int r, oom = 0;

	if ((rc = st_prepare_bind(st, err, &s, "SELECT alternates FROM certificates WHERE id = ?",
				  "i", id)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r < 0)
		rc = err ? err->code : CK_ERR_STORE;
	else if (r == 0)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "certificate %lld is not in the store",
			     (long long)id);
	else if ((v = st_col_dup(s, 0, &oom)), oom)
		rc = CK_OOM(err);
	else
		*out = v;
	st_finalize(s);
	return rc;
}

enum ck_code
ck_store_cert_find_sha256(struct ck_store *st, const char *sha256, int64_t *id,
			  struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_check_hex("SHA-256 thumbprint", sha256, 64, err)) != CK_OK)
		return rc;
	rc = st_query_int(st, err, id, "SELECT id FROM certificates WHERE sha256 = ?", "t",
			  sha256);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "no certificate %.16s... in the store", sha256);
	return rc;
}

void
ck_cert_row_cleanup(struct ck_cert_row *r)
{
	if (r == NULL)
		return;
	free(r->subject);
	free(r->issuer);
	st_strv_free(r->sans, r->nsans);
	free(r->lineage);
	free(r->key_location);
	free(r->origin);
	memset(r, 0, sizeof(*r));
}

void
ck_cert_list_cleanup(struct ck_cert_list *l)
{
	if (l != NULL)
		st_list_free(&l->items, &l->n, sizeof(*l->items), cert_free);
}
