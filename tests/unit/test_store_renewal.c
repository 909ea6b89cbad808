/*
 * test_store_renewal.c - the renewal scheduler's state (store/renewal.h,
 * migration 6): claims (granted, refused to another holder, expired,
 * taken over from a dead holder, the token growing), the lease's fencing
 * (a handle whose lease expired or was taken over commits nothing) and
 * heartbeat, a server's
 * Retry-After per name (a later one kept, an earlier one never shortening
 * it), failures and backoff, the ARI window, orders counted per server;
 * the due-scan's stored next-due time (migration 15) and its pages.
 */
#include "test_store_util.h"

#include "store/renewal.h"

static void
test_claim(void **state)
{
	struct t_env *e = *state;
	struct ck_renewal r;
	struct ck_err err;
	int64_t tok = 0, tok2 = 0;

	ck_err_clear(&err);
	assert_int_equal(ck_store_renewal_claim(e->st, "www", "host pid 1 run a", e->now + 60, NULL,
						&tok, &err), CK_OK);
	assert_int_equal(ck_store_renewal_claim(e->st, "www", "host pid 2 run b", e->now + 60, NULL,
						&tok2, &err), CK_ERR_BUSY);
	assert_non_null(strstr(err.msg, "host pid 1 run a"));
	/* the holder itself may claim again; a holder proven gone may be taken over */
	assert_int_equal(ck_store_renewal_claim(e->st, "www", "host pid 1 run a", e->now + 60, NULL,
						&tok2, &err), CK_OK);
	assert_true(tok2 > tok);
	assert_int_equal(ck_store_renewal_claim(e->st, "www", "host pid 2 run b", e->now + 60,
						"host pid 1 run a", &tok, &err), CK_OK);
	assert_true(tok > tok2);
	/* releasing someone else's claim changes nothing */
	assert_int_equal(ck_store_renewal_release(e->st, "www", "host pid 1 run a", &err), CK_OK);
	memset(&r, 0, sizeof(r));
	assert_int_equal(ck_store_renewal_get(e->st, "www", &r, &err), CK_OK);
	assert_string_equal(r.claim_owner, "host pid 2 run b");
	ck_renewal_cleanup(&r);
	/* an expired claim is free */
	e->now += 61;
	assert_int_equal(ck_store_renewal_claim(e->st, "www", "host pid 3 run c", e->now + 60, NULL,
						NULL, &err), CK_OK);
	assert_int_equal(ck_store_renewal_release(e->st, "www", "host pid 3 run c", &err), CK_OK);
	assert_int_equal(ck_store_renewal_get(e->st, "www", &r, &err), CK_OK);
	assert_null(r.claim_owner);
	ck_renewal_cleanup(&r);
}

static void
test_ratelimit(void **state)
{
	struct t_env *e = *state;
	const char *names[] = { "a.test", "b.test" };
	char reason[CK_RENEWAL_ERROR_MAX];
	const char *srv = "https://acme.test/dir";
	struct ck_err err;
	time_t until = 1;

	ck_err_clear(&err);
	assert_int_equal(ck_store_ratelimit_until(e->st, srv, names, 2, e->now, &until, reason,
						  &err), CK_OK);
	assert_int_equal((long long)until, 0);
	assert_int_equal(ck_store_ratelimit_set(e->st, srv, "b.test", e->now + 30, "rateLimited",
						&err), CK_OK);
	/* an earlier Retry-After never shortens a recorded one */
	assert_int_equal(ck_store_ratelimit_set(e->st, srv, "b.test", e->now + 5, "short", &err),
			 CK_OK);
	assert_int_equal(ck_store_ratelimit_until(e->st, srv, names, 2, e->now, &until, reason,
						  &err), CK_OK);
	assert_int_equal((long long)until, (long long)e->now + 30);
	assert_string_equal(reason, "rateLimited");
	/* other names, other servers are free; the whole server ("") holds every name */
	assert_int_equal(ck_store_ratelimit_until(e->st, srv, names, 1, e->now, &until, reason,
						  &err), CK_OK);
	assert_int_equal((long long)until, 0);
	assert_int_equal(ck_store_ratelimit_until(e->st, "https://other.test/dir", names, 2, e->now,
						  &until, reason, &err), CK_OK);
	assert_int_equal((long long)until, 0);
	assert_int_equal(ck_store_ratelimit_set(e->st, srv, "", e->now + 50, "503", &err), CK_OK);
	assert_int_equal(ck_store_ratelimit_until(e->st, srv, names, 1, e->now, &until, reason,
						  &err), CK_OK);
	assert_int_equal((long long)until, (long long)e->now + 50);
	/* and it survives closing the store */
	ck_store_close(e->st);
	assert_int_equal(ck_store_open(e->path, &e->ctx, &e->st, &err), CK_OK);
	assert_int_equal(ck_store_ratelimit_until(e->st, srv, names + 1, 1, e->now + 40, &until,
						  reason, &err), CK_OK);
	assert_int_equal((long long)until, (long long)e->now + 50);
}

