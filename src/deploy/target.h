/*
 * target.h - the deploy seam: what a deploy target is (a typed spec parsed
 * at bind time), what it receives (the certificate set to deploy), the
 * table of operations each kind fills (one file per kind: pem.c, nginx.c,
 * apache.c, haproxy.c, pkcs12.c, exec.c), and the generation-directory
 * helpers every file-writing kind shares.
 *
 * The engine (deploy.c) drives one target through, in order:
 *
 *   validate -> render -> swap -> check -> reload -> verify
 *                            \______ any failure after swap ______/
 *                                         |
 *                     rollback -> reload -> verify (the old thumbprint)
 *
 * The common checks of the certificate itself (reference resolves, key
 * linked and matching, chain to a trusted root and in order, valid now,
 * not revoked, covers the --verify name) run in the engine BEFORE validate
 * (check.c); a target only checks what is its own (its directory, its
 * program, its socket).  Nothing before swap may change anything on disk
 * or in a running server (invariant 4: never delete first).
 *
 * Conventions as everywhere: enum ck_code, *err filled on failure, OUT
 * parameters set only on success.  Must never: put a secret in argv or a
 * child's environment, follow a symlink it did not make, leave a reader
 * a key of one generation beside a certificate of another.
 */
#ifndef CK_DEPLOY_TARGET_H
#define CK_DEPLOY_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include <certkeep/keys.h> /* struct ck_der_list, enum ck_pfx_compat */

#include "core/core.h"

/* ---- named maxima ------------------------------------------------------ */

#define DEP_PATH_MAX 1024       /* one path in a spec (DIR, FILE, conf=, socket=, ...) */
#define DEP_SPEC_MAX 4096       /* the spec text as stored (bindings.target) */
#define DEP_HOST_MAX 253        /* --verify host / sni name */
#define DEP_FILES_MAX 8         /* files one render produces */
#define DEP_FILE_NAME_MAX 64    /* one rendered file's name (no '/') */
#define DEP_GEN_KEEP 3          /* generations kept in a target directory */
#define DEP_GEN_NAME_MAX 32     /* "gen-<N>" */
#define DEP_RELOAD_MAX 1024     /* --reload CMD text */
#define DEP_ARGV_MAX 32         /* words of a split --reload CMD */
#define DEP_ENV_MAX 4           /* variables a kind adds to a program's environment */
#define DEP_RUN_TIMEOUT_MS 30000    /* nginx -t, apachectl -t, a reload, an exec hook */
#define DEP_VERIFY_BUDGET_MS 10000  /* handshake retries after a reload */
#define DEP_VERIFY_CONFIRM 3        /* handshakes in a row that must see the new leaf */

/* ---- the target spec (typed, parsed at bind time) ---------------------- */

enum dep_kind {
	DEP_KIND_PEM = 0,       /* pem:DIR */
	DEP_KIND_NGINX = 1,     /* nginx:DIR[,conf=FILE] */
	DEP_KIND_APACHE = 2,    /* apache:DIR[,conf=FILE] */
	DEP_KIND_HAPROXY = 3,   /* haproxy:FILE[,socket=PATH] */
	DEP_KIND_PKCS12 = 4,    /* pkcs12:FILE[,compat=legacy][,password-file=F] */
	DEP_KIND_EXEC = 5,      /* exec:PROG */
};

/*
 * A parsed target.  Every path is absolute and normalised by the parser
 * (no "//", no "." or ".." steps, no trailing '/'); options a kind does
 * not take are refused by the parser, so a field is "" when not given.
 */
struct dep_spec {
	enum dep_kind kind;
	char path[DEP_PATH_MAX];          /* DIR (pem, nginx, apache), FILE (haproxy, pkcs12), PROG (exec) */
	char conf[DEP_PATH_MAX];          /* nginx/apache conf=: the server's main config; "" = default */
	char socket[DEP_PATH_MAX];        /* haproxy socket=: the runtime API (stats socket) */
	enum ck_pfx_compat compat;        /* pkcs12 compat=legacy; CK_PFX_MODERN by default */
	char password_file[DEP_PATH_MAX]; /* pkcs12 password-file=; "" = no password */
};

/*
 * Parses "KIND:PATH[,opt=value]..." into *out.  Pure (no file system).
 * Refuses with CK_ERR_INVALID_ARG and a message naming the accepted forms:
 * an unknown kind, a relative or empty path, a path or option value with
 * ',' or a control byte, an option the kind does not take, an option
 * given twice, anything over its maximum.
 */
