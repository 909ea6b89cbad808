/*
 * test_flow_issue_run.c - ck_issue run whole against the scripted ACME
 * server of test_acme_fake.h, through the context's transport
 * (ck_ctx.acme_transport): a certificate issued, linked to the key that was
 * committed first, the lineage's current one, the order closed, an
 * alternate chain recorded; a 5xx on finalize (the server issued, the
 * answer was lost) is an unknown that keeps the key and the open order;
 * the next run resumes that order, places no new one, and stores the
 * certificate the server had issued for the kept key.  A real store in a
 * temporary directory; the authorization is already valid at the server,
 * so no http-01 responder is started.
 */
#include "test_store_util.h"
#include "test_acme_fake.h"
#include "test_fake_issue.h"

#include "crypto/alternates.h"
#include "flow/issue.h"

struct env {
	struct t_fake_issue w;   /* its chain_pem is what /cert/1 serves */
	long finalize_status;    /* 0: answer finalize normally; else this status, after issuing */
	int finalizes;
	const char *authz_token; /* non-NULL: /authz/1 hands out this http-01 token */
	int challenge_posts;     /* POSTs to /chall/1: the challenge answered */
};

/* The fake, issuing real certificates (and losing finalize answers when told). */
static int
env_hook(struct fake *f, const struct acme_http_request *req, struct acme_http_response *out)
{
	struct env *e = f->hook_arg;
	const char *path = req->url + strlen(FAKE_BASE);

	if (req->method != ACME_METHOD_POST)
		return 0;
	if (strcmp(path, "/chall/1") == 0)
		e->challenge_posts++;
	if (strcmp(path, "/authz/1") == 0 && e->authz_token != NULL) {
		char authz[1024];

		snprintf(authz, sizeof(authz),
			 "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":"
			 "\"a.test\"},\"challenges\":[{\"type\":\"http-01\",\"url\":\"" FAKE_BASE
			 "/chall/1\",\"status\":\"pending\",\"token\":\"%s\"}]}", e->authz_token);
		fake_nonce(f, out);
		fake_body(out, 200, "application/json", authz);
		return 1;
	}
	if (strcmp(path, "/order/1/fin") == 0) {
		e->finalizes++;
		t_fake_issue_finalize(&e->w, req, 77);
		if (e->finalize_status == 0)
			return 0;
		fake_nonce(f, out);
		fake_body(out, e->finalize_status, "text/html", "<html>bad gateway</html>");
		return 1;
	}
	if (strcmp(path, "/cert/1") == 0 || strcmp(path, "/cert/1/alt1") == 0) {
		assert_non_null(e->w.chain_pem);
		fake_nonce(f, out);
		if (strcmp(path, "/cert/1") == 0)
			fake_header(out, "Link", "<" FAKE_BASE "/cert/1/alt1>;rel=\"alternate\"");
		fake_body(out, 200, "application/pem-certificate-chain", e->w.chain_pem);
		return 1;
	}
	return 0;
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	t_fake_issue_open(&e->w, "ck-test-issue-run", env_hook, e);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	t_fake_issue_close(&e->w);
	free(e);
	return 0;
}

static const char *const names[] = { "a.test" };


static enum ck_code
run_issue(struct env *e, struct ck_issue_result *res, struct ck_err *err)
{
	struct ck_issue_params p;

	memset(&p, 0, sizeof(p));
	p.server = FAKE_DIR;
	p.account = "default";
	p.names = names;
	p.nnames = 1;
	p.http_address = "127.0.0.1";
	memset(res, 0, sizeof(*res));
	ck_err_clear(err);
	return ck_issue(&e->w.ctx, e->w.st, &p, res, err);
}

/* What a successful run leaves: the certificate linked to the order's key,
 * current in its lineage, the order closed, the alternate recorded. */
static void
check_stored(struct env *e, const struct ck_issue_result *res)
{
	struct ck_cert_row row;
	struct ck_order o;
	struct ck_alternates alt = { NULL, 0 };
	char *text = NULL;

	memset(&row, 0, sizeof(row));
	memset(&o, 0, sizeof(o));
	assert_int_equal(ck_store_cert_get(e->w.st, res->cert_id, &row, NULL), CK_OK);
	assert_int_equal(ck_store_order_get(e->w.st, res->order_id, &o, NULL), CK_OK);
	assert_true(row.linked);
	assert_int_equal(row.key_id, o.key_id);
	assert_true(row.is_current);
	assert_string_equal(row.lineage, "a.test");
	assert_string_equal(row.sha256, res->sha256);
	assert_true(o.closed);
	assert_int_equal(res->alternates, 1);
	assert_int_equal(ck_store_cert_alternates(e->w.st, res->cert_id, &text, NULL), CK_OK);
	assert_int_equal(ck_alternates_decode(text, &alt, NULL), CK_OK);
	assert_int_equal(alt.n, 1);
	assert_int_equal(alt.chains[0].n, 1); /* the CA after the leaf */
	ck_alternates_cleanup(&alt);
	free(text);
	ck_order_cleanup(&o);
	ck_cert_row_cleanup(&row);
}

