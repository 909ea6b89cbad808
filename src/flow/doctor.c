/*
 * doctor.c - the doctor's order: repair, prune, then check (see doctor.h).
 *
 * Must never: report findings gathered before a repair or prune that
 * changed them, or drop an action a step reported.
 */
#include <stdlib.h>
#include <string.h>

#include "flow/doctor.h"

/* Appends the items of from to to (moving ownership). */
static enum ck_code
doctor_take(struct ck_findings *to, struct ck_findings *from, struct ck_err *err)
{
	struct ck_finding *p;

	if (from->n == 0)
		return CK_OK;
	p = realloc(to->items, (to->n + from->n) * sizeof(*p));
	if (p == NULL)
		return CK_OOM(err);
	memcpy(p + to->n, from->items, from->n * sizeof(*p));
	to->items = p;
	to->n += from->n;
	free(from->items);
	from->items = NULL;
	from->n = 0;
	return CK_OK;
}

enum ck_code
ck_doctor_run(struct ck_store *st, const struct ck_doctor_run_opts *o,
	      struct ck_doctor_report *out, struct ck_err *err)
{
	struct ck_findings one = { NULL, 0 };
	enum ck_code rc = CK_OK;

	if (o->repair && ((rc = ck_store_doctor_repair(st, &one, err)) != CK_OK ||
			  (rc = doctor_take(&out->actions, &one, err)) != CK_OK))
		goto out;
	if (o->prune && ((rc = ck_store_doctor_prune(st, &one, err)) != CK_OK ||
			 (rc = doctor_take(&out->actions, &one, err)) != CK_OK))
		goto out;
	if ((rc = ck_store_doctor(st, &o->check, &out->found, err)) != CK_OK)
		goto out;
	rc = ck_doctor_tokens(st, o->repair, o->check.now, &out->actions, &out->found, err);
out:
	ck_findings_cleanup(&one);
	return rc;
}

void
ck_doctor_report_cleanup(struct ck_doctor_report *r)
{
	if (r == NULL)
		return;
	ck_findings_cleanup(&r->actions);
	ck_findings_cleanup(&r->found);
}
