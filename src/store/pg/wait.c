/*
 * pg/wait.c - every wait of the PostgreSQL driver on its server, bounded:
 * the connection is made with PQconnectStartParams/PQconnectPoll and each
 * statement sent with libpq's asynchronous calls, then the driver polls
 * the socket in slices of PG_SLICE_MS until the answer is there, the
 * deadline passes (a silent server: a black-holed network, a stopped
 * postgres, a proxy that accepts and never answers), or the context is
 * cancelled (SIGTERM/SIGINT: the handler only sets a flag; the wait then
 * gives the server PG_CANCEL_GRACE_MS more, so a healthy server finishes
 * the statement in flight and the clean-up after it still runs).  A wait
 * given up closes the connection, after which the server rolls back the
 * open transaction as soon as it sees the close; a COMMIT given up has an
 * unknown outcome and says so.  A connection string naming several hosts
 * gets the connect deadline per host, tried in order (libpq's
 * connect_timeout counts per host; its asynchronous connect never leaves
 * a silent host on its own).
 *
 * Must never: wait on the server without a deadline, call PQcancel where
 * it can block the caller (it connects and reads without a timeout), log
 * the connection string, retry a statement (the transaction is gone with
 * the connection).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg/pg_int.h"

#define PG_SLICE_MS 100          /* how often a wait looks at the cancel flag */
#define PG_CANCEL_GRACE_MS 2000  /* how long a cancelled wait still gives the server */

/* One wait: its deadline (0: none), and why it ended. */
struct pg_wait {
	long long start, deadline;
	int cancelled;
};

void
st_pg_set_fail(struct st_conn *c, const PGresult *res)
{
	const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg);
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	size_t n;

	c->cancelled = 0;
	c->gave_up = 0;
	snprintf(c->msg, sizeof(c->msg), "%s", m && m[0] && c->pg ? m : "connection lost");
	n = strlen(c->msg);
	while (n > 0 && (c->msg[n - 1] == '\n' || c->msg[n - 1] == ' '))
		c->msg[--n] = '\0';
	snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", st ? st : "");
	if (PQstatus(c->pg) != CONNECTION_OK)
		snprintf(c->msg + n, sizeof(c->msg) - n, " (the connection to PostgreSQL was "
			 "lost; an open transaction was not committed)");
}

/* A failure of our own (no SQLSTATE), trailing newlines (libpq's) dropped. */
static void __attribute__((format(printf, 2, 3)))
fail_msg(struct st_conn *c, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	n = strlen(c->msg);
	while (n > 0 && (c->msg[n - 1] == '\n' || c->msg[n - 1] == ' '))
		c->msg[--n] = '\0';
	c->sqlstate[0] = '\0';
	c->cancelled = 0;
	c->gave_up = 0;
}

static void
wait_begin(struct pg_wait *w, unsigned limit_ms)
{
	w->start = ck_mono_ms();
	w->deadline = limit_ms ? w->start + (long long)limit_ms : 0;
	w->cancelled = 0;
}

/*
 * Waits until the connection's socket is ready for events; 1 ready, 0 the
 * wait was given up (deadline or cancel: w says which), -1 poll failed
 * (c->msg set).
 */
static int
wait_sock(struct st_conn *c, short events, struct pg_wait *w)
{
	struct pollfd pfd;
	long long now, left;
	int r;

	for (;;) {
		now = ck_mono_ms();
		if (!w->cancelled && ck_ctx_cancelled(c->ctx)) {
			w->cancelled = 1;
			if (w->deadline == 0 || w->deadline > now + PG_CANCEL_GRACE_MS)
				w->deadline = now + PG_CANCEL_GRACE_MS;
		}
		left = w->deadline ? w->deadline - now : PG_SLICE_MS;
		if (left <= 0)
			return 0;
		pfd.fd = PQsocket(c->pg);
		pfd.events = events;
		pfd.revents = 0;
		if (pfd.fd < 0) {
			fail_msg(c, "the connection to PostgreSQL at %s has no socket", c->where);
			return -1;
		}
		r = poll(&pfd, 1, left < PG_SLICE_MS ? (int)left : PG_SLICE_MS);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR) {
			fail_msg(c, "waiting for PostgreSQL at %s: %s", c->where, strerror(errno));
			return -1;
		}
	}
}

