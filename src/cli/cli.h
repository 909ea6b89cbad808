/*
 * cli.h - the command line: argv in, one command file per command, text
 * or JSON out.  The CLI prints and never decides: every rule lives in the
 * library below it.
 *
 * Exit codes (documented in certkeep(1)):
 *   0  success (doctor: no findings)
 *   1  the operation failed (doctor: findings remain); one line on stderr says why
 *   2  usage error
 */
#ifndef CK_CLI_H
#define CK_CLI_H

#include <stdio.h>

#include "core/core.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

struct ck_store;

/* Global options and state shared by every command. */
struct cli {
	struct ck_ctx ctx;
	const char *store_path;   /* --store, $CERTKEEP_STORE, or the default */
	const char *ca_bundle;    /* --ca-bundle or $CERTKEEP_CA_BUNDLE; NULL = system store */
	const char *prog;         /* "certkeep" */
	char default_store[4096]; /* storage behind store_path when defaulted */
	/* --store-key-file, $CERTKEEP_STORE_KEY_FILE, or the systemd credential
	 * $CREDENTIALS_DIRECTORY/certkeep-store-key; NULL = none */
	const char *store_key_file;
	char store_key_cred[4096]; /* storage behind store_key_file from the credential */
};

/* Opens the existing store at cli->store_path: "no store at PATH" if absent,
 * and nothing is created (a mistyped --store must not make a new store). */
int cli_store_open(struct cli *cli, struct ck_store **out, struct ck_err *err);
/* Opens the store, creating it if absent: only for commands that put
 * something in it (account register/recover, issue, import, request, token add). */
int cli_store_open_create(struct cli *cli, struct ck_store **out, struct ck_err *err);
/* Gives st the node key in key_file (NULL: none) to seal and open private
 * keys (ck_store_seal_key_use); 0, or -1 with err set. */
int cli_store_key(struct ck_store *st, const char *key_file, struct ck_err *err);

/*
 * For commands that clean up what they started (issue, renew, deploy):
 * the first SIGINT or SIGTERM sets the context's cancel flag, so the
 * running call stops at its next wait, cleans up (challenge files,
 * records, listeners, half-written files) and returns CK_ERR_CANCELLED;
 * a second signal ends the process at once (the default action).
 * Commands that do not call this die on the first signal, as before.
 */
void cli_cancel_on_signal(struct cli *cli);

/*
 * The process's malloc policy (malloc_policy.c), set by main before any
 * thread: one glibc arena, unless MALLOC_ARENA_MAX or a
 * glibc.malloc.arena_max tunable in GLIBC_TUNABLES (either given as
 * arguments to cli_one_arena_wanted, NULL = unset) says otherwise.
 * cli_malloc_policy: 1 if it set one arena, 0 if it left glibc's choice
 * (the user's, or not glibc).
 */
int cli_one_arena_wanted(const char *arena_max_env, const char *tunables_env);
int cli_malloc_policy(void);

/* Prints "certkeep: <msg>" (plus ACME problem detail) on stderr; returns CLI_EXIT_FAIL. */
int cli_fail(struct cli *cli, const struct ck_err *err);
/* Prints "certkeep CMD: msg" and "Try 'certkeep CMD --help'" on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A whole decimal number in [lo, hi] (lo >= 0) from an option's text; -1 if it is not one. */
long cli_number(const char *text, long lo, long hi);

/* The token options of issue, request and account (cmd_token.c): --token
 * URI, --pin-file F (or fd:N; never the PIN itself), --pkcs11-module M. */
enum { CLI_OPT_TOKEN = 0x1000, CLI_OPT_PIN_FILE, CLI_OPT_PKCS11_MODULE };
#define CLI_TOKEN_OPTIONS \
	{ "token", required_argument, NULL, CLI_OPT_TOKEN }, \
	{ "pin-file", required_argument, NULL, CLI_OPT_PIN_FILE }, \
	{ "pkcs11-module", required_argument, NULL, CLI_OPT_PKCS11_MODULE }
