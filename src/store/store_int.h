/*
 * store_int.h - what the store's files share and nothing outside the
 * store may use: the handle, the statement helpers over the driver seam
 * (driver.h), the list reader, transactions and the transaction runner,
 * the generation bump, and the internal (inside-a-transaction) steps
 * that several public calls compose.  Nothing here names a database.
 *
 * Functions named *_tx run inside a transaction the caller opened and
 * never commit or roll back themselves.
 */
#ifndef CK_STORE_INT_H
#define CK_STORE_INT_H

#include <stdarg.h>

#include "store/driver.h"
#include "store/store.h"

#define ST_SEAL_KEY_LEN 32        /* AES-256 */
/* Longest lease owner text (renewal.h's CK_RENEWAL_OWNER_MAX). */
#define ST_FENCE_OWNER_MAX 200
/* The settings row whose presence says the store's keys are sealed; its
 * value is the node key's check value (seal.c). */
#define ST_SEAL_CHECK_SETTING "key_seal_check_v1"

/* ck_store_open_ex flag inside the store: connect only, migrations left to
 * the caller (copy_store.c migrates inside its one transaction). */
#define ST_OPEN_NO_MIGRATE 0x100

struct ck_store {
	const struct st_driver_ops *drv;
	/* The connection; for a pooled handle (pool.c) only while held > 0;
	 * for a handle of its own NULL only after it lent out its pool's
	 * place (opened again at the next use, with open_flags). */
	struct st_conn *conn;
	struct ck_store_pool *pool;   /* NULL: the handle owns conn */
	unsigned open_flags;
	int held;                 /* uses of conn now: live statements, the
				   * transaction or read snapshot, a wait */
	char *path;
	const struct ck_ctx *ctx;
	struct ck_ctx own_ctx;    /* used when the caller gave no ctx */
	int schema_version;
	int in_tx;                /* transaction depth: 0 none, 1 BEGIN, >1 savepoints */
	int tx_committed;         /* the last begin/commit was a commit (see st_rollback) */
	int wal_scrub;            /* key material was deleted: checkpoint after the commit */
	int in_read;              /* a read snapshot (st_read_begin) is open */
	enum st_fail last_fail;   /* kind of the last database failure (st_db_fail) */
	unsigned char seal_key[ST_SEAL_KEY_LEN]; /* the node key (seal.c); wiped at close */
	int seal_have;            /* seal_key holds the store's key */
	/* The renewal lease this handle writes under (renewal.c): while
	 * fenced, every outermost commit first checks it (st_fence_check_tx). */
	int fenced;
	int64_t fence_token;
	char fence_lineage[CK_STORE_NAME_MAX + 1];
	char fence_owner[ST_FENCE_OWNER_MAX + 1];
	/* Chain certificates parsed and links verified by this handle's fact
	 * recording (facts.c): a batch's chains repeat.  NULL until used. */
	struct ck_chain_checker *facts_chains;
};

/* A prepared statement over the driver (db.c); st_finalize frees it. */
struct st_stmt;

#define ST_TX_DEPTH_MAX 8

/*
 * Room for one more row in a list being read: *itemsp (a pointer to the
 * list's `items` array of elem-sized rows) grows by doubling when n
 * reaches *cap.  CK_ERR_TOO_LARGE once n reaches CK_STORE_ROWS_MAX
 * (`what` names the rows in the message), CK_ERR_NOMEM if realloc fails;
 * the list is unchanged on failure.
 */
enum ck_code st_list_reserve(void *itemsp, size_t *cap, size_t n, size_t elem, const char *what,
			     struct ck_err *err);

/* The 13 columns of a renewal row (renewal.c's RENEWAL_COLS, in its
 * order) from column at of s into *r (zeroed by the caller). */
struct ck_renewal;
enum ck_code st_renewal_cols(struct st_stmt *s, int at, struct ck_renewal *r, struct ck_err *err);

/* Called for each row st_each_row reads; a failure stops the read. */
typedef enum ck_code (*st_row_visit)(struct ck_store *st, struct st_stmt *s, void *arg,
				     struct ck_err *err);
