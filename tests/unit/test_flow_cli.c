/*
 * test_flow_cli.c - the library calls that hold what the CLI used to
 * decide, so an embedding program gets the same behaviour from one call:
 * the pending request's CSR file (written only after the request is
 * committed; a failed write keeps the request and says so), the doctor's
 * order (repair, then prune, then the checks, so the findings are what
 * remains), the token configuration kept in the store (add, refuse a
 * duplicate, remove), and the EAB HMAC key file (base64url, padding
 * allowed, an empty file refused).  A real store in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <certkeep/revoke.h>

#include "flow/account.h"
#include "flow/doctor.h"
#include "flow/ops.h"
#include "flow/tokens.h"
#include "test_store_util.h"

/* The CSR file appears only with a committed request, and is its CSR. */
static void
test_request_csr_file(void **state)
{
	static const char *const names[] = { "offline.test" };
	struct t_env *e = *state;
	struct ck_request_list l = { NULL, 0 };
	struct ck_err err;
	char path[400], *pem = NULL, *file = NULL;
	int64_t rid = 0;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/req.csr", e->dir);
	ck_err_clear(&err);
	if (ck_request_create_file(e->st, names, 1, NULL, CK_KEY_EC256, path, &rid, &err) != CK_OK)
		fail_msg("request: %s", err.msg);
	assert_int_equal(ck_store_request_list(e->st, 0, &l, NULL), CK_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].id, rid);
	assert_int_equal(ck_request_csr_pem(&l.items[0], &pem, NULL), CK_OK);
	assert_int_equal(ck_file_read_secret(path, CK_PEM_MAX, (unsigned char **)&file, &len,
					     NULL), CK_OK);
	assert_int_equal(len, strlen(pem));
	assert_memory_equal(file, pem, len);
	ck_secure_free(file, len + 1);
	free(pem);
	ck_request_list_cleanup(&l);

	/* A CSR path that cannot be written: the request and its key stay, and
	 * the message says where the CSR can still be found. */
	snprintf(path, sizeof(path), "%s/no-such-dir/req.csr", e->dir);
	rid = 0;
	assert_int_not_equal(ck_request_create_file(e->st, names, 1, NULL, CK_KEY_EC256, path,
						    &rid, &err), CK_OK);
	assert_int_equal(rid, 0);
	assert_non_null(strstr(err.msg, "and its key were recorded"));
	assert_non_null(strstr(err.msg, "certkeep requests --json"));
	assert_int_equal(ck_store_request_list(e->st, 0, &l, NULL), CK_OK);
	assert_int_equal(l.n, 2);
	ck_request_list_cleanup(&l);
	assert_int_equal(ck_request_create_file(e->st, names, 1, NULL, CK_KEY_EC256, "", &rid,
						NULL), CK_ERR_INVALID_ARG);
}

static int
findings_have(const struct ck_findings *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->items[i].name, name) == 0)
			return 1;
	return 0;
}

/* Prune runs before the checks: the orphan it removed is not reported. */
static void
test_doctor_order(void **state)
{
	struct t_env *e = *state;
	struct ck_doctor_run_opts o;
	struct ck_doctor_report rep;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_err err;

	(void)t_put_key(e->st, k);
	memset(&o, 0, sizeof(o));
	memset(&rep, 0, sizeof(rep));
	ck_err_clear(&err);
	assert_int_equal(ck_doctor_run(e->st, &o, &rep, &err), CK_OK);
	assert_int_equal(rep.actions.n, 0);
	assert_true(findings_have(&rep.found, "orphan-key"));
	ck_doctor_report_cleanup(&rep);

	o.repair = 1;
	o.prune = 1;
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(ck_doctor_run(e->st, &o, &rep, &err), CK_OK);
	assert_true(findings_have(&rep.actions, "orphan-key"));
	assert_true(rep.actions.items[0].fixed);
	assert_false(findings_have(&rep.found, "orphan-key"));
	assert_int_equal(rep.found.n, 0);
	ck_doctor_report_cleanup(&rep);
	EVP_PKEY_free(k);
}

