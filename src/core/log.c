/*
 * log.c - leveled logging to stderr (or a chosen stream) and the context
 * that carries it with the clock.  Must never be handed a secret.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

void
ck_log(const struct ck_log *lg, enum ck_log_level lvl, const char *fmt, ...)
{
	static const char *const tag[] = { "error", "warning", "info", "debug" };
	FILE *fp;
	va_list ap;

	if (lg == NULL || fmt == NULL || lvl > lg->level)
		return;
	fp = lg->fp ? lg->fp : stderr;
	fprintf(fp, "certkeep: %s: ", tag[lvl]);
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	fputc('\n', fp);
	fflush(fp);
}

static time_t
real_now(void *arg)
{
	(void)arg;
	return time(NULL);
}

static void
real_sleep_ms(void *arg, unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	(void)arg;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* 1 if name is a valid node name (ck_ctx_set_node's rule). */
static int
ctx_node_valid(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > CK_NODE_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

/* The host name up to its first dot, else "localhost". */
static void
ctx_default_node(char out[CK_NODE_MAX + 1])
{
	char host[256];

	memset(host, 0, sizeof(host));
	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	host[strcspn(host, ".")] = '\0';
	host[CK_NODE_MAX] = '\0';
	if (!ctx_node_valid(host))
		snprintf(host, sizeof(host), "localhost");
	memcpy(out, host, strlen(host) + 1);
}

void
ck_ctx_init(struct ck_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->log.level = CK_LOG_INFO;
	ctx->log.fp = NULL;
	ctx->clock.now = real_now;
	ctx->clock.sleep_ms = real_sleep_ms;
	ctx->cancel_fd = -1;
	ctx_default_node(ctx->node);
}

enum ck_code
ck_ctx_new(struct ck_ctx **out, struct ck_err *err)
{
	struct ck_ctx *ctx = malloc(sizeof(*ctx));

	if (ctx == NULL)
		return CK_OOM(err);
	ck_ctx_init(ctx);
	*out = ctx;
	return CK_OK;
}

void
ck_ctx_free(struct ck_ctx *ctx)
{
	free(ctx);
}

void
ck_ctx_set_log(struct ck_ctx *ctx, enum ck_log_level level, FILE *fp)
{
	ctx->log.level = level;
	ctx->log.fp = fp;
}

void
ck_ctx_set_clock(struct ck_ctx *ctx, time_t (*now)(void *arg),
		 void (*sleep_ms)(void *arg, unsigned ms), void *arg)
{
	if (now == NULL || sleep_ms == NULL) {
		ctx->clock.now = real_now;
		ctx->clock.sleep_ms = real_sleep_ms;
		ctx->clock.arg = NULL;
		return;
	}
	ctx->clock.now = now;
	ctx->clock.sleep_ms = sleep_ms;
	ctx->clock.arg = arg;
}

time_t
ck_now(const struct ck_ctx *ctx)
{
	if (ctx == NULL || ctx->clock.now == NULL)
		return time(NULL);
	return ctx->clock.now(ctx->clock.arg);
}

/*
 * The real clock's sleep of ms on ctx's cancel descriptor: one wait that
 * ends when the time is up or the descriptor turns readable.  Returns the
 * milliseconds still to sleep the sliced way (0: done): all of it if poll
 * fails, the rest if the descriptor is readable while the flag is not set
 * (a misuse that must not turn into a busy loop).
 */
static unsigned
fd_sleep_ms(const struct ck_ctx *ctx, unsigned ms)
{
	long long end = ck_mono_ms() + ms, left;
	struct pollfd p;
	int n;

	while (!ck_ctx_cancelled(ctx) && (left = end - ck_mono_ms()) > 0) {
		p.fd = ctx->cancel_fd;
		p.events = POLLIN;
		p.revents = 0;
		n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0 && errno == EINTR)
			continue; /* the signal's handler may have set the flag */
		if (n < 0)
			return (unsigned)left;
		if (n > 0 && !ck_ctx_cancelled(ctx)) {
			left = end - ck_mono_ms();
			return left > 0 ? (unsigned)left : 0;
		}
	}
	return 0;
}

/* Sleeps in slices of at most 100 ms while cancellable, so a cancel is
 * seen soon; in one wait on the cancel descriptor when there is one. */
void
ck_sleep_ms(const struct ck_ctx *ctx, unsigned ms)
{
	if (ctx == NULL || ctx->clock.sleep_ms == NULL) {
		real_sleep_ms(NULL, ms);
		return;
	}
	if (ctx->cancel == NULL) {
		ctx->clock.sleep_ms(ctx->clock.arg, ms);
		return;
	}
	/* A test's clock keeps its own sleep. */
	if (ctx->cancel_fd >= 0 && ctx->clock.sleep_ms == real_sleep_ms)
		ms = fd_sleep_ms(ctx, ms);
	while (ms > 0 && !ck_ctx_cancelled(ctx)) {
		unsigned slice = ms < 100 ? ms : 100;

		ctx->clock.sleep_ms(ctx->clock.arg, slice);
		ms -= slice;
	}
}

void
ck_ctx_set_cancel(struct ck_ctx *ctx, const volatile sig_atomic_t *flag)
{
	ctx->cancel = flag;
}

void
ck_ctx_set_cancel_fd(struct ck_ctx *ctx, int fd)
{
	ctx->cancel_fd = fd < 0 ? -1 : fd;
}

int
ck_ctx_cancelled(const struct ck_ctx *ctx)
{
	return ctx != NULL && ctx->cancel != NULL && *ctx->cancel != 0;
}

enum ck_code
ck_cancel_check(const struct ck_ctx *ctx, const char *what, struct ck_err *err)
{
	if (!ck_ctx_cancelled(ctx))
		return CK_OK;
	return CK_FAIL(err, CK_ERR_CANCELLED, "%s: stopped on request (interrupt or "
		       "terminate signal)", what);
}

void
ck_time_rfc3339(time_t t, char out[21])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 21, "1970-01-01T00:00:00Z");
}

enum ck_code
ck_ctx_set_node(struct ck_ctx *ctx, const char *name, struct ck_err *err)
{
	if (name == NULL || !ctx_node_valid(name))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "a node name is 1 to %d letters, digits, '-', '_' or '.'",
			       CK_NODE_MAX);
	memcpy(ctx->node, name, strlen(name) + 1);
	return CK_OK;
}

const char *
ck_ctx_node(const struct ck_ctx *ctx)
{
	return ctx->node;
}