/* Runs sql (bound by fmt) and calls fn on each row until one fails. */
enum ck_code st_each_row(struct ck_store *st, struct ck_err *err, st_row_visit fn, void *arg,
			 const char *sql, const char *fmt, ...);

/* How st_list_read reads one kind of row. */
struct st_list_spec {
	size_t elem;              /* sizeof one row of the list */
	const char *what;         /* the rows' name in the CK_ERR_TOO_LARGE message */
	/* Decodes the current row into elem (zeroed first).  On failure the
	 * half-filled row is still freed with row_free. */
	enum ck_code (*row)(struct st_stmt *s, void *elem, struct ck_err *err);
	void (*row_free)(void *elem);   /* frees what row() put in elem; may be NULL */
};
/*
 * Runs sql (bound by fmt, as st_prepare_bind) and reads every row into a
 * new list: *itemsp (a pointer to the list's `items`) and *n are set on
 * success only; on failure every row read so far is freed.  Bounded by
 * CK_STORE_ROWS_MAX.
 */
enum ck_code st_list_read(struct ck_store *st, struct ck_err *err, const struct st_list_spec *spec,
			  void *itemsp, size_t *n, const char *sql, const char *fmt, ...);
/*
 * The first row of sql into elem (spec->row), the way st_list_read reads
 * each.  CK_ERR_NOT_FOUND with no message set if there is no row (the
 * caller says what was missing); on failure elem holds nothing to free.
 */
enum ck_code st_row_read(struct ck_store *st, struct ck_err *err, const struct st_list_spec *spec,
			 void *elem, const char *sql, const char *fmt, ...);
/* Frees each of *n rows with row_free (may be NULL), then the array; sets
 * *itemsp NULL and *n 0.  The one body of every ck_*_list_cleanup. */
void st_list_free(void *itemsp, size_t *n, size_t elem, void (*row_free)(void *));

/* Largest alternates JSON text stored with a certificate. */
#define ST_ALTERNATES_MAX (CK_STORE_CERT_MAX * CK_STORE_CHAIN_MAX * 2)

/* ---- pool.c: connections lent to pooled handles -------------------- */

/*
 * A use of st's connection begins: for a pooled handle that holds none,
 * one is borrowed (waiting for one to be given back if the pool is at its
 * size).  Every successful st_hold is paired with one st_let; the last
 * st_let gives the connection back.  A handle of its own: no-ops.
 */
enum ck_code st_hold(struct ck_store *st, struct ck_err *err);
void st_let(struct ck_store *st);
/* At close: a pooled handle's connection (if a use was left open, it is
 * closed rather than lent again) leaves the handle. */
void st_pool_detach(struct ck_store *st);

/* ---- db.c: statements -------------------------------------------- */

/* The driver's last failure as CK_ERR_BUSY or CK_ERR_STORE with its message. */
enum ck_code st_db_fail(struct ck_store *st, struct ck_err *err, const char *where,
			const char *what);
#define ST_DB_FAIL(st, err, what) st_db_fail((st), (err), __func__, (what))

/*
 * Binding format for the helpers below, one letter per '?':
 *   i  int64_t            (0 is bound as 0; use 'I' to bind 0 as NULL)
 *   I  int64_t, 0 -> NULL
 *   t  const char *       (NULL -> NULL)
 *   b  const void *, size_t  (NULL -> NULL)
 */
enum ck_code st_prepare(struct ck_store *st, const char *sql, struct st_stmt **out,
			struct ck_err *err);
enum ck_code st_bind(struct ck_store *st, struct st_stmt *s, const char *fmt, va_list ap,
		     struct ck_err *err);
/* Prepare + bind in one go. */
enum ck_code st_prepare_bind(struct ck_store *st, struct ck_err *err, struct st_stmt **out,
			     const char *sql, const char *fmt, ...);
