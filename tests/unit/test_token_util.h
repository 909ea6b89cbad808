/*
 * test_token_util.h - a real SoftHSM2 token of a test binary's own: its own
 * SOFTHSM2_CONF and token directory in a new temporary directory, one token
 * initialised with a known user PIN, and opening it by a module-path URI.
 * static inline so each test binary takes what it uses; needs
 * test_store_util.h (t_sh) and token/token.h first.
 */
#ifndef CK_TEST_TOKEN_UTIL_H
#define CK_TEST_TOKEN_UTIL_H

#include <sys/stat.h>

#define T_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define T_SO_PIN "654321"

/*
 * Makes dir (size bytes; a new /tmp/<prefix>-XXXXXX) holding softhsm2.conf,
 * tokens/ (0700) and pin (the PIN and a newline, as a PIN file is written
 * by hand), points SOFTHSM2_CONF at that configuration, and initialises a
 * token labelled label with user PIN pin.  The test fails if any step does.
 * t_rm_rf(dir) removes it all.
 */
static inline void
t_softhsm_init(char *dir, size_t size, const char *prefix, const char *label, const char *pin)
{
	char conf[256], tokens[256], pin_file[256];
	FILE *fp;

	assert_true((size_t)snprintf(dir, size, "/tmp/%s-XXXXXX", prefix) < size);
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	fp = fopen(conf, "w");
	assert_non_null(fp);
	fprintf(fp, "directories.tokendir = %s\nobjectstore.backend = file\n"
		    "log.level = ERROR\n", tokens);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(mkdir(tokens, 0700), 0);
	setenv("SOFTHSM2_CONF", conf, 1);
	t_sh("softhsm2-util --init-token --free --label '%s' --pin %s --so-pin " T_SO_PIN
	     " >/dev/null", label, pin);
	snprintf(pin_file, sizeof(pin_file), "%s/pin", dir);
	fp = fopen(pin_file, "w");
	assert_non_null(fp);
	fprintf(fp, "%s\n", pin);
	assert_int_equal(fclose(fp), 0);
}

/*
 * The token labelled label (no character a URI must escape) opened through
 * module (a module-path URI), not logged in; fails the test with
 * certkeep's message if it cannot be opened.
 */
static inline struct ck_token *
t_token_open(const char *label, const char *module)
{
	char text[1024];
	struct ck_pkcs11_uri u;
	struct ck_token *t = NULL;
	struct ck_err err;

	assert_true((size_t)snprintf(text, sizeof(text), "pkcs11:token=%s?module-path=%s", label,
				     module) < sizeof(text));
	assert_int_equal(ck_pkcs11_uri_parse(text, &u, &err), CK_OK);
	if (ck_token_open_uri(&u, NULL, &t, &err) != CK_OK)
		fail_msg("%s", err.msg);
	return t;
}

#endif