enum ck_code dep_spec_parse(const char *text, struct dep_spec *out, struct ck_err *err);
/* The canonical text of s (what bindings.target stores; dep_spec_parse reads it back
 * to an equal spec) into out (n bytes).  Returns its length, 0 if n is too small. */
size_t dep_spec_format(const struct dep_spec *s, char *out, size_t n);
/* "pem", "nginx", "apache", "haproxy", "pkcs12", "exec". */
const char *dep_kind_name(enum dep_kind k);

/* ---- the --verify endpoint --------------------------------------------- */

struct dep_endpoint {
	char host[DEP_HOST_MAX + 1];      /* a DNS name or an IP literal (IPv6 in [..] in the text) */
	unsigned port;                    /* 1..65535 */
	char sni[DEP_HOST_MAX + 1];       /* the name to send and to check; "" = host (if a name) */
};

/* "HOST:PORT[,sni=NAME]" -> *out; CK_ERR_INVALID_ARG saying what is wrong.  Pure. */
enum ck_code dep_endpoint_parse(const char *text, struct dep_endpoint *out, struct ck_err *err);
/* The name the certificate must cover and the handshake sends: sni, else host when
 * host is not an IP literal, else host (the IP: checked against IP SANs). */
const char *dep_endpoint_name(const struct dep_endpoint *ep);

/* ---- what a target receives -------------------------------------------- */

/*
 * The set to deploy, loaded and checked by the engine (check.c) before any
 * target op runs.  Borrowed by the ops for the length of one deploy; the
 * engine owns and frees it (the key with EVP_PKEY_free).
 */
struct dep_material {
	const char *binding;              /* binding name (CERTKEEP_BINDING) */
	const char *lineage;              /* lineage name, NULL when pinned */
	int64_t cert_id;                  /* the certificate in the store */
	char sha256[65];                  /* leaf SHA-256, lower-case hex: what verify must see */
	const unsigned char *leaf_der;
	size_t leaf_len;
	const struct ck_der_list *chain;  /* issuers in order, leaf excluded (may be n = 0) */
	EVP_PKEY *key;                    /* the private key; NULL when it lives on a token */
	const char *key_uri;              /* pkcs11: URI of a token key, else NULL */
	const char *token_module;         /* the lineage's recorded PKCS#11 module, else NULL */
	const char *token_pin;            /* the lineage's recorded PIN file, else NULL */
	const char *const *names;         /* the leaf's SANs (RENEWED_DOMAINS), names[nnames] = NULL */
	size_t nnames;
	const char *ca_bundle;            /* --ca-bundle: trust for chain and handshake; NULL = system */
};

/* ---- rendered files ---------------------------------------------------- */

/* One file a render produced, in memory.  secret: holds key material (wiped on cleanup). */
struct dep_file {
	char name[DEP_FILE_NAME_MAX + 1]; /* base name in the generation directory */
	unsigned char *data;
	size_t len;
	mode_t mode;                      /* 0600 for anything holding a key or password, else 0644 */
	int secret;
};

struct dep_files {
	struct dep_file f[DEP_FILES_MAX];
	size_t n;
};

/*
 * Appends a file taking ownership of data (len bytes, malloc()ed; a secret
 * one is wiped with ck_secure_free on cleanup).  On failure data is freed
 * (wiped when secret) and files is unchanged: CK_ERR_TOO_LARGE past
 * DEP_FILES_MAX, CK_ERR_INVALID_ARG for a name with '/' or over the max.
 */
enum ck_code dep_files_add_take(struct dep_files *files, const char *name, unsigned char *data,
				size_t len, mode_t mode, int secret, struct ck_err *err);
/* Frees (wipes secret) every file and empties files.  NULL-safe, zeroed-safe. */
void dep_files_cleanup(struct dep_files *files);

/*
 * The PEM set of m: cert.pem (leaf), chain.pem (issuers; an empty file when
 * there are none), fullchain.pem (leaf + issuers), privkey.pem (PKCS#8, 0600,
 * secret).  CK_ERR_KEY_NOT_EXPORTABLE when m->key is NULL (a token key).
 */
#define DEP_PEM_CERT "cert.pem"
#define DEP_PEM_CHAIN "chain.pem"
#define DEP_PEM_FULLCHAIN "fullchain.pem"
#define DEP_PEM_KEY "privkey.pem"
/* nginx with a token key (nginx.c): the OpenSSL configuration that loads the
 * pkcs11 engine, and the server-block lines naming the certificate and key. */
