/*
 * issue.c - one certificate from an ACME server into the store, its
 * identifiers proven by the challenge responders (issue_authz.c).  Owns the order of steps that keeps the key
 * and the certificate together (see issue.h), and the resume of an order
 * left open.  Must never ask the server to finalize before the certificate
 * key is durable in the store, store a certificate before it is checked, or
 * close an order on anything but a definite answer from the server.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "acme/acme.h"
#include "crypto/alternates.h"
#include "flow/account.h"
#include "flow/account_cache.h"
#include "flow/certkey.h"
#include "flow/chain.h"
#include "flow/issue.h"
#include "store/renewal.h"

/* Everything one issuance holds, released in one place. */
struct issue_run {
	const struct ck_ctx *ctx;
	struct ck_store *st;
	const struct ck_issue_params *p;
	struct ck_account_session sess;
	int have_sess;
	EVP_PKEY *cert_key;       /* the certificate key's public part */
	struct flow_key fk;       /* ... and what signs with it (software or token) */
	int64_t key_id;
	int64_t order_id;
	int resumed;              /* the order was found open in the store, not placed */
	struct acme_order order;
	struct issue_challenges chall;
	const struct ck_challenge_settings *cfg; /* given, recorded, or the http-01 fallback */
	struct ck_challenge_settings fallback;
	struct chall_settings_rec recorded;
	struct acme_cert cert;
	struct ck_der_list certs;
	char lineage[CK_STORE_NAME_MAX + 1];
	/* The lineage's row as this issuance began (NULL: a new lineage): its
	 * recorded token, profile, challenge settings and key type are read
	 * from this one snapshot, so one issuance never mixes two versions. */
	const struct ck_lineage *lin;
	char profile[CK_STORE_NAME_MAX + 1]; /* ACME profile asked for, "" = none */
};

enum ck_code
ck_issue_check_names(const char *const *names, size_t n, struct ck_err *err)
{
	size_t i, j;

	if (n == 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no names given: pass at least one -d NAME");
	if (n > CK_CSR_MAX_NAMES)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "%zu names is more than the %d one certificate may carry", n,
			       CK_CSR_MAX_NAMES);
	for (i = 0; i < n; i++) {
		char shown[80];

		ck_str_printable(shown, sizeof(shown), names[i]);
		/* A wildcard is a name here; which challenge may prove it is
		 * ck_issue_check_challenge's question. */
		if (!ck_identifier_valid(names[i], 1))
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "'%s' is neither a DNS name (\"*.\" only as a whole first "
				       "label) nor an IP address", shown);
		for (j = 0; j < i; j++)
			if (strcasecmp(names[i], names[j]) == 0)
				return CK_FAIL(err, CK_ERR_INVALID_ARG, "%s is given twice", shown);
	}
	return CK_OK;
}

/* Lower-cased copies of the names (ACME identifiers are compared lower-case). */
static enum ck_code
names_lower(const char *const *names, size_t n, char ***out, struct ck_err *err)
{
	char **v = calloc(n + 1, sizeof(*v));
	size_t i, k;

	if (v == NULL)
		return CK_OOM(err);
	for (i = 0; i < n; i++) {
		if ((v[i] = strdup(names[i])) == NULL) {
			for (k = 0; k < i; k++)
				free(v[k]);
			free(v);
			return CK_OOM(err);
		}
		for (k = 0; v[i][k] != '\0'; k++)
			v[i][k] = (char)tolower((unsigned char)v[i][k]);
	}
	*out = v;
	return CK_OK;
}

static void
names_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The lineage row (names, key type, the profile if one was given) and the key
 * type to use for a new key. */
static enum ck_code
issue_lineage(struct issue_run *r, char *const *names, enum ck_key_type *kt_out,
	      struct ck_err *err)
{
	enum ck_key_type kt = r->p->key_type;
	int recorded = 0; /* kt is the lineage's own, read from r->lin */
	enum ck_code rc;

