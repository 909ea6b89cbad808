/*
 * apache.c - the apache:DIR[,conf=FILE] target: the PEM set of pem.c,
 * then `apachectl -t -f FILE` (Debian's apachectl is apache2ctl) and a
 * graceful restart (`apachectl -f FILE -k graceful`, or the binding's
 * --reload command).
 *
 * Must never: restart before the configuration test passed, run anything
 * through a shell.
 */
#include "deploy/file_target.h"
#include "deploy/target.h"

#define APACHE_CONF_DEFAULT "/etc/apache2/apache2.conf"

static const char *
apache_conf(const struct dep_job *job)
{
	return job->spec->conf[0] ? job->spec->conf : APACHE_CONF_DEFAULT;
}

static enum ck_code
apache_validate(struct dep_job *job, struct ck_err *err)
{
	enum ck_code rc;

	/* mod_ssl could load an engine key (SSLCryptoDevice), but this target writes
	 * SSLCertificateKeyFile's file and no engine configuration: refuse, don't half-do. */
	if ((rc = dep_refuse_token_key(job->m, "the apache: target serves a key file "
				       "(privkey.pem) and configures no OpenSSL engine for "
				       "mod_ssl; bind an nginx: target, which signs on the token",
				       err)) != CK_OK)
		return rc;
	return dep_dir_validate_conf(job, "Apache", apache_conf(job), err);
}

static enum ck_code
apache_check(struct dep_job *job, struct ck_err *err)
{
	const char *argv[] = { "apachectl", "-t", "-f", apache_conf(job), NULL };

	return dep_run(job, "Apache configuration test", argv, err);
}

static enum ck_code
apache_reload(struct dep_job *job, struct ck_err *err)
{
	const char *argv[] = { "apachectl", "-f", apache_conf(job), "-k", "graceful", NULL };

	return dep_run_reload(job, "Apache graceful restart", argv, err);
}

const struct dep_ops dep_apache_ops = {
	.kind = DEP_KIND_APACHE,
	.validate = apache_validate,
	.render = dep_dir_render,
	.swap = dep_dir_swap,
	.check = apache_check,
	.reload = apache_reload,
	.rollback = dep_dir_rollback,
};
