/*
 * main.c - global options, the command table, and dispatch.  Owns the
 * one struct cli of the process; decides nothing about certificates.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <certkeep/version.h>

#include "cli/cli.h"
#include "store/store.h"

struct cli_cmd {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
};

static const struct cli_cmd commands[] = {
	{ "account", cmd_account, "register, show, update, recover, roll over or deactivate ACME accounts" },
	{ "issue", cmd_issue, "obtain a certificate from an ACME server into the store" },
	{ "renew", cmd_renew, "renew the lineages that are due (ARI, lifetime), politely" },
	{ "list", cmd_list, "list the certificates in the store" },
	{ "show", cmd_show, "everything about one certificate" },
	{ "export", cmd_export, "write a certificate with its key and chain to files" },
	{ "chain", cmd_chain, "list a certificate's chains and select the one export uses" },
	{ "import", cmd_import, "import certificates and keys (PEM, DER, PKCS#12)" },
	{ "copy", cmd_copy, "copy a certificate with its key to another store" },
	{ "move", cmd_move, "move a certificate with its key to another store" },
	{ "rm", cmd_rm, "remove a certificate that no binding uses" },
	{ "revoke", cmd_revoke, "revoke a certificate with its ACME server and record it" },
	{ "request", cmd_request, "make a key and CSR for a CA outside ACME" },
	{ "requests", cmd_requests, "list pending requests" },
	{ "doctor", cmd_doctor, "check every invariant of the store and explain findings" },
	{ "token", cmd_token, "configure PKCS#11 tokens whose keys imports link to" },
	{ "profiles", cmd_profiles, "list the ACME profiles a server offers" },
	{ "bind", cmd_bind, "bind a lineage or certificate to a deploy target, checked first" },
	{ "unbind", cmd_unbind, "remove a binding (its deployed files stay)" },
	{ "bindings", cmd_bindings, "list bindings and what each last deployed" },
	{ "deploy", cmd_deploy, "deploy bindings: check, swap atomically, reload, verify, roll back" },
	{ "store", cmd_store, "seal the store's private keys, or re-seal them under a new key" },
	{ "agent", cmd_agent, "run as a fleet node: deploy what changed, renew, heart-beat" },
};

static void
usage(FILE *fp)
{
	size_t i;

	fprintf(fp,
		"usage: certkeep [--store PATH] [--store-key-file FILE] [--ca-bundle FILE]\n"
		"                [--node NAME] [-v|-q] COMMAND [ARGS]\n"
		"\n"
		"certkeep obtains certificates from ACME servers, keeps each certificate\n"
		"together with its private key, and explains any inconsistency it finds.\n"
		"\n"
		"global options:\n"
		"  --store PATH      the store (default $CERTKEEP_STORE, else\n"
		"                    /var/lib/certkeep/store.db as root, else\n"
		"                    $XDG_DATA_HOME/certkeep/store.db); only commands\n"
		"                    that store something create it.  A PostgreSQL\n"
		"                    store: postgresql://USER@HOST:PORT/DB, postgres://...\n"
		"                    or a libpq keyword string (host=... dbname=...);\n"
		"                    the password from ~/.pgpass, PGPASSFILE or a\n"
		"                    service file, never on the command line\n"
		"                    ($CERTKEEP_STORE_TIMEOUT: seconds a statement waits\n"
		"                    for the server, default 30)\n"
		"  --store-key-file FILE  the node key (0600, yours) that seals the store's\n"
		"                    private keys (default $CERTKEEP_STORE_KEY_FILE, else the\n"
		"                    systemd credential $CREDENTIALS_DIRECTORY/certkeep-store-key);\n"
		"                    a new store given one is sealed; see 'certkeep store'\n"
		"  --ca-bundle FILE  trust this CA bundle for the ACME server's TLS, and\n"
		"                    for bind/deploy's chain check and handshake\n"
		"                    (default $CERTKEEP_CA_BUNDLE, else the system store)\n"
		"  --node NAME       this machine's name in a fleet sharing one store: the\n"
		"                    bindings it deploys, its leases and heartbeats carry it\n"
		"                    (default $CERTKEEP_NODE, else the host name up to its\n"
		"                    first dot); 1-63 of [A-Za-z0-9._-]\n"
		"  -v, --verbose     more detail on stderr\n"
		"  -q, --quiet       only errors on stderr\n"
		"  -h, --help        this text;  --version  the version\n"
		"\n"
		"commands:\n");
	for (i = 0; i < CK_ARRAY_LEN(commands); i++)
		fprintf(fp, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(fp, "\n'certkeep COMMAND --help' describes a command.  See certkeep(1).\n");
}

static void
default_store_path(struct cli *cli)
{
	const char *env = getenv("CERTKEEP_STORE");
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");

	if (env != NULL && env[0] != '\0')
		snprintf(cli->default_store, sizeof(cli->default_store), "%s", env);
	else if (geteuid() == 0)
		snprintf(cli->default_store, sizeof(cli->default_store),
			 "/var/lib/certkeep/store.db");
	else if (xdg != NULL && xdg[0] == '/')
		snprintf(cli->default_store, sizeof(cli->default_store),
			 "%s/certkeep/store.db", xdg);
	else
		snprintf(cli->default_store, sizeof(cli->default_store),
			 "%s/.local/share/certkeep/store.db", home ? home : ".");
	cli->store_path = cli->default_store;
}

long
cli_number(const char *text, long lo, long hi)
{
	char *end;
	long v = strtol(text, &end, 10);

	return *text == '\0' || *end != '\0' || v < lo || v > hi ? -1 : v;
}

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "certkeep %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'certkeep %s --help'.\n", cmd);
	return CLI_EXIT_USAGE;
}

int
cli_fail(struct cli *cli, const struct ck_err *err)
{
	(void)cli;
	if (err->code == CK_ERR_ACME && err->problem_type[0] != '\0' &&
	    strstr(err->msg, err->problem_detail) == NULL)
		fprintf(stderr, "certkeep: %s (%s: %s)\n", err->msg, ck_err_problem_short(err),
			err->problem_detail);
	else
		fprintf(stderr, "certkeep: %s\n", err->msg);
	if (err->subproblems[0] != '\0')
		fprintf(stderr, "certkeep: subproblems: %s\n", err->subproblems);
	return CLI_EXIT_FAIL;
}

/* The node key file when no --store-key-file is given: $CERTKEEP_STORE_KEY_FILE,
 * else systemd's credential certkeep-store-key if the service was given one. */
