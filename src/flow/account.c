/*
 * account.c - opens an ACME account for use: picks the store's row (the
 * server's default account unless one is named), refuses rows that are
 * unfinished or deactivated, makes the acme_client, resolves an
 * interrupted key rollover (rollover.c) before anything is signed, loads
 * the key and re-arms the stale-key-cache tolerance when the last
 * rollover is recent.  Also the helpers account_ops.c and rollover.c
 * share.
 *
 * Must never: sign with a key the store has not committed, delete a key,
 * or touch the account's keys except through the store's rollover calls.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "flow/account_int.h"

const char *
acct_name(const char *name)
{
	return name != NULL ? name : "default";
}

/* ---- rollover record (settings) ------------------------------------------ */

static void
record_key(int64_t account_id, char *out, size_t n)
{
	snprintf(out, n, "%s%" PRId64, CK_ACCOUNT_ROLLOVER_SETTING, account_id);
}

enum ck_code
acct_rollover_record(struct ck_store *st, int64_t account_id, time_t when, unsigned grace_s,
		     struct ck_err *err)
{
	char key[64], value[64];

	record_key(account_id, key, sizeof(key));
	snprintf(value, sizeof(value), "%lld %u", (long long)when, grace_s);
	return ck_store_setting_set(st, key, value, err);
}

void
acct_rollover_read(struct ck_store *st, int64_t account_id, time_t *when, unsigned *grace_s)
{
	char key[64], *value = NULL;
	long long w = 0;
	unsigned g = ACME_ROLLOVER_GRACE_S;

	*when = 0;
	*grace_s = ACME_ROLLOVER_GRACE_S;
	record_key(account_id, key, sizeof(key));
	if (ck_store_setting_get(st, key, &value, NULL) != CK_OK)
		return;
	if (sscanf(value, "%lld %u", &w, &g) == 2 && w >= 0 && g <= CK_ACCOUNT_GRACE_MAX) {
		*when = (time_t)w;
		*grace_s = g;
	}
	free(value);
}

/* ---- conversions ------------------------------------------------------------ */

enum ck_code
acct_contacts_json(const struct ck_strv *v, char **out, struct ck_err *err)
{
	json_t *arr = json_array();
	char *text = NULL;
	size_t i;

	if (arr == NULL)
		return CK_OOM(err);
	for (i = 0; v != NULL && i < v->n && i < CK_STORE_CONTACT_MAX; i++) {
		if (json_array_append_new(arr, json_string(v->v[i])) != 0) {
			json_decref(arr);
			return CK_OOM(err);
		}
	}
	text = ck_json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (text == NULL)
		return CK_OOM(err);
	*out = text;
	return CK_OK;
}

enum ck_code
acct_reload(struct ck_store *st, struct ck_account_session *s, struct ck_err *err)
{
	struct ck_account fresh = { 0 };
	enum ck_code rc;

	if ((rc = ck_store_account_get_id(st, s->account.id, &fresh, err)) != CK_OK)
		return rc;
	ck_account_cleanup(&s->account);
	s->account = fresh;
	return CK_OK;
}

enum ck_code
acct_store_server_view(struct ck_store *st, struct ck_account *row, const struct acme_account *a,
		       struct ck_err *err)
{
	struct ck_account in = { 0 };
	char *contacts = NULL;
	enum ck_code rc;

	if ((rc = acct_contacts_json(&a->contacts, &contacts, err)) != CK_OK)
		return rc;
	/* only what the server said: never the key read before the round trip */
	in.id = row->id;
	in.contacts = contacts;
	in.status = a->status;
	in.url = a->url;
	in.tos_agreed = a->tos_agreed == 1;
	rc = ck_store_account_update(st, &in, err);
	free(contacts);
	return rc;
}

/* ---- open ------------------------------------------------------------------- */

enum ck_code
ck_server_pick(struct ck_store *st, const char *server, char **out, struct ck_err *err)
{
	enum ck_code rc;

	if (server != NULL)
		return ck_strdup(server, out, err);
	rc = ck_store_setting_get(st, CK_SETTING_DEFAULT_SERVER, out, err);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, CK_ERR_NOT_FOUND,
			       "no ACME server given and the store has no default: pass --server "
			       "URL, or run `certkeep account register --server URL --agree-tos`");
	return rc;
}

static enum ck_code
row_pick(struct ck_store *st, const char *server, const char *name, struct ck_account *out,
	 struct ck_err *err)
{
	enum ck_code rc = ck_store_account_get(st, server, name, out, err);

