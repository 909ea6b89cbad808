/*
 * deploy_int.h - what the engine's files share (check.c: the certificate
 * checks before anything changes; deploy.c: the steps and rollback;
 * bind.c: bind; doctor.c: the files on disk against the store).  The
 * target kinds see only target.h.
 */
#ifndef CK_DEPLOY_INT_H
#define CK_DEPLOY_INT_H

#include <certkeep/deploy.h>

#include "deploy/target.h"
#include "store/store.h"

/* A certificate loaded for a deploy, with everything dep_material borrows. */
struct dep_loaded {
	struct ck_cert_row row;
	unsigned char *der;
	size_t len;
	struct ck_der_list chain;
	EVP_PKEY *key;
	char *key_uri;
	char *token_module;       /* the lineage's token record (token keys only) */
	char *token_pin;
	struct dep_material m;
};

/*
 * Loads the certificate a binding deploys - lineage's current one, or the
 * pinned SHA-256 (exactly one of them non-NULL), with its selected chain
 * (`certkeep chain --select`: what export writes too) - and runs the checks, in
 * order, each refusing with a message "check N of 7 (WHAT) failed: ...;
 * fix: ...":
 *   1 the reference resolves, 2 the certificate is linked to a key,
 *   3 the key matches it, 4 its chain verifies to a trusted root
 *   (ca_bundle, else the system store) and is in order, 5 it is valid
 *   now (ctx's clock), 6 it is not revoked in the store, 7 it covers
 *   ep's name (ep NULL: skipped).
 * binding names the binding in m.  Reads only.  Release with dep_loaded_cleanup.
 */
enum ck_code dep_load_checked(const struct ck_ctx *ctx, struct ck_store *st, const char *binding,
			      const char *lineage, const char *pinned, const char *ca_bundle,
			      const struct dep_endpoint *ep, struct dep_loaded *out,
			      struct ck_err *err);
void dep_loaded_cleanup(struct dep_loaded *l);

/* SHA-256 (hex) of the first certificate in the PEM file path into out;
 * CK_ERR_NOT_FOUND / CK_ERR_PARSE / CK_ERR_IO. */
enum ck_code dep_pem_file_sha256(const char *path, char out[65], struct ck_err *err);
/*
 * What a target's files on disk hold (doctor.c): the certificate (sha)
 * and whether the set is complete - the key there is that certificate's
 * (directory targets: cert.pem + privkey.pem; haproxy: the combined PEM;
 * pkcs12: the file, opened with its password file).  An unreadable file is
 * an error in e; exec targets have no files (CK_ERR_UNSUPPORTED).
 */
enum ck_code dep_files_read(const struct dep_spec *spec, char sha[65], int *complete,
			    struct ck_err *e);

#endif
