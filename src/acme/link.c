/*
 * link.c - the Link header (RFC 8288) as ACME uses it: rel="alternate"
 * certificate chains and rel="index" / rel="up".  Owns the tokenizer
 * (quoted strings, several links per header, several params per link);
 * keeps only absolute https:// targets and never more than asked.
 */
#include <string.h>
#include <strings.h>

#include "acme/acme_int.h"

#define LINK_PARAM_MAX 256

static int
is_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static const char *
skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A token or quoted-string into dst (bounded); returns the position after it or NULL. */
static const char *
param_value(const char *p, char *dst, size_t n)
{
	size_t k = 0;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\0')
				return NULL;
			if (*p == '\\' && p[1] != '\0')
				p++;
			if (k + 1 >= n)
				return NULL;
			dst[k++] = *p;
		}
		dst[k] = '\0';
		return p + 1;
	}
	while (is_tchar(*p)) {
		if (k + 1 >= n)
			return NULL;
		dst[k++] = *p++;
	}
	dst[k] = '\0';
	return k > 0 ? p : NULL;
}

/* 1 if the space-separated relation list `rels` holds `rel` (case-insensitive). */
static int
rel_has(const char *rels, const char *rel)
{
	size_t n = strlen(rel);
	const char *p = rels;

	while (*p != '\0') {
		size_t len;
		p = skip_ows(p);
		len = strcspn(p, " \t");
		if (len == n && strncasecmp(p, rel, n) == 0)
			return 1;
		p += len;
	}
	return 0;
}

/* Parses `; name=value` params after one target; sets *match when rel matches. */
static const char *
link_params(const char *p, const char *rel, int *match)
{
	char name[64], value[LINK_PARAM_MAX];

	for (;;) {
		size_t k = 0;
		p = skip_ows(p);
		if (*p != ';')
			return p;
		p = skip_ows(p + 1);
		while (is_tchar(*p) && k + 1 < sizeof(name))
			name[k++] = *p++;
		name[k] = '\0';
		if (k == 0)
			return NULL;
		p = skip_ows(p);
		value[0] = '\0';
		if (*p == '=') {
			p = param_value(skip_ows(p + 1), value, sizeof(value));
			if (p == NULL)
				return NULL;
		}
		if (strcasecmp(name, "rel") == 0 && rel_has(value, rel))
			*match = 1;
	}
}

enum ck_code
acme_link_parse(const char *value, const char *rel, size_t max, struct ck_strv *out,
		struct ck_err *err)
{
	const char *p = value, *end;
	char target[ACME_URL_MAX + 1];
	enum ck_code rc;

	if (value == NULL || rel == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no Link header value");
	for (;;) {
		int match = 0;
		size_t len;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			return CK_OK;
		if (*p != '<')
			return CK_FAIL(err, CK_ERR_PARSE, "a Link header entry does not start with '<'");
		end = strchr(p + 1, '>');
		if (end == NULL)
			return CK_FAIL(err, CK_ERR_PARSE, "a Link header target has no closing '>'");
		len = (size_t)(end - (p + 1));
		p = link_params(end + 1, rel, &match);
		if (p == NULL || (*p != ',' && *p != '\0'))
			return CK_FAIL(err, CK_ERR_PARSE, "a Link header has malformed parameters");
		if (!match || len > ACME_URL_MAX || out->n >= max)
			continue;
		memcpy(target, end - len, len);
		target[len] = '\0';
		if (!acme_url_ok(target))
			continue; /* relative or non-https targets are not followed */
		if ((rc = ck_strv_add(out, target, max, ACME_URL_MAX, err)) != CK_OK)
			return rc;
	}
}
