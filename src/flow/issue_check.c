/*
 * issue_check.c - what issuance decides without talking to the server:
 * whether a downloaded certificate chain is the one that was ordered
 * (before anything is stored), and which open order of a lineage a new
 * issuance resumes.
 *
 * Must never: accept a leaf whose key or names differ from the order's;
 * pick an order of another lineage, another account or other names.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flow/issue.h"

/* One identifier in a canonical form: IP literals as their address bytes
 * (so "::1" equals "0:0::1"), DNS names compared case-insensitively. */
struct ident_key {
	int family;               /* AF_INET, AF_INET6 or 0 for a DNS name */
	unsigned char addr[16];
	const char *name;
};

static void
ident_key_of(const char *s, struct ident_key *k)
{
	memset(k, 0, sizeof(*k));
	k->name = s;
	if (inet_pton(AF_INET, s, k->addr) == 1)
		k->family = AF_INET;
	else if (inet_pton(AF_INET6, s, k->addr) == 1)
		k->family = AF_INET6;
}

static int
ident_equal(const char *a, const char *b)
{
	struct ident_key ka, kb;

	ident_key_of(a, &ka);
	ident_key_of(b, &kb);
	if (ka.family != kb.family)
		return 0;
	if (ka.family == AF_INET)
		return memcmp(ka.addr, kb.addr, 4) == 0;
	if (ka.family == AF_INET6)
		return memcmp(ka.addr, kb.addr, 16) == 0;
	return strcasecmp(a, b) == 0;
}

/* Index of the first of v[0..n) equal to s, or n. */
static size_t
ident_find(const char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ident_equal(v[i], s))
			return i;
	return n;
}

enum ck_code
ck_issue_check_challenge(const char *const *names, size_t n,
			 const struct ck_challenge_settings *cfg, struct ck_err *err)
{
	enum ck_challenge_type t;
	char shown[80];
	int dns = 0;
	size_t i;
	enum ck_code rc;

	if (cfg == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no challenge settings");
	if ((rc = chall_settings_check(cfg, err)) != CK_OK)
		return rc;
	for (i = 0; i < cfg->noverrides; i++) {
		if (ident_find(names, n, cfg->overrides[i].name) == n) {
			ck_str_printable(shown, sizeof(shown), cfg->overrides[i].name);
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "the challenge choice for %s names no name of this "
				       "certificate", shown);
		}
	}
	for (i = 0; i < n; i++) {
		t = chall_type_for(cfg, names[i]);
		ck_str_printable(shown, sizeof(shown), names[i]);
		dns |= t == CK_CHALLENGE_DNS01;
		if (strncmp(names[i], "*.", 2) == 0 && t != CK_CHALLENGE_DNS01)
			return CK_FAIL(err, CK_ERR_UNSUPPORTED,
				       "%s is a wildcard: only dns-01 can validate it, not %s (pass "
				       "--challenge dns-01, or -d '%s:dns-01')", shown,
				       ck_challenge_type_name(t), shown);
		if (ck_name_is_ip(names[i]) && t == CK_CHALLENGE_DNS01)
			return CK_FAIL(err, CK_ERR_UNSUPPORTED,
				       "%s is an IP address: dns-01 cannot validate it (RFC 8738); "
				       "choose http-01 or tls-alpn-01 for it (-d '%s:http-01')",
				       shown, shown);
	}
	if (dns && cfg->dns_hook == NULL && cfg->dns_update == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "dns-01 needs a way to publish the TXT record: pass --dns-hook PROG "
			       "or --dns-update SERVER[:PORT] --tsig-file FILE");
	if (dns && cfg->dns_hook != NULL && cfg->dns_update != NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "--dns-hook and --dns-update are two ways "
			       "to publish the TXT record: give one of them");
	if (dns && cfg->dns_update != NULL && cfg->tsig_file == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "--dns-update needs --tsig-file FILE (a "
			       "key from tsig-keygen -a hmac-sha256 NAME)");
	if (dns && (rc = chall_dns01_can_run(cfg, err)) != CK_OK)
		return rc;
	return CK_OK;
}

int
ck_issue_names_same(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	size_t i;

	/* Each side's names are distinct (ck_issue_check_names, a certificate's
	 * SANs may repeat but then the count check below still holds both ways). */
	for (i = 0; i < na; i++)
		if (ident_find(b, nb, a[i]) == nb)
			return 0;
	for (i = 0; i < nb; i++)
		if (ident_find(a, na, b[i]) == na)
			return 0;
	return 1;
}

/* The leaf's names must be exactly the ordered names: says which differ. */
static enum ck_code
check_names(const struct ck_cert_info *info, const char *const *names, size_t n,
	    struct ck_err *err)
{
	const char *const *sans = (const char *const *)info->sans;
	char shown[80];
	size_t i;

