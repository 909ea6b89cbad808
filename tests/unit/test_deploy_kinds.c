/*
 * test_deploy_kinds.c - the pkcs12:FILE and exec:PROG targets driven in
 * the engine's order: PKCS#12 files the openssl CLI opens with the
 * password from the file (modern and legacy), refused empty passwords and
 * token keys, rollback to the previous file; a deploy hook of the shape
 * certbot's documentation shows, run unchanged with certbot's variables;
 * the hook's environment (nothing else in it, the directory gone after);
 * a hook that fails and one that hangs: clear errors with their output,
 * the served certificate (a real openssl s_server) unchanged.
 */
#include "test_deploy_util.h"

struct kt {
	struct t_pki pki;
	unsigned port;
	pid_t server;
	struct ck_ctx ctx;
	struct dep_endpoint ep;
	char path[700];
};

static int
setup(void **state)
{
	struct kt *k = calloc(1, sizeof(*k));
	char accept[32], cert[700], text[64];
	char *argv[] = { "openssl", "s_server", "-accept", accept, "-cert", cert, "-quiet", NULL };

	assert_non_null(k);
	t_pki_init(&k->pki);
	ck_ctx_init(&k->ctx);
	k->port = t_free_port();
	snprintf(accept, sizeof(accept), "127.0.0.1:%u", k->port);
	snprintf(cert, sizeof(cert), "%s/a.pem", k->pki.dir);
	k->server = t_spawn(k->pki.dir, "s_server.log", 0, argv);
	assert_true(t_port_wait(k->port, 10000));
	snprintf(text, sizeof(text), "127.0.0.1:%u,sni=localhost", k->port);
	assert_int_equal(dep_endpoint_parse(text, &k->ep, NULL), CK_OK);
	*state = k;
	return 0;
}

static int
teardown(void **state)
{
	struct kt *k = *state;

	t_kill(k->server);
	t_pki_free(&k->pki);
	free(k);
	return 0;
}

/* DIR/name, in k->path. */
static const char *
at(struct kt *k, const char *name)
{
	snprintf(k->path, sizeof(k->path), "%s/%s", k->pki.dir, name);
	return k->path;
}

static void
write_exe(struct kt *k, const char *name, const char *text)
{
	t_write(k->pki.dir, name, text, strlen(text));
	assert_int_equal(chmod(at(k, name), 0755), 0);
}

/* ---- pkcs12 ---------------------------------------------------------------- */

/* openssl pkcs12 opens FILE with the password in pw_arg; its -info text and leaf. */
static char *
p12_open(struct kt *k, const char *pw_arg, const struct t_leaf *want)
{
	struct ck_der_list certs = { 0 };
	unsigned char *pem;
	size_t len;
	char *out;
	int st;

	out = t_run(&st, "cd '%s' && openssl pkcs12 -in keystore.p12 -passin %s -nokeys "
			 "-clcerts -out leaf.pem 2>&1", k->pki.dir, pw_arg);
	assert_int_equal(st, 0);
	free(out);
	pem = t_read(k->pki.dir, "leaf.pem", &len);
	assert_int_equal(ck_pem_certs_parse((char *)pem, len, &certs, NULL), CK_OK);
	assert_int_equal(certs.items[0].len, want->len);
	assert_memory_equal(certs.items[0].data, want->der, want->len);
	ck_der_list_cleanup(&certs);
	free(pem);
	out = t_run(&st, "cd '%s' && openssl pkcs12 -in keystore.p12 -passin %s -info -nodes "
			 "2>&1", k->pki.dir, pw_arg);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "-----BEGIN PRIVATE KEY-----"));
	assert_non_null(strstr(out, "subject=O = certkeep test, CN = Deploy Test CA"));
	return out;
}

static enum ck_code
deploy(struct kt *k, const char *spec_text, struct t_leaf *l, const char *reload,
       int verify, struct ck_err *err)
{
	struct dep_material m;
	struct dep_spec spec;
	struct dep_job job;
	int rb, rb_ok;
	enum ck_code rc;

	t_material(&k->pki, l, NULL, &m);
	t_job(&job, &spec, spec_text, &k->ctx, &m);
	job.reload_cmd = reload;
	job.run_timeout_ms = 1000;
	if (verify) {
		job.verify = &k->ep;
		memcpy(job.prev_sha256, k->pki.a.sha256, 65);
	}
	rc = t_deploy(&job, &rb, &rb_ok, err);
	if (rc != CK_OK && verify)
		assert_true(rb && rb_ok); /* the old certificate is still served, verified */
	return rc;
}

