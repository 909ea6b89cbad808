/*
 * cert.c - certificate download (RFC 8555 section 7.4.2): the PEM chain
 * and its Link rel="alternate" chains.  Owns only the transfer; parsing
 * and checking the chain is crypto's job (ck_pem_certs_parse,
 * ck_chain_check), storing it is the store's.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme/acme_int.h"
#include "crypto/crypto.h"

void
acme_cert_cleanup(struct acme_cert *cert)
{
	if (cert == NULL)
		return;
	free(cert->pem);
	ck_strv_cleanup(&cert->alternates);
	memset(cert, 0, sizeof(*cert));
}

/* Every rel="alternate" target of every Link header; a malformed Link only warns. */
static void
cert_alternates(struct acme_client *c, const struct acme_http_response *r, struct ck_strv *out)
{
	size_t i;
	struct ck_err e;

	for (i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, "Link") != 0)
			continue;
		ck_err_clear(&e);
		if (acme_link_parse(r->headers[i].value, "alternate", ACME_LINKS_MAX, out, &e) !=
		    CK_OK)
			ck_log(&c->ctx->log, CK_LOG_WARN,
			       "ignoring a malformed Link header on the certificate: %s", e.msg);
	}
}

enum ck_code
acme_cert_download(struct acme_client *c, const char *url, struct acme_cert *out,
		   struct ck_err *err)
{
	struct acme_post_args a = { .url = url, .payload = "", .accept = ACME_CT_PEM_CHAIN };
	struct acme_http_response resp = { 0 };
	struct acme_cert cert = { 0 };
	enum ck_code rc;

	if ((rc = acme_client_need_kid(c, err)) != CK_OK)
		return rc;
	if ((rc = acme_post_ex(c, &a, &resp, err)) != CK_OK) {
		ck_err_prefix(err, "certificate download failed");
		goto out;
	}
	if (resp.body == NULL || resp.body_len == 0 || strlen(resp.body) != resp.body_len ||
	    strstr(resp.body, "-----BEGIN CERTIFICATE-----") == NULL) {
		rc = CK_FAIL(err, CK_ERR_PARSE,
			     "the server's certificate download is not a PEM certificate chain");
		goto out;
	}
	cert_alternates(c, &resp, &cert.alternates);
	cert.pem = resp.body;
	cert.pem_len = resp.body_len;
	resp.body = NULL;
	resp.body_len = 0;
	*out = cert;
	memset(&cert, 0, sizeof(cert));
out:
	acme_cert_cleanup(&cert);
	acme_http_response_cleanup(&resp);
	return rc;
}

enum ck_code
acme_cert_download_alternates(struct acme_client *c, const struct acme_cert *cert,
			      struct acme_cert **out, size_t *n, struct ck_err *err)
{
	struct acme_cert *alts = NULL;
	size_t i, got = 0;
	enum ck_code rc = CK_OK;

	/* All or none: no alternate is fetched while another is on a foreign origin. */
	if ((rc = acme_strv_check_origin(c, &cert->alternates,
					 "the certificate's alternate chain URL", err)) != CK_OK)
		return rc;
	if (cert->alternates.n > 0 &&
	    (alts = calloc(cert->alternates.n, sizeof(*alts))) == NULL)
		return CK_OOM(err);
	for (i = 0; i < cert->alternates.n; i++) {
		if ((rc = acme_cert_download(c, cert->alternates.v[i], &alts[i], err)) != CK_OK)
			goto out;
		got = i + 1;
	}
	*out = alts;
	*n = got;
	alts = NULL;
out:
	for (i = 0; alts != NULL && i < got; i++)
		acme_cert_cleanup(&alts[i]);
	free(alts);
	return rc;
}

/* {"certificate": base64url(DER), "reason": N} as JSON text (free()). */
static enum ck_code
revoke_payload(const unsigned char *der, size_t len, int reason, char **out, struct ck_err *err)
{
	json_t *p = json_object();
	char *b64 = NULL;
	enum ck_code rc;

	if (p == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	if ((rc = ck_b64url_encode(der, len, &b64, err)) != CK_OK)
		goto out;
	if (json_object_set_new(p, "certificate", json_string(b64)) != 0 ||
	    json_object_set_new(p, "reason", json_integer(reason)) != 0) {
		rc = CK_OOM(err);
		goto out;
	}
	rc = acme_json_dump(p, out, err);
out:
	free(b64);
	json_decref(p);
	return rc;
}

/* acme_cert_revoke with the certificate key's signer when s is set. */
static enum ck_code
cert_revoke(struct acme_client *c, const unsigned char *der, size_t len, int reason,
	    EVP_PKEY *cert_key, struct ck_signer *s, struct ck_err *err)
{
	struct acme_post_args a = { .key = cert_key, .signer = s, .use_jwk = cert_key != NULL };
	struct acme_http_response resp = { 0 };
	const struct acme_directory *dir = NULL;
	char *payload = NULL;
	enum ck_code rc;

	if (der == NULL || len == 0 || reason < 0 || reason > 10 || reason == 7)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no certificate or an invalid reason code");
	if (cert_key == NULL && (rc = acme_client_need_kid(c, err)) != CK_OK)
		return rc;
	if ((rc = acme_directory_get(c, &dir, err)) != CK_OK)
		return rc;
	if (dir->revoke_cert == NULL)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED,
			       "the server's directory offers no revokeCert URL");
	if ((rc = revoke_payload(der, len, reason, &payload, err)) != CK_OK)
		return rc;
	a.url = dir->revoke_cert;
	a.payload = payload;
	rc = acme_post_ex(c, &a, &resp, err);
	if (rc != CK_OK)
		ck_err_prefix(err, "revocation");
	acme_http_response_cleanup(&resp);
	free(payload);
	return rc;
}

enum ck_code
acme_cert_revoke(struct acme_client *c, const unsigned char *der, size_t len, int reason,
		 EVP_PKEY *cert_key, struct ck_err *err)
{
	return cert_revoke(c, der, len, reason, cert_key, NULL, err);
}

enum ck_code
acme_cert_revoke_signer(struct acme_client *c, const unsigned char *der, size_t len, int reason,
			struct ck_signer *cert_key, struct ck_err *err)
{
	if (cert_key == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no signer for the certificate's key");
	return cert_revoke(c, der, len, reason, ck_signer_pubkey(cert_key), cert_key, err);
}