/* The token configuration: added once, a duplicate refused, removed once. */
static void
test_tokens_conf(void **state)
{
	struct t_env *e = *state;
	struct ck_token_conf_list l;
	struct ck_err err;

	ck_err_clear(&err);
	assert_int_equal(ck_tokens_load(e->st, &l, NULL), CK_OK);
	assert_int_equal(l.n, 0);
	assert_int_equal(ck_tokens_add(e->st, "hsm1", "/usr/lib/softhsm/libsofthsm2.so", "t1",
				       &err), CK_OK);
	assert_int_not_equal(ck_tokens_add(e->st, "hsm1", "/usr/lib/x.so", "t2", &err), CK_OK);
	assert_int_equal(ck_tokens_load(e->st, &l, NULL), CK_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].label, "t1");
	assert_int_equal(ck_tokens_keys(&l, "nope", NULL, NULL, &err), CK_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "no token named 'nope'"));
	assert_int_equal(ck_tokens_remove(e->st, "hsm1", &err), CK_OK);
	assert_int_equal(ck_tokens_remove(e->st, "hsm1", &err), CK_ERR_NOT_FOUND);
	assert_int_equal(ck_tokens_load(e->st, &l, NULL), CK_OK);
	assert_int_equal(l.n, 0);
}

static void
eab_file(const char *dir, const char *text, char *path, size_t n)
{
	snprintf(path, n, "%s/eab", dir);
	assert_int_equal(ck_file_write_atomic(path, text, strlen(text), 0600, NULL), CK_OK);
}

/* The EAB HMAC key file: base64url with or without padding; nothing else. */
static void
test_eab_key_file(void **state)
{
	struct t_env *e = *state;
	unsigned char *key = NULL;
	char path[400];
	size_t len = 0;
	struct ck_err err;

	ck_err_clear(&err);
	eab_file(e->dir, "AQID\n", path, sizeof(path));
	assert_int_equal(ck_account_eab_key_read(path, &key, &len, &err), CK_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(key, "\x01\x02\x03", 3);
	ck_secure_free(key, len + 1);
	eab_file(e->dir, "AQ==", path, sizeof(path));
	assert_int_equal(ck_account_eab_key_read(path, &key, &len, &err), CK_OK);
	assert_int_equal(len, 1);
	ck_secure_free(key, len + 1);
	eab_file(e->dir, "==", path, sizeof(path));
	assert_int_equal(ck_account_eab_key_read(path, &key, &len, &err), CK_ERR_PARSE);
	assert_non_null(strstr(err.msg, "is empty"));
	eab_file(e->dir, "not base64!", path, sizeof(path));
	assert_int_not_equal(ck_account_eab_key_read(path, &key, &len, &err), CK_OK);
	assert_non_null(strstr(err.msg, "is not base64url text"));
}

/* The five revocation reasons certkeep takes map to their RFC 5280 codes and
 * back; anything else (other case, certificateHold, removeFromCRL, NULL) is
 * refused with a message naming the five. */
static void
test_revoke_reasons(void **state)
{
	static const struct { const char *name; int code; } ok[] = {
		{ "unspecified", 0 }, { "keyCompromise", 1 }, { "affiliationChanged", 3 },
		{ "superseded", 4 }, { "cessationOfOperation", 5 },
	};
	static const char *const bad[] = { "keycompromise", "certificateHold", "removeFromCRL",
					   "cACompromise", "", "1" };
	struct ck_err err;
	size_t i;
	int code;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		code = -1;
		assert_int_equal(ck_revoke_reason_parse(ok[i].name, &code, NULL), CK_OK);
		assert_int_equal(code, ok[i].code);
		assert_string_equal(ck_revoke_reason_name(ok[i].code), ok[i].name);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		code = -1;
		ck_err_clear(&err);
		assert_int_equal(ck_revoke_reason_parse(bad[i], &code, &err), CK_ERR_INVALID_ARG);
		assert_int_equal(code, -1);
		assert_non_null(strstr(err.msg, "cessationOfOperation"));
	}
	assert_int_equal(ck_revoke_reason_parse(NULL, &code, NULL), CK_ERR_INVALID_ARG);
	assert_null(ck_revoke_reason_name(2));
	assert_null(ck_revoke_reason_name(6));
	assert_null(ck_revoke_reason_name(-1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_csr_file, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_doctor_order, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_tokens_conf, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_eab_key_file, t_setup, t_teardown),
		cmocka_unit_test(test_revoke_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
