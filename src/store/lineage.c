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

#include "store/renewal.h"
#include "store/store_int.h"

/* What lineage_put_body reads and writes. */
struct lineage_put_args {
	const char *name;
	const char *json;         /* the identifiers */
	const char *key_type;
	int64_t id;               /* OUT */
};

static enum ck_code
lineage_put_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct lineage_put_args *a = arg;
	enum ck_code rc;

	rc = st_query_int(st, err, &a->id, "SELECT id FROM lineages WHERE name = ?", "t", a->name);
	if (rc == CK_OK)
		return st_exec(st, err, NULL,
			       "UPDATE lineages SET identifiers = ?, "
			       "key_type = coalesce(?, key_type) WHERE id = ?",
			       "tti", a->json, a->key_type, a->id);
	if (rc == CK_ERR_NOT_FOUND)
		rc = st_lineage_ensure_tx(st, a->name, a->json, a->key_type, &a->id, err);
	return rc;
}

enum ck_code
ck_store_lineage_put(struct ck_store *st, const char *name, const char *const *identifiers,
		     size_t n, const char *key_type, int64_t *id, struct ck_err *err)
{
	struct lineage_put_args a = { name, NULL, key_type, 0 };
	char *json = NULL;
	enum ck_code rc;

	if ((rc = st_check_name("lineage name", name, 1, err)) != CK_OK ||
	    (rc = st_check_text("key type", key_type, 15, 0, err)) != CK_OK)
		return rc;
	if ((rc = st_strv_to_json(identifiers, n, CK_STORE_IDENT_MAX, CK_NAME_MAX, &json, err)) !=
	    CK_OK)
		return rc;
	a.json = json;
	/* Already as asked (every renewal puts its lineage unchanged): nothing
	 * to commit.  A writer racing this read is ordered after it. */
	if (st->in_tx == 0 &&
	    st_query_int(st, NULL, &a.id, "SELECT id FROM lineages WHERE name = ? AND "
			 "identifiers = ? AND key_type = coalesce(?, key_type)",
			 "ttt", name, json, key_type) == CK_OK)
		rc = CK_OK;
	else
		rc = st_tx_run(st, err, "store.lineage_put", lineage_put_body, &a);
	if (rc == CK_OK && id != NULL)
		*id = a.id;
	free(json);
	return rc;
}

#define LINEAGE_COLS \
	"SELECT id, name, identifiers, key_type, current_cert_id, created, profile, " \
	"preferred_chain, challenge, token_uri, token_module, token_pin_file FROM lineages "

static enum ck_code
lineage_row(struct st_stmt *s, void *elem, struct ck_err *err)
{
	struct ck_lineage *l = elem;
	int oom = 0;

	l->id = st_col_int64(s, 0);
	l->name = st_col_dup(s, 1, &oom);
	st_col_copy(s, 3, l->key_type, sizeof(l->key_type));
	l->current_cert_id = st_col_int64(s, 4);
	l->created = (time_t)st_col_int64(s, 5);
	st_col_copy(s, 6, l->profile, sizeof(l->profile));
	l->preferred_chain = st_col_dup(s, 7, &oom);
	l->challenge = st_col_dup(s, 8, &oom);
	l->token_uri = st_col_dup(s, 9, &oom);
	l->token_module = st_col_dup(s, 10, &oom);
	l->token_pin_file = st_col_dup(s, 11, &oom);
	if (oom)
		return CK_OOM(err);
	return st_strv_from_json(st_col_text(s, 2), CK_STORE_IDENT_MAX,
				 &l->identifiers, &l->nidentifiers, err);
}

static void
lineage_free(void *elem)
{
	ck_lineage_cleanup(elem);
}

static const struct st_list_spec lineage_spec = {
	sizeof(struct ck_lineage), "lineages", lineage_row, lineage_free,
};

enum ck_code
ck_store_lineage_get(struct ck_store *st, const char *name, struct ck_lineage *out,
		     struct ck_err *err)
{
	struct ck_lineage l;
	enum ck_code rc;

	if ((rc = st_check_name("lineage name", name, 1, err)) != CK_OK)
		return rc;
	rc = st_row_read(st, err, &lineage_spec, &l, LINEAGE_COLS "WHERE name = ?", "t", name);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "no lineage is named '%s'", name);
	if (rc == CK_OK)
		*out = l;
	return rc;
}

