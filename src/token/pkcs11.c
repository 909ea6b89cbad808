/*
 * pkcs11.c - one PKCS#11 module and one of its tokens: dlopen +
 * C_GetFunctionList, C_Initialize (CKF_OS_LOCKING_OK), the slot found by
 * token label, a read-only session without login, and the public-key
 * objects read as SPKI (through token_int.h).
 *
 * The module path comes from the store, and certkeep may run as root, so
 * loading it runs code that whoever can write the store names.  A module
 * is loaded only from a regular file owned by root or the effective user
 * and writable by its owner alone, in directories that satisfy the same
 * (a sticky directory such as /tmp may be writable by others: they
 * cannot replace what they do not own).  Symbolic links in the path are
 * followed (Debian's own /usr/lib/softhsm/libsofthsm2.so and the
 * pkcs11/ directory are links), but only through realpath: the resolved
 * path is then walked from / one component at a time with O_NOFOLLOW,
 * each directory checked on its descriptor, the file opened O_NOFOLLOW and
 * checked with fstat, and exactly that descriptor loaded (dlopen of
 * /proc/self/fd/N), so nothing can be swapped between check and load.
 *
 * Must never: log in, read a private attribute, write an object, find a
 * token by slot id, allocate what the module asks for without a maximum,
 * finalise a module it did not initialise, or load a module file it has
 * not checked on the descriptor it loads.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "token/token.h"
#include "token/p11.h"

#define TOK_FIND_BATCH 64
#define TOK_LABELS_SHOWN 8

void
tok_field(const unsigned char *f, size_t n, char *dst, size_t cap)
{
	while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\0'))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, f, n);
	dst[n] = '\0';
}

/*
 * Why a file or directory with status sb is unsafe to load code from, or
 * NULL: someone other than root or the effective user owns it, or others
 * may write it (a directory with the sticky bit excepted).  buf holds the
 * "owned by uid N" text.
 */
static const char *
tok_unsafe(const struct stat *sb, char *buf, size_t n)
{
	if (sb->st_uid != 0 && sb->st_uid != geteuid()) {
		snprintf(buf, n, "owned by uid %lu", (unsigned long)sb->st_uid);
		return buf;
	}
	if (S_ISDIR(sb->st_mode) && (sb->st_mode & S_ISVTX))
		return NULL;
	if (sb->st_mode & S_IWOTH)
		return "world-writable";
	if (sb->st_mode & S_IWGRP)
		return "group-writable";
	return NULL;
}

/*
 * CK_ERR_PERMISSION: "refusing to load PKCS#11 module PATH: WHAT is WHY
 * (the path resolves to R); ...", the reason before anything long.
 */
static enum ck_code
tok_refuse(const char *path, const char *resolved, const char *what, const char *why,
	   struct ck_err *err)
{
	int moved = strcmp(path, resolved) != 0;

	return CK_FAIL(err, CK_ERR_PERMISSION, "refusing to load PKCS#11 module %.200s: %.220s "
		       "is %s%s%.200s%s; a module is loaded only from a regular file owned by "
		       "root or uid %lu and not writable by group or others, in directories "
		       "alike", path, what ? what : "it", why,
		       moved ? " (the path resolves to " : "", moved ? resolved : "",
		       moved ? ")" : "", (unsigned long)geteuid());
}

/*
 * Walks resolved (an absolute path without symbolic links) from "/" and
 * returns in *dirfd an O_PATH descriptor of its directory, every
 * directory on the way checked on its own descriptor.  *base points at
 * the last component.
 */
