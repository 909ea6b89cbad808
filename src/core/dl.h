/*
 * dl.h - a shared library certkeep maps only when a command needs it
 * (libpq for a PostgreSQL store, libldns for dns-01 checks and updates), so
 * every other command, and every renewal on SQLite with http-01, runs
 * without their pages and relocations.
 *
 * A module lists the functions it calls in an X-macro and keeps one typed
 * table of pointers (each member __typeof__ the library's own prototype, so
 * the compiler checks every call), filled by a routine of its own with
 * ck_dl_open + ck_dl_sym + ck_dl_done; its callers ask ck_dl_load, which
 * runs that routine once.
 * The state lives in the module that loads (core keeps no mutable globals).
 */
#ifndef CK_CORE_DL_H
#define CK_CORE_DL_H

#include <pthread.h>

#include "core/core.h"

struct ck_dl {
	pthread_once_t once;
	const char *soname;   /* the name linked against at build time, "libpq.so.5" */
	const char *what;     /* what needs it, for the error: "a PostgreSQL store" */
	const char *package;  /* the Debian package that installs it: "libpq5" */
	void *handle;         /* set by ck_dl_done when every function was found */
	char msg[320];        /* why it is not loaded */
};

#define CK_DL_INIT(soname, what, package) { PTHREAD_ONCE_INIT, (soname), (what), (package), NULL, "" }

/*
 * dlopen of d->soname (RTLD_NOW | RTLD_LOCAL); NULL with d->msg saying why.
 * Test builds (-Dfault_injection=true) open a name that does not exist
 * instead when CERTKEEP_TEST_DL_MISSING lists d->soname (comma-separated),
 * so tests see what a machine without the package sees.  Call only from
 * the module's pthread_once routine.
 */
void *ck_dl_open(struct ck_dl *d);

/* dlsym of name in h; NULL with d->msg saying which function is missing. */
void *ck_dl_sym(struct ck_dl *d, void *h, const char *name);

/* Ends the load: d->handle = h when ok, else h is closed (if not NULL). */
void ck_dl_done(struct ck_dl *d, void *h, int ok);

/*
 * CK_OK once the library is loaded, else CK_ERR_UNSUPPORTED naming what
 * needs it, the library, why it failed and the package to install.  Call
 * after pthread_once(&d->once, ...) returned.
 */
enum ck_code ck_dl_result(const struct ck_dl *d, struct ck_err *err);

/* Runs load_once (the module's ck_dl_open ... ck_dl_done) once per
 * process under d->once, then ck_dl_result. */
enum ck_code ck_dl_load(struct ck_dl *d, void (*load_once)(void), struct ck_err *err);

#endif
