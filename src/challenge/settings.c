/*
 * settings.c - challenge settings as recorded on a lineage: the one place
 * that turns struct ck_challenge_settings into its JSON record and back.
 * The record is outside data (anyone can edit the store), so decoding is
 * bounded and type-checked field by field and refuses what it does not
 * know.  Records hold paths, ports, addresses and program names, never a
 * secret's value (the TSIG key stays in its file).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "challenge/challenge.h"
#include "challenge/http01.h"
#include "challenge/tlsalpn01.h"
#include "crypto/crypto.h"

/* The string fields, by their record name. */
static const struct {
	const char *key;
	size_t off;
} str_fields[] = {
	{ "http_address", offsetof(struct ck_challenge_settings, http_address) },
	{ "webroot", offsetof(struct ck_challenge_settings, webroot) },
	{ "tls_address", offsetof(struct ck_challenge_settings, tls_address) },
	{ "dns_hook", offsetof(struct ck_challenge_settings, dns_hook) },
	{ "dns_update", offsetof(struct ck_challenge_settings, dns_update) },
	{ "tsig_file", offsetof(struct ck_challenge_settings, tsig_file) },
	{ "dns_resolver", offsetof(struct ck_challenge_settings, dns_resolver) },
};

/* The unsigned fields: record name, offset, maximum (0 means "default"). */
static const struct {
	const char *key;
	size_t off;
	unsigned max;
} uint_fields[] = {
	{ "http_port", offsetof(struct ck_challenge_settings, http_port), 65535 },
	{ "tls_port", offsetof(struct ck_challenge_settings, tls_port), 65535 },
	{ "dns_hook_timeout", offsetof(struct ck_challenge_settings, dns_hook_timeout),
	  CHALL_SECONDS_MAX },
};

#define STR_AT(cfg, off) (*(const char *const *)((const char *)(cfg) + (off)))
#define STR_SLOT(cfg, off) ((const char **)((char *)(cfg) + (off)))
#define UINT_AT(cfg, off) (*(const unsigned *)((const char *)(cfg) + (off)))

static int
uses_type(const struct ck_challenge_settings *cfg, enum ck_challenge_type t)
{
	size_t i;

	if (cfg->type == t || (t == CK_CHALLENGE_HTTP01 && cfg->type == CK_CHALLENGE_DEFAULT))
		return 1;
	for (i = 0; i < cfg->noverrides; i++)
		if (cfg->overrides[i].type == t)
			return 1;
	return 0;
}

int
chall_settings_listener(const struct ck_challenge_settings *cfg, enum ck_challenge_type type,
			const char **address, unsigned *port)
{
	if (type == CK_CHALLENGE_HTTP01 && cfg->webroot == NULL && uses_type(cfg, type)) {
		*address = cfg->http_address;
		*port = cfg->http_port ? cfg->http_port : HTTP01_DEFAULT_PORT;
		return 1;
	}
	if (type == CK_CHALLENGE_TLSALPN01 && uses_type(cfg, type)) {
		*address = cfg->tls_address;
		*port = cfg->tls_port ? cfg->tls_port : TLSALPN_DEFAULT_PORT;
		return 1;
	}
	return 0;
}

/* Text without control characters, 1..CHALL_SETTING_STR_MAX bytes. */
static int
str_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || i >= CHALL_SETTING_STR_MAX)
			return 0;
	return i > 0;
}

static int
type_ok(enum ck_challenge_type t)
{
	return t == CK_CHALLENGE_HTTP01 || t == CK_CHALLENGE_TLSALPN01 || t == CK_CHALLENGE_DNS01;
}