static enum ck_code
tok_walk(const char *path, char *resolved, int *dirfd, const char **base, struct ck_err *err)
{
	char *comp = resolved + 1, *slash, shown[PATH_MAX + 32], ubuf[40];
	const char *why;
	struct stat sb;
	int dfd, nfd, e;

	if ((dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return CK_FAIL(err, CK_ERR_IO, "cannot open /: %s", strerror(errno));
	for (;;) {
		if (fstat(dfd, &sb) != 0) {
			close(dfd);
			return CK_FAIL(err, CK_ERR_IO, "cannot check a directory of %s: %s", path,
				       strerror(errno));
		}
		if ((why = tok_unsafe(&sb, ubuf, sizeof(ubuf))) != NULL) {
			snprintf(shown, sizeof(shown), "directory %.*s", (int)(comp - resolved),
				 resolved);
			close(dfd);
			return tok_refuse(path, resolved, shown, why, err);
		}
		if ((slash = strchr(comp, '/')) == NULL)
			break;
		*slash = '\0';
		nfd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		*slash = '/';
		close(dfd);
		if (nfd < 0)
			return e == ELOOP || e == ENOTDIR
				       ? tok_refuse(path, resolved, "a directory on its path",
						    "a symlink now (it changed while it was checked)",
						    err)
				       : CK_FAIL(err, CK_ERR_IO, "cannot open a directory of %s: %s",
						 path, strerror(e));
		dfd = nfd;
		comp = slash + 1;
	}
	*dirfd = dfd;
	*base = comp;
	return CK_OK;
}

/*
 * Opens module path for loading: realpath, tok_walk, then the file itself
 * with O_NOFOLLOW, checked with fstat.  *fd: a read-only descriptor of a
 * checked regular file.  CK_ERR_NOT_FOUND if there is no such file,
 * CK_ERR_PERMISSION (the path and the reason) if it is not safe to load.
 */
static enum ck_code
tok_module_open(const char *path, int *fd, struct ck_err *err)
{
	char resolved[PATH_MAX], ubuf[40];
	const char *base = NULL, *why;
	struct stat sb;
	enum ck_code rc;
	int dfd = -1, f, e;

	if (realpath(path, resolved) == NULL)
		return errno == ENOENT || errno == ENOTDIR
			       ? CK_FAIL(err, CK_ERR_NOT_FOUND, "PKCS#11 module %s not found: "
					 "check the path (SoftHSM2's is "
					 "/usr/lib/softhsm/libsofthsm2.so, from the softhsm2 "
					 "package)", path)
			       : CK_FAIL(err, errno == EACCES ? CK_ERR_PERMISSION : CK_ERR_IO,
					 "PKCS#11 module %s cannot be resolved: %s", path,
					 strerror(errno));
	if ((rc = tok_walk(path, resolved, &dfd, &base, err)) != CK_OK)
		return rc;
	/* Not opened before it is known to be a regular file (a FIFO would block). */
	if (fstatat(dfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(sb.st_mode)) {
		close(dfd);
		return tok_refuse(path, resolved, NULL,
				  S_ISLNK(sb.st_mode) ? "a symlink" : "not a regular file", err);
	}
	f = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	e = errno;
	close(dfd);
	if (f < 0)
		return e == ELOOP ? tok_refuse(path, resolved, NULL, "a symlink", err)
				  : CK_FAIL(err, e == EACCES ? CK_ERR_PERMISSION : CK_ERR_IO,
					    "PKCS#11 module %s cannot be opened: %s", path,
					    strerror(e));
	if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode))
		why = "not a regular file";
	else
		why = tok_unsafe(&sb, ubuf, sizeof(ubuf));
	if (why != NULL) {
		close(f);
		return tok_refuse(path, resolved, NULL, why, err);
	}
	*fd = f;
	return CK_OK;
}

/* dlopen of exactly the checked descriptor fd, through /proc/self/fd. */
static enum ck_code
tok_dlopen_fd(struct ck_token *t, const char *path, int fd, struct ck_err *err)
{
	char self[64], why[256];
	struct stat a, b;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (stat(self, &a) != 0 || fstat(fd, &b) != 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "PKCS#11 module %s: the checked file "
			       "cannot be loaded through %s (is /proc mounted?)", path, self);
	if ((t->dl = dlopen(self, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		ck_str_printable(why, sizeof(why), dlerror());
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "PKCS#11 module %s could not be "
			       "loaded (%s): check that it is a PKCS#11 library for this "
			       "machine", path, why);
	}
	return CK_OK;
}

/*
 * Modules are initialised once per process, not once per handle: several
 * handles on one module (an account key and a certificate key on one
 * token, two stored keys looked up in turn) share it, and C_Finalize
 * from one would pull it away under the others.  So the handles certkeep
 * has open on each module are counted here, and the module is finalised
 * when the last one closes, if certkeep initialised it.  This is the one
 * piece of process-wide state in the token module, because PKCS#11
 * initialisation itself is process-wide.
 */
#define TOK_MODULES_MAX 16

static struct tok_module_use {
	CK_FUNCTION_LIST_PTR f;
	unsigned handles;
	int ours;                 /* certkeep's C_Initialize initialised it */
} tok_modules[TOK_MODULES_MAX];
static pthread_mutex_t tok_modules_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * C_Initialize (CKF_OS_LOCKING_OK) and one more handle counted on the
 * module: CKR_OK also when the module was initialised already (by another
 * handle, another part of the process, or inherited by a fork's child).
 */
static CK_RV
tok_initialize(struct ck_token *t)
{
	struct tok_module_use *m = NULL;
	CK_C_INITIALIZE_ARGS ia;
	CK_RV rv;
	size_t i;

	memset(&ia, 0, sizeof(ia));
	ia.flags = CKF_OS_LOCKING_OK;
	pthread_mutex_lock(&tok_modules_lock);
	for (i = 0; i < TOK_MODULES_MAX && m == NULL; i++)
		if (tok_modules[i].f == t->f || tok_modules[i].f == NULL)
			m = &tok_modules[i];
	rv = t->f->C_Initialize(&ia);
	if (rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		if (m != NULL && !t->finalize) {
			if (m->f == NULL)
				memset(m, 0, sizeof(*m));
			m->f = t->f;
			m->handles++;
			m->ours |= rv == CKR_OK;
			t->finalize = 1; /* counted: tok_release gives it back */
		}
		rv = CKR_OK;
	}
	pthread_mutex_unlock(&tok_modules_lock);
	return rv;
}

/* One handle fewer on t's module; the last one finalises what certkeep initialised. */
static void
tok_release(struct ck_token *t)
{
	size_t i;

	pthread_mutex_lock(&tok_modules_lock);
	for (i = 0; i < TOK_MODULES_MAX; i++) {
		struct tok_module_use *m = &tok_modules[i];
		if (m->f != t->f || m->handles == 0)
			continue;
		if (--m->handles == 0) {
			if (m->ours)
				t->f->C_Finalize(NULL);
			memset(m, 0, sizeof(*m));
		}
		break;
	}
	pthread_mutex_unlock(&tok_modules_lock);
	t->finalize = 0;
}

static enum ck_code
tok_load(struct ck_token *t, const char *path, struct ck_err *err)
{
	CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
	enum ck_code rc;
	int fd = -1;
	CK_RV rv;

	if ((rc = tok_module_open(path, &fd, err)) != CK_OK)
		return rc;
	rc = tok_dlopen_fd(t, path, fd, err);
	close(fd); /* the loader has its own mapping now */
	if (rc != CK_OK)
		return rc;
	*(void **)&get_list = dlsym(t->dl, "C_GetFunctionList");
	if (get_list == NULL || get_list(&t->f) != CKR_OK || t->f == NULL)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "%s is not a PKCS#11 module (no "
			       "C_GetFunctionList): check the module path", path);
	if ((rv = tok_initialize(t)) != CKR_OK)
		return CK_FAIL(err, CK_ERR_IO, "PKCS#11 module %s failed to initialise "
			       "(C_Initialize: 0x%lx): check its configuration (for SoftHSM2: "
			       "SOFTHSM2_CONF and its token directory)", path, (unsigned long)rv);
	return CK_OK;
}

/* Labels of the tokens present, for an error message. */
static void
tok_labels_text(const char (*labels)[CK_TOKEN_LABEL_MAX + 1], size_t n, char *out, size_t cap)
{
	char printable[CK_TOKEN_LABEL_MAX + 1];
	size_t i, used = 0;
	int w;

	size_t shown = 0;

	snprintf(out, cap, "none");
	for (i = 0; i < n && used < cap; i++) {
		if (labels[i][0] == '\0')
			continue; /* an uninitialised token (SoftHSM's free slot) */
		if (shown == TOK_LABELS_SHOWN) {
			snprintf(out + used, cap - used, ", ...");
			break;
		}
		ck_str_printable(printable, sizeof(printable), labels[i]);
		w = snprintf(out + used, cap - used, "%s'%s'", shown++ ? ", " : "", printable);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* 1 if token info ti matches label and serial ("" matches any). */
static int
tok_matches(const CK_TOKEN_INFO *ti, const char *label, const char *serial, char *lab,
	    size_t cap)
{
	char ser[sizeof(ti->serialNumber) + 1];

	tok_field(ti->label, sizeof(ti->label), lab, cap);
	tok_field(ti->serialNumber, sizeof(ti->serialNumber), ser, sizeof(ser));
	return (label[0] == '\0' || strcmp(lab, label) == 0) &&
	       (serial[0] == '\0' || strcmp(ser, serial) == 0);
}

/* What the search was for, for an error message: "labelled 'L' with serial 'S'". */
static void
tok_wanted(const char *label, const char *serial, char *out, size_t cap)
{
	char l[CK_TOKEN_LABEL_MAX + 1], s[CK_TOKEN_LABEL_MAX + 1];

	ck_str_printable(l, sizeof(l), label);
	ck_str_printable(s, sizeof(s), serial);
	snprintf(out, cap, "%s%s%s%s%s%s", label[0] ? "labelled '" : "", l, label[0] ? "'" : "",
		 serial[0] ? (label[0] ? " with serial '" : "with serial '") : "", s,
		 serial[0] ? "'" : "");
}

/* The one slot whose token matches label and serial, into t->slot. */
static enum ck_code
tok_find_slot(struct ck_token *t, const char *label, const char *serial, struct ck_err *err)
{
	CK_SLOT_ID slots[CK_TOKEN_SLOTS_MAX];
	char labels[CK_TOKEN_SLOTS_MAX][CK_TOKEN_LABEL_MAX + 1];
	char shown[TOK_LABELS_SHOWN * (CK_TOKEN_LABEL_MAX + 4) + 8];
	char want[2 * CK_TOKEN_LABEL_MAX + 40];
	CK_ULONG n = CK_TOKEN_SLOTS_MAX, i, found = 0;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	tok_wanted(label, serial, want, sizeof(want));
	rv = t->f->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv == CKR_BUFFER_TOO_SMALL)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "PKCS#11 module %s reports more than %d "
			       "tokens", t->module, CK_TOKEN_SLOTS_MAX);
	if (rv != CKR_OK)
		return CK_FAIL(err, CK_ERR_IO, "PKCS#11 module %s could not list its slots "
			       "(C_GetSlotList: 0x%lx)", t->module, (unsigned long)rv);
	for (i = 0; i < n && i < CK_TOKEN_SLOTS_MAX; i++) {
		labels[i][0] = '\0';
		if (t->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (!tok_matches(&ti, label, serial, labels[i], sizeof(labels[i])))
			continue;
		if (found++ == 0) {
			t->slot = slots[i];
			snprintf(t->label, sizeof(t->label), "%s", labels[i]);
			tok_field(ti.serialNumber, sizeof(ti.serialNumber), t->serial,
				  sizeof(t->serial));
			t->login_required = (ti.flags & CKF_LOGIN_REQUIRED) != 0;
		}
	}
	if (found == 1)
		return CK_OK;
	if (found > 1)
		return CK_FAIL(err, CK_ERR_AMBIGUOUS, "%lu tokens of PKCS#11 module %s are %s: "
			       "name the token by label and serial, or relabel one so each "
			       "label is unique", (unsigned long)found, t->module, want);
	tok_labels_text((const char (*)[CK_TOKEN_LABEL_MAX + 1])labels, n, shown,
			sizeof(shown));
	return CK_FAIL(err, CK_ERR_NOT_FOUND, "no token %s in PKCS#11 module %s "
		       "(tokens present: %s): check the label (pkcs11-tool --module %s "
		       "--list-token-slots) and that the token is initialised",
		       want, t->module, shown, t->module);
}

/* A session on t->slot: read-write if rw and the token allows it. */
static enum ck_code
tok_session(struct ck_token *t, int rw, struct ck_err *err)
{
	CK_FLAGS fl = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
	CK_RV rv;

	rv = t->f->C_OpenSession(t->slot, fl, NULL, NULL, &t->session);
	if (rv == CKR_TOKEN_WRITE_PROTECTED && rw) {
		fl = CKF_SERIAL_SESSION;
		rv = t->f->C_OpenSession(t->slot, fl, NULL, NULL, &t->session);
	}
	if (rv != CKR_OK)
		return CK_FAIL(err, CK_ERR_IO, "token '%s' of PKCS#11 module %s refused a "
			       "session (C_OpenSession: 0x%lx)", t->label, t->module,
			       (unsigned long)rv);
	t->has_session = 1;
	t->rw = (fl & CKF_RW_SESSION) != 0;
	t->pid = getpid();
	return CK_OK;
}

enum ck_code
tok_open(struct ck_token *t, const char *path, const char *label, const char *serial, int rw,
	 struct ck_err *err)
{
	enum ck_code rc;

	if (path == NULL || path[0] != '/' || strlen(path) > CK_TOKEN_MODULE_PATH_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the PKCS#11 module path must be "
			       "absolute and at most %d bytes", CK_TOKEN_MODULE_PATH_MAX);
	if ((label[0] == '\0' && serial[0] == '\0') || strlen(label) > CK_TOKEN_LABEL_MAX ||
	    strlen(serial) > 16)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a token is named by its label (1 to %d "
			       "bytes) or its serial (at most 16)", CK_TOKEN_LABEL_MAX);
	snprintf(t->module, sizeof(t->module), "%s", path);
	snprintf(t->label, sizeof(t->label), "%s", label);
	if ((rc = tok_load(t, path, err)) != CK_OK ||
	    (rc = tok_find_slot(t, label, serial, err)) != CK_OK)
		return rc;
	return tok_session(t, rw, err);
}

enum ck_code
tok_ready(struct ck_token *t, struct ck_err *err)
{
	char label[CK_TOKEN_LABEL_MAX + 1], serial[sizeof(t->serial)];
	enum ck_code rc;
	CK_RV rv;

	if (t->pid == getpid())
		return CK_OK;
	/* The child of a fork: the parent's sessions are not ours to use or close. */
	t->has_session = 0;
	t->logged_in = 0;
	t->generation++;
	if ((rv = tok_initialize(t)) != CKR_OK)
		return CK_FAIL(err, CK_ERR_IO, "PKCS#11 module %s failed to initialise again "
			       "after fork (C_Initialize: 0x%lx)", t->module, (unsigned long)rv);
	snprintf(label, sizeof(label), "%s", t->label);
	snprintf(serial, sizeof(serial), "%s", t->serial);
	if ((rc = tok_find_slot(t, label, serial, err)) != CK_OK)
		return rc;
	return tok_session(t, t->rw, err);
}

enum ck_code
ck_token_open(const char *module_path, const char *label, struct ck_token **out,
	      struct ck_err *err)
{
	struct ck_token *t = NULL;
	enum ck_code rc;

	if (label == NULL || label[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a token label is 1 to %d bytes",
			       CK_TOKEN_LABEL_MAX);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return CK_OOM(err);
	if ((rc = tok_open(t, module_path, label, "", 0, err)) != CK_OK)
		goto out;
	*out = t;
	t = NULL;
out:
	ck_token_close(t);
	return rc;
}

void
ck_token_close(struct ck_token *t)
{
	if (t == NULL)
		return;
	if (t->has_session && t->pid == getpid())
		t->f->C_CloseSession(t->session);
	if (t->finalize)
		tok_release(t);
	if (t->dl != NULL)
		dlclose(t->dl);
	free(t);
}

int
ck_token_login_required(const struct ck_token *t)
{
	return t->login_required;
}

const char *
ck_token_serial(const struct ck_token *t)
{
	return t->serial;
}

/* ---- objects ------------------------------------------------------------ */

enum ck_code
tok_attr(struct ck_token *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, size_t max,
	 unsigned char **val, size_t *len, int *present, struct ck_err *err)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv;

	*present = 0;
	*val = NULL;
	*len = 0;
	rv = t->f->C_GetAttributeValue(t->session, o, &a, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE ||
	    (rv == CKR_OK && a.ulValueLen == CK_UNAVAILABLE_INFORMATION))
		return CK_OK;
	if (rv != CKR_OK)
		return CK_FAIL(err, CK_ERR_IO, "token '%s' could not read attribute 0x%lx "
			       "(C_GetAttributeValue: 0x%lx)", t->label, (unsigned long)type,
			       (unsigned long)rv);
	if (a.ulValueLen > max)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "token '%s' has an attribute 0x%lx of %lu "
			       "bytes; at most %zu are read", t->label, (unsigned long)type,
			       (unsigned long)a.ulValueLen, max);
	if ((a.pValue = calloc(1, a.ulValueLen + 1)) == NULL)
		return CK_OOM(err);
	rv = t->f->C_GetAttributeValue(t->session, o, &a, 1);
	if (rv != CKR_OK || a.ulValueLen > max) {
		free(a.pValue);
		return CK_FAIL(err, CK_ERR_IO, "token '%s' could not read attribute 0x%lx "
			       "(C_GetAttributeValue: 0x%lx)", t->label, (unsigned long)type,
			       (unsigned long)rv);
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	*present = 1;
	return CK_OK;
}

enum ck_code
tok_obj_pkey(struct ck_token *t, CK_OBJECT_HANDLE o, EVP_PKEY **out, struct ck_err *err)
{
	CK_KEY_TYPE kt = CKK_VENDOR_DEFINED;
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };
	unsigned char *x = NULL, *y = NULL;
	size_t xl = 0, yl = 0;
	int hx = 0, hy = 0;
	enum ck_code rc;

	if (t->f->C_GetAttributeValue(t->session, o, &a, 1) != CKR_OK)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "a public key without a readable "
			       "CKA_KEY_TYPE");
	if (kt == CKK_EC || kt == CKK_EC_EDWARDS) {
		if ((rc = tok_attr(t, o, CKA_EC_PARAMS, CK_TOKEN_ATTR_MAX, &x, &xl, &hx, err)) ||
		    (rc = tok_attr(t, o, CKA_EC_POINT, CK_TOKEN_ATTR_MAX, &y, &yl, &hy, err)))
			goto out;
		rc = hx && hy ? tok_pkey_ec(x, xl, y, yl, kt == CKK_EC_EDWARDS, out, err) :
				CK_FAIL(err, CK_ERR_PARSE, "an EC key without its parameters "
					"or point");
	} else if (kt == CKK_RSA) {
		if ((rc = tok_attr(t, o, CKA_MODULUS, CK_TOKEN_ATTR_MAX, &x, &xl, &hx, err)) ||
		    (rc = tok_attr(t, o, CKA_PUBLIC_EXPONENT, CK_TOKEN_ATTR_MAX, &y, &yl, &hy,
				   err)))
			goto out;
		rc = hx && hy ? tok_pkey_rsa(x, xl, y, yl, out, err) :
				CK_FAIL(err, CK_ERR_PARSE, "an RSA key without its modulus or "
					"exponent");
	} else {
		rc = CK_FAIL(err, CK_ERR_UNSUPPORTED, "key type 0x%lx is not supported",
			     (unsigned long)kt);
	}
out:
	free(x);
	free(y);
	return rc;
}

/* One object into k; CK_ERR_UNSUPPORTED / CK_ERR_PARSE / CK_ERR_TOO_LARGE mean "skip it". */
static enum ck_code
tok_obj_read(struct ck_token *t, CK_OBJECT_HANDLE o, struct ck_token_key *k, struct ck_err *err)
{
	unsigned char *id = NULL, *label = NULL;
	size_t idl = 0, ll = 0;
	int hid = 0, hl = 0;
	EVP_PKEY *pk = NULL;
	enum ck_code rc;

	if ((rc = tok_attr(t, o, CKA_ID, CK_TOKEN_ID_MAX, &id, &idl, &hid, err)) != CK_OK ||
	    (rc = tok_attr(t, o, CKA_LABEL, CK_TOKEN_OBJ_LABEL_MAX, &label, &ll, &hl, err)))
		goto out;
	if (idl == 0 && ll == 0) {
		rc = CK_FAIL(err, CK_ERR_UNSUPPORTED, "a key with neither CKA_ID nor CKA_LABEL "
			     "cannot be named");
		goto out;
	}
	if (memchr(label ? (char *)label : "", '\0', ll) != NULL) {
		rc = CK_FAIL(err, CK_ERR_PARSE, "a CKA_LABEL with a NUL byte");
		goto out;
	}
	if ((rc = tok_obj_pkey(t, o, &pk, err)) != CK_OK ||
	    (rc = ck_key_spki_der(pk, &k->spki, &k->spki_len, err)) != CK_OK ||
	    (rc = ck_key_spki_sha256(pk, k->spki_sha256, err)) != CK_OK)
		goto out;
	ck_key_describe(pk, k->algorithm, sizeof(k->algorithm));
	memcpy(k->id, id ? id : (unsigned char *)"", idl);
	k->id_len = idl;
	if ((k->label = malloc(ll + 1)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	ck_str_printable(k->label, ll + 1, label ? (char *)label : "");
	rc = ck_pkcs11_uri_format(t->label, k->id, k->id_len, idl ? NULL : (char *)label,
				  t->module, &k->uri, err);
out:
	EVP_PKEY_free(pk);
	free(id);
	free(label);
	return rc;
}

enum ck_code
tok_find(struct ck_token *t, CK_OBJECT_CLASS cls, const unsigned char *id, size_t id_len,
	 const char *label, CK_OBJECT_HANDLE *objs, size_t max, size_t *n, struct ck_err *err)
{
	CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_ID, NULL, 0 } };
	CK_OBJECT_HANDLE batch[TOK_FIND_BATCH];
	CK_ULONG got = 0, ntmpl = 1;
	enum ck_code rc;
	CK_RV rv;

	*n = 0;
	if ((rc = tok_ready(t, err)) != CK_OK)
		return rc;
	if (id != NULL) {
		tmpl[1].pValue = (void *)id;
		tmpl[1].ulValueLen = id_len;
		ntmpl = 2;
	} else if (label != NULL) {
		tmpl[1].type = CKA_LABEL;
		tmpl[1].pValue = (void *)label;
		tmpl[1].ulValueLen = strlen(label);
		ntmpl = 2;
	}
	if ((rv = t->f->C_FindObjectsInit(t->session, tmpl, ntmpl)) != CKR_OK)
		return CK_FAIL(err, CK_ERR_IO, "token '%s' could not search its objects "
			       "(C_FindObjectsInit: 0x%lx)", t->label, (unsigned long)rv);
	for (;;) {
		rv = t->f->C_FindObjects(t->session, batch, TOK_FIND_BATCH, &got);
		if (rv != CKR_OK) {
			rc = CK_FAIL(err, CK_ERR_IO, "token '%s' could not search its objects "
				     "(C_FindObjects: 0x%lx)", t->label, (unsigned long)rv);
			break;
		}
		if (got == 0)
			break;
		if (got > TOK_FIND_BATCH || *n + got > max) {
			rc = CK_FAIL(err, CK_ERR_TOO_LARGE, "token '%s' holds more than %zu "
				     "matching objects; this version reads at most that many",
				     t->label, max);
			break;
		}
		memcpy(objs + *n, batch, got * sizeof(*batch));
		*n += got;
	}
	t->f->C_FindObjectsFinal(t->session);
	return rc;
}

enum ck_code
ck_token_public_keys(struct ck_token *t, struct ck_token_key_list *out, struct ck_err *err)
{
	struct ck_token_key_list l = { NULL, 0, 0 };
	CK_OBJECT_HANDLE *objs = NULL;
	struct ck_err skip;
	size_t n = 0, i;
	enum ck_code rc;

	objs = calloc(CK_TOKEN_OBJECTS_MAX, sizeof(*objs));
	if (objs == NULL)
		return CK_OOM(err);
	if ((rc = tok_find(t, CKO_PUBLIC_KEY, NULL, 0, NULL, objs, CK_TOKEN_OBJECTS_MAX, &n,
			   err)) != CK_OK)
		goto out;
	if ((l.items = calloc(n + 1, sizeof(*l.items))) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct ck_token_key *k = &l.items[l.n++];
		ck_err_clear(&skip);
		rc = tok_obj_read(t, objs[i], k, &skip);
		if (rc == CK_ERR_UNSUPPORTED || rc == CK_ERR_PARSE || rc == CK_ERR_TOO_LARGE) {
			/* an object this version cannot name or read: skipped, counted */
			free(k->label);
			free(k->spki);
			free(k->uri);
			memset(k, 0, sizeof(*k));
			l.n--;
			l.skipped++;
			continue;
		}
		if (rc != CK_OK) {
			if (err != NULL)
				*err = skip;
			goto out;
		}
	}
	*out = l;
	memset(&l, 0, sizeof(l));
	rc = CK_OK;
out:
	ck_token_key_list_cleanup(&l);
	free(objs);
	return rc;
}

void
ck_token_key_cleanup(struct ck_token_key *k)
{
	if (k == NULL)
		return;
	free(k->label);
	free(k->spki);
	free(k->uri);
	memset(k, 0, sizeof(*k));
}

void
ck_token_key_list_cleanup(struct ck_token_key_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		ck_token_key_cleanup(&l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}
