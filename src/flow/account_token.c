/*
 * account_token.c - an ACME account key wherever it lives: the session's
 * key loaded as a signer (software from the store, or on a PKCS#11 token
 * through its stored URI), and the token key of a registration.  The
 * account flows sign through the signer and never ask where the key is.
 *
 * Must never: keep a PIN, or register with a token key the store has not
 * committed.
 */
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "flow/account_cache.h"
#include "flow/account_int.h"
#include "flow/certkey.h"

void
acct_flow_key_free(struct flow_key *fk)
{
	flow_key_cleanup(fk);
	free(fk);
}

enum ck_code
acct_session_key(struct ck_store *st, struct ck_account_session *s, const char *pin_file,
		 struct acct_cache *keys, struct ck_err *err)
{
	struct flow_key_src src = { NULL, NULL, pin_file };
	struct flow_key *fk = calloc(1, sizeof(*fk));
	EVP_PKEY *pub = NULL;
	enum ck_code rc;

	if (fk == NULL)
		return CK_OOM(err);
	if ((rc = acct_cache_key_load(keys, st, s->account.key_id, &src, fk, err)) != CK_OK)
		goto out;
	if ((pub = flow_key_public(fk)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	if ((rc = acme_client_set_account_signer(s->client, fk->signer, s->account.url, err)))
		goto out;
	acct_session_key_cleanup(s);
	EVP_PKEY_free(s->key);
	s->key = pub;
	s->signing = fk;
	pub = NULL;
	fk = NULL;
out:
	EVP_PKEY_free(pub);
	if (fk != NULL)
		acct_flow_key_free(fk);
	return rc;
}

void
acct_session_key_cleanup(struct ck_account_session *s)
{
	if (s->signing != NULL)
		acct_flow_key_free(s->signing);
	s->signing = NULL;
}

/*
 * 1 when the key of prev - a registration that never got its URL (the
 * server failed after the key was made and stored) - is a key on the token
 * the given URI names (same label; same CKA_ID when the URI has one): a
 * second run signs with that key again instead of making another one.
 */
static int
token_key_of_failed_run(struct ck_store *st, const char *given, const struct ck_account *prev)
{
	struct ck_pkcs11_uri g, k;
	struct ck_key_info ki;
	int same = 0;

	if (prev->id == 0 || prev->url != NULL || prev->key_id == 0)
		return 0;
	memset(&ki, 0, sizeof(ki));
	if (ck_store_key_info(st, prev->key_id, &ki, NULL) == CK_OK && ki.pkcs11_uri != NULL &&
	    ck_pkcs11_uri_parse(given, &g, NULL) == CK_OK &&
	    ck_pkcs11_uri_parse(ki.pkcs11_uri, &k, NULL) == CK_OK)
		same = (g.token[0] == '\0' || strcmp(g.token, k.token) == 0) &&
		       (!g.has_id || (g.id_len == k.id_len && memcmp(g.id, k.id, k.id_len) == 0)) &&
		       g.object[0] == '\0';
	ck_key_info_cleanup(&ki);
	return same;
}

/* prev: the stored account name of server, zeroed when there is none. */
static enum ck_code
token_prev(struct ck_store *st, const char *server, const char *name, struct ck_account *prev,
	   struct ck_err *err)
{
	enum ck_code rc = ck_store_account_get(st, server, name, prev, err);

	if (rc == CK_ERR_NOT_FOUND) {
		ck_err_clear(err);
		memset(prev, 0, sizeof(*prev));
		return CK_OK;
	}
	if (rc == CK_OK && prev->pending_key_id != 0)
		return CK_FAIL(err, CK_ERR_STATE, "account %s for %s has an interrupted key "
			       "rollover: run `certkeep account show --server %s --account %s` "
			       "first; nothing was changed", name, server, server, name);
	return rc;
}

enum ck_code
acct_token_register_key(struct ck_store *st, const struct ck_account_register_opts *o,
			const char *name, struct ck_account *prev, struct flow_key **out,
			struct ck_err *err)
{
	struct flow_key_src src = { o->token_uri, o->pkcs11_module, o->pin_file };
	char label[CK_STORE_NAME_MAX + 16];
	struct flow_key *fk;
	enum ck_code rc;

	if ((rc = token_prev(st, o->server, name, prev, err)) != CK_OK)
		return rc;
	if (prev->id != 0 && prev->url != NULL &&
	    (prev->status == NULL || strcmp(prev->status, "valid") == 0))
		return CK_FAIL(err, CK_ERR_EXISTS, "this store already has account %s for %s (%s): "
			       "pass --account NAME for an account with its key on the token, or "
			       "roll this one over (account rollover --token)", name, o->server,
			       prev->url);
	if ((fk = calloc(1, sizeof(*fk))) == NULL)
		return CK_OOM(err);
	if (token_key_of_failed_run(st, o->token_uri, prev)) {
		if ((rc = flow_key_load(fk, st, prev->key_id, &src, err)) != CK_OK) {
			free(fk);
			ck_err_prefix(err, "the account key an earlier run made on the token cannot "
				      "be used; nothing was registered");
			return rc;
		}
		*out = fk;
		return CK_OK;
	}
	snprintf(label, sizeof(label), "acme-account-%s", name);
	if ((rc = flow_key_new(fk, st, &src, o->key_type != CK_KEY_NONE ? o->key_type
					     : CK_KEY_EC256, label, err)) != CK_OK) {
		free(fk);
		ck_err_prefix(err, "the account key could not be made on the token; nothing was "
			      "registered");
		return rc;
	}
	*out = fk;
	return CK_OK;
}
