/*
 * test_renew_run.c - ck_renew run whole against the scripted ACME server
 * (test_acme_fake.h, through ctx.acme_transport): a renewed lineage is
 * handed to the deploy seam once, with the worker's store handle; a deploy
 * failure is reported for its lineage and counted, the renewal stands; a
 * 429 with Retry-After is stored for the lineage's names, a second run
 * sends nothing for them, and after the time (an injected clock) the
 * lineage renews.
 */
#include "test_store_util.h"
#include "test_acme_fake.h"
#include "test_fake_issue.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <certkeep/renew.h>

#include "store/renewal.h"

struct env {
	struct t_fake_issue w;
	int rate_limit;          /* answer newOrder 429 rateLimited, Retry-After: 30 */
	int deploys;
	char deployed[CK_STORE_NAME_MAX + 1];
	enum ck_code deploy_rc;
	unsigned port;
};

static int
env_hook(struct fake *f, const struct acme_http_request *req, struct acme_http_response *out)
{
	struct env *e = f->hook_arg;
	const char *path = req->url + strlen(FAKE_BASE);

	if (req->method != ACME_METHOD_POST)
		return 0;
	if (strcmp(path, "/new-order") == 0 && e->rate_limit) {
		fake_nonce(f, out);
		fake_header(out, "Retry-After", "30");
		fake_problem(out, 429, "rateLimited", "too many new orders");
		return 1;
	}
	if (strcmp(path, "/order/1/fin") == 0) {
		t_fake_issue_finalize(&e->w, req, 77 + e->w.f.n);
		return 0;
	}
	if (strcmp(path, "/cert/1") == 0) {
		fake_nonce(f, out);
		fake_body(out, 200, "application/pem-certificate-chain", e->w.chain_pem);
		return 1;
	}
	return 0;
}

static enum ck_code
env_deploy(void *arg, const struct ck_ctx *ctx, struct ck_store *st, const char *lineage,
	   struct ck_err *err)
{
	struct env *e = arg;

	(void)ctx;
	assert_non_null(st);
	e->deploys++;
	snprintf(e->deployed, sizeof(e->deployed), "%s", lineage);
	if (e->deploy_rc != CK_OK)
		return CK_FAIL(err, e->deploy_rc, "nginx reload failed");
	return CK_OK;
}

/* A port nothing listens on now, for the run's http-01 responder. */
static unsigned
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct ck_issue_params p;
	struct ck_issue_result res;
	const char *names[] = { "a.test" };
	struct ck_err err;

	assert_non_null(e);
	t_fake_issue_open(&e->w, "ck-test-renew-run", env_hook, e);
	assert_int_equal(ck_store_setting_set(e->w.st, CK_SETTING_DEFAULT_SERVER, FAKE_DIR, NULL),
			 CK_OK);
	memset(&p, 0, sizeof(p));
	p.names = names;
	p.nnames = 1;
	ck_err_clear(&err);
	if (ck_issue(&e->w.ctx, e->w.st, &p, &res, &err) != CK_OK)
		fail_msg("first issue: %s", err.msg);
	e->port = free_port();
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

static void
env_renew(struct env *e, struct ck_renew_report *rep)
{
	struct ck_renew_opts o;
	struct ck_err err;

	memset(&o, 0, sizeof(o));
	o.force = 1;
	o.http_address = "127.0.0.1";
	o.http_port = e->port;
	o.deploy = env_deploy;
	o.deploy_arg = e;
	ck_err_clear(&err);
	memset(rep, 0, sizeof(*rep));
	if (ck_renew(&e->w.ctx, e->w.st, &o, rep, &err) != CK_OK)
		fail_msg("ck_renew: %s", err.msg);
	assert_int_equal(rep->n, 1);
}

static void
test_renewed_then_deployed(void **state)
{
	struct env *e = *state;
	struct ck_renew_report rep;
	struct ck_lineage lin;
	struct ck_cert_row row;

	env_renew(e, &rep);
	assert_int_equal(rep.items[0].state, CK_RENEW_ST_RENEWED);
	assert_int_equal(rep.items[0].why, CK_RENEW_FORCED);
	assert_int_equal(rep.counts.renewed, 1);
	assert_int_equal(rep.counts.failed, 0);
	assert_int_equal(e->deploys, 1);
	assert_string_equal(e->deployed, "a.test");
	memset(&lin, 0, sizeof(lin));
	memset(&row, 0, sizeof(row));
	assert_int_equal(ck_store_lineage_get(e->w.st, "a.test", &lin, NULL), CK_OK);
	assert_int_equal(ck_store_cert_get(e->w.st, lin.current_cert_id, &row, NULL), CK_OK);
	assert_string_equal(row.sha256, rep.items[0].new_sha256);
	ck_cert_row_cleanup(&row);
	ck_lineage_cleanup(&lin);
	ck_renew_report_cleanup(&rep);
}

