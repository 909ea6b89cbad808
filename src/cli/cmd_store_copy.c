/*
 * cmd_store_copy.c - `certkeep store copy --to LOCATION [--json]`: the
 * whole store (every table, every row) into an absent or empty store at
 * LOCATION, a SQLite path or a PostgreSQL connection string, verified
 * afterwards (ck_store_copy_all).  Parses argv, calls the store, prints.
 *
 * Must never: take a database password from argv, print one.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/print.h"
#include "store/store.h"

static void
store_copy_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep store copy --to LOCATION [--json]\n"
		"\n"
		"Copies the whole store (keys, accounts, lineages, certificates and chains,\n"
		"orders, requests, bindings, renewal state, rate limits, settings) to\n"
		"LOCATION: a SQLite file path or a PostgreSQL connection string\n"
		"(postgresql://USER@HOST:PORT/DB or \"host=... dbname=...\").  LOCATION must\n"
		"be absent or an empty store; a store with anything in it is refused and\n"
		"left unchanged.  The schema and every row are written in one transaction:\n"
		"a failure or a kill before its commit leaves nothing of the copy there.\n"
		"Ids are kept, so sealed keys stay sealed under the same node key (no\n"
		"--store-key-file needed; given, every key is also opened at LOCATION) and a\n"
		"plain store stays plain.  LOCATION's generation is the source's plus one.\n"
		"Afterwards the copy is verified: row counts per table, every certificate's\n"
		"SHA-256, every key's public-key thumbprint and stored private key, every\n"
		"lineage's current certificate.  A difference is an error naming it; the\n"
		"copy is then left as written.\n"
		"\n"
		"A PostgreSQL password comes from libpq's own mechanisms (PGPASSFILE,\n"
		"~/.pgpass, a service file), never from the command line: a LOCATION with\n"
		"a password in it is refused.\n"
		"\n"
		"options:\n"
		"  --to LOCATION  the destination store\n"
		"  --json         print the summary as JSON (rows copied per table)\n"
		"  -h, --help     this text\n");
}

/* 1 if loc carries a password (what ck_store_location_redact would hide). */
static int
has_password(const char *loc)
{
	char red[4096];

	ck_store_location_redact(loc, red, sizeof(red));
	return strcmp(red, loc) != 0;
}

static int
store_copy_args(int argc, char **argv, const char **to, int *json)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			*to = optarg;
			break;
		case 'j':
			*json = 1;
			break;
		case 'h':
			store_copy_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("store copy", "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error("store copy", "unexpected argument '%s'", argv[optind]);
	if (*to == NULL || (*to)[0] == '\0')
		return cli_usage_error("store copy", "--to LOCATION is required");
	if (has_password(*to))
		return cli_usage_error("store copy", "--to carries a password, which every user of "
				       "this machine can read (ps); give it through PGPASSFILE, "
				       "~/.pgpass or a service file instead");
	return -1;
}

static int
store_copy_print(struct cli *cli, const char *to, const struct ck_store_copy_summary *s,
		 int json)
{
	char src[512], dst[512];
	json_t *o, *t;
	size_t i;

	ck_store_location_redact(cli->store_path, src, sizeof(src));
	ck_store_location_redact(to, dst, sizeof(dst));
	if (!json) {
		printf("copied %s to %s (schema version %d, generation %llu there):\n", src, dst,
		       s->schema_version, (unsigned long long)s->dst_generation);
		for (i = 0; i < s->n; i++)
			printf("  %-14s %lld\n", s->tables[i].name, (long long)s->tables[i].rows);
		printf("verified: row counts, certificate SHA-256s, key thumbprints and stored "
		       "keys, lineages' current certificates; %lld keys opened there%s\n",
		       (long long)s->keys_loaded, s->sealed && s->keys_loaded == 0 ?
		       " (sealed: give --store-key-file to open them too)" : "");
		return CLI_EXIT_OK;
	}
	if ((t = json_object()) == NULL ||
	    (o = json_pack("{s:s, s:s, s:i, s:I, s:I, s:b, s:I, s:b, s:O}", "source", src,
			   "destination", dst, "schema_version", s->schema_version,
			   "source_generation", (json_int_t)s->src_generation,
			   "generation", (json_int_t)s->dst_generation, "sealed", s->sealed,
			   "keys_loaded", (json_int_t)s->keys_loaded, "verified", 1, "tables",
			   t)) == NULL) {
		json_decref(t);
		fprintf(stderr, "certkeep: out of memory printing the summary\n");
		return CLI_EXIT_FAIL;
	}
	for (i = 0; i < s->n; i++)
		json_object_set_new(t, s->tables[i].name, json_integer(s->tables[i].rows));
	json_decref(t);
	return print_json_out(o);
}

int
cmd_store_copy(struct cli *cli, int argc, char **argv, int *rc)
{
	struct ck_store_copy_summary sum;
	struct ck_store *st = NULL;
	const char *to = NULL;
	struct ck_err err;
	int json = 0, r;

	if (strcmp(argv[1], "copy") != 0)
		return 0;
	optind = 0; /* glibc: full reset for the subcommand's getopt */
	if ((r = store_copy_args(argc - 1, argv + 1, &to, &json)) >= 0) {
		*rc = r;
		return 1;
	}
	ck_err_clear(&err);
	if (cli_store_open(cli, &st, &err) != 0 || ck_store_copy_all(st, to, &sum, &err) != CK_OK) {
		ck_store_close(st);
		*rc = cli_fail(cli, &err);
		return 1;
	}
	ck_store_close(st);
	*rc = store_copy_print(cli, to, &sum, json);
	return 1;
}
