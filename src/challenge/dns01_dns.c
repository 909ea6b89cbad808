/*
 * dns01_dns.c - the DNS look-ups of the dns-01 responders, all on ldns:
 * a resolver for one server (ADDR[:PORT]), the system resolver, the zone
 * of a name (SOA walk), the zone's authoritative servers (NS, then A and
 * AAAA) and the matching of a TXT answer.  Never builds or parses wire
 * format by hand; never trusts an answer's strings (bounded, printable).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "challenge/dns01.h"

#define DNS01_CNAME_MAX 8             /* CNAME links followed inside one answer */
#define DNS01_SPEC_MAX 300            /* an ADDR[:PORT] option */

/* Bounded timeout and retries: a silent server costs seconds, not minutes. */
static void
resolver_bound(ldns_resolver *res, int rd)
{
	struct timeval tv = { DNS01_QUERY_TIMEOUT_S, 0 };

	ldns_resolver_set_timeout(res, tv);
	ldns_resolver_set_retry(res, 1);
	ldns_resolver_set_retrans(res, 1);
	ldns_resolver_set_recursive(res, rd ? true : false);
	ldns_resolver_set_random(res, false);
	ldns_resolver_set_fallback(res, true);
	ldns_resolver_set_dnssec(res, false);
}

enum ck_code
dns01_resolver_addr(const ldns_rdf *addr, unsigned port, int rd, ldns_resolver **out,
		    struct ck_err *err)
{
	ldns_resolver *res = ldns_resolver_new();

	if (res == NULL)
		return CK_OOM(err);
	if (ldns_resolver_push_nameserver(res, addr) != LDNS_STATUS_OK) {
		ldns_resolver_deep_free(res);
		return CK_OOM(err);
	}
	ldns_resolver_set_port(res, (uint16_t)port);
	resolver_bound(res, rd);
	*out = res;
	return CK_OK;
}

enum ck_code
dns01_resolver_system(ldns_resolver **out, struct ck_err *err)
{
	ldns_resolver *res = NULL;
	ldns_status st = ldns_resolver_new_frm_file(&res, NULL);

	if (st != LDNS_STATUS_OK)
		return CK_FAIL(err, CK_ERR_NETWORK, "cannot read the system resolver's "
			       "configuration (/etc/resolv.conf): %s; give --dns-resolver ADDR",
			       ldns_get_errorstr_by_id(st));
	resolver_bound(res, 1);
	*out = res;
	return CK_OK;
}

/* "PORT" -> 1..65535. */
static int
parse_port(const char *s, unsigned *out)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return 0;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return 0;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v == 0 || v > 65535)
		return 0;
	*out = (unsigned)v;
	return 1;
}

/* Splits spec into host (written into host, n bytes) and port. */
static int
split_spec(const char *spec, char *host, size_t n, unsigned *port)
{
	const char *colon = strchr(spec, ':');
	size_t len;

	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');

		if (end == NULL || (end[1] != '\0' && (end[1] != ':' || !parse_port(end + 2, port))))
			return 0;
		len = (size_t)(end - spec - 1);
		spec++;
	} else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		if (!parse_port(colon + 1, port))
			return 0;
		len = (size_t)(colon - spec);
	} else {
		len = strlen(spec);   /* a name, IPv4, or IPv6 without a port */
	}
	if (len == 0 || len >= n)
		return 0;
	memcpy(host, spec, len);
	host[len] = '\0';
	return 1;
}

/* The first address of a host name, through the system resolver. */
static ldns_rdf *
lookup_host(const char *host)
{
	ldns_resolver *sys = NULL;
	ldns_rdf *name = NULL, *addr = NULL;
	ldns_rr_list *l = NULL;

	if (dns01_resolver_system(&sys, NULL) != CK_OK)
		return NULL;
	name = ldns_dname_new_frm_str(host);
	if (name != NULL)
		l = ldns_get_rr_list_addr_by_name(sys, name, LDNS_RR_CLASS_IN, LDNS_RD);
	if (l != NULL && ldns_rr_list_rr_count(l) > 0)
		addr = ldns_rdf_clone(ldns_rr_rdf(ldns_rr_list_rr(l, 0), 0));
	ldns_rr_list_deep_free(l);
	ldns_rdf_deep_free(name);
	ldns_resolver_deep_free(sys);
	return addr;
}

enum ck_code
dns01_resolver_for(const char *spec, unsigned default_port, int rd, const char *what,
		   ldns_resolver **out, struct ck_err *err)
{
	char host[DNS01_SPEC_MAX], shown[DNS01_SPEC_MAX];
	unsigned port = default_port;
	ldns_rdf *addr;
	enum ck_code rc;

	ck_str_printable(shown, sizeof(shown), spec);
	if (strlen(spec) >= DNS01_SPEC_MAX || !split_spec(spec, host, sizeof(host), &port))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "%s %s: expected ADDR, ADDR:PORT or "
			       "[IPV6]:PORT (port 1-65535)", what, shown);
	addr = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, host);
	if (addr == NULL)
		addr = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_AAAA, host);
	if (addr == NULL)
		addr = lookup_host(host);
	if (addr == NULL)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "%s %s: no address found for %s (give an "
			       "IP address)", what, shown, host);
	rc = dns01_resolver_addr(addr, port, rd, out, err);
	ldns_rdf_deep_free(addr);
	return rc;
}