enum ck_code
ck_store_lineage_list(struct ck_store *st, struct ck_lineage_list *out, struct ck_err *err)
{
	return st_list_read(st, err, &lineage_spec, &out->items, &out->n,
			    LINEAGE_COLS "ORDER BY name", "");
}

/* One text column of lineage name set to value (sql: "... SET col = ? WHERE
 * name = ?"), its own transaction; CK_ERR_NOT_FOUND if there is no such lineage. */
static enum ck_code
lineage_set_text(struct ck_store *st, const char *fault, const char *sql, const char *value,
		 const char *name, struct ck_err *err)
{
	enum ck_code rc;
	int changes = 0;

	rc = st_tx_exec(st, err, fault, &changes, sql, "tt", value, name);
	if (rc == CK_OK && changes == 0)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "no lineage is named '%s'", name);
	return rc;
}

#define PROFILE_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

enum ck_code
ck_store_lineage_profile_set(struct ck_store *st, const char *name, const char *profile,
			     struct ck_err *err)
{
	enum ck_code rc;

	if (profile != NULL && profile[0] == '\0')
		profile = NULL;
	if ((rc = st_check_name("lineage name", name, 1, err)) != CK_OK)
		return rc;
	if (profile != NULL && (strlen(profile) > CK_STORE_NAME_MAX ||
				strspn(profile, PROFILE_CHARS) != strlen(profile)))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "a profile name is 1 to %d of letters, digits, '.', '_' and '-'",
			       CK_STORE_NAME_MAX);
	return lineage_set_text(st, "store.lineage_profile",
				"UPDATE lineages SET profile = ? WHERE name = ?", profile, name, err);
}

/* 1 if s is well-formed UTF-8 without control characters (a CN as typed). */
static int
lineage_cn_ok(const unsigned char *s)
{
	size_t i = 0, k, more;

	while (s[i] != '\0') {
		if (s[i] < 0x20 || s[i] == 0x7f || s[i] == 0xC0 || s[i] == 0xC1 || s[i] > 0xF4)
			return 0; /* controls; bytes that start no shortest-form character */
		more = s[i] < 0x80 ? 0 : (s[i] & 0xE0) == 0xC0 ? 1 : (s[i] & 0xF0) == 0xE0 ? 2
			: (s[i] & 0xF8) == 0xF0 ? 3 : 4;
		if (more == 4)
			return 0;
		for (k = 1; k <= more; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
		i += more + 1;
	}
	return 1;
}

enum ck_code
ck_store_lineage_preferred_chain_set(struct ck_store *st, const char *name, const char *cn,
				     struct ck_err *err)
{
	enum ck_code rc;

	if (cn != NULL && cn[0] == '\0')
		cn = NULL;
	if ((rc = st_check_name("lineage name", name, 1, err)) != CK_OK)
		return rc;
	if (cn != NULL && (strlen(cn) > CK_STORE_CN_MAX || !lineage_cn_ok((const unsigned char *)cn)))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "a preferred chain is an issuer common name of at most %d bytes of "
			       "UTF-8 without control characters", CK_STORE_CN_MAX);
	return lineage_set_text(st, "store.lineage_preferred_chain",
				"UPDATE lineages SET preferred_chain = ? WHERE name = ?", cn, name, err);
}

enum ck_code
ck_store_lineage_challenge_set(struct ck_store *st, const char *name, const char *json,
			       struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_check_name("lineage name", name, 1, err)) != CK_OK ||
	    (rc = st_check_text("challenge settings", json, CK_STORE_CHALLENGE_MAX, 0, err)) !=
		    CK_OK)
		return rc;
	if (json != NULL && json[0] != '{')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "challenge settings must be a JSON object");
	return lineage_set_text(st, "store.lineage_challenge",
				"UPDATE lineages SET challenge = ? WHERE name = ?", json, name, err);
}

