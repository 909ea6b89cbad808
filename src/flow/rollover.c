/*
 * rollover.c - account key rollover (RFC 8555 section 7.3.5) that no
 * crash can lose: the new key is committed and recorded as the account's
 * pending key before keyChange is sent (invariant 3), the switch after the
 * server's yes is one transaction, and a rollover left pending is resolved
 * by asking the server which key it accepts.  Also records the rollover's
 * time so later processes tolerate a server's stale key cache.
 *
 * Must never: clear a pending key without the server having said it keeps
 * the old one (or refused the new one, definitely: see key_change_refused),
 * switch keys without the server's yes, or delete either key.
 */
#include <stdlib.h>
#include <string.h>

#include "flow/account_int.h"
#include "flow/certkey.h"

/* ---- which key does the server accept? ------------------------------------ */

enum key_verdict { KEY_ACCEPTED = 0, KEY_REFUSED = 1, KEY_OTHER_ACCOUNT = 2 };

/* Asks with onlyReturnExisting signed by key whether it is the key of account url. */
static enum ck_code
key_ask(struct acme_client *c, struct ck_signer *key, const char *url, enum key_verdict *out,
	struct ck_err *err)
{
	struct acme_account_new_opts opts = { .only_return_existing = 1 };
	struct acme_account a = { 0 };
	enum ck_code rc;

	if ((rc = acme_client_set_account_signer(c, key, NULL, err)) != CK_OK)
		return rc;
	rc = acme_account_new(c, &opts, &a, err);
	if (rc == CK_ERR_NOT_FOUND) {
		*out = KEY_REFUSED;
		return CK_OK;
	}
	if (rc != CK_OK)
		return rc;
	*out = strcmp(a.url, url) == 0 ? KEY_ACCEPTED : KEY_OTHER_ACCOUNT;
	acme_account_cleanup(&a);
	return CK_OK;
}

/*
 * Loads the two keys as signers (a token key logged in to with pin_file)
 * and asks about the pending one, then the old one.  The client borrows
 * the signer it asked with last: that key's signer becomes s->signing.
 */
static enum ck_code
resolve_ask(struct ck_store *st, struct ck_account_session *s, const char *pin_file,
	    enum key_verdict *vnew, enum key_verdict *vold, struct ck_err *err)
{
	struct flow_key_src src = { NULL, NULL, pin_file };
	struct flow_key *oldk = calloc(1, sizeof(*oldk)), *newk = calloc(1, sizeof(*newk));
	struct flow_key **last = NULL;
	enum ck_code rc;

	*vold = KEY_REFUSED;
	if (oldk == NULL || newk == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	if ((rc = flow_key_load(oldk, st, s->account.key_id, &src, err)) != CK_OK ||
	    (rc = flow_key_load(newk, st, s->account.pending_key_id, &src, err)) != CK_OK)
		goto out;
	last = &newk;
	if ((rc = key_ask(s->client, newk->signer, s->account.url, vnew, err)) != CK_OK)
		goto out;
	if (*vnew != KEY_ACCEPTED) {
		last = &oldk;
		rc = key_ask(s->client, oldk->signer, s->account.url, vold, err);
	}
	if (rc == CK_OK && *vnew == KEY_ACCEPTED) {
		/* sign with the new key from here on (the caller resets it too) */
		rc = acme_client_set_account_signer(s->client, newk->signer, s->account.url, err);
	}
out:
	if (last != NULL) {
		acct_session_key_cleanup(s);
		s->signing = *last;
		*last = NULL;
	}
	acct_flow_key_free(oldk);
	acct_flow_key_free(newk);
	return rc;
}

enum ck_code
ck_account_resolve_rollover(const struct ck_ctx *ctx, struct ck_store *st,
			    struct ck_account_session *s, struct ck_err *err)
{
	return acct_resolve_rollover(ctx, st, s, NULL, err);
}

enum ck_code
acct_resolve_rollover(const struct ck_ctx *ctx, struct ck_store *st,
		      struct ck_account_session *s, const char *pin_file, struct ck_err *err)
{
	enum key_verdict vnew = KEY_REFUSED, vold = KEY_REFUSED;
	int64_t old_id = s->account.key_id, new_id = s->account.pending_key_id;
	time_t when;
	unsigned grace;
	enum ck_code rc;

