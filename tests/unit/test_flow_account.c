/*
 * test_flow_account.c - key rollover that no crash or lost answer can
 * turn into a lost account: resolution of a pending rollover by asking
 * the server (new key accepted, old key accepted, neither, no answer, the
 * new key belongs to another account), and the rollover itself (success,
 * 409, an answer that never came with and without the server having
 * switched; which failed keyChange answers are a definite "no" and which
 * are resolved by asking), and that refresh, update and deactivate never
 * write back a key a concurrent rollover replaced.  A real store in a
 * temporary directory; the ACME server is the scripted fake of
 * test_acme_fake.h, reached through the context (ck_ctx.acme_transport).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow/account.h"
#include "flow/account_cache.h"
#include "test_acme_fake.h"

#define ACCT_URL FAKE_BASE "/acct/1"

struct env {
	char dir[64];
	struct fake_clock clk;
	struct ck_ctx ctx;
	struct acme_http_ops ops;  /* ctx.acme_transport: env_request */
	struct ck_store *st;
	struct fake f;
	EVP_PKEY *oldk, *newk;
	int64_t old_id, new_id, acct_id;
	struct ck_account_session s;
	int net_fail_lookup;       /* newAccount lookups fail at the transport */
	int net_fail_keychange;    /* keyChange "sent" but no answer */
	int keychange_switches;    /* ... and the server did switch before the line dropped */
	int keychange_409;
	long kc_status;            /* keyChange answered with this status ... */
	const char *kc_type;       /* ... and this problem type (NULL: an HTML gateway page) */
	const char *kc_detail;
	int kc_switched;           /* ... after the server switched to the new key */
	int kc_answered;           /* that answer was sent */
	int lookups_after_kc;      /* newAccount lookups after it (asking the server) */
};

static void
tp_of(EVP_PKEY *k, char out[64])
{
	char *t = NULL;

	assert_int_equal(ck_key_thumbprint(k, &t, NULL), CK_OK);
	snprintf(out, 64, "%s", t);
	free(t);
}

/* The fake, with failures the fake itself cannot produce. */
static enum ck_code
env_request(void *arg, const struct acme_http_request *req, struct acme_http_response *out,
	    struct ck_err *err)
{
	struct env *e = arg;
	int lookup = req->method == ACME_METHOD_POST && strstr(req->url, "/new-acct") != NULL;
	int keychange = req->method == ACME_METHOD_POST && strstr(req->url, "/key-change") != NULL;