#define DEP_NGINX_OPENSSL_CNF "openssl.cnf"
#define DEP_NGINX_SSL_CONF "nginx-ssl.conf"
enum ck_code dep_render_pem_set(const struct dep_material *m, struct dep_files *out,
				struct ck_err *err);
/* The same set without privkey.pem (a key that stays on its token). */
enum ck_code dep_render_cert_set(const struct dep_material *m, struct dep_files *out,
				 struct ck_err *err);

/* ---- one deploy to one target: the job the ops share -------------------- */

struct dep_ops;

/*
 * The state of one deploy.  The engine fills the inputs; swap fills the
 * generation fields (read by rollback, recorded in the store); a kind may
 * hang its own state on priv (freed by ops->cleanup).
 */
struct dep_job {
	const struct ck_ctx *ctx;         /* clock, log, cancel flag */
	const struct dep_spec *spec;
	const struct dep_ops *ops;
	const struct dep_material *m;     /* the new set */
	const char *reload_cmd;           /* --reload CMD; NULL = the kind's default */
	const struct dep_endpoint *verify;/* --verify; NULL = no handshake check */
	char prev_sha256[65];             /* what was served before (rollback verifies it); "" = unknown */
	int dry_run;                      /* validate and render only (the engine stops before swap) */
	unsigned run_timeout_ms;          /* each program run (dep_run); 0 = DEP_RUN_TIMEOUT_MS */
	const char *const *env;           /* NAME=VALUE added to dep_run's environment (a kind
					   * sets it, NULL-terminated; NULL = PATH only); never a secret */
	/* set by swap: */
	char gen_new[DEP_GEN_NAME_MAX + 1];  /* the generation written ("gen-7") */
	char gen_prev[DEP_GEN_NAME_MAX + 1]; /* what live pointed at before ("" = first deploy) */
	char gen_root[DEP_PATH_MAX];      /* directory holding gen-N and live (recorded) */
	int switched;                     /* live points at gen_new now */
	void *priv;
};

/*
 * The operations of one kind.  Every op returns CK_OK or fills *err with a
 * message naming the step, what happened and what was kept.  NULL means
 * "nothing to do" for check, reload, verify (the engine skips it) and
 * cleanup; validate, render, swap and rollback are required.
 *
 * validate  Before anything changes: the target's own preconditions (DIR
 *           exists, is a real directory or one we created, writable, room
 *           on the disk; conf readable; PROG executable; socket reachable).
 *           Must not write anything.
 * render    The files of the new set, in memory (no file system).
 * swap      Writes the rendered files as a new generation and switches to
 *           it atomically (dep_gen_write + dep_gen_switch, or the kind's
 *           own atomic step such as HAProxy's commit ssl cert); sets
 *           job->gen_new/gen_prev/gen_root/switched.  A failure before the
 *           switch leaves the old set served and returns the error.
 * check     The server's configuration test against the new files (nginx
 *           -t); failure -> rollback.
 * reload    Makes the server read the new files (graceful), or runs the
 *           hook; failure -> rollback.
 * verify    Proves the new set is live (the engine's default is the
 *           handshake to job->verify comparing m->sha256; a kind sets this
 *           only if it has a better proof).  Called with expect = the
 *           thumbprint to see (the new one, or prev_sha256 after rollback).
 * rollback  Switches back to gen_prev (dep_gen_switch) or undoes the kind's
 *           own step; the engine then calls reload and verify(prev).  With
 *           gen_prev "" (first deploy) there is nothing to go back to: say so.
 * cleanup   Frees job->priv.
 */
struct dep_ops {
	enum dep_kind kind;
	enum ck_code (*validate)(struct dep_job *job, struct ck_err *err);
	enum ck_code (*render)(struct dep_job *job, struct dep_files *out, struct ck_err *err);
	enum ck_code (*swap)(struct dep_job *job, const struct dep_files *files, struct ck_err *err);
	enum ck_code (*check)(struct dep_job *job, struct ck_err *err);
	enum ck_code (*reload)(struct dep_job *job, struct ck_err *err);
	enum ck_code (*verify)(struct dep_job *job, const char *expect_sha256, struct ck_err *err);
	enum ck_code (*rollback)(struct dep_job *job, struct ck_err *err);
	void (*cleanup)(struct dep_job *job);
};

