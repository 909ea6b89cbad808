/*
 * uri.c - RFC 7512 pkcs11: URIs: writing the one form certkeep stores
 * (token, id, type, module-path) and a strict, bounded parser for it and
 * the attributes around it that other tools write.
 *
 * Must never: read past the text's bound, accept a value longer than its
 * field, let a %00 into a text value, or accept a PIN inside a URI.
 *
 * Why not p11-kit's p11_kit_uri_parse: it reads leniently in ways that
 * change which key a URI names, where this parser refuses (p11-kit 0.24):
 * a repeated attribute or module-path (the last one wins), "token=a%00b"
 * (the label ends at the NUL: token "a"), a raw space (dropped: "a b" is
 * token "ab"), ";;id=%01" (the id is lost: any key on the token), a token
 * label over 32 bytes (dropped: any token), unknown query attributes and
 * pin-value (kept, a PIN in memory nobody wipes).  What this parser accepts
 * p11-kit reads the same way: tests/unit/test_token_uri.c checks that, so
 * the URIs certkeep writes work in the PKCS#11 tools around it.
 */
#include <stdlib.h>
#include <string.h>

#include "token/token.h"

#define URI_SCHEME "pkcs11:"

static int
uri_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Bytes RFC 7512 allows raw in a value besides unreserved: pk11-res-avail,
 * plus '&' in path values and '/' '?' '|' in query values. */
static int
uri_allowed_raw(unsigned char c, int query)
{
	if (c == '\0')
		return 0;
	if (uri_unreserved(c) || strchr(":[]@!$'()*+,=", c) != NULL)
		return 1;
	return query ? strchr("/?|", c) != NULL : c == '&';
}

static enum ck_code
uri_put(struct ck_buf *b, const char *name, const unsigned char *v, size_t n, struct ck_err *err)
{
	enum ck_code rc;
	char enc[4];
	size_t i;

	if ((rc = ck_buf_append(b, name, strlen(name), err)) != CK_OK)
		return rc;
	for (i = 0; i < n; i++) {
		if (uri_unreserved(v[i])) {
			rc = ck_buf_append(b, &v[i], 1, err);
		} else {
			/* RFC 3986 2.1: upper-case hex digits. */
			enc[0] = '%';
			ck_hex_encode_upper(&v[i], 1, enc + 1, sizeof(enc) - 1);
			rc = ck_buf_append(b, enc, 3, err);
		}
		if (rc != CK_OK)
			return rc;
	}
	return CK_OK;
}

enum ck_code
ck_pkcs11_uri_format(const char *token, const unsigned char *id, size_t id_len,
		     const char *object, const char *module_path, char **out, struct ck_err *err)
{
	struct ck_buf b;
	enum ck_code rc = CK_ERR_INVALID_ARG;
	size_t len;

	ck_buf_init(&b, CK_TOKEN_URI_MAX);
	if (token == NULL || strlen(token) > CK_TOKEN_LABEL_MAX || id_len > CK_TOKEN_ID_MAX ||
	    (object != NULL && strlen(object) > CK_TOKEN_OBJ_LABEL_MAX) ||
	    (module_path != NULL && strlen(module_path) > CK_TOKEN_MODULE_PATH_MAX)) {
		rc = CK_FAIL(err, CK_ERR_TOO_LARGE, "a token label, key id, key label or module "
			     "path is over its maximum; no pkcs11 URI was made");
		goto out;
	}
	if ((rc = ck_buf_append(&b, URI_SCHEME, strlen(URI_SCHEME), err)) != CK_OK ||
	    (rc = uri_put(&b, "token=", (const unsigned char *)token, strlen(token), err)) != CK_OK)
		goto out;
	if (id_len > 0)
		rc = uri_put(&b, ";id=", id, id_len, err);
	else if (object != NULL)
		rc = uri_put(&b, ";object=", (const unsigned char *)object, strlen(object), err);
	if (rc != CK_OK || (rc = ck_buf_append(&b, ";type=private", 13, err)) != CK_OK)
		goto out;
	if (module_path != NULL &&
	    (rc = uri_put(&b, "?module-path=", (const unsigned char *)module_path,
			  strlen(module_path), err)) != CK_OK)
		goto out;
	if ((rc = ck_buf_append(&b, "", 1, err)) != CK_OK)
		goto out;
	*out = (char *)ck_buf_take(&b, &len);
out:
	ck_buf_cleanup(&b);
	return rc;
}

