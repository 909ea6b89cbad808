/*
 * cmd_account.c - `certkeep account register|list|show|update|recover|
 * rollover|deactivate`: argv to the calls of flow/account.h, accounts to
 * text or JSON.  Secrets (EAB HMAC keys, account key files) are read from
 * files only, never from argv, and wiped after use.  Prints; the rules
 * (key first, rollover resolution, what is stored) live in flow/.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "crypto/crypto.h"
#include "flow/account.h"
#include "store/store.h"

#define ACCT_CONTACTS_MAX 16     /* --contact options */

/* Everything a subcommand may be given. */
struct acct_args {
	const char *sub;
	const char *server, *name, *key_file, *eab_kid, *eab_file;
	const char *token_uri, *pin_file, *p11_module;  /* a key on a PKCS#11 token */
	const char *contacts[ACCT_CONTACTS_MAX];
	size_t ncontacts;
	const char *origins[ACME_ORIGINS_MAX];   /* --allow-origin */
	size_t norigins;
	int origins_given;
	int contact_given, agree_tos, json, yes, grace_given;
	unsigned grace;
	enum ck_key_type key_type;
};

enum { O_SERVER = 1000, O_ACCOUNT, O_CONTACT, O_AGREE, O_KEYTYPE, O_KEYFILE, O_EABKID,
       O_EABFILE, O_JSON, O_YES, O_GRACE, O_ORIGIN, O_TOKEN, O_PINFILE, O_P11MOD };

struct acct_sub {
	const char *name;
	int (*run)(struct cli *cli, struct acct_args *a);
	const char *opts;       /* letters of the options it takes, see opt_letter() */
	const char *usage;
};

/* ---- options ------------------------------------------------------------------ */

