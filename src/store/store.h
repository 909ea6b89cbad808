/*
 * store.h - what the rest of the library includes for the store.  The
 * store API itself is public: include/certkeep/store.h (its contract
 * comments live there).  Store internals are in store_int.h.
 */
#ifndef CK_STORE_H
#define CK_STORE_H

#include <certkeep/store.h>

#include "core/core.h"
#include "crypto/crypto.h"

/*
 * One lineage's current certificate as the renewal plan needs it, read for
 * every lineage in one query (ck_store_lineage_current_each) instead of a
 * ck_store_cert_get and a ck_store_cert_order_account per lineage.
 */
struct ck_lineage_current {
	int64_t lineage_id;
	int64_t cert_id;
	char sha256[65];
	time_t not_before;
	time_t not_after;
	time_t revoked_at;          /* 0 = not revoked */
	int linked;                 /* its key row exists (ck_cert_row.linked) */
	char **sans;                /* the callback may take them (then sets sans NULL) */
	size_t nsans;
	int64_t order_account_id;   /* what ck_store_cert_order_account finds; 0 = none */
};
typedef enum ck_code (*ck_lineage_current_fn)(struct ck_lineage_current *c, void *arg,
					      struct ck_err *err);
/* fn for every lineage that has a current certificate, in no set order;
 * a failure of fn stops the read and is returned. */
enum ck_code ck_store_lineage_current_each(struct ck_store *st, ck_lineage_current_fn fn,
					   void *arg, struct ck_err *err);

#endif
