/*
 * strv.c - small helpers every store file uses: string arrays to and from
 * JSON text (jansson), bounded input checks, formatted strings.  Pure: no
 * database.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/store_int.h"

enum ck_code
st_strv_to_json(const char *const *v, size_t n, size_t max_n, size_t max_len, char **out,
		struct ck_err *err)
{
	json_t *arr = NULL;
	enum ck_code rc = CK_ERR_NOMEM;
	char *s = NULL;
	size_t i;

	if (n > max_n)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "%zu names given; at most %zu are allowed", n,
			       max_n);
	if ((arr = json_array()) == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		if (v[i] == NULL || v[i][0] == '\0' || strlen(v[i]) > max_len) {
			rc = CK_FAIL(err, CK_ERR_INVALID_ARG,
				     "name %zu is empty or longer than %zu bytes", i + 1, max_len);
			goto out;
		}
		if (json_array_append_new(arr, json_string(v[i])) != 0) {
			rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "name %zu is not valid UTF-8", i + 1);
			goto out;
		}
	}
	if ((s = ck_json_dumps(arr, JSON_COMPACT)) == NULL)
		goto nomem;
	*out = s;
	rc = CK_OK;
	goto out;
nomem:
	rc = CK_OOM(err);
out:
	json_decref(arr);
	return rc;
}

void
st_strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

enum ck_code
st_strv_from_json(const char *json, size_t max_n, char ***v, size_t *n, struct ck_err *err)
{
	json_t *arr = NULL, *item;
	json_error_t jerr;
	char **res = NULL;
	size_t i, cnt = 0;
	enum ck_code rc = CK_ERR_PARSE;

	arr = json_loads(json ? json : "[]", JSON_REJECT_DUPLICATES, &jerr);
	if (arr == NULL || !json_is_array(arr)) {
		rc = CK_FAIL(err, CK_ERR_CORRUPT, "a stored name list is not a JSON array");
		goto out;
	}
	cnt = json_array_size(arr);
	if (cnt > max_n) {
		rc = CK_FAIL(err, CK_ERR_TOO_LARGE, "a stored name list has %zu entries", cnt);
		goto out;
	}
	if ((res = calloc(cnt + 1, sizeof(*res))) == NULL)
		goto nomem;
	json_array_foreach(arr, i, item) {
		if (!json_is_string(item)) {
			rc = CK_FAIL(err, CK_ERR_CORRUPT, "a stored name list holds a non-string");
			goto out;
		}
		if ((res[i] = strdup(json_string_value(item))) == NULL)
			goto nomem;
	}
	*v = res;
	*n = cnt;
	res = NULL;
	rc = CK_OK;
	goto out;
nomem:
	rc = CK_OOM(err);
out:
	st_strv_free(res, cnt);
	json_decref(arr);
	return rc;
}

char *
st_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

enum ck_code
st_check_text(const char *what, const char *s, size_t max, int required, struct ck_err *err)
{
	if (s == NULL) {
		if (required)
			return CK_FAIL(err, CK_ERR_INVALID_ARG, "%s is missing", what);
		return CK_OK;
	}
	if (strnlen(s, max + 1) > max)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "%s is longer than %zu bytes", what, max);
	if (required && s[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "%s is empty", what);
	return CK_OK;
}

enum ck_code
st_check_name(const char *what, const char *s, int required, struct ck_err *err)
{
	char shown[CK_STORE_NAME_MAX + 1];

	if (s == NULL) {
		if (required)
			return CK_FAIL(err, CK_ERR_INVALID_ARG, "%s is missing", what);
		return CK_OK;
	}
	if (!ck_store_name_valid(s)) {
		ck_str_printable(shown, sizeof(shown), s);
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "%s '%s' is not valid: use 1 to %d of letters, digits, '.', '_' "
			       "and '-', not starting with '.' or '-'",
			       what, shown, CK_STORE_NAME_MAX);
	}
	return CK_OK;
}

enum ck_code
st_check_hex(const char *what, const char *s, size_t len, struct ck_err *err)
{
	size_t i;

	if (s == NULL || strnlen(s, len + 1) != len)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "%s must be %zu hex digits", what, len);
	for (i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "%s must be %zu lower-case hex digits", what, len);
	}
	return CK_OK;
}
