/*
 * account.c - ACME accounts: several per server, one default per server,
 * and the two-step key rollover (invariant 3: the new key is committed as
 * the pending key before keyChange is sent; the switch is one transaction
 * that bumps the generation so caches of the old key go stale).
 *
 * Must never: replace an account key without a committed successor, lose
 * the pending key while a rollover may be in flight (only clear_pending or
 * commit_rollover end it), or let a general update write a key back (what
 * a caller read before its network round trip is stale: only the rollover
 * calls, registration and recovery change key_id).
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#define ACCOUNT_DEFAULT_NAME "default"
#define ACCOUNT_DEFAULT_SETTING "default_account:"

/* The fields the server reports: url, contacts, status. */
static enum ck_code
check_view(const struct ck_account *in, struct ck_err *err)
{
	char **v = NULL;
	size_t n = 0;
	enum ck_code rc;

	if ((rc = st_check_text("account URL", in->url, CK_STORE_URL_MAX, 0, err)) != CK_OK ||
	    (rc = st_check_text("contacts", in->contacts, CK_STORE_TEXT_MAX, 0, err)) != CK_OK)
		return rc;
	if (in->status != NULL && strcmp(in->status, "valid") != 0 &&
	    strcmp(in->status, "deactivated") != 0 && strcmp(in->status, "revoked") != 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "unknown account status");
	if (in->contacts != NULL) {
		if ((rc = st_strv_from_json(in->contacts, CK_STORE_CONTACT_MAX, &v, &n, err)) != CK_OK)
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "contacts must be a JSON array of at most %d strings",
				       CK_STORE_CONTACT_MAX);
		st_strv_free(v, n);
	}
	return CK_OK;
}

static enum ck_code
check_account(const struct ck_account *in, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = st_check_name("account name", in->name, 0, err)) != CK_OK ||
	    (rc = st_check_text("server URL", in->server, CK_STORE_URL_MAX, 1, err)) != CK_OK ||
	    (rc = st_check_text("EAB key id", in->eab_kid, CK_STORE_TEXT_MAX, 0, err)) != CK_OK)
		return rc;
	if (in->key_id <= 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "an account needs its key committed first");
	return check_view(in, err);
}

/* What account_put_body reads and writes. */
struct account_put_args {
	const struct ck_account *in;
	const char *name;
	int64_t id;               /* OUT */
};

/* The account's id if it exists, 0 if not (CK_OK either way). */
static enum ck_code
account_find(struct ck_store *st, const struct ck_account *in, const char *name, int64_t *aid,
	     struct ck_err *err)
{
	enum ck_code rc;

	*aid = 0;
	if (in->id > 0)
		rc = st_query_int(st, err, aid, "SELECT id FROM accounts WHERE id = ?", "i", in->id);
	else
		rc = st_query_int(st, err, aid,
				  "SELECT id FROM accounts WHERE server = ? AND name = ?", "tt",
				  in->server, name);
	if (rc == CK_ERR_NOT_FOUND && in->id > 0)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "account %lld is not in the store",
			       (long long)in->id);
	return rc == CK_ERR_NOT_FOUND ? CK_OK : rc;
}

/* Updates account aid (its key only if no rollover is in progress). */
static enum ck_code
account_overwrite(struct ck_store *st, const struct ck_account *in, const char *name,
		  int64_t aid, int64_t *old_key, struct ck_err *err)
{
	int64_t pending = 0;
	enum ck_code rc;

	if ((rc = st_query_int(st, err, old_key,
			       "SELECT key_id FROM accounts WHERE id = ?", "i", aid)) != CK_OK)
		return rc;
	if ((rc = st_query_int(st, err, &pending, "SELECT COALESCE(pending_key_id, 0) "
			       "FROM accounts WHERE id = ?", "i", aid)) != CK_OK)
		return rc;
	if (*old_key != in->key_id && pending != 0)
		return CK_FAIL(err, CK_ERR_STATE,
			       "account %lld has a key rollover in progress: its key is not "
			       "replaced; resolve the rollover first (any account command "
			       "does)", (long long)aid);
	/* A registration or recovery over the row: whatever it changed, a cached
	 * session of this account is re-read (its generation moves). */
	return st_exec(st, err, NULL,
		       "UPDATE accounts SET name = ?, server = ?, url = ?, key_id = ?, "
		       "contacts = ?, status = ?, tos_agreed = ?, eab_kid = ?, "
		       "generation = generation + 1 WHERE id = ?",
		       "tttittiti", name, in->server, in->url, in->key_id,
		       in->contacts ? in->contacts : "[]", in->status ? in->status : "valid",
		       (int64_t)(in->tos_agreed != 0), in->eab_kid, aid);
}