/* The ops of each kind (one file each). */
extern const struct dep_ops dep_pem_ops;     /* pem.c */
extern const struct dep_ops dep_nginx_ops;   /* nginx.c */
extern const struct dep_ops dep_apache_ops;  /* apache.c */
extern const struct dep_ops dep_haproxy_ops; /* haproxy.c (h9-targets) */
extern const struct dep_ops dep_pkcs12_ops;  /* pkcs12.c (h9-targets) */
extern const struct dep_ops dep_exec_ops;    /* exec.c (h9-targets) */

/* The ops for k; NULL for a kind this build does not have (files.c: the table). */
const struct dep_ops *dep_ops_for(enum dep_kind k);

/* ---- generation directories (gen.c) ------------------------------------ */

/*
 * Layout of a generation root R (the target DIR for pem/nginx/apache; a
 * kind with a FILE target uses a directory next to it, e.g.
 * "DIR/.certkeep-NAME"):
 *   R/gen-N/...   one complete set per deploy (directory 0700 at creation,
 *                 files with their own modes at creation, each fsynced,
 *                 then the directory, then R)
 *   R/live        a symlink "gen-N": the one switch
 *   R/NAME        (or any stable path) a symlink "live/NAME", made once
 * so a reader opening R/cert.pem and R/privkey.pem resolves both through
 * the same live link: one rename(2) of live switches the whole set.
 */

/*
 * Writes files into a new generation directory R/gen-N (N = one more than
 * the highest gen-* in R; never reuses or touches an existing one) and
 * makes it durable (files, then gen-N, then R fsynced).  *gen (n bytes)
 * receives "gen-N".  R must exist.  On failure the partial gen-N is
 * removed (best effort; a crash leaves it, and the next write skips past
 * it and prune removes it).  CK_ERR_IO / CK_ERR_PERMISSION naming the path
 * (a full disk is ENOSPC in the message).
 */
enum ck_code dep_gen_write(const char *root, const struct dep_files *files, char *gen, size_t n,
			   struct ck_err *err);
/*
 * Points R/live at gen (must be an existing R/gen-N directory) with one
 * rename(2) of a fresh symlink over R/live, then fsyncs R.  *prev (n bytes,
 * may be NULL) receives what live pointed at before ("" if none).
 * Idempotent: switching to the current target succeeds.
 */
enum ck_code dep_gen_switch(const char *root, const char *gen, char *prev, size_t n,
			    struct ck_err *err);
/* What R/live points at ("gen-N") into gen; CK_ERR_NOT_FOUND when there is no live
 * link; CK_ERR_CORRUPT when live is not a symlink to a gen-N in R. */
enum ck_code dep_gen_current(const char *root, char *gen, size_t n, struct ck_err *err);
/*
 * Makes path a symlink to target (e.g. R/cert.pem -> live/cert.pem) unless
 * it already is exactly that: a new symlink renamed over path, so a
 * regular file left by another tool is replaced atomically, never deleted
 * first.  Refuses (CK_ERR_STATE, path untouched) when path is a directory.
 */
enum ck_code dep_gen_link(const char *path, const char *target, struct ck_err *err);
/*
 * Removes generation directories of R beyond the newest `keep`, never the
 * one live points at nor `also_keep` (the previous generation; may be
 * NULL), and removes leftover temp entries of crashed writes.  Best
 * effort per directory; fails only when R cannot be read.
 */
enum ck_code dep_gen_prune(const char *root, unsigned keep, const char *also_keep,
			   struct ck_err *err);

/* ---- directory kinds (pem.c): pem, nginx and apache share these ---------- */

/*
 * validate for a DIR target: DIR is a real directory (not a symlink), or
 * absent with a real parent directory (swap creates it 0700); writable
 * (not on a read-only file system); at least DEP_DIR_SPACE_MIN bytes free;
 * DIR/live, if present, a symlink of ours; each stable name (cert.pem,
 * chain.pem, fullchain.pem, privkey.pem) absent, a regular file (replaced
 * by a link at the first deploy) or our link "live/NAME" - never a
 * symlink elsewhere or a directory.  Writes nothing.
 */
#define DEP_DIR_SPACE_MIN (256 * 1024)
enum ck_code dep_dir_validate(struct dep_job *job, struct ck_err *err);
/* dep_dir_validate after checking that the server's configuration conf can be
 * read (server names it in the message: "nginx", "Apache"). */
