/*
 * haproxy_api.c - HAProxy's runtime API over its unix socket: the set /
 * commit / abort transaction that swaps a certificate in a running HAProxy
 * without a reload, and `show ssl cert` to read back what it serves.
 *
 * Owns: the wire format (one command per connection; a payload after
 * "<<\n", ended by an empty line), the bounds of every reply, and the
 * rule that an open transaction is always committed or aborted before we
 * return (HAProxy allows one at a time; one left open would block the next
 * deploy and anyone else's).
 *
 * Must never: keep a copy of the payload (it holds the key) unwiped, show
 * HAProxy's reply unsanitized, wait without a bound.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "deploy/haproxy_api.h"

#define HAPI_FILE_MAX 1024
#define HAPI_SHOW_MAX 200 /* bytes of a reply quoted in an error */

/* A reply as one printable line for a message: newlines become "; ". */
static void
hapi_reply_line(const char *reply, char *out, size_t n)
{
	char flat[HAPI_SHOW_MAX + 1];
	size_t i, o = 0;

	for (i = 0; reply[i] != '\0' && o + 2 < sizeof(flat); i++) {
		if (reply[i] != '\n') {
			flat[o++] = reply[i];
		} else if (o > 0 && reply[i + 1] != '\0' && reply[i + 1] != '\n') {
			flat[o++] = ';';
			flat[o++] = ' ';
		}
	}
	flat[o] = '\0';
	ck_str_printable(out, n, flat);
}

/* Waits for ev on fd until deadline: 1 ready, 0 timed out, -1 error. */
static int
hapi_wait(int fd, short ev, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	long long left;
	int r;

	do {
		left = deadline - ck_mono_ms();
		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)left);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -1 : r;
}

