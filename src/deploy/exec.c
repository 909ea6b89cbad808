/*
 * exec.c - the exec:PROG target: runs PROG the way certbot runs a deploy
 * hook, so existing hooks work unchanged.  PROG gets (and gets only):
 *   RENEWED_LINEAGE     a directory holding cert.pem, chain.pem,
 *                       fullchain.pem and privkey.pem (0600) of the new set;
 *                       its last path step is the lineage (else binding) name,
 *                       as certbot's live/NAME
 *   RENEWED_DOMAINS     the certificate's names, space-separated
 *   CERTKEEP_THUMBPRINT its SHA-256 (lower-case hex)
 *   CERTKEEP_BINDING    the binding's name
 *   PATH                a fixed system PATH
 * with no shell, stdin /dev/null, in its own process group, ended at the
 * timeout (deploy --timeout; 30 s by default); a non-zero exit, a signal
 * or the timeout is an error carrying the hook's output.
 *
 * The directory is temporary ("/tmp/certkeep-hook-XXXXXX/NAME", 0700) and
 * removed as soon as the hook has run, whatever it did: certbot's docs tell
 * deploy hooks to copy the files they need, and a key left behind in /tmp
 * would be a copy nobody tracks.  A hook that wants stable paths should use
 * a pem:DIR binding and --reload instead.
 *
 * Rollback: certkeep itself switches nothing for an exec target, so there
 * is nothing of its own to put back; what a failed hook did is the hook's.
 * After a rollback the hook is never run again in the same deploy (the
 * engine's second reload is a no-op here): running it with the new set
 * would repeat what just failed.
 *
 * Must never: pass the key or a password in argv or the environment, run
 * through a shell, leave the temporary directory behind.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "deploy/file_target.h"

#define EXEC_TMP_TEMPLATE "/tmp/certkeep-hook-XXXXXX"
#define EXEC_DOMAINS_MAX 16384 /* RENEWED_DOMAINS, bytes */
#define EXEC_ENV_MAX 8
#define EXEC_OUT_SHOWN 400 /* bytes of the hook's output in an error */

struct exec_state {
	char tmp[sizeof(EXEC_TMP_TEMPLATE)];  /* "" when none */
	char lineage[DEP_PATH_MAX];           /* tmp/NAME */
	int rolled_back;
};

static enum ck_code
exec_validate(struct dep_job *job, struct ck_err *err)
{
	const char *prog = job->spec->path;
	struct stat sb;

	enum ck_code rc;

	if ((rc = dep_refuse_token_key(job->m, "a deploy hook gets privkey.pem in "
				       "RENEWED_LINEAGE", err)) != CK_OK)
		return rc;
	if (stat(prog, &sb) != 0)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "exec:%s: %s", prog, strerror(errno));
	if (!S_ISREG(sb.st_mode) || access(prog, X_OK) != 0)
		return CK_FAIL(err, CK_ERR_PERMISSION, "exec:%s is not an executable file; "
			       "chmod +x it (a script needs a #! line)", prog);
	return CK_OK;
}

/* The directory's name: the lineage, else the binding (both store names). */
static const char *
exec_name(const struct dep_material *m)
{
	if (m->lineage != NULL && ck_str_is_name(m->lineage, DEP_FILE_NAME_MAX))
		return m->lineage;
	if (m->binding != NULL && ck_str_is_name(m->binding, DEP_FILE_NAME_MAX))
		return m->binding;
	return "certkeep";
}

/* Removes the temporary directory and what we wrote into it. */
static void
exec_remove(struct exec_state *s)
{
	static const char *const names[] = { DEP_PEM_CERT, DEP_PEM_CHAIN, DEP_PEM_FULLCHAIN,
					     DEP_PEM_KEY };
	char path[DEP_PATH_MAX + DEP_FILE_NAME_MAX + 2];
	size_t i;

	if (s == NULL || s->tmp[0] == '\0')
		return;
	for (i = 0; i < CK_ARRAY_LEN(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", s->lineage, names[i]);
		unlink(path);
	}
	rmdir(s->lineage);
	rmdir(s->tmp);
	s->tmp[0] = '\0';
}

/* Writes the set into a fresh temporary lineage directory (nothing served changes). */
static enum ck_code
exec_swap(struct dep_job *job, const struct dep_files *files, struct ck_err *err)
{
	struct exec_state *s = calloc(1, sizeof(*s));
	char path[DEP_PATH_MAX + DEP_FILE_NAME_MAX + 2];
	enum ck_code rc = CK_OK;
	size_t i;

	if (s == NULL)
		return CK_OOM(err);
	job->priv = s;
	memcpy(s->tmp, EXEC_TMP_TEMPLATE, sizeof(EXEC_TMP_TEMPLATE));
	if (mkdtemp(s->tmp) == NULL) {
		rc = CK_FAIL(err, CK_ERR_IO, "cannot make a directory for the hook's files in "
			     "/tmp: %s", strerror(errno));
		s->tmp[0] = '\0';
		return rc;
	}
	snprintf(s->lineage, sizeof(s->lineage), "%s/%s", s->tmp, exec_name(job->m));
	if (mkdir(s->lineage, 0700) != 0)
		rc = CK_FAIL(err, CK_ERR_IO, "cannot make %s: %s", s->lineage, strerror(errno));
	for (i = 0; rc == CK_OK && i < files->n; i++) {
		snprintf(path, sizeof(path), "%s/%s", s->lineage, files->f[i].name);
		rc = ck_file_write_atomic(path, files->f[i].data, files->f[i].len,
					  files->f[i].mode, err);
	}
	if (rc != CK_OK)
		exec_remove(s);
	return rc;
}

/* "NAME=value" into v (bounded by max bytes of value). */
static enum ck_code
exec_env_add(struct ck_strv *v, const char *name, const char *value, size_t max,
	     struct ck_err *err)
{
	char *kv = NULL;
	enum ck_code rc;

	if (strlen(value) > max)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "%s would be longer than %zu bytes", name, max);
	if (asprintf(&kv, "%s=%s", name, value) < 0)
		return CK_OOM(err);
	rc = ck_strv_add(v, kv, EXEC_ENV_MAX, max + 64, err);
	free(kv);
	return rc;
}