enum ck_code dep_dir_validate_conf(struct dep_job *job, const char *server, const char *conf,
				   struct ck_err *err);
/* render for a DIR target: dep_render_pem_set. */
enum ck_code dep_dir_render(struct dep_job *job, struct dep_files *out, struct ck_err *err);
/*
 * swap for a DIR target: creates DIR (0700) if absent, dep_gen_write,
 * dep_gen_switch, then the stable links DIR/NAME -> live/NAME for each file
 * written (made once).
 * Sets gen_root = DIR, gen_new, gen_prev, switched.
 */
enum ck_code dep_dir_swap(struct dep_job *job, const struct dep_files *files,
			  struct ck_err *err);
/* rollback for a DIR target: DIR/live back to gen_prev (CK_ERR_STATE when the
 * deploy was the first: nothing to go back to). */
enum ck_code dep_dir_rollback(struct dep_job *job, struct ck_err *err);

/* ---- nginx with a key on a token (nginx_token.c) ------------------------- */

/*
 * For a token key (m->key NULL): finds OpenSSL's pkcs11 engine, the module
 * and the PIN file the engine will read, makes the engine's URI of the key,
 * sets job->env (OPENSSL_CONF naming DIR/openssl.cnf) and job->priv.
 * Refuses, changing nothing, when the engine is not installed or no PIN
 * file is recorded.  CK_OK and nothing set for a software key.
 */
enum ck_code dep_nginx_token_prepare(struct dep_job *job, struct ck_err *err);
/* cert.pem, chain.pem, fullchain.pem, openssl.cnf and nginx-ssl.conf (prepared first). */
enum ck_code dep_nginx_token_render(struct dep_job *job, struct dep_files *out,
				    struct ck_err *err);
/* Frees what prepare set (NULL-safe). */
void dep_nginx_token_cleanup(struct dep_job *job);

/* ---- running the server's programs -------------------------------------- */

/*
 * Splits cmd on blanks (spaces and tabs) into argv (no shell: no quotes,
 * no variables, no globbing; words are taken literally) into *out
 * (NULL-terminated; free with ck_strv_cleanup).  CK_ERR_INVALID_ARG for
 * an empty command, more than DEP_ARGV_MAX words, or a control byte.
 */
enum ck_code dep_cmd_split(const char *cmd, struct ck_strv *out, struct ck_err *err);
/*
 * Runs argv (ck_proc_run: no shell, PATH plus job->env, timeout
 * job->run_timeout_ms, else DEP_RUN_TIMEOUT_MS) and turns anything but a clean exit 0 into an
 * error: "STEP: 'PROG' exited with status 1: <its output, sanitized>".
 * step names what this was ("configuration test", "reload").
 */
enum ck_code dep_run(const struct dep_job *job, const char *step, const char *const *argv,
		     struct ck_err *err);

/*
 * The reload step: job->reload_cmd when the binding has one (dep_cmd_split,
 * then dep_run as "reload command"), else dflt (NULL-terminated; NULL =
 * nothing to run: CK_OK) as step.
 */
enum ck_code dep_run_reload(const struct dep_job *job, const char *step,
			    const char *const *dflt, struct ck_err *err);

/* ---- verification by handshake (verify.c, h9-targets) -------------------- */

/*
 * Connects to ep (TCP to host:port, TLS with SNI dep_endpoint_name(ep)),
 * verifies the served chain against ca_bundle (NULL = the system store)
 * and the name, and compares the served leaf's SHA-256 with expect_sha256.
 * Retries with backoff (20 ms doubling, at most 1 s apart: a deploy waits for
 * a reload, so the first retry must be quick) on a refused
 * connection, a failed handshake or a different leaf, until budget_ms has
 * passed or ctx is cancelled.  served (65 bytes, may be NULL) receives the
 * last served leaf's SHA-256 ("" when no handshake completed).
 * CK_OK: the expected leaf is served.  CK_ERR_STATE: the server serves
 * another certificate (both thumbprints in the message).  CK_ERR_TLS: no
 * TLS handshake (not TLS, or the chain/name does not verify: OpenSSL's
 * reason).  CK_ERR_NETWORK: no connection.  CK_ERR_CANCELLED.
 */
enum ck_code dep_verify_handshake(const struct ck_ctx *ctx, const struct dep_endpoint *ep,
				  const char *ca_bundle, const char *expect_sha256,
				  unsigned budget_ms, char *served, struct ck_err *err);

#endif
