/*
 * request_ops.c - pending requests for a CA outside ACME: the key is made
 * and committed first, then the request with its CSR, so the certificate
 * that arrives days later (certkeep import) always finds its key.  Never
 * writes the CSR file before the request is committed.  Also the CSR of a
 * stored request as PEM, for listings.  The key may be made on a PKCS#11
 * token (certkey.h); the token then signs the CSR.
 */
#include <stdlib.h>
#include <string.h>

#include <certkeep/tokens.h>

#include "flow/certkey.h"
#include "flow/ops.h"
#include "store/store.h"

/* ---- pending requests ------------------------------------------------ */

/* The names and lineage a request may carry; *lineage defaults to the first name. */
static enum ck_code
request_check(const char *const *names, size_t n, const char **lineage, struct ck_err *err)
{
	if (names == NULL || n == 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a request needs at least one name");
	if (n > CK_STORE_IDENT_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "%zu names; at most %d in one request", n,
			       CK_STORE_IDENT_MAX);
	if (*lineage == NULL && ck_store_name_valid(names[0]))
		*lineage = names[0];
	if (*lineage != NULL && !ck_store_name_valid(*lineage))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "the lineage name must be 1 to %d of A-Z a-z 0-9 . _ - and not "
			       "start with '.' or '-'", CK_STORE_NAME_MAX);
	return CK_OK;
}

/*
 * The key and CSR of a request.  A software key: the CSR first (a name it
 * refuses leaves no key behind), then the key committed.  A token key:
 * the names are checked first, the key is made on the token and its
 * reference committed (flow_key_new), then the token signs the CSR.
 */
static enum ck_code
request_key_csr(struct ck_store *st, const char *const *names, size_t n, const char *label,
		enum ck_key_type t, const struct flow_key_src *src, int64_t *key_id,
		unsigned char **csr, size_t *csr_len, struct ck_err *err)
{
	struct flow_key k;
	EVP_PKEY *key = NULL;
	enum ck_code rc;
	size_t i;

	memset(&k, 0, sizeof(k));
	if (src == NULL || src->token_uri == NULL) {
		if ((rc = ck_key_generate(t, &key, err)) == CK_OK &&
		    (rc = ck_csr_create(key, names, n, csr, csr_len, err)) == CK_OK)
			rc = ck_store_key_put(st, key, key_id, NULL, err);
		EVP_PKEY_free(key);
		return rc;
	}
	for (i = 0; i < n; i++)
		if (!ck_identifier_valid(names[i], 1))
			return CK_FAIL(err, CK_ERR_INVALID_ARG, "name %zu is neither a DNS name "
				       "nor an IP address; nothing was made on the token", i + 1);
	if ((rc = flow_key_new(&k, st, src, t, label, err)) == CK_OK &&
	    (rc = ck_csr_create_with(k.signer, names, n, csr, csr_len, err)) == CK_OK)
		*key_id = k.key_id;
	flow_key_cleanup(&k);
	return rc;
}

static enum ck_code
request_create(struct ck_store *st, const char *const *names, size_t n, const char *lineage,
	       enum ck_key_type t, const struct flow_key_src *src, int64_t *request_id,
	       char **csr_pem, struct ck_err *err)
{
	unsigned char *csr = NULL;
	char *pem = NULL;
	size_t csr_len = 0;
	int64_t key_id = 0, rid = 0;
	enum ck_code rc;

	if ((rc = request_check(names, n, &lineage, err)) != CK_OK)
		return rc;
	if ((rc = request_key_csr(st, names, n, lineage ? lineage : "certkeep-request", t, src,
				  &key_id, &csr, &csr_len, err)) != CK_OK ||
	    (rc = ck_der_to_pem("CERTIFICATE REQUEST", csr, csr_len, &pem, NULL, err)) != CK_OK)
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
	return rc;
}

enum ck_code
ck_store_request_create(struct ck_store *st, const char *const *names, size_t n,
			const char *lineage, enum ck_key_type t, int64_t *request_id,
			char **csr_pem, struct ck_err *err)
{
	return request_create(st, names, n, lineage, t, NULL, request_id, csr_pem, err);
}

static enum ck_code
request_file(struct ck_store *st, const char *const *names, size_t n, const char *lineage,
	     enum ck_key_type t, const struct flow_key_src *src, const char *csr_path,
	     int64_t *request_id, struct ck_err *err)
{
	char *pem = NULL;
	int64_t rid = 0;
	enum ck_code rc;

	if (csr_path == NULL || csr_path[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no file to write the CSR to was given");
	if ((rc = request_create(st, names, n, lineage, t, src, &rid, &pem, err)) != CK_OK)
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
ck_request_create_file(struct ck_store *st, const char *const *names, size_t n,
		       const char *lineage, enum ck_key_type t, const char *csr_path,
		       int64_t *request_id, struct ck_err *err)
{
	return request_file(st, names, n, lineage, t, NULL, csr_path, request_id, err);
}

enum ck_code
ck_request_create_token_file(struct ck_store *st, const char *const *names, size_t n,
			     const char *lineage, enum ck_key_type t,
			     const struct ck_token_target *tok, const char *csr_path,
			     int64_t *request_id, struct ck_err *err)
{
	struct flow_key_src src;

	if (tok == NULL || tok->uri == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no token URI given");
	src.token_uri = tok->uri;
	src.module = tok->module;
	src.pin_file = tok->pin_file;
	return request_file(st, names, n, lineage, t, &src, csr_path, request_id, err);
}

enum ck_code
ck_request_csr_pem(const struct ck_request *r, char **pem, struct ck_err *err)
{
	return ck_der_to_pem("CERTIFICATE REQUEST", r->csr_der, r->csr_len, pem, NULL, err);
}
