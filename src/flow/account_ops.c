/*
 * account_ops.c - the account lifecycle above the protocol: register
 * (with EAB, adoption of an existing account, resumption of an
 * interrupted registration), recover by key, refresh from the server,
 * update contacts and terms, deactivate.  Each keeps the store and the
 * server in step: keys are committed before the server sees them; the
 * store records what the server answered.
 *
 * Must never: send a request with a key the store has not committed
 * (except recover, which only asks and stores nothing until the server
 * answered), log EAB keys, or drop an account row that has a URL.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "flow/account_int.h"
#include "flow/certkey.h"

/* ---- register --------------------------------------------------------------- */

/* Refuses before anything is stored when the server's terms were not agreed to. */
static enum ck_code
register_precheck(struct acme_client *c, const struct ck_account_register_opts *o,
		  struct ck_err *err)
{
	const struct acme_directory *d;
	enum ck_code rc;

	if ((rc = acme_directory_get(c, &d, err)) != CK_OK)
		return rc;
	if (!o->agree_tos && d->terms_of_service != NULL) {
		char tos[256];
		ck_str_printable(tos, sizeof(tos), d->terms_of_service);
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "the server requires agreeing to its terms of service (%s): read "
			       "them and pass --agree-tos; nothing was stored", tos);
	}
	if (d->external_account_required && o->eab_kid == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "this ACME server requires External Account Binding: pass --eab-kid "
			       "and --eab-hmac-key-file from your CA; nothing was stored");
	return CK_OK;
}

/*
 * The key to register with: the caller's, else the key of an unfinished
 * (or same-keyed) row, else a new one.  A valid row with a URL and another
 * key is a different account: CK_ERR_EXISTS.  *prev is the existing row
 * (id 0 if none).
 */
static enum ck_code
register_key(struct ck_store *st, const struct ck_account_register_opts *o, const char *name,
	     struct ck_account *prev, EVP_PKEY **out, struct ck_err *err)
{
	EVP_PKEY *stored = NULL, *k = NULL;
	int prev_valid;
	enum ck_code rc;

	rc = ck_store_account_get(st, o->server, name, prev, err);
	if (rc != CK_OK && rc != CK_ERR_NOT_FOUND)
		return rc;
	if (rc == CK_ERR_NOT_FOUND)
		memset(prev, 0, sizeof(*prev));
	if (prev->pending_key_id != 0)
		return CK_FAIL(err, CK_ERR_STATE,
			       "account %s for %s has an interrupted key rollover: run `certkeep "
			       "account show --server %s --account %s` first (it asks the server "
			       "which key it accepts); nothing was changed", name, o->server,
			       o->server, name);
	prev_valid = prev->id != 0 && (prev->status == NULL || strcmp(prev->status, "valid") == 0);
	if (prev_valid && (rc = ck_store_key_load(st, prev->key_id, &stored, err)) != CK_OK)
		return rc;
	if (o->key != NULL) {
		if (prev_valid && prev->url != NULL && !ck_key_public_equal(o->key, stored)) {
			EVP_PKEY_free(stored);
			return CK_FAIL(err, CK_ERR_EXISTS,
				       "this store already has account %s for %s (%s) with another "
				       "key: pass --account NAME for a second account", name,
				       o->server, prev->url);
		}
		EVP_PKEY_free(stored);
		if (EVP_PKEY_up_ref(o->key) != 1)
			return CK_FAIL(err, CK_ERR_CRYPTO, "cannot reference the account key");
		*out = o->key;
		return CK_OK;
	}
	if (stored != NULL) {
		*out = stored; /* resume, or re-register (newAccount adopts) */
		return CK_OK;
	}
	if ((rc = ck_key_generate(o->key_type != CK_KEY_NONE ? o->key_type : CK_KEY_EC256, &k,
				  err)) != CK_OK)
		return rc;
	*out = k;
	return CK_OK;
}

/* Makes this account the server's default if the server has none, and the
 * server the store's default. */
static enum ck_code
register_defaults(struct ck_store *st, const char *server, const char *name, struct ck_err *err)
{
	struct ck_account cur = { 0 };
	enum ck_code rc = ck_store_account_get(st, server, NULL, &cur, NULL);

	ck_account_cleanup(&cur);
	if (rc != CK_OK && (rc = ck_store_account_set_default(st, server, name, err)) != CK_OK)
		return rc;
	return ck_store_setting_set(st, CK_SETTING_DEFAULT_SERVER, server, err);
}

/* Commits the key (key NULL: key_id is committed already, a token key)
 * and the (still URL-less unless re-registering) row. */
