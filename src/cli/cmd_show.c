/*
 * cmd_show.c - `certkeep show REF [--json]`: everything about one
 * certificate: names, validity, thumbprints, issuer, chain, key location
 * and link state, lineage, and the bindings that use it.  Prints what the
 * store says; decides nothing.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "challenge/challenge.h"
#include "cli/print.h"
#include "store/store.h"

struct show {
	struct ck_cert_row row;
	struct ck_der_list chain;
	struct ck_cert_info *chain_info;
	struct ck_binding_list bindings;
	unsigned char *der;
	size_t der_len;
	struct ck_cert_chains chains; /* the default chain and the alternates offered */
	struct chall_settings_rec challenge; /* its lineage's recorded challenge settings */
	int have_challenge;
	char challenge_bad[CK_ERR_MSG_MAX]; /* why the record cannot be read, "" = it can */
	struct ck_lineage lin;        /* its lineage (the recorded token), zeroed if none */
	time_t now;
};

static void
show_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep show REF [--json]\n"
		"\n"
		"Everything about one certificate: names, validity, thumbprints, issuer,\n"
		"chain, where its private key is and whether it is linked, its lineage (and\n"
		"the ACME profile, the challenge settings and the PKCS#11 token the lineage\n"
		"asks for) and the bindings that use it.\n"
		"\n"
		"REF is a lineage name (its current certificate), a SHA-256 thumbprint (full,\n"
		"or a unique prefix of at least 8 hex digits) or a SHA-1 thumbprint as\n"
		"Windows shows it (any case, spaces or colons allowed).\n"
		"\n"
		"options:\n"
		"  --json      one JSON object (the fields of 'list --json' plus chain,\n"
		"              alternate_chains (count), chains (every chain: index,\n"
		"              top_issuer, length, selected; see `certkeep chain`),\n"
		"              challenge (the lineage's recorded settings, or null),\n"
		"              token (the lineage's recorded token: uri, module,\n"
		"              pin_file, each null if not recorded; or null) and\n"
		"              bindings)\n"
		"  -h, --help  this text\n");
}

static void
show_cleanup(struct show *s)
{
	size_t i;

	for (i = 0; s->chain_info != NULL && i < s->chain.n; i++)
		ck_cert_info_cleanup(&s->chain_info[i]);
	free(s->chain_info);
	ck_der_list_cleanup(&s->chain);
	ck_binding_list_cleanup(&s->bindings);
	ck_cert_chains_cleanup(&s->chains);
	ck_cert_row_cleanup(&s->row);
	chall_settings_rec_cleanup(&s->challenge);
	ck_lineage_cleanup(&s->lin);
	free(s->der);
}

/* The lineage (kept in s->lin) and its recorded challenge settings, if any. */
static enum ck_code
show_challenge(struct ck_store *st, struct show *s, struct ck_err *err)
{
	enum ck_code rc;

	if (s->row.lineage == NULL)
		return CK_OK;
	if ((rc = ck_store_lineage_get(st, s->row.lineage, &s->lin, err)) != CK_OK)
		return rc;
	if (s->lin.challenge != NULL) {
		struct ck_err e;

		/* Shown, not fatal: show reports what the store holds. */
		if (chall_settings_decode(s->lin.challenge, &s->challenge, &e) == CK_OK)
			s->have_challenge = 1;
		else
			snprintf(s->challenge_bad, sizeof(s->challenge_bad), "%s", e.msg);
	}
	return CK_OK;
}

static enum ck_code
show_load(struct ck_store *st, int64_t id, struct show *s, struct ck_err *err)
{
	enum ck_code rc;
	size_t i;

	if ((rc = ck_store_cert_get(st, id, &s->row, err)) != CK_OK ||
	    (rc = ck_store_cert_der(st, id, &s->der, &s->der_len, &s->chain, err)) != CK_OK ||
	    (rc = ck_store_cert_bindings(st, id, &s->bindings, err)) != CK_OK ||
	    (rc = ck_store_cert_chains(st, id, &s->chains, err)) != CK_OK ||
	    (rc = show_challenge(st, s, err)) != CK_OK)
		return rc;
	s->chain_info = calloc(s->chain.n + 1, sizeof(*s->chain_info));
	if (s->chain_info == NULL)
		return CK_OOM(err);
	for (i = 0; i < s->chain.n; i++) {
		rc = ck_cert_info_from_der(s->chain.items[i].data, s->chain.items[i].len,
					   &s->chain_info[i], err);
		if (rc != CK_OK) {
			ck_err_prefix(err, "chain certificate %zu", i + 1);
			return rc;
		}
	}
	return CK_OK;
}