enum ck_code
chall_settings_check(const struct ck_challenge_settings *cfg, struct ck_err *err)
{
	size_t i;

	if (cfg->type != CK_CHALLENGE_DEFAULT && !type_ok(cfg->type))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "unknown challenge type %d", (int)cfg->type);
	for (i = 0; i < CK_ARRAY_LEN(str_fields); i++) {
		const char *s = STR_AT(cfg, str_fields[i].off);
		if (s != NULL && !str_ok(s))
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "the %s setting must be 1 to %d bytes without control "
				       "characters", str_fields[i].key, CHALL_SETTING_STR_MAX - 1);
	}
	for (i = 0; i < CK_ARRAY_LEN(uint_fields); i++)
		if (UINT_AT(cfg, uint_fields[i].off) > uint_fields[i].max)
			return CK_FAIL(err, CK_ERR_INVALID_ARG, "the %s setting is at most %u",
				       uint_fields[i].key, uint_fields[i].max);
	if (cfg->dns_wait < -1 || cfg->dns_wait > CHALL_SECONDS_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "--dns-wait is 0 to %d seconds",
			       CHALL_SECONDS_MAX);
	if (cfg->noverrides > CK_CSR_MAX_NAMES || (cfg->noverrides > 0 && cfg->overrides == NULL))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "at most %d per-name challenge choices",
			       CK_CSR_MAX_NAMES);
	for (i = 0; i < cfg->noverrides; i++) {
		const struct ck_challenge_override *o = &cfg->overrides[i];
		if (o->name == NULL || o->name[0] == '\0' || strlen(o->name) > CK_NAME_MAX ||
		    !str_ok(o->name) || !type_ok(o->type))
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "per-name challenge choice %zu needs a name (at most %d "
				       "bytes) and a type (http-01, tls-alpn-01, dns-01)", i + 1,
				       CK_NAME_MAX);
	}
	return CK_OK;
}