/* Frees a statement; NULL is a no-op. */
void st_finalize(struct st_stmt *s);
/* Runs a statement that returns no rows.  *changes (may be NULL): rows changed. */
enum ck_code st_exec(struct ck_store *st, struct ck_err *err, int *changes, const char *sql,
		     const char *fmt, ...);
enum ck_code st_vexec(struct ck_store *st, struct ck_err *err, int *changes, const char *sql,
		      const char *fmt, va_list ap);
/* First column of the first row as int64; CK_ERR_NOT_FOUND (no message set) if no row.
 * Also reads the id of a new row: "INSERT ... RETURNING id". */
enum ck_code st_query_int(struct ck_store *st, struct ck_err *err, int64_t *out, const char *sql,
			  const char *fmt, ...);
/*
 * Binds column col of src's current row (src may belong to another
 * store, even another driver) to parameter idx of dst, a statement of st,
 * read as kind: 'i' int64, 't' text, 'b' blob; NULL stays NULL.
 */
enum ck_code st_bind_col(struct ck_store *st, struct st_stmt *dst, int idx, struct st_stmt *src,
			 int col, char kind, struct ck_err *err);
/* Ready to run again with new bindings. */
enum ck_code st_reset(struct ck_store *st, struct st_stmt *s, struct ck_err *err);
/* One step: 1 row, 0 done, -1 error (err filled). */
int st_step(struct ck_store *st, struct st_stmt *s, struct ck_err *err);
/*
 * Column helpers (index from 0).  A NULL column reads as 0, NULL text or
 * blob.  Text and blob_ref pointers last until the next step.  st_col_dup
 * sets *oom on allocation failure.
 */
int st_col_is_null(struct st_stmt *s, int i);
int64_t st_col_int64(struct st_stmt *s, int i);
int st_col_int(struct st_stmt *s, int i);
const char *st_col_text(struct st_stmt *s, int i);
const void *st_col_blob_ref(struct st_stmt *s, int i, size_t *len);   /* len may be NULL */
size_t st_col_bytes(struct st_stmt *s, int i);
char *st_col_dup(struct st_stmt *s, int i, int *oom);
void st_col_copy(struct st_stmt *s, int i, char *dst, size_t n);
/* Copies a blob column into a new buffer (free()); *oom on failure. */
unsigned char *st_col_blob(struct st_stmt *s, int i, size_t *len, int *oom);

/* ---- tx.c: transactions ------------------------------------------- */

/*
 * A transaction's body: the reads and writes of one change.  It never
 * begins, commits or rolls back, and touches nothing outside the store
 * except arg (which it resets on entry: the runner may run it again).
 */
typedef enum ck_code (*st_tx_body)(struct ck_store *st, void *arg, struct ck_err *err);
/*
 * Runs body in one transaction (a savepoint inside the caller's):
 * begin, fault point "<name>.begin", body, "<name>.commit", commit,
 * "<name>.committed"; rolled back on any failure.  A failure the driver
 * calls ST_FAIL_RETRY (PostgreSQL: serialization failure, deadlock) runs
 * the whole transaction again, at most ST_TX_RETRY_MAX times in all,
 * waiting ST_TX_RETRY_MS, then twice as long up to ST_TX_RETRY_CAP_MS,
 * each wait between half and all of that at random (writers that collided
 * do not collide again in step); only at the outermost level.  A fleet's
 * nodes and workers commit at once: about 2 s of retries before the
 * caller hears CK_ERR_BUSY.
 * SQLite never reports it: its busy timeout already waited for the lock.
 */
enum ck_code st_tx_run(struct ck_store *st, struct ck_err *err, const char *name,
		       st_tx_body body, void *arg);
/*
 * st_tx_run for a change that only coordinates processes that are running
 * now (a renewal lease: claim, extend, release), whose outermost commit
 * need not wait for the disk where the driver allows it (driver.h:
 * begin_unsynced; SQLite, whose processes all share one machine).  Inside
 * a caller's transaction it is that transaction, synced as it is.
 */
enum ck_code st_tx_run_unsynced(struct ck_store *st, struct ck_err *err, const char *name,
				st_tx_body body, void *arg);
