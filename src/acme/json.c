/*
 * json.c - bounded, type-checked reading of the JSON an ACME server sends.
 * Owns the size and depth limits and the https-only rule for URLs; never
 * trusts a member's type without checking it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/crypto.h"
#include "acme/acme_int.h"

int
acme_url_ok(const char *url)
{
	size_t i;

	if (url == NULL || strncasecmp(url, "https://", 8) != 0 || url[8] == '\0')
		return 0;
	for (i = 0; url[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)url[i];
		if (i >= ACME_URL_MAX || ch <= 0x20 || ch >= 0x7f)
			return 0;
	}
	return 1;
}

/*
 * Depth of the deepest array/object nesting, counted outside strings.
 * jansson 2.14 has its own hard limit (2048) but no flag for ours.
 */
static size_t
json_depth(const char *s, size_t len)
{
	size_t i, depth = 0, max = 0;
	int in_str = 0, esc = 0;

	for (i = 0; i < len; i++) {
		char ch = s[i];
		if (in_str) {
			if (esc)
				esc = 0;
			else if (ch == '\\')
				esc = 1;
			else if (ch == '"')
				in_str = 0;
			continue;
		}
		if (ch == '"') {
			in_str = 1;
		} else if (ch == '{' || ch == '[') {
			if (++depth > max)
				max = depth;
		} else if ((ch == '}' || ch == ']') && depth > 0) {
			depth--;
		}
	}
	return max;
}

enum ck_code
acme_json_load(const char *body, size_t len, json_t **out, struct ck_err *err)
{
	json_error_t jerr;
	json_t *j;

	if (body == NULL || len == 0)
		return CK_FAIL(err, CK_ERR_PARSE, "the server sent an empty body where JSON was expected");
	if (len > ACME_BODY_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "the server sent %zu bytes of JSON (limit %d)",
			       len, ACME_BODY_MAX);
	if (json_depth(body, len) > ACME_JSON_DEPTH_MAX)
		return CK_FAIL(err, CK_ERR_PARSE, "the server's JSON is nested deeper than %d levels",
			       ACME_JSON_DEPTH_MAX);
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		char safe[128];
		ck_str_printable(safe, sizeof(safe), jerr.text);
		return CK_FAIL(err, CK_ERR_PARSE, "the server's JSON is malformed at line %d: %s",
			       jerr.line, safe);
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return CK_FAIL(err, CK_ERR_PARSE, "the server's JSON is not an object");
	}
	*out = j;
	return CK_OK;
}

static int
str_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

enum ck_code
acme_json_str(json_t *obj, const char *name, size_t max, int required, char **out,
	      struct ck_err *err)
{
	json_t *v = json_object_get(obj, name);
	const char *s;
	char *copy;

	if (v == NULL || json_is_null(v)) {
		if (required)
			return CK_FAIL(err, CK_ERR_PARSE, "the server's answer lacks \"%s\"", name);
		*out = NULL;
		return CK_OK;
	}
	if (!json_is_string(v))
		return CK_FAIL(err, CK_ERR_PARSE, "the server's \"%s\" is not a string", name);
	s = json_string_value(v);
	if (json_string_length(v) > max || strlen(s) != json_string_length(v))
		return CK_FAIL(err, CK_ERR_PARSE, "the server's \"%s\" is longer than %zu bytes",
			       name, max);
	if (!str_printable(s))
		return CK_FAIL(err, CK_ERR_PARSE, "the server's \"%s\" holds non-printable bytes", name);
	copy = strdup(s);
	if (copy == NULL)
		return CK_OOM(err);
	*out = copy;
	return CK_OK;
}

enum ck_code
acme_json_url(json_t *obj, const char *name, int required, char **out, struct ck_err *err)
{
	char *s = NULL;
	enum ck_code rc = acme_json_str(obj, name, ACME_URL_MAX, required, &s, err);

	if (rc != CK_OK)
		return rc;
	if (s != NULL && !acme_url_ok(s)) {
		char safe[96];
		ck_str_printable(safe, sizeof(safe), s);
		free(s);
		return CK_FAIL(err, CK_ERR_PARSE,
			       "the server's \"%s\" (%s) is not an https:// URL; refusing it", name,
			       safe);
	}
	*out = s;
	return CK_OK;
}

