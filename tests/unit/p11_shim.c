/*
 * p11_shim.c - a PKCS#11 module for tests only: SoftHSM2 (or the module in
 * CK_SHIM_TARGET) with two things a real card does and SoftHSM cannot be
 * made to do: report token flags (CK_SHIM_TOKEN_FLAGS, OR-ed into
 * C_GetTokenInfo's, e.g. CKF_USER_PIN_LOCKED) and answer C_Login with a
 * chosen return value (CK_SHIM_LOGIN_RV, e.g. CKR_PIN_EXPIRED).  Each
 * C_Login is logged as one line to CK_SHIM_LOG when set.  Everything else
 * is SoftHSM's own function.
 *
 * Must never: be installed or loaded outside the tests.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <p11-kit/pkcs11.h>

#define SHIM_TARGET_DEFAULT "/usr/lib/softhsm/libsofthsm2.so"

static CK_FUNCTION_LIST_PTR shim_real;
static CK_FUNCTION_LIST shim_list;

static CK_RV
shim_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	const char *flags = getenv("CK_SHIM_TOKEN_FLAGS");
	CK_RV rv = shim_real->C_GetTokenInfo(slot, info);

	if (rv == CKR_OK && flags != NULL)
		info->flags |= (CK_FLAGS)strtoul(flags, NULL, 0);
	return rv;
}

static CK_RV
shim_login(CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	const char *rv = getenv("CK_SHIM_LOGIN_RV"), *log = getenv("CK_SHIM_LOG");
	FILE *fp;

	if (log != NULL && (fp = fopen(log, "a")) != NULL) {
		fputs("C_Login\n", fp);
		fclose(fp);
	}
	if (rv != NULL)
		return (CK_RV)strtoul(rv, NULL, 0);
	return shim_real->C_Login(session, user, pin, len);
}

/* The one exported symbol (the project builds with -fvisibility=hidden). */
__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	const char *target = getenv("CK_SHIM_TARGET");
	CK_C_GetFunctionList get;
	void *h;

	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if (shim_real == NULL) {
		h = dlopen(target != NULL ? target : SHIM_TARGET_DEFAULT, RTLD_NOW | RTLD_LOCAL);
		if (h == NULL || (get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList")) == NULL ||
		    get(&shim_real) != CKR_OK)
			return CKR_GENERAL_ERROR;
		shim_list = *shim_real;
		shim_list.C_GetTokenInfo = shim_get_token_info;
		shim_list.C_Login = shim_login;
	}
	*out = &shim_list;
	return CKR_OK;
}
