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
#include "test_token_util.h"

#define T_LABEL "ck-pin-states"
#define T_PIN "123456"
#define T_CKF_USER_PIN_LOCKED "0x00040000"
#define T_CKR_PIN_EXPIRED "0x000000A3"

static char dir[64], pin_file[128], login_log[128];

static int
group_setup(void **state)
{
	(void)state;
	t_softhsm_init(dir, sizeof(dir), "ck-pin-states", T_LABEL, T_PIN);
	snprintf(pin_file, sizeof(pin_file), "%s/pin", dir); /* written by t_softhsm_init */
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

	assert_non_null(shim);
	return t_token_open(T_LABEL, shim);
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