	if (rc == CK_ERR_NOT_FOUND && name != NULL)
		return CK_FAIL(err, rc,
			       "no ACME account named %s for %s in this store: run `certkeep "
			       "account register --server %s --agree-tos --account %s`",
			       name, server, server, name);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_FAIL(err, rc,
			       "no ACME account for %s in this store: run `certkeep account "
			       "register --server %s --agree-tos`", server, server);
	if (rc == CK_ERR_AMBIGUOUS)
		return CK_FAIL(err, rc,
			       "the store has several accounts for %s and none is its default: "
			       "pass --account NAME (see `certkeep account list`)", server);
	return rc;
}

static enum ck_code
row_check(const struct ck_account *a, unsigned flags, struct ck_err *err)
{
	const char *status = a->status != NULL ? a->status : "valid";

	if (a->url == NULL)
		return CK_FAIL(err, CK_ERR_STATE,
			       "the registration of account %s on %s did not finish: run `certkeep "
			       "account register --server %s --agree-tos --account %s` again (it "
			       "reuses the stored key)", a->name, a->server, a->server, a->name);
	if ((flags & CK_ACCOUNT_REQUIRE_VALID) && strcmp(status, "valid") != 0)
		return CK_FAIL(err, CK_ERR_STATE,
			       "account %s on %s is %s: register a new account with `certkeep "
			       "account register --server %s --agree-tos` (nothing was sent)",
			       a->name, a->server, status, a->server);
	return CK_OK;
}

/* Re-arms the stale-key-cache tolerance for what is left of a recent rollover's window. */
static void
grace_rearm(const struct ck_ctx *ctx, struct ck_store *st, struct ck_account_session *s)
{
	time_t when, now = ck_now(ctx);
	unsigned grace;

	acct_rollover_read(st, s->account.id, &when, &grace);
	if (when == 0 || grace == 0 || now < when || now >= when + (time_t)grace)
		return;
	acme_client_set_rollover_grace(s->client, (unsigned)(when + (time_t)grace - now));
	acme_client_arm_rollover_grace(s->client);
	ck_log(&ctx->log, CK_LOG_DEBUG,
	       "account %s was rolled over %lld s ago: tolerating a stale server key cache "
	       "for %lld s more", s->account.name, (long long)(now - when),
	       (long long)(when + (time_t)grace - now));
}

enum ck_code
ck_account_open(const struct ck_ctx *ctx, struct ck_store *st, const char *server,
		const char *name, const char *ca_bundle, unsigned flags,
		struct ck_account_session *out, struct ck_err *err)
{
	return ck_account_open_pin(ctx, st, server, name, ca_bundle, flags, NULL, out, err);
}

enum ck_code
ck_account_open_pin(const struct ck_ctx *ctx, struct ck_store *st, const char *server,
		    const char *name, const char *ca_bundle, unsigned flags, const char *pin_file,
		    struct ck_account_session *out, struct ck_err *err)
{
	return acct_open(ctx, st, server, name, ca_bundle, flags, pin_file, NULL, out, err);
}

enum ck_code
acct_open(const struct ck_ctx *ctx, struct ck_store *st, const char *server, const char *name,
	  const char *ca_bundle, unsigned flags, const char *pin_file, struct acct_cache *keys,
	  struct ck_account_session *out, struct ck_err *err)
{
	struct ck_account_session s = { 0 };
	char *srv = NULL;
	enum ck_code rc;

	if (ctx == NULL || st == NULL || out == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "ck_account_open: missing argument");
	if ((rc = ck_server_pick(st, server, &srv, err)) != CK_OK)
		goto out;
	if (strlen(srv) > CK_STORE_URL_MAX) {
		rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "the ACME server URL is too long");
		goto out;
	}
	snprintf(s.server, sizeof(s.server), "%s", srv);
	if ((rc = row_pick(st, srv, name, &s.account, err)) != CK_OK ||
	    (rc = row_check(&s.account, flags, err)) != CK_OK)
		goto out;
	if ((rc = ck_server_client_new(ctx, st, srv, ca_bundle, NULL, &s.client, err)) != CK_OK)
		goto out;
	if (s.account.pending_key_id != 0 &&
	    (rc = acct_resolve_rollover(ctx, st, &s, pin_file, err)) != CK_OK)
		goto out;
	if ((rc = acct_session_key(st, &s, pin_file, keys, err)) != CK_OK) {
		ck_err_prefix(err, "account %s: cannot load its key", s.account.name);
		goto out;
	}
	if (s.account.pending_key_id == 0)
		grace_rearm(ctx, st, &s);
	*out = s;
	memset(&s, 0, sizeof(s));
out:
	ck_account_session_cleanup(&s);
	free(srv);
	return rc;
}

void
ck_account_session_cleanup(struct ck_account_session *s)
{
	if (s == NULL)
		return;
	acme_client_free(s->client); /* before what signs for it */
	acct_session_key_cleanup(s);
	EVP_PKEY_free(s->key);
	ck_account_cleanup(&s->account);
	memset(s, 0, sizeof(*s));
}
