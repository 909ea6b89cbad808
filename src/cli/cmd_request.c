/*
 * cmd_request.c - `certkeep request -d NAME... [--name LINEAGE]
 * [--key-type T] --csr-out FILE` (a pending request for a CA outside
 * ACME: the library commits the key, then the request) and `certkeep
 * requests [--json]` (what is pending).  Parses argv, calls flow/ops.h
 * (which writes the CSR file only after the request is committed), prints.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <certkeep/tokens.h>

#include "cli/cli.h"
#include "cli/print.h"
#include "flow/ops.h"

static void
request_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep request -d NAME [-d NAME]... [--name LINEAGE] [--key-type T]\n"
		"                        [--token URI --pin-file F] --csr-out FILE\n"
		"\n"
		"Makes a pending request for a CA outside ACME: a new private key (stored\n"
		"first), a CSR for the names (written to FILE as PEM) and a record of both.\n"
		"When the CA's certificate comes back, days later, 'certkeep import cert.pem'\n"
		"finds the request by public key, links the certificate to the key, makes it\n"
		"the lineage's current certificate and closes the request.  With --token the\n"
		"key is made on the PKCS#11 token and the token signs the CSR; 'certkeep\n"
		"import --pin-file F cert.pem' then also writes the certificate onto it.\n"
		"\n"
		"options:\n"
		"  -d, --domain NAME   a DNS name or IP address (repeat; the first is the CN)\n"
		"  --name LINEAGE      lineage to complete (default: the first name)\n"
		"  --key-type T        ec256 (default), ec384, rsa2048, rsa3072, rsa4096, ed25519\n"
		"  --csr-out FILE      where to write the CSR (PEM, mode 0644)\n"
		CLI_TOKEN_HELP
		"  -h, --help          this text\n");
}

static void
requests_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep requests [--json]\n"
		"\n"
		"Lists pending requests (made by 'certkeep request'): id, age, lineage, key,\n"
		"names.  Importing the issued certificate closes a request.\n"
		"\n"
		"options:\n"
		"  --json      an array of objects: id, lineage, identifiers, created, key\n"
		"              {id, spki_sha256, algorithm}, csr (PEM)\n"
		"  -h, --help  this text\n");
}

#define REQUEST_NAMES_MAX CK_STORE_IDENT_MAX

int
cmd_request(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "key-type", required_argument, NULL, 't' },
		{ "csr-out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		CLI_TOKEN_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	const char *names[REQUEST_NAMES_MAX];
	const char *lineage = NULL, *csr_out = NULL;
	enum ck_key_type kt = CK_KEY_EC256;
	struct ck_token_target tok = { NULL, NULL, NULL };
	struct ck_store *st = NULL;
	struct ck_err err;
	int64_t rid = 0;
	size_t n = 0;
	int c, rc;

	ck_err_clear(&err);
	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (n == REQUEST_NAMES_MAX)
				return cli_usage_error("request", "at most %d names",
						       REQUEST_NAMES_MAX);
			names[n++] = optarg;
			break;
		case 'n':
			lineage = optarg;
			break;
		case 't':
			if (ck_key_type_parse(optarg, &kt, &err) != CK_OK)
				return cli_usage_error("request", "%s", err.msg);
			break;
		case 'o':
			csr_out = optarg;
			break;
		case 'h':
			request_usage(stdout);
			return CLI_EXIT_OK;
		default:
			if (cli_token_opt(c, optarg, &tok))
				break;
			return cli_usage_error("request", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("request", "unexpected argument '%s'", argv[optind]);
	if (n == 0)
		return cli_usage_error("request", "at least one -d NAME is required");
	if (csr_out == NULL || csr_out[0] == '\0')
		return cli_usage_error("request", "--csr-out FILE is required");
	if (lineage != NULL && !ck_store_name_valid(lineage))
		return cli_usage_error("request", "--name: 1 to %d of A-Z a-z 0-9 . _ - and not "
						  "starting with '.' or '-'", CK_STORE_NAME_MAX);
	if (cli_store_open_create(cli, &st, &err) != 0 ||
	    (tok.uri != NULL
		     ? ck_request_create_token_file(st, names, n, lineage, kt, &tok, csr_out, &rid,
						    &err)
		     : ck_request_create_file(st, names, n, lineage, kt, csr_out, &rid, &err)) !=
		    CK_OK) {
		rc = cli_fail(cli, &err);
	} else {
		printf("request %lld recorded: key stored, CSR written to %s\n", (long long)rid,
		       csr_out);
		printf("have it signed, then run: certkeep import %sCERT_FILE\n",
		       tok.uri ? "--pin-file F " : "");
		rc = CLI_EXIT_OK;
	}
	ck_store_close(st);
	return rc;
}

/* The CSR of r as PEM text in a new JSON string (NULL when it cannot be made). */
static json_t *
requests_csr_json(const struct ck_request *r)
{
	json_t *s = NULL;
	char *pem = NULL;

	if (ck_request_csr_pem(r, &pem, NULL) == CK_OK)
		s = json_string(pem);
	free(pem);
	return s;
}

