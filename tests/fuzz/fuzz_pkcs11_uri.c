/*
 * fuzz_pkcs11_uri.c - libFuzzer target over the pkcs11: URI parser
 * (ck_pkcs11_uri_parse): any bytes in, never a crash or an over-read, and
 * every accepted URI that fits CK_TOKEN_URI_MAX once encoded survives format -> parse with the same token, id and
 * module path.
 */
#include <stdlib.h>
#include <string.h>

#include "token/token.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct ck_pkcs11_uri u, v;
	struct ck_err err;
	char *text, *again = NULL;
	enum ck_code rc;

	if (size > CK_TOKEN_URI_MAX * 2)
		return 0;
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	ck_err_clear(&err);
	if (ck_pkcs11_uri_parse(text, &u, &err) == CK_OK) {
		if (strlen(u.token) > CK_TOKEN_LABEL_MAX || u.id_len > CK_TOKEN_ID_MAX ||
		    strlen(u.module_path) > CK_TOKEN_MODULE_PATH_MAX)
			abort();
		rc = ck_pkcs11_uri_format(u.token, u.id, u.id_len, u.object[0] ? u.object : NULL,
					  u.module_path[0] ? u.module_path : NULL, &again, &err);
		/* percent-encoding may grow a long value past CK_TOKEN_URI_MAX */
		if (rc == CK_ERR_TOO_LARGE)
			goto out;
		if (rc != CK_OK)
			abort();
		if (ck_pkcs11_uri_parse(again, &v, &err) != CK_OK)
			abort();
		if (strcmp(u.token, v.token) != 0 || u.id_len != v.id_len ||
		    memcmp(u.id, v.id, u.id_len) != 0 ||
		    strcmp(u.module_path, v.module_path) != 0 || strcmp(v.type, "private") != 0)
			abort();
	}
out:
	free(again);
	free(text);
	return 0;
}