static void
test_failed_done_ari(void **state)
{
	struct t_env *e = *state;
	struct ck_renewal_ari a = { "ab12", 100, 200, 150, 300, "https://acme.test/why" };
	struct ck_renewal r;
	struct ck_err err;

	ck_err_clear(&err);
	memset(&r, 0, sizeof(r));
	assert_int_equal(ck_store_renewal_get(e->st, "www", &r, &err), CK_ERR_NOT_FOUND);
	assert_int_equal(ck_store_renewal_ari_set(e->st, "www", &a, &err), CK_OK);
	assert_int_equal(ck_store_renewal_failed(e->st, "www", e->now + 60, "validation", &err),
			 CK_OK);
	assert_int_equal(ck_store_renewal_failed(e->st, "www", e->now + 120, "again\x01", &err),
			 CK_OK);
	assert_int_equal(ck_store_renewal_get(e->st, "www", &r, &err), CK_OK);
	assert_int_equal(r.failures, 2);
	assert_int_equal((long long)r.backoff_until, (long long)e->now + 120);
	assert_string_equal(r.last_error, "again?");
	assert_string_equal(r.cert_sha256, "ab12");
	assert_int_equal((long long)r.ari_moment, 150);
	assert_int_equal((long long)r.ari_next, 300);
	assert_string_equal(r.ari_explanation, "https://acme.test/why");
	ck_renewal_cleanup(&r);
	assert_int_equal(ck_store_renewal_done(e->st, "www", &err), CK_OK);
	assert_int_equal(ck_store_renewal_get(e->st, "www", &r, &err), CK_OK);
	assert_int_equal(r.failures, 0);
	assert_int_equal((long long)r.backoff_until, 0);
	assert_int_equal((long long)r.ari_moment, 0);
	assert_string_equal(r.cert_sha256, "");
	ck_renewal_cleanup(&r);
	assert_int_equal(ck_store_renewal_failed(e->st, "../x", 0, "", &err), CK_ERR_INVALID_ARG);
}

static void
test_orders_since(void **state)
{
	struct t_env *e = *state;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	const char *ids[] = { "a.test" };
	struct ck_account a;
	struct ck_order_new on;
	struct ck_err err;
	int64_t kid, acct, oid;
	time_t oldest = 0;
	size_t n = 9;

	ck_err_clear(&err);
	kid = t_put_key(e->st, k);
	memset(&a, 0, sizeof(a));
	a.server = "https://acme.test/dir";
	a.key_id = kid;
	assert_int_equal(ck_store_account_put(e->st, &a, &acct, &err), CK_OK);
	memset(&on, 0, sizeof(on));
	on.lineage = "a.test";
	on.account_id = acct;
	on.key_id = kid;
	on.identifiers = ids;
	on.nidentifiers = 1;
	assert_int_equal(ck_store_order_put(e->st, &on, &oid, &err), CK_OK);
	e->now += 10;
	assert_int_equal(ck_store_order_put(e->st, &on, &oid, &err), CK_OK);
	assert_int_equal(ck_store_orders_since(e->st, a.server, e->now - 100, &n, &oldest, &err),
			 CK_OK);
	assert_int_equal(n, 2);
	assert_int_equal((long long)oldest, (long long)e->now - 10);
	assert_int_equal(ck_store_orders_since(e->st, a.server, e->now - 5, &n, &oldest, &err),
			 CK_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ck_store_orders_since(e->st, "https://other.test/dir", 0, &n, &oldest,
					       &err), CK_OK);
	assert_int_equal(n, 0);
	EVP_PKEY_free(k);
}

