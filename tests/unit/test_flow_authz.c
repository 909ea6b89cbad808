/*
 * test_flow_authz.c - the authorization step of issuance for an order of
 * many names (issue_challenges_authorize) against the scripted ACME server
 * of test_acme_fake.h, with a webroot responder in a temporary directory:
 * the authorizations are waited for together, one shared poll timeline,
 * so 50 names cost about one poll interval, not 50; each authorization's
 * own Retry-After is honoured (never asked again before it); a failed one
 * is named and every challenge file is gone afterwards.  The fake clock
 * counts every sleep, so nothing here is timed.
 */
#include "test_store_util.h"
#include "test_acme_fake.h"

#include "flow/issue.h"

#define NAUTHZ 50

struct env {
	char dir[64];
	struct fake_clock clk;
	struct ck_ctx ctx;
	struct fake f;
	EVP_PKEY *key;
	struct acme_client *c;
	struct ck_challenge_settings cfg;
	struct acme_order order;
	int pending_answers;          /* each authz answers "pending" this many times */
	int invalid_authz;            /* 1..NAUTHZ: this one turns invalid; 0: none */
	int retry_after;              /* > 0: pending answers carry Retry-After: k % 3 + this */
	int answers[NAUTHZ + 1];      /* authz POSTs per authorization */
	unsigned long asked_at[NAUTHZ + 1];   /* slept ms at the last authz POST */
	unsigned long not_before[NAUTHZ + 1]; /* slept ms before which it may not be asked */
	int early;                    /* authz POSTs sent before their Retry-After */
	int challenge_posts;
	/* the "seen" responder (seen_ops): a challenge POST is the CA's fetch */
	int fetch_on_post;            /* 1: each challenge POST marks its proof fetched */
	int never_fetched;            /* 1..NAUTHZ: this one's proof is never fetched */
	int fetched[NAUTHZ + 1];
	long long fetched_at;
	int removed;                  /* items withdrawn from the seen responder */
};

static int
authz_retry_after(const struct env *e, int k)
{
	return e->retry_after > 0 ? k % 3 + e->retry_after : 0;
}

static void
answer_authz(struct env *e, int k, struct acme_http_response *out)
{
	char body[1024], ra[16];
	const char *status = "valid";
	int n = ++e->answers[k];

	if (e->clk.slept_ms < e->not_before[k])
		e->early++;
	e->asked_at[k] = e->clk.slept_ms;
	if (n <= e->pending_answers)
		status = "pending";
	else if (k == e->invalid_authz)
		status = "invalid";
	snprintf(body, sizeof(body),
		 "{\"status\":\"%s\",\"identifier\":{\"type\":\"dns\",\"value\":\"n%d.test\"},"
		 "\"challenges\":[{\"type\":\"http-01\",\"url\":\"" FAKE_BASE "/chall/%d\","
		 "\"status\":\"%s\",\"token\":\"tok-%d\"%s}]}", status, k, k, status, k,
		 strcmp(status, "invalid") == 0 ?
		 ",\"error\":{\"type\":\"urn:ietf:params:acme:error:connection\","
		 "\"detail\":\"Connection refused\"}" : "");
	if (strcmp(status, "pending") == 0 && authz_retry_after(e, k) > 0) {
		snprintf(ra, sizeof(ra), "%d", authz_retry_after(e, k));
		fake_header(out, "Retry-After", ra);
		e->not_before[k] = e->clk.slept_ms + 1000ul * (unsigned long)authz_retry_after(e, k);
	}
	fake_body(out, 200, "application/json", body);
}

static int
env_hook(struct fake *f, const struct acme_http_request *req, struct acme_http_response *out)
{
	struct env *e = f->hook_arg;
	const char *path = req->url + strlen(FAKE_BASE);
	int k;

	if (req->method != ACME_METHOD_POST)
		return 0;
	if (sscanf(path, "/authz/%d", &k) == 1 && k >= 1 && k <= NAUTHZ) {
		fake_nonce(f, out);
		answer_authz(e, k, out);
		return 1;
	}
	if (sscanf(path, "/chall/%d", &k) == 1 && k >= 1 && k <= NAUTHZ) {
		e->challenge_posts++;
		if (e->fetch_on_post && k != e->never_fetched) {
			e->fetched[k] = 1;
			e->fetched_at = ck_mono_ms() - 10 * ISSUE_SETTLE_MS; /* long settled */
		}
		fake_nonce(f, out);
		fake_body(out, 200, "application/json", "{\"type\":\"http-01\",\"status\":"
			  "\"processing\",\"url\":\"" FAKE_BASE "/chall/1\",\"token\":\"tok-1\"}");
		return 1;
	}
	return 0;
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char url[64];
	int k;

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/ck-test-flow-authz-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	fake_ctx_init(&e->ctx, &e->clk);
	fake_reset(&e->f);
	e->f.hook = env_hook;
	e->f.hook_arg = e;
	assert_int_equal(ck_key_generate(CK_KEY_EC256, &e->key, NULL), CK_OK);
	e->c = fake_client(&e->ctx, &e->f, e->key, FAKE_BASE "/acct/1");
	e->cfg.type = CK_CHALLENGE_HTTP01;
	e->cfg.webroot = e->dir;
	for (k = 1; k <= NAUTHZ; k++) {
		snprintf(url, sizeof(url), FAKE_BASE "/authz/%d", k);
		assert_int_equal(ck_strv_add(&e->order.authorizations, url, NAUTHZ, 256, NULL),
				 CK_OK);
	}
	e->pending_answers = 2; /* the first fetch, then one poll: validation takes a moment */
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	acme_order_cleanup(&e->order);
	acme_client_free(e->c);
	EVP_PKEY_free(e->key);
	fake_reset(&e->f);
	t_rm_rf(e->dir);
	free(e);
	return 0;
}

