/*
 * test_challenge_webroot.c - the webroot responder (http-01 by files) and
 * the seam's small parts: a token that could be a path is refused before
 * anything exists, a symbolic link in the webroot is never written
 * through, files are 0644 and directories 0755 whatever the umask, and
 * everything certkeep made is gone after stop (what was there stays).
 * Also the dns-01 name/value, the tls-alpn-01 SNI of an IP and its
 * validation certificate (the acmeIdentifier extension byte for byte, its
 * serial in DER a strict parser reads), and the settings record round trip.
 */
#include "test_store_util.h"

#include <openssl/x509v3.h>

#include "challenge/challenge.h"
#include "challenge/tlsalpn01.h"

#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define KEYAUTH TOKEN ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

struct env {
	char dir[64];          /* the webroot */
	char elsewhere[64];    /* where a planted link points */
	struct ck_ctx ctx;
	struct ck_challenge_settings cfg;
	struct ck_err err;
};

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	strcpy(e->dir, "/tmp/ck-webroot-XXXXXX");
	strcpy(e->elsewhere, "/tmp/ck-elsewhere-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	assert_non_null(mkdtemp(e->elsewhere));
	ck_ctx_init(&e->ctx);
	e->ctx.log.level = CK_LOG_ERROR;
	e->cfg.webroot = e->dir;
	e->cfg.dns_wait = -1;
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	t_rm_rf(e->dir);
	t_rm_rf(e->elsewhere);
	free(e);
	return 0;
}

static struct chall_responder *
started(struct env *e)
{
	struct chall_responder *r = NULL;

	assert_int_equal(chall_responder_new(&e->ctx, CK_CHALLENGE_HTTP01, &e->cfg, &r, &e->err),
			 CK_OK);
	assert_int_equal(chall_start(r, &e->err), CK_OK);
	return r;
}

static void
test_webroot_writes_and_removes(void **state)
{
	struct env *e = *state;
	struct chall_item it = { "a.example.test", 0, 0, TOKEN, KEYAUTH };
	struct chall_responder *r;
	char path[256], body[256] = "";
	struct stat sb;
	mode_t old = umask(077); /* a tight umask must not make them unreadable */
	FILE *fp;

	r = started(e);
	assert_int_equal(t_dir_entries(e->dir), 0); /* start writes nothing */
	assert_int_equal(chall_add(r, &it, &e->err), CK_OK);
	assert_int_equal(chall_add(r, &it, &e->err), CK_OK); /* again: a no-op */
	umask(old);
	snprintf(path, sizeof(path), "%s/.well-known/acme-challenge/%s", e->dir, TOKEN);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0644);
	assert_non_null(fp = fopen(path, "r"));
	assert_non_null(fgets(body, sizeof(body), fp));
	fclose(fp);
	assert_string_equal(body, KEYAUTH);
	snprintf(path, sizeof(path), "%s/.well-known", e->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755);
	snprintf(path, sizeof(path), "%s/.well-known/acme-challenge", e->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0755);
	chall_remove(r, &it);
	assert_int_equal(t_dir_entries(path), 0);
	chall_stop(r);
	/* The directories certkeep made are gone with the files. */
	assert_int_equal(t_dir_entries(e->dir), 0);
}

