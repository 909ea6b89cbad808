/*
 * cmd_import.c - `certkeep import FILE... [--name LINEAGE]
 * [--password-file F]`: reads the password (file or fd:N, never argv),
 * calls ck_store_import_files_with (which decides what links to what),
 * with a key finder over the configured tokens (flow/tokens.h), and says
 * plainly what happened to each certificate and key.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "flow/tokens.h"
#include "flow/ops.h"

static void
import_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep import FILE... [--name LINEAGE] [--password-file F]\n"
		"                       [--pin-file F [--pkcs11-module M]]\n"
		"\n"
		"Imports certificates and private keys from PEM (any mix and order of\n"
		"certificates, chains and keys: PKCS#8, encrypted PKCS#8, traditional RSA/EC),\n"
		"DER, or PKCS#12 (modern AES and legacy 3DES/RC2).  Every file is read before\n"
		"anything is stored: a wrong password stores nothing.\n"
		"\n"
		"Each certificate is linked to its private key by public-key match: a key in\n"
		"the same input, one already in the store, the key of a pending request\n"
		"(which it then completes), or a key on a configured token (certkeep token).  A certificate with no key anywhere is stored\n"
		"labelled \"no private key\" and this command says so; importing the key later\n"
		"links it.  A key without its certificate is kept, unlinked.  CA certificates\n"
		"in the input become the leaf's chain.  Importing the same thing twice changes\n"
		"nothing.\n"
		"\n"
		"options:\n"
		"  --name LINEAGE       make the (one) certificate the current certificate of\n"
		"                       this lineage\n"
		"  --password-file F    password for encrypted keys / PKCS#12, from file F or\n"
		"                       fd:N (never on the command line)\n"
		"  --pin-file F         the PIN of the token a certificate's key is on: the\n"
		"                       certificate is then written onto that token with the\n"
		"                       key's CKA_ID and its lineage's label (file or fd:N)\n"
		"  --pkcs11-module M    the PKCS#11 module where the key's URI names none\n"
		"  -h, --help           this text\n");
}

static const char *
key_source_text(const struct ck_import_cert *c)
{
	switch (c->key_source) {
	case CK_IMPORT_KEY_INPUT:
		return "linked to its key from the input";
	case CK_IMPORT_KEY_STORE:
		return "linked to its key already in the store";
	case CK_IMPORT_KEY_REQUEST:
		return "linked to the key of pending request";
	case CK_IMPORT_KEY_FINDER:
		return "linked to its key on token";
	default:
		return "";
	}
}

static void
import_report_cert(const struct ck_import_cert *c)
{
	if (c->already_present && !c->newly_linked) {
		printf("certificate %.16s (%s): already in the store, unchanged%s\n", c->sha256,
		       c->subject, c->key_id ? "" : " (still without a private key)");
		return;
	}
	if (c->key_id == 0) {
		printf("certificate %.16s (%s): stored WITHOUT a private key: this is the state "
		       "Windows reports as 'Keyset does not exist'. Import the key (certkeep import "
		       "key.pem) and it will be linked.\n", c->sha256, c->subject);
	} else if (c->key_source == CK_IMPORT_KEY_REQUEST) {
		printf("certificate %.16s (%s): %s %lld, which is now closed\n", c->sha256,
		       c->subject, key_source_text(c), (long long)c->request_closed);
	} else if (c->key_source == CK_IMPORT_KEY_FINDER) {
		printf("certificate %.16s (%s): %s%s '%s' (%s); the key stays on the token\n",
		       c->sha256, c->subject,
		       c->newly_linked ? "was stored without its key; now " : "stored, ",
		       key_source_text(c), c->key_where ? c->key_where : "?",
		       c->key_location ? c->key_location : "?");
	} else {
		printf("certificate %.16s (%s): %s%s\n", c->sha256, c->subject,
		       c->newly_linked ? "was stored without its key; now " : "stored, ",
		       key_source_text(c));
	}
	if (c->chain_len > 0)
		printf("  with a chain of %zu certificate(s)\n", c->chain_len);
	if (c->lineage != NULL)
		printf("  current certificate of lineage '%s'\n", c->lineage);
}

static void
import_report(const struct ck_import_result *r)
{
	size_t i;

	for (i = 0; i < r->ncerts; i++)
		import_report_cert(&r->certs[i]);
	for (i = 0; i < r->nkeys; i++) {
		const struct ck_import_key *k = &r->keys[i];
		if (!k->created)
			printf("key %lld (%s): already in the store\n", (long long)k->key_id,
			       k->algorithm);
		else if (k->relinked > 0)
			printf("key %lld (%s): stored and linked to certificate %.16s%s, which "
			       "was in the store without its key\n", (long long)k->key_id,
			       k->algorithm, k->relinked_sha256,
			       k->relinked > 1 ? " (and others)" : "");
		else if (k->used)
			printf("key %lld (%s): stored\n", (long long)k->key_id, k->algorithm);
		else
			printf("key %lld (%s): stored as an unlinked key (no certificate for it "
			       "yet; importing its certificate links it)\n",
			       (long long)k->key_id, k->algorithm);
	}
	if (!r->changed)
		printf("nothing changed: everything in the input was already in the store\n");
}

int
cmd_import(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		CLI_TOKEN_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ck_import_result res;
	struct ck_key_finder finder;
	struct ck_token_set *tokens = NULL;
	struct ck_token_target tok = { NULL, NULL, NULL };
	struct ck_store *st = NULL;
	struct ck_err err;
	const char *lineage = NULL, *passfile = NULL;
	char *password = NULL;
	int c, rc;

	memset(&res, 0, sizeof(res));
	ck_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			lineage = optarg;
			break;
		case 'p':
			passfile = optarg;
			break;
		case 'h':
			import_usage(stdout);
			return CLI_EXIT_OK;
		default:
			if (cli_token_opt(c, optarg, &tok))
				break;
			return cli_usage_error("import", "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error("import", "at least one FILE is required");
	if (argc - optind > CK_IMPORT_FILES_MAX)
		return cli_usage_error("import", "at most %d files in one import",
				       CK_IMPORT_FILES_MAX);
	if (lineage != NULL && !ck_store_name_valid(lineage))
		return cli_usage_error("import", "--name: 1 to %d of A-Z a-z 0-9 . _ - and not "
						 "starting with '.' or '-'", CK_STORE_NAME_MAX);
	if (passfile != NULL &&
	    ck_secret_read(passfile, CK_IMPORT_PASSWORD_MAX, &password, &err) != CK_OK)
		return cli_fail(cli, &err);
	if (cli_store_open_create(cli, &st, &err) != 0 ||
	    ck_tokens_finder(st, &tokens, &finder, &err) != CK_OK ||
	    ck_store_import_files_with(st, (const char *const *)(argv + optind),
				       (size_t)(argc - optind), password, lineage, &finder,
				       &res, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
	} else {
		import_report(&res);
		rc = cli_import_to_tokens(cli, st, &res, &tok);
	}
	ck_import_result_cleanup(&res);
	ck_secure_strfree(password);
	ck_token_set_free(tokens);
	ck_store_close(st);
	return rc;
}
