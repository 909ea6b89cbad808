/*
 * order.c - ACME orders (RFC 8555 section 7.4): newOrder, fetch,
 * finalize, and the bounded wait while an order is pending/processing.
 * Owns order objects and the shared polling rule (Retry-After clamped,
 * total time bounded).  Never builds CSRs (crypto does) or stores keys.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"
#include "crypto/crypto.h"

static void
identifiers_free(struct acme_identifier *ids, size_t n)
{
	size_t i;

	for (i = 0; ids != NULL && i < n; i++) {
		free(ids[i].type);
		free(ids[i].value);
	}
	free(ids);
}

void
acme_order_cleanup(struct acme_order *o)
{
	if (o == NULL)
		return;
	free(o->url);
	free(o->status);
	free(o->expires);
	identifiers_free(o->identifiers, o->nidentifiers);
	ck_strv_cleanup(&o->authorizations);
	free(o->finalize);
	free(o->certificate);
	memset(o, 0, sizeof(*o));
	o->retry_after = -1;
}

enum ck_code
acme_identifier_parse(json_t *obj, struct acme_identifier *out, struct ck_err *err)
{
	struct acme_identifier id = { 0 };
	enum ck_code rc;

	if (!json_is_object(obj))
		return CK_FAIL(err, CK_ERR_PARSE, "an identifier is not an object");
	if ((rc = acme_json_str(obj, "type", ACME_FIELD_MAX, 1, &id.type, err)) != CK_OK ||
	    (rc = acme_json_str(obj, "value", CK_NAME_MAX + 2, 1, &id.value, err)) != CK_OK) {
		free(id.type);
		free(id.value);
		return rc;
	}
	*out = id;
	return CK_OK;
}

static enum ck_code
order_identifiers(json_t *j, struct acme_order *o, struct ck_err *err)
{
	json_t *arr = json_object_get(j, "identifiers");
	size_t i, n;
	enum ck_code rc;

	if (!json_is_array(arr))
		return CK_FAIL(err, CK_ERR_PARSE, "the order's \"identifiers\" is not an array");
	n = json_array_size(arr);
	if (n == 0 || n > ACME_IDENTIFIERS_MAX)
		return CK_FAIL(err, CK_ERR_PARSE, "the order has %zu identifiers (1..%d allowed)", n,
			       ACME_IDENTIFIERS_MAX);
	if ((o->identifiers = calloc(n, sizeof(*o->identifiers))) == NULL)
		return CK_OOM(err);
	for (i = 0; i < n; i++) {
		if ((rc = acme_identifier_parse(json_array_get(arr, i), &o->identifiers[i], err)) !=
		    CK_OK)
			return rc;
		o->nidentifiers = i + 1;
	}
	return CK_OK;
}

enum ck_code
acme_error_member(json_t *j, int *has, struct ck_err *out, struct ck_err *err)
{
	json_t *e = json_object_get(j, "error");

	*has = 0;
	ck_err_clear(out);
	if (e == NULL || json_is_null(e))
		return CK_OK;
	if (!json_is_object(e))
		return CK_FAIL(err, CK_ERR_PARSE, "the server's \"error\" is not an object");
	acme_problem_from_json(e, json_integer_value(json_object_get(e, "status")), CK_ERR_ACME,
			       out);
	*has = 1;
	return CK_OK;
}

enum ck_code
acme_order_parse(const char *body, size_t len, struct acme_order *out, struct ck_err *err)
{
	struct acme_order o = { 0 };
	json_t *j = NULL;
	enum ck_code rc;

	o.retry_after = -1;
	if ((rc = acme_json_load(body, len, &j, err)) != CK_OK ||
	    (rc = acme_json_status(j, &o.status, &o.state, err)) != CK_OK ||
	    (rc = acme_json_str(j, "expires", ACME_FIELD_MAX, 0, &o.expires, err)) != CK_OK ||
	    (rc = order_identifiers(j, &o, err)) != CK_OK ||
	    (rc = acme_json_strv(j, "authorizations", ACME_IDENTIFIERS_MAX, ACME_URL_MAX, 1, 1,
				 &o.authorizations, err)) != CK_OK ||
	    (rc = acme_json_url(j, "finalize", 1, &o.finalize, err)) != CK_OK ||
	    (rc = acme_json_url(j, "certificate", 0, &o.certificate, err)) != CK_OK ||
	    (rc = acme_error_member(j, &o.has_error, &o.error, err)) != CK_OK)
		goto out;
	*out = o;
	memset(&o, 0, sizeof(o));
out:
	if (rc != CK_OK)
		ck_err_prefix(err, "bad order object");
	acme_order_cleanup(&o);
	json_decref(j);
	return rc;
}

/* Every URL of an order on an allowed origin: nothing of it is followed otherwise. */
static enum ck_code
order_origins(const struct acme_client *c, const struct acme_order *o, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = acme_url_check_origin(c, o->url, "the order URL (Location)", err)) != CK_OK ||
	    (rc = acme_strv_check_origin(c, &o->authorizations, "the order's authorization URL",
					 err)) != CK_OK ||
	    (rc = acme_url_check_origin(c, o->finalize, "the order's finalize URL", err)) != CK_OK)
		return rc;
	if (o->certificate != NULL)
		return acme_url_check_origin(c, o->certificate, "the order's certificate URL", err);
	return CK_OK;
}

