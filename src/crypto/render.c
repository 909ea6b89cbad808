/*
 * render.c - the renderers of render.h: certificate, chain, key, combined
 * PEM and PKCS#12 as bytes.  Owns the order of the blocks in every output
 * (leaf before chain, chain in the order given, key last) so export and the
 * deploy targets can never disagree on it.  Must never: touch a file, keep
 * key bytes outside the caller's (secret) buffer unwiped.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/render.h"

enum ck_code
ck_render_cert_pem(const unsigned char *leaf, size_t leaf_len, struct ck_buf *out,
		   struct ck_err *err)
{
	char *pem = NULL;
	enum ck_code rc;

	if ((rc = ck_cert_der_to_pem(leaf, leaf_len, &pem, err)) != CK_OK)
		return rc;
	rc = ck_buf_append(out, pem, strlen(pem), err);
	free(pem);
	return rc;
}

enum ck_code
ck_render_chain_pem(const struct ck_der_list *chain, struct ck_buf *out, struct ck_err *err)
{
	enum ck_code rc = CK_OK;
	size_t i;

	for (i = 0; chain != NULL && i < chain->n && rc == CK_OK; i++)
		rc = ck_render_cert_pem(chain->items[i].data, chain->items[i].len, out, err);
	return rc;
}

enum ck_code
ck_render_fullchain(const unsigned char *leaf, size_t leaf_len, const struct ck_der_list *chain,
		    struct ck_buf *out, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = ck_render_cert_pem(leaf, leaf_len, out, err)) != CK_OK)
		return rc;
	return ck_render_chain_pem(chain, out, err);
}

enum ck_code
ck_render_key_pem(EVP_PKEY *key, struct ck_buf *out, struct ck_err *err)
{
	char *pem = NULL;
	size_t len = 0;
	enum ck_code rc;

	if (key == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no private key to render");
	if ((rc = ck_key_to_pem(key, &pem, &len, err)) != CK_OK)
		return rc;
	rc = ck_buf_append(out, pem, len, err);
	ck_secure_free(pem, len + 1);
	return rc;
}

enum ck_code
ck_render_key_der(EVP_PKEY *key, struct ck_buf *out, struct ck_err *err)
{
	unsigned char *der = NULL;
	size_t len = 0;
	enum ck_code rc;

	if (key == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no private key to render");
	if ((rc = ck_key_to_pkcs8_der(key, &der, &len, err)) != CK_OK)
		return rc;
	rc = ck_buf_append(out, der, len, err);
	ck_secure_free(der, len);
	return rc;
}

enum ck_code
ck_render_combined(EVP_PKEY *key, const unsigned char *leaf, size_t leaf_len,
		   const struct ck_der_list *chain, struct ck_buf *out, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = ck_render_fullchain(leaf, leaf_len, chain, out, err)) != CK_OK)
		return rc;
	if (key == NULL)
		return CK_OK;
	return ck_render_key_pem(key, out, err);
}

enum ck_code
ck_render_pkcs12(EVP_PKEY *key, const unsigned char *leaf, size_t leaf_len,
		 const struct ck_der_list *chain, const char *password, const char *friendly_name,
		 enum ck_pfx_compat compat, struct ck_buf *out, struct ck_err *err)
{
	unsigned char *pfx = NULL;
	size_t pfx_len = 0;
	enum ck_code rc;

	rc = ck_pkcs12_create(key, leaf, leaf_len, chain, password, friendly_name, compat, &pfx,
			      &pfx_len, err);
	if (rc != CK_OK)
		return rc;
	rc = ck_buf_append(out, pfx, pfx_len, err);
	ck_secure_free(pfx, pfx_len);
	return rc;
}

void
ck_render_set_cleanup(struct ck_render_set *s)
{
	if (s == NULL)
		return;
	ck_buf_cleanup(&s->cert);
	ck_buf_cleanup(&s->chain);
	ck_buf_cleanup(&s->fullchain);
	ck_buf_cleanup(&s->privkey);
}

enum ck_code
ck_render_pem_set(EVP_PKEY *key, const unsigned char *leaf, size_t leaf_len,
		  const struct ck_der_list *chain, size_t max, struct ck_render_set *out,
		  struct ck_err *err)
{
	enum ck_code rc;

	ck_buf_init(&out->cert, max);
	ck_buf_init(&out->chain, max);
	ck_buf_init(&out->fullchain, max);
	ck_buf_init_secret(&out->privkey, max);
	rc = ck_render_cert_pem(leaf, leaf_len, &out->cert, err);
	if (rc == CK_OK)
		rc = ck_render_chain_pem(chain, &out->chain, err);
	/* fullchain.pem is cert.pem then chain.pem, byte for byte. */
	if (rc == CK_OK)
		rc = ck_buf_append(&out->fullchain, out->cert.data, out->cert.len, err);
	if (rc == CK_OK)
		rc = ck_buf_append(&out->fullchain, out->chain.data, out->chain.len, err);
	if (rc == CK_OK && key != NULL)
		rc = ck_render_key_pem(key, &out->privkey, err);
	if (rc != CK_OK)
		ck_render_set_cleanup(out);
	return rc;
}
