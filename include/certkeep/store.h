/*
 * certkeep/store.h - the certificate-and-key store: keys, certificates with their
 * chains, lineages (named certificates), orders in flight, pending
 * requests, ACME accounts, bindings, settings; references (REF); copy and
 * move between stores; doctor.
 *
 * The store enforces invariants 1, 2, 3, 5 and 6 of ARCHITECTURE.md
 * itself (docs/invariants.md says how), so no caller can break them:
 *  - a certificate is linked to a key whose SPKI equals the certificate's
 *    (recomputed by the store, never trusted from the caller) or labelled
 *    "no private key"; putting a key links every labelled certificate with
 *    its SPKI;
 *  - every mutation is one transaction (BEGIN IMMEDIATE ... COMMIT);
 *  - orders and pending requests can only name keys already committed;
 *  - copy/move carry the key or refuse (CK_ERR_KEY_MISSING);
 *  - every key or certificate change bumps a generation counter kept in
 *    the database, so other processes see it too.
 *
 * Conventions: functions return enum ck_code (CK_OK = 0) and fill *err on
 * failure; OUT parameters are set only on success.  Rows returned in
 * structs own their strings: free them with the matching _cleanup, which
 * is NULL-safe and may be called on a zeroed struct.  Ids are > 0; 0
 * means "none".  Times are seconds since the epoch (UTC).
 *
 * Must never: build SQL from strings it was given (bound parameters only),
 * log key material, delete a key that something still uses.
 */
#ifndef CERTKEEP_STORE_H
#define CERTKEEP_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include <certkeep/context.h>
#include <certkeep/keys.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ck_store;

/* ---- named maxima (everything that comes in is bounded) ------------- */

#define CK_STORE_NAME_MAX 64          /* lineage, account, binding names */
#define CK_STORE_URL_MAX 2048         /* directory, account, order URLs; pkcs11 URIs */
#define CK_STORE_TEXT_MAX 4096        /* origin, state, status, settings values */
#define CK_STORE_CERT_MAX (64 * 1024) /* one certificate DER */
#define CK_STORE_KEY_MAX (16 * 1024)  /* one PKCS#8 or SPKI DER */
#define CK_STORE_CSR_MAX (64 * 1024)  /* one CSR DER */
#define CK_STORE_CHAIN_MAX 16         /* chain certificates per certificate */
#define CK_STORE_IDENT_MAX 100        /* identifiers per lineage / order / request */
#define CK_STORE_CONTACT_MAX 16       /* contacts per account */
#define CK_STORE_ROWS_MAX 100000      /* rows one list call returns */
#define CK_STORE_BUSY_MS 10000        /* how long to wait for another process's lock */
#define CK_REF_MAX 200                /* length of one REF text */
#define CK_REF_PREFIX_MIN 8           /* shortest SHA-256 prefix accepted */

/* Setting keys (settings table, ck_store_setting_get/set). */
#define CK_SETTING_DEFAULT_SERVER "default_server" /* set by `account register` */

/* ---- open, close, generation ---------------------------------------- */

/* ck_store_open_ex flags. */
#define CK_STORE_CREATE 0x1 /* create the store if the path does not exist */
#define CK_STORE_SMALL_CACHE 0x2 /* one of many handles of a process (renew's workers):
				   * SQLite keeps at most 64 KiB of pages (not 2 MiB)
				   * and its temporary files in memory */

/* PRAGMA application_id of a certkeep store ("CkSt" = 1131107188), set by
 * migration 2 (tests/unit/test_store_core.c checks the two agree). */
#define CK_STORE_APPLICATION_ID 0x436b5374

/*
 * Opens the store at path.  With CK_STORE_CREATE in flags an absent store
 * is created: missing directories 0700 and the file 0600 at creation
 * (never chmod'ed later).  Without it an absent path is CK_ERR_NOT_FOUND
 * ("no store at PATH") and nothing is created, not even a directory.
 * Before anything that writes, the file must be a certkeep store (its
 * application_id, or for a store made before the id existed its tables):
 * a directory, a non-SQLite file, another program's SQLite database, or
 * an empty file (unless CK_STORE_CREATE) is refused with CK_ERR_STORE and
 * left byte for byte as it was.  An existing store is opened as is (doctor
 * reports loose permissions).  Then sets WAL, synchronous=FULL,
 * foreign_keys=ON and a busy timeout of CK_STORE_BUSY_MS, and applies
 * pending schema migrations in order (one transaction each; opening twice
 * is harmless).  ctx (clock, log) must outlive the store; it may be NULL
 * for the real clock and default log.
 * Errors: CK_ERR_NOT_FOUND (no store, without CK_STORE_CREATE),
 * CK_ERR_IO / CK_ERR_PERMISSION (path), CK_ERR_STORE (not a store, or the
 * database failed), CK_ERR_UNSUPPORTED (schema newer than this build),
 * CK_ERR_BUSY.
 */
CK_API enum ck_code ck_store_open_ex(const char *path, const struct ck_ctx *ctx, unsigned flags,
				     struct ck_store **out, struct ck_err *err);
/* ck_store_open_ex(path, ctx, CK_STORE_CREATE, out, err): creates an absent store. */
CK_API enum ck_code ck_store_open(const char *path, const struct ck_ctx *ctx, struct ck_store **out,
				  struct ck_err *err);
/* ---- keys at rest sealed (AES-256-GCM under a node key) -------------- */

/*
 * Reads a node key file: 32 raw bytes, or 64 hex digits and an optional
 * newline.  The file must be a regular file owned by the effective user
 * with no group or other permission bits (0600 or 0400), else
 * CK_ERR_PERMISSION naming the file.  key is set on success only; the
 * caller wipes it (OPENSSL_cleanse).
 */
CK_API enum ck_code ck_store_key_file_read(const char *path, unsigned char key[32],
					   struct ck_err *err);
/*
 * Gives the store its node key from the file at path.  A sealed store
 * whose key-check value disagrees: CK_ERR_PERMISSION "this store's keys
 * are sealed with another key: check --store-key-file".  A plain store
 * with no software key becomes sealed (its check value is written); a
 * plain store holding software keys: CK_ERR_STATE (run ck_store_seal).
 * The key is wiped at ck_store_close.  Without this call a sealed store
 * lists, shows and exports certificates, and every use of a private key
 * fails with CK_ERR_KEY_MISSING naming --store-key-file.
 */
CK_API enum ck_code ck_store_seal_key_use(struct ck_store *st, const char *path,
					  struct ck_err *err);
/*
 * Gives dst, another handle on the same store (one handle per thread),
 * the node key src was given (ck_store_seal_key_use), so its threads can
 * use sealed keys too; nothing when src has none.  The key is wiped at
 * dst's ck_store_close.  CK_ERR_INVALID_ARG if they are not one store.
 */
