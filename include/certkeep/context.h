/*
 * certkeep/context.h - process set-up and the context every call that
 * logs, waits or reads the clock takes.
 *
 * Start-up, once per process: ck_global_init() before any other thread
 * exists; then one struct ck_ctx (ck_ctx_new) with its log level and,
 * for tests, its clock.
 *
 * Threading rule (libcertkeep keeps no mutable globals; this is all of it):
 *  - ck_global_init once, before threads; ck_global_cleanup once, after.
 *  - A struct ck_ctx may be shared by any number of threads once it is set
 *    up: calls only read it.  Set it (ck_ctx_set_*) before sharing it, and
 *    free it after the last call that uses it has returned.
 *  - A struct ck_store handle, and everything obtained from it (an account
 *    session), belongs to one thread at a time: one handle per thread.
 *    Several handles on the same store file, in threads or processes, are
 *    safe together: the store serialises writers itself (CK_ERR_BUSY after
 *    CK_STORE_BUSY_MS).
 *  - ck_issue listens for http-01 on the port it is given: issuances that
 *    run at the same time need different ports.
 */
#ifndef CERTKEEP_CONTEXT_H
#define CERTKEEP_CONTEXT_H

#include <signal.h>
#include <stdio.h>
#include <time.h>

#include <certkeep/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Process-wide set-up of the libraries libcertkeep uses: OpenSSL
 * (OPENSSL_init_crypto with its configuration file, error strings, all
 * ciphers and digests; OPENSSL_init_ssl) and libcurl
 * (curl_global_init(CURL_GLOBAL_DEFAULT)).  Call it once, at the start of
 * main, BEFORE any other thread exists (curl_global_init is not
 * thread-safe), and before any other ck_ call that may reach the network.
 * Idempotent: a second call returns CK_OK and changes nothing.  Returns
 * CK_OK, CK_ERR_CRYPTO (OpenSSL could not initialise) or CK_ERR_NOMEM /
 * CK_ERR_INTERNAL (libcurl could not).  Apart from this call libcertkeep
 * changes no process-wide state (no umask, signals or environment) and
 * sets no malloc policy.  A program that runs ck_renew's workers and
 * cares for its RSS may limit glibc's per-thread arenas itself, before
 * its first thread: the certkeep command calls mallopt(M_ARENA_MAX, 1)
 * unless MALLOC_ARENA_MAX or GLIBC_TUNABLES chose (about 1 MiB per
 * worker at its peak, no CPU measured).
 */
CK_API enum ck_code ck_global_init(void);
/*
 * Undoes ck_global_init's libcurl part (curl_global_cleanup), when every
 * other thread that used libcertkeep has finished; a no-op without a
 * matching ck_global_init.  OpenSSL releases its own state at exit.
 */
CK_API void ck_global_cleanup(void);

/* Log levels: a context logs messages at its level and below. */
enum ck_log_level { CK_LOG_ERROR = 0, CK_LOG_WARN = 1, CK_LOG_INFO = 2, CK_LOG_DEBUG = 3 };

/* Configuration of the calls that take it: log level and stream, clock.  Opaque. */
struct ck_ctx;

/*
 * A new context: the real clock, logging at CK_LOG_INFO to stderr.
 * *out is set only on success; free it with ck_ctx_free.  CK_ERR_NOMEM.
 */
CK_API enum ck_code ck_ctx_new(struct ck_ctx **out, struct ck_err *err);
/* Frees a context.  NULL is a no-op. */
CK_API void ck_ctx_free(struct ck_ctx *ctx);
/*
 * Logs messages at level and below (CK_LOG_ERROR is the quietest) to fp;
 * fp NULL means stderr.  fp must stay open while the context is used.
 * Log lines never hold secrets.
 */
CK_API void ck_ctx_set_log(struct ck_ctx *ctx, enum ck_log_level level, FILE *fp);
/*
 * Replaces the clock: now(arg) gives the wall clock in seconds since the
 * epoch, sleep_ms(arg, ms) waits (a test makes it instant).  Either NULL
 * restores the real one.  Both must be safe to call from every thread that
 * uses the context.
 */
CK_API void ck_ctx_set_clock(struct ck_ctx *ctx, time_t (*now)(void *arg),
			     void (*sleep_ms)(void *arg, unsigned ms), void *arg);

/*
 * Makes the calls that take ctx stoppable: once *flag is non-zero (a
 * signal handler sets it), waits end early (ck_sleep_ms returns within
 * 100 ms, network transfers abort) and the call returns CK_ERR_CANCELLED
 * after cleaning up what it started (responders, challenge files and
 * records, half-written files), keeping what it committed.  flag NULL
 * turns it off.  The flag is borrowed and read only.
 */
CK_API void ck_ctx_set_cancel(struct ck_ctx *ctx, const volatile sig_atomic_t *flag);
/*
 * Optional, beside ck_ctx_set_cancel: a descriptor that becomes readable
 * once the cancel flag is set, such as the read end of a pipe that the
 * same signal handler writes one byte to (write(2) is async-signal-safe).
 * Waits then sleep on it and end as soon as it is readable, instead of
 * waking every 100 ms to look at the flag: fewer wake-ups for a batch's
 * many short waits, and an at-once cancel.  Nothing reads from it (it
 * stays readable).  -1 (the default) turns it off; borrowed, it must stay
 * open while the context is used.
 */
CK_API void ck_ctx_set_cancel_fd(struct ck_ctx *ctx, int fd);
/* 1 once the context's cancel flag is set; 0 without one. */
CK_API int ck_ctx_cancelled(const struct ck_ctx *ctx);

/* Longest node name (bytes, without the terminating NUL). */
#define CK_NODE_MAX 63
/*
 * This process's node name in a fleet sharing one store: the bindings it
 * deploys and the leases and heartbeats it records carry it.  Default:
 * the host name (up to its first dot).  A name is 1..CK_NODE_MAX bytes of
 * letters, digits, '-', '_' and '.'; anything else is CK_ERR_INVALID_ARG and
 * the name is left as it was.
 */
CK_API enum ck_code ck_ctx_set_node(struct ck_ctx *ctx, const char *name, struct ck_err *err);
/* The node name (never NULL, never empty). */
CK_API const char *ck_ctx_node(const struct ck_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
