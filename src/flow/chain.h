/*
 * chain.h - which chain a lineage's certificates use (issue
 * --preferred-chain, honoured by later issues and renewal).  The rules
 * themselves are the store's pure ck_cert_chains_find*; this is where
 * issuance applies them.
 */
#ifndef CK_FLOW_CHAIN_H
#define CK_FLOW_CHAIN_H

#include <certkeep/io.h>

#include "core/core.h"
#include "store/store.h"

/*
 * Records cn as lineage's preferred chain when cn is not NULL ("" clears
 * it); NULL leaves what is recorded.  The lineage must exist.
 */
enum ck_code chain_lineage_record(struct ck_store *st, const char *lineage, const char *cn,
				  struct ck_err *err);
/*
 * After certificate cert_id of lineage is stored with its alternates:
 * selects the chain whose top issuer is the lineage's preferred CN.  When
 * no chain matches, the default chain stays and a warning names the CNs
 * offered.  Best effort (the certificate is stored either way): a failure
 * is a warning.  Returns the selected chain's index (0 = default).
 */
size_t chain_issue_apply(const struct ck_ctx *ctx, struct ck_store *st, const char *lineage,
			 int64_t cert_id);

#endif
