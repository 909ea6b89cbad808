/*
 * issue_authz.c - the authorization step of issuance: for each pending
 * authorization of an order, the challenge type its name uses (per-name
 * override, else the default), one responder per type in use (started on
 * first need, shared by every order the owner authorizes through it), and
 * add -> ready -> respond -> wait -> remove.  The issue flow keeps the
 * items served until the order is finalized (issue_proof_release): when
 * every responder has seen the CA fetch its proof, the flow finalizes
 * instead of polling the authorizations (one request less per order), and
 * a CA still deciding says orderNotReady; the proofs must still be there
 * for a second look.
 *
 * Must never: answer a challenge before its responder serves it; leave an
 * item added after issue_proof_release or issue_challenges_authorize
 * returns (success, error or cancel); answer a wildcard by anything but
 * dns-01, or an IP address by dns-01.
 */
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "flow/issue.h"

/* One pending authorization being proven. */
struct authz_work {
	struct acme_authz az;
	const struct acme_challenge *ch;     /* borrowed from az */
	enum ck_challenge_type type;
	struct chall_item item;
	char *keyauth;
	char *ident, *token;                 /* item's strings: az changes while waiting */
	char name[CK_NAME_MAX + 3];          /* "*.example.org" for a wildcard */
	int pending;
	int added;
};

enum ck_code
issue_challenges_init(struct issue_challenges *c, const struct ck_ctx *ctx,
		      const struct ck_challenge_settings *cfg, struct ck_err *err)
{
	memset(c, 0, sizeof(*c));
	c->ctx = ctx;
	c->cfg = cfg;
	if (pthread_mutex_init(&c->lock, NULL) != 0)
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a mutex");
	c->inited = 1;
	return CK_OK;
}

void
issue_challenges_stop(struct issue_challenges *c)
{
	size_t i;

	if (c == NULL || !c->inited)
		return;
	for (i = 0; i < CK_ARRAY_LEN(c->r); i++) {
		if (!c->borrowed[i])
			chall_stop(c->r[i]);
		c->r[i] = NULL;
	}
	pthread_mutex_destroy(&c->lock);
	c->inited = 0;
}

/* The responder for type, made and started on first need. */
static enum ck_code
challenges_get(struct issue_challenges *c, enum ck_challenge_type type,
	       struct chall_responder **out, struct ck_err *err)
{
	struct chall_responder *r = NULL;
	enum ck_code rc = CK_OK;

	if ((size_t)type >= CK_ARRAY_LEN(c->r))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "unknown challenge type %d", (int)type);
	pthread_mutex_lock(&c->lock);
	if (c->r[type] == NULL && c->pool != NULL) {
		/* a listener the pool shares with other settings */
		rc = issue_pool_responder(c->pool, type, c->cfg, &r, err);
		c->r[type] = r;
		c->borrowed[type] = r != NULL;
	}
	if (c->r[type] == NULL && rc == CK_OK) {
		rc = chall_responder_new(c->ctx, type, c->cfg, &r, err);
		if (rc == CK_OK && (rc = chall_start(r, err)) != CK_OK)
			chall_stop(r);
		if (rc == CK_OK)
			c->r[type] = r;
	}
	*out = c->r[type];
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* What to check when the server could not reach the proof. */
static void
authz_hint(const struct issue_challenges *c, const struct authz_work *w, struct ck_err *err)
{
	const struct ck_challenge_settings *s = c->cfg;
	const char *t = ck_err_problem_short(err);
	size_t n;

	if (err == NULL || (strcmp(t, "connection") != 0 && strcmp(t, "unauthorized") != 0 &&
			    strcmp(t, "dns") != 0 && strcmp(t, "tls") != 0 &&
			    strcmp(t, "incorrectResponse") != 0))
		return;
	n = strlen(err->msg);
	if (w->type == CK_CHALLENGE_HTTP01 && s->webroot != NULL)
		snprintf(err->msg + n, sizeof(err->msg) - n,
			 " (the CA must fetch http://%s/.well-known/acme-challenge/%s from the web "
			 "server that serves --webroot %s on port 80)", w->item.identifier,
			 w->item.token, s->webroot);
	else if (w->type == CK_CHALLENGE_HTTP01)
		snprintf(err->msg + n, sizeof(err->msg) - n,
			 " (the CA must reach this machine's http-01 responder, which listened on "
			 "%s port %u: check that the name resolves here and that port, or choose "
			 "--http-port/--http-address)",
			 s->http_address ? s->http_address : "every address",
			 s->http_port ? s->http_port : 80);
	else if (w->type == CK_CHALLENGE_TLSALPN01)
		snprintf(err->msg + n, sizeof(err->msg) - n,
			 " (the CA must reach this machine's tls-alpn-01 responder, which listened "
			 "on %s port %u: check that the name resolves here and that port, or choose "
			 "--tls-port/--tls-address)",
			 s->tls_address ? s->tls_address : "every address",
			 s->tls_port ? s->tls_port : 443);
	else
		snprintf(err->msg + n, sizeof(err->msg) - n,
			 " (the CA must see the TXT record _acme-challenge.%s: check the hook or "
			 "update server and --dns-wait)", w->item.identifier);
}

