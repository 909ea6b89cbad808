/*
 * dns01_wait.c - the records a dns-01 responder published, and the wait
 * until the CA can see them: every TXT value at every server it is checked
 * at (the zone's authoritative servers, or the one --dns-resolver), polled
 * until a deadline, cancellable.  After the deadline the error says what
 * each server still answered, so the operator sees whether the record is
 * missing, stale, or the server is unreachable.
 */
#include <stdlib.h>
#include <string.h>

#include "challenge/dns01.h"

/* ---- the set of published records -------------------------------------------- */

void
dns01_set_init(struct dns01_set *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
}

void
dns01_set_cleanup(struct dns01_set *s)
{
	free(s->recs);
	s->recs = NULL;
	s->n = s->cap = 0;
	pthread_mutex_destroy(&s->lock);
}

enum ck_code
dns01_rec_from_item(const struct chall_item *it, struct dns01_rec *out, struct ck_err *err)
{
	enum ck_code rc;

	memset(out, 0, sizeof(*out));
	if (it->is_ip)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "dns-01 cannot prove an IP address "
			       "(RFC 8738): use http-01 or tls-alpn-01 for it");
	/* checks the identifier: a DNS name of letters, digits, '-' (never a path or option) */
	rc = chall_dns01_name(it->identifier, out->fqdn, sizeof(out->fqdn), err);
	if (rc != CK_OK)
		return rc;
	return chall_dns01_value(it->keyauth, out->value, err);
}

static size_t
set_find(const struct dns01_set *s, const struct dns01_rec *rec)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcasecmp(s->recs[i].fqdn, rec->fqdn) == 0 &&
		    strcmp(s->recs[i].value, rec->value) == 0)
			return i;
	return s->n;
}

int
dns01_set_has(struct dns01_set *s, const struct dns01_rec *rec)
{
	int has;

	pthread_mutex_lock(&s->lock);
	has = set_find(s, rec) < s->n;
	pthread_mutex_unlock(&s->lock);
	return has;
}

enum ck_code
dns01_set_add(struct dns01_set *s, const struct dns01_rec *rec, struct ck_err *err)
{
	enum ck_code rc = CK_OK;

	pthread_mutex_lock(&s->lock);
	if (set_find(s, rec) < s->n)
		goto out;
	if (s->n == DNS01_RECORDS_MAX) {
		rc = CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %d dns-01 records at once",
			     DNS01_RECORDS_MAX);
		goto out;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct dns01_rec *p = realloc(s->recs, cap * sizeof(*p));

		if (p == NULL) {
			rc = CK_OOM(err);
			goto out;
		}
		s->recs = p;
		s->cap = cap;
	}
	s->recs[s->n] = *rec;
	s->recs[s->n++].visible = 0;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int
