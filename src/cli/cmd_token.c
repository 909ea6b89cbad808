/*
 * cmd_token.c - `certkeep token add|list|rm|keys`: the PKCS#11 tokens an
 * import searches for a certificate's key (kept in the store's settings,
 * see flow/tokens.h), and what public keys a token shows.  Parses argv,
 * calls flow/tokens.h, prints.
 *
 * Also the token options other commands share (--token, --pin-file,
 * --pkcs11-module) and an import's certificates written onto their
 * tokens.
 *
 * Must never: read or store a PIN itself (only its file name is passed
 * on), or save a token it could not open.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/print.h"
#include "flow/tokens.h"

static void
token_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep token add NAME --module PATH --token LABEL\n"
		"       certkeep token list [--json]\n"
		"       certkeep token rm NAME\n"
		"       certkeep token keys NAME [--json]\n"
		"\n"
		"PKCS#11 tokens (smart cards, HSMs, SoftHSM2) whose keys never leave them.\n"
		"When 'certkeep import' finds no key for a certificate in the input, the\n"
		"store or a pending request, it looks on every configured token for a\n"
		"public key equal to the certificate's, and links the certificate to that\n"
		"key by its pkcs11: URI.  Such a certificate can be exported only with\n"
		"--no-key: its key cannot leave the token.\n"
		"\n"
		"  add NAME   configure a token (checked by opening it now)\n"
		"  list       the configured tokens\n"
		"  rm NAME    forget a token (certificates linked to its keys stay linked)\n"
		"  keys NAME  the token's public keys: id, label, algorithm, SPKI SHA-256, URI\n"
		"\n"
		"No PIN is used: only public-key objects are read, without login.\n"
		"'certkeep token SUBCOMMAND --help' describes each one.\n");
}

static void
token_add_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep token add NAME --module PATH --token LABEL\n"
		"\n"
		"Configures token NAME: the PKCS#11 module at PATH (absolute; SoftHSM2's is\n"
		"/usr/lib/softhsm/libsofthsm2.so) and the token whose label is LABEL (tokens\n"
		"are found by label: slot numbers change).  The token is opened now; nothing\n"
		"is saved if that fails.  No PIN is asked for.  The module file must be\n"
		"owned by root or you and writable by its owner only, in directories alike\n"
		"(symbolic links are followed to it); otherwise it is not loaded.\n"
		"\n"
		"options:\n"
		"  --module PATH   the PKCS#11 module (shared library)\n"
		"  --token LABEL   the token's label (at most %d bytes)\n"
		"  -h, --help      this text\n", CK_TOKEN_LABEL_MAX);
}

static void
token_list_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep token list [--json]\n"
		"\n"
		"Lists the configured tokens: name, token label, module.\n"
		"\n"
		"options:\n"
		"  --json      an array of objects: name, token, module\n"
		"  -h, --help  this text\n");
}

static void
token_rm_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep token rm NAME\n"
		"\n"
		"Removes token NAME from the configuration: imports stop searching it.\n"
		"Keys already linked to it stay in the store as pkcs11: references, and\n"
		"their certificates stay linked.\n"
		"\n"
		"options:\n"
		"  -h, --help  this text\n");
}

static void
token_keys_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep token keys NAME [--json]\n"
		"\n"
		"Lists the public keys token NAME shows without login: CKA_ID (hex), label,\n"
		"algorithm, SPKI SHA-256 (the identity a certificate is linked by) and the\n"
		"pkcs11: URI of the matching private key.\n"
		"\n"
		"options:\n"
		"  --json      an array of objects: id, label, algorithm, spki_sha256, uri\n"
		"  -h, --help  this text\n");
}

/* Parses "[--json] [--help]" plus the options of add; returns -1 to go on,
 * else the exit code.  *name = the one positional argument (or NULL). */
static int
token_opts(const char *sub, int argc, char **argv, void (*usage)(FILE *), int want_name,
	   int *json, const char **module, const char **label, const char **name)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "module", required_argument, NULL, 'm' },
		{ "token", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char cmd[32];
	int c;

	snprintf(cmd, sizeof(cmd), "token %s", sub);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return CLI_EXIT_OK;
		}
		if (c == 'j' && json != NULL)
			*json = 1;
		else if (c == 'm' && module != NULL)
			*module = optarg;
		else if (c == 't' && label != NULL)
			*label = optarg;
		else
			return cli_usage_error(cmd, "unknown option");
	}
	if (want_name && argc - optind != 1)
		return cli_usage_error(cmd, "exactly one NAME is required");
	if (!want_name && argc - optind != 0)
		return cli_usage_error(cmd, "no arguments are expected");
	*name = want_name ? argv[optind] : NULL;
	return -1;
}