/* Fetches one authorization and, if pending, serves its challenge. */
static enum ck_code
authz_prepare(struct issue_challenges *c, struct acme_client *client, EVP_PKEY *account_key,
	      const char *url, struct authz_work *w, struct ck_err *err)
{
	const char *tname;
	struct chall_responder *r = NULL;
	enum ck_code rc;

	if ((rc = acme_authz_fetch(client, url, &w->az, err)) != CK_OK)
		return rc;
	if (w->az.state == ACME_ST_VALID)
		return CK_OK;
	if (w->az.state != ACME_ST_PENDING)
		return CK_FAIL(err, CK_ERR_STATE, "authorization for %s is %s, not pending",
			       w->az.identifier.value, w->az.status);
	snprintf(w->name, sizeof(w->name), "%s%s", w->az.wildcard ? "*." : "",
		 w->az.identifier.value);
	if ((w->ident = strdup(w->az.identifier.value)) == NULL)
		return CK_OOM(err);
	w->item.identifier = w->ident;
	w->item.is_ip = w->az.identifier.type != NULL && strcmp(w->az.identifier.type, "ip") == 0;
	w->item.wildcard = w->az.wildcard;
	w->type = chall_type_for(c->cfg, w->name);
	tname = ck_challenge_type_name(w->type);
	if (w->item.wildcard && w->type != CK_CHALLENGE_DNS01)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "%s is a wildcard: only dns-01 validates "
			       "wildcards, not %s", w->name, tname);
	if (w->item.is_ip && w->type == CK_CHALLENGE_DNS01)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "%s is an IP address: dns-01 cannot "
			       "validate it (RFC 8738); use http-01 or tls-alpn-01", w->name);
	w->ch = acme_authz_challenge(&w->az, tname);
	if (w->ch == NULL || w->ch->token == NULL)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "the server offers no %s challenge for %s",
			       tname, w->name);
	if ((rc = acme_client_key_authorization(client, account_key, w->ch->token,
						 &w->keyauth, err)) != CK_OK)
		return rc;
	if ((w->token = strdup(w->ch->token)) == NULL)
		return CK_OOM(err);
	w->item.token = w->token;
	w->item.keyauth = w->keyauth;
	if ((rc = challenges_get(c, w->type, &r, err)) != CK_OK)
		return rc;
	if ((rc = chall_add(r, &w->item, err)) != CK_OK) {
		ck_err_prefix(err, "%s for %s", tname, w->name);
		return rc;
	}
	w->added = 1;
	w->pending = 1;
	return CK_OK;
}

/* ready for every responder this round added to, then tell the server. */
static enum ck_code
authz_answer(struct issue_challenges *c, struct acme_client *client, struct authz_work *w,
	     size_t n, struct ck_err *err)
{
	enum ck_code rc;
	size_t i, t;

	for (t = 0; t < CK_ARRAY_LEN(c->r); t++) {
		for (i = 0; i < n && !(w[i].pending && w[i].type == (enum ck_challenge_type)t); i++)
			;
		if (i < n && (rc = chall_ready(c->r[t], err)) != CK_OK)
			return rc;
	}
	for (i = 0; i < n; i++)
		if (w[i].pending && (rc = acme_challenge_respond(client, w[i].ch, err)) != CK_OK)
			return rc;
	return CK_OK;
}

/* One order's authorizations being proven: what issue_challenges_answer
 * added, kept served until issue_proof_release. */
struct issue_proof {
	struct issue_challenges *c;
	struct authz_work *w;
	size_t n;
	struct acme_client *client;   /* the order's, for the waits */
};

/*
 * acme_authz_wait_until's "enough": every pending proof was served by its
 * responder (the CA has looked), the newest at least ISSUE_SETTLE_MS ago
 * (slept here if not: the CA decides after it looked).  0 when any way
 * cannot tell (webroot, dns-01) or has not served yet.
 */
