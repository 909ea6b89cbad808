/*
 * gen.c - generation directories: each deploy writes a complete set into
 * a new R/gen-N, makes it durable, and switches R/live to it with one
 * rename(2) of a symlink; the stable names (R/cert.pem) are symlinks
 * through live, so a reader never sees a key of one generation beside a
 * certificate of another.  The previous generation stays for rollback;
 * older ones are pruned.
 *
 * Must never: write into an existing generation, follow a symlink it did
 * not make, remove anything that is not a gen-N directory of ours (or a
 * temp link of ours), delete the old set before the new one is live.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy/target.h"

#define GEN_PREFIX "gen-"
#define GEN_LIVE "live"
#define GEN_TMP_PREFIX ".certkeep-link-"
#define GEN_SCAN_MAX 10000 /* entries of R looked at */

/* N of a "gen-N" name (N decimal, no sign or leading zero), else -1. */
static long
gen_number(const char *name)
{
	char *end = NULL;
	long n;

	if (strncmp(name, GEN_PREFIX, 4) != 0 || name[4] < '1' || name[4] > '9')
		return -1;
	n = strtol(name + 4, &end, 10);
	if (*end != '\0' || n <= 0 || n > 1000000000L)
		return -1;
	return n;
}

/* fsync of a directory (or file) by path. */
static enum ck_code
gen_fsync_path(const char *path, struct ck_err *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	enum ck_code rc = CK_OK;

	if (fd < 0)
		return CK_FAIL(err, CK_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	if (fsync(fd) != 0)
		rc = CK_FAIL(err, CK_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
	close(fd);
	return rc;
}

/* The highest N of R's gen-N entries into *max (0 if none). */
static enum ck_code
gen_highest(const char *root, long *max, struct ck_err *err)
{
	DIR *d = opendir(root);
	struct dirent *e;
	size_t seen = 0;
	long n, best = 0;

	if (d == NULL)
		return CK_FAIL(err, errno == EACCES ? CK_ERR_PERMISSION : CK_ERR_IO,
			       "cannot read directory %s: %s", root, strerror(errno));
	while ((e = readdir(d)) != NULL && seen++ < GEN_SCAN_MAX)
		if ((n = gen_number(e->d_name)) > best)
			best = n;
	closedir(d);
	*max = best;
	return CK_OK;
}

/* Writes one file into the directory dfd, created with its mode, fsynced. */
static enum ck_code
gen_write_file(int dfd, const char *dir, const struct dep_file *f, struct ck_err *err)
{
	size_t off = 0;
	ssize_t w;
	int fd;

	fd = openat(dfd, f->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, f->mode);
	if (fd < 0)
		return CK_FAIL(err, errno == EACCES ? CK_ERR_PERMISSION : CK_ERR_IO,
			       "cannot create %s/%s: %s", dir, f->name, strerror(errno));
	while (off < f->len) {
		w = write(fd, f->data + off, f->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (off < f->len || fsync(fd) != 0) {
		int e = errno;

		close(fd);
		return CK_FAIL(err, CK_ERR_IO, "cannot write %s/%s: %s", dir, f->name,
			       strerror(e ? e : EIO));
	}
	if (close(fd) != 0)
		return CK_FAIL(err, CK_ERR_IO, "cannot write %s/%s: %s", dir, f->name,
			       strerror(errno));
	CK_FAULT("deploy.gen.file");
	return CK_OK;
}

/* Removes a generation directory of ours: its regular files, then itself. */
static void
gen_remove(const char *root, const char *gen)
{
	char path[DEP_PATH_MAX + DEP_GEN_NAME_MAX + 2];
	struct dirent *e;
	DIR *d;
	int dfd;

	snprintf(path, sizeof(path), "%s/%s", root, gen);
	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")))
			(void)unlinkat(dfd, e->d_name, 0);
	closedir(d);
	(void)rmdir(path);
}

enum ck_code
dep_gen_write(const char *root, const struct dep_files *files, char *gen, size_t n,
	      struct ck_err *err)
{
	char name[DEP_GEN_NAME_MAX + 1], path[DEP_PATH_MAX + DEP_GEN_NAME_MAX + 2];
	enum ck_code rc;
	long next = 0;
	size_t i;
	int dfd, tries;

	if ((rc = gen_highest(root, &next, err)) != CK_OK)
		return rc;
	for (tries = 0; tries < 16; tries++) {
		snprintf(name, sizeof(name), GEN_PREFIX "%ld", next + 1 + tries);
		snprintf(path, sizeof(path), "%s/%s", root, name);
		if (mkdir(path, 0700) == 0)
			break;
		if (errno != EEXIST)
			return CK_FAIL(err, errno == EACCES ? CK_ERR_PERMISSION : CK_ERR_IO,
				       "cannot create %s: %s; the served files were not touched",
				       path, strerror(errno));
	}
	if (tries == 16)
		return CK_FAIL(err, CK_ERR_IO, "cannot create a new generation in %s", root);
	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = CK_FAIL(err, CK_ERR_IO, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	for (i = 0; i < files->n && rc == CK_OK; i++)
		rc = gen_write_file(dfd, path, &files->f[i], err);
	if (rc == CK_OK && fsync(dfd) != 0)
		rc = CK_FAIL(err, CK_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
	close(dfd);
	if (rc == CK_OK)
		rc = gen_fsync_path(root, err);
out:
	if (rc != CK_OK) {
		gen_remove(root, name);
		ck_err_prefix(err, "writing the new set (the served files were not touched)");
		return rc;
	}
	CK_FAULT("deploy.gen.written");
	snprintf(gen, n, "%s", name);
	return CK_OK;
}

enum ck_code
dep_gen_current(const char *root, char *gen, size_t n, struct ck_err *err)
{
	char path[DEP_PATH_MAX + 8], buf[DEP_GEN_NAME_MAX + 2];
	struct stat sb;
	ssize_t len;

	snprintf(path, sizeof(path), "%s/" GEN_LIVE, root);
	len = readlink(path, buf, sizeof(buf) - 1);
	if (len < 0 && errno == ENOENT)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "%s does not exist (nothing deployed yet)",
			       path);
	if (len < 0 || (size_t)len >= sizeof(buf) - 1) {
		if (len < 0 && errno == EINVAL)
			return CK_FAIL(err, CK_ERR_CORRUPT, "%s is not a symlink: certkeep did not "
				       "make it; move it away", path);
		return CK_FAIL(err, CK_ERR_CORRUPT, "cannot read the link %s", path);
	}
	buf[len] = '\0';
	snprintf(path, sizeof(path), "%s/%s", root, buf);
	if (gen_number(buf) < 0 || lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return CK_FAIL(err, CK_ERR_CORRUPT, "%s/" GEN_LIVE " points at '%s', not a "
			       "generation directory of certkeep", root, buf);
	snprintf(gen, n, "%s", buf);
	return CK_OK;
}

/* Makes a fresh symlink at dir/TMP pointing at target and renames it over path. */
static enum ck_code
gen_link_swap(const char *path, const char *target, struct ck_err *err)
{
	char tmp[DEP_PATH_MAX + 64];
	const char *slash = strrchr(path, '/');
	int len = slash ? (int)(slash - path) : 1;

	snprintf(tmp, sizeof(tmp), "%.*s/" GEN_TMP_PREFIX "%ld", len, slash ? path : ".",
		 (long)getpid());
	(void)unlink(tmp);
	if (symlink(target, tmp) != 0)
		return CK_FAIL(err, errno == EACCES ? CK_ERR_PERMISSION : CK_ERR_IO,
			       "cannot make a link next to %s: %s", path, strerror(errno));
	CK_FAULT("deploy.gen.link");
	if (rename(tmp, path) != 0) {
		int e = errno;

		(void)unlink(tmp);
		return CK_FAIL(err, CK_ERR_IO, "cannot switch %s: %s", path, strerror(e));
	}
	return CK_OK;
}

enum ck_code
dep_gen_switch(const char *root, const char *gen, char *prev, size_t n, struct ck_err *err)
{
	char path[DEP_PATH_MAX + 8], before[DEP_GEN_NAME_MAX + 1] = "";
	struct ck_err e2;
	struct stat sb;
	enum ck_code rc;

	snprintf(path, sizeof(path), "%s/%s", root, gen);
	if (gen_number(gen) < 0 || lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "%s is not a generation directory", path);
	memset(&e2, 0, sizeof(e2));
	rc = dep_gen_current(root, before, sizeof(before), &e2);
	if (rc != CK_OK && rc != CK_ERR_NOT_FOUND)
		return CK_FAIL(err, rc, "%s", e2.msg);
	snprintf(path, sizeof(path), "%s/" GEN_LIVE, root);
	if (strcmp(before, gen) != 0) {
		if ((rc = gen_link_swap(path, gen, err)) != CK_OK ||
		    (rc = gen_fsync_path(root, err)) != CK_OK)
			return rc;
	}
	CK_FAULT("deploy.gen.switched");
	if (prev != NULL)
		snprintf(prev, n, "%s", before);
	return CK_OK;
}

enum ck_code
dep_gen_link(const char *path, const char *target, struct ck_err *err)
{
	char buf[DEP_PATH_MAX];
	struct stat sb;
	ssize_t len;

	len = readlink(path, buf, sizeof(buf) - 1);
	if (len >= 0) {
		buf[len] = '\0';
		if (strcmp(buf, target) == 0)
			return CK_OK;
	} else if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		return CK_FAIL(err, CK_ERR_STATE, "%s is a directory; certkeep puts a link to the "
			       "deployed file there: move the directory away", path);
	}
	return gen_link_swap(path, target, err);
}

/* 1 for a temp link of ours whose maker is this process or no longer runs. */
static int
gen_tmp_stale(const char *name)
{
	size_t plen = strlen(GEN_TMP_PREFIX);
	char *end = NULL;
	long pid;

	if (strncmp(name, GEN_TMP_PREFIX, plen) != 0)
		return 0;
	pid = strtol(name + plen, &end, 10);
	if (end == name + plen || *end != '\0' || pid <= 0)
		return 0;
	return pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

static int
gen_cmp_desc(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

enum ck_code
dep_gen_prune(const char *root, unsigned keep, const char *also_keep, struct ck_err *err)
{
	char live[DEP_GEN_NAME_MAX + 1] = "", name[DEP_GEN_NAME_MAX + 1];
	long nums[256], n;
	size_t count = 0, i, seen = 0;
	struct ck_err e2;
	struct dirent *e;
	DIR *d;

	memset(&e2, 0, sizeof(e2));
	(void)dep_gen_current(root, live, sizeof(live), &e2);
	if ((d = opendir(root)) == NULL)
		return CK_FAIL(err, CK_ERR_IO, "cannot read directory %s: %s", root,
			       strerror(errno));
	while ((e = readdir(d)) != NULL && seen++ < GEN_SCAN_MAX) {
		if ((n = gen_number(e->d_name)) > 0 && count < CK_ARRAY_LEN(nums))
			nums[count++] = n;
		else if (gen_tmp_stale(e->d_name))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	qsort(nums, count, sizeof(nums[0]), gen_cmp_desc);
	for (i = keep; i < count; i++) {
		snprintf(name, sizeof(name), GEN_PREFIX "%ld", nums[i]);
		if (strcmp(name, live) == 0 || (also_keep != NULL && strcmp(name, also_keep) == 0))
			continue;
		gen_remove(root, name);
	}
	return CK_OK;
}
