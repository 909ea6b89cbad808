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
