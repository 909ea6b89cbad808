/*
 * malloc_policy.c - the program's malloc policy: one arena for the whole
 * process, unless the user chose otherwise.  glibc gives each thread that
 * allocates its own arena (up to eight per core); renew's eight workers
 * each grew one to about 1 MiB, a tenth of a 1,000-lineage renewal's peak
 * RSS, while they mostly wait on the network and rarely contend for a
 * shared one (measured: no CPU change, bench/README.md).
 *
 * The CLI's choice, never the library's: libcertkeep sets no process-wide
 * malloc policy for a program that embeds it (such a program may call
 * mallopt(M_ARENA_MAX, 1) itself, before its first thread).
 *
 * Must never: override MALLOC_ARENA_MAX or a glibc.malloc.arena_max
 * tunable the user set; be called once threads exist.
 */
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli/cli.h"

int
cli_one_arena_wanted(const char *arena_max_env, const char *tunables_env)
{
	if (arena_max_env != NULL)
		return 0;
	return tunables_env == NULL || strstr(tunables_env, "glibc.malloc.arena_max") == NULL;
}

int
cli_malloc_policy(void)
{
	int applied = 0;

#if defined(__GLIBC__) && defined(M_ARENA_MAX)
	if (cli_one_arena_wanted(getenv("MALLOC_ARENA_MAX"), getenv("GLIBC_TUNABLES")))
		applied = mallopt(M_ARENA_MAX, 1) == 1;
#endif
	return applied;
}
