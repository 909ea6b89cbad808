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

enum ck_code
ck_store_account_put(struct ck_store *st, const struct ck_account *in, int64_t *id,
		     struct ck_err *err)
{
	const char *name;
	int64_t aid = 0, old_key = 0, pending = 0, dummy = 0;
	enum ck_code rc;

	if (in == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no account given");
	if ((rc = check_account(in, err)) != CK_OK)
		return rc;
	name = in->name ? in->name : ACCOUNT_DEFAULT_NAME;
	if ((rc = st_begin(st, err)) != CK_OK)
		return rc;
	CK_FAULT("store.account_put.begin");
	rc = st_query_int(st, err, &dummy, "SELECT id FROM keys WHERE id = ?", "i", in->key_id);
	if (rc == CK_ERR_NOT_FOUND)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "the account's key %lld is not in the store",
			     (long long)in->key_id);
	if (rc != CK_OK)
		goto out;
	if (in->id > 0)
		rc = st_query_int(st, err, &aid, "SELECT id FROM accounts WHERE id = ?", "i", in->id);
	else
		rc = st_query_int(st, err, &aid,
				  "SELECT id FROM accounts WHERE server = ? AND name = ?", "tt",
				  in->server, name);
	if (rc == CK_OK) {
		if ((rc = st_query_int(st, err, &old_key,
				       "SELECT key_id FROM accounts WHERE id = ?", "i", aid)) != CK_OK)
			goto out;
		if ((rc = st_query_int(st, err, &pending, "SELECT COALESCE(pending_key_id, 0) "
				       "FROM accounts WHERE id = ?", "i", aid)) != CK_OK)
			goto out;
		if (old_key != in->key_id && pending != 0) {
			rc = CK_FAIL(err, CK_ERR_STATE,
				     "account %lld has a key rollover in progress: its key is not "
				     "replaced; resolve the rollover first (any account command "
				     "does)", (long long)aid);
			goto out;
		}
		rc = st_exec(st, err, NULL,
			     "UPDATE accounts SET name = ?, server = ?, url = ?, key_id = ?, "
			     "contacts = ?, status = ?, tos_agreed = ?, eab_kid = ? WHERE id = ?",
			     "tttittiti", name, in->server, in->url, in->key_id,
			     in->contacts ? in->contacts : "[]", in->status ? in->status : "valid",
			     (int64_t)(in->tos_agreed != 0), in->eab_kid, aid);
	} else if (rc == CK_ERR_NOT_FOUND) {
		if (in->id > 0) {
			rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "account %lld is not in the store",
				     (long long)in->id);
			goto out;
		}
		rc = st_query_int(st, err, &aid,
				  "INSERT INTO accounts (name, server, url, key_id, contacts, status, "
				  "tos_agreed, eab_kid, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
				  "RETURNING id",
			     "tttittiti", name, in->server, in->url, in->key_id,
			     in->contacts ? in->contacts : "[]", in->status ? in->status : "valid",
			     (int64_t)(in->tos_agreed != 0), in->eab_kid, (int64_t)st_now(st));
	}
	if (rc != CK_OK)
		goto out;
	if (old_key != in->key_id && (rc = st_generation_bump_tx(st, err)) != CK_OK)
		goto out;
	CK_FAULT("store.account_put.commit");
	if ((rc = st_commit(st, err)) != CK_OK)
		goto out;
	CK_FAULT("store.account_put.committed");
	if (id != NULL)
		*id = aid;
out:
	st_rollback(st);
	return rc;
}

enum ck_code
ck_store_account_update(struct ck_store *st, const struct ck_account *in, struct ck_err *err)
{
	int changes = 0;
	enum ck_code rc;

	if (in == NULL || in->id <= 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no account row given");
	if ((rc = check_view(in, err)) != CK_OK)
		return rc;
	if ((rc = st_begin(st, err)) != CK_OK)
		return rc;
	CK_FAULT("store.account_update.begin");
	rc = st_exec(st, err, &changes,
		     "UPDATE accounts SET url = COALESCE(?, url), "
		     "contacts = COALESCE(?, contacts), status = COALESCE(?, status), "
		     "tos_agreed = MAX(tos_agreed, ?) WHERE id = ?",
		     "tttii", in->url, in->contacts, in->status, (int64_t)(in->tos_agreed != 0),
		     in->id);
	if (rc == CK_OK && changes == 0)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "account %lld is not in the store",
			     (long long)in->id);
	if (rc != CK_OK)
		goto out;
	CK_FAULT("store.account_update.commit");
	rc = st_commit(st, err);
out:
	st_rollback(st);
	return rc;
}