CK_API enum ck_code ck_store_seal_key_share(struct ck_store *dst, const struct ck_store *src,
					    struct ck_err *err);
/* 1 if the store's keys are sealed, else 0 (also on a read failure). */
CK_API int ck_store_is_sealed(struct ck_store *st);
/*
 * Seals every software key of a plain store under the key in key_path,
 * in one transaction (all or none); afterwards the store uses that key.
 * CK_ERR_STATE if already sealed.  Fault points: store.seal.*.
 */
CK_API enum ck_code ck_store_seal(struct ck_store *st, const char *key_path, struct ck_err *err);
/*
 * Re-seals every key of a sealed store, opened under the current key
 * (ck_store_seal_key_use), under the key in new_key_path, in one
 * transaction; afterwards the store uses the new key.  CK_ERR_KEY_MISSING
 * without the current key, CK_ERR_STATE if the store is plain.  Fault
 * points: store.rekey.*, store.seal.row.
 */
CK_API enum ck_code ck_store_rekey(struct ck_store *st, const char *new_key_path,
				   struct ck_err *err);

/* Closes the store.  NULL is a no-op. */
CK_API void ck_store_close(struct ck_store *st);
/* Closes *st and sets it to NULL. */
CK_API void ck_store_cleanup(struct ck_store **st);
/* Path the store was opened with. */
CK_API const char *ck_store_path(const struct ck_store *st);
/*
 * loc (a store location: a file path or a PostgreSQL connection string)
 * for a message: a password in it (postgresql://USER:PASSWORD@..., a
 * password= parameter or keyword) replaced by "***"; truncated to fit n.
 */
CK_API void ck_store_location_redact(const char *loc, char *out, size_t n);
/* Schema version of the open database (after migrations). */
CK_API int ck_store_schema_version(const struct ck_store *st);

/*
 * Generation counter: bumped (persistently, in the same transaction) by
 * every change to keys, certificates, their links, lineages' current
 * certificate and account keys.  Reads never bump it.  A cache records the
 * value it read at and is stale when the value differs.
 */
CK_API enum ck_code ck_store_generation(struct ck_store *st, uint64_t *out, struct ck_err *err);

/*
 * Waits until the store's generation differs from `known` or timeout_ms
 * passes, whichever comes first, and gives the generation then in
 * *now_gen (compare it with known).  Changes other processes and other
 * nodes commit are seen: on PostgreSQL woken by the NOTIFY every commit
 * that bumped the generation sends (the handle LISTENs from its first
 * call on), on SQLite by reading the counter every 250 ms.  CK_OK in both
 * cases; CK_ERR_CANCELLED once the store's context is cancelled (seen
 * within 100 ms); a store error as ck_store_generation (a lost connection:
 * open the store again).  Not inside ck_store_tx_begin.
 */
CK_API enum ck_code ck_store_wait_change(struct ck_store *st, uint64_t known, unsigned timeout_ms,
					 uint64_t *now_gen, struct ck_err *err);

/* ---- transactions spanning several calls ----------------------------- */

/*
 * Every mutating call is one transaction by itself.  To make several calls
 * one (an import of many keys and certificates), wrap them: inside, each
 * call becomes a savepoint of the outer transaction, and nothing is
 * visible to other processes, or durable, before ck_store_tx_commit.
 * A call that fails inside has already undone its own part; the caller
 * then decides: ck_store_tx_rollback undoes everything since begin.
 * Nesting is allowed (bounded).  Closing the store rolls back an open one.
 */
CK_API enum ck_code ck_store_tx_begin(struct ck_store *st, struct ck_err *err);
CK_API enum ck_code ck_store_tx_commit(struct ck_store *st, struct ck_err *err);
CK_API void ck_store_tx_rollback(struct ck_store *st);

/* ---- settings (key/value) ------------------------------------------- */

/* *out (free()) is the value; CK_ERR_NOT_FOUND if the key is not set. */
CK_API enum ck_code ck_store_setting_get(struct ck_store *st, const char *key, char **out,
					 struct ck_err *err);
/* Sets key to value; value NULL removes the key. */
CK_API enum ck_code ck_store_setting_set(struct ck_store *st, const char *key, const char *value,
					 struct ck_err *err);

/* ---- keys ----------------------------------------------------------- */

struct ck_key_info {
	int64_t id;
	char spki_sha256[65];     /* link identity */
	char key_type[16];        /* ck_key_type_name, "unknown" for others */
	char algorithm[32];       /* ck_key_describe: "EC P-256", "RSA 2048", "Ed25519" */
	char *pkcs11_uri;         /* NULL: the private key is in the store (PKCS#8) */
	time_t created;
	int used;                 /* used by a certificate, account, open request or order */
};

struct ck_key_list {
	struct ck_key_info *items;
	size_t n;
};

/*
 * Stores a software private key (as PKCS#8 DER with its SPKI DER,
 * spki_sha256 and algorithm).  Idempotent by spki_sha256: the same key
 * twice returns the same id with *created = 0 (created may be NULL).  If
 * the existing row is a token reference for the same public key, that
 * row's id is returned unchanged.  In the same transaction every
 * certificate labelled "no private key" whose SPKI matches is linked to
 * the key (how a smart-card certificate arriving late heals).  Bumps the
 * generation when anything changed.
 */
CK_API enum ck_code ck_store_key_put(struct ck_store *st, EVP_PKEY *key, int64_t *id, int *created,
				     struct ck_err *err);
/*
 * Stores a reference to a key that lives on a PKCS#11 token: its URI and
 * SPKI DER, no private part.  Idempotent by spki_sha256 as above; links
 * labelled certificates the same way.
 */
CK_API enum ck_code ck_store_key_put_token(struct ck_store *st, const char *pkcs11_uri,
					   const unsigned char *spki_der, size_t spki_len, int64_t *id,
					   int *created, struct ck_err *err);
/*
 * The private key (caller frees with EVP_PKEY_free).  A token key gives
 * CK_ERR_KEY_NOT_EXPORTABLE naming its URI (use the token module).
 * A stored key whose public part no longer hashes to its spki_sha256
 * gives CK_ERR_CORRUPT.
 */
CK_API enum ck_code ck_store_key_load(struct ck_store *st, int64_t id, EVP_PKEY **out,
				      struct ck_err *err);
/* The public key (software or token), from the stored SPKI DER. */
CK_API enum ck_code ck_store_key_public(struct ck_store *st, int64_t id, EVP_PKEY **out,
					struct ck_err *err);
CK_API enum ck_code ck_store_key_info(struct ck_store *st, int64_t id, struct ck_key_info *out,
				      struct ck_err *err);
/* Key whose SPKI SHA-256 (lower-case hex, 64 digits) is spki; CK_ERR_NOT_FOUND if none. */
CK_API enum ck_code ck_store_key_find_spki(struct ck_store *st, const char *spki, int64_t *id,
					   struct ck_err *err);
