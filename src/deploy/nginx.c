/*
 * nginx.c - the nginx:DIR[,conf=FILE] target: the PEM set of pem.c, then
 * `nginx -t -c FILE` against the new files and a graceful reload
 * (`nginx -s reload -c FILE`, or the binding's --reload command).
 *
 * Must never: reload before the configuration test passed, run anything
 * through a shell.
 */
#include "deploy/target.h"

#define NGINX_CONF_DEFAULT "/etc/nginx/nginx.conf"

static const char *
nginx_conf(const struct dep_job *job)
{
	return job->spec->conf[0] ? job->spec->conf : NGINX_CONF_DEFAULT;
}

static enum ck_code
nginx_validate(struct dep_job *job, struct ck_err *err)
{
	return dep_dir_validate_conf(job, "nginx", nginx_conf(job), err);
}

static enum ck_code
nginx_check(struct dep_job *job, struct ck_err *err)
{
	const char *argv[] = { "nginx", "-t", "-q", "-c", nginx_conf(job), NULL };

	return dep_run(job, "nginx configuration test", argv, err);
}

static enum ck_code
nginx_reload(struct dep_job *job, struct ck_err *err)
{
	const char *argv[] = { "nginx", "-s", "reload", "-c", nginx_conf(job), NULL };

	return dep_run_reload(job, "nginx reload", argv, err);
}

const struct dep_ops dep_nginx_ops = {
	.kind = DEP_KIND_NGINX,
	.validate = nginx_validate,
	.render = dep_dir_render,
	.swap = dep_dir_swap,
	.check = nginx_check,
	.reload = nginx_reload,
	.rollback = dep_dir_rollback,
};
