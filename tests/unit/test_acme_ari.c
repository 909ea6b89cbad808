/*
 * test_acme_ari.c - ACME Renewal Information (RFC 9773) against the
 * scripted server (test_acme_fake.h): the certificate ID (the RFC's own
 * example), renewalInfo's window, explanationURL and Retry-After, bad
 * windows, a server without ARI, and "replaces" in newOrder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_acme_fake.h"
#include "test_crypto_util.h"

struct env {
	struct fake_env fe;
	const char *ari_body;      /* what GET /ari/... answers */
	const char *retry_after;
	int no_ari;                /* the directory has no renewalInfo */
};

static const char dir_without_ari[] =
	"{\"newNonce\":\"" FAKE_BASE "/new-nonce\",\"newAccount\":\"" FAKE_BASE "/new-acct\","
	"\"newOrder\":\"" FAKE_BASE "/new-order\",\"revokeCert\":\"" FAKE_BASE "/revoke\","
	"\"keyChange\":\"" FAKE_BASE "/key-change\"}";

static int
ari_hook(struct fake *f, const struct acme_http_request *req, struct acme_http_response *out)
{
	struct env *e = f->hook_arg;

	if (req->method != ACME_METHOD_GET)
		return 0;
	if (e->no_ari && strcmp(req->url, FAKE_DIR) == 0) {
		fake_body(out, 200, "application/json", dir_without_ari);
		return 1;
	}
	if (strncmp(req->url, FAKE_BASE "/ari/", strlen(FAKE_BASE "/ari/")) != 0)
		return 0;
	if (e->retry_after != NULL)
		fake_header(out, "Retry-After", e->retry_after);
	fake_body(out, 200, "application/json", e->ari_body);
	return 1;
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (e == NULL || fake_env_init(&e->fe) != 0)
		return -1;
	e->fe.f.hook = ari_hook;
	e->fe.f.hook_arg = e;
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	fake_env_cleanup(&e->fe);
	free(e);
	return 0;
}

/* A certificate with the serial and AKI keyIdentifier of RFC 9773's example
 * (section 4.1), when aki is set; without an AKI otherwise. */
static unsigned char *
ari_cert(EVP_PKEY *key, int aki, size_t *len)
{
	static const unsigned char kid[] = { 0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1,
					     0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01,
					     0xC8, 0xD4 };
	X509 *x = t_make_cert(key, NULL, NULL, "ari.test", 0, "DNS:ari.test", 1, 1700000000,
			      1800000000);
	AUTHORITY_KEYID *ak = AUTHORITY_KEYID_new();
	unsigned char *der;

	assert_non_null(ak);
	assert_true(ASN1_INTEGER_set_int64(X509_get_serialNumber(x), 0x87654321) == 1);
	if (aki) {
		ak->keyid = ASN1_OCTET_STRING_new();
		assert_true(ASN1_OCTET_STRING_set(ak->keyid, kid, sizeof(kid)) == 1);
		assert_true(X509_add1_ext_i2d(x, NID_authority_key_identifier, ak, 0, 0) == 1);
	}
	AUTHORITY_KEYID_free(ak);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	der = t_cert_der(x, len);
	X509_free(x);
	return der;
}

static void
test_cert_id_rfc_example(void **state)
{
	struct env *e = *state;
	unsigned char *der;
	size_t len;
	char *id = NULL;

	der = ari_cert(e->fe.key, 1, &len);
	assert_int_equal(acme_ari_cert_id(der, len, &id, &e->fe.err), CK_OK);
	/* RFC 9773 section 4.1: the serial 0x0087654321 keeps its leading zero. */
	assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	free(id);
	free(der);
	der = ari_cert(e->fe.key, 0, &len);
	assert_int_equal(acme_ari_cert_id(der, len, &id, &e->fe.err), CK_ERR_UNSUPPORTED);
	assert_non_null(strstr(e->fe.err.msg, "Authority Key Identifier"));
	free(der);
	assert_int_equal(acme_ari_cert_id((const unsigned char *)"x", 1, &id, &e->fe.err),
			 CK_ERR_PARSE);
}