	if (new_id == 0)
		return CK_OK;
	ck_log(&ctx->log, CK_LOG_INFO,
	       "account %s: a key rollover was interrupted (old key %lld, new key %lld): asking "
	       "the server which key it accepts", s->account.name, (long long)old_id,
	       (long long)new_id);
	if ((rc = resolve_ask(st, s, pin_file, &vnew, &vold, err)) != CK_OK) {
		ck_err_prefix(err, "account %s: cannot resolve an interrupted key rollover (both "
				   "keys are kept; run the command again)", s->account.name);
		return rc;
	}
	if (vnew == KEY_ACCEPTED) {
		acct_rollover_read(st, s->account.id, &when, &grace);
		if ((rc = ck_store_account_commit_rollover_keep(st, s->account.id, grace, err)) !=
		    CK_OK)
			return rc;
		acme_client_set_rollover_grace(s->client, grace);
		acme_client_arm_rollover_grace(s->client);
		if (acct_rollover_record(st, s->account.id, ck_now(ctx), grace, NULL) != CK_OK)
			ck_log(&ctx->log, CK_LOG_WARN, "account %s: could not record the rollover "
			       "time (only the stale-cache tolerance of later commands is lost)",
			       s->account.name);
		ck_log(&ctx->log, CK_LOG_INFO,
		       "account %s: the server accepts the new key: the rollover is now complete "
		       "in the store (old key %lld stays, kept in use for the %u s grace)",
		       s->account.name, (long long)old_id, grace);
		return acct_reload(st, s, err);
	}
	if (vold == KEY_ACCEPTED) {
		if ((rc = ck_store_account_clear_pending(st, s->account.id, err)) != CK_OK)
			return rc;
		ck_log(&ctx->log, CK_LOG_INFO,
		       "account %s: the server still accepts the old key: the rollover did not "
		       "happen; the account keeps its old key (unused new key %lld stays)",
		       s->account.name, (long long)new_id);
		return acct_reload(st, s, err);
	}
	return CK_FAIL(err, CK_ERR_STATE,
		       "account %s: the server (%s) accepts neither the old key (%lld) nor the new "
		       "key (%lld) of an interrupted rollover for %s%s; both keys are kept in the "
		       "store: check the account with your CA",
		       s->account.name, s->server, (long long)old_id, (long long)new_id,
		       s->account.url,
		       vnew == KEY_OTHER_ACCOUNT ? " (the new key belongs to another account)" : "");
}

/* ---- rollover --------------------------------------------------------------- */

/* A software new key, committed to the store. */
static enum ck_code
new_key_software(struct ck_store *st, struct ck_account_session *s, enum ck_key_type t,
		 EVP_PKEY *given, EVP_PKEY **key, int64_t *id, struct ck_err *err)
{
	EVP_PKEY *k = NULL;
	enum ck_code rc;

	if (given != NULL) {
		if (EVP_PKEY_up_ref(given) != 1)
			return CK_FAIL(err, CK_ERR_CRYPTO, "cannot reference the new key");
		k = given;
	} else {
		if (t == CK_KEY_NONE)
			t = ck_key_type_of(s->key);
		if (t == CK_KEY_NONE)
			t = CK_KEY_EC256;
		if ((rc = ck_key_generate(t, &k, err)) != CK_OK)
			return rc;
	}
	if (ck_key_public_equal(k, s->key)) {
		EVP_PKEY_free(k);
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "the new account key is the current one: nothing to roll over");
	}
	if ((rc = ck_store_key_put(st, k, id, NULL, err)) != CK_OK) {
		EVP_PKEY_free(k);
		return rc;
	}
	*key = k;
	return CK_OK;
}

/*
 * The new key, committed to the store (invariant 3), and what signs for
 * it: a software key (given, else generated), or with src a key made on a
 * PKCS#11 token (or the one its URI names).  *fk: acct_flow_key_free.
 */
static enum ck_code
new_key_commit(struct ck_store *st, struct ck_account_session *s, enum ck_key_type t,
	       EVP_PKEY *given, const struct flow_key_src *src, struct flow_key **fk,
	       struct ck_err *err)
{
	char label[CK_STORE_NAME_MAX + 16];
	struct flow_key *k = calloc(1, sizeof(*k));
	EVP_PKEY *key = NULL;
	enum ck_code rc;

	if (k == NULL)
		return CK_OOM(err);
	if (t == CK_KEY_NONE)
		t = ck_key_type_of(s->key);
	snprintf(label, sizeof(label), "acme-account-%s", s->account.name);
	if (src != NULL)
		rc = flow_key_new(k, st, src, t != CK_KEY_NONE ? t : CK_KEY_EC256, label, err);
	else if ((rc = new_key_software(st, s, t, given, &key, &k->key_id, err)) == CK_OK)
		rc = ck_signer_from_key(key, &k->signer, err);
	EVP_PKEY_free(key);
	if (rc == CK_OK && ck_key_public_equal(ck_signer_pubkey(k->signer), s->key))
		rc = CK_FAIL(err, CK_ERR_INVALID_ARG,
			     "the new account key is the current one: nothing to roll over");
	if (rc != CK_OK) {
		acct_flow_key_free(k);
		return rc;
	}
	*fk = k;
	return CK_OK;
}

