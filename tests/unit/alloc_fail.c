/*
 * alloc_fail.c - the allocation failer (see alloc_fail.h).  Test support
 * only: linked into test_alloc_torture, whose link line wraps the libc
 * allocators (-Wl,--wrap=malloc,...), so every call from certkeep's static
 * libraries lands in __wrap_* here.  The state is process-wide by nature:
 * it stands in for the allocator, which is process-wide too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
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
} af;

/* 1 if this allocation (from source) is the one to fail. */
static int
af_fails(unsigned source)
{
	if (af.paused > 0 || (af.mask & source) == 0)
		return 0;
	af.count++;
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
}

void
af_arm(unsigned long n, unsigned mask)
{
	af.fail_at = n;
	af.count = 0;
	af.hit = 0;
	af.mask = mask;
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
af_leak_check(const char *name, unsigned long n)
{
#ifdef AF_LEAK_CHECK
	static int off;

	if (off || getenv("CK_TORTURE_NOLEAK") != NULL)
		return;
	if (__lsan_do_recoverable_leak_check() != 0) {
		off = 1;
		if (n == 0)
			fprintf(stderr, "%s: leaks from an earlier failure: per-N leak checks off\n",
				name);
		else
			fail_msg("%s: memory leaked when one of allocations %lu..%lu failed "
				 "(report above; CK_TORTURE_TRACE=N shows where the Nth is)", name,
				 (n - 1) / AF_LEAK_EVERY * AF_LEAK_EVERY + 1, n);
	}
#else
	(void)name;
	(void)n;
#endif
}

unsigned long
af_torture(const char *name, unsigned mask, af_op op, af_check check, void *arg)
{
	struct ck_err err;
	enum ck_code rc;
	unsigned long n;
	int hit;

	if (getenv("CK_TORTURE_MASK") != NULL) /* debugging: which sources to fail */
		mask &= (unsigned)strtoul(getenv("CK_TORTURE_MASK"), NULL, 0);
	af_leak_check(name, 0);
	for (n = 1; n < AF_N_MAX; n++) {
		ck_err_clear(&err);
		af_arm(n, mask);
		rc = op(arg, &err);
		hit = af_disarm();
		if (getenv("CK_TORTURE_TRACE") != NULL &&
		    strtoul(getenv("CK_TORTURE_TRACE"), NULL, 10) == n)
			fprintf(stderr, "alloc_fail: %s at %lu: code %d: %s\n", name, n, (int)rc,
				err.msg);
		if (rc != CK_OK && err.msg[0] == '\0')
			fail_msg("%s: failing allocation %lu gave code %d and no message", name, n,
				 (int)rc);
		if (!hit && rc != CK_OK)
			fail_msg("%s: failed without an allocation failure (n=%lu): %s", name, n,
				 err.msg);
		if (check != NULL)
			check(arg, rc, n, hit);
		if (n % AF_LEAK_EVERY == 0 || !hit)
			af_leak_check(name, n);
		if (!hit) {
			if (getenv("CK_TORTURE_VERBOSE") != NULL)
				fprintf(stderr, "%s: %lu allocations\n", name, n - 1);
			return n - 1;
		}
	}
	fail_msg("%s: still allocating after %lu allocations", name, n);
	return 0;
}
