/*
 * account.c - ACME accounts (RFC 8555 section 7.3): newAccount (with
 * onlyReturnExisting and External Account Binding), fetch, update,
 * deactivate, keyChange.  Owns the request payloads and the parsing of
 * account objects.  Never stores keys: the caller persists the new key
 * before calling acme_account_key_change (invariant 3).
 */
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"
#include "crypto/crypto.h"

void
acme_account_cleanup(struct acme_account *a)
{
	if (a == NULL)
		return;
	free(a->url);
	free(a->status);
	free(a->orders);
	ck_strv_cleanup(&a->contacts);
	memset(a, 0, sizeof(*a));
}

/* Parses an account object from a 2xx answer; url from Location (or keep_url). */
static enum ck_code
account_parse(const struct acme_http_response *r, const char *keep_url, struct acme_account *out,
	      struct ck_err *err)
{
	struct acme_account a = { 0 };
	const char *loc = acme_http_response_header(r, "Location");
	json_t *j = NULL;
	enum ck_code rc;

	a.tos_agreed = -1;
	if (loc == NULL)
		loc = keep_url;
	if (loc == NULL || !acme_url_ok(loc)) {
		rc = CK_FAIL(err, CK_ERR_PARSE, "the server gave no https:// account URL (Location)");
		goto out;
	}
	if ((a.url = strdup(loc)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	if ((rc = acme_json_load(r->body, r->body_len, &j, err)) != CK_OK ||
	    (rc = acme_json_status(j, &a.status, &a.state, err)) != CK_OK ||
	    (rc = acme_json_strv(j, "contact", ACME_CONTACTS_MAX, ACME_CONTACT_MAX, 0, 0,
				 &a.contacts, err)) != CK_OK ||
	    (rc = acme_json_bool(j, "termsOfServiceAgreed", &a.tos_agreed, err)) != CK_OK ||
	    (rc = acme_json_url(j, "orders", 0, &a.orders, err)) != CK_OK)
		goto out;
	a.created = r->status == 201;
	*out = a;
	memset(&a, 0, sizeof(a));
out:
	if (rc != CK_OK)
		ck_err_prefix(err, "bad account object");
	acme_account_cleanup(&a);
	json_decref(j);
	return rc;
}

/* A JSON array of contact strings, each printable and bounded. */
static enum ck_code
contacts_json(const char *const *contacts, size_t n, json_t **out, struct ck_err *err)
{
	json_t *arr;
	size_t i, k;

	if (n > ACME_CONTACTS_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "more than %d contacts", ACME_CONTACTS_MAX);
	if ((arr = json_array()) == NULL)
		return CK_OOM(err);
	for (i = 0; i < n; i++) {
		const char *s = contacts[i];
		for (k = 0; s != NULL && s[k] != '\0'; k++)
			if ((unsigned char)s[k] <= 0x20 || (unsigned char)s[k] >= 0x7f)
				break;
		if (s == NULL || s[0] == '\0' || s[k] != '\0' || k > ACME_CONTACT_MAX) {
			json_decref(arr);
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "contact %zu is empty, too long or has spaces or control bytes",
				       i + 1);
		}
		if (json_array_append_new(arr, json_string(s)) != 0) {
			json_decref(arr);
			return CK_OOM(err);
		}
	}
	*out = arr;
	return CK_OK;
}

/* obj[name] = v, taking v in every case: json_object_set_new frees v when
 * it fails, so the caller must not touch v after this call. */
static enum ck_code
json_set(json_t *obj, const char *name, json_t *v, struct ck_err *err)
{
	if (v == NULL || json_object_set_new(obj, name, v) != 0)
		return CK_OOM(err);
	return CK_OK;
}

static enum ck_code
new_account_payload(struct acme_client *c, const struct acme_account_new_opts *o, const char *url,
		    char **out, struct ck_err *err)
{
	json_t *p = json_object(), *v = NULL, *jwk = NULL;
	enum ck_code rc = CK_ERR_NOMEM;

	if (p == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	if (o->ncontacts > 0) {
		if ((rc = contacts_json(o->contacts, o->ncontacts, &v, err)) != CK_OK ||
		    (rc = json_set(p, "contact", v, err)) != CK_OK)
			goto out;
	}
	if (o->agree_tos && (rc = json_set(p, "termsOfServiceAgreed", json_true(), err)) != CK_OK)
		goto out;
	if (o->only_return_existing &&
	    (rc = json_set(p, "onlyReturnExisting", json_true(), err)) != CK_OK)
		goto out;
	if (o->eab_kid != NULL) {
		if (o->eab_hmac_key == NULL || o->eab_hmac_key_len == 0) {
			rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "an EAB key id needs its HMAC key");
			goto out;
		}
		v = NULL;
		if ((rc = ck_jwk_from_key(c->key, &jwk, err)) != CK_OK ||
		    (rc = ck_jws_eab(o->eab_hmac_key, o->eab_hmac_key_len, o->eab_kid, url, jwk, &v,
				     err)) != CK_OK ||
		    (rc = json_set(p, "externalAccountBinding", v, err)) != CK_OK)
			goto out;
	}
	rc = acme_json_dump(p, out, err);
out:
	json_decref(jwk);
	json_decref(p);
	return rc;
}

enum ck_code
acme_account_new(struct acme_client *c, const struct acme_account_new_opts *opts,
		 struct acme_account *out, struct ck_err *err)
{
	static const struct acme_account_new_opts none = { 0 };
	const struct acme_directory *d;
	struct acme_http_response resp = { 0 };
	struct acme_account a = { 0 };
	struct acme_post_args args = { .use_jwk = 1 };
	struct ck_err e;
	char *payload = NULL, *kid = NULL;
	enum ck_code rc;

