/*
 * test_token_pin_states.c - the two PIN states a real card reports and
 * SoftHSM2 cannot be brought to: a locked user PIN (CKF_USER_PIN_LOCKED)
 * and an expired one (C_Login answers CKR_PIN_EXPIRED).  The token is a
 * real SoftHSM2 token reached through p11_shim.c (a test-only module that
 * changes just those two answers).  Each has its own message saying what
 * to do; a locked PIN is not even tried (no C_Login); an expired one was
 * tried once; neither reads as "wrong PIN".
 */
#include "test_store_util.h"

#include "token/token.h"

#define T_LABEL "ck-pin-states"
#define T_PIN "123456"
#define T_CKF_USER_PIN_LOCKED "0x00040000"
#define T_CKR_PIN_EXPIRED "0x000000A3"

static char dir[64], pin_file[128], login_log[128];

static int
group_setup(void **state)
{
	char conf[256], text[256];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ck-pin-states-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	snprintf(text, sizeof(text), "directories.tokendir = %s/tokens\n"
		 "objectstore.backend = file\nlog.level = ERROR\n", dir);
	t_sh("printf '%%s' '%s' > %s", text, conf);
	t_sh("mkdir -m 0700 %s/tokens", dir);
	setenv("SOFTHSM2_CONF", conf, 1);
	t_sh("softhsm2-util --init-token --free --label '" T_LABEL "' --pin " T_PIN
	     " --so-pin 654321 >/dev/null");
	snprintf(pin_file, sizeof(pin_file), "%s/pin", dir);
	t_sh("printf '%%s\\n' " T_PIN " > %s", pin_file);
	snprintf(login_log, sizeof(login_log), "%s/logins", dir);
	setenv("CK_SHIM_LOG", login_log, 1);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	t_rm_rf(dir);
	return 0;
}

/* The token through the shim module, not logged in. */
static struct ck_token *
t_open_shim(void)
{
	const char *shim = getenv("CK_TEST_P11_SHIM");
	char text[1024];
	struct ck_pkcs11_uri u;
	struct ck_token *t = NULL;
	struct ck_err err;

	assert_non_null(shim);
	snprintf(text, sizeof(text), "pkcs11:token=" T_LABEL "?module-path=%s", shim);
	assert_int_equal(ck_pkcs11_uri_parse(text, &u, &err), CK_OK);
	if (ck_token_open_uri(&u, NULL, &t, &err) != CK_OK)
		fail_msg("%s", err.msg);
	return t;
}

/* C_Login calls the shim saw since the log was last emptied. */
static int
t_logins(void)
{
	FILE *fp = fopen(login_log, "r");
	int n = 0, c;

	while (fp != NULL && (c = fgetc(fp)) != EOF)
		n += c == '\n';
	if (fp != NULL)
		fclose(fp);
	unlink(login_log);
	return n;
}

static void
test_locked_pin_not_tried(void **state)
{
	struct ck_token *t;
	struct ck_err err;

	(void)state;
	setenv("CK_SHIM_TOKEN_FLAGS", T_CKF_USER_PIN_LOCKED, 1);
	t = t_open_shim();
	t_logins();
	assert_int_equal(ck_token_login(t, pin_file, &err), CK_ERR_STATE);
	assert_non_null(strstr(err.msg, "user PIN of token '" T_LABEL "' is locked"));
	assert_non_null(strstr(err.msg, "security officer PIN"));
	assert_null(strstr(err.msg, "wrong PIN"));
	assert_int_equal(t_logins(), 0);
	ck_token_close(t);
	unsetenv("CK_SHIM_TOKEN_FLAGS");
}

static void
test_expired_pin_tried_once(void **state)
{
	struct ck_token *t;
	struct ck_err err;

	(void)state;
	setenv("CK_SHIM_LOGIN_RV", T_CKR_PIN_EXPIRED, 1);
	t = t_open_shim();
	t_logins();
	assert_int_equal(ck_token_login(t, pin_file, &err), CK_ERR_STATE);
	assert_non_null(strstr(err.msg, "user PIN of token '" T_LABEL "' has expired"));
	assert_non_null(strstr(err.msg, "--change-pin"));
	assert_int_equal(t_logins(), 1);
	ck_token_close(t);
	unsetenv("CK_SHIM_LOGIN_RV");

	/* the same token with its real answers: the PIN works */
	t = t_open_shim();
	if (ck_token_login(t, pin_file, &err) != CK_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(t_logins(), 1);
	ck_token_close(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_locked_pin_not_tried),
		cmocka_unit_test(test_expired_pin_tried_once),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