/* Every key (orphans_only: only keys no certificate, account, open request or
 * unfinished order uses), oldest first. */
CK_API enum ck_code ck_store_key_list(struct ck_store *st, int orphans_only, struct ck_key_list *out,
				      struct ck_err *err);
/* Removes a key nothing uses; CK_ERR_IN_USE (naming the user) otherwise. */
CK_API enum ck_code ck_store_key_remove(struct ck_store *st, int64_t id, struct ck_err *err);
CK_API void ck_key_info_cleanup(struct ck_key_info *k);
CK_API void ck_key_list_cleanup(struct ck_key_list *l);

/* ---- certificates --------------------------------------------------- */

/*
 * What to store.  der is the leaf; chain (may be NULL) its issuers in
 * order; origin is the ACME order URL or "import:<file>" (may be NULL).
 *
 * key_id > 0: link to that key.  The store computes the certificate's
 *   SPKI itself and refuses with CK_ERR_KEY_MISMATCH (store unchanged) if
 *   the key's differs.
 * key_id == 0: link to a stored key with the same SPKI if there is one
 *   (also a pending request's key), else store the certificate labelled
 *   "no private key".
 * lineage (may be NULL): the certificate becomes that lineage's current
 *   certificate (the lineage is created, with the certificate's SANs as
 *   identifiers, if absent).  If NULL and the certificate closes a pending
 *   request that named a lineage, that lineage is used.
 * order_id > 0: that order is marked "valid" and closed in the same
 *   transaction (issuance).
 * Any open pending request whose key has the certificate's SPKI is closed
 * in the same transaction.
 * alternates (may be NULL): JSON text of alternate chains (array of
 * arrays of base64url DER of the issuers, leaf excluded as in `chain`, as
 * issuance writes it), stored as given after a size check.
 */
struct ck_cert_new {
	const unsigned char *der;
	size_t len;
	const struct ck_der_list *chain;
	const char *origin;
	int64_t key_id;
	const char *lineage;
	int64_t order_id;
	const char *alternates;
};

struct ck_cert_put_result {
	int64_t cert_id;
	int64_t key_id;           /* 0: stored labelled "no private key" */
	int already_present;      /* the certificate was there: nothing was changed */
	int64_t request_closed;   /* id of the pending request this closed, or 0 */
	int64_t lineage_id;       /* lineage it became current of, or 0 */
};

/*
 * One transaction: insert certificate and chain, link or label, set the
 * lineage's current certificate, close the order and the pending request,
 * bump the generation.  The same certificate again (by SHA-256) is a no-op
 * reporting already_present (if it was labelled and key_id names its
 * matching key, it is linked then; order_id, if given, is closed).  Errors: CK_ERR_PARSE (not a
 * certificate), CK_ERR_TOO_LARGE, CK_ERR_KEY_MISMATCH, CK_ERR_NOT_FOUND
 * (key_id or order_id unknown), CK_ERR_STORE.
 */
CK_API enum ck_code ck_store_cert_put(struct ck_store *st, const struct ck_cert_new *in,
				      struct ck_cert_put_result *out, struct ck_err *err);

/* A certificate as `certkeep list --json` and `show` need it. */
struct ck_cert_row {
	int64_t id;
	char sha256[65];
	char sha1[41];
	char spki_sha256[65];
	char *subject;
	char *issuer;
	char serial[80];
	char **sans;              /* DNS names and IP addresses */
	size_t nsans;
	time_t not_before;
	time_t not_after;
	char *lineage;            /* NULL if in no lineage */
	int64_t lineage_id;
	int is_current;           /* the lineage's current certificate */
	int64_t key_id;           /* 0 when labelled "no private key" */
	int linked;               /* key_id != 0 */
	char key_algorithm[32];   /* of the certificate's public key ("EC P-256") */
	char *key_location;       /* "store", a pkcs11: URI, or NULL (no key) */
	char *origin;             /* may be NULL */
	time_t created;
	size_t chain_len;         /* number of chain certificates */
	time_t revoked_at;        /* when the revocation was recorded; 0 = not revoked */
	char revoke_reason[32];   /* RFC 5280 reason name; "" = not known */
	char profile[CK_STORE_NAME_MAX + 1]; /* ACME profile its lineage asks for, "" = none */
	size_t chain_selected;    /* which of its chains is selected: 0 = the default */
};

struct ck_cert_list {
	struct ck_cert_row *items;
	size_t n;
};

/* Every certificate, grouped by lineage name (unnamed last), newest first within. */
CK_API enum ck_code ck_store_cert_list(struct ck_store *st, struct ck_cert_list *out,
				       struct ck_err *err);
/*
 * Called by ck_store_cert_each for each certificate.  The row (and every
 * pointer in it) lasts until fn returns; fn may read the store but must
 * not write to it.  Anything but CK_OK stops the walk, which returns it.
 */
typedef enum ck_code (*ck_cert_row_fn)(const struct ck_cert_row *row, void *arg,
				       struct ck_err *err);
/*
 * Calls fn for every certificate, in ck_store_cert_list's order, one row
 * in memory at a time: memory does not grow with the number of
 * certificates and there is no CK_STORE_ROWS_MAX limit.  spki_sha256
 * (64 lowercase hex digits, may be NULL for all): only the certificates
 * with that public key.
 */
CK_API enum ck_code ck_store_cert_each(struct ck_store *st, const char *spki_sha256,
				       ck_cert_row_fn fn, void *arg, struct ck_err *err);
CK_API enum ck_code ck_store_cert_get(struct ck_store *st, int64_t id, struct ck_cert_row *out,
				      struct ck_err *err);
/* The DER of certificate id (free()) and, if chain != NULL, its chain in order. */
CK_API enum ck_code ck_store_cert_der(struct ck_store *st, int64_t id, unsigned char **der, size_t *len,
				      struct ck_der_list *chain, struct ck_err *err);
/* Alternate chains JSON as stored (free()); *out = NULL when none. */
CK_API enum ck_code ck_store_cert_alternates(struct ck_store *st, int64_t id, char **out,
					     struct ck_err *err);
/* Attaches alternate chains (JSON text as in ck_cert_new.alternates) to a
 * stored certificate, one transaction; issuance calls it after the
 * certificate itself is committed.  CK_ERR_NOT_FOUND if id is unknown. */
CK_API enum ck_code ck_store_cert_alternates_set(struct ck_store *st, int64_t id,
						 const char *alternates, struct ck_err *err);
/* Certificate by full SHA-256 hex; CK_ERR_NOT_FOUND if absent. */
CK_API enum ck_code ck_store_cert_find_sha256(struct ck_store *st, const char *sha256, int64_t *id,
					      struct ck_err *err);
