/*
 * listen.h - the listening socket the challenge listeners (http-01,
 * tls-alpn-01) share: bound here so a failure can say which port, why,
 * and which option changes it; and the threads they serve from.
 */
#ifndef CK_CHALLENGE_LISTEN_H
#define CK_CHALLENGE_LISTEN_H

#include <pthread.h>

#include "certkeep.h"
#include "core/core.h"

/* What a listener is called in errors, and the options that move it. */
struct chall_listen_names {
	const char *what;          /* "http-01", "tls-alpn-01" */
	const char *port_opt;      /* "--http-port" */
	const char *address_opt;   /* "--http-address" */
};

/*
 * A bound, listening, close-on-exec socket for address:port (NULL or "" =
 * every address: IPv6 dual stack, else IPv4).  port 0 picks a free port.
 * Failure: CK_ERR_PERMISSION (a privileged port), CK_ERR_NETWORK (in use,
 * other), CK_ERR_INVALID_ARG (not an IP literal), each naming the address,
 * the port and the option to change.
 */
enum ck_code chall_listen(const char *address, unsigned port, const struct chall_listen_names *nm,
			  int backlog, int *out, struct ck_err *err);
/* The port fd is bound to (0 if unknown). */
unsigned chall_socket_port(int fd);
/*
 * Starts fn(arg) as a joinable thread with every signal blocked in it: a
 * write to a peer that left raises SIGPIPE on the writing thread, where it
 * stays pending instead of ending the process, and the process's signals
 * (SIGINT, SIGTERM) go to its own threads.  0 or an errno value.
 */
int chall_thread(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
