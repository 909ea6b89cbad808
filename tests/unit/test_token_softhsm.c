/*
 * test_token_softhsm.c - the token module against a real SoftHSM2 token
 * made for the test (its own SOFTHSM2_CONF and token directory): an EC
 * P-256, an RSA 2048 and an Ed25519 key pair made by pkcs11-tool; the
 * public keys read through PKCS#11 must have the SPKI SHA-256 OpenSSL
 * computes from pkcs11-tool's own DER export; the URIs name the token,
 * the CKA_ID and the module; opening a wrong label, a missing module or a
 * library that is no PKCS#11 module fails with a message naming it; the
 * set of configured tokens finds a key by SPKI; and an import with that
 * set as its key finder links a certificate to the token key (which then
 * cannot be loaded as a private key), while a certificate whose key is
 * nowhere stays labelled "no private key".
 */
#include "test_store_util.h"

#include <openssl/pem.h>

#include "flow/ops.h"
#include "token/token.h"
#include "test_token_util.h"

#define T_MODULE T_SOFTHSM_MODULE
#define T_LABEL "ck test token"
#define T_PIN "123456"

struct t_hsm {
	char dir[128];
	char spki_ec[65];         /* from pkcs11-tool --read-object, hashed by OpenSSL */
	char spki_rsa[65];
};

static struct t_hsm hsm;

/* SHA-256 of the SPKI in DER file path, as OpenSSL computes it. */
static void
t_spki_of_file(const char *path, char out[65])
{
	FILE *fp = fopen(path, "rb");
	EVP_PKEY *k;
	struct ck_err err;

	assert_non_null(fp);
	k = d2i_PUBKEY_fp(fp, NULL);
	fclose(fp);
	assert_non_null(k);
	assert_int_equal(ck_key_spki_sha256(k, out, &err), CK_OK);
	EVP_PKEY_free(k);
}

static int
group_setup(void **state)
{
	char path[256];

	(void)state;
	t_softhsm_init(hsm.dir, sizeof(hsm.dir), "ck-token-test", T_LABEL, T_PIN);
	t_sh("pkcs11-tool --module " T_MODULE " --token-label '" T_LABEL "' --login --pin "
	      T_PIN " --keypairgen --key-type EC:prime256v1 --id 01 --label k1 >/dev/null 2>&1");
	t_sh("pkcs11-tool --module " T_MODULE " --token-label '" T_LABEL "' --login --pin "
	      T_PIN " --keypairgen --key-type RSA:2048 --id 02 --label k2 >/dev/null 2>&1");
	t_sh("pkcs11-tool --module " T_MODULE " --token-label '" T_LABEL "' --login --pin "
	      T_PIN " --keypairgen --key-type EC:edwards25519 --id a0ff --label k3 "
	      ">/dev/null 2>&1");
	t_sh("pkcs11-tool --module " T_MODULE " --token-label '" T_LABEL "' --read-object "
	      "--type pubkey --id 01 -o %s/k1.der >/dev/null 2>&1", hsm.dir);
	t_sh("pkcs11-tool --module " T_MODULE " --token-label '" T_LABEL "' --read-object "
	      "--type pubkey --id 02 -o %s/k2.der >/dev/null 2>&1", hsm.dir);
	snprintf(path, sizeof(path), "%s/k1.der", hsm.dir);
	t_spki_of_file(path, hsm.spki_ec);
	snprintf(path, sizeof(path), "%s/k2.der", hsm.dir);
	t_spki_of_file(path, hsm.spki_rsa);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	t_rm_rf(hsm.dir);
	return 0;
}

static const struct ck_token_key *
t_by_label(const struct ck_token_key_list *l, const char *label)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->items[i].label, label) == 0)
			return &l->items[i];
	fail_msg("no key labelled %s on the token", label);
	return NULL;
}