/*
 * Removes a certificate and its chain.  Refuses with CK_ERR_IN_USE (the
 * message names the binding) if a binding pins it, deploys it, or follows
 * its lineage while it is the lineage's current certificate.  If it was a
 * lineage's current certificate, the lineage then points at its newest
 * remaining certificate (or none).  The key stays (an orphan: doctor
 * reports it, prune removes it).  Bumps the generation.
 */
CK_API enum ck_code ck_store_cert_remove(struct ck_store *st, int64_t id, struct ck_err *err);
/*
 * Records that the ACME server revoked certificate id (a definite answer:
 * revoked now, or alreadyRevoked) at `when` with `reason` (an RFC 5280
 * reason name as ck_revoke_reason_name gives it; NULL = not known).  A
 * certificate already recorded as revoked keeps its first record: the
 * call then succeeds and changes nothing.  One transaction; bumps the
 * generation when it writes.  CK_ERR_NOT_FOUND if id is unknown.
 */
CK_API enum ck_code ck_store_cert_revoked_set(struct ck_store *st, int64_t id, time_t when,
					      const char *reason, struct ck_err *err);
CK_API void ck_cert_row_cleanup(struct ck_cert_row *r);
CK_API void ck_cert_list_cleanup(struct ck_cert_list *l);

/* ---- chains: the default one and the alternates, and which is selected -- */

#define CK_STORE_CN_MAX 256           /* bytes of an issuer common name (a chain preference) */

/* One chain of a certificate: its issuers, nearest first (leaf excluded). */
struct ck_cert_chain {
	struct ck_der_list certs;
	char *top_issuer;         /* CN of the topmost certificate's issuer (the root the
				   * chain leads to), UTF-8; "" if it has none */
};

/*
 * Every chain of a certificate: items[0] is the chain the ACME server sent
 * by default (the certificate's `chain`), items[i] (i >= 1) the i-th
 * alternate it offered (RFC 8555 7.4.2), as issuance stored them.
 * selected is the index recorded for the certificate (0 unless chosen).
 */
struct ck_cert_chains {
	struct ck_cert_chain *items;
	size_t n;                 /* >= 1 */
	size_t selected;
};

/* Every chain of certificate id and the selection (ck_cert_chains_cleanup). */
CK_API enum ck_code ck_store_cert_chains(struct ck_store *st, int64_t id, struct ck_cert_chains *out,
					 struct ck_err *err);
/*
 * The selected chain of certificate id: what export writes as its chain
 * and deploy installs.  *out (ck_der_list_cleanup) gets a copy of its
 * issuers, *index (may be NULL) its index.  A recorded index past the
 * chains the store holds is CK_ERR_CORRUPT (`certkeep chain REF --select
 * 0` repairs it), never silently another chain.
 */
CK_API enum ck_code ck_store_cert_chain_selected(struct ck_store *st, int64_t id,
						 struct ck_der_list *out, size_t *index,
						 struct ck_err *err);
/*
 * Records chain `index` (0 = the default, as in ck_cert_chains) as the
 * selected chain of certificate id, one transaction, checked against the
 * chains stored in it (CK_ERR_NOT_FOUND naming how many there are); bumps
 * the generation when the selection changes (what deploys would install
 * changed).  CK_ERR_NOT_FOUND if id is unknown.
 */
CK_API enum ck_code ck_store_cert_chain_select(struct ck_store *st, int64_t id, size_t index,
					       struct ck_err *err);
/*
 * Pure: the index of the first chain of c whose top issuer CN is exactly
 * cn.  CK_ERR_NOT_FOUND otherwise, the message naming each chain's top
 * issuer (what the server offered).  The one rule of a chain preference
 * (`issue --preferred-chain`, renewal, `chain --select CN`).
 */
CK_API enum ck_code ck_cert_chains_find_issuer(const struct ck_cert_chains *c, const char *cn,
					       size_t *index, struct ck_err *err);
/*
 * Pure: spec as `chain --select` takes it: decimal digits are an index
 * (CK_ERR_NOT_FOUND if there is no such chain), anything else a top
 * issuer CN (ck_cert_chains_find_issuer).  OUTPUT *index.
 */
CK_API enum ck_code ck_cert_chains_find(const struct ck_cert_chains *c, const char *spec,
					size_t *index, struct ck_err *err);
/* Pure: c's selected chain into *out (points into c); CK_ERR_CORRUPT if
 * c->selected is not one of its chains. */
CK_API enum ck_code ck_cert_chains_selected(const struct ck_cert_chains *c,
					    const struct ck_cert_chain **out, struct ck_err *err);
CK_API void ck_cert_chains_cleanup(struct ck_cert_chains *c);

/* ---- references (REF) ----------------------------------------------- */

/*
 * A parsed REF.  Forms: a lineage name; a SHA-256 thumbprint (hex, full
 * or a prefix of at least CK_REF_PREFIX_MIN digits); a SHA-1 thumbprint
 * as Windows and IIS show it (any case, with or without spaces or colons,
 * all 40 digits; an invisible U+200E mark copied from the Windows
 * certificate dialog is ignored).  A REF can be several forms at once
 * ("deadbeef" is a valid name and a prefix): resolution tries the lineage
 * name first, then thumbprints.
 */
struct ck_ref {
	char name[CK_STORE_NAME_MAX + 1]; /* "" if the text cannot be a lineage name */
	char hex[65];                     /* lower-case hex digits, separators removed; "" if not hex */
	size_t hex_len;
	int sha256_full;                  /* hex_len == 64 */
	int sha256_prefix;                /* CK_REF_PREFIX_MIN <= hex_len < 64, no separators */
	int sha1;                         /* hex_len == 40 */
};

/*
 * Pure: parses text (no database).  CK_ERR_INVALID_ARG with a message
 * saying which forms are accepted when text is none of them (empty, too
 * long, separators around something that is not 40 hex digits, ...).
 */
CK_API enum ck_code ck_ref_parse(const char *text, struct ck_ref *out, struct ck_err *err);
/* 1 if s is a valid lineage/binding/account name: 1..CK_STORE_NAME_MAX of [A-Za-z0-9._-],
 * not starting with '.' or '-'. */
CK_API int ck_store_name_valid(const char *s);

/*
 * Resolves text to a certificate id: a lineage name gives the lineage's
 * current certificate; then full SHA-256, SHA-1, SHA-256 prefix.
 * CK_ERR_NOT_FOUND (says what was tried; a lineage without a certificate
 * says so), CK_ERR_AMBIGUOUS (the message lists each candidate's SHA-256
 * prefix and lineage name), CK_ERR_INVALID_ARG (unparseable).
 */
CK_API enum ck_code ck_store_ref_resolve(struct ck_store *st, const char *text, int64_t *cert_id,
					 struct ck_err *err);

