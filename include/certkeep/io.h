/*
 * certkeep/io.h - store operations composed from the store API for the commands
 * that move certificates and keys in and out: import (files -> keys,
 * certificates with chains, links), export (a certificate with its key
 * and chain -> files), and the pending request (key + CSR) that a later
 * import completes.
 *
 * The decisions live here, not in the CLI: what links to what, what is a
 * chain, what is refused (invariant 5: nothing leaves without its key
 * unless the caller asked for certificate-only output), which mode each
 * file gets.  The CLI parses argv, calls these, and prints the result.
 *
 * Conventions as in store.h: enum ck_code, *err filled on failure, OUT
 * parameters set only on success, _cleanup NULL-safe on zeroed structs.
 */
#ifndef CERTKEEP_IO_H
#define CERTKEEP_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <certkeep/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- import --------------------------------------------------------- */

#define CK_IMPORT_FILES_MAX 64      /* input files in one import */
#define CK_IMPORT_PASSWORD_MAX 1024 /* bytes of one --password-file */

/* Where a certificate's key was found. */
enum ck_import_key_source {
	CK_IMPORT_KEY_NONE = 0,    /* stored labelled "no private key" */
	CK_IMPORT_KEY_INPUT = 1,   /* a key in the same input */
	CK_IMPORT_KEY_STORE = 2,   /* a key already in the store */
	CK_IMPORT_KEY_REQUEST = 3, /* the key of a pending request (closed now) */
	CK_IMPORT_KEY_FINDER = 4,  /* a key outside the store the key finder found (a token) */
};

/*
 * A key outside the store, found by public key: what a key finder
 * returns.  The store keeps only the reference (ck_store_key_put_token).
 */
struct ck_key_hit {
	char *pkcs11_uri;         /* where the private key lives (at most CK_STORE_URL_MAX) */
	unsigned char *spki_der;  /* its public key */
	size_t spki_len;
	char *where;              /* for messages: e.g. the configured token's name */
};

/*
 * Looks for a key outside the store (a PKCS#11 token) whose SPKI SHA-256
 * is spki_sha256.  find() fills *hit (strings and DER malloc()ed: the
 * import frees them) and returns CK_OK, returns CK_ERR_NOT_FOUND when
 * there is none, or any other code to stop the import (nothing stored).
 * The import recomputes the hit's SPKI hash and refuses one that differs.
 * The store knows nothing of PKCS#11: the caller (the CLI) builds this.
 */
struct ck_key_finder {
	enum ck_code (*find)(void *arg, const char *spki_sha256, struct ck_key_hit *hit,
			     struct ck_err *err);
	void *arg;
};

/* One certificate stored on its own (a leaf, or a CA certificate nobody chains to). */
struct ck_import_cert {
	char sha256[65];
	char *subject;
	char *source;             /* input file it came from */
	int64_t cert_id;
	int64_t key_id;           /* 0: labelled "no private key" */
	enum ck_import_key_source key_source;
	char *key_location;       /* "store", a pkcs11: URI, or NULL */
	int already_present;      /* it was in the store before this import */
	int newly_linked;         /* it was in the store without its key and is linked now */
	int64_t request_closed;   /* the pending request it completed, or 0 */
	char *key_where;          /* CK_IMPORT_KEY_FINDER: the finder's hit->where, else NULL */
	char *lineage;            /* the lineage whose current certificate it is, or NULL */
	size_t chain_len;         /* chain certificates stored with it */
};

/* One private key of the input. */
struct ck_import_key {
	int64_t key_id;
	char spki_sha256[65];
	char algorithm[32];
	int created;              /* 0: the store had it already */
	int used;                 /* a certificate (or account, request) uses it */
	size_t relinked;          /* certificates already in the store, without a key until
				   * now, that this key linked */
	char relinked_sha256[65]; /* the first of them */
};

struct ck_import_result {
	struct ck_import_cert *certs;
	size_t ncerts;
	struct ck_import_key *keys;
	size_t nkeys;
	size_t chain_only;        /* CA certificates kept only as some leaf's chain */
	int changed;              /* anything was added or linked */
};