static int
proof_enough(void *arg)
{
	struct issue_proof *p = arg;
	long long at, newest = 0, now;
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (!p->w[i].pending)
			continue;
		if (chall_served(p->c->r[p->w[i].type], &p->w[i].item, &at) != 1)
			return 0;
		if (at > newest)
			newest = at;
	}
	now = ck_mono_ms();
	if (newest > 0 && now - newest < ISSUE_SETTLE_MS)
		ck_sleep_ms(p->c->ctx, (unsigned)(ISSUE_SETTLE_MS - (now - newest)));
	return 1;
}

/*
 * Waits for every pending authorization at once (acme_authz_wait_all: one
 * shared poll timeline, not one wait per name); a failure names its name,
 * its type and what to check.  until_served: a poll round that finds
 * every proof served (proof_enough) ends the wait unasked, *served = 1.
 */
enum ck_code
issue_proof_wait(struct issue_proof *p, int until_served, int *served, struct ck_err *err)
{
	struct acme_authz **v;
	size_t *idx, m = 0, i, which = 0;
	struct authz_work *w = p->w;
	enum ck_code rc;

	if (served != NULL)
		*served = 0;
	v = calloc(p->n, sizeof(*v));
	idx = calloc(p->n, sizeof(*idx));
	if (v == NULL || idx == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	for (i = 0; i < p->n; i++)
		if (w[i].pending) {
			idx[m] = i;
			v[m++] = &w[i].az;
		}
	rc = acme_authz_wait_until(p->client, v, m, &which, until_served ? proof_enough : NULL, p,
				   err);
	if (rc != CK_OK && rc != CK_ERR_CANCELLED && which < m) {
		ck_err_prefix(err, "validation of %s failed (%s)", w[idx[which]].name,
			      ck_challenge_type_name(w[idx[which]].type));
		authz_hint(p->c, &w[idx[which]], err);
	}
	for (i = 0; i < m && rc == CK_OK; i++) {
		if (w[idx[i]].az.state != ACME_ST_VALID) {
			if (served != NULL)
				*served = 1;
			continue;
		}
		w[idx[i]].pending = 0; /* decided: a later wait does not ask again */
		ck_log(&p->c->ctx->log, CK_LOG_DEBUG, "%s validated by %s", w[idx[i]].name,
		       ck_challenge_type_name(w[idx[i]].type));
	}
	if (served != NULL && *served)
		ck_log(&p->c->ctx->log, CK_LOG_DEBUG, "every proof was fetched: finalizing "
		       "without asking for the authorizations again");
out:
	free(v);
	free(idx);
	return rc;
}

void
issue_proof_release(struct issue_proof *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		if (p->w[i].added)
			chall_remove(p->c->r[p->w[i].type], &p->w[i].item);
		free(p->w[i].keyauth);
		free(p->w[i].ident);
		free(p->w[i].token);
		acme_authz_cleanup(&p->w[i].az);
	}
	free(p->w);
	free(p);
}

enum ck_code
issue_challenges_answer(struct issue_challenges *c, struct acme_client *client,
			EVP_PKEY *account_key, const struct acme_order *order,
			struct issue_proof **out, struct ck_err *err)
{
	size_t n = order->authorizations.n, i;
	struct issue_proof *p;
	enum ck_code rc = CK_OK;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return CK_OOM(err);
	p->c = c;
	p->client = client;
	p->n = n;
	if (n > 0 && (p->w = calloc(n, sizeof(*p->w))) == NULL) {
		free(p);
		return CK_OOM(err);
	}
	for (i = 0; i < n && rc == CK_OK; i++)
		rc = authz_prepare(c, client, account_key, order->authorizations.v[i], &p->w[i],
				   err);
	if (rc == CK_OK)
		rc = authz_answer(c, client, p->w, n, err);
	if (rc != CK_OK) {
		issue_proof_release(p);
		return rc;
	}
	*out = p;
	return CK_OK;
}

enum ck_code
issue_challenges_authorize(struct issue_challenges *c, struct acme_client *client,
			   EVP_PKEY *account_key, const struct acme_order *order,
			   struct ck_err *err)
{
	struct issue_proof *p = NULL;
	enum ck_code rc;

	if (order->authorizations.n == 0)
		return CK_OK;
	if ((rc = issue_challenges_answer(c, client, account_key, order, &p, err)) == CK_OK)
		rc = issue_proof_wait(p, 0, NULL, err);
	issue_proof_release(p);
	return rc;
}
