/*
 * doctor_due.c - CK-D021 due-late: a lineage's stored next look
 * (lineages.due_at, migration 15) later than the time it is due by the
 * stored rules (due.c, the renewal plan's own rule) means renew --all
 * skips it past that time: it is renewed late, or not before it expires.
 * Repair sets such a due_at to "compute now" as the triggers do.
 *
 * The bound, from the current certificate and the renewal row only (no
 * network): at once for a revoked or keyless certificate or none; else
 * the stored ARI moment for it or the lifetime rule, and, while a stored
 * ARI window's ari_next is still ahead, no later than that (a plan that
 * read the row before ari_next stored at most ari_next; one after it asked
 * renewalInfo again, or could not and stored at most the moment).  A plan
 * never stores a later value, so a finding is a store written by hand, a
 * restore, or a bug.
 */
#include <string.h>

#include "store/doctor_int.h"
#include "store/renewal.h"

#define DUE_PAGE 1000 /* lineages read per page */

/* What one pass over the lineages needs. */
struct due_pass {
	time_t now;
	struct ck_findings *f;      /* findings (check) or actions (repair) */
	int repair;
};

/* The latest bound on lineage i of pg's due_at; *why says which rule. */
static time_t
due_bound(const struct due_pass *d, const struct ck_due_page *pg, size_t i, const char **why)
{
	const struct ck_lineage_current *cur = &pg->cur[i];
	const struct ck_renewal *r = pg->ren[i].lineage[0] != '\0' ? &pg->ren[i] : NULL;
	time_t bound;

	if (cur->cert_id == 0 || cur->revoked_at != 0 || !cur->linked) {
		*why = cur->cert_id == 0 ? "it has no current certificate"
		       : cur->revoked_at != 0 ? "its certificate is revoked"
					      : "its certificate's key is gone";
		return d->now;
	}
	bound = ck_due_moment(cur, r);
	*why = ck_due_ari_stored(r, cur->sha256) ? "the moment chosen in its ARI window"
						  : "the lifetime rule";
	if (ck_due_ari_stored(r, cur->sha256) && r->ari_next > d->now && r->ari_next < bound) {
		bound = r->ari_next;
		*why = "when its ARI window is to be asked again";
	}
	return bound;
}

/* One late lineage: a finding, or (repair) its due_at reset and an action. */
static enum ck_code
due_late(struct ck_store *st, const struct due_pass *d, const struct ck_lineage *lin,
	 time_t due_at, time_t bound, const char *why, struct ck_err *err)
{
	char at[21], by[21];
	enum ck_code rc;

	ck_time_rfc3339(due_at, at);
	ck_time_rfc3339(bound > d->now ? bound : d->now, by);
	if (!d->repair)
		return dr_add(d->f, DR_DUE_LATE, dr_default_severity(DR_DUE_LATE), 0, 0,
			      st_printf("lineage %s", lin->name),
			      st_printf("lineage %s is next looked at %s, but it is due by %s "
					"(%s): renew --all skips it until then", lin->name, at,
					by, why),
			      st_printf("certkeep doctor --repair (the next renew computes it "
					"again)"),
			      err);
	if ((rc = st_due_reset_tx(st, lin->name, err)) != CK_OK)
		return rc;
	return dr_fixed(d->f, DR_DUE_LATE, 0, 0, st_printf("lineage %s", lin->name),
			st_printf("lineage %s's next look (%s, after its due time %s) reset: the "
				  "next renew computes it", lin->name, at, by), err);
}

/* Every lineage, page by page, against its bound. */
static enum ck_code
due_pass_run(struct ck_store *st, struct due_pass *d, struct ck_err *err)
{
	struct ck_due_cursor at = CK_DUE_CURSOR_START;
	struct ck_due_page pg;
	enum ck_code rc = CK_OK;
	const char *why;
	time_t bound;
	size_t i;
	int more = 1;

	while (rc == CK_OK && more) {
		memset(&pg, 0, sizeof(pg));
		if ((rc = ck_store_due_page(st, -1, &at, DUE_PAGE, &pg, err)) != CK_OK)
			break;
		more = pg.n == DUE_PAGE;
		for (i = 0; i < pg.n && rc == CK_OK; i++) {
			bound = due_bound(d, &pg, i, &why);
			if (pg.due_at[i] > d->now && pg.due_at[i] > bound)
				rc = due_late(st, d, &pg.lins[i], pg.due_at[i], bound, why, err);
		}
		ck_due_page_cleanup(&pg);
	}
	return rc;
}

enum ck_code
dr_check_due(struct ck_store *st, const struct ck_doctor_opts *o, struct ck_findings *f,
	     struct ck_err *err)
{
	struct due_pass d = { o->now, f, 0 };

	return due_pass_run(st, &d, err);
}

enum ck_code
dr_repair_due(struct ck_store *st, struct ck_findings *f, struct ck_err *err)
{
	struct due_pass d = { st_now(st), f, 1 };

	return due_pass_run(st, &d, err);
}
