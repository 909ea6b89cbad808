/*
 * alloc_fail.c - the allocation failer (see alloc_fail.h).  Test support
 * only: linked into test_alloc_torture, whose link line wraps the libc
 * allocators (-Wl,--wrap=malloc,...), so every call from certkeep's static
 * libraries lands in __wrap_* here.  The state is process-wide by nature:
 * it stands in for the allocator, which is process-wide too.
 */
#include <execinfo.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#define AF_LEAK_CHECK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#define AF_LEAK_CHECK 1
#endif
#endif

#include "alloc_fail.h"

#define AF_N_MAX 1000000UL /* a loop that never finishes is a bug of its own */
#define AF_LEAK_EVERY 256   /* a LeakSanitizer check costs 25-50 ms: every 256th N */
#define AF_LEAK_EVERY_SITE 16 /* by site: a run per site, far fewer runs */
#define AF_STACK_MAX 64     /* return addresses looked at */
#define AF_SITE_SKIP 3      /* af_site_new, af_fails and the hook (__wrap_malloc, ...) */
#define AF_SITE_FRAMES 3    /* the site: this many return addresses in our own code */
#define AF_SITES_MAX 32768  /* sites one loop remembers (a power of two) */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **out, const char *fmt, va_list ap);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_vasprintf(char **out, const char *fmt, va_list ap);

static struct {
	unsigned mask;        /* sources counted; 0 = disarmed */
	unsigned long fail_at;
	unsigned long count;
	int hit;
	int paused;
	int by_site;          /* fail the first allocation after `from` at a new site */
	unsigned long from;
} af;

/* The text of this executable: certkeep's static libraries and the test (GNU ld). */
extern char __executable_start[], etext[];

/* The sites failed so far in this loop (a hash set; 0 = empty slot). */
static uint64_t af_sites[AF_SITES_MAX];
static unsigned long af_nsites;

/*
 * 1 if the allocation being made (from source) is at a site not failed
 * before in this loop; the site is then remembered.  The site: the source
 * and the innermost AF_SITE_FRAMES return addresses in this executable's
 * code, that is the line of certkeep that allocates, or that calls into
 * jansson or SQLite (frames inside those libraries are passed over), and
 * the two calls that led there.  A full set counts as nothing new (and
 * fails the loop).
 */
static int
af_site_new(unsigned source)
{
	void *stack[AF_STACK_MAX];
	uint64_t h = 1469598103934665603ULL ^ source;
	unsigned long i;
	int n, k, taken = 0;

	af.paused++; /* backtrace's own work is none of the loop's business */
	n = backtrace(stack, AF_STACK_MAX);
	af.paused--;
	for (k = AF_SITE_SKIP; k < n && taken < AF_SITE_FRAMES; k++) {
		if ((char *)stack[k] < __executable_start || (char *)stack[k] >= etext)
			continue;
		h = (h ^ (uint64_t)(uintptr_t)stack[k]) * 1099511628211ULL;
		taken++;
	}
	h |= 1; /* never 0, the empty slot */
	if (af_nsites >= AF_SITES_MAX / 2)
		return 0;
	for (i = h & (AF_SITES_MAX - 1); af_sites[i] != 0; i = (i + 1) & (AF_SITES_MAX - 1))
		if (af_sites[i] == h)
			return 0;
	af_sites[i] = h;
	af_nsites++;
	return 1;
}

/* 1 if this allocation (from source) is the one to fail. */
static int
af_fails(unsigned source)
{
	if (af.paused > 0 || (af.mask & source) == 0)
		return 0;
	af.count++;
	if (af.by_site && !af.hit && af.count > af.from && af_site_new(source))
		af.fail_at = af.count;
	if (af.fail_at != 0 && af.count == af.fail_at) {
		af.hit = 1;
#ifdef AF_LEAK_CHECK
		/* CK_TORTURE_TRACE=N: where the Nth allocation is, to debug a finding. */
		if (getenv("CK_TORTURE_TRACE") != NULL &&
		    strtoul(getenv("CK_TORTURE_TRACE"), NULL, 10) == af.fail_at) {
			fprintf(stderr, "alloc_fail: failing allocation %lu here:\n", af.count);
			__sanitizer_print_stack_trace();
		}
#endif
		return 1;
	}
	return 0;
}

/* ---- libc, for certkeep's own objects (--wrap) ------------------------ */