static void
test_webroot_keeps_what_was_there(void **state)
{
	struct env *e = *state;
	struct chall_item it = { "a.example.test", 0, 0, TOKEN, KEYAUTH };
	struct chall_responder *r;
	char path[256];

	snprintf(path, sizeof(path), "%s/.well-known", e->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/.well-known/security.txt", e->dir);
	fclose(fopen(path, "w"));
	r = started(e);
	assert_int_equal(chall_add(r, &it, &e->err), CK_OK);
	chall_stop(r); /* stop removes what is still added */
	snprintf(path, sizeof(path), "%s/.well-known", e->dir);
	assert_int_equal(t_dir_entries(path), 1); /* security.txt; acme-challenge (made) is gone */
	snprintf(path, sizeof(path), "%s/.well-known/security.txt", e->dir);
	assert_int_equal(access(path, F_OK), 0);
}

static void
test_webroot_bad_tokens_touch_nothing(void **state)
{
	static const char *const bad[] = { "../../x", "a/b", "..", "%2f..%2fx", "", "a.b",
					   "a\nb" };
	struct env *e = *state;
	struct chall_responder *r = started(e);
	char longtok[200];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct chall_item it = { "a.example.test", 0, 0, bad[i], KEYAUTH };
		assert_int_equal(chall_add(r, &it, &e->err), CK_ERR_PARSE);
		assert_non_null(strstr(e->err.msg, "before any file"));
	}
	memset(longtok, 'A', 129);
	longtok[129] = '\0';
	{
		struct chall_item it = { "a.example.test", 0, 0, longtok, KEYAUTH };
		assert_int_equal(chall_add(r, &it, &e->err), CK_ERR_PARSE);
	}
	/* Nothing was made: not even .well-known. */
	assert_int_equal(t_dir_entries(e->dir), 0);
	chall_stop(r);
}

static void
test_webroot_symlink_refused(void **state)
{
	struct env *e = *state;
	struct chall_item it = { "a.example.test", 0, 0, TOKEN, KEYAUTH };
	struct chall_responder *r;
	char path[256], link_dir[128];

	/* .well-known -> elsewhere: nothing may be written through it. */
	snprintf(path, sizeof(path), "%s/.well-known", e->dir);
	assert_int_equal(symlink(e->elsewhere, path), 0);
	r = started(e);
	assert_int_equal(chall_add(r, &it, &e->err), CK_ERR_PERMISSION);
	assert_non_null(strstr(e->err.msg, "symbolic link"));
	chall_stop(r);
	assert_int_equal(t_dir_entries(e->elsewhere), 0);
	assert_int_equal(unlink(path), 0);
	/* .well-known/acme-challenge -> elsewhere: the same. */
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/.well-known/acme-challenge", e->dir);
	assert_int_equal(symlink(e->elsewhere, path), 0);
	r = started(e);
	assert_int_equal(chall_add(r, &it, &e->err), CK_ERR_PERMISSION);
	chall_stop(r);
	assert_int_equal(t_dir_entries(e->elsewhere), 0);
	assert_int_equal(unlink(path), 0);
	/* acme-challenge/TOKEN planted as a link: replaced, never followed. */
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(link_dir, sizeof(link_dir), "%s/target", e->elsewhere);
	snprintf(path, sizeof(path), "%s/.well-known/acme-challenge/%s", e->dir, TOKEN);
	assert_int_equal(symlink(link_dir, path), 0);
	r = started(e);
	assert_int_equal(chall_add(r, &it, &e->err), CK_OK);
	chall_stop(r);
	assert_int_equal(t_dir_entries(e->elsewhere), 0);
	/* The webroot itself a link: refused at start. */
	snprintf(path, sizeof(path), "%s/root-link", e->elsewhere);
	assert_int_equal(symlink(e->dir, path), 0);
	e->cfg.webroot = path;
	assert_int_equal(chall_responder_new(&e->ctx, CK_CHALLENGE_HTTP01, &e->cfg, &r, &e->err),
			 CK_OK);
	assert_int_equal(chall_start(r, &e->err), CK_ERR_PERMISSION);
	assert_non_null(strstr(e->err.msg, "symbolic link"));
	chall_stop(r);
}

