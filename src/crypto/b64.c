/*
 * b64.c - base64url without padding (RFC 4648 section 5) and hex digests.
 * Owns the strict alphabet check: padding, '+', '/' and whitespace are
 * rejected, never skipped.  The encoding itself is OpenSSL's
 * EVP_EncodeBlock/EVP_DecodeBlock; this file only maps the alphabets.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "crypto/crypto.h"

/* Largest input either direction handles: keeps size arithmetic in int range. */
#define B64_MAX_IN (64u * 1024 * 1024)

static int
b64url_char_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* 6-bit value of an alphabet character (already checked). */
static unsigned
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '-' ? 62 : 63;
}

enum ck_code
ck_b64url_encode(const unsigned char *in, size_t len, char **out, struct ck_err *err)
{
	size_t cap, n, i;
	char *s;

	if (in == NULL && len > 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "base64url: no input");
	if (len > B64_MAX_IN)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "base64url: input of %zu bytes is too large",
			       len);
	cap = 4 * ((len + 2) / 3) + 1;
	s = malloc(cap);
	if (s == NULL)
		return CK_OOM(err);
	n = len ? (size_t)EVP_EncodeBlock((unsigned char *)s, in, (int)len) : 0;
	while (n > 0 && s[n - 1] == '=')
		n--;
	s[n] = '\0';
	for (i = 0; i < n; i++) {
		if (s[i] == '+')
			s[i] = '-';
		else if (s[i] == '/')
			s[i] = '_';
	}
	*out = s;
	return CK_OK;
}

enum ck_code
ck_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen,
		 struct ck_err *err)
{
	enum ck_code rc = CK_ERR_PARSE;
	char *std = NULL;
	unsigned char *bin = NULL;
	size_t i, padded, want;
	int n;

	if (in == NULL && len > 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "base64url: no input");
	if (len > B64_MAX_IN)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "base64url: input of %zu bytes is too large",
			       len);
	if (len % 4 == 1)
		return CK_FAIL(err, CK_ERR_PARSE, "base64url: %zu characters is not a valid length",
			       len);
	padded = (len + 3) / 4 * 4;
	want = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
	std = malloc(padded + 1);
	bin = malloc(padded / 4 * 3 + 1);
	if (std == NULL || bin == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (!b64url_char_ok(c)) {
			rc = CK_FAIL(err, CK_ERR_PARSE,
				     "base64url: byte 0x%02x at offset %zu is not in the alphabet",
				     c, i);
			goto out;
		}
		std[i] = c == '-' ? '+' : c == '_' ? '/' : (char)c;
	}
	/* The bits after the last whole byte must be zero: one encoding per value. */
	if ((len % 4 == 2 && (b64url_value((unsigned char)in[len - 1]) & 0x0f) != 0) ||
	    (len % 4 == 3 && (b64url_value((unsigned char)in[len - 1]) & 0x03) != 0)) {
		rc = CK_FAIL(err, CK_ERR_PARSE, "base64url: the last character has stray bits");
		goto out;
	}
	for (; i < padded; i++)
		std[i] = '=';
	std[padded] = '\0';
	n = padded ? EVP_DecodeBlock(bin, (unsigned char *)std, (int)padded) : 0;
	if (n < 0 || (size_t)n < want) {
		rc = CK_FAIL(err, CK_ERR_PARSE, "base64url: malformed input");
		goto out;
	}
	bin[want] = '\0';
	*out = bin;
	*outlen = want;
	bin = NULL;
	rc = CK_OK;
out:
	free(std);
	free(bin);
	return rc;
}

void
ck_sha256_hex(const unsigned char *data, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	ck_hex_encode(md, sizeof(md), out, 65);
}

void
ck_sha1_hex(const unsigned char *data, size_t len, char out[41])
{
	unsigned char md[SHA_DIGEST_LENGTH];

	SHA1(data, len, md);
	ck_hex_encode(md, sizeof(md), out, 41);
}
