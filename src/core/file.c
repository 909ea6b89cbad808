/*
 * file.c - files written whole or not at all, bounded reads, secrets from
 * files or inherited descriptors, and directories created with their final
 * mode.  Modes are set at creation and never widened afterwards.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/core.h"

static enum ck_code
fsync_dir_of(const char *path, struct ck_err *err)
{
	char tmp[PATH_MAX];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "path too long: %s", path);
	fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return CK_FAIL(err, CK_ERR_IO, "cannot open directory of %s: %s", path, strerror(errno));
	if (fsync(fd) == -1 && errno != EINVAL) {
		int e = errno;
		close(fd);
		return CK_FAIL(err, CK_ERR_IO, "cannot sync directory of %s: %s", path, strerror(e));
	}
	close(fd);
	return CK_OK;
}

/*
 * Temp files are named ".NAME.certkeep-tmp-PID-XXXXXX" beside NAME: hidden,
 * recognisably certkeep's, and they say which process wrote them, so a
 * later write of NAME can tell a crashed writer's leftover (which may hold
 * a private key) from a live writer's file.
 */
#define TMP_TAG ".certkeep-tmp-"

/* The directory part of path ("." if none) into dir, the name into *base. */
static int
split_path(const char *path, char *dir, size_t n, const char **base)
{
	const char *slash = strrchr(path, '/');

	*base = slash ? slash + 1 : path;
	if (slash == NULL)
		return snprintf(dir, n, ".") < (int)n ? 0 : -1;
	if (slash == path)
		return snprintf(dir, n, "/") < (int)n ? 0 : -1;
	if ((size_t)(slash - path) >= n)
		return -1;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return 0;
}

int
ck_file_tmp_name(const char *path, pid_t pid, char *out, size_t n)
{
	char dir[PATH_MAX];
	const char *base;

	if (split_path(path, dir, sizeof(dir), &base) != 0 || base[0] == '\0')
		return -1;
	if (snprintf(out, n, "%.*s.%s" TMP_TAG "%ld-XXXXXX", (int)(base - path), path, base,
		     (long)pid) >= (int)n)
		return -1;
	return 0;
}

int
ck_file_tmp_match(const char *entry, const char *base, pid_t *pid)
{
	size_t bl = strlen(base), tl = strlen(TMP_TAG), i;
	const char *p;
	char *end;
	long v;

	if (entry[0] != '.' || strncmp(entry + 1, base, bl) != 0 ||
	    strncmp(entry + 1 + bl, TMP_TAG, tl) != 0)
		return 0;
	p = entry + 1 + bl + tl;
	if (!isdigit((unsigned char)p[0]))
		return 0;
	errno = 0;
	v = strtol(p, &end, 10);
	if (errno != 0 || v <= 0 || v > INT_MAX || *end != '-')
		return 0;
	for (i = 1; i <= 6; i++)
		if (!isalnum((unsigned char)end[i]))
			return 0;
	if (end[7] != '\0')
		return 0;
	*pid = (pid_t)v;
	return 1;
}

/*
 * Removes leftovers of crashed writes of path: certkeep temp files of this
 * name that are regular files, ours, untouched for CK_FILE_TMP_STALE_S,
 * and whose writer is gone (no process has its pid).  A live writer's file
 * is never removed: a concurrent export keeps its temp file.  Best effort:
 * what cannot be checked or removed stays.
 */
