/*
 * tlsalpn01.c - the tls-alpn-01 responder (RFC 8737): a TLS listener on
 * OpenSSL that completes a handshake only for a client offering ALPN
 * "acme-tls/1" with an SNI it was given, presenting that identifier's
 * validation certificate (tlsalpn01_cert.c).  Anything else is refused in
 * the handshake: no ALPN or another protocol (no_application_protocol),
 * no or another SNI (unrecognized_name).  It never sends application data.
 *
 * Owns the listening socket, one accept thread, at most TLSALPN_CONN_MAX
 * connection threads (each bounded by TLSALPN_CONN_TIMEOUT_S per read and
 * write), the key all its certificates share and the item table (locked:
 * the callbacks run on the connection threads).  stop ends every
 * connection and thread before it frees anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "challenge/challenge.h"
#include "challenge/listen.h"
#include "challenge/tlsalpn01.h"

#define TLSALPN_ITEMS_MAX 256
#define TLSALPN_CONN_MAX 32
#define TLSALPN_CONN_TIMEOUT_S 10
#define TLSALPN_BACKLOG 32

static const struct chall_listen_names alpn_names = { "tls-alpn-01", "--tls-port",
						      "--tls-address" };

struct alpn_item {
	char *identifier;
	char *token;
	char sni[TLSALPN_SNI_MAX];
	X509 *cert;
	long long served_at;        /* ck_mono_ms() its certificate was first shown; 0: not yet */
};

struct alpn {
	const struct ck_ctx *ctx;
	pthread_mutex_t lock;
	pthread_cond_t idle;        /* signalled when a connection thread ends */
	SSL_CTX *ssl;
	EVP_PKEY *key;
	int fd;
	int wake[2];                /* written by stop: the accept thread ends */
	pthread_t acceptor;
	int have_acceptor;
	int stopping;
	struct alpn_item items[TLSALPN_ITEMS_MAX];
	size_t n;
	int conns[TLSALPN_CONN_MAX]; /* open connection sockets, -1 = free slot */
	/* each slot's connection thread, joined before the slot is used again
	 * and by alpn_free: no thread of ours outlives the responder, not even
	 * its exit (OpenSSL frees its per-thread state then) */
	pthread_t threads[TLSALPN_CONN_MAX];
	unsigned char joinable[TLSALPN_CONN_MAX];
	unsigned active;
	unsigned long hits;         /* handshakes completed */
};

struct alpn_conn {
	struct alpn *a;
	int fd;
	size_t slot;
};

/* ---- the handshake's checks (connection threads) --------------------------- */