/* Lines of the fault-point log that name point (CERTKEEP_FAULT_LOG). */
static int
log_count(const char *path, const char *point)
{
	char line[256];
	FILE *fp = fopen(path, "r");
	int n = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		n += strcmp(line, point) == 0;
	}
	fclose(fp);
	return n;
}

/*
 * One renewal commits at most four write transactions: the lease, the key
 * with its order's record, the certificate with the lineage's renewal
 * state, and the lease given back (six before: the order's status after
 * finalize and the renewal state had their own commits).  Each outermost
 * commit passes the fault point store.commit; every one is an fdatasync.
 */
static void
test_one_renewal_commits_four_times(void **state)
{
	struct env *e = *state;
	struct ck_renew_report rep;
	struct ck_renewal rw;
	char log[128];
	int commits;

	snprintf(log, sizeof(log), "%s/faults.log", e->w.dir);
	assert_int_equal(setenv("CERTKEEP_FAULT_LOG", log, 1), 0);
	env_renew(e, &rep);
	unsetenv("CERTKEEP_FAULT_LOG");
	assert_int_equal(rep.items[0].state, CK_RENEW_ST_RENEWED);
	ck_renew_report_cleanup(&rep);
	commits = log_count(log, "store.commit");
	print_message("one renewal: %d commits\n", commits);
	assert_true(commits >= 3);
	assert_true(commits <= 4);
	/* What the merged commits wrote is all there: the order closed, the
	 * renewal state reset, the lease given back. */
	memset(&rw, 0, sizeof(rw));
	assert_int_equal(ck_store_renewal_get(e->w.st, "a.test", &rw, NULL), CK_OK);
	assert_null(rw.claim_owner);
	assert_int_equal(rw.failures, 0);
	ck_renewal_cleanup(&rw);
}

static void
test_deploy_failure_reported(void **state)
{
	struct env *e = *state;
	struct ck_renew_report rep;

	e->deploy_rc = CK_ERR_IO;
	env_renew(e, &rep);
	assert_int_equal(rep.items[0].state, CK_RENEW_ST_RENEWED);
	assert_non_null(rep.items[0].deploy_error);
	assert_non_null(strstr(rep.items[0].deploy_error, "nginx reload failed"));
	assert_int_equal(rep.counts.failed, 1);
	ck_renew_report_cleanup(&rep);
}

static void
test_rate_limited_then_after_the_time(void **state)
{
	struct env *e = *state;
	const char *names[] = { "a.test" };
	struct ck_renew_report rep;
	time_t until = 0;
	int orders;

	e->rate_limit = 1;
	env_renew(e, &rep);
	assert_int_equal(rep.items[0].state, CK_RENEW_ST_WAITING);
	assert_int_equal((long long)rep.items[0].wait_until, (long long)e->w.clk.now + 30);
	assert_int_equal(e->deploys, 0);
	ck_renew_report_cleanup(&rep);
	assert_int_equal(ck_store_ratelimit_until(e->w.st, FAKE_DIR, names, 1, e->w.clk.now, &until,
						  NULL, NULL), CK_OK);
	assert_int_equal((long long)until, (long long)e->w.clk.now + 30);

	orders = fake_requests_to(&e->w.f, FAKE_BASE "/new-order");
	e->w.clk.now += 29;
	env_renew(e, &rep);
	assert_int_equal(rep.items[0].state, CK_RENEW_ST_WAITING);
	assert_int_equal(fake_requests_to(&e->w.f, FAKE_BASE "/new-order"), orders);
	ck_renew_report_cleanup(&rep);

	e->rate_limit = 0;
	e->w.clk.now += 2;
	env_renew(e, &rep);
	assert_int_equal(rep.items[0].state, CK_RENEW_ST_RENEWED);
	assert_int_equal(fake_requests_to(&e->w.f, FAKE_BASE "/new-order"), orders + 1);
	ck_renew_report_cleanup(&rep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_renewed_then_deployed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_renewal_commits_four_times, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deploy_failure_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_limited_then_after_the_time, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