/* 1 if a problem says the server did not verify the JWS, i.e. did not accept
 * the key it was signed with (Pebble: 400 malformed "JWS verification error";
 * Boulder: 401 unauthorized, also from a stale key cache). */
static int
jws_not_verified(const struct ck_err *e)
{
	return strcasestr(e->problem_detail, "JWS") != NULL &&
	       strcasestr(e->problem_detail, "verif") != NULL;
}

/*
 * Whether a failed keyChange (rc, err) is a definite "no": the server
 * refused the request without changing the account's key, so the pending
 * key may be cleared.  Definite: CK_ERR_EXISTS (409 conflict, or
 * onlyReturnExisting found the new key on another account), and a 4xx
 * problem document of a type that refuses the request itself before any
 * change: malformed, badPublicKey, badSignatureAlgorithm, badNonce (after
 * the transport's retries), rateLimited, userActionRequired.
 *
 * Everything else is "unknown" and is resolved by asking the server which
 * key it accepts: a 5xx or a gateway answer (the change may be committed
 * behind a load balancer that gave up), a 4xx without a problem document
 * (not the ACME server speaking), unauthorized, accountDoesNotExist and
 * any JWS verification failure (the server did not accept the old key: a
 * stale key cache, or a rollover that already went through), an unknown
 * problem type, a timeout or dropped connection, and rc without err.
 */
static int
key_change_refused(enum ck_code rc, const struct ck_err *err)
{
	static const char *const definite[] = { "malformed", "badPublicKey",
						"badSignatureAlgorithm", "badNonce",
						"rateLimited", "userActionRequired" };
	size_t i;

	if (rc == CK_ERR_EXISTS)
		return 1;
	if (err == NULL || err->http_status < 400 || err->http_status >= 500 ||
	    err->problem_type[0] == '\0' || jws_not_verified(err))
		return 0;
	for (i = 0; i < CK_ARRAY_LEN(definite); i++) {
		if (strcmp(ck_err_problem_short(err), definite[i]) == 0)
			return 1;
	}
	return 0;
}

/* keyChange failed: clear the pending key on a definite "no", else ask the
 * server which key it accepts.  CK_OK when asking shows the server switched
 * (the store has switched then). */
static enum ck_code
key_change_failed(const struct ck_ctx *ctx, struct ck_store *st, struct ck_account_session *s,
		  int64_t new_id, enum ck_code rc, const char *pin_file, struct ck_err *err)
{
	struct ck_err e2;

	ck_err_clear(&e2);
	if (key_change_refused(rc, err)) {
		if (ck_store_account_clear_pending(st, s->account.id, &e2) != CK_OK)
			ck_log(&ctx->log, CK_LOG_WARN, "account %s: %s (the next command resolves it)",
			       s->account.name, e2.msg);
		if (rc != CK_ERR_EXISTS) /* that message already says what happened */
			ck_err_prefix(err, "the server refused the key rollover of account %s; the "
					   "account keeps its old key", s->account.name);
		return rc;
	}
	ck_log(&ctx->log, CK_LOG_INFO, "account %s: keyChange got no definite answer (%s): "
	       "asking the server which key it accepts", s->account.name,
	       err != NULL ? err->msg : "no details");
	if (acct_resolve_rollover(ctx, st, s, pin_file, &e2) != CK_OK)
		ck_log(&ctx->log, CK_LOG_WARN, "account %s: %s", s->account.name, e2.msg);
	else if (s->account.key_id == new_id)
		return CK_OK;
	ck_err_prefix(err, "the key rollover of account %s got no definite answer%s",
		      s->account.name,
		      s->account.pending_key_id != 0 ?
			      " (both keys kept; the next command asks the server which one it "
			      "accepts)" :
			      ": the server still accepts the old key, so the account keeps its old "
			      "key");
	return rc;
}

/* The server said yes: switch in one transaction, re-recording the pending
 * key if a concurrent process cleared it meanwhile. */
static enum ck_code
switch_keys(struct ck_store *st, struct ck_account_session *s, int64_t new_id, unsigned grace_s,
	    struct ck_err *err)
{
	enum ck_code rc = ck_store_account_commit_rollover_keep(st, s->account.id, grace_s, err);

