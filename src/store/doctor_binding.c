/*
 * doctor_binding.c - doctor's checks of what bindings deployed (issue 9):
 * a binding whose deployed certificate is not the one it should serve now
 * (its lineage renewed, or its pin changed, and no deploy followed), and a
 * binding that serves an expired certificate.  The files on disk are the
 * deploy room's check (ck_deploy_doctor): the store knows no targets.
 *
 * Must never: change the store.
 */
#include "store/doctor_int.h"

/* One binding whose deployed certificate differs from the wanted one (st_row_visit). */
static enum ck_code
check_one_stale(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	struct ck_findings *f = arg;
	char name[CK_STORE_NAME_MAX + 1], last[65], want[65];

	(void)st;
	st_col_copy(s, 0, name, sizeof(name));
	st_col_copy(s, 1, last, sizeof(last));
	st_col_copy(s, 2, want, sizeof(want));
	return dr_add(f, DR_BINDING_STALE, CK_SEV_WARNING, st_col_int64(s, 3), 0,
		      st_printf("binding %s", name),
		      st_printf("binding %s deployed certificate %.16s, but should serve %.16s "
				"(its lineage was renewed, or its pin changed) and no deploy followed",
				name, last, want),
		      st_printf("certkeep deploy %s", name), err);
}

/* One binding whose deployed certificate has expired (st_row_visit). */
static enum ck_code
check_one_expired(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	struct ck_findings *f = arg;
	char name[CK_STORE_NAME_MAX + 1], sha[65], when[21];

	(void)st;
	st_col_copy(s, 0, name, sizeof(name));
	st_col_copy(s, 1, sha, sizeof(sha));
	ck_time_rfc3339((time_t)st_col_int64(s, 3), when);
	return dr_add(f, DR_BINDING_EXPIRED, CK_SEV_ERROR, st_col_int64(s, 2), 0,
		      st_printf("binding %s", name),
		      st_printf("binding %s serves certificate %.16s, which expired at %s", name,
				sha, when),
		      st_printf("renew it (certkeep issue) and run certkeep deploy %s", name), err);
}

enum ck_code
dr_check_deploys(struct ck_store *st, const struct ck_doctor_opts *o, struct ck_findings *f,
		 struct ck_err *err)
{
	enum ck_code rc;

	rc = st_each_row(st, err, check_one_stale, f,
			 "SELECT b.name, b.last_sha256, c.sha256, c.id FROM bindings b "
			 "JOIN certificates c ON "
			 "(b.pinned_sha256 IS NOT NULL AND c.sha256 = b.pinned_sha256) OR "
			 "(b.lineage IS NOT NULL AND c.id = (SELECT l.current_cert_id FROM "
			 "lineages l WHERE l.name = b.lineage)) "
			 "WHERE b.last_sha256 IS NOT NULL AND b.last_sha256 <> c.sha256 "
			 "ORDER BY b.name", "");
	if (rc != CK_OK)
		return rc;
	return st_each_row(st, err, check_one_expired, f,
			   "SELECT b.name, c.sha256, c.id, c.not_after FROM bindings b "
			   "JOIN certificates c ON c.sha256 = b.last_sha256 "
			   "WHERE c.not_after <= ? ORDER BY b.name", "i", (int64_t)o->now);
}
