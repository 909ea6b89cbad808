/*
 * proc.c - runs another program the way certkeep must: no shell, a given
 * environment, stdin from /dev/null, stdout and stderr captured (bounded),
 * a timeout after which the whole process group is ended, and no file
 * descriptor of ours leaking into it.  Used by DNS hooks, reload and
 * config-test commands and exec deploy targets.  Never logs the output:
 * callers decide what of it may be shown.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "core/core.h"

#define PROC_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PROC_TERM_GRACE_MS 2000   /* SIGTERM, then this long, then SIGKILL */
#define PROC_DRAIN_MS 200         /* output read after the child exits (a daemon may keep the pipe) */

long long
ck_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned long
ck_random_below(unsigned long n)
{
	unsigned long v = 0;

	if (n == 0)
		return 0;
	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		v = (unsigned long)ck_mono_ms() ^ (unsigned long)getpid();
	return v % n;
}

/* PATH from envp, else the default. */
static const char *
proc_path_var(const char *const *envp)
{
	size_t i;

	for (i = 0; envp != NULL && envp[i] != NULL; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			return envp[i] + 5;
	return PROC_DEFAULT_PATH;
}

/* An executable regular file? */
static int
proc_is_exec(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0;
}

/* Resolves argv0 to a path before the fork (the child may only make async-signal-safe calls). */
static enum ck_code
proc_resolve(const char *argv0, const char *const *envp, char *out, size_t n, struct ck_err *err)
{
	const char *p, *end;
	char shown[128];

	ck_str_printable(shown, sizeof(shown), argv0);
	if (argv0[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "an empty program name cannot be run");
	if (strchr(argv0, '/') != NULL) {
		if (snprintf(out, n, "%s", argv0) >= (int)n)
			return CK_FAIL(err, CK_ERR_INVALID_ARG, "program path %s is too long", shown);
		if (access(out, F_OK) != 0)
			return CK_FAIL(err, CK_ERR_NOT_FOUND, "program %s does not exist", shown);
		if (!proc_is_exec(out))
			return CK_FAIL(err, CK_ERR_PERMISSION,
				       "program %s is not an executable file (chmod +x?)", shown);
		return CK_OK;
	}
	for (p = proc_path_var(envp); *p != '\0'; p = *end ? end + 1 : end) {
		size_t len;

		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		len = (size_t)(end - p);
		if (len == 0)
			continue;
		if (snprintf(out, n, "%.*s/%s", (int)len, p, argv0) >= (int)n)
			continue;
		if (proc_is_exec(out))
			return CK_OK;
	}
	return CK_FAIL(err, CK_ERR_NOT_FOUND, "program %s is not found in PATH (%s)", shown,
		       proc_path_var(envp));
}

/* In the child: only async-signal-safe calls from here to execve. */
static void __attribute__((noreturn))
proc_child(const char *path, const char *const *argv, const char *const *envp, int out_fd,
	   int errpipe)
{
	static const char *const default_env[] = { "PATH=" PROC_DEFAULT_PATH, NULL };
	int devnull = open("/dev/null", O_RDONLY);
	int e;

	(void)setpgid(0, 0);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
		goto fail;
	/* Nothing of ours (store database, sockets, keys) reaches the program;
	 * errpipe (close-on-exec) moves to 3 and stays open until execve. */
	if (errpipe != 3) {
		if (dup3(errpipe, 3, O_CLOEXEC) < 0)
			goto fail;
		errpipe = 3;
	}
	if (close_range(4, ~0U, 0) != 0)
		for (e = 4; e < 65536; e++)
			(void)close(e);
	{
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		(void)sigaction(SIGINT, &dfl, NULL);
		(void)sigaction(SIGTERM, &dfl, NULL);
		(void)sigaction(SIGPIPE, &dfl, NULL);
	}
	execve(path, (char *const *)argv, (char *const *)(envp ? envp : default_env));
fail:
	e = errno;
	(void)!write(errpipe, &e, sizeof(e));
	_exit(127);
}

/* Ends the child's process group: SIGTERM, then SIGKILL after the grace. */
static void
proc_end(pid_t pid, int *status)
{
	long long until = ck_mono_ms() + PROC_TERM_GRACE_MS;

	(void)kill(-pid, SIGTERM);
	while (ck_mono_ms() < until) {
		if (waitpid(pid, status, WNOHANG) == pid) {
			(void)kill(-pid, SIGKILL); /* what it left behind in its group */
			return;
		}
		(void)poll(NULL, 0, 20);
	}
	(void)kill(-pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

/* Reads what is there into out (bounded; the excess is counted and dropped). 0 at EOF. */
static int
proc_read(int fd, struct ck_buf *out, size_t *dropped)
{
	char chunk[4096];
	ssize_t got = read(fd, chunk, sizeof(chunk));

	if (got < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (got == 0)
		return 0;
	if (out->len + (size_t)got > out->max) {
		size_t room = out->max - out->len;

		*dropped += (size_t)got - room;
		got = (ssize_t)room;
	}
	if (got > 0 && ck_buf_append(out, chunk, (size_t)got, NULL) != CK_OK)
		*dropped += (size_t)got;
	return 1;
}

/* Waits for the child, collecting output, until it exits, times out or ctx is cancelled. */
static void
proc_wait(const struct ck_ctx *ctx, pid_t pid, int fd, unsigned timeout_ms, struct ck_buf *buf,
	  struct ck_proc_result *r)
{
	long long deadline = ck_mono_ms() + timeout_ms, drain_until = 0;
	int status = 0, open_fd = 1, exited = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN, .revents = 0 };
		long long now = ck_mono_ms();

		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = 1;
			drain_until = now + PROC_DRAIN_MS;
		}
		if (exited && (!open_fd || now >= drain_until))
			break;
		if (!exited && (now >= deadline || ck_ctx_cancelled(ctx))) {
			r->timed_out = now >= deadline;
			r->cancelled = !r->timed_out;
			proc_end(pid, &status);
			exited = 1;
			break;
		}
		if (!open_fd) {
			(void)poll(NULL, 0, 20);
			continue;
		}
		if (poll(&pfd, 1, 50) > 0 && !proc_read(fd, buf, &r->output_dropped))
			open_fd = 0;
	}
	while (open_fd && poll(&(struct pollfd){ .fd = fd, .events = POLLIN, .revents = 0 }, 1, 0) > 0 &&
	       proc_read(fd, buf, &r->output_dropped))
		;
	if (WIFEXITED(status)) {
		r->exited = 1;
		r->status = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		r->signal = WTERMSIG(status);
	}
}

enum ck_code
ck_proc_run(const struct ck_ctx *ctx, const char *const *argv, const char *const *envp,
	    unsigned timeout_ms, size_t max_output, struct ck_proc_result *out,
	    struct ck_err *err)
{
	char path[4096], shown[128];
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, child_errno = 0;
	struct ck_buf buf;
	pid_t pid;
	ssize_t got;
	enum ck_code rc;

	memset(out, 0, sizeof(*out));
	ck_buf_init(&buf, max_output ? max_output : CK_PROC_OUTPUT_MAX);
	if (argv == NULL || argv[0] == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no program to run");
	ck_str_printable(shown, sizeof(shown), argv[0]);
	if ((rc = proc_resolve(argv[0], envp, path, sizeof(path), err)) != CK_OK)
		return rc;
	if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
		rc = CK_FAIL(err, CK_ERR_IO, "cannot run %s: pipe: %s", shown, strerror(errno));
		goto out;
	}
	if ((pid = fork()) < 0) {
		rc = CK_FAIL(err, CK_ERR_IO, "cannot run %s: fork: %s", shown, strerror(errno));
		goto out;
	}
	if (pid == 0)
		proc_child(path, argv, envp, outp[1], errp[1]);
	(void)setpgid(pid, pid); /* also here: no race with an early kill(-pid) */
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	while ((got = read(errp[0], &child_errno, sizeof(child_errno))) < 0 && errno == EINTR)
		;
	if (got == (ssize_t)sizeof(child_errno)) {
		int st;

		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		rc = CK_FAIL(err, child_errno == EACCES ? CK_ERR_PERMISSION : CK_ERR_IO,
			     "cannot run %s: %s", shown, strerror(child_errno));
		goto out;
	}
	(void)fcntl(outp[0], F_SETFL, O_NONBLOCK);
	proc_wait(ctx, pid, outp[0], timeout_ms, &buf, out);
	if (buf.data == NULL && (rc = ck_buf_append(&buf, "", 0, err)) != CK_OK)
		goto out;
	out->output_len = buf.len;
	out->output = (char *)ck_buf_take(&buf, &out->output_len);
	rc = CK_OK;
out:
	ck_buf_cleanup(&buf);
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	return rc;
}

int
ck_proc_ok(const struct ck_proc_result *r)
{
	return r->exited && r->status == 0 && !r->timed_out && !r->cancelled;
}

void
ck_proc_describe(const struct ck_proc_result *r, unsigned timeout_ms, char *buf, size_t n)
{
	if (r->timed_out)
		snprintf(buf, n, "did not finish within %u s and was ended", (timeout_ms + 999) / 1000);
	else if (r->cancelled)
		snprintf(buf, n, "was ended on request");
	else if (r->exited)
		snprintf(buf, n, "exited with status %d", r->status);
	else
		snprintf(buf, n, "was killed by signal %d", r->signal);
}

void
ck_proc_result_cleanup(struct ck_proc_result *r)
{
	if (r == NULL)
		return;
	free(r->output);
	memset(r, 0, sizeof(*r));
}
