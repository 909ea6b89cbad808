/*
 * buf.c - bounded buffers, secure memory and small string helpers.  Every
 * buffer has a maximum; growing past it is an error, never a realloc.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/core.h"

static void
buf_init(struct ck_buf *b, size_t max, int secret)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->secret = secret;
}

void
ck_buf_init(struct ck_buf *b, size_t max)
{
	buf_init(b, max, 0);
}

void
ck_buf_init_secret(struct ck_buf *b, size_t max)
{
	buf_init(b, max, 1);
}

enum ck_code
ck_buf_append(struct ck_buf *b, const void *data, size_t n, struct ck_err *err)
{
	size_t need, cap;
	unsigned char *p;

	if (n > b->max || b->len > b->max - n)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "data exceeds the limit of %zu bytes", b->max);
	need = b->len + n + 1;
	if (need > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < need)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		if (b->secret) {
			/* Never leave a copy of a secret behind in freed memory. */
			p = malloc(cap);
			if (p == NULL)
				return CK_OOM(err);
			if (b->data != NULL) {
				memcpy(p, b->data, b->len);
				OPENSSL_clear_free(b->data, b->cap);
			}
		} else {
			p = realloc(b->data, cap);
			if (p == NULL)
				return CK_OOM(err);
		}
		b->data = p;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return CK_OK;
}

enum ck_code
ck_buf_printf(struct ck_buf *b, struct ck_err *err, const char *fmt, ...)
{
	va_list ap;
	char small[512], *big = NULL;
	int n;
	enum ck_code rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return CK_FAIL(err, CK_ERR_INTERNAL, "bad format");
	if ((size_t)n < sizeof(small)) {
		rc = ck_buf_append(b, small, (size_t)n, err);
		if (b->secret)
			OPENSSL_cleanse(small, sizeof(small));
		return rc;
	}
	big = malloc((size_t)n + 1);
	if (big == NULL)
		return CK_OOM(err);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rc = ck_buf_append(b, big, (size_t)n, err);
	if (b->secret)
		OPENSSL_clear_free(big, (size_t)n + 1);
	else
		free(big);
	return rc;
}

unsigned char *
ck_buf_take(struct ck_buf *b, size_t *len)
{
	unsigned char *p = b->data;

	if (len != NULL)
		*len = b->len;
	if (p == NULL)
		p = calloc(1, 1);
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void
ck_buf_cleanup(struct ck_buf *b)
{
	if (b == NULL || b->data == NULL)
		return;
	if (b->secret)
		OPENSSL_clear_free(b->data, b->cap);
	else
		free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
ck_secure_free(void *p, size_t n)
{
	if (p != NULL)
		OPENSSL_clear_free(p, n);
}

void
ck_secure_strfree(char *s)
{
	if (s != NULL)
		OPENSSL_clear_free(s, strlen(s) + 1);
}

enum ck_code
ck_strdup(const char *s, char **out, struct ck_err *err)
{
	char *p;

	if (s == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "NULL string");
	p = strdup(s);
	if (p == NULL)
		return CK_OOM(err);
	*out = p;
	return CK_OK;
}

void
ck_str_printable(char *dst, size_t n, const char *src)
{
	size_t i;

	if (n == 0)
		return;
	for (i = 0; src != NULL && src[i] != '\0' && i + 1 < n; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[i] = '\0';
}

int
ck_str_is_b64url(const char *s, size_t max)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		if (i >= max)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return 1;
}
