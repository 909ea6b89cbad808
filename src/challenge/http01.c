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

#include "challenge/http01.h"

#define HTTP01_CONN_LIMIT 64          /* concurrent connections (a VA makes a few) */
#define HTTP01_CONN_TIMEOUT_S 10
#define HTTP01_LISTEN_BACKLOG 32

struct http01_entry {
	char *token;
	char *keyauth;
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

/* ---- the listening socket ------------------------------------------------------ */

static enum ck_code
bind_fail(int e, const char *shown, unsigned port, struct ck_err *err)
{
	if (e == EACCES || e == EPERM)
		return CK_FAIL(err, CK_ERR_PERMISSION,
			       "cannot listen on %s port %u for http-01: %s; run as root, grant "
			       "CAP_NET_BIND_SERVICE, or pass --http-port with a port above 1023 "
			       "that the ACME server reaches", shown, port, strerror(e));
	if (e == EADDRINUSE)
		return CK_FAIL(err, CK_ERR_NETWORK,
			       "cannot listen on %s port %u for http-01: the port is in use (a web "
			       "server?); stop it, or pass --http-port / --http-address",
			       shown, port);
	return CK_FAIL(err, CK_ERR_NETWORK,
		       "cannot listen on %s port %u for http-01: %s; check --http-address and "
		       "--http-port", shown, port, strerror(e));
}

/* A bound, listening socket for address:port (NULL/"" = every address). */
static enum ck_code
listen_socket(const char *address, unsigned port, int *out, struct ck_err *err)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	const char *shown = (address == NULL || address[0] == '\0') ? "every address" : address;
	socklen_t slen;
	int fd, one = 1, zero = 0, e;

	memset(&ss, 0, sizeof(ss));
	if (port > 65535)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "--http-port %u is not a TCP port", port);
	if (address == NULL || address[0] == '\0') {
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons((uint16_t)port);
		slen = sizeof(*s6);
	} else if (inet_pton(AF_INET, address, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		slen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, address, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		slen = sizeof(*s6);
	} else {
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "--http-address must be an IPv4 or IPv6 address, not a name");
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 && ss.ss_family == AF_INET6 && (address == NULL || address[0] == '\0')) {
		/* No IPv6 on this host: every IPv4 address instead. */
		memset(&ss, 0, sizeof(ss));
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		s4->sin_port = htons((uint16_t)port);
		slen = sizeof(*s4);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return bind_fail(errno, shown, port, err);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6 && (address == NULL || address[0] == '\0'))
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, HTTP01_LISTEN_BACKLOG) != 0) {
		e = errno;
		close(fd);
		return bind_fail(e, shown, port, err);
	}
	*out = fd;
	return CK_OK;
}

static unsigned
socket_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
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
	if ((rc = listen_socket(address, port, &fd, err)) != CK_OK)
		goto fail;
	h->port = socket_port(fd);
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