/* Why a wait was given up, into c->msg; what follows is appended by the caller. */
static size_t
gave_up_msg(struct st_conn *c, const struct pg_wait *w, const char *doing)
{
	long long s = (ck_mono_ms() - w->start + 500) / 1000;
	int n;

	c->gave_up = 1;
	c->cancelled = w->cancelled;
	c->sqlstate[0] = '\0';
	if (w->cancelled)
		n = snprintf(c->msg, sizeof(c->msg), "stopped waiting for PostgreSQL at %s "
			     "(%s) on request (a signal), after %lld s", c->where, doing, s);
	else
		n = snprintf(c->msg, sizeof(c->msg), "PostgreSQL at %s did not answer within "
			     "%lld s (%s)", c->where, s, doing);
	return n < 0 ? 0 : (size_t)n >= sizeof(c->msg) ? sizeof(c->msg) - 1 : (size_t)n;
}

/* At most one cancel request in flight: one that hangs costs one thread. */
static atomic_int pg_cancel_busy;

static void *
cancel_main(void *arg)
{
	PGcancel *k = arg;
	char buf[256];

	(void)PQcancel(k, buf, sizeof(buf));
	PQfreeCancel(k);
	atomic_store(&pg_cancel_busy, 0);
	return NULL;
}

/*
 * Asks the server to cancel the running statement, best effort, on a
 * detached thread: PQcancel connects and reads without any timeout, and a
 * silent server would hang it.  Skipped while an earlier one is pending.
 */
static void
cancel_async(PGconn *pg)
{
	PGcancel *k;
	pthread_attr_t attr;
	pthread_t t;
	int made = 0;

	if (atomic_exchange(&pg_cancel_busy, 1))
		return;
	if ((k = PQgetCancel(pg)) != NULL && pthread_attr_init(&attr) == 0) {
		if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0)
			made = pthread_create(&t, &attr, cancel_main, k) == 0;
		pthread_attr_destroy(&attr);
	}
	if (!made) {
		PQfreeCancel(k);
		atomic_store(&pg_cancel_busy, 0);
	}
}

/* Gives the connection up: the statement in flight cancelled (best effort), then closed. */
static void
abandon(struct st_conn *c)
{
	if (c->pg != NULL && PQtransactionStatus(c->pg) == PQTRANS_ACTIVE)
		cancel_async(c->pg);
	PQfinish(c->pg);
	c->pg = NULL;
}

/* CERTKEEP_STORE_TIMEOUT into c->stmt_ms; 0, or -1 with c->msg set. */
static int
read_timeout(struct st_conn *c)
{
	const char *env = getenv(PG_STORE_TIMEOUT_ENV);
	char *end = NULL;
	long v;

	c->stmt_ms = PG_STMT_TIMEOUT_S * 1000u;
	if (env == NULL || env[0] == '\0')
		return 0;
	errno = 0;
	v = strtol(env, &end, 10);
	if (errno != 0 || end == env || *end != '\0' || v < 1 || v > PG_STORE_TIMEOUT_MAX_S) {
		snprintf(c->msg, sizeof(c->msg), "%s must be a number of seconds from 1 to %d; "
			 "nothing was opened: fix or unset it", PG_STORE_TIMEOUT_ENV,
			 PG_STORE_TIMEOUT_MAX_S);
		c->sqlstate[0] = '\0';
		return -1;
	}
	c->stmt_ms = (unsigned)v * 1000u;
	return 0;
}

/*
 * The connect deadline in ms, 0 = none: libpq's connect_timeout when the
 * connection string sets it (as libpq reads it: 0 or less waits for ever,
 * 1 is 2), else PG_CONNECT_TIMEOUT_S but never longer than a statement's.
 */
static unsigned
connect_limit_ms(const struct st_conn *c)
{
	PQconninfoOption *opts = PQconninfo(c->pg), *o;
	unsigned ms = PG_CONNECT_TIMEOUT_S * 1000u;
	long v;

	if (ms > c->stmt_ms)
		ms = c->stmt_ms;
	for (o = opts; o != NULL && o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "connect_timeout") != 0 || o->val == NULL ||
		    o->val[0] == '\0')
			continue;
		v = strtol(o->val, NULL, 10);
		ms = v <= 0 ? 0 : v == 1 ? 2000u : v > PG_STORE_TIMEOUT_MAX_S
			? PG_STORE_TIMEOUT_MAX_S * 1000u : (unsigned)v * 1000u;
	}
	PQconninfoFree(opts);
	return ms;
}

