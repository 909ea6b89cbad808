/*
 * request.c - pending requests: a committed key, its CSR and identifiers,
 * waiting (maybe for days) for a certificate from anywhere.  A certificate
 * put with the request key's SPKI links to the key and closes the request
 * in the same transaction (cert.c).
 *
 * Must never: record a request whose key is not committed; forget the key
 * of a request (closing keeps it).
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* What request_put_body reads and writes. */
struct request_put_args {
	int64_t key_id;
	const unsigned char *csr_der;
	size_t csr_len;
	const char *json;         /* the identifiers */
	const char *lineage;
	int64_t id;               /* OUT */
};

static enum ck_code
request_put_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct request_put_args *a = arg;
	enum ck_code rc;

	if ((rc = st_key_exists_tx(st, a->key_id, "the request's key", "; nothing was recorded",
				   err)) != CK_OK)
		return rc;
	return st_query_int(st, err, &a->id,
			    "INSERT INTO requests (key_id, csr_der, identifiers, lineage, created) "
			    "VALUES (?, ?, ?, ?, ?) RETURNING id",
			    "ibtti", a->key_id, a->csr_der, a->csr_len, a->json, a->lineage,
			    (int64_t)st_now(st));
}

enum ck_code
ck_store_request_put(struct ck_store *st, int64_t key_id, const unsigned char *csr_der,
		     size_t csr_len, const char *const *identifiers, size_t n,
		     const char *lineage, int64_t *id, struct ck_err *err)
{
	struct request_put_args a = { key_id, csr_der, csr_len, NULL, lineage, 0 };
	char *json = NULL;
	enum ck_code rc;

	if (csr_der == NULL || csr_len == 0 || csr_len > CK_STORE_CSR_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "CSR missing or larger than %d bytes",
			       CK_STORE_CSR_MAX);
	if ((rc = st_check_name("lineage name", lineage, 0, err)) != CK_OK)
		return rc;
	if ((rc = st_strv_to_json(identifiers, n, CK_STORE_IDENT_MAX, CK_NAME_MAX, &json, err)) !=
	    CK_OK)
		return rc;
	a.json = json;
	if ((rc = st_tx_run(st, err, "store.request_put", request_put_body, &a)) == CK_OK &&
	    id != NULL)
		*id = a.id;
	free(json);
	return rc;
}

#define REQUEST_COLS                                                                    \
	"SELECT r.id, r.key_id, k.spki_sha256, r.csr_der, r.identifiers, r.lineage, "     \
	"r.created, r.closed, r.cert_id FROM requests r LEFT JOIN keys k ON k.id = r.key_id "

static enum ck_code
request_row(struct st_stmt *s, void *elem, struct ck_err *err)
{
	struct ck_request *r = elem;
	int oom = 0;

	r->id = st_col_int64(s, 0);
	r->key_id = st_col_int64(s, 1);
	st_col_copy(s, 2, r->spki_sha256, sizeof(r->spki_sha256));
	r->csr_der = st_col_blob(s, 3, &r->csr_len, &oom);
	r->lineage = st_col_dup(s, 5, &oom);
	r->created = (time_t)st_col_int64(s, 6);
	r->closed = (time_t)st_col_int64(s, 7);
	r->cert_id = st_col_int64(s, 8);
	if (oom)
		return CK_OOM(err);
	return st_strv_from_json(st_col_text(s, 4), CK_STORE_IDENT_MAX,
				 &r->identifiers, &r->nidentifiers, err);
}

static void
request_free(void *elem)
{
	ck_request_cleanup(elem);
}

static const struct st_list_spec request_spec = {
	sizeof(struct ck_request), "requests", request_row, request_free,
};

static enum ck_code
request_one(struct ck_store *st, struct ck_err *err, struct ck_request *out, const char *what,
	    const char *sql, const char *fmt, const void *arg)
{
	struct ck_request req;
	enum ck_code rc;

	if (fmt[0] == 'i')
		rc = st_row_read(st, err, &request_spec, &req, sql, fmt, *(const int64_t *)arg);
	else
		rc = st_row_read(st, err, &request_spec, &req, sql, fmt, (const char *)arg);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "no %s", what);
	if (rc == CK_OK)
		*out = req;
	return rc;
}

enum ck_code
ck_store_request_get(struct ck_store *st, int64_t id, struct ck_request *out,
		     struct ck_err *err)
{
	return request_one(st, err, out, "such pending request in the store",
			   REQUEST_COLS "WHERE r.id = ?", "i", &id);
}

enum ck_code
ck_store_request_find_spki(struct ck_store *st, const char *spki, struct ck_request *out,
			   struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_check_hex("SPKI SHA-256", spki, 64, err)) != CK_OK)
		return rc;
	return request_one(st, err, out, "open pending request for that public key",
			   REQUEST_COLS "WHERE r.closed IS NULL AND k.spki_sha256 = ? "
					"ORDER BY r.id LIMIT 1",
			   "t", spki);
}

enum ck_code
ck_store_request_list(struct ck_store *st, int all_requests, struct ck_request_list *out,
		      struct ck_err *err)
{
	return st_list_read(st, err, &request_spec, &out->items, &out->n,
			    all_requests ? REQUEST_COLS "ORDER BY r.id"
					 : REQUEST_COLS "WHERE r.closed IS NULL ORDER BY r.id",
			    "");
}

enum ck_code
ck_store_request_close(struct ck_store *st, int64_t id, struct ck_err *err)
{
	enum ck_code rc;
	int changes = 0;

	rc = st_tx_exec(st, err, "store.request_close", &changes,
			"UPDATE requests SET closed = ? WHERE id = ? AND closed IS NULL", "ii",
			(int64_t)st_now(st), id);
	if (rc == CK_OK && changes == 0)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "no open pending request %lld", (long long)id);
	return rc;
}

void
ck_request_cleanup(struct ck_request *r)
{
	if (r == NULL)
		return;
	free(r->csr_der);
	st_strv_free(r->identifiers, r->nidentifiers);
	free(r->lineage);
	memset(r, 0, sizeof(*r));
}

void
ck_request_list_cleanup(struct ck_request_list *l)
{
	if (l != NULL)
		st_list_free(&l->items, &l->n, sizeof(*l->items), request_free);
}