void *
__wrap_malloc(size_t n)
{
	return af_fails(AF_CK) ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	return af_fails(AF_CK) ? NULL : __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return af_fails(AF_CK) ? NULL : __real_realloc(p, n);
}

char *
__wrap_strdup(const char *s)
{
	return af_fails(AF_CK) ? NULL : __real_strdup(s);
}

char *
__wrap_strndup(const char *s, size_t n)
{
	return af_fails(AF_CK) ? NULL : __real_strndup(s, n);
}

int
__wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
	if (af_fails(AF_CK)) {
		*out = NULL;
		return -1;
	}
	return __real_vasprintf(out, fmt, ap);
}

/* ---- jansson ---------------------------------------------------------- */

static void *
af_json_malloc(size_t n)
{
	return af_fails(AF_JANSSON) ? NULL : __real_malloc(n);
}

/* ---- OpenSSL ---------------------------------------------------------- */

static void *
af_ssl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return af_fails(AF_OPENSSL) ? NULL : __real_malloc(n);
}

static void *
af_ssl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return af_fails(AF_OPENSSL) ? NULL : __real_realloc(p, n);
}

static void
af_ssl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

/* ---- SQLite: a 16-byte header keeps the size xSize must report -------- */

#define AF_SQL_HDR 16

static void *
af_sql_malloc(int n)
{
	unsigned char *p;

	if (n < 0 || af_fails(AF_SQLITE))
		return NULL;
	if ((p = __real_malloc((size_t)n + AF_SQL_HDR)) == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + AF_SQL_HDR;
}

static void
af_sql_free(void *p)
{
	if (p != NULL)
		free((unsigned char *)p - AF_SQL_HDR);
}

static int
af_sql_size(void *p)
{
	int n = 0;

	if (p != NULL)
		memcpy(&n, (unsigned char *)p - AF_SQL_HDR, sizeof(n));
	return n;
}

static void *
af_sql_realloc(void *p, int n)
{
	unsigned char *q;

	if (n < 0 || af_fails(AF_SQLITE))
		return NULL;
	q = __real_realloc((unsigned char *)p - AF_SQL_HDR, (size_t)n + AF_SQL_HDR);
	if (q == NULL)
		return NULL;
	memcpy(q, &n, sizeof(n));
	return q + AF_SQL_HDR;
}

static int
af_sql_roundup(int n)
{
	return (n + 7) & ~7;
}

static int
af_sql_init(void *arg)
{
	(void)arg;
	return SQLITE_OK;
}

static void
af_sql_shutdown(void *arg)
{
	(void)arg;
}

void
af_init(void)
{
	static const sqlite3_mem_methods m = {
		af_sql_malloc, af_sql_free, af_sql_realloc, af_sql_size, af_sql_roundup,
		af_sql_init, af_sql_shutdown, NULL,
	};

	if (!CRYPTO_set_mem_functions(af_ssl_malloc, af_ssl_realloc, af_ssl_free)) {
		fprintf(stderr, "alloc_fail: OpenSSL allocated before af_init\n");
		abort();
	}
	if (sqlite3_config(SQLITE_CONFIG_MALLOC, &m) != SQLITE_OK) {
		fprintf(stderr, "alloc_fail: SQLite was initialised before af_init\n");
		abort();
	}
	json_set_alloc_funcs(af_json_malloc, free);
	{
		void *warm[1];

		backtrace(warm, 1); /* loads the unwinder now, not inside a loop */
	}
}

void
af_arm(unsigned long n, unsigned mask)
{
	af.fail_at = n;
	af.count = 0;
	af.hit = 0;
	af.by_site = 0;
	af.mask = mask;
}

/* Arms the failer for the first allocation after the from-th at a new site. */
static void
af_arm_site(unsigned long from, unsigned mask)
{
	af_arm(0, mask);
	af.by_site = 1;
	af.from = from;
}

int
af_disarm(void)
{
	af.mask = 0;
	return af.hit;
}

unsigned long
af_counted(void)
{
	return af.count;
}

void
af_pause(void)
{
	af.paused++;
}

void
af_resume(void)
{
	af.paused--;
}

/*
 * A leak check after every N names the N that leaked.  A test that failed
 * earlier may have left its memory behind (cmocka jumps out of it): then
 * the checks stop, and LeakSanitizer's report at exit still fails the run.
 */
static void
af_leak_check(const char *name, unsigned long lo, unsigned long hi)
{
#ifdef AF_LEAK_CHECK
	static int off;

	if (off || getenv("CK_TORTURE_NOLEAK") != NULL)
		return;
	if (__lsan_do_recoverable_leak_check() != 0) {
		off = 1;
		if (hi == 0)
			fprintf(stderr, "%s: leaks from an earlier failure: per-N leak checks off\n",
				name);
		else
			fail_msg("%s: memory leaked when one of allocations %lu..%lu failed "
				 "(report above; CK_TORTURE_TRACE=N shows where the Nth is)", name,
				 lo, hi);
	}
#else
	(void)name;
	(void)lo;
	(void)hi;
#endif
}

/*
 * One run of a loop: op with the failer armed (at allocation n, or by site
 * after allocation from), the checks every run must pass, then check.
 * Returns whether an allocation was failed; *n is the one that was.
 */
static int
af_run(const char *name, unsigned mask, af_op op, af_check check, void *arg,
       unsigned long from, unsigned long *n)
{
	struct ck_err err;
	enum ck_code rc;
	int hit;

	ck_err_clear(&err);
	if (*n != 0)
		af_arm(*n, mask);
	else
		af_arm_site(from, mask);
	rc = op(arg, &err);
	hit = af_disarm();
	if (hit)
		*n = af.fail_at;
	if (getenv("CK_TORTURE_TRACE") != NULL && hit &&
	    strtoul(getenv("CK_TORTURE_TRACE"), NULL, 10) == *n)
		fprintf(stderr, "alloc_fail: %s at %lu: code %d: %s\n", name, *n, (int)rc,
			err.msg);
	if (rc != CK_OK && err.msg[0] == '\0')
		fail_msg("%s: failing allocation %lu gave code %d and no message", name, *n,
			 (int)rc);
	if (!hit && rc != CK_OK)
		fail_msg("%s: failed without an allocation failure (after %lu): %s", name,
			 af.count, err.msg);
	if (check != NULL)
		check(arg, rc, hit ? *n : af.count + 1, hit);
	return hit;
}

/*
 * The loop of af_torture (every = 1: every N) and af_torture_sites (every =
 * 0: by site; see alloc_fail.h for why that still fails every site).  By
 * site, run r fails the first allocation after the one run r-1 failed
 * whose site no run of this loop failed before; the allocations before it
 * are at sites already failed, because each run takes the path of the
 * complete run up to the allocation it fails.  The loop ends with the run
 * that meets no new site: the complete run.
 */
static unsigned long
af_loop(const char *name, unsigned mask, af_op op, af_check check, void *arg, int every)
{
	unsigned long n, run, from = 0, lo = 1;
	unsigned long leak_every = every ? AF_LEAK_EVERY : AF_LEAK_EVERY_SITE;
	int hit;

	if (getenv("CK_TORTURE_MASK") != NULL) /* debugging: which sources to fail */
		mask &= (unsigned)strtoul(getenv("CK_TORTURE_MASK"), NULL, 0);
	memset(af_sites, 0, sizeof(af_sites));
	af_nsites = 0;
	af_leak_check(name, 0, 0);
	for (run = 1; run < AF_N_MAX; run++) {
		n = every ? run : 0;
		hit = af_run(name, mask, op, check, arg, from, &n);
		if (hit)
			from = n;
		if (run % leak_every == 0 || !hit) {
			af_leak_check(name, lo, hit ? n : af.count);
			lo = from + 1;
		}
		if (!hit) {
			if (!every && af_nsites >= AF_SITES_MAX / 2)
				fail_msg("%s: more than %d allocation sites: raise AF_SITES_MAX", name,
					 AF_SITES_MAX / 2);
			if (getenv("CK_TORTURE_VERBOSE") != NULL)
				fprintf(stderr, "%s: %lu allocations, %lu runs%s\n", name, af.count,
					run, every ? "" : " (one per allocation site)");
			return af.count;
		}
	}
	fail_msg("%s: still allocating after %lu runs", name, run);
	return 0;
}

unsigned long
af_torture(const char *name, unsigned mask, af_op op, af_check check, void *arg)
{
	return af_loop(name, mask, op, check, arg, 1);
}

unsigned long
af_torture_sites(const char *name, unsigned mask, af_op op, af_check check, void *arg)
{
	return af_loop(name, mask, op, check, arg, getenv("CK_TORTURE_EVERY") != NULL);
}