static const struct option all_opts[] = {
	{ "server", required_argument, NULL, O_SERVER },
	{ "account", required_argument, NULL, O_ACCOUNT },
	{ "contact", required_argument, NULL, O_CONTACT },
	{ "agree-tos", no_argument, NULL, O_AGREE },
	{ "key-type", required_argument, NULL, O_KEYTYPE },
	{ "key-file", required_argument, NULL, O_KEYFILE },
	{ "eab-kid", required_argument, NULL, O_EABKID },
	{ "eab-hmac-key-file", required_argument, NULL, O_EABFILE },
	{ "json", no_argument, NULL, O_JSON },
	{ "yes", no_argument, NULL, O_YES },
	{ "grace", required_argument, NULL, O_GRACE },
	{ "allow-origin", required_argument, NULL, O_ORIGIN },
	{ "token", required_argument, NULL, O_TOKEN },
	{ "pin-file", required_argument, NULL, O_PINFILE },
	{ "pkcs11-module", required_argument, NULL, O_P11MOD },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* One letter per option, so each subcommand lists the ones it accepts. */
static char
opt_letter(int c)
{
	static const char letters[] = "sacAtfkKjygoTPM";
	return c >= O_SERVER && c <= O_P11MOD ? letters[c - O_SERVER] : '?';
}

static int
opt_value(struct acct_args *a, int c, const char *arg, char *cmd)
{
	struct ck_err err;
	char norm[ACME_ORIGIN_MAX];
	long v;

	ck_err_clear(&err);
	switch (c) {
	case O_SERVER: a->server = arg; break;
	case O_ACCOUNT:
		if (!ck_store_name_valid(arg))
			return cli_usage_error(cmd, "--account needs a name of letters, digits, . _ -");
		a->name = arg;
		break;
	case O_CONTACT:
		a->contact_given = 1;
		if (arg[0] == '\0')
			break; /* --contact '' clears */
		if (a->ncontacts >= ACCT_CONTACTS_MAX)
			return cli_usage_error(cmd, "at most %d --contact", ACCT_CONTACTS_MAX);
		a->contacts[a->ncontacts++] = arg;
		break;
	case O_AGREE: a->agree_tos = 1; break;
	case O_KEYTYPE:
		if (ck_key_type_parse(arg, &a->key_type, &err) != CK_OK)
			return cli_usage_error(cmd, "%s", err.msg);
		break;
	case O_KEYFILE: a->key_file = arg; break;
	case O_EABKID: a->eab_kid = arg; break;
	case O_EABFILE: a->eab_file = arg; break;
	case O_TOKEN: a->token_uri = arg; break;
	case O_PINFILE: a->pin_file = arg; break;
	case O_P11MOD: a->p11_module = arg; break;
	case O_JSON: a->json = 1; break;
	case O_YES: a->yes = 1; break;
	case O_GRACE:
		if ((v = cli_number(arg, 0, CK_ACCOUNT_GRACE_MAX)) < 0)
			return cli_usage_error(cmd, "--grace needs seconds 0-%d (0 disables)",
					       CK_ACCOUNT_GRACE_MAX);
		a->grace = (unsigned)v;
		a->grace_given = 1;
		break;
	case O_ORIGIN:
		a->origins_given = 1;
		if (arg[0] == '\0')
			break; /* --allow-origin '' clears */
		if (a->norigins >= ACME_ORIGINS_MAX)
			return cli_usage_error(cmd, "at most %d --allow-origin", ACME_ORIGINS_MAX);
		if (acme_origin_parse(arg, norm, &err) != CK_OK)
			return cli_usage_error(cmd, "--allow-origin: %s", err.msg);
		a->origins[a->norigins++] = arg;
		break;
	default:
		return cli_usage_error(cmd, "unknown option");
	}
	return -1;
}

/* ---- printing ------------------------------------------------------------------- */

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
time_json(time_t t)
{
	char buf[21];

	if (t == 0)
		return json_null();
	ck_time_rfc3339(t, buf);
	return json_string(buf);
}

/* A key's description and JWK thumbprint as a JSON object, or null. */
static json_t *
key_json(struct ck_store *st, int64_t id)
{
	EVP_PKEY *k = NULL;
	char desc[32] = "", *tp = NULL, spki[65] = "";
	json_t *o = NULL;

	if (id == 0 || ck_store_key_public(st, id, &k, NULL) != CK_OK)
		return json_null();
	ck_key_describe(k, desc, sizeof(desc));
	if (ck_key_thumbprint(k, &tp, NULL) == CK_OK && ck_key_spki_sha256(k, spki, NULL) == CK_OK)
		o = json_pack("{s:s, s:s, s:s, s:s, s:I}", "algorithm", desc, "type",
			      ck_key_type_name(ck_key_type_of(k)), "jwk_thumbprint", tp,
			      "spki_sha256", spki, "id", (json_int_t)id);
	free(tp);
	EVP_PKEY_free(k);
	return o != NULL ? o : json_null();
}

/* The extra origins allowed for a server, as a JSON array (empty if none or unreadable). */
static json_t *
origins_json(struct ck_store *st, const char *server)
{
	struct ck_strv v = { 0 };
	json_t *arr = json_array();
	size_t i;

	if (arr != NULL && ck_server_origins_get(st, server, &v, NULL) == CK_OK)
		for (i = 0; i < v.n; i++)
			json_array_append_new(arr, json_string(v.v[i]));
	ck_strv_cleanup(&v);
	return arr;
}

static json_t *
account_json(struct ck_store *st, const struct ck_account *r)
{
	json_t *o, *contacts = NULL, *key = key_json(st, r->key_id);

	if (r->contacts != NULL)
		contacts = json_loads(r->contacts, 0, NULL);
	if (contacts == NULL || !json_is_array(contacts)) {
		json_decref(contacts);
		contacts = json_array();
	}
	o = json_pack("{s:s, s:s, s:o, s:s, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:b, s:o}",
		      "name", r->name, "server", r->server, "url", str_or_null(r->url),
		      "status", r->status != NULL ? r->status : "valid", "contacts", contacts,
		      "tos_agreed", r->tos_agreed != 0,
		      "key_algorithm", json_incref(json_object_get(key, "algorithm") ?
						  json_object_get(key, "algorithm") : json_null()),
		      "jwk_thumbprint", json_incref(json_object_get(key, "jwk_thumbprint") ?
						   json_object_get(key, "jwk_thumbprint") :
						   json_null()),
		      "key", key, "pending_key", key_json(st, r->pending_key_id),
		      "eab_kid", str_or_null(r->eab_kid), "default", r->is_default != 0,
		      "created", time_json(r->created));
	if (o != NULL)
		json_object_set_new(o, "allowed_origins", origins_json(st, r->server));
	return o;
}

static int
json_print(json_t *j)
{
	char *text;

	if (j == NULL)
		return -1;
	text = ck_json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (text == NULL)
		return -1;
	printf("%s\n", text);
	free(text);
	return 0;
}

/* A JSON array of strings as "a, b" (empty_text when empty), bounded by n. */
static void
strings_text(const json_t *arr, const char *empty_text, char *out, size_t n)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < json_array_size(arr) && used < n; i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		used += (size_t)snprintf(out + used, n - used, "%s%s", i ? ", " : "", s ? s : "");
	}
	if (out[0] == '\0')
		snprintf(out, n, "%s", empty_text);
}

