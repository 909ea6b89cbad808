/*
 * cmd_store_seal.c - `certkeep store seal --key-file F` and `certkeep
 * store rekey --new-key-file F`: private keys at rest sealed under a node
 * key (see ck_store_seal, ck_store_rekey).  Parses argv, calls the store,
 * prints.
 *
 * Must never: print or log a key file's contents.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"

static void
seal_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep store seal --key-file FILE\n"
		"\n"
		"Seals every private key of a plain store with AES-256-GCM under the node\n"
		"key in FILE, all in one transaction: a crash leaves every key plain or\n"
		"every key sealed.  Afterwards a dump of the store reveals no private key;\n"
		"commands that use a private key need --store-key-file FILE (or\n"
		"$CERTKEEP_STORE_KEY_FILE, or the systemd credential certkeep-store-key);\n"
		"listing, showing and exporting certificates without keys do not.\n"
		"FILE holds 32 random bytes or 64 hex digits ('openssl rand -hex 32'),\n"
		"is owned by you and has mode 0600 (or 0400); anything else is refused.\n"
		"\n"
		"options:\n"
		"  --key-file FILE  the node key\n"
		"  -h, --help       this text\n");
}

static void
rekey_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep --store-key-file CURRENT store rekey --new-key-file FILE\n"
		"\n"
		"Re-seals every private key of a sealed store, opened with its current\n"
		"key (--store-key-file), under the node key in FILE, all in one\n"
		"transaction: a crash leaves every key readable with exactly one of the\n"
		"two key files.  Afterwards only FILE opens the store's keys.\n"
		"\n"
		"options:\n"
		"  --new-key-file FILE  the new node key (same format and mode as --key-file)\n"
		"  -h, --help           this text\n");
}

/* Parses `store seal|rekey` options: the key file (--key-file or --new-key-file). */
static int
seal_args(int argc, char **argv, int rekey, const char **file)
{
	static const struct option seal_opts[] = {
		{ "key-file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct option rekey_opts[] = {
		{ "new-key-file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = rekey ? "store rekey" : "store seal";
	int c;

	while ((c = getopt_long(argc, argv, "h", rekey ? rekey_opts : seal_opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			*file = optarg;
			break;
		case 'h':
			if (rekey)
				rekey_usage(stdout);
			else
				seal_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error(cmd, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (*file == NULL || (*file)[0] == '\0')
		return cli_usage_error(cmd, rekey ? "--new-key-file FILE is required"
					     : "--key-file FILE is required");
	return -1;
}

int
cmd_store_keys(struct cli *cli, int argc, char **argv, int *rc)
{
	struct ck_store *st = NULL;
	const char *file = NULL, *keep_key;
	struct ck_err err;
	char where[512];
	int rekey, r;

	if (strcmp(argv[1], "seal") != 0 && strcmp(argv[1], "rekey") != 0)
		return 0;
	rekey = strcmp(argv[1], "rekey") == 0;
	optind = 0; /* glibc: full reset for the subcommand's getopt */
	if ((r = seal_args(argc - 1, argv + 1, rekey, &file)) >= 0) {
		*rc = r;
		return 1;
	}
	ck_err_clear(&err);
	/* seal opens the plain store without a key: the one it is given is new. */
	keep_key = cli->store_key_file;
	if (!rekey)
		cli->store_key_file = NULL;
	r = cli_store_open(cli, &st, &err);
	cli->store_key_file = keep_key;
	if (r != 0 || (rekey ? ck_store_rekey(st, file, &err) : ck_store_seal(st, file, &err))
			      != CK_OK) {
		ck_store_close(st);
		*rc = cli_fail(cli, &err);
		return 1;
	}
	ck_store_close(st);
	ck_store_location_redact(cli->store_path, where, sizeof(where));
	printf(rekey ? "every private key in %s is now sealed under %s\n"
		     : "every private key in %s is now sealed under %s; use "
		       "--store-key-file with it\n", where, file);
	*rc = CLI_EXIT_OK;
	return 1;
}