static void
test_dns01_name_and_value(void **state)
{
	struct ck_err err;
	char v[44], name[300];

	(void)state;
	/* RFC 8555 8.4: base64url(SHA-256(keyauth)), checked with openssl:
	 * printf %s KEYAUTH | openssl dgst -sha256 -binary | basenc --base64url */
	assert_int_equal(chall_dns01_value(KEYAUTH, v, &err), CK_OK);
	assert_int_equal(strlen(v), 43);
	assert_string_equal(v, "lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM");
	assert_int_equal(chall_dns01_name("www.example.org", name, sizeof(name), &err), CK_OK);
	assert_string_equal(name, "_acme-challenge.www.example.org");
	assert_int_equal(chall_dns01_name("127.0.0.1", name, sizeof(name), &err),
			 CK_ERR_INVALID_ARG);
	assert_int_equal(chall_dns01_name("www.example.org", name, 20, &err), CK_ERR_TOO_LARGE);
}

static void
test_tlsalpn_sni(void **state)
{
	struct ck_err err;
	char sni[TLSALPN_SNI_MAX];

	(void)state;
	assert_int_equal(tlsalpn_sni_for("127.0.0.1", 1, sni, sizeof(sni), &err), CK_OK);
	assert_string_equal(sni, "1.0.0.127.in-addr.arpa");
	assert_int_equal(tlsalpn_sni_for("2001:db8::567:89ab", 1, sni, sizeof(sni), &err), CK_OK);
	assert_string_equal(sni, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
			    ".ip6.arpa");
	assert_int_equal(tlsalpn_sni_for("WWW.Example.org", 0, sni, sizeof(sni), &err), CK_OK);
	assert_string_equal(sni, "www.example.org");
}

/* RFC 8737 section 3: one SAN, and id-pe-acmeIdentifier critical holding the
 * DER OCTET STRING of SHA-256(keyauth) (04 20 || digest). */
static void
test_tlsalpn_certificate(void **state)
{
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	unsigned char want[34] = { 0x04, 0x20 };
	const ASN1_OCTET_STRING *v;
	X509_EXTENSION *ext;
	GENERAL_NAMES *gens;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	struct ck_err err;
	int i;

	(void)state;
	assert_int_equal(ck_key_generate(CK_KEY_EC256, &key, &err), CK_OK);
	assert_int_equal(tlsalpn_cert_new(key, "127.0.0.1", 1, KEYAUTH, &x, &err), CK_OK);
	assert_int_equal(X509_verify(x, key), 1); /* self-signed */
	assert_true((i = X509_get_ext_by_OBJ(x, oid, -1)) >= 0);
	ext = X509_get_ext(x, i);
	assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
	v = X509_EXTENSION_get_data(ext);
	assert_int_equal(EVP_Digest(KEYAUTH, strlen(KEYAUTH), want + 2, NULL, EVP_sha256(), NULL),
			 1);
	assert_int_equal(ASN1_STRING_length(v), sizeof(want));
	assert_memory_equal(ASN1_STRING_get0_data(v), want, sizeof(want));
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
	assert_int_equal(sk_GENERAL_NAME_value(gens, 0)->type, GEN_IPADD);
	GENERAL_NAMES_free(gens);
	X509_free(x);
	EVP_PKEY_free(key);
	ASN1_OBJECT_free(oid);
}

/*
 * Whatever the random bytes, the serial is a positive INTEGER in minimal
 * DER: a CA's strict parser (Go's, in Pebble and Boulder) refuses a
 * leading 00 before a byte below 0x80, and fails the handshake ("Failed to
 * connect"): before, 1 validation certificate in 256.  OpenSSL's decoder
 * refuses that padding too, so a certificate that reads back is one a CA reads.
 */
