/*
 * webroot.c - http-01 by files another web server serves (--webroot DIR):
 * DIR/.well-known/acme-challenge/TOKEN holding the key authorization.
 *
 * Owns the webroot's directory descriptor (opened once, O_DIRECTORY |
 * O_NOFOLLOW), the two directories below it and the files it wrote.
 * Must never: write through a symbolic link (every step below the webroot
 * is openat/mkdirat with O_NOFOLLOW, files O_EXCL, so a link planted in the
 * webroot cannot send a write elsewhere: the lego webroot traversal,
 * CVE-2026-40611); touch the file system for a token that is not
 * base64url of 1-128 characters; leave behind a file or a directory it
 * made (stop removes them, on success, error and cancel alike).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "challenge/challenge.h"

#define WEBROOT_TOKEN_MAX 128
#define WEBROOT_FILES_MAX 256       /* files at once (like the http-01 listener's tokens) */
#define WEBROOT_KEYAUTH_MAX 512
#define WEBROOT_FILE_MODE 0644      /* the web server, another user, reads them */
#define WEBROOT_DIR_MODE 0755

struct webroot {
	pthread_mutex_t lock;
	int root;                   /* the webroot */
	int wk;                     /* .well-known, -1 until needed */
	int ac;                     /* .well-known/acme-challenge, -1 until needed */
	int made_wk, made_ac;       /* 1: certkeep created it, so removes it */
	char *files[WEBROOT_FILES_MAX];
	size_t nfiles;
};

static enum ck_code
wr_start(struct chall_responder *r, struct ck_err *err)
{
	const char *dir = r->cfg->webroot;
	struct webroot *w;
	int e;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return CK_OOM(err);
	w->wk = w->ac = -1;
	w->root = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (w->root < 0) {
		struct stat sb;

		e = errno;
		free(w);
		if (e == ELOOP || (e == ENOTDIR && lstat(dir, &sb) == 0 && S_ISLNK(sb.st_mode)))
			return CK_FAIL(err, CK_ERR_PERMISSION,
				       "--webroot %s is a symbolic link: refused (a link could send "
				       "the challenge files elsewhere); pass the directory it points "
				       "to", dir);
		if (e == ENOTDIR)
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "--webroot %s is not a directory", dir);
		return CK_FAIL(err, CK_ERR_IO, "cannot open --webroot %s: %s", dir, strerror(e));
	}
	if (pthread_mutex_init(&w->lock, NULL) != 0) {
		close(w->root);
		free(w);
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a mutex");
	}
	r->impl = w;
	return CK_OK;
}

/*
 * The directory name below parent, created (WEBROOT_DIR_MODE) if missing
 * (*made set), never through a symbolic link.  shown names it in errors.
 */
static enum ck_code
wr_subdir(int parent, const char *name, const char *shown, int *fd_out, int *made,
	  struct ck_err *err)
{
	int fd, e;

	if (mkdirat(parent, name, WEBROOT_DIR_MODE) == 0)
		*made = 1;
	else if (errno != EEXIST)
		return CK_FAIL(err, CK_ERR_IO, "cannot create %s: %s", shown, strerror(errno));
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ELOOP || e == ENOTDIR)
			return CK_FAIL(err, CK_ERR_PERMISSION,
				       "%s is a symbolic link or not a directory: refusing to write "
				       "through it (nothing was written); remove it, or let the web "
				       "server serve a real directory there", shown);
		return CK_FAIL(err, CK_ERR_IO, "cannot open %s: %s", shown, strerror(e));
	}
	/* mkdirat's mode is narrowed by the umask; the web server must read it.
	 * fchmod on the descriptor just opened with O_NOFOLLOW changes only it. */
	if (*made && fchmod(fd, WEBROOT_DIR_MODE) != 0) {
		e = errno;
		close(fd);
		return CK_FAIL(err, CK_ERR_IO, "cannot set the mode of %s: %s", shown, strerror(e));
	}
	*fd_out = fd;
	return CK_OK;
}

/* Writes ac/token (O_EXCL, O_NOFOLLOW, 0644); a leftover of a killed run is replaced. */
static enum ck_code
wr_file(struct webroot *w, const char *dir, const char *token, const char *keyauth,
	struct ck_err *err)
{
	size_t len = strlen(keyauth);
	int fd, e, tries;

	for (tries = 0;; tries++) {
		fd = openat(w->ac, token, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    WEBROOT_FILE_MODE);
		if (fd >= 0 || errno != EEXIST || tries > 0)
			break;
		/* Same token as an earlier run's (a resumed order): unlinkat removes
		 * the entry itself, never what a link would point to. */
		(void)unlinkat(w->ac, token, 0);
	}
	if (fd < 0)
		return CK_FAIL(err, CK_ERR_IO, "cannot create %s/.well-known/acme-challenge/%s: %s",
			       dir, token, strerror(errno));
	if (fchmod(fd, WEBROOT_FILE_MODE) != 0 || write(fd, keyauth, len) != (ssize_t)len) {
		e = errno;
		close(fd);
		(void)unlinkat(w->ac, token, 0);
		return CK_FAIL(err, CK_ERR_IO, "cannot write %s/.well-known/acme-challenge/%s: %s",
			       dir, token, strerror(e));
	}
	if (close(fd) != 0) {
		(void)unlinkat(w->ac, token, 0);
		return CK_FAIL(err, CK_ERR_IO, "cannot write %s/.well-known/acme-challenge/%s",
			       dir, token);
	}
	return CK_OK;
}