	if (kt == CK_KEY_NONE) {
		kt = CK_KEY_EC256;
		recorded = r->lin != NULL && r->lin->key_type[0] != '\0' &&
			   ck_key_type_parse(r->lin->key_type, &kt, NULL) == CK_OK;
	}
	*kt_out = kt;
	/* A key type read from r->lin is not written back: r->lin was read
	 * before this run's round trips to the server, and another process may
	 * have changed it since (NULL keeps the row's). */
	rc = ck_store_lineage_put(r->st, r->lineage, (const char *const *)names, r->p->nnames,
				  r->p->run_only || recorded ? NULL : ck_key_type_name(kt), NULL,
				  err);
	if (r->p->run_only)
		return rc; /* the overrides are for this issuance only */
	if (rc == CK_OK && r->p->profile != NULL)
		rc = ck_store_lineage_profile_set(r->st, r->lineage, r->profile, err);
	if (rc == CK_OK && r->p->challenge != NULL) {
		char *json = NULL;

		if ((rc = chall_settings_encode(r->p->challenge, &json, err)) == CK_OK)
			rc = ck_store_lineage_challenge_set(r->st, r->lineage, json, err);
		free(json);
	}
	return rc;
}

/*
 * The challenge settings: the ones given, else the lineage's recorded ones,
 * else the http-01 listener on p->http_address/http_port.  Checked against
 * the names before any key or order.  An unreadable record stops the issue
 * (guessing another method could publish proofs where nobody looks).
 */
static enum ck_code
issue_challenge_settings(struct issue_run *r, struct ck_err *err)
{
	enum ck_code rc;

	r->fallback.type = CK_CHALLENGE_HTTP01;
	r->fallback.http_address = r->p->http_address;
	r->fallback.http_port = r->p->http_port;
	r->fallback.dns_wait = -1;
	r->cfg = r->p->challenge != NULL ? r->p->challenge : &r->fallback;
	if (r->p->challenge == NULL && r->lin != NULL && r->lin->challenge != NULL) {
		rc = chall_settings_decode(r->lin->challenge, &r->recorded, err);
		if (rc != CK_OK) {
			ck_err_prefix(err, "lineage %s: its recorded challenge settings cannot be "
				      "read (pass --challenge and its options to record new ones)",
				      r->lineage);
			return CK_ERR_CORRUPT;
		}
		r->cfg = &r->recorded.s;
	}
	return ck_issue_check_challenge(r->p->names, r->p->nnames, r->cfg, err);
}

/*
 * The profile to ask for: the one given, else the one the lineage recorded.
 * One the server does not offer is refused before any key or order.
 */
static enum ck_code
issue_profile_check(struct issue_run *r, struct ck_err *err)
{
	const struct acme_directory *d;
	enum ck_code rc;

	if (r->p->profile != NULL) {
		if (strlen(r->p->profile) >= sizeof(r->profile))
			return CK_FAIL(err, CK_ERR_INVALID_ARG, "a profile name is at most %d bytes",
				       CK_STORE_NAME_MAX);
		snprintf(r->profile, sizeof(r->profile), "%s", r->p->profile);
	} else if (r->lin != NULL) {
		snprintf(r->profile, sizeof(r->profile), "%s", r->lin->profile);
	}
	if (r->profile[0] == '\0')
		return CK_OK;
	if ((rc = acme_directory_get(r->sess.client, &d, err)) != CK_OK)
		return rc;
	if ((rc = acme_directory_check_profile(d, r->profile, err)) != CK_OK && r->p->profile == NULL)
		ck_err_prefix(err, "lineage %s asks for profile \"%s\" (--profile NAME changes it, "
			      "--profile '' clears it)", r->lineage, r->profile);
	return rc;
}

