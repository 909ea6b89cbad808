/*
 * test_challenge_tsig.c - the TSIG key file parser: what tsig-keygen
 * writes (read from a real `tsig-keygen` run), comments and quoting
 * variants, and every way a file can be wrong, each with an error that
 * names the line and never quotes the secret.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "challenge/tsig.h"

#define SECRET "Cjln+3I8LU926tbGbj/D9NWusd4jz6vNkz29H5lSa6Y="

static enum ck_code
parse(const char *text, struct tsig_key *k, struct ck_err *e)
{
	ck_err_clear(e);
	return tsig_key_parse(text, strlen(text), k, e);
}

static void
test_tsig_keygen_output(void **state)
{
	char path[] = "/tmp/ck-tsig-XXXXXX", cmd[256];
	struct tsig_key k;
	struct ck_err e;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	snprintf(cmd, sizeof(cmd), "tsig-keygen -a hmac-sha256 acme-key.example. > %s", path);
	assert_int_equal(system(cmd), 0);
	ck_err_clear(&e);
	assert_int_equal(tsig_key_read(path, &k, &e), CK_OK);
	assert_string_equal(k.name, "acme-key.example");
	assert_string_equal(k.algorithm, "hmac-sha256");
	assert_int_equal(strlen(k.secret), 44);
	tsig_key_wipe(&k);
	assert_int_equal(k.secret[0], '\0');
	close(fd);
	unlink(path);
}

static void
test_tsig_variants(void **state)
{
	static const char *ok[] = {
		"key \"ck\" {\n\talgorithm hmac-sha256;\n\tsecret \"" SECRET "\";\n};\n",
		"# made by hand\nkey ck { secret \"" SECRET "\"; algorithm \"HMAC-SHA256\"; };",
		"/* a\n comment */ key \"ck.\" { // name with a dot\n algorithm hmac-sha256.;"
		" secret \"" SECRET "\"; };\n\n",
	};
	struct tsig_key k;
	struct ck_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(parse(ok[i], &k, &e), CK_OK);
		assert_string_equal(k.name, "ck");
		assert_string_equal(k.secret, SECRET);
		tsig_key_wipe(&k);
	}
}

static void
test_tsig_bad_files(void **state)
{
	static const struct {
		const char *text;
		enum ck_code code;
		const char *needle;
	} bad[] = {
		{ "", CK_ERR_PARSE, "line 1: expected \"key\"" },
		{ "key \"ck\" { algorithm hmac-sha256; };", CK_ERR_PARSE, "lacks its secret" },
		{ "key \"ck\" { secret \"" SECRET "\"; };", CK_ERR_PARSE, "lacks its algorithm" },
		{ "key \"ck\" {\n algorithm hmac-md5;\n secret \"" SECRET "\"; };",
		  CK_ERR_UNSUPPORTED, "line 2: TSIG algorithm is not hmac-sha256" },
		{ "key \"ck\" { algorithm hmac-sha256; secret \"not base64!\"; };", CK_ERR_PARSE,
		  "not base64" },
		{ "key \"ck\" { algorithm hmac-sha256; secret \"" SECRET "\"; { }; };", CK_ERR_PARSE,
		  "nothing nests" },
		{ "key \"ck\" { algorithm hmac-sha256; secret \"" SECRET "\"; };\n"
		  "key \"ck2\" { algorithm hmac-sha256; secret \"" SECRET "\"; };",
		  CK_ERR_PARSE, "line 2: expected the end of the file after one key" },
		{ "key \"ck\" { algorithm hmac-sha256; secret \"" SECRET "\" };", CK_ERR_PARSE,
		  "expected ';'" },
		{ "key \"ck\" { algorithm hmac-sha256; secret \"" SECRET "\"; }; /* open",
		  CK_ERR_PARSE, "expected the end" },
		{ "key \"a..b\" { algorithm hmac-sha256; secret \"" SECRET "\"; };", CK_ERR_PARSE,
		  "the key's name" },
		{ "key \"ck\" { secret \"" SECRET "\"; secret \"" SECRET "\"; };", CK_ERR_PARSE,
		  "once" },
		{ "key \"ck\" { algorithm hmac-sha256; secret \"" SECRET, CK_ERR_PARSE,
		  "a quoted base64 secret" },
		{ "options { };", CK_ERR_PARSE, "expected \"key\"" },
	};
	struct tsig_key k;
	struct ck_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i].text, &k, &e), bad[i].code);
		if (strstr(e.msg, bad[i].needle) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, bad[i].needle);
		assert_null(strstr(e.msg, "Cjln"));   /* never the secret */
		assert_int_equal(k.secret[0], '\0');
	}
}

static void
test_tsig_bounds(void **state)
{
	char *big = malloc(TSIG_FILE_MAX + 2), word[TSIG_TOKEN_MAX + 50];
	struct tsig_key k;
	struct ck_err e;

	(void)state;
	memset(big, ' ', TSIG_FILE_MAX + 1);
	big[TSIG_FILE_MAX + 1] = '\0';
	assert_int_equal(parse(big, &k, &e), CK_ERR_TOO_LARGE);
	free(big);
	memset(word, 'a', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	assert_int_equal(parse(word, &k, &e), CK_ERR_PARSE);
	/* an embedded NUL ends nothing early: the length is what counts */
	assert_int_equal(tsig_key_parse("key \"c\0k\" {", 11, &k, &e), CK_ERR_PARSE);
}

static void
test_tsig_missing_file(void **state)
{
	struct tsig_key k;
	struct ck_err e;

	(void)state;
	ck_err_clear(&e);
	assert_int_not_equal(tsig_key_read("/nonexistent/ck.key", &k, &e), CK_OK);
	assert_non_null(strstr(e.msg, "TSIG key file /nonexistent/ck.key (--tsig-file)"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tsig_keygen_output),
		cmocka_unit_test(test_tsig_variants),
		cmocka_unit_test(test_tsig_bad_files),
		cmocka_unit_test(test_tsig_bounds),
		cmocka_unit_test(test_tsig_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
