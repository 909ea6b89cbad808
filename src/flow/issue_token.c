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
