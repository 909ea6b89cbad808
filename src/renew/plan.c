/*
 * plan.c - who is due, when and why (certkeep/renew.h): ARI window and
 * its chosen moment, else the lifetime rule with a stable jitter; revoked,
 * key gone, names changed, no certificate, order in flight; and what holds
 * a due lineage back (a server's Retry-After, a stored backoff).  The
 * lifetime rule and the stable spread live in store/due.c, which doctor's
 * check of the stored next look (CK-D021) shares.
 *
 * Reads the store; writes only the ARI answers it fetched (not in a dry
 * run).  Sends nothing but unauthenticated renewalInfo GETs.
 */
#include <stdlib.h>
#include <string.h>

#include "flow/account.h"
#include "flow/issue.h"
#include "renew/renew_int.h"

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
	free(p->acct_server);
	free(p->acct_name);
	p->acct_server = p->acct_name = NULL;
	p->acct_id = 0;
	free(p->default_server);
	p->default_server = NULL;
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
	return start + (time_t)ck_due_spread(sha256, (uint64_t)(end - start));
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
	const struct ck_renewal *r = p->row;
	struct acme_ari a = { 0 };
	struct ck_renewal_ari set;
	struct renew_server *srv;
	unsigned char *der = NULL;
	size_t len = 0;
	struct ck_err e;
	int stored, have = 0;

	ck_err_clear(&e);
	stored = ck_due_ari_stored(r, row->sha256);
	if (j->server == NULL)
		goto fallback;
	if ((srv = plan_server(p, j->server)) == NULL) {
		p->ari_look = -1; /* the directory could not be read: ask next plan */
		goto fallback;
	}
	if (ck_store_cert_der(p->st, row->id, &der, &len, NULL, &e) != CK_OK ||
	    acme_ari_cert_id(der, len, &j->replaces, &e) != CK_OK)
		goto fallback;
	if ((stored && r->ari_next > p->now) || srv->ari_hold > p->now) {
		p->ari_look = stored && r->ari_next > p->now ? r->ari_next : srv->ari_hold;
		if (srv->ari_hold > p->now && srv->ari_hold < p->ari_look)
			p->ari_look = srv->ari_hold;
		goto fallback;
	}
	if (acme_ari_fetch(srv->client, j->replaces, &a, &e) != CK_OK) {
		if (e.retry_after > 0)
			plan_ari_hold(p, srv, &e);
		p->ari_look = e.retry_after > 0 ? srv->ari_hold : e.code == CK_ERR_UNSUPPORTED ? 0 : -1;
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
	p->ari_look = -1; /* a dry run does not store the answer: asked again next plan */
	if (!p->o->dry_run) {
		set.cert_sha256 = row->sha256;
		set.start = a.start;
		set.end = a.end;
		set.moment = *moment;
		set.next = p->now + (time_t)acme_retry_after_clamp(a.retry_after, ACME_ARI_RETRY_MIN_S,
								   ACME_ARI_RETRY_MAX_S,
								   ACME_ARI_RETRY_DEFAULT_S);
		set.explanation = a.explanation_url;
		if (ck_store_renewal_ari_set(p->st, it->lineage, &set, &e) != CK_OK) {
			ck_log(&p->ctx->log, CK_LOG_WARN, "the ARI window of %s is not stored: %s",
			       it->lineage, e.msg);
		} else {
			p->ari_look = set.next;
			p->ari_stored = 1;
		}
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
	const struct ck_renewal *r = p->row;
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
			moment = ck_due_lifetime(row.not_before, row.not_after, row.sha256);
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

/* Lineages per due-scan page: RENEW_PLAN_PAGE; a test build takes
 * CERTKEEP_PLAN_PAGE (1..CK_DUE_PAGE_MAX) so tests cross pages with few. */
static size_t
renew_plan_page(void)
{
#ifdef CK_FAULT_INJECTION
	const char *v = getenv("CERTKEEP_PLAN_PAGE");
	long n = v != NULL ? strtol(v, NULL, 10) : 0;

	if (n >= 1 && n <= CK_DUE_PAGE_MAX)
		return (size_t)n;
#endif
	return RENEW_PLAN_PAGE;
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

/* The items and jobs the plan keeps, growing by doubling. */
struct plan_out {
	struct ck_renew_item *it;
	struct renew_job *jb;
	size_t n, cap;
};

static enum ck_code
plan_room(struct plan_out *o, struct ck_err *err)
{
	struct ck_renew_item *it;
	struct renew_job *jb;
	size_t cap;

	if (o->n < o->cap)
		return CK_OK;
	cap = o->cap ? o->cap * 2 : 64;
	if ((it = realloc(o->it, cap * sizeof(*it))) == NULL)
		return CK_OOM(err);
	o->it = it;
	if ((jb = realloc(o->jb, cap * sizeof(*jb))) == NULL)
		return CK_OOM(err);
	o->jb = jb;
	o->cap = cap;
	return CK_OK;
}

static void
plan_item_cleanup(struct ck_renew_item *it, struct renew_job *j)
{
	free(it->explanation_url);
	free(it->wait_reason);
	memset(it, 0, sizeof(*it));
	renew_job_cleanup(j);
}

static void
plan_out_cleanup(struct plan_out *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		plan_item_cleanup(&o->it[i], &o->jb[i]);
	free(o->it);
	free(o->jb);
	memset(o, 0, sizeof(*o));
}

/* When a plan must look at a not-due lineage again: its moment, or the
 * time renewalInfo may be asked again if sooner; 0 = next plan (an ARI
 * answer not stored, a server that could not be read). */
static time_t
plan_next(const struct renew_plan *p, const struct ck_renew_item *it)
{
	time_t next = it->due_at;

	if (p->ari_look < 0)
		return 0;
	if (p->ari_look > 0 && p->ari_look < next)
		next = p->ari_look;
	return next > p->now ? next : 0;
}

/*
 * Plans lin (its current certificate cur, NULL = read it; its renewal row
 * row, NULL = none) into o's next slot, kept when it is not "not due" or
 * keep says so.  *next: its next look for a not-due one (plan_next), else 0.
 */
static enum ck_code
plan_take(struct renew_plan *p, const struct ck_lineage *lin, const struct ck_lineage_current *cur,
	  const struct ck_renewal *row, int in_flight, int keep, struct plan_out *o, time_t *next,
	  struct ck_err *err)
{
	struct ck_renew_item *it;
	struct renew_job *j;
	enum ck_code rc;

	*next = 0;
	if ((rc = plan_room(o, err)) != CK_OK)
		return rc;
	it = &o->it[o->n];
	j = &o->jb[o->n];
	memset(it, 0, sizeof(*it));
	memset(j, 0, sizeof(*j));
	p->row = row;
	p->ari_look = 0;
	p->ari_stored = 0;
	rc = plan_one(p, lin, cur, in_flight, it, j, err);
	p->row = NULL;
	if (rc == CK_OK && it->state == CK_RENEW_ST_NOT_DUE)
		*next = plan_next(p, it);
	if (rc != CK_OK || (!keep && it->state == CK_RENEW_ST_NOT_DUE)) {
		plan_item_cleanup(it, j);
		return rc;
	}
	o->n++;
	return CK_OK;
}

/* A named lineage (it must exist), planned and kept due or not. */
static enum ck_code
plan_named(struct renew_plan *p, const char *name, const struct ck_order_list *open,
	   struct plan_out *o, struct ck_err *err)
{
	struct ck_lineage lin;
	struct ck_renewal r;
	enum ck_code rc;
	time_t next;
	int have;

	memset(&lin, 0, sizeof(lin));
	memset(&r, 0, sizeof(r));
	if ((rc = ck_store_lineage_get(p->st, name, &lin, err)) != CK_OK) {
		if (rc == CK_ERR_NOT_FOUND)
			ck_err_prefix(err, "nothing was renewed (`certkeep list` shows the lineages)");
		return rc;
	}
	rc = ck_store_renewal_get(p->st, name, &r, err);
	have = rc == CK_OK;
	if (rc == CK_OK || rc == CK_ERR_NOT_FOUND) {
		ck_err_clear(err);
		rc = plan_take(p, &lin, NULL, have ? &r : NULL, plan_in_flight(open, name), 1, o,
			       &next, err);
	}
	ck_renewal_cleanup(&r);
	ck_lineage_cleanup(&lin);
	return rc;
}

/* Stores the next looks of a page's not-due lineages: a cache, so a
 * failure is a warning (the next plan computes them again). */
static void
plan_due_store(struct renew_plan *p, const struct ck_due_set *v, size_t n)
{
	struct ck_err e;

	ck_err_clear(&e);
	if (n > 0 && ck_store_due_set(p->st, v, n, &e) != CK_OK)
		ck_log(&p->ctx->log, CK_LOG_WARN, "the next-due time of %zu lineage%s is not "
		       "stored (the next plan computes it again): %s", n, n == 1 ? "" : "s", e.msg);
}

/*
 * The due-scan: page by page, the lineages whose stored due_at has come
 * (with force or show_all: every lineage), each planned and kept when due
 * or show_all; the next look of each not-due one stored.
 */
static enum ck_code
plan_scan(struct renew_plan *p, const struct ck_order_list *open, struct plan_out *o,
	  struct ck_err *err)
{
	struct ck_due_cursor at = CK_DUE_CURSOR_START;
	struct ck_due_page pg;
	struct ck_due_set *set;
	time_t by = p->o->force || p->o->show_all ? -1 : p->now, next;
	enum ck_code rc = CK_OK;
	size_t i, nset;
	int more = 1;

	memset(&pg, 0, sizeof(pg));
	if ((set = calloc(p->page, sizeof(*set))) == NULL)
		return CK_OOM(err);
	while (rc == CK_OK && more) {
		if ((rc = ck_store_due_page(p->st, by, &at, p->page, &pg, err)) != CK_OK)
			break;
		more = pg.n == p->page;
		for (i = 0, nset = 0; i < pg.n && rc == CK_OK; i++) {
			if ((rc = ck_cancel_check(p->ctx, "planning the renewal", err)) != CK_OK ||
			    (rc = plan_take(p, &pg.lins[i], &pg.cur[i],
					    pg.ren[i].lineage[0] != '\0' ? &pg.ren[i] : NULL,
					    plan_in_flight(open, pg.lins[i].name), p->o->show_all, o,
					    &next, err)) != CK_OK)
				break;
			/* not over the plan's own ARI answer: that reset it */
			if (next != 0 && next != pg.due_at[i] && !p->ari_stored) {
				set[nset].id = pg.lins[i].id;
				set[nset].cert_id = pg.lins[i].current_cert_id;
				set[nset].was = pg.due_at[i];
				set[nset++].due_at = next;
			}
		}
		if (rc == CK_OK)
			plan_due_store(p, set, nset);
		ck_due_page_cleanup(&pg);
		ck_store_shed(p->st); /* SQLite's pages of a page read once */
	}
	free(set);
	return rc;
}

/* 1 if lineage name is among o's items. */
static int
plan_has(const struct plan_out *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (strcmp(o->it[i].lineage, name) == 0)
			return 1;
	return 0;
}

/* The lineages with an order in flight that the scan did not read (an
 * order placed for one not due, e.g. forced): always planned. */
static enum ck_code
plan_open(struct renew_plan *p, const struct ck_order_list *open, struct plan_out *o,
	  struct ck_err *err)
{
	enum ck_code rc;
	size_t i;

	for (i = 0; i < open->n; i++) {
		const char *name = open->items[i].lineage;

		if (name == NULL || open->items[i].url == NULL || plan_has(o, name))
			continue;
		rc = plan_named(p, name, open, o, err);
		if (rc == CK_ERR_NOT_FOUND) { /* an order whose lineage is gone: not ours to plan */
			ck_err_clear(err);
			continue;
		}
		if (rc != CK_OK)
			return rc;
	}
	return CK_OK;
}

/* Sorting by name: an item's place in the plan's arrays, by its name. */
struct plan_rank {
	const char *name;
	size_t at;
};

static int
plan_rank_cmp(const void *a, const void *b)
{
	return strcmp(((const struct plan_rank *)a)->name, ((const struct plan_rank *)b)->name);
}

/* Items (with their jobs) by lineage name, as `list` orders lineages. */
static enum ck_code
plan_sort(struct plan_out *o, struct ck_err *err)
{
	struct plan_rank *r = calloc(o->n + 1, sizeof(*r));
	struct ck_renew_item *it = calloc(o->cap + 1, sizeof(*it));
	struct renew_job *jb = calloc(o->cap + 1, sizeof(*jb));
	enum ck_code rc = CK_OK;
	size_t i;

	if (r == NULL || it == NULL || jb == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	for (i = 0; i < o->n; i++) {
		r[i].name = o->it[i].lineage;
		r[i].at = i;
	}
	qsort(r, o->n, sizeof(*r), plan_rank_cmp);
	for (i = 0; i < o->n; i++) {
		it[i] = o->it[r[i].at];
		jb[i] = o->jb[r[i].at];
	}
	free(o->it);
	free(o->jb);
	o->it = it;
	o->jb = jb;
	o->cap += 1;
	it = NULL;
	jb = NULL;
out:
	free(r);
	free(it);
	free(jb);
	return rc;
}

enum ck_code
renew_plan_make(struct renew_plan *p, struct ck_renew_item **items, struct renew_job **jobs,
		size_t *n, struct ck_err *err)
{
	struct ck_order_list open = { NULL, 0 };
	struct plan_out o = { NULL, NULL, 0, 0 };
	enum ck_code rc;
	size_t i;

	p->now = ck_now(p->ctx);
	if (p->page == 0)
		p->page = renew_plan_page();
	if (ck_server_pick(p->st, NULL, &p->default_server, NULL) != CK_OK)
		p->default_server = NULL;
	if ((rc = ck_store_order_list_open(p->st, &open, err)) != CK_OK ||
	    (rc = ck_store_ratelimit_any(p->st, p->now, &p->limits, err)) != CK_OK)
		goto out;
	for (i = 0; i < p->o->nlineages && rc == CK_OK; i++)
		if ((rc = ck_cancel_check(p->ctx, "planning the renewal", err)) == CK_OK)
			rc = plan_named(p, p->o->lineages[i], &open, &o, err);
	if (rc == CK_OK && p->o->nlineages == 0 && (rc = plan_scan(p, &open, &o, err)) == CK_OK &&
	    (rc = plan_open(p, &open, &o, err)) == CK_OK)
		rc = plan_sort(&o, err);
	if (rc != CK_OK)
		goto out;
	if (o.n == 0 && (rc = plan_room(&o, err)) != CK_OK) /* never a NULL array */
		goto out;
	*items = o.it;
	*jobs = o.jb;
	*n = o.n;
	memset(&o, 0, sizeof(o));
out:
	plan_out_cleanup(&o);
	ck_order_list_cleanup(&open);
	return rc;
}
