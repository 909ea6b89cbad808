/*
 * fuzz_ref.c - libFuzzer target over the REF parser (ck_ref_parse): any
 * bytes in, never a crash, and every accepted REF is self-consistent (hex
 * only lower-case digits, flags agree with its length, names valid).
 */
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct ck_ref r;
	struct ck_err err;
	char *text;
	size_t i;

	if (size > CK_REF_MAX * 2)
		return 0;
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	ck_err_clear(&err);
	if (ck_ref_parse(text, &r, &err) == CK_OK) {
		if (r.hex_len != strlen(r.hex) || r.hex_len > 64)
			abort();
		for (i = 0; i < r.hex_len; i++) {
			if (!((r.hex[i] >= '0' && r.hex[i] <= '9') || (r.hex[i] >= 'a' && r.hex[i] <= 'f')))
				abort();
		}
		if (r.sha256_full != (r.hex_len == 64) || r.sha1 != (r.hex_len == 40))
			abort();
		if (r.sha256_prefix && (r.hex_len < CK_REF_PREFIX_MIN || r.hex_len >= 64))
			abort();
		if (r.name[0] != '\0' && !ck_store_name_valid(r.name))
			abort();
		if (r.name[0] == '\0' && !r.sha256_full && !r.sha1 && !r.sha256_prefix)
			abort();
	} else if (err.code != CK_ERR_INVALID_ARG || err.msg[0] == '\0') {
		abort();
	}
	free(text);
	return 0;
}