/* The Retry-After recorded for name on the test server (0: none). */
static time_t
t_limit(struct ck_store *st, const char *name, time_t now)
{
	const char *names[] = { name };
	struct ck_err err;
	time_t until = 1;

	ck_err_clear(&err);
	assert_int_equal(ck_store_ratelimit_until(st, "https://acme.test/dir", names, 1, now, &until,
						  NULL, &err), CK_OK);
	return until;
}

/*
 * Fencing: a handle that holds the lease writes; once the lease expired
 * and another node took it, every write of the handle (one statement, a
 * multi-step write, a caller's own transaction, the heartbeat) is refused
 * with CK_ERR_LEASE_LOST naming the new holder, and nothing of it stays.
 */
static void
test_lease_fencing(void **state)
{
	struct t_env *e = *state;
	const char *srv = "https://acme.test/dir";
	const char *a_owner = "node-a pid 1 run a", *b_owner = "node-b pid 2 run b";
	struct ck_store *b = NULL;
	struct ck_renewal r;
	struct ck_err err;
	int64_t tok_a = 0, tok_b = 0, kid = 0;
	uint64_t gen;
	EVP_PKEY *k = t_key(CK_KEY_EC256);

	ck_err_clear(&err);
	memset(&r, 0, sizeof(r));
	assert_int_equal(ck_store_open(e->path, &e->ctx, &b, &err), CK_OK);
	assert_int_equal(ck_store_renewal_claim(e->st, "www", a_owner, e->now + 60, NULL, &tok_a,
						&err), CK_OK);
	assert_int_equal(ck_store_renewal_fence(e->st, "www", a_owner, tok_a, &err), CK_OK);
	/* the holder writes while its lease lives; a live lease is not taken */
	assert_int_equal(ck_store_ratelimit_set(e->st, srv, "a.test", e->now + 100, "x", &err),
			 CK_OK);
	assert_int_equal(ck_store_renewal_claim(b, "www", b_owner, e->now + 60, NULL, &tok_b, &err),
			 CK_ERR_BUSY);
	assert_non_null(strstr(err.msg, a_owner));
	/* the heartbeat keeps it: 50 s later, extended by 60 s, still the holder's at +70 s */
	e->now += 50;
	assert_int_equal(ck_store_renewal_extend(e->st, "www", a_owner, tok_a, e->now + 60, &err),
			 CK_OK);
	e->now += 20;
	assert_int_equal(ck_store_renewal_claim(b, "www", b_owner, e->now + 60, NULL, &tok_b, &err),
			 CK_ERR_BUSY);
	assert_int_equal(ck_store_renewal_extend(b, "www", a_owner, tok_a + 1, e->now + 60, &err),
			 CK_ERR_LEASE_LOST);
	assert_int_equal(ck_store_ratelimit_set(e->st, srv, "a.test", e->now + 200, "y", &err),
			 CK_OK);
	/* expired: the holder's own writes stop at once, before anyone takes it */
	e->now += 41;
	assert_int_equal(ck_store_ratelimit_set(e->st, srv, "b.test", e->now + 100, "z", &err),
			 CK_ERR_LEASE_LOST);
	assert_non_null(strstr(err.msg, "www"));
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal((long long)t_limit(b, "b.test", e->now), 0);
	/* taken over: the token grows and the old holder commits nothing */
	assert_int_equal(ck_store_renewal_claim(b, "www", b_owner, e->now + 60, NULL, &tok_b, &err),
			 CK_OK);
	assert_true(tok_b > tok_a);
	ck_err_clear(&err);
	assert_int_equal(ck_store_ratelimit_set(e->st, srv, "b.test", e->now + 100, "z", &err),
			 CK_ERR_LEASE_LOST);
	assert_non_null(strstr(err.msg, "www"));
	assert_non_null(strstr(err.msg, b_owner));
	assert_non_null(strstr(err.msg, "nothing of this change was committed"));
	assert_int_equal(ck_store_renewal_failed(e->st, "www", e->now + 60, "stale", &err),
			 CK_ERR_LEASE_LOST);
	gen = t_gen(b);
	assert_int_equal(ck_store_key_put(e->st, k, &kid, NULL, &err), CK_ERR_LEASE_LOST);
	assert_int_equal(ck_store_tx_begin(e->st, &err), CK_OK);
	assert_int_equal(ck_store_ratelimit_set(e->st, srv, "c.test", e->now + 100, "w", &err),
			 CK_OK); /* a savepoint: checked at the outermost commit */
	assert_int_equal(ck_store_tx_commit(e->st, &err), CK_ERR_LEASE_LOST);
	assert_int_equal(ck_store_renewal_extend(e->st, "www", a_owner, tok_a, e->now + 60, &err),
			 CK_ERR_LEASE_LOST);
	/* nothing of the stale writes is in the store; the new holder's lease stands */
	assert_int_equal((long long)t_limit(b, "b.test", e->now), 0);
	assert_int_equal((long long)t_limit(b, "c.test", e->now), 0);
	assert_int_equal(t_gen(b), gen);
	assert_int_equal(ck_store_renewal_get(b, "www", &r, &err), CK_OK);
	assert_int_equal(r.failures, 0);
	assert_string_equal(r.claim_owner, b_owner);
	assert_int_equal(r.claim_token, tok_b);
	ck_renewal_cleanup(&r);
	/* unfenced, the handle writes again */
	ck_store_renewal_unfence(e->st);
	assert_int_equal(ck_store_ratelimit_set(e->st, srv, "b.test", e->now + 100, "z", &err),
			 CK_OK);
	ck_store_close(b);
	EVP_PKEY_free(k);
}