static int
account_print(struct ck_store *st, const struct ck_account *r, int as_json)
{
	json_t *o = account_json(st, r), *key, *pend;
	char contacts[1024], origins[ACME_ORIGINS_MAX * ACME_ORIGIN_MAX];

	if (o == NULL)
		return -1;
	if (as_json)
		return json_print(o);
	key = json_object_get(o, "key");
	pend = json_object_get(o, "pending_key");
	strings_text(json_object_get(o, "contacts"), "(none)", contacts, sizeof(contacts));
	strings_text(json_object_get(o, "allowed_origins"), "(none: only the server's own)",
		     origins, sizeof(origins));
	printf("account:        %s%s\n", r->name, r->is_default ? " (default for its server)" : "");
	printf("server:         %s\n", r->server);
	printf("url:            %s\n", r->url != NULL ? r->url : "(registration unfinished)");
	printf("status:         %s\n", r->status != NULL ? r->status : "valid");
	printf("contacts:       %s\n", contacts);
	printf("terms agreed:   %s\n", r->tos_agreed ? "yes" : "no");
	printf("key:            %s\n", json_is_object(key) ?
	       json_string_value(json_object_get(key, "algorithm")) : "(missing)");
	printf("jwk thumbprint: %s\n", json_is_object(key) ?
	       json_string_value(json_object_get(key, "jwk_thumbprint")) : "-");
	printf("other origins:  %s\n", origins);
	if (r->eab_kid != NULL)
		printf("eab key id:     %s\n", r->eab_kid);
	if (json_is_object(pend))
		printf("pending key:    %s (a rollover is unresolved)\n",
		       json_string_value(json_object_get(pend, "jwk_thumbprint")));
	json_decref(o);
	return 0;
}

/* ---- subcommands --------------------------------------------------------------- */

static int
open_session(struct cli *cli, struct acct_args *a, unsigned flags, struct ck_store **st,
	     struct ck_account_session *s, struct ck_err *err)
{
	if (cli_store_open(cli, st, err) != 0)
		return -1;
	if (ck_account_open_pin(&cli->ctx, *st, a->server, a->name, cli->ca_bundle, flags,
				a->pin_file, s, err) != CK_OK)
		return -1;
	return 0;
}

