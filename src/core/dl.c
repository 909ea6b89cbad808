/*
 * dl.c - opening a library on first use and resolving its functions
 * (core/dl.h).  Stateless: the table, the once flag and the message live
 * in the module that loads.
 *
 * Must never: crash or abort when a library or a function is missing (the
 * caller gets an error naming the package), load anything but the soname
 * the build linked against.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dl.h"

#ifdef CK_FAULT_INJECTION
/* Whether CERTKEEP_TEST_DL_MISSING (a comma-separated list) names soname. */
static int
dl_test_missing(const char *soname)
{
	const char *p = getenv("CERTKEEP_TEST_DL_MISSING");
	size_t n = strlen(soname);

	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, ",");
		if (len == n && strncmp(p, soname, n) == 0)
			return 1;
		p += len;
		p += *p == ',';
	}
	return 0;
}
#endif

void *
ck_dl_open(struct ck_dl *d)
{
	const char *name = d->soname;
	void *h;

#ifdef CK_FAULT_INJECTION
	if (dl_test_missing(d->soname))
		name = "libcertkeep-test-missing.so.0";
#endif
	h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *why = dlerror();
		snprintf(d->msg, sizeof(d->msg), "%s", why != NULL ? why : "dlopen failed");
	}
	return h;
}

void *
ck_dl_sym(struct ck_dl *d, void *h, const char *name)
{
	void *f;

	(void)dlerror();
	f = dlsym(h, name);
	if (f == NULL)
		snprintf(d->msg, sizeof(d->msg), "it has no function %s (another version?)",
			 name);
	return f;
}

void
ck_dl_done(struct ck_dl *d, void *h, int ok)
{
	if (ok) {
		d->handle = h;
		return;
	}
	if (h != NULL)
		dlclose(h);
}

enum ck_code
ck_dl_load(struct ck_dl *d, void (*load_once)(void), struct ck_err *err)
{
	if (pthread_once(&d->once, load_once) != 0)
		return CK_FAIL(err, CK_ERR_INTERNAL, "pthread_once failed loading %s", d->soname);
	return ck_dl_result(d, err);
}

enum ck_code
ck_dl_result(const struct ck_dl *d, struct ck_err *err)
{
	if (d->handle != NULL)
		return CK_OK;
	return CK_FAIL(err, CK_ERR_UNSUPPORTED, "%s needs the library %s, which cannot be "
		       "loaded: %s; nothing was done: install the package %s (Debian and "
		       "Ubuntu; elsewhere the package that provides %s)", d->what, d->soname,
		       d->msg[0] != '\0' ? d->msg : "unknown error", d->package, d->soname);
}
