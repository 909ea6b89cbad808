/*
 * certkeep/deploy.h - bindings and deployment: a binding names a target
 * (pem:DIR, nginx:DIR[,conf=FILE], apache:DIR[,conf=FILE], ...) and
 * follows a lineage or pins one certificate; a deploy validates the
 * certificate before anything changes, writes a complete new set beside
 * the old one, switches atomically, tests the server's configuration,
 * reloads, proves by TLS handshake that the new leaf is served, and rolls
 * back (switch back, reload, prove the old one is served) when any of
 * that fails.  docs/deploy.md describes it for people.
 *
 * Conventions as in store.h: enum ck_code, *err filled on failure, OUT
 * parameters set only on success.
 */
#ifndef CERTKEEP_DEPLOY_H
#define CERTKEEP_DEPLOY_H

#include <time.h>

#include <certkeep/context.h>
#include <certkeep/error.h>
#include <certkeep/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What `certkeep bind` asks for.  Exactly one of lineage and cert_ref. */
struct ck_bind_opts {
	const char *name;         /* the binding's name (a store name) */
	const char *lineage;      /* follow this lineage (a renewal redeploys it) */
	const char *cert_ref;     /* or pin this certificate (a REF: thumbprint, prefix, lineage) */
	const char *target;       /* the target spec, e.g. "nginx:/etc/ssl/www,conf=/etc/nginx/nginx.conf" */
	const char *reload;       /* reload command (split on blanks, no shell); NULL = default */
	const char *verify;       /* HOST:PORT[,sni=NAME] checked by handshake; NULL = none */
	const char *ca_bundle;    /* trust for the chain check; NULL = the system store */
	const char *node;         /* the node that deploys it (fleets); NULL = this node
				   * (ck_ctx_node).  Another node's target is not on this
				   * machine: its own checks are left to that node's deploy. */
};

/*
 * Creates or updates (by name) a binding after the checks a deploy runs
 * first (in order: the reference resolves; the certificate is linked to a
 * key that matches it; its chain verifies to a trusted root and is in
 * order; it is valid now; it is not revoked in the store; it covers the
 * --verify name) and the target's own checks (its directory, its
 * configuration file).  Any failure: CK_ERR_* with a message naming the
 * check and the fix, and nothing stored or written.  The target is stored
 * in canonical form.  *out (may be NULL; ck_binding_cleanup) is the row.
 */
CK_API enum ck_code ck_bind(const struct ck_ctx *ctx, struct ck_store *st,
			    const struct ck_bind_opts *o, struct ck_binding *out,
			    struct ck_err *err);

struct ck_deploy_opts {
	const char *ca_bundle;    /* trust for the chain check and the handshake; NULL = system */
	int dry_run;              /* check and render only: nothing written, nothing reloaded */
	unsigned timeout_s;       /* each program run (config test, reload); 0 = 30 s */
};

/* How one deploy ended (state is static text). */
struct ck_deploy_result {
	char binding[CK_STORE_NAME_MAX + 1];
	char sha256[65];          /* the certificate deployed (or meant to be) */
	char previous_sha256[65]; /* what was deployed before ("" = nothing) */
	char served_sha256[65];   /* the leaf the last handshake saw ("" = no handshake) */
	const char *state;        /* "deployed", "unchanged", "would-deploy", "rolled-back",
				   * "failed", "refused" */
	int verified;             /* the handshake saw sha256 */
	int rolled_back;          /* the previous set was put back */
	int rollback_verified;    /* ... and the handshake saw previous_sha256 again */
	char generation[1100];    /* the generation directory live now ("" = none) */
	char message[CK_ERR_MSG_MAX]; /* one line: what happened */
};

/*
 * Deploys binding name: the certificate it follows or pins, to its target
 * (the steps above).  CK_OK for "deployed", "unchanged" (already deployed,
 * the files and - with --verify - the handshake agree) and
 * "would-deploy" (dry_run).  Otherwise an error whose message says what
 * failed, what was kept or rolled back and whether the rollback was
 * verified; *out is filled in every case where the binding was found.
 * Honours ctx's cancel flag between steps (CK_ERR_CANCELLED, after
 * rolling back what was switched).  A binding of another node (fleets)
 * is refused (CK_ERR_STATE): its target is on that node's machine.
 */
CK_API enum ck_code ck_deploy(const struct ck_ctx *ctx, struct ck_store *st, const char *name,
			      const struct ck_deploy_opts *o, struct ck_deploy_result *out,
			      struct ck_err *err);

/*
 * Deploys every binding of this node (ck_ctx_node; and those of no node)
 * that follows lineage (pinned bindings, and other nodes' bindings, are
 * left as they are), each as ck_deploy does; what renewal calls after a lineage's
 * new certificate is stored.  CK_OK when all deployed, were unchanged, or
 * the lineage has no binding.  Otherwise every binding was still tried,
 * and err holds the first failure (naming how many failed when more did).
 * *deployed (may be NULL) counts the bindings that ended CK_OK.
 */
CK_API enum ck_code ck_deploy_lineage(const struct ck_ctx *ctx, struct ck_store *st,
				      const char *lineage, const struct ck_deploy_opts *o,
				      size_t *deployed, struct ck_err *err);

/*
 * Deploys this node's bindings (ck_ctx_node: its own and those of no
 * node), each as ck_deploy does; behind_only: only those that are behind
 * (ck_store_bindings_of_node: another node renewed their lineage, a
 * deploy failed or was interrupted, never deployed).  A fleet's fan-out:
 * what deploy, renew and the agent run so that each node deploys its own
 * bindings of a lineage another node renewed.  each (may be NULL) is
 * called after every binding with its result.  CK_OK when every one
 * ended CK_OK (or there was none); otherwise every one was still tried
 * and err holds the first failure.  *deployed (may be NULL): how many
 * ended CK_OK.
 */
typedef void (*ck_deploy_each_fn)(void *arg, const struct ck_deploy_result *r, enum ck_code rc,
				  const struct ck_err *e);
CK_API enum ck_code ck_deploy_node(const struct ck_ctx *ctx, struct ck_store *st,
				   const struct ck_deploy_opts *o, int behind_only,
				   ck_deploy_each_fn each, void *each_arg, size_t *deployed,
				   struct ck_err *err);

/*
 * The deploy findings of doctor for every binding of this node (ck_ctx_node,
 * and those of no node) with files on disk (a
 * directory for pem, nginx and apache; one file for haproxy and pkcs12):
 * the files against the store (CK-D020 binding-files: edited behind
 * certkeep's back, incomplete, or a deploy interrupted with the new set
 * already live).  Appended to *out.
 */
CK_API enum ck_code ck_deploy_doctor(const struct ck_ctx *ctx, struct ck_store *st,
				     struct ck_findings *out, struct ck_err *err);

#ifdef __cplusplus
}
#endif
#endif