/* The certificate key: generated, then committed before anything depends on it. */
static enum ck_code
issue_key(struct issue_run *r, enum ck_key_type kt, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = issue_key_new(r->st, r->p, kt, r->lineage, &r->fk, &r->cert_key, err)) != CK_OK)
		return rc;
	r->key_id = r->fk.key_id;
	CK_FAULT("issue.after_key");
	ck_log(&r->ctx->log, CK_LOG_DEBUG, "certificate key (%s) stored as key %lld",
	       ck_key_type_name(kt), (long long)r->key_id);
	return CK_OK;
}

/* The new order, placed at the server (nothing stored yet). */
static enum ck_code
issue_order_place(struct issue_run *r, char *const *names, struct ck_err *err)
{
	enum ck_code rc;

	rc = acme_order_new_replacing(r->sess.client, (const char *const *)names, r->p->nnames,
				      r->profile[0] != '\0' ? r->profile : NULL, r->p->replaces,
				      &r->order, err);
	if (rc != CK_OK) {
		/* Only a 4xx problem document is a refusal; a 5xx, a timeout or a
		 * URL refused on this side is not the server saying no. */
		if (err != NULL && err->http_status >= 400 && err->http_status < 500)
			ck_err_prefix(err, "the server refused the order");
		else
			ck_err_prefix(err, "placing the order failed");
		return rc;
	}
	return CK_OK;
}

/* The order's record, naming the certificate key r->key_id. */
static enum ck_code
issue_order_record(struct issue_run *r, char *const *names, struct ck_err *err)
{
	struct ck_order_new on;

	memset(&on, 0, sizeof(on));
	on.lineage = r->lineage;
	on.account_id = r->sess.account.id;
	on.key_id = r->key_id;
	on.identifiers = (const char *const *)names;
	on.nidentifiers = r->p->nnames;
	on.url = r->order.url;
	on.status = r->order.status;
	on.finalize_url = r->order.finalize;
	return ck_store_order_put(r->st, &on, &r->order_id, err);
}

/*
 * A new order.  With a software key: placed at the server first, then the
 * certificate key and the order's record committed in one transaction, so
 * no crash, lost connection or restarted database between them leaves a
 * key nothing refers to (the key is committed before any CSR made with it
 * leaves the process: finalize comes later).  A failure before that
 * commit leaves only the server's pending order, which nobody finalizes.
 * With a token key: the key first (a wrong PIN or a missing token must
 * stop the run before anything is sent), then the order.
 */
static enum ck_code
issue_order_new(struct issue_run *r, char *const *names, enum ck_key_type kt,
		struct ck_err *err)
{
	enum ck_code rc;

	if (r->p->token_uri != NULL) {
		if ((rc = issue_key(r, kt, err)) != CK_OK ||
		    (rc = issue_order_place(r, names, err)) != CK_OK ||
		    (rc = issue_order_record(r, names, err)) != CK_OK)
			return rc;
		CK_FAULT("issue.after_order");
		return CK_OK;
	}
	if ((rc = issue_order_place(r, names, err)) != CK_OK ||
	    (rc = ck_store_tx_begin(r->st, err)) != CK_OK)
		return rc;
	if ((rc = issue_key(r, kt, err)) != CK_OK ||
	    (rc = issue_order_record(r, names, err)) != CK_OK ||
	    (rc = ck_store_tx_commit(r->st, err)) != CK_OK) {
		ck_store_tx_rollback(r->st);
		r->order_id = 0;
		r->key_id = 0;
		return rc;
	}
	CK_FAULT("issue.after_order");
	return CK_OK;
}

/* A failed fetch of an order that is a definite "the server no longer has
 * it": 404 or 410.  Anything else (5xx, 429, a timeout, a dropped
 * connection, another 4xx) is not proof that the order is gone. */
static int
issue_order_gone(const struct ck_err *e)
{
	return e != NULL && (e->code == CK_ERR_ACME || e->code == CK_ERR_HTTP) &&
	       (e->http_status == 404 || e->http_status == 410);
}

/* Closes a stored order the server declared dead; its key becomes unused. */
static enum ck_code
issue_order_close(struct issue_run *r, const struct ck_order *o, const char *why,
		  struct ck_err *err)
{
	enum ck_code rc;