/* The note for a token that shows no public key. */
static void
token_empty_note(const char *name, const struct ck_token *t)
{
	if (ck_token_login_required(t))
		fprintf(stderr, "certkeep: token '%s' shows no public keys without login: either "
			"it has none, or it hides them until a PIN is given, which this version "
			"of certkeep does not do; keys it cannot see cannot be linked\n", name);
	else
		fprintf(stderr, "certkeep: token '%s' holds no public keys\n", name);
}

static int
token_add(struct cli *cli, int argc, char **argv)
{
	struct ck_token_key_list keys = { NULL, 0, 0 };
	struct ck_token *t = NULL;
	struct ck_store *st = NULL;
	struct ck_err err;
	const char *module = NULL, *label = NULL, *name = NULL;
	int rc;

	ck_err_clear(&err);
	rc = token_opts("add", argc, argv, token_add_usage, 1, NULL, &module, &label, &name);
	if (rc >= 0)
		return rc;
	if (module == NULL || label == NULL)
		return cli_usage_error("token add", "--module PATH and --token LABEL are required");
	if (!ck_token_name_valid(name))
		return cli_usage_error("token add", "NAME: 1 to %d of A-Z a-z 0-9 . _ - and not "
				       "starting with '.' or '-'", CK_TOKEN_NAME_MAX);
	/* The token is checked before the store is locked; a failure saves nothing. */
	if (ck_tokens_probe(name, module, label, &t, &keys, &err) != CK_OK ||
	    cli_store_open_create(cli, &st, &err) != 0 ||
	    ck_tokens_add(st, name, module, label, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	printf("token '%s' added: token label '%s' (serial %s) in module %s; %zu public key(s) "
	       "visible\n", name, label, ck_token_serial(t), module, keys.n);
	if (keys.n == 0)
		token_empty_note(name, t);
	rc = CLI_EXIT_OK;
out:
	ck_token_key_list_cleanup(&keys);
	ck_token_close(t);
	ck_store_close(st);
	return rc;
}

static int
token_list(struct cli *cli, int argc, char **argv)
{
	struct ck_token_conf_list l;
	struct ck_store *st = NULL;
	struct ck_err err;
	const char *name = NULL;
	json_t *arr, *o;
	int json = 0, rc;
	size_t i;

	ck_err_clear(&err);
	rc = token_opts("list", argc, argv, token_list_usage, 0, &json, NULL, NULL, &name);
	if (rc >= 0)
		return rc;
	if (cli_store_open(cli, &st, &err) != 0 || ck_tokens_load(st, &l, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
		ck_store_close(st);
		return rc;
	}
	ck_store_close(st);
	if (json) {
		arr = json_array();
		for (i = 0; arr != NULL && i < l.n; i++) {
			o = json_pack("{s:s, s:s, s:s}", "name", l.items[i].name, "token",
				      l.items[i].label, "module", l.items[i].module);
			if (o == NULL || json_array_append_new(arr, o) != 0) {
				json_decref(arr);
				arr = NULL;
			}
		}
		return print_json_out(arr);
	}
	if (l.n == 0) {
		printf("no tokens are configured ('certkeep token add NAME --module PATH "
		       "--token LABEL' adds one)\n");
		return CLI_EXIT_OK;
	}
	printf("%-20s %-33s %s\n", "NAME", "TOKEN LABEL", "MODULE");
	for (i = 0; i < l.n; i++)
		printf("%-20s %-33s %s\n", l.items[i].name, l.items[i].label, l.items[i].module);
	return CLI_EXIT_OK;
}

static int
token_rm(struct cli *cli, int argc, char **argv)
{
	struct ck_store *st = NULL;
	struct ck_err err;
	const char *name = NULL;
	int rc;

	ck_err_clear(&err);
	rc = token_opts("rm", argc, argv, token_rm_usage, 1, NULL, NULL, NULL, &name);
	if (rc >= 0)
		return rc;
	if (cli_store_open(cli, &st, &err) != 0 || ck_tokens_remove(st, name, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	printf("token '%s' removed from the configuration; keys already linked to it stay in "
	       "the store as pkcs11 references and their certificates stay linked\n", name);
	rc = CLI_EXIT_OK;
out:
	ck_store_close(st);
	return rc;
}

static json_t *
token_key_json(const struct ck_token_key *k, const char *hex)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", hex, "label", k->label,
			 "algorithm", k->algorithm, "spki_sha256", k->spki_sha256, "uri", k->uri);
}

static int
token_keys_print(const char *name, const struct ck_token *t, const struct ck_token_key_list *kl,
		 int json)
{
	char hex[2 * CK_TOKEN_ID_MAX + 1];
	json_t *arr, *o;
	size_t i;

	if (kl->skipped > 0)
		fprintf(stderr, "certkeep: token '%s': %zu public-key object(s) of a type this "
			"version cannot read were skipped\n", name, kl->skipped);
	if (kl->n == 0)
		token_empty_note(name, t);
	if (json) {
		arr = json_array();
		for (i = 0; arr != NULL && i < kl->n; i++) {
			ck_hex_encode(kl->items[i].id, kl->items[i].id_len, hex, sizeof(hex));
			o = token_key_json(&kl->items[i], hex);
			if (o == NULL || json_array_append_new(arr, o) != 0) {
				json_decref(arr);
				arr = NULL;
			}
		}
		return print_json_out(arr);
	}
	for (i = 0; i < kl->n; i++) {
		const struct ck_token_key *k = &kl->items[i];
		ck_hex_encode(k->id, k->id_len, hex, sizeof(hex));
		printf("id %s  label '%s'  %s\n  spki sha256 %s\n  %s\n", hex[0] ? hex : "-",
		       k->label, k->algorithm, k->spki_sha256, k->uri);
	}
	return CLI_EXIT_OK;
}

static int
token_keys(struct cli *cli, int argc, char **argv)
{
	struct ck_token_conf_list l;
	struct ck_token_key_list kl = { NULL, 0, 0 };
	struct ck_token *t = NULL;
	struct ck_store *st = NULL;
	struct ck_err err;
	const char *name = NULL;
	int json = 0, rc;

	ck_err_clear(&err);
	rc = token_opts("keys", argc, argv, token_keys_usage, 1, &json, NULL, NULL, &name);
	if (rc >= 0)
		return rc;
	if (cli_store_open(cli, &st, &err) != 0 || ck_tokens_load(st, &l, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	ck_store_close(st); /* not locked while the module loads */
	st = NULL;
	if (ck_tokens_keys(&l, name, &t, &kl, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	rc = token_keys_print(name, t, &kl, json);
out:
	ck_token_key_list_cleanup(&kl);
	ck_token_close(t);
	ck_store_close(st);
	return rc;
}

int
cmd_token(struct cli *cli, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct cli *, int, char **);
	} subs[] = {
		{ "add", token_add },
		{ "list", token_list },
		{ "rm", token_rm },
		{ "keys", token_keys },
	};
	size_t i;

	if (argc < 2)
		return cli_usage_error("token", "a subcommand is required: add, list, rm, keys");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		token_usage(stdout);
		return CLI_EXIT_OK;
	}
	for (i = 0; i < CK_ARRAY_LEN(subs); i++) {
		if (strcmp(argv[1], subs[i].name) == 0) {
			optind = 0; /* glibc: full reset for the subcommand's getopt */
			return subs[i].run(cli, argc - 1, argv + 1);
		}
	}
	return cli_usage_error("token", "unknown subcommand '%s' (add, list, rm, keys)", argv[1]);
}

int
cli_token_opt(int c, const char *arg, struct ck_token_target *o)
{
	switch (c) {
	case CLI_OPT_TOKEN:
		o->uri = arg;
		return 1;
	case CLI_OPT_PIN_FILE:
		o->pin_file = arg;
		return 1;
	case CLI_OPT_PKCS11_MODULE:
		o->module = arg;
		return 1;
	default:
		return 0;
	}
}

int
cli_import_to_tokens(struct cli *cli, struct ck_store *st, const struct ck_import_result *r,
		     const struct ck_token_target *o)
{
	struct ck_err err;
	size_t i, on_token = 0, written = 0;

	for (i = 0; i < r->ncerts; i++)
		if (r->certs[i].key_location != NULL &&
		    strncmp(r->certs[i].key_location, "pkcs11:", 7) == 0 &&
		    (o->pin_file != NULL || o->uri != NULL || !r->certs[i].already_present ||
		     r->certs[i].newly_linked))
			on_token++;
	if (on_token == 0)
		return CLI_EXIT_OK;
	if (o->pin_file == NULL && o->uri == NULL) {
		printf("the certificate was not written onto its token: run the import again "
		       "with --pin-file F to write it there beside its key\n");
		return CLI_EXIT_OK;
	}
	ck_err_clear(&err);
	if (ck_tokens_write_imported(st, r, o, &written, &err) != CK_OK)
		return cli_fail(cli, &err);
	printf("%zu certificate(s) written onto the token beside their key (CKA_ID of the "
	       "key, labelled with the lineage)\n", written);
	return CLI_EXIT_OK;
}
