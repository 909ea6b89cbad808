/*
 * test_core_proc.c - ck_proc_run: what a hook or reload command sees and
 * what certkeep sees of it: exit status, captured output, bounded output,
 * the timeout, cancellation, no shell, no leaked descriptors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

static struct ck_ctx ctx;

static void
run_ok(void **state)
{
	const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	struct ck_proc_result r;
	struct ck_err err;
	char what[80];

	(void)state;
	assert_int_equal(ck_proc_run(&ctx, argv, NULL, 5000, 0, &r, &err), CK_OK);
	assert_int_equal(r.exited, 1);
	assert_int_equal(r.status, 3);
	assert_false(ck_proc_ok(&r));
	assert_non_null(strstr(r.output, "out\n"));
	assert_non_null(strstr(r.output, "err\n"));
	ck_proc_describe(&r, 5000, what, sizeof(what));
	assert_string_equal(what, "exited with status 3");
	ck_proc_result_cleanup(&r);
}

/* Arguments reach the program as they are: no shell expands them. */
static void
no_shell(void **state)
{
	const char *argv[] = { "printf", "%s|", "$HOME", "a b", "*", NULL };
	struct ck_proc_result r;
	struct ck_err err;

	(void)state;
	assert_int_equal(ck_proc_run(&ctx, argv, NULL, 5000, 0, &r, &err), CK_OK);
	assert_true(ck_proc_ok(&r));
	assert_string_equal(r.output, "$HOME|a b|*|");
	ck_proc_result_cleanup(&r);
}

/* Exactly the environment given: nothing of ours (a secret in our env) leaks. */
static void
environment_exact(void **state)
{
	const char *argv[] = { "env", NULL };
	const char *envp[] = { "PATH=/usr/bin:/bin", "CERTKEEP_BINDING=www", NULL };
	struct ck_proc_result r;
	struct ck_err err;

	(void)state;
	setenv("CK_TEST_SECRET", "hunter2", 1);
	assert_int_equal(ck_proc_run(&ctx, argv, envp, 5000, 0, &r, &err), CK_OK);
	assert_true(ck_proc_ok(&r));
	assert_string_equal(r.output, "PATH=/usr/bin:/bin\nCERTKEEP_BINDING=www\n");
	ck_proc_result_cleanup(&r);
}

static void
output_bounded(void **state)
{
	const char *argv[] = { "sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x", NULL };
	struct ck_proc_result r;
	struct ck_err err;

	(void)state;
	assert_int_equal(ck_proc_run(&ctx, argv, NULL, 5000, 1000, &r, &err), CK_OK);
	assert_true(ck_proc_ok(&r));
	assert_int_equal(r.output_len, 1000);
	assert_int_equal(r.output_dropped, 99000);
	ck_proc_result_cleanup(&r);
}