	if (opts == NULL)
		opts = &none;
	if (c->key == NULL)
		return CK_FAIL(err, CK_ERR_STATE, "no ACME account key is set");
	if ((rc = acme_directory_get(c, &d, err)) != CK_OK)
		return rc;
	if (opts->eab_kid == NULL && d->external_account_required && !opts->only_return_existing)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "this ACME server requires External Account Binding: pass "
			       "--eab-kid and --eab-hmac-key-file from your CA");
	if ((rc = new_account_payload(c, opts, d->new_account, &payload, err)) != CK_OK)
		goto out;
	args.url = d->new_account;
	args.payload = payload;
	ck_err_clear(&e);
	rc = acme_post_ex(c, &args, &resp, &e);
	if (rc != CK_OK) {
		if (acme_problem_is(&e, "accountDoesNotExist"))
			rc = ck_err_set(&e, CK_ERR_NOT_FOUND, __func__,
					"the server has no account for this key");
		if (err != NULL)
			*err = e;
		goto out;
	}
	if ((rc = account_parse(&resp, NULL, &a, err)) != CK_OK ||
	    (rc = acme_url_check_origin(c, a.url, "the account URL (Location)", err)) != CK_OK)
		goto out;
	if ((kid = strdup(a.url)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	free(c->kid);
	c->kid = kid;
	*out = a;
	memset(&a, 0, sizeof(a));
out:
	acme_account_cleanup(&a);
	acme_http_response_cleanup(&resp);
	ck_secure_strfree(payload); /* held the EAB MAC; not secret, but cheap */
	return rc;
}

/* POST payload to the kid and parse the account answer into *out (may be NULL). */
static enum ck_code
account_post(struct acme_client *c, const char *payload, struct acme_account *out,
	     struct ck_err *err)
{
	struct acme_http_response resp = { 0 };
	struct acme_account a = { 0 };
	enum ck_code rc;

	if ((rc = acme_client_need_kid(c, err)) != CK_OK)
		return rc;
	if ((rc = acme_post(c, c->kid, payload, &resp, err)) != CK_OK)
		goto out;
	if ((rc = account_parse(&resp, c->kid, &a, err)) != CK_OK)
		goto out;
	if (out != NULL) {
		*out = a;
		memset(&a, 0, sizeof(a));
	}
out:
	acme_account_cleanup(&a);
	acme_http_response_cleanup(&resp);
	return rc;
}

enum ck_code
acme_account_fetch(struct acme_client *c, struct acme_account *out, struct ck_err *err)
{
	return account_post(c, "", out, err);
}

enum ck_code
acme_account_update(struct acme_client *c, const struct acme_account_update_opts *o,
		    struct acme_account *out, struct ck_err *err)
{
	json_t *p = json_object(), *v = NULL;
	char *payload = NULL;
	enum ck_code rc = CK_ERR_NOMEM;

	if (p == NULL || o == NULL) {
		rc = CK_FAIL(err, p == NULL ? CK_ERR_NOMEM : CK_ERR_INVALID_ARG, "nothing to update");
		goto out;
	}
	if (o->set_contacts &&
	    ((rc = contacts_json(o->contacts, o->ncontacts, &v, err)) != CK_OK ||
	     (rc = json_set(p, "contact", v, err)) != CK_OK))
		goto out;
	if (o->agree_tos && (rc = json_set(p, "termsOfServiceAgreed", json_true(), err)) != CK_OK)
		goto out;
	if ((rc = acme_json_dump(p, &payload, err)) != CK_OK)
		goto out;
	rc = account_post(c, payload, out, err);
out:
	free(payload);
	json_decref(p);
	return rc;
}

enum ck_code
acme_account_deactivate(struct acme_client *c, struct acme_account *out, struct ck_err *err)
{
	return account_post(c, "{\"status\":\"deactivated\"}", out, err);
}

/* The keyChange payload: a JWS by new_key over {account, oldKey}, as JSON text. */
static enum ck_code
key_change_payload(struct acme_client *c, struct ck_signer *new_key, const char *url,
		   char **out, struct ck_err *err)
{
	json_t *inner_payload = json_object(), *old_jwk = NULL, *inner = NULL;
	char *ptext = NULL;
	enum ck_code rc;

	if (inner_payload == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	if ((rc = ck_jwk_from_key(c->key, &old_jwk, err)) != CK_OK ||
	    (rc = json_set(inner_payload, "account", json_string(c->kid), err)) != CK_OK)
		goto out;
	rc = json_set(inner_payload, "oldKey", old_jwk, err);
	old_jwk = NULL; /* json_set took it, also when it failed */
	if (rc != CK_OK)
		goto out;
	if ((rc = acme_json_dump(inner_payload, &ptext, err)) != CK_OK)
		goto out;
	/* RFC 8555 7.3.5: inner JWS has jwk and url, and no nonce. */
	if ((rc = ck_jws_sign_json_with(new_key, NULL, NULL, url, ptext, &inner, err)) != CK_OK)
		goto out;
	rc = acme_json_dump(inner, out, err);
out:
	free(ptext);
	json_decref(inner);
	json_decref(old_jwk);
	json_decref(inner_payload);
	return rc;
}

/*
 * Asks the server whether new_key already has an account (onlyReturnExisting
 * signed by new_key).  *owner is 0 (no account), 1 (this client's account:
 * an earlier keyChange already went through) or 2 (another account).
 * Servers differ on keyChange to a taken key (RFC 8555: 409; Pebble 2.4:
 * 500), so the question is asked first, the same way everywhere.
 */
static enum ck_code
key_owner(struct acme_client *c, struct ck_signer *new_key, const char *new_account_url,
	  int *owner, char *other, size_t other_len, struct ck_err *err)
{
	struct acme_post_args a = { .url = new_account_url, .key = ck_signer_pubkey(new_key),
				    .signer = new_key, .use_jwk = 1,
				    .payload = "{\"onlyReturnExisting\":true}" };
	struct acme_http_response resp = { 0 };
	struct ck_err e;
	const char *loc;
	enum ck_code rc;

	ck_err_clear(&e);
	rc = acme_post_ex(c, &a, &resp, &e);
	if (rc != CK_OK) {
		if (!acme_problem_is(&e, "accountDoesNotExist")) {
			if (err != NULL)
				*err = e;
			return rc;
		}
		*owner = 0;
		return CK_OK;
	}
	loc = acme_http_response_header(&resp, "Location");
	*owner = (loc != NULL && strcmp(loc, c->kid) == 0) ? 1 : 2;
	ck_str_printable(other, other_len, loc != NULL ? loc : "(unknown)");
	acme_http_response_cleanup(&resp);
	return CK_OK;
}

/* The client signs with new_key (*own: the client takes it, and *own is
 * cleared) from now on; the rollover grace opens. */
static enum ck_code
key_switch(struct acme_client *c, struct ck_signer *new_key, int *own, struct ck_err *err)
{
	EVP_PKEY *pub = ck_signer_pubkey(new_key);

	if (EVP_PKEY_up_ref(pub) != 1)
		return CK_FAIL(err, CK_ERR_CRYPTO,
			       "the server accepted the new key but it cannot be referenced");
	EVP_PKEY_free(c->key);
	free(c->thumbprint);
	c->thumbprint = NULL;
	c->key = pub;
	acme_client_signer_set(c, new_key, *own);
	*own = 0;
	acme_client_arm_rollover_grace(c);
	return CK_OK;
}

static enum ck_code key_change(struct acme_client *c, struct ck_signer *new_key, int *own,
				struct ck_err *err);

enum ck_code
acme_account_key_change(struct acme_client *c, EVP_PKEY *new_key, struct ck_err *err)
{
	struct ck_signer *s = NULL;
	enum ck_code rc;
	int own = 1;

	if (new_key == NULL || ck_jws_alg(new_key) == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the new account key cannot sign ACME requests");
	if ((rc = ck_signer_from_key(new_key, &s, err)) != CK_OK)
		return rc;
	rc = key_change(c, s, &own, err);
	if (own)
		ck_signer_free(s);
	return rc;
}

enum ck_code
acme_account_key_change_signer(struct acme_client *c, struct ck_signer *new_key,
			       struct ck_err *err)
{
	int own = 0;

	return key_change(c, new_key, &own, err);
}

/* keyChange to new_key; on success the client signs with it (see key_switch). */
static enum ck_code
key_change(struct acme_client *c, struct ck_signer *new_key, int *own, struct ck_err *err)
{
	const struct acme_directory *d;
	struct acme_http_response resp = { 0 };
	struct acme_post_args args = { 0 };
	char *payload = NULL, other[ACME_URL_MAX / 8];
	struct ck_err e;
	enum ck_code rc;
	int owner = 0;

	if (new_key == NULL || ck_jws_alg(ck_signer_pubkey(new_key)) == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the new account key cannot sign ACME requests");
	if ((rc = acme_client_need_kid(c, err)) != CK_OK)
		return rc;
	if (ck_key_public_equal(ck_signer_pubkey(new_key), c->key))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the new account key is the current one");
	if ((rc = acme_directory_get(c, &d, err)) != CK_OK)
		return rc;
	if (d->key_change == NULL)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED,
			       "this ACME server offers no keyChange; the account keeps its key");
	if ((rc = key_owner(c, new_key, d->new_account, &owner, other, sizeof(other), err)) !=
	    CK_OK)
		goto out;
	if (owner == 1) {
		ck_log(&c->ctx->log, CK_LOG_INFO,
		       "the server already holds the new key for this account (an earlier "
		       "rollover went through); using it");
		rc = key_switch(c, new_key, own, err);
		goto out;
	}
	if (owner == 2) {
		rc = CK_FAIL(err, CK_ERR_EXISTS,
			     "the new key is already in use by another account (%s); the account "
			     "keeps its old key: roll over to a freshly generated key", other);
		goto out;
	}
	if ((rc = key_change_payload(c, new_key, d->key_change, &payload, err)) != CK_OK)
		goto out;
	args.url = d->key_change;
	args.payload = payload;
	ck_err_clear(&e);
	if ((rc = acme_post_ex(c, &args, &resp, &e)) != CK_OK) {
		if (e.http_status == 409)
			rc = ck_err_set(&e, CK_ERR_EXISTS, __func__,
					"the new key is already in use by another account on this "
					"server; the account keeps its old key: roll over to a "
					"freshly generated key");
		else
			ck_err_prefix(&e, "keyChange failed"); /* the caller knows what it means */
		if (err != NULL)
			*err = e;
		goto out;
	}
	rc = key_switch(c, new_key, own, err);
out:
	free(payload);
	acme_http_response_cleanup(&resp);
	return rc;
}
