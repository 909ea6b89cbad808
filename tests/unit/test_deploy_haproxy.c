/*
 * test_deploy_haproxy.c - HAProxy's runtime API client (haproxy_api.c)
 * against a real Debian haproxy started here on 127.0.0.1 with an admin
 * stats socket: a certificate swapped without a reload (the handshake
 * serves the new leaf, the process is the same), a refused swap (key of
 * another certificate) aborted with HAProxy still serving the old one, a
 * file HAProxy does not know, a socket nobody listens on, and inputs that
 * would break the wire format.
 */
#include <signal.h>

#include <openssl/sha.h>

#include "test_deploy_util.h"

#include "deploy/haproxy_api.h"

struct ht {
	struct t_pki pki;
	unsigned port;
	pid_t haproxy, reloading;  /* reloading: test_haproxy_target_reload's */
	struct ck_ctx ctx;
	char sock[700], crt[700], cfg[700];
};

static void
write_cfg(struct ht *h)
{
	char text[4096];
	int n;

	n = snprintf(text, sizeof(text),
		     "global\n"
		     "    stats socket %s level admin\n"
		     "defaults\n"
		     "    mode http\n"
		     "    timeout connect 5s\n"
		     "    timeout client 5s\n"
		     "    timeout server 5s\n"
		     "frontend fe\n"
		     "    bind 127.0.0.1:%u ssl crt %s\n"
		     "    http-request return status 200 content-type text/plain string ok\n",
		     h->sock, h->port, h->crt);
	t_write(h->pki.dir, "haproxy.cfg", text, (size_t)n);
}

static int
setup(void **state)
{
	struct ht *h = calloc(1, sizeof(*h));
	unsigned char *pem;
	size_t len;
	char *argv[] = { "haproxy", "-db", "-f", h->cfg, NULL };

	assert_non_null(h);
	t_pki_init(&h->pki);
	ck_ctx_init(&h->ctx);
	h->port = t_free_port();
	snprintf(h->sock, sizeof(h->sock), "%s/admin.sock", h->pki.dir);
	snprintf(h->crt, sizeof(h->crt), "%s/site.pem", h->pki.dir);
	snprintf(h->cfg, sizeof(h->cfg), "%s/haproxy.cfg", h->pki.dir);
	pem = t_read(h->pki.dir, "a.pem", &len);
	t_write(h->pki.dir, "site.pem", pem, len);
	free(pem);
	write_cfg(h);
	h->haproxy = t_spawn(h->pki.dir, "haproxy.log", 0, argv);
	assert_true(t_port_wait(h->port, 10000));
	*state = h;
	return 0;
}

static int
teardown(void **state)
{
	struct ht *h = *state;

	t_kill(h->haproxy);
	t_kill(h->reloading);
	t_pki_free(&h->pki);
	free(h);
	return 0;
}

/* What the handshake on the frontend serves (SHA-256), checked against want. */
static void
assert_served(struct ht *h, const char *want)
{
	struct dep_endpoint ep;
	struct ck_err err = {0};
	char text[64], served[65];

	snprintf(text, sizeof(text), "127.0.0.1:%u,sni=localhost", h->port);
	assert_int_equal(dep_endpoint_parse(text, &ep, NULL), CK_OK);
	if (dep_verify_handshake(&h->ctx, &ep, h->pki.ca_file, want, 3000, served, &err) != CK_OK)
		fail_msg("served %s, want %s: %s", served, want, err.msg);
}

static void
render(struct ht *h, EVP_PKEY *key, const struct t_leaf *l, struct ck_buf *b)
{
	ck_buf_init_secret(b, CK_PEM_MAX);
	assert_int_equal(ck_render_combined(key, l->der, l->len, &h->pki.chain, b, NULL), CK_OK);
}