static int
on_client_hello(SSL *s, int *al, void *arg)
{
	const unsigned char *ext;
	size_t len;

	(void)arg;
	/* RFC 8737 section 3: without ALPN this is not a tls-alpn-01 validation. */
	if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext,
				      &len) != 1) {
		*al = SSL_AD_NO_APPLICATION_PROTOCOL;
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

static int
on_alpn(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
	unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x0a" TLSALPN_PROTO;
	unsigned char *sel = NULL;
	unsigned char sellen = 0;

	(void)s;
	(void)arg;
	if (SSL_select_next_proto(&sel, &sellen, ours, sizeof(ours) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	*outlen = sellen;
	return SSL_TLSEXT_ERR_OK;
}

static int
on_sni(SSL *s, int *al, void *arg)
{
	struct alpn *a = arg;
	const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
	X509 *cert = NULL;
	size_t i;
	int ok;

	*al = SSL_AD_UNRECOGNIZED_NAME;
	if (name == NULL)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	pthread_mutex_lock(&a->lock);
	for (i = a->n; i-- > 0 && cert == NULL;) { /* the newest item for a name wins */
		if (strcasecmp(a->items[i].sni, name) == 0 && X509_up_ref(a->items[i].cert) == 1) {
			cert = a->items[i].cert;
			if (a->items[i].served_at == 0)
				a->items[i].served_at = ck_mono_ms();
		}
	}
	pthread_mutex_unlock(&a->lock);
	if (cert == NULL)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	ok = SSL_use_certificate(s, cert) == 1 && SSL_use_PrivateKey(s, a->key) == 1;
	X509_free(cert);
	*al = SSL_AD_INTERNAL_ERROR;
	return ok ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* ---- threads ------------------------------------------------------------------ */

static void *
conn_main(void *arg)
{
	struct alpn_conn *c = arg;
	struct alpn *a = c->a;
	const unsigned char *proto = NULL;
	unsigned int plen = 0;
	struct timespec zero = { 0, 0 };
	sigset_t pipe_set;
	SSL *s = SSL_new(a->ssl);

	if (s != NULL && SSL_set_fd(s, c->fd) == 1 && SSL_accept(s) == 1) {
		SSL_get0_alpn_selected(s, &proto, &plen);
		pthread_mutex_lock(&a->lock);
		if (plen == sizeof(TLSALPN_PROTO) - 1)
			a->hits++;
		pthread_mutex_unlock(&a->lock);
		(void)SSL_shutdown(s);
	}
	SSL_free(s);
	/* A write to a peer that left raises SIGPIPE on this thread, where it is
	 * blocked (chall_thread): take it, so it never reaches the process. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
		;
	pthread_mutex_lock(&a->lock);
	close(c->fd);
	a->conns[c->slot] = -1;
	a->active--;
	pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->lock);
	free(c);
	return NULL;
}

/* Hands fd to a connection thread, or closes it when TLSALPN_CONN_MAX are busy. */
static void
accept_one(struct alpn *a, int fd)
{
	struct timeval tv = { TLSALPN_CONN_TIMEOUT_S, 0 };
	struct alpn_conn *c = NULL;
	pthread_t t;
	size_t i;

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&a->lock);
	for (i = 0; i < TLSALPN_CONN_MAX && a->conns[i] >= 0; i++)
		;
	if (i < TLSALPN_CONN_MAX && a->joinable[i]) {
		/* its last connection ended (conns[i] -1): only the thread's exit is left */
		pthread_join(a->threads[i], NULL);
		a->joinable[i] = 0;
	}
	if (i < TLSALPN_CONN_MAX && !a->stopping && (c = malloc(sizeof(*c))) != NULL) {
		c->a = a;
		c->fd = fd;
		c->slot = i;
		if (chall_thread(&t, conn_main, c) == 0) {
			a->conns[i] = fd;
			a->threads[i] = t;
			a->joinable[i] = 1;
			a->active++;
		} else {
			free(c);
			c = NULL;
		}
	}
	pthread_mutex_unlock(&a->lock);
	if (c == NULL)
		close(fd);
}

static void *
accept_main(void *arg)
{
	struct alpn *a = arg;
	struct pollfd p[2];
	int fd;

	for (;;) {
		p[0].fd = a->fd;
		p[0].events = POLLIN;
		p[1].fd = a->wake[0];
		p[1].events = POLLIN;
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents != 0)
			break;
		if ((p[0].revents & POLLIN) == 0)
			continue;
		fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			accept_one(a, fd);
	}
	return NULL;
}

/* ---- the seam ------------------------------------------------------------------- */

static void alpn_free(struct alpn *a);

static enum ck_code
alpn_ssl_ctx(struct alpn *a, struct ck_err *err)
{
	if ((a->ssl = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(a->ssl, TLS1_2_VERSION) != 1)
		return CK_FAIL(err, CK_ERR_CRYPTO, "OpenSSL could not make the tls-alpn-01 context");
	SSL_CTX_set_options(a->ssl, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(a->ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_client_hello_cb(a->ssl, on_client_hello, a);
	SSL_CTX_set_tlsext_servername_callback(a->ssl, on_sni);
	SSL_CTX_set_tlsext_servername_arg(a->ssl, a);
	SSL_CTX_set_alpn_select_cb(a->ssl, on_alpn, a);
	return CK_OK;
}

static enum ck_code
alpn_start(struct chall_responder *r, struct ck_err *err)
{
	const struct ck_challenge_settings *c = r->cfg;
	unsigned port = c->tls_port ? c->tls_port : TLSALPN_DEFAULT_PORT;
	struct alpn *a;
	enum ck_code rc;
	size_t i;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return CK_OOM(err);
	a->ctx = r->ctx;
	a->fd = a->wake[0] = a->wake[1] = -1;
	for (i = 0; i < TLSALPN_CONN_MAX; i++)
		a->conns[i] = -1;
	if (pthread_mutex_init(&a->lock, NULL) != 0 || pthread_cond_init(&a->idle, NULL) != 0) {
		free(a); /* neither is held: nothing to destroy on this path */
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a mutex");
	}
	if ((rc = ck_key_generate(CK_KEY_EC256, &a->key, err)) != CK_OK ||
	    (rc = alpn_ssl_ctx(a, err)) != CK_OK)
		goto fail;
	if (pipe2(a->wake, O_CLOEXEC) != 0) {
		rc = CK_FAIL(err, CK_ERR_IO, "cannot make a pipe: %s", strerror(errno));
		goto fail;
	}
	if ((rc = chall_listen(c->tls_address, port, &alpn_names, TLSALPN_BACKLOG, &a->fd, err)) !=
	    CK_OK)
		goto fail;
	if (chall_thread(&a->acceptor, accept_main, a) != 0) {
		rc = CK_FAIL(err, CK_ERR_INTERNAL, "cannot start the tls-alpn-01 listener thread");
		goto fail;
	}
	a->have_acceptor = 1;
	ck_log(&r->ctx->log, CK_LOG_DEBUG, "tls-alpn-01 responder listening on %s port %u",
	       c->tls_address ? c->tls_address : "every address", chall_socket_port(a->fd));
	r->impl = a;
	return CK_OK;
fail:
	alpn_free(a);
	return rc;
}

/* The index of it's (token, identifier) among a's items, or a->n (a->lock held). */
static size_t
item_index(const struct alpn *a, const struct chall_item *it)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (strcmp(a->items[i].token, it->token) == 0 &&
		    strcmp(a->items[i].identifier, it->identifier) == 0)
			break;
	return i;
}

static enum ck_code
alpn_add(struct chall_responder *r, const struct chall_item *it, struct ck_err *err)
{
	struct alpn *a = r->impl;
	struct alpn_item fresh;
	enum ck_code rc = CK_OK;

	if (a == NULL)
		return CK_FAIL(err, CK_ERR_STATE, "the tls-alpn-01 responder is not started");
	memset(&fresh, 0, sizeof(fresh));
	if (it->token == NULL || it->keyauth == NULL || it->identifier == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a tls-alpn-01 item needs all its parts");
	if ((rc = tlsalpn_sni_for(it->identifier, it->is_ip, fresh.sni, sizeof(fresh.sni), err)) !=
	    CK_OK)
		return rc;
	if ((rc = tlsalpn_cert_new(a->key, it->identifier, it->is_ip, it->keyauth, &fresh.cert,
				   err)) != CK_OK)
		return rc;
	if ((fresh.identifier = strdup(it->identifier)) == NULL ||
	    (fresh.token = strdup(it->token)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	pthread_mutex_lock(&a->lock);
	if (item_index(a, it) < a->n) {
		rc = CK_OK; /* already served: re-adding is a no-op */
	} else if (a->n >= TLSALPN_ITEMS_MAX) {
		rc = CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %d tls-alpn-01 challenges at once",
			     TLSALPN_ITEMS_MAX);
	} else {
		a->items[a->n++] = fresh;
		memset(&fresh, 0, sizeof(fresh));
	}
	pthread_mutex_unlock(&a->lock);
out:
	free(fresh.identifier);
	free(fresh.token);
	X509_free(fresh.cert);
	return rc;
}

static void
item_free(struct alpn_item *it)
{
	free(it->identifier);
	free(it->token);
	X509_free(it->cert);
	memset(it, 0, sizeof(*it));
}

static void
alpn_remove(struct chall_responder *r, const struct chall_item *it)
{
	struct alpn *a = r->impl;
	size_t i;

	if (a == NULL || it->token == NULL || it->identifier == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	if ((i = item_index(a, it)) < a->n) {
		item_free(&a->items[i]);
		memmove(&a->items[i], &a->items[i + 1], (a->n - i - 1) * sizeof(a->items[0]));
		a->n--;
		memset(&a->items[a->n], 0, sizeof(a->items[0]));
	}
	pthread_mutex_unlock(&a->lock);
}

static int
alpn_served(struct chall_responder *r, const struct chall_item *it, long long *at)
{
	struct alpn *a = r->impl;
	int served = 0;
	size_t i;

	if (a == NULL || it->token == NULL || it->identifier == NULL)
		return 0;
	pthread_mutex_lock(&a->lock);
	if ((i = item_index(a, it)) < a->n && a->items[i].served_at != 0) {
		served = 1;
		if (at != NULL)
			*at = a->items[i].served_at;
	}
	pthread_mutex_unlock(&a->lock);
	return served;
}

/* Ends the accept thread and every connection, then frees a. */
static void
alpn_free(struct alpn *a)
{
	size_t i;

	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = 1;
	pthread_mutex_unlock(&a->lock);
	if (a->have_acceptor) {
		(void)!write(a->wake[1], "x", 1);
		pthread_join(a->acceptor, NULL);
	}
	pthread_mutex_lock(&a->lock);
	for (i = 0; i < TLSALPN_CONN_MAX; i++)
		if (a->conns[i] >= 0)
			(void)shutdown(a->conns[i], SHUT_RDWR); /* their reads return at once */
	while (a->active > 0)
		pthread_cond_wait(&a->idle, &a->lock);
	pthread_mutex_unlock(&a->lock);
	for (i = 0; i < TLSALPN_CONN_MAX; i++) /* the acceptor is gone: no new ones */
		if (a->joinable[i])
			pthread_join(a->threads[i], NULL);
	if (a->fd >= 0)
		close(a->fd);
	if (a->wake[0] >= 0) {
		close(a->wake[0]);
		close(a->wake[1]);
	}
	for (i = 0; i < a->n; i++)
		item_free(&a->items[i]);
	SSL_CTX_free(a->ssl);
	EVP_PKEY_free(a->key);
	pthread_cond_destroy(&a->idle);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static void
alpn_stop(struct chall_responder *r)
{
	alpn_free(r->impl);
	free(r);
}

unsigned long
chall_tlsalpn01_hits(const struct chall_responder *r)
{
	struct alpn *a = r->impl;
	unsigned long n;

	pthread_mutex_lock(&a->lock);
	n = a->hits;
	pthread_mutex_unlock(&a->lock);
	return n;
}

unsigned
chall_tlsalpn01_port(const struct chall_responder *r)
{
	const struct alpn *a = r->impl;

	return a != NULL ? chall_socket_port(a->fd) : 0;
}

static const struct chall_ops alpn_ops = {
	"tls-alpn-01", alpn_start, alpn_add, NULL, alpn_remove, alpn_stop, alpn_served,
};

enum ck_code
chall_tlsalpn01_new(struct chall_responder *r, struct ck_err *err)
{
	(void)err;
	r->ops = &alpn_ops;
	return CK_OK;
}