/*
 * The hosts of a connection string that names several (libpq's
 * comma-separated host / hostaddr / port lists): certkeep tries them one
 * by one, each under its own connect deadline, as libpq's connect_timeout
 * counts per host.  n < 2: one attempt over whatever the string names
 * (one host; or libpq orders the hosts itself, load_balance_hosts).
 */
struct pg_hosts {
	PQconninfoOption *opts;     /* PQconninfoParse's, freed by hosts_free */
	const char *host, *hostaddr, *port; /* the lists (NULL: not given) */
	size_t n;                   /* entries */
};

/* Entries in a comma-separated list (0: NULL or empty). */
static size_t
list_count(const char *s)
{
	size_t n = 1;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (; *s != '\0'; s++)
		n += *s == ',';
	return n;
}

/* Entry i of a comma-separated list into out[n] (cut to fit). */
static void
list_item(const char *s, size_t i, char *out, size_t n)
{
	size_t len;

	for (; i > 0 && s != NULL; i--)
		if ((s = strchr(s, ',')) != NULL)
			s++;
	len = s == NULL ? 0 : strcspn(s, ",");
	snprintf(out, n, "%.*s", (int)len, s == NULL ? "" : s);
}

static void
hosts_read(const char *conninfo, struct pg_hosts *h)
{
	PQconninfoOption *o;
	size_t na;

	memset(h, 0, sizeof(*h));
	if ((h->opts = PQconninfoParse(conninfo, NULL)) == NULL)
		return; /* the connection attempt reports what is wrong */
	for (o = h->opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "host") == 0)
			h->host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			h->hostaddr = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			h->port = o->val;
		else if (strcmp(o->keyword, "load_balance_hosts") == 0 && o->val != NULL &&
			 strcmp(o->val, "disable") != 0)
			return; /* n = 0: libpq picks the order, one deadline for all */
	}
	h->n = list_count(h->host);
	if ((na = list_count(h->hostaddr)) > h->n)
		h->n = na;
}

/*
 * Starts connecting to host i of h (h NULL: to what conninfo names): the
 * connection string first, then that host's entries, which libpq lets
 * override the string's lists.  c->where names the host.
 */
static int
connect_start(struct st_conn *c, const char *conninfo, const struct pg_hosts *h, size_t i)
{
	char host[256], addr[256], port[32];
	const char *kw[5] = { "dbname", NULL }, *val[5] = { conninfo, NULL };
	int k = 1;

	if (h != NULL && h->host != NULL) {
		list_item(h->host, i, host, sizeof(host));
		kw[k] = "host";
		val[k++] = host;
	}
	if (h != NULL && h->hostaddr != NULL) {
		list_item(h->hostaddr, i, addr, sizeof(addr));
		kw[k] = "hostaddr";
		val[k++] = addr;
	}
	if (h != NULL && list_count(h->port) == h->n) { /* else one port for every host */
		list_item(h->port, i, port, sizeof(port));
		kw[k] = "port";
		val[k++] = port;
	}
	kw[k] = NULL;
	c->pg = PQconnectStartParams(kw, val, 1);
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD) {
		fail_msg(c, "%s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return -1;
	}
	snprintf(c->where, sizeof(c->where), "%s:%s", PQhost(c->pg) ? PQhost(c->pg) : "",
		 PQport(c->pg) ? PQport(c->pg) : "");
	return 0;
}

/* One connection attempt under its own deadline: 0 connected, -1 failed,
 * -2 the wait was given up (c->msg says why; c->cancelled if by a signal). */
static int
connect_wait(struct st_conn *c)
{
	PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
	struct pg_wait w;
	int r = 1;
	size_t n;

	wait_begin(&w, connect_limit_ms(c));
	while (ps != PGRES_POLLING_OK && ps != PGRES_POLLING_FAILED &&
	       (r = wait_sock(c, ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, &w)) == 1)
		ps = PQconnectPoll(c->pg);
	if (r == 0) {
		n = gave_up_msg(c, &w, "connecting");
		snprintf(c->msg + n, sizeof(c->msg) - n, "; nothing was done");
		return -2;
	}
	if (r < 0)
		return -1;
	if (ps != PGRES_POLLING_OK || PQsetnonblocking(c->pg, 1) != 0) {
		fail_msg(c, "%s", PQerrorMessage(c->pg));
		return -1;
	}
	return 0;
}

