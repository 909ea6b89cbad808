/*
 * test_token_uri.c - pkcs11: URIs (src/token/uri.c) and the configured
 * tokens' JSON (src/token/conf.c): the exact text certkeep writes, round
 * trips through the parser (binary ids, labels with spaces, ';', '%',
 * non-ASCII), the RFC 7512 forms other tools write, and the refusals
 * (another scheme, repeated/unknown attributes, bad escapes, NUL in a
 * label, pin-value, over-long values, raw characters that must be
 * escaped).  Every URI certkeep writes, and every form it accepts, names
 * the same token, key and module for p11-kit's own parser (p11_kit_uri_*),
 * which the PKCS#11 tools around certkeep use; the forms certkeep refuses
 * are the ones p11-kit reads leniently (see src/token/uri.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <p11-kit/uri.h>

#include "token/token.h"

static void
test_format_exact(void **state)
{
	static const unsigned char id[] = { 0x01 };
	struct ck_err err;
	char *u = NULL;

	(void)state;
	assert_int_equal(ck_pkcs11_uri_format("my tok", id, sizeof(id), NULL,
					      "/usr/lib/softhsm/libsofthsm2.so", &u, &err), CK_OK);
	assert_string_equal(u, "pkcs11:token=my%20tok;id=%01;type=private"
			       "?module-path=%2Fusr%2Flib%2Fsofthsm%2Flibsofthsm2.so");
	free(u);
	/* no id: the key is named by its label; no module: no query */
	assert_int_equal(ck_pkcs11_uri_format("T", NULL, 0, "k;1", NULL, &u, &err), CK_OK);
	assert_string_equal(u, "pkcs11:token=T;object=k%3B1;type=private");
	free(u);
}

static void
test_round_trip(void **state)
{
	static const char *const labels[] = { "a", "my tok", "x;y=z?w&v%", "caf\xc3\xa9",
					      "12345678901234567890123456789012" };
	unsigned char id[CK_TOKEN_ID_MAX];
	struct ck_pkcs11_uri p;
	struct ck_err err;
	char *u = NULL;
	size_t i, k;

	(void)state;
	for (k = 0; k < sizeof(id); k++)
		id[k] = (unsigned char)(255 - k * 7);
	for (i = 0; i < CK_ARRAY_LEN(labels); i++) {
		size_t idl = (i * 37) % (sizeof(id) + 1);
		assert_int_equal(ck_pkcs11_uri_format(labels[i], id, idl ? idl : 1, NULL,
						      "/opt/a b/lib%p11.so", &u, &err), CK_OK);
		memset(&p, 0x55, sizeof(p));
		assert_int_equal(ck_pkcs11_uri_parse(u, &p, &err), CK_OK);
		assert_string_equal(p.token, labels[i]);
		assert_int_equal(p.has_id, 1);
		assert_int_equal(p.id_len, idl ? idl : 1);
		assert_memory_equal(p.id, id, p.id_len);
		assert_string_equal(p.type, "private");
		assert_string_equal(p.module_path, "/opt/a b/lib%p11.so");
		assert_string_equal(p.object, "");
		free(u);
	}
}

static void
test_parse_other_tools(void **state)
{
	struct ck_pkcs11_uri p;
	struct ck_err err;

	(void)state;
	/* attribute order free, RFC 7512 attributes checked, x- ignored, raw '/' in a query */
	assert_int_equal(ck_pkcs11_uri_parse("pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM"
					     "%20project;serial=0123abcd;object=k1;token=T;"
					     "x-vendor=1?module-path=/usr/lib/p.so&"
					     "module-name=softhsm2", &p, &err), CK_OK);
	assert_string_equal(p.token, "T");
	assert_string_equal(p.object, "k1");
	assert_string_equal(p.serial, "0123abcd");
	assert_string_equal(p.module_path, "/usr/lib/p.so");
	assert_int_equal(p.has_id, 0);
	assert_int_equal(ck_pkcs11_uri_parse("pkcs11:", &p, &err), CK_OK);
	assert_string_equal(p.token, "");
	/* '=' raw in a value, '&' raw in a path value */
	assert_int_equal(ck_pkcs11_uri_parse("pkcs11:object=a=b&c;token=T", &p, &err), CK_OK);
	assert_string_equal(p.object, "a=b&c");
	/* lower-case hex escapes */
	assert_int_equal(ck_pkcs11_uri_parse("pkcs11:id=%a1%B2", &p, &err), CK_OK);
	assert_int_equal(p.id_len, 2);
	assert_int_equal(p.id[0], 0xa1);
	assert_int_equal(p.id[1], 0xb2);
}

