/*
 * fuzz_retry_after.c - libFuzzer target over the acme module's header
 * parsers: Retry-After (delta-seconds, HTTP-date through curl_getdate, and
 * the clamp) and Link (RFC 8288, rel="alternate").  The input is one
 * header value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ck_strv v = { 0 };
	char *s;
	long secs;
	unsigned c;

	if (size > ACME_HEADER_VALUE_MAX)
		return 0;
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	secs = acme_retry_after_parse(s, 1700000000);
	if (secs < -1)
		abort(); /* -1 (absent/garbage) or a non-negative delay */
	c = acme_retry_after_clamp(secs, ACME_POLL_MIN_S, ACME_POLL_MAX_S, ACME_POLL_DEFAULT_S);
	if (c < ACME_POLL_MIN_S || c > ACME_POLL_MAX_S)
		abort();
	(void)acme_link_parse(s, "alternate", ACME_LINKS_MAX, &v, NULL);
	if (v.n > ACME_LINKS_MAX)
		abort();
	ck_strv_cleanup(&v);
	free(s);
	return 0;
}
