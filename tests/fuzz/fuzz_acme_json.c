/*
 * fuzz_acme_json.c - libFuzzer target over the acme module's JSON parsers:
 * directory, order, authorization and problem documents (also through
 * acme_problem_from_response, as an error answer), ARI renewalInfo and its
 * RFC 3339 times.  Every input goes to
 * every parser; each must either fill its OUT struct or fail cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct acme_directory d = { 0 };
	struct acme_order o = { 0 };
	struct acme_authz a = { 0 };
	struct acme_http_response r = { 0 };
	struct acme_ari ari = { 0 };
	struct ck_err err;
	char text[64];
	time_t t;

	ck_err_clear(&err);
	if (acme_directory_parse(body, size, &d, &err) == CK_OK)
		acme_directory_cleanup(&d);
	if (acme_order_parse(body, size, &o, &err) == CK_OK)
		acme_order_cleanup(&o);
	if (acme_authz_parse(body, size, &a, &err) == CK_OK) {
		(void)acme_authz_challenge(&a, "http-01");
		acme_authz_cleanup(&a);
	}
	(void)acme_problem_parse(body, size, 400, &err);
	if (acme_ari_parse(body, size, &ari, &err) == CK_OK)
		acme_ari_cleanup(&ari);
	if (size < sizeof(text)) {
		memcpy(text, body, size);
		text[size] = '\0';
		(void)acme_rfc3339_parse(text, &t);
	}
	r.status = 429;
	if (acme_http_response_set_body(&r, body, size, NULL) == CK_OK &&
	    acme_http_response_add_header(&r, "Content-Type", "application/problem+json", NULL) ==
		    CK_OK &&
	    acme_http_response_add_header(&r, "Retry-After", "120", NULL) == CK_OK)
		(void)acme_problem_from_response(&r, 0, &err);
	acme_http_response_cleanup(&r);
	return 0;
}