int
st_pg_connect(struct st_conn *c, const char *conninfo)
{
	char tried[sizeof(c->msg)];
	struct pg_hosts h;
	size_t i, len = 0;
	int r = -1;

	snprintf(c->where, sizeof(c->where), "the server named in --store");
	if (read_timeout(c) != 0)
		return -1;
	hosts_read(conninfo, &h);
	tried[0] = '\0';
	for (i = 0; i < (h.n > 1 ? h.n : 1); i++) {
		if (i > 0) { /* the host before failed or was silent: the next one */
			PQfinish(c->pg);
			c->pg = NULL;
		}
		if ((r = connect_start(c, conninfo, h.n > 1 ? &h : NULL, i)) == 0)
			r = connect_wait(c);
		if (r == 0 || h.n < 2 || c->cancelled)
			break;
		len += (size_t)snprintf(tried + len, sizeof(tried) - len, "%s%s", i ? "; " : "",
					c->msg);
		if (len >= sizeof(tried))
			len = sizeof(tried) - 1;
	}
	PQconninfoFree(h.opts);
	if (r == 0) {
		c->heard_ms = ck_mono_ms();
		return 0;
	}
	if (h.n > 1 && !c->cancelled)
		snprintf(c->msg, sizeof(c->msg), "none of the %zu hosts answered, each tried under "
			 "its own deadline: %s", h.n, tried);
	return -1;
}

/*
 * Sends what is queued, then reads until a result can be taken without
 * blocking; 1 then, 0 the wait was given up, -1 the connection failed
 * (c->msg set).
 */
static int
await_result(struct st_conn *c, struct pg_wait *w)
{
	int f, r;

	while ((f = PQflush(c->pg)) == 1) {
		if ((r = wait_sock(c, POLLOUT | POLLIN, w)) != 1)
			return r;
		if (PQconsumeInput(c->pg) != 1)
			break;
	}
	if (f < 0) {
		st_pg_set_fail(c, NULL);
		return -1;
	}
	while (PQisBusy(c->pg)) {
		if ((r = wait_sock(c, POLLIN, w)) != 1)
			return r;
		/* A lost connection makes libpq end the query with an error result. */
		if (PQconsumeInput(c->pg) != 1 && PQisBusy(c->pg)) {
			st_pg_set_fail(c, NULL);
			return -1;
		}
	}
	return 1;
}

/* What the caller should know after a statement was given up in the state tx. */
static const char *
outcome(const char *sql, PGTransactionStatusType tx)
{
	if (strcmp(sql, "COMMIT") == 0)
		return "; the connection was closed during COMMIT: its outcome is unknown (the "
		       "change was either committed whole or not at all); look (certkeep list, "
		       "show) before doing it again";
	if (tx == PQTRANS_INTRANS || tx == PQTRANS_INERROR)
		return "; the connection was closed: nothing this transaction did was committed";
	return "; the connection was closed";
}

PGresult *
st_pg_exec(struct st_conn *c, const char *sql, int nparams, const unsigned *types,
	   const char *const *vals, const int *lens, const int *fmts)
{
	PGTransactionStatusType tx;
	PGresult *keep = NULL, *r;
	struct pg_wait w;
	int ok, got = 0;
	size_t n;

	if (c->pg == NULL) {
		fail_msg(c, "the connection to PostgreSQL at %s was closed after an earlier "
			 "wait was given up; nothing more was done on it", c->where);
		c->gave_up = 1;
		return NULL;
	}
	tx = PQtransactionStatus(c->pg);
	wait_begin(&w, c->stmt_ms);
	ok = nparams < 0 ? PQsendQuery(c->pg, sql)
			 : PQsendQueryParams(c->pg, sql, nparams, types, vals, lens, fmts, 0);
	if (!ok) {
		st_pg_set_fail(c, NULL);
		return NULL;
	}
	while ((got = await_result(c, &w)) == 1 && (r = PQgetResult(c->pg)) != NULL) {
		if (keep != NULL && (PQresultStatus(keep) == PGRES_FATAL_ERROR ||
				     PQresultStatus(keep) == PGRES_NONFATAL_ERROR)) {
			PQclear(r);
		} else {
			PQclear(keep);
			keep = r;
		}
	}
	if (got == 1 && keep != NULL) {
		c->heard_ms = ck_mono_ms();
		return keep;
	}
	PQclear(keep);
	if (got == 1)
		st_pg_set_fail(c, NULL);
	if (got == 0) {
		n = gave_up_msg(c, &w, strcmp(sql, "COMMIT") == 0 ? "COMMIT" : "a statement");
		snprintf(c->msg + n, sizeof(c->msg) - n, "%s", outcome(sql, tx));
		abandon(c);
	}
	return NULL;
}
