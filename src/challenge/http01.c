/*
 * http01.c - the http-01 standalone responder on libevent's evhttp.  Owns
 * the listening socket (bound here so a bind failure can say why), one
 * event loop on a thread of its own, the token table (locked: the loop
 * answers from its thread while the owner adds and removes tokens) and the
 * one route it serves.  Never serves files, never answers a token it was
 * not given, never logs key authorizations.
 *
 * Bounds: at most HTTP01_CONN_LIMIT connections at once (at the limit it
 * stops accepting; the next wait in the listen backlog), HTTP01_CONN_TIMEOUT_S
 * of silence per connection, HTTP01_HEADERS_MAX bytes of request line and
 * headers (413 beyond), no request body (413).
 *
 * libevent runs without its evthread locks: everything of it is touched on
 * the loop thread while the loop runs, and by the owner only before the
 * thread starts and after it is joined.  Stop wakes the loop through a pipe
 * (as tlsalpn01.c wakes its acceptor) rather than evthread_use_pthreads(),
 * which would switch libevent's locking for the whole process of a program
 * that embeds libcertkeep and uses libevent itself, and add a library.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "challenge/challenge.h"
#include "challenge/http01.h"
#include "challenge/listen.h"

#define HTTP01_CONN_LIMIT 64          /* concurrent connections (a VA makes a few) */
#define HTTP01_CONN_TIMEOUT_S 10
#define HTTP01_LISTEN_BACKLOG 32
#define HTTP01_HEADERS_MAX 8192       /* request line + headers; a VA's are a few hundred bytes */
#define HTTP01_ACCEPT_RETRY_MS 250    /* after accept() failed (EMFILE): accepting again */
/* Every method evhttp knows reaches on_request, which answers 404 to all but
 * GET and HEAD (instead of evhttp's 501 for the ones not allowed). */
#define HTTP01_METHODS                                                                   \
	(EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |            \
	 EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | \
	 EVHTTP_REQ_PATCH)

static const struct chall_listen_names http01_names = { "http-01", "--http-port",
							 "--http-address" };

struct http01_entry {
	char *token;
	char *keyauth;
	long long served_at;  /* ck_mono_ms() of the first answer with keyauth; 0 = none yet */
};

struct http01 {
	const struct ck_ctx *ctx;
	pthread_mutex_t lock;                 /* entries, n, hits */
	struct http01_entry entries[HTTP01_TOKENS_MAX];
	size_t n;
	unsigned port;
	unsigned long hits;
	/* libevent's side: the loop thread's alone while it runs */
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *listener;      /* owns the listening socket */
	struct event *wake_ev;                /* wake[0] readable: the loop ends */
	struct event *setup_ev;               /* conn_setup, the turn after an accept */
	struct event *retry_ev;               /* accepting again after accept() failed */
	struct bufferevent *fresh[HTTP01_CONN_LIMIT]; /* accepted, close not hooked yet */
	size_t n_fresh;
	unsigned conns;                       /* connections open */
	int stopping;                         /* evhttp_free under way: never accept again */
	int wake[2];
	pthread_t loop;
	int have_loop;
};

/* ---- the token table (callers hold the lock) ------------------------------ */

static struct http01_entry *
entry_find(struct http01 *h, const char *token)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (strcmp(h->entries[i].token, token) == 0)
			return &h->entries[i];
	return NULL;
}

static void
entry_free(struct http01_entry *e)
{
	free(e->token);
	free(e->keyauth);
	e->token = NULL;
	e->keyauth = NULL;
}

/* ---- serving ---------------------------------------------------------------- */

/* Answers req with status and body as text/plain; to a HEAD, the headers
 * alone (evhttp 2.1 would send the body too) with the Content-Length its
 * GET would have. */
static void
reply(struct evhttp_request *req, int status, const char *reason, const char *body)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	int head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
	size_t len = strlen(body);
	char clen[24];

	snprintf(clen, sizeof(clen), "%zu", len);
	if (evhttp_add_header(hdr, "Content-Type", "text/plain") != 0 ||
	    evhttp_add_header(hdr, "Content-Length", clen) != 0 ||
	    (!head && evbuffer_add(evhttp_request_get_output_buffer(req), body, len) != 0)) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_send_reply(req, status, reason, NULL);
}

