/*
 * certkeep/doctor.h - `certkeep doctor` as one call: the order in which the store's
 * repair (relinks, never deletes), prune (orphan keys only) and checks run,
 * so that the findings reported are what remains after the changes asked
 * for.  The store decides what is wrong and what may be changed
 * (ck_store_doctor*, certkeep/store.h); this file only decides the order.
 */
#ifndef CERTKEEP_DOCTOR_H
#define CERTKEEP_DOCTOR_H

#include <certkeep/store.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ck_doctor_run_opts {
	struct ck_doctor_opts check; /* what ck_store_doctor reports */
	int repair;                  /* run ck_store_doctor_repair first */
	int prune;                   /* then ck_store_doctor_prune */
};

struct ck_doctor_report {
	struct ck_findings actions;  /* what repair and prune did, in that order */
	struct ck_findings found;    /* the findings that remain after them */
};

/*
 * Repair (if asked), then prune (if asked), then the checks, each with its
 * own transactions (a failure keeps what an earlier step committed).
 * *out must be zeroed; on failure it holds what was done so far and must
 * still be cleaned up.  The store is clean when out->found.n == 0.
 */
CK_API enum ck_code ck_doctor_run(struct ck_store *st, const struct ck_doctor_run_opts *o,
				  struct ck_doctor_report *out, struct ck_err *err);
CK_API void ck_doctor_report_cleanup(struct ck_doctor_report *r);

#ifdef __cplusplus
}
#endif
#endif