static enum ck_code
register_commit_key(struct ck_store *st, const struct ck_account_register_opts *o,
		    const char *name, const struct ck_account *prev, EVP_PKEY *key,
		    int64_t key_id, int64_t *row_id, struct ck_err *err)
{
	struct ck_account in = { 0 };
	enum ck_code rc;

	if (key != NULL && (rc = ck_store_key_put(st, key, &key_id, NULL, err)) != CK_OK)
		return rc;
	CK_FAULT("register.after_key");
	if (prev->id != 0 && prev->key_id == key_id && prev->url != NULL &&
	    (prev->status == NULL || strcmp(prev->status, "valid") == 0)) {
		*row_id = prev->id; /* same account again: the row stays as it is */
		return CK_OK;
	}
	in.id = prev->id;
	in.name = (char *)name;
	in.server = (char *)o->server;
	in.key_id = key_id;
	in.eab_kid = (char *)o->eab_kid;
	in.tos_agreed = o->agree_tos;
	in.status = "valid";
	rc = ck_store_account_put(st, &in, row_id, err);
	CK_FAULT("register.after_row");
	return rc;
}

/* Stores origins given for this registration (or recovery) as the server's list. */
static enum ck_code
origins_record(struct ck_store *st, const char *server, const struct ck_origins_arg *given,
	       struct ck_err *err)
{
	if (given == NULL || !given->given)
		return CK_OK;
	return ck_server_origins_set(st, server, given->v, given->n, err);
}

enum ck_code
ck_account_register(const struct ck_ctx *ctx, struct ck_store *st,
		    const struct ck_account_register_opts *o, struct ck_account *out, int *adopted,
		    struct ck_err *err)
{
	struct acme_client *c = NULL;
	struct acme_account_new_opts nopts = { 0 };
	struct acme_account a = { 0 };
	struct ck_account prev = { 0 }, row = { 0 };
	EVP_PKEY *key = NULL;
	struct flow_key *fk = NULL; /* a key on a token (o->token_uri) */
	const char *name = acct_name(o->name);
	int64_t row_id = 0;
	enum ck_code rc;

	if (!ck_store_name_valid(name))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "bad account name (use letters, digits, . _ -)");
	if ((rc = ck_server_client_new(ctx, st, o->server, o->ca_bundle, &o->allow_origins, &c,
					err)) != CK_OK ||
	    (rc = register_precheck(c, o, err)) != CK_OK ||
	    (rc = o->token_uri != NULL ? acct_token_register_key(st, o, name, &prev, &fk, err)
				       : register_key(st, o, name, &prev, &key, err)) != CK_OK ||
	    (rc = register_commit_key(st, o, name, &prev, key, fk ? fk->key_id : 0, &row_id,
				      err)) != CK_OK)
		goto out;
	nopts.contacts = o->contacts;
	nopts.ncontacts = o->ncontacts;
	nopts.agree_tos = o->agree_tos;
	nopts.eab_kid = o->eab_kid;
	nopts.eab_hmac_key = o->eab_hmac_key;
	nopts.eab_hmac_key_len = o->eab_hmac_key_len;
	if ((rc = fk != NULL ? acme_client_set_account_signer(c, fk->signer, NULL, err)
			     : acme_client_set_account(c, key, NULL, err)) != CK_OK ||
	    (rc = acme_account_new(c, &nopts, &a, err)) != CK_OK) {
		if (o->eab_kid != NULL && err != NULL && err->http_status >= 400 &&
		    err->http_status < 500)
			ck_err_prefix(err, "registration with EAB key id %s failed: check --eab-kid "
					   "and the HMAC key file from your CA (the account key stays "
					   "in the store; running register again reuses it)",
				      o->eab_kid);
		else
			ck_err_prefix(err, "registration failed (the account key stays in the store; "
					   "running register again reuses it)");
		goto out;
	}
	CK_FAULT("register.after_new_account");
	if ((rc = ck_store_account_get_id(st, row_id, &row, err)) != CK_OK ||
	    (rc = acct_store_server_view(st, &row, &a, err)) != CK_OK ||
	    (rc = register_defaults(st, o->server, name, err)) != CK_OK ||
	    (rc = origins_record(st, o->server, &o->allow_origins, err)) != CK_OK)
		goto out;
	ck_account_cleanup(&row);
	if ((rc = ck_store_account_get_id(st, row_id, &row, err)) != CK_OK)
		goto out;
	if (adopted != NULL)
		*adopted = !a.created;
	*out = row;
	memset(&row, 0, sizeof(row));
