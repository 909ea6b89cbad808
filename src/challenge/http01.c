/*
 * http01.c - the http-01 standalone responder on libmicrohttpd.  Owns the
 * listening socket (bound here so a bind failure can say why), the token
 * table (locked: libmicrohttpd answers from its own thread) and the one
 * route it serves.  Never serves files, never answers a token it was not
 * given, never logs key authorizations.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "challenge/challenge.h"
#include "challenge/http01.h"
#include "challenge/listen.h"

#define HTTP01_CONN_LIMIT 64          /* concurrent connections (a VA makes a few) */
#define HTTP01_CONN_TIMEOUT_S 10
#define HTTP01_LISTEN_BACKLOG 32

static const struct chall_listen_names http01_names = { "http-01", "--http-port",
							 "--http-address" };

struct http01_entry {
	char *token;
	char *keyauth;
	long long served_at;  /* ck_mono_ms() of the first answer with keyauth; 0 = none yet */
};

struct http01 {
	const struct ck_ctx *ctx;
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;
	struct http01_entry entries[HTTP01_TOKENS_MAX];
	size_t n;
	unsigned port;
	unsigned long hits;
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

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct http01 *h = cls;
	const size_t plen = sizeof(HTTP01_PATH_PREFIX) - 1;
	const char *token;
	struct http01_entry *e;
	char keyauth[HTTP01_KEYAUTH_MAX + 1] = "";

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	if (url == NULL || strncmp(url, HTTP01_PATH_PREFIX, plen) != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	token = url + plen;
	/* Only base64url tokens: no '/', '.', '%' or anything a path could use. */
	if (!ck_str_is_b64url(token, HTTP01_TOKEN_MAX))
		return reply(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	pthread_mutex_lock(&h->lock);
	e = entry_find(h, token);
	if (e != NULL) {
		snprintf(keyauth, sizeof(keyauth), "%s", e->keyauth);
		h->hits++;
		if (e->served_at == 0)
			e->served_at = ck_mono_ms();
	}
	pthread_mutex_unlock(&h->lock);
	if (keyauth[0] == '\0')
		return reply(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	ck_log(&h->ctx->log, CK_LOG_DEBUG, "http-01: answered the challenge for token %s", token);
	return reply(conn, MHD_HTTP_OK, keyauth);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http01 *h = cls;
	char raw[256], safe[256];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	ck_str_printable(safe, sizeof(safe), raw);
	ck_log(&h->ctx->log, CK_LOG_DEBUG, "http-01 responder: %s", safe);
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
	if (pthread_mutex_init(&h->lock, NULL) != 0) {
		free(h);
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a mutex");
	}
	if ((rc = chall_listen(address, port, &http01_names, HTTP01_LISTEN_BACKLOG, &fd, err)) !=
	    CK_OK)
		goto fail;
	h->port = chall_socket_port(fd);
	h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
				     NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
				     MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP01_CONN_LIMIT,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP01_CONN_TIMEOUT_S,
				     MHD_OPTION_END);
	if (h->daemon == NULL) {
		close(fd);
		rc = CK_FAIL(err, CK_ERR_INTERNAL,
			     "libmicrohttpd could not start the http-01 responder on port %u", h->port);
		goto fail;
	}
	ck_log(&ctx->log, CK_LOG_DEBUG, "http-01 responder listening on %s port %u",
	       (address == NULL || address[0] == '\0') ? "every address" : address, h->port);
	*out = h;
	return CK_OK;
fail:
	pthread_mutex_destroy(&h->lock);
	free(h);
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
	if (h == NULL)
		return;
	if (h->daemon != NULL)
		MHD_stop_daemon(h->daemon); /* closes the listening socket */
	http01_clear(h);
	pthread_mutex_destroy(&h->lock);
	free(h);
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