/* Parses a 2xx order answer into *out with url and Retry-After; every URL
 * in it must be on an allowed origin. */
static enum ck_code
order_from_response(struct acme_client *c, const struct acme_http_response *r, const char *url,
		    struct acme_order *out, struct ck_err *err)
{
	struct acme_order o = { 0 };
	enum ck_code rc;

	if ((rc = acme_order_parse(r->body, r->body_len, &o, err)) != CK_OK)
		return rc;
	if (url == NULL || !acme_url_ok(url) || (o.url = strdup(url)) == NULL) {
		acme_order_cleanup(&o);
		return CK_FAIL(err, url == NULL || !acme_url_ok(url) ? CK_ERR_PARSE : CK_ERR_NOMEM,
			       "the server gave no https:// order URL (Location)");
	}
	if ((rc = order_origins(c, &o, err)) != CK_OK) {
		acme_order_cleanup(&o);
		return rc;
	}
	o.retry_after = acme_response_retry_after(c, r);
	*out = o;
	return CK_OK;
}

/* One newOrder identifier for name s: an IP literal is type "ip" with the
 * address in canonical text (RFC 8738 section 3: RFC 5952 for IPv6, so
 * "0:0::1" is sent as "::1"), anything else type "dns". */
static json_t *
order_identifier(const char *s)
{
	unsigned char addr[16];
	char text[INET6_ADDRSTRLEN];
	int af = inet_pton(AF_INET6, s, addr) == 1 ? AF_INET6
		 : inet_pton(AF_INET, s, addr) == 1 ? AF_INET : 0;

	if (!ck_name_is_ip(s))
		return json_pack("{s:s, s:s}", "type", "dns", "value", s);
	if (af != 0 && inet_ntop(af, addr, text, sizeof(text)) != NULL)
		s = text;
	return json_pack("{s:s, s:s}", "type", "ip", "value", s);
}

static enum ck_code
order_payload(const char *const *names, size_t n, const char *profile, const char *replaces,
	      char **out, struct ck_err *err)
{
	json_t *p = json_object(), *ids = json_array();
	enum ck_code rc = CK_ERR_NOMEM;
	size_t i;

	if (p == NULL || ids == NULL || json_object_set(p, "identifiers", ids) != 0) {
		rc = CK_OOM(err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *s = names[i];
		size_t k;
		for (k = 0; s != NULL && s[k] != '\0' && k <= CK_NAME_MAX; k++)
			if ((unsigned char)s[k] <= 0x20 || (unsigned char)s[k] >= 0x7f)
				break;
		if (s == NULL || k == 0 || k > CK_NAME_MAX || s[k] != '\0') {
			rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "identifier %zu is not a valid name", i + 1);
			goto out;
		}
		if (json_array_append_new(ids, order_identifier(s)) != 0) {
			rc = CK_OOM(err);
			goto out;
		}
	}
	if (profile != NULL && json_object_set_new(p, "profile", json_string(profile)) != 0) {
		rc = CK_OOM(err);
		goto out;
	}
	if (replaces != NULL && json_object_set_new(p, "replaces", json_string(replaces)) != 0) {
		rc = CK_OOM(err);
		goto out;
	}
	rc = acme_json_dump(p, out, err);
out:
	json_decref(ids);
	json_decref(p);
	return rc;
}

enum ck_code
acme_order_new(struct acme_client *c, const char *const *names, size_t n, struct acme_order *out,
	       struct ck_err *err)
{
	return acme_order_new_profile(c, names, n, NULL, out, err);
}

enum ck_code
acme_order_new_profile(struct acme_client *c, const char *const *names, size_t n,
		       const char *profile, struct acme_order *out, struct ck_err *err)
{
	return acme_order_new_replacing(c, names, n, profile, NULL, out, err);
}

enum ck_code
acme_order_new_replacing(struct acme_client *c, const char *const *names, size_t n,
			 const char *profile, const char *replaces, struct acme_order *out,
			 struct ck_err *err)
{
	const struct acme_directory *d;
	struct acme_http_response resp = { 0 };
	char *payload = NULL;
	enum ck_code rc;

	if (names == NULL || n == 0 || n > ACME_IDENTIFIERS_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "an order needs 1 to %d names",
			       ACME_IDENTIFIERS_MAX);
	if ((rc = acme_client_need_kid(c, err)) != CK_OK ||
	    (rc = acme_directory_get(c, &d, err)) != CK_OK ||
	    (rc = acme_directory_check_profile(d, profile, err)) != CK_OK)
		return rc;
	if (d->renewal_info == NULL)
		replaces = NULL;
	if ((rc = order_payload(names, n, profile, replaces, &payload, err)) != CK_OK)
		goto out;
	if ((rc = acme_post(c, d->new_order, payload, &resp, err)) != CK_OK) {
		ck_err_prefix(err, "newOrder failed");
		goto out;
	}
	rc = order_from_response(c, &resp, acme_http_response_header(&resp, "Location"), out, err);
out:
	free(payload);
	acme_http_response_cleanup(&resp);
	return rc;
}

