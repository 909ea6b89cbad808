/*
 * order.c - ACME orders in flight: recorded before finalize with the
 * certificate key already committed (invariant 3: the foreign key and an
 * explicit check refuse an order naming an uncommitted key), updated as
 * the server answers, closed by ck_store_cert_put or when given up.
 *
 * Must never: record an order whose key is not in the store.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static enum ck_code
check_status(const char *status, struct ck_err *err)
{
	static const char *const ok[] = { "pending", "ready", "processing", "valid", "invalid" };
	size_t i;

	if (status == NULL)
		return CK_OK;
	for (i = 0; i < CK_ARRAY_LEN(ok); i++) {
		if (strcmp(status, ok[i]) == 0)
			return CK_OK;
	}
	return CK_FAIL(err, CK_ERR_INVALID_ARG, "unknown order status");
}

enum ck_code
ck_store_order_put(struct ck_store *st, const struct ck_order_new *in, int64_t *id,
		   struct ck_err *err)
{
	char *json = NULL;
	int64_t dummy = 0;
	enum ck_code rc;
	time_t now = st_now(st);

	if (in == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no order given");
	if ((rc = st_check_name("lineage name", in->lineage, 1, err)) != CK_OK ||
	    (rc = st_check_text("order URL", in->url, CK_STORE_URL_MAX, 0, err)) != CK_OK ||
	    (rc = st_check_text("finalize URL", in->finalize_url, CK_STORE_URL_MAX, 0, err)) !=
		    CK_OK ||
	    (rc = check_status(in->status, err)) != CK_OK)
		return rc;
	if (in->key_id <= 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "an order needs its certificate key committed first");
	if ((rc = st_strv_to_json(in->identifiers, in->nidentifiers, CK_STORE_IDENT_MAX,
				  CK_NAME_MAX, &json, err)) != CK_OK)
		return rc;
	if ((rc = st_begin(st, err)) != CK_OK)
		goto out;
	CK_FAULT("store.order_put.begin");
	rc = st_query_int(st, err, &dummy, "SELECT id FROM keys WHERE id = ?", "i", in->key_id);
	if (rc == CK_ERR_NOT_FOUND)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND,
			     "the order's key %lld is not in the store; nothing was recorded",
			     (long long)in->key_id);
	if (rc != CK_OK)
		goto out;
	rc = st_query_int(st, err, &dummy,
			  "INSERT INTO orders (lineage, account_id, key_id, identifiers, url, status, "
			  "finalize_url, closed, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
			  "RETURNING id",
		     "tIittttiii", in->lineage, in->account_id, in->key_id, json, in->url,
		     in->status ? in->status : "pending", in->finalize_url,
		     (int64_t)(in->status && strcmp(in->status, "invalid") == 0), (int64_t)now,
		     (int64_t)now);
	if (rc != CK_OK)
		goto out;
	CK_FAULT("store.order_put.commit");
	if ((rc = st_commit(st, err)) != CK_OK)
		goto out;
	CK_FAULT("store.order_put.committed");
	if (id != NULL)
		*id = dummy;
out:
	st_rollback(st);
	free(json);
	return rc;
}

enum ck_code
ck_store_order_update(struct ck_store *st, int64_t id, const char *status, const char *url,
		      const char *finalize_url, int closed, struct ck_err *err)
{
	enum ck_code rc;
	int changes = 0;

	if ((rc = check_status(status, err)) != CK_OK ||
	    (rc = st_check_text("order URL", url, CK_STORE_URL_MAX, 0, err)) != CK_OK ||
	    (rc = st_check_text("finalize URL", finalize_url, CK_STORE_URL_MAX, 0, err)) != CK_OK)
		return rc;
	if (status != NULL && strcmp(status, "invalid") == 0)
		closed = 1;
	if ((rc = st_begin(st, err)) != CK_OK)
		return rc;
	CK_FAULT("store.order_update.begin");
	/* A closed order is final: what a caller learnt from the server before
	 * another process stored its certificate (or gave it up) must not
	 * overwrite that outcome. */
	rc = st_exec(st, err, &changes,
		     "UPDATE orders SET status = coalesce(?, status), url = coalesce(?, url), "
		     "finalize_url = coalesce(?, finalize_url), closed = max(closed, ?), "
		     "updated = ? WHERE id = ? AND closed = 0",
		     "tttiii", status, url, finalize_url, (int64_t)(closed != 0),
		     (int64_t)st_now(st), id);
	if (rc == CK_OK && changes == 0) {
		int64_t dummy = 0;

		rc = st_query_int(st, err, &dummy, "SELECT id FROM orders WHERE id = ?", "i", id);
		if (rc == CK_OK)
			rc = CK_FAIL(err, CK_ERR_STATE, "order %lld is closed already; nothing changed",
				     (long long)id);
		else if (rc == CK_ERR_NOT_FOUND)
			rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "order %lld is not in the store",
				     (long long)id);
	}
	if (rc != CK_OK)
		goto out;
	CK_FAULT("store.order_update.commit");
	rc = st_commit(st, err);
