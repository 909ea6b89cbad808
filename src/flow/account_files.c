/*
 * account_files.c - what an account is given in files: its own private
 * key (PEM) and the CA's External Account Binding HMAC key (base64url
 * text).  Both are secrets: read from files (or fd:N) only, never argv,
 * and wiped after use (see account.h).
 *
 * Must never: leave a copy of a secret in memory unwiped, or accept a file
 * that holds no key as an empty key.
 */
#include <string.h>

#include "flow/account.h"

enum ck_code
ck_account_key_file_read(const char *path, EVP_PKEY **out, struct ck_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	enum ck_code rc;

	if ((rc = ck_file_read_secret(path, CK_PEM_MAX, &data, &len, err)) != CK_OK)
		return rc;
	rc = ck_key_from_pem((const char *)data, len, NULL, out, err);
	ck_secure_free(data, len + 1);
	if (rc != CK_OK)
		ck_err_prefix(err, "%s", path);
	return rc;
}

enum ck_code
ck_account_eab_key_read(const char *path, unsigned char **key, size_t *len, struct ck_err *err)
{
	char *text = NULL;
	unsigned char *k = NULL;
	size_t n, klen = 0;
	enum ck_code rc;

	if ((rc = ck_secret_read(path, CK_ACCOUNT_EAB_FILE_MAX, &text, err)) != CK_OK)
		return rc;
	n = strlen(text);
	while (n > 0 && text[n - 1] == '=')
		n--; /* some CAs hand out padded base64url */
	if (n > 0 && (rc = ck_b64url_decode(text, n, &k, &klen, err)) != CK_OK)
		CK_FAIL(err, rc, "the EAB HMAC key in %s is not base64url text (expected the "
			"base64url key the CA gave you)", path);
	else if (klen == 0)
		rc = CK_FAIL(err, CK_ERR_PARSE, "EAB HMAC key file %s is empty (expected the "
			     "base64url key the CA gave you); nothing was sent or stored", path);
	ck_secure_strfree(text);
	if (rc != CK_OK) {
		ck_secure_free(k, klen + 1);
		return rc;
	}
	*key = k;
	*len = klen;
	return CK_OK;
}