static const char *const status_names[] = {
	[ACME_ST_UNKNOWN] = "unknown",       [ACME_ST_PENDING] = "pending",
	[ACME_ST_READY] = "ready",           [ACME_ST_PROCESSING] = "processing",
	[ACME_ST_VALID] = "valid",           [ACME_ST_INVALID] = "invalid",
	[ACME_ST_EXPIRED] = "expired",       [ACME_ST_DEACTIVATED] = "deactivated",
	[ACME_ST_REVOKED] = "revoked",
};

enum acme_status
acme_status_parse(const char *text)
{
	size_t i;

	if (text == NULL)
		return ACME_ST_UNKNOWN;
	for (i = ACME_ST_UNKNOWN + 1; i < CK_ARRAY_LEN(status_names); i++)
		if (strcmp(text, status_names[i]) == 0)
			return (enum acme_status)i;
	return ACME_ST_UNKNOWN;
}

const char *
acme_status_name(enum acme_status st)
{
	if ((size_t)st >= CK_ARRAY_LEN(status_names))
		return status_names[ACME_ST_UNKNOWN];
	return status_names[st];
}

enum ck_code
acme_json_status(json_t *obj, char **text, enum acme_status *state, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = acme_json_str(obj, "status", ACME_FIELD_MAX, 1, text, err)) != CK_OK)
		return rc;
	*state = acme_status_parse(*text);
	return CK_OK;
}

enum ck_code
acme_json_strv(json_t *obj, const char *name, size_t max_items, size_t max_len, int urls,
	       int required, struct ck_strv *out, struct ck_err *err)
{
	struct ck_strv v = { 0 };
	json_t *arr = json_object_get(obj, name);
	enum ck_code rc = CK_ERR_PARSE;
	size_t i;

	if (arr == NULL || json_is_null(arr)) {
		if (required)
			return CK_FAIL(err, CK_ERR_PARSE, "the server's answer lacks \"%s\"", name);
		*out = v;
		return CK_OK;
	}
	if (!json_is_array(arr))
		return CK_FAIL(err, CK_ERR_PARSE, "the server's \"%s\" is not an array", name);
	if (json_array_size(arr) > max_items)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "the server's \"%s\" has %zu entries (limit %zu)",
			       name, json_array_size(arr), max_items);
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *e = json_array_get(arr, i);
		const char *s = json_string_value(e);
		if (s == NULL || json_string_length(e) > max_len || strlen(s) != json_string_length(e) ||
		    !str_printable(s) || (urls && !acme_url_ok(s))) {
			rc = CK_FAIL(err, CK_ERR_PARSE, "entry %zu of the server's \"%s\" is not %s", i,
				     name, urls ? "an https:// URL" : "a printable string");
			goto out;
		}
		if ((rc = ck_strv_add(&v, s, max_items, max_len, err)) != CK_OK)
			goto out;
	}
	*out = v;
	return CK_OK;
out:
	ck_strv_cleanup(&v);
	return rc;
}

enum ck_code
acme_json_bool(json_t *obj, const char *name, int *out, struct ck_err *err)
{
	json_t *v = json_object_get(obj, name);

	if (v == NULL || json_is_null(v)) {
		*out = -1;
		return CK_OK;
	}
	if (!json_is_boolean(v))
		return CK_FAIL(err, CK_ERR_PARSE, "the server's \"%s\" is not a boolean", name);
	*out = json_is_true(v) ? 1 : 0;
	return CK_OK;
}

enum ck_code
acme_json_dump(json_t *obj, char **out, struct ck_err *err)
{
	char *s = ck_json_dumps(obj, JSON_COMPACT);

	if (s == NULL)
		return CK_FAIL(err, CK_ERR_NOMEM, "cannot serialise a JSON request");
	*out = s;
	return CK_OK;
}