out:
	ck_account_cleanup(&row);
	ck_account_cleanup(&prev);
	acme_account_cleanup(&a);
	EVP_PKEY_free(key);
	acme_client_free(c);
	acct_flow_key_free(fk); /* after the client, which borrowed its signer */
	return rc;
}

/* ---- recover ---------------------------------------------------------------- */

/* ck_account_recover for key, or for the token key fk when fk is set. */
static enum ck_code
recover_key(const struct ck_ctx *ctx, struct ck_store *st, const char *server,
	    const char *name, EVP_PKEY *key, struct flow_key *fk, const char *ca_bundle,
	    const struct ck_origins_arg *allow_origins, struct ck_account *out,
	    struct ck_err *err)
{
	struct acme_client *c = NULL;
	struct acme_account_new_opts nopts = { .only_return_existing = 1 };
	struct acme_account a = { 0 };
	struct ck_account prev = { 0 }, in = { 0 };
	char *setting = NULL;
	int64_t key_id, row_id;
	enum ck_code rc;

	name = acct_name(name);
	if (!ck_store_name_valid(name))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "bad account name (use letters, digits, . _ -)");
	if ((rc = ck_server_client_new(ctx, st, server, ca_bundle, allow_origins, &c, err)) !=
		    CK_OK ||
	    (rc = fk != NULL ? acme_client_set_account_signer(c, fk->signer, NULL, err)
			     : acme_client_set_account(c, key, NULL, err)) != CK_OK)
		goto out;
	if ((rc = acme_account_new(c, &nopts, &a, err)) != CK_OK) {
		if (rc == CK_ERR_NOT_FOUND)
			rc = CK_FAIL(err, rc, "the server has no account for this key "
				     "(accountDoesNotExist); nothing was stored");
		goto out;
	}
	rc = ck_store_account_get(st, server, name, &prev, err);
	if (rc != CK_OK && rc != CK_ERR_NOT_FOUND)
		goto out;
	if (rc == CK_OK && prev.url != NULL && strcmp(prev.url, a.url) != 0 &&
	    (prev.status == NULL || strcmp(prev.status, "valid") == 0)) {
		rc = CK_FAIL(err, CK_ERR_EXISTS,
			     "this store already has another account %s for %s (%s): pass "
			     "--account NAME to recover this one under another name; nothing was "
			     "stored", name, server, prev.url);
		goto out;
	}
	if (fk != NULL ? (rc = flow_key_store(fk, st, err)) != CK_OK
		       : (rc = ck_store_key_put(st, key, &key_id, NULL, err)) != CK_OK)
		goto out;
	if (fk != NULL)
		key_id = fk->key_id;
	in.id = prev.id;
	in.name = (char *)name;
	in.server = (char *)server;
	in.key_id = key_id;
	in.eab_kid = prev.eab_kid;
	if ((rc = ck_store_account_put(st, &in, &row_id, err)) != CK_OK)
		goto out;
	ck_account_cleanup(&prev);
	if ((rc = ck_store_account_get_id(st, row_id, &prev, err)) != CK_OK ||
	    (rc = acct_store_server_view(st, &prev, &a, err)) != CK_OK)
		goto out;
	if (ck_store_setting_get(st, CK_SETTING_DEFAULT_SERVER, &setting, NULL) != CK_OK &&
	    (rc = register_defaults(st, server, name, err)) != CK_OK)
		goto out;
	if ((rc = origins_record(st, server, allow_origins, err)) != CK_OK)
		goto out;
	ck_account_cleanup(&prev);
	if ((rc = ck_store_account_get_id(st, row_id, &prev, err)) != CK_OK)
		goto out;
	*out = prev;
	memset(&prev, 0, sizeof(prev));
out:
	free(setting);
	ck_account_cleanup(&prev);
	acme_account_cleanup(&a);
	acme_client_free(c);
	return rc;
}

enum ck_code
ck_account_recover(const struct ck_ctx *ctx, struct ck_store *st, const char *server,
		   const char *name, EVP_PKEY *key, const char *ca_bundle,
		   const struct ck_origins_arg *allow_origins, struct ck_account *out,
		   struct ck_err *err)
{
	return recover_key(ctx, st, server, name, key, NULL, ca_bundle, allow_origins, out, err);
}

enum ck_code
ck_account_recover_token(const struct ck_ctx *ctx, struct ck_store *st, const char *server,
			 const char *name, const struct ck_token_target *tok,
			 const char *ca_bundle, const struct ck_origins_arg *allow_origins,
			 struct ck_account *out, struct ck_err *err)
{
	struct flow_key_src src = { tok ? tok->uri : NULL, tok ? tok->module : NULL,
				    tok ? tok->pin_file : NULL };
	struct flow_key fk;
	enum ck_code rc;