	ck_log(&r->ctx->log, CK_LOG_INFO,
	       "open order %lld (%s) %s: closed, its key %lld is no longer used by it; placing a "
	       "new order", (long long)o->id, o->url, why, (long long)o->key_id);
	rc = ck_store_order_update(r->st, o->id, "invalid", NULL, NULL, 1, err);
	if (rc == CK_ERR_STATE) /* another run closed it meanwhile: its outcome stands */
		ck_err_clear(err);
	return rc == CK_ERR_STATE ? CK_OK : rc;
}

/*
 * Continues the newest open order of this lineage placed by this account
 * for exactly these names (ck_issue_order_find), if the server still has
 * it: r->order, r->order_id, r->key_id and r->cert_key (the stored key, so
 * the CSR uses it) are set.  They stay unset when there is nothing to
 * continue.  An unknown answer from the server fails, leaving the order open.
 */
static enum ck_code
issue_resume(struct issue_run *r, char *const *names, enum ck_key_type kt, struct ck_err *err)
{
	struct acme_order ao = { 0 };
	struct ck_key_info ki;
	struct ck_order o;
	enum ck_code rc;

	memset(&o, 0, sizeof(o));
	memset(&ki, 0, sizeof(ki));
	rc = ck_issue_order_find(r->st, r->lineage, r->sess.account.id, (const char *const *)names,
				 r->p->nnames, &o, err);
	if (rc == CK_ERR_NOT_FOUND) {
		ck_err_clear(err);
		return CK_OK;
	}
	if (rc != CK_OK)
		return rc;
	if ((rc = ck_store_key_info(r->st, o.key_id, &ki, err)) != CK_OK)
		goto out;
	if (r->p->key_type != CK_KEY_NONE && strcmp(ki.key_type, ck_key_type_name(kt)) != 0) {
		ck_log(&r->ctx->log, CK_LOG_INFO,
		       "open order %lld has a %s key, not the %s asked for: left open; placing a "
		       "new order", (long long)o.id, ki.key_type, ck_key_type_name(kt));
		goto out;
	}
	if ((rc = acme_order_fetch(r->sess.client, o.url, &ao, err)) != CK_OK) {
		if (issue_order_gone(err)) {
			ck_err_clear(err);
			rc = issue_order_close(r, &o, "is unknown to the server", err);
		} else {
			ck_err_prefix(err, "cannot learn the state of open order %lld (%s); it is "
				      "left open and will be resumed on the next run",
				      (long long)o.id, o.url);
		}
		goto out;
	}
	if (ao.state == ACME_ST_INVALID) {
		rc = issue_order_close(r, &o, "is invalid at the server (failed or expired)", err);
		goto out;
	}
	if ((rc = issue_key_load(r->st, r->p, o.key_id, &r->fk, &r->cert_key, err)) != CK_OK) {
		ck_err_prefix(err, "open order %lld cannot be resumed: its key %lld", (long long)o.id,
			      (long long)o.key_id);
		goto out;
	}
	(void)ck_store_order_update(r->st, o.id, ao.status, NULL, NULL, 0, NULL);
	ck_log(&r->ctx->log, CK_LOG_INFO, "resuming order %lld (%s), %s at the server",
	       (long long)o.id, o.url, ao.status);
	r->order = ao;
	memset(&ao, 0, sizeof(ao));
	r->order_id = o.id;
	r->key_id = o.key_id;
	r->resumed = 1;
out:
	acme_order_cleanup(&ao);
	ck_key_info_cleanup(&ki);
	ck_order_cleanup(&o);
	return rc;
}

/*
 * Finalizes r->order (unless a resumed order was finalized already) and
 * waits for its certificate.  proof: the order's authorizations were not
 * seen valid, only their proofs fetched by the CA (issue_proof_wait's
 * served); an orderNotReady then means the CA has not decided yet: the
 * authorizations are waited for as usual and the finalize sent again.
 */