static json_t *
show_chain_json(const struct show *s)
{
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; arr != NULL && i < s->chain.n; i++) {
		const struct ck_cert_info *c = &s->chain_info[i];
		o = json_pack("{s:s, s:s, s:s, s:o}", "subject", c->subject, "issuer", c->issuer,
			      "sha256", c->sha256, "not_after", print_json_time(c->not_after));
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *
show_bindings_json(const struct show *s)
{
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; arr != NULL && i < s->bindings.n; i++) {
		const struct ck_binding *b = &s->bindings.items[i];
		o = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?}", "name", b->name, "lineage",
			      b->lineage, "pinned_sha256",
			      b->pinned_sha256[0] ? b->pinned_sha256 : NULL, "target", b->target,
			      "last_sha256", b->last_sha256[0] ? b->last_sha256 : NULL, "state",
			      b->state);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* The recorded settings as their record's object, or null. */
static json_t *
show_challenge_json(const struct show *s)
{
	char *text = NULL;
	json_t *v;

	if (!s->have_challenge)
		return json_null();
	if (chall_settings_encode(&s->challenge.s, &text, NULL) != CK_OK)
		return NULL;
	v = json_loads(text, 0, NULL);
	free(text);
	return v;
}

/* The lineage's recorded token {uri, module, pin_file}, or null. */
static json_t *
show_token_json(const struct show *s)
{
	if (s->lin.token_uri == NULL)
		return json_null();
	return json_pack("{s:s, s:s?, s:s?}", "uri", s->lin.token_uri, "module",
			 s->lin.token_module, "pin_file", s->lin.token_pin_file);
}

static int
show_json(const struct show *s)
{
	json_t *o = print_cert_json(&s->row), *key;

	if (o == NULL)
		return print_json_out(NULL);
	key = json_object_get(o, "key");
	/* Each set takes its value, also when it fails: nothing to free here. */
	if ((key != NULL && s->row.linked &&
	     json_object_set_new(key, "id", json_integer((json_int_t)s->row.key_id)) != 0) ||
	    json_object_set_new(o, "spki_sha256", json_string(s->row.spki_sha256)) != 0 ||
	    json_object_set_new(o, "chain", show_chain_json(s)) != 0 ||
	    json_object_set_new(o, "alternate_chains",
				json_integer((json_int_t)(s->chains.n - 1))) != 0 ||
	    json_object_set_new(o, "chains", print_chains_json(&s->chains)) != 0 ||
	    json_object_set_new(o, "bindings", show_bindings_json(s)) != 0 ||
	    json_object_set_new(o, "challenge", show_challenge_json(s)) != 0 ||
	    json_object_set_new(o, "token", show_token_json(s)) != 0 ||
	    json_object_set_new(o, "expired", json_boolean(s->row.not_after < s->now)) != 0) {
		json_decref(o);
		o = NULL;
	}
	return print_json_out(o);
}

static void
show_key(const struct ck_cert_row *r)
{
	if (!r->linked)
		printf("  %-12s NONE in this store: the state Windows reports as \"Keyset does not\n"
		       "  %-12s exist\"; import its key (certkeep import key.pem) and it is linked\n",
		       "key", "");
	else if (strncmp(r->key_location, "pkcs11:", 7) == 0)
		printf("  %-12s %s, on a token (cannot leave it): %s\n", "key", r->key_algorithm,
		       r->key_location);
	else
		printf("  %-12s %s, in the store (key %lld), linked\n", "key", r->key_algorithm,
		       (long long)r->key_id);
}

