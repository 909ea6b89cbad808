/*
 * measure.c - the benchmark's launcher: runs one command and writes its wall
 * time, CPU time and peak RSS to a file.
 *
 *   measure -o OUT [-b SRC:DST] -- PROGRAM [ARG]...
 *
 * OUT gets one line: "wall_ns user_us sys_us maxrss_kib wait_status".  The
 * exit status is the command's (126/127 when it could not be started).
 *
 * Why C and not Python: a child's ru_maxrss includes the peak RSS of the
 * process image it was forked from (Linux records the old mm's high-water
 * mark at exec), so a child of the Python driver would report at least the
 * driver's ~10 MiB.  Forked from this small program the floor is ~1 MiB.
 *
 * -b SRC:DST first moves this process into a private mount namespace and
 * bind-mounts SRC over DST there (for uacme, which can only trust the system
 * CA store): the real mount table is never changed.  That set-up happens
 * before the clock starts.
 *
 * Never does: anything with the command's input or output (inherited as is).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int
bind_private(char *spec)
{
	char *dst = strchr(spec, ':');

	if (dst == NULL) {
		fprintf(stderr, "measure: -b wants SRC:DST, got %s\n", spec);
		return -1;
	}
	*dst++ = '\0';
	if (unshare(CLONE_NEWNS) != 0) {
		fprintf(stderr, "measure: unshare(CLONE_NEWNS): %s (needs root or "
		    "CAP_SYS_ADMIN); nothing was mounted\n", strerror(errno));
		return -1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		fprintf(stderr, "measure: making / private in the new namespace: %s; "
		    "nothing was mounted\n", strerror(errno));
		return -1;
	}
	if (mount(spec, dst, NULL, MS_BIND, NULL) != 0) {
		fprintf(stderr, "measure: bind-mounting %s over %s: %s\n", spec, dst,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static long long
elapsed_ns(const struct timespec *a, const struct timespec *b)
{
	return (long long)(b->tv_sec - a->tv_sec) * 1000000000LL +
	    (long long)(b->tv_nsec - a->tv_nsec);
}

static long long
tv_us(const struct timeval *tv)
{
	return (long long)tv->tv_sec * 1000000LL + (long long)tv->tv_usec;
}

int
main(int argc, char **argv)
{
	const char *out = NULL;
	struct timespec t0, t1;
	struct rusage ru;
	FILE *fp;
	pid_t pid;
	int c, status = 0;

	while ((c = getopt(argc, argv, "+o:b:")) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'b':
			if (bind_private(optarg) != 0)
				return 126;
			break;
		default:
			return 126;
		}
	}
	if (out == NULL || optind >= argc) {
		fprintf(stderr, "usage: measure -o OUT [-b SRC:DST] -- PROGRAM [ARG]...\n");
		return 126;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		perror("measure: fork");
		return 126;
	}
	if (pid == 0) {
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "measure: cannot run %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("measure: wait4");
			return 126;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if ((fp = fopen(out, "w")) == NULL) {
		fprintf(stderr, "measure: cannot write %s: %s\n", out, strerror(errno));
		return 126;
	}
	fprintf(fp, "%lld %lld %lld %ld %d\n", elapsed_ns(&t0, &t1), tv_us(&ru.ru_utime),
	    tv_us(&ru.ru_stime), ru.ru_maxrss, status);
	if (fclose(fp) != 0)
		return 126;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
