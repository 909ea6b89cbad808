/*
 * test_token_sign.c - logging in to a real SoftHSM2 token (its own
 * SOFTHSM2_CONF and token directory) and using keys that never leave it:
 * the PIN from a file, a descriptor or the URI's pin-source; a wrong PIN
 * tried exactly once (counted by OpenSC's pkcs11-spy between certkeep and
 * SoftHSM) and reported as such; key pairs made with the explicit
 * template (checked by pkcs11-tool: never extractable, sign only) and a
 * CKA_ID equal to OpenSSL's own SHA-1 key identifier; the signer
 * conformance test: the same JWS and CSR checks over software keys and
 * token keys (EC P-256/P-384, RSA 2048/3072, RSA through CKM_RSA_PKCS and
 * a host-built DigestInfo), every signature verified by OpenSSL; a child
 * process after fork logging in and signing on its own; a key deleted
 * behind certkeep's back reported as missing.
 */
#include "test_store_util.h"

#include <fcntl.h>
#include <sys/wait.h>

#include <openssl/pem.h>

#include "token/token.h"
#include "token/token_int.h"
#include "test_token_util.h"

#define T_MODULE T_SOFTHSM_MODULE
#define T_SPY "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so"
#define T_LABEL "ck-sign-test"
#define T_LABEL_URI T_LABEL
#define T_PIN "123456"

static char dir[128];
static char pin_file[192], bad_pin_file[192];

/* The output of a shell command (at most 16 KiB), NUL-terminated; free(). */
static char *
t_output(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char *buf = calloc(1, 16384);
	size_t n;

	assert_non_null(p);
	assert_non_null(buf);
	n = fread(buf, 1, 16383, p);
	buf[n] = '\0';
	pclose(p);
	return buf;
}