enum ck_code
acme_order_fetch(struct acme_client *c, const char *url, struct acme_order *out,
		 struct ck_err *err)
{
	struct acme_http_response resp = { 0 };
	enum ck_code rc;

	if ((rc = acme_client_need_kid(c, err)) != CK_OK)
		return rc;
	if ((rc = acme_post(c, url, "", &resp, err)) == CK_OK)
		rc = order_from_response(c, &resp, url, out, err);
	acme_http_response_cleanup(&resp);
	return rc;
}

enum ck_code
acme_order_finalize(struct acme_client *c, struct acme_order *order, const unsigned char *csr_der,
		    size_t csr_len, struct ck_err *err)
{
	struct acme_http_response resp = { 0 };
	struct acme_order o = { 0 };
	json_t *p = NULL;
	char *csr = NULL, *payload = NULL;
	enum ck_code rc;

	if (order == NULL || order->finalize == NULL || csr_der == NULL || csr_len == 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "finalize needs an order and a CSR");
	if ((rc = acme_client_need_kid(c, err)) != CK_OK ||
	    (rc = ck_b64url_encode(csr_der, csr_len, &csr, err)) != CK_OK)
		goto out;
	if ((p = json_pack("{s:s}", "csr", csr)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	if ((rc = acme_json_dump(p, &payload, err)) != CK_OK)
		goto out;
	if ((rc = acme_post(c, order->finalize, payload, &resp, err)) != CK_OK) {
		ck_err_prefix(err, "finalize failed");
		goto out;
	}
	if ((rc = order_from_response(c, &resp, order->url, &o, err)) != CK_OK)
		goto out;
	acme_order_cleanup(order);
	*order = o;
out:
	json_decref(p);
	free(payload);
	free(csr);
	acme_http_response_cleanup(&resp);
	return rc;
}

enum ck_code
acme_poll_sleep(struct acme_client *c, long retry_after, time_t start, unsigned long *waited_ms,
		const char *what, const char *status, struct ck_err *err)
{
	unsigned long ms, elapsed;
	time_t now;

	if (retry_after >= 0) {
		ms = 1000ul * acme_retry_after_clamp(retry_after, ACME_POLL_MIN_S, ACME_POLL_MAX_S,
						     ACME_POLL_DEFAULT_S);
	} else {
		/* No Retry-After: start quick (most validations finish within a
		 * moment) and double the total wait up to the configured interval. */
		ms = *waited_ms > ACME_POLL_FIRST_MS ? *waited_ms : ACME_POLL_FIRST_MS;
		if (ms > c->poll_interval_ms)
			ms = c->poll_interval_ms;
	}
	now = ck_now(c->ctx);
	elapsed = now > start ? 1000ul * (unsigned long)(now - start) : 0;

	if (*waited_ms > elapsed)
		elapsed = *waited_ms;
	if (elapsed + ms > 1000ul * c->poll_timeout_s)
		return CK_FAIL(err, CK_ERR_TIMEOUT,
			       "%s is still %s after %lu s; it stays on the server: try again later",
			       what, status, elapsed / 1000);
	acme_client_sleep(c, (unsigned)ms);
	*waited_ms += ms;
	/* The sleep ends early on a cancel: stop waiting, the caller cleans up. */
	return ck_cancel_check(c->ctx, what, err);
}

enum ck_code
acme_order_wait(struct acme_client *c, struct acme_order *order, struct ck_err *err)
{
	time_t start = ck_now(c->ctx);
	unsigned long waited = 0;
	struct acme_order o;
	enum ck_code rc;

	if (order == NULL || order->status == NULL || order->url == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no order to wait for");
	for (;;) {
		if (order->state == ACME_ST_READY || order->state == ACME_ST_VALID)
			return CK_OK;
		if (order->state == ACME_ST_INVALID) {
			if (!order->has_error)
				return CK_FAIL(err, CK_ERR_VALIDATION,
					       "the order became invalid (the server gave no reason)");
			if (err != NULL) {
				*err = order->error;
				err->code = CK_ERR_VALIDATION;
				ck_err_prefix(err, "the order failed");
			}
			return CK_ERR_VALIDATION;
		}
		if (order->state != ACME_ST_PENDING && order->state != ACME_ST_PROCESSING) {
			char safe[32];
			ck_str_printable(safe, sizeof(safe), order->status);
			return CK_FAIL(err, CK_ERR_PARSE, "the order has an unknown status \"%s\"", safe);
		}
		if ((rc = acme_poll_sleep(c, order->retry_after, start, &waited, "the order",
					  order->status, err)) != CK_OK)
			return rc;
		if ((rc = acme_order_fetch(c, order->url, &o, err)) != CK_OK)
			return rc;
		acme_order_cleanup(order);
		*order = o;
	}
}