/*
 * PostgreSQL: a lease row another transaction holds locked (a node granting
 * or fencing it) is busy at once (FOR UPDATE SKIP LOCKED), not waited for,
 * and nothing changes; once that transaction ends the grant goes through.
 */
static void
test_lease_row_locked_is_busy(void **state)
{
#ifdef CK_HAVE_POSTGRESQL
	struct t_env *e = *state;
	struct ck_err err;
	int64_t tok = 0, tok2 = 0;
	time_t t0;
	PGresult *res;
	PGconn *c;

	if (!t_engine_pg())
		skip();
	ck_err_clear(&err);
	assert_int_equal(ck_store_renewal_claim(e->st, "www", "node-a pid 1 run a", e->now + 60,
						NULL, &tok, &err), CK_OK);
	assert_int_equal(ck_store_renewal_release(e->st, "www", "node-a pid 1 run a", &err), CK_OK);
	c = PQconnectdb(e->path);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PQclear(PQexec(c, "BEGIN"));
	res = PQexec(c, "SELECT lineage FROM renewal WHERE lineage = 'www' FOR UPDATE");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	t0 = time(NULL);
	assert_int_equal(ck_store_renewal_claim(e->st, "www", "node-b pid 2 run b", e->now + 60,
						NULL, &tok2, &err), CK_ERR_BUSY);
	assert_non_null(strstr(err.msg, "being claimed by another node right now"));
	assert_true(time(NULL) - t0 < 2); /* skipped, not waited for */
	PQclear(PQexec(c, "ROLLBACK"));
	PQfinish(c);
	assert_int_equal(ck_store_renewal_claim(e->st, "www", "node-b pid 2 run b", e->now + 60,
						NULL, &tok2, &err), CK_OK);
	assert_int_equal(tok2, tok + 1);
#else
	(void)state;
	skip();
#endif
}