/* One input: a name for messages and origins, and its bytes. */
struct ck_import_source {
	const char *name;
	const unsigned char *data;
	size_t len;
};

/*
 * Imports what the sources hold (PEM, DER, PKCS#12; password may be NULL).
 * Every source is parsed before anything is stored: a wrong password or a
 * malformed file stores nothing.  Then, in order:
 *  1. every private key (ck_store_key_put: one transaction each; a key
 *     links labelled certificates with its SPKI as it lands);
 *  2. every certificate that stands on its own - a non-CA certificate, a
 *     CA certificate whose key is in the input, or any certificate when
 *     the input has no non-CA one - with its chain built from the input's
 *     CA certificates by issuer and signature (ck_store_cert_put with
 *     key_id 0: the store links it by SPKI to a key in the store or in a
 *     pending request, closing the request, else labels it).
 * CA certificates that chain no leaf are stored on their own, never
 * dropped.  The whole import is one transaction (ck_store_tx_begin): a
 * failure or a crash anywhere leaves the store exactly as it was, and
 * the error says nothing was imported.  lineage (may be NULL) names the lineage the one stand-
 * alone certificate becomes current of (CK_ERR_INVALID_ARG if the input
 * holds several).  The same input twice stores nothing (changed = 0).
 */
CK_API enum ck_code ck_store_import(struct ck_store *st, const struct ck_import_source *src, size_t n,
				    const char *password, const char *lineage,
				    struct ck_import_result *out, struct ck_err *err);
/*
 * ck_store_import that also asks finder (may be NULL: none) for the key of
 * each certificate whose SPKI matches no key in the input, the store or a
 * pending request, before the transaction starts.  Each hit is stored as a
 * token reference (ck_store_key_put_token) inside the import's transaction,
 * before the certificates, so the store links them by SPKI; such a
 * certificate reports key_source CK_IMPORT_KEY_FINDER and key_where.
 */
CK_API enum ck_code ck_store_import_with(struct ck_store *st, const struct ck_import_source *src,
					 size_t n, const char *password, const char *lineage,
					 const struct ck_key_finder *finder, struct ck_import_result *out,
					 struct ck_err *err);
/* ck_store_import of files read whole (each at most 1 MiB; the
 * buffers are wiped after use since they may hold keys). */
CK_API enum ck_code ck_store_import_files(struct ck_store *st, const char *const *paths, size_t n,
					  const char *password, const char *lineage,
					  struct ck_import_result *out, struct ck_err *err);
/* ck_store_import_files with a key finder (may be NULL), as ck_store_import_with. */
CK_API enum ck_code ck_store_import_files_with(struct ck_store *st, const char *const *paths, size_t n,
					       const char *password, const char *lineage,
					       const struct ck_key_finder *finder,
					       struct ck_import_result *out, struct ck_err *err);
CK_API void ck_import_result_cleanup(struct ck_import_result *r);

/* ---- export --------------------------------------------------------- */

enum ck_export_format {
	CK_EXPORT_PEM = 0,
	CK_EXPORT_DER = 1,
	CK_EXPORT_PFX = 2,
};

/*
 * What to write.  The chain is the certificate's selected one
 * (ck_store_cert_chain_selected).  Either out (one file: pem = certificate + chain + key,
 * pfx = PKCS#12 with all three, der = the certificate alone) or any of
 * the separate files.  no_key: the caller asks for certificate-only output
 * (also what allows exporting a certificate that has no key here).
 */
struct ck_export_opts {
	enum ck_export_format format;
	enum ck_pfx_compat pfx_compat;
	const char *password;     /* pfx only; required there, non-empty */
	int no_key;
	const char *out;
	const char *cert_out;
	const char *key_out;
	const char *chain_out;
	const char *fullchain_out;
	int no_password;          /* pfx only: an unprotected PFX on purpose (no password) */
};

#define CK_EXPORT_FILES_MAX 5