/* The request's path %-decoded (as libmicrohttpd gave it), without the
 * query; NULL when it has none or decodes to a NUL byte.  Caller frees. */
static char *
request_path(struct evhttp_request *req)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *raw = u != NULL ? evhttp_uri_get_path(u) : NULL;
	size_t len = 0;
	char *path;

	if (raw == NULL || (path = evhttp_uridecode(raw, 0, &len)) == NULL)
		return NULL;
	if (strlen(path) != len) {
		free(path);
		return NULL;
	}
	return path;
}

/* evhttp's callback for each request it parsed whole (within the bounds). */
static void
on_request(struct evhttp_request *req, void *arg)
{
	struct http01 *h = arg;
	const size_t plen = sizeof(HTTP01_PATH_PREFIX) - 1;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	char keyauth[HTTP01_KEYAUTH_MAX + 1] = "";
	const char *token = NULL;
	struct http01_entry *e;
	char *path = NULL;

	if ((m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD) && (path = request_path(req)) != NULL &&
	    strncmp(path, HTTP01_PATH_PREFIX, plen) == 0)
		token = path + plen;
	/* Only base64url tokens: no '/', '.', '%' or anything a path could use. */
	if (token != NULL && ck_str_is_b64url(token, HTTP01_TOKEN_MAX)) {
		pthread_mutex_lock(&h->lock);
		e = entry_find(h, token);
		if (e != NULL) {
			snprintf(keyauth, sizeof(keyauth), "%s", e->keyauth);
			h->hits++;
			if (e->served_at == 0)
				e->served_at = ck_mono_ms();
		}
		pthread_mutex_unlock(&h->lock);
	}
	if (keyauth[0] == '\0') {
		reply(req, HTTP_NOTFOUND, "Not Found", "not found\n");
	} else {
		ck_log(&h->ctx->log, CK_LOG_DEBUG, "http-01: answered the challenge for token %s",
		       token);
		reply(req, HTTP_OK, "OK", keyauth);
	}
	free(path);
}

/* ---- connections: counted, at most HTTP01_CONN_LIMIT ---------------------------
 *
 * libevent 2.1's evhttp has no connection limit.  Each accepted connection
 * gets its buffer from conn_new (evhttp's bevcb), which counts it and stops
 * accepting at the limit; conn_setup, run before the loop polls again,
 * hooks the close of the connection evhttp has made around it; conn_closed
 * uncounts it and accepts again. */

/* One connection fewer; accepting again when that leaves room. */
static void
conn_gone(struct http01 *h)
{
	h->conns--;
	if (!h->stopping && h->conns == HTTP01_CONN_LIMIT - 1)
		evconnlistener_enable(h->listener);
}

/* evhttp's close callback of a connection conn_setup hooked: it is freed. */
static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	conn_gone(arg);
}

/* evhttp's bevcb, once per accepted connection: its buffer (evhttp's own
 * kind: a socket buffer evhttp closes), counted, with a reference of ours
 * until conn_setup.  At the limit, accepting stops. */
static struct bufferevent *
conn_new(struct event_base *base, void *arg)
{
	struct http01 *h = arg;
	struct bufferevent *bev;

	if (h->n_fresh >= HTTP01_CONN_LIMIT || (bev = bufferevent_socket_new(base, -1, 0)) == NULL)
		return NULL; /* evhttp makes its own: served, not counted */
	bufferevent_incref(bev); /* ours until conn_setup has looked at it */
	h->fresh[h->n_fresh++] = bev;
	if (++h->conns >= HTTP01_CONN_LIMIT)
		evconnlistener_disable(h->listener);
	event_active(h->setup_ev, EV_TIMEOUT, 1);
	return bev;
}

/* Run once the accepts of this turn are done, before the loop polls
 * again: each fresh buffer is either a live connection's (its close gets
 * hooked) or already let go by evhttp (counted gone); ours is dropped. */