static void
test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"pkcs12:token=T",              /* another scheme */
		"PKCS11token=T",
		"pkcs11:token=a;token=b",      /* repeated */
		"pkcs11:slot-id=3",            /* unknown */
		"pkcs11:token",                /* no '=' */
		"pkcs11:=x",
		"pkcs11:token=a;;id=%01",      /* empty attribute */
		"pkcs11:token=a;",             /* trailing separator */
		"pkcs11:token=%0",             /* cut escape */
		"pkcs11:token=%",
		"pkcs11:token=%zz",            /* not hex */
		"pkcs11:token=a%00b",          /* NUL in a label */
		"pkcs11:token=a b",            /* raw space */
		"pkcs11:token=a/b",            /* raw '/' in the path */
		"pkcs11:token=T?module-path=/x;y", /* raw ';' in the query */
		"pkcs11:token=a\"b",
		"pkcs11:token=T?pin-value=1234", /* a secret in a URI */
		"pkcs11:token=T?module-path=/x&module-path=/y",
		"pkcs11:token=123456789012345678901234567890123", /* 33 bytes */
		"pkcs11:type=privateprivatepriv",
	};
	struct ck_pkcs11_uri p;
	struct ck_err err;
	char big[CK_TOKEN_URI_MAX + 16];
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(bad); i++) {
		ck_err_clear(&err);
		if (ck_pkcs11_uri_parse(bad[i], &p, &err) != CK_ERR_PARSE)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err.msg[0] != '\0');
	}
	assert_int_equal(ck_pkcs11_uri_parse("pkcs11:token=T?pin-value=1234", &p, &err),
			 CK_ERR_PARSE);
	assert_non_null(strstr(err.msg, "PIN"));
	/* an id of CK_TOKEN_ID_MAX + 1 bytes */
	strcpy(big, "pkcs11:id=");
	for (i = 0; i <= CK_TOKEN_ID_MAX; i++)
		strcat(big, "%01");
	assert_int_equal(ck_pkcs11_uri_parse(big, &p, &err), CK_ERR_PARSE);
	/* the whole text past its maximum */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "pkcs11:x-a=", 11);
	assert_int_equal(ck_pkcs11_uri_parse(big, &p, &err), CK_ERR_PARSE);
	assert_int_equal(ck_pkcs11_uri_parse(NULL, &p, &err), CK_ERR_INVALID_ARG);
}

/* p11-kit's reading of text must match p (token, id, object, module path). */
static void
assert_p11kit_agrees(const char *text, const struct ck_pkcs11_uri *p)
{
	P11KitUri *u = p11_kit_uri_new();
	CK_TOKEN_INFO *ti;
	CK_ATTRIBUTE *a;
	char label[sizeof(ti->label) + 1];
	size_t n;

	assert_non_null(u);
	if (p11_kit_uri_parse(text, P11_KIT_URI_FOR_ANY, u) != P11_KIT_URI_OK)
		fail_msg("p11-kit refused what certkeep accepts: %s", text);
	/* p11-kit flags x- (vendor) attributes as unrecognized; certkeep ignores them */
	assert_int_equal(p11_kit_uri_any_unrecognized(u), strstr(text, ";x-") != NULL);
	ti = p11_kit_uri_get_token_info(u);
	n = sizeof(ti->label);
	while (n > 0 && ti->label[n - 1] == ' ')
		n--;
	memcpy(label, ti->label, n);
	label[n] = '\0';
	assert_string_equal(label, p->token);
	a = p11_kit_uri_get_attribute(u, CKA_ID);
	if (!p->has_id) {
		assert_null(a);
	} else {
		assert_non_null(a);
		assert_int_equal(a->ulValueLen, p->id_len);
		assert_memory_equal(a->pValue, p->id, p->id_len);
	}
	a = p11_kit_uri_get_attribute(u, CKA_LABEL);
	if (p->object[0] == '\0') {
		assert_null(a);
	} else {
		assert_non_null(a);
		assert_int_equal(a->ulValueLen, strlen(p->object));
		assert_memory_equal(a->pValue, p->object, a->ulValueLen);
	}
	if (p->module_path[0] == '\0')
		assert_null(p11_kit_uri_get_module_path(u));
	else
		assert_string_equal(p11_kit_uri_get_module_path(u), p->module_path);
	p11_kit_uri_free(u);
}