static void
tmp_clean_stale(const char *path)
{
	char dir[PATH_MAX];
	const char *base;
	struct dirent *de;
	struct stat sb;
	time_t now = time(NULL);
	DIR *d;
	pid_t pid;

	if (split_path(path, dir, sizeof(dir), &base) != 0 || (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!ck_file_tmp_match(de->d_name, base, &pid) || pid == getpid())
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
		    now - sb.st_mtime < CK_FILE_TMP_STALE_S)
			continue;
		if (kill(pid, 0) == -1 && errno == ESRCH)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

enum ck_code
ck_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		     struct ck_err *err)
{
	char tmp[PATH_MAX];
	const unsigned char *p = data;
	int fd = -1;
	enum ck_code rc = CK_ERR_IO;

	if (ck_file_tmp_name(path, getpid(), tmp, sizeof(tmp)) != 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "bad or too long path: %s", path);
	tmp_clean_stale(path);
	/* mkostemp creates the file 0600 whatever the umask (glibc, POSIX.1-2008),
	 * so no window is wider; the process umask is not ours to change. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd == -1)
		return CK_FAIL(err, CK_ERR_IO, "cannot create a file beside %s: %s", path,
			       strerror(errno));
	/* Narrowing or equal modes are safe; 0644 for certificates widens a
	 * file only we have opened, before any content is written. */
	if (fchmod(fd, mode) == -1) {
		CK_FAIL(err, CK_ERR_IO, "cannot set mode on %s: %s", tmp, strerror(errno));
		goto out;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			CK_FAIL(err, CK_ERR_IO, "cannot write %s: %s", path,
				n == 0 ? "no progress" : strerror(errno));
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) == -1) {
		CK_FAIL(err, CK_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		CK_FAIL(err, CK_ERR_IO, "cannot close %s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	CK_FAULT("file.write_atomic.rename");
	if (rename(tmp, path) == -1) {
		CK_FAIL(err, CK_ERR_IO, "cannot rename into %s: %s", path, strerror(errno));
		goto out;
	}
	rc = fsync_dir_of(path, err);
	return rc;
out:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return rc;
}

static enum ck_code
read_fd(int fd, const char *what, size_t max, int secret, unsigned char **data, size_t *len,
	struct ck_err *err)
{
	struct ck_buf b;
	unsigned char chunk[4096];
	enum ck_code rc = CK_OK;

	if (secret)
		ck_buf_init_secret(&b, max);
	else
		ck_buf_init(&b, max);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = CK_FAIL(err, CK_ERR_IO, "cannot read %s: %s", what, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if ((rc = ck_buf_append(&b, chunk, (size_t)n, err)) != CK_OK) {
			CK_FAIL(err, CK_ERR_TOO_LARGE, "%s is larger than %zu bytes", what, max);
			break;
		}
	}
	OPENSSL_cleanse(chunk, sizeof(chunk));
	if (rc != CK_OK) {
		ck_buf_cleanup(&b);
		return rc;
	}
	*data = ck_buf_take(&b, len);
	if (*data == NULL)
		return CK_OOM(err);
	return CK_OK;
}

static enum ck_code
file_read(const char *path, size_t max, int secret, unsigned char **data, size_t *len,
	  struct ck_err *err)
{
	enum ck_code rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return CK_FAIL(err, errno == EACCES ? CK_ERR_PERMISSION : CK_ERR_IO,
			       "cannot open %s: %s", path, strerror(errno));
	rc = read_fd(fd, path, max, secret, data, len, err);
	close(fd);
	return rc;
}

enum ck_code
ck_file_read(const char *path, size_t max, unsigned char **data, size_t *len, struct ck_err *err)
{
	return file_read(path, max, 0, data, len, err);
}

enum ck_code
ck_file_read_secret(const char *path, size_t max, unsigned char **data, size_t *len,
		    struct ck_err *err)
{
	return file_read(path, max, 1, data, len, err);
}

enum ck_code
ck_secret_read(const char *path, size_t max, char **out, struct ck_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	enum ck_code rc;

	if (path == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no secret file given");
	if (strncmp(path, "fd:", 3) == 0) {
		char *end;
		long fd = strtol(path + 3, &end, 10);
		if (path[3] == '\0' || *end != '\0' || fd < 0 || fd > INT_MAX)
			return CK_FAIL(err, CK_ERR_INVALID_ARG, "bad descriptor in %s", path);
		rc = read_fd((int)fd, path, max, 1, &data, &len, err);
	} else {
		rc = file_read(path, max, 1, &data, &len, err);
	}
	if (rc != CK_OK)
		return rc;
	if (len > 0 && data[len - 1] == '\n')
		data[--len] = '\0';
	if (len > 0 && data[len - 1] == '\r')
		data[--len] = '\0';
	if (memchr(data, '\0', len) != NULL) {
		ck_secure_free(data, len + 1);
		return CK_FAIL(err, CK_ERR_PARSE, "secret in %s contains a NUL byte", path);
	}
	*out = (char *)data;
	return CK_OK;
}

enum ck_code
ck_mkdir_p(const char *path, mode_t mode, struct ck_err *err)
{
	char tmp[PATH_MAX];
	size_t i, n;

	n = strlen(path);
	if (n == 0 || n >= sizeof(tmp))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "bad directory path");
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) == -1 && errno != EEXIST)
			return CK_FAIL(err, errno == EACCES ? CK_ERR_PERMISSION : CK_ERR_IO,
				       "cannot create directory %s: %s", tmp, strerror(errno));
		if (i < n)
			tmp[i] = '/';
	}
	return CK_OK;
}