static int
sub_register(struct cli *cli, struct acct_args *a)
{
	struct ck_account_register_opts o = { 0 };
	struct ck_account row = { 0 };
	struct ck_store *st = NULL;
	struct ck_err err;
	unsigned char *hmac = NULL;
	size_t hmac_len = 0;
	int adopted = 0, ret = CLI_EXIT_FAIL;

	ck_err_clear(&err);
	if (a->server == NULL)
		return cli_usage_error("account register", "--server URL is required");
	if ((a->eab_kid == NULL) != (a->eab_file == NULL))
		return cli_usage_error("account register",
				       "--eab-kid and --eab-hmac-key-file go together");
	if (a->key_file != NULL && (a->key_type != CK_KEY_NONE || a->token_uri != NULL))
		return cli_usage_error("account register", "give --key-type, --key-file or "
				       "--token, not two");
	o.server = a->server;
	o.token_uri = a->token_uri;
	o.pin_file = a->pin_file;
	o.pkcs11_module = a->p11_module;
	o.name = a->name;
	o.contacts = a->contacts;
	o.ncontacts = a->ncontacts;
	o.agree_tos = a->agree_tos;
	o.key_type = a->key_type;
	o.eab_kid = a->eab_kid;
	o.ca_bundle = cli->ca_bundle;
	o.allow_origins = (struct ck_origins_arg){ a->origins, a->norigins, a->origins_given };
	if ((a->key_file != NULL && ck_account_key_file_read(a->key_file, &o.key, &err) != CK_OK) ||
	    (a->eab_file != NULL && ck_account_eab_key_read(a->eab_file, &hmac, &hmac_len, &err) != CK_OK))
		goto fail;
	o.eab_hmac_key = hmac;
	o.eab_hmac_key_len = hmac_len;
	if (cli_store_open_create(cli, &st, &err) != 0 ||
	    ck_account_register(&cli->ctx, st, &o, &row, &adopted, &err) != CK_OK)
		goto fail;
	if (a->json)
		ret = account_print(st, &row, 1) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	else {
		printf("%s account %s on %s: %s\n",
		       adopted ? "adopted the existing account of this key as" : "registered",
		       row.name, row.server, row.url);
		ret = CLI_EXIT_OK;
	}
	goto out;
fail:
	ret = cli_fail(cli, &err);
out:
	ck_account_cleanup(&row);
	ck_store_close(st);
	EVP_PKEY_free(o.key);
	ck_secure_free(hmac, hmac_len + 1);
	return ret;
}

static int
sub_list(struct cli *cli, struct acct_args *a)
{
	struct ck_account_list l = { 0 };
	struct ck_store *st = NULL;
	struct ck_err err;
	json_t *arr = NULL;
	size_t i;
	int ret = CLI_EXIT_FAIL;

	ck_err_clear(&err);
	if (cli_store_open(cli, &st, &err) != 0 || ck_store_account_list(st, &l, &err) != CK_OK) {
		ret = cli_fail(cli, &err);
		goto out;
	}
	if (a->json) {
		if ((arr = json_array()) == NULL)
			goto out;
		for (i = 0; i < l.n; i++)
			if (json_array_append_new(arr, account_json(st, &l.items[i])) != 0)
				goto out;
		ret = json_print(arr) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
		arr = NULL;
		goto out;
	}
	if (l.n == 0)
		printf("no accounts: run `certkeep account register --server URL --agree-tos`\n");
	for (i = 0; i < l.n; i++) {
		const struct ck_account *r = &l.items[i];
		printf("%-16s %-12s %s%s  %s\n", r->name, r->status ? r->status : "valid", r->server,
		       r->is_default ? " (default)" : "", r->url ? r->url : "(unfinished)");
	}
	ret = CLI_EXIT_OK;
out:
	json_decref(arr);
	ck_account_list_cleanup(&l);
	ck_store_close(st);
	return ret;
}

static int
sub_show(struct cli *cli, struct acct_args *a)
{
	struct ck_account_session s = { 0 };
	struct ck_store *st = NULL;
	struct ck_err err;
	int ret = CLI_EXIT_FAIL;

	ck_err_clear(&err);
	if (open_session(cli, a, 0, &st, &s, &err) != 0)
		goto fail;
	/* deactivation is final: only a valid account is asked for news */
	if ((s.account.status == NULL || strcmp(s.account.status, "valid") == 0) &&
	    ck_account_refresh(st, &s, NULL, &err) != CK_OK)
		goto fail;
	ret = account_print(st, &s.account, a->json) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	goto out;
fail:
	ret = cli_fail(cli, &err);
out:
	ck_account_session_cleanup(&s);
	ck_store_close(st);
	return ret;
}