/*
 * One statement in its own transaction (st_tx_run with fault points
 * "<name>.begin", ".commit", ".committed").  *changes (may be NULL): rows
 * changed; a caller that needs a row to change checks it (nothing changed
 * means nothing was written).
 */
enum ck_code st_tx_exec(struct ck_store *st, struct ck_err *err, const char *name, int *changes,
			const char *sql, const char *fmt, ...);
#define ST_TX_RETRY_MAX 10
#define ST_TX_RETRY_MS 20
#define ST_TX_RETRY_CAP_MS 500
/*
 * A read snapshot: every read until st_read_end sees the same state
 * (doctor's checks).  Inside a write transaction it is that transaction.
 */
enum ck_code st_read_begin(struct ck_store *st, struct ck_err *err);
void st_read_end(struct ck_store *st);

/* The frame st_tx_run is made of, for the few paths that span two stores. */
enum ck_code st_begin(struct ck_store *st, struct ck_err *err);
enum ck_code st_commit(struct ck_store *st, struct ck_err *err);
/* Rolls back if a transaction is open; never fails loudly. */
void st_rollback(struct ck_store *st);
enum ck_code st_generation_bump_tx(struct ck_store *st, struct ck_err *err);
time_t st_now(const struct ck_store *st);
/*
 * Call after deleting key material: the driver's scrub (SQLite: the WAL
 * keeps older page images with the key until a TRUNCATE checkpoint)
 * runs now outside a transaction; inside one it runs right after the
 * outermost commit, and is forgotten on the outermost rollback.  Never
 * fails the caller (the driver logs a warning).
 */
void st_wal_scrub(struct ck_store *st);

/*
 * Fencing (renewal.c): inside the outermost write transaction, just
 * before its commit, while st->fenced: the lease row of st->fence_lineage
 * must still name st->fence_owner with st->fence_token and an expiry in
 * the future (the row is locked by the check on PostgreSQL, so a taker
 * waits for this commit or this commit sees the taker's).  Otherwise
 * CK_ERR_LEASE_LOST naming the lineage and its holder now; the caller
 * rolls back.
 */
enum ck_code st_fence_check_tx(struct ck_store *st, struct ck_err *err);

/* ---- seal.c: keys at rest ------------------------------------------ */

/*
 * The one reader of keys.pkcs8_der: the PKCS#8 DER of row id from its
 * stored blob[0..len), opened under the store key if the store is sealed
 * (AAD: the row id), copied if plain.  *out is a new secret buffer (free
 * with ck_secure_free(*out, *out_len + 1)).  CK_ERR_KEY_MISSING naming
 * --store-key-file if sealed and no key was given; CK_ERR_CORRUPT if the
 * blob does not open.
 */
enum ck_code st_key_unseal(struct ck_store *st, int64_t id, const unsigned char *blob,
			   size_t len, unsigned char **out, size_t *out_len, struct ck_err *err);
/*
 * Writes plain[0..n) (a PKCS#8 DER) into row id's pkcs8_der inside the
 * caller's transaction: sealed under the store key if the store is sealed
 * (read in this transaction), plain otherwise.  CK_ERR_KEY_MISSING if
 * sealed and no key was given (the caller's transaction must roll back).
 */
enum ck_code st_key_seal_row_tx(struct ck_store *st, int64_t id, const unsigned char *plain,
				size_t n, struct ck_err *err);

/* ---- store.c: the generation counter -------------------------------- */

/* ---- schema.c ------------------------------------------------------ */

enum ck_code st_schema_migrate(struct ck_store *st, struct ck_err *err);

/* ---- strv.c: string arrays <-> JSON text --------------------------- */

/* JSON array text of n strings (free()); each must be at most max_len bytes. */
enum ck_code st_strv_to_json(const char *const *v, size_t n, size_t max_n, size_t max_len,
			     char **out, struct ck_err *err);
/* Parses a JSON array of strings (bounded by max_n); *v NULL-terminated, free with st_strv_free. */
enum ck_code st_strv_from_json(const char *json, size_t max_n, char ***v, size_t *n,
			       struct ck_err *err);