static void
test_public_keys(void **state)
{
	struct ck_token_key_list l = { NULL, 0, 0 };
	const struct ck_token_key *k;
	struct ck_token *t = NULL;
	struct ck_pkcs11_uri u;
	struct ck_err err;
	EVP_PKEY *pk = NULL;
	char again[65];

	(void)state;
	ck_err_clear(&err);
	if (ck_token_open(T_MODULE, T_LABEL, &t, &err) != CK_OK)
		fail_msg("open: %s", err.msg);
	assert_true(ck_token_login_required(t));
	assert_true(ck_token_serial(t)[0] != '\0');
	if (ck_token_public_keys(t, &l, &err) != CK_OK)
		fail_msg("keys: %s", err.msg);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.skipped, 0);

	k = t_by_label(&l, "k1");
	assert_string_equal(k->spki_sha256, hsm.spki_ec);
	assert_string_equal(k->algorithm, "EC P-256");
	assert_int_equal(k->id_len, 1);
	assert_int_equal(k->id[0], 0x01);
	assert_string_equal(k->uri, "pkcs11:token=ck%20test%20token;id=%01;type=private"
				    "?module-path=%2Fusr%2Flib%2Fsofthsm%2Flibsofthsm2.so");
	/* the SPKI DER itself hashes to the same identity */
	assert_int_equal(ck_key_from_spki_der(k->spki, k->spki_len, &pk, &err), CK_OK);
	assert_int_equal(ck_key_spki_sha256(pk, again, &err), CK_OK);
	assert_string_equal(again, hsm.spki_ec);
	EVP_PKEY_free(pk);

	k = t_by_label(&l, "k2");
	assert_string_equal(k->spki_sha256, hsm.spki_rsa);
	assert_string_equal(k->algorithm, "RSA 2048");

	k = t_by_label(&l, "k3");
	assert_string_equal(k->algorithm, "Ed25519");
	assert_int_equal(ck_pkcs11_uri_parse(k->uri, &u, &err), CK_OK);
	assert_string_equal(u.token, T_LABEL);
	assert_int_equal(u.id_len, 2);
	assert_int_equal(u.id[0], 0xa0);
	assert_int_equal(u.id[1], 0xff);
	assert_string_equal(u.module_path, T_MODULE);
	ck_token_key_list_cleanup(&l);
	ck_token_close(t);
}

static void
test_open_errors(void **state)
{
	struct ck_token *t = NULL;
	struct ck_err err;

	(void)state;
	ck_err_clear(&err);
	assert_int_equal(ck_token_open(T_MODULE, "no such token", &t, &err), CK_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "'no such token'"));
	assert_non_null(strstr(err.msg, "'" T_LABEL "'")); /* the labels present */
	assert_non_null(strstr(err.msg, T_MODULE));
	assert_null(t);

	assert_int_equal(ck_token_open("/nonexistent/libp11.so", T_LABEL, &t, &err),
			 CK_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "/nonexistent/libp11.so"));
	assert_non_null(strstr(err.msg, "check the path"));

	/* a shared library that is not a PKCS#11 module */
	assert_int_equal(ck_token_open("/usr/lib/x86_64-linux-gnu/libz.so.1", T_LABEL,
				       &t, &err), CK_ERR_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "not a PKCS#11 module"));

	assert_int_equal(ck_token_open("libsofthsm2.so", T_LABEL, &t, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_token_open(T_MODULE, "123456789012345678901234567890123", &t, &err),
			 CK_ERR_INVALID_ARG);
	/* the module is still usable after a failed open */
	assert_int_equal(ck_token_open(T_MODULE, T_LABEL, &t, &err), CK_OK);
	ck_token_close(t);
}

/* ck_token_open(path) fails with CK_ERR_PERMISSION, naming path and each of needles. */
static void
t_refused(const char *path, const char *n1, const char *n2)
{
	struct ck_token *t = NULL;
	struct ck_err err;

	ck_err_clear(&err);
	if (ck_token_open(path, T_LABEL, &t, &err) != CK_ERR_PERMISSION) {
		ck_token_close(t);
		fail_msg("%s was not refused (%s)", path, err.msg);
	}
	assert_null(t);
	if (strstr(err.msg, path) == NULL || strstr(err.msg, n1) == NULL ||
	    (n2 != NULL && strstr(err.msg, n2) == NULL))
		fail_msg("refusal of %s does not say '%s'/'%s': %s", path, n1, n2 ? n2 : "",
			 err.msg);
}

/*
 * A module is loaded only from a regular file owned by root or us, not
 * writable by group or others, in directories alike; symbolic links are
 * followed to such a file (Debian's own module path is one).
 */
