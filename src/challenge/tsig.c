/*
 * tsig.c - reads a TSIG key file in BIND's format (tsig-keygen).  A small
 * strict grammar: one `key NAME { algorithm ALG; secret "B64"; };` and
 * comments, nothing else.  Bounded: the file, each token, one level of
 * braces.  The secret passes through the token buffer only, which is
 * wiped; no error message quotes a token that may be the secret.
 */
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "challenge/tsig.h"

enum tok_kind { TOK_END, TOK_WORD, TOK_STRING, TOK_LBRACE, TOK_RBRACE, TOK_SEMI, TOK_BAD };

struct lex {
	const char *p, *end;
	unsigned line;
	enum tok_kind kind;
	char text[TSIG_TOKEN_MAX];   /* the token (may be the secret: wiped at the end) */
};

static int
word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '+' || c == '/' || c == '=';
}

/* Skips blanks and comments; 0 on an unterminated C comment. */
static int
lex_skip(struct lex *l)
{
	while (l->p < l->end) {
		char c = *l->p;

		if (c == '\n') {
			l->line++;
			l->p++;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			l->p++;
		} else if (c == '#' || (c == '/' && l->p + 1 < l->end && l->p[1] == '/')) {
			while (l->p < l->end && *l->p != '\n')
				l->p++;
		} else if (c == '/' && l->p + 1 < l->end && l->p[1] == '*') {
			for (l->p += 2; l->p + 1 < l->end && !(l->p[0] == '*' && l->p[1] == '/'); l->p++)
				if (*l->p == '\n')
					l->line++;
			if (l->p + 1 >= l->end)
				return 0;
			l->p += 2;
		} else {
			break;
		}
	}
	return 1;
}

/* Reads the next token into l->kind / l->text. */
static void
lex_next(struct lex *l)
{
	size_t n = 0;
	char c;

	l->text[0] = '\0';
	l->kind = TOK_BAD;
	if (!lex_skip(l))
		return;
	if (l->p == l->end) {
		l->kind = TOK_END;
		return;
	}
	c = *l->p;
	if (c == '{' || c == '}' || c == ';') {
		l->kind = c == '{' ? TOK_LBRACE : c == '}' ? TOK_RBRACE : TOK_SEMI;
		l->p++;
		return;
	}
	if (c == '"') {
		for (l->p++; l->p < l->end && *l->p != '"'; l->p++) {
			if (*l->p == '\n' || *l->p == '\\' || *l->p == '\0' || n + 1 >= sizeof(l->text))
				return;
			l->text[n++] = *l->p;
		}
		if (l->p == l->end)
			return;
		l->p++;
		l->text[n] = '\0';
		l->kind = TOK_STRING;
		return;
	}
	while (l->p < l->end && word_char(*l->p) && n + 1 < sizeof(l->text))
		l->text[n++] = *l->p++;
	if (n == 0 || (l->p < l->end && word_char(*l->p)))
		return;   /* an unexpected byte, or a word too long */
	l->text[n] = '\0';
	l->kind = TOK_WORD;
}

static enum ck_code
parse_fail(struct lex *l, struct ck_err *err, const char *expected)
{
	return CK_FAIL(err, CK_ERR_PARSE, "line %u: expected %s (the file should be what "
		       "`tsig-keygen -a hmac-sha256 NAME` writes)", l->line, expected);
}

/* Expects a token of kind k (TOK_WORD also takes a string when either is fine). */
static int
expect(struct lex *l, enum tok_kind k, int or_string)
{
	lex_next(l);
	return l->kind == k || (or_string && l->kind == TOK_STRING);
}

/* A DNS name of [A-Za-z0-9._-] without empty labels; stored without the final dot. */
static int
key_name_ok(const char *s, char *out, size_t n)
{
	size_t len = strlen(s), i;

	if (len > 1 && s[len - 1] == '.')
		len--;
	if (len == 0 || len >= n || s[0] == '.')
		return 0;
	for (i = 0; i < len; i++)
		if (!(word_char(s[i]) && s[i] != '+' && s[i] != '/' && s[i] != '=') ||
		    (s[i] == '.' && i + 1 < len && s[i + 1] == '.'))
			return 0;
	memcpy(out, s, len);
	out[len] = '\0';
	return 1;
}

/* Base64 (RFC 4648, padded), at least 16 characters. */
static int
secret_ok(const char *s)
{
	size_t len = strlen(s), i, pad = 0;

	if (len < 16 || len >= TSIG_SECRET_MAX || len % 4 != 0)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '=') {
			pad++;
		} else if (pad > 0 || !(word_char(c) && c != '.' && c != '-' && c != '_')) {
			return 0;
		}
	}
	return pad <= 2;
}

