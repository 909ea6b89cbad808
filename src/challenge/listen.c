/*
 * listen.c - the listening socket of the challenge listeners and the
 * threads they serve from.  Binds and listens only; never accepts (each
 * listener does that its own way).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "challenge/listen.h"

static enum ck_code
bind_fail(int e, const char *shown, unsigned port, const struct chall_listen_names *nm,
	  struct ck_err *err)
{
	if (e == EACCES || e == EPERM)
		return CK_FAIL(err, CK_ERR_PERMISSION,
			       "cannot listen on %s port %u for %s: %s; run as root, grant "
			       "CAP_NET_BIND_SERVICE, or pass %s with a port above 1023 "
			       "that the ACME server reaches", shown, port, nm->what, strerror(e),
			       nm->port_opt);
	if (e == EADDRINUSE)
		return CK_FAIL(err, CK_ERR_NETWORK,
			       "cannot listen on %s port %u for %s: the port is in use (a web "
			       "server?); stop it, or pass %s / %s",
			       shown, port, nm->what, nm->port_opt, nm->address_opt);
	return CK_FAIL(err, CK_ERR_NETWORK,
		       "cannot listen on %s port %u for %s: %s; check %s and %s", shown, port,
		       nm->what, strerror(e), nm->address_opt, nm->port_opt);
}

enum ck_code
chall_listen(const char *address, unsigned port, const struct chall_listen_names *nm,
	     int backlog, int *out, struct ck_err *err)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	int any = address == NULL || address[0] == '\0';
	const char *shown = any ? "every address" : address;
	socklen_t slen;
	int fd, one = 1, zero = 0, e;

	memset(&ss, 0, sizeof(ss));
	if (port > 65535)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "%s %u is not a TCP port", nm->port_opt, port);
	if (any) {
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
			       "%s must be an IPv4 or IPv6 address, not a name", nm->address_opt);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 && ss.ss_family == AF_INET6 && any) {
		/* No IPv6 on this host: every IPv4 address instead. */
		memset(&ss, 0, sizeof(ss));
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		s4->sin_port = htons((uint16_t)port);
		slen = sizeof(*s4);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return bind_fail(errno, shown, port, nm, err);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6 && any)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, backlog) != 0) {
		e = errno;
		close(fd);
		return bind_fail(e, shown, port, nm, err);
	}
	*out = fd;
	return CK_OK;
}

unsigned
chall_socket_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int
chall_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}