static enum ck_code
issue_finalize(struct issue_run *r, char *const *names, struct issue_proof *proof,
	       struct ck_err *err)
{
	unsigned char *csr = NULL;
	size_t csr_len = 0;
	enum ck_code rc;

	/* Every authorization is valid, so the order is ready (RFC 8555 7.1.6):
	 * finalize at once and wait only if the server says it is not. */
	if (r->order.state == ACME_ST_PENDING || r->order.state == ACME_ST_READY) {
		rc = ck_csr_create_with(r->fk.signer, (const char *const *)names, r->p->nnames,
					&csr, &csr_len, err);
		if (rc != CK_OK)
			return rc;
		CK_FAULT("issue.before_finalize");
		rc = acme_order_finalize(r->sess.client, &r->order, csr, csr_len, err);
		if (rc == CK_ERR_ACME && proof != NULL &&
		    strcmp(ck_err_problem_short(err), "orderNotReady") == 0) {
			ck_log(&r->ctx->log, CK_LOG_DEBUG, "the server is still deciding the "
			       "authorizations: waiting for them");
			ck_err_clear(err);
			if ((rc = issue_proof_wait(proof, 0, NULL, err)) == CK_OK)
				rc = acme_order_finalize(r->sess.client, &r->order, csr, csr_len,
							 err);
		}
		if (rc == CK_ERR_ACME && strcmp(ck_err_problem_short(err), "orderNotReady") == 0) {
			ck_err_clear(err);
			rc = acme_order_wait(r->sess.client, &r->order, err);
			if (rc == CK_OK && r->order.state == ACME_ST_READY)
				rc = acme_order_finalize(r->sess.client, &r->order, csr, csr_len,
							 err);
		}
		free(csr);
		if (rc != CK_OK)
			return rc;
		/* The new status is not written here: resuming asks the server
		 * anyway, the certificate's commit closes the order, and a run that
		 * stops short records it (fail_order).  One commit less. */
		CK_FAULT("issue.after_finalize");
	}
	/* Finalized now or before (a resumed order): wait for the certificate. */
	if (r->order.state == ACME_ST_PROCESSING &&
	    (rc = acme_order_wait(r->sess.client, &r->order, err)) != CK_OK)
		return rc;
	if (r->order.state != ACME_ST_VALID || r->order.certificate == NULL)
		return CK_FAIL(err, CK_ERR_STATE, "the order ended %s without a certificate",
			       r->order.status);
	return CK_OK;
}

/* Alternate chains as their stored text (crypto/alternates.h); NULL when
 * none.  r->certs (the default chain) must be parsed already. */
static enum ck_code
issue_alternates(struct issue_run *r, char **out, size_t *count, struct ck_err *err)
{
	struct ck_alternates alt = { NULL, 0 };
	struct acme_cert *alts = NULL;
	size_t nalts = 0, i;
	enum ck_code rc;

	*out = NULL;
	*count = 0;
	if (r->cert.alternates.n == 0)
		return CK_OK;
	if ((rc = acme_cert_download_alternates(r->sess.client, &r->cert, &alts, &nalts, err)) !=
	    CK_OK)
		return rc;
	for (i = 0; i < nalts; i++) {
		if ((rc = ck_alternates_add(&alt, &r->certs.items[0], alts[i].pem, alts[i].pem_len,
					    err)) != CK_OK)
			goto out;
	}
	if ((rc = ck_alternates_encode(&alt, out, err)) == CK_OK)
		*count = alt.n;
out:
	ck_alternates_cleanup(&alt);
	for (i = 0; i < nalts; i++)
		acme_cert_cleanup(&alts[i]);
	free(alts);
	return rc;
}

/*
 * After the certificate is committed: fetch the alternate chains and
 * attach them in a second transaction.  Best effort: a failure (or a kill
 * while an alternate download hangs) costs the alternates, never the
 * certificate.  Returns how many were recorded.
 */