/* ---- lineages ------------------------------------------------------- */

struct ck_lineage {
	int64_t id;
	char *name;
	char **identifiers;
	size_t nidentifiers;
	char key_type[16];        /* key policy: ck_key_type_name, "" = default */
	int64_t current_cert_id;  /* 0 if none */
	time_t created;
	char profile[CK_STORE_NAME_MAX + 1]; /* ACME profile to ask for, "" = none */
	char *preferred_chain;    /* issuer CN of the chain to select, NULL = the default */
	char *challenge;          /* recorded challenge settings (JSON, see
				   * ck_store_lineage_challenge_set), NULL = none */
	/* The token its certificate keys are made on (ck_store_lineage_token_set):
	 * token_uri NULL = software keys; token_module, token_pin_file NULL =
	 * none recorded. */
	char *token_uri;
	char *token_module;
	char *token_pin_file;
};

struct ck_lineage_list {
	struct ck_lineage *items;
	size_t n;
};

/* Creates the lineage or updates its identifiers and key type (key_type may be
 * NULL: unchanged / default).  Does not touch its current certificate. */
CK_API enum ck_code ck_store_lineage_put(struct ck_store *st, const char *name,
					 const char *const *identifiers, size_t n, const char *key_type,
					 int64_t *id, struct ck_err *err);
/* CK_ERR_NOT_FOUND if absent. */
CK_API enum ck_code ck_store_lineage_get(struct ck_store *st, const char *name, struct ck_lineage *out,
					 struct ck_err *err);
CK_API enum ck_code ck_store_lineage_list(struct ck_store *st, struct ck_lineage_list *out,
					  struct ck_err *err);
/*
 * Records the ACME profile the lineage asks for (read back in
 * ck_lineage.profile); profile NULL or "" clears it.  A profile name is
 * 1..CK_STORE_NAME_MAX of [A-Za-z0-9._-] (CK_ERR_INVALID_ARG otherwise);
 * CK_ERR_NOT_FOUND if there is no such lineage.
 */
CK_API enum ck_code ck_store_lineage_profile_set(struct ck_store *st, const char *name,
						 const char *profile, struct ck_err *err);
/*
 * Records the chain a lineage prefers, by the common name of the topmost
 * certificate's issuer (read back in ck_lineage.preferred_chain); cn NULL
 * or "" clears it.  At most CK_STORE_CN_MAX bytes of UTF-8 without
 * control characters (CK_ERR_INVALID_ARG otherwise); CK_ERR_NOT_FOUND if
 * there is no such lineage.
 */
CK_API enum ck_code ck_store_lineage_preferred_chain_set(struct ck_store *st, const char *name,
							 const char *cn, struct ck_err *err);
/*
 * Records how the lineage's identifiers are proven: json is the challenge
 * settings' record (an object written by the challenge layer; the store
 * checks only that it is text of at most CK_STORE_CHALLENGE_MAX bytes
 * starting with '{'), read back in ck_lineage.challenge; NULL clears it.
 * CK_ERR_NOT_FOUND if there is no such lineage.
 */
#define CK_STORE_CHALLENGE_MAX 16384
CK_API enum ck_code ck_store_lineage_challenge_set(struct ck_store *st, const char *name,
						   const char *json, struct ck_err *err);
/*
 * Records the PKCS#11 token the lineage's certificate keys are made on:
 * uri a pkcs11: URI without pin-value (at most CK_STORE_URL_MAX bytes),
 * module the module path given apart from the URI (or NULL), pin_file the
 * path of the user PIN's file (or NULL; never the PIN, never "fd:N": an fd
 * means nothing to a later run).  uri NULL or "" clears all three (the
 * lineage's keys are software keys again).  CK_ERR_INVALID_ARG for a bad
 * value, CK_ERR_NOT_FOUND if there is no such lineage.
 */
CK_API enum ck_code ck_store_lineage_token_set(struct ck_store *st, const char *name,
					       const char *uri, const char *module,
					       const char *pin_file, struct ck_err *err);
CK_API void ck_lineage_cleanup(struct ck_lineage *l);
CK_API void ck_lineage_list_cleanup(struct ck_lineage_list *l);

/* ---- orders in flight ----------------------------------------------- */

/* An order open longer than this was interrupted and not resumed: doctor
 * reports it (order-stale).  Until then its key is in use, never an orphan. */
#define CK_STORE_ORDER_STALE_S 86400

struct ck_order {
	int64_t id;
	char *lineage;            /* lineage name the order is for */
	int64_t account_id;
	int64_t key_id;           /* the certificate key, committed before finalize */
	char **identifiers;
	size_t nidentifiers;
	char *url;                /* order URL (may be NULL before newOrder answers) */
	char *status;             /* ACME status: pending, ready, processing, valid, invalid */
	char *finalize_url;
	int closed;               /* 1 once the certificate is stored or the order given up */
	time_t created;
	time_t updated;
};

struct ck_order_list {
	struct ck_order *items;
	size_t n;
};

/*
 * Records an order.  key_id must name a committed key (invariant 3):
 * CK_ERR_NOT_FOUND otherwise.  account_id may be 0.  status NULL means
 * "pending".  url and finalize_url may be NULL.
 */
struct ck_order_new {
	const char *lineage;
	int64_t account_id;
	int64_t key_id;
	const char *const *identifiers;
	size_t nidentifiers;
	const char *url;
	const char *status;
	const char *finalize_url;
};
CK_API enum ck_code ck_store_order_put(struct ck_store *st, const struct ck_order_new *in, int64_t *id,
				       struct ck_err *err);
/* Updates status (and url / finalize_url when not NULL) of an open order.
 * closed != 0 closes the order (status "invalid" closes it too).  A closed
 * order is final: CK_ERR_STATE, nothing changed. */
CK_API enum ck_code ck_store_order_update(struct ck_store *st, int64_t id, const char *status,
					  const char *url, const char *finalize_url, int closed,
					  struct ck_err *err);
CK_API enum ck_code ck_store_order_get(struct ck_store *st, int64_t id, struct ck_order *out,
				       struct ck_err *err);
/* Orders not closed, oldest first. */
CK_API enum ck_code ck_store_order_list_open(struct ck_store *st, struct ck_order_list *out,
					     struct ck_err *err);
/* The open orders of one lineage, oldest first (an index lookup: what an
 * issuance resumes is chosen among these). */
CK_API enum ck_code ck_store_order_list_open_lineage(struct ck_store *st, const char *lineage,
						     struct ck_order_list *out,
						     struct ck_err *err);
/* The account that ordered certificate cert_id (the newest order that
 * produced it, by cert_id or by the certificate's origin URL) into
 * *account_id; CK_ERR_NOT_FOUND if no order with a stored account made it
 * (an imported certificate, or the account row is gone). */