static int
uri_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes v[0..n) into dst (capacity cap bytes; text values get a NUL
 * after and may not hold one).  *outlen the decoded length.
 */
static enum ck_code
uri_decode(const char *name, const char *v, size_t n, int query, int text, unsigned char *dst,
	   size_t cap, size_t *outlen, struct ck_err *err)
{
	size_t i, o = 0;
	int hi, lo;
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)v[i];
		if (c == '%') {
			if (n - i < 3)
				return CK_FAIL(err, CK_ERR_PARSE, "pkcs11 URI: '%s' ends inside a "
					       "%%XX escape", name);
			hi = uri_hexval((unsigned char)v[i + 1]);
			lo = uri_hexval((unsigned char)v[i + 2]);
			if (hi < 0 || lo < 0)
				return CK_FAIL(err, CK_ERR_PARSE, "pkcs11 URI: '%s' has a %% not "
					       "followed by two hex digits", name);
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
			if (text && c == '\0')
				return CK_FAIL(err, CK_ERR_PARSE, "pkcs11 URI: '%s' holds a NUL "
					       "byte", name);
		} else if (!uri_allowed_raw(c, query)) {
			return CK_FAIL(err, CK_ERR_PARSE, "pkcs11 URI: '%s' holds a character "
				       "that must be percent-encoded", name);
		}
		if (text ? o + 1 >= cap : o >= cap)
			return CK_FAIL(err, CK_ERR_PARSE, "pkcs11 URI: '%s' is longer than %zu "
				       "bytes", name, text ? cap - 1 : cap);
		dst[o++] = c;
	}
	if (text)
		dst[o] = '\0';
	*outlen = o;
	return CK_OK;
}

/* Marks attribute bit in *seen; CK_ERR_PARSE if it was there already. */
static enum ck_code
uri_once(unsigned *seen, unsigned bit, const char *name, struct ck_err *err)
{
	if (*seen & bit)
		return CK_FAIL(err, CK_ERR_PARSE, "pkcs11 URI: '%s' appears twice", name);
	*seen |= bit;
	return CK_OK;
}

/* One "name=value" (v, n) of the path (query = 0) or the query. */
static enum ck_code
uri_attr(struct ck_pkcs11_uri *u, const char *a, size_t alen, int query, unsigned *seen,
	 struct ck_err *err)
{
	static const char *const path_names[] = { "token", "id", "object", "type", "serial",
						  "manufacturer", "model" };
	static const char *const query_names[] = { "module-path", "module-name",
						   "pin-source" };
	const char *const *names = query ? query_names : path_names;
	size_t nnames = query ? CK_ARRAY_LEN(query_names) : CK_ARRAY_LEN(path_names);
	const char *eq = memchr(a, '=', alen);
	unsigned char scratch[CK_TOKEN_OBJ_LABEL_MAX + 1];
	char name[32];
	size_t nlen, vlen, k, got;
	const char *v;
	enum ck_code rc;

