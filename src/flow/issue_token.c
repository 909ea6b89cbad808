/*
 * issue_token.c - where issuance meets the certificate key's home: the
 * key made (software or on a token) and stored before the order, the key
 * of a resumed order loaded back, and the issued certificate written onto
 * the token.  issue.c calls these and never asks where the key lives.
 *
 * Must never: keep a PIN, or remove a lineage's certificate object from a
 * token before its successor is written.
 */
#include <stdlib.h>
#include <string.h>

#include <certkeep/issue.h>

#include "flow/certkey.h"

enum ck_code
issue_token_resolve(const char *lineage, const struct ck_lineage *lin,
		    const struct ck_issue_params *p, struct ck_issue_params *eff,
		    struct ck_err *err)
{
	struct ck_pkcs11_uri u;

	*eff = *p;
	if (p->token_uri != NULL) {
		if (p->token_uri[0] == '\0')
			eff->token_uri = eff->pkcs11_module = NULL; /* back to software keys */
		return CK_OK;
	}
	if (lin == NULL || lin->token_uri == NULL)
		return CK_OK; /* a new lineage, or software keys: nothing recorded */
	eff->token_uri = lin->token_uri;
	if (eff->pkcs11_module == NULL)
		eff->pkcs11_module = lin->token_module;
	if (eff->pin_file == NULL)
		eff->pin_file = lin->token_pin_file;
	if (eff->pin_file == NULL &&
	    (ck_pkcs11_uri_parse(eff->token_uri, &u, NULL) != CK_OK || u.pin_source[0] == '\0'))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "lineage %s makes its certificate keys on token %s, and no PIN file "
			       "is recorded for it: give --pin-file FILE (or `certkeep issue` "
			       "--token URI --pin-file FILE to record one); nothing was changed",
			       lineage, lin->token_uri);
	return CK_OK;
}

enum ck_code
issue_token_record(struct ck_store *st, const char *lineage, const struct ck_issue_params *p,
		   struct ck_err *err)
{
	const char *pin = p->pin_file;

	if (p->run_only || p->token_uri == NULL)
		return CK_OK;
	if (pin != NULL && (pin[0] == '\0' || strncmp(pin, "fd:", 3) == 0))
		pin = NULL; /* an fd means nothing to a later run */
	return ck_store_lineage_token_set(st, lineage, p->token_uri, p->pkcs11_module, pin, err);
}

static void
issue_key_src(const struct ck_issue_params *p, struct flow_key_src *src)
{
	src->token_uri = p->token_uri;
	src->module = p->pkcs11_module;
	src->pin_file = p->pin_file;
}

enum ck_code
issue_key_new(struct ck_store *st, const struct ck_issue_params *p, enum ck_key_type kt,
	      const char *lineage, struct flow_key *k, EVP_PKEY **pub, struct ck_err *err)
{
	struct flow_key_src src;
	enum ck_code rc;

	issue_key_src(p, &src);
	if ((rc = flow_key_new(k, st, &src, kt, lineage, err)) != CK_OK) {
		ck_err_prefix(err, p->token_uri ? "cannot make or store the certificate key on "
			      "the token" : "cannot store the new certificate key");
		return rc;
	}
	if ((*pub = flow_key_public(k)) == NULL) {
		flow_key_cleanup(k);
		return CK_OOM(err);
	}
	return CK_OK;
}

enum ck_code
issue_key_load(struct ck_store *st, const struct ck_issue_params *p, int64_t key_id,
	       struct flow_key *k, EVP_PKEY **pub, struct ck_err *err)
{
	struct flow_key_src src;
	enum ck_code rc;

	issue_key_src(p, &src);
	if ((rc = flow_key_load(k, st, key_id, &src, err)) != CK_OK)
		return rc;
	if ((*pub = flow_key_public(k)) == NULL) {
		flow_key_cleanup(k);
		return CK_OOM(err);
	}
	return CK_OK;
}

void
issue_cert_to_token(const struct ck_ctx *ctx, struct flow_key *k, const struct ck_der *leaf,
		    const char *lineage)
{
	struct ck_err e;
	size_t replaced = 0;

	if (k->token == NULL)
		return;
	ck_err_clear(&e);
	if (flow_key_cert_to_token(k, leaf->data, leaf->len, lineage, &replaced, &e) != CK_OK) {
		ck_log(&ctx->log, CK_LOG_WARN, "the certificate is issued and stored, but was not "
		       "written onto token '%s': %s (`certkeep import` of it writes it there)",
		       ck_token_label(k->token), e.msg);
		return;
	}
	ck_log(&ctx->log, CK_LOG_INFO, "certificate written onto token '%s' as '%s'%s",
	       ck_token_label(k->token), lineage,
	       replaced ? ", replacing the lineage's previous certificate object" : "");
}