static int
sub_update(struct cli *cli, struct acct_args *a)
{
	struct acme_account_update_opts o = { 0 };
	struct ck_account_session s = { 0 };
	struct ck_store *st = NULL;
	struct ck_err err;
	int ret = CLI_EXIT_FAIL;

	ck_err_clear(&err);
	if (!a->contact_given && !a->agree_tos && !a->origins_given)
		return cli_usage_error("account update", "give --contact (repeatable; '' clears), "
				       "--agree-tos and/or --allow-origin (repeatable; '' clears)");
	o.set_contacts = a->contact_given;
	o.contacts = a->contacts;
	o.ncontacts = a->ncontacts;
	o.agree_tos = a->agree_tos;
	if (open_session(cli, a, CK_ACCOUNT_REQUIRE_VALID, &st, &s, &err) != 0)
		goto fail;
	/* Origins first (a local setting): the update below may need them. */
	if (a->origins_given &&
	    ck_account_origins_set(st, &s, a->origins, a->norigins, &err) != CK_OK)
		goto fail;
	if ((a->contact_given || a->agree_tos) && ck_account_update(st, &s, &o, &err) != CK_OK)
		goto fail;
	ret = account_print(st, &s.account, a->json) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	goto out;
fail:
	ret = cli_fail(cli, &err);
out:
	ck_account_session_cleanup(&s);
	ck_store_close(st);
	return ret;
}

static int
sub_recover(struct cli *cli, struct acct_args *a)
{
	struct ck_account row = { 0 };
	struct ck_store *st = NULL;
	struct ck_err err;
	struct ck_origins_arg origins = { a->origins, a->norigins, a->origins_given };
	EVP_PKEY *key = NULL;
	int ret = CLI_EXIT_FAIL;

	struct ck_token_target tok = { a->token_uri, a->p11_module, a->pin_file };

	ck_err_clear(&err);
	if (a->server == NULL || (a->key_file == NULL) == (a->token_uri == NULL))
		return cli_usage_error("account recover", "--server URL and one of --key-file F "
				       "or --token URI are required");
	if ((a->key_file != NULL && ck_account_key_file_read(a->key_file, &key, &err) != CK_OK) ||
	    cli_store_open_create(cli, &st, &err) != 0 ||
	    (a->token_uri != NULL
	     ? ck_account_recover_token(&cli->ctx, st, a->server, a->name, &tok, cli->ca_bundle,
					&origins, &row, &err)
	     : ck_account_recover(&cli->ctx, st, a->server, a->name, key, cli->ca_bundle,
				  &origins, &row, &err)) != CK_OK) {
		ret = cli_fail(cli, &err);
		goto out;
	}
	if (a->json)
		ret = account_print(st, &row, 1) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	else {
		printf("recovered account %s on %s: %s\n", row.name, row.server, row.url);
		ret = CLI_EXIT_OK;
	}
out:
	ck_account_cleanup(&row);
	ck_store_close(st);
	EVP_PKEY_free(key);
	return ret;
}

static int
sub_rollover(struct cli *cli, struct acct_args *a)
{
	struct ck_account_session s = { 0 };
	struct ck_store *st = NULL;
	struct ck_err err;
	EVP_PKEY *key = NULL;
	char desc[32] = "", *tp = NULL;
	int ret = CLI_EXIT_FAIL;

	ck_err_clear(&err);
	if (a->key_file != NULL && (a->key_type != CK_KEY_NONE || a->token_uri != NULL))
		return cli_usage_error("account rollover", "give --key-type, --key-file or "
				       "--token, not two");
	if ((a->key_file != NULL && ck_account_key_file_read(a->key_file, &key, &err) != CK_OK) ||
	    open_session(cli, a, CK_ACCOUNT_REQUIRE_VALID, &st, &s, &err) != 0 ||
	    (a->token_uri != NULL
		     ? ck_account_rollover_token(&cli->ctx, st, &s, a->key_type, a->token_uri,
						 a->p11_module, a->pin_file,
						 a->grace_given ? a->grace : ACME_ROLLOVER_GRACE_S,
						 &err)
		     : ck_account_rollover(&cli->ctx, st, &s, a->key_type, key,
					   a->grace_given ? a->grace : ACME_ROLLOVER_GRACE_S,
					   &err)) != CK_OK) {
		ret = cli_fail(cli, &err);
		goto out;
	}
	if (a->json) {
		ret = account_print(st, &s.account, 1) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
		goto out;
	}
	ck_key_describe(s.key, desc, sizeof(desc));
	if (ck_key_thumbprint(s.key, &tp, &err) != CK_OK) {
		ret = cli_fail(cli, &err);
		goto out;
	}
	printf("account %s rolled over to a new %s key (JWK thumbprint %s); the server no longer "
	       "accepts the old key\n", s.account.name, desc, tp);
	ret = CLI_EXIT_OK;
out:
	free(tp);
	EVP_PKEY_free(key);
	ck_account_session_cleanup(&s);
	ck_store_close(st);
	return ret;
}