static size_t
issue_store_alternates(struct issue_run *r, int64_t cert_id)
{
	struct ck_err e;
	char *alts = NULL;
	size_t nalts = 0;

	ck_err_clear(&e);
	if (issue_alternates(r, &alts, &nalts, &e) == CK_OK && alts != NULL &&
	    ck_store_cert_alternates_set(r->st, cert_id, alts, &e) == CK_OK) {
		free(alts);
		return nalts;
	}
	free(alts);
	if (e.code != CK_OK)
		ck_log(&r->ctx->log, CK_LOG_WARN,
		       "alternate chains not recorded (the certificate is stored): %s", e.msg);
	return 0;
}

/*
 * The certificate's one commit: linked to its key, lineage current, order
 * closed (ck_store_cert_put), and for a renewal the lineage's renewal state
 * reset with it.  That reset is best effort as it always was: its failure
 * is logged and the certificate is committed all the same.
 */
static enum ck_code
issue_store_commit(struct issue_run *r, const struct ck_cert_new *cn,
		   struct ck_cert_put_result *put, struct ck_err *err)
{
	struct ck_err e;
	enum ck_code rc;

	if (!r->p->renewal_done)
		return ck_store_cert_put(r->st, cn, put, err);
	if ((rc = ck_store_tx_begin(r->st, err)) != CK_OK)
		return rc;
	if ((rc = ck_store_cert_put(r->st, cn, put, err)) != CK_OK)
		goto out;
	ck_err_clear(&e);
	if (ck_store_renewal_done(r->st, r->lineage, &e) != CK_OK)
		ck_log(&r->ctx->log, CK_LOG_WARN, "renewal state of %s: %s", r->lineage, e.msg);
	rc = ck_store_tx_commit(r->st, err);
out:
	if (rc != CK_OK)
		ck_store_tx_rollback(r->st);
	return rc;
}

/*
 * Download and check, then one transaction: certificate linked to its key,
 * lineage current, order closed.  A certificate that is not what was
 * ordered is not stored; the order stays open and the key stays.
 */
static enum ck_code
issue_store(struct issue_run *r, char *const *names, struct ck_issue_result *res,
	    struct ck_err *err)
{
	struct ck_der_list chain;
	struct ck_cert_new cn;
	struct ck_cert_put_result put;
	struct ck_cert_info info;
	enum ck_code rc;

	if ((rc = acme_cert_download(r->sess.client, r->order.certificate, &r->cert, err)) != CK_OK)
		return rc;
	/* Split only: the check next decodes every certificate, once. */
	if ((rc = ck_pem_certs_split(r->cert.pem, r->cert.pem_len, &r->certs, err)) != CK_OK) {
		ck_err_prefix(err, "the server sent a certificate chain that does not parse");
		return rc;
	}
	memset(&info, 0, sizeof(info));
	if ((rc = issue_check_cert_info(&r->certs, r->cert_key, (const char *const *)names,
					r->p->nnames, &info, err)) != CK_OK) {
		ck_err_prefix(err, "refusing the certificate of order %lld (%s); nothing was "
			      "stored, the order and its key %lld are kept for investigation",
			      (long long)r->order_id, r->order.url, (long long)r->key_id);
		return rc;
	}
	chain.items = r->certs.items + 1;
	chain.n = r->certs.n - 1;
	memset(&cn, 0, sizeof(cn));
	cn.der = r->certs.items[0].data;
	cn.len = r->certs.items[0].len;
	cn.chain = &chain;
	cn.origin = r->order.url;
	cn.key_id = r->key_id;
	cn.lineage = r->lineage;
	cn.order_id = r->order_id;
	if ((rc = issue_store_commit(r, &cn, &put, err)) != CK_OK) {
		ck_err_prefix(err, "the certificate was issued (%s) but could not be stored",
			      r->order.certificate);
		ck_cert_info_cleanup(&info);
		return rc;
	}
	CK_FAULT("issue.after_store");
	res->cert_id = put.cert_id;
	memcpy(res->sha256, info.sha256, sizeof(res->sha256));
	res->not_after = info.not_after;
	ck_cert_info_cleanup(&info);
	res->alternates = issue_store_alternates(r, put.cert_id);
	res->chain_selected = chain_issue_apply(r->ctx, r->st, r->lineage, put.cert_id);
	return CK_OK;
}