enum ck_code
ck_store_lineage_token_set(struct ck_store *st, const char *name, const char *uri,
			   const char *module, const char *pin_file, struct ck_err *err)
{
	enum ck_code rc;
	int changes = 0;

	if (uri != NULL && uri[0] == '\0')
		uri = NULL;
	if (uri == NULL)
		module = pin_file = NULL;
	if ((rc = st_check_name("lineage name", name, 1, err)) != CK_OK ||
	    (rc = st_check_text("token URI", uri, CK_STORE_URL_MAX, 0, err)) != CK_OK ||
	    (rc = st_check_text("PKCS#11 module path", module, CK_STORE_TEXT_MAX, 0, err)) != CK_OK ||
	    (rc = st_check_text("PIN file path", pin_file, CK_STORE_TEXT_MAX, 0, err)) != CK_OK)
		return rc;
	if (uri != NULL && (strncmp(uri, "pkcs11:", 7) != 0 || strstr(uri, "pin-value=") != NULL))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "a lineage's token is a pkcs11: URI without a pin-value");
	if (pin_file != NULL && strncmp(pin_file, "fd:", 3) == 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a lineage records a PIN file's path, "
			       "not a file descriptor ('%s')", pin_file);
	rc = st_tx_exec(st, err, "store.lineage_token", &changes,
			"UPDATE lineages SET token_uri = ?, token_module = ?, token_pin_file = ? "
			"WHERE name = ?", "tttt", uri, module, pin_file, name);
	if (rc == CK_OK && changes == 0)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "no lineage is named '%s'", name);
	return rc;
}

void
ck_lineage_cleanup(struct ck_lineage *l)
{
	if (l == NULL)
		return;
	free(l->name);
	free(l->preferred_chain);
	free(l->challenge);
	free(l->token_uri);
	free(l->token_module);
	free(l->token_pin_file);
	st_strv_free(l->identifiers, l->nidentifiers);
	memset(l, 0, sizeof(*l));
}

void
ck_lineage_list_cleanup(struct ck_lineage_list *l)
{
	if (l != NULL)
		st_list_free(&l->items, &l->n, sizeof(*l->items), lineage_free);
}

/* The due-scan's columns: lineage_row's, then due_at, the current
 * certificate's facts and the account of the order behind it (as
 * ck_store_cert_order_account finds it), then its renewal row
 * (st_renewal_cols, at 21). */
#define DUE_COLS                                                                          \
	"SELECT l.id, l.name, l.identifiers, l.key_type, l.current_cert_id, l.created, "    \
	"l.profile, l.preferred_chain, l.challenge, l.token_uri, l.token_module, "          \
	"l.token_pin_file, l.due_at, c.id, c.sha256, c.not_before, c.not_after, "           \
	"c.revoked_at, k.id IS NOT NULL, c.sans, "                                          \
	"(SELECT o.account_id FROM orders o JOIN accounts a ON a.id = o.account_id "        \
	"WHERE o.cert_id = c.id OR (o.url IS NOT NULL AND o.url = c.origin) "               \
	"ORDER BY o.id DESC LIMIT 1), "                                                     \
	"r.lineage, r.cert_sha256, r.ari_start, r.ari_end, r.ari_moment, r.ari_next, "      \
	"r.ari_explanation, r.failures, r.backoff_until, r.last_error, r.claim_owner, "     \
	"r.claim_until, r.claim_token "                                                     \
	"FROM lineages l LEFT JOIN certificates c ON c.id = l.current_cert_id "              \
	"LEFT JOIN keys k ON k.id = c.key_id LEFT JOIN renewal r ON r.lineage = l.name "

/* What due_row fills: the page, its arrays allocated for limit rows. */
struct due_read {
	struct ck_due_page *page;
	size_t limit;
};

/* One row of a due-scan page into its place (st_row_visit). */
static enum ck_code
due_row(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	struct due_read *d = arg;
	struct ck_due_page *p = d->page;
	struct ck_lineage_current *c;
	enum ck_code rc;

	(void)st;
	if (p->n == d->limit)
		return CK_FAIL(err, CK_ERR_INTERNAL, "a due-scan page is longer than its limit");
	rc = lineage_row(s, &p->lins[p->n], err);
	c = &p->cur[p->n];
	p->due_at[p->n] = (time_t)st_col_int64(s, 12);
	p->n++; /* cleaned up with the page, whole or not */
	if (rc == CK_OK && !st_col_is_null(s, 21))
		rc = st_renewal_cols(s, 21, &p->ren[p->n - 1], err);
	if (rc != CK_OK || st_col_is_null(s, 13))
		return rc;
	c->lineage_id = p->lins[p->n - 1].id;
	c->cert_id = st_col_int64(s, 13);
	st_col_copy(s, 14, c->sha256, sizeof(c->sha256));
	c->not_before = (time_t)st_col_int64(s, 15);
	c->not_after = (time_t)st_col_int64(s, 16);
	c->revoked_at = st_col_is_null(s, 17) ? 0 : (time_t)st_col_int64(s, 17);
	c->linked = st_col_int(s, 18) == 1;
	c->order_account_id = st_col_int64(s, 20);
	return st_strv_from_json(st_col_text(s, 19), CK_STORE_ROWS_MAX, &c->sans, &c->nsans, err);
}

