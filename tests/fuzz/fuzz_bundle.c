/*
 * fuzz_bundle.c - libFuzzer target for the import parser: every input is
 * parsed once without a password and once with one, and whatever comes
 * back is used (certificate facts, key SPKI) so half-built results show up.
 */
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
use_bundle(struct ck_bundle *b)
{
	struct ck_cert_info info;
	char hex[65];
	size_t i;

	for (i = 0; i < b->certs.n; i++) {
		if (ck_cert_info_from_der(b->certs.items[i].data, b->certs.items[i].len, &info,
					  NULL) == CK_OK)
			ck_cert_info_cleanup(&info);
	}
	for (i = 0; i < b->nkeys; i++)
		(void)ck_key_spki_sha256(b->keys[i], hex, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const passwords[] = {NULL, "pfx secret"};
	struct ck_bundle b;
	struct ck_err err;
	size_t i;

	for (i = 0; i < 2; i++) {
		ck_err_clear(&err);
		if (ck_bundle_parse(data, size, passwords[i], &b, &err) == CK_OK) {
			use_bundle(&b);
			ck_bundle_cleanup(&b);
		}
	}
	return 0;
}
