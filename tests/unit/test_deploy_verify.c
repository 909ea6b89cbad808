/*
 * test_deploy_verify.c - verification by handshake (src/deploy/verify.c)
 * against a real `openssl s_server` on 127.0.0.1: the served leaf's
 * SHA-256, another leaf served, a chain that does not verify, a name the
 * leaf does not cover, a refused connection, a port that is not TLS, a
 * server that comes up while we retry, and a cancelled wait - each its
 * own clear error, each within its budget.
 */
#include <pthread.h>

#include "test_deploy_util.h"

struct vt {
	struct t_pki pki;
	unsigned port;
	pid_t server, late;  /* late: test_verify_retries_until_up's */
	struct ck_ctx ctx;
};

static pid_t
start_s_server(struct vt *v, unsigned delay_ms)
{
	char accept[32], cert[700];
	char *argv[] = { "openssl", "s_server", "-accept", accept, "-cert", cert, "-quiet",
			 "-no_dhe", NULL };

	snprintf(accept, sizeof(accept), "127.0.0.1:%u", v->port);
	snprintf(cert, sizeof(cert), "%s/a.pem", v->pki.dir);
	return t_spawn(v->pki.dir, "s_server.log", delay_ms, argv);
}

static int
setup(void **state)
{
	struct vt *v = calloc(1, sizeof(*v));

	assert_non_null(v);
	t_pki_init(&v->pki);
	ck_ctx_init(&v->ctx);
	v->port = t_free_port();
	v->server = start_s_server(v, 0);
	assert_true(t_port_wait(v->port, 10000));
	*state = v;
	return 0;
}

static int
teardown(void **state)
{
	struct vt *v = *state;

	t_kill(v->server);
	t_kill(v->late);
	t_pki_free(&v->pki);
	free(v);
	return 0;
}

static void
ep_set(struct dep_endpoint *ep, const char *text)
{
	assert_int_equal(dep_endpoint_parse(text, ep, NULL), CK_OK);
}

static void
test_verify_served_leaf(void **state)
{
	struct vt *v = *state;
	struct dep_endpoint ep;
	char served[65], text[64];

	snprintf(text, sizeof(text), "127.0.0.1:%u,sni=localhost", v->port);
	ep_set(&ep, text);
	assert_int_equal(dep_verify_handshake(&v->ctx, &ep, v->pki.ca_file, v->pki.a.sha256, 5000,
					      served, NULL), CK_OK);
	assert_string_equal(served, v->pki.a.sha256);
	/* without sni: the IP literal is checked against the leaf's IP SAN */
	snprintf(text, sizeof(text), "127.0.0.1:%u", v->port);
	ep_set(&ep, text);
	assert_int_equal(dep_verify_handshake(&v->ctx, &ep, v->pki.ca_file, v->pki.a.sha256, 5000,
					      served, NULL), CK_OK);
}

static void
test_verify_other_leaf(void **state)
{
	struct vt *v = *state;
	struct dep_endpoint ep;
	struct ck_err err = {0};
	char served[65], text[64];
	long long t0 = ck_mono_ms();

	snprintf(text, sizeof(text), "127.0.0.1:%u,sni=localhost", v->port);
	ep_set(&ep, text);
	assert_int_equal(dep_verify_handshake(&v->ctx, &ep, v->pki.ca_file, v->pki.b.sha256, 800,
					      served, &err), CK_ERR_STATE);
	print_message("%s\n", err.msg);
	assert_string_equal(served, v->pki.a.sha256);
	assert_non_null(strstr(err.msg, v->pki.a.sha256));
	assert_non_null(strstr(err.msg, v->pki.b.sha256));
	/* retried until the budget, not much past it */
	assert_non_null(strstr(err.msg, "attempt(s)"));
	assert_true(ck_mono_ms() - t0 >= 700);
	assert_true(ck_mono_ms() - t0 < 4000);
}

static void
test_verify_untrusted_and_wrong_name(void **state)
{
	struct vt *v = *state;
	struct dep_endpoint ep;
	struct ck_err err = {0};
	char served[65], text[64];

	snprintf(text, sizeof(text), "127.0.0.1:%u,sni=localhost", v->port);
	ep_set(&ep, text);
	assert_int_equal(dep_verify_handshake(&v->ctx, &ep, v->pki.other_ca_file, v->pki.a.sha256,
					      300, served, &err), CK_ERR_TLS);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "does not verify"));
	assert_non_null(strstr(err.msg, "unable to get local issuer certificate"));
	/* the leaf is still reported: the user sees what is served */
	assert_string_equal(served, v->pki.a.sha256);
	memset(&err, 0, sizeof(err));
	snprintf(text, sizeof(text), "127.0.0.1:%u,sni=www.example.org", v->port);
	ep_set(&ep, text);
	assert_int_equal(dep_verify_handshake(&v->ctx, &ep, v->pki.ca_file, v->pki.a.sha256, 300,
					      served, &err), CK_ERR_TLS);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "for www.example.org"));
	assert_non_null(strstr(err.msg, "hostname mismatch"));
}

