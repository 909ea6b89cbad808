/*
 * binding.c - bindings: a named deploy target that follows a lineage or
 * is pinned to one certificate, with what was last deployed there (and
 * a deploy in progress, for crash recovery).  The deploy engine
 * (src/deploy/) decides; the store keeps the rows so that removal refuses
 * certificates in use and doctor finds dangling or stale bindings.
 *
 * Must never: create a binding that names nothing in the store.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* What binding_put_body reads and writes. */
struct binding_put_args {
	const struct ck_binding *in;
	const char *pin;          /* the pinned SHA-256, NULL for a lineage */
	int64_t id;               /* OUT */
};

static enum ck_code
binding_put_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct binding_put_args *a = arg;
	const struct ck_binding *in = a->in;
	int64_t dummy = 0;
	enum ck_code rc;

	if (a->pin != NULL)
		rc = st_query_int(st, err, &dummy, "SELECT id FROM certificates WHERE sha256 = ?", "t",
				  a->pin);
	else
		rc = st_query_int(st, err, &dummy, "SELECT id FROM lineages WHERE name = ?", "t",
				  in->lineage);
	if (rc == CK_ERR_NOT_FOUND)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND,
			     "binding '%s' would name a %s the store does not have; nothing was "
			     "changed", in->name, a->pin ? "certificate" : "lineage");
	if (rc != CK_OK)
		return rc;
	rc = st_exec(st, err, NULL,
		     "INSERT INTO bindings (name, lineage, pinned_sha256, target, last_sha256, "
		     "state, updated, reload, verify, node) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
		     "ON CONFLICT(name) DO UPDATE SET "
		     "lineage = excluded.lineage, pinned_sha256 = excluded.pinned_sha256, "
		     "target = excluded.target, last_sha256 = coalesce(excluded.last_sha256, bindings."
		     "last_sha256), state = excluded.state, updated = excluded.updated, "
		     "reload = excluded.reload, verify = excluded.verify, node = excluded.node",
		     "ttttttIttt", in->name, in->lineage, a->pin, in->target,
		     in->last_sha256[0] ? in->last_sha256 : NULL, in->state ? in->state : "new",
		     (int64_t)st_now(st), in->reload, in->verify, in->node);
	if (rc != CK_OK)
		return rc;
	return st_query_int(st, err, &a->id, "SELECT id FROM bindings WHERE name = ?", "t",
			    in->name);
}

enum ck_code
ck_store_binding_put(struct ck_store *st, const struct ck_binding *in, int64_t *id,
		     struct ck_err *err)
{
	struct binding_put_args a = { in, NULL, 0 };
	const char *pin;
	enum ck_code rc;

	if (in == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no binding given");
	pin = in->pinned_sha256[0] ? in->pinned_sha256 : NULL;
	if ((rc = st_check_name("binding name", in->name, 1, err)) != CK_OK ||
	    (rc = st_check_name("lineage name", in->lineage, 0, err)) != CK_OK ||
	    (rc = st_check_text("binding target", in->target, CK_STORE_TEXT_MAX, 1, err)) != CK_OK ||
	    (rc = st_check_text("binding state", in->state, CK_STORE_NAME_MAX, 0, err)) != CK_OK ||
	    (rc = st_check_text("reload command", in->reload, CK_STORE_TEXT_MAX, 0, err)) != CK_OK ||
	    (rc = st_check_text("verify endpoint", in->verify, CK_STORE_TEXT_MAX, 0, err)) != CK_OK ||
	    (rc = st_check_name("node name", in->node, 0, err)) != CK_OK)
		return rc;
	if ((in->lineage == NULL) == (pin == NULL))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "a binding follows a lineage or is pinned to a certificate, not both");
	if (pin != NULL && (rc = st_check_hex("pinned SHA-256", pin, 64, err)) != CK_OK)
		return rc;
	if (in->last_sha256[0] && (rc = st_check_hex("deployed SHA-256", in->last_sha256, 64,
						      err)) != CK_OK)
		return rc;
	a.pin = pin;
	if ((rc = st_tx_run(st, err, "store.binding_put", binding_put_body, &a)) == CK_OK &&
	    id != NULL)
		*id = a.id;
	return rc;
}