#define ACCOUNT_COLS                                                                \
	"SELECT id, name, server, url, key_id, pending_key_id, contacts, status, "     \
	"tos_agreed, eab_kid, created FROM accounts "

static int
account_row(struct st_stmt *s, struct ck_account *a)
{
	int oom = 0;

	memset(a, 0, sizeof(*a));
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
	return oom;
}

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
		return CK_FAIL(err, CK_ERR_NOMEM, "out of memory");
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

static enum ck_code
account_one(struct ck_store *st, struct ck_err *err, struct ck_account *out, const char *sql,
	    const char *fmt, int64_t id, const char *a, const char *b)
{
	struct ck_account acc;
	struct st_stmt *s = NULL;
	char def[CK_STORE_NAME_MAX + 1];
	enum ck_code rc;
	int r;

	rc = fmt[0] == 'i' ? st_prepare_bind(st, err, &s, sql, fmt, id)
			   : st_prepare_bind(st, err, &s, sql, fmt, a, b);
	if (rc != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r < 0) {
		rc = err ? err->code : CK_ERR_STORE;
	} else if (r == 0) {
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND,
			     "no such ACME account in the store: register one with 'certkeep "
			     "account register'");
	} else if (account_row(s, &acc)) {
		ck_account_cleanup(&acc);
		rc = CK_FAIL(err, CK_ERR_NOMEM, "out of memory");
	} else {
		if (default_name(st, acc.server, def, sizeof(def), NULL) == CK_OK)
			acc.is_default = strcmp(def, acc.name) == 0;
		*out = acc;
	}
	st_finalize(s);
	return rc;
}

enum ck_code
ck_store_account_get(struct ck_store *st, const char *server, const char *name,
		     struct ck_account *out, struct ck_err *err)
{
	char def[CK_STORE_NAME_MAX + 1];
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
		name = def;
	}
	return account_one(st, err, out, ACCOUNT_COLS "WHERE server = ? AND name = ?", "tt", 0,
			   server, name);
}

enum ck_code
ck_store_account_get_id(struct ck_store *st, int64_t id, struct ck_account *out,
			struct ck_err *err)
{
	return account_one(st, err, out, ACCOUNT_COLS "WHERE id = ?", "i", id, NULL, NULL);
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
		return CK_FAIL(err, CK_ERR_NOMEM, "out of memory");
	rc = ck_store_setting_set(st, key, name, err);
	free(key);
	return rc;
}

enum ck_code
ck_store_account_list(struct ck_store *st, struct ck_account_list *out, struct ck_err *err)
{
	struct ck_account_list l = { NULL, 0 };
	char def[CK_STORE_NAME_MAX + 1];
	struct st_stmt *s = NULL;
	size_t cap = 0, i;
	enum ck_code rc;
	int r;

	if ((rc = st_prepare_bind(st, err, &s, ACCOUNT_COLS "ORDER BY server, name", "")) != CK_OK)
		return rc;
	while ((r = st_step(st, s, err)) == 1) {
		if ((rc = st_list_reserve(&l.items, &cap, l.n, sizeof(*l.items),
						   "accounts", err)) != CK_OK)
			goto out;
		if (account_row(s, &l.items[l.n++]))
			goto nomem;
	}
	if (r < 0) {
		rc = err ? err->code : CK_ERR_STORE;
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		if (default_name(st, l.items[i].server, def, sizeof(def), NULL) == CK_OK)
			l.items[i].is_default = strcmp(def, l.items[i].name) == 0;
	}
	*out = l;
	l.items = NULL;
	l.n = 0;
	rc = CK_OK;
	goto out;
nomem:
	rc = CK_FAIL(err, CK_ERR_NOMEM, "out of memory");
out:
	ck_account_list_cleanup(&l);
	st_finalize(s);
	return rc;
}