static void
default_store_key(struct cli *cli)
{
	const char *env = getenv("CERTKEEP_STORE_KEY_FILE"), *dir;
	int n;

	if (env != NULL && env[0] != '\0') {
		cli->store_key_file = env;
		return;
	}
	dir = getenv("CREDENTIALS_DIRECTORY");
	if (dir == NULL || dir[0] == '\0')
		return;
	n = snprintf(cli->store_key_cred, sizeof(cli->store_key_cred), "%s/certkeep-store-key",
		     dir);
	if (n > 0 && (size_t)n < sizeof(cli->store_key_cred) &&
	    access(cli->store_key_cred, F_OK) == 0)
		cli->store_key_file = cli->store_key_cred;
}

static volatile sig_atomic_t cli_cancel_flag;
/* A pipe the handler writes a byte to: waits sleep on its read end
 * (ck_ctx_set_cancel_fd) and end at once on a cancel. */
static int cli_cancel_pipe[2] = { -1, -1 };

static void
cli_on_signal(int sig)
{
	struct sigaction dfl;
	int saved = errno;

	cli_cancel_flag = 1;
	if (cli_cancel_pipe[1] >= 0)
		(void)!write(cli_cancel_pipe[1], "x", 1);
	errno = saved;
	/* The next one takes the default action: a user who presses Ctrl-C
	 * twice gets the process ended at once. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	(void)sigaction(sig, &dfl, NULL);
}

void
cli_cancel_on_signal(struct cli *cli)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cli_on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking poll or sleep returns EINTR and sees the flag. */
	/* Without the pipe (no descriptors left), waits wake every 100 ms. */
	if (cli_cancel_pipe[0] < 0 && pipe2(cli_cancel_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		cli_cancel_pipe[0] = cli_cancel_pipe[1] = -1;
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	ck_ctx_set_cancel(&cli->ctx, &cli_cancel_flag);
	ck_ctx_set_cancel_fd(&cli->ctx, cli_cancel_pipe[0]);
}

int
cli_store_key(struct ck_store *st, const char *key_file, struct ck_err *err)
{
	if (key_file == NULL || ck_store_seal_key_use(st, key_file, err) == CK_OK)
		return 0;
	return -1;
}

/* Opens as cli_store_open(_create) asks, then gives the store its node key. */
static int
store_open_keyed(struct cli *cli, unsigned flags, struct ck_store **out, struct ck_err *err)
{
	struct ck_store *st = NULL;

	if (ck_store_open_ex(cli->store_path, &cli->ctx, flags, &st, err) != CK_OK)
		return -1;
	if (cli_store_key(st, cli->store_key_file, err) != 0) {
		ck_store_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

int
cli_store_open(struct cli *cli, struct ck_store **out, struct ck_err *err)
{
	char where[512];

	if (store_open_keyed(cli, 0, out, err) == 0)
		return 0;
	ck_store_location_redact(cli->store_path, where, sizeof(where));
	if (err->code == CK_ERR_NOT_FOUND)
		ck_err_set(err, CK_ERR_NOT_FOUND, __func__,
			   "no store at %s; nothing was created: check --store (or "
			   "$CERTKEEP_STORE), or start a store with 'certkeep account register', "
			   "'certkeep import' or 'certkeep issue'", where);
	return -1;
}

int
cli_store_open_create(struct cli *cli, struct ck_store **out, struct ck_err *err)
{
	return store_open_keyed(cli, CK_STORE_CREATE, out, err);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "store-key-file", required_argument, NULL, 'K' },
		{ "ca-bundle", required_argument, NULL, 'c' },
		{ "node", required_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli;
	struct ck_err err;
	const char *env, *node = NULL;
	size_t i;
	int c;

	/* First, while the process has one thread: the malloc policy, then
	 * libcurl's and OpenSSL's global set-up. */
	(void)cli_malloc_policy();
	if (ck_global_init() != CK_OK) {
		fprintf(stderr, "certkeep: cannot initialise libcurl or OpenSSL\n");
		return CLI_EXIT_FAIL;
	}
	atexit(ck_global_cleanup);
	memset(&cli, 0, sizeof(cli));
	ck_ctx_init(&cli.ctx);
	cli.prog = "certkeep";
	default_store_path(&cli);
	env = getenv("CERTKEEP_CA_BUNDLE");
	if (env != NULL && env[0] != '\0')
		cli.ca_bundle = env;
	default_store_key(&cli);
	env = getenv("CERTKEEP_NODE");
	if (env != NULL && env[0] != '\0')
		node = env;

	/* '+': stop at the first non-option so each command parses its own. */
	while ((c = getopt_long(argc, argv, "+vqh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			cli.store_path = optarg;
			break;
		case 'c':
			cli.ca_bundle = optarg;
			break;
		case 'K':
			cli.store_key_file = optarg;
			break;
		case 'N':
			node = optarg;
			break;
		case 'v':
			cli.ctx.log.level = CK_LOG_DEBUG;
			break;
		case 'q':
			cli.ctx.log.level = CK_LOG_ERROR;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("certkeep %s\n", CERTKEEP_VERSION);
			return CLI_EXIT_OK;
		default:
			usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	ck_err_clear(&err);
	if (node != NULL && ck_ctx_set_node(&cli.ctx, node, &err) != CK_OK) {
		fprintf(stderr, "certkeep: --node '%s' (or $CERTKEEP_NODE): %s\n", node, err.msg);
		return CLI_EXIT_USAGE;
	}
	for (i = 0; i < CK_ARRAY_LEN(commands); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;
			optind = 0; /* glibc: full reset for the command's own getopt */
			return commands[i].run(&cli, sub_argc, sub_argv);
		}
	}
	fprintf(stderr, "certkeep: unknown command '%s'\nTry 'certkeep --help'.\n", argv[optind]);
	return CLI_EXIT_USAGE;
}
