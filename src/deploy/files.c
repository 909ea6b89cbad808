/*
 * files.c - what every target kind shares that is not a generation
 * directory: the in-memory file set a render produces, the PEM set, the
 * table of kinds, and running a server's program (config test, reload)
 * without a shell.
 *
 * Must never: keep key text unwiped, run anything through a shell, hand a
 * child our environment.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/render.h"
#include "deploy/target.h"

enum ck_code
dep_files_add_take(struct dep_files *files, const char *name, unsigned char *data, size_t len,
		   mode_t mode, int secret, struct ck_err *err)
{
	struct dep_file *f;
	enum ck_code rc;

	if (files->n >= DEP_FILES_MAX) {
		rc = CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %d files in one target", DEP_FILES_MAX);
		goto fail;
	}
	if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL ||
	    strlen(name) > DEP_FILE_NAME_MAX) {
		rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "bad file name in a rendered set");
		goto fail;
	}
	f = &files->f[files->n++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->data = data;
	f->len = len;
	f->mode = mode;
	f->secret = secret;
	return CK_OK;
fail:
	if (secret)
		ck_secure_free(data, len);
	else
		free(data);
	return rc;
}

void
dep_files_cleanup(struct dep_files *files)
{
	size_t i;

	if (files == NULL)
		return;
	for (i = 0; i < files->n && i < DEP_FILES_MAX; i++) {
		if (files->f[i].secret)
			ck_secure_free(files->f[i].data, files->f[i].len);
		else
			free(files->f[i].data);
	}
	memset(files, 0, sizeof(*files));
}

/* Moves buffer b into files as name (b is reset). */
static enum ck_code
take_buf(struct dep_files *files, const char *name, struct ck_buf *b, mode_t mode,
	 struct ck_err *err)
{
	int secret = b->secret;
	unsigned char *data;
	size_t len = 0;

	if ((data = ck_buf_take(b, &len)) == NULL)
		return CK_OOM(err);
	return dep_files_add_take(files, name, data, len, mode, secret, err);
}

/* The PEM set of m (with privkey.pem when with_key) into *out. */
static enum ck_code
render_set(const struct dep_material *m, int with_key, struct dep_files *out,
	   struct ck_err *err)
{
	struct ck_render_set set;
	struct dep_files files;
	enum ck_code rc;

	memset(&files, 0, sizeof(files));
	rc = ck_render_pem_set(with_key ? m->key : NULL, m->leaf_der, m->leaf_len, m->chain,
			       4 * CK_PEM_MAX, &set, err);
	if (rc != CK_OK)
		return rc;
	if ((rc = take_buf(&files, DEP_PEM_CERT, &set.cert, 0644, err)) != CK_OK ||
	    (rc = take_buf(&files, DEP_PEM_CHAIN, &set.chain, 0644, err)) != CK_OK ||
	    (rc = take_buf(&files, DEP_PEM_FULLCHAIN, &set.fullchain, 0644, err)) != CK_OK ||
	    (with_key && (rc = take_buf(&files, DEP_PEM_KEY, &set.privkey, 0600, err)) != CK_OK))
		dep_files_cleanup(&files);
	ck_render_set_cleanup(&set);
	if (rc == CK_OK)
		*out = files;
	return rc;
}

enum ck_code
dep_render_pem_set(const struct dep_material *m, struct dep_files *out, struct ck_err *err)
{
	if (m->key == NULL)
		return CK_FAIL(err, CK_ERR_KEY_NOT_EXPORTABLE,
			       "the key of certificate %.16s lives on a token (%s) and cannot be "
			       "written to a file; a PEM target needs a key in the store",
			       m->sha256, m->key_uri ? m->key_uri : "no URI");
	return render_set(m, 1, out, err);
}

enum ck_code
dep_render_cert_set(const struct dep_material *m, struct dep_files *out, struct ck_err *err)
{
	return render_set(m, 0, out, err);
}

