/*
 * doctor_int.h - what doctor.c (rules, repair, prune) and doctor_check.c
 * (the checks over the rows) share.  Backend-independent apart from the
 * statement helpers of store_int.h.
 */
#ifndef CK_STORE_DOCTOR_INT_H
#define CK_STORE_DOCTOR_INT_H

#include "store/store_int.h"

enum dr_id {
	DR_CERT_KEY_MISSING,
	DR_CERT_KEY_RELINKABLE,
	DR_KEY_SPKI_MISMATCH,
	DR_KEY_CORRUPT,
	DR_CERT_CORRUPT,
	DR_ORPHAN_KEY,
	DR_REQUEST_STALE,
	DR_BINDING_DANGLING,
	DR_CERT_EXPIRED,
	DR_CERT_EXPIRING,
	DR_CHAIN_INVALID,
	DR_STORE_PERMISSIONS,
	DR_LINEAGE_DANGLING,
	DR_ROLLOVER_PENDING,
	DR_ACCOUNT_KEY_MISSING,
	DR_ORDER_STALE,
	DR_BINDING_REVOKED,
	DR_BINDING_STALE,
	DR_BINDING_EXPIRED,
	DR_DUE_LATE,
	DR_NODE_LEASE_ORPHANED,
	DR_NODE_BEHIND,
	DR_GENERATION_BACKWARDS,
	DR_FACTS_MISSING,
};

struct dr_rule {
	const char *code;
	const char *name;
	enum ck_severity severity;
	const char *why;
};

/* Appends a finding; takes ownership of object, what and fix (any NULL -> NOMEM). */
enum ck_code dr_add(struct ck_findings *f, enum dr_id id, enum ck_severity sev, int64_t cert_id,
		    int64_t key_id, char *object, char *what, char *fix, struct ck_err *err);
enum ck_severity dr_default_severity(enum dr_id id);
/* Records a change repair or prune made in its transaction (takes object and what). */
enum ck_code dr_fixed(struct ck_findings *f, enum dr_id id, int64_t cert_id, int64_t key_id,
		      char *object, char *what, struct ck_err *err);

/* State of one certificate's link, recomputed from DER and PKCS#8. */
enum dr_link_state {
	DR_LINK_OK,
	DR_LINK_LABELLED,     /* key_id NULL: "no private key" */
	DR_LINK_DANGLING,     /* key_id names a key row that is gone */
	DR_LINK_MISMATCH,     /* the key's real public key differs */
	DR_LINK_CERT_BAD,     /* the certificate DER does not parse */
};

struct dr_link {
	int64_t cert_id;
	int64_t key_id;       /* as stored */
	int64_t candidate;    /* a verified matching key (0 if none) */
	enum dr_link_state state;
	char sha256[65];      /* recomputed (stored column if the DER is bad) */
};

/* What one run has learnt about keys (doctor_keys.c), and its chain
 * checker; lives inside one read snapshot or transaction. */
struct dr_key_fact;
struct dr_keys {
	struct ck_key_reader *reader;
	struct ck_chain_checker *chains;
	struct dr_key_fact *slots;    /* open addressing by key id */
	size_t cap, n;
	int full;                     /* trust no verified fact (doctor --full) */
	struct ck_doctor_stats stats; /* what this run checked and recomputed */
	struct st_stmt *key_stmt;     /* the key look-up, prepared once per run */
	struct st_stmt *chain_stmt;   /* a certificate's chain, prepared once per run */
};
enum ck_code dr_keys_init(struct dr_keys *k, struct ck_err *err);
void dr_keys_cleanup(struct dr_keys *k);

/* Runs *s (prepared from sql on first use, else reset) with its one
 * parameter bound to id; the caller steps it.  Freed by dr_keys_cleanup. */
enum ck_code dr_stmt_run(struct ck_store *st, struct st_stmt **s, const char *sql, int64_t id,
			 struct ck_err *err);

/* The real SPKI SHA-256 of key_id (from its PKCS#8 for software keys),
 * computed once per run. */
enum ck_code dr_key_actual_spki(struct ck_store *st, struct dr_keys *k, int64_t key_id,
				char out[65], int *exists, int *corrupt, struct ck_err *err);
/* Link state of one certificate whose parsed info is given. */
enum ck_code dr_cert_link(struct ck_store *st, struct dr_keys *keys, int64_t cert_id,
			  const char *spki, int64_t key_id, struct dr_link *out,
			  struct ck_err *err);
/* Link states of every certificate (free(*links)). */
enum ck_code dr_scan_links(struct ck_store *st, struct dr_keys *keys, struct dr_link **links,
			   size_t *n, struct ck_err *err);

enum ck_code dr_check_certs(struct ck_store *st, struct dr_keys *keys,
			    const struct ck_doctor_opts *o, struct ck_findings *f,
			    struct ck_err *err);
enum ck_code dr_check_keys(struct ck_store *st, struct dr_keys *keys, struct ck_findings *f,
			   struct ck_err *err);
enum ck_code dr_check_requests(struct ck_store *st, const struct ck_doctor_opts *o,
			       struct ck_findings *f, struct ck_err *err);
enum ck_code dr_check_bindings(struct ck_store *st, struct ck_findings *f, struct ck_err *err);
enum ck_code dr_check_lineages(struct ck_store *st, struct ck_findings *f, struct ck_err *err);
enum ck_code dr_check_accounts(struct ck_store *st, struct ck_findings *f, struct ck_err *err);
enum ck_code dr_check_orders(struct ck_store *st, const struct ck_doctor_opts *o,
			     struct ck_findings *f, struct ck_err *err);
enum ck_code dr_check_revoked(struct ck_store *st, struct ck_findings *f, struct ck_err *err);
/* doctor_binding.c: bindings behind their certificate (CK-D018), serving an expired one (CK-D019). */
enum ck_code dr_check_deploys(struct ck_store *st, const struct ck_doctor_opts *o,
			      struct ck_findings *f, struct ck_err *err);

/* doctor_due.c: a stored next look later than the lineage is due (CK-D021),
 * and its repair (due_at reset to "compute now"). */
enum ck_code dr_check_due(struct ck_store *st, const struct ck_doctor_opts *o,
			  struct ck_findings *f, struct ck_err *err);
enum ck_code dr_repair_due(struct ck_store *st, struct ck_findings *f, struct ck_err *err);

/* doctor_fleet.c: nodes of a fleet (CK-D040..CK-D042); the repair of CK-D042. */
enum ck_code dr_check_fleet(struct ck_store *st, const struct ck_doctor_opts *o,
			    struct ck_findings *f, struct ck_err *err);
enum ck_code dr_repair_generation(struct ck_store *st, struct ck_findings *f, struct ck_err *err);

#endif
