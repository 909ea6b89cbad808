/*
 * dns01_update.c - dns-01 by RFC 2136 dynamic update (--dns-update
 * SERVER[:PORT] --tsig-file F): each TXT record is added and deleted by an
 * UPDATE message to the server, signed with TSIG hmac-sha256 (RFC 8945),
 * built, signed and parsed by ldns.  The zone is the owner of the SOA the
 * update server answers for the name.  The key is read at start and wiped
 * at stop; it is never logged and never leaves the process but as a MAC.
 * A REFUSED / NOTAUTH / BADSIG / BADKEY answer is an error naming the
 * zone and the key name.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "challenge/dns01.h"
#include "challenge/tsig.h"

#define UPD_TTL 60                     /* of the TXT records: short, they are temporary */
#define UPD_FUDGE 300                  /* TSIG time fudge, seconds (RFC 8945 5.2.3) */

struct upd {
	struct dns01_set set;
	struct tsig_key key;
	pthread_mutex_t lock;          /* one update at a time through res */
	ldns_resolver *res;            /* the update server */
	char server[96];               /* its "ADDR#PORT", for messages */
};

/* The TSIG error of an answer (RFC 8945 5.3), 0 if none. */
static unsigned
tsig_error(const ldns_pkt *p)
{
	ldns_rr *t = ldns_pkt_tsig(p);

	if (t == NULL || ldns_rr_rd_count(t) < 6 || ldns_rdf_size(ldns_rr_rdf(t, 5)) != 2)
		return 0;
	return ldns_rdf2native_int16(ldns_rr_rdf(t, 5));
}

static const char *
tsig_error_name(unsigned e)
{
	switch (e) {
	case 16: return "BADSIG (the secret does not match the server's)";
	case 17: return "BADKEY (the server does not know this key name or algorithm)";
	case 18: return "BADTIME (the clocks differ by more than 5 minutes)";
	default: return NULL;
	}
}

/* The UPDATE message adding (or deleting) rec in zone, TSIG-signed. */
static enum ck_code
upd_message(struct upd *u, const char *zone, const struct dns01_rec *rec, int del,
	    ldns_pkt **out, struct ck_err *err)
{
	char text[DNS01_FQDN_MAX + DNS01_VALUE_LEN + 32], keyname[TSIG_NAME_MAX + 1];
	ldns_rr *rr = NULL;
	ldns_rr_list *up = ldns_rr_list_new();
	ldns_rdf *zrdf = ldns_dname_new_frm_str(zone);
	ldns_pkt *p = NULL;
	ldns_status st;
	enum ck_code rc = CK_ERR_NOMEM;

	snprintf(text, sizeof(text), "%s. %d IN TXT \"%s\"", rec->fqdn, UPD_TTL, rec->value);
	snprintf(keyname, sizeof(keyname), "%s.", u->key.name);
	if (up == NULL || zrdf == NULL || ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) !=
	    LDNS_STATUS_OK) {
		rc = CK_FAIL(err, CK_ERR_INTERNAL, "cannot build the TXT record %s", rec->fqdn);
		goto out;
	}
	if (del) {   /* RFC 2136 2.5.4: delete an RR from an RRset, class NONE, TTL 0 */
		ldns_rr_set_class(rr, LDNS_RR_CLASS_NONE);
		ldns_rr_set_ttl(rr, 0);
	}
	ldns_rr_list_push_rr(up, rr);
	rr = NULL;
	p = ldns_update_pkt_new(zrdf, LDNS_RR_CLASS_IN, NULL, up, NULL);
	zrdf = NULL;   /* taken by the packet, or freed with it */
	if (p == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	ldns_pkt_set_rd(p, false);
	ldns_pkt_set_random_id(p);
	st = ldns_pkt_tsig_sign(p, keyname, u->key.secret, UPD_FUDGE, "hmac-sha256.", NULL);
	if (st != LDNS_STATUS_OK) {
		rc = CK_FAIL(err, CK_ERR_CRYPTO, "signing the update with TSIG key %s: %s",
			     u->key.name, ldns_get_errorstr_by_id(st));
		goto out;
	}
	*out = p;
	p = NULL;
	rc = CK_OK;
out:
	ldns_pkt_free(p);
	ldns_rr_free(rr);
	ldns_rdf_deep_free(zrdf);
	ldns_rr_list_deep_free(up);
	return rc;
}