/* One statement inside the braces: `algorithm ALG;` or `secret "B64";`. */
static enum ck_code
parse_stmt(struct lex *l, struct tsig_key *out, int *have_alg, int *have_secret,
	   struct ck_err *err)
{
	int is_alg = strcasecmp(l->text, "algorithm") == 0;

	if (!is_alg && strcasecmp(l->text, "secret") != 0)
		return parse_fail(l, err, "\"algorithm\" or \"secret\" inside the key's braces");
	if ((is_alg && *have_alg) || (!is_alg && *have_secret))
		return parse_fail(l, err, "each of algorithm and secret once");
	if (!expect(l, TOK_WORD, 1))
		return parse_fail(l, err, is_alg ? "an algorithm name" : "a quoted base64 secret");
	if (is_alg) {
		if (strcasecmp(l->text, "hmac-sha256") != 0 &&
		    strcasecmp(l->text, "hmac-sha256.") != 0)
			return CK_FAIL(err, CK_ERR_UNSUPPORTED, "line %u: TSIG algorithm is not "
				       "hmac-sha256 (make the key with tsig-keygen -a hmac-sha256)",
				       l->line);
		snprintf(out->algorithm, sizeof(out->algorithm), "hmac-sha256");
		*have_alg = 1;
	} else {
		if (!secret_ok(l->text))
			return CK_FAIL(err, CK_ERR_PARSE, "line %u: the secret is not base64 of at "
				       "least 12 bytes", l->line);
		memcpy(out->secret, l->text, strlen(l->text) + 1);
		*have_secret = 1;
	}
	if (!expect(l, TOK_SEMI, 0))
		return parse_fail(l, err, "';'");
	return CK_OK;
}

/* `key NAME { ... };` with l at the word "key". */
static enum ck_code
parse_key(struct lex *l, struct tsig_key *out, struct ck_err *err)
{
	int have_alg = 0, have_secret = 0;
	enum ck_code rc;

	if (!expect(l, TOK_WORD, 1) || !key_name_ok(l->text, out->name, sizeof(out->name)))
		return parse_fail(l, err, "the key's name (a DNS name) after \"key\"");
	if (!expect(l, TOK_LBRACE, 0))
		return parse_fail(l, err, "'{' after the key's name");
	for (lex_next(l); l->kind == TOK_WORD; lex_next(l)) {
		rc = parse_stmt(l, out, &have_alg, &have_secret, err);
		if (rc != CK_OK)
			return rc;
	}
	if (l->kind != TOK_RBRACE)
		return parse_fail(l, err, "'}' closing the key (nothing nests inside it)");
	if (!expect(l, TOK_SEMI, 0))
		return parse_fail(l, err, "';' after '}'");
	if (!have_alg || !have_secret)
		return CK_FAIL(err, CK_ERR_PARSE, "key \"%s\" lacks its %s", out->name,
			       have_alg ? "secret" : "algorithm");
	return CK_OK;
}

enum ck_code
tsig_key_parse(const char *text, size_t len, struct tsig_key *out, struct ck_err *err)
{
	struct lex l = { text, text + len, 1, TOK_END, "" };
	enum ck_code rc;

	memset(out, 0, sizeof(*out));
	if (len > TSIG_FILE_MAX) {
		rc = CK_FAIL(err, CK_ERR_TOO_LARGE, "a TSIG key file is at most %d bytes",
			     TSIG_FILE_MAX);
		goto out;
	}
	lex_next(&l);
	if (l.kind != TOK_WORD || strcmp(l.text, "key") != 0) {
		rc = parse_fail(&l, err, "\"key\"");
		goto out;
	}
	rc = parse_key(&l, out, err);
	if (rc != CK_OK)
		goto out;
	lex_next(&l);
	if (l.kind != TOK_END)
		rc = parse_fail(&l, err, "the end of the file after one key (one key per file)");
out:
	OPENSSL_cleanse(l.text, sizeof(l.text));
	if (rc != CK_OK)
		tsig_key_wipe(out);
	return rc;
}

enum ck_code
tsig_key_read(const char *path, struct tsig_key *out, struct ck_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	char shown[200];
	enum ck_code rc;

	ck_str_printable(shown, sizeof(shown), path);
	rc = ck_file_read_secret(path, TSIG_FILE_MAX, &data, &len, err);
	if (rc == CK_OK)
		rc = tsig_key_parse((const char *)data, len, out, err);
	if (rc != CK_OK)
		ck_err_prefix(err, "TSIG key file %s (--tsig-file)", shown);
	if (data != NULL)
		ck_secure_free(data, len + 1);
	return rc;
}

void
tsig_key_wipe(struct tsig_key *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}