static int
sub_deactivate(struct cli *cli, struct acct_args *a)
{
	struct ck_account_session s = { 0 };
	struct ck_store *st = NULL;
	struct ck_err err;
	int ret = CLI_EXIT_FAIL;

	ck_err_clear(&err);
	if (!a->yes)
		return cli_usage_error("account deactivate", "deactivation is final (the server "
				       "will never accept this account again): pass --yes");
	if (open_session(cli, a, CK_ACCOUNT_REQUIRE_VALID, &st, &s, &err) != 0 ||
	    ck_account_deactivate(st, &s, &err) != CK_OK) {
		ret = cli_fail(cli, &err);
		goto out;
	}
	printf("account %s on %s (%s) is deactivated; its key stays in the store\n",
	       s.account.name, s.account.server, s.account.url);
	ret = CLI_EXIT_OK;
out:
	ck_account_session_cleanup(&s);
	ck_store_close(st);
	return ret;
}

/* ---- dispatch -------------------------------------------------------------------- */

static const struct acct_sub subs[] = {
	{ "register", sub_register, "sacAtfkKjoTPM",
	  "usage: certkeep account register --server URL --agree-tos [options]\n"
	  "\n"
	  "Creates an account key in the store, then the account on the server (or\n"
	  "adopts the account the key already has).  The server becomes the store's\n"
	  "default server.\n"
	  "\n"
	  "  --server URL              ACME directory URL (https://)\n"
	  "  --agree-tos               agree to the server's terms of service\n"
	  "  --contact URI             e.g. mailto:admin@example.org (repeatable)\n"
	  "  --key-type T              ec256 (default), ec384, rsa2048, rsa3072, rsa4096, ed25519\n"
	  "  --key-file F              use this PEM account key instead of a new one\n"
	  "  --eab-kid KID             External Account Binding key id from the CA\n"
	  "  --eab-hmac-key-file F     file (or fd:N) with the base64url EAB HMAC key\n"
	  "  --account NAME            account name in the store (default \"default\")\n"
	  "  --allow-origin ORIGIN     also follow the server's URLs on ORIGIN\n"
	  "                            (https://HOST[:PORT]; repeatable), for a CA that\n"
	  "                            really serves from several hosts; kept for the\n"
	  "                            server, later commands honour it\n"
	  "  --json                    print the stored account as JSON\n"
	  "  --token URI               make the account key on a PKCS#11 token (RFC 7512\n"
	  "                            URI; id= or object= picks an existing key); every\n"
	  "                            command that signs for the account then needs\n"
	  "  --pin-file F              the token's user PIN, from file F or fd:N\n"
	  "  --pkcs11-module M         the module when the URI has no module-path\n" },
	{ "list", sub_list, "j",
	  "usage: certkeep account list [--json]\n"
	  "\n"
	  "Lists the accounts in the store (no server is asked).\n" },
	{ "show", sub_show, "sajP",
	  "usage: certkeep account show [--server URL] [--account NAME] [--json]\n"
	  "\n"
	  "Fetches the account from the server (signed with the stored key), records\n"
	  "its status and prints URL, status, contacts, terms, key algorithm and JWK\n"
	  "thumbprint.  Default: the store's default server and its default account.\n"
	  "--pin-file F: the token's PIN when the account key is on a token.\n" },
	{ "update", sub_update, "sacAjoP",
	  "usage: certkeep account update [--server URL] [--account NAME] [--contact URI]...\n"
	  "                               [--agree-tos] [--allow-origin ORIGIN]...\n"
	  "\n"
	  "Replaces the account's contacts (--contact '' clears them) and/or agrees\n"
	  "to the server's (new) terms of service.  --allow-origin replaces the list\n"
	  "of other origins (https://HOST[:PORT]) whose URLs certkeep follows for\n"
	  "this server ('' clears it; only the store changes, the server is not\n"
	  "asked).  Otherwise every URL must be on the directory's own origin.\n" },
	{ "recover", sub_recover, "safjoTPM",
	  "usage: certkeep account recover --server URL --key-file F [--account NAME]\n"
	  "                                [--allow-origin ORIGIN]...\n"
	  "       certkeep account recover --server URL --token URI --pin-file F\n"
	  "                                [--pkcs11-module M] [--account NAME]\n"
	  "\n"
	  "Finds the server's account for the key in F (onlyReturnExisting) and\n"
	  "stores the key and the account.  Nothing is created on the server.\n"
	  "With --token the key stayed on a PKCS#11 token: the URI names it (id= or\n"
	  "object=), it signs there with the PIN from --pin-file (a file or fd:N,\n"
	  "else the URI's pin-source; tried once), and the store records its URI.\n"
	  "--allow-origin as for register.\n" },
	{ "rollover", sub_rollover, "satfgjTPM",
	  "usage: certkeep account rollover [--server URL] [--account NAME] [--key-type T]\n"
	  "                                 [--key-file F] [--grace SECONDS]\n"
	  "\n"
	  "Replaces the account key (RFC 8555 7.3.5).  The new key is stored as the\n"
	  "account's pending key before the server is asked; if anything is\n"
	  "interrupted, the next account command asks the server which key it\n"
	  "accepts and keeps that one.\n"
	  "\n"
	  "  --key-type T      type of the new key (default: the current key's type)\n"
	  "  --key-file F      roll over to this PEM key instead of a new one\n"
	  "  --grace SECONDS   after the rollover, retry requests the server rejects\n"
	  "                    with \"JWS verification error\" (a stale key cache) for\n"
	  "                    this long; later commands honour it too (default 10, 0 off)\n"
	  "  --token URI       make the new key on a PKCS#11 token (RFC 7512 URI)\n"
	  "  --pin-file F      the token's user PIN (file or fd:N): for the new key,\n"
	  "                    and for the current one when it is on a token\n"
	  "  --pkcs11-module M the module when the URI has no module-path\n" },
	{ "deactivate", sub_deactivate, "sayP",
	  "usage: certkeep account deactivate [--server URL] [--account NAME] --yes\n"
	  "\n"
	  "Deactivates the account on the server.  This is final: no certificate\n"
	  "can be issued with it afterwards.\n" },
};