out:
	st_rollback(st);
	return rc;
}

#define ORDER_COLS                                                                   \
	"SELECT id, lineage, account_id, key_id, identifiers, url, status, finalize_url, " \
	"closed, created, updated FROM orders "

static enum ck_code
order_row(struct st_stmt *s, struct ck_order *o, struct ck_err *err)
{
	int oom = 0;

	memset(o, 0, sizeof(*o));
	o->id = st_col_int64(s, 0);
	o->lineage = st_col_dup(s, 1, &oom);
	o->account_id = st_col_int64(s, 2);
	o->key_id = st_col_int64(s, 3);
	o->url = st_col_dup(s, 5, &oom);
	o->status = st_col_dup(s, 6, &oom);
	o->finalize_url = st_col_dup(s, 7, &oom);
	o->closed = st_col_int(s, 8);
	o->created = (time_t)st_col_int64(s, 9);
	o->updated = (time_t)st_col_int64(s, 10);
	if (oom)
		return CK_FAIL(err, CK_ERR_NOMEM, "out of memory");
	return st_strv_from_json(st_col_text(s, 4), CK_STORE_IDENT_MAX,
				 &o->identifiers, &o->nidentifiers, err);
}

enum ck_code
ck_store_order_get(struct ck_store *st, int64_t id, struct ck_order *out, struct ck_err *err)
{
	struct ck_order o;
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r;

	if ((rc = st_prepare_bind(st, err, &s, ORDER_COLS "WHERE id = ?", "i", id)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r < 0) {
		rc = err ? err->code : CK_ERR_STORE;
	} else if (r == 0) {
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "order %lld is not in the store", (long long)id);
	} else {
		rc = order_row(s, &o, err);
		if (rc == CK_OK)
			*out = o;
		else
			ck_order_cleanup(&o);
	}
	st_finalize(s);
	return rc;
}

enum ck_code
ck_store_order_list_open(struct ck_store *st, struct ck_order_list *out, struct ck_err *err)
{
	struct ck_order_list l = { NULL, 0 };
	struct st_stmt *s = NULL;
	size_t cap = 0;
	enum ck_code rc;
	int r;

	if ((rc = st_prepare_bind(st, err, &s, ORDER_COLS "WHERE closed = 0 ORDER BY id", "")) !=
	    CK_OK)
		return rc;
	while ((r = st_step(st, s, err)) == 1) {
		if ((rc = st_list_reserve(&l.items, &cap, l.n, sizeof(*l.items),
						   "orders", err)) != CK_OK)
			goto out;
		rc = order_row(s, &l.items[l.n], err);
		l.n++;
		if (rc != CK_OK)
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
	ck_order_list_cleanup(&l);
	st_finalize(s);
	return rc;
}

void
ck_order_cleanup(struct ck_order *o)
{
	if (o == NULL)
		return;
	free(o->lineage);
	st_strv_free(o->identifiers, o->nidentifiers);
	free(o->url);
	free(o->status);
	free(o->finalize_url);
	memset(o, 0, sizeof(*o));
}

void
ck_order_list_cleanup(struct ck_order_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		ck_order_cleanup(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