static enum ck_code
account_put_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct account_put_args *a = arg;
	const struct ck_account *in = a->in;
	int64_t aid = 0, old_key = 0;
	enum ck_code rc;

	if ((rc = st_key_exists_tx(st, in->key_id, "the account's key", "", err)) != CK_OK ||
	    (rc = account_find(st, in, a->name, &aid, err)) != CK_OK)
		return rc;
	if (aid != 0)
		rc = account_overwrite(st, in, a->name, aid, &old_key, err);
	else
		rc = st_query_int(st, err, &aid,
				  "INSERT INTO accounts (name, server, url, key_id, contacts, status, "
				  "tos_agreed, eab_kid, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
				  "RETURNING id",
				  "tttittiti", a->name, in->server, in->url, in->key_id,
				  in->contacts ? in->contacts : "[]",
				  in->status ? in->status : "valid", (int64_t)(in->tos_agreed != 0),
				  in->eab_kid, (int64_t)st_now(st));
	if (rc != CK_OK)
		return rc;
	if (old_key != in->key_id && (rc = st_generation_bump_tx(st, err)) != CK_OK)
		return rc;
	a->id = aid;
	return CK_OK;
}

enum ck_code
ck_store_account_put(struct ck_store *st, const struct ck_account *in, int64_t *id,
		     struct ck_err *err)
{
	struct account_put_args a = { in, NULL, 0 };
	enum ck_code rc;

	if (in == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no account given");
	if ((rc = check_account(in, err)) != CK_OK)
		return rc;
	a.name = in->name ? in->name : ACCOUNT_DEFAULT_NAME;
	if ((rc = st_tx_run(st, err, "store.account_put", account_put_body, &a)) != CK_OK)
		return rc;
	if (id != NULL)
		*id = a.id;
	return CK_OK;
}

enum ck_code
ck_store_account_update(struct ck_store *st, const struct ck_account *in, struct ck_err *err)
{
	enum ck_code rc;
	int changes = 0;

	if (in == NULL || in->id <= 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no account row given");
	if ((rc = check_view(in, err)) != CK_OK)
		return rc;
	/* The generation moves only when the URL (the kid) or the status does:
	 * a refresh that changes nothing keeps every cached session. */
	rc = st_tx_exec(st, err, "store.account_update", &changes,
			"UPDATE accounts SET "
			"generation = generation + CASE WHEN COALESCE(?1, url, '') <> "
			"COALESCE(url, '') OR COALESCE(?3, status, '') <> COALESCE(status, '') "
			"THEN 1 ELSE 0 END, "
			"url = COALESCE(?1, url), "
			"contacts = COALESCE(?2, contacts), status = COALESCE(?3, status), "
			"tos_agreed = CASE WHEN ?4 = 1 THEN 1 ELSE tos_agreed END WHERE id = ?5",
			"tttii", in->url, in->contacts, in->status,
			(int64_t)(in->tos_agreed != 0), in->id);
	if (rc == CK_OK && changes == 0)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "account %lld is not in the store",
			     (long long)in->id);
	return rc;
}

#define ACCOUNT_COLS                                                                \
	"SELECT id, name, server, url, key_id, pending_key_id, contacts, status, "     \
	"tos_agreed, eab_kid, created, generation FROM accounts "

static enum ck_code
account_row(struct st_stmt *s, void *elem, struct ck_err *err)
{
	struct ck_account *a = elem;
	int oom = 0;

	a->id = st_col_int64(s, 0);
	a->name = st_col_dup(s, 1, &oom);
	a->server = st_col_dup(s, 2, &oom);
	a->url = st_col_dup(s, 3, &oom);
	a->key_id = st_col_int64(s, 4);
	a->pending_key_id = st_col_int64(s, 5);
	a->contacts = st_col_dup(s, 6, &oom);
	a->status = st_col_dup(s, 7, &oom);
	a->tos_agreed = st_col_int(s, 8);
	a->eab_kid = st_col_dup(s, 9, &oom);
	a->created = (time_t)st_col_int64(s, 10);
	a->generation = st_col_int64(s, 11);
	return oom ? CK_OOM(err) : CK_OK;
}

static void
account_free(void *elem)
{
	ck_account_cleanup(elem);
}

static const struct st_list_spec account_spec = {
	sizeof(struct ck_account), "accounts", account_row, account_free,
};

/* The default account's name for server into out (n bytes); "" if none; ambiguous -> error. */
static enum ck_code
default_name(struct ck_store *st, const char *server, char *out, size_t n, struct ck_err *err)
{
	char *key = NULL, *v = NULL;
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r, count = 0;

	out[0] = '\0';
	if ((key = st_printf("%s%s", ACCOUNT_DEFAULT_SETTING, server)) == NULL)
		return CK_OOM(err);
	rc = ck_store_setting_get(st, key, &v, NULL);
	free(key);
	if (rc == CK_OK) {
		snprintf(out, n, "%s", v);
		free(v);
		return CK_OK;
	}
	if ((rc = st_prepare_bind(st, err, &s,
				  "SELECT name FROM accounts WHERE server = ? "
				  "ORDER BY name = 'default' DESC, name LIMIT 2",
				  "t", server)) != CK_OK)
		return rc;
	while ((r = st_step(st, s, err)) == 1) {
		if (count == 0)
			st_col_copy(s, 0, out, n);
		else if (strcmp(out, ACCOUNT_DEFAULT_NAME) != 0) {
			out[0] = '\0';
			rc = CK_FAIL(err, CK_ERR_AMBIGUOUS,
				     "several accounts exist for this server and none is the "
				     "default: name one with --account NAME");
		}
		count++;
	}
	if (r < 0)
		rc = err ? err->code : CK_ERR_STORE;
	st_finalize(s);
	return rc;
}

/* One account row; is_default from known_default (the server's default
 * account's name, just read by the caller) or, when NULL, read here. */
static enum ck_code
account_one(struct ck_store *st, struct ck_err *err, struct ck_account *out,
	    const char *known_default, const char *sql, const char *fmt, int64_t id, const char *a,
	    const char *b)
{
	struct ck_account acc;
	char def[CK_STORE_NAME_MAX + 1];
	enum ck_code rc;

	rc = fmt[0] == 'i' ? st_row_read(st, err, &account_spec, &acc, sql, fmt, id)
			   : st_row_read(st, err, &account_spec, &acc, sql, fmt, a, b);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND,
			       "no such ACME account in the store: register one with 'certkeep "
			       "account register'");
	if (rc != CK_OK)
		return rc;
	if (known_default != NULL)
		acc.is_default = strcmp(known_default, acc.name) == 0;
	else if (default_name(st, acc.server, def, sizeof(def), NULL) == CK_OK)
		acc.is_default = strcmp(def, acc.name) == 0;
	*out = acc;
	return CK_OK;
}

