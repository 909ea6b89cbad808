/*
 * cmd_profiles.c - `certkeep profiles [--server URL] [--json]`: the ACME
 * profiles a server offers (meta.profiles), name and description.  Reads
 * the directory only: no account, and never creates a store.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/print.h"
#include "flow/issue.h"
#include "store/store.h"

static void
profiles_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep profiles [--server URL] [--json]\n"
		"\n"
		"Lists the ACME profiles the server offers (the directory's meta.profiles),\n"
		"one per line: name, then the server's description.  `certkeep issue\n"
		"--profile NAME` asks for one.  Needs no account and writes nothing.\n"
		"\n"
		"options:\n"
		"  --server URL  ACME directory URL (default: the store's default server; with\n"
		"                --server no store is needed)\n"
		"  --json        an array of objects: name, description\n"
		"  -h, --help    this text\n");
}

static int
profiles_json(const struct ck_profile *v, size_t n)
{
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; arr != NULL && i < n; i++) {
		o = json_pack("{s:s, s:s}", "name", v[i].name, "description", v[i].description);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return print_json_out(arr);
}

static void
profiles_text(const char *server, const struct ck_profile *v, size_t n)
{
	size_t i;

	if (n == 0) {
		printf("the server offers no profiles (%s)\n", server ? server : "default server");
		return;
	}
	for (i = 0; i < n; i++)
		printf("%-20s %s\n", v[i].name, v[i].description);
}

int
cmd_profiles(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ck_profile *v = NULL;
	struct ck_store *st = NULL;
	struct ck_err err;
	const char *server = NULL;
	size_t n = 0;
	int c, json = 0, ret = CLI_EXIT_FAIL;

	ck_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			profiles_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("profiles", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("profiles", "unexpected argument '%s'", argv[optind]);
	if (server == NULL && cli_store_open(cli, &st, &err) != 0) {
		ret = cli_fail(cli, &err);
		goto out;
	}
	if (ck_profiles_get(&cli->ctx, st, server, cli->ca_bundle, &v, &n, &err) != CK_OK) {
		ret = cli_fail(cli, &err);
		goto out;
	}
	if (json)
		ret = profiles_json(v, n);
	else {
		profiles_text(server, v, n);
		ret = CLI_EXIT_OK;
	}
out:
	ck_profiles_free(v, n);
	ck_store_close(st);
	return ret;
}
