/*
 * str.c - the small string helpers every floor shares: hex text of bytes,
 * the bounded string vector, and the rule for names we hand out (store and
 * token names).  One of each, so a fix lands once.
 *
 * Must never: write past the caller's buffer, grow a vector past its
 * maximum, or accept a name that could become a path or an option.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static size_t
hex_encode(const char *digits, const unsigned char *in, size_t n, char *out, size_t outlen)
{
	size_t i;

	if (out == NULL || outlen == 0)
		return 0;
	if (n > (outlen - 1) / 2) {
		out[0] = '\0';
		return 0;
	}
	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
	return 2 * n;
}

size_t
ck_hex_encode(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	return hex_encode("0123456789abcdef", in, n, out, outlen);
}

size_t
ck_hex_encode_upper(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	return hex_encode("0123456789ABCDEF", in, n, out, outlen);
}

/* ---- the bounded string vector ------------------------------------------ */

enum ck_code
ck_strv_add(struct ck_strv *v, const char *s, size_t max_items, size_t max_len,
	    struct ck_err *err)
{
	char **nv, *copy;
	size_t cap, limit;

	if (v == NULL || s == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no string to add");
	if (v->n >= max_items)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %zu entries", max_items);
	if (strnlen(s, max_len + 1) > max_len)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "an entry is longer than %zu bytes", max_len);
	if (v->n + 1 >= v->cap) {
		/* Doubles (at least 4), never past max_items + 1 (the NULL after the last). */
		limit = max_items < SIZE_MAX ? max_items + 1 : SIZE_MAX;
		cap = v->cap < 4 ? 4 : v->cap * 2;
		if (cap > limit || cap < v->cap)
			cap = limit;
		if (cap > SIZE_MAX / sizeof(*nv))
			return CK_OOM(err);
		if ((nv = realloc(v->v, cap * sizeof(*nv))) == NULL)
			return CK_OOM(err);
		v->v = nv;
		v->cap = cap;
	}
	if ((copy = strdup(s)) == NULL)
		return CK_OOM(err);
	v->v[v->n++] = copy;
	v->v[v->n] = NULL;
	return CK_OK;
}

void
ck_strv_cleanup(struct ck_strv *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = 0;
	v->cap = 0;
}

/* ---- names we hand out ---------------------------------------------------- */

int
ck_str_is_name(const char *s, size_t max)
{
	size_t i, n;

	if (s == NULL || (n = strnlen(s, max + 1)) == 0 || n > max || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}