static int
hapi_connect(const char *path, struct ck_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		CK_FAIL(err, CK_ERR_INVALID_ARG, "the HAProxy socket path %s is longer than %zu "
			"bytes (a unix socket's limit)", path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		CK_FAIL(err, CK_ERR_NETWORK, "cannot reach HAProxy's runtime API at %s: %s (is "
			"HAProxy running with 'stats socket %s level admin'?)", path,
			strerror(errno), path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static enum ck_code
hapi_send(int fd, const char *path, const struct ck_buf *req, long long deadline,
	  struct ck_err *err)
{
	size_t off = 0;
	ssize_t n;
	int w;

	while (off < req->len) {
		if ((w = hapi_wait(fd, POLLOUT, deadline)) <= 0)
			return CK_FAIL(err, w == 0 ? CK_ERR_TIMEOUT : CK_ERR_NETWORK,
				       "sending to HAProxy's runtime API at %s: %s", path,
				       w == 0 ? "no progress within the time limit" : strerror(errno));
		n = send(fd, req->data + off, req->len - off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return CK_FAIL(err, CK_ERR_NETWORK, "sending to HAProxy's runtime API at "
				       "%s: %s", path, strerror(errno));
		off += (size_t)n;
	}
	return CK_OK;
}

/* Reads until HAProxy closes the connection (it does after each answer). */
static enum ck_code
hapi_recv(int fd, const char *path, struct ck_buf *reply, long long deadline, struct ck_err *err)
{
	char chunk[4096];
	enum ck_code rc;
	ssize_t n;
	int w;

	for (;;) {
		if ((w = hapi_wait(fd, POLLIN, deadline)) <= 0)
			return CK_FAIL(err, w == 0 ? CK_ERR_TIMEOUT : CK_ERR_NETWORK,
				       "HAProxy's runtime API at %s did not finish its answer "
				       "within %d s", path, HAPI_TIMEOUT_MS / 1000);
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return CK_FAIL(err, CK_ERR_NETWORK, "reading HAProxy's answer at %s: %s",
				       path, strerror(errno));
		if (n == 0)
			return CK_OK;
		if ((rc = ck_buf_append(reply, chunk, (size_t)n, err)) != CK_OK) {
			ck_err_prefix(err, "HAProxy's answer at %s", path);
			return rc;
		}
	}
}

/* The request: cmd, then " <<\n" PAYLOAD "\n" (the empty line ends it). */
static enum ck_code
hapi_request(const char *cmd, const void *payload, size_t len, struct ck_buf *req,
	     struct ck_err *err)
{
	const char *p = payload;
	enum ck_code rc;
	size_t i;

	for (i = 0; cmd[i] != '\0'; i++)
		if ((unsigned char)cmd[i] < 0x20 || cmd[i] == 0x7f)
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "a runtime API command with a control byte");
	if ((rc = ck_buf_append(req, cmd, i, err)) != CK_OK)
		return rc;
	if (payload == NULL)
		return ck_buf_append(req, "\n", 1, err);
	if (len == 0 || len > HAPI_PAYLOAD_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a runtime API payload of %zu bytes", len);
	for (i = 0; i + 1 < len; i++)
		if (p[i] == '\n' && (p[i + 1] == '\n' || (p[i + 1] == '\r' && i + 2 < len &&
							   p[i + 2] == '\n')))
			return CK_FAIL(err, CK_ERR_INVALID_ARG, "the payload holds an empty line, "
				       "which would end it early");
	if ((rc = ck_buf_append(req, " <<\n", 4, err)) != CK_OK ||
	    (rc = ck_buf_append(req, payload, len, err)) != CK_OK)
		return rc;
	if (p[len - 1] != '\n' && (rc = ck_buf_append(req, "\n", 1, err)) != CK_OK)
		return rc;
	return ck_buf_append(req, "\n", 1, err);
}

enum ck_code
dep_haproxy_cmd(const char *socket_path, const char *cmd, const void *payload,
		size_t payload_len, char **reply, struct ck_err *err)
{
	long long deadline = ck_mono_ms() + HAPI_TIMEOUT_MS;
	struct ck_buf req, ans;
	enum ck_code rc;
	int fd = -1;

	ck_buf_init_secret(&req, HAPI_PAYLOAD_MAX + HAPI_FILE_MAX + 64);
	ck_buf_init(&ans, HAPI_REPLY_MAX);
	if ((rc = hapi_request(cmd, payload, payload_len, &req, err)) != CK_OK)
		goto out;
	if ((fd = hapi_connect(socket_path, err)) < 0) {
		rc = CK_ERR_NETWORK;
		goto out;
	}
	if ((rc = hapi_send(fd, socket_path, &req, deadline, err)) != CK_OK)
		goto out;
	/* The request is complete: HAProxy's master CLI answers only then. */
	(void)shutdown(fd, SHUT_WR);
	if ((rc = hapi_recv(fd, socket_path, &ans, deadline, err)) != CK_OK ||
	    (rc = ck_buf_append(&ans, "", 0, err)) != CK_OK)
		goto out;
	*reply = (char *)ck_buf_take(&ans, NULL);
out:
	if (fd >= 0)
		close(fd);
	ck_buf_cleanup(&req);
	ck_buf_cleanup(&ans);
	return rc;
}

/* A file name HAProxy's command parser takes literally (no blank, ';', '\'). */
static enum ck_code
hapi_file_ok(const char *file, struct ck_err *err)
{
	size_t i, n = strlen(file);

	if (n == 0 || n > HAPI_FILE_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no certificate file name for HAProxy");
	for (i = 0; i < n; i++)
		if ((unsigned char)file[i] <= 0x20 || file[i] == 0x7f || file[i] == ';' ||
		    file[i] == '\\' || file[i] == '"' || file[i] == '\'')
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "the certificate file %s holds a blank, quote, ';' or '\\', "
				       "which HAProxy's runtime API would not take literally: use a "
				       "plain path", file);
	return CK_OK;
}

/* Runs "VERB ssl cert FILE" (with payload) and requires `expect` in the reply. */
static enum ck_code
hapi_step(const char *sock, const char *verb, const char *file, const void *payload,
	  size_t len, const char *expect, struct ck_err *err)
{
	char cmd[HAPI_FILE_MAX + 32], line[HAPI_SHOW_MAX + 1];
	char *reply = NULL;
	enum ck_code rc;

	snprintf(cmd, sizeof(cmd), "%s ssl cert %s", verb, file);
	if ((rc = dep_haproxy_cmd(sock, cmd, payload, len, &reply, err)) != CK_OK)
		return rc;
	if (strstr(reply, expect) == NULL) {
		hapi_reply_line(reply, line, sizeof(line));
		rc = CK_FAIL(err, CK_ERR_STATE, "HAProxy refused '%s ssl cert %s': %s", verb, file,
			     line);
	}
	free(reply);
	return rc;
}

enum ck_code
dep_haproxy_cert_swap(const char *socket_path, const char *file, const void *pem,
		      size_t pem_len, struct ck_err *err)
{
	struct ck_err abort_err = {0};
	enum ck_code rc;

	if ((rc = hapi_file_ok(file, err)) != CK_OK)
		return rc;
	rc = hapi_step(socket_path, "set", file, pem, pem_len, "Transaction ", err);
	if (rc == CK_OK)
		rc = hapi_step(socket_path, "commit", file, NULL, 0, "Success!", err);
	if (rc == CK_OK)
		return CK_OK;
	/* Whatever failed, no transaction of ours stays open: HAProxy keeps
	 * serving what it had.  "No ongoing transaction" is fine too. */
	if (hapi_step(socket_path, "abort", file, NULL, 0, "ransaction", &abort_err) != CK_OK)
		ck_err_prefix(err, "the transaction could not be aborted either (%s)",
			      abort_err.msg);
	else
		ck_err_prefix(err, "HAProxy keeps serving its previous certificate for %s", file);
	return rc;
}

enum ck_code
dep_haproxy_cert_sha1(const char *socket_path, const char *file, char out[41],
		      struct ck_err *err)
{
	static const char tag[] = "SHA1 FingerPrint: ";
	char cmd[HAPI_FILE_MAX + 32], line[HAPI_SHOW_MAX + 1];
	char *reply = NULL, *p;
	enum ck_code rc;
	size_t n;

	if ((rc = hapi_file_ok(file, err)) != CK_OK)
		return rc;
	snprintf(cmd, sizeof(cmd), "show ssl cert %s", file);
	if ((rc = dep_haproxy_cmd(socket_path, cmd, NULL, 0, &reply, err)) != CK_OK)
		return rc;
	p = strstr(reply, tag);
	n = p ? strspn(p + sizeof(tag) - 1, "0123456789ABCDEFabcdef") : 0;
	if (n != 40) {
		hapi_reply_line(reply, line, sizeof(line));
		rc = CK_FAIL(err, CK_ERR_STATE, "HAProxy shows no certificate for %s: %s", file,
			     line);
	} else {
		memcpy(out, p + sizeof(tag) - 1, 40);
		out[40] = '\0';
	}
	free(reply);
	return rc;
}