static json_t *
overrides_json(const struct ck_challenge_settings *cfg)
{
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; a != NULL && i < cfg->noverrides; i++) {
		o = json_pack("{s:s, s:s}", "name", cfg->overrides[i].name, "type",
			      ck_challenge_type_name(cfg->overrides[i].type));
		if (o == NULL || json_array_append_new(a, o) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

enum ck_code
chall_settings_encode(const struct ck_challenge_settings *cfg, char **out, struct ck_err *err)
{
	json_t *o;
	char *text = NULL;
	enum ck_code rc;
	size_t i;
	int bad = 0;

	if ((rc = chall_settings_check(cfg, err)) != CK_OK)
		return rc;
	if ((o = json_object()) == NULL)
		return CK_OOM(err);
	if (cfg->type != CK_CHALLENGE_DEFAULT)
		bad |= json_object_set_new(o, "type", json_string(ck_challenge_type_name(cfg->type)));
	for (i = 0; i < CK_ARRAY_LEN(str_fields); i++)
		if (STR_AT(cfg, str_fields[i].off) != NULL)
			bad |= json_object_set_new(o, str_fields[i].key,
						   json_string(STR_AT(cfg, str_fields[i].off)));
	for (i = 0; i < CK_ARRAY_LEN(uint_fields); i++)
		if (UINT_AT(cfg, uint_fields[i].off) != 0)
			bad |= json_object_set_new(o, uint_fields[i].key,
						   json_integer(UINT_AT(cfg, uint_fields[i].off)));
	if (uses_type(cfg, CK_CHALLENGE_DNS01) && cfg->dns_wait >= 0)
		bad |= json_object_set_new(o, "dns_wait", json_integer(cfg->dns_wait));
	if (cfg->noverrides > 0)
		bad |= json_object_set_new(o, "overrides", overrides_json(cfg));
	if (!bad)
		text = ck_json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (text == NULL)
		return CK_OOM(err);
	if (strlen(text) > CHALL_SETTINGS_JSON_MAX) {
		free(text);
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "the challenge settings are over %d bytes",
			       CHALL_SETTINGS_JSON_MAX);
	}
	*out = text;
	return CK_OK;
}

/* ---- decoding ------------------------------------------------------------ */

static enum ck_code
decode_type(json_t *v, const char *what, enum ck_challenge_type *out, struct ck_err *err)
{
	if (!json_is_string(v) || ck_challenge_type_parse(json_string_value(v), out, NULL) != CK_OK)
		return CK_FAIL(err, CK_ERR_PARSE, "%s is not http-01, tls-alpn-01 or dns-01", what);
	return CK_OK;
}

static enum ck_code
decode_overrides(json_t *a, struct ck_challenge_settings *s, struct ck_err *err)
{
	struct ck_challenge_override *ov;
	size_t i, n;
	enum ck_code rc;

	if (!json_is_array(a))
		return CK_FAIL(err, CK_ERR_PARSE, "\"overrides\" is not an array");
	if ((n = json_array_size(a)) > CK_CSR_MAX_NAMES)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %d overrides", CK_CSR_MAX_NAMES);
	if (n == 0)
		return CK_OK;
	if ((ov = calloc(n, sizeof(*ov))) == NULL)
		return CK_OOM(err);
	s->overrides = ov;
	for (i = 0; i < n; i++) {
		json_t *o = json_array_get(a, i), *name = json_object_get(o, "name");

		if (!json_is_object(o) || json_object_size(o) != 2 || !json_is_string(name) ||
		    json_string_length(name) > CK_NAME_MAX)
			return CK_FAIL(err, CK_ERR_PARSE, "override %zu is not {\"name\", \"type\"} "
				       "with a name of at most %d bytes", i + 1, CK_NAME_MAX);
		if ((rc = decode_type(json_object_get(o, "type"), "an override's type", &ov[i].type,
				      err)) != CK_OK)
			return rc;
		if ((ov[i].name = strdup(json_string_value(name))) == NULL)
			return CK_OOM(err);
		s->noverrides = i + 1;
	}
	return CK_OK;
}

/* One field of the record into s; CK_ERR_PARSE for a key it does not know. */
static enum ck_code
decode_field(const char *key, json_t *v, struct ck_challenge_settings *s, struct ck_err *err)
{
	size_t i;

	if (strcmp(key, "type") == 0)
		return decode_type(v, "\"type\"", &s->type, err);
	if (strcmp(key, "overrides") == 0)
		return decode_overrides(v, s, err);
	if (strcmp(key, "dns_wait") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > CHALL_SECONDS_MAX)
			return CK_FAIL(err, CK_ERR_PARSE, "\"dns_wait\" is not 0 to %d",
				       CHALL_SECONDS_MAX);
		s->dns_wait = (int)json_integer_value(v);
		return CK_OK;
	}
	for (i = 0; i < CK_ARRAY_LEN(str_fields); i++) {
		if (strcmp(key, str_fields[i].key) != 0)
			continue;
		if (!json_is_string(v) || json_string_length(v) >= CHALL_SETTING_STR_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return CK_FAIL(err, CK_ERR_PARSE, "\"%s\" is not a string of at most %d "
				       "bytes", key, CHALL_SETTING_STR_MAX - 1);
		if ((*STR_SLOT(s, str_fields[i].off) = strdup(json_string_value(v))) == NULL)
			return CK_OOM(err);
		return CK_OK;
	}
	for (i = 0; i < CK_ARRAY_LEN(uint_fields); i++) {
		if (strcmp(key, uint_fields[i].key) != 0)
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > uint_fields[i].max)
			return CK_FAIL(err, CK_ERR_PARSE, "\"%s\" is not 1 to %u", key,
				       uint_fields[i].max);
		*(unsigned *)((char *)s + uint_fields[i].off) = (unsigned)json_integer_value(v);
		return CK_OK;
	}
	return CK_FAIL(err, CK_ERR_PARSE, "unknown field (written by a newer certkeep?)");
}

enum ck_code
chall_settings_decode(const char *json, struct chall_settings_rec *out, struct ck_err *err)
{
	struct ck_challenge_settings *s = &out->s;
	json_error_t je;
	const char *key;
	json_t *root, *v;
	enum ck_code rc = CK_OK;

	memset(out, 0, sizeof(*out));
	s->dns_wait = -1;
	if (json == NULL)
		return CK_FAIL(err, CK_ERR_PARSE, "no challenge settings");
	if (strlen(json) > CHALL_SETTINGS_JSON_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "the challenge settings are over %d bytes",
			       CHALL_SETTINGS_JSON_MAX);
	root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(root)) {
		json_decref(root);
		return CK_FAIL(err, CK_ERR_PARSE, "the challenge settings are not a JSON object");
	}
	json_object_foreach(root, key, v) {
		if ((rc = decode_field(key, v, s, err)) != CK_OK) {
			char shown[40];
			ck_str_printable(shown, sizeof(shown), key);
			ck_err_prefix(err, "challenge settings field \"%s\"", shown);
			break;
		}
	}
	json_decref(root);
	if (rc == CK_OK)
		rc = chall_settings_check(s, err);
	return rc;
}