static json_t *
requests_one_json(struct ck_store *st, const struct ck_request *r)
{
	struct ck_key_info ki;
	json_t *o, *ids = json_array();
	size_t i;

	memset(&ki, 0, sizeof(ki));
	if (ids == NULL)
		return NULL;
	for (i = 0; i < r->nidentifiers; i++) {
		if (json_array_append_new(ids, json_string(r->identifiers[i])) != 0) {
			json_decref(ids); /* the JSON output fails whole, never a name short */
			return NULL;
		}
	}
	(void)ck_store_key_info(st, r->key_id, &ki, NULL);
	o = json_pack("{s:I, s:s?, s:o, s:o, s:{s:I, s:s, s:s}, s:o*}", "id", (json_int_t)r->id,
		      "lineage", r->lineage, "identifiers", ids, "created",
		      print_json_time(r->created), "key", "id", (json_int_t)r->key_id,
		      "spki_sha256", r->spki_sha256, "algorithm", ki.algorithm, "csr",
		      requests_csr_json(r));
	ck_key_info_cleanup(&ki);
	return o;
}

static int
requests_print(struct ck_store *st, const struct ck_request_list *l, int json, time_t now)
{
	char date[11];
	size_t i, k;

	if (json) {
		json_t *arr = json_array(), *o;
		for (i = 0; arr != NULL && i < l->n; i++) {
			o = requests_one_json(st, &l->items[i]);
			if (o == NULL || json_array_append_new(arr, o) != 0) {
				json_decref(arr);
				arr = NULL;
			}
		}
		return print_json_out(arr);
	}
	if (l->n == 0) {
		printf("no pending requests\n");
		return CLI_EXIT_OK;
	}
	printf("%-5s %-10s %-5s %-24s %s\n", "ID", "CREATED", "DAYS", "LINEAGE", "NAMES");
	for (i = 0; i < l->n; i++) {
		const struct ck_request *r = &l->items[i];
		print_date(r->created, date);
		printf("%-5lld %-10s %-5ld %-24s ", (long long)r->id, date,
		       (long)((now - r->created) / 86400), r->lineage ? r->lineage : "-");
		for (k = 0; k < r->nidentifiers; k++)
			printf("%s%s", k ? ", " : "", r->identifiers[k]);
		printf("\n");
	}
	return CLI_EXIT_OK;
}

int
cmd_requests(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ck_request_list l = { NULL, 0 };
	struct ck_store *st = NULL;
	struct ck_err err;
	int c, json = 0, rc;

	ck_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			requests_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("requests", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("requests", "unexpected argument '%s'", argv[optind]);
	if (cli_store_open(cli, &st, &err) != 0 ||
	    ck_store_request_list(st, 0, &l, &err) != CK_OK)
		rc = cli_fail(cli, &err);
	else
		rc = requests_print(st, &l, json, ck_now(&cli->ctx));
	ck_request_list_cleanup(&l);
	ck_store_close(st);
	return rc;
}
