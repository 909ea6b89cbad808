/*
 * test_deploy_spec.c - the pure parts of the deploy seam and the
 * generation directories: target specs and --verify endpoints parsed into
 * types (and refused with a message for every malformed form), canonical
 * text read back equal, reload commands split without a shell, and
 * gen.c's write / switch / link / prune on a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "deploy/target.h"

static void
test_spec_parse_forms(void **state)
{
	struct dep_spec s;
	struct ck_err err;
	char text[DEP_SPEC_MAX];

	(void)state;
	assert_int_equal(dep_spec_parse("nginx:/etc/ssl//www/,conf=/etc/nginx/nginx.conf", &s,
					&err), CK_OK);
	assert_int_equal(s.kind, DEP_KIND_NGINX);
	assert_string_equal(s.path, "/etc/ssl/www");
	assert_string_equal(s.conf, "/etc/nginx/nginx.conf");
	assert_true(dep_spec_format(&s, text, sizeof(text)) > 0);
	assert_string_equal(text, "nginx:/etc/ssl/www,conf=/etc/nginx/nginx.conf");
	assert_int_equal(dep_spec_parse("pkcs12:/srv/a.p12,compat=legacy,password-file=/k/p", &s,
					&err), CK_OK);
	assert_int_equal(s.compat, CK_PFX_LEGACY);
	assert_true(dep_spec_format(&s, text, sizeof(text)) > 0);
	assert_string_equal(text, "pkcs12:/srv/a.p12,compat=legacy,password-file=/k/p");
	assert_int_equal(dep_spec_parse("pem:/srv/tls", &s, &err), CK_OK);
	assert_int_equal(dep_spec_parse("haproxy:/etc/haproxy/site.pem,socket=/run/h.sock", &s,
					&err), CK_OK);
	assert_string_equal(s.socket, "/run/h.sock");
	assert_int_equal(dep_spec_parse("exec:/usr/local/bin/hook", &s, &err), CK_OK);
	assert_string_equal(dep_kind_name(s.kind), "exec");
}

static void
test_spec_refusals(void **state)
{
	static const char *const bad[] = {
		"", "nginx", "iis:/x", "pem:relative/dir", "pem:/", "pem:/a/../b", "pem:/a/./b",
		"pem:/a,conf=/x",           /* pem takes no conf= */
		"nginx:/a,socket=/s",       /* nginx takes no socket= */
		"nginx:/a,conf=/x,conf=/y", /* twice */
		"nginx:/a,conf=rel",        /* relative option path */
		"pkcs12:/a,compat=weird", "nginx:/a,bogus=1", "nginx:/a,", "pem:/a\tb",
	};
	struct dep_spec s;
	struct ck_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (dep_spec_parse(bad[i], &s, &err) != CK_ERR_INVALID_ARG)
			fail_msg("spec '%s' must be refused", bad[i]);
		assert_true(err.msg[0] != '\0');
	}
}