static void
test_issue_success(void **state)
{
	struct env *e = *state;
	struct ck_issue_result res;
	struct ck_err err;

	if (run_issue(e, &res, &err) != CK_OK)
		fail_msg("issue: %s", err.msg);
	check_stored(e, &res);
	assert_false(res.resumed);
	assert_int_equal(e->finalizes, 1);
	assert_int_equal(fake_requests_to(&e->w.f, FAKE_BASE "/new-order"), 1);
	assert_true(res.requests > 0);
}

/*
 * finalize answered 502 after the server issued: not a "no".  Nothing but
 * the key and the open order is kept; the next run asks the server about
 * that order, finds the certificate and stores it for the kept key,
 * without a new order or a second finalize.
 */
static void
test_issue_finalize_5xx_then_resumed(void **state)
{
	struct env *e = *state;
	struct ck_issue_result res;
	struct ck_order o;
	struct ck_cert_list cl = { NULL, 0 };
	struct ck_err err;
	int64_t kept_key;

	e->finalize_status = 502;
	assert_int_not_equal(run_issue(e, &res, &err), CK_OK);
	assert_int_equal(err.http_status, 502);
	memset(&o, 0, sizeof(o));
	assert_int_equal(ck_issue_order_find(e->w.st, "a.test", e->w.acct_id, names, 1, &o, NULL),
			 CK_OK);
	assert_false(o.closed);
	kept_key = o.key_id;
	assert_true(kept_key > 0);
	ck_order_cleanup(&o);
	assert_int_equal(ck_store_cert_list(e->w.st, &cl, NULL), CK_OK);
	assert_int_equal(cl.n, 0);
	ck_cert_list_cleanup(&cl);

	e->finalize_status = 0;
	e->finalizes = 0;
	if (run_issue(e, &res, &err) != CK_OK)
		fail_msg("resumed issue: %s", err.msg);
	assert_true(res.resumed);
	check_stored(e, &res);
	assert_int_equal(e->finalizes, 0);
	assert_int_equal(fake_requests_to(&e->w.f, FAKE_BASE "/new-order"), 1);
	assert_int_equal(ck_store_order_get(e->w.st, res.order_id, &o, NULL), CK_OK);
	assert_int_equal(o.key_id, kept_key);
	ck_order_cleanup(&o);
}

/*
 * A server (here the fake) handing out an http-01 token that is a path:
 * refused before anything touches the webroot, and the challenge is never
 * answered.
 */
static void
test_issue_webroot_token_traversal_refused(void **state)
{
	static const char *const bad[] = { "../../x" }; /* more forms: test_challenge_webroot */
	struct env *e = *state;
	struct ck_challenge_settings cfg;
	struct ck_issue_params p;
	struct ck_issue_result res;
	struct ck_err err;
	char webroot[128], outside[128];
	size_t i;

	snprintf(webroot, sizeof(webroot), "%s/www/html", e->w.dir);
	snprintf(outside, sizeof(outside), "%s/www", e->w.dir);
	assert_int_equal(mkdir(outside, 0755), 0);
	assert_int_equal(mkdir(webroot, 0755), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.type = CK_CHALLENGE_HTTP01;
	cfg.webroot = webroot;
	cfg.dns_wait = -1;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.server = FAKE_DIR;
		p.account = "default";
		p.names = names;
		p.nnames = 1;
		p.challenge = &cfg;
		e->authz_token = bad[i];
		ck_err_clear(&err);
		assert_int_not_equal(ck_issue(&e->w.ctx, e->w.st, &p, &res, &err), CK_OK);
		assert_non_null(strstr(err.msg, "token"));
		assert_int_equal(e->challenge_posts, 0);
		/* Nothing in the webroot, nothing next to it. */
		assert_int_equal(t_dir_entries(webroot), 0);
		assert_int_equal(t_dir_entries(outside), 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_issue_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_issue_webroot_token_traversal_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_issue_finalize_5xx_then_resumed, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