static void
test_module_file_checks(void **state)
{
	struct ck_token *t = NULL;
	struct ck_err err;
	char dir[160], sub[200], lib[240], link[240], badlink[240];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/modules", hsm.dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(lib, sizeof(lib), "%s/libcopy.so", dir);
	t_sh("cp " T_MODULE " %s && chmod 0644 %s", lib, lib);

	/* the real module, reached through Debian's symbolic link, loads */
	ck_err_clear(&err);
	assert_int_equal(ck_token_open(T_MODULE, T_LABEL, &t, &err), CK_OK);
	ck_token_close(t);
	t = NULL;
	/* so does a link of our own to it */
	snprintf(link, sizeof(link), "%s/link.so", dir);
	assert_int_equal(symlink(T_MODULE, link), 0);
	assert_int_equal(ck_token_open(link, T_LABEL, &t, &err), CK_OK);
	ck_token_close(t);
	t = NULL;

	assert_int_equal(chmod(lib, 0664), 0);
	t_refused(lib, "group-writable", NULL);
	assert_int_equal(chmod(lib, 0646), 0);
	t_refused(lib, "world-writable", NULL);
	/* a link to a bad file is refused for the file, naming both */
	snprintf(badlink, sizeof(badlink), "%s/badlink.so", dir);
	assert_int_equal(symlink(lib, badlink), 0);
	t_refused(badlink, "world-writable", lib);
	assert_int_equal(chmod(lib, 0644), 0);
	assert_int_equal(chown(lib, 65534, 65534), 0);
	t_refused(lib, "owned by uid 65534", NULL);
	assert_int_equal(chown(lib, 0, 0), 0);
	/* a writable directory on the path */
	assert_int_equal(chmod(dir, 0775), 0);
	t_refused(lib, "directory", "group-writable");
	assert_int_equal(chmod(dir, 0755), 0);
	/* not a regular file */
	snprintf(sub, sizeof(sub), "%s/fifo.so", dir);
	assert_int_equal(mkfifo(sub, 0644), 0);
	t_refused(sub, "not a regular file", NULL);
	t_refused(dir, "not a regular file", NULL);
}

static void
test_set_find(void **state)
{
	struct ck_token_conf_list l;
	struct ck_token_set *s = NULL;
	const struct ck_token_key *k = NULL;
	const struct ck_token_conf *c = NULL;
	struct ck_err err;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(ck_token_conf_add(&l, "hsm", T_MODULE, T_LABEL, &err), CK_OK);
	assert_int_equal(ck_token_set_new(&l, &s, &err), CK_OK);
	assert_int_equal(ck_token_set_find(s, hsm.spki_rsa, &k, &c, &err), CK_OK);
	assert_string_equal(c->name, "hsm");
	assert_string_equal(k->label, "k2");
	assert_int_equal(ck_token_set_find(s, "00", &k, &c, &err), CK_ERR_NOT_FOUND);
	ck_token_set_free(s);

	/* a broken token in front fails the search, naming it */
	memset(&l, 0, sizeof(l));
	assert_int_equal(ck_token_conf_add(&l, "gone", T_MODULE, "gone token", &err), CK_OK);
	assert_int_equal(ck_token_conf_add(&l, "hsm", T_MODULE, T_LABEL, &err), CK_OK);
	assert_int_equal(ck_token_set_new(&l, &s, &err), CK_OK);
	assert_int_equal(ck_token_set_find(s, hsm.spki_rsa, &k, &c, &err), CK_ERR_IO);
	assert_non_null(strstr(err.msg, "configured token 'gone'"));
	assert_non_null(strstr(err.msg, "certkeep token rm gone"));
	ck_token_set_free(s);
}

/* The import's key finder over a token set (what the CLI builds). */
static enum ck_code
t_find(void *arg, const char *spki, struct ck_key_hit *hit, struct ck_err *err)
{
	const struct ck_token_key *k = NULL;
	const struct ck_token_conf *c = NULL;
	enum ck_code rc;

	if ((rc = ck_token_set_find(arg, spki, &k, &c, err)) != CK_OK)
		return rc;
	hit->pkcs11_uri = strdup(k->uri);
	hit->where = strdup(c->name);
	hit->spki_der = malloc(k->spki_len);
	assert_non_null(hit->pkcs11_uri);
	assert_non_null(hit->where);
	assert_non_null(hit->spki_der);
	memcpy(hit->spki_der, k->spki, k->spki_len);
	hit->spki_len = k->spki_len;
	return CK_OK;
}

static void
t_import(struct t_env *e, const struct ck_der *d, const struct ck_key_finder *f,
	 struct ck_import_result *r)
{
	struct ck_import_source src = { "cert.der", d->data, d->len };
	struct ck_err err;

	memset(r, 0, sizeof(*r));
	ck_err_clear(&err);
	if (ck_store_import_with(e->st, &src, 1, NULL, NULL, f, r, &err) != CK_OK)
		fail_msg("import: %s", err.msg);
}