static void
test_fetch_window(void **state)
{
	struct env *e = *state;
	struct acme_ari a = { 0 };

	e->ari_body = "{\"suggestedWindow\":{\"start\":\"2026-12-01T10:00:00Z\","
		      "\"end\":\"2026-12-02T10:00:00.5+02:00\"},"
		      "\"explanationURL\":\"https://acme.test/why\"}";
	e->retry_after = "21600";
	assert_int_equal(acme_ari_fetch(e->fe.c, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", &a, &e->fe.err),
			 CK_OK);
	assert_int_equal((long long)a.start, 1796119200LL);
	assert_int_equal((long long)a.end, 1796119200LL + 86400 - 7200);
	assert_string_equal(a.explanation_url, "https://acme.test/why");
	assert_int_equal(a.retry_after, 21600);
	assert_string_equal(e->fe.f.reqs[e->fe.f.n - 1].url,
			    FAKE_BASE "/ari/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	acme_ari_cleanup(&a);
}

static void
test_fetch_bad_windows(void **state)
{
	struct env *e = *state;
	struct acme_ari a = { 0 };
	static const char *const bad[] = {
		"{\"suggestedWindow\":{\"start\":\"2026-12-02T10:00:00Z\","
		"\"end\":\"2026-12-01T10:00:00Z\"}}",                       /* ends before it starts */
		"{\"suggestedWindow\":{\"start\":\"yesterday\",\"end\":\"2026-12-01T10:00:00Z\"}}",
		"{\"suggestedWindow\":{\"start\":\"2026-12-01T10:00:00Z\"}}", /* no end */
		"{\"window\":{}}",
		"{\"suggestedWindow\":{\"start\":\"2026-12-01T10:00:00Z\","
		"\"end\":\"2026-12-01T11:00:00Z\"},\"explanationURL\":\"http://plain.test\"}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e->ari_body = bad[i];
		assert_int_equal(acme_ari_fetch(e->fe.c, "a.b", &a, &e->fe.err), CK_ERR_PARSE);
	}
	assert_int_equal(acme_ari_fetch(e->fe.c, "a/../b", &a, &e->fe.err), CK_ERR_INVALID_ARG);
}

static void
test_fetch_without_ari(void **state)
{
	struct env *e = *state;
	struct acme_ari a = { 0 };

	e->no_ari = 1;
	assert_int_equal(acme_ari_fetch(e->fe.c, "a.b", &a, &e->fe.err), CK_ERR_UNSUPPORTED);
	assert_int_equal(fake_requests_to(&e->fe.f, FAKE_BASE "/ari"), 0);
}

static void
test_rfc3339(void **state)
{
	time_t t;

	(void)state;
	assert_true(acme_rfc3339_parse("1970-01-01T00:00:00Z", &t));
	assert_int_equal((long long)t, 0);
	assert_true(acme_rfc3339_parse("2000-02-29t23:59:59z", &t));
	assert_int_equal((long long)t, 951868799LL);
	assert_true(acme_rfc3339_parse("2026-12-01T10:00:00-05:30", &t));
	assert_int_equal((long long)t, 1796119200LL + 5 * 3600 + 1800);
	assert_false(acme_rfc3339_parse("2026-12-01 10:00:00Z", &t));
	assert_false(acme_rfc3339_parse("2026-13-01T10:00:00Z", &t));
	assert_false(acme_rfc3339_parse("2026-12-01T10:00:00", &t));
	assert_false(acme_rfc3339_parse("2026-12-01T10:00:00Zjunk", &t));
	assert_false(acme_rfc3339_parse("2026-12-01T10:00:00.Z", &t));
}

/* The decoded JWS payload of the last request to path (malloc'd). */
static char *
last_payload(const struct fake *f, const char *url)
{
	int i;

	for (i = f->n - 1; i >= 0; i--) {
		const char *p, *q;
		unsigned char *out = NULL;
		size_t len = 0;

		if (strcmp(f->reqs[i].url, url) != 0 || f->reqs[i].body == NULL)
			continue;
		p = strstr(f->reqs[i].body, "\"payload\":\"");
		assert_non_null(p);
		p += strlen("\"payload\":\"");
		q = strchr(p, '"');
		assert_int_equal(ck_b64url_decode(p, (size_t)(q - p), &out, &len, NULL), CK_OK);
		out = realloc(out, len + 1);
		out[len] = '\0';
		return (char *)out;
	}
	fail_msg("no request to %s", url);
	return NULL;
}

static void
test_order_replaces(void **state)
{
	struct env *e = *state;
	const char *names[] = { "a.test" };
	struct acme_order o = { 0 };
	char *payload;

	assert_int_equal(acme_order_new_replacing(e->fe.c, names, 1, NULL, "aYhb.AIdl", &o, &e->fe.err),
			 CK_OK);
	payload = last_payload(&e->fe.f, FAKE_BASE "/new-order");
	assert_non_null(strstr(payload, "\"replaces\":\"aYhb.AIdl\""));
	free(payload);
	acme_order_cleanup(&o);
}

static void
test_order_replaces_not_sent_without_ari(void **state)
{
	struct env *e = *state;
	const char *names[] = { "a.test" };
	struct acme_order o = { 0 };
	char *payload;

	e->no_ari = 1;
	assert_int_equal(acme_order_new_replacing(e->fe.c, names, 1, NULL, "aYhb.AIdl", &o, &e->fe.err),
			 CK_OK);
	payload = last_payload(&e->fe.f, FAKE_BASE "/new-order");
	assert_null(strstr(payload, "replaces"));
	free(payload);
	acme_order_cleanup(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cert_id_rfc_example, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_bad_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_without_ari, setup, teardown),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test_setup_teardown(test_order_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_replaces_not_sent_without_ari, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
