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
 * One lineage's current certificate as the renewal plan needs it, read
 * with its lineage in a due-scan page (ck_store_due_page) instead of a
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
	char **sans;                /* freed with the page */
	size_t nsans;
	int64_t order_account_id;   /* what ck_store_cert_order_account finds; 0 = none */
};
struct ck_renewal;

/*
 * The due-scan (migration 15): lineages.due_at is when a renewal plan must
 * next look at a lineage, <= 0 = now (compute it).  Pages are read by
 * index, never the whole table at once.
 */
#define CK_DUE_PAGE_MAX 10000       /* lineages in one page at most */
struct ck_due_cursor {
	time_t due_at;              /* the last row read: the next page starts after it */
	int64_t id;
};
/* Before the first page: below every due_at (a reset one is negative). */
#define CK_DUE_CURSOR_START { (time_t)INT64_MIN, 0 }
struct ck_due_page {
	struct ck_lineage *lins;
	struct ck_lineage_current *cur; /* cur[i] for lins[i]; cert_id 0: none */
	time_t *due_at;             /* as read */
	struct ck_renewal *ren;     /* its renewal row; lineage "" = none */
	size_t n;
};
/*
 * Up to limit lineages after *after into *out, each with its current
 * certificate (its facts and the account of the order behind it) and its
 * renewal row (store/renewal.h): with by >= 0 those whose due_at <= by in
 * (due_at, id) order; with by < 0 every lineage in id order.  *after
 * moves to the last row read; fewer than limit rows: no more.
 */
enum ck_code ck_store_due_page(struct ck_store *st, time_t by, struct ck_due_cursor *after,
			       size_t limit, struct ck_due_page *out, struct ck_err *err);
void ck_due_page_cleanup(struct ck_due_page *p);
/* One due_at to store: for lineage id, still current cert_id and due_at was. */
struct ck_due_set {
	int64_t id;
	int64_t cert_id;
	time_t was;
	time_t due_at;
};
/*
 * The due rule (due.c), shared by the renewal plan and doctor.  A
 * lifetime up to CK_DUE_SHORT_S renews at half, a longer one at two
 * thirds, minus a stable jitter of up to lifetime / CK_DUE_JITTER_DIV.
 */
#define CK_DUE_SHORT_S (10 * 86400)
#define CK_DUE_JITTER_DIV 20
/* A stable spread in [0, span] from a thumbprint's first 60 bits. */
uint64_t ck_due_spread(const char *sha256, uint64_t span);
/* The lifetime rule's moment for a certificate (its thumbprint sha256). */
time_t ck_due_lifetime(time_t not_before, time_t not_after, const char *sha256);
/* 1 if r (may be NULL) holds an ARI moment chosen for certificate sha256. */
int ck_due_ari_stored(const struct ck_renewal *r, const char *sha256);
/* When cur is due without asking the server: the stored ARI moment for
 * it, else the lifetime rule.  Revoked, keyless or renamed: due at once,
 * which the caller decides. */
time_t ck_due_moment(const struct ck_lineage_current *cur, const struct ck_renewal *r);
/* Stores the n values (at most CK_DUE_PAGE_MAX) in one statement, each
 * only where its lineage is as it was read (else left for the next plan);
 * no generation bump: a cache of stored facts, not a change. */
enum ck_code ck_store_due_set(struct ck_store *st, const struct ck_due_set *v, size_t n,
			      struct ck_err *err);

/*
 * Gives back the memory st's connection keeps only to read faster (SQLite's
 * cached pages; nothing for PostgreSQL): for a handle that stays open but
 * idle while other handles work, such as the one a renewal batch planned
 * with.  Nothing st holds changes; the next read fills the cache again.
 */
void ck_store_shed(struct ck_store *st);

/*
 * A pool of at most max (1..CK_STORE_POOL_MAX) connections to parent's
 * store, opened on demand (CK_STORE_SMALL_CACHE) and lent to pooled
 * handles, for the workers of one batch.  ctx (NULL: parent's) is the
 * handles' context and must outlive the pool; the node key parent holds
 * is copied.  parent (a handle of its own, no transaction open) must stay
 * open until the pool is freed: its connection is closed, it borrows
 * from the pool meanwhile (one thread at a time, as ever), and connects
 * again at its first use after ck_store_pool_free.
 */
#define CK_STORE_POOL_MAX 16
struct ck_store_pool;
enum ck_code ck_store_pool_new(struct ck_store *parent, const struct ck_ctx *ctx,
			       unsigned max, struct ck_store_pool **out, struct ck_err *err);
/*
 * A handle on the pool's store, used as any other (ck_store_close frees
 * it) by one thread at a time: it borrows a connection while a statement,
 * a transaction, a read snapshot or a wait of it is open, and gives it
 * back when none is.  A thread must never hold two pooled handles' uses
 * at once (it could wait for itself).
 */
enum ck_code ck_store_open_pooled(struct ck_store_pool *p, struct ck_store **out,
				  struct ck_err *err);
/* Connections open now (for the tests). */
unsigned ck_store_pool_open_count(struct ck_store_pool *p);
/* Closes the connections; every pooled handle must be closed first.  NULL: no-op. */
void ck_store_pool_free(struct ck_store_pool *p);

#endif
