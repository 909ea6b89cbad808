/*
 * cmd_issue.c - `certkeep issue`: argv to struct ck_issue_params (and its
 * challenge settings), the new certificate's SHA-256 thumbprint to stdout.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <certkeep/tokens.h>

#include "cli/cli.h"
#include "flow/issue.h"

static void
issue_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep issue -d NAME[:TYPE] [-d NAME[:TYPE]]... [options]\n"
		"\n"
		"Obtains a certificate from an ACME server into the store and prints its\n"
		"SHA-256 thumbprint.  The certificate key is stored before the order is\n"
		"finalized; the certificate is stored linked to it.  The names are proven by\n"
		"a challenge (http-01 by default); the choice and its settings are recorded\n"
		"on the lineage, and a later issue without challenge options repeats them.\n"
		"Ctrl-C (or SIGTERM) stops it cleanly: challenge files, records and\n"
		"listeners are removed and the order is resumed by the next issue.\n"
		"\n"
		"options:\n"
		"  -d, --domain NAME      a DNS name, a wildcard (*.example.org, dns-01 only)\n"
		"                         or an IP address (repeat for more names); NAME:TYPE\n"
		"                         proves that name by TYPE instead of --challenge\n"
		"  --name LINEAGE         lineage name (default: the first name); issuing again\n"
		"                         for a lineage makes the new certificate current\n"
		"  --server URL           ACME directory URL (default: the store's default server)\n"
		"  --account NAME         account to use (default: the server's default account)\n"
		"  --key-type T           ec256 (default), ec384, rsa2048, rsa3072, rsa4096, ed25519\n"
		"  --profile NAME         ask for this ACME profile (see `certkeep profiles`),\n"
		"                         recorded on the lineage and asked for again by later\n"
		"                         issues without --profile; '' clears it.  One the server\n"
		"                         does not offer is refused before any order\n"
		"  --preferred-chain CN   select the chain leading to the issuer named CN (the\n"
		"                         root, e.g. \"ISRG Root X1\") among those the server\n"
		"                         offers; recorded on the lineage and used again by\n"
		"                         later issues without it; '' clears it.  When no chain\n"
		"                         matches, the default chain is used with a warning\n"
		CLI_TOKEN_HELP
		"                         --token is recorded on the lineage (URI, module, and\n"
		"                         --pin-file when it is a path, never fd:N or the PIN):\n"
		"                         later issues and `certkeep renew` without --token\n"
		"                         make the key on that token again; --token '' clears\n"
		"                         it (software keys again)\n"
		"  -h, --help             this text\n"
		"\n"
		"challenges (any of these records new settings on the lineage):\n"
		"  --challenge TYPE       http-01 (default), tls-alpn-01 or dns-01\n"
		"  --http-port N          port of the built-in http-01 listener (default 80)\n"
		"  --http-address A       address it listens on (default: every address)\n"
		"  --webroot DIR          http-01 by files: write DIR/.well-known/acme-challenge/\n"
		"                         TOKEN for the web server that serves DIR on port 80\n"
		"                         (no listener; the files are removed afterwards)\n"
		"  --tls-port N           port of the tls-alpn-01 listener (default 443)\n"
		"  --tls-address A        address it listens on (default: every address)\n"
		"  --dns-hook PROG        dns-01: run PROG add|del FQDN VALUE (no shell)\n"
		"  --dns-hook-timeout S   seconds PROG may take (default 120)\n"
		"  --dns-update S[:PORT]  dns-01: RFC 2136 dynamic update at this server\n"
		"  --tsig-file F          the TSIG key for --dns-update (BIND tsig-keygen format)\n"
		"  --dns-resolver A[:P]   check the TXT record there (default: the zone's\n"
		"                         authoritative servers)\n"
		"  --dns-wait S           seconds to wait for the record (default 120; 0: no check)\n");
}

/* Everything argv gives, owned where argv's strings are not used as they are. */
struct issue_args {
	struct ck_issue_params p;
	struct ck_challenge_settings cfg;
	const char **names;
	struct ck_challenge_override *ov;
	char **owned;                  /* names split off "NAME:TYPE" */
	size_t nnames, nowned;
	int challenge_given;           /* a challenge option was given */
	struct ck_token_target tok;    /* --token, --pin-file, --pkcs11-module */
};

/*
 * -d NAME or NAME:TYPE.  Only a suffix that is a challenge type splits, so
 * IPv6 literals ("::1", "2001:db8::1") stay whole.
 */
static int
issue_domain(struct issue_args *a, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	enum ck_challenge_type t;
	char *name;

	if (colon == NULL || ck_challenge_type_parse(colon + 1, &t, NULL) != CK_OK) {
		a->names[a->nnames++] = arg;
		return 0;
	}
	if (colon == arg || (name = strndup(arg, (size_t)(colon - arg))) == NULL)
		return -1;
	a->owned[a->nowned++] = name;
	a->names[a->nnames++] = name;
	a->ov[a->cfg.noverrides].name = name;
	a->ov[a->cfg.noverrides++].type = t;
	a->challenge_given = 1;
	return 0;
}

