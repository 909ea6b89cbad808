/*
 * plan.c - who is due, when and why (certkeep/renew.h): ARI window and
 * its chosen moment, else the lifetime rule with a stable jitter; revoked,
 * key gone, names changed, no certificate, order in flight; and what holds
 * a due lineage back (a server's Retry-After, a stored backoff).
 *
 * Reads the store; writes only the ARI answers it fetched (not in a dry
 * run).  Sends nothing but unauthenticated renewalInfo GETs.
 */
#include <stdlib.h>
#include <string.h>

#include "flow/account.h"
#include "flow/issue.h"
#include "renew/renew_int.h"

uint64_t
renew_spread(const char *sha256, uint64_t span)
{
	uint64_t v = 0;
	size_t i;

	/* The thumbprint's first 60 bits: uniform across certificates. */
	for (i = 0; i < 15 && sha256[i] != '\0'; i++) {
		char c = sha256[i];
		v = (v << 4) | (uint64_t)(c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0');
	}
	return span == UINT64_MAX ? v : v % (span + 1);
}

int
renew_set_text(char **slot, const char *text)
{
	char *c = NULL;

	if (text != NULL && (c = strdup(text)) == NULL)
		return 0;
	free(*slot);
	*slot = c;
	return 1;
}

void
renew_job_cleanup(struct renew_job *j)
{
	size_t i;

	if (j == NULL)
		return;
	free(j->server);
	free(j->account);
	free(j->replaces);
	for (i = 0; i < j->nnames; i++)
		free(j->names[i]);
	free(j->names);
	memset(j, 0, sizeof(*j));
}

void
renew_plan_cleanup(struct renew_plan *p)
{
	size_t i;

	for (i = 0; i < p->nservers; i++) {
		free(p->servers[i].url);
		acme_client_free(p->servers[i].client);
	}
	p->nservers = 0;
	ck_renewal_list_cleanup(&p->rows);
	free(p->acct_server);
	free(p->acct_name);
	p->acct_server = p->acct_name = NULL;
	p->acct_id = 0;
	free(p->default_server);
	p->default_server = NULL;
}

static int
plan_row_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct ck_renewal *)elem)->lineage);
}

/* The lineage's renewal row, read once for the whole plan (rows by name). */
static const struct ck_renewal *
plan_row(const struct renew_plan *p, const char *lineage)
{
	if (p->rows.n == 0)
		return NULL;
	return bsearch(lineage, p->rows.items, p->rows.n, sizeof(*p->rows.items), plan_row_cmp);
}

/*
 * The server url, its client made once per run; NULL when its directory
 * cannot be read.  ari_hold: a Retry-After the server gave renewalInfo
 * (stored under the name RENEW_ARI_HOLD), or one for the whole server.
 */
static struct renew_server *
plan_server(struct renew_plan *p, const char *url)
{
	static const char *const ari[] = { RENEW_ARI_HOLD };
	struct renew_server *s = NULL;
	const struct acme_directory *d;
	struct ck_err e;
	size_t i;

	for (i = 0; i < p->nservers && s == NULL; i++)
		if (strcmp(p->servers[i].url, url) == 0)
			s = &p->servers[i];
	if (s == NULL) {
		if (p->nservers == RENEW_SERVERS_MAX)
			return NULL;
		s = &p->servers[p->nservers];
		memset(s, 0, sizeof(*s));
		if ((s->url = strdup(url)) == NULL)
			return NULL;
		p->nservers++;
		ck_err_clear(&e);
		if (ck_server_client_new(p->ctx, p->st, url, p->o->ca_bundle, NULL, &s->client, &e) !=
			    CK_OK ||
		    acme_directory_get(s->client, &d, &e) != CK_OK) {
			ck_log(&p->ctx->log, CK_LOG_WARN,
			       "cannot read the directory of %s (%s): renewal information (ARI) is "
			       "not asked this run; the lifetime rule decides", url, e.msg);
			s->broken = 1;
		} else if (ck_store_ratelimit_until(p->st, url, ari, 1, p->now, &s->ari_hold, NULL,
						    NULL) != CK_OK) {
			s->ari_hold = 0;
		}
	}
	return s->broken ? NULL : s;
}

