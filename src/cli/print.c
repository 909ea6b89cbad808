/*
 * print.c - output helpers shared by the commands (see print.h).  Builds
 * JSON with jansson only; never prints secrets, never changes the store.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/print.h"

json_t *
print_json_time(time_t t)
{
	char buf[21];

	if (t == 0)
		return json_null();
	ck_time_rfc3339(t, buf);
	return json_string(buf);
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *
print_revoked_json(const struct ck_cert_row *r)
{
	json_t *o;

	if (r->revoked_at == 0)
		return json_null();
	o = json_object();
	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "at", print_json_time(r->revoked_at)) != 0 ||
	    json_object_set_new(o, "reason", r->revoke_reason[0] ? json_string(r->revoke_reason)
								  : json_null()) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
print_cert_json(const struct ck_cert_row *r)
{
	json_t *o = json_object(), *sans = json_array(), *key = json_object();
	size_t i;
	int bad = 0;

	if (o == NULL || sans == NULL || key == NULL) {
		json_decref(o);
		json_decref(sans);
		json_decref(key);
		return NULL;
	}
	for (i = 0; i < r->nsans; i++)
		bad |= json_array_append_new(sans, json_string(r->sans[i]));
	bad |= json_object_set_new(key, "algorithm", json_string(r->key_algorithm));
	bad |= json_object_set_new(key, "location", str_or_null(r->key_location));
	bad |= json_object_set_new(key, "linked", json_boolean(r->linked));
	bad |= json_object_set_new(o, "name", str_or_null(r->lineage));
	bad |= json_object_set_new(o, "current", json_boolean(r->is_current));
	bad |= json_object_set_new(o, "sha256", json_string(r->sha256));
	bad |= json_object_set_new(o, "sha1", json_string(r->sha1));
	bad |= json_object_set_new(o, "subject", str_or_null(r->subject));
	bad |= json_object_set_new(o, "sans", sans);
	bad |= json_object_set_new(o, "issuer", str_or_null(r->issuer));
	bad |= json_object_set_new(o, "serial", json_string(r->serial));
	bad |= json_object_set_new(o, "not_before", print_json_time(r->not_before));
	bad |= json_object_set_new(o, "not_after", print_json_time(r->not_after));
	bad |= json_object_set_new(o, "key", key);
	bad |= json_object_set_new(o, "chain_length", json_integer((json_int_t)r->chain_len));
	bad |= json_object_set_new(o, "origin", str_or_null(r->origin));
	bad |= json_object_set_new(o, "created", print_json_time(r->created));
	bad |= json_object_set_new(o, "revoked", print_revoked_json(r));
	bad |= json_object_set_new(o, "profile", str_or_null(r->profile[0] ? r->profile : NULL));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int
print_json_out(json_t *v)
{
	int rc;

	if (v == NULL) {
		fprintf(stderr, "certkeep: out of memory while building the JSON output\n");
		return CLI_EXIT_FAIL;
	}
	rc = json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(v);
	if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
		fprintf(stderr, "certkeep: writing the JSON output failed\n");
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

void
print_date(time_t t, char out[11])
{
	char full[21];

	ck_time_rfc3339(t, full);
	memcpy(out, full, 10);
	out[10] = '\0';
}

const char *
print_key_state(const struct ck_cert_row *r)
{
	if (!r->linked)
		return "NO KEY";
	if (r->key_location != NULL && strncmp(r->key_location, "pkcs11:", 7) == 0)
		return "token";
	return "store";
}

void
print_sans(const struct ck_cert_row *r, char *out, size_t n)
{
	size_t i, used = 0;
	int w;

	if (n == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < r->nsans; i++) {
		w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", r->sans[i]);
		if (w < 0 || (size_t)w >= n - used) {
			if (n > 4)
				memcpy(out + n - 4, "...", 4);
			return;
		}
		used += (size_t)w;
	}
}