static void
test_import_links_token_key(void **state)
{
	struct t_env *e = *state;
	struct ck_token_conf_list l;
	struct ck_token_set *s = NULL;
	struct ck_key_finder f;
	struct ck_import_result r;
	struct ck_der d1, d2;
	struct t_pki pki;
	struct ck_err err;
	EVP_PKEY *pub = NULL, *other = t_key(CK_KEY_EC256), *priv = NULL;
	char path[300];
	FILE *fp;

	memset(&l, 0, sizeof(l));
	assert_int_equal(ck_token_conf_add(&l, "hsm", T_MODULE, T_LABEL, &err), CK_OK);
	assert_int_equal(ck_token_set_new(&l, &s, &err), CK_OK);
	f.find = t_find;
	f.arg = s;
	snprintf(path, sizeof(path), "%s/k1.der", hsm.dir);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	pub = d2i_PUBKEY_fp(fp, NULL);
	fclose(fp);
	assert_non_null(pub);
	t_pki_init(&pki, e->now);
	t_leaf(&pki, pub, "tok.test", 10, e->now, 30, &d1);
	t_leaf(&pki, other, "nokey.test", 11, e->now, 30, &d2);

	t_import(e, &d1, &f, &r);
	assert_int_equal(r.ncerts, 1);
	assert_int_equal(r.certs[0].key_source, CK_IMPORT_KEY_FINDER);
	assert_string_equal(r.certs[0].key_where, "hsm");
	assert_non_null(r.certs[0].key_location);
	assert_non_null(strstr(r.certs[0].key_location, "pkcs11:token=ck%20test%20token;id=%01"));
	assert_true(r.changed);
	assert_int_equal(ck_store_key_load(e->st, r.certs[0].key_id, &priv, &err),
			 CK_ERR_KEY_NOT_EXPORTABLE);
	ck_import_result_cleanup(&r);

	/* again: the store has the reference now, nothing changes */
	t_import(e, &d1, &f, &r);
	assert_int_equal(r.certs[0].already_present, 1);
	assert_int_equal(r.certs[0].key_source, CK_IMPORT_KEY_STORE);
	assert_false(r.changed);
	ck_import_result_cleanup(&r);

	/* a key on no token: labelled, not an error */
	t_import(e, &d2, &f, &r);
	assert_int_equal(r.certs[0].key_id, 0);
	assert_int_equal(r.certs[0].key_source, CK_IMPORT_KEY_NONE);
	ck_import_result_cleanup(&r);

	ck_token_set_free(s);
	free(d1.data);
	free(d2.data);
	t_pki_cleanup(&pki);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(other);
}

/* A finder that lies about the key: the import refuses and stores nothing. */
static enum ck_code
t_find_wrong(void *arg, const char *spki, struct ck_key_hit *hit, struct ck_err *err)
{
	EVP_PKEY *k = arg;

	(void)spki;
	hit->pkcs11_uri = strdup("pkcs11:token=x;id=%01;type=private");
	assert_int_equal(ck_key_spki_der(k, &hit->spki_der, &hit->spki_len, err), CK_OK);
	return CK_OK;
}

static void
test_import_refuses_wrong_hit(void **state)
{
	struct t_env *e = *state;
	struct ck_import_source src;
	struct ck_import_result r;
	struct ck_key_finder f;
	struct ck_cert_list cl = { NULL, 0 };
	struct ck_der d;
	struct t_pki pki;
	struct ck_err err;
	EVP_PKEY *a = t_key(CK_KEY_EC256), *b = t_key(CK_KEY_EC256);

	t_pki_init(&pki, e->now);
	t_leaf(&pki, a, "a.test", 12, e->now, 30, &d);
	f.find = t_find_wrong;
	f.arg = b;
	src.name = "a.der";
	src.data = d.data;
	src.len = d.len;
	memset(&r, 0, sizeof(r));
	ck_err_clear(&err);
	assert_int_equal(ck_store_import_with(e->st, &src, 1, NULL, NULL, &f, &r, &err),
			 CK_ERR_KEY_MISMATCH);
	assert_non_null(strstr(err.msg, "nothing was imported"));
	assert_int_equal(ck_store_cert_list(e->st, &cl, &err), CK_OK);
	assert_int_equal(cl.n, 0);
	ck_cert_list_cleanup(&cl);
	free(d.data);
	t_pki_cleanup(&pki);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_public_keys),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_module_file_checks),
		cmocka_unit_test(test_set_find),
		cmocka_unit_test_setup_teardown(test_import_links_token_key, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_import_refuses_wrong_hit, t_setup,
						t_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
