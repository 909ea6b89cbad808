/*
 * store_int.h - what the store's files share and nothing outside the
 * store may use: the handle, the SQLite statement helpers, transactions,
 * the generation bump, and the internal (inside-a-transaction) steps that
 * several public calls compose.
 *
 * Functions named *_tx run inside a transaction the caller opened and
 * never commit or roll back themselves.
 */
#ifndef CK_STORE_INT_H
#define CK_STORE_INT_H

#include <stdarg.h>

#include <sqlite3.h>

#include "store/store.h"

struct ck_store {
	sqlite3 *db;
	char *path;
	const struct ck_ctx *ctx;
	struct ck_ctx own_ctx;    /* used when the caller gave no ctx */
	int schema_version;
	int in_tx;                /* transaction depth: 0 none, 1 BEGIN, >1 savepoints */
	int tx_committed;         /* the last begin/commit was a commit (see st_rollback) */
	int wal_scrub;            /* key material was deleted: checkpoint after the commit */
};

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

/* Largest alternates JSON text stored with a certificate. */
#define ST_ALTERNATES_MAX (CK_STORE_CERT_MAX * CK_STORE_CHAIN_MAX * 2)

/* ---- sqlite.c: statements ----------------------------------------- */

/* Maps a SQLite failure to CK_ERR_BUSY or CK_ERR_STORE with its message. */
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
enum ck_code st_prepare(struct ck_store *st, const char *sql, sqlite3_stmt **out,
			struct ck_err *err);
enum ck_code st_bind(struct ck_store *st, sqlite3_stmt *s, const char *fmt, va_list ap,
		     struct ck_err *err);
/* Prepare + bind in one go. */
enum ck_code st_prepare_bind(struct ck_store *st, struct ck_err *err, sqlite3_stmt **out,
			     const char *sql, const char *fmt, ...);
/* Runs a statement that returns no rows.  *changes (may be NULL): rows changed. */
enum ck_code st_exec(struct ck_store *st, struct ck_err *err, int *changes, const char *sql,
		     const char *fmt, ...);
/* First column of the first row as int64; CK_ERR_NOT_FOUND (no message set) if no row. */
enum ck_code st_query_int(struct ck_store *st, struct ck_err *err, int64_t *out, const char *sql,
			  const char *fmt, ...);
/* sqlite3_step mapped to: 1 row, 0 done, -1 error (err filled). */
int st_step(struct ck_store *st, sqlite3_stmt *s, struct ck_err *err);
/* Column helpers.  st_col_dup sets *oom on allocation failure; NULL column -> NULL. */
char *st_col_dup(sqlite3_stmt *s, int i, int *oom);
void st_col_copy(sqlite3_stmt *s, int i, char *dst, size_t n);
/* Copies a blob column into a new buffer (free()); *oom on failure. */
unsigned char *st_col_blob(sqlite3_stmt *s, int i, size_t *len, int *oom);

/* ---- sqlite.c: transactions and generation ------------------------ */

enum ck_code st_begin(struct ck_store *st, struct ck_err *err);
enum ck_code st_commit(struct ck_store *st, struct ck_err *err);
/* Rolls back if a transaction is open; never fails loudly. */
void st_rollback(struct ck_store *st);
enum ck_code st_generation_bump_tx(struct ck_store *st, struct ck_err *err);
time_t st_now(const struct ck_store *st);
/*
 * Call after deleting key material.  secure_delete zeroes the freed pages,
 * but the WAL (store.db-wal) keeps older page images with the key until a
 * checkpoint resets it, and while another connection has the store open
 * nothing resets it.  Outside a transaction this checkpoints now
 * (TRUNCATE: every frame copied back, the WAL cut to zero bytes); inside
 * one it is done right after the outermost commit, and forgotten on the
 * outermost rollback.  Never fails the caller: if a reader keeps the
 * checkpoint from completing within ST_WAL_SCRUB_MS, a warning is logged
 * (the removal itself has committed).
 */
void st_wal_scrub(struct ck_store *st);
#define ST_WAL_SCRUB_MS 2000

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
};
enum ck_code st_cert_insert_tx(struct ck_store *st, const struct st_cert_raw *c, int64_t *id,
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