CK_API enum ck_code ck_store_cert_order_account(struct ck_store *st, int64_t cert_id,
						int64_t *account_id, struct ck_err *err);
CK_API void ck_order_cleanup(struct ck_order *o);
CK_API void ck_order_list_cleanup(struct ck_order_list *l);

/* ---- pending requests ----------------------------------------------- */

struct ck_request {
	int64_t id;
	int64_t key_id;
	char spki_sha256[65];
	unsigned char *csr_der;
	size_t csr_len;
	char **identifiers;
	size_t nidentifiers;
	char *lineage;            /* may be NULL */
	time_t created;
	time_t closed;            /* 0 while open */
	int64_t cert_id;          /* certificate that closed it, 0 while open */
};

struct ck_request_list {
	struct ck_request *items;
	size_t n;
};

/* Records a pending request; key_id must be committed (CK_ERR_NOT_FOUND),
 * lineage may be NULL. */
CK_API enum ck_code ck_store_request_put(struct ck_store *st, int64_t key_id,
					 const unsigned char *csr_der, size_t csr_len,
					 const char *const *identifiers, size_t n, const char *lineage,
					 int64_t *id, struct ck_err *err);
CK_API enum ck_code ck_store_request_get(struct ck_store *st, int64_t id, struct ck_request *out,
					 struct ck_err *err);
/* Open requests (all_requests != 0: closed ones too), oldest first. */
CK_API enum ck_code ck_store_request_list(struct ck_store *st, int all_requests,
					  struct ck_request_list *out, struct ck_err *err);
/* The open request whose key has SPKI spki; CK_ERR_NOT_FOUND if none. */
CK_API enum ck_code ck_store_request_find_spki(struct ck_store *st, const char *spki,
					       struct ck_request *out, struct ck_err *err);
/* Closes an open request without a certificate (given up); the key stays. */
CK_API enum ck_code ck_store_request_close(struct ck_store *st, int64_t id, struct ck_err *err);
CK_API void ck_request_cleanup(struct ck_request *r);
CK_API void ck_request_list_cleanup(struct ck_request_list *l);

/* ---- ACME accounts -------------------------------------------------- */

struct ck_account {
	int64_t id;               /* 0 in ck_store_account_put: insert or match (server, name) */
	char *name;               /* "default" if NULL in put */
	char *server;             /* directory URL */
	char *url;                /* account URL (kid); NULL until the server answers */
	int64_t key_id;
	int64_t pending_key_id;   /* rollover in progress: new key committed, not yet switched */
	char *contacts;           /* JSON array text, e.g. ["mailto:a@b"]; NULL = [] */
	char *status;             /* "valid", "deactivated", "revoked"; NULL = "valid" */
	int tos_agreed;
	char *eab_kid;            /* NULL if none */
	time_t created;
	int is_default;           /* the default account for its server (output only) */
	/* The account's own generation (output only; schema 13): moves with every
	 * change of its key (pending key set or cleared, rollover committed,
	 * registration or recovery over the row), its URL or its status, never
	 * with anything else.  A cached session of the account (its key, kid,
	 * client) read at generation g is stale once the row says otherwise:
	 * compare it in the read that precedes each use (docs/store.md). */
	int64_t generation;
};

struct ck_account_list {
	struct ck_account *items;
	size_t n;
};

/*
 * Inserts or updates the account identified by (server, name) (or by id
 * when in->id > 0), every column including key_id: for registration and
 * recovery, where the caller has just proven the key with the server.
 * key_id must be committed.  pending_key_id is not touched by put (use the
 * rollover calls); replacing the key of a row with a rollover pending is
 * refused (CK_ERR_STATE).  Bumps the generation when key_id changes.  *id
 * (may be NULL) receives the row id.  Anything else that updates an
 * existing account uses ck_store_account_update: a row read before a
 * network round trip is stale after it, and writing its key_id back would
 * undo a rollover another process committed meanwhile.
 */
CK_API enum ck_code ck_store_account_put(struct ck_store *st, const struct ck_account *in, int64_t *id,
					 struct ck_err *err);
/*
 * Records what the server said about account in->id: url, contacts,
 * status (NULL: as stored) and tos_agreed (1 sets it; 0 leaves it).  Never
 * writes key_id, pending_key_id, name, server or eab_kid (those fields of
 * *in are ignored), so it cannot undo a concurrent rollover.
 * CK_ERR_NOT_FOUND if the row is gone.
 */
CK_API enum ck_code ck_store_account_update(struct ck_store *st, const struct ck_account *in,
					    struct ck_err *err);
/* Account (server, name); name NULL = the server's default account
 * (ck_store_account_set_default, else the one named "default", else the
 * only account for that server).  CK_ERR_NOT_FOUND / CK_ERR_AMBIGUOUS. */
CK_API enum ck_code ck_store_account_get(struct ck_store *st, const char *server, const char *name,
					 struct ck_account *out, struct ck_err *err);
CK_API enum ck_code ck_store_account_get_id(struct ck_store *st, int64_t id, struct ck_account *out,
					    struct ck_err *err);
CK_API enum ck_code ck_store_account_set_default(struct ck_store *st, const char *server,
						 const char *name, struct ck_err *err);
/* Every account (server, then name). */
CK_API enum ck_code ck_store_account_list(struct ck_store *st, struct ck_account_list *out,
					  struct ck_err *err);
/* Rollover step 1 (before keyChange is sent): records the committed key
 * key_id as the account's pending key.  CK_ERR_STATE if another pending key
 * is recorded (resolve it first). */
CK_API enum ck_code ck_store_account_set_pending_key(struct ck_store *st, int64_t account_id,
						     int64_t key_id, struct ck_err *err);
/* Rollover step 2 (the server accepted the new key): key_id = pending key,
 * pending = none, one transaction, generation bumped.  The key it replaces
 * stays the account's previous key, in use (never an orphan for doctor or
 * prune) for keep_previous_s seconds: the rollover's grace, while a server
 * with a stale key cache may still accept only that key.  CK_ERR_STATE if
 * no key is pending.  ck_store_account_commit_rollover keeps it
 * CK_STORE_ACCOUNT_KEEP_S. */
#define CK_STORE_ACCOUNT_KEEP_S 10
CK_API enum ck_code ck_store_account_commit_rollover_keep(struct ck_store *st, int64_t account_id,
							  unsigned keep_previous_s, struct ck_err *err);
CK_API enum ck_code ck_store_account_commit_rollover(struct ck_store *st, int64_t account_id,
						     struct ck_err *err);
/* The server kept the old key: forget the pending key (the key row stays). */
CK_API enum ck_code ck_store_account_clear_pending(struct ck_store *st, int64_t account_id,
						   struct ck_err *err);
CK_API void ck_account_cleanup(struct ck_account *a);
CK_API void ck_account_list_cleanup(struct ck_account_list *l);