const struct dep_ops *
dep_ops_for(enum dep_kind k)
{
	static const struct dep_ops *const table[] = {
		[DEP_KIND_PEM] = &dep_pem_ops,
		[DEP_KIND_NGINX] = &dep_nginx_ops,
		[DEP_KIND_APACHE] = &dep_apache_ops,
		[DEP_KIND_HAPROXY] = &dep_haproxy_ops,
		[DEP_KIND_PKCS12] = &dep_pkcs12_ops,
		[DEP_KIND_EXEC] = &dep_exec_ops,
	};

	if ((size_t)k < CK_ARRAY_LEN(table))
		return table[k];
	return NULL;
}

enum ck_code
dep_cmd_split(const char *cmd, struct ck_strv *out, struct ck_err *err)
{
	struct ck_strv v = { 0 };
	const char *p;
	enum ck_code rc = CK_OK;

	if (cmd == NULL || strlen(cmd) > DEP_RELOAD_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the reload command is empty or longer than "
			       "%d bytes", DEP_RELOAD_MAX);
	for (p = cmd; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "the reload command holds a control byte");
	for (p = cmd; rc == CK_OK && *p;) {
		size_t n = strcspn(p, " \t");
		char word[DEP_RELOAD_MAX + 1];

		if (n > 0) {
			memcpy(word, p, n);
			word[n] = '\0';
			rc = ck_strv_add(&v, word, DEP_ARGV_MAX, DEP_RELOAD_MAX, err);
		}
		p += n;
		p += strspn(p, " \t");
	}
	if (rc == CK_OK && v.n == 0)
		rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "the reload command is empty");
	if (rc != CK_OK) {
		ck_strv_cleanup(&v);
		return rc;
	}
	*out = v;
	return CK_OK;
}

enum ck_code
dep_run(const struct dep_job *job, const char *step, const char *const *argv, struct ck_err *err)
{
	const char *envp[DEP_ENV_MAX + 2] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
					      "/usr/bin:/sbin:/bin" };
	struct ck_proc_result r;
	unsigned timeout = job->run_timeout_ms ? job->run_timeout_ms : DEP_RUN_TIMEOUT_MS;
	char how[160], out[320];
	enum ck_code rc;
	size_t n;

	for (n = 0; job->env != NULL && job->env[n] != NULL && n < DEP_ENV_MAX; n++)
		envp[n + 1] = job->env[n];
	memset(&r, 0, sizeof(r));
	rc = ck_proc_run(job->ctx, argv, envp, timeout, 0, &r, err);
	if (rc != CK_OK) {
		ck_err_prefix(err, "%s", step);
		return rc;
	}
	if (!ck_proc_ok(&r)) {
		ck_proc_describe(&r, timeout, how, sizeof(how));
		ck_str_printable(out, sizeof(out), r.output);
		rc = CK_FAIL(err, r.cancelled ? CK_ERR_CANCELLED : r.timed_out ? CK_ERR_TIMEOUT :
			     CK_ERR_STATE, "%s: '%s' %s%s%s", step, argv[0], how,
			     out[0] ? ": " : "", out);
	} else {
		ck_log(&job->ctx->log, CK_LOG_DEBUG, "%s: '%s' succeeded", step, argv[0]);
	}
	ck_proc_result_cleanup(&r);
	return rc;
}

enum ck_code
dep_run_reload(const struct dep_job *job, const char *step, const char *const *dflt,
	       struct ck_err *err)
{
	struct ck_strv v = { 0 };
	enum ck_code rc;

	if (job->reload_cmd == NULL)
		return dflt == NULL ? CK_OK : dep_run(job, step, dflt, err);
	if ((rc = dep_cmd_split(job->reload_cmd, &v, err)) == CK_OK)
		rc = dep_run(job, "reload command", (const char *const *)v.v, err);
	ck_strv_cleanup(&v);
	return rc;
}