static void
test_pkcs12_modern_legacy_rollback(void **state)
{
	struct kt *k = *state;
	struct ck_err err = {0};
	char spec[2048];
	struct stat sb;
	char *info;

	t_write(k->pki.dir, "pw", "chang eit\n", 10);
	snprintf(spec, sizeof(spec), "pkcs12:%s/keystore.p12,password-file=%s/pw", k->pki.dir,
		 k->pki.dir);
	assert_int_equal(deploy(k, spec, &k->pki.b, NULL, 0, &err), CK_OK);
	info = p12_open(k, "file:pw", &k->pki.b);
	assert_non_null(strstr(info, "PBES2, PBKDF2, AES-256-CBC"));
	assert_non_null(strstr(info, "MAC: sha256"));
	assert_non_null(strstr(info, "friendlyName: www"));
	free(info);
	assert_int_equal(stat(at(k, "keystore.p12"), &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* legacy, for Windows Server 2016 and old Java */
	snprintf(spec, sizeof(spec), "pkcs12:%s/keystore.p12,compat=legacy,password-file=%s/pw",
		 k->pki.dir, k->pki.dir);
	assert_int_equal(deploy(k, spec, &k->pki.a, NULL, 0, &err), CK_OK);
	info = p12_open(k, "file:pw", &k->pki.a);
	assert_non_null(strstr(info, "pbeWithSHA1And3-KeyTripleDES-CBC"));
	assert_non_null(strstr(info, "MAC: sha1"));
	free(info);
	/* a reload that fails: the previous file (a, legacy) is back */
	snprintf(spec, sizeof(spec), "pkcs12:%s/keystore.p12,password-file=%s/pw", k->pki.dir,
		 k->pki.dir);
	assert_int_equal(deploy(k, spec, &k->pki.b, "false", 0, &err), CK_ERR_STATE);
	info = p12_open(k, "file:pw", &k->pki.a);
	assert_non_null(strstr(info, "pbeWithSHA1And3-KeyTripleDES-CBC"));
	free(info);
	/* no password-file=: an empty password, on purpose */
	snprintf(spec, sizeof(spec), "pkcs12:%s/keystore.p12", k->pki.dir);
	assert_int_equal(deploy(k, spec, &k->pki.b, NULL, 0, &err), CK_OK);
	free(p12_open(k, "pass:", &k->pki.b));
}

static void
test_pkcs12_refusals(void **state)
{
	struct kt *k = *state;
	struct dep_material m;
	struct dep_spec spec;
	struct dep_job job;
	struct ck_err err = {0};
	char text[2048];

	t_write(k->pki.dir, "empty-pw", "\n", 1);
	snprintf(text, sizeof(text), "pkcs12:%s/other.p12,password-file=%s/empty-pw", k->pki.dir,
		 k->pki.dir);
	assert_int_equal(deploy(k, text, &k->pki.b, NULL, 0, &err), CK_ERR_INVALID_ARG);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "is empty, which would leave the key unprotected"));
	assert_false(t_exists(at(k, "other.p12")));
	assert_false(t_exists(at(k, ".certkeep-other.p12")));
	snprintf(text, sizeof(text), "pkcs12:%s/other.p12,password-file=%s/no-such-pw",
		 k->pki.dir, k->pki.dir);
	assert_int_not_equal(deploy(k, text, &k->pki.b, NULL, 0, &err), CK_OK);
	assert_non_null(strstr(err.msg, "no-such-pw"));
	assert_false(t_exists(at(k, "other.p12")));
	/* a token key cannot go into a PKCS#12 file */
	t_material(&k->pki, &k->pki.b, "pkcs11:token=ck;id=%02", &m);
	snprintf(text, sizeof(text), "pkcs12:%s/other.p12", k->pki.dir);
	t_job(&job, &spec, text, &k->ctx, &m);
	assert_int_equal(job.ops->validate(&job, &err), CK_ERR_KEY_NOT_EXPORTABLE);
	assert_non_null(strstr(err.msg, "a PKCS#12 file carries the private key itself"));
}

/* ---- exec ------------------------------------------------------------------- */

/* The deploy hook example of certbot's User Guide ("Renewing certificates"),
 * with only the chown and the daemon restart left out. */