	if (lookup && e->net_fail_lookup)
		return CK_FAIL(err, CK_ERR_NETWORK, "connection reset (test)");
	if (keychange && e->net_fail_keychange) {
		if (e->keychange_switches)
			tp_of(e->newk, e->f.acct_tp);
		return CK_FAIL(err, CK_ERR_NETWORK, "connection reset (test)");
	}
	if (lookup && e->kc_answered)
		e->lookups_after_kc++;
	if (keychange && e->kc_status != 0) {
		e->kc_answered = 1;
		if (e->kc_switched)
			tp_of(e->newk, e->f.acct_tp);
		fake_nonce(&e->f, out);
		if (e->kc_type != NULL)
			fake_problem(out, e->kc_status, e->kc_type, e->kc_detail);
		else
			fake_body(out, e->kc_status, "text/html", "<html>gateway</html>");
		return CK_OK;
	}
	if (keychange && e->keychange_409) {
		fake_nonce(&e->f, out);
		fake_problem(out, 409, "conflict", "key already in use");
		return CK_OK;
	}
	if (keychange) {
		enum ck_code rc = fake_request(&e->f, req, out, err);
		tp_of(e->newk, e->f.acct_tp); /* the server's account now has the new key */
		return rc;
	}
	return fake_request(&e->f, req, out, err);
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct ck_account in = { 0 };
	char path[128];

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/ck-test-renew-acct-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(path, sizeof(path), "%s/store.db", e->dir);
	fake_ctx_init(&e->ctx, &e->clk);
	fake_reset(&e->f);
	assert_int_equal(ck_store_open(path, &e->ctx, &e->st, NULL), CK_OK);
	assert_int_equal(ck_key_generate(CK_KEY_EC256, &e->oldk, NULL), CK_OK);
	assert_int_equal(ck_key_generate(CK_KEY_EC384, &e->newk, NULL), CK_OK);
	assert_int_equal(ck_store_key_put(e->st, e->oldk, &e->old_id, NULL, NULL), CK_OK);
	in.name = "default";
	in.server = FAKE_DIR;
	in.url = ACCT_URL;
	in.key_id = e->old_id;
	in.status = "valid";
	assert_int_equal(ck_store_account_put(e->st, &in, &e->acct_id, NULL), CK_OK);
	tp_of(e->oldk, e->f.acct_tp); /* the server knows the old key */
	/* the session the flows open, talking to the fake through the context */
	e->ops.request = env_request;
	e->ops.arg = e;
	e->ctx.acme_transport = &e->ops;
	assert_int_equal(ck_account_open(&e->ctx, e->st, FAKE_DIR, "default", NULL,
					 CK_ACCOUNT_REQUIRE_VALID, &e->s, NULL), CK_OK);
	assert_int_equal(e->s.account.id, e->acct_id);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	ck_account_session_cleanup(&e->s);
	ck_store_close(e->st);
	EVP_PKEY_free(e->oldk);
	EVP_PKEY_free(e->newk);
	fake_reset(&e->f);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

/* Rollover step 1 as ck_account_rollover does it: new key committed and pending. */
static void
make_pending(struct env *e)
{
	assert_int_equal(ck_store_key_put(e->st, e->newk, &e->new_id, NULL, NULL), CK_OK);
	assert_int_equal(ck_store_account_set_pending_key(e->st, e->acct_id, e->new_id, NULL), CK_OK);
	ck_account_cleanup(&e->s.account);
	assert_int_equal(ck_store_account_get_id(e->st, e->acct_id, &e->s.account, NULL), CK_OK);
	assert_int_equal(e->s.account.pending_key_id, e->new_id);
}

/* The account's rollover record (settings), "" if none. */
static void
record_of(struct env *e, char *out, size_t n)
{
	char key[64], *v = NULL;

	snprintf(key, sizeof(key), "%s%lld", CK_ACCOUNT_ROLLOVER_SETTING, (long long)e->acct_id);
	out[0] = '\0';
	if (ck_store_setting_get(e->st, key, &v, NULL) == CK_OK)
		snprintf(out, n, "%s", v);
	free(v);
}

static void
assert_row(struct env *e, int64_t key_id, int64_t pending)
{
	struct ck_account a = { 0 };

	assert_int_equal(ck_store_account_get_id(e->st, e->acct_id, &a, NULL), CK_OK);
	assert_int_equal(a.key_id, key_id);
	assert_int_equal(a.pending_key_id, pending);
	assert_string_equal(a.url, ACCT_URL);
	ck_account_cleanup(&a);
}

static void
test_resolve_new_key_accepted(void **state)
{
	struct env *e = *state;
	struct ck_err err;
	char rec[64];

	make_pending(e);
	tp_of(e->newk, e->f.acct_tp); /* keyChange had reached the server */
	assert_int_equal(ck_account_resolve_rollover(&e->ctx, e->st, &e->s, &err), CK_OK);
	assert_row(e, e->new_id, 0);
	assert_int_equal(e->s.account.key_id, e->new_id);
	/* the tolerance of later commands is recorded from now */
	record_of(e, rec, sizeof(rec));
	assert_non_null(strstr(rec, "1700000000 "));
}

static void
test_resolve_old_key_accepted(void **state)
{
	struct env *e = *state;
	struct ck_err err;
	struct ck_key_info ki = { 0 };

	make_pending(e);
	assert_int_equal(ck_account_resolve_rollover(&e->ctx, e->st, &e->s, &err), CK_OK);
	assert_row(e, e->old_id, 0);
	/* the unused new key is not deleted */
	assert_int_equal(ck_store_key_info(e->st, e->new_id, &ki, NULL), CK_OK);
	ck_key_info_cleanup(&ki);
}

static void
test_resolve_new_key_of_another_account_keeps_old(void **state)
{
	struct env *e = *state;
	struct ck_err err;

	make_pending(e);
	tp_of(e->newk, e->f.other_tp); /* the new key answers for /acct/2 */
	assert_int_equal(ck_account_resolve_rollover(&e->ctx, e->st, &e->s, &err), CK_OK);
	assert_row(e, e->old_id, 0);
}

static void
test_resolve_neither_keeps_both(void **state)
{
	struct env *e = *state;
	struct ck_err err;

	make_pending(e);
	snprintf(e->f.acct_tp, sizeof(e->f.acct_tp), "somebody-else");
	assert_int_equal(ck_account_resolve_rollover(&e->ctx, e->st, &e->s, &err), CK_ERR_STATE);
	assert_non_null(strstr(err.msg, "both keys are kept"));
	assert_row(e, e->old_id, e->new_id);
}

static void
test_resolve_without_answer_keeps_both(void **state)
{
	struct env *e = *state;
	struct ck_err err;

	make_pending(e);
	e->net_fail_lookup = 1;
	assert_int_equal(ck_account_resolve_rollover(&e->ctx, e->st, &e->s, &err), CK_ERR_NETWORK);
	assert_non_null(strstr(err.msg, "both keys are kept"));
	assert_row(e, e->old_id, e->new_id);
}

static void
test_rollover_success(void **state)
{
	struct env *e = *state;
	struct ck_err err;
	int64_t id;
	char rec[64];

	assert_int_equal(ck_account_rollover(&e->ctx, e->st, &e->s, CK_KEY_NONE, e->newk, 7, &err),
			 CK_OK);
	assert_int_equal(e->f.key_changes, 1);
	{
		char spki[65];
		assert_int_equal(ck_key_spki_sha256(e->newk, spki, NULL), CK_OK);
		assert_int_equal(ck_store_key_find_spki(e->st, spki, &id, NULL), CK_OK);
	}
	assert_row(e, id, 0);
	assert_true(ck_key_public_equal(e->s.key, e->newk));
	record_of(e, rec, sizeof(rec));
	assert_string_equal(rec, "1700000000 7");
}

static void
test_rollover_409_clears_pending(void **state)
{
	struct env *e = *state;
	struct ck_err err;

	e->keychange_409 = 1;
	assert_int_equal(ck_account_rollover(&e->ctx, e->st, &e->s, CK_KEY_NONE, e->newk, 10, &err),
			 CK_ERR_EXISTS);
	assert_non_null(strstr(err.msg, "another account"));
	assert_row(e, e->old_id, 0);
	assert_true(ck_key_public_equal(e->s.key, e->oldk));
}

static void
test_rollover_lost_answer_server_switched(void **state)
{
	struct env *e = *state;
	struct ck_err err;

	e->net_fail_keychange = 1;
	e->keychange_switches = 1;
	assert_int_equal(ck_account_rollover(&e->ctx, e->st, &e->s, CK_KEY_NONE, e->newk, 10, &err),
			 CK_OK);
	assert_int_not_equal(e->s.account.key_id, e->old_id);
	assert_int_equal(e->s.account.pending_key_id, 0);
	assert_true(ck_key_public_equal(e->s.key, e->newk));
}

static void
test_rollover_lost_answer_server_kept_old(void **state)
{
	struct env *e = *state;
	struct ck_err err;

	e->net_fail_keychange = 1;
	assert_int_equal(ck_account_rollover(&e->ctx, e->st, &e->s, CK_KEY_NONE, e->newk, 10, &err),
			 CK_ERR_NETWORK);
	assert_non_null(strstr(err.msg, "keeps its old key"));
	assert_row(e, e->old_id, 0);
}

static void
test_rollover_lost_answer_and_no_resolution_keeps_pending(void **state)
{
	struct env *e = *state;
	struct ck_err err;
	struct ck_account a = { 0 };

	e->net_fail_keychange = 1;
	e->net_fail_lookup = 1;
	assert_int_equal(ck_account_rollover(&e->ctx, e->st, &e->s, CK_KEY_NONE, e->newk, 10, &err),
			 CK_ERR_NETWORK);
	assert_non_null(strstr(err.msg, "both keys kept"));
	assert_int_equal(ck_store_account_get_id(e->st, e->acct_id, &a, NULL), CK_OK);
	assert_int_equal(a.key_id, e->old_id);
	assert_int_not_equal(a.pending_key_id, 0);
	ck_account_cleanup(&a);
}

static void
test_rollover_refuses_grace_over_max(void **state)
{
	struct env *e = *state;
	struct ck_err err;

	assert_int_equal(ck_account_rollover(&e->ctx, e->st, &e->s, CK_KEY_EC256, NULL,
					     CK_ACCOUNT_GRACE_MAX + 1, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(e->f.key_changes, 0);
	assert_row(e, e->old_id, 0);
}

/* Origins allowed for a server: kept in the store, honoured by the session and
 * by every client made for that server later, cleared by an empty list. */
static void
test_server_origins_kept(void **state)
{
	struct env *e = *state;
	const char *given[] = { "https://CDN.test", "https://cdn.test:443/", "https://other.test:8443" };
	struct ck_strv v = { 0 };
	struct acme_client *c = NULL;
	struct acme_http_ops ops = { fake_request, &e->f };
	struct acme_cert cert = { 0 };
	struct ck_err err;

	assert_int_equal(ck_server_origins_get(e->st, FAKE_DIR, &v, &err), CK_OK);
	assert_int_equal(v.n, 0);
	assert_int_equal(acme_cert_download(e->s.client, "https://cdn.test/c", &cert, &err),
			 CK_ERR_PARSE);
	assert_int_equal(ck_account_origins_set(e->st, &e->s, given, 3, &err), CK_OK);
	assert_int_equal(ck_server_origins_get(e->st, FAKE_DIR, &v, &err), CK_OK);
	assert_int_equal(v.n, 2);
	assert_string_equal(v.v[0], "https://cdn.test:443");
	assert_string_equal(v.v[1], "https://other.test:8443");
	ck_strv_cleanup(&v);
	/* The session follows it now: the request reaches the (fake) host. */
	assert_int_not_equal(acme_cert_download(e->s.client, "https://cdn.test/c", &cert, &err),
			     CK_ERR_PARSE);
	assert_int_equal(fake_requests_to(&e->f, "https://cdn.test/c"), 1);
	/* A client made later for the server honours the stored list. */
	assert_int_equal(ck_server_client_new(&e->ctx, e->st, FAKE_DIR, NULL, NULL, &c, &err), CK_OK);
	acme_client_set_transport(c, &ops);
	assert_int_equal(acme_client_set_account(c, e->oldk, ACCT_URL, &err), CK_OK);
	assert_int_not_equal(acme_cert_download(c, "https://other.test:8443/c", &cert, &err),
			     CK_ERR_PARSE);
	assert_int_equal(fake_requests_to(&e->f, "https://other.test:8443/c"), 1);
	acme_client_free(c);
	/* Another server's list is its own. */
	assert_int_equal(ck_server_origins_get(e->st, "https://acme.test/other-dir", &v, &err),
			 CK_OK);
	assert_int_equal(v.n, 0);
	/* Cleared: refused again. */
	assert_int_equal(ck_account_origins_set(e->st, &e->s, NULL, 0, &err), CK_OK);
	assert_int_equal(acme_cert_download(e->s.client, "https://cdn.test/c", &cert, &err),
			 CK_ERR_PARSE);
	assert_int_equal(fake_requests_to(&e->f, "https://cdn.test/c"), 1);
	/* Bad input and a damaged setting say so. */
	assert_int_equal(ck_account_origins_set(e->st, &e->s, (const char *[]){ "https://x.test/p" },
						1, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_store_setting_set(e->st, CK_SERVER_ORIGINS_SETTING FAKE_DIR,
					      "https://x.test/p", &err), CK_OK);
	assert_int_equal(ck_server_origins_get(e->st, FAKE_DIR, &v, &err), CK_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "--allow-origin"));
	assert_int_equal(ck_server_client_new(&e->ctx, e->st, FAKE_DIR, NULL, NULL, &c, &err),
			 CK_ERR_CORRUPT);
}

/*
 * A failed keyChange: only a definite refusal clears the pending key; any
 * other answer is resolved by asking the server, which finds the account
 * on the new key when the server had switched (a 5xx from a gateway after
 * the commit; a JWS verification error from a server that already holds
 * the new key) and on the old one when it had not.
 */
static void
test_rollover_keychange_answers(void **state)
{
	static const struct {
		long status;
		const char *type, *detail;
		int switched, definite;
	} cases[] = {
		{ 502, NULL, NULL, 1, 0 },
		{ 504, NULL, NULL, 0, 0 },
		{ 500, "serverInternal", "could not commit?", 1, 0 },
		{ 503, "serverInternal", "overloaded", 0, 0 },
		{ 404, NULL, NULL, 1, 0 },
		{ 401, "unauthorized", "JWS verification error", 1, 0 },
		{ 400, "malformed", "JWS verification error", 1, 0 },
		{ 403, "unauthorized", "account key mismatch", 1, 0 },
		{ 400, "accountDoesNotExist", "no such account", 1, 0 },
		{ 400, "somethingNew", "a type this client does not know", 1, 0 },
		{ 400, "malformed", "inner JWS url does not match", 0, 1 },
		{ 400, "badPublicKey", "key too small", 0, 1 },
		{ 400, "badSignatureAlgorithm", "no ES512", 0, 1 },
		{ 429, "rateLimited", "too many key changes", 0, 1 },
	};
	struct env *e = *state;
	char old_tp[64];
	size_t i;

	tp_of(e->oldk, old_tp);
	for (i = 0; i < CK_ARRAY_LEN(cases); i++) {
		struct ck_err err;
		struct ck_account a = { 0 };
		enum ck_code rc;
		int want_new = cases[i].switched && !cases[i].definite;

		if (i > 0) { /* back to the old key, nothing pending */
			teardown(state);
			setup(state);
			e = *state;
		}
		e->kc_status = cases[i].status;
		e->kc_type = cases[i].type;
		e->kc_detail = cases[i].detail;
		e->kc_switched = cases[i].switched;
		ck_err_clear(&err);
		rc = ck_account_rollover(&e->ctx, e->st, &e->s, CK_KEY_NONE, e->newk, 10, &err);
		assert_int_equal(ck_store_account_get_id(e->st, e->acct_id, &a, NULL), CK_OK);
		if (want_new != (a.key_id != e->old_id) || a.pending_key_id != 0 ||
		    (rc == CK_OK) != want_new ||
		    (e->lookups_after_kc == 0) != cases[i].definite)
			fail_msg("keyChange answered %ld %s (%s), switched %d: rc %d, key %lld "
				 "(old %lld), pending %lld, %d lookups after: %s", cases[i].status,
				 cases[i].type ? cases[i].type : "(html)",
				 cases[i].detail ? cases[i].detail : "", cases[i].switched, rc,
				 (long long)a.key_id, (long long)e->old_id,
				 (long long)a.pending_key_id, e->lookups_after_kc, err.msg);
		if (!want_new)
			assert_non_null(strstr(err.msg, "keeps its old key"));
		assert_true(ck_key_public_equal(e->s.key, want_new ? e->newk : e->oldk));
		ck_account_cleanup(&a);
	}
}

/* Another process commits a rollover while this session's request is in
 * flight: what the session stores afterwards must not put the old key back. */
static void
concurrent_rollover(struct env *e)
{
	make_pending(e); /* reloads e->s.account: restore the stale view below */
	assert_int_equal(ck_store_account_commit_rollover(e->st, e->acct_id, NULL), CK_OK);
	e->s.account.key_id = e->old_id;
	e->s.account.pending_key_id = 0;
}

static void
test_refresh_update_deactivate_keep_a_concurrent_rollover(void **state)
{
	struct env *e = *state;
	struct acme_account_update_opts o = { 0 };
	const char *contacts[] = { "mailto:b@example.org" };
	int which;

	for (which = 0; which < 3; which++) {
		if (which > 0) {
			teardown(state);
			setup(state);
			e = *state;
		}
		concurrent_rollover(e);
		if (which == 0) {
			assert_int_equal(ck_account_refresh(e->st, &e->s, NULL, NULL), CK_OK);
		} else if (which == 1) {
			o.set_contacts = 1;
			o.contacts = contacts;
			o.ncontacts = 1;
			o.agree_tos = 1;
			assert_int_equal(ck_account_update(e->st, &e->s, &o, NULL), CK_OK);
		} else {
			assert_int_equal(ck_account_deactivate(e->st, &e->s, NULL), CK_OK);
		}
		assert_row(e, e->new_id, 0);
		assert_int_equal(e->s.account.key_id, e->new_id);
	}
}

/*
 * The account cache of a long-running process: a session put back is
 * handed out again while the account's row keeps its generation (other
 * writes, even to the store's global counter, keep it), and after a
 * rollover committed through another handle (another process, another
 * node) the kept session is dropped: the next one signs with the new key.
 */
static void
test_cache_drops_a_session_after_a_rollover_elsewhere(void **state)
{
	struct env *e = *state;
	struct acct_cache *c = NULL;
	struct ck_account_session s;
	struct ck_store *node_a = NULL;
	EVP_PKEY *unrelated = NULL;
	int64_t unrelated_id = 0;
	char path[128];
	int hit = -1;

	memset(&s, 0, sizeof(s));
	assert_int_equal(acct_cache_new(&c, NULL), CK_OK);
	assert_int_equal(acct_cache_take(c, &e->ctx, e->st, FAKE_DIR, NULL, NULL,
					 CK_ACCOUNT_REQUIRE_VALID, NULL, &s, &hit, NULL), CK_OK);
	assert_int_equal(hit, 0);
	assert_true(ck_key_public_equal(s.key, e->oldk));
	acct_cache_put(c, &s, NULL, NULL, 1);
	assert_null(s.client);
	/* Another node writes something else: the session is still good. */
	snprintf(path, sizeof(path), "%s/store.db", e->dir);
	assert_int_equal(ck_store_open(path, &e->ctx, &node_a, NULL), CK_OK);
	assert_int_equal(ck_key_generate(CK_KEY_EC256, &unrelated, NULL), CK_OK);
	assert_int_equal(ck_store_key_put(node_a, unrelated, &unrelated_id, NULL, NULL), CK_OK);
	assert_int_equal(acct_cache_take(c, &e->ctx, e->st, FAKE_DIR, NULL, NULL,
					 CK_ACCOUNT_REQUIRE_VALID, NULL, &s, &hit, NULL), CK_OK);
	assert_int_equal(hit, 1);
	assert_true(ck_key_public_equal(s.key, e->oldk));
	acct_cache_put(c, &s, NULL, NULL, 1);
	/* Another node rolls the account over (its store calls, as the rollover
	 * flow makes them once the server said yes). */
	assert_int_equal(ck_store_key_put(node_a, e->newk, &e->new_id, NULL, NULL), CK_OK);
	assert_int_equal(ck_store_account_set_pending_key(node_a, e->acct_id, e->new_id, NULL),
			 CK_OK);
	assert_int_equal(ck_store_account_commit_rollover(node_a, e->acct_id, NULL), CK_OK);
	tp_of(e->newk, e->f.acct_tp);
	assert_int_equal(acct_cache_take(c, &e->ctx, e->st, FAKE_DIR, NULL, NULL,
					 CK_ACCOUNT_REQUIRE_VALID, NULL, &s, &hit, NULL), CK_OK);
	assert_int_equal(hit, 0);
	assert_true(ck_key_public_equal(s.key, e->newk));
	assert_int_equal(s.account.key_id, e->new_id);
	/* A session that failed is not kept. */
	acct_cache_put(c, &s, NULL, NULL, 0);
	assert_int_equal(acct_cache_take(c, &e->ctx, e->st, FAKE_DIR, NULL, NULL,
					 CK_ACCOUNT_REQUIRE_VALID, NULL, &s, &hit, NULL), CK_OK);
	assert_int_equal(hit, 0);
	acct_cache_put(c, &s, NULL, NULL, 1);
	acct_cache_free(c);
	ck_store_close(node_a);
	EVP_PKEY_free(unrelated);
}

#define SHARE_THREADS 4
#define SHARE_SIGNATURES 40

/* One worker of a batch: its own store handle, a session taken from the
 * shared cache, signatures made with it and checked. */
struct share_worker {
	struct env *e;
	struct acct_cache *c;
	struct ck_store *st;
	struct ck_account_session s;
	int hit;
	int taken;                 /* acct_cache_take said CK_OK */
	int verified;              /* signatures that verified under the account key */
};

static void *
share_worker_run(void *arg)
{
	struct share_worker *w = arg;
	char *jws = NULL, *payload = NULL;
	struct flow_key *k;
	int i;

	w->taken = acct_cache_take(w->c, &w->e->ctx, w->st, FAKE_DIR, NULL, NULL,
				   CK_ACCOUNT_REQUIRE_VALID, NULL, &w->s, &w->hit, NULL) == CK_OK;
	k = w->s.signing;
	for (i = 0; w->taken && i < SHARE_SIGNATURES; i++) {
		if (ck_jws_sign_with(k->signer, ACCT_URL, "nonce", FAKE_BASE "/x", "{\"n\":1}", &jws,
				     NULL) == CK_OK &&
		    ck_jws_verify(jws, w->e->oldk, &payload, NULL, NULL) == CK_OK &&
		    strcmp(payload, "{\"n\":1}") == 0)
			w->verified++;
		free(jws);
		free(payload);
		jws = payload = NULL;
	}
	return NULL;
}

/*
 * The workers of a batch open one account at once (no session is kept
 * yet): its key is decoded once and shared, each worker signing through
 * its own signer from its own thread, every signature good; after a
 * rollover the next open gets the new key, not the kept old one.
 */
static void
test_cache_decodes_an_account_key_once_for_all_workers(void **state)
{
	struct env *e = *state;
	struct share_worker w[SHARE_THREADS];
	pthread_t tid[SHARE_THREADS];
	struct acct_cache *c = NULL;
	char path[128];
	size_t i;

	memset(w, 0, sizeof(w));
	snprintf(path, sizeof(path), "%s/store.db", e->dir);
	assert_int_equal(acct_cache_new(&c, NULL), CK_OK);
	for (i = 0; i < SHARE_THREADS; i++) {
		w[i].e = e;
		w[i].c = c;
		assert_int_equal(ck_store_open(path, &e->ctx, &w[i].st, NULL), CK_OK);
	}
	for (i = 0; i < SHARE_THREADS; i++)
		assert_int_equal(pthread_create(&tid[i], NULL, share_worker_run, &w[i]), 0);
	for (i = 0; i < SHARE_THREADS; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	for (i = 0; i < SHARE_THREADS; i++) {
		assert_true(w[i].taken);
		assert_int_equal(w[i].hit, 0); /* four sessions at once: none kept to hand out */
		assert_int_equal(w[i].verified, SHARE_SIGNATURES);
		assert_true(ck_key_public_equal(w[i].s.key, e->oldk));
		assert_ptr_equal(w[i].s.key, w[0].s.key); /* one decoded key ... */
		if (i > 0)
			assert_ptr_not_equal(w[i].s.signing, w[0].s.signing);
	}
	for (i = 0; i < SHARE_THREADS; i++)
		acct_cache_put(c, &w[i].s, NULL, NULL, 0);
	/* A rollover: the kept key is the old row's, the open reads the new one. */
	assert_int_equal(ck_store_key_put(e->st, e->newk, &e->new_id, NULL, NULL), CK_OK);
	assert_int_equal(ck_store_account_set_pending_key(e->st, e->acct_id, e->new_id, NULL),
			 CK_OK);
	assert_int_equal(ck_store_account_commit_rollover(e->st, e->acct_id, NULL), CK_OK);
	assert_int_equal(acct_cache_take(c, &e->ctx, w[0].st, FAKE_DIR, NULL, NULL,
					 CK_ACCOUNT_REQUIRE_VALID, NULL, &w[0].s, &w[0].hit, NULL),
			 CK_OK);
	assert_true(ck_key_public_equal(w[0].s.key, e->newk));
	acct_cache_put(c, &w[0].s, NULL, NULL, 0);
	acct_cache_free(c);
	for (i = 0; i < SHARE_THREADS; i++)
		ck_store_close(w[i].st);
}

/*
 * Between runs of a long-lived process, a decoded key that no kept session
 * signs with is dropped from memory: the next open decodes it again; one a
 * kept session signs with stays shared.
 */
static void
test_cache_prune_forgets_a_decoded_key_no_session_uses(void **state)
{
	struct env *e = *state;
	struct acct_cache *c = NULL;
	struct ck_account_session s, kept;
	EVP_PKEY *first = NULL;

	memset(&s, 0, sizeof(s));
	memset(&kept, 0, sizeof(kept));
	assert_int_equal(acct_cache_new(&c, NULL), CK_OK);
	assert_int_equal(acct_cache_take(c, &e->ctx, e->st, FAKE_DIR, NULL, NULL,
					 CK_ACCOUNT_REQUIRE_VALID, NULL, &s, NULL, NULL), CK_OK);
	first = s.key;
	assert_int_equal(EVP_PKEY_up_ref(first), 1); /* alive: a new decode cannot reuse it */
	acct_cache_put(c, &s, NULL, NULL, 0);        /* failed: not kept */
	acct_cache_prune(c, &e->ctx, e->st);
	assert_int_equal(acct_cache_take(c, &e->ctx, e->st, FAKE_DIR, NULL, NULL,
					 CK_ACCOUNT_REQUIRE_VALID, NULL, &s, NULL, NULL), CK_OK);
	assert_ptr_not_equal(s.key, first);          /* decoded again */
	assert_true(ck_key_public_equal(s.key, e->oldk));
	/* Kept with its session: the key survives the prune and is shared. */
	acct_cache_put(c, &s, NULL, NULL, 1);
	acct_cache_prune(c, &e->ctx, e->st);
	assert_int_equal(acct_cache_take(c, &e->ctx, e->st, FAKE_DIR, NULL, NULL,
					 CK_ACCOUNT_REQUIRE_VALID, NULL, &kept, NULL, NULL), CK_OK);
	assert_int_equal(acct_cache_take(c, &e->ctx, e->st, FAKE_DIR, NULL, NULL,
					 CK_ACCOUNT_REQUIRE_VALID, NULL, &s, NULL, NULL), CK_OK);
	assert_ptr_equal(s.key, kept.key);
	acct_cache_put(c, &s, NULL, NULL, 0);
	acct_cache_put(c, &kept, NULL, NULL, 0);
	EVP_PKEY_free(first);
	acct_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resolve_new_key_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_drops_a_session_after_a_rollover_elsewhere,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_decodes_an_account_key_once_for_all_workers,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_prune_forgets_a_decoded_key_no_session_uses,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_old_key_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_new_key_of_another_account_keeps_old,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_neither_keeps_both, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_without_answer_keeps_both, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rollover_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollover_409_clears_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollover_lost_answer_server_switched, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rollover_lost_answer_server_kept_old, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rollover_lost_answer_and_no_resolution_keeps_pending,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollover_refuses_grace_over_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_origins_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollover_keychange_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_refresh_update_deactivate_keep_a_concurrent_rollover, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