static void
t_write(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int
group_setup(void **state)
{
	(void)state;
	t_softhsm_init(dir, sizeof(dir), "ck-token-sign", T_LABEL, T_PIN);
	snprintf(pin_file, sizeof(pin_file), "%s/pin", dir); /* written by t_softhsm_init */
	snprintf(bad_pin_file, sizeof(bad_pin_file), "%s/bad-pin", dir);
	t_write(bad_pin_file, "000000\n");
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	t_rm_rf(dir);
	return 0;
}

/* The test token opened through module (by URI), not logged in. */
static struct ck_token *
t_open(const char *module)
{
	return t_token_open(T_LABEL_URI, module);
}

static struct ck_token *
t_login(void)
{
	struct ck_token *t = t_open(T_MODULE);
	struct ck_err err;

	if (ck_token_login(t, pin_file, &err) != CK_OK)
		fail_msg("%s", err.msg);
	return t;
}

static void
test_pin_sources(void **state)
{
	char text[512], pin[CK_TOKEN_PIN_MAX + 1], path[256], big[400];
	struct ck_pkcs11_uri u;
	struct ck_token *t;
	struct ck_err err;
	size_t len = 0;
	int fd;

	(void)state;
	/* a file, with and without "file:" */
	assert_int_equal(ck_token_pin_read(pin_file, pin, sizeof(pin), &len, &err), CK_OK);
	assert_string_equal(pin, T_PIN);
	assert_int_equal(len, 6);
	snprintf(path, sizeof(path), "file:%s", pin_file);
	assert_int_equal(ck_token_pin_read(path, pin, sizeof(pin), &len, &err), CK_OK);
	assert_string_equal(pin, T_PIN);
	/* a descriptor: fd:N */
	fd = open(pin_file, O_RDONLY);
	assert_true(fd >= 0);
	snprintf(path, sizeof(path), "fd:%d", fd);
	t = t_open(T_MODULE);
	assert_int_equal(ck_token_login(t, path, &err), CK_OK);
	ck_token_close(t);
	close(fd);
	/* the URI's pin-source */
	snprintf(text, sizeof(text), "pkcs11:token=" T_LABEL_URI "?module-path=" T_MODULE
		 "&pin-source=file:%s", pin_file);
	assert_int_equal(ck_pkcs11_uri_parse(text, &u, &err), CK_OK);
	assert_int_equal(ck_token_open_uri(&u, NULL, &t, &err), CK_OK);
	assert_int_equal(ck_token_login(t, u.pin_source, &err), CK_OK);
	ck_token_close(t);
	/* what a PIN source may not be */
	snprintf(path, sizeof(path), "%s/empty", dir);
	t_write(path, "\n");
	assert_int_equal(ck_token_pin_read(path, pin, sizeof(pin), &len, &err), CK_ERR_PARSE);
	memset(big, '7', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	snprintf(path, sizeof(path), "%s/long", dir);
	t_write(path, big);
	assert_int_equal(ck_token_pin_read(path, pin, sizeof(pin), &len, &err),
			 CK_ERR_TOO_LARGE);
	assert_int_equal(ck_token_pin_read("fd:x", pin, sizeof(pin), &len, &err),
			 CK_ERR_INVALID_ARG);
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(ck_token_pin_read(path, pin, sizeof(pin), &len, &err), CK_ERR_IO);
	assert_non_null(strstr(err.msg, path));
	/* no PIN at all: the message says where one comes from */
	t = t_open(T_MODULE);
	assert_int_equal(ck_token_login(t, NULL, &err), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(err.msg, "--pin-file"));
	assert_non_null(strstr(err.msg, "pin-source"));
	ck_token_close(t);
}

/*
 * A wrong PIN reaches the token exactly once (C_Login counted by
 * pkcs11-spy).  The spy runs in a child that leaves with _exit: the spy
 * module leaks its own set-up, which is not certkeep's to free.
 */
static void
test_wrong_pin_once(void **state)
{
	char spylog[256], cmd[512], *out;
	struct ck_token *t;
	struct ck_err err;
	int status = -1;
	pid_t pid;

	(void)state;
	snprintf(spylog, sizeof(spylog), "%s/spy.log", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("PKCS11SPY", T_MODULE, 1);
		setenv("PKCS11SPY_OUTPUT", spylog, 1);
		t = t_open(T_SPY);
		_exit(ck_token_login(t, bad_pin_file, &err) == CK_ERR_BAD_PASSWORD &&
		      strstr(err.msg, "wrong PIN for token '" T_LABEL "'") != NULL &&
		      strstr(err.msg, "will not be tried again") != NULL ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	snprintf(cmd, sizeof(cmd), "grep -c ': C_Login$' %s", spylog);
	out = t_output(cmd);
	assert_string_equal(out, "1\n");
	free(out);
	/* SoftHSM keeps no retry counter; it raises "PIN count low" after a miss. */
	out = t_output("pkcs11-tool --module " T_MODULE " -T 2>/dev/null");
	assert_non_null(strstr(out, "user PIN count low"));
	free(out);
	/* the right PIN afterwards works, and clears the flag */
	t = t_login();
	ck_token_close(t);
	out = t_output("pkcs11-tool --module " T_MODULE " -T 2>/dev/null");
	assert_null(strstr(out, "user PIN count low"));
	free(out);
}

static void
test_open_by_serial(void **state)
{
	char text[512], serial[32];
	struct ck_pkcs11_uri u;
	struct ck_token *t = t_open(T_MODULE);
	struct ck_err err;

	(void)state;
	snprintf(serial, sizeof(serial), "%s", ck_token_serial(t));
	ck_token_close(t);
	snprintf(text, sizeof(text), "pkcs11:serial=%s?module-path=" T_MODULE, serial);
	assert_int_equal(ck_pkcs11_uri_parse(text, &u, &err), CK_OK);
	assert_int_equal(ck_token_open_uri(&u, NULL, &t, &err), CK_OK);
	assert_string_equal(ck_token_label(t), T_LABEL);
	ck_token_close(t);
	/* the caller's module when the URI names none */
	assert_int_equal(ck_pkcs11_uri_parse("pkcs11:token=" T_LABEL_URI, &u, &err), CK_OK);
	assert_int_equal(ck_token_open_uri(&u, T_MODULE, &t, &err), CK_OK);
	ck_token_close(t);
	/* a URI without a token name is refused: never the first slot */
	assert_int_equal(ck_pkcs11_uri_parse("pkcs11:id=%01", &u, &err), CK_OK);
	assert_int_equal(ck_token_open_uri(&u, T_MODULE, &t, &err), CK_ERR_INVALID_ARG);
	snprintf(text, sizeof(text), "pkcs11:token=" T_LABEL_URI ";serial=0?module-path="
		 T_MODULE);
	assert_int_equal(ck_pkcs11_uri_parse(text, &u, &err), CK_OK);
	assert_int_equal(ck_token_open_uri(&u, NULL, &t, &err), CK_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "with serial '0'"));
}

/* OpenSSL's own SHA-1 key identifier of pub (X509_pubkey_digest). */
static void
t_ski(EVP_PKEY *pub, unsigned char out[20])
{
	X509 *x = X509_new();
	unsigned int n = 0;

	assert_non_null(x);
	assert_int_equal(X509_set_pubkey(x, pub), 1);
	assert_int_equal(X509_pubkey_digest(x, EVP_sha1(), out, &n), 1);
	assert_int_equal(n, 20);
	X509_free(x);
}

/* A key of type made on the token, as a signer. */
static struct ck_signer *
t_token_key(struct ck_token *t, enum ck_key_type type, const char *label,
	    struct ck_token_key *k)
{
	struct ck_signer *s = NULL;
	unsigned char ski[20];
	struct ck_err err;

	if (ck_token_key_generate(t, type, label, k, &err) != CK_OK)
		fail_msg("%s", err.msg);
	if (ck_token_signer_new(t, k->id, k->id_len, &s, &err) != CK_OK)
		fail_msg("%s", err.msg);
	t_ski(ck_signer_pubkey(s), ski);
	assert_int_equal(k->id_len, 20);
	assert_memory_equal(k->id, ski, 20);
	return s;
}

static void
test_keygen_template(void **state)
{
	static const enum ck_key_type types[] = { CK_KEY_EC256, CK_KEY_EC384, CK_KEY_RSA2048,
						  CK_KEY_RSA3072 };
	static const char *const desc[] = { "EC P-256", "EC P-384", "RSA 2048", "RSA 3072" };
	struct ck_token *t = t_login();
	struct ck_token_key k;
	struct ck_signer *s;
	char cmd[512], hex[41], *out, *obj;
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(types); i++) {
		s = t_token_key(t, types[i], "gen-lineage", &k);
		assert_string_equal(k.algorithm, desc[i]);
		assert_string_equal(k.label, "gen-lineage");
		assert_non_null(strstr(k.uri, "type=private"));
		ck_hex_encode(k.id, k.id_len, hex, sizeof(hex));
		snprintf(cmd, sizeof(cmd), "pkcs11-tool --module " T_MODULE " --login --pin "
			 T_PIN " -O --type privkey --id %s 2>/dev/null", hex);
		out = t_output(cmd);
		obj = strstr(out, "Private Key Object");
		assert_non_null(obj);
		assert_non_null(strstr(obj, "never extractable"));
		assert_non_null(strstr(obj, "Usage:      sign\n"));
		assert_non_null(strstr(obj, "label:      gen-lineage"));
		free(out);
		ck_signer_free(s);
		ck_token_key_cleanup(&k);
	}
	ck_token_close(t);
}

/* The same JWS checks over any signer: alg, signature verified by OpenSSL. */
static void
t_check_jws(struct ck_signer *s, const char *alg)
{
	char *jws = NULL, *payload = NULL;
	json_t *hdr = NULL;
	struct ck_err err;

	if (ck_jws_sign_with(s, NULL, "nonce-1", "https://127.0.0.1/new-acct", "{\"a\":1}",
			     &jws, &err) != CK_OK)
		fail_msg("%s", err.msg);
	if (ck_jws_verify(jws, ck_signer_pubkey(s), &payload, &hdr, &err) != CK_OK)
		fail_msg("%s: %s", alg, err.msg);
	assert_string_equal(json_string_value(json_object_get(hdr, "alg")), alg);
	assert_string_equal(payload, "{\"a\":1}");
	/* the header's own jwk verifies it too (what an ACME server does) */
	free(payload);
	assert_int_equal(ck_jws_verify(jws, NULL, NULL, NULL, &err), CK_OK);
	json_decref(hdr);
	free(jws);
}

/* The same CSR checks over any signer: many signatures, each verified by
 * OpenSSL (a trimmed BIT STRING shows up about once in 256 ECDSA ones),
 * one also by the openssl command. */
static void
t_check_csr(struct ck_signer *s, int rounds)
{
	static const char *const names[] = { "www.example.org", "example.org", "192.0.2.7" };
	unsigned char *der = NULL;
	const unsigned char *p;
	char path[256], cmd[512];
	X509_REQ *req;
	struct ck_err err;
	size_t len = 0;
	FILE *fp;
	int i;

	for (i = 0; i < rounds; i++) {
		if (ck_csr_create_with(s, names, 3, &der, &len, &err) != CK_OK)
			fail_msg("%s", err.msg);
		p = der;
		req = d2i_X509_REQ(NULL, &p, (long)len);
		assert_non_null(req);
		assert_true(p == der + len);
		assert_int_equal(X509_REQ_verify(req, ck_signer_pubkey(s)), 1);
		if (i == 0) {
			snprintf(path, sizeof(path), "%s/req.der", dir);
			fp = fopen(path, "wb");
			assert_non_null(fp);
			assert_int_equal(fwrite(der, 1, len, fp), len);
			fclose(fp);
			snprintf(cmd, sizeof(cmd), "openssl req -inform DER -in %s -noout -verify "
				 ">/dev/null 2>&1", path);
			t_sh("%s", cmd);
		}
		X509_REQ_free(req);
		free(der);
		der = NULL;
	}
}

static void
test_signer_conformance(void **state)
{
	static const enum ck_key_type soft[] = { CK_KEY_EC256, CK_KEY_EC384, CK_KEY_RSA2048,
						 CK_KEY_ED25519 };
	static const char *const soft_alg[] = { "ES256", "ES384", "RS256", "EdDSA" };
	static const enum ck_key_type tok[] = { CK_KEY_EC256, CK_KEY_EC384, CK_KEY_RSA2048,
						CK_KEY_RSA3072 };
	static const char *const tok_alg[] = { "ES256", "ES384", "RS256", "RS256" };
	struct ck_token *t = t_login();
	struct ck_token_key k;
	struct ck_signer *s = NULL;
	struct ck_err err;
	EVP_PKEY *key;
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(soft); i++) {
		key = t_key(soft[i]);
		assert_int_equal(ck_signer_from_key(key, &s, &err), CK_OK);
		EVP_PKEY_free(key); /* the signer holds its own reference */
		t_check_jws(s, soft_alg[i]);
		t_check_csr(s, 64);
		ck_signer_free(s);
	}
	for (i = 0; i < CK_ARRAY_LEN(tok); i++) {
		s = t_token_key(t, tok[i], "conformance", &k);
		t_check_jws(s, tok_alg[i]);
		t_check_csr(s, tok[i] == CK_KEY_RSA3072 ? 4 : 64);
		if (tok[i] == CK_KEY_RSA2048) {
			/* a token without CKM_SHA256_RSA_PKCS: CKM_RSA_PKCS + DigestInfo */
			tok_signer_no_combined(s);
			t_check_jws(s, "RS256");
			t_check_csr(s, 4);
		}
		ck_signer_free(s);
		ck_token_key_cleanup(&k);
	}
	ck_token_close(t);
}

/* A child of fork opens no session of its own before it uses the token;
 * certkeep initialises the module again there, and the child logs in and
 * signs; the parent's session keeps working after the child is gone. */
static void
test_fork(void **state)
{
	struct ck_token *t = t_login();
	struct ck_token_key k;
	struct ck_signer *s = t_token_key(t, CK_KEY_EC256, "forked", &k);
	unsigned gen = ck_token_generation(t);
	struct ck_err err;
	int status = -1;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsigned char *der = NULL;
		static const char *const n[] = { "child.example.org" };
		size_t len;
		int ok = ck_token_login(t, pin_file, &err) == CK_OK &&
			 ck_token_generation(t) == gen + 1 &&
			 ck_csr_create_with(s, n, 1, &der, &len, &err) == CK_OK;
		free(der);
		ck_signer_free(s);
		ck_token_close(t);
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(ck_token_generation(t), gen);
	t_check_jws(s, "ES256");
	ck_signer_free(s);
	ck_token_key_cleanup(&k);
	ck_token_close(t);
}

/* Two handles on one module: closing the first (which initialised the
 * module) leaves the second working - the module is finalised with the
 * last handle, not the first. */
static void
test_two_handles(void **state)
{
	struct ck_token *a = t_login(), *b = t_login();
	struct ck_token_key k;
	struct ck_signer *s = t_token_key(b, CK_KEY_EC256, "second", &k);

	(void)state;
	ck_token_close(a);
	t_check_jws(s, "ES256");
	ck_signer_free(s);
	ck_token_key_cleanup(&k);
	ck_token_close(b);
	/* and the module comes back for the next one */
	a = t_login();
	ck_token_close(a);
}

/* A key deleted by another program: the signer says the key is missing. */
static void
test_key_deleted(void **state)
{
	struct ck_token *t = t_login();
	struct ck_token_key k;
	struct ck_signer *s = t_token_key(t, CK_KEY_EC256, "doomed", &k), *s2 = NULL;
	char hex[41];
	struct ck_err err;

	(void)state;
	ck_signer_free(s);
	ck_hex_encode(k.id, k.id_len, hex, sizeof(hex));
	t_sh("pkcs11-tool --module " T_MODULE " --login --pin " T_PIN " --delete-object "
	      "--type privkey --id %s >/dev/null 2>&1", hex);
	assert_int_equal(ck_token_signer_new(t, k.id, k.id_len, &s2, &err), CK_ERR_KEY_MISSING);
	assert_non_null(strstr(err.msg, "holds no private key with CKA_ID"));
	assert_non_null(strstr(err.msg, hex));
	ck_token_key_cleanup(&k);
	ck_token_close(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pin_sources),
		cmocka_unit_test(test_wrong_pin_once),
		cmocka_unit_test(test_open_by_serial),
		cmocka_unit_test(test_keygen_template),
		cmocka_unit_test(test_signer_conformance),
		cmocka_unit_test(test_fork),
		cmocka_unit_test(test_two_handles),
		cmocka_unit_test(test_key_deleted),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