/* A hang is ended at the timeout, with its children (the process group). */
static void
timeout_ends_group(void **state)
{
	char script[256];
	const char *argv[] = { "sh", "-c", script, NULL };
	struct ck_proc_result r;
	struct ck_err err;
	long long t0 = ck_mono_ms();
	char pidfile[] = "/tmp/ck-proc-XXXXXX", buf[32] = "";
	int fd = mkstemp(pidfile);
	FILE *fp;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	snprintf(script, sizeof(script), "sleep 60 & echo $! > %s; wait", pidfile);
	assert_int_equal(ck_proc_run(&ctx, argv, NULL, 300, 0, &r, &err), CK_OK);
	assert_true(r.timed_out);
	assert_false(ck_proc_ok(&r));
	assert_true(ck_mono_ms() - t0 < 4000);
	fp = fopen(pidfile, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	unlink(pidfile);
	usleep(200000);
	/* the grandchild is gone too (dead: absent, or a zombie nobody reaped) */
	{
		char statpath[64], st[256] = "";
		FILE *sp;

		snprintf(statpath, sizeof(statpath), "/proc/%d/stat", atoi(buf));
		sp = fopen(statpath, "r");
		if (sp != NULL) {
			assert_non_null(fgets(st, sizeof(st), sp));
			fclose(sp);
			assert_non_null(strstr(st, ") Z "));
		}
	}
	ck_proc_result_cleanup(&r);
}

static void
cancel_ends(void **state)
{
	static volatile sig_atomic_t flag = 1;
	const char *argv[] = { "sleep", "30", NULL };
	struct ck_ctx c = ctx;
	struct ck_proc_result r;
	struct ck_err err;
	long long t0 = ck_mono_ms();

	(void)state;
	ck_ctx_set_cancel(&c, &flag);
	assert_int_equal(ck_proc_run(&c, argv, NULL, 30000, 0, &r, &err), CK_OK);
	assert_true(r.cancelled);
	assert_true(ck_mono_ms() - t0 < 4000);
	ck_proc_result_cleanup(&r);
}

/* ck_sleep_ms with a cancel flag returns at once when it is set, not at the end. */
static void
sleep_sees_cancel(void **state)
{
	static volatile sig_atomic_t flag = 1;
	struct ck_ctx c = ctx;
	long long t0 = ck_mono_ms();
	struct ck_err err;

	(void)state;
	ck_ctx_set_cancel(&c, &flag);
	ck_sleep_ms(&c, 10000);
	assert_true(ck_mono_ms() - t0 < 1000);
	assert_true(ck_ctx_cancelled(&c));
	assert_int_equal(ck_cancel_check(&c, "waiting for validation", &err), CK_ERR_CANCELLED);
	assert_non_null(strstr(err.msg, "waiting for validation"));
	assert_false(ck_ctx_cancelled(&ctx));
}

/* What the canceller thread sets and writes, as a signal handler would. */
struct canceller {
	volatile sig_atomic_t *flag;
	int fd;
};

static void *
cancel_later(void *arg)
{
	struct canceller *k = arg;

	ck_sleep_ms(NULL, 150);
	*k->flag = 1;
	assert_int_equal(write(k->fd, "x", 1), 1);
	return NULL;
}

/* With a cancel descriptor, a wait is one sleep on it: it ends when the
 * handler writes to it, and a descriptor readable without the flag set
 * (a misuse) neither ends the wait early nor spins past its end. */
static void
sleep_on_cancel_fd(void **state)
{
	static volatile sig_atomic_t flag;
	struct canceller k;
	struct ck_ctx c = ctx;
	pthread_t t;
	int p[2];
	long long t0, took;

	(void)state;
	flag = 0;
	assert_int_equal(pipe(p), 0);
	ck_ctx_set_cancel(&c, &flag);
	ck_ctx_set_cancel_fd(&c, p[0]);
	k.flag = &flag;
	k.fd = p[1];
	t0 = ck_mono_ms();
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &k), 0);
	ck_sleep_ms(&c, 10000);
	took = ck_mono_ms() - t0;
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(ck_ctx_cancelled(&c));
	assert_true(took >= 100 && took < 2000);
	/* Readable, but nobody cancelled: the whole wait still happens. */
	flag = 0;
	t0 = ck_mono_ms();
	ck_sleep_ms(&c, 300);
	took = ck_mono_ms() - t0;
	assert_true(took >= 300 && took < 3000);
	/* -1 turns it off: the 100 ms slices again. */
	ck_ctx_set_cancel_fd(&c, -1);
	t0 = ck_mono_ms();
	ck_sleep_ms(&c, 120);
	assert_true(ck_mono_ms() - t0 >= 120);
	close(p[0]);
	close(p[1]);
}

static void
not_found_and_not_executable(void **state)
{
	const char *argv1[] = { "/nonexistent/hook", NULL };
	char plain[] = "/tmp/ck-proc-plain-XXXXXX";
	int pfd = mkstemp(plain);
	const char *argv2[] = { plain, NULL };
	const char *argv3[] = { "no-such-program-ck", NULL };
	struct ck_proc_result r;
	struct ck_err err;

	(void)state;
	assert_true(pfd >= 0);
	close(pfd); /* mode 0600: not executable */
	assert_int_equal(ck_proc_run(&ctx, argv1, NULL, 1000, 0, &r, &err), CK_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "/nonexistent/hook"));
	assert_int_equal(ck_proc_run(&ctx, argv2, NULL, 1000, 0, &r, &err), CK_ERR_PERMISSION);
	assert_non_null(strstr(err.msg, "not an executable"));
	unlink(plain);
	assert_int_equal(ck_proc_run(&ctx, argv3, NULL, 1000, 0, &r, &err), CK_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "PATH"));
}

/* A descriptor of ours (the store database, say) is not open in the program. */
static void
no_leaked_fds(void **state)
{
	const char *argv[] = { "sh", "-c", "ls /proc/self/fd", NULL };
	int fd0 = open("/etc/hostname", O_RDONLY); /* deliberately without O_CLOEXEC */
	int fd = fcntl(fd0, F_DUPFD, 40);
	struct ck_proc_result r;
	struct ck_err err;

	(void)state;
	assert_true(fd >= 40);
	assert_int_equal(ck_proc_run(&ctx, argv, NULL, 5000, 0, &r, &err), CK_OK);
	/* 0, 1, 2 and the fd ls opens for /proc/self/fd: nothing else */
	{
		char want[16];

		snprintf(want, sizeof(want), "\n%d\n", fd);
		if (strstr(r.output, want) != NULL)
			fail_msg("fd %d open in the child: %s", fd, r.output);
	}
	close(fd);
	close(fd0);
	ck_proc_result_cleanup(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(run_ok),
		cmocka_unit_test(no_shell),
		cmocka_unit_test(environment_exact),
		cmocka_unit_test(output_bounded),
		cmocka_unit_test(timeout_ends_group),
		cmocka_unit_test(cancel_ends),
		cmocka_unit_test(sleep_sees_cancel),
		cmocka_unit_test(sleep_on_cancel_fd),
		cmocka_unit_test(not_found_and_not_executable),
		cmocka_unit_test(no_leaked_fds),
	};

	ck_ctx_init(&ctx);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