/* The stored next-due time of lineage name (every lineage read page by page). */
static time_t
due_of(struct ck_store *st, const char *name)
{
	struct ck_due_cursor at = CK_DUE_CURSOR_START;
	struct ck_due_page pg;
	struct ck_err err;
	time_t v = 0;
	size_t i;
	int found = 0;

	ck_err_clear(&err);
	do {
		assert_int_equal(ck_store_due_page(st, -1, &at, 2, &pg, &err), CK_OK);
		for (i = 0; i < pg.n; i++)
			if (strcmp(pg.lins[i].name, name) == 0) {
				v = pg.due_at[i];
				found = 1;
			}
		i = pg.n;
		ck_due_page_cleanup(&pg);
	} while (i == 2);
	if (!found)
		fail_msg("no lineage %s", name);
	return v;
}

/* Stores `when` as the next-due time of lineage name (current cert_id, was `was`). */
static void
due_put(struct ck_store *st, const char *name, int64_t cert_id, time_t was, time_t when)
{
	struct ck_lineage l;
	struct ck_due_set v;
	struct ck_err err;

	ck_err_clear(&err);
	assert_int_equal(ck_store_lineage_get(st, name, &l, &err), CK_OK);
	v.id = l.id;
	v.cert_id = cert_id;
	v.was = was;
	v.due_at = when;
	ck_lineage_cleanup(&l);
	assert_int_equal(ck_store_due_set(st, &v, 1, &err), CK_OK);
}

/*
 * Migration 15: every change that moves a lineage's next-due time sets it
 * back to 0 ("look now") in its own transaction: a new current
 * certificate, new names, a revocation, its key linked, an ARI answer, a
 * renewal done.  A failure (backoff) leaves it: a held lineage stays due.
 * A value is stored only over the one it was read as.
 */
static void
test_due_at_events(void **state)
{
	struct t_env *e = *state;
	const char *names[] = { "due.test", "more.due.test" };
	struct ck_renewal_ari ari = { NULL, 0, 0, 0, 0, NULL };
	EVP_PKEY *k = t_key(CK_KEY_EC256), *k2 = t_key(CK_KEY_EC256);
	time_t later = e->now + 40 * T_DAY;
	struct ck_cert_row row;
	struct ck_der d, d2;
	struct t_pki p;
	struct ck_err err;
	int64_t c1, c2;
	time_t was;

	ck_err_clear(&err);
	t_pki_init(&p, e->now);
	t_leaf(&p, k, "due.test", 2, e->now, 90, &d);
	c1 = t_put_cert(e->st, &d, &p.chain, t_put_key(e->st, k), "due.test", NULL);
	assert_int_equal(due_of(e->st, "due.test"), 0);          /* a new lineage: look now */
	due_put(e->st, "due.test", c1, due_of(e->st, "due.test"), later);
	assert_int_equal(due_of(e->st, "due.test"), later);
	due_put(e->st, "due.test", c1, 5, later + 1);             /* not as read: kept */
	assert_int_equal(due_of(e->st, "due.test"), later);
	/* a failure (backoff) does not move it */
	assert_int_equal(ck_store_renewal_failed(e->st, "due.test", e->now + 60, "x", &err), CK_OK);
	assert_int_equal(due_of(e->st, "due.test"), later);
	/* an ARI answer stored */
	memset(&row, 0, sizeof(row));
	assert_int_equal(ck_store_cert_get(e->st, c1, &row, &err), CK_OK);
	ari.cert_sha256 = row.sha256;
	ari.moment = ari.start = e->now + T_DAY;
	ari.next = ari.end = e->now + 2 * T_DAY;
	assert_int_equal(ck_store_renewal_ari_set(e->st, "due.test", &ari, &err), CK_OK);
	ck_cert_row_cleanup(&row);
	assert_true(due_of(e->st, "due.test") < 0);
	/* the lineage's names changed */
	due_put(e->st, "due.test", c1, due_of(e->st, "due.test"), later);
	assert_int_equal(ck_store_lineage_put(e->st, "due.test", names, 2, NULL, NULL, &err), CK_OK);
	assert_true(due_of(e->st, "due.test") < 0);
	/* a revocation recorded */
	due_put(e->st, "due.test", c1, due_of(e->st, "due.test"), later);
	assert_int_equal(ck_store_cert_revoked_set(e->st, c1, e->now, NULL, &err), CK_OK);
	assert_true(due_of(e->st, "due.test") < 0);
	/* a renewal done, and a new current certificate whose key comes later */
	due_put(e->st, "due.test", c1, due_of(e->st, "due.test"), later);
	assert_int_equal(ck_store_renewal_done(e->st, "due.test", &err), CK_OK);
	assert_true(due_of(e->st, "due.test") < 0);
	due_put(e->st, "due.test", c1, due_of(e->st, "due.test"), later);
	t_leaf(&p, k2, "due.test", 3, e->now, 90, &d2);
	c2 = t_put_cert(e->st, &d2, &p.chain, 0, "due.test", NULL);
	assert_true(due_of(e->st, "due.test") < 0);
	was = due_of(e->st, "due.test");
	due_put(e->st, "due.test", c1, was, later);              /* no longer current: kept */
	assert_int_equal(due_of(e->st, "due.test"), was);
	due_put(e->st, "due.test", c2, was, later);
	assert_int_equal(due_of(e->st, "due.test"), later);
	(void)t_put_key(e->st, k2);                              /* its key linked */
	assert_true(due_of(e->st, "due.test") < 0);
	free(d.data);
	free(d2.data);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	t_pki_cleanup(&p);
}

