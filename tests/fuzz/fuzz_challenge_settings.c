/*
 * fuzz_challenge_settings.c - libFuzzer target over the decoder of the
 * challenge settings recorded on a lineage (chall_settings_decode): the
 * store is outside data.  Any bytes in, never a crash or a leak; every
 * accepted record passes chall_settings_check and survives a round trip
 * (encode, decode, encode gives the same text).
 */
#include <stdlib.h>
#include <string.h>

#include "challenge/challenge.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct chall_settings_rec rec, again;
	struct ck_err err;
	char *text, *json = NULL, *json2 = NULL;
	char desc[2048];

	if (size > CHALL_SETTINGS_JSON_MAX + 16)
		return 0;
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&again, 0, sizeof(again));
	if (chall_settings_decode(text, &rec, &err) == CK_OK) {
		if (chall_settings_check(&rec.s, &err) != CK_OK)
			abort();
		chall_settings_describe(&rec.s, desc, sizeof(desc));
		if (chall_settings_encode(&rec.s, &json, &err) == CK_OK) {
			if (chall_settings_decode(json, &again, &err) != CK_OK ||
			    chall_settings_encode(&again.s, &json2, &err) != CK_OK ||
			    strcmp(json, json2) != 0)
				abort();
		} else if (err.code != CK_ERR_NOMEM && err.code != CK_ERR_TOO_LARGE) {
			abort();
		}
	}
	chall_settings_rec_cleanup(&rec);
	chall_settings_rec_cleanup(&again);
	free(json);
	free(json2);
	free(text);
	return 0;
}