static enum ck_code
issue_lineage_name(const struct ck_issue_params *p, char out[CK_STORE_NAME_MAX + 1],
		   struct ck_err *err)
{
	const char *name = p->lineage ? p->lineage : p->names[0];
	/* "::1" is "0::1": a derived name may not start with the '-' a ':' becomes. */
	const char *zero = (p->lineage == NULL && name[0] == ':') ? "0" : "";
	size_t i;

	if (strlen(zero) + strlen(name) > CK_STORE_NAME_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "lineage name is longer than %d characters: choose one with --name",
			       CK_STORE_NAME_MAX);
	snprintf(out, CK_STORE_NAME_MAX + 1, "%s%s", zero, name);
	if (p->lineage == NULL) {
		for (i = 0; out[i] != '\0'; i++) {
			out[i] = (char)tolower((unsigned char)out[i]);
			if (out[i] == ':') /* IPv6 literal */
				out[i] = '-';
			else if (out[i] == '*') /* wildcard: "*.example.org" -> "_.example.org" */
				out[i] = '_';
		}
	}
	if (!ck_store_name_valid(out))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "'%s' is not a valid lineage name (letters, digits, '.', '_', '-')",
			       out);
	return CK_OK;
}

enum ck_code
ck_issue(const struct ck_ctx *ctx, struct ck_store *st, const struct ck_issue_params *p,
	 struct ck_issue_result *out, struct ck_err *err)
{
	return issue_with_challenges(ctx, st, p, NULL, out, err);
}

enum ck_code
issue_with_challenges(const struct ck_ctx *ctx, struct ck_store *st,
		      const struct ck_issue_params *p, struct issue_challenges *shared,
		      struct ck_issue_result *out, struct ck_err *err)
{
	struct issue_run r;
	struct ck_issue_params eff; /* p with the lineage's recorded token */
	struct ck_lineage lin;      /* what eff borrows */
	struct ck_issue_result res;
	struct issue_proof *proof = NULL;
	int unconfirmed = 0;        /* the proofs were fetched; the authorizations not seen valid */
	enum ck_key_type kt = CK_KEY_EC256;
	char **names = NULL;
	enum ck_code rc;

