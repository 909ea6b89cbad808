/*
 * ldns_api.h - libldns, opened on first use (core/dl.h): only dns-01's
 * checks and RFC 2136 updates map it.  dns01.h includes this instead of
 * <ldns/ldns.h>; the ldns_* calls read as usual and go through dns01_ldns,
 * a table of pointers typed by ldns's own prototypes.  The library is not
 * linked, so a call to an ldns function missing from this list fails to
 * link.  dns01_ldns_load must have succeeded first (the dns-01 responders
 * call it when made, dns01_wait when it starts).
 */
#ifndef CK_CHALLENGE_LDNS_API_H
#define CK_CHALLENGE_LDNS_API_H

#include <ldns/ldns.h>

#include "core/core.h"

/* Every ldns function the dns-01 code calls. */
#define DNS01_LDNS_FUNCTIONS(X) \
	X(ldns_dname_compare) \
	X(ldns_dname_label_count) \
	X(ldns_dname_left_chop) \
	X(ldns_dname_new_frm_str) \
	X(ldns_get_errorstr_by_id) \
	X(ldns_get_rr_list_addr_by_name) \
	X(ldns_pkt_answer) \
	X(ldns_pkt_authority) \
	X(ldns_pkt_free) \
	X(ldns_pkt_get_rcode) \
	X(ldns_pkt_rcode2str) \
	X(ldns_pkt_set_random_id) \
	X(ldns_pkt_set_rd) \
	X(ldns_pkt_tsig) \
	X(ldns_pkt_tsig_sign) \
	X(ldns_rdf2native_int16) \
	X(ldns_rdf2str) \
	X(ldns_rdf_clone) \
	X(ldns_rdf_data) \
	X(ldns_rdf_deep_free) \
	X(ldns_rdf_get_type) \
	X(ldns_rdf_new_frm_str) \
	X(ldns_rdf_size) \
	X(ldns_resolver_clone) \
	X(ldns_resolver_deep_free) \
	X(ldns_resolver_nameserver_count) \
	X(ldns_resolver_nameservers) \
	X(ldns_resolver_new) \
	X(ldns_resolver_new_frm_file) \
	X(ldns_resolver_port) \
	X(ldns_resolver_push_nameserver) \
	X(ldns_resolver_recursive) \
	X(ldns_resolver_send) \
	X(ldns_resolver_set_dnssec) \
	X(ldns_resolver_set_fallback) \
	X(ldns_resolver_set_port) \
	X(ldns_resolver_set_random) \
	X(ldns_resolver_set_recursive) \
	X(ldns_resolver_set_retrans) \
	X(ldns_resolver_set_retry) \
	X(ldns_resolver_set_timeout) \
	X(ldns_resolver_set_tsig_algorithm) \
	X(ldns_resolver_set_tsig_keydata) \
	X(ldns_resolver_set_tsig_keyname) \
	X(ldns_resolver_tsig_keydata) \
	X(ldns_rr_free) \
	X(ldns_rr_get_type) \
	X(ldns_rr_list_deep_free) \
	X(ldns_rr_list_new) \
	X(ldns_rr_list_push_rr) \
	X(ldns_rr_list_rr) \
	X(ldns_rr_list_rr_count) \
	X(ldns_rr_new_frm_str) \
	X(ldns_rr_owner) \
	X(ldns_rr_rd_count) \
	X(ldns_rr_rdf) \
	X(ldns_rr_set_class) \
	X(ldns_rr_set_ttl) \
	X(ldns_send) \
	X(ldns_update_pkt_new)

struct dns01_ldns_api {
#define DNS01_LDNS_MEMBER(f) __typeof__(f) *f;
	DNS01_LDNS_FUNCTIONS(DNS01_LDNS_MEMBER)
#undef DNS01_LDNS_MEMBER
};

/* Filled once by dns01_ldns_load; read-only afterwards. */
extern struct dns01_ldns_api dns01_ldns;

/*
 * Opens libldns (the soname the build linked against) and resolves every
 * function, once per process, safe from several threads at once.  CK_OK,
 * or CK_ERR_UNSUPPORTED naming the package to install (every later call
 * gives the same answer).
 */
enum ck_code dns01_ldns_load(struct ck_err *err);