void
dns01_resolver_name(const ldns_resolver *res, char *buf, size_t n)
{
	char *a = NULL;

	if (ldns_resolver_nameserver_count(res) > 0)
		a = ldns_rdf2str(ldns_resolver_nameservers(res)[0]);
	snprintf(buf, n, "%s#%u", a != NULL ? a : "?", (unsigned)ldns_resolver_port(res));
	free(a);
}

/* ---- the zone ---------------------------------------------------------------- */

/* The owner of the first SOA in l, as text with the final dot; NULL if none. */
static char *
soa_owner(const ldns_rr_list *l)
{
	size_t i;

	for (i = 0; i < ldns_rr_list_rr_count(l); i++) {
		ldns_rr *rr = ldns_rr_list_rr(l, i);

		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA)
			return ldns_rdf2str(ldns_rr_owner(rr));
	}
	return NULL;
}

enum ck_code
dns01_zone_find(ldns_resolver *res, const char *fqdn, char **zone, struct ck_err *err)
{
	ldns_rdf *name = ldns_dname_new_frm_str(fqdn), *up;
	char server[96], shown[DNS01_FQDN_MAX];
	enum ck_code rc = CK_ERR_NOT_FOUND;
	int answered = 0;

	dns01_resolver_name(res, server, sizeof(server));
	ck_str_printable(shown, sizeof(shown), fqdn);
	if (name == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "%s is not a DNS name", shown);
	while (ldns_dname_label_count(name) > 0) {
		ldns_pkt *p = NULL;
		char *owner = NULL;

		if (ldns_resolver_send(&p, res, name, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN,
				       ldns_resolver_recursive(res) ? LDNS_RD : 0) == LDNS_STATUS_OK &&
		    p != NULL) {
			answered = 1;
			owner = soa_owner(ldns_pkt_answer(p));
			if (owner == NULL)
				owner = soa_owner(ldns_pkt_authority(p));
		}
		ldns_pkt_free(p);
		if (owner != NULL) {
			*zone = owner;
			rc = CK_OK;
			goto out;
		}
		up = ldns_dname_left_chop(name);
		ldns_rdf_deep_free(name);
		name = up;
		if (name == NULL) {
			rc = CK_OOM(err);
			goto out;
		}
	}
	if (!answered)
		rc = CK_FAIL(err, CK_ERR_NETWORK, "finding the zone of %s: no answer from %s",
			     shown, server);
	else
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "finding the zone of %s: %s answered no SOA "
			     "for it or any parent", shown, server);
out:
	ldns_rdf_deep_free(name);
	return rc;
}

/* Appends a resolver for every address of ns (A, AAAA) to out. */
static void
ns_addresses(ldns_resolver *res, const ldns_rdf *ns, unsigned port, ldns_resolver **out,
	     size_t max, size_t *n)
{
	ldns_rr_list *l = ldns_get_rr_list_addr_by_name(res, ns, LDNS_RR_CLASS_IN,
						       ldns_resolver_recursive(res) ? LDNS_RD : 0);
	size_t i;

	for (i = 0; l != NULL && i < ldns_rr_list_rr_count(l) && *n < max; i++) {
		ldns_rr *rr = ldns_rr_list_rr(l, i);

		if (ldns_rr_rd_count(rr) == 1 &&
		    dns01_resolver_addr(ldns_rr_rdf(rr, 0), port, 0, &out[*n], NULL) == CK_OK)
			(*n)++;
	}
	ldns_rr_list_deep_free(l);
}

enum ck_code
dns01_zone_servers(ldns_resolver *res, const char *zone, unsigned ns_port,
		   ldns_resolver **out, size_t max, size_t *n, struct ck_err *err)
{
	ldns_rdf *name = ldns_dname_new_frm_str(zone);
	ldns_resolver *sys = NULL;
	ldns_pkt *p = NULL;
	ldns_rr_list *ans;
	char server[96], shown[DNS01_FQDN_MAX];
	size_t i, got = 0;

	ck_str_printable(shown, sizeof(shown), zone);
	dns01_resolver_name(res, server, sizeof(server));
	if (name == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "%s is not a DNS name", shown);
	if (ldns_resolver_send(&p, res, name, LDNS_RR_TYPE_NS, LDNS_RR_CLASS_IN,
			       ldns_resolver_recursive(res) ? LDNS_RD : 0) != LDNS_STATUS_OK ||
	    p == NULL) {
		ldns_rdf_deep_free(name);
		return CK_FAIL(err, CK_ERR_NETWORK, "asking %s for the NS records of %s: no answer",
			       server, shown);
	}
	ans = ldns_pkt_answer(p);
	for (i = 0; i < ldns_rr_list_rr_count(ans) && got < max; i++) {
		ldns_rr *rr = ldns_rr_list_rr(ans, i);
		size_t before = got;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS || ldns_rr_rd_count(rr) != 1)
			continue;
		ns_addresses(res, ldns_rr_rdf(rr, 0), ns_port, out, max, &got);
		/* an authoritative server knows the addresses of in-zone names only */
		if (got == before && !ldns_resolver_recursive(res) &&
		    (sys != NULL || dns01_resolver_system(&sys, NULL) == CK_OK))
			ns_addresses(sys, ldns_rr_rdf(rr, 0), ns_port, out, max, &got);
	}
	ldns_resolver_deep_free(sys);
	ldns_pkt_free(p);
	ldns_rdf_deep_free(name);
	if (got == 0)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "%s named no reachable name server for the "
			       "zone %s (NS and their addresses); give --dns-resolver ADDR",
			       server, shown);
	*n = got;
	return CK_OK;
}