enum ck_code
ck_store_account_set_pending_key(struct ck_store *st, int64_t account_id, int64_t key_id,
				 struct ck_err *err)
{
	int64_t pending = 0, dummy = 0;
	enum ck_code rc;

	if ((rc = st_begin(st, err)) != CK_OK)
		return rc;
	CK_FAULT("store.account_pending.begin");
	rc = st_query_int(st, err, &dummy, "SELECT id FROM keys WHERE id = ?", "i", key_id);
	if (rc == CK_ERR_NOT_FOUND)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND,
			     "the new account key %lld is not in the store; nothing was changed",
			     (long long)key_id);
	if (rc != CK_OK)
		goto out;
	rc = st_query_int(st, err, &dummy, "SELECT id FROM accounts WHERE id = ?", "i", account_id);
	if (rc == CK_ERR_NOT_FOUND)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "account %lld is not in the store",
			     (long long)account_id);
	if (rc != CK_OK)
		goto out;
	rc = st_query_int(st, err, &pending, "SELECT pending_key_id FROM accounts WHERE id = ?",
			  "i", account_id);
	if (rc == CK_OK && pending != key_id) {
		rc = CK_FAIL(err, CK_ERR_STATE,
			     "account %lld already has a key rollover in progress (pending key "
			     "%lld); resolve it first", (long long)account_id, (long long)pending);
		goto out;
	}
	if (rc != CK_OK && rc != CK_ERR_NOT_FOUND)
		goto out;
	if ((rc = st_exec(st, err, NULL, "UPDATE accounts SET pending_key_id = ? WHERE id = ?",
			  "ii", key_id, account_id)) != CK_OK)
		goto out;
	CK_FAULT("store.account_pending.commit");
	if ((rc = st_commit(st, err)) != CK_OK)
		goto out;
	CK_FAULT("store.account_pending.committed");
out:
	st_rollback(st);
	return rc;
}

enum ck_code
ck_store_account_commit_rollover(struct ck_store *st, int64_t account_id, struct ck_err *err)
{
	return ck_store_account_commit_rollover_keep(st, account_id, CK_STORE_ACCOUNT_KEEP_S, err);
}

enum ck_code
ck_store_account_commit_rollover_keep(struct ck_store *st, int64_t account_id,
				      unsigned keep_previous_s, struct ck_err *err)
{
	enum ck_code rc;
	int changes = 0;

	if ((rc = st_begin(st, err)) != CK_OK)
		return rc;
	CK_FAULT("store.account_rollover.begin");
	rc = st_exec(st, err, &changes,
		     "UPDATE accounts SET previous_key_id = key_id, previous_until = ?, "
		     "key_id = pending_key_id, pending_key_id = NULL "
		     "WHERE id = ? AND pending_key_id IS NOT NULL",
		     "ii", (int64_t)st_now(st) + (int64_t)keep_previous_s, account_id);
	if (rc == CK_OK && changes == 0)
		rc = CK_FAIL(err, CK_ERR_STATE,
			     "account %lld has no key rollover in progress; nothing was changed",
			     (long long)account_id);
	if (rc != CK_OK)
		goto out;
	CK_FAULT("store.account_rollover.switch");
	if ((rc = st_generation_bump_tx(st, err)) != CK_OK)
		goto out;
	CK_FAULT("store.account_rollover.commit");
	if ((rc = st_commit(st, err)) != CK_OK)
		goto out;
	CK_FAULT("store.account_rollover.committed");
out:
	st_rollback(st);
	return rc;
}

enum ck_code
ck_store_account_clear_pending(struct ck_store *st, int64_t account_id, struct ck_err *err)
{
	enum ck_code rc;
	int changes = 0;

	if ((rc = st_begin(st, err)) != CK_OK)
		return rc;
	CK_FAULT("store.account_clear_pending.begin");
	rc = st_exec(st, err, &changes, "UPDATE accounts SET pending_key_id = NULL WHERE id = ?",
		     "i", account_id);
	if (rc == CK_OK && changes == 0)
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "account %lld is not in the store",
			     (long long)account_id);
	if (rc == CK_OK) {
		CK_FAULT("store.account_clear_pending.commit");
		rc = st_commit(st, err);
	}
	st_rollback(st);
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
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		ck_account_cleanup(&l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}