/* The environment of the hook (no secret in it: the key is a file). */
static enum ck_code
exec_env(const struct dep_job *job, const struct exec_state *s, struct ck_strv *env,
	 struct ck_err *err)
{
	const struct dep_material *m = job->m;
	struct ck_buf domains;
	enum ck_code rc = CK_OK;
	size_t i;

	ck_buf_init(&domains, EXEC_DOMAINS_MAX);
	for (i = 0; rc == CK_OK && i < m->nnames; i++) {
		/* Names from the certificate: only identifiers reach the environment. */
		if (!ck_identifier_valid(m->names[i], 1))
			continue;
		rc = ck_buf_printf(&domains, err, "%s%s", domains.len ? " " : "", m->names[i]);
	}
	if (rc == CK_OK)
		rc = ck_buf_append(&domains, "", 0, err);
	if (rc == CK_OK)
		rc = exec_env_add(env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
				  "/usr/bin:/sbin:/bin", 256, err);
	if (rc == CK_OK)
		rc = exec_env_add(env, "RENEWED_LINEAGE", s->lineage, DEP_PATH_MAX, err);
	if (rc == CK_OK)
		rc = exec_env_add(env, "RENEWED_DOMAINS", (const char *)domains.data,
				  EXEC_DOMAINS_MAX, err);
	if (rc == CK_OK)
		rc = exec_env_add(env, "CERTKEEP_THUMBPRINT", m->sha256, 64, err);
	if (rc == CK_OK)
		rc = exec_env_add(env, "CERTKEEP_BINDING", m->binding, DEP_PATH_MAX, err);
	ck_buf_cleanup(&domains);
	return rc;
}

/* Turns anything but a clean exit into an error that shows the hook's output. */
static enum ck_code
exec_result(const struct dep_job *job, const struct ck_proc_result *r, unsigned timeout,
	    struct ck_err *err)
{
	char how[160], out[EXEC_OUT_SHOWN + 1], raw[EXEC_OUT_SHOWN + 1];
	const char *tail = r->output;
	size_t n;

	if (ck_proc_ok(r)) {
		ck_log(&job->ctx->log, CK_LOG_DEBUG, "deploy hook %s succeeded", job->spec->path);
		return CK_OK;
	}
	ck_proc_describe(r, timeout, how, sizeof(how));
	/* The end of the output says most about why it failed. */
	if (r->output_len > EXEC_OUT_SHOWN)
		tail = r->output + r->output_len - EXEC_OUT_SHOWN;
	/* Its last newline is not part of the message; the others show as '?'. */
	snprintf(raw, sizeof(raw), "%s", tail);
	n = strlen(raw);
	while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == '\r' || raw[n - 1] == ' '))
		raw[--n] = '\0';
	ck_str_printable(out, sizeof(out), raw);
	return CK_FAIL(err, r->cancelled ? CK_ERR_CANCELLED : r->timed_out ? CK_ERR_TIMEOUT :
		       CK_ERR_STATE, "deploy hook '%s' %s%s%s%s", job->spec->path, how,
		       out[0] ? "; its output: " : " (no output)",
		       r->output_len > EXEC_OUT_SHOWN ? "..." : "", out);
}

/* Runs the hook once, then removes its directory. */
static enum ck_code
exec_reload(struct dep_job *job, struct ck_err *err)
{
	struct exec_state *s = job->priv;
	unsigned timeout = job->run_timeout_ms ? job->run_timeout_ms : DEP_RUN_TIMEOUT_MS;
	const char *argv[] = { job->spec->path, NULL };
	struct ck_proc_result r;
	struct ck_strv env = { 0 };
	enum ck_code rc;

	if (s == NULL || s->rolled_back)
		return CK_OK;
	if (s->tmp[0] == '\0')
		return CK_FAIL(err, CK_ERR_INTERNAL, "the hook's files are gone");
	memset(&r, 0, sizeof(r));
	rc = exec_env(job, s, &env, err);
	if (rc == CK_OK)
		rc = ck_proc_run(job->ctx, argv, (const char *const *)env.v, timeout, 0, &r, err);
	if (rc == CK_OK)
		rc = exec_result(job, &r, timeout, err);
	ck_proc_result_cleanup(&r);
	ck_strv_cleanup(&env);
	exec_remove(s);
	return rc;
}

static enum ck_code
exec_rollback(struct dep_job *job, struct ck_err *err)
{
	struct exec_state *s = job->priv;

	if (s != NULL) {
		s->rolled_back = 1;
		exec_remove(s);
	}
	return CK_OK;
}

static void
exec_cleanup(struct dep_job *job)
{
	exec_remove(job->priv);
	free(job->priv);
	job->priv = NULL;
}

const struct dep_ops dep_exec_ops = {
	.kind = DEP_KIND_EXEC,
	.validate = exec_validate,
	.render = dep_dir_render,
	.swap = exec_swap,
	.reload = exec_reload,
	.rollback = exec_rollback,
	.cleanup = exec_cleanup,
};
