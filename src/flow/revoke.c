/*
 * revoke.c - `certkeep revoke` as one call (include/certkeep/revoke.h):
 * find the certificate and who may sign for it, ask the server, record
 * only a definite answer.
 *
 * Must never: record a revocation the server did not confirm (a 5xx, a
 * timeout or a dropped connection is unknown), or let a key leave the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <certkeep/revoke.h>

#include "flow/account.h"
#include "flow/certkey.h"

static const struct {
	const char *name;
	int code;
} reasons[] = {
	{ "unspecified", CK_REVOKE_UNSPECIFIED },
	{ "keyCompromise", CK_REVOKE_KEY_COMPROMISE },
	{ "affiliationChanged", CK_REVOKE_AFFILIATION_CHANGED },
	{ "superseded", CK_REVOKE_SUPERSEDED },
	{ "cessationOfOperation", CK_REVOKE_CESSATION_OF_OPERATION },
};

enum ck_code
ck_revoke_reason_parse(const char *name, int *code, struct ck_err *err)
{
	size_t i;

	for (i = 0; name != NULL && i < CK_ARRAY_LEN(reasons); i++) {
		if (strcmp(name, reasons[i].name) == 0) {
			*code = reasons[i].code;
			return CK_OK;
		}
	}
	return CK_FAIL(err, CK_ERR_INVALID_ARG,
		       "unknown revocation reason \"%.40s\": use unspecified, keyCompromise, "
		       "superseded, affiliationChanged or cessationOfOperation",
		       name != NULL ? name : "");
}

const char *
ck_revoke_reason_name(int code)
{
	size_t i;

	for (i = 0; i < CK_ARRAY_LEN(reasons); i++)
		if (reasons[i].code == code)
			return reasons[i].name;
	return NULL;
}

/* What one revocation works with; released by signer_cleanup. */
struct signer {
	struct ck_account_session sess;  /* signing by account */
	int have_sess;
	struct acme_client *client;      /* signing by the certificate's key */
	EVP_PKEY *cert_key;              /* in the store */
	struct flow_key tok;             /* or on a token (tok.signer set) */
};

static void
signer_cleanup(struct signer *s)
{
	if (s->have_sess)
		ck_account_session_cleanup(&s->sess);
	acme_client_free(s->client);
	EVP_PKEY_free(s->cert_key);
	flow_key_cleanup(&s->tok);
	memset(s, 0, sizeof(*s));
}

/* The issuing account's server and name, when the store knows the order. */
static enum ck_code
issuing_account(struct ck_store *st, int64_t cert_id, struct ck_account *acct, int *found,
		struct ck_err *err)
{
	int64_t id = 0;
	enum ck_code rc;
	struct ck_err e;

	*found = 0;
	ck_err_clear(&e);
	rc = ck_store_cert_order_account(st, cert_id, &id, &e);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_OK;
	if (rc != CK_OK) {
		if (err != NULL)
			*err = e;
		return rc;
	}
	if ((rc = ck_store_account_get_id(st, id, acct, err)) == CK_OK)
		*found = 1;
	return rc;
}

/* A client for server signing with the certificate's own key (jwk). */
static enum ck_code
signer_cert_key(const struct ck_ctx *ctx, struct ck_store *st, const struct ck_cert_row *row,
		const char *server, const struct ck_revoke_opts *o, struct signer *s,
		struct ck_revoke_result *res, struct ck_err *err)
{
	char *dflt = NULL;
	enum ck_code rc;

	if (row->key_location == NULL)
		return CK_FAIL(err, CK_ERR_KEY_MISSING,
			       "certificate %.16s has no private key in this store, so it cannot "
			       "sign its own revocation: revoke it with the account that issued it "
			       "(without --with-cert-key)", row->sha256);
	if (server == NULL) {
		rc = ck_store_setting_get(st, CK_SETTING_DEFAULT_SERVER, &dflt, err);
		if (rc == CK_ERR_NOT_FOUND)
			rc = CK_FAIL(err, CK_ERR_INVALID_ARG,
				     "the store has no order for certificate %.16s and no default "
				     "server: name the CA with --server URL", row->sha256);
		if (rc != CK_OK)
			return rc;
		server = dflt;
	}
	snprintf(res->server, sizeof(res->server), "%s", server);
	snprintf(res->signer, sizeof(res->signer), "the certificate's key");
	if (strncmp(row->key_location, "pkcs11:", 7) == 0) {
		struct flow_key_src src = { NULL, NULL, o->pin_file };

		/* signed on the token; its public key checked against the stored one */
		rc = flow_key_load(&s->tok, st, row->key_id, &src, err);
		if (rc != CK_OK)
			ck_err_prefix(err, "the certificate's key on the token cannot sign the "
				      "revocation; nothing was sent");
	} else {
		rc = ck_store_key_load(st, row->key_id, &s->cert_key, err);
	}
	if (rc == CK_OK)
		rc = ck_server_client_new(ctx, st, server, o->ca_bundle, NULL, &s->client, err);
	free(dflt);
	return rc;
}

/* The account session that signs: the issuing account, else the one opts name. */
static enum ck_code
signer_account(const struct ck_ctx *ctx, struct ck_store *st, const struct ck_account *issuer,
	       const struct ck_revoke_opts *o, struct signer *s, struct ck_revoke_result *res,
	       struct ck_err *err)
{
	enum ck_code rc;

