/*
 * fuzz_tsig.c - libFuzzer target over the TSIG key file parser
 * (src/challenge/tsig.c): the input is a whole key file.  A key that
 * parses has a name, the one algorithm, and a base64 secret; a failed
 * parse leaves nothing of the secret behind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "challenge/tsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tsig_key k;
	enum ck_code rc = tsig_key_parse((const char *)data, size, &k, NULL);

	if (rc == CK_OK) {
		if (k.name[0] == '\0' || strcmp(k.algorithm, "hmac-sha256") != 0 ||
		    strlen(k.secret) < 16 || strlen(k.secret) % 4 != 0)
			abort();
	} else if (k.secret[0] != '\0' || k.name[0] != '\0') {
		abort();
	}
	tsig_key_wipe(&k);
	return 0;
}