/* The server answered renewalInfo with a Retry-After: not asked again before it. */
static void
plan_ari_hold(struct renew_plan *p, struct renew_server *s, const struct ck_err *e)
{
	struct ck_err se;

	s->ari_hold = p->now + e->retry_after;
	ck_log(&p->ctx->log, CK_LOG_INFO, "renewalInfo of %s is not asked again for %ld s "
	       "(its Retry-After); stored windows and the lifetime rule decide meanwhile",
	       s->url, e->retry_after);
	ck_err_clear(&se);
	if (!p->o->dry_run &&
	    ck_store_ratelimit_set(p->st, s->url, RENEW_ARI_HOLD, s->ari_hold, e->msg, &se) != CK_OK)
		ck_log(&p->ctx->log, CK_LOG_WARN, "the Retry-After of renewalInfo is not stored: %s",
		       se.msg);
}

/* The job's server and account: the account that ordered the current
 * certificate (account_id; -1: look it up), else the store's default
 * server and its default account.  The last account read is remembered:
 * a store's lineages share a few accounts. */
static enum ck_code
plan_account(struct renew_plan *p, int64_t cert_id, int64_t account_id, struct renew_job *j,
	     struct ck_err *err)
{
	struct ck_account a;
	enum ck_code rc;

	memset(&a, 0, sizeof(a));
	if (account_id < 0 && (cert_id == 0 ||
			       ck_store_cert_order_account(p->st, cert_id, &account_id, NULL) != CK_OK))
		account_id = 0;
	if (account_id > 0 && account_id != p->acct_id &&
	    ck_store_account_get_id(p->st, account_id, &a, NULL) == CK_OK) {
		free(p->acct_server);
		free(p->acct_name);
		p->acct_server = a.server;
		p->acct_name = a.name;
		a.server = NULL;
		a.name = NULL;
		p->acct_id = account_id;
		ck_account_cleanup(&a);
	}
	if (account_id > 0 && account_id == p->acct_id) {
		rc = ck_strdup(p->acct_server, &j->server, err);
		if (rc == CK_OK && p->o->account == NULL)
			rc = ck_strdup(p->acct_name, &j->account, err);
		if (rc != CK_OK || p->o->account == NULL)
			return rc;
	} else if (p->default_server != NULL &&
		   (rc = ck_strdup(p->default_server, &j->server, err)) != CK_OK) {
		return rc;
	}
	if (p->o->account != NULL)
		return ck_strdup(p->o->account, &j->account, err);
	return CK_OK;
}

/* The moment chosen in [start, end]: stable for one certificate and window. */
static time_t
plan_moment(const char *sha256, time_t start, time_t end)
{
	return start + (time_t)renew_spread(sha256, (uint64_t)(end - start));
}

/*
 * The ARI window and moment of the current certificate into it: the
 * stored answer while its Retry-After holds, else a new answer from the
 * server (stored unless dry run; the moment kept when the window did not
 * move).  Returns 1 when there is a window, 0 when ARI cannot decide.
 */
static int
plan_ari(struct renew_plan *p, const struct ck_cert_row *row, struct renew_job *j,
	 struct ck_renew_item *it, time_t *moment)
{
	const struct ck_renewal *r = plan_row(p, it->lineage);
	struct acme_ari a = { 0 };
	struct ck_renewal_ari set;
	struct renew_server *srv;
	unsigned char *der = NULL;
	size_t len = 0;
	struct ck_err e;
	int stored, have = 0;

	ck_err_clear(&e);
	stored = r != NULL && strcmp(r->cert_sha256, row->sha256) == 0 && r->ari_moment != 0;
	if (j->server == NULL || (srv = plan_server(p, j->server)) == NULL)
		goto fallback;
	if (ck_store_cert_der(p->st, row->id, &der, &len, NULL, &e) != CK_OK ||
	    acme_ari_cert_id(der, len, &j->replaces, &e) != CK_OK)
		goto fallback;
	if ((stored && r->ari_next > p->now) || srv->ari_hold > p->now)
		goto fallback;
	if (acme_ari_fetch(srv->client, j->replaces, &a, &e) != CK_OK) {
		if (e.retry_after > 0)
			plan_ari_hold(p, srv, &e);
		if (e.code != CK_ERR_UNSUPPORTED)
			ck_log(&p->ctx->log, CK_LOG_WARN, "renewal information for %s: %s%s",
			       it->lineage, e.msg, stored ? " (the stored window stands)" : "");
		goto fallback;
	}
	it->ari_start = a.start;
	it->ari_end = a.end;
	*moment = stored && r->ari_start == a.start && r->ari_end == a.end
			  ? r->ari_moment : plan_moment(row->sha256, a.start, a.end);
	(void)renew_set_text(&it->explanation_url, a.explanation_url);
	have = 1;
	if (!p->o->dry_run) {
		set.cert_sha256 = row->sha256;
		set.start = a.start;
		set.end = a.end;
		set.moment = *moment;
		set.next = p->now + (time_t)acme_retry_after_clamp(a.retry_after, ACME_ARI_RETRY_MIN_S,
								   ACME_ARI_RETRY_MAX_S,
								   ACME_ARI_RETRY_DEFAULT_S);
		set.explanation = a.explanation_url;
		if (ck_store_renewal_ari_set(p->st, it->lineage, &set, &e) != CK_OK)
			ck_log(&p->ctx->log, CK_LOG_WARN, "the ARI window of %s is not stored: %s",
			       it->lineage, e.msg);
	}
	goto out;
fallback:
	if (stored) {
		it->ari_start = r->ari_start;
		it->ari_end = r->ari_end;
		*moment = r->ari_moment;
		(void)renew_set_text(&it->explanation_url, r->ari_explanation);
		have = 1;
	}
out:
	acme_ari_cleanup(&a);
	free(der);
	return have;
}