/* The server's verdict on an update: CK_OK for NOERROR, else a clear error. */
static enum ck_code
upd_verdict(struct upd *u, const char *zone, const ldns_pkt *ans, const char *what,
	    struct ck_err *err)
{
	ldns_pkt_rcode rcode = ldns_pkt_get_rcode(ans);
	unsigned terr = tsig_error(ans);
	const char *tname = tsig_error_name(terr);
	char *rname;
	enum ck_code rc;

	if (rcode == LDNS_RCODE_NOERROR && terr == 0)
		return CK_OK;
	rname = ldns_pkt_rcode2str(rcode);
	rc = CK_FAIL(err, rcode == LDNS_RCODE_REFUSED || rcode == LDNS_RCODE_NOTAUTH || terr ?
		     CK_ERR_PERMISSION : CK_ERR_NETWORK,
		     "%s: %s refused the update of zone %s signed with TSIG key %s: %s%s%s%s",
		     what, u->server, zone, u->key.name, rname != NULL ? rname : "?",
		     tname ? ", TSIG error " : "", tname ? tname : "",
		     rcode == LDNS_RCODE_REFUSED ? " (does the zone's allow-update name this "
		     "key?)" : rcode == LDNS_RCODE_NOTAUTH && !tname ? " (is the server primary "
		     "for the zone?)" : "");
	free(rname);
	return rc;
}

/*
 * Sends the signed update q and returns the answer in *ans.  The keyed
 * resolver (a copy of u->res that holds a copy of the secret, so ldns
 * verifies the answer's TSIG) lives for this one exchange; its copy of the
 * secret is wiped before it is freed.  *bogus: the answer's TSIG did not
 * verify (expected on an error answer, RFC 8945 5.3.2; never trusted on
 * success).
 */
static ldns_status
upd_exchange(struct upd *u, ldns_pkt *q, ldns_pkt **ans, int *bogus)
{
	ldns_resolver *kr = ldns_resolver_clone(u->res);
	char keyname[TSIG_NAME_MAX + 1];
	const char *copy;
	ldns_status st;

	*bogus = 0;
	if (kr == NULL)
		return LDNS_STATUS_MEM_ERR;
	snprintf(keyname, sizeof(keyname), "%s.", u->key.name);
	ldns_resolver_set_tsig_keyname(kr, keyname);
	ldns_resolver_set_tsig_algorithm(kr, "hmac-sha256.");
	ldns_resolver_set_tsig_keydata(kr, u->key.secret);
	st = ldns_send(ans, kr, q);   /* keeps the answer when its TSIG is bogus */
	if (st == LDNS_STATUS_CRYPTO_TSIG_BOGUS && *ans != NULL) {
		*bogus = 1;
		st = LDNS_STATUS_OK;
	}
	copy = ldns_resolver_tsig_keydata(kr);
	if (copy != NULL)
		OPENSSL_cleanse((char *)copy, strlen(copy));
	ldns_resolver_deep_free(kr);
	return st;
}

/* Finds the zone of rec at the update server and sends the add or delete. */
static enum ck_code
upd_send(struct upd *u, const struct dns01_rec *rec, int del, struct ck_err *err)
{
	char *zone = NULL, what[DNS01_FQDN_MAX + 64];
	ldns_pkt *q = NULL, *ans = NULL;
	ldns_status st;
	enum ck_code rc;
	int bogus = 0;

	snprintf(what, sizeof(what), "%s the TXT record %s", del ? "deleting" : "adding",
		 rec->fqdn);
	pthread_mutex_lock(&u->lock);
	rc = dns01_zone_find(u->res, rec->fqdn, &zone, err);
	if (rc != CK_OK)
		goto out;
	rc = upd_message(u, zone, rec, del, &q, err);
	if (rc != CK_OK)
		goto out;
	st = upd_exchange(u, q, &ans, &bogus);
	if (st != LDNS_STATUS_OK || ans == NULL) {
		rc = CK_FAIL(err, CK_ERR_NETWORK, "%s: no answer from %s (%s)", what, u->server,
			     ldns_get_errorstr_by_id(st));
		goto out;
	}
	rc = upd_verdict(u, zone, ans, what, err);
	if (rc == CK_OK && bogus)
		rc = CK_FAIL(err, CK_ERR_CRYPTO, "%s: the answer from %s for zone %s is not "
			     "signed with TSIG key %s: not trusting it", what, u->server, zone,
			     u->key.name);
out:
	pthread_mutex_unlock(&u->lock);
	if (rc != CK_OK && zone == NULL)
		ck_err_prefix(err, "%s", what);
	ldns_pkt_free(ans);
	ldns_pkt_free(q);
	free(zone);
	return rc;
}

