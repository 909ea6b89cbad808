/*
 * fuzz_alternates.c - libFuzzer target for the stored alternate chains
 * (ck_alternates_decode: text first written from an ACME server's
 * alternate downloads) and for the issuer CN a chain is selected by
 * (ck_chain_top_issuer_cn, on certificates the server sent).  The input is
 * read as the stored JSON text, and also as one DER certificate whose
 * issuer CN is taken; a CN with a control character is a finding.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/alternates.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The top issuer CN of chain (leaf as the top when chain is empty); checks its contract. */
static void
top_cn(const struct ck_der *leaf, const struct ck_der_list *chain)
{
	char *cn = NULL;
	size_t i, n;

	if (ck_chain_top_issuer_cn(leaf, chain, &cn, NULL) != CK_OK)
		return;
	n = strlen(cn);
	if (n > CK_CHAIN_CN_MAX)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)cn[i] < 0x20 || cn[i] == 0x7f)
			abort();
	free(cn);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ck_alternates a = { NULL, 0 };
	struct ck_der_list none = { NULL, 0 };
	struct ck_der leaf = { (unsigned char *)data, size };
	char *text = malloc(size + 1);
	size_t i;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (ck_alternates_decode(text, &a, NULL) == CK_OK) {
		for (i = 0; i < a.n; i++)
			top_cn(&leaf, &a.chains[i]);
		ck_alternates_cleanup(&a);
	}
	free(text);
	top_cn(&leaf, &none);
	return 0;
}
