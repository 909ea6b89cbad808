/*
 * test_core.c - core: errors, bounded buffers, atomic files, secrets from
 * files and descriptors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/core.h"

static char tmpdir[256];

/*
 * The process umask belongs to the program that embeds the library.  This
 * definition takes the place of libc's umask for the whole test binary
 * (the library is linked statically into it), so a test can count the
 * library's calls; it still sets the umask, through the system call.
 */
static unsigned umask_calls;

mode_t
umask(mode_t mask)
{
	umask_calls++;
	return (mode_t)syscall(SYS_umask, mask);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ck-core-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_err_set_and_names(void **state)
{
	struct ck_err e;

	(void)state;
	ck_err_clear(&e);
	assert_int_equal(e.retry_after, -1);
	assert_int_equal(CK_FAIL(&e, CK_ERR_IO, "cannot open %s", "x"), CK_ERR_IO);
	assert_int_equal(e.code, CK_ERR_IO);
	assert_string_equal(e.msg, "cannot open x");
	assert_string_equal(e.where, "test_err_set_and_names");
	ck_err_prefix(&e, "importing %s", "a.pem");
	assert_string_equal(e.msg, "importing a.pem: cannot open x");
	assert_string_equal(ck_code_name(CK_ERR_KEY_MISSING), "key-missing");
	assert_string_equal(ck_code_name((enum ck_code)999), "unknown");
	/* A NULL err must be accepted everywhere. */
	assert_int_equal(CK_FAIL(NULL, CK_ERR_PARSE, "x"), CK_ERR_PARSE);
	snprintf(e.problem_type, sizeof(e.problem_type), "urn:ietf:params:acme:error:badNonce");
	assert_string_equal(ck_err_problem_short(&e), "badNonce");
}

static void
test_buf_bounded(void **state)
{
	struct ck_buf b;
	struct ck_err e;

	(void)state;
	ck_buf_init(&b, 10);
	assert_int_equal(ck_buf_append(&b, "hello", 5, &e), CK_OK);
	assert_int_equal(ck_buf_printf(&b, &e, "%d", 12345), CK_OK);
	assert_int_equal(b.len, 10);
	assert_string_equal((char *)b.data, "hello12345");
	/* One byte over the maximum is refused and leaves the buffer as it was. */
	assert_int_equal(ck_buf_append(&b, "!", 1, &e), CK_ERR_TOO_LARGE);
	assert_int_equal(b.len, 10);
	assert_string_equal((char *)b.data, "hello12345");
	ck_buf_cleanup(&b);
	assert_null(b.data);

	ck_buf_init_secret(&b, 4096);
	for (int i = 0; i < 100; i++)
		assert_int_equal(ck_buf_append(&b, "0123456789", 10, &e), CK_OK);
	assert_int_equal(b.len, 1000);
	ck_buf_cleanup(&b);
}

static void
test_atomic_write_mode_and_content(void **state)
{
	char path[300];
	struct stat st;
	unsigned char *data = NULL;
	size_t len = 0;
	struct ck_err e;
	mode_t old = umask(0);

	(void)state;
	snprintf(path, sizeof(path), "%s/key.pem", tmpdir);
	assert_int_equal(ck_file_write_atomic(path, "secret", 6, 0600, &e), CK_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* Overwrite keeps the file whole and takes the requested mode. */
	assert_int_equal(ck_file_write_atomic(path, "other!!", 7, 0644, &e), CK_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(ck_file_read(path, 100, &data, &len, &e), CK_OK);
	assert_int_equal(len, 7);
	assert_memory_equal(data, "other!!", 7);
	free(data);
	/* A read limit below the size is a clear error. */
	assert_int_equal(ck_file_read(path, 3, &data, &len, &e), CK_ERR_TOO_LARGE);
	umask(old);
}

/* The library never touches the process umask, and modes hold whatever it is. */
static void
test_atomic_write_leaves_umask_alone(void **state)
{
	static const mode_t masks[] = { 0, 022, 077, 0777 };
	char path[300];
	struct stat st;
	struct ck_err e;
	mode_t old = umask(0), now;
	size_t i;

	(void)state;
	snprintf(path, sizeof(path), "%s/umask.pem", tmpdir);
	for (i = 0; i < CK_ARRAY_LEN(masks); i++) {
		umask(masks[i]);
		umask_calls = 0;
		assert_int_equal(ck_file_write_atomic(path, "secret", 6, 0600, &e), CK_OK);
		assert_int_equal(umask_calls, 0);
		now = umask(masks[i]);
		assert_int_equal(now, masks[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_int_equal(ck_file_write_atomic(path, "cert", 4, 0644, &e), CK_OK);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0644);
	}
	umask(old);
}

/* One init call for libcurl and OpenSSL; calling it again changes nothing. */
static void
test_global_init_idempotent(void **state)
{
	(void)state;
	assert_int_equal(ck_global_init(), CK_OK);
	assert_int_equal(ck_global_init(), CK_OK);
	ck_global_cleanup();
	ck_global_cleanup(); /* without a matching init: a no-op */
	assert_int_equal(ck_global_init(), CK_OK);
	ck_global_cleanup();
}

static void
test_atomic_write_failure_keeps_old(void **state)
{
	char path[300];
	struct ck_err e;

	(void)state;
	snprintf(path, sizeof(path), "%s/nodir/x", tmpdir);
	assert_int_not_equal(ck_file_write_atomic(path, "x", 1, 0600, &e), CK_OK);
	assert_int_equal(e.code, CK_ERR_IO);
	assert_non_null(strstr(e.msg, "nodir"));
}

/* Temp names say whose they are; only exact names of the same file match. */
static void
test_atomic_write_temp_names(void **state)
{
	char name[300], path[300];
	pid_t pid = 0;
	struct ck_err e;

	(void)state;
	assert_int_equal(ck_file_tmp_name("/etc/ssl/key.pem", 42, name, sizeof(name)), 0);
	assert_string_equal(name, "/etc/ssl/.key.pem.certkeep-tmp-42-XXXXXX");
	assert_int_equal(ck_file_tmp_name("key.pem", 7, name, sizeof(name)), 0);
	assert_string_equal(name, ".key.pem.certkeep-tmp-7-XXXXXX");
	assert_int_equal(ck_file_tmp_name("/d/", 7, name, sizeof(name)), -1);
	assert_int_equal(ck_file_tmp_name("/d/key.pem", 7, name, 10), -1);

	assert_int_equal(ck_file_tmp_match(".key.pem.certkeep-tmp-42-aB3xYz", "key.pem", &pid), 1);
	assert_int_equal(pid, 42);
	assert_int_equal(ck_file_tmp_match(".key.pem.certkeep-tmp-42-aB3xY", "key.pem", &pid), 0);
	assert_int_equal(ck_file_tmp_match(".key.pem.certkeep-tmp-42-aB3xYzz", "key.pem", &pid), 0);
	assert_int_equal(ck_file_tmp_match(".key.pem.certkeep-tmp--1-aB3xYz", "key.pem", &pid), 0);
	assert_int_equal(ck_file_tmp_match(".key.pem.certkeep-tmp-x-aB3xYz", "key.pem", &pid), 0);
	assert_int_equal(ck_file_tmp_match(".cert.pem.certkeep-tmp-42-aB3xYz", "key.pem", &pid), 0);
	assert_int_equal(ck_file_tmp_match("key.pem.tmp-aB3xYz", "key.pem", &pid), 0);
	assert_int_equal(ck_file_tmp_match(".key.pem", "key.pem", &pid), 0);

	/* A successful write leaves no temp file behind. */
	snprintf(path, sizeof(path), "%s/names.pem", tmpdir);
	assert_int_equal(ck_file_write_atomic(path, "x", 1, 0600, &e), CK_OK);
	snprintf(name, sizeof(name), "ls -a '%s' | grep -q certkeep-tmp", tmpdir);
	assert_int_not_equal(system(name), 0);
}

static void
test_secret_read_file_and_fd(void **state)
{
	char path[300];
	char *s = NULL;
	struct ck_err e;
	int fds[2];

	(void)state;
	snprintf(path, sizeof(path), "%s/pin", tmpdir);
	assert_int_equal(ck_file_write_atomic(path, "1234\n", 5, 0600, &e), CK_OK);
	assert_int_equal(ck_secret_read(path, 64, &s, &e), CK_OK);
	assert_string_equal(s, "1234");
	ck_secure_strfree(s);

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "pass word\r\n", 11), 11);
	close(fds[1]);
	{
		char ref[32];
		snprintf(ref, sizeof(ref), "fd:%d", fds[0]);
		assert_int_equal(ck_secret_read(ref, 64, &s, &e), CK_OK);
	}
	close(fds[0]);
	assert_string_equal(s, "pass word");
	ck_secure_strfree(s);

	assert_int_equal(ck_secret_read("fd:abc", 64, &s, &e), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_secret_read("/nonexistent/pin", 64, &s, &e), CK_ERR_IO);
}

static void
test_mkdir_p_mode(void **state)
{
	char path[300];
	struct stat st;
	struct ck_err e;
	mode_t old = umask(0);

	(void)state;
	snprintf(path, sizeof(path), "%s/a/b/c", tmpdir);
	assert_int_equal(ck_mkdir_p(path, 0700, &e), CK_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(ck_mkdir_p(path, 0700, &e), CK_OK);
	umask(old);
}

static void
test_strings_from_outside(void **state)
{
	char out[16];

	(void)state;
	ck_str_printable(out, sizeof(out), "ab\x1b[31mc\xff");
	assert_string_equal(out, "ab?[31mc?");
	ck_str_printable(out, 4, "abcdef");
	assert_string_equal(out, "abc");
	assert_true(ck_str_is_b64url("abc-_XYZ09", 64));
	assert_false(ck_str_is_b64url("", 64));
	assert_false(ck_str_is_b64url("../etc", 64));
	assert_false(ck_str_is_b64url("abc=", 64));
	assert_false(ck_str_is_b64url("abcdef", 3));
}

static void
test_hex_encode(void **state)
{
	static const unsigned char b[] = { 0x00, 0x01, 0xab, 0xff, 0x7e };
	char out[16];

	(void)state;
	memset(out, 'x', sizeof(out));
	assert_int_equal(ck_hex_encode(b, 0, out, sizeof(out)), 0); /* 0 bytes: "" */
	assert_string_equal(out, "");
	assert_int_equal(ck_hex_encode(NULL, 0, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(ck_hex_encode(b, 1, out, sizeof(out)), 2);
	assert_string_equal(out, "00");
	assert_int_equal(ck_hex_encode(b, 3, out, sizeof(out)), 6); /* odd lengths */
	assert_string_equal(out, "0001ab");
	assert_int_equal(ck_hex_encode(b, 5, out, sizeof(out)), 10);
	assert_string_equal(out, "0001abff7e");
	assert_int_equal(ck_hex_encode_upper(b, 5, out, sizeof(out)), 10);
	assert_string_equal(out, "0001ABFF7E");
	/* exactly 2n + 1 fits; one byte less writes nothing partial */
	assert_int_equal(ck_hex_encode(b, 5, out, 11), 10);
	assert_string_equal(out, "0001abff7e");
	assert_int_equal(ck_hex_encode(b, 5, out, 10), 0);
	assert_string_equal(out, "");
	assert_int_equal(ck_hex_encode(b, 1, out, 2), 0);
	assert_string_equal(out, "");
	assert_int_equal(ck_hex_encode(b, 1, NULL, 0), 0);
}

static void
test_strv_bounds(void **state)
{
	struct ck_strv v = { 0 };
	struct ck_err err;
	char name[8];
	size_t i;

	(void)state;
	ck_err_clear(&err);
	for (i = 0; i < 9; i++) {
		snprintf(name, sizeof(name), "s%zu", i);
		assert_int_equal(ck_strv_add(&v, name, 9, 8, &err), CK_OK);
		assert_null(v.v[v.n]); /* always NULL-terminated */
		assert_true(v.cap <= 10); /* never more than max items + the NULL */
	}
	assert_int_equal(v.n, 9);
	assert_string_equal(v.v[0], "s0");
	assert_string_equal(v.v[8], "s8");
	/* max items */
	assert_int_equal(ck_strv_add(&v, "one more", 9, 8, &err), CK_ERR_TOO_LARGE);
	assert_string_equal(err.msg, "more than 9 entries");
	assert_int_equal(v.n, 9);
	ck_strv_cleanup(&v);
	assert_null(v.v);
	assert_int_equal(v.n, 0);
	/* max length: exactly max_len is taken, one byte more is not */
	assert_int_equal(ck_strv_add(&v, "12345678", 4, 8, &err), CK_OK);
	assert_int_equal(ck_strv_add(&v, "123456789", 4, 8, &err), CK_ERR_TOO_LARGE);
	assert_int_equal(v.n, 1);
	/* NULL is refused, not stored */
	assert_int_equal(ck_strv_add(&v, NULL, 4, 8, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_strv_add(NULL, "x", 4, 8, NULL), CK_ERR_INVALID_ARG);
	assert_int_equal(v.n, 1);
	assert_null(v.v[1]);
	/* no items at all */
	ck_strv_cleanup(&v);
	assert_int_equal(ck_strv_add(&v, "x", 0, 8, &err), CK_ERR_TOO_LARGE);
	assert_null(v.v);
	ck_strv_cleanup(&v);
	ck_strv_cleanup(NULL);
}

static void
test_name_rule_and_oom(void **state)
{
	struct ck_err err;
	char long_name[70];

	(void)state;
	assert_true(ck_str_is_name("web-1.example_prod", 64));
	assert_true(ck_str_is_name("a", 64));
	assert_true(ck_str_is_name("_x", 64));
	assert_false(ck_str_is_name("", 64));
	assert_false(ck_str_is_name(NULL, 64));
	assert_false(ck_str_is_name(".hidden", 64));
	assert_false(ck_str_is_name("-rf", 64));
	assert_false(ck_str_is_name("a/b", 64));
	assert_false(ck_str_is_name("a b", 64));
	assert_false(ck_str_is_name("caf\xc3\xa9", 64));
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	assert_false(ck_str_is_name(long_name, 64));
	long_name[64] = '\0';
	assert_true(ck_str_is_name(long_name, 64));

	ck_err_clear(&err);
	assert_int_equal(CK_OOM(&err), CK_ERR_NOMEM);
	assert_int_equal(err.code, CK_ERR_NOMEM);
	assert_string_equal(err.msg, "out of memory");
	assert_string_equal(err.where, "test_name_rule_and_oom");
	assert_int_equal(CK_OOM(NULL), CK_ERR_NOMEM);
}

static time_t fake_now_value = 1000;
static time_t
fake_now(void *arg)
{
	(void)arg;
	return fake_now_value;
}

static void
test_clock_injectable(void **state)
{
	struct ck_ctx ctx;
	char t[21];

	(void)state;
	ck_ctx_init(&ctx);
	ctx.clock.now = fake_now;
	assert_int_equal(ck_now(&ctx), 1000);
	ck_time_rfc3339(1795305600, t);
	assert_string_equal(t, "2026-11-22T00:00:00Z");
}

static unsigned fake_slept;
static void
fake_sleep_ms(void *arg, unsigned ms)
{
	*(unsigned *)arg += ms;
}

/* The node name: the host name by default; only the documented characters. */
static void
test_node_name(void **state)
{
	struct ck_ctx c;
	struct ck_err err;
	char host[256] = "";

	(void)state;
	ck_ctx_init(&c);
	(void)gethostname(host, sizeof(host) - 1);
	host[strcspn(host, ".")] = '\0';
	assert_true(strlen(ck_ctx_node(&c)) > 0);
	if (strlen(host) > 0 && strlen(host) <= CK_NODE_MAX)
		assert_string_equal(ck_ctx_node(&c), host);
	assert_int_equal(ck_ctx_set_node(&c, "web-1.eu_west", &err), CK_OK);
	assert_string_equal(ck_ctx_node(&c), "web-1.eu_west");
	assert_int_equal(ck_ctx_set_node(&c, "bad name", &err), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_ctx_set_node(&c, "", &err), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_ctx_set_node(&c, "a234567890123456789012345678901234567890123456789012345678901234",
					 &err), CK_ERR_INVALID_ARG);
	assert_string_equal(ck_ctx_node(&c), "web-1.eu_west");
}

/* The public context (certkeep/context.h): made by ck_ctx_new, set by its
 * setters only, as an embedding program does. */
static void
test_public_ctx(void **state)
{
	struct ck_ctx *ctx = NULL;
	struct ck_err err;
	char line[256] = "";
	FILE *fp = tmpfile();

	(void)state;
	assert_non_null(fp);
	assert_int_equal(ck_ctx_new(&ctx, &err), CK_OK);
	assert_non_null(ctx);
	assert_true(llabs((long long)(ck_now(ctx) - time(NULL))) <= 5); /* the real clock */

	ck_ctx_set_clock(ctx, fake_now, fake_sleep_ms, &fake_slept);
	assert_int_equal(ck_now(ctx), 1000);
	ck_sleep_ms(ctx, 250);
	assert_int_equal(fake_slept, 250);
	ck_ctx_set_clock(ctx, NULL, NULL, NULL); /* back to the real clock */
	assert_true(llabs((long long)(ck_now(ctx) - time(NULL))) <= 5);

	ck_ctx_set_log(ctx, CK_LOG_WARN, fp);
	ck_log(&ctx->log, CK_LOG_INFO, "not at WARN");
	ck_log(&ctx->log, CK_LOG_WARN, "kept at WARN");
	rewind(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	assert_non_null(strstr(line, "kept at WARN"));
	assert_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	ck_ctx_free(ctx);
	ck_ctx_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_set_and_names),
		cmocka_unit_test(test_buf_bounded),
		cmocka_unit_test(test_atomic_write_mode_and_content),
		cmocka_unit_test(test_atomic_write_leaves_umask_alone),
		cmocka_unit_test(test_global_init_idempotent),
		cmocka_unit_test(test_atomic_write_failure_keeps_old),
		cmocka_unit_test(test_atomic_write_temp_names),
		cmocka_unit_test(test_secret_read_file_and_fd),
		cmocka_unit_test(test_mkdir_p_mode),
		cmocka_unit_test(test_strings_from_outside),
		cmocka_unit_test(test_hex_encode),
		cmocka_unit_test(test_strv_bounds),
		cmocka_unit_test(test_name_rule_and_oom),
		cmocka_unit_test(test_clock_injectable),
		cmocka_unit_test(test_public_ctx),
		cmocka_unit_test(test_node_name),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