static void
upd_del(struct chall_responder *r, const struct dns01_rec *rec)
{
	struct upd *u = r->impl;
	struct ck_err e = { 0 };

	if (upd_send(u, rec, 1, &e) != CK_OK)
		ck_log(&r->ctx->log, CK_LOG_WARN, "%s; the TXT record %s \"%s\" may be left "
		       "behind: remove it by hand (nsupdate)", e.msg, rec->fqdn, rec->value);
}

static enum ck_code
upd_start(struct chall_responder *r, struct ck_err *err)
{
	struct upd *u = r->impl;
	char shown[200];
	struct stat sb;
	enum ck_code rc;

	if (r->cfg->tsig_file == NULL || r->cfg->tsig_file[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "--dns-update needs --tsig-file F (a key "
			       "from tsig-keygen -a hmac-sha256 NAME)");
	if (stat(r->cfg->tsig_file, &sb) == 0 && (sb.st_mode & (S_IROTH | S_IWOTH)) != 0) {
		ck_str_printable(shown, sizeof(shown), r->cfg->tsig_file);
		ck_log(&r->ctx->log, CK_LOG_WARN, "TSIG key file %s is readable by every user of "
		       "this host: anyone can change the zone with it (chmod 0600 %s)", shown,
		       shown);
	}
	rc = tsig_key_read(r->cfg->tsig_file, &u->key, err);
	if (rc == CK_OK)
		rc = dns01_resolver_for(r->cfg->dns_update, 53, 0, "--dns-update", &u->res, err);
	if (rc == CK_OK)
		dns01_resolver_name(u->res, u->server, sizeof(u->server));
	return rc;
}

static enum ck_code
upd_add(struct chall_responder *r, const struct chall_item *it, struct ck_err *err)
{
	struct upd *u = r->impl;
	struct dns01_rec rec;
	enum ck_code rc;

	if (u->res == NULL)
		return CK_FAIL(err, CK_ERR_STATE, "the dns-01 update responder is not started");
	rc = dns01_rec_from_item(it, &rec, err);
	if (rc != CK_OK || dns01_set_has(&u->set, &rec))
		return rc;
	rc = upd_send(u, &rec, 0, err);
	if (rc == CK_ERR_NETWORK)
		upd_del(r, &rec);   /* no answer is no "no": the server may have applied it */
	if (rc != CK_OK)
		return rc;
	rc = dns01_set_add(&u->set, &rec, err);
	if (rc != CK_OK)
		upd_del(r, &rec);   /* published but not tracked: withdraw it now */
	return rc;
}

static enum ck_code
upd_ready(struct chall_responder *r, struct ck_err *err)
{
	struct upd *u = r->impl;

	return dns01_wait(r, &u->set, r->cfg->dns_update, 53, err);
}

static void
upd_remove(struct chall_responder *r, const struct chall_item *it)
{
	struct upd *u = r->impl;
	struct dns01_rec rec;

	if (dns01_rec_from_item(it, &rec, NULL) == CK_OK && dns01_set_take(&u->set, &rec))
		upd_del(r, &rec);
}

static void
upd_stop(struct chall_responder *r)
{
	struct upd *u = r->impl;
	struct dns01_rec rec;

	while (u->res != NULL && dns01_set_pop(&u->set, &rec))
		upd_del(r, &rec);
	ldns_resolver_deep_free(u->res);
	tsig_key_wipe(&u->key);
	dns01_set_cleanup(&u->set);
	pthread_mutex_destroy(&u->lock);
	free(u);
	free(r);
}

static const struct chall_ops upd_ops = {
	.type = "dns-01",
	.start = upd_start,
	.add = upd_add,
	.ready = upd_ready,
	.remove = upd_remove,
	.stop = upd_stop,
};

enum ck_code
chall_dns01_update_new(struct chall_responder *r, struct ck_err *err)
{
	struct upd *u;
	enum ck_code rc;

	if (r->cfg->dns_update == NULL || r->cfg->dns_update[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "dns-01 needs --dns-hook PROG or "
			       "--dns-update SERVER");
	if ((rc = chall_dns01_can_run(r->cfg, err)) != CK_OK)
		return rc;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return CK_OOM(err);
	dns01_set_init(&u->set);
	pthread_mutex_init(&u->lock, NULL);
	r->impl = u;
	r->ops = &upd_ops;
	return CK_OK;
}