	if (rc != CK_ERR_STATE)
		return rc;
	if ((rc = ck_store_account_set_pending_key(st, s->account.id, new_id, err)) != CK_OK)
		return rc;
	return ck_store_account_commit_rollover_keep(st, s->account.id, grace_s, err);
}

static enum ck_code rollover(const struct ck_ctx *ctx, struct ck_store *st,
			     struct ck_account_session *s, enum ck_key_type key_type,
			     EVP_PKEY *new_key, const struct flow_key_src *src, unsigned grace_s,
			     struct ck_err *err);

enum ck_code
ck_account_rollover(const struct ck_ctx *ctx, struct ck_store *st, struct ck_account_session *s,
		    enum ck_key_type key_type, EVP_PKEY *new_key, unsigned grace_s,
		    struct ck_err *err)
{
	return rollover(ctx, st, s, key_type, new_key, NULL, grace_s, err);
}

enum ck_code
ck_account_rollover_token(const struct ck_ctx *ctx, struct ck_store *st,
			  struct ck_account_session *s, enum ck_key_type key_type,
			  const char *token_uri, const char *pkcs11_module, const char *pin_file,
			  unsigned grace_s, struct ck_err *err)
{
	struct flow_key_src src = { token_uri, pkcs11_module, pin_file };

	if (token_uri == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no token URI given");
	return rollover(ctx, st, s, key_type, NULL, &src, grace_s, err);
}

static enum ck_code
rollover(const struct ck_ctx *ctx, struct ck_store *st, struct ck_account_session *s,
	 enum ck_key_type key_type, EVP_PKEY *new_key, const struct flow_key_src *src,
	 unsigned grace_s, struct ck_err *err)
{
	struct flow_key *k = NULL;
	int64_t new_id = 0;
	enum ck_code rc;

	if (grace_s > CK_ACCOUNT_GRACE_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the grace is at most %d seconds",
			       CK_ACCOUNT_GRACE_MAX);
	if (s->account.pending_key_id != 0)
		return CK_FAIL(err, CK_ERR_STATE, "account %s has a rollover pending: resolve it "
				"first (any account command does)", s->account.name);
	if ((rc = new_key_commit(st, s, key_type, new_key, src, &k, err)) != CK_OK)
		goto out;
	new_id = k->key_id;
	CK_FAULT("rollover.after_key");
	/* the chosen grace, for a resolution after a crash (time 0: not rolled over yet) */
	if (acct_rollover_record(st, s->account.id, 0, grace_s, NULL) != CK_OK)
		ck_log(&ctx->log, CK_LOG_WARN, "account %s: could not record the chosen grace",
		       s->account.name);
	if ((rc = ck_store_account_set_pending_key(st, s->account.id, new_id, err)) != CK_OK)
		goto out;
	s->account.pending_key_id = new_id;
	CK_FAULT("rollover.after_pending");
	acme_client_set_rollover_grace(s->client, grace_s);
	if (err != NULL)
		ck_err_clear(err); /* key_change_failed reads http_status */
	rc = acme_account_key_change_signer(s->client, k->signer, err);
	if (rc != CK_OK) {
		if ((rc = key_change_failed(ctx, st, s, new_id, rc, src ? src->pin_file : NULL,
					    err)) == CK_OK)
			goto switched; /* the server had switched: resolution committed it */
		goto out;
	}
	CK_FAULT("rollover.after_keychange");
	if ((rc = switch_keys(st, s, new_id, grace_s, err)) != CK_OK) {
		ck_err_prefix(err, "the server accepted the new key but the store could not switch "
				   "(both keys are kept; the next command completes it)");
		goto out;
	}
	CK_FAULT("rollover.after_commit");
	if (acct_rollover_record(st, s->account.id, ck_now(ctx), grace_s, NULL) != CK_OK)
		ck_log(&ctx->log, CK_LOG_WARN, "account %s: could not record the rollover time "
		       "(only the stale-cache tolerance of later commands is lost)",
		       s->account.name);
	CK_FAULT("rollover.after_record");
	rc = acct_reload(st, s, err);
switched:
	/* The session signs with the new key from now on (the client already does). */
	EVP_PKEY_free(s->key);
	if ((s->key = flow_key_public(k)) == NULL && rc == CK_OK)
		rc = CK_OOM(err);
	if (acme_client_key(s->client) != ck_signer_pubkey(k->signer))
		(void)acme_client_set_account_signer(s->client, k->signer, s->account.url, NULL);
	acct_session_key_cleanup(s);
	s->signing = k;
	k = NULL;
out:
	acct_flow_key_free(k);
	return rc;
}
