/*
 * alloc_fail.h - the allocation failer of test_alloc_torture: fails exactly
 * the Nth allocation of an operation, for N = 1, 2, ... until the operation
 * runs to its end without reaching N (jansson's and curl's torture loops).
 *
 * What it sees (see tests/README.md, "The allocation torture"):
 *  - AF_CK: malloc, calloc, realloc, strdup, strndup and vasprintf called
 *    from certkeep's own objects (the static module libraries and the test
 *    itself), through -Wl,--wrap=... on the torture executable only;
 *  - AF_JANSSON: jansson, through json_set_alloc_funcs;
 *  - AF_OPENSSL: OpenSSL, through CRYPTO_set_mem_functions;
 *  - AF_SQLITE: SQLite, through sqlite3_config(SQLITE_CONFIG_MALLOC).
 * af_init must run first thing in main, before OpenSSL or SQLite allocate.
 * Memory is always the real allocator's (ASan's in build-test/), so
 * LeakSanitizer and ASan see everything as usual.
 */
#ifndef CK_TEST_ALLOC_FAIL_H
#define CK_TEST_ALLOC_FAIL_H

#include "core/core.h"

enum af_source {
	AF_CK = 1,
	AF_JANSSON = 2,
	AF_OPENSSL = 4,
	AF_SQLITE = 8,
	AF_ALL = 15,
};

/* Installs the hooks; aborts if OpenSSL or SQLite had already allocated. */
void af_init(void);

/*
 * From now on count the allocations of the sources in mask and fail the
 * nth of them (n = 0: count only, never fail).
 */
void af_arm(unsigned long n, unsigned mask);
/* Stops counting; returns 1 if the nth allocation was reached (and failed). */
int af_disarm(void);
/* Allocations counted since af_arm. */
unsigned long af_counted(void);

/* While paused (nestable), nothing is counted or failed: the test's own
 * scaffolding (a fake server, a state check) runs with memory. */
void af_pause(void);
void af_resume(void);

/*
 * The torture loop.  For n = 1, 2, ...: arms the failer at n over mask,
 * runs op, and then check (may be NULL) with op's result; stops at the
 * first n that op does not reach, which must end in CK_OK.  Each failing
 * run must return an error with a message (or CK_OK if op gets by without
 * that allocation: hit tells check), must not crash, and must not leak:
 * with LeakSanitizer a leak check runs every 256th n and at the end, and
 * names the n range.  check runs with the failer off.  Returns the
 * number of allocations of the complete run.
 */
typedef enum ck_code (*af_op)(void *arg, struct ck_err *err);
typedef void (*af_check)(void *arg, enum ck_code rc, unsigned long n, int hit);
unsigned long af_torture(const char *name, unsigned mask, af_op op, af_check check, void *arg);

/*
 * The same loop by allocation site, for operations too costly to run once
 * per allocation (the store, import and export paths: 120 to 2,000
 * allocations each, and a dump of both store files after every run).  A
 * site is where an allocation failure reaches certkeep: the source and the
 * innermost three return addresses in certkeep's own code (or the test's),
 * which is the line that calls malloc (or strdup, ...), or that calls into
 * jansson or SQLite (their frames are passed over), and the two calls that
 * led there.  Each site is failed once, at its first allocation on the way
 * of the complete run, so every line of certkeep whose allocation (or
 * library call) can fail on that way, reached from every caller two levels
 * up, is made to fail and must be handled; what is no longer failed is a
 * later allocation at a site already failed: the second and later turns of
 * a loop, and the other allocations inside one jansson or SQLite call (those
 * libraries handle their own failures; certkeep sees the same NULL or
 * SQLITE_NOMEM from the call either way).  CK_TORTURE_EVERY=1 runs every N
 * instead (by hand: minutes).
 */
unsigned long af_torture_sites(const char *name, unsigned mask, af_op op, af_check check,
			       void *arg);

#endif