static size_t
wr_find(const struct webroot *w, const char *token)
{
	size_t i;

	for (i = 0; i < w->nfiles; i++)
		if (strcmp(w->files[i], token) == 0)
			return i;
	return w->nfiles;
}

static enum ck_code
wr_add_locked(struct chall_responder *r, struct webroot *w, const struct chall_item *it,
	      struct ck_err *err)
{
	const char *dir = r->cfg->webroot;
	char shown[CHALL_SETTING_STR_MAX + 64];
	enum ck_code rc;
	char *copy;

	if (wr_find(w, it->token) < w->nfiles)
		return CK_OK;
	if (w->nfiles >= WEBROOT_FILES_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %d webroot challenges at once",
			       WEBROOT_FILES_MAX);
	if (w->wk < 0) {
		snprintf(shown, sizeof(shown), "%s/.well-known", dir);
		if ((rc = wr_subdir(w->root, ".well-known", shown, &w->wk, &w->made_wk, err)) != CK_OK)
			return rc;
	}
	if (w->ac < 0) {
		snprintf(shown, sizeof(shown), "%s/.well-known/acme-challenge", dir);
		if ((rc = wr_subdir(w->wk, "acme-challenge", shown, &w->ac, &w->made_ac, err)) !=
		    CK_OK)
			return rc;
	}
	if ((copy = strdup(it->token)) == NULL)
		return CK_OOM(err);
	if ((rc = wr_file(w, dir, it->token, it->keyauth, err)) != CK_OK) {
		free(copy);
		return rc;
	}
	w->files[w->nfiles++] = copy;
	return CK_OK;
}

static enum ck_code
wr_add(struct chall_responder *r, const struct chall_item *it, struct ck_err *err)
{
	struct webroot *w = r->impl;
	size_t tlen;
	enum ck_code rc;

	/* Checked before anything touches the file system: base64url only, so no
	 * '/', '.', '%' or NUL can reach a path. */
	if (it->token == NULL || !ck_str_is_b64url(it->token, WEBROOT_TOKEN_MAX))
		return CK_FAIL(err, CK_ERR_PARSE,
			       "the server's http-01 token is not 1 to %d base64url characters: "
			       "refused before any file was written", WEBROOT_TOKEN_MAX);
	tlen = strlen(it->token);
	if (it->keyauth == NULL || strlen(it->keyauth) > WEBROOT_KEYAUTH_MAX ||
	    strncmp(it->keyauth, it->token, tlen) != 0 || it->keyauth[tlen] != '.')
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "the key authorization is not \"<token>.<thumbprint>\"");
	if (w == NULL)
		return CK_FAIL(err, CK_ERR_STATE, "the webroot responder is not started");
	pthread_mutex_lock(&w->lock);
	rc = wr_add_locked(r, w, it, err);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

static void
wr_unlink(struct chall_responder *r, struct webroot *w, size_t i)
{
	if (unlinkat(w->ac, w->files[i], 0) != 0 && errno != ENOENT)
		ck_log(&r->ctx->log, CK_LOG_WARN,
		       "could not remove %s/.well-known/acme-challenge/%s (%s): remove it by hand",
		       r->cfg->webroot, w->files[i], strerror(errno));
	free(w->files[i]);
	w->files[i] = w->files[--w->nfiles];
	w->files[w->nfiles] = NULL;
}

static void
wr_remove(struct chall_responder *r, const struct chall_item *it)
{
	struct webroot *w = r->impl;
	size_t i;

	if (w == NULL || it->token == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	if ((i = wr_find(w, it->token)) < w->nfiles)
		wr_unlink(r, w, i);
	pthread_mutex_unlock(&w->lock);
}

/* Removes a directory certkeep made, if it is empty (the web server's own files stay). */
static void
wr_rmdir(struct chall_responder *r, int parent, const char *name, const char *shown)
{
	if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		ck_log(&r->ctx->log, CK_LOG_INFO, "left %s/%s in place: %s", r->cfg->webroot, shown,
		       strerror(errno));
}

static void
wr_stop(struct chall_responder *r)
{
	struct webroot *w = r->impl;

	if (w != NULL) {
		while (w->nfiles > 0)
			wr_unlink(r, w, w->nfiles - 1);
		if (w->ac >= 0)
			close(w->ac);
		if (w->made_ac)
			wr_rmdir(r, w->wk, "acme-challenge", ".well-known/acme-challenge");
		if (w->wk >= 0)
			close(w->wk);
		if (w->made_wk)
			wr_rmdir(r, w->root, ".well-known", ".well-known");
		close(w->root);
		pthread_mutex_destroy(&w->lock);
		free(w);
	}
	free(r);
}

static const struct chall_ops webroot_ops = {
	.type = "http-01",
	.start = wr_start,
	.add = wr_add,
	.remove = wr_remove,
	.stop = wr_stop,
	/* .served: another server serves the files; certkeep cannot see the CA look */
};

enum ck_code
chall_webroot_new(struct chall_responder *r, struct ck_err *err)
{
	(void)err;
	r->ops = &webroot_ops;
	return CK_OK;
}