static const char certbot_hook[] =
	"#!/bin/sh\n"
	"\n"
	"set -e\n"
	"\n"
	"for domain in $RENEWED_DOMAINS; do\n"
	"        case $domain in\n"
	"        localhost)\n"
	"                daemon_cert_root=%s\n"
	"\n"
	"                # Make sure the certificate and private key files are\n"
	"                # never world readable, even just for an instant while\n"
	"                # we're copying them into daemon_cert_root.\n"
	"                umask 077\n"
	"\n"
	"                cp \"$RENEWED_LINEAGE/fullchain.pem\" \"$daemon_cert_root/$domain.cert\"\n"
	"                cp \"$RENEWED_LINEAGE/privkey.pem\" \"$daemon_cert_root/$domain.key\"\n"
	"\n"
	"                # Apply the proper file ownership and permissions for\n"
	"                # the daemon to read its certificate and key.\n"
	"                chmod 400 \"$daemon_cert_root/$domain.cert\" \\\n"
	"                        \"$daemon_cert_root/$domain.key\"\n"
	"                ;;\n"
	"        esac\n"
	"done\n";

static void
assert_file_is(struct kt *k, const char *name, const struct ck_buf *want)
{
	unsigned char *data;
	size_t len;

	data = t_read(k->pki.dir, name, &len);
	assert_int_equal(len, want->len);
	assert_memory_equal(data, want->data, len);
	free(data);
}

static void
test_exec_certbot_hook(void **state)
{
	struct kt *k = *state;
	struct ck_err err = {0};
	struct ck_buf full, key;
	char text[2048], spec[1024];
	struct stat sb;

	assert_int_equal(mkdir(at(k, "daemon"), 0700), 0);
	snprintf(text, sizeof(text), certbot_hook, at(k, "daemon"));
	write_exe(k, "certbot-hook.sh", text);
	snprintf(spec, sizeof(spec), "exec:%s/certbot-hook.sh", k->pki.dir);
	assert_int_equal(deploy(k, spec, &k->pki.b, NULL, 0, &err), CK_OK);
	ck_buf_init(&full, CK_PEM_MAX);
	ck_buf_init_secret(&key, CK_PEM_MAX);
	assert_int_equal(ck_render_fullchain(k->pki.b.der, k->pki.b.len, &k->pki.chain, &full,
					     NULL), CK_OK);
	assert_int_equal(ck_render_key_pem(k->pki.b.key, &key, NULL), CK_OK);
	assert_file_is(k, "daemon/localhost.cert", &full);
	assert_file_is(k, "daemon/localhost.key", &key);
	assert_int_equal(stat(at(k, "daemon/localhost.key"), &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0400);
	ck_buf_cleanup(&full);
	ck_buf_cleanup(&key);
}

static void
test_exec_environment(void **state)
{
	struct kt *k = *state;
	struct ck_err err = {0};
	char text[2048], spec[1024], want[128], lineage[512], *p;
	unsigned char *out;
	size_t len;

	snprintf(text, sizeof(text),
		 "#!/bin/sh\n"
		 "{ echo \"L=$RENEWED_LINEAGE\"; echo \"D=$RENEWED_DOMAINS\";\n"
		 "  echo \"T=$CERTKEEP_THUMBPRINT\"; echo \"B=$CERTKEEP_BINDING\";\n"
		 "  ls -l \"$RENEWED_LINEAGE\"; echo ENV; env; } > %s/env.out\n", k->pki.dir);
	write_exe(k, "env-hook.sh", text);
	snprintf(spec, sizeof(spec), "exec:%s/env-hook.sh", k->pki.dir);
	assert_int_equal(deploy(k, spec, &k->pki.b, NULL, 0, &err), CK_OK);
	out = t_read(k->pki.dir, "env.out", &len);
	assert_non_null(strstr((char *)out, "\nD=localhost 127.0.0.1\n"));
	snprintf(want, sizeof(want), "\nT=%s\n", k->pki.b.sha256);
	assert_non_null(strstr((char *)out, want));
	assert_non_null(strstr((char *)out, "\nB=web\n"));
	assert_non_null(strstr((char *)out, "-rw------- 1 root root"));
	assert_non_null(strstr((char *)out, " privkey.pem\n"));
	assert_non_null(strstr((char *)out, " fullchain.pem\n"));
	assert_non_null(strstr((char *)out, " chain.pem\n"));
	assert_non_null(strstr((char *)out, " cert.pem\n"));
	/* certbot's live/NAME shape: the last step is the lineage; gone afterwards */
	assert_int_equal(strncmp((char *)out, "L=/tmp/certkeep-hook-", 21), 0);
	snprintf(lineage, sizeof(lineage), "%s", (char *)out + 2);
	*strchr(lineage, '\n') = '\0';
	assert_string_equal(strrchr(lineage, '/'), "/www");
	assert_false(t_exists(lineage));
	*strrchr(lineage, '/') = '\0';
	assert_false(t_exists(lineage));
	/* nothing of ours leaks into the hook's environment */
	p = strstr((char *)out, "\nENV\n");
	assert_non_null(p);
	assert_null(strstr(p, "PRIVATE"));
	assert_null(strstr(p, "HOME="));
	assert_null(strstr(p, "CK_TEST_SRCDIR"));
	free(out);
}

/* The hook writes where its directory was, then fails or hangs. */
static void
test_exec_fails_and_hangs(void **state)
{
	struct kt *k = *state;
	struct ck_err err = {0};
	char text[2048], spec[1024], lineage[512];
	unsigned char *out;
	size_t len;
	struct timespec t0, t1;
	int pid;

	snprintf(text, sizeof(text),
		 "#!/bin/sh\n"
		 "echo \"$RENEWED_LINEAGE\" > %s/failed.where\n"
		 "echo run >> %s/failed.runs\n"
		 "echo 'cp: cannot create /etc/daemon/cert: No space left on device' >&2\n"
		 "exit 3\n", k->pki.dir, k->pki.dir);
	write_exe(k, "fail-hook.sh", text);
	snprintf(spec, sizeof(spec), "exec:%s/fail-hook.sh", k->pki.dir);
	assert_int_equal(deploy(k, spec, &k->pki.b, NULL, 1, &err), CK_ERR_STATE);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "fail-hook.sh' exited with status 3"));
	assert_non_null(strstr(err.msg, "No space left on device"));
	/* run once (never again by the rollback), its directory gone */
	out = t_read(k->pki.dir, "failed.runs", &len);
	assert_string_equal((char *)out, "run\n");
	free(out);
	out = t_read(k->pki.dir, "failed.where", &len);
	snprintf(lineage, sizeof(lineage), "%.*s", (int)len - 1, (char *)out);
	free(out);
	assert_false(t_exists(lineage));
	/* a hook that hangs: ended at the timeout, with its group */
	snprintf(text, sizeof(text),
		 "#!/bin/sh\n"
		 "echo $$ > %s/hang.pid\n"
		 "echo 'waiting for the daemon to restart'\n"
		 "sleep 60\n", k->pki.dir);
	write_exe(k, "hang-hook.sh", text);
	snprintf(spec, sizeof(spec), "exec:%s/hang-hook.sh", k->pki.dir);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(deploy(k, spec, &k->pki.b, NULL, 1, &err), CK_ERR_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("%s\n", err.msg);
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	assert_non_null(strstr(err.msg, "did not finish within"));
	assert_non_null(strstr(err.msg, "waiting for the daemon to restart"));
	out = t_read(k->pki.dir, "hang.pid", &len);
	pid = atoi((char *)out);
	free(out);
	assert_true(pid > 0);
	assert_int_not_equal(kill(pid, 0), 0);
}

