/*
 * verify.c - proof that a deploy is live: a TLS handshake with the
 * endpoint (SNI, chain verified against the system store or a CA bundle,
 * the name checked) and the SHA-256 of the leaf it serves, retried with
 * backoff while the server reloads, bounded, cancellable.
 *
 * Three failures stay apart, because each has its own fix: no connection
 * (CK_ERR_NETWORK: nothing listens, or a firewall), no TLS handshake
 * (CK_ERR_TLS: the port does not speak TLS), a handshake whose certificate
 * does not verify (CK_ERR_TLS naming OpenSSL's verify reason and the leaf
 * served), and a verified handshake serving another leaf (CK_ERR_STATE).
 *
 * Must never: send application data, trust a chain without verifying it,
 * wait longer than the budget (each connect and handshake is bounded by
 * what is left of it).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "deploy/target.h"

#define VERIFY_BACKOFF_FIRST_MS 20
#define VERIFY_BACKOFF_MAX_MS 1000
#define VERIFY_ATTEMPT_MAX_MS 3000 /* one connect + handshake */

/* "HOST:PORT" or "[V6]:PORT" into out, for messages. */
static void
ep_text(const struct dep_endpoint *ep, char *out, size_t n)
{
	if (strchr(ep->host, ':') != NULL)
		snprintf(out, n, "[%s]:%u", ep->host, ep->port);
	else
		snprintf(out, n, "%s:%u", ep->host, ep->port);
}

/* connect(2) on a non-blocking socket, waiting at most ms. */
static int
connect_bounded(int fd, const struct sockaddr *sa, socklen_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t elen = sizeof(int);
	int e = 0, r;

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0)
		return -1;
	if (e != 0) {
		errno = e;
		return -1;
	}
	return 0;
}

