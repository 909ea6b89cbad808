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

/* The certificate ID through a whole d2i_X509 (how it was computed before
 * the ASN.1 read that skips the names and public key): NULL without AKI. */
static char *
ref_cert_id(const unsigned char *der, size_t len)
{
	const unsigned char *p = der, *content;
	const ASN1_OCTET_STRING *kid;
	unsigned char *sder = NULL;
	char *a = NULL, *b = NULL, *id = NULL;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	long clen;
	int slen, tag, xclass;

	assert_non_null(x);
	kid = X509_get0_authority_key_id(x);
	if (kid != NULL) {
		slen = i2d_ASN1_INTEGER((ASN1_INTEGER *)X509_get0_serialNumber(x), &sder);
		content = sder;
		assert_int_equal(ASN1_get_object(&content, &clen, &tag, &xclass, slen) & 0x80, 0);
		assert_int_equal(ck_b64url_encode(ASN1_STRING_get0_data(kid),
						  (size_t)ASN1_STRING_length(kid), &a, NULL), CK_OK);
		assert_int_equal(ck_b64url_encode(content, (size_t)clen, &b, NULL), CK_OK);
		assert_non_null(id = malloc(strlen(a) + strlen(b) + 2));
		sprintf(id, "%s.%s", a, b);
	}
	free(a);
	free(b);
	OPENSSL_free(sder);
	X509_free(x);
	return id;
}

/* A certificate issued by ca (so with an AKI keyIdentifier) with serial. */
static unsigned char *
issued_cert(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, const BIGNUM *serial, size_t *len)
{
	X509 *x = t_make_cert(key, ca, ca_key, "leaf.ari.test", 0, "DNS:leaf.ari.test", 1,
			      1700000000, 1800000000);
	const EVP_MD *md = EVP_PKEY_get_base_id(ca_key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
	unsigned char *der;

	assert_non_null(BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)));
	assert_true(X509_sign(x, ca_key, md) > 0);
	der = t_cert_der(x, len);
	X509_free(x);
	return der;
}

static void
test_cert_id_same_as_full_decode(void **state)
{
	static const enum ck_key_type types[] = { CK_KEY_EC256, CK_KEY_ED25519, CK_KEY_RSA2048 };
	static const char *const serials[] = { "1", "7F", "80", "FF", "0087654321",
					       "-5", "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF" };
	struct env *e = *state;
	unsigned char *der, *longer;
	size_t i, j, len;
	char *id, *want;

	for (i = 0; i < CK_ARRAY_LEN(types); i++) {
		EVP_PKEY *ca_key = t_key(types[i]), *key = t_key(types[(i + 1) % 3]);
		X509 *ca = t_make_cert(ca_key, NULL, NULL, "ca.ari.test", 1, NULL, 1, 1700000000,
				       1800000000);

		for (j = 0; j < CK_ARRAY_LEN(serials) + 3; j++) {
			BIGNUM *bn = NULL;

			if (j < CK_ARRAY_LEN(serials))
				assert_true(BN_hex2bn(&bn, serials[j]) > 0);
			else
				assert_true((bn = BN_new()) != NULL &&
					    BN_rand(bn, 64 + 32 * (int)j, BN_RAND_TOP_ONE,
						    BN_RAND_BOTTOM_ANY) == 1);
			der = issued_cert(key, ca, ca_key, bn, &len);
			want = ref_cert_id(der, len);
			assert_non_null(want);
			id = NULL;
			assert_int_equal(acme_ari_cert_id(der, len, &id, &e->fe.err), CK_OK);
			assert_string_equal(id, want);
			free(id);
			/* Trailing bytes and a cut certificate are not certificates. */
			assert_non_null(longer = malloc(len + 1));
			memcpy(longer, der, len);
			longer[len] = 0;
			assert_int_equal(acme_ari_cert_id(longer, len + 1, &id, &e->fe.err),
					 CK_ERR_PARSE);
			assert_int_equal(acme_ari_cert_id(der, len - 1, &id, &e->fe.err),
					 CK_ERR_PARSE);
			free(longer);
			free(want);
			free(der);
			BN_free(bn);
		}
		X509_free(ca);
		EVP_PKEY_free(key);
		EVP_PKEY_free(ca_key);
	}
}

/* Two AKI extensions: no ID, as OpenSSL's own reading gives none. */
static void
test_cert_id_two_akis(void **state)
{
	struct env *e = *state;
	EVP_PKEY *ca_key = t_key(CK_KEY_EC256);
	X509 *ca = t_make_cert(ca_key, NULL, NULL, "ca.ari.test", 1, NULL, 1, 1700000000,
			       1800000000);
	X509 *x = t_make_cert(e->fe.key, ca, ca_key, "two.ari.test", 0, NULL, 5, 1700000000,
			      1800000000);
	X509_EXTENSION *ext = X509_get_ext(x, X509_get_ext_by_NID(x, NID_authority_key_identifier,
								  -1));
	unsigned char *der;
	size_t len;
	char *id = NULL;

	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
	der = t_cert_der(x, &len);
	assert_null(ref_cert_id(der, len));
	assert_int_equal(acme_ari_cert_id(der, len, &id, &e->fe.err), CK_ERR_UNSUPPORTED);
	assert_null(id);
	free(der);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
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
		cmocka_unit_test_setup_teardown(test_cert_id_same_as_full_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cert_id_two_akis, setup, teardown),
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
