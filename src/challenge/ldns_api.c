/*
 * ldns_api.c - loads libldns on first use (challenge/ldns_api.h,
 * core/dl.h).
 *
 * Must never: load it for a command that does no dns-01 check or update,
 * crash when it is missing.
 */
#define DNS01_LDNS_API_LOADER
#include "challenge/ldns_api.h"

#include "challenge/challenge.h"
#include "core/dl.h"

struct dns01_ldns_api dns01_ldns;

static struct ck_dl ldns_dl = CK_DL_INIT(CK_LDNS_SONAME, "dns-01's check that the TXT "
					 "records are visible (--dns-wait 0 skips it) and --dns-update",
					 "libldns3");

static void
ldns_load_once(void)
{
	void *h = ck_dl_open(&ldns_dl);
	int ok = h != NULL;

#define DNS01_LDNS_RESOLVE(f) \
	ok = ok && (dns01_ldns.f = (__typeof__(dns01_ldns.f))ck_dl_sym(&ldns_dl, h, #f)) != NULL;
	DNS01_LDNS_FUNCTIONS(DNS01_LDNS_RESOLVE)
#undef DNS01_LDNS_RESOLVE
	ck_dl_done(&ldns_dl, h, ok);
}

enum ck_code
dns01_ldns_load(struct ck_err *err)
{
	return ck_dl_load(&ldns_dl, ldns_load_once, err);
}

enum ck_code
chall_dns01_can_run(const struct ck_challenge_settings *cfg, struct ck_err *err)
{
	if (cfg->dns_wait == 0 && (cfg->dns_update == NULL || cfg->dns_update[0] == '\0'))
		return CK_OK; /* a hook, unchecked: no DNS message of ours */
	return dns01_ldns_load(err);
}