static void
test_p11kit_reads_the_same(void **state)
{
	static const unsigned char id[] = { 0x00, 0x7f, 0x80, 0xff, '%', ';' };
	static const char *const labels[] = { "my tok", "x;y=z?w&v%", "caf\xc3\xa9", "T" };
	static const char *const other[] = {
		"pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=0123abcd;"
		"object=k1;token=T?module-path=/usr/lib/p.so&module-name=softhsm2",
		"pkcs11:object=a=b&c;token=T",
		"pkcs11:id=%a1%B2;type=private?module-path=%2Fopt%2Fa%20b%2Fp.so",
		"pkcs11:token=T;x-vendor=1",
		"pkcs11:",
	};
	struct ck_pkcs11_uri p;
	struct ck_err err;
	char *u = NULL;
	size_t i;

	(void)state;
	/* what certkeep writes: percent-encoded labels, binary ids, module-path query */
	for (i = 0; i < CK_ARRAY_LEN(labels); i++) {
		assert_int_equal(ck_pkcs11_uri_format(labels[i], i % 2 ? id : NULL,
						      i % 2 ? sizeof(id) : 0, "key 1;%",
						      i < 2 ? "/opt/a b/lib%p11.so" : NULL, &u,
						      &err), CK_OK);
		assert_int_equal(ck_pkcs11_uri_parse(u, &p, &err), CK_OK);
		assert_p11kit_agrees(u, &p);
		free(u);
	}
	/* what other tools write and certkeep accepts */
	for (i = 0; i < CK_ARRAY_LEN(other); i++) {
		if (ck_pkcs11_uri_parse(other[i], &p, &err) != CK_OK)
			fail_msg("refused: %s: %s", other[i], err.msg);
		assert_p11kit_agrees(other[i], &p);
	}
}

static void
test_format_limits(void **state)
{
	unsigned char id[CK_TOKEN_ID_MAX + 1] = { 0 };
	struct ck_err err;
	char *u = NULL;

	(void)state;
	assert_int_equal(ck_pkcs11_uri_format("123456789012345678901234567890123", id, 1, NULL,
					      NULL, &u, &err), CK_ERR_TOO_LARGE);
	assert_int_equal(ck_pkcs11_uri_format("t", id, sizeof(id), NULL, NULL, &u, &err),
			 CK_ERR_TOO_LARGE);
	assert_null(u);
}

static void
test_conf(void **state)
{
	struct ck_token_conf_list l, m;
	struct ck_err err;
	char *json = NULL;

	(void)state;
	assert_int_equal(ck_token_conf_parse(NULL, &l, &err), CK_OK);
	assert_int_equal(l.n, 0);
	assert_int_equal(ck_token_conf_add(&l, "hsm", "/usr/lib/softhsm/libsofthsm2.so",
					   "my tok", &err), CK_OK);
	assert_int_equal(ck_token_conf_add(&l, "card-2", "/usr/lib/x.so", "PIV", &err), CK_OK);
	assert_int_equal(ck_token_conf_add(&l, "hsm", "/a.so", "x", &err), CK_ERR_EXISTS);
	assert_int_equal(ck_token_conf_add(&l, "-x", "/a.so", "x", &err), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_token_conf_add(&l, "rel", "lib.so", "x", &err), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_token_conf_add(&l, "long", "/a.so",
					   "123456789012345678901234567890123", &err),
			 CK_ERR_INVALID_ARG);
	assert_int_equal(ck_token_conf_format(&l, &json, &err), CK_OK);
	assert_string_equal(json, "{\"hsm\":{\"module\":\"/usr/lib/softhsm/libsofthsm2.so\","
				  "\"token\":\"my tok\"},\"card-2\":{\"module\":\"/usr/lib/x.so\","
				  "\"token\":\"PIV\"}}");
	assert_int_equal(ck_token_conf_parse(json, &m, &err), CK_OK);
	free(json);
	assert_int_equal(m.n, 2);
	assert_string_equal(ck_token_conf_find(&m, "card-2")->label, "PIV");
	assert_int_equal(ck_token_conf_remove(&m, "hsm", &err), CK_OK);
	assert_int_equal(ck_token_conf_remove(&m, "hsm", &err), CK_ERR_NOT_FOUND);
	assert_int_equal(m.n, 1);
	assert_string_equal(m.items[0].name, "card-2");
	assert_int_equal(ck_token_conf_parse("[1]", &m, &err), CK_ERR_PARSE);
	assert_int_equal(ck_token_conf_parse("{\"a\":{\"module\":\"rel.so\",\"token\":\"t\"}}",
					     &m, &err), CK_ERR_PARSE);
	assert_int_equal(ck_token_conf_parse("{\"a\":{\"module\":\"/x.so\"}}", &m, &err),
			 CK_ERR_PARSE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_exact),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_parse_other_tools),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_p11kit_reads_the_same),
		cmocka_unit_test(test_format_limits),
		cmocka_unit_test(test_conf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