	rc = ck_account_open_pin(ctx, st, issuer ? issuer->server : o->server,
				 issuer ? issuer->name : o->account, o->ca_bundle,
				 CK_ACCOUNT_REQUIRE_VALID, o->pin_file, &s->sess, err);
	if (rc == CK_ERR_STATE)
		ck_err_prefix(err, "the account cannot sign the revocation (the certificate's own "
			      "key can: --with-cert-key)");
	if (rc != CK_OK)
		return rc;
	s->have_sess = 1;
	snprintf(res->server, sizeof(res->server), "%s", s->sess.server);
	snprintf(res->signer, sizeof(res->signer), "account %s (%.2000s)",
		 s->sess.account.name ? s->sess.account.name : "default",
		 s->sess.account.url ? s->sess.account.url : "?");
	return CK_OK;
}

/* 1 if e is a definite answer from the server (a 4xx problem document). */
static int
definite(const struct ck_err *e)
{
	return e->code == CK_ERR_ACME && e->http_status >= 400 && e->http_status < 500;
}

/* Asks the server; records a yes or alreadyRevoked; explains an unknown answer. */
static enum ck_code
revoke_ask(struct ck_store *st, struct signer *s, const unsigned char *der, size_t len,
	   const struct ck_revoke_opts *o, time_t now, struct ck_revoke_result *res,
	   struct ck_err *err)
{
	struct acme_client *c = s->have_sess ? s->sess.client : s->client;
	const char *reason = ck_revoke_reason_name(o->reason);
	struct ck_err e;
	enum ck_code rc;

	ck_err_clear(&e);
	rc = s->tok.signer != NULL
	     ? acme_cert_revoke_signer(c, der, len, o->reason, s->tok.signer, &e)
	     : acme_cert_revoke(c, der, len, o->reason, s->cert_key, &e);
	if (rc != CK_OK && definite(&e) && strcmp(ck_err_problem_short(&e), "alreadyRevoked") == 0) {
		res->already = 1;
		reason = NULL; /* the server's reason is not known */
		rc = CK_OK;
	} else if (rc != CK_OK) {
		if (!definite(&e))
			ck_err_prefix(&e, "the server gave no definite answer, so the certificate may "
				      "or may not be revoked and nothing was recorded; run the command "
				      "again (revoking twice is safe)");
		if (err != NULL)
			*err = e;
		return rc;
	}
	if ((rc = ck_store_cert_revoked_set(st, res->cert_id, now, reason, err)) != CK_OK)
		ck_err_prefix(err, "the server revoked certificate %.16s but the store could not "
			      "record it (run the command again to record it)", res->sha256);
	return rc;
}

enum ck_code
ck_revoke(const struct ck_ctx *ctx, struct ck_store *st, const char *ref,
	  const struct ck_revoke_opts *opts, struct ck_revoke_result *out, struct ck_err *err)
{
	struct ck_revoke_opts o = { 0 };
	struct ck_revoke_result res;
	struct ck_cert_row row, after;
	struct ck_account issuer = { 0 };
	struct signer s;
	unsigned char *der = NULL;
	size_t len = 0;
	int found = 0;
	enum ck_code rc;

	memset(&res, 0, sizeof(res));
	memset(&s, 0, sizeof(s));
	memset(&row, 0, sizeof(row));
	memset(&after, 0, sizeof(after));
	if (opts != NULL)
		o = *opts;
	if (ck_revoke_reason_name(o.reason) == NULL) {
		rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "revocation reason code %d is not one of "
			     "0, 1, 3, 4, 5", o.reason);
		goto out;
	}
	if ((rc = ck_store_ref_resolve(st, ref, &res.cert_id, err)) != CK_OK ||
	    (rc = ck_store_cert_get(st, res.cert_id, &row, err)) != CK_OK)
		goto out;
	snprintf(res.sha256, sizeof(res.sha256), "%s", row.sha256);
	snprintf(res.serial, sizeof(res.serial), "%s", row.serial);
	if ((rc = ck_store_cert_der(st, res.cert_id, &der, &len, NULL, err)) != CK_OK ||
	    (rc = issuing_account(st, res.cert_id, &issuer, &found, err)) != CK_OK)
		goto out;
	if (o.with_cert_key)
		rc = signer_cert_key(ctx, st, &row, found ? issuer.server : o.server, &o, &s, &res,
				     err);
	else
		rc = signer_account(ctx, st, found ? &issuer : NULL, &o, &s, &res, err);
	if (rc != CK_OK ||
	    (rc = revoke_ask(st, &s, der, len, &o, ck_now(ctx), &res, err)) != CK_OK ||
	    (rc = ck_store_cert_get(st, res.cert_id, &after, err)) != CK_OK)
		goto out;
	res.revoked_at = after.revoked_at;
	snprintf(res.reason, sizeof(res.reason), "%s", after.revoke_reason);
	*out = res;
out:
	signer_cleanup(&s);
	ck_account_cleanup(&issuer);
	ck_cert_row_cleanup(&row);
	ck_cert_row_cleanup(&after);
	free(der);
	return rc;
}