static void
account_usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: certkeep account SUBCOMMAND [options]\n\nsubcommands:\n");
	for (i = 0; i < CK_ARRAY_LEN(subs); i++)
		fprintf(fp, "  %s\n", subs[i].name);
	fprintf(fp, "\n'certkeep account SUBCOMMAND --help' describes one.\n");
}

int
cmd_account(struct cli *cli, int argc, char **argv)
{
	struct acct_args a;
	const struct acct_sub *sub = NULL;
	char cmd[48];
	size_t i;
	int c, r;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		account_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	for (i = 0; i < CK_ARRAY_LEN(subs); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			sub = &subs[i];
	if (sub == NULL)
		return cli_usage_error("account", "unknown subcommand '%s'", argv[1]);
	snprintf(cmd, sizeof(cmd), "account %s", sub->name);
	memset(&a, 0, sizeof(a));
	a.sub = sub->name;
	argc--;
	argv++;
	optind = 0;
	opterr = 0; /* our own one-line message below */
	while ((c = getopt_long(argc, argv, "h", all_opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(sub->usage, stdout);
			return CLI_EXIT_OK;
		}
		if (c == '?' || strchr(sub->opts, opt_letter(c)) == NULL)
			return cli_usage_error(cmd, "unknown option, or one this subcommand does "
					       "not take, or a missing value: '%s'",
					       argv[optind - 1 > 0 ? optind - 1 : 0]);
		if ((r = opt_value(&a, c, optarg, cmd)) >= 0)
			return r;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return sub->run(cli, &a);
}