static void
test_haproxy_swap_without_reload(void **state)
{
	struct ht *h = *state;
	struct ck_err err = {0};
	struct ck_buf b;
	char sha1[41], want[41];
	unsigned char md[SHA_DIGEST_LENGTH];

	assert_served(h, h->pki.a.sha256);
	render(h, h->pki.b.key, &h->pki.b, &b);
	assert_int_equal(dep_haproxy_cert_swap(h->sock, h->crt, b.data, b.len, &err), CK_OK);
	ck_buf_cleanup(&b);
	assert_served(h, h->pki.b.sha256);
	/* the same process serves it: no reload, no restart */
	assert_int_equal(kill(h->haproxy, 0), 0);
	assert_int_equal(waitpid(h->haproxy, NULL, WNOHANG), 0);
	assert_int_equal(dep_haproxy_cert_sha1(h->sock, h->crt, sha1, &err), CK_OK);
	SHA1(h->pki.b.der, h->pki.b.len, md);
	ck_hex_encode_upper(md, sizeof(md), want, sizeof(want));
	assert_string_equal(sha1, want);
	/* and back, for the next test */
	render(h, h->pki.a.key, &h->pki.a, &b);
	assert_int_equal(dep_haproxy_cert_swap(h->sock, h->crt, b.data, b.len, &err), CK_OK);
	ck_buf_cleanup(&b);
	assert_served(h, h->pki.a.sha256);
}

static void
test_haproxy_refused_swap_aborted(void **state)
{
	struct ht *h = *state;
	struct ck_err err = {0};
	struct ck_buf b;
	char *reply = NULL;

	/* b's certificate with a's key: HAProxy refuses, we abort */
	render(h, h->pki.a.key, &h->pki.b, &b);
	assert_int_equal(dep_haproxy_cert_swap(h->sock, h->crt, b.data, b.len, &err),
			 CK_ERR_STATE);
	ck_buf_cleanup(&b);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "inconsistencies between private key and certificate"));
	assert_non_null(strstr(err.msg, "keeps serving its previous certificate"));
	assert_served(h, h->pki.a.sha256);
	/* no transaction left open */
	assert_int_equal(dep_haproxy_cmd(h->sock, "show ssl cert", NULL, 0, &reply, NULL), CK_OK);
	assert_null(strchr(reply, '*'));
	free(reply);
	/* a file HAProxy's configuration does not reference */
	memset(&err, 0, sizeof(err));
	render(h, h->pki.b.key, &h->pki.b, &b);
	assert_int_equal(dep_haproxy_cert_swap(h->sock, "/etc/haproxy/other.pem", b.data, b.len,
					       &err), CK_ERR_STATE);
	ck_buf_cleanup(&b);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "not referenced by the configuration"));
	assert_served(h, h->pki.a.sha256);
}

static void
test_haproxy_bad_socket_and_input(void **state)
{
	struct ht *h = *state;
	struct ck_err err = {0};
	char path[800], sha1[41];
	static const char two_blocks[] = "-----BEGIN X-----\nAA==\n\n-----END X-----\n";

	snprintf(path, sizeof(path), "%s/nobody.sock", h->pki.dir);
	assert_int_equal(dep_haproxy_cert_sha1(path, h->crt, sha1, &err), CK_ERR_NETWORK);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "cannot reach HAProxy's runtime API"));
	assert_non_null(strstr(err.msg, "No such file or directory"));
	assert_int_equal(dep_haproxy_cert_swap(h->sock, "/tmp/a b.pem", "x\n", 2, &err),
			 CK_ERR_INVALID_ARG);
	assert_int_equal(dep_haproxy_cert_swap(h->sock, "/tmp/a;show info", "x\n", 2, &err),
			 CK_ERR_INVALID_ARG);
	assert_int_equal(dep_haproxy_cert_swap(h->sock, h->crt, two_blocks,
					       sizeof(two_blocks) - 1, &err), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(err.msg, "empty line"));
	assert_served(h, h->pki.a.sha256);
}

/* ---- the haproxy:FILE target (haproxy.c) ---------------------------------- */

static void
endpoint(struct dep_endpoint *ep, unsigned port)
{
	char text[64];

	snprintf(text, sizeof(text), "127.0.0.1:%u,sni=localhost", port);
	assert_int_equal(dep_endpoint_parse(text, ep, NULL), CK_OK);
}