void
chall_settings_rec_cleanup(struct chall_settings_rec *rec)
{
	size_t i;

	if (rec == NULL)
		return;
	for (i = 0; i < CK_ARRAY_LEN(str_fields); i++)
		free((char *)STR_AT(&rec->s, str_fields[i].off));
	for (i = 0; rec->s.overrides != NULL && i < rec->s.noverrides; i++)
		free((char *)rec->s.overrides[i].name);
	free((void *)rec->s.overrides);
	memset(rec, 0, sizeof(*rec));
}

/* ---- for humans ------------------------------------------------------------ */

static const char *
describe_wait(const struct ck_challenge_settings *c, char *buf, size_t n)
{
	if (c->dns_wait == 0)
		return "no wait for the record";
	snprintf(buf, n, "waits up to %d s for the record at %s", c->dns_wait < 0 ? 120 : c->dns_wait,
		 c->dns_resolver ? c->dns_resolver : "the authoritative servers");
	return buf;
}

static void
describe_type(const struct ck_challenge_settings *c, enum ck_challenge_type t, char *buf,
	      size_t n)
{
	char wait[CHALL_SETTING_STR_MAX + 64];

	if (t == CK_CHALLENGE_HTTP01 && c->webroot != NULL)
		snprintf(buf, n, "http-01 by files under %s", c->webroot);
	else if (t == CK_CHALLENGE_HTTP01)
		snprintf(buf, n, "http-01 listener on %s port %u",
			 c->http_address ? c->http_address : "every address",
			 c->http_port ? c->http_port : 80);
	else if (t == CK_CHALLENGE_TLSALPN01)
		snprintf(buf, n, "tls-alpn-01 listener on %s port %u",
			 c->tls_address ? c->tls_address : "every address",
			 c->tls_port ? c->tls_port : 443);
	else if (c->dns_hook != NULL)
		snprintf(buf, n, "dns-01 by hook %s (timeout %u s; %s)", c->dns_hook,
			 c->dns_hook_timeout ? c->dns_hook_timeout : 120, describe_wait(c, wait,
											sizeof(wait)));
	else
		snprintf(buf, n, "dns-01 by RFC 2136 update at %s (key file %s; %s)",
			 c->dns_update ? c->dns_update : "?", c->tsig_file ? c->tsig_file : "none",
			 describe_wait(c, wait, sizeof(wait)));
}

void
chall_settings_describe(const struct ck_challenge_settings *cfg, char *buf, size_t n)
{
	static const enum ck_challenge_type order[] = { CK_CHALLENGE_HTTP01,
							CK_CHALLENGE_TLSALPN01, CK_CHALLENGE_DNS01 };
	enum ck_challenge_type def = cfg->type == CK_CHALLENGE_DEFAULT ? CK_CHALLENGE_HTTP01
								       : cfg->type;
	size_t i, k, len;
	char part[1024];

	describe_type(cfg, def, buf, n);
	for (k = 0; k < CK_ARRAY_LEN(order); k++) {
		if (order[k] == def || !uses_type(cfg, order[k]))
			continue;
		describe_type(cfg, order[k], part, sizeof(part));
		len = strlen(buf);
		snprintf(buf + len, n - len, "; %s for", part);
		for (i = 0; i < cfg->noverrides; i++) {
			if (cfg->overrides[i].type != order[k])
				continue;
			len = strlen(buf);
			snprintf(buf + len, n - len, " %s", cfg->overrides[i].name);
		}
	}
}
