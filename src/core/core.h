/*
 * core.h - errors, logging, bounded buffers, secure memory, the injectable
 * clock, atomic file writes and fault points.  Everything above core uses
 * these; core uses nothing above it.  Core never keeps mutable globals:
 * configuration travels in struct ck_ctx.
 */
#ifndef CK_CORE_H
#define CK_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include <certkeep/context.h> /* errors, init, log levels, struct ck_ctx: public */

/* ---- errors ---------------------------------------------------------- */

/*
 * Fills *e (if not NULL) with code, where and a printf-style message and
 * returns code, so failures read `return CK_FAIL(err, CK_ERR_IO, "...")`.
 * Problem fields are left as they were (set them with ck_err_problem).
 */
enum ck_code ck_err_set(struct ck_err *e, enum ck_code code, const char *where,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define CK_FAIL(err, code, ...) ck_err_set((err), (code), __func__, __VA_ARGS__)

/* Prefixes the existing message with "context: " (for adding what we were doing). */
void ck_err_prefix(struct ck_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends the OpenSSL error queue (and clears it) to e->msg. */
enum ck_code ck_err_openssl(struct ck_err *e, enum ck_code code, const char *where,
			    const char *what);
#define CK_FAIL_SSL(err, what) ck_err_openssl((err), CK_ERR_CRYPTO, __func__, (what))

/*
 * The out-of-memory error, made in one place: CK_ERR_NOMEM with the message
 * "out of memory" (never allocates).  Returns CK_ERR_NOMEM, so failures read
 * `return CK_OOM(err);` or `rc = CK_OOM(err);`.
 */
enum ck_code ck_err_oom(struct ck_err *e, const char *where);
#define CK_OOM(err) ck_err_oom((err), __func__)

/* ---- logging ---------------------------------------------------------- */

struct ck_log {
	enum ck_log_level level;   /* messages above this level are dropped */
	FILE *fp;                  /* NULL means stderr */
};

/* Never pass secrets here.  Server strings must be sanitized first (ck_str_printable). */
void ck_log(const struct ck_log *lg, enum ck_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- context: clock, sleep, log --------------------------------------- */

struct ck_clock {
	time_t (*now)(void *arg);                 /* wall clock, seconds */
	void (*sleep_ms)(void *arg, unsigned ms); /* tests make this instant */
	void *arg;
};

struct acme_http_ops; /* acme/acme.h: how an ACME client sends its requests */
struct acme_share;    /* acme/acme.h: what the ACME clients of one batch share */

/* Public as an opaque handle (ck_ctx_new and its setters); inside the
 * library and its tests a plain struct, set up with ck_ctx_init. */
struct ck_ctx {
	struct ck_log log;
	struct ck_clock clock;
	/*
	 * The transport of every ACME client the flows make (ck_server_client_new):
	 * NULL means libcurl; a test points it at a scripted server.  Borrowed;
	 * must outlive the clients.
	 */
	const struct acme_http_ops *acme_transport;
	/*
	 * NULL, or what the ACME clients made with this context hand on to each
	 * other (the directory, unused nonces, idle connections): set by the
	 * renewal scheduler for its batch.  Borrowed; must outlive the clients.
	 */
	struct acme_share *acme_share;
	/* Set by a signal handler to stop long waits (ck_ctx_set_cancel); NULL = never. */
	const volatile sig_atomic_t *cancel;
	/* Readable once cancel is set (ck_ctx_set_cancel_fd); -1 = none. */
	int cancel_fd;
	/* This node's name in a fleet (ck_ctx_set_node; default the host name). */
	char node[CK_NODE_MAX + 1];
};

/*
 * CK_ERR_CANCELLED with a message naming what was stopped, if ctx is
 * cancelled; CK_OK otherwise.  Long loops call it once per round.
 */
enum ck_code ck_cancel_check(const struct ck_ctx *ctx, const char *what, struct ck_err *err);

/* A context with the real clock and logging at INFO to stderr. */
void ck_ctx_init(struct ck_ctx *ctx);
time_t ck_now(const struct ck_ctx *ctx);
void ck_sleep_ms(const struct ck_ctx *ctx, unsigned ms);
/* Milliseconds of the monotonic clock (CLOCK_MONOTONIC): for deadlines and
 * elapsed time, never for dates (the context's clock is for those). */
long long ck_mono_ms(void);
/* A random number in [0, n) for jitter, not secrets (RAND_bytes, else the
 * clock and the pid); 0 if n is 0. */
unsigned long ck_random_below(unsigned long n);

/* RFC 3339 UTC ("2026-11-22T10:00:00Z") into out[21]. */
void ck_time_rfc3339(time_t t, char out[21]);

/* ---- bounded buffers --------------------------------------------------- */

/*
 * A growable byte buffer born with a maximum.  data is always
 * NUL-terminated (the NUL is not counted in len).  A secret buffer is
 * cleansed when it grows (old storage) and at cleanup.
 */
struct ck_buf {
	unsigned char *data;
	size_t len;
	size_t cap;
	size_t max;
	int secret;
};

void ck_buf_init(struct ck_buf *b, size_t max);
void ck_buf_init_secret(struct ck_buf *b, size_t max);
/* CK_ERR_TOO_LARGE if len would pass max; the buffer is unchanged then. */
enum ck_code ck_buf_append(struct ck_buf *b, const void *data, size_t n, struct ck_err *err);
enum ck_code ck_buf_printf(struct ck_buf *b, struct ck_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Hands the storage to the caller (who frees it with free or ck_secure_free) and resets b. */
unsigned char *ck_buf_take(struct ck_buf *b, size_t *len);
void ck_buf_cleanup(struct ck_buf *b);

/* ---- secure memory ---------------------------------------------------- */

/* Wipes n bytes and frees.  NULL is a no-op. */
void ck_secure_free(void *p, size_t n);
/* Wipes a NUL-terminated string and frees it. */
void ck_secure_strfree(char *s);
/* strdup that reports CK_ERR_NOMEM. */
enum ck_code ck_strdup(const char *s, char **out, struct ck_err *err);

/* ---- strings from outside --------------------------------------------- */

/* Copies src into dst (size n), replacing control and non-ASCII bytes with '?'. */
void ck_str_printable(char *dst, size_t n, const char *src);
/* 1 if s is non-empty and only [A-Za-z0-9_-] (base64url), at most max chars. */
int ck_str_is_b64url(const char *s, size_t max);

/*
 * 1 if s is a name we hand out (store lineage/account/binding names, token
 * names): 1..max bytes of [A-Za-z0-9._-], not starting with '.' or '-', so
 * it can never become a hidden path, a path step or a command-line option.
 */
int ck_str_is_name(const char *s, size_t max);

/* ---- hex ----------------------------------------------------------------- */

/*
 * Writes the n bytes of in as hex (lower case; _upper: upper case) and a NUL
 * into out (outlen bytes: at least 2 * n + 1).  Returns the number of digits
 * written (2 * n); 0 with out = "" when out is too small (nothing partial).
 * n = 0 gives "".
 */
size_t ck_hex_encode(const unsigned char *in, size_t n, char *out, size_t outlen);
size_t ck_hex_encode_upper(const unsigned char *in, size_t n, char *out, size_t outlen);

/* ---- the bounded string vector ------------------------------------------- */

/*
 * A list of owned strings (URLs, contacts, names).  v[n] is NULL when v is
 * not NULL, so v also reads as a NULL-terminated array.  Start from
 * `struct ck_strv v = { 0 };`; release with ck_strv_cleanup.
 */
struct ck_strv {
	char **v;
	size_t n;
	size_t cap;   /* slots allocated in v (the NULL after the last included) */
};
/*
 * Appends a copy of s.  CK_ERR_TOO_LARGE ("more than MAX entries") when v
 * already has max_items entries or s is longer than max_len bytes;
 * CK_ERR_INVALID_ARG for a NULL s; CK_ERR_NOMEM.  On failure v is unchanged.
 */
enum ck_code ck_strv_add(struct ck_strv *v, const char *s, size_t max_items, size_t max_len,
			 struct ck_err *err);
/* Frees every entry and the array, and resets v to empty.  NULL is a no-op. */
void ck_strv_cleanup(struct ck_strv *v);

/* ---- files ------------------------------------------------------------- */

/*
 * Writes a file whole or not at all: a temp file in the same directory,
 * created with `mode` (never widened by a later chmod), written, fsynced,
 * renamed over path, then the directory fsynced.
 */
enum ck_code ck_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
				  struct ck_err *err);
/*
 * Temp files of ck_file_write_atomic: ".NAME.certkeep-tmp-PID-XXXXXX" in
 * NAME's directory.  Before writing, the leftovers of crashed writes of the
 * same NAME are removed: regular files of ours, older than
 * CK_FILE_TMP_STALE_S, whose writer's pid no longer runs (a live writer's
 * temp file is never removed).
 */
#define CK_FILE_TMP_STALE_S 60
/* The mkstemp template for path written by pid into out; -1 if too long or no name. */
int ck_file_tmp_name(const char *path, pid_t pid, char *out, size_t n);
/* 1 (and *pid) if directory entry is a temp file name of a file named base, else 0. */
int ck_file_tmp_match(const char *entry, const char *base, pid_t *pid);
/* Reads a whole file of at most max bytes into a NUL-terminated buffer. */
enum ck_code ck_file_read(const char *path, size_t max, unsigned char **data, size_t *len,
			  struct ck_err *err);
/* Like ck_file_read but the buffer is secret (wipe with ck_secure_free(data, len + 1)). */
enum ck_code ck_file_read_secret(const char *path, size_t max, unsigned char **data, size_t *len,
				 struct ck_err *err);
/* Reads a secret from a file, or from an inherited descriptor when path is "fd:N".
 * Strips one trailing newline (and CR).  Result is wiped with ck_secure_strfree. */
enum ck_code ck_secret_read(const char *path, size_t max, char **out, struct ck_err *err);
/* mkdir -p; directories it creates get `mode` at creation. */
enum ck_code ck_mkdir_p(const char *path, mode_t mode, struct ck_err *err);

/* ---- child processes -------------------------------------------------- */

#define CK_PROC_OUTPUT_MAX (64 * 1024) /* output kept when max_output is 0 */

/* How a program run by ck_proc_run ended. */
struct ck_proc_result {
	int exited;             /* 1: it exited by itself; status is valid */
	int status;             /* exit status 0..255 */
	int signal;             /* the signal that ended it (not exited) */
	int timed_out;          /* 1: ended by us at the timeout */
	int cancelled;          /* 1: ended by us because ctx was cancelled */
	char *output;           /* stdout and stderr interleaved, NUL-terminated, never NULL */
	size_t output_len;
	size_t output_dropped;  /* bytes past max_output, read and dropped */
};

/*
 * Runs argv[0] with argv (NULL-terminated) and exactly the environment envp
 * (NULL-terminated; NULL = only a default PATH), never through a shell.
 * argv[0] without '/' is looked up in envp's PATH (else the default) before
 * the fork.  stdin is /dev/null; stdout and stderr go to one pipe, kept up
 * to max_output bytes (0 = CK_PROC_OUTPUT_MAX).  The program runs in its
 * own process group, with no descriptor of ours open and default SIGINT/
 * SIGTERM/SIGPIPE; at timeout_ms, or when ctx is cancelled, the group gets
 * SIGTERM and 2 s later SIGKILL.  Returns CK_OK whenever the program ran
 * (whatever its exit: read *out, ck_proc_ok, ck_proc_describe);
 * CK_ERR_NOT_FOUND / CK_ERR_PERMISSION / CK_ERR_IO naming the program when
 * it could not be started.  Free *out with ck_proc_result_cleanup.
 * Callers must sanitize output (ck_str_printable) before showing it.
 */
enum ck_code ck_proc_run(const struct ck_ctx *ctx, const char *const *argv,
			 const char *const *envp, unsigned timeout_ms, size_t max_output,
			 struct ck_proc_result *out, struct ck_err *err);
/* 1 if the program exited by itself with status 0. */
int ck_proc_ok(const struct ck_proc_result *r);
/* "exited with status 3", "did not finish within 120 s and was ended", ... */
void ck_proc_describe(const struct ck_proc_result *r, unsigned timeout_ms, char *buf, size_t n);
void ck_proc_result_cleanup(struct ck_proc_result *r);

/* ---- fault points ------------------------------------------------------ */

/*
 * A named point in a write path where a test may kill the process.  Built
 * only with -Dfault_injection=true.  CERTKEEP_FAULT="name" aborts at the
 * first pass of `name`, "name:N" at the Nth.  CERTKEEP_FAULT_LOG=FILE
 * appends each name passed, one per line, so tests can enumerate them.
 */
#ifdef CK_FAULT_INJECTION
void ck_fault_point(const char *name);
#define CK_FAULT(name) ck_fault_point(name)
#else
#define CK_FAULT(name) ((void)0)
#endif

#define CK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
