/*
 * test_deploy_util.h - helpers for the deploy unit tests that talk to real
 * servers on 127.0.0.1: a throw-away PKI written to files (CA, two leaves
 * for localhost/127.0.0.1, their keys, combined PEMs), a free port, a
 * server process started with its own process group and ended by its pid,
 * and a wait until a port accepts.  static inline, like the others.
 */
#ifndef CK_TEST_DEPLOY_UTIL_H
#define CK_TEST_DEPLOY_UTIL_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "test_crypto_util.h"

#include "crypto/render.h"
#include "deploy/target.h"

/* One leaf: its DER, SHA-256, and the files cert/key/combined in the test dir. */
struct t_leaf {
	EVP_PKEY *key;
	X509 *x;
	unsigned char *der;
	size_t len;
	char sha256[65];
};

struct t_pki {
	char *dir;
	EVP_PKEY *ca_key, *other_ca_key;
	X509 *ca, *other_ca;
	unsigned char *ca_der;
	size_t ca_len;
	struct ck_der_list chain;   /* the CA, as the leaves' chain */
	struct t_leaf a, b;
	char ca_file[600], other_ca_file[600];
};

static inline void
t_leaf_make(struct t_pki *p, struct t_leaf *l, const char *stem, long serial)
{
	char name[64];
	struct ck_buf b;

	l->key = t_key(CK_KEY_EC256);
	l->x = t_make_cert(l->key, p->ca, p->ca_key, "localhost", 0, "DNS:localhost,IP:127.0.0.1",
			   serial, time(NULL) - 3600, time(NULL) + 86400);
	l->der = t_cert_der(l->x, &l->len);
	ck_sha256_hex(l->der, l->len, l->sha256);
	ck_buf_init_secret(&b, CK_PEM_MAX);
	assert_int_equal(ck_render_combined(l->key, l->der, l->len, &p->chain, &b, NULL), CK_OK);
	snprintf(name, sizeof(name), "%s.pem", stem);
	t_write(p->dir, name, b.data, b.len);
	ck_buf_cleanup(&b);
}

static inline void
t_pki_init(struct t_pki *p)
{
	struct t_text t = {0};

	memset(p, 0, sizeof(*p));
	p->dir = t_mkdtemp();
	p->ca_key = t_key(CK_KEY_EC256);
	p->ca = t_make_cert(p->ca_key, NULL, NULL, "Deploy Test CA", 1, NULL, 1,
			    time(NULL) - 7200, time(NULL) + 86400 * 10);
	p->other_ca_key = t_key(CK_KEY_EC256);
	p->other_ca = t_make_cert(p->other_ca_key, NULL, NULL, "Other CA", 1, NULL, 1,
				  time(NULL) - 7200, time(NULL) + 86400 * 10);
	p->ca_der = t_cert_der(p->ca, &p->ca_len);
	p->chain.items = calloc(1, sizeof(*p->chain.items));
	assert_non_null(p->chain.items);
	p->chain.items[0].data = malloc(p->ca_len);
	assert_non_null(p->chain.items[0].data);
	memcpy(p->chain.items[0].data, p->ca_der, p->ca_len);
	p->chain.items[0].len = p->ca_len;
	p->chain.n = 1;
	t_text_add_cert(&t, p->ca);
	t_write(p->dir, "ca.pem", t.s, t.len);
	free(t.s);
	memset(&t, 0, sizeof(t));
	t_text_add_cert(&t, p->other_ca);
	t_write(p->dir, "other-ca.pem", t.s, t.len);
	free(t.s);
	snprintf(p->ca_file, sizeof(p->ca_file), "%s/ca.pem", p->dir);
	snprintf(p->other_ca_file, sizeof(p->other_ca_file), "%s/other-ca.pem", p->dir);
	t_leaf_make(p, &p->a, "a", 10);
	t_leaf_make(p, &p->b, "b", 11);
}

static inline void
t_leaf_free(struct t_leaf *l)
{
	EVP_PKEY_free(l->key);
	X509_free(l->x);
	free(l->der);
}

static inline void
t_pki_free(struct t_pki *p)
{
	EVP_PKEY_free(p->ca_key);
	EVP_PKEY_free(p->other_ca_key);
	X509_free(p->ca);
	X509_free(p->other_ca);
	free(p->ca_der);
	ck_der_list_cleanup(&p->chain);
	t_leaf_free(&p->a);
	t_leaf_free(&p->b);
	t_rmdir(p->dir);
}