struct ck_export_file {
	char *path;
	const char *what;         /* static: "certificate", "private key", "chain", ... */
	mode_t mode;              /* 0600 when it holds the key, else 0644 */
};

struct ck_export_result {
	struct ck_export_file files[CK_EXPORT_FILES_MAX];
	size_t nfiles;            /* in the order written (the key first) */
	int key_included;
	size_t chain_len;
	size_t chain_index;       /* which chain was written: the selected one (ck_cert_chains) */
};

/*
 * Pure check of the option combination (no store): one of out / separate
 * files, pfx only with out and a password, der without chain files,
 * key_out not with no_key.  CK_ERR_INVALID_ARG saying what to change.
 */
CK_API enum ck_code ck_export_check(const struct ck_export_opts *o, struct ck_err *err);
/* "pem" / "der" / "pfx" and "modern" / "legacy"; CK_ERR_INVALID_ARG otherwise. */
CK_API enum ck_code ck_export_format_parse(const char *s, enum ck_export_format *out,
					   struct ck_err *err);
CK_API enum ck_code ck_pfx_compat_parse(const char *s, enum ck_pfx_compat *out, struct ck_err *err);

/*
 * Writes certificate cert_id as o asks, each file whole or not at all
 * (ck_file_write_atomic), the key file first so no certificate appears
 * without the key that was asked for.  Refuses, writing nothing, with
 * CK_ERR_KEY_MISSING when the certificate has no key here and
 * o->no_key is 0 (the state Windows reports as "Keyset does not exist"),
 * and with CK_ERR_KEY_NOT_EXPORTABLE when the key is wanted but lives on a
 * token.  A key that no longer matches the certificate is CK_ERR_CORRUPT.
 */
CK_API enum ck_code ck_store_export(struct ck_store *st, int64_t cert_id, const struct ck_export_opts *o,
				    struct ck_export_result *out, struct ck_err *err);
CK_API void ck_export_result_cleanup(struct ck_export_result *r);

/*
 * `certkeep chain REF --select SPEC`: selects the chain of the certificate
 * REF names (ck_store_ref_resolve) that export writes and deploy installs.
 * SPEC is a chain index (0 = the server's default chain) or the common
 * name of the issuer a chain leads to (ck_cert_chains_find); no such chain
 * is CK_ERR_NOT_FOUND, the message naming the chains there are, and
 * nothing changes.  OUTPUT *index: the chain now selected.
 */
CK_API enum ck_code ck_chain_select(struct ck_store *st, const char *ref, const char *spec,
				    size_t *index, struct ck_err *err);

/* ---- pending requests ------------------------------------------------ */

/*
 * A pending request for a CA outside ACME: generates a key of type t,
 * commits it (ck_store_key_put: invariant 3, the key is durable first),
 * makes a CSR for names, records the request (lineage may be NULL: the
 * first name, when it is a valid lineage name).  *csr_pem (free()) is the
 * CSR as PEM, *request_id the request.  A crash between the two commits
 * leaves an orphan key, never a request without its key.
 */
CK_API enum ck_code ck_store_request_create(struct ck_store *st, const char *const *names, size_t n,
					    const char *lineage, enum ck_key_type t,
					    int64_t *request_id, char **csr_pem, struct ck_err *err);
/*
 * ck_store_request_create, then the CSR written to csr_path (PEM, mode
 * 0644, whole or not at all) only after the request is committed, so no
 * CSR exists whose key could be lost.  When the file cannot be written the
 * request and its key stay recorded and the error says so (and that
 * `certkeep requests --json` shows the CSR); *request_id is set only when
 * both succeeded.
 */
CK_API enum ck_code ck_request_create_file(struct ck_store *st, const char *const *names,
					   size_t n, const char *lineage, enum ck_key_type t,
					   const char *csr_path, int64_t *request_id,
					   struct ck_err *err);
/* The CSR of stored request r as PEM text.  OUTPUT *pem (free()). */
CK_API enum ck_code ck_request_csr_pem(const struct ck_request *r, char **pem,
				       struct ck_err *err);

#ifdef __cplusplus
}
#endif
#endif
