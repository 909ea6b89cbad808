/*
 * cmd_bind.c - `certkeep bind`, `certkeep unbind`, `certkeep bindings`:
 * parse argv, call ck_bind / ck_store_binding_remove /
 * ck_store_binding_list once, print.  Decides nothing.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <certkeep/deploy.h>

#include "cli/cli.h"
#include "cli/print.h"
#include "store/store.h"

static void
bind_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep bind NAME (--lineage L | --cert REF) --target SPEC\n"
		"                     [--reload CMD] [--verify HOST:PORT[,sni=NAME]] [--node N]\n"
		"                     [--json]\n"
		"\n"
		"Creates or updates the binding NAME: where a certificate is deployed.  A\n"
		"binding follows a lineage (each renewal is redeployed by 'certkeep deploy')\n"
		"or pins one certificate by thumbprint.  Before anything is stored, the\n"
		"checks a deploy runs must pass, in order: the reference resolves; the\n"
		"certificate is linked to a key that matches it; its chain verifies to a\n"
		"trusted root (the system store, or --ca-bundle) and is in order; it is\n"
		"valid now; it is not revoked; it covers the --verify name.  Then the\n"
		"target's own checks (its directory, its configuration file).  A refusal\n"
		"names the check and the fix; nothing is stored or written.\n"
		"\n"
		"targets (absolute paths):\n"
		"  pem:DIR                 cert.pem, chain.pem, fullchain.pem, privkey.pem (0600)\n"
		"                          in DIR, as links through DIR/live -> gen-N\n"
		"  nginx:DIR[,conf=FILE]   the PEM set, then nginx -t -c FILE and\n"
		"                          nginx -s reload -c FILE (FILE: /etc/nginx/nginx.conf)\n"
		"  apache:DIR[,conf=FILE]  the PEM set, then apachectl -t -f FILE and\n"
		"                          apachectl -f FILE -k graceful\n"
		"                          (FILE: /etc/apache2/apache2.conf)\n"
		"  haproxy:FILE[,socket=PATH], pkcs12:FILE[,compat=legacy][,password-file=F],\n"
		"  exec:PROG               see certkeep(1)\n"
		"A key on a PKCS#11 token is served by nginx: only (no privkey.pem; an\n"
		"openssl.cnf for OpenSSL's pkcs11 engine and an nginx-ssl.conf to include:\n"
		"docs/targets.md); the other kinds refuse it.\n"
		"\n"
		"options:\n"
		"  --lineage L       follow lineage L's current certificate\n"
		"  --cert REF        pin one certificate (thumbprint, prefix, or a lineage's\n"
		"                    current one at bind time)\n"
		"  --target SPEC     where to deploy (above)\n"
		"  --reload CMD      run CMD instead of the target's reload; CMD is split on\n"
		"                    blanks into a program and its arguments and run without a\n"
		"                    shell (no quotes, no variables, no pipes)\n"
		"  --verify HOST:PORT[,sni=NAME]  after each reload, connect there with SNI\n"
		"                    NAME (default HOST), verify the chain and check that the\n"
		"                    served leaf is the deployed one; else roll back\n"
		"  --node N          the fleet node that deploys it (default: this node, the\n"
		"                    global --node or the host name); deploy and renew on\n"
		"                    other nodes never touch it.  Another node's target is\n"
		"                    on its machine: its own checks run at its deploy there\n"
		"  --json            print the binding as JSON\n"
		"  -h, --help        this text\n");
}

/* The JSON object of one binding (the `bindings --json` contract). */
static json_t *
binding_json(const struct ck_binding *b)
{
	return json_pack("{s:s, s:s?, s:s?, s:s, s:s?, s:s?, s:s?, s:s?, s:o, s:s?, s:s?, s:o, "
			 "s:s?}",
			 "name", b->name, "lineage", b->lineage,
			 "pinned_sha256", b->pinned_sha256[0] ? b->pinned_sha256 : NULL,
			 "target", b->target, "reload", b->reload, "verify", b->verify,
			 "deployed_sha256", b->last_sha256[0] ? b->last_sha256 : NULL,
			 "state", b->state, "deployed_at", print_json_time(b->deployed_at),
			 "result", b->result, "generation", b->generation,
			 "pending_sha256", b->pending_sha256[0] ? json_string(b->pending_sha256)
								 : json_null(),
			 "node", b->node);
}