#define CLI_TOKEN_HELP \
	"  --token URI            the key on a PKCS#11 token named by an RFC 7512 URI\n" \
	"                         (pkcs11:token=LABEL or serial=S; id= or object= picks\n" \
	"                         an existing key, else one is made there, never\n" \
	"                         extractable); module-path= in its query\n" \
	"  --pin-file F           the token's user PIN, read from file F or fd:N (else\n" \
	"                         the URI's pin-source); tried once, never retried\n" \
	"  --pkcs11-module M      the PKCS#11 module when the URI names none (default:\n" \
	"                         p11-kit's proxy module)\n"
struct ck_token_target;
/* 1 if getopt's c is a token option (its argument kept in o), else 0. */
int cli_token_opt(int c, const char *arg, struct ck_token_target *o);
struct ck_import_result;
/*
 * After an import: with a PIN (o->pin_file, or a pin-source in o->uri)
 * the certificates linked to token keys are written onto their tokens
 * (ck_tokens_write_imported) and that is said; without one, a line says
 * how to write them.  CLI_EXIT_OK, or cli_fail's code.
 */
int cli_import_to_tokens(struct cli *cli, struct ck_store *st, const struct ck_import_result *r,
			 const struct ck_token_target *o);

/* Each command: argv[0] is the command name; getopt state is reset by the caller. */
int cmd_account(struct cli *cli, int argc, char **argv);
int cmd_issue(struct cli *cli, int argc, char **argv);
int cmd_list(struct cli *cli, int argc, char **argv);
int cmd_show(struct cli *cli, int argc, char **argv);
int cmd_export(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_copy(struct cli *cli, int argc, char **argv);
int cmd_move(struct cli *cli, int argc, char **argv);
int cmd_rm(struct cli *cli, int argc, char **argv);
int cmd_request(struct cli *cli, int argc, char **argv);
int cmd_requests(struct cli *cli, int argc, char **argv);
int cmd_doctor(struct cli *cli, int argc, char **argv);
int cmd_token(struct cli *cli, int argc, char **argv);
int cmd_store(struct cli *cli, int argc, char **argv);
/* `certkeep store seal|rekey`: 1 and *rc set if argv[1] is one of these, else 0. */
int cmd_store_keys(struct cli *cli, int argc, char **argv, int *rc);
/* `certkeep store copy`: 1 and *rc set if argv[1] is "copy", else 0. */
int cmd_store_copy(struct cli *cli, int argc, char **argv, int *rc);
int cmd_revoke(struct cli *cli, int argc, char **argv);
int cmd_chain(struct cli *cli, int argc, char **argv);
int cmd_profiles(struct cli *cli, int argc, char **argv);
int cmd_renew(struct cli *cli, int argc, char **argv);
int cmd_bind(struct cli *cli, int argc, char **argv);
int cmd_unbind(struct cli *cli, int argc, char **argv);
int cmd_bindings(struct cli *cli, int argc, char **argv);
int cmd_deploy(struct cli *cli, int argc, char **argv);
int cmd_agent(struct cli *cli, int argc, char **argv);

struct ck_deploy_opts;
struct json_t;
/*
 * Deploys this node's bindings (behind_only: those that are behind) as
 * `certkeep deploy` does, printing each outcome: a line on stdout, or an
 * object appended to arr (may be NULL: no JSON) (cmd_deploy.c).  Returns
 * CLI_EXIT_OK when every one ended well, else CLI_EXIT_FAIL (the error
 * printed on stderr).
 */
int cli_deploy_node(struct cli *cli, struct ck_store *st, const struct ck_deploy_opts *o,
		    int behind_only, struct json_t *arr);
/*
 * Records this node's heartbeat in the store (cmd_agent.c): heartbeat_s
 * 0 for a one-off run, restart 1 when an agent starts, gen the store
 * generation it saw, deployed 1 if its bindings were all deployed at gen.
 * A failure is logged, not fatal (a heartbeat is bookkeeping): -1, else 0.
 */
int cli_node_beat(struct cli *cli, struct ck_store *st, unsigned heartbeat_s, int restart,
		   uint64_t gen, int deployed);

#endif