enum ck_code
ck_store_account_get(struct ck_store *st, const char *server, const char *name,
		     struct ck_account *out, struct ck_err *err)
{
	char def[CK_STORE_NAME_MAX + 1];
	const char *known = NULL;
	enum ck_code rc;

	if ((rc = st_check_text("server URL", server, CK_STORE_URL_MAX, 1, err)) != CK_OK ||
	    (rc = st_check_name("account name", name, 0, err)) != CK_OK)
		return rc;
	if (name == NULL) {
		if ((rc = default_name(st, server, def, sizeof(def), err)) != CK_OK)
			return rc;
		if (def[0] == '\0')
			return CK_FAIL(err, CK_ERR_NOT_FOUND,
				       "no ACME account for this server in the store: register one "
				       "with 'certkeep account register'");
		name = known = def;
	}
	return account_one(st, err, out, known, ACCOUNT_COLS "WHERE server = ? AND name = ?", "tt",
			   0, server, name);
}

enum ck_code
ck_store_account_get_id(struct ck_store *st, int64_t id, struct ck_account *out,
			struct ck_err *err)
{
	return account_one(st, err, out, NULL, ACCOUNT_COLS "WHERE id = ?", "i", id, NULL, NULL);
}

enum ck_code
ck_store_account_set_default(struct ck_store *st, const char *server, const char *name,
			     struct ck_err *err)
{
	char *key = NULL;
	int64_t id = 0;
	enum ck_code rc;

	if ((rc = st_check_text("server URL", server, CK_STORE_URL_MAX, 1, err)) != CK_OK ||
	    (rc = st_check_name("account name", name, 1, err)) != CK_OK)
		return rc;
	rc = st_query_int(st, err, &id, "SELECT id FROM accounts WHERE server = ? AND name = ?",
			  "tt", server, name);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "no account '%s' for this server", name);
	if (rc != CK_OK)
		return rc;
	if ((key = st_printf("%s%s", ACCOUNT_DEFAULT_SETTING, server)) == NULL)
		return CK_OOM(err);
	rc = ck_store_setting_set(st, key, name, err);
	free(key);
	return rc;
}