/*
 * A path recorded on the lineage must mean the same file to a renewal run
 * from another directory: a relative one becomes absolute (cwd + path,
 * without resolving links: the webroot's own link check must still see
 * them).  Bare program names (no '/') are left as given.
 */
static int
issue_abs_path(struct issue_args *a, const char **path, int always)
{
	char cwd[4096], *abs;

	if (*path == NULL || (*path)[0] == '/' || (!always && strchr(*path, '/') == NULL))
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    asprintf(&abs, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, *path) < 0)
		return -1;
	a->owned[a->nowned++] = abs;
	*path = abs;
	return 0;
}

enum {
	OPT_NAME = 256, OPT_SERVER, OPT_ACCOUNT, OPT_KEY_TYPE, OPT_HTTP_PORT, OPT_HTTP_ADDRESS,
	OPT_PROFILE, OPT_CHALLENGE, OPT_WEBROOT, OPT_TLS_PORT, OPT_TLS_ADDRESS, OPT_DNS_HOOK,
	OPT_DNS_HOOK_TIMEOUT, OPT_DNS_RESOLVER, OPT_DNS_WAIT, OPT_DNS_UPDATE, OPT_TSIG_FILE,
	OPT_PREFERRED_CHAIN,
};

static const struct option issue_opts[] = {
	{ "domain", required_argument, NULL, 'd' },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "account", required_argument, NULL, OPT_ACCOUNT },
	{ "key-type", required_argument, NULL, OPT_KEY_TYPE },
	{ "http-port", required_argument, NULL, OPT_HTTP_PORT },
	{ "http-address", required_argument, NULL, OPT_HTTP_ADDRESS },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "preferred-chain", required_argument, NULL, OPT_PREFERRED_CHAIN },
	{ "challenge", required_argument, NULL, OPT_CHALLENGE },
	{ "webroot", required_argument, NULL, OPT_WEBROOT },
	{ "tls-port", required_argument, NULL, OPT_TLS_PORT },
	{ "tls-address", required_argument, NULL, OPT_TLS_ADDRESS },
	{ "dns-hook", required_argument, NULL, OPT_DNS_HOOK },
	{ "dns-hook-timeout", required_argument, NULL, OPT_DNS_HOOK_TIMEOUT },
	{ "dns-resolver", required_argument, NULL, OPT_DNS_RESOLVER },
	{ "dns-wait", required_argument, NULL, OPT_DNS_WAIT },
	{ "dns-update", required_argument, NULL, OPT_DNS_UPDATE },
	{ "tsig-file", required_argument, NULL, OPT_TSIG_FILE },
	{ "help", no_argument, NULL, 'h' },
	CLI_TOKEN_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

/* One challenge option into a->cfg; 0, or -1 after a usage error (*ret set). */
static int
issue_challenge_opt(struct issue_args *a, int c, const char *arg, int *ret)
{
	struct ck_challenge_settings *s = &a->cfg;
	struct ck_err err;
	long v = 0;

	a->challenge_given = 1;
	switch (c) {
	case OPT_CHALLENGE:
		if (ck_challenge_type_parse(arg, &s->type, &err) != CK_OK)
			goto bad_msg;
		return 0;
	case OPT_HTTP_PORT:
	case OPT_TLS_PORT:
		if ((v = cli_number(arg, 1, 65535)) < 0)
			goto bad_port;
		*(c == OPT_HTTP_PORT ? &s->http_port : &s->tls_port) = (unsigned)v;
		return 0;
	case OPT_DNS_HOOK_TIMEOUT:
		if ((v = cli_number(arg, 1, CHALL_SECONDS_MAX)) < 0)
			goto bad_seconds;
		s->dns_hook_timeout = (unsigned)v;
		return 0;
	case OPT_DNS_WAIT:
		if ((v = cli_number(arg, 0, CHALL_SECONDS_MAX)) < 0)
			goto bad_seconds;
		s->dns_wait = (int)v;
		return 0;
	case OPT_HTTP_ADDRESS: s->http_address = arg; return 0;
	case OPT_WEBROOT: s->webroot = arg; return 0;
	case OPT_TLS_ADDRESS: s->tls_address = arg; return 0;
	case OPT_DNS_HOOK: s->dns_hook = arg; return 0;
	case OPT_DNS_RESOLVER: s->dns_resolver = arg; return 0;
	case OPT_DNS_UPDATE: s->dns_update = arg; return 0;
	case OPT_TSIG_FILE: s->tsig_file = arg; return 0;
	default: break;
	}
	*ret = cli_usage_error("issue", "unknown option");
	return -1;
bad_msg:
	*ret = cli_usage_error("issue", "%s", err.msg);
	return -1;
bad_port:
	*ret = cli_usage_error("issue", "a port is 1-65535, not '%s'", arg);
	return -1;
bad_seconds:
	*ret = cli_usage_error("issue", "seconds are 0-%d (a timeout at least 1), not '%s'",
			       CHALL_SECONDS_MAX, arg);
	return -1;
}

