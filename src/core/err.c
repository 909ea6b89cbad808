/*
 * err.c - the one error type.  Owns formatting of struct ck_err; never
 * allocates, so it works when memory is gone.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "core/core.h"

void
ck_err_clear(struct ck_err *e)
{
	if (e == NULL)
		return;
	memset(e, 0, sizeof(*e));
	e->retry_after = -1;
}

enum ck_code
ck_err_set(struct ck_err *e, enum ck_code code, const char *where, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	e->code = code;
	snprintf(e->where, sizeof(e->where), "%s", where ? where : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

void
ck_err_prefix(struct ck_err *e, const char *fmt, ...)
{
	char pre[CK_ERR_MSG_MAX], old[CK_ERR_MSG_MAX];
	va_list ap;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	snprintf(e->msg, sizeof(e->msg), "%s: %s", pre, old);
}

enum ck_code
ck_err_openssl(struct ck_err *e, enum ck_code code, const char *where, const char *what)
{
	char detail[256] = "";
	unsigned long l;

	/* The most recent (last) error is usually the most specific. */
	while ((l = ERR_get_error()) != 0)
		ERR_error_string_n(l, detail, sizeof(detail));
	if (detail[0] != '\0')
		return ck_err_set(e, code, where, "%s (%s)", what, detail);
	return ck_err_set(e, code, where, "%s", what);
}

const char *
ck_code_name(enum ck_code code)
{
	static const char *const names[] = {
		[CK_OK] = "ok",
		[CK_ERR_INTERNAL] = "internal",
		[CK_ERR_NOMEM] = "out-of-memory",
		[CK_ERR_INVALID_ARG] = "invalid-argument",
		[CK_ERR_IO] = "io",
		[CK_ERR_PARSE] = "parse",
		[CK_ERR_TOO_LARGE] = "too-large",
		[CK_ERR_CRYPTO] = "crypto",
		[CK_ERR_NOT_FOUND] = "not-found",
		[CK_ERR_AMBIGUOUS] = "ambiguous",
		[CK_ERR_EXISTS] = "exists",
		[CK_ERR_STORE] = "store",
		[CK_ERR_BUSY] = "busy",
		[CK_ERR_NETWORK] = "network",
		[CK_ERR_TLS] = "tls",
		[CK_ERR_HTTP] = "http",
		[CK_ERR_ACME] = "acme",
		[CK_ERR_TIMEOUT] = "timeout",
		[CK_ERR_KEY_MISSING] = "key-missing",
		[CK_ERR_KEY_MISMATCH] = "key-mismatch",
		[CK_ERR_KEY_NOT_EXPORTABLE] = "key-not-exportable",
		[CK_ERR_BAD_PASSWORD] = "bad-password",
		[CK_ERR_IN_USE] = "in-use",
		[CK_ERR_UNSUPPORTED] = "unsupported",
		[CK_ERR_STATE] = "state",
		[CK_ERR_VALIDATION] = "validation",
		[CK_ERR_CORRUPT] = "corrupt",
		[CK_ERR_PERMISSION] = "permission",
		[CK_ERR_CANCELLED] = "cancelled",
		[CK_ERR_LEASE_LOST] = "lease-lost",
	};

	if ((size_t)code < CK_ARRAY_LEN(names) && names[code] != NULL)
		return names[code];
	return "unknown";
}

const char *
ck_err_problem_short(const struct ck_err *e)
{
	static const char prefix[] = "urn:ietf:params:acme:error:";

	if (e == NULL || e->problem_type[0] == '\0')
		return "";
	if (strncmp(e->problem_type, prefix, sizeof(prefix) - 1) == 0)
		return e->problem_type + sizeof(prefix) - 1;
	return e->problem_type;
}

enum ck_code
ck_err_oom(struct ck_err *e, const char *where)
{
	return ck_err_set(e, CK_ERR_NOMEM, where, "out of memory");
}
