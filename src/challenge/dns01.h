/*
 * dns01.h - what the two dns-01 responders (dns01_hook.c, dns01_update.c)
 * share: the set of TXT records they published, the DNS look-ups on ldns
 * (server addresses, the zone of a name, its authoritative servers, TXT
 * answers) and the wait until every record is visible.
 *
 * Every DNS message is built and parsed by ldns; nothing here writes or
 * reads wire format by hand.  Answers are outside data: TXT strings are
 * bounded and made printable before they reach an error message.
 */
#ifndef CK_CHALLENGE_DNS01_H
#define CK_CHALLENGE_DNS01_H

#include <pthread.h>

#include "challenge/challenge.h"
#include "challenge/ldns_api.h"

#define DNS01_FQDN_MAX 254            /* a DNS name in text, without the final dot, + NUL */
#define DNS01_VALUE_LEN 43            /* base64url(SHA-256) */
#define DNS01_RECORDS_MAX 512         /* records one responder publishes at once */
#define DNS01_SERVERS_MAX 16          /* servers a record is checked at */
#define DNS01_WAIT_DEFAULT_S 120      /* dns_wait -1 */
#define DNS01_POLL_MS 2000            /* between rounds of the wait */
#define DNS01_QUERY_TIMEOUT_S 3       /* one query */
#define DNS01_SEEN_MAX 200            /* what an error says was seen at one server */

/* One published TXT record: the name without the final dot and the value. */
struct dns01_rec {
	char fqdn[DNS01_FQDN_MAX];
	char value[DNS01_VALUE_LEN + 1];
	int visible;                  /* ready saw it everywhere it looks */
};

/* The records a responder published (locked: add/ready/remove may run at once). */
struct dns01_set {
	pthread_mutex_t lock;
	struct dns01_rec *recs;
	size_t n, cap;
};

void dns01_set_init(struct dns01_set *s);
void dns01_set_cleanup(struct dns01_set *s);
/* The record an item asks for: _acme-challenge name and TXT value (checked). */
enum ck_code dns01_rec_from_item(const struct chall_item *it, struct dns01_rec *out,
				 struct ck_err *err);
/* 1 if the set holds rec (same name, same value). */
int dns01_set_has(struct dns01_set *s, const struct dns01_rec *rec);
/* Adds rec; CK_ERR_TOO_LARGE past DNS01_RECORDS_MAX. */
enum ck_code dns01_set_add(struct dns01_set *s, const struct dns01_rec *rec, struct ck_err *err);
/* Removes rec; 1 if it was there (then the caller withdraws it), else 0. */
int dns01_set_take(struct dns01_set *s, const struct dns01_rec *rec);
/* Removes and returns the last record in *out; 0 when empty. */
int dns01_set_pop(struct dns01_set *s, struct dns01_rec *out);

/* A copy of ctx that is never cancelled: cleanup after Ctrl-C must still run. */
void dns01_ctx_uncancelled(const struct ck_ctx *ctx, struct ck_ctx *out);

/*
 * "ADDR", "ADDR:PORT", "[V6]:PORT", "V6" (an IPv4 or IPv6 literal, or a
 * host name looked up through the system resolver) -> a resolver asking
 * that one server (recursion desired = rd), with a bounded timeout.
 * what names the option in errors ("--dns-resolver").
 */
enum ck_code dns01_resolver_for(const char *spec, unsigned default_port, int rd, const char *what,
				ldns_resolver **out, struct ck_err *err);
/* A resolver asking the one server at addr:port (ldns address rdf). */
enum ck_code dns01_resolver_addr(const ldns_rdf *addr, unsigned port, int rd, ldns_resolver **out,
				 struct ck_err *err);
/* The system's resolver (/etc/resolv.conf), with a bounded timeout. */
enum ck_code dns01_resolver_system(ldns_resolver **out, struct ck_err *err);
/* "ADDR#PORT" of a one-server resolver, for messages. */
void dns01_resolver_name(const ldns_resolver *res, char *buf, size_t n);

/*
 * The zone fqdn belongs to: the owner of the SOA res answers for fqdn or
 * one of its parents (answer or authority section).  *zone is the zone's
 * name with the final dot, freed by the caller.  CK_ERR_NOT_FOUND when
 * no SOA is found; CK_ERR_NETWORK when res does not answer.
 */
enum ck_code dns01_zone_find(ldns_resolver *res, const char *fqdn, char **zone,
			     struct ck_err *err);
/*
 * The zone's authoritative servers: its NS names looked up through res
 * (A and AAAA; through the system resolver when res, an authoritative
 * server, does not know a name outside its zone), each as a resolver on
 * port ns_port (53 outside tests),
 * at most DNS01_SERVERS_MAX.  *n set on success; free each with
 * ldns_resolver_deep_free.
 */
enum ck_code dns01_zone_servers(ldns_resolver *res, const char *zone, unsigned ns_port,
				ldns_resolver **out, size_t max, size_t *n, struct ck_err *err);

/*
 * Whether the answer pkt to a TXT query for fqdn holds value: a TXT
 * record owned by fqdn (or by the target of a CNAME chain from it in the
 * answer) whose strings joined equal value.  seen (n bytes, may be NULL)
 * gets what the answer held, printable and bounded: the rcode, or the
 * TXT values.  Pure: fed by ldns_wire2pkt in the fuzz target.
 */
int dns01_txt_match(const ldns_pkt *pkt, const char *fqdn, const char *value, char *seen,
		    size_t n);

/*
 * ready for both responders: polls until every record in s not yet
 * visible answers with its value at every server it is checked at —
 * cfg->dns_resolver when set (recursion desired), else the zone's
 * authoritative servers (port ns_port; 53 outside tests), found through
 * the system resolver, or, when update (an --dns-update SERVER[:PORT]) is
 * not NULL, through that server, which is then checked too.  cfg->dns_wait
 * bounds it (-1: DNS01_WAIT_DEFAULT_S, 0: no check).  CK_ERR_TIMEOUT saying
 * what was seen at which server; CK_ERR_CANCELLED.  Makes its own
 * resolvers, so several threads may wait at once.
 */
enum ck_code dns01_wait(struct chall_responder *r, struct dns01_set *s, const char *update,
			unsigned ns_port, struct ck_err *err);

#endif