/* argv into a; 0, 1 after --help, or -1 after a usage error (*ret set). */
static int
issue_parse(struct issue_args *a, int argc, char **argv, int *ret)
{
	struct ck_err err;
	int c;

	while ((c = getopt_long(argc, argv, "d:h", issue_opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (issue_domain(a, optarg) != 0) {
				*ret = cli_usage_error("issue", "-d '%s' names no name", optarg);
				return -1;
			}
			break;
		case OPT_NAME: a->p.lineage = optarg; break;
		case OPT_SERVER: a->p.server = optarg; break;
		case OPT_ACCOUNT: a->p.account = optarg; break;
		case OPT_PROFILE: a->p.profile = optarg; break;
		case OPT_PREFERRED_CHAIN: a->p.preferred_chain = optarg; break;
		case OPT_KEY_TYPE:
			if (ck_key_type_parse(optarg, &a->p.key_type, &err) != CK_OK) {
				*ret = cli_usage_error("issue", "%s", err.msg);
				return -1;
			}
			break;
		case 'h':
			issue_usage(stdout);
			*ret = CLI_EXIT_OK;
			return 1;
		default:
			if (cli_token_opt(c, optarg, &a->tok))
				break;
			if (c < OPT_HTTP_PORT || c > OPT_PREFERRED_CHAIN ||
			    issue_challenge_opt(a, c, optarg, ret) != 0) {
				if (c < OPT_HTTP_PORT || c > OPT_PREFERRED_CHAIN)
					*ret = cli_usage_error("issue", "unknown option");
				return -1;
			}
			break;
		}
	}
	if (optind < argc) {
		*ret = cli_usage_error("issue", "unexpected argument '%s' (names go after -d)",
				       argv[optind]);
		return -1;
	}
	if (a->nnames == 0) {
		*ret = cli_usage_error("issue", "give at least one name with -d NAME");
		return -1;
	}
	return 0;
}

int
cmd_issue(struct cli *cli, int argc, char **argv)
{
	struct issue_args a;
	struct ck_issue_result res;
	struct ck_store *st = NULL;
	struct ck_err err;
	size_t i;
	int ret = CLI_EXIT_FAIL;

	memset(&a, 0, sizeof(a));
	ck_err_clear(&err);
	a.cfg.dns_wait = -1;
	a.names = calloc((size_t)argc + 1, sizeof(*a.names));
	a.ov = calloc((size_t)argc + 1, sizeof(*a.ov));
	a.owned = calloc((size_t)argc + 4, sizeof(*a.owned)); /* + the 3 absolute paths */
	if (a.names == NULL || a.ov == NULL || a.owned == NULL)
		goto out;
	if (issue_parse(&a, argc, argv, &ret) != 0)
		goto out;
	a.p.names = a.names;
	a.p.nnames = a.nnames;
	a.p.ca_bundle = cli->ca_bundle;
	a.p.token_uri = a.tok.uri;
	a.p.pkcs11_module = a.tok.module;
	a.p.pin_file = a.tok.pin_file;
	a.cfg.overrides = a.ov;
	/* Options given: those settings, recorded.  None: the lineage's record. */
	a.p.challenge = a.challenge_given ? &a.cfg : NULL;
	if (issue_abs_path(&a, &a.cfg.webroot, 1) != 0 ||
	    issue_abs_path(&a, &a.cfg.tsig_file, 1) != 0 ||
	    issue_abs_path(&a, &a.cfg.dns_hook, 0) != 0) {
		ret = cli_usage_error("issue", "cannot make a relative path absolute (getcwd failed)");
		goto out;
	}
	a.p.http_port = a.cfg.http_port;
	a.p.http_address = a.cfg.http_address;
	if (ck_issue_check_names(a.p.names, a.p.nnames, &err) != CK_OK ||
	    (a.p.challenge != NULL &&
	     ck_issue_check_challenge(a.p.names, a.p.nnames, a.p.challenge, &err) != CK_OK)) {
		ret = cli_usage_error("issue", "%s", err.msg);
		goto out;
	}
	if (cli_store_open_create(cli, &st, &err) != 0) {
		ret = cli_fail(cli, &err);
		goto out;
	}
	cli_cancel_on_signal(cli);
	if (ck_issue(&cli->ctx, st, &a.p, &res, &err) != CK_OK) {
		ret = cli_fail(cli, &err);
		goto out;
	}
	printf("%s\n", res.sha256);
	ret = CLI_EXIT_OK;
out:
	ck_store_close(st);
	for (i = 0; a.owned != NULL && i < a.nowned; i++)
		free(a.owned[i]);
	free(a.owned);
	free(a.ov);
	free(a.names);
	return ret;
}