/* ---- TXT answers --------------------------------------------------------------- */

/* The strings of a TXT record joined into buf (n bytes), bounded; 0 if too long. */
static int
txt_join(const ldns_rr *rr, char *buf, size_t n)
{
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, i);
		const uint8_t *d = ldns_rdf_data(f);
		size_t sz = ldns_rdf_size(f), sl;

		if (ldns_rdf_get_type(f) != LDNS_RDF_TYPE_STR || sz < 1)
			return 0;
		sl = d[0];
		if (sl > sz - 1 || len + sl >= n)
			return 0;
		memcpy(buf + len, d + 1, sl);
		len += sl;
		buf[len] = '\0';
	}
	return 1;
}

/* Appends text to seen (n bytes), ending in "..." when full. */
static void
seen_add(char *seen, size_t n, const char *text)
{
	size_t len;

	if (seen == NULL || n < 8)
		return;
	len = strlen(seen);
	if (len + strlen(text) + 1 < n) {
		ck_str_printable(seen + len, n - len, text);
	} else if (len + 4 < n) {
		snprintf(seen + len, n - len, "...");
	}
}

/* 1 if owner equals one of names[0..nn). */
static int
owner_in(const ldns_rdf *owner, ldns_rdf *const *names, size_t nn)
{
	size_t i;

	for (i = 0; i < nn; i++)
		if (ldns_dname_compare(owner, names[i]) == 0)
			return 1;
	return 0;
}

/* names[0] = fqdn, then the CNAME targets reached from it inside ans. */
static size_t
cname_chain(const ldns_rr_list *ans, ldns_rdf **names, size_t max)
{
	size_t nn = 1, i, round;

	for (round = 0; round < DNS01_CNAME_MAX && nn < max; round++) {
		int grew = 0;

		for (i = 0; i < ldns_rr_list_rr_count(ans) && nn < max; i++) {
			ldns_rr *rr = ldns_rr_list_rr(ans, i);

			if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_CNAME || ldns_rr_rd_count(rr) != 1 ||
			    ldns_rdf_get_type(ldns_rr_rdf(rr, 0)) != LDNS_RDF_TYPE_DNAME ||
			    !owner_in(ldns_rr_owner(rr), names, nn) ||
			    owner_in(ldns_rr_rdf(rr, 0), names, nn))
				continue;
			names[nn++] = ldns_rr_rdf(rr, 0);
			grew = 1;
		}
		if (!grew)
			break;
	}
	return nn;
}

int
dns01_txt_match(const ldns_pkt *pkt, const char *fqdn, const char *value, char *seen, size_t n)
{
	ldns_rdf *names[DNS01_CNAME_MAX + 1];
	ldns_rr_list *ans = ldns_pkt_answer(pkt);
	char txt[512], *rcode;
	size_t i, nn, ntxt = 0;
	int found = 0;

	if (seen != NULL && n > 0)
		seen[0] = '\0';
	names[0] = ldns_dname_new_frm_str(fqdn);
	if (names[0] == NULL)
		return 0;
	nn = cname_chain(ans, names, CK_ARRAY_LEN(names));
	for (i = 0; i < ldns_rr_list_rr_count(ans); i++) {
		ldns_rr *rr = ldns_rr_list_rr(ans, i);

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT || !owner_in(ldns_rr_owner(rr), names, nn))
			continue;
		if (!txt_join(rr, txt, sizeof(txt)))
			snprintf(txt, sizeof(txt), "(a TXT record too long or malformed)");
		if (strcmp(txt, value) == 0)
			found = 1;
		seen_add(seen, n, ntxt++ == 0 ? "TXT \"" : ", \"");
		seen_add(seen, n, txt);
		seen_add(seen, n, "\"");
	}
	if (ntxt == 0) {
		rcode = ldns_pkt_rcode2str(ldns_pkt_get_rcode(pkt));
		seen_add(seen, n, "no TXT record (");
		seen_add(seen, n, rcode != NULL ? rcode : "?");
		seen_add(seen, n, ")");
		free(rcode);
	}
	ldns_rdf_deep_free(names[0]);
	return found;
}
