/*
 * pkcs12.c - the pkcs12:FILE[,compat=legacy][,password-file=F] target, for
 * Java- and Windows-style consumers that read one PKCS#12 file: leaf,
 * chain and key (0600), modern (AES-256, SHA-256 MAC) by default, legacy
 * (3DES, SHA-1 MAC: Windows Server 2016 and older, old Java) on request,
 * protected by the password in F (read when rendering, wiped after; never
 * in argv, the environment or a message).  Without password-file= the file
 * has an empty password: readable by anyone who can read it, which mode
 * 0600 limits to its owner.  Kept in generations beside FILE
 * (file_target.c); the binding's --reload CMD, if any, makes the consumer
 * read it.
 *
 * Must never: write a PKCS#12 file protected by an empty password when a
 * password file was named (an empty file is a mistake, not a wish).
 */
#include <string.h>

#include "crypto/render.h"
#include "deploy/file_target.h"

#define PKCS12_PASSWORD_MAX 1024
#define PKCS12_FILE_MAX (4 * CK_PEM_MAX)

/* The password of the spec: "" without password-file=, else F's first line (wipe it). */
static enum ck_code
pkcs12_password(const struct dep_spec *s, char **out, struct ck_err *err)
{
	enum ck_code rc;

	if (s->password_file[0] == '\0')
		return ck_strdup("", out, err);
	if ((rc = ck_secret_read(s->password_file, PKCS12_PASSWORD_MAX, out, err)) != CK_OK) {
		ck_err_prefix(err, "password-file=%s", s->password_file);
		return rc;
	}
	if ((*out)[0] != '\0')
		return CK_OK;
	ck_secure_strfree(*out);
	*out = NULL;
	return CK_FAIL(err, CK_ERR_INVALID_ARG, "password-file=%s is empty, which would leave "
		       "the key unprotected; nothing was changed: put the password in it, or drop "
		       "password-file= for a file with an empty password on purpose",
		       s->password_file);
}

static enum ck_code
pkcs12_validate(struct dep_job *job, struct ck_err *err)
{
	char *pw = NULL;
	enum ck_code rc;

	if ((rc = dep_refuse_token_key(job->m, "a PKCS#12 file carries the private key itself",
				       err)) != CK_OK)
		return rc;
	if ((rc = pkcs12_password(job->spec, &pw, err)) != CK_OK)
		return rc;
	ck_secure_strfree(pw);
	return dep_file_validate(job, err);
}

static enum ck_code
pkcs12_render(struct dep_job *job, struct dep_files *out, struct ck_err *err)
{
	const struct dep_material *m = job->m;
	struct ck_buf b;
	char *pw = NULL;
	enum ck_code rc;

	if ((rc = dep_refuse_token_key(m, "a PKCS#12 file carries the private key itself",
				       err)) != CK_OK ||
	    (rc = pkcs12_password(job->spec, &pw, err)) != CK_OK)
		return rc;
	ck_buf_init_secret(&b, PKCS12_FILE_MAX);
	rc = ck_render_pkcs12(m->key, m->leaf_der, m->leaf_len, m->chain, pw,
			      m->lineage ? m->lineage : m->binding, job->spec->compat, &b, err);
	ck_secure_strfree(pw);
	if (rc != CK_OK) {
		ck_buf_cleanup(&b);
		return rc;
	}
	return dep_file_take(job, &b, out, err);
}

/* A consumer reloads only when the binding names how (--reload CMD). */
static enum ck_code
pkcs12_reload(struct dep_job *job, struct ck_err *err)
{
	return dep_run_reload(job, "reload command", NULL, err);
}

const struct dep_ops dep_pkcs12_ops = {
	.kind = DEP_KIND_PKCS12,
	.validate = pkcs12_validate,
	.render = pkcs12_render,
	.swap = dep_file_swap,
	.reload = pkcs12_reload,
	.rollback = dep_dir_rollback,
};