static void
conn_setup(evutil_socket_t fd, short what, void *arg)
{
	struct http01 *h = arg;
	bufferevent_event_cb errorcb;
	void *evcon;
	size_t i;

	(void)fd;
	(void)what;
	for (i = 0; i < h->n_fresh; i++) {
		/* evhttp gives a live connection's buffer its callbacks, the
		 * connection as their argument; bufferevent_free clears them. */
		bufferevent_getcb(h->fresh[i], NULL, NULL, &errorcb, &evcon);
		if (errorcb != NULL)
			evhttp_connection_set_closecb(evcon, conn_closed, h);
		else
			conn_gone(h);
		bufferevent_decref(h->fresh[i]);
	}
	h->n_fresh = 0;
}

/* ---- the loop ------------------------------------------------------------------ */

/* wake[0] became readable: http01_free wants the loop to end. */
static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(((struct http01 *)arg)->base);
}

/* event_base_foreach_event's callback: *arg = the http01 of the wake event. */
static int
find_wake(const struct event_base *base, const struct event *ev, void *arg)
{
	(void)base;
	if (event_get_callback(ev) != on_wake)
		return 0;
	*(struct http01 **)arg = event_get_callback_arg(ev);
	return 1;
}

/* accept() failed (EMFILE, ENOBUFS ...): pause accepting for a moment rather
 * than spin on a socket that stays readable.  The listener's argument is
 * evhttp's, so h is found by its wake event. */
static void
on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct timeval tv = { 0, HTTP01_ACCEPT_RETRY_MS * 1000 };
	struct http01 *h = NULL;
	int e = EVUTIL_SOCKET_ERROR();

	(void)arg;
	event_base_foreach_event(evconnlistener_get_base(lev), find_wake, &h);
	if (h == NULL)
		return; /* never: the wake event is there while the loop runs */
	evconnlistener_disable(lev);
	ck_log(&h->ctx->log, CK_LOG_DEBUG, "http-01 responder: cannot accept a connection: %s",
	       evutil_socket_error_to_string(e));
	evtimer_add(h->retry_ev, &tv);
}

/* HTTP01_ACCEPT_RETRY_MS after an accept() failure: accepting again, if
 * the connections leave room (else conn_gone will). */
static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct http01 *h = arg;

	(void)fd;
	(void)what;
	if (h->conns < HTTP01_CONN_LIMIT)
		evconnlistener_enable(h->listener);
}

/* The responder's thread: the loop, until on_wake breaks it.  The loop
 * failing on its own (epoll_wait) is said: validations then time out. */
static void *
loop_main(void *arg)
{
	struct http01 *h = arg;

	if (event_base_dispatch(h->base) < 0)
		ck_log(&h->ctx->log, CK_LOG_WARN,
		       "http-01 responder: the event loop failed; it answers no more requests");
	return NULL;
}

/* The event base, the events of the loop and evhttp on fd (taken: closed
 * here on failure too). */