#ifndef DNS01_LDNS_API_LOADER
#define ldns_dname_compare (dns01_ldns.ldns_dname_compare)
#define ldns_dname_label_count (dns01_ldns.ldns_dname_label_count)
#define ldns_dname_left_chop (dns01_ldns.ldns_dname_left_chop)
#define ldns_dname_new_frm_str (dns01_ldns.ldns_dname_new_frm_str)
#define ldns_get_errorstr_by_id (dns01_ldns.ldns_get_errorstr_by_id)
#define ldns_get_rr_list_addr_by_name (dns01_ldns.ldns_get_rr_list_addr_by_name)
#define ldns_pkt_answer (dns01_ldns.ldns_pkt_answer)
#define ldns_pkt_authority (dns01_ldns.ldns_pkt_authority)
#define ldns_pkt_free (dns01_ldns.ldns_pkt_free)
#define ldns_pkt_get_rcode (dns01_ldns.ldns_pkt_get_rcode)
#define ldns_pkt_rcode2str (dns01_ldns.ldns_pkt_rcode2str)
#define ldns_pkt_set_random_id (dns01_ldns.ldns_pkt_set_random_id)
#define ldns_pkt_set_rd (dns01_ldns.ldns_pkt_set_rd)
#define ldns_pkt_tsig (dns01_ldns.ldns_pkt_tsig)
#define ldns_pkt_tsig_sign (dns01_ldns.ldns_pkt_tsig_sign)
#define ldns_rdf2native_int16 (dns01_ldns.ldns_rdf2native_int16)
#define ldns_rdf2str (dns01_ldns.ldns_rdf2str)
#define ldns_rdf_clone (dns01_ldns.ldns_rdf_clone)
#define ldns_rdf_data (dns01_ldns.ldns_rdf_data)
#define ldns_rdf_deep_free (dns01_ldns.ldns_rdf_deep_free)
#define ldns_rdf_get_type (dns01_ldns.ldns_rdf_get_type)
#define ldns_rdf_new_frm_str (dns01_ldns.ldns_rdf_new_frm_str)
#define ldns_rdf_size (dns01_ldns.ldns_rdf_size)
#define ldns_resolver_clone (dns01_ldns.ldns_resolver_clone)
#define ldns_resolver_deep_free (dns01_ldns.ldns_resolver_deep_free)
#define ldns_resolver_nameserver_count (dns01_ldns.ldns_resolver_nameserver_count)
#define ldns_resolver_nameservers (dns01_ldns.ldns_resolver_nameservers)
#define ldns_resolver_new (dns01_ldns.ldns_resolver_new)
#define ldns_resolver_new_frm_file (dns01_ldns.ldns_resolver_new_frm_file)
#define ldns_resolver_port (dns01_ldns.ldns_resolver_port)
#define ldns_resolver_push_nameserver (dns01_ldns.ldns_resolver_push_nameserver)
#define ldns_resolver_recursive (dns01_ldns.ldns_resolver_recursive)
#define ldns_resolver_send (dns01_ldns.ldns_resolver_send)
#define ldns_resolver_set_dnssec (dns01_ldns.ldns_resolver_set_dnssec)
#define ldns_resolver_set_fallback (dns01_ldns.ldns_resolver_set_fallback)
#define ldns_resolver_set_port (dns01_ldns.ldns_resolver_set_port)
#define ldns_resolver_set_random (dns01_ldns.ldns_resolver_set_random)
#define ldns_resolver_set_recursive (dns01_ldns.ldns_resolver_set_recursive)
#define ldns_resolver_set_retrans (dns01_ldns.ldns_resolver_set_retrans)
#define ldns_resolver_set_retry (dns01_ldns.ldns_resolver_set_retry)
#define ldns_resolver_set_timeout (dns01_ldns.ldns_resolver_set_timeout)
#define ldns_resolver_set_tsig_algorithm (dns01_ldns.ldns_resolver_set_tsig_algorithm)
#define ldns_resolver_set_tsig_keydata (dns01_ldns.ldns_resolver_set_tsig_keydata)
#define ldns_resolver_set_tsig_keyname (dns01_ldns.ldns_resolver_set_tsig_keyname)
#define ldns_resolver_tsig_keydata (dns01_ldns.ldns_resolver_tsig_keydata)
#define ldns_rr_free (dns01_ldns.ldns_rr_free)
#define ldns_rr_get_type (dns01_ldns.ldns_rr_get_type)
#define ldns_rr_list_deep_free (dns01_ldns.ldns_rr_list_deep_free)
#define ldns_rr_list_new (dns01_ldns.ldns_rr_list_new)
#define ldns_rr_list_push_rr (dns01_ldns.ldns_rr_list_push_rr)
#define ldns_rr_list_rr (dns01_ldns.ldns_rr_list_rr)
#define ldns_rr_list_rr_count (dns01_ldns.ldns_rr_list_rr_count)
#define ldns_rr_new_frm_str (dns01_ldns.ldns_rr_new_frm_str)
#define ldns_rr_owner (dns01_ldns.ldns_rr_owner)
#define ldns_rr_rd_count (dns01_ldns.ldns_rr_rd_count)
#define ldns_rr_rdf (dns01_ldns.ldns_rr_rdf)
#define ldns_rr_set_class (dns01_ldns.ldns_rr_set_class)
#define ldns_rr_set_ttl (dns01_ldns.ldns_rr_set_ttl)
#define ldns_send (dns01_ldns.ldns_send)
#define ldns_update_pkt_new (dns01_ldns.ldns_update_pkt_new)
#endif

#endif