static void
binding_human(const struct ck_binding *b)
{
	char when[21] = "";

	if (b->deployed_at)
		ck_time_rfc3339(b->deployed_at, when);
	printf("%s\n  follows   %s%s\n  target    %s\n", b->name,
	       b->lineage ? "lineage " : "certificate ", b->lineage ? b->lineage : b->pinned_sha256,
	       b->target);
	printf("  node      %s\n", b->node ? b->node : "any (made before nodes existed)");
	if (b->reload)
		printf("  reload    %s (no shell)\n", b->reload);
	if (b->verify)
		printf("  verify    %s\n", b->verify);
	if (b->last_sha256[0])
		printf("  deployed  %s at %s (%s)\n", b->last_sha256, when,
		       b->state ? b->state : "new");
	else
		printf("  deployed  nothing yet (%s)\n", b->state ? b->state : "new");
	if (b->pending_sha256[0])
		printf("  PENDING   a deploy of %s was interrupted: run 'certkeep deploy %s'\n",
		       b->pending_sha256, b->name);
	if (b->result)
		printf("  result    %s\n", b->result);
}

int
cmd_bind(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lineage", required_argument, NULL, 'l' },
		{ "cert", required_argument, NULL, 'c' },
		{ "target", required_argument, NULL, 't' },
		{ "reload", required_argument, NULL, 'r' },
		{ "verify", required_argument, NULL, 'v' },
		{ "node", required_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ck_bind_opts o;
	struct ck_binding b;
	struct ck_store *st = NULL;
	struct ck_err err;
	int c, json = 0, rc;

	ck_err_clear(&err);
	memset(&o, 0, sizeof(o));
	memset(&b, 0, sizeof(b));
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': o.lineage = optarg; break;
		case 'c': o.cert_ref = optarg; break;
		case 't': o.target = optarg; break;
		case 'r': o.reload = optarg; break;
		case 'v': o.verify = optarg; break;
		case 'N': o.node = optarg; break;
		case 'j': json = 1; break;
		case 'h':
			bind_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("bind", "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("bind", "exactly one binding NAME, please");
	if ((o.lineage == NULL) == (o.cert_ref == NULL))
		return cli_usage_error("bind", "give --lineage L or --cert REF (one of them)");
	if (o.target == NULL)
		return cli_usage_error("bind", "--target SPEC is required");
	o.name = argv[optind];
	o.ca_bundle = cli->ca_bundle;
	if (cli_store_open(cli, &st, &err) != 0 || ck_bind(&cli->ctx, st, &o, &b, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
	} else if (json) {
		rc = print_json_out(binding_json(&b));
	} else {
		printf("bound (checks passed; run 'certkeep deploy %s' to deploy):\n", b.name);
		binding_human(&b);
		rc = CLI_EXIT_OK;
	}
	ck_binding_cleanup(&b);
	ck_store_close(st);
	return rc;
}

int
cmd_unbind(struct cli *cli, int argc, char **argv)
{
	struct ck_store *st = NULL;
	struct ck_err err;
	int rc;

	ck_err_clear(&err);
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: certkeep unbind NAME\n\nRemoves the binding NAME from the store.  "
		       "The deployed files stay where\nthey are (the server keeps serving them); "
		       "the certificate may then be removed.\n");
		return CLI_EXIT_OK;
	}
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage_error("unbind", "exactly one binding NAME, please");
	if (cli_store_open(cli, &st, &err) != 0 ||
	    ck_store_binding_remove(st, argv[1], &err) != CK_OK) {
		rc = cli_fail(cli, &err);
	} else {
		printf("removed binding %s (its deployed files were left in place)\n", argv[1]);
		rc = CLI_EXIT_OK;
	}
	ck_store_close(st);
	return rc;
}

int
cmd_bindings(struct cli *cli, int argc, char **argv)
{
	struct ck_binding_list l = { 0 };
	struct ck_store *st = NULL;
	struct ck_err err;
	json_t *arr = NULL;
	int json = 0, rc = CLI_EXIT_OK;
	size_t i;

	ck_err_clear(&err);
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: certkeep bindings [--json]\n\nLists the bindings: what each follows, "
		       "its target, the node that deploys it,\nwhat was last deployed, when, the "
		       "result, and any deploy that was\ninterrupted.  --json: \"node\" is null "
		       "for a binding any node deploys.\n");
		return CLI_EXIT_OK;
	}
	if (argc == 2 && strcmp(argv[1], "--json") == 0)
		json = 1;
	else if (argc != 1)
		return cli_usage_error("bindings", "only --json is accepted");
	if (cli_store_open(cli, &st, &err) != 0 || ck_store_binding_list(st, &l, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	if (json) {
		arr = json_array();
		for (i = 0; arr != NULL && i < l.n; i++)
			if (json_array_append_new(arr, binding_json(&l.items[i])) != 0) {
				json_decref(arr);
				arr = NULL;
			}
		rc = print_json_out(arr);
		goto out;
	}
	if (l.n == 0)
		printf("no bindings; 'certkeep bind --help' says how to make one\n");
	for (i = 0; i < l.n; i++)
		binding_human(&l.items[i]);
out:
	ck_binding_list_cleanup(&l);
	ck_store_close(st);
	return rc;
}