	memset(&r, 0, sizeof(r));
	memset(&res, 0, sizeof(res));
	r.ctx = ctx;
	r.st = st;
	r.p = &eff;
	memset(&lin, 0, sizeof(lin));
	if ((rc = ck_issue_check_names(p->names, p->nnames, err)) != CK_OK)
		return rc;
	if ((rc = issue_lineage_name(p, r.lineage, err)) != CK_OK)
		return rc;
	/* Not knowing the recorded settings is no reason to drop them: an
	 * error other than "no such lineage" stops the issue. */
	rc = ck_store_lineage_get(st, r.lineage, &lin, err);
	if (rc == CK_ERR_NOT_FOUND)
		ck_err_clear(err); /* a new lineage: nothing recorded */
	else if (rc != CK_OK)
		goto out;
	else
		r.lin = &lin;
	if ((rc = issue_token_resolve(r.lineage, r.lin, p, &eff, err)) != CK_OK)
		goto out;
	if ((rc = names_lower(p->names, p->nnames, &names, err)) != CK_OK)
		goto out;
	/* A kept session only after its account's row says it is still current. */
	rc = acct_cache_take(shared != NULL ? shared->accounts : NULL, ctx, st, p->server,
			     p->account, p->ca_bundle, CK_ACCOUNT_REQUIRE_VALID, p->pin_file,
			     &r.sess, NULL, err);
	if (rc != CK_OK)
		goto out;
	r.have_sess = 1;
	if ((rc = issue_profile_check(&r, err)) != CK_OK ||
	    (rc = issue_challenge_settings(&r, err)) != CK_OK ||
	    (shared == NULL && (rc = issue_challenges_init(&r.chall, ctx, r.cfg, err)) != CK_OK))
		goto out;
	ck_log(&ctx->log, CK_LOG_INFO, "ordering a certificate for %s%s from %s", names[0],
	       p->nnames > 1 ? " and others" : "", r.sess.server);
	if ((rc = issue_lineage(&r, names, &kt, err)) != CK_OK ||
	    (rc = issue_token_record(st, r.lineage, p, err)) != CK_OK ||
	    (rc = chain_lineage_record(st, r.lineage, p->preferred_chain, err)) != CK_OK ||
	    (rc = issue_resume(&r, names, kt, err)) != CK_OK)
		goto out;
	if (r.order_id == 0 && (rc = issue_order_new(&r, names, kt, err)) != CK_OK)
		goto out;
	/* The proofs stay served through the finalize: it may go on their
	 * fetch alone, before the CA is asked whether it accepted them. */
	if (r.order.state == ACME_ST_PENDING &&
	    ((rc = issue_challenges_answer(shared != NULL ? shared : &r.chall, r.sess.client,
					   r.sess.key, &r.order, &proof, err)) != CK_OK ||
	     (rc = issue_proof_wait(proof, 1, &unconfirmed, err)) != CK_OK))
		goto fail_order;
	rc = issue_finalize(&r, names, unconfirmed ? proof : NULL, err);
	issue_proof_release(proof);
	proof = NULL;
	if (rc != CK_OK)
		goto fail_order;
	if ((rc = issue_store(&r, names, &res, err)) != CK_OK)
		goto out;
	issue_cert_to_token(ctx, &r.fk, &r.certs.items[0], r.lineage);
	snprintf(res.lineage, sizeof(res.lineage), "%s", r.lineage);
	res.requests = acme_client_request_count(r.sess.client);
	res.order_id = r.order_id;
	res.resumed = r.resumed;
	ck_log(&ctx->log, CK_LOG_INFO, "certificate %s issued for lineage %s", res.sha256,
	       r.lineage);
	*out = res;
	goto out;
fail_order:
	/* An order the server declared invalid can never complete: close it.  Any
	 * other failure leaves it open: the next ck_issue for this lineage and
	 * these names resumes it (issue_resume). */
	if (rc == CK_ERR_VALIDATION ||
	    r.order.state == ACME_ST_INVALID)
		(void)ck_store_order_update(st, r.order_id, "invalid", NULL, NULL, 1, NULL);
	else if (r.order.status != NULL && r.order_id > 0)
		/* The last status heard (processing after a finalize), for doctor. */
		(void)ck_store_order_update(st, r.order_id, r.order.status, NULL, NULL, 0, NULL);
	ck_log(&ctx->log, CK_LOG_INFO,
	       "kept: the certificate key (key %lld) and the order record (order %lld, %s); "
	       "nothing else changed", (long long)r.key_id, (long long)r.order_id,
	       r.order.state == ACME_ST_INVALID
		       ? "closed" : "open: the next run resumes it");
out:
	issue_proof_release(proof); /* before the responders it was added to stop */
	issue_challenges_stop(&r.chall);
	chall_settings_rec_cleanup(&r.recorded);
	ck_der_list_cleanup(&r.certs);
	acme_cert_cleanup(&r.cert);
	acme_order_cleanup(&r.order);
	EVP_PKEY_free(r.cert_key);
	flow_key_cleanup(&r.fk);
	if (r.have_sess)
		acct_cache_put(shared != NULL ? shared->accounts : NULL, &r.sess, p->ca_bundle,
			       p->pin_file, rc == CK_OK);
	names_free(names, p->nnames);
	ck_lineage_cleanup(&lin);
	return rc;
}