/* Two thirds of the lifetime (half up to 10 days), minus a stable jitter. */
static time_t
plan_lifetime(const struct ck_cert_row *row)
{
	time_t life = row->not_after - row->not_before;
	time_t base;

	if (life <= 0)
		return row->not_before;
	base = life <= RENEW_LIFETIME_SHORT_S ? row->not_before + life / 2
					      : row->not_before + life / 3 * 2;
	return base - (time_t)renew_spread(row->sha256, (uint64_t)(life / RENEW_JITTER_DIV));
}

/* Why the certificate itself must go at once, or CK_RENEW_NOT_DUE. */
static enum ck_renew_why
plan_broken(const struct ck_lineage *lin, const struct ck_cert_row *row)
{
	if (row->revoked_at != 0)
		return CK_RENEW_REVOKED;
	if (!row->linked)
		return CK_RENEW_KEY_GONE;
	if (!ck_issue_names_same((const char *const *)lin->identifiers, lin->nidentifiers,
				 (const char *const *)row->sans, row->nsans))
		return CK_RENEW_NAMES;
	return CK_RENEW_NOT_DUE;
}

/* What holds the lineage back: a stored Retry-After for its names, a backoff. */
static enum ck_code
plan_wait(struct renew_plan *p, struct renew_job *j, struct ck_renew_item *it,
	  struct ck_err *err)
{
	char reason[CK_RENEWAL_ERROR_MAX];
	const struct ck_renewal *r = plan_row(p, it->lineage);
	time_t until = 0;
	enum ck_code rc;

	if (j->server != NULL && p->limits &&
	    (rc = ck_store_ratelimit_until(p->st, j->server, (const char *const *)j->names,
					   j->nnames, p->now, &until, reason, err)) != CK_OK)
		return rc;
	if (until > p->now) {
		it->wait_until = until;
		if (!renew_set_text(&it->wait_reason, reason[0] ? reason : "Retry-After"))
			return CK_OOM(err);
	}
	if (!p->o->force && r != NULL && r->backoff_until > p->now &&
	    r->backoff_until > it->wait_until) {
		char why[CK_RENEWAL_ERROR_MAX + 64];

		snprintf(why, sizeof(why), "backoff after %d failed attempt%s: %s", r->failures,
			 r->failures == 1 ? "" : "s", r->last_error ? r->last_error : "");
		it->wait_until = r->backoff_until;
		if (!renew_set_text(&it->wait_reason, why))
			return CK_OOM(err);
	}
	return CK_OK;
}

/* Copies the lineage's identifiers into the job. */
static enum ck_code
plan_names(const struct ck_lineage *lin, struct renew_job *j, struct ck_err *err)
{
	size_t i;

	if ((j->names = calloc(lin->nidentifiers + 1, sizeof(*j->names))) == NULL)
		return CK_OOM(err);
	for (i = 0; i < lin->nidentifiers; i++) {
		if ((j->names[i] = strdup(lin->identifiers[i])) == NULL)
			return CK_OOM(err);
		j->nnames = i + 1;
	}
	return CK_OK;
}

/* The facts of the current certificate read for every lineage at once,
 * as the row plan_one reads (borrowing cur's names). */
static void
plan_row_from_current(const struct ck_lineage_current *cur, struct ck_cert_row *row)
{
	row->id = cur->cert_id;
	memcpy(row->sha256, cur->sha256, sizeof(row->sha256));
	row->not_before = cur->not_before;
	row->not_after = cur->not_after;
	row->revoked_at = cur->revoked_at;
	row->linked = cur->linked;
	row->sans = cur->sans;
	row->nsans = cur->nsans;
}

