/*
 * pem.c - the pem:DIR target, and the directory steps nginx and apache
 * share with it: cert.pem, chain.pem, fullchain.pem and privkey.pem
 * (0600), readable at those paths in DIR through DIR/live -> gen-N.
 *
 * Must never: write into DIR before every check passed, follow or replace
 * a symlink another tool made, replace the served set before the new one
 * is complete on disk.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "deploy/file_target.h"
#include "deploy/target.h"

/* Every name a directory kind may link in DIR (nginx adds its engine files
 * for a token key), checked before a deploy whichever of them it writes. */
static const char *const stable_names[] = {
	DEP_PEM_CERT, DEP_PEM_CHAIN, DEP_PEM_FULLCHAIN, DEP_PEM_KEY, DEP_NGINX_OPENSSL_CNF,
	DEP_NGINX_SSL_CONF,
};

/* One stable name in DIR: absent, a regular file, or our link. */
static enum ck_code
dir_check_name(const char *dir, const char *name, struct ck_err *err)
{
	char path[DEP_PATH_MAX + DEP_FILE_NAME_MAX + 2], want[DEP_FILE_NAME_MAX + 8];
	char buf[DEP_PATH_MAX];
	struct stat sb;
	ssize_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(want, sizeof(want), "live/%s", name);
	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? CK_OK : CK_FAIL(err, CK_ERR_IO, "cannot look at %s: %s",
							 path, strerror(errno));
	if (S_ISREG(sb.st_mode))
		return CK_OK;
	if (S_ISLNK(sb.st_mode) && (len = readlink(path, buf, sizeof(buf) - 1)) >= 0) {
		buf[len] = '\0';
		if (strcmp(buf, want) == 0)
			return CK_OK;
		return CK_FAIL(err, CK_ERR_STATE, "%s is a symlink to %s, which certkeep did not "
			       "make; move it away (certkeep links it to %s)", path, buf, want);
	}
	return CK_FAIL(err, CK_ERR_STATE, "%s is neither a file nor a link of certkeep; move "
		       "it away", path);
}

/* DIR itself (or its parent when DIR is absent): real directory, writable, room. */
static enum ck_code
dir_check_dir(const char *dir, struct ck_err *err)
{
	char buf[DEP_PATH_MAX], parent[DEP_PATH_MAX];
	const char *where = dir;
	struct statvfs vfs;
	struct stat sb;
	ssize_t len;

	if (lstat(dir, &sb) != 0 && errno == ENOENT) {
		char *slash;

		snprintf(parent, sizeof(parent), "%s", dir);
		slash = strrchr(parent, '/');
		if (slash == parent)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(parent, &sb) != 0 || !S_ISDIR(sb.st_mode))
			return CK_FAIL(err, CK_ERR_NOT_FOUND, "target directory %s does not exist, "
				       "nor its parent: create the parent directory", dir);
		where = parent;
	} else if (S_ISLNK(sb.st_mode)) {
		len = readlink(dir, buf, sizeof(buf) - 1);
		buf[len < 0 ? 0 : len] = '\0';
		return CK_FAIL(err, CK_ERR_STATE, "target directory %s is a symlink (to %s); "
			       "certkeep writes only into a real directory: bind to the real path",
			       dir, buf);
	} else if (!S_ISDIR(sb.st_mode)) {
		return CK_FAIL(err, CK_ERR_STATE, "target %s is not a directory", dir);
	}
	if (access(where, W_OK | X_OK) != 0 ||
	    (statvfs(where, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)))
		return CK_FAIL(err, CK_ERR_PERMISSION, "target directory %s is not writable (%s); "
			       "fix its permissions or mount", where,
			       errno ? strerror(errno) : "read-only file system");
	if (statvfs(where, &vfs) == 0 &&
	    (unsigned long long)vfs.f_bavail * vfs.f_frsize < DEP_DIR_SPACE_MIN)
		return CK_FAIL(err, CK_ERR_IO, "the disk of target directory %s is full (%llu "
			       "bytes free, %d needed); free some space", where,
			       (unsigned long long)vfs.f_bavail * vfs.f_frsize, DEP_DIR_SPACE_MIN);
	return CK_OK;
}