static enum ck_code
authorize(struct env *e, struct ck_err *err)
{
	struct issue_challenges set;
	enum ck_code rc;

	ck_err_clear(err);
	assert_int_equal(issue_challenges_init(&set, &e->ctx, &e->cfg, err), CK_OK);
	rc = issue_challenges_authorize(&set, e->c, e->key, &e->order, err);
	issue_challenges_stop(&set);
	return rc;
}

/* ---- a responder that knows when the CA fetched a proof (http-01, tls-alpn-01) */

static enum ck_code
seen_add(struct chall_responder *r, const struct chall_item *it, struct ck_err *err)
{
	(void)r;
	(void)it;
	(void)err;
	return CK_OK;
}

static void
seen_remove(struct chall_responder *r, const struct chall_item *it)
{
	(void)it;
	((struct env *)r->impl)->removed++;
}

static int
seen_served(struct chall_responder *r, const struct chall_item *it, long long *at)
{
	struct env *e = r->impl;
	int k = atoi(it->token + 4); /* "tok-%d" */

	if (k < 1 || k > NAUTHZ || !e->fetched[k])
		return 0;
	*at = e->fetched_at;
	return 1;
}

static const struct chall_ops seen_ops = {
	.type = "http-01", .add = seen_add, .remove = seen_remove, .served = seen_served,
};

/* Answers every authorization through the seen responder, then waits
 * until_served; *served as issue_proof_wait says. */
static enum ck_code
answer_and_wait(struct env *e, int until_served, int *served, struct ck_err *err)
{
	struct chall_responder resp = { &seen_ops, NULL, NULL, NULL };
	struct issue_challenges set;
	struct issue_proof *p = NULL;
	enum ck_code rc;

	ck_err_clear(err);
	resp.ctx = &e->ctx;
	resp.impl = e;
	e->cfg.webroot = NULL;
	assert_int_equal(issue_challenges_init(&set, &e->ctx, &e->cfg, err), CK_OK);
	set.r[CK_CHALLENGE_HTTP01] = &resp;
	set.borrowed[CK_CHALLENGE_HTTP01] = 1;
	rc = issue_challenges_answer(&set, e->c, e->key, &e->order, &p, err);
	if (rc == CK_OK)
		rc = issue_proof_wait(p, until_served, served, err);
	/* a finalize the CA refused (orderNotReady): a second wait asks again */
	if (rc == CK_OK && *served) {
		e->pending_answers = 0;
		rc = issue_proof_wait(p, 0, NULL, err);
	}
	issue_proof_release(p);
	issue_challenges_stop(&set);
	return rc;
}

static int
authz_posts(const struct env *e)
{
	int k, n = 0;

	for (k = 1; k <= NAUTHZ; k++)
		n += e->answers[k];
	return n;
}

/* 50 names, each still pending at its first poll: the waits are shared. */
static void
test_many_names_wait_together(void **state)
{
	struct env *e = *state;
	struct ck_err err;

	assert_int_equal(authorize(e, &err), CK_OK);
	assert_int_equal(e->challenge_posts, NAUTHZ);
	/* A wait one after another sleeps 250 ms + 250 ms per name (25 s in all);
	 * together it is one 250 ms sleep, one 250 ms more for the second poll. */
	assert_int_equal(e->clk.sleeps, 2);
	assert_int_equal(e->clk.slept_ms, 500);
	/* Each authorization: the first fetch and two polls, none more. */
	assert_int_equal(authz_posts(e), 3 * NAUTHZ);
	assert_int_equal(e->early, 0);
}