/* One lineage: item and job.  in_flight: it has an open order.  cur: its
 * current certificate as read for all lineages at once (NULL: read it here). */
static enum ck_code
plan_one(struct renew_plan *p, const struct ck_lineage *lin, const struct ck_lineage_current *cur,
	 int in_flight, struct ck_renew_item *it, struct renew_job *j, struct ck_err *err)
{
	struct ck_cert_row row;
	time_t moment = 0;
	enum ck_code rc;
	int known = cur != NULL && cur->cert_id != 0 && cur->cert_id == lin->current_cert_id;

	memset(&row, 0, sizeof(row));
	snprintf(it->lineage, sizeof(it->lineage), "%s", lin->name);
	if ((rc = plan_names(lin, j, err)) != CK_OK)
		return rc;
	if (known)
		plan_row_from_current(cur, &row);
	else if (lin->current_cert_id != 0 &&
		 (rc = ck_store_cert_get(p->st, lin->current_cert_id, &row, err)) != CK_OK)
		return rc;
	if ((rc = plan_account(p, lin->current_cert_id, known ? cur->order_account_id : -1, j,
			       err)) != CK_OK)
		goto out;
	if (lin->current_cert_id == 0) {
		it->why = in_flight ? CK_RENEW_IN_FLIGHT : CK_RENEW_NO_CERT;
	} else {
		memcpy(it->sha256, row.sha256, sizeof(it->sha256));
		it->not_after = row.not_after;
		if ((it->why = plan_broken(lin, &row)) == CK_RENEW_NOT_DUE && in_flight)
			it->why = CK_RENEW_IN_FLIGHT;
		if (!plan_ari(p, &row, j, it, &moment))
			moment = plan_lifetime(&row);
		if (it->why == CK_RENEW_NOT_DUE) {
			it->due_at = moment;
			if (moment <= p->now)
				it->why = it->ari_end != 0 ? CK_RENEW_ARI : CK_RENEW_LIFETIME;
		}
	}
	if (it->why == CK_RENEW_NOT_DUE && p->o->force)
		it->why = CK_RENEW_FORCED;
	if (it->why == CK_RENEW_NOT_DUE) {
		it->state = CK_RENEW_ST_NOT_DUE;
		goto out;
	}
	if ((rc = plan_wait(p, j, it, err)) != CK_OK)
		goto out;
	it->state = it->wait_until > p->now ? CK_RENEW_ST_WAITING : CK_RENEW_ST_DUE;
out:
	if (known) {
		row.sans = NULL; /* borrowed from cur */
		row.nsans = 0;
	}
	ck_cert_row_cleanup(&row);
	return rc;
}

/* 1 if lineage name is among the open orders. */
static int
plan_in_flight(const struct ck_order_list *open, const char *name)
{
	size_t i;

	for (i = 0; i < open->n; i++)
		if (open->items[i].lineage != NULL && strcmp(open->items[i].lineage, name) == 0 &&
		    open->items[i].url != NULL)
			return 1;
	return 0;
}

/* The lineages to plan: every one, or exactly the named ones (each must exist). */
static enum ck_code
plan_lineages(struct renew_plan *p, struct ck_lineage_list *out, struct ck_err *err)
{
	struct ck_lineage_list l = { NULL, 0 };
	size_t i;
	enum ck_code rc;

	if (p->o->nlineages == 0)
		return ck_store_lineage_list(p->st, out, err);
	if ((l.items = calloc(p->o->nlineages, sizeof(*l.items))) == NULL)
		return CK_OOM(err);
	for (i = 0; i < p->o->nlineages; i++) {
		if ((rc = ck_store_lineage_get(p->st, p->o->lineages[i], &l.items[i], err)) != CK_OK) {
			ck_lineage_list_cleanup(&l);
			if (rc == CK_ERR_NOT_FOUND)
				ck_err_prefix(err, "nothing was renewed (`certkeep list` shows the "
					      "lineages)");
			return rc;
		}
		l.n = i + 1;
	}
	*out = l;
	return CK_OK;
}

static void
plan_names_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

/* Lineage ids in order, each with its place in the plan's list. */
struct plan_slot {
	int64_t id;
	size_t at;
};

static int
plan_slot_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct plan_slot *)a)->id, y = ((const struct plan_slot *)b)->id;

	return x < y ? -1 : x > y;
}

/* What plan_current fills: cur[i] for the lineage at i. */
struct plan_currents {
	struct plan_slot *slots;
	size_t n;
	struct ck_lineage_current *cur;
};