static void
test_tlsalpn_certificate_serial_is_der(void **state)
{
	static const unsigned char first[][2] = { { 0x00, 0x01 }, { 0x00, 0x00 }, { 0x80, 0x7f },
						  { 0x80, 0x80 }, { 0xff, 0xff }, { 0x01, 0x00 },
						  { 0x7f, 0xff } };
	unsigned char rnd[TLSALPN_SERIAL_LEN], *der = NULL;
	const unsigned char *p;
	const ASN1_INTEGER *sn;
	EVP_PKEY *key = NULL;
	X509 *x, *back;
	struct ck_err err;
	size_t i;
	int len;

	(void)state;
	assert_int_equal(ck_key_generate(CK_KEY_EC256, &key, &err), CK_OK);
	for (i = 0; i < CK_ARRAY_LEN(first); i++) {
		memset(rnd, first[i][1], sizeof(rnd));
		rnd[0] = first[i][0];
		x = NULL;
		assert_int_equal(tlsalpn_cert_new_serial(key, "a.example.org", 0, KEYAUTH, rnd, &x,
							 &err), CK_OK);
		der = NULL;
		assert_true((len = i2d_X509(x, &der)) > 0);
		p = der;
		back = d2i_X509(NULL, &p, len);
		if (back == NULL)
			fail_msg("serial starting %02x %02x: the certificate does not read back",
				 first[i][0], first[i][1]);
		sn = X509_get0_serialNumber(back);
		assert_int_equal(ASN1_STRING_type(sn), V_ASN1_INTEGER); /* positive */
		assert_true(ASN1_STRING_length(sn) > 8);
		X509_free(back);
		OPENSSL_free(der);
		X509_free(x);
	}
	EVP_PKEY_free(key);
}

static void
test_settings_record_round_trip(void **state)
{
	struct ck_challenge_override ov[] = { { "*.example.org", CK_CHALLENGE_DNS01 } };
	struct ck_challenge_settings s;
	struct chall_settings_rec rec;
	struct ck_err err;
	char *json = NULL, *again = NULL;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.type = CK_CHALLENGE_TLSALPN01;
	s.tls_port = 5001;
	s.tls_address = "127.0.0.1";
	s.dns_hook = "/usr/local/bin/hook";
	s.dns_wait = 0;
	s.overrides = ov;
	s.noverrides = 1;
	assert_int_equal(chall_settings_encode(&s, &json, &err), CK_OK);
	assert_int_equal(chall_settings_decode(json, &rec, &err), CK_OK);
	assert_int_equal(rec.s.type, CK_CHALLENGE_TLSALPN01);
	assert_int_equal(rec.s.tls_port, 5001);
	assert_int_equal(rec.s.dns_wait, 0);
	assert_int_equal(rec.s.noverrides, 1);
	assert_string_equal(rec.s.overrides[0].name, "*.example.org");
	assert_int_equal(chall_settings_encode(&rec.s, &again, &err), CK_OK);
	assert_string_equal(json, again);
	chall_settings_rec_cleanup(&rec);
	/* Outside data: wrong types, unknown fields, out-of-range values refused. */
	assert_int_equal(chall_settings_decode("{\"tls_port\":70000}", &rec, &err), CK_ERR_PARSE);
	chall_settings_rec_cleanup(&rec);
	assert_int_equal(chall_settings_decode("{\"type\":\"dns-02\"}", &rec, &err), CK_ERR_PARSE);
	chall_settings_rec_cleanup(&rec);
	assert_int_equal(chall_settings_decode("{\"secret\":\"x\"}", &rec, &err), CK_ERR_PARSE);
	assert_non_null(strstr(err.msg, "secret"));
	chall_settings_rec_cleanup(&rec);
	assert_int_equal(chall_settings_decode("{\"webroot\":\"a\\u0000b\"}", &rec, &err),
			 CK_ERR_PARSE);
	chall_settings_rec_cleanup(&rec);
	assert_int_equal(chall_settings_decode("[]", &rec, &err), CK_ERR_PARSE);
	chall_settings_rec_cleanup(&rec);
	free(json);
	free(again);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_webroot_writes_and_removes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_webroot_keeps_what_was_there, setup, teardown),
		cmocka_unit_test_setup_teardown(test_webroot_bad_tokens_touch_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_webroot_symlink_refused, setup, teardown),
		cmocka_unit_test(test_dns01_name_and_value),
		cmocka_unit_test(test_tlsalpn_sni),
		cmocka_unit_test(test_tlsalpn_certificate),
		cmocka_unit_test(test_tlsalpn_certificate_serial_is_der),
		cmocka_unit_test(test_settings_record_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