/* A connected TCP socket to ep (blocking, with send/receive timeouts of ms), or -1. */
static int
verify_connect(const struct dep_endpoint *ep, int ms, struct ck_err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL, *ai;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	char port[8], where[DEP_HOST_MAX + 16];
	int fd = -1, gai, e = 0;

	ep_text(ep, where, sizeof(where));
	snprintf(port, sizeof(port), "%u", ep->port);
	gai = getaddrinfo(ep->host, port, &hints, &res);
	if (gai != 0) {
		CK_FAIL(err, CK_ERR_NETWORK, "cannot resolve %s: %s", where, gai_strerror(gai));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect_bounded(fd, ai->ai_addr, ai->ai_addrlen, ms) != 0) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		CK_FAIL(err, CK_ERR_NETWORK, "no connection to %s: %s", where, strerror(e));
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
		CK_FAIL(err, CK_ERR_NETWORK, "setting up the connection to %s: %s", where,
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The TLS client context: verification against ca_bundle or the system store. */
static SSL_CTX *
verify_ssl_ctx(const char *ca_bundle, struct ck_err *err)
{
	SSL_CTX *sc = SSL_CTX_new(TLS_client_method());

	if (sc == NULL) {
		CK_FAIL_SSL(err, "making a TLS context");
		return NULL;
	}
	if (ca_bundle != NULL ? SSL_CTX_load_verify_locations(sc, ca_bundle, NULL) != 1
			      : SSL_CTX_set_default_verify_paths(sc) != 1) {
		ck_err_openssl(err, CK_ERR_TLS, __func__, ca_bundle ? ca_bundle : "the system store");
		ck_err_prefix(err, "cannot load the trust anchors to verify with");
		SSL_CTX_free(sc);
		return NULL;
	}
	/* Verified after the handshake (SSL_get_verify_result), so a chain that
	 * does not verify still shows which leaf the server serves. */
	SSL_CTX_set_verify(sc, SSL_VERIFY_NONE, NULL);
	return sc;
}

/* SNI and the name (or IP) the leaf must cover. */
static int
verify_ssl_names(SSL *ssl, const struct dep_endpoint *ep)
{
	const char *name = dep_endpoint_name(ep);

	if (ck_name_is_ip(name))
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1;
	return SSL_set_tlsext_host_name(ssl, name) == 1 && SSL_set1_host(ssl, name) == 1;
}

/* The handshake failed: why, in words a user can act on. */
static enum ck_code
verify_handshake_error(SSL *ssl, int r, const char *where, struct ck_err *err)
{
	unsigned long e = ERR_peek_error();
	char reason[256] = "the peer closed the connection";

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	else if (SSL_get_error(ssl, r) == SSL_ERROR_SYSCALL && errno != 0)
		snprintf(reason, sizeof(reason), "%s", strerror(errno));
	ERR_clear_error();
	return CK_FAIL(err, CK_ERR_TLS,
		       "no TLS handshake with %s (is it a TLS endpoint, and the right port?): %s",
		       where, reason);
}

/*
 * One connect + handshake.  CK_OK with served filled (the leaf's SHA-256)
 * when the chain and name verify; CK_ERR_TLS with served filled when they
 * do not; CK_ERR_TLS / CK_ERR_NETWORK with served "" when no handshake.
 */
static enum ck_code
verify_once(SSL_CTX *sc, const struct dep_endpoint *ep, const char *ca_bundle, int ms,
	    char served[65], struct ck_err *err)
{
	char where[DEP_HOST_MAX + 16];
	unsigned char *der = NULL;
	enum ck_code rc;
	X509 *leaf = NULL;
	SSL *ssl = NULL;
	long vr;
	int fd, r, len;

	served[0] = '\0';
	ep_text(ep, where, sizeof(where));
	if ((fd = verify_connect(ep, ms, err)) < 0)
		return CK_ERR_NETWORK;
	if ((ssl = SSL_new(sc)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    !verify_ssl_names(ssl, ep)) {
		rc = CK_FAIL_SSL(err, "setting up the TLS connection");
		goto out;
	}
	ERR_clear_error();
	errno = 0;
	if ((r = SSL_connect(ssl)) != 1) {
		rc = verify_handshake_error(ssl, r, where, err);
		goto out;
	}
	leaf = SSL_get1_peer_certificate(ssl);
	if (leaf == NULL || (len = i2d_X509(leaf, &der)) <= 0) {
		rc = CK_FAIL(err, CK_ERR_TLS, "%s sent no certificate", where);
		goto out;
	}
	ck_sha256_hex(der, (size_t)len, served);
	if ((vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
		rc = CK_FAIL(err, CK_ERR_TLS,
			     "the certificate %s serves (SHA-256 %.16s) does not verify for %s "
			     "against %s: %s", where, served, dep_endpoint_name(ep),
			     ca_bundle ? ca_bundle : "the system store",
			     X509_verify_cert_error_string(vr));
		goto out;
	}
	rc = CK_OK;
	SSL_shutdown(ssl);
out:
	ERR_clear_error();
	OPENSSL_free(der);
	X509_free(leaf);
	SSL_free(ssl);
	close(fd);
	return rc;
}

/* Sleeps ms, less if the budget ends first; 0 if no budget is left. */
static int
verify_backoff(const struct ck_ctx *ctx, long long deadline, unsigned *ms)
{
	long long left = deadline - ck_mono_ms();

	if (left <= 0)
		return 0;
	ck_sleep_ms(ctx, (unsigned)(left < *ms ? left : *ms));
	*ms = *ms * 2 > VERIFY_BACKOFF_MAX_MS ? VERIFY_BACKOFF_MAX_MS : *ms * 2;
	return deadline - ck_mono_ms() > 0;
}

enum ck_code
dep_verify_handshake(const struct ck_ctx *ctx, const struct dep_endpoint *ep,
		     const char *ca_bundle, const char *expect_sha256, unsigned budget_ms,
		     char *served, struct ck_err *err)
{
	long long start = ck_mono_ms(), deadline = start + budget_ms, left;
	char seen[65] = "", where[DEP_HOST_MAX + 16];
	unsigned backoff = VERIFY_BACKOFF_FIRST_MS, attempts = 0;
	enum ck_code rc;
	SSL_CTX *sc;

	if (ep == NULL || expect_sha256 == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no endpoint or thumbprint to verify");
	if ((sc = verify_ssl_ctx(ca_bundle, err)) == NULL)
		return err ? err->code : CK_ERR_TLS;
	ep_text(ep, where, sizeof(where));
	for (;;) {
		if ((rc = ck_cancel_check(ctx, "verifying the deployed certificate", err)) != CK_OK)
			break;
		left = deadline - ck_mono_ms();
		attempts++;
		rc = verify_once(sc, ep, ca_bundle,
				 (int)(left < 100 ? 100 : left > VERIFY_ATTEMPT_MAX_MS
						  ? VERIFY_ATTEMPT_MAX_MS : left), seen, err);
		if (rc == CK_OK && strcmp(seen, expect_sha256) == 0)
			break;
		if (rc == CK_OK)
			rc = CK_FAIL(err, CK_ERR_STATE,
				     "%s serves certificate %s, not the deployed %s", where, seen,
				     expect_sha256);
		if (!verify_backoff(ctx, deadline, &backoff))
			break;
	}
	if (rc != CK_OK && rc != CK_ERR_CANCELLED)
		ck_err_prefix(err, "after %u attempt(s) in %.1f s", attempts,
			      (double)(ck_mono_ms() - start) / 1000.0);
	if (served != NULL)
		memcpy(served, seen, sizeof(seen));
	SSL_CTX_free(sc);
	return rc;
}