/* A TCP port on 127.0.0.1 nobody listens on now (bound to 0, then let go). */
static inline unsigned
t_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* 1 once something accepts on 127.0.0.1:port, 0 after ms. */
static inline int
t_port_wait(unsigned port, int ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timespec pause = { 0, 20 * 1000000 };
	int fd, i;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < ms / 20; i++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return 1;
		}
		close(fd);
		nanosleep(&pause, NULL);
	}
	return 0;
}

/* Starts argv (output to DIR/log_name) after delay_ms, in its own process group. */
static inline pid_t
t_spawn(const char *dir, const char *log_name, unsigned delay_ms, char *const argv[])
{
	char log[700];
	pid_t pid;
	int fd;

	snprintf(log, sizeof(log), "%s/%s", dir, log_name);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct timespec d = { delay_ms / 1000, (long)(delay_ms % 1000) * 1000000 };

		setpgid(0, 0);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		nanosleep(&d, NULL);
		execvp(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

/* Ends the process group of pid (started by t_spawn) and reaps pid. */
static inline void
t_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(-pid, SIGTERM);
	waitpid(pid, NULL, 0);
	kill(-pid, SIGKILL);
}

/* ---- driving one kind's ops the way the engine does ------------------------ */

static const char *const t_names[] = { "localhost", "127.0.0.1", NULL };

/* The material for leaf l (key in the store unless token_uri). */
static inline void
t_material(struct t_pki *p, struct t_leaf *l, const char *token_uri, struct dep_material *m)
{
	memset(m, 0, sizeof(*m));
	m->binding = "web";
	m->lineage = "www";
	m->cert_id = 1;
	memcpy(m->sha256, l->sha256, sizeof(m->sha256));
	m->leaf_der = l->der;
	m->leaf_len = l->len;
	m->chain = &p->chain;
	m->key = token_uri ? NULL : l->key;
	m->key_uri = token_uri;
	m->names = t_names;
	m->nnames = 2;
	m->ca_bundle = p->ca_file;
}

/* A job for spec text (parsed) and material m. */
static inline void
t_job(struct dep_job *job, struct dep_spec *spec, const char *text, const struct ck_ctx *ctx,
      const struct dep_material *m)
{
	memset(job, 0, sizeof(*job));
	assert_int_equal(dep_spec_parse(text, spec, NULL), CK_OK);
	job->ctx = ctx;
	job->spec = spec;
	job->ops = dep_ops_for(spec->kind);
	assert_non_null(job->ops);
	job->m = m;
}

/* One step of the job, skipped when the kind has none. */
static inline enum ck_code
t_step(struct dep_job *job, const char *expect, int verify_step, struct ck_err *err)
{
	const struct dep_ops *o = job->ops;

	if (verify_step) {
		if (job->verify == NULL || expect[0] == '\0')
			return CK_OK;
		return dep_verify_handshake(job->ctx, job->verify, job->m->ca_bundle, expect,
					    DEP_VERIFY_BUDGET_MS, NULL, err);
	}
	return o->reload ? o->reload(job, err) : CK_OK;
}

/*
 * The engine's order for one kind: validate, render, swap, check, reload,
 * verify (handshake with job->verify); a failure after the swap rolls back,
 * reloads and verifies job->prev_sha256.  *rolled_back says whether that
 * ran and *rollback_ok whether it was verified.  Returns the first failure.
 */
static inline enum ck_code
t_deploy(struct dep_job *job, int *rolled_back, int *rollback_ok, struct ck_err *err)
{
	const struct dep_ops *o = job->ops;
	struct dep_files files = { 0 };
	struct ck_err e2 = { 0 };
	enum ck_code rc;

	*rolled_back = *rollback_ok = 0;
	if ((rc = o->validate(job, err)) != CK_OK || (rc = o->render(job, &files, err)) != CK_OK)
		goto out;
	rc = o->swap(job, &files, err);
	if (rc == CK_OK && o->check != NULL)
		rc = o->check(job, err);
	if (rc == CK_OK)
		rc = t_step(job, NULL, 0, err);
	if (rc == CK_OK)
		rc = t_step(job, job->m->sha256, 1, err);
	if (rc != CK_OK) {
		*rolled_back = 1;
		*rollback_ok = o->rollback(job, &e2) == CK_OK && t_step(job, NULL, 0, &e2) == CK_OK &&
			       t_step(job, job->prev_sha256, 1, &e2) == CK_OK;
	}
out:
	dep_files_cleanup(&files);
	if (o->cleanup != NULL)
		o->cleanup(job);
	return rc;
}

/* 1 if path exists (lstat). */
static inline int
t_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

#endif