static void
test_exec_refusals(void **state)
{
	struct kt *k = *state;
	struct dep_material m;
	struct dep_spec spec;
	struct dep_job job;
	struct ck_err err = {0};
	char text[1024];

	t_material(&k->pki, &k->pki.b, NULL, &m);
	snprintf(text, sizeof(text), "exec:%s/no-such-hook", k->pki.dir);
	t_job(&job, &spec, text, &k->ctx, &m);
	assert_int_equal(job.ops->validate(&job, &err), CK_ERR_NOT_FOUND);
	t_write(k->pki.dir, "not-exec.sh", "#!/bin/sh\n", 10);
	snprintf(text, sizeof(text), "exec:%s/not-exec.sh", k->pki.dir);
	t_job(&job, &spec, text, &k->ctx, &m);
	assert_int_equal(job.ops->validate(&job, &err), CK_ERR_PERMISSION);
	assert_non_null(strstr(err.msg, "is not an executable file"));
	t_material(&k->pki, &k->pki.b, "pkcs11:token=ck;id=%03", &m);
	snprintf(text, sizeof(text), "exec:/bin/true");
	t_job(&job, &spec, text, &k->ctx, &m);
	assert_int_equal(job.ops->validate(&job, &err), CK_ERR_KEY_NOT_EXPORTABLE);
	assert_non_null(strstr(err.msg, "privkey.pem in RENEWED_LINEAGE"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkcs12_modern_legacy_rollback),
		cmocka_unit_test(test_pkcs12_refusals),
		cmocka_unit_test(test_exec_certbot_hook),
		cmocka_unit_test(test_exec_environment),
		cmocka_unit_test(test_exec_fails_and_hangs),
		cmocka_unit_test(test_exec_refusals),
	};

	return cmocka_run_group_tests_name("deploy_kinds", tests, setup, teardown);
}