static void
test_endpoint(void **state)
{
	struct dep_endpoint ep;
	struct ck_err err;

	(void)state;
	assert_int_equal(dep_endpoint_parse("127.0.0.1:8443,sni=www.example.test", &ep, &err),
			 CK_OK);
	assert_string_equal(ep.host, "127.0.0.1");
	assert_int_equal(ep.port, 8443);
	assert_string_equal(dep_endpoint_name(&ep), "www.example.test");
	assert_int_equal(dep_endpoint_parse("www.example.test:443", &ep, &err), CK_OK);
	assert_string_equal(dep_endpoint_name(&ep), "www.example.test");
	assert_int_equal(dep_endpoint_parse("[::1]:443", &ep, &err), CK_OK);
	assert_string_equal(ep.host, "::1");
	assert_int_equal(dep_endpoint_parse("host", &ep, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(dep_endpoint_parse("host:0", &ep, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(dep_endpoint_parse("host:70000", &ep, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(dep_endpoint_parse("host:443,sni=", &ep, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(dep_endpoint_parse("host:443,foo=bar", &ep, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(dep_endpoint_parse("ho st:443", &ep, &err), CK_ERR_INVALID_ARG);
}

static void
test_cmd_split(void **state)
{
	struct ck_strv v = { 0 };
	struct ck_err err;

	(void)state;
	assert_int_equal(dep_cmd_split("  nginx -s\treload  -c '/a b'", &v, &err), CK_OK);
	assert_int_equal(v.n, 6);
	assert_string_equal(v.v[0], "nginx");
	assert_string_equal(v.v[3], "-c");
	assert_string_equal(v.v[4], "'/a"); /* no shell: quotes are literal */
	assert_null(v.v[6]);
	ck_strv_cleanup(&v);
	assert_int_equal(dep_cmd_split("   ", &v, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(dep_cmd_split("a\nb", &v, &err), CK_ERR_INVALID_ARG);
}

/* A file set of one file holding text. */
static void
one_file(struct dep_files *f, const char *name, const char *text)
{
	struct ck_err err;

	assert_int_equal(dep_files_add_take(f, name, (unsigned char *)strdup(text), strlen(text),
					    0600, 1, &err), CK_OK);
}

static void
test_gen_write_switch_prune(void **state)
{
	char root[] = "/tmp/ck-gen-XXXXXX", gen[DEP_GEN_NAME_MAX + 1], prev[DEP_GEN_NAME_MAX + 1];
	char path[256], buf[64];
	struct dep_files files;
	struct ck_err err;
	struct stat sb;
	FILE *fp;
	int i;

	(void)state;
	assert_non_null(mkdtemp(root));
	assert_int_equal(dep_gen_current(root, gen, sizeof(gen), &err), CK_ERR_NOT_FOUND);
	for (i = 1; i <= 5; i++) {
		char text[16];

		memset(&files, 0, sizeof(files));
		snprintf(text, sizeof(text), "set %d", i);
		one_file(&files, "privkey.pem", text);
		assert_int_equal(dep_gen_write(root, &files, gen, sizeof(gen), &err), CK_OK);
		dep_files_cleanup(&files);
		snprintf(path, sizeof(path), "gen-%d", i);
		assert_string_equal(gen, path);
		snprintf(path, sizeof(path), "%s/%s/privkey.pem", root, gen);
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
		assert_int_equal(dep_gen_switch(root, gen, prev, sizeof(prev), &err), CK_OK);
		snprintf(path, sizeof(path), "%s/privkey.pem", root);
		assert_int_equal(dep_gen_link(path, "live/privkey.pem", &err), CK_OK);
		assert_non_null(fp = fopen(path, "r"));
		assert_non_null(fgets(buf, sizeof(buf), fp));
		fclose(fp);
		assert_string_equal(buf, text);
		assert_int_equal(dep_gen_prune(root, DEP_GEN_KEEP, prev, &err), CK_OK);
	}
	assert_string_equal(prev, "gen-4");
	/* back to the previous one: the stable name follows */
	assert_int_equal(dep_gen_switch(root, "gen-4", NULL, 0, &err), CK_OK);
	assert_non_null(fp = fopen(path, "r"));
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "set 4");
	/* pruned to 3: gen-1 and gen-2 are gone */
	snprintf(path, sizeof(path), "%s/gen-1", root);
	assert_int_not_equal(stat(path, &sb), 0);
	snprintf(path, sizeof(path), "%s/gen-3", root);
	assert_int_equal(stat(path, &sb), 0);
	/* a directory at a stable name is refused, untouched */
	snprintf(path, sizeof(path), "%s/cert.pem", root);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(dep_gen_link(path, "live/cert.pem", &err), CK_ERR_STATE);
	assert_int_equal(dep_gen_switch(root, "gen-9", NULL, 0, &err), CK_ERR_NOT_FOUND);
	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_parse_forms),
		cmocka_unit_test(test_spec_refusals),
		cmocka_unit_test(test_endpoint),
		cmocka_unit_test(test_cmd_split),
		cmocka_unit_test(test_gen_write_switch_prune),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
