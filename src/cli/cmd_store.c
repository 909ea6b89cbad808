/*
 * cmd_store.c - `certkeep store SUBCOMMAND`: operations on the store as a
 * whole.  This file only dispatches; each group of subcommands lives in
 * its own file (cmd_store_seal.c: seal, rekey; cmd_store_copy.c: copy).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void
store_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep store seal --key-file FILE\n"
		"       certkeep store rekey --new-key-file FILE   (current key: --store-key-file)\n"
		"       certkeep store copy --to LOCATION [--json]\n"
		"\n"
		"Operations on the store as a whole.\n"
		"\n"
		"  seal   seal every private key of a plain store with AES-256-GCM under\n"
		"         the node key in FILE (one transaction)\n"
		"  rekey  re-seal every private key under a new node key (one transaction)\n"
		"  copy   copy the whole store to an empty SQLite file or PostgreSQL\n"
		"         database (one transaction), then verify the copy\n"
		"\n"
		"'certkeep store SUBCOMMAND --help' describes each one.\n");
}

int
cmd_store(struct cli *cli, int argc, char **argv)
{
	int rc = CLI_EXIT_FAIL;

	if (argc < 2)
		return cli_usage_error("store", "a subcommand is required");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		store_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (cmd_store_keys(cli, argc, argv, &rc) || cmd_store_copy(cli, argc, argv, &rc))
		return rc;
	return cli_usage_error("store", "unknown subcommand '%s'", argv[1]);
}