enum ck_code
dep_dir_validate(struct dep_job *job, struct ck_err *err)
{
	const char *dir = job->spec->path;
	char gen[DEP_GEN_NAME_MAX + 1];
	struct ck_err e2;
	enum ck_code rc;
	size_t i;

	errno = 0;
	if ((rc = dir_check_dir(dir, err)) != CK_OK)
		return rc;
	memset(&e2, 0, sizeof(e2));
	rc = dep_gen_current(dir, gen, sizeof(gen), &e2);
	if (rc == CK_ERR_CORRUPT)
		return CK_FAIL(err, CK_ERR_STATE, "%s", e2.msg);
	for (i = 0; i < CK_ARRAY_LEN(stable_names); i++)
		if ((rc = dir_check_name(dir, stable_names[i], err)) != CK_OK)
			return rc;
	return CK_OK;
}

enum ck_code
dep_dir_validate_conf(struct dep_job *job, const char *server, const char *conf,
		      struct ck_err *err)
{
	if (access(conf, R_OK) != 0)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "%s configuration %s cannot be read (%s); "
			       "give the server's main configuration with conf=FILE", server, conf,
			       strerror(errno));
	return dep_dir_validate(job, err);
}

enum ck_code
dep_dir_render(struct dep_job *job, struct dep_files *out, struct ck_err *err)
{
	return dep_render_pem_set(job->m, out, err);
}

enum ck_code
dep_dir_swap(struct dep_job *job, const struct dep_files *files, struct ck_err *err)
{
	const char *dir = job->spec->path;
	char link[DEP_PATH_MAX + DEP_FILE_NAME_MAX + 2], target[DEP_FILE_NAME_MAX + 8];
	char gen[DEP_GEN_NAME_MAX + 1], prev[DEP_GEN_NAME_MAX + 1];
	enum ck_code rc;
	size_t i;

	CK_FAULT("deploy.swap.begin");
	if ((rc = ck_mkdir_p(dir, 0700, err)) != CK_OK ||
	    (rc = dep_gen_write(dir, files, gen, sizeof(gen), err)) != CK_OK ||
	    (rc = dep_gen_switch(dir, gen, prev, sizeof(prev), err)) != CK_OK)
		return rc;
	snprintf(job->gen_root, sizeof(job->gen_root), "%s", dir);
	snprintf(job->gen_new, sizeof(job->gen_new), "%s", gen);
	snprintf(job->gen_prev, sizeof(job->gen_prev), "%s", prev);
	job->switched = 1;
	for (i = 0; i < files->n; i++) {
		snprintf(link, sizeof(link), "%s/%s", dir, files->f[i].name);
		snprintf(target, sizeof(target), "live/%s", files->f[i].name);
		if ((rc = dep_gen_link(link, target, err)) != CK_OK)
			return rc;
	}
	CK_FAULT("deploy.swap.linked");
	return CK_OK;
}

enum ck_code
dep_dir_rollback(struct dep_job *job, struct ck_err *err)
{
	if (!job->switched)
		return CK_OK;
	if (job->gen_prev[0] == '\0')
		return CK_FAIL(err, CK_ERR_STATE, "this was the first deploy to %s: there is no "
			       "previous set to go back to (the new one stays in %s/%s)",
			       job->spec->path, job->spec->path, job->gen_new);
	CK_FAULT("deploy.rollback.begin");
	return dep_gen_switch(job->gen_root, job->gen_prev, NULL, 0, err);
}

/* A pem target reloads only what the binding names (--reload CMD). */
static enum ck_code
pem_reload(struct dep_job *job, struct ck_err *err)
{
	return dep_run_reload(job, "reload command", NULL, err);
}

/* A pem target is the key file: a token key cannot be one. */
static enum ck_code
pem_validate(struct dep_job *job, struct ck_err *err)
{
	enum ck_code rc = dep_refuse_token_key(job->m, "a pem: target is the set with "
					       "privkey.pem; bind an nginx: target, which signs "
					       "on the token", err);

	return rc != CK_OK ? rc : dep_dir_validate(job, err);
}

const struct dep_ops dep_pem_ops = {
	.kind = DEP_KIND_PEM,
	.validate = pem_validate,
	.render = dep_dir_render,
	.swap = dep_dir_swap,
	.reload = pem_reload,
	.rollback = dep_dir_rollback,
};