/* Each authorization's own Retry-After (1, 2 or 3 s) holds for it alone. */
static void
test_retry_after_per_authorization(void **state)
{
	struct env *e = *state;
	struct ck_err err;
	int k;

	e->retry_after = 1;
	assert_int_equal(authorize(e, &err), CK_OK);
	assert_int_equal(e->early, 0);
	for (k = 1; k <= NAUTHZ; k++) {
		assert_int_equal(e->answers[k], 3);
		/* asked as soon as its second Retry-After ran out, not later */
		assert_int_equal(e->asked_at[k], 2000ul * (unsigned long)authz_retry_after(e, k));
	}
	/* The longest Retry-After (3 s) twice, not the sum over 50 names. */
	assert_int_equal(e->clk.slept_ms, 6000);
}

/* One name fails: it is named with the server's reason; nothing is left behind. */
static void
test_one_invalid_named_files_gone(void **state)
{
	struct env *e = *state;
	struct ck_err err;
	e->invalid_authz = 37;
	assert_int_equal(authorize(e, &err), CK_ERR_VALIDATION);
	assert_non_null(strstr(err.msg, "n37.test"));
	assert_string_equal(ck_err_problem_short(&err), "connection");
	assert_non_null(strstr(err.msg, "--webroot"));
	assert_int_equal(t_dir_entries(e->dir), 0);
}

/* A name still pending at the poll timeout: CK_ERR_TIMEOUT, bounded once for all. */
static void
test_timeout_bounds_the_whole_wait(void **state)
{
	struct env *e = *state;
	struct ck_err err;

	e->pending_answers = 1000000;
	acme_client_set_poll_timeout(e->c, 10);
	assert_int_equal(authorize(e, &err), CK_ERR_TIMEOUT);
	assert_true(e->clk.slept_ms <= 10000);
	assert_non_null(strstr(err.msg, "still pending"));
}

/* Every proof fetched by the first poll round: the wait ends unasked (the
 * flow finalizes instead: one request less per name); a second wait, after
 * the CA said it was still deciding, asks each authorization once more. */
static void
test_fetched_proofs_end_the_wait_unasked(void **state)
{
	struct env *e = *state;
	struct ck_err err;
	int served = 0;
	unsigned long slept;

	e->fetch_on_post = 1;
	assert_int_equal(answer_and_wait(e, 1, &served, &err), CK_OK);
	assert_int_equal(served, 1);
	slept = e->clk.slept_ms;
	assert_int_equal(e->challenge_posts, NAUTHZ);
	/* the fetches of the first wait were the ones before answering, and the
	 * second wait's one each: no poll in the first */
	assert_int_equal(authz_posts(e), 2 * NAUTHZ);
	assert_int_equal(slept, 500); /* the first wait's 250 ms round, the second's 250 */
	assert_int_equal(e->removed, NAUTHZ);
}

/* One proof the CA never fetched: the authorizations are polled as ever. */
static void
test_one_unfetched_proof_keeps_the_polls(void **state)
{
	struct env *e = *state;
	struct ck_err err;
	int served = 1;

	e->fetch_on_post = 1;
	e->never_fetched = 7;
	assert_int_equal(answer_and_wait(e, 1, &served, &err), CK_OK);
	assert_int_equal(served, 0);
	assert_int_equal(authz_posts(e), 3 * NAUTHZ);
	assert_int_equal(e->removed, NAUTHZ);
}

/* A way that cannot see the CA look (a webroot another server serves): polled. */
static void
test_webroot_cannot_tell_so_it_is_polled(void **state)
{
	struct env *e = *state;
	struct issue_challenges set;
	struct issue_proof *p = NULL;
	struct ck_err err;
	char files[128];
	int served = 1;

	snprintf(files, sizeof(files), "%s/.well-known/acme-challenge", e->dir);
	ck_err_clear(&err);
	assert_int_equal(issue_challenges_init(&set, &e->ctx, &e->cfg, &err), CK_OK);
	assert_int_equal(issue_challenges_answer(&set, e->c, e->key, &e->order, &p, &err), CK_OK);
	assert_int_equal(t_dir_entries(files), NAUTHZ); /* served until released */
	assert_int_equal(issue_proof_wait(p, 1, &served, &err), CK_OK);
	assert_int_equal(served, 0);
	assert_int_equal(authz_posts(e), 3 * NAUTHZ);
	assert_int_equal(t_dir_entries(files), NAUTHZ);
	issue_proof_release(p);
	assert_int_equal(t_dir_entries(files), 0);
	issue_challenges_stop(&set);
	assert_int_equal(t_dir_entries(e->dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_many_names_wait_together, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetched_proofs_end_the_wait_unasked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_one_unfetched_proof_keeps_the_polls, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_webroot_cannot_tell_so_it_is_polled, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_per_authorization, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_invalid_named_files_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_bounds_the_whole_wait, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