void st_strv_free(char **v, size_t n);
/* Formats into a new string (free()); NULL on NOMEM. */
char *st_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Bounded-length checks used on every input string. */
enum ck_code st_check_text(const char *what, const char *s, size_t max, int required,
			   struct ck_err *err);
enum ck_code st_check_name(const char *what, const char *s, int required, struct ck_err *err);
enum ck_code st_check_hex(const char *what, const char *s, size_t len, struct ck_err *err);

/* ---- key.c ---------------------------------------------------------- */

/* A key as raw stored columns (for put and copy). */
struct st_key_raw {
	const unsigned char *spki_der;
	size_t spki_len;
	const unsigned char *pkcs8;   /* NULL for a token key */
	size_t pkcs8_len;
	const char *pkcs11_uri;       /* NULL for a software key */
	const char *key_type;
	const char *algorithm;
};
/* Inserts (or finds by SPKI) a key and links labelled certificates with its SPKI. */
enum ck_code st_key_put_tx(struct ck_store *st, const struct st_key_raw *k, int64_t *id,
			   int *created, struct ck_err *err);
/* CK_OK if key key_id is in the store, else CK_ERR_NOT_FOUND "<whose> %lld is
 * not in the store<then>" (whose: "the order's key", then: "; nothing was recorded"). */
enum ck_code st_key_exists_tx(struct ck_store *st, int64_t key_id, const char *whose,
			      const char *then, struct ck_err *err);
/* SHA-256 hex of the key's stored SPKI DER (recomputed, not the column). */
enum ck_code st_key_spki_tx(struct ck_store *st, int64_t key_id, char out[65],
			    struct ck_err *err);
/* 1 if the key is used by a certificate, account, open request or unfinished order. */
enum ck_code st_key_used(struct ck_store *st, int64_t key_id, int *used, char *who, size_t n,
			 struct ck_err *err);
/* SQL condition "k.id is used", shared by list/prune/doctor.  An account's
 * previous key counts until its rollover's grace ends (previous_until, by
 * the store's clock: the SQL function ck_now() is st_now): a server with a
 * stale key cache may still accept only that key, so it is never an orphan
 * before then. */
#define ST_KEY_USED_SQL                                                              \
	"(EXISTS(SELECT 1 FROM certificates c WHERE c.key_id = k.id) OR "             \
	"EXISTS(SELECT 1 FROM accounts a WHERE a.key_id = k.id OR a.pending_key_id = k.id OR " \
	"(a.previous_key_id = k.id AND a.previous_until > ck_now())) OR "                  \
	"EXISTS(SELECT 1 FROM requests r WHERE r.key_id = k.id AND r.closed IS NULL) OR " \
	"EXISTS(SELECT 1 FROM orders o WHERE o.key_id = k.id AND o.closed = 0))"

/* ---- cert.c --------------------------------------------------------- */

/* Creates the lineage if absent (identifiers, key_type); returns its id. */
enum ck_code st_lineage_ensure_tx(struct ck_store *st, const char *name,
				  const char *identifiers_json, const char *key_type, int64_t *id,
				  struct ck_err *err);
/* Inserts a certificate row plus chain; info is the parsed DER. */
struct st_cert_raw {
	const unsigned char *der;
	size_t len;
	const struct ck_cert_info *info;
	const struct ck_der_list *chain;
	const char *origin;
	const char *alternates;
	int64_t key_id;               /* 0: labelled "no private key" */
	int64_t lineage_id;           /* 0: none */
	time_t created;               /* 0: now */
	int chain_verified;           /* 1: chain verified link by link (st_cert_parse) */
};
enum ck_code st_cert_insert_tx(struct ck_store *st, const struct st_cert_raw *c, int64_t *id,
			       struct ck_err *err);
/* ---- facts.c: verified facts by the digest of the bytes (migration 16) ---- */