static void
test_verify_refused(void **state)
{
	struct vt *v = *state;
	struct dep_endpoint ep;
	struct ck_err err = {0};
	char served[65] = "x", text[64];
	long long t0 = ck_mono_ms();

	snprintf(text, sizeof(text), "127.0.0.1:%u", t_free_port());
	ep_set(&ep, text);
	assert_int_equal(dep_verify_handshake(&v->ctx, &ep, v->pki.ca_file, v->pki.a.sha256, 600,
					      served, &err), CK_ERR_NETWORK);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "no connection to 127.0.0.1:"));
	assert_non_null(strstr(err.msg, "Connection refused"));
	assert_string_equal(served, "");
	assert_true(ck_mono_ms() - t0 < 3000);
}

/* A plain TCP server that answers like HTTP and closes: not TLS. */
static void *
plain_server(void *arg)
{
	int lfd = *(int *)arg, fd, i;
	static const char answer[] = "HTTP/1.0 400 Bad Request\r\n\r\nnot TLS here\n";

	for (i = 0; i < 50; i++) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			break;
		if (write(fd, answer, sizeof(answer) - 1) < 0)
			i = 50;
		close(fd);
	}
	return NULL;
}

static void
test_verify_not_tls(void **state)
{
	struct vt *v = *state;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct dep_endpoint ep;
	struct ck_err err = {0};
	socklen_t len = sizeof(sa);
	char served[65], text[64];
	pthread_t th;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(pthread_create(&th, NULL, plain_server, &lfd), 0);
	snprintf(text, sizeof(text), "127.0.0.1:%u,sni=localhost", ntohs(sa.sin_port));
	ep_set(&ep, text);
	assert_int_equal(dep_verify_handshake(&v->ctx, &ep, v->pki.ca_file, v->pki.a.sha256, 300,
					      served, &err), CK_ERR_TLS);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "no TLS handshake with 127.0.0.1:"));
	assert_non_null(strstr(err.msg, "is it a TLS endpoint"));
	assert_string_equal(served, "");
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	pthread_join(th, NULL);
}

/* The server comes up while we retry (as after a reload). */
static void
test_verify_retries_until_up(void **state)
{
	struct vt *v = *state;
	struct dep_endpoint ep;
	char served[65], text[64];
	pid_t late;
	unsigned port = v->port;

	v->port = t_free_port();
	v->late = late = start_s_server(v, 1500);
	snprintf(text, sizeof(text), "127.0.0.1:%u,sni=localhost", v->port);
	ep_set(&ep, text);
	assert_int_equal(dep_verify_handshake(&v->ctx, &ep, v->pki.ca_file, v->pki.a.sha256,
					      DEP_VERIFY_BUDGET_MS, served, NULL), CK_OK);
	assert_string_equal(served, v->pki.a.sha256);
	t_kill(late);
	v->late = 0;
	v->port = port;
}

static void
test_verify_cancelled(void **state)
{
	struct vt *v = *state;
	static volatile sig_atomic_t stop = 1;
	struct ck_ctx ctx = v->ctx;
	struct dep_endpoint ep;
	struct ck_err err = {0};
	char text[64];
	long long t0 = ck_mono_ms();

	ctx.cancel = &stop;
	snprintf(text, sizeof(text), "127.0.0.1:%u", t_free_port());
	ep_set(&ep, text);
	assert_int_equal(dep_verify_handshake(&ctx, &ep, v->pki.ca_file, v->pki.a.sha256,
					      DEP_VERIFY_BUDGET_MS, NULL, &err), CK_ERR_CANCELLED);
	assert_true(ck_mono_ms() - t0 < 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verify_served_leaf),
		cmocka_unit_test(test_verify_other_leaf),
		cmocka_unit_test(test_verify_untrusted_and_wrong_name),
		cmocka_unit_test(test_verify_refused),
		cmocka_unit_test(test_verify_not_tls),
		cmocka_unit_test(test_verify_retries_until_up),
		cmocka_unit_test(test_verify_cancelled),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("deploy_verify", tests, setup, teardown);
}