/* FILE is our link, mode 0600 through it, and holds the combined PEM of (key, l). */
static void
assert_file_holds(struct ht *h, const char *file, EVP_PKEY *key, const struct t_leaf *l)
{
	char link[256], want[256];
	const char *base = strrchr(file, '/') + 1;
	unsigned char *data;
	struct ck_buf b;
	struct stat sb;
	size_t len;
	ssize_t n;

	n = readlink(file, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	snprintf(want, sizeof(want), ".certkeep-%s/live/%s", base, base);
	assert_string_equal(link, want);
	assert_int_equal(stat(file, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(ck_file_read(file, CK_PEM_MAX, &data, &len, NULL), CK_OK);
	render(h, key, l, &b);
	assert_int_equal(len, b.len);
	assert_memory_equal(data, b.data, len);
	ck_buf_cleanup(&b);
	free(data);
}

static void
test_haproxy_target_runtime_api(void **state)
{
	struct ht *h = *state;
	struct dep_material m;
	struct dep_endpoint ep;
	struct dep_spec spec;
	struct dep_job job;
	struct ck_err err = {0};
	char text[2048];
	int rb, rb_ok;

	snprintf(text, sizeof(text), "haproxy:%s,socket=%s", h->crt, h->sock);
	endpoint(&ep, h->port);
	/* a -> b through the runtime API */
	t_material(&h->pki, &h->pki.b, NULL, &m);
	t_job(&job, &spec, text, &h->ctx, &m);
	job.verify = &ep;
	memcpy(job.prev_sha256, h->pki.a.sha256, 65);
	assert_int_equal(t_deploy(&job, &rb, &rb_ok, &err), CK_OK);
	assert_false(rb);
	assert_served(h, h->pki.b.sha256);
	assert_file_holds(h, h->crt, h->pki.b.key, &h->pki.b);
	/* no reload: the process that served a serves b */
	assert_int_equal(kill(h->haproxy, 0), 0);
	assert_int_equal(waitpid(h->haproxy, NULL, WNOHANG), 0);
	/* a set HAProxy refuses (b's certificate with a's key): rolled back, b verified */
	m.key = h->pki.a.key;
	t_job(&job, &spec, text, &h->ctx, &m);
	job.verify = &ep;
	memcpy(job.prev_sha256, h->pki.b.sha256, 65);
	assert_int_equal(t_deploy(&job, &rb, &rb_ok, &err), CK_ERR_STATE);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "runtime API swap"));
	assert_non_null(strstr(err.msg, "inconsistencies between private key and certificate"));
	assert_true(rb);
	assert_true(rb_ok);
	assert_served(h, h->pki.b.sha256);
	assert_file_holds(h, h->crt, h->pki.b.key, &h->pki.b);
	assert_int_equal(waitpid(h->haproxy, NULL, WNOHANG), 0);
	/* and back to a, for whoever runs next */
	t_material(&h->pki, &h->pki.a, NULL, &m);
	t_job(&job, &spec, text, &h->ctx, &m);
	job.verify = &ep;
	assert_int_equal(t_deploy(&job, &rb, &rb_ok, &err), CK_OK);
	assert_served(h, h->pki.a.sha256);
}

/*
 * Waits until the master of a master-worker HAProxy answers on its CLI: a
 * SIGUSR2 sent before that (even after the worker listens and "Loading
 * success." is logged) is lost - the master has no handler yet.
 */
static void
master_ready(const char *sock)
{
	struct timespec pause = { 0, 20 * 1000000 };
	char *reply = NULL;
	int i, ready = 0;

	for (i = 0; i < 500 && !ready; i++) {
		if (dep_haproxy_cmd(sock, "show proc", NULL, 0, &reply, NULL) == CK_OK)
			ready = strstr(reply, "worker") != NULL;
		free(reply);
		reply = NULL;
		if (!ready)
			nanosleep(&pause, NULL);
	}
	assert_true(ready);
}

/* Without socket=: the file, then a reload (here: SIGUSR2 to a master-worker HAProxy). */
static void
test_haproxy_target_reload(void **state)
{
	struct ht *h = *state;
	char cfg[700], crt[700], master[700], text[4096], reload[64];
	char *argv[] = { "haproxy", "-W", "-db", "-S", master, "-f", cfg, NULL };
	struct dep_material m;
	struct dep_endpoint ep;
	struct dep_spec spec;
	struct dep_job job;
	struct ck_err err = {0};
	unsigned char *pem;
	unsigned port = t_free_port();
	size_t len;
	pid_t pid;
	int n, rb, rb_ok;

	snprintf(cfg, sizeof(cfg), "%s/reload.cfg", h->pki.dir);
	snprintf(crt, sizeof(crt), "%s/reload.pem", h->pki.dir);
	snprintf(master, sizeof(master), "%s/master.sock", h->pki.dir);
	pem = t_read(h->pki.dir, "a.pem", &len);
	t_write(h->pki.dir, "reload.pem", pem, len);
	free(pem);
	n = snprintf(text, sizeof(text),
		     "defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n"
		     "    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:%u ssl crt %s\n"
		     "    http-request return status 200 content-type text/plain string ok\n",
		     port, crt);
	t_write(h->pki.dir, "reload.cfg", text, (size_t)n);
	h->reloading = pid = t_spawn(h->pki.dir, "haproxy-reload.log", 0, argv);
	assert_true(t_port_wait(port, 10000));
	master_ready(master);
	endpoint(&ep, port);
	snprintf(text, sizeof(text), "haproxy:%s", crt);
	snprintf(reload, sizeof(reload), "kill -USR2 %d", (int)pid);
	t_material(&h->pki, &h->pki.b, NULL, &m);
	t_job(&job, &spec, text, &h->ctx, &m);
	job.verify = &ep;
	job.reload_cmd = reload;
	memcpy(job.prev_sha256, h->pki.a.sha256, 65);
	if (t_deploy(&job, &rb, &rb_ok, &err) != CK_OK)
		fail_msg("deploy with a reload: %s", err.msg);
	assert_file_holds(h, crt, h->pki.b.key, &h->pki.b);
	/* a reload that fails: the file goes back to b's generation */
	t_material(&h->pki, &h->pki.a, NULL, &m);
	t_job(&job, &spec, text, &h->ctx, &m);
	job.verify = &ep;
	job.reload_cmd = "false";
	memcpy(job.prev_sha256, h->pki.b.sha256, 65);
	assert_int_equal(t_deploy(&job, &rb, &rb_ok, &err), CK_ERR_STATE);
	print_message("%s\n", err.msg);
	assert_true(rb);
	assert_file_holds(h, crt, h->pki.b.key, &h->pki.b);
	t_kill(pid);
	h->reloading = 0;
}

static void
test_haproxy_target_refusals(void **state)
{
	struct ht *h = *state;
	struct dep_material m;
	struct dep_spec spec;
	struct dep_job job;
	struct ck_err err = {0};
	char text[2048], elsewhere[700];
	unsigned char *before, *after;
	size_t blen, alen;

	assert_int_equal(ck_file_read(h->crt, CK_PEM_MAX, &before, &blen, NULL), CK_OK);
	/* a token key: refused at bind time, with the reason */
	t_material(&h->pki, &h->pki.b, "pkcs11:token=ck;id=%01;type=private", &m);
	snprintf(text, sizeof(text), "haproxy:%s", h->crt);
	t_job(&job, &spec, text, &h->ctx, &m);
	assert_int_equal(job.ops->validate(&job, &err), CK_ERR_KEY_NOT_EXPORTABLE);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "HAProxy 2.6 (Debian 12) is built without PKCS#11"));
	assert_non_null(strstr(err.msg, "pkcs11:token=ck"));
	/* socket= and --reload contradict each other */
	t_material(&h->pki, &h->pki.b, NULL, &m);
	snprintf(text, sizeof(text), "haproxy:%s,socket=%s", h->crt, h->sock);
	t_job(&job, &spec, text, &h->ctx, &m);
	job.reload_cmd = "systemctl reload haproxy";
	assert_int_equal(job.ops->validate(&job, &err), CK_ERR_INVALID_ARG);
	/* socket= that is not a socket */
	snprintf(text, sizeof(text), "haproxy:%s,socket=%s", h->crt, h->cfg);
	t_job(&job, &spec, text, &h->ctx, &m);
	assert_int_equal(job.ops->validate(&job, &err), CK_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "is not a unix socket"));
	/* FILE a symlink somewhere else */
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere.pem", h->pki.dir);
	assert_int_equal(symlink(h->cfg, elsewhere), 0);
	snprintf(text, sizeof(text), "haproxy:%s", elsewhere);
	t_job(&job, &spec, text, &h->ctx, &m);
	assert_int_equal(job.ops->validate(&job, &err), CK_ERR_STATE);
	assert_non_null(strstr(err.msg, "which certkeep did not make"));
	/* nothing changed: the served file and the frontend */
	assert_int_equal(ck_file_read(h->crt, CK_PEM_MAX, &after, &alen, NULL), CK_OK);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, alen);
	free(before);
	free(after);
	assert_served(h, h->pki.a.sha256);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_haproxy_swap_without_reload),
		cmocka_unit_test(test_haproxy_refused_swap_aborted),
		cmocka_unit_test(test_haproxy_bad_socket_and_input),
		cmocka_unit_test(test_haproxy_target_runtime_api),
		cmocka_unit_test(test_haproxy_target_reload),
		cmocka_unit_test(test_haproxy_target_refusals),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("deploy_haproxy", tests, setup, teardown);
}
