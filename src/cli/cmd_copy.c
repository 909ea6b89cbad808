/*
 * cmd_copy.c - `certkeep copy REF --to STORE [--no-key]` and `certkeep
 * move REF --to STORE [--no-key]`: opens both stores and hands over to
 * ck_store_cert_copy / ck_store_cert_move, which carry the key or refuse.
 * Prints what travelled.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "flow/tokens.h"
#include "store/store.h"

static void
copy_usage(FILE *fp, const char *cmd)
{
	int move = strcmp(cmd, "move") == 0;

	fprintf(fp,
		"usage: certkeep %s REF --to STORE_PATH [--to-key-file FILE] [--no-key]\n"
		"\n"
		"%s a certificate to another store with its private key, chain and lineage\n"
		"(bindings stay: they describe this machine's targets).  A certificate with\n"
		"no key here is refused unless --no-key: a certificate moved without its key\n"
		"is what makes IIS lose SSL after a reboot.%s\n"
		"\n"
		"REF is a lineage name, a SHA-256 thumbprint (full or a unique prefix of at\n"
		"least 8 hex digits) or a SHA-1 thumbprint in any form Windows shows.\n"
		"\n"
		"options:\n"
		"  --to STORE_PATH  the destination store (created if absent)\n"
		"  --to-key-file FILE  the destination's node key if its keys are sealed\n"
		"                   (default: --store-key-file); the key is re-sealed under\n"
		"                   it, or written unsealed to a store that is not sealed\n"
		"  --no-key         %s the certificate even if it has no key here\n"
		"  -h, --help       this text\n",
		cmd, move ? "Moves" : "Copies",
		move ? "\nThe source copy is removed only after the destination has committed;\n"
		       "a certificate a binding uses is not moved, nor one whose key is on a\n"
		       "PKCS#11 token this machine cannot reach." : "",
		move ? "move" : "copy");
}

static int
copy_run(struct cli *cli, int argc, char **argv, int move)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "no-key", no_argument, NULL, 'k' },
		{ "to-key-file", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = move ? "move" : "copy", *to = NULL, *to_key = NULL;
	struct ck_store *src = NULL, *dst = NULL;
	struct ck_copy_result res;
	struct ck_err err;
	unsigned flags = 0;
	int64_t id = 0;
	enum ck_code rc;
	char where[512];
	int c;

	ck_err_clear(&err);
	memset(&res, 0, sizeof(res));
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			to = optarg;
			break;
		case 'k':
			flags |= CK_STORE_COPY_NO_KEY;
			break;
		case 'K':
			to_key = optarg;
			break;
		case 'h':
			copy_usage(stdout, cmd);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error(cmd, "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "a REF is required");
	if (optind != argc - 1)
		return cli_usage_error(cmd, "exactly one REF, please");
	if (to == NULL || to[0] == '\0')
		return cli_usage_error(cmd, "--to STORE_PATH is required");
	if (cli_store_open(cli, &src, &err) != 0 ||
	    ck_store_ref_resolve(src, argv[optind], &id, &err) != CK_OK ||
	    (move && ck_tokens_move_check(src, id, NULL, &err) != CK_OK) ||
	    ck_store_open(to, &cli->ctx, &dst, &err) != CK_OK ||
	    cli_store_key(dst, to_key != NULL ? to_key : ck_store_is_sealed(dst) ?
			  cli->store_key_file : NULL, &err) != 0) {
		rc = CK_ERR_INTERNAL;
		goto out;
	}
	rc = move ? ck_store_cert_move(src, id, dst, flags, &res, &err)
		  : ck_store_cert_copy(src, id, dst, flags, &res, &err);
	if (rc != CK_OK)
		goto out;
	ck_store_location_redact(to, where, sizeof(where));
	if (res.already_present)
		printf("%s: the destination already had this certificate%s\n", argv[optind],
		       move ? "; removed it from this store" : "; nothing changed");
	else
		printf("%s: %s to %s %s\n", argv[optind], move ? "moved" : "copied", where,
		       res.dst_key_id == 0 ? "WITHOUT its private key (--no-key)"
		       : res.key_is_token ? "with its key reference (the key stays on its token)"
					   : !ck_store_is_sealed(src) ? "with its private key"
					   : ck_store_is_sealed(dst)
						   ? "with its private key, re-sealed under the "
						     "destination's store key"
						   : "with its private key, written UNSEALED (the "
						     "destination store is not sealed)");
out:
	ck_store_close(dst);
	ck_store_close(src);
	return rc == CK_OK ? CLI_EXIT_OK : cli_fail(cli, &err);
}

int
cmd_copy(struct cli *cli, int argc, char **argv)
{
	return copy_run(cli, argc, argv, 0);
}

int
cmd_move(struct cli *cli, int argc, char **argv)
{
	return copy_run(cli, argc, argv, 1);
}