/* Pages: only due_at <= by, in (due_at, id) order, each lineage once across
 * pages; by < 0 every lineage in id order. */
static void
test_due_pages(void **state)
{
	struct t_env *e = *state;
	struct ck_due_cursor at = CK_DUE_CURSOR_START;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_due_set set[3];
	struct ck_der d;
	struct t_pki p;
	char name[32];
	struct ck_due_page pg;
	struct ck_err err;
	time_t last = 0;
	int64_t lastid = 0;
	size_t i, seen = 0, pages = 0;

	ck_err_clear(&err);
	t_pki_init(&p, e->now);
	for (i = 0; i < 7; i++) { /* ids in name order */
		snprintf(name, sizeof(name), "p%zu.test", i);
		t_leaf(&p, k, name, (long)i + 2, e->now, 90, &d);
		(void)t_put_cert(e->st, &d, &p.chain, 0, name, NULL);
		free(d.data);
	}
	do {
		assert_int_equal(ck_store_due_page(e->st, e->now, &at, 3, &pg, &err), CK_OK);
		for (i = 0; i < pg.n; i++) {
			assert_true(pg.due_at[i] > last ||
				    (pg.due_at[i] == last && pg.lins[i].id > lastid));
			last = pg.due_at[i];
			lastid = pg.lins[i].id;
			assert_int_equal(pg.cur[i].cert_id, pg.lins[i].current_cert_id);
			assert_string_equal(pg.ren[i].lineage, "");
		}
		seen += pg.n;
		pages++;
		i = pg.n;
		ck_due_page_cleanup(&pg);
	} while (i == 3);
	assert_int_equal(seen, 7);
	assert_int_equal(pages, 3);
	at.due_at = 0;
	at.id = 0;
	assert_int_equal(ck_store_due_page(e->st, -1, &at, 10, &pg, &err), CK_OK);
	assert_int_equal(pg.n, 7);
	/* several values in one statement, each only over what it was read as */
	for (i = 0; i < 3; i++) {
		set[i].id = pg.lins[i].id;
		set[i].cert_id = pg.lins[i].current_cert_id;
		set[i].was = i == 1 ? 99 : pg.due_at[i];
		set[i].due_at = e->now + 100 + (time_t)i;
	}
	ck_due_page_cleanup(&pg);
	assert_int_equal(ck_store_due_set(e->st, set, 3, &err), CK_OK);
	assert_int_equal(due_of(e->st, "p0.test"), e->now + 100);
	assert_int_equal(due_of(e->st, "p1.test"), 0); /* not as read: kept */
	assert_int_equal(due_of(e->st, "p2.test"), e->now + 102);
	assert_int_equal(ck_store_due_page(e->st, -1, &at, 0, &pg, &err), CK_ERR_INVALID_ARG);
	EVP_PKEY_free(k);
	t_pki_cleanup(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_lease_fencing, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_lease_row_locked_is_busy, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_ratelimit, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_failed_done_ari, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_orders_since, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_due_at_events, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_due_pages, t_setup, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