/* ---- bindings ------------------------------------------------------- */

struct ck_binding {
	int64_t id;
	char *name;
	char *lineage;            /* follows this lineage's current certificate, or NULL */
	char pinned_sha256[65];   /* or pinned to this certificate ("" if none) */
	char *target;             /* deploy target description */
	char last_sha256[65];     /* last deployed certificate ("" if never) */
	char *state;              /* e.g. "new", "deployed", "failed" */
	time_t updated;
	/* deployment (schema 8): */
	char *reload;             /* reload command (split on blanks, no shell); NULL = default */
	char *verify;             /* HOST:PORT[,sni=NAME] checked by handshake; NULL = none */
	time_t deployed_at;       /* when last_sha256 was deployed; 0 = never */
	char *result;             /* one line: what the last deploy did; NULL = none ran */
	char *generation;         /* the generation directory last switched to; NULL = none */
	char pending_sha256[65];  /* a deploy of this certificate began and recorded no end ("") */
	/* fleets (schema 12): */
	char *node;               /* the node that deploys it; NULL = any node (made before
				   * schema 12, or on put: ck_store_binding_put's caller's choice) */
};

struct ck_binding_list {
	struct ck_binding *items;
	size_t n;
};

/*
 * Adds or updates (by name) a binding.  Exactly one of lineage and
 * pinned_sha256 is set, and it must exist in the store (a binding is never
 * created dangling: CK_ERR_NOT_FOUND).  state NULL = "new".  reload and
 * verify are stored as given (an update replaces them; NULL = none); what
 * was deployed (last_sha256, deployed_at, result, generation) is kept.
 */
CK_API enum ck_code ck_store_binding_put(struct ck_store *st, const struct ck_binding *in, int64_t *id,
					 struct ck_err *err);
/* The binding named name; CK_ERR_NOT_FOUND if there is none. */
CK_API enum ck_code ck_store_binding_get(struct ck_store *st, const char *name,
					 struct ck_binding *out, struct ck_err *err);
/*
 * Deploy, step 1 (before anything on disk or in a server changes):
 * records that a deploy of certificate sha256 to binding name begins
 * (pending_sha256), so a crash is visible (doctor) and the next deploy
 * knows to finish or repeat it.  CK_ERR_NOT_FOUND if there is no binding.
 */
CK_API enum ck_code ck_store_binding_deploy_begin(struct ck_store *st, const char *name,
						  const char *sha256, struct ck_err *err);
/* How a deploy ended (ck_store_binding_deploy_end). */
struct ck_binding_outcome {
	const char *state;        /* "deployed", "failed", "rolled-back", ... (required) */
	const char *result;       /* one line for people (required) */
	const char *sha256;       /* now deployed there (sets last_sha256 and deployed_at);
				   * NULL: what was deployed before stays recorded */
	const char *generation;   /* generation directory now live; NULL: unchanged */
};
/*
 * Deploy, last step: records the outcome and clears pending_sha256, one
 * transaction.  CK_ERR_NOT_FOUND if the binding is gone.
 */
CK_API enum ck_code ck_store_binding_deploy_end(struct ck_store *st, const char *name,
						const struct ck_binding_outcome *o,
						struct ck_err *err);
/* Records a deployment: last_sha256 and state. */
CK_API enum ck_code ck_store_binding_set_deployed(struct ck_store *st, const char *name,
						  const char *sha256, const char *state,
						  struct ck_err *err);
CK_API enum ck_code ck_store_binding_remove(struct ck_store *st, const char *name, struct ck_err *err);
CK_API enum ck_code ck_store_binding_list(struct ck_store *st, struct ck_binding_list *out,
					  struct ck_err *err);
/* Bindings that use certificate cert_id (pinned, last deployed, or following its
 * lineage while it is current). */
CK_API enum ck_code ck_store_cert_bindings(struct ck_store *st, int64_t cert_id,
					   struct ck_binding_list *out, struct ck_err *err);
/*
 * The bindings node deploys: those whose node is node and those with no
 * node (any node deploys them), by name.  behind_only: only those that
 * follow a lineage whose current certificate is not the one last deployed
 * there (never deployed, another node renewed it, a deploy failed), or
 * whose deploy was interrupted; pinned bindings whose pin is not deployed.
 */
CK_API enum ck_code ck_store_bindings_of_node(struct ck_store *st, const char *node,
					     int behind_only, struct ck_binding_list *out,
					     struct ck_err *err);
CK_API void ck_binding_cleanup(struct ck_binding *b);
CK_API void ck_binding_list_cleanup(struct ck_binding_list *l);

/* ---- nodes of a fleet (schema 12) ------------------------------------ */

/* One node that ran an agent, deploy or renew on this store. */
struct ck_node {
	char name[CK_NODE_MAX + 1];
	time_t started;           /* when its agent (or first run) started */
	time_t heartbeat;         /* its last heartbeat (store clock) */
	unsigned heartbeat_s;     /* its agent's promised heartbeat interval; 0 = not an agent */
	char version[32];         /* certkeep version */
	uint64_t seen_generation; /* the highest store generation it saw */
	uint64_t deployed_generation; /* its bindings were all deployed at this generation
				       * (0 = never) */
};

struct ck_node_list {
	struct ck_node *items;
	size_t n;
};

/* What a node records about itself (ck_store_node_beat). */
struct ck_node_beat {
	const char *name;         /* required: ck_ctx_node() */
	const char *version;      /* required */
	unsigned heartbeat_s;     /* an agent's interval; 0 = a one-off run (deploy, renew) */
	int restart;              /* 1: an agent starts (started = now) */
	uint64_t seen_generation; /* the store generation it saw (kept if lower than before) */
	int deployed;             /* 1: its bindings are all deployed at seen_generation */
};

/*
 * Records node b->name's heartbeat (one transaction, creating its row on
 * first use).  It does not bump the store generation: heartbeats wake no
 * one.  seen_generation only ever grows (the highest seen is what doctor
 * compares with the store's, to find a store restored from an old backup).
 */
CK_API enum ck_code ck_store_node_beat(struct ck_store *st, const struct ck_node_beat *b,
				       struct ck_err *err);
/* Every node, by name. */
CK_API enum ck_code ck_store_node_list(struct ck_store *st, struct ck_node_list *out,
				       struct ck_err *err);
CK_API void ck_node_list_cleanup(struct ck_node_list *l);

/* ---- copy and move between stores ----------------------------------- */

#define CK_STORE_COPY_NO_KEY 0x1  /* copy even if the certificate has no key here */

struct ck_copy_result {
	int64_t dst_cert_id;
	int64_t dst_key_id;       /* 0 if copied without a key */
	int already_present;      /* the destination already had the certificate */
	int key_is_token;         /* the key travelled as a pkcs11 reference */
};