static enum ck_code
loop_setup(struct http01 *h, int fd, struct ck_err *err)
{
	struct event_config *cfg = event_config_new();

	/* EVENT_* environment variables (EVENT_SHOW_METHOD prints to stderr)
	 * change nothing here. */
	if (cfg != NULL && event_config_set_flag(cfg, EVENT_BASE_FLAG_IGNORE_ENV |
						   EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == 0)
		h->base = event_base_new_with_config(cfg);
	if (cfg != NULL)
		event_config_free(cfg);
	/* The listener accepts until accept() would block. */
	if (h->base == NULL || evutil_make_socket_nonblocking(fd) != 0 ||
	    (h->wake_ev = event_new(h->base, h->wake[0], EV_READ, on_wake, h)) == NULL ||
	    (h->setup_ev = event_new(h->base, -1, 0, conn_setup, h)) == NULL ||
	    (h->retry_ev = evtimer_new(h->base, on_retry, h)) == NULL ||
	    event_add(h->wake_ev, NULL) != 0 || (h->http = evhttp_new(h->base)) == NULL ||
	    (h->listener = evconnlistener_new(h->base, NULL, NULL,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0,
					      fd)) == NULL) {
		close(fd);
		return CK_FAIL(err, CK_ERR_NOMEM,
				"libevent could not set up the http-01 responder");
	}
	evhttp_set_timeout(h->http, HTTP01_CONN_TIMEOUT_S);
	evhttp_set_max_headers_size(h->http, HTTP01_HEADERS_MAX);
	evhttp_set_max_body_size(h->http, 0);
	evhttp_set_allowed_methods(h->http, HTTP01_METHODS);
	evhttp_set_gencb(h->http, on_request, h);
	evhttp_set_bevcb(h->http, conn_new, h);
	if (evhttp_bind_listener(h->http, h->listener) == NULL) {
		evconnlistener_free(h->listener); /* closes fd */
		h->listener = NULL;
		return CK_FAIL(err, CK_ERR_NOMEM,
				"libevent could not set up the http-01 responder");
	}
	evconnlistener_set_error_cb(h->listener, on_accept_error);
	return CK_OK;
}

/* Ends the loop, closes every connection and the socket, frees h (NULL-safe). */
static void
http01_free(struct http01 *h)
{
	size_t i;

	if (h == NULL)
		return;
	if (h->have_loop) {
		(void)!write(h->wake[1], "x", 1);
		pthread_join(h->loop, NULL);
	}
	h->stopping = 1;
	if (h->http != NULL)
		evhttp_free(h->http); /* frees the listener: closes the socket */
	for (i = 0; i < h->n_fresh; i++)
		bufferevent_decref(h->fresh[i]);
	if (h->wake_ev != NULL)
		event_free(h->wake_ev);
	if (h->setup_ev != NULL)
		event_free(h->setup_ev);
	if (h->retry_ev != NULL)
		event_free(h->retry_ev);
	if (h->base != NULL)
		event_base_free(h->base);
	if (h->wake[0] >= 0) {
		close(h->wake[0]);
		close(h->wake[1]);
	}
	http01_clear(h);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* ---- the API -------------------------------------------------------------------- */

enum ck_code
http01_start(const struct ck_ctx *ctx, const char *address, unsigned port, struct http01 **out,
	     struct ck_err *err)
{
	struct http01 *h;
	enum ck_code rc;
	int fd = -1;

	if (ctx == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no context");
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return CK_OOM(err);
	h->ctx = ctx;
	h->wake[0] = h->wake[1] = -1;
	if (pthread_mutex_init(&h->lock, NULL) != 0) {
		free(h);
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a mutex");
	}
	if (pipe2(h->wake, O_CLOEXEC) != 0) {
		rc = CK_FAIL(err, CK_ERR_IO, "cannot make a pipe: %s", strerror(errno));
		goto fail;
	}
	if ((rc = chall_listen(address, port, &http01_names, HTTP01_LISTEN_BACKLOG, &fd, err)) !=
	    CK_OK)
		goto fail;
	h->port = chall_socket_port(fd);
	if ((rc = loop_setup(h, fd, err)) != CK_OK)
		goto fail;
	if (chall_thread(&h->loop, loop_main, h) != 0) {
		rc = CK_FAIL(err, CK_ERR_INTERNAL, "cannot start the http-01 responder's thread");
		goto fail;
	}
	h->have_loop = 1;
	ck_log(&ctx->log, CK_LOG_DEBUG, "http-01 responder listening on %s port %u",
	       (address == NULL || address[0] == '\0') ? "every address" : address, h->port);
	*out = h;
	return CK_OK;
fail:
	http01_free(h);
	return rc;
}

unsigned
http01_port(const struct http01 *h)
{
	return h->port;
}

enum ck_code
http01_add(struct http01 *h, const char *token, const char *keyauth, struct ck_err *err)
{
	struct http01_entry *e, fresh = { 0 };
	size_t tlen, i;
	enum ck_code rc = CK_OK;

	if (!ck_str_is_b64url(token, HTTP01_TOKEN_MAX))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the http-01 token is not base64url");
	tlen = strlen(token);
	if (keyauth == NULL || strlen(keyauth) > HTTP01_KEYAUTH_MAX ||
	    strncmp(keyauth, token, tlen) != 0 || keyauth[tlen] != '.' ||
	    !ck_str_is_b64url(keyauth + tlen + 1, HTTP01_KEYAUTH_MAX))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "the key authorization is not \"<token>.<thumbprint>\"");
	if ((fresh.token = strdup(token)) == NULL || (fresh.keyauth = strdup(keyauth)) == NULL) {
		entry_free(&fresh);
		return CK_OOM(err);
	}
	pthread_mutex_lock(&h->lock);
	e = entry_find(h, token);
	if (e != NULL) {
		entry_free(e);
		*e = fresh;
	} else if (h->n < HTTP01_TOKENS_MAX) {
		i = h->n++;
		h->entries[i] = fresh;
	} else {
		entry_free(&fresh);
		rc = CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %d http-01 tokens at once",
			     HTTP01_TOKENS_MAX);
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void
http01_remove(struct http01 *h, const char *token)
{
	struct http01_entry *e;

	if (h == NULL || token == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	e = entry_find(h, token);
	if (e != NULL) {
		entry_free(e);
		*e = h->entries[--h->n];
		h->entries[h->n].token = NULL;
		h->entries[h->n].keyauth = NULL;
	}
	pthread_mutex_unlock(&h->lock);
}

void
http01_clear(struct http01 *h)
{
	size_t i;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->n; i++)
		entry_free(&h->entries[i]);
	h->n = 0;
	pthread_mutex_unlock(&h->lock);
}

int
http01_served(struct http01 *h, const char *token, long long *at)
{
	struct http01_entry *e;
	int served = 0;

	if (h == NULL || token == NULL)
		return 0;
	pthread_mutex_lock(&h->lock);
	e = entry_find(h, token);
	if (e != NULL && e->served_at != 0) {
		served = 1;
		if (at != NULL)
			*at = e->served_at;
	}
	pthread_mutex_unlock(&h->lock);
	return served;
}

unsigned long
http01_hits(const struct http01 *h)
{
	unsigned long n;

	pthread_mutex_lock((pthread_mutex_t *)&h->lock);
	n = h->hits;
	pthread_mutex_unlock((pthread_mutex_t *)&h->lock);
	return n;
}

void
http01_stop(struct http01 *h)
{
	http01_free(h);
}

/* ---- the seam (challenge.h): the http-01 listener as a responder --------- */

static enum ck_code
resp_start(struct chall_responder *r, struct ck_err *err)
{
	const struct ck_challenge_settings *c = r->cfg;
	struct http01 *h = NULL;
	enum ck_code rc;

	rc = http01_start(r->ctx, c->http_address, c->http_port ? c->http_port : HTTP01_DEFAULT_PORT,
			  &h, err);
	if (rc == CK_OK)
		r->impl = h;
	return rc;
}

static enum ck_code
resp_add(struct chall_responder *r, const struct chall_item *it, struct ck_err *err)
{
	if (r->impl == NULL)
		return CK_FAIL(err, CK_ERR_STATE, "the http-01 responder is not started");
	return http01_add(r->impl, it->token, it->keyauth, err);
}

static void
resp_remove(struct chall_responder *r, const struct chall_item *it)
{
	http01_remove(r->impl, it->token);
}

static int
resp_served(struct chall_responder *r, const struct chall_item *it, long long *at)
{
	return http01_served(r->impl, it->token, at);
}

static void
resp_stop(struct chall_responder *r)
{
	http01_stop(r->impl);
	free(r);
}

static const struct chall_ops http01_ops = {
	"http-01", resp_start, resp_add, NULL, resp_remove, resp_stop, resp_served,
};

enum ck_code
chall_http01_new(struct chall_responder *r, struct ck_err *err)
{
	(void)err;
	r->ops = &http01_ops;
	return CK_OK;
}