enum ck_code
ck_store_binding_set_deployed(struct ck_store *st, const char *name, const char *sha256,
			      const char *state, struct ck_err *err)
{
	enum ck_code rc;
	int changes = 0;

	if ((rc = st_check_name("binding name", name, 1, err)) != CK_OK ||
	    (rc = st_check_hex("deployed SHA-256", sha256, 64, err)) != CK_OK ||
	    (rc = st_check_text("binding state", state, CK_STORE_NAME_MAX, 1, err)) != CK_OK)
		return rc;
	rc = st_tx_exec(st, err, "store.binding_deployed", &changes,
			"UPDATE bindings SET last_sha256 = ?, state = ?, updated = ? WHERE name = ?",
			"ttit", sha256, state, (int64_t)st_now(st), name);
	if (rc == CK_OK && changes == 0)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "no binding named '%s'", name);
	return rc;
}

enum ck_code
ck_store_binding_deploy_begin(struct ck_store *st, const char *name, const char *sha256,
			      struct ck_err *err)
{
	enum ck_code rc;
	int changes = 0;

	if ((rc = st_check_name("binding name", name, 1, err)) != CK_OK ||
	    (rc = st_check_hex("certificate SHA-256", sha256, 64, err)) != CK_OK)
		return rc;
	rc = st_tx_exec(st, err, "store.binding_deploy_begin", &changes,
			"UPDATE bindings SET pending_sha256 = ?, state = 'deploying', updated = ? "
			"WHERE name = ?", "tit", sha256, (int64_t)st_now(st), name);
	if (rc == CK_OK && changes == 0)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "no binding named '%s'", name);
	return rc;
}

enum ck_code
ck_store_binding_deploy_end(struct ck_store *st, const char *name,
			    const struct ck_binding_outcome *o, struct ck_err *err)
{
	enum ck_code rc;
	int changes = 0;

	if (o == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no outcome given");
	if ((rc = st_check_name("binding name", name, 1, err)) != CK_OK ||
	    (rc = st_check_text("binding state", o->state, CK_STORE_NAME_MAX, 1, err)) != CK_OK ||
	    (rc = st_check_text("deploy result", o->result, CK_STORE_TEXT_MAX, 1, err)) != CK_OK ||
	    (rc = st_check_text("generation", o->generation, CK_STORE_TEXT_MAX, 0, err)) != CK_OK ||
	    (o->sha256 != NULL &&
	     (rc = st_check_hex("deployed SHA-256", o->sha256, 64, err)) != CK_OK))
		return rc;
	rc = st_tx_exec(st, err, "store.binding_deploy_end", &changes,
			"UPDATE bindings SET state = ?1, result = ?2, "
			"last_sha256 = coalesce(?3, last_sha256), "
			"deployed_at = CASE WHEN ?3 IS NULL THEN deployed_at ELSE ?5 END, "
			"generation = coalesce(?4, generation), pending_sha256 = NULL, "
			"updated = ?5 WHERE name = ?6", "ttttit", o->state, o->result, o->sha256,
			o->generation, (int64_t)st_now(st), name);
	if (rc == CK_OK && changes == 0)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "no binding named '%s'", name);
	return rc;
}

enum ck_code
ck_store_binding_remove(struct ck_store *st, const char *name, struct ck_err *err)
{
	enum ck_code rc;
	int changes = 0;

	if ((rc = st_check_name("binding name", name, 1, err)) != CK_OK)
		return rc;
	rc = st_tx_exec(st, err, "store.binding_remove", &changes,
			"DELETE FROM bindings WHERE name = ?", "t", name);
	if (rc == CK_OK && changes == 0)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "no binding named '%s'", name);
	return rc;
}

#define BINDING_COLS "SELECT b.id, b.name, b.lineage, b.pinned_sha256, b.target, " \
	"b.last_sha256, b.state, b.updated, b.reload, b.verify, b.deployed_at, b.result, " \
	"b.generation, b.pending_sha256, b.node FROM bindings b "

static enum ck_code
binding_row(struct st_stmt *s, void *elem, struct ck_err *err)
{
	struct ck_binding *b = elem;
	int oom = 0;

	b->id = st_col_int64(s, 0);
	b->name = st_col_dup(s, 1, &oom);
	b->lineage = st_col_dup(s, 2, &oom);
	st_col_copy(s, 3, b->pinned_sha256, sizeof(b->pinned_sha256));
	b->target = st_col_dup(s, 4, &oom);
	st_col_copy(s, 5, b->last_sha256, sizeof(b->last_sha256));
	b->state = st_col_dup(s, 6, &oom);
	b->updated = (time_t)st_col_int64(s, 7);
	b->reload = st_col_dup(s, 8, &oom);
	b->verify = st_col_dup(s, 9, &oom);
	b->deployed_at = (time_t)st_col_int64(s, 10);
	b->result = st_col_dup(s, 11, &oom);
	b->generation = st_col_dup(s, 12, &oom);
	st_col_copy(s, 13, b->pending_sha256, sizeof(b->pending_sha256));
	b->node = st_col_dup(s, 14, &oom);
	return oom ? CK_OOM(err) : CK_OK;
}

