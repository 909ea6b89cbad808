/*
 * lineage.c - lineages: named certificates that renew (identifiers, key
 * policy, current certificate).  The current certificate is set only by
 * ck_store_cert_put (and re-pointed by removal), so it always names a
 * stored certificate.
 *
 * Must never: point a lineage at a certificate that is not stored.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

enum ck_code
ck_store_lineage_put(struct ck_store *st, const char *name, const char *const *identifiers,
		     size_t n, const char *key_type, int64_t *id, struct ck_err *err)
{
	char *json = NULL;
	int64_t lid = 0;
	enum ck_code rc;

	if ((rc = st_check_name("lineage name", name, 1, err)) != CK_OK ||
	    (rc = st_check_text("key type", key_type, 15, 0, err)) != CK_OK)
		return rc;
	if ((rc = st_strv_to_json(identifiers, n, CK_STORE_IDENT_MAX, CK_NAME_MAX, &json, err)) !=
	    CK_OK)
		return rc;
	if ((rc = st_begin(st, err)) != CK_OK)
		goto out;
	CK_FAULT("store.lineage_put.begin");
	rc = st_query_int(st, err, &lid, "SELECT id FROM lineages WHERE name = ?", "t", name);
	if (rc == CK_OK)
		rc = st_exec(st, err, NULL,
			     "UPDATE lineages SET identifiers = ?, key_type = coalesce(?, key_type) "
			     "WHERE id = ?",
			     "tti", json, key_type, lid);
	else if (rc == CK_ERR_NOT_FOUND)
		rc = st_lineage_ensure_tx(st, name, json, key_type, &lid, err);
	if (rc != CK_OK)
		goto out;
	CK_FAULT("store.lineage_put.commit");
	if ((rc = st_commit(st, err)) != CK_OK)
		goto out;
	if (id != NULL)
		*id = lid;
out:
	st_rollback(st);
	free(json);
	return rc;
}

#define LINEAGE_COLS "SELECT id, name, identifiers, key_type, current_cert_id, created FROM lineages "

static enum ck_code
lineage_row(struct st_stmt *s, struct ck_lineage *l, struct ck_err *err)
{
	int oom = 0;

	memset(l, 0, sizeof(*l));
	l->id = st_col_int64(s, 0);
	l->name = st_col_dup(s, 1, &oom);
	st_col_copy(s, 3, l->key_type, sizeof(l->key_type));
	l->current_cert_id = st_col_int64(s, 4);
	l->created = (time_t)st_col_int64(s, 5);
	if (oom)
		return CK_FAIL(err, CK_ERR_NOMEM, "out of memory");
	return st_strv_from_json(st_col_text(s, 2), CK_STORE_IDENT_MAX,
				 &l->identifiers, &l->nidentifiers, err);
}

enum ck_code
ck_store_lineage_get(struct ck_store *st, const char *name, struct ck_lineage *out,
		     struct ck_err *err)
{
	struct ck_lineage l;
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r;

	if ((rc = st_check_name("lineage name", name, 1, err)) != CK_OK)
		return rc;
	if ((rc = st_prepare_bind(st, err, &s, LINEAGE_COLS "WHERE name = ?", "t", name)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r < 0) {
		rc = err ? err->code : CK_ERR_STORE;
	} else if (r == 0) {
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "no lineage is named '%s'", name);
	} else {
		rc = lineage_row(s, &l, err);
		if (rc == CK_OK)
			*out = l;
		else
			ck_lineage_cleanup(&l);
	}
	st_finalize(s);
	return rc;
}

enum ck_code
ck_store_lineage_list(struct ck_store *st, struct ck_lineage_list *out, struct ck_err *err)
{
	struct ck_lineage_list l = { NULL, 0 };
	struct st_stmt *s = NULL;
	size_t cap = 0;
	enum ck_code rc;
	int r;

	if ((rc = st_prepare_bind(st, err, &s, LINEAGE_COLS "ORDER BY name", "")) != CK_OK)
		return rc;
	while ((r = st_step(st, s, err)) == 1) {
		if ((rc = st_list_reserve(&l.items, &cap, l.n, sizeof(*l.items),
						   "lineages", err)) != CK_OK)
			goto out;
		rc = lineage_row(s, &l.items[l.n], err);
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
	ck_lineage_list_cleanup(&l);
	st_finalize(s);
	return rc;
}

void
ck_lineage_cleanup(struct ck_lineage *l)
{
	if (l == NULL)
		return;
	free(l->name);
	st_strv_free(l->identifiers, l->nidentifiers);
	memset(l, 0, sizeof(*l));
}

void
ck_lineage_list_cleanup(struct ck_lineage_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		ck_lineage_cleanup(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
