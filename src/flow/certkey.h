/*
 * certkey.h - the key a flow signs with, wherever it lives: a software key
 * kept (PKCS#8) in the store, or a key on a PKCS#11 token that the store
 * knows by its pkcs11: URI.  Issuance, requests and accounts hold one of
 * these and sign through its ck_signer; none of them asks where the key is.
 *
 * Must never: keep a PIN, store a token reference whose public key it has
 * not read from the token itself, or use a token key whose public key is
 * not the one the store recorded for it.
 */
#ifndef CK_FLOW_CERTKEY_H
#define CK_FLOW_CERTKEY_H

#include <stdint.h>

#include "crypto/crypto.h"
#include "store/store.h"
#include "token/token.h"

/* Where a new key is made, or a token key is found: token_uri NULL means
 * a software key in the store. */
struct flow_key_src {
	const char *token_uri;    /* pkcs11: URI of the token (and maybe the key: id=, object=) */
	const char *module;       /* PKCS#11 module when the URI has no module-path */
	const char *pin_file;     /* the user PIN: a file or fd:N; NULL: the URI's pin-source */
};

struct flow_key {
	struct ck_signer *signer;
	struct ck_token *token;   /* NULL: a software key */
	unsigned char id[CK_TOKEN_ID_MAX];
	size_t id_len;
	int64_t key_id;           /* the store's key row */
};

/*
 * A new key for label (the lineage name) of type kt, stored before it is
 * returned (the store row is durable when this returns): a software key,
 * or with src->token_uri a key pair made on the token (ck_token_key_generate)
 * or, when the URI names one by id= or object=, that existing key; the
 * store records the token key's pkcs11: URI and public key.  OUTPUT *k
 * (flow_key_cleanup) only on success.
 */
enum ck_code flow_key_new(struct flow_key *k, struct ck_store *st, const struct flow_key_src *src,
			  enum ck_key_type kt, const char *label, struct ck_err *err);
/*
 * The stored key key_id as a signer: a software key from the store, or a
 * token key through its stored URI (the token opened, logged in with
 * src's PIN, the key found by CKA_ID and its public key checked against
 * the stored one: CK_ERR_KEY_MISMATCH if the token now holds another key
 * under that id).  OUTPUT *k only on success.
 */
enum ck_code flow_key_load(struct flow_key *k, struct ck_store *st, int64_t key_id,
			   const struct flow_key_src *src, struct ck_err *err);
/*
 * An existing key on the token src->token_uri names by id= or object=
 * (CK_ERR_INVALID_ARG for a URI that names only a token), opened and
 * logged in to, as a signer - not stored (k->key_id 0: flow_key_store).
 * OUTPUT *k only on success.
 */
enum ck_code flow_key_find(struct flow_key *k, const struct flow_key_src *src,
			   struct ck_err *err);
/* Stores k's token key (its URI and public key) and sets k->key_id. */
enum ck_code flow_key_store(struct flow_key *k, struct ck_store *st, struct ck_err *err);
/* The signer's public key with a new reference (EVP_PKEY_free); NULL on no memory. */
EVP_PKEY *flow_key_public(const struct flow_key *k);
/*
 * For a token key: writes certificate der onto the token with the key's
 * CKA_ID and label, replacing the label's previous certificate object
 * (ck_token_cert_write); *replaced how many went.  A software key: CK_OK,
 * nothing done.
 */
enum ck_code flow_key_cert_to_token(struct flow_key *k, const unsigned char *der, size_t len,
				    const char *label, size_t *replaced, struct ck_err *err);
/* Frees the signer and closes the token.  Safe on a zeroed or cleaned k. */
void flow_key_cleanup(struct flow_key *k);

/* ---- issuance's use of it (issue_token.c; issue.c calls these) ---------- */

struct ck_ctx;
struct ck_issue_params;
struct ck_der;
struct ck_lineage;
/*
 * The token settings issuance uses: *eff is *p, except that with no
 * p->token_uri the token recorded in lin (the lineage's row, NULL for a
 * new lineage) is used (its module and PIN file unless p gives them;
 * strings borrowed from *lin), and p->token_uri "" means software keys.
 * A recorded token with no PIN file (given, recorded, or the URI's
 * pin-source) is CK_ERR_INVALID_ARG naming --pin-file, before anything
 * changes.
 */
enum ck_code issue_token_resolve(const char *lineage, const struct ck_lineage *lin,
				 const struct ck_issue_params *p, struct ck_issue_params *eff,
				 struct ck_err *err);
/*
 * Records p's token on the lineage (unless p->run_only or p gives none):
 * its URI and module, its PIN file only as a path (fd:N is not recorded);
 * p->token_uri "" clears the record.
 */
enum ck_code issue_token_record(struct ck_store *st, const char *lineage,
				const struct ck_issue_params *p, struct ck_err *err);
/*
 * The certificate key for a new order: flow_key_new with p's token
 * (token_uri, pkcs11_module, pin_file), *pub its public key.  An error
 * says the key could not be made or stored.
 */
enum ck_code issue_key_new(struct ck_store *st, const struct ck_issue_params *p,
			   enum ck_key_type kt, const char *lineage, struct flow_key *k,
			   EVP_PKEY **pub, struct ck_err *err);
/* The stored key of an order being resumed: flow_key_load with p's PIN. */
enum ck_code issue_key_load(struct ck_store *st, const struct ck_issue_params *p, int64_t key_id,
			    struct flow_key *k, EVP_PKEY **pub, struct ck_err *err);
/*
 * After the certificate is committed: a token key gets the certificate
 * written onto its token (flow_key_cert_to_token).  A failure there is
 * logged as a warning naming what to do: the certificate is issued and
 * stored, and the next issue or import writes it.
 */
void issue_cert_to_token(const struct ck_ctx *ctx, struct flow_key *k, const struct ck_der *leaf,
			 const char *lineage);

#endif
