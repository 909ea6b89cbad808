/*
 * due.c - when a lineage's current certificate is due by the stored rules
 * (the renewal plan's rule, src/renew/plan.c, and doctor's check of the
 * stored next look, doctor_due.c, share it so they cannot disagree): the
 * moment chosen in the certificate's stored ARI window, else two thirds of
 * its lifetime (half up to CK_DUE_SHORT_S) minus a stable jitter.
 *
 * Pure: no database, no clock.
 */
#include <string.h>

#include "store/renewal.h"
#include "store/store.h"

uint64_t
ck_due_spread(const char *sha256, uint64_t span)
{
	uint64_t v = 0;
	size_t i;

	/* The thumbprint's first 60 bits: uniform across certificates. */
	for (i = 0; i < 15 && sha256[i] != '\0'; i++) {
		char c = sha256[i];
		v = (v << 4) | (uint64_t)(c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0');
	}
	return span == UINT64_MAX ? v : v % (span + 1);
}

time_t
ck_due_lifetime(time_t not_before, time_t not_after, const char *sha256)
{
	time_t life = not_after - not_before;
	time_t base;

	if (life <= 0)
		return not_before;
	base = life <= CK_DUE_SHORT_S ? not_before + life / 2 : not_before + life / 3 * 2;
	return base - (time_t)ck_due_spread(sha256, (uint64_t)(life / CK_DUE_JITTER_DIV));
}

int
ck_due_ari_stored(const struct ck_renewal *r, const char *sha256)
{
	return r != NULL && strcmp(r->cert_sha256, sha256) == 0 && r->ari_moment != 0;
}

time_t
ck_due_moment(const struct ck_lineage_current *cur, const struct ck_renewal *r)
{
	if (ck_due_ari_stored(r, cur->sha256))
		return r->ari_moment;
	return ck_due_lifetime(cur->not_before, cur->not_after, cur->sha256);
}