static void
show_human(const struct show *s)
{
	const struct ck_cert_row *r = &s->row;
	char nb[21], na[21], sans[4096];
	long days = (long)((r->not_after - s->now) / 86400);
	size_t i;

	ck_time_rfc3339(r->not_before, nb);
	ck_time_rfc3339(r->not_after, na);
	print_sans(r, sans, sizeof(sans));
	printf("certificate %s\n", r->sha256);
	printf("  %-12s %s%s\n", "lineage", r->lineage ? r->lineage : "(none)",
	       r->lineage ? (r->is_current ? " (current)" : " (not current)") : "");
	if (r->profile[0] != '\0')
		printf("  %-12s %s\n", "profile", r->profile);
	if (s->have_challenge) {
		char desc[2048];
		chall_settings_describe(&s->challenge.s, desc, sizeof(desc));
		printf("  %-12s %s\n", "challenge", desc);
	} else if (s->challenge_bad[0] != '\0') {
		printf("  %-12s (the recorded settings cannot be read: %s)\n", "challenge",
		       s->challenge_bad);
	}
	if (s->lin.token_uri != NULL) {
		printf("  %-12s %s\n", "token", s->lin.token_uri);
		if (s->lin.token_module != NULL)
			printf("  %-12s %s\n", "module", s->lin.token_module);
		printf("  %-12s %s\n", "pin file", s->lin.token_pin_file != NULL
		       ? s->lin.token_pin_file : "(none recorded: renew needs --pin-file, unless the URI has pin-source)");
	}
	printf("  %-12s %s\n", "subject", r->subject ? r->subject : "");
	printf("  %-12s %s\n", "names", sans);
	printf("  %-12s %s\n", "issuer", r->issuer ? r->issuer : "");
	printf("  %-12s %s\n", "serial", r->serial);
	printf("  %-12s %s\n", "not before", nb);
	if (r->not_after < s->now)
		printf("  %-12s %s (EXPIRED)\n", "not after", na);
	else
		printf("  %-12s %s (%ld days left)\n", "not after", na, days);
	printf("  %-12s %s\n", "sha-256", r->sha256);
	printf("  %-12s %s\n", "sha-1", r->sha1);
	if (r->revoked_at != 0) {
		ck_time_rfc3339(r->revoked_at, nb);
		printf("  %-12s REVOKED at %s, reason %s\n", "revoked", nb,
		       r->revoke_reason[0] ? r->revoke_reason : "not known (already revoked)");
	}
	show_key(r);
	if (s->chain.n == 0)
		printf("  %-12s (none stored)\n", "chain");
	for (i = 0; i < s->chain.n; i++)
		printf("  %-12s %zu. %s\n", i == 0 ? "chain" : "", i + 1, s->chain_info[i].subject);
	if (s->chains.n > 1)
		printf("  %-12s %zu alternate chain(s) offered by the server, recorded\n",
		       "alternates", s->chains.n - 1);
	print_chains_human(&s->chains, "chains");
	if (s->bindings.n == 0)
		printf("  %-12s (none)\n", "bindings");
	for (i = 0; i < s->bindings.n; i++) {
		const struct ck_binding *b = &s->bindings.items[i];
		printf("  %-12s %s -> %s (%s)\n", i == 0 ? "bindings" : "", b->name,
		       b->target ? b->target : "?", b->state ? b->state : "?");
	}
	if (r->origin != NULL)
		printf("  %-12s %s\n", "origin", r->origin);
}

int
cmd_show(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ck_store *st = NULL;
	struct show s;
	struct ck_err err;
	int64_t id = 0;
	int c, json = 0, rc = CLI_EXIT_FAIL;

	ck_err_clear(&err);
	memset(&s, 0, sizeof(s));
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			show_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("show", "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("show", optind >= argc ? "a REF is required"
							   : "exactly one REF, please");
	if (cli_store_open(cli, &st, &err) != 0)
		return cli_fail(cli, &err);
	s.now = ck_now(&cli->ctx);
	if (ck_store_ref_resolve(st, argv[optind], &id, &err) != CK_OK ||
	    show_load(st, id, &s, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
	} else if (json) {
		rc = show_json(&s);
	} else {
		show_human(&s);
		rc = CLI_EXIT_OK;
	}
	show_cleanup(&s);
	ck_store_close(st);
	return rc;
}