/*
 * Copies certificate cert_id of src with its key (PKCS#8, or a token
 * reference as a reference), chain, alternates and lineage into dst, in
 * ONE destination transaction.  If the certificate is the source lineage's
 * current one it becomes the destination lineage's current one.  Bindings
 * are not copied (they describe this machine's targets); the lineage name
 * they follow travels.  Refuses with CK_ERR_KEY_MISSING if the certificate
 * has no key, unless flags has CK_STORE_COPY_NO_KEY.  src and dst must be
 * different files (CK_ERR_INVALID_ARG).
 */
CK_API enum ck_code ck_store_cert_copy(struct ck_store *src, int64_t cert_id, struct ck_store *dst,
				       unsigned flags, struct ck_copy_result *out, struct ck_err *err);
/*
 * Copy, then (after the destination has committed) remove the certificate
 * from src in its own transaction, with the key when nothing else in src
 * uses it.  Refuses up front with CK_ERR_IN_USE if a binding in src uses
 * it.  A crash between the two leaves the certificate in both stores,
 * never in neither.  The source key is deleted only while dst holds the
 * key itself (a software key: dst's own PKCS#8, loaded and checked);
 * CK_ERR_STATE, with nothing changed, when dst knows a software key only
 * as a token reference (the reference is not replaced).
 */
CK_API enum ck_code ck_store_cert_move(struct ck_store *src, int64_t cert_id, struct ck_store *dst,
				       unsigned flags, struct ck_copy_result *out, struct ck_err *err);

/* ---- a whole store to another location (engine to engine) ------------ */

#define CK_STORE_COPY_TABLES_MAX 40

struct ck_store_copy_summary {
	struct {
		char name[64];
		int64_t rows;
	} tables[CK_STORE_COPY_TABLES_MAX];   /* every table copied, in copy order */
	size_t n;
	int schema_version;       /* of both stores */
	uint64_t src_generation;
	uint64_t dst_generation;  /* src_generation + 1 */
	int sealed;               /* the keys are sealed (they stay sealed, same node key) */
	int64_t keys_loaded;      /* keys opened at the destination and checked against
				   * their public keys (all software keys of a plain store, or
				   * of a sealed one whose node key src was given; else 0) */
};

/*
 * Copies the whole store src into dst_location (a SQLite path or a
 * PostgreSQL connection string), which must be absent or an empty store
 * (no row in any table but the schema's own): anything else is refused,
 * unchanged (CK_ERR_EXISTS naming a table that has rows).  The schema (the
 * same version) and every row of every table are written in ONE
 * transaction on the destination, read from one snapshot of src: a
 * failure or a kill before its commit leaves the destination without
 * any of it (a SQLite file this call created is removed on failure; one
 * left by a kill is an empty store a later copy may use).  Ids are
 * preserved, so references and sealed keys (their associated data is the
 * row id) carry as they are: a sealed store stays sealed under the same
 * node key and needs no key to copy; a plain store stays plain.  The
 * destination's generation is src's plus one.  A table this build does
 * not know is copied column by column like the others; a column type it
 * does not know fails (CK_ERR_UNSUPPORTED), nothing written.
 * Then verifies, after the commit: row counts per table, every
 * certificate's SHA-256, every key's SPKI SHA-256 and stored private key,
 * every lineage's current certificate, and the keys it can open
 * (keys_loaded); a difference is CK_ERR_CORRUPT naming it, and the
 * destination is left as written.  *out is set on success (may be NULL).
 */
CK_API enum ck_code ck_store_copy_all(struct ck_store *src, const char *dst_location,
				      struct ck_store_copy_summary *out, struct ck_err *err);

/* ---- doctor ---------------------------------------------------------- */

enum ck_severity {
	CK_SEV_INFO = 0,
	CK_SEV_WARNING = 1,
	CK_SEV_ERROR = 2,
};

/* What one doctor run checked, and how much of it it recomputed from the
 * stored bytes instead of trusting a verified fact (docs/store.md). */
struct ck_doctor_stats {
	size_t certs;             /* certificates checked */
	size_t certs_recomputed;  /* of them parsed and their chain verified again */
	size_t keys;              /* software keys checked */
	size_t keys_recomputed;   /* of them opened and decoded again */
};

struct ck_doctor_opts {
	time_t now;               /* 0: the store context's clock */
	int pending_max_age_days; /* 0: 30 */
	int expiry_warn_days;     /* 0: 30 */
	int node_grace_s;         /* a node's binding may be behind its lineage's current
				   * certificate this long before it is a finding (CK-D041);
				   * 0: CK_DOCTOR_NODE_GRACE_S, < 0: none */
	int full;                 /* 1: trust no recorded fact, recompute everything */
	struct ck_doctor_stats *stats; /* OUT (may be NULL): set when the check succeeds */
};
#define CK_DOCTOR_NODE_GRACE_S 600

/*
 * One finding.  code is stable ("CK-D001"), name its stable short name
 * ("cert-key-missing"); docs/invariants.md lists them all.  object names
 * the thing ("cert 3f2a...", "key 12", "binding www-nginx"); what, why and
 * fix are one line each: what is wrong, why an admin should care (in the
 * words Windows/IIS/nginx would use), and the command that fixes it.
 */
struct ck_finding {
	const char *code;         /* static */
	const char *name;         /* static */
	enum ck_severity severity;
	char *object;
	char *what;
	char *why;
	char *fix;
	int64_t cert_id;          /* the certificate concerned, or 0 */
	int64_t key_id;           /* the key concerned, or 0 */
	int fixed;                /* set by repair/prune: this action was done */
};

struct ck_findings {
	struct ck_finding *items;
	size_t n;
};

/*
 * Checks every invariant, recomputing SPKI and thumbprints from the
 * stored DER (columns are not trusted).  Never changes the store.  An
 * empty list means clean.
 */
CK_API enum ck_code ck_store_doctor(struct ck_store *st, const struct ck_doctor_opts *opts,
				    struct ck_findings *out, struct ck_err *err);
/* Relinks certificates labelled "no private key" (or linked to a key that is
 * gone) whose matching key exists in the store.  Never deletes anything.
 * *out lists what was done (fixed = 1), one transaction. */
CK_API enum ck_code ck_store_doctor_repair(struct ck_store *st, struct ck_findings *out,
					   struct ck_err *err);
/* Removes orphan keys only, one transaction; *out lists each removed key. */
CK_API enum ck_code ck_store_doctor_prune(struct ck_store *st, struct ck_findings *out,
					  struct ck_err *err);
/* "info", "warning", "error". */
CK_API const char *ck_severity_name(enum ck_severity s);
CK_API void ck_findings_cleanup(struct ck_findings *f);

#ifdef __cplusplus
}
#endif
#endif