	for (i = 0; i < n; i++) {
		if (ident_find(sans, info->nsans, names[i]) == info->nsans) {
			ck_str_printable(shown, sizeof(shown), names[i]);
			return CK_FAIL(err, CK_ERR_PARSE,
				       "the issued certificate does not name %s, which was ordered",
				       shown);
		}
	}
	for (i = 0; i < info->nsans; i++) {
		if (ident_find(names, n, sans[i]) == n) {
			ck_str_printable(shown, sizeof(shown), sans[i]);
			return CK_FAIL(err, CK_ERR_PARSE,
				       "the issued certificate names %s, which was not ordered",
				       shown);
		}
	}
	return CK_OK;
}

/*
 * ck_issue_check_cert, with the leaf's facts in *info_out when it passes
 * (may be NULL).  Each certificate is decoded once: the leaf and its chain
 * by one chain checker, not by a facts parse and a chain check apart.
 */
enum ck_code
issue_check_cert_info(const struct ck_der_list *certs, EVP_PKEY *key, const char *const *names,
		      size_t n, struct ck_cert_info *info_out, struct ck_err *err)
{
	struct ck_chain_checker *cc = NULL;
	struct ck_known_spki known;
	struct ck_cert_info info;
	struct ck_der_list chain;
	struct ck_err cerr;
	enum ck_code rc, chain_rc = CK_OK;
	char key_spki[65];

	if (certs == NULL || certs->n == 0)
		return CK_FAIL(err, CK_ERR_PARSE, "the server sent an empty certificate chain");
	memset(&info, 0, sizeof(info));
	ck_err_clear(&cerr);
	if ((rc = ck_known_spki_of(key, &known, err)) != CK_OK)
		return rc;
	ck_sha256_hex(known.der, known.len, key_spki);
	if ((rc = ck_chain_checker_new(&cc, err)) != CK_OK)
		goto out;
	/* Each certificate must be signed by the next.  The last one is not
	 * checked against anything: it may be a root (self-signed) or be signed
	 * by a root the server does not send; trust is the relying party's. */
	chain.items = certs->items + 1;
	chain.n = certs->n - 1;
	/* The leaf's key is expected to be the order's: then it is described
	 * from key, not decoded (ck_chain_checker_leaf). */
	if ((rc = ck_chain_checker_leaf(cc, certs->items[0].data, certs->items[0].len, &chain,
					&known, &info, &chain_rc, &cerr, err)) != CK_OK) {
		ck_err_prefix(err, "the issued certificate does not parse");
		goto out;
	}
	if (strcmp(info.spki_sha256, key_spki) != 0) {
		rc = CK_FAIL(err, CK_ERR_KEY_MISMATCH,
			     "the issued certificate's public key (SPKI SHA-256 %.16s...) is not "
			     "the order's key (%.16s...)", info.spki_sha256, key_spki);
		goto out;
	}
	if ((rc = check_names(&info, names, n, err)) != CK_OK)
		goto out;
	if (chain_rc != CK_OK) {
		if (err != NULL)
			*err = cerr;
		ck_err_prefix(err, "the server's certificate chain is wrong");
		rc = chain_rc;
		goto out;
	}
	if (info_out != NULL) {
		*info_out = info;
		memset(&info, 0, sizeof(info));
	}
out:
	ck_chain_checker_free(cc);
	ck_known_spki_cleanup(&known);
	ck_cert_info_cleanup(&info);
	return rc;
}

enum ck_code
ck_issue_check_cert(const struct ck_der_list *certs, EVP_PKEY *key, const char *const *names,
		    size_t n, struct ck_err *err)
{
	return issue_check_cert_info(certs, key, names, n, NULL, err);
}

enum ck_code
ck_issue_order_find(struct ck_store *st, const char *lineage, int64_t account_id,
		    const char *const *names, size_t n, struct ck_order *out, struct ck_err *err)
{
	struct ck_order_list l = { NULL, 0 };
	size_t i, best = 0;
	int found = 0;
	enum ck_code rc;

	if ((rc = ck_store_order_list_open_lineage(st, lineage, &l, err)) != CK_OK)
		return rc;
	/* Oldest first: the last match is the newest order. */
	for (i = 0; i < l.n; i++) {
		const struct ck_order *o = &l.items[i];

		if (strcmp(o->lineage, lineage) != 0 || o->account_id != account_id ||
		    o->url == NULL || o->key_id <= 0 ||
		    !ck_issue_names_same((const char *const *)o->identifiers, o->nidentifiers,
					 names, n))
			continue;
		best = i;
		found = 1;
	}
	if (!found) {
		rc = CK_FAIL(err, CK_ERR_NOT_FOUND, "no open order for lineage %s", lineage);
	} else {
		*out = l.items[best];
		memset(&l.items[best], 0, sizeof(l.items[best]));
		rc = CK_OK;
	}
	ck_order_list_cleanup(&l);
	return rc;
}
