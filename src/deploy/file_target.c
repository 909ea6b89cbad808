/*
 * file_target.c - a FILE target (haproxy, pkcs12) kept in generations
 * beside the file: DIR/.certkeep-NAME/gen-N/NAME, DIR/.certkeep-NAME/live
 * -> gen-N, DIR/NAME -> .certkeep-NAME/live/NAME.  The directory steps are
 * pem.c's and gen.c's, applied to that root.
 *
 * Must never: replace FILE when it is a symlink another tool made or a
 * directory, write before validate passed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy/file_target.h"

#define FILE_ROOT_PREFIX ".certkeep-"

enum ck_code
dep_file_root(const char *file, char root[DEP_PATH_MAX], const char **base, struct ck_err *err)
{
	const char *slash = strrchr(file, '/');
	size_t dirlen;

	if (slash == NULL || slash[1] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "target file %s has no file name", file);
	if (strlen(slash + 1) > DEP_FILE_NAME_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "target file name %s is longer than %d "
			       "bytes", slash + 1, DEP_FILE_NAME_MAX);
	dirlen = (size_t)(slash - file);
	if (dirlen + strlen(FILE_ROOT_PREFIX) + strlen(slash) + 1 > DEP_PATH_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "target file path %s is too long", file);
	snprintf(root, DEP_PATH_MAX, "%.*s/%s%s", (int)dirlen, file, FILE_ROOT_PREFIX, slash + 1);
	*base = slash + 1;
	return CK_OK;
}

/* FILE's link target, ".certkeep-NAME/live/NAME", into out. */
static void
file_link_target(const char *base, char *out, size_t n)
{
	snprintf(out, n, "%s%s/live/%s", FILE_ROOT_PREFIX, base, base);
}

enum ck_code
dep_file_validate(struct dep_job *job, struct ck_err *err)
{
	char root[DEP_PATH_MAX], want[DEP_PATH_MAX], buf[DEP_PATH_MAX];
	const char *file = job->spec->path, *base = NULL;
	struct dep_spec rspec = *job->spec;
	struct dep_job rjob = *job;
	struct stat sb;
	enum ck_code rc;
	ssize_t len;

	if ((rc = dep_file_root(file, root, &base, err)) != CK_OK)
		return rc;
	memcpy(rspec.path, root, sizeof(rspec.path));
	rjob.spec = &rspec;
	if ((rc = dep_dir_validate(&rjob, err)) != CK_OK)
		return rc;
	if (lstat(file, &sb) != 0)
		return errno == ENOENT ? CK_OK : CK_FAIL(err, CK_ERR_IO, "cannot look at %s: %s",
							 file, strerror(errno));
	if (S_ISREG(sb.st_mode))
		return CK_OK;
	file_link_target(base, want, sizeof(want));
	if (S_ISLNK(sb.st_mode) && (len = readlink(file, buf, sizeof(buf) - 1)) >= 0) {
		buf[len] = '\0';
		if (strcmp(buf, want) == 0)
			return CK_OK;
		return CK_FAIL(err, CK_ERR_STATE, "%s is a symlink to %s, which certkeep did not "
			       "make; nothing was changed: move it away or bind to the real file "
			       "(certkeep links it to %s)", file, buf, want);
	}
	return CK_FAIL(err, CK_ERR_STATE, "%s is neither a file nor a link of certkeep; nothing "
		       "was changed: move it away", file);
}

enum ck_code
dep_file_swap(struct dep_job *job, const struct dep_files *files, struct ck_err *err)
{
	char root[DEP_PATH_MAX], target[DEP_PATH_MAX];
	char gen[DEP_GEN_NAME_MAX + 1], prev[DEP_GEN_NAME_MAX + 1];
	const char *base = NULL;
	enum ck_code rc;

	if ((rc = dep_file_root(job->spec->path, root, &base, err)) != CK_OK)
		return rc;
	if (files->n != 1 || strcmp(files->f[0].name, base) != 0)
		return CK_FAIL(err, CK_ERR_INTERNAL, "a FILE target renders exactly one file");
	CK_FAULT("deploy.swap.begin");
	if ((rc = ck_mkdir_p(root, 0700, err)) != CK_OK ||
	    (rc = dep_gen_write(root, files, gen, sizeof(gen), err)) != CK_OK ||
	    (rc = dep_gen_switch(root, gen, prev, sizeof(prev), err)) != CK_OK)
		return rc;
	snprintf(job->gen_root, sizeof(job->gen_root), "%s", root);
	snprintf(job->gen_new, sizeof(job->gen_new), "%s", gen);
	snprintf(job->gen_prev, sizeof(job->gen_prev), "%s", prev);
	job->switched = 1;
	file_link_target(base, target, sizeof(target));
	if ((rc = dep_gen_link(job->spec->path, target, err)) != CK_OK)
		return rc;
	CK_FAULT("deploy.swap.linked");
	return CK_OK;
}

enum ck_code
dep_file_take(const struct dep_job *job, struct ck_buf *b, struct dep_files *out,
	      struct ck_err *err)
{
	const char *base = strrchr(job->spec->path, '/');
	struct dep_files files;
	unsigned char *data;
	size_t len = 0;
	enum ck_code rc;

	if (base == NULL || (data = ck_buf_take(b, &len)) == NULL) {
		ck_buf_cleanup(b);
		return base == NULL ? CK_FAIL(err, CK_ERR_INVALID_ARG, "target file %s has no "
					      "file name", job->spec->path) : CK_OOM(err);
	}
	memset(&files, 0, sizeof(files));
	if ((rc = dep_files_add_take(&files, base + 1, data, len, 0600, 1, err)) != CK_OK)
		return rc;
	*out = files;
	return CK_OK;
}

enum ck_code
dep_refuse_token_key(const struct dep_material *m, const char *why, struct ck_err *err)
{
	if (m == NULL || m->key != NULL)
		return CK_OK;
	return CK_FAIL(err, CK_ERR_KEY_NOT_EXPORTABLE,
		       "the key of certificate %.16s lives on a token (%s) and cannot be written "
		       "to a file: %s; nothing was changed", m->sha256,
		       m->key_uri ? m->key_uri : "pkcs11", why);
}