dns01_set_take(struct dns01_set *s, const struct dns01_rec *rec)
{
	size_t i;
	int found = 0;

	pthread_mutex_lock(&s->lock);
	i = set_find(s, rec);
	if (i < s->n) {
		s->recs[i] = s->recs[--s->n];
		found = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

int
dns01_set_pop(struct dns01_set *s, struct dns01_rec *out)
{
	int found = 0;

	pthread_mutex_lock(&s->lock);
	if (s->n > 0) {
		*out = s->recs[--s->n];
		found = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

void
dns01_ctx_uncancelled(const struct ck_ctx *ctx, struct ck_ctx *out)
{
	*out = *ctx;
	out->cancel = NULL;
}

/* ---- the wait ------------------------------------------------------------------- */

/* One record being waited for, and where. */
struct wait_rec {
	struct dns01_rec rec;
	ldns_resolver *srv[DNS01_SERVERS_MAX];
	size_t nsrv;
	int ok[DNS01_SERVERS_MAX];
	char seen[DNS01_SERVERS_MAX][DNS01_SEEN_MAX];
};

/* The records of s not yet visible, copied (so the lock is not held while waiting). */
static enum ck_code
wait_pending(struct dns01_set *s, struct wait_rec **out, size_t *n, struct ck_err *err)
{
	size_t i;
	enum ck_code rc = CK_OK;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&s->lock);
	if (s->n > 0) {
		*out = calloc(s->n, sizeof(**out));
		if (*out == NULL)
			rc = CK_OOM(err);
	}
	for (i = 0; rc == CK_OK && i < s->n; i++)
		if (!s->recs[i].visible)
			(*out)[(*n)++].rec = s->recs[i];
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void
wait_mark_visible(struct dns01_set *s, const struct wait_rec *w, size_t n)
{
	size_t i, j;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < n; i++) {
		j = set_find(s, &w[i].rec);
		if (j < s->n)
			s->recs[j].visible = 1;
	}
	pthread_mutex_unlock(&s->lock);
}

static void
wait_free(struct wait_rec *w, size_t n)
{
	size_t i, j;

	for (i = 0; w != NULL && i < n; i++)
		for (j = 0; j < w[i].nsrv; j++)
			ldns_resolver_deep_free(w[i].srv[j]);
	free(w);
}

/* Where one record is checked: the --dns-resolver, or its zone's servers (+ extra). */
static enum ck_code
wait_servers(const struct ck_challenge_settings *cfg, ldns_resolver *walk, const char *extra,
	     unsigned ns_port, struct wait_rec *w, struct ck_err *err)
{
	char *zone = NULL;
	enum ck_code rc;

	if (cfg->dns_resolver != NULL && cfg->dns_resolver[0] != '\0') {
		rc = dns01_resolver_for(cfg->dns_resolver, 53, 1, "--dns-resolver", &w->srv[0], err);
		if (rc == CK_OK)
			w->nsrv = 1;
		return rc;
	}
	rc = dns01_zone_find(walk, w->rec.fqdn, &zone, err);
	if (rc == CK_OK)
		rc = dns01_zone_servers(walk, zone, ns_port, w->srv, DNS01_SERVERS_MAX - 1, &w->nsrv,
					err);
	free(zone);
	if (rc == CK_OK && extra != NULL) {
		rc = dns01_resolver_for(extra, 53, 0, "--dns-update", &w->srv[w->nsrv], err);
		if (rc == CK_OK)
			w->nsrv++;
	}
	return rc;
}

/* One round: asks every server not yet showing its record; 1 when all show theirs. */
static int
wait_round(struct wait_rec *w, size_t n)
{
	size_t i, j;
	int all = 1;

	for (i = 0; i < n; i++) {
		for (j = 0; j < w[i].nsrv; j++) {
			ldns_rdf *name;
			ldns_pkt *p = NULL;
			ldns_resolver *res = w[i].srv[j];

			if (w[i].ok[j])
				continue;
			name = ldns_dname_new_frm_str(w[i].rec.fqdn);
			if (name != NULL &&
			    ldns_resolver_send(&p, res, name, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN,
					       ldns_resolver_recursive(res) ? LDNS_RD : 0) ==
				    LDNS_STATUS_OK && p != NULL)
				w[i].ok[j] = dns01_txt_match(p, w[i].rec.fqdn, w[i].rec.value,
							     w[i].seen[j], DNS01_SEEN_MAX);
			else
				snprintf(w[i].seen[j], DNS01_SEEN_MAX, "no answer");
			ldns_pkt_free(p);
			ldns_rdf_deep_free(name);
			all = all && w[i].ok[j];
		}
	}
	return all;
}

/* The timeout error: the first record still missing and what its servers said. */
static enum ck_code
wait_error(const struct wait_rec *w, size_t n, int secs, struct ck_err *err)
{
	char at[CK_ERR_MSG_MAX] = "", server[96];
	size_t i, j, len, missing = 0;
	const struct wait_rec *first = NULL;

	for (i = 0; i < n; i++) {
		for (j = 0; j < w[i].nsrv && w[i].ok[j]; j++)
			;
		if (j < w[i].nsrv && missing++ == 0)
			first = &w[i];
	}
	for (j = 0; first != NULL && j < first->nsrv; j++) {
		if (first->ok[j])
			continue;
		dns01_resolver_name(first->srv[j], server, sizeof(server));
		len = strlen(at);
		snprintf(at + len, sizeof(at) - len, "%sat %s: %s", len ? "; " : "", server,
			 first->seen[j]);
	}
	return CK_FAIL(err, CK_ERR_TIMEOUT, "the TXT record %s \"%s\" was not visible after %d s "
		       "(--dns-wait)%s: %s%s", first ? first->rec.fqdn : "?",
		       first ? first->rec.value : "?", secs,
		       missing > 1 ? " (nor were other records)" : "", at,
		       "; check the hook or update server, or use --dns-wait to wait longer");
}

enum ck_code
dns01_wait(struct chall_responder *r, struct dns01_set *s, const char *update,
	   unsigned ns_port, struct ck_err *err)
{
	const struct ck_challenge_settings *cfg = r->cfg;
	int secs = cfg->dns_wait < 0 ? DNS01_WAIT_DEFAULT_S : cfg->dns_wait;
	ldns_resolver *walk = NULL;
	struct wait_rec *w = NULL;
	size_t n = 0, i;
	time_t deadline;
	enum ck_code rc;

	rc = wait_pending(s, &w, &n, err);
	if (rc != CK_OK || n == 0 || secs == 0)
		goto done;
	if ((rc = dns01_ldns_load(err)) != CK_OK)
		goto out;
	if (cfg->dns_resolver == NULL || cfg->dns_resolver[0] == '\0')
		rc = update != NULL ?
			dns01_resolver_for(update, 53, 0, "--dns-update", &walk, err) :
			dns01_resolver_system(&walk, err);
	for (i = 0; rc == CK_OK && i < n; i++)
		rc = wait_servers(cfg, walk, update, ns_port, &w[i], err);
	if (rc != CK_OK) {
		ck_err_prefix(err, "checking that the dns-01 records are visible "
			      "(--dns-wait 0 skips the check)");
		goto out;
	}
	deadline = ck_now(r->ctx) + secs;
	for (;;) {
		if (wait_round(w, n))
			break;
		rc = ck_cancel_check(r->ctx, "waiting for the dns-01 TXT records", err);
		if (rc != CK_OK)
			goto out;
		if (ck_now(r->ctx) >= deadline) {
			rc = wait_error(w, n, secs, err);
			goto out;
		}
		ck_sleep_ms(r->ctx, DNS01_POLL_MS);
	}
done:
	if (rc == CK_OK)
		wait_mark_visible(s, w, n);
out:
	if (walk != NULL) /* NULL also when ldns could not be loaded */
		ldns_resolver_deep_free(walk);
	wait_free(w, n);
	return rc;
}
