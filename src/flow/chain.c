/*
 * chain.c - applying a chain preference: at issuance (the lineage's
 * preferred issuer CN) and on request (`certkeep chain REF --select`).
 * Which chain matches is decided by the store's pure rules
 * (ck_cert_chains_find*), nowhere else.
 *
 * Must never: fail an issuance whose certificate is stored because the
 * preferred chain was not offered (the default chain stays, with a warning).
 */
#include <stdlib.h>
#include <string.h>

#include "flow/chain.h"

enum ck_code
chain_lineage_record(struct ck_store *st, const char *lineage, const char *cn,
		     struct ck_err *err)
{
	if (cn == NULL)
		return CK_OK;
	return ck_store_lineage_preferred_chain_set(st, lineage, cn, err);
}

size_t
chain_issue_apply(const struct ck_ctx *ctx, struct ck_store *st, const char *lineage,
		  int64_t cert_id)
{
	struct ck_cert_chains c = { NULL, 0, 0 };
	struct ck_lineage lin;
	struct ck_err e;
	size_t index = 0;

	memset(&lin, 0, sizeof(lin));
	ck_err_clear(&e);
	if (ck_store_lineage_get(st, lineage, &lin, &e) != CK_OK ||
	    lin.preferred_chain == NULL || ck_store_cert_chains(st, cert_id, &c, &e) != CK_OK)
		goto out;
	if (ck_cert_chains_find_issuer(&c, lin.preferred_chain, &index, &e) != CK_OK) {
		ck_log(&ctx->log, CK_LOG_WARN, "preferred chain not offered, the default chain "
		       "(0) is used: %s", e.msg);
		ck_err_clear(&e);
		index = 0;
	}
	if (ck_store_cert_chain_select(st, cert_id, index, &e) != CK_OK)
		index = 0;
	else if (index != 0)
		ck_log(&ctx->log, CK_LOG_INFO, "chain %zu selected: it leads to \"%s\"", index,
		       c.items[index].top_issuer);
out:
	if (e.code != CK_OK)
		ck_log(&ctx->log, CK_LOG_WARN, "the preferred chain of lineage %s was not applied "
		       "(the certificate is stored, with the default chain selected): %s", lineage,
		       e.msg);
	ck_cert_chains_cleanup(&c);
	ck_lineage_cleanup(&lin);
	return index;
}

enum ck_code
ck_chain_select(struct ck_store *st, const char *ref, const char *spec, size_t *index,
		struct ck_err *err)
{
	struct ck_cert_chains c = { NULL, 0, 0 };
	int64_t id = 0;
	size_t i = 0;
	enum ck_code rc;

	if ((rc = ck_store_ref_resolve(st, ref, &id, err)) != CK_OK ||
	    (rc = ck_store_cert_chains(st, id, &c, err)) != CK_OK)
		return rc;
	if ((rc = ck_cert_chains_find(&c, spec, &i, err)) == CK_OK &&
	    (rc = ck_store_cert_chain_select(st, id, i, err)) == CK_OK)
		*index = i;
	ck_cert_chains_cleanup(&c);
	return rc;
}