/* One lineage's current certificate into its place (ck_lineage_current_fn). */
static enum ck_code
plan_current(struct ck_lineage_current *c, void *arg, struct ck_err *err)
{
	struct plan_currents *pc = arg;
	struct plan_slot key = { c->lineage_id, 0 }, *hit;

	(void)err;
	hit = bsearch(&key, pc->slots, pc->n, sizeof(*pc->slots), plan_slot_cmp);
	if (hit == NULL || pc->cur[hit->at].cert_id != 0)
		return CK_OK; /* a lineage made since the list was read: planned next run */
	pc->cur[hit->at] = *c;
	c->sans = NULL; /* taken */
	c->nsans = 0;
	return CK_OK;
}

/*
 * Every lineage's current certificate in one read (*out[i] for
 * lins->items[i], cert_id 0 where none was read): one query for the whole
 * plan instead of two per lineage.
 */
static enum ck_code
plan_currents(struct renew_plan *p, const struct ck_lineage_list *lins,
	      struct ck_lineage_current **out, struct ck_err *err)
{
	struct plan_currents pc = { NULL, lins->n, NULL };
	enum ck_code rc;
	size_t i;

	*out = NULL;
	if (lins->n == 0)
		return CK_OK;
	pc.slots = calloc(lins->n, sizeof(*pc.slots));
	pc.cur = calloc(lins->n, sizeof(*pc.cur));
	if (pc.slots == NULL || pc.cur == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	for (i = 0; i < lins->n; i++) {
		pc.slots[i].id = lins->items[i].id;
		pc.slots[i].at = i;
	}
	qsort(pc.slots, pc.n, sizeof(*pc.slots), plan_slot_cmp);
	if ((rc = ck_store_lineage_current_each(p->st, plan_current, &pc, err)) != CK_OK)
		goto out;
	*out = pc.cur;
	pc.cur = NULL;
out:
	for (i = 0; pc.cur != NULL && i < lins->n; i++)
		plan_names_free(pc.cur[i].sans, pc.cur[i].nsans);
	free(pc.cur);
	free(pc.slots);
	return rc;
}

enum ck_code
renew_plan_make(struct renew_plan *p, struct ck_renew_item **items, struct renew_job **jobs,
		size_t *n, struct ck_err *err)
{
	struct ck_lineage_list lins = { NULL, 0 };
	struct ck_lineage_current *cur = NULL;
	struct ck_order_list open = { NULL, 0 };
	struct ck_renew_item *it = NULL;
	struct renew_job *jb = NULL;
	size_t i, done = 0;
	enum ck_code rc;

	p->now = ck_now(p->ctx);
	if (ck_server_pick(p->st, NULL, &p->default_server, NULL) != CK_OK)
		p->default_server = NULL;
	if ((rc = plan_lineages(p, &lins, err)) != CK_OK ||
	    (rc = ck_store_order_list_open(p->st, &open, err)) != CK_OK ||
	    (rc = ck_store_renewal_list(p->st, &p->rows, err)) != CK_OK ||
	    (rc = ck_store_ratelimit_any(p->st, p->now, &p->limits, err)) != CK_OK)
		goto out;
	it = calloc(lins.n + 1, sizeof(*it));
	jb = calloc(lins.n + 1, sizeof(*jb));
	if (it == NULL || jb == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	if (p->o->nlineages == 0 && (rc = plan_currents(p, &lins, &cur, err)) != CK_OK)
		goto out;
	for (i = 0; i < lins.n; i++, done++) {
		if ((rc = ck_cancel_check(p->ctx, "planning the renewal", err)) != CK_OK ||
		    (rc = plan_one(p, &lins.items[i], cur != NULL ? &cur[i] : NULL,
				   plan_in_flight(&open, lins.items[i].name), &it[i], &jb[i],
				   err)) != CK_OK) {
			done++;
			goto out;
		}
	}
	*items = it;
	*jobs = jb;
	*n = lins.n;
	it = NULL;
	jb = NULL;
out:
	for (i = 0; it != NULL && i < done; i++) {
		free(it[i].explanation_url);
		free(it[i].wait_reason);
		renew_job_cleanup(&jb[i]);
	}
	free(it);
	free(jb);
	for (i = 0; cur != NULL && i < lins.n; i++)
		plan_names_free(cur[i].sans, cur[i].nsans);
	free(cur);
	ck_order_list_cleanup(&open);
	ck_lineage_list_cleanup(&lins);
	return rc;
}