	if (src.token_uri == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no token URI for the account key");
	memset(&fk, 0, sizeof(fk));
	if ((rc = flow_key_find(&fk, &src, err)) != CK_OK) {
		ck_err_prefix(err, "the account key on the token cannot sign; nothing was stored");
		return rc;
	}
	rc = recover_key(ctx, st, server, name, NULL, &fk, ca_bundle, allow_origins, out, err);
	flow_key_cleanup(&fk); /* after recover_key freed the client that borrowed it */
	return rc;
}

/* ---- refresh, update, deactivate ---------------------------------------------- */

enum ck_code
ck_account_refresh(struct ck_store *st, struct ck_account_session *s, struct acme_account *out,
		   struct ck_err *err)
{
	struct acme_account a = { 0 };
	enum ck_code rc;

	if ((rc = acme_account_fetch(s->client, &a, err)) != CK_OK ||
	    (rc = acct_store_server_view(st, &s->account, &a, err)) != CK_OK ||
	    (rc = acct_reload(st, s, err)) != CK_OK)
		goto out;
	if (out != NULL) {
		*out = a;
		memset(&a, 0, sizeof(a));
	}
out:
	acme_account_cleanup(&a);
	return rc;
}

/*
 * Agreeing alone is an "empty update" to some servers (Pebble): send the
 * stored contacts along, which changes nothing else.  *list (json_decref)
 * keeps the strings alive.
 */
static enum ck_code
update_with_contacts(const struct ck_account *row, struct acme_account_update_opts *o,
		     const char **v, json_t **list, struct ck_err *err)
{
	json_t *arr = json_loads(row->contacts != NULL ? row->contacts : "[]", 0, NULL);
	size_t i;

	if (arr == NULL || !json_is_array(arr) || json_array_size(arr) > CK_STORE_CONTACT_MAX) {
		json_decref(arr);
		return CK_FAIL(err, CK_ERR_CORRUPT, "the stored contacts of account %s are not a "
			       "JSON list", row->name);
	}
	for (i = 0; i < json_array_size(arr); i++) {
		if ((v[i] = json_string_value(json_array_get(arr, i))) == NULL) {
			json_decref(arr);
			return CK_FAIL(err, CK_ERR_CORRUPT, "a stored contact of account %s is not "
				       "a string", row->name);
		}
	}
	o->set_contacts = 1;
	o->contacts = v;
	o->ncontacts = i;
	*list = arr;
	return CK_OK;
}

enum ck_code
ck_account_update(struct ck_store *st, struct ck_account_session *s,
		  const struct acme_account_update_opts *o, struct ck_err *err)
{
	struct acme_account a = { 0 };
	struct acme_account_update_opts o2 = *o;
	const char *stored[CK_STORE_CONTACT_MAX];
	json_t *list = NULL;
	enum ck_code rc;

	if (!o->set_contacts && o->agree_tos &&
	    (rc = update_with_contacts(&s->account, &o2, stored, &list, err)) != CK_OK)
		goto out;
	if ((rc = acme_account_update(s->client, &o2, &a, err)) != CK_OK)
		goto out;
	if (o->set_contacts && o->ncontacts == 0 && a.contacts.n > 0) {
		rc = CK_FAIL(err, CK_ERR_ACME, "the server kept the account's contacts although "
			     "an empty list was sent; the store is unchanged");
		goto out;
	}
	if ((rc = acct_store_server_view(st, &s->account, &a, err)) != CK_OK)
		goto out;
	if (o->agree_tos && a.tos_agreed != 1) {
		/* the server does not echo the agreement: record what was sent */
		struct ck_account in = { .id = s->account.id, .tos_agreed = 1 };
		if ((rc = ck_store_account_update(st, &in, err)) != CK_OK)
			goto out;
	}
	rc = acct_reload(st, s, err);
out:
	json_decref(list);
	acme_account_cleanup(&a);
	return rc;
}

enum ck_code
ck_account_deactivate(struct ck_store *st, struct ck_account_session *s, struct ck_err *err)
{
	struct acme_account a = { 0 };
	struct ck_account in = { .id = s->account.id, .status = "deactivated" };
	enum ck_code rc;

	if ((rc = acme_account_deactivate(s->client, &a, err)) != CK_OK)
		goto out;
	if ((rc = ck_store_account_update(st, &in, err)) != CK_OK) {
		ck_err_prefix(err, "the server deactivated the account but the store could not "
				   "record it");
		goto out;
	}
	rc = acct_reload(st, s, err);
out:
	acme_account_cleanup(&a);
	return rc;
}
