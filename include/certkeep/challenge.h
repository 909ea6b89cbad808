/*
 * certkeep/challenge.h - how a certificate's identifiers are proven to
 * the ACME server: the challenge type per name and its settings.
 *
 * The settings an issuance used are recorded on its lineage (as their
 * values: paths, ports, addresses, never a secret's content), so a later
 * issuance of the lineage (a renewal) repeats them without being told.
 */
#ifndef CERTKEEP_CHALLENGE_H
#define CERTKEEP_CHALLENGE_H

#include <stddef.h>

#include <certkeep/error.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ck_challenge_type {
	CK_CHALLENGE_DEFAULT = 0,      /* the lineage's recorded choice, else http-01 */
	CK_CHALLENGE_HTTP01 = 1,       /* RFC 8555 8.3: a listener, or files under a webroot */
	CK_CHALLENGE_TLSALPN01 = 2,    /* RFC 8737: a TLS listener answering acme-tls/1 */
	CK_CHALLENGE_DNS01 = 3,        /* RFC 8555 8.4: a TXT record, by hook or RFC 2136 */
};

/* One name validated another way than the default (`-d NAME:dns-01`). */
struct ck_challenge_override {
	const char *name;              /* as given to -d, e.g. "*.example.org" */
	enum ck_challenge_type type;
};

/*
 * Everything a challenge type needs.  Zero/NULL fields take the default
 * named on each, except dns_wait, where 0 means "no check": a caller that
 * zeroes the struct sets dns_wait = -1 for the default wait.  Strings are
 * borrowed.
 */
struct ck_challenge_settings {
	enum ck_challenge_type type;   /* for names without an override */
	/* http-01 */
	const char *http_address;      /* listener address; NULL = every address */
	unsigned http_port;            /* 0 = 80 */
	const char *webroot;           /* set: write DIR/.well-known/acme-challenge/TOKEN
					* for the server already on port 80, no listener */
	/* tls-alpn-01 */
	const char *tls_address;       /* NULL = every address */
	unsigned tls_port;             /* 0 = 443 */
	/* dns-01 */
	const char *dns_hook;          /* PROG add|del FQDN VALUE */
	unsigned dns_hook_timeout;     /* seconds; 0 = 120 */
	const char *dns_update;        /* SERVER[:PORT] for RFC 2136 updates */
	const char *tsig_file;         /* BIND tsig-keygen file for dns_update */
	const char *dns_resolver;      /* ADDR[:PORT] to check propagation at; NULL = the
					* zone's authoritative servers */
	int dns_wait;                  /* seconds to wait for the record; -1 = 120, 0 = no check */
	/* per-name choices */
	const struct ck_challenge_override *overrides;
	size_t noverrides;
};

/* "http-01", "tls-alpn-01", "dns-01" -> the type; CK_ERR_INVALID_ARG naming the valid ones. */
CK_API enum ck_code ck_challenge_type_parse(const char *s, enum ck_challenge_type *out,
					    struct ck_err *err);
/* The ACME name of a type ("http-01"); "default" for CK_CHALLENGE_DEFAULT. */
CK_API const char *ck_challenge_type_name(enum ck_challenge_type t);

#ifdef __cplusplus
}
#endif
#endif
