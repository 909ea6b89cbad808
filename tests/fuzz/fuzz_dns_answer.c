/*
 * fuzz_dns_answer.c - libFuzzer target over what certkeep reads from a
 * DNS answer (src/challenge/dns01_dns.c): the input is a DNS message as
 * it comes off the wire, parsed by ldns_wire2pkt, then matched against a
 * dns-01 TXT value the way the wait does (CNAME chain, joined TXT
 * strings).  What it reports as seen must stay printable and bounded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "challenge/dns01.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FQDN "_acme-challenge.example.org"
#define VALUE "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ldns_pkt *p = NULL;
	char seen[DNS01_SEEN_MAX];
	size_t i, len;

	/* ldns is opened on first use (challenge/ldns_api.h), as the responders do. */
	if (dns01_ldns_load(NULL) != CK_OK)
		abort();
	if (size > 65535 || ldns_wire2pkt(&p, data, size) != LDNS_STATUS_OK)
		return 0;
	memset(seen, 'x', sizeof(seen));
	(void)dns01_txt_match(p, FQDN, VALUE, seen, sizeof(seen));
	len = strnlen(seen, sizeof(seen));
	if (len == sizeof(seen))
		abort();
	for (i = 0; i < len; i++)
		if (seen[i] < 0x20 || seen[i] > 0x7e)
			abort();
	ldns_pkt_free(p);
	return 0;
}
