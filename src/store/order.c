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

/* What order_put_body reads and writes. */
struct order_put_args {
	const struct ck_order_new *in;
	const char *json;         /* the identifiers */
	int64_t id;               /* OUT */
};

static enum ck_code
order_put_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct order_put_args *a = arg;
	const struct ck_order_new *in = a->in;
	int64_t now = (int64_t)st_now(st);
	enum ck_code rc;

	if ((rc = st_key_exists_tx(st, in->key_id, "the order's key", "; nothing was recorded",
				   err)) != CK_OK)
		return rc;
	return st_query_int(st, err, &a->id,
			    "INSERT INTO orders (lineage, account_id, key_id, identifiers, url, "
			    "status, finalize_url, closed, created, updated) "
			    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
			    "tIittttiii", in->lineage, in->account_id, in->key_id, a->json, in->url,
			    in->status ? in->status : "pending", in->finalize_url,
			    (int64_t)(in->status && strcmp(in->status, "invalid") == 0), now, now);
}

enum ck_code
ck_store_order_put(struct ck_store *st, const struct ck_order_new *in, int64_t *id,
		   struct ck_err *err)
{
	struct order_put_args a = { NULL, NULL, 0 };
	char *json = NULL;
	enum ck_code rc;

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
	a.in = in;
	a.json = json;
	if ((rc = st_tx_run(st, err, "store.order_put", order_put_body, &a)) == CK_OK &&
	    id != NULL)
		*id = a.id;
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
	/* A closed order is final: what a caller learnt from the server before
	 * another process stored its certificate (or gave it up) must not
	 * overwrite that outcome. */
	rc = st_tx_exec(st, err, "store.order_update", &changes,
			"UPDATE orders SET status = coalesce(?, status), url = coalesce(?, url), "
			"finalize_url = coalesce(?, finalize_url), "
			"closed = CASE WHEN ? = 1 THEN 1 ELSE closed END, "
			"updated = ? WHERE id = ? AND closed = 0",
			"tttiii", status, url, finalize_url, (int64_t)(closed != 0),
			(int64_t)st_now(st), id);
	if (rc == CK_OK && changes == 0) {
		/* Nothing was written: say why. */
		int64_t dummy = 0;

		rc = st_query_int(st, err, &dummy, "SELECT id FROM orders WHERE id = ?", "i", id);
		if (rc == CK_OK)
			rc = CK_FAIL(err, CK_ERR_STATE, "order %lld is closed already; nothing changed",
				     (long long)id);
		else if (rc == CK_ERR_NOT_FOUND)
			rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "order %lld is not in the store",
				     (long long)id);
	}
	return rc;
}

#define ORDER_COLS                                                                   \
	"SELECT id, lineage, account_id, key_id, identifiers, url, status, finalize_url, " \
	"closed, created, updated FROM orders "

static enum ck_code
order_row(struct st_stmt *s, void *elem, struct ck_err *err)
{
	struct ck_order *o = elem;
	int oom = 0;

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
		return CK_OOM(err);
	return st_strv_from_json(st_col_text(s, 4), CK_STORE_IDENT_MAX,
				 &o->identifiers, &o->nidentifiers, err);
}

static void
order_free(void *elem)
{
	ck_order_cleanup(elem);
}

static const struct st_list_spec order_spec = {
	sizeof(struct ck_order), "orders", order_row, order_free,
};

enum ck_code
ck_store_order_get(struct ck_store *st, int64_t id, struct ck_order *out, struct ck_err *err)
{
	struct ck_order o;
	enum ck_code rc;

	rc = st_row_read(st, err, &order_spec, &o, ORDER_COLS "WHERE id = ?", "i", id);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "order %lld is not in the store",
			       (long long)id);
	if (rc == CK_OK)
		*out = o;
	return rc;
}

enum ck_code
ck_store_order_list_open(struct ck_store *st, struct ck_order_list *out, struct ck_err *err)
{
	return st_list_read(st, err, &order_spec, &out->items, &out->n,
			    ORDER_COLS "WHERE closed = 0 ORDER BY id", "");
}

enum ck_code
ck_store_order_list_open_lineage(struct ck_store *st, const char *lineage,
				 struct ck_order_list *out, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_check_name("lineage", lineage, 1, err)) != CK_OK)
		return rc;
	/* closed = 0 as the literal the partial index orders_open names. */
	return st_list_read(st, err, &order_spec, &out->items, &out->n,
			    ORDER_COLS "WHERE closed = 0 AND lineage = ? ORDER BY id", "t",
			    lineage);
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
	if (l != NULL)
		st_list_free(&l->items, &l->n, sizeof(*l->items), order_free);
}

enum ck_code
ck_store_cert_order_account(struct ck_store *st, int64_t cert_id, int64_t *account_id,
			    struct ck_err *err)
{
	int64_t id = 0;
	enum ck_code rc;

	rc = st_query_int(st, err, &id,
			  "SELECT o.account_id FROM orders o JOIN accounts a ON a.id = o.account_id "
			  "WHERE o.cert_id = ?1 OR (o.url IS NOT NULL AND o.url = "
			  "(SELECT c.origin FROM certificates c WHERE c.id = ?1)) "
			  "ORDER BY o.id DESC LIMIT 1", "i", cert_id);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND,
			       "the store has no ACME order (and so no account) for certificate %lld",
			       (long long)cert_id);
	if (rc == CK_OK)
		*account_id = id;
	return rc;
}
