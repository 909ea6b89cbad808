/*
 * session.c - a token named by an RFC 7512 URI (module from the URI's
 * module-path, else the caller's, else p11-kit's proxy), and the user
 * login: the PIN read from a file, a descriptor or the URI's pin-source,
 * handed to C_Login once, and wiped.
 *
 * Must never: take a PIN from argv or the environment, log one, keep one
 * past C_Login, or try a PIN twice (a card locks after a few wrong tries:
 * a wrong PIN is reported, never retried).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "token/p11.h"

#ifndef CK_P11_PROXY_MODULE
#define CK_P11_PROXY_MODULE "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"
#endif

const char *
ck_token_default_module(void)
{
	return CK_P11_PROXY_MODULE;
}

enum ck_code
ck_token_open_uri(const struct ck_pkcs11_uri *u, const char *module, struct ck_token **out,
		  struct ck_err *err)
{
	const char *path = u->module_path[0] ? u->module_path
			   : module != NULL && module[0] ? module : ck_token_default_module();
	struct ck_token *t = NULL;
	enum ck_code rc;

	if (u->token[0] == '\0' && u->serial[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the pkcs11 URI names no token: add "
			       "token=LABEL or serial=SERIAL (a slot number is never used: it "
			       "changes when a token is initialised)");
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return CK_OOM(err);
	if ((rc = tok_open(t, path, u->token, u->serial, 1, err)) != CK_OK)
		goto out;
	*out = t;
	t = NULL;
out:
	ck_token_close(t);
	return rc;
}

const char *
ck_token_label(const struct ck_token *t)
{
	return t->label;
}

const char *
ck_token_module(const struct ck_token *t)
{
	return t->module;
}

unsigned
ck_token_generation(const struct ck_token *t)
{
	return t->generation;
}

enum ck_code
ck_token_pin_read(const char *source, char *pin, size_t cap, size_t *len, struct ck_err *err)
{
	char *s = NULL;
	size_t n;
	enum ck_code rc;

	if (source == NULL || cap < 2)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no PIN source");
	/* "file:/p" is how a URI's pin-source names a file (RFC 7512 section 2.4) */
	if (strncmp(source, "file:", 5) == 0)
		source += 5;
	if ((rc = ck_secret_read(source, cap - 1, &s, err)) != CK_OK)
		return rc;
	n = strlen(s);
	if (n == 0 || strchr(s, '\n') != NULL) {
		ck_secure_strfree(s);
		return CK_FAIL(err, CK_ERR_PARSE, "the PIN from %.60s is empty or holds a line "
			       "break: a PIN file holds the PIN alone, on one line", source);
	}
	memcpy(pin, s, n + 1);
	*len = n;
	ck_secure_strfree(s);
	return CK_OK;
}

/* The token's PIN flags now (0 when it cannot say). */
static CK_FLAGS
tok_pin_flags(struct ck_token *t)
{
	CK_TOKEN_INFO ti;

	if (t->f->C_GetTokenInfo(t->slot, &ti) != CKR_OK)
		return 0;
	return ti.flags;
}

/* The error for a C_Login that failed with rv. */
static enum ck_code
tok_login_error(struct ck_token *t, CK_RV rv, struct ck_err *err)
{
	CK_FLAGS fl;

	switch (rv) {
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
		fl = tok_pin_flags(t);
		return CK_FAIL(err, CK_ERR_BAD_PASSWORD, "wrong PIN for token '%s': it was "
			       "tried once and will not be tried again (each wrong try brings "
			       "the token closer to locking%s); check the PIN file and run the "
			       "command again", t->label,
			       (fl & CKF_USER_PIN_FINAL_TRY) ? "; the token says the NEXT wrong "
			       "try locks it" : (fl & CKF_USER_PIN_COUNT_LOW) ? "; the token says "
			       "few tries are left" : "");
	case CKR_PIN_LOCKED:
		return CK_FAIL(err, CK_ERR_STATE, "the user PIN of token '%s' is locked (too "
			       "many wrong tries): nothing was tried; unlock it with the security "
			       "officer PIN (pkcs11-tool --init-pin --login --login-type so), then "
			       "run the command again", t->label);
	case CKR_PIN_EXPIRED:
		return CK_FAIL(err, CK_ERR_STATE, "the user PIN of token '%s' has expired: set a "
			       "new one (pkcs11-tool --change-pin), then run the command again",
			       t->label);
	default:
		return CK_FAIL(err, CK_ERR_IO, "token '%s' refused the login (C_Login: 0x%lx)",
			       t->label, (unsigned long)rv);
	}
}

enum ck_code
ck_token_login(struct ck_token *t, const char *pin_source, struct ck_err *err)
{
	char pin[CK_TOKEN_PIN_MAX + 1];
	size_t len = 0;
	enum ck_code rc;
	CK_RV rv;

	if ((rc = tok_ready(t, err)) != CK_OK)
		return rc;
	if (t->logged_in)
		return CK_OK;
	if (pin_source == NULL || pin_source[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "token '%s' needs its user PIN: give "
			       "--pin-file FILE (or fd:N), or pin-source=file:FILE in the token "
			       "URI", t->label);
	if (tok_pin_flags(t) & CKF_USER_PIN_LOCKED)
		return tok_login_error(t, CKR_PIN_LOCKED, err);
	if ((rc = ck_token_pin_read(pin_source, pin, sizeof(pin), &len, err)) != CK_OK)
		return rc;
	rv = t->f->C_Login(t->session, CKU_USER, (CK_UTF8CHAR_PTR)pin, len);
	OPENSSL_cleanse(pin, sizeof(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return tok_login_error(t, rv, err);
	t->logged_in = 1;
	return CK_OK;
}