enum ck_code
ck_store_account_list(struct ck_store *st, struct ck_account_list *out, struct ck_err *err)
{
	struct ck_account_list l = { NULL, 0 };
	char def[CK_STORE_NAME_MAX + 1];
	enum ck_code rc;
	size_t i;

	if ((rc = st_list_read(st, err, &account_spec, &l.items, &l.n,
			       ACCOUNT_COLS "ORDER BY server, name", "")) != CK_OK)
		return rc;
	for (i = 0; i < l.n; i++) {
		if (default_name(st, l.items[i].server, def, sizeof(def), NULL) == CK_OK)
			l.items[i].is_default = strcmp(def, l.items[i].name) == 0;
	}
	*out = l;
	return CK_OK;
}

/* An account id and a key id, for the rollover bodies. */
struct account_key_args {
	int64_t account_id;
	int64_t key_id;
	unsigned keep_previous_s;
};

static enum ck_code
account_pending_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	const struct account_key_args *a = arg;
	int64_t pending = 0, dummy = 0;
	enum ck_code rc;

	if ((rc = st_key_exists_tx(st, a->key_id, "the new account key", "; nothing was changed",
				   err)) != CK_OK)
		return rc;
	rc = st_query_int(st, err, &dummy, "SELECT id FROM accounts WHERE id = ?", "i",
			  a->account_id);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "account %lld is not in the store",
			       (long long)a->account_id);
	if (rc != CK_OK)
		return rc;
	rc = st_query_int(st, err, &pending, "SELECT pending_key_id FROM accounts WHERE id = ?",
			  "i", a->account_id);
	if (rc == CK_OK && pending != a->key_id)
		return CK_FAIL(err, CK_ERR_STATE,
			       "account %lld already has a key rollover in progress (pending key "
			       "%lld); resolve it first", (long long)a->account_id,
			       (long long)pending);
	if (rc != CK_OK && rc != CK_ERR_NOT_FOUND)
		return rc;
	return st_exec(st, err, NULL, "UPDATE accounts SET pending_key_id = ?, "
		       "generation = generation + 1 WHERE id = ?", "ii", a->key_id,
		       a->account_id);
}

enum ck_code
ck_store_account_set_pending_key(struct ck_store *st, int64_t account_id, int64_t key_id,
				 struct ck_err *err)
{
	struct account_key_args a = { account_id, key_id, 0 };

	return st_tx_run(st, err, "store.account_pending", account_pending_body, &a);
}

enum ck_code
ck_store_account_commit_rollover(struct ck_store *st, int64_t account_id, struct ck_err *err)
{
	return ck_store_account_commit_rollover_keep(st, account_id, CK_STORE_ACCOUNT_KEEP_S, err);
}

static enum ck_code
account_rollover_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	const struct account_key_args *a = arg;
	enum ck_code rc;
	int changes = 0;

	rc = st_exec(st, err, &changes,
		     "UPDATE accounts SET previous_key_id = key_id, previous_until = ?, "
		     "key_id = pending_key_id, pending_key_id = NULL, "
		     "generation = generation + 1 WHERE id = ? AND pending_key_id IS NOT NULL",
		     "ii", (int64_t)st_now(st) + (int64_t)a->keep_previous_s, a->account_id);
	if (rc == CK_OK && changes == 0)
		rc = CK_FAIL(err, CK_ERR_STATE,
			     "account %lld has no key rollover in progress; nothing was changed",
			     (long long)a->account_id);
	if (rc != CK_OK)
		return rc;
	CK_FAULT("store.account_rollover.switch");
	return st_generation_bump_tx(st, err);
}

enum ck_code
ck_store_account_commit_rollover_keep(struct ck_store *st, int64_t account_id,
				      unsigned keep_previous_s, struct ck_err *err)
{
	struct account_key_args a = { account_id, 0, keep_previous_s };

	return st_tx_run(st, err, "store.account_rollover", account_rollover_body, &a);
}

enum ck_code
ck_store_account_clear_pending(struct ck_store *st, int64_t account_id, struct ck_err *err)
{
	enum ck_code rc;
	int changes = 0;

	rc = st_tx_exec(st, err, "store.account_clear_pending", &changes,
			"UPDATE accounts SET pending_key_id = NULL, generation = generation + 1 "
			"WHERE id = ?", "i", account_id);
	if (rc == CK_OK && changes == 0)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "account %lld is not in the store",
			     (long long)account_id);
	return rc;
}

void
ck_account_cleanup(struct ck_account *a)
{
	if (a == NULL)
		return;
	free(a->name);
	free(a->server);
	free(a->url);
	free(a->contacts);
	free(a->status);
	free(a->eab_kid);
	memset(a, 0, sizeof(*a));
}

void
ck_account_list_cleanup(struct ck_account_list *l)
{
	if (l != NULL)
		st_list_free(&l->items, &l->n, sizeof(*l->items), account_free);
}