/* SHA-256 hex over chain's DERs in order; "" for no chain. */
void st_facts_chain_digest(const struct ck_der_list *chain, char out[65]);
/* Parses certificate der into info once, and with it checks chain link
 * by link (names and signatures, no clock: doctor's CK-D011) through the
 * handle's chain checker, which parses each issuer once per handle:
 * *chain_verified = 1 when chain is not empty and verifies.  Errors are
 * ck_cert_info_from_der's. */
enum ck_code st_cert_parse(struct ck_store *st, const unsigned char *der, size_t len,
			   const struct ck_der_list *chain, struct ck_cert_info *info,
			   int *chain_verified, struct ck_err *err);
/* Records what certificate der (parsed into info) is, and chain's digest
 * when chain_verified (st_cert_parse), keyed by SHA-256(der). */
enum ck_code st_facts_cert_tx(struct ck_store *st, const unsigned char *der, size_t len,
			      const struct ck_cert_info *info, const struct ck_der_list *chain,
			      int chain_verified, struct ck_err *err);
/* Records that key key_id's stored private part, as stored now, has the
 * public key spki_sha256.  The caller must have proven that (the PKCS#8
 * and the SPKI made from one key).  A token key records nothing. */
enum ck_code st_facts_key_tx(struct ck_store *st, int64_t key_id, const char *spki_sha256,
			     struct ck_err *err);
/* Key key_id's stored bytes, whose SHA-256 was `was` (hex), are now
 * now[0..now_len) (the same PKCS#8 sealed anew, read by an authenticated
 * unseal): a fact recorded for the old bytes names the new ones.  No fact
 * for the old bytes: nothing changes. */
enum ck_code st_facts_key_moved_tx(struct ck_store *st, int64_t key_id, const char *was,
				   const unsigned char *now, size_t now_len, struct ck_err *err);
/* A key or certificate row about to be deleted in the caller's
 * transaction: its facts go with it, so the facts table never holds a
 * fact for a row the store no longer has. */
enum ck_code st_facts_forget_key_tx(struct ck_store *st, int64_t key_id, struct ck_err *err);
enum ck_code st_facts_forget_cert_tx(struct ck_store *st, int64_t cert_id, struct ck_err *err);
/* Deletes key row key_id and its verified fact in the caller's transaction
 * (the only way a key row is deleted); *changes (may be NULL): rows deleted.
 * Whether the key may go is the caller's to decide. */
enum ck_code st_key_delete_tx(struct ck_store *st, int64_t key_id, int *changes,
			      struct ck_err *err);
/* doctor --repair: records the fact of every certificate and software key
 * that has none for its bytes as stored, recomputing each the slow way
 * (a row that does not parse, open or match gets none); *certs, *keys:
 * how many were recorded.  A sealed store opened without its key records
 * no key facts. */
enum ck_code st_facts_record_missing_tx(struct ck_store *st, size_t *certs, size_t *keys,
					struct ck_err *err);

/* Checks bindings that use the certificate; CK_ERR_IN_USE naming one. */
enum ck_code st_cert_check_unbound_tx(struct ck_store *st, int64_t cert_id, const char *verb,
				      struct ck_err *err);
/* Deletes certificate and chain, re-points its lineage's current certificate. */
enum ck_code st_cert_delete_tx(struct ck_store *st, int64_t cert_id, struct ck_err *err);
/* Validates the pieces of a certificate coming in (sizes, chain count). */
enum ck_code st_cert_check_input(const unsigned char *der, size_t len,
				 const struct ck_der_list *chain, const char *origin,
				 const char *alternates, struct ck_err *err);

/* ---- binding.c ------------------------------------------------------ */

enum ck_code st_cert_bindings_tx(struct ck_store *st, int64_t cert_id,
				 struct ck_binding_list *out, struct ck_err *err);

/* ---- ref.c: resolution rules ---------------------------------------- */

/* Formats the candidates of an ambiguous prefix into msg. */
void st_ref_candidates_msg(char *msg, size_t n, const char *ref, const char *const *sha256,
			   const char *const *lineage, size_t count, int more);

#endif