	if (eq == NULL || eq == a)
		return CK_FAIL(err, CK_ERR_PARSE, "pkcs11 URI: an attribute is not name=value");
	nlen = (size_t)(eq - a);
	v = eq + 1;
	vlen = alen - nlen - 1;
	if (nlen >= sizeof(name))
		return CK_FAIL(err, CK_ERR_PARSE, "pkcs11 URI: an attribute name is too long");
	memcpy(name, a, nlen);
	name[nlen] = '\0';
	if (strncmp(name, "x-", 2) == 0)
		return CK_OK;
	if (query && strcmp(name, "pin-value") == 0)
		return CK_FAIL(err, CK_ERR_PARSE, "pkcs11 URI: pin-value is refused: a PIN "
			       "must not be written into a URI");
	for (k = 0; k < nnames && strcmp(names[k], name) != 0; k++)
		;
	if (k == nnames)
		return CK_FAIL(err, CK_ERR_PARSE, "pkcs11 URI: unknown attribute '%.31s'", name);
	if ((rc = uri_once(seen, 1u << (k + (query ? 16 : 0)), names[k], err)) != CK_OK)
		return rc;
	if (!query && k == 0)
		return uri_decode(name, v, vlen, 0, 1, (unsigned char *)u->token,
				  sizeof(u->token), &got, err);
	if (!query && k == 1) {
		u->has_id = 1;
		return uri_decode(name, v, vlen, 0, 0, u->id, sizeof(u->id), &u->id_len, err);
	}
	if (!query && k == 2)
		return uri_decode(name, v, vlen, 0, 1, (unsigned char *)u->object,
				  sizeof(u->object), &got, err);
	if (!query && k == 3)
		return uri_decode(name, v, vlen, 0, 1, (unsigned char *)u->type, sizeof(u->type),
				  &got, err);
	if (!query && k == 4)
		return uri_decode(name, v, vlen, 0, 1, (unsigned char *)u->serial,
				  sizeof(u->serial), &got, err);
	if (query && k == 0)
		return uri_decode(name, v, vlen, 1, 1, (unsigned char *)u->module_path,
				  sizeof(u->module_path), &got, err);
	if (query && k == 2)
		return uri_decode(name, v, vlen, 1, 1, (unsigned char *)u->pin_source,
				  sizeof(u->pin_source), &got, err);
	/* manufacturer, model, module-name: checked, not kept */
	return uri_decode(name, v, vlen, query, 1, scratch, sizeof(scratch), &got, err);
}

/* Splits part (len n) at sep and parses each attribute. */
static enum ck_code
uri_part(struct ck_pkcs11_uri *u, const char *part, size_t n, char sep, int query,
	 unsigned *seen, struct ck_err *err)
{
	const char *p = part, *end = part + n, *next;
	enum ck_code rc;

	while (p < end) {
		next = memchr(p, sep, (size_t)(end - p));
		if (next == NULL)
			next = end;
		if (next == p)
			return CK_FAIL(err, CK_ERR_PARSE, "pkcs11 URI: an empty attribute");
		if ((rc = uri_attr(u, p, (size_t)(next - p), query, seen, err)) != CK_OK)
			return rc;
		p = next + 1;
		if (next < end && p == end)
			return CK_FAIL(err, CK_ERR_PARSE, "pkcs11 URI: ends with '%c'", sep);
	}
	return CK_OK;
}

enum ck_code
ck_pkcs11_uri_parse(const char *text, struct ck_pkcs11_uri *out, struct ck_err *err)
{
	struct ck_pkcs11_uri u;
	const char *path, *q;
	unsigned seen = 0;
	size_t len;
	enum ck_code rc;

	if (text == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no pkcs11 URI");
	len = strnlen(text, CK_TOKEN_URI_MAX + 1);
	if (len > CK_TOKEN_URI_MAX)
		return CK_FAIL(err, CK_ERR_PARSE, "pkcs11 URI longer than %d bytes",
			       CK_TOKEN_URI_MAX);
	if (strncmp(text, URI_SCHEME, strlen(URI_SCHEME)) != 0)
		return CK_FAIL(err, CK_ERR_PARSE, "not a pkcs11 URI: it must start with "
			       "'pkcs11:'");
	memset(&u, 0, sizeof(u));
	path = text + strlen(URI_SCHEME);
	q = memchr(path, '?', len - strlen(URI_SCHEME));
	rc = uri_part(&u, path, q ? (size_t)(q - path) : strlen(path), ';', 0, &seen, err);
	if (rc == CK_OK && q != NULL)
		rc = uri_part(&u, q + 1, strlen(q + 1), '&', 1, &seen, err);
	if (rc != CK_OK)
		return rc;
	*out = u;
	return CK_OK;
}
