/*
 * problem.c - ACME problem documents (RFC 8555 section 6.7, RFC 7807) into
 * struct ck_err.  Owns the mapping of error responses to codes; matches
 * problems by type only.  Every server string is made printable before it
 * reaches err.  Never decides what to retry (client.c does).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "acme/acme_int.h"
#include "crypto/crypto.h"

#define PROBLEM_SNIPPET_MAX 80    /* body shown for a non-problem error */

/* A string member of obj, made printable into dst ("" if absent or not a string). */
static void
member_text(json_t *obj, const char *name, char *dst, size_t n)
{
	const char *s = json_string_value(json_object_get(obj, name));

	ck_str_printable(dst, n, s != NULL ? s : "");
}

/* "type (ident): detail; ..." into dst, bounded; entries that are not objects are skipped. */
static void
subproblems_text(json_t *arr, char *dst, size_t n)
{
	size_t i, used = 0;

	dst[0] = '\0';
	if (!json_is_array(arr))
		return;
	for (i = 0; i < json_array_size(arr) && used + 1 < n; i++) {
		json_t *sp = json_array_get(arr, i), *id;
		char type[CK_ERR_PROBLEM_TYPE_MAX], detail[256], ident[CK_NAME_MAX + 8] = "";
		const char *shortt = type;
		int w;

		if (!json_is_object(sp))
			continue;
		member_text(sp, "type", type, sizeof(type));
		member_text(sp, "detail", detail, sizeof(detail));
		id = json_object_get(sp, "identifier");
		if (json_is_object(id))
			member_text(id, "value", ident, sizeof(ident));
		if (strncmp(type, ACME_PROBLEM_PREFIX, sizeof(ACME_PROBLEM_PREFIX) - 1) == 0)
			shortt = type + sizeof(ACME_PROBLEM_PREFIX) - 1;
		w = snprintf(dst + used, n - used, "%s%s%s%s%s: %s", used > 0 ? "; " : "", shortt,
			     ident[0] ? " (" : "", ident, ident[0] ? ")" : "", detail);
		if (w < 0)
			break;
		used += (size_t)w;
		if (used >= n)
			used = n - 1;
	}
}

enum ck_code
acme_problem_from_json(json_t *obj, long http_status, enum ck_code code, struct ck_err *err)
{
	char type[CK_ERR_PROBLEM_TYPE_MAX], detail[CK_ERR_MSG_MAX], subs[CK_ERR_SUBPROBLEMS_MAX];
	const char *shortt;

	member_text(obj, "type", type, sizeof(type));
	member_text(obj, "detail", detail, sizeof(detail));
	subproblems_text(json_object_get(obj, "subproblems"), subs, sizeof(subs));
	if (type[0] == '\0')
		snprintf(type, sizeof(type), "about:blank");
	shortt = type;
	if (strncmp(type, ACME_PROBLEM_PREFIX, sizeof(ACME_PROBLEM_PREFIX) - 1) == 0)
		shortt = type + sizeof(ACME_PROBLEM_PREFIX) - 1;
	if (err == NULL)
		return code;
	if (http_status > 0)
		ck_err_set(err, code, __func__, "the ACME server answered %ld %s: %s%s%s", http_status,
			   shortt, detail[0] ? detail : "(no detail)", subs[0] ? " - " : "", subs);
	else
		ck_err_set(err, code, __func__, "%s: %s%s%s", shortt,
			   detail[0] ? detail : "(no detail)", subs[0] ? " - " : "", subs);
	err->http_status = (int)http_status;
	memcpy(err->problem_type, type, sizeof(err->problem_type));
	memcpy(err->problem_detail, detail, sizeof(err->problem_detail));
	memcpy(err->subproblems, subs, sizeof(err->subproblems));
	return code;
}

enum ck_code
acme_problem_parse(const char *body, size_t len, long http_status, struct ck_err *err)
{
	json_t *j = NULL;
	enum ck_code rc;

	if ((rc = acme_json_load(body, len, &j, err)) != CK_OK)
		return rc;
	if (!json_is_string(json_object_get(j, "type"))) {
		json_decref(j);
		return CK_FAIL(err, CK_ERR_PARSE, "not a problem document: no \"type\" string");
	}
	rc = acme_problem_from_json(j, http_status, CK_ERR_ACME, err);
	json_decref(j);
	return rc;
}

/* 1 if the Content-Type header names media type `mt` (parameters ignored). */
static int
content_type_is(const struct acme_http_response *r, const char *mt)
{
	const char *ct = acme_http_response_header(r, "Content-Type");
	size_t n = strlen(mt);

	return ct != NULL && strncasecmp(ct, mt, n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void
problem_clear(struct ck_err *err)
{
	if (err == NULL)
		return;
	err->problem_type[0] = '\0';
	err->problem_detail[0] = '\0';
	err->subproblems[0] = '\0';
	err->retry_after = -1;
}

enum ck_code
acme_problem_from_response(const struct acme_http_response *r, time_t now, struct ck_err *err)
{
	char snippet[PROBLEM_SNIPPET_MAX];
	enum ck_code rc = CK_ERR_HTTP;

	problem_clear(err);
	if ((content_type_is(r, ACME_CT_PROBLEM) || content_type_is(r, "application/json")) &&
	    r->body != NULL) {
		struct ck_err perr;
		ck_err_clear(&perr);
		if (acme_problem_parse(r->body, r->body_len, r->status, &perr) == CK_ERR_ACME) {
			if (err != NULL)
				*err = perr;
			rc = CK_ERR_ACME;
		}
	}
	if (rc != CK_ERR_ACME) {
		ck_str_printable(snippet, sizeof(snippet), r->body != NULL ? r->body : "");
		ck_err_set(err, CK_ERR_HTTP, __func__,
			   "the ACME server answered HTTP %ld without a problem document%s%s", r->status,
			   snippet[0] ? ": " : "", snippet);
		if (err != NULL)
			err->http_status = (int)r->status;
	}
	if (err != NULL && (r->status == 429 || r->status == 503))
		err->retry_after = acme_retry_after_parse(acme_http_response_header(r, "Retry-After"),
							  now);
	return rc;
}

int
acme_problem_is(const struct ck_err *err, const char *name)
{
	return err != NULL && err->problem_type[0] != '\0' &&
	       strcmp(ck_err_problem_short(err), name) == 0 &&
	       strncmp(err->problem_type, ACME_PROBLEM_PREFIX, sizeof(ACME_PROBLEM_PREFIX) - 1) == 0;
}
