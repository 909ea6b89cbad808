/*
 * nginx.c - the nginx:DIR[,conf=FILE] target: the PEM set of pem.c, then
 * `nginx -t -c FILE` against the new files and a graceful reload
 * (`nginx -s reload -c FILE`, or the binding's --reload command).
 *
 * A reload is asynchronous: nginx's master starts new workers, then tells
 * the old ones to stop accepting; until an old worker has seen that, a new
 * connection may still reach it and get the old certificate.  So the
 * reload step waits (bounded) until every worker the master had before
 * the reload has exited or says it is shutting down; only then does the
 * engine's handshake check mean what it says.
 *
 * A key on a PKCS#11 token is served through OpenSSL's pkcs11 engine
 * (nginx_token.c): the set then has no privkey.pem but the engine's
 * openssl.cnf and an nginx-ssl.conf to include, and `nginx -t` and the
 * reload run with OPENSSL_CONF naming that openssl.cnf.
 *
 * Must never: reload before the configuration test passed, run anything
 * through a shell.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/target.h"

#define NGINX_CONF_DEFAULT "/etc/nginx/nginx.conf"
#define NGINX_PID_DEFAULT "/run/nginx.pid"   /* Debian's --pid-path */
#define NGINX_OLD_MAX 256                    /* workers remembered across a reload */
#define NGINX_SETTLE_MS 10000                /* how long old workers get to stop accepting */
#define NGINX_NO_NEW_MS 2000                 /* no new worker by then: not this master's reload */

static const char *
nginx_conf(const struct dep_job *job)
{
	return job->spec->conf[0] ? job->spec->conf : NGINX_CONF_DEFAULT;
}

static enum ck_code
nginx_validate(struct dep_job *job, struct ck_err *err)
{
	enum ck_code rc = dep_nginx_token_prepare(job, err);

	return rc != CK_OK ? rc : dep_dir_validate_conf(job, "nginx", nginx_conf(job), err);
}

/* The PEM set; for a token key the certificates and the engine's files (nginx_token.c). */
static enum ck_code
nginx_render(struct dep_job *job, struct dep_files *out, struct ck_err *err)
{
	return job->m->key == NULL ? dep_nginx_token_render(job, out, err)
				   : dep_dir_render(job, out, err);
}

static enum ck_code
nginx_check(struct dep_job *job, struct ck_err *err)
{
	const char *argv[] = { "nginx", "-t", "-q", "-c", nginx_conf(job), NULL };

	return dep_run(job, "nginx configuration test", argv, err);
}

/* The master's pid: the main configuration's top-level `pid FILE;`, else Debian's default. 0 = unknown. */
static pid_t
nginx_master(const char *conf)
{
	char line[1024], pidfile[1024] = NGINX_PID_DEFAULT;
	FILE *fp = fopen(conf, "r");
	int depth = 0;
	long pid = 0;

	while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
		char *p = line + strspn(line, " \t"), path[1024];

		if (depth == 0 && sscanf(p, "pid %1023[^; \t\n]", path) == 1)
			snprintf(pidfile, sizeof(pidfile), "%s", path);
		for (; *p != '\0' && *p != '#'; p++)
			depth += *p == '{' ? 1 : *p == '}' ? -1 : 0;
	}
	if (fp != NULL)
		fclose(fp);
	if ((fp = fopen(pidfile, "r")) == NULL)
		return 0;
	if (fscanf(fp, "%ld", &pid) != 1 || pid <= 1)
		pid = 0;
	fclose(fp);
	return (pid_t)pid;
}

/* The master's children now (workers, cache processes); how many, at most max. */
static size_t
nginx_children(pid_t master, pid_t *out, size_t max)
{
	char path[64];
	size_t n = 0;
	long pid;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)master, (long)master);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	while (n < max && fscanf(fp, "%ld", &pid) == 1)
		out[n++] = (pid_t)pid;
	fclose(fp);
	return n;
}

/* 1 if master has a child that is not in old[0..n) (a worker of the new configuration). */
static int
nginx_has_new(pid_t master, const pid_t *old, size_t n)
{
	pid_t now[NGINX_OLD_MAX];
	size_t k = nginx_children(master, now, NGINX_OLD_MAX), i, j;

	for (i = 0; i < k; i++) {
		for (j = 0; j < n && old[j] != now[i]; j++)
			;
		if (j == n)
			return 1;
	}
	return 0;
}

/* 1 while pid is still master's child and not yet shutting down (it may accept). */
static int
nginx_old_accepting(pid_t master, pid_t pid)
{
	char path[64], buf[512];
	size_t got;
	long ppid = 0;
	char state = 'Z';
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	got = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[got] = '\0';
	if (strrchr(buf, ')') == NULL ||
	    sscanf(strrchr(buf, ')') + 1, " %c %ld", &state, &ppid) != 2 || state == 'Z' ||
	    ppid != (long)master)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	got = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[got] = '\0';
	return strstr(buf, "shutting down") == NULL;
}

static enum ck_code
nginx_reload(struct dep_job *job, struct ck_err *err)
{
	const char *argv[] = { "nginx", "-s", "reload", "-c", nginx_conf(job), NULL };
	pid_t master = nginx_master(nginx_conf(job)), old[NGINX_OLD_MAX];
	size_t nold = master > 0 ? nginx_children(master, old, NGINX_OLD_MAX) : 0, i;
	long long start, until;
	int fresh = 0;
	enum ck_code rc;

	if ((rc = dep_run_reload(job, "nginx reload", argv, err)) != CK_OK || nold == 0)
		return rc;
	start = ck_mono_ms();
	until = start + NGINX_SETTLE_MS;
	for (i = 0; i < nold && ck_mono_ms() < until;) {
		if (!nginx_old_accepting(master, old[i])) {
			i++;
			continue;
		}
		/* No new worker after a while: the reload went to another server
		 * (a --reload command for elsewhere); the handshake check decides. */
		if (!fresh && !(fresh = nginx_has_new(master, old, nold)) &&
		    ck_mono_ms() - start > NGINX_NO_NEW_MS)
			return CK_OK;
		if ((rc = ck_cancel_check(job->ctx, "waiting for nginx's old workers", err)) != CK_OK)
			return rc;
		ck_sleep_ms(job->ctx, 20);
	}
	if (i < nold)
		ck_log(&job->ctx->log, CK_LOG_WARN, "nginx's worker %ld still accepts %d s after the "
		       "reload; the handshake check decides", (long)old[i], NGINX_SETTLE_MS / 1000);
	return CK_OK;
}

const struct dep_ops dep_nginx_ops = {
	.kind = DEP_KIND_NGINX,
	.validate = nginx_validate,
	.render = nginx_render,
	.swap = dep_dir_swap,
	.check = nginx_check,
	.reload = nginx_reload,
	.rollback = dep_dir_rollback,
	.cleanup = dep_nginx_token_cleanup,
};
