/*
 * request_ops.c - pending requests for a CA outside ACME: the key is made
 * and committed first, then the request with its CSR, so the certificate
 * that arrives days later (certkeep import) always finds its key.  Never
 * writes the CSR file before the request is committed.  Also the CSR of a
 * stored request as PEM, for listings.
 */
#include <stdlib.h>
#include <string.h>

#include "flow/ops.h"
#include "store/store.h"

/* ---- pending requests ------------------------------------------------ */

enum ck_code
ck_store_request_create(struct ck_store *st, const char *const *names, size_t n,
			const char *lineage, enum ck_key_type t, int64_t *request_id,
			char **csr_pem, struct ck_err *err)
{
	EVP_PKEY *key = NULL;
	unsigned char *csr = NULL;
	char *pem = NULL;
	size_t csr_len = 0;
	int64_t key_id = 0, rid = 0;
	enum ck_code rc;

	if (names == NULL || n == 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a request needs at least one name");
	if (n > CK_STORE_IDENT_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "%zu names; at most %d in one request", n,
			       CK_STORE_IDENT_MAX);
	if (lineage == NULL && ck_store_name_valid(names[0]))
		lineage = names[0];
	if (lineage != NULL && !ck_store_name_valid(lineage))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "the lineage name must be 1 to %d of A-Z a-z 0-9 . _ - and not "
			       "start with '.' or '-'", CK_STORE_NAME_MAX);
	if ((rc = ck_key_generate(t, &key, err)) != CK_OK)
		goto out;
	/* The CSR first: a name it refuses must not leave a key behind. */
	if ((rc = ck_csr_create(key, names, n, &csr, &csr_len, err)) != CK_OK ||
	    (rc = ck_der_to_pem("CERTIFICATE REQUEST", csr, csr_len, &pem, NULL, err)) != CK_OK)
		goto out;
	if ((rc = ck_store_key_put(st, key, &key_id, NULL, err)) != CK_OK)
		goto out;
	rc = ck_store_request_put(st, key_id, csr, csr_len, names, n, lineage, &rid, err);
	if (rc != CK_OK) {
		ck_err_prefix(err, "the new key %lld was kept unused (doctor lists it, "
				   "'doctor --prune' removes it)", (long long)key_id);
		goto out;
	}
	*request_id = rid;
	*csr_pem = pem;
	pem = NULL;
out:
	free(pem);
	free(csr);
	EVP_PKEY_free(key);
	return rc;
}

enum ck_code
ck_request_create_file(struct ck_store *st, const char *const *names, size_t n,
		       const char *lineage, enum ck_key_type t, const char *csr_path,
		       int64_t *request_id, struct ck_err *err)
{
	char *pem = NULL;
	int64_t rid = 0;
	enum ck_code rc;

	if (csr_path == NULL || csr_path[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no file to write the CSR to was given");
	if ((rc = ck_store_request_create(st, names, n, lineage, t, &rid, &pem, err)) != CK_OK)
		return rc;
	if ((rc = ck_file_write_atomic(csr_path, pem, strlen(pem), 0644, err)) != CK_OK)
		ck_err_prefix(err, "request %lld and its key were recorded, but the CSR was not "
				   "written ('certkeep requests --json' shows it)", (long long)rid);
	else
		*request_id = rid;
	free(pem);
	return rc;
}

enum ck_code
ck_request_csr_pem(const struct ck_request *r, char **pem, struct ck_err *err)
{
	return ck_der_to_pem("CERTIFICATE REQUEST", r->csr_der, r->csr_len, pem, NULL, err);
}