enum ck_code
ck_store_due_page(struct ck_store *st, time_t by, struct ck_due_cursor *after, size_t limit,
		  struct ck_due_page *out, struct ck_err *err)
{
	struct ck_due_page p = { NULL, NULL, NULL, NULL, 0 };
	struct due_read d = { &p, limit };
	enum ck_code rc;

	if (limit == 0 || limit > CK_DUE_PAGE_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a due-scan page holds 1 to %d lineages",
			       CK_DUE_PAGE_MAX);
	p.lins = calloc(limit, sizeof(*p.lins));
	p.cur = calloc(limit, sizeof(*p.cur));
	p.due_at = calloc(limit, sizeof(*p.due_at));
	p.ren = calloc(limit, sizeof(*p.ren));
	if (p.lins == NULL || p.cur == NULL || p.due_at == NULL || p.ren == NULL)
		rc = CK_OOM(err);
	else if (by >= 0)
		rc = st_each_row(st, err, due_row, &d,
				 DUE_COLS "WHERE l.due_at <= ? AND (l.due_at, l.id) > (?, ?) "
				 "ORDER BY l.due_at, l.id LIMIT ?",
				 "iiii", (int64_t)by, (int64_t)after->due_at, after->id,
				 (int64_t)limit);
	else
		rc = st_each_row(st, err, due_row, &d, DUE_COLS "WHERE l.id > ? ORDER BY l.id LIMIT ?",
				 "ii", after->id, (int64_t)limit);
	if (rc == CK_OK && p.n > 0) {
		after->due_at = p.due_at[p.n - 1];
		after->id = p.lins[p.n - 1].id;
	}
	if (rc == CK_OK)
		*out = p;
	else
		ck_due_page_cleanup(&p);
	return rc;
}

void
ck_due_page_cleanup(struct ck_due_page *p)
{
	size_t i, j;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		ck_lineage_cleanup(&p->lins[i]);
		for (j = 0; j < p->cur[i].nsans; j++)
			free(p->cur[i].sans[j]);
		free(p->cur[i].sans);
		ck_renewal_cleanup(&p->ren[i]);
	}
	free(p->lins);
	free(p->cur);
	free(p->due_at);
	free(p->ren);
	memset(p, 0, sizeof(*p));
}

/* What due_set_body writes. */
struct due_set_args {
	const struct ck_due_set *v;
	size_t n;
};

#define DUE_SET_ROW_MAX 84 /* "(id,cert,was,due)," of four int64s, with room */

/*
 * One UPDATE for all the values (a round trip per page, not per lineage):
 * the rows as a VALUES list, numbers the store formats itself (no text
 * from outside); VALUES columns are named column1.. on both engines.
 */
static enum ck_code
due_set_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	static const char head[] = "UPDATE lineages SET due_at = v.column4 FROM (VALUES ";
	static const char tail[] = ") AS v WHERE lineages.id = v.column1 AND "
				   "lineages.current_cert_id = v.column2 AND lineages.due_at = v.column3";
	const struct due_set_args *a = arg;
	size_t i, len, cap = sizeof(head) + sizeof(tail) + a->n * DUE_SET_ROW_MAX;
	char *sql = malloc(cap);
	enum ck_code rc;

	if (sql == NULL)
		return CK_OOM(err);
	len = (size_t)snprintf(sql, cap, "%s", head);
	for (i = 0; i < a->n; i++)
		len += (size_t)snprintf(sql + len, cap - len, "%s(%lld,%lld,%lld,%lld)",
					i ? "," : "", (long long)a->v[i].id,
					(long long)a->v[i].cert_id, (long long)a->v[i].was,
					(long long)a->v[i].due_at);
	snprintf(sql + len, cap - len, "%s", tail);
	rc = st_exec(st, err, NULL, sql, "");
	free(sql);
	return rc;
}

enum ck_code
ck_store_due_set(struct ck_store *st, const struct ck_due_set *v, size_t n, struct ck_err *err)
{
	struct due_set_args a = { v, n };

	if (n == 0)
		return CK_OK;
	if (n > CK_DUE_PAGE_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "at most %d next-due times at once",
			       CK_DUE_PAGE_MAX);
	return st_tx_run(st, err, "store.due_set", due_set_body, &a);
}
