/*
 * fault.c - fault points for crash-safety tests.  Compiled only with
 * -Dfault_injection=true; a production build has no way to be told to
 * abort.  Uses a process-local counter (the one piece of mutable static
 * state in core, confined to test builds), atomic: a worker pool passes its
 * fault points from several threads, and "the Nth pass" must be the Nth of
 * all of them (tests/unit/test_core_fault.c).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#ifdef CK_FAULT_INJECTION
static atomic_ulong fault_hits;

void
ck_fault_point(const char *name)
{
	const char *want = getenv("CERTKEEP_FAULT");
	const char *logpath = getenv("CERTKEEP_FAULT_LOG");

	if (logpath != NULL && logpath[0] != '\0') {
		FILE *fp = fopen(logpath, "a");
		if (fp != NULL) {
			fprintf(fp, "%s\n", name);
			fclose(fp);
		}
	}
	if (want == NULL || want[0] == '\0')
		return;
	{
		const char *colon = strrchr(want, ':');
		size_t n = colon ? (size_t)(colon - want) : strlen(want);
		unsigned long nth = colon ? strtoul(colon + 1, NULL, 10) : 1;
		if (strlen(name) != n || strncmp(name, want, n) != 0)
			return;
		/* Exactly one thread sees the Nth pass. */
		if (atomic_fetch_add(&fault_hits, 1) + 1 != (nth ? nth : 1))
			return;
	}
	fprintf(stderr, "certkeep: fault point %s reached: aborting\n", name);
	fflush(stderr);
	abort();
}
#endif