static void
binding_free(void *elem)
{
	ck_binding_cleanup(elem);
}

static const struct st_list_spec binding_spec = {
	sizeof(struct ck_binding), "bindings", binding_row, binding_free,
};

static enum ck_code
binding_query(struct ck_store *st, struct ck_binding_list *out, struct ck_err *err,
	      const char *sql, const char *fmt, int64_t arg)
{
	return st_list_read(st, err, &binding_spec, &out->items, &out->n, sql, fmt, arg);
}

enum ck_code
ck_store_binding_list(struct ck_store *st, struct ck_binding_list *out, struct ck_err *err)
{
	return binding_query(st, out, err, BINDING_COLS "ORDER BY b.name", "", 0);
}

enum ck_code
ck_store_binding_get(struct ck_store *st, const char *name, struct ck_binding *out,
		     struct ck_err *err)
{
	struct ck_binding b;
	enum ck_code rc;

	if ((rc = st_check_name("binding name", name, 1, err)) != CK_OK)
		return rc;
	memset(&b, 0, sizeof(b));
	rc = st_row_read(st, err, &binding_spec, &b, BINDING_COLS "WHERE b.name = ?", "t", name);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "no binding named '%s'; 'certkeep bindings' "
			       "lists them", name);
	if (rc == CK_OK)
		*out = b;
	return rc;
}

/*
 * Behind: a deploy was interrupted; or what is deployed (nothing yet, an
 * older certificate) is not what the binding should serve now: its
 * lineage's current certificate, or its pin.
 */
#define BINDING_OF_NODE BINDING_COLS \
	"LEFT JOIN lineages l ON l.name = b.lineage " \
	"LEFT JOIN certificates c ON c.id = l.current_cert_id " \
	"WHERE (b.node = ? OR b.node IS NULL) "
#define BINDING_BEHIND "AND (b.pending_sha256 IS NOT NULL OR " \
	"(b.last_sha256 IS NULL AND (c.sha256 IS NOT NULL OR b.pinned_sha256 IS NOT NULL)) OR " \
	"b.last_sha256 <> coalesce(c.sha256, b.pinned_sha256, b.last_sha256)) "

enum ck_code
ck_store_bindings_of_node(struct ck_store *st, const char *node, int behind_only,
			  struct ck_binding_list *out, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_check_name("node name", node, 1, err)) != CK_OK)
		return rc;
	if (behind_only)
		return st_list_read(st, err, &binding_spec, &out->items, &out->n,
				    BINDING_OF_NODE BINDING_BEHIND "ORDER BY b.name", "t", node);
	return st_list_read(st, err, &binding_spec, &out->items, &out->n,
			    BINDING_OF_NODE "ORDER BY b.name", "t", node);
}

enum ck_code
st_cert_bindings_tx(struct ck_store *st, int64_t cert_id, struct ck_binding_list *out,
		    struct ck_err *err)
{
	return binding_query(st, out, err,
			     BINDING_COLS "JOIN certificates c ON c.id = ?1 "
			     "WHERE b.pinned_sha256 = c.sha256 OR b.last_sha256 = c.sha256 OR "
			     "b.lineage IN (SELECT l.name FROM lineages l WHERE "
			     "l.current_cert_id = c.id) ORDER BY b.name",
			     "i", cert_id);
}

enum ck_code
ck_store_cert_bindings(struct ck_store *st, int64_t cert_id, struct ck_binding_list *out,
		       struct ck_err *err)
{
	return st_cert_bindings_tx(st, cert_id, out, err);
}

void
ck_binding_cleanup(struct ck_binding *b)
{
	if (b == NULL)
		return;
	free(b->name);
	free(b->lineage);
	free(b->target);
	free(b->state);
	free(b->reload);
	free(b->verify);
	free(b->result);
	free(b->generation);
	free(b->node);
	memset(b, 0, sizeof(*b));
}

void
ck_binding_list_cleanup(struct ck_binding_list *l)
{
	if (l != NULL)
		st_list_free(&l->items, &l->n, sizeof(*l->items), binding_free);
}
