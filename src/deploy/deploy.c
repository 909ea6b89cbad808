/*
 * deploy.c - `certkeep deploy NAME` as one call (include/certkeep/deploy.h):
 * the certificate checks (check.c) and the target's own (ops->validate)
 * before anything changes, then render, swap, check, reload, verify, and
 * on any failure after the swap: rollback, reload, verify the old leaf.
 * The store records the start (pending) before the swap and the outcome
 * after, so a crash anywhere is seen by doctor and finished or repeated by
 * the next deploy.
 *
 * Must never: touch a target before every check passed; leave a switched
 * target without trying to put the previous set back; report success
 * without saying whether the handshake proved it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/deploy_int.h"

/* Everything one deploy holds. */
struct dep_run {
	const struct ck_ctx *ctx;
	struct ck_store *st;
	const struct ck_deploy_opts *o;
	struct ck_binding b;
	struct dep_spec spec;
	struct dep_endpoint ep;
	int has_ep;
	struct dep_loaded l;
	struct dep_job job;
	struct dep_files files;
	struct ck_deploy_result *res;
};

static void
run_cleanup(struct dep_run *r)
{
	if (r->job.ops != NULL && r->job.ops->cleanup != NULL)
		r->job.ops->cleanup(&r->job);
	dep_files_cleanup(&r->files);
	dep_loaded_cleanup(&r->l);
	ck_binding_cleanup(&r->b);
}

/* Binding, spec, endpoint, certificate checks, target checks, render: nothing written. */
static enum ck_code
run_prepare(struct dep_run *r, const char *name, struct ck_err *err)
{
	struct dep_job *j = &r->job;
	enum ck_code rc;

	if ((rc = ck_store_binding_get(r->st, name, &r->b, err)) != CK_OK)
		return rc;
	snprintf(r->res->binding, sizeof(r->res->binding), "%s", r->b.name);
	if (r->b.node != NULL && strcmp(r->b.node, ck_ctx_node(r->ctx)) != 0)
		return CK_FAIL(err, CK_ERR_STATE, "binding %s belongs to node %s and this is node "
			       "%s: its target is on that node; run 'certkeep deploy' there (or "
			       "give --node %s on that machine)", r->b.name, r->b.node,
			       ck_ctx_node(r->ctx), r->b.node);
	snprintf(r->res->previous_sha256, sizeof(r->res->previous_sha256), "%s", r->b.last_sha256);
	if ((rc = dep_spec_parse(r->b.target, &r->spec, err)) != CK_OK)
		return rc;
	if (r->b.verify != NULL) {
		if ((rc = dep_endpoint_parse(r->b.verify, &r->ep, err)) != CK_OK)
			return rc;
		r->has_ep = 1;
	}
	if ((j->ops = dep_ops_for(r->spec.kind)) == NULL)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "this build cannot deploy to %s targets",
			       dep_kind_name(r->spec.kind));
	rc = dep_load_checked(r->ctx, r->st, r->b.name, r->b.lineage,
			      r->b.pinned_sha256[0] ? r->b.pinned_sha256 : NULL, r->o->ca_bundle,
			      r->has_ep ? &r->ep : NULL, &r->l, err);
	if (rc != CK_OK)
		return rc;
	snprintf(r->res->sha256, sizeof(r->res->sha256), "%s", r->l.m.sha256);
	j->ctx = r->ctx;
	j->spec = &r->spec;
	j->m = &r->l.m;
	j->reload_cmd = r->b.reload;
	j->verify = r->has_ep ? &r->ep : NULL;
	j->dry_run = r->o->dry_run;
	j->run_timeout_ms = r->o->timeout_s * 1000u;
	snprintf(j->prev_sha256, sizeof(j->prev_sha256), "%s", r->b.last_sha256);
	if ((rc = j->ops->validate(j, err)) != CK_OK)
		return rc;
	return j->ops->render(j, &r->files, err);
}

/*
 * The handshake, seen DEP_VERIFY_CONFIRM times in a row: right after a
 * graceful reload the old workers may still accept a connection or two, so
 * one handshake with the new leaf does not yet prove it is what clients get.
 */
static enum ck_code
run_handshake(struct dep_run *r, const char *expect, struct ck_err *err)
{
	long long deadline = ck_mono_ms() + DEP_VERIFY_BUDGET_MS, left;
	enum ck_code rc;
	int seen;

	for (;;) {
		left = deadline - ck_mono_ms();
		rc = dep_verify_handshake(r->ctx, &r->ep, r->o->ca_bundle, expect,
					  left > 0 ? (unsigned)left : 0, r->res->served_sha256, err);
		if (rc != CK_OK)
			return rc;
		for (seen = 1; seen < DEP_VERIFY_CONFIRM; seen++)
			if (dep_verify_handshake(r->ctx, &r->ep, r->o->ca_bundle, expect, 0,
						 r->res->served_sha256, err) != CK_OK)
				break;
		if (seen == DEP_VERIFY_CONFIRM)
			return CK_OK;
		if (deadline - ck_mono_ms() <= 0)
			return err->code;
	}
}

/* Proves expect is served: the kind's own proof, else the handshake; CK_OK with
 * *proved = 0 when the binding has no --verify. */
static enum ck_code
run_verify(struct dep_run *r, const char *expect, int *proved, struct ck_err *err)
{
	enum ck_code rc;

	*proved = 0;
	if (r->job.ops->verify != NULL)
		rc = r->job.ops->verify(&r->job, expect, err);
	else if (r->has_ep)
		rc = run_handshake(r, expect, err);
	else
		return CK_OK;
	if (rc == CK_OK)
		*proved = 1;
	return rc;
}

/* Already deployed: recorded, nothing pending, the files agree, and the handshake (if any). */
static int
run_unchanged(struct dep_run *r)
{
	char sha[65];
	struct ck_err e;
	int proved = 0, complete = 0;

	memset(&e, 0, sizeof(e));
	if (strcmp(r->b.last_sha256, r->l.m.sha256) != 0 || r->b.pending_sha256[0] != '\0' ||
	    r->b.state == NULL || strcmp(r->b.state, "deployed") != 0)
		return 0;
	/* The files must still be the deployed set, whole: one edited or
	 * replaced behind our back is deployed again, not called unchanged. */
	if (r->spec.kind != DEP_KIND_EXEC &&
	    (dep_files_read(&r->spec, sha, &complete, &e) != CK_OK || !complete ||
	     strcmp(sha, r->l.m.sha256) != 0))
		return 0;
	return run_verify(r, r->l.m.sha256, &proved, &e) == CK_OK;
}

/* Records the outcome (a failure to record is added to the message, not fatal). */
static void
run_record(struct dep_run *r, const char *state, const char *sha, const char *gen)
{
	struct ck_binding_outcome o = { state, r->res->message, sha, gen };
	struct ck_err e;

	memset(&e, 0, sizeof(e));
	if (ck_store_binding_deploy_end(r->st, r->b.name, &o, &e) != CK_OK) {
		size_t n = strlen(r->res->message);

		snprintf(r->res->message + n, sizeof(r->res->message) - n,
			 " (and the store could not record it: %s)", e.msg);
	}
}

/* After `step` failed with why: back to the previous set, reload, verify it. */
static enum ck_code
run_rollback(struct dep_run *r, const char *step, const struct ck_err *why, struct ck_err *err)
{
	struct dep_job *j = &r->job;
	char gen[DEP_PATH_MAX + DEP_GEN_NAME_MAX + 2] = "", more[CK_ERR_MSG_MAX] = "";
	struct ck_err e;
	int proved = 0;

	memset(&e, 0, sizeof(e));
	if (j->ops->rollback(j, &e) != CK_OK) {
		r->res->state = "failed";
		snprintf(r->res->message, sizeof(r->res->message), "%s failed: %s; rollback failed "
			 "too: %s", step, why->msg, e.msg);
		run_record(r, "failed", NULL, NULL);
		return CK_FAIL(err, why->code, "%s", r->res->message);
	}
	CK_FAULT("deploy.rolledback");
	r->res->rolled_back = 1;
	if (j->gen_prev[0])
		snprintf(gen, sizeof(gen), "%s/%s", j->gen_root, j->gen_prev);
	if (j->ops->reload != NULL && j->ops->reload(j, &e) != CK_OK)
		snprintf(more, sizeof(more), "; the reload after it failed too (%s)", e.msg);
	if (j->prev_sha256[0] && run_verify(r, j->prev_sha256, &proved, &e) != CK_OK)
		snprintf(more + strlen(more), sizeof(more) - strlen(more),
			 "; the old certificate was NOT seen by handshake: %s", e.msg);
	r->res->rollback_verified = proved;
	snprintf(r->res->message, sizeof(r->res->message), "%s failed: %s; rolled back to %s%s%s",
		 step, why->msg, gen[0] ? gen : "the previous set", more,
		 proved ? "; the old certificate is served (verified by handshake)" : "");
	r->res->state = "rolled-back";
	run_record(r, "rolled-back", NULL, gen[0] ? gen : NULL);
	return CK_FAIL(err, why->code, "%s", r->res->message);
}

/* Swap, check, reload, verify; rollback on failure after the switch. */
static enum ck_code
run_steps(struct dep_run *r, struct ck_err *err)
{
	static const char *const steps[] = { "configuration test", "reload", "verification" };
	struct dep_job *j = &r->job;
	char gen[DEP_PATH_MAX + DEP_GEN_NAME_MAX + 2];
	struct ck_err why;
	enum ck_code rc = CK_OK;
	int step, proved = 0;

	memset(&why, 0, sizeof(why));
	if ((rc = ck_store_binding_deploy_begin(r->st, r->b.name, r->l.m.sha256, err)) != CK_OK)
		return rc;
	CK_FAULT("deploy.begin");
	if ((rc = j->ops->swap(j, &r->files, &why)) != CK_OK) {
		if (j->switched)
			return run_rollback(r, "switching to the new set", &why, err);
		r->res->state = "failed";
		snprintf(r->res->message, sizeof(r->res->message), "%s", why.msg);
		run_record(r, "failed", NULL, NULL);
		return CK_FAIL(err, rc, "%s", why.msg);
	}
	CK_FAULT("deploy.swapped");
	for (step = 0; step < 3; step++) {
		if ((rc = ck_cancel_check(r->ctx, "deploy", &why)) != CK_OK)
			return run_rollback(r, "the deploy", &why, err);
		if (step == 0 && j->ops->check != NULL)
			rc = j->ops->check(j, &why);
		else if (step == 1 && j->ops->reload != NULL)
			rc = j->ops->reload(j, &why);
		else if (step == 2)
			rc = run_verify(r, r->l.m.sha256, &proved, &why);
		if (rc != CK_OK)
			return run_rollback(r, steps[step], &why, err);
		CK_FAULT(step == 0 ? "deploy.checked" : step == 1 ? "deploy.reloaded"
							 : "deploy.verified");
	}
	r->res->verified = proved;
	gen[0] = '\0';
	if (j->gen_root[0]) /* an exec target has no generation directory */
		snprintf(gen, sizeof(gen), "%s/%s", j->gen_root, j->gen_new);
	snprintf(r->res->generation, sizeof(r->res->generation), "%s", gen);
	snprintf(r->res->message, sizeof(r->res->message), "deployed %.16s to %s%s", r->l.m.sha256,
		 gen[0] ? gen : r->b.target,
		 proved ? "; the new certificate is served (verified by handshake)"
			: r->has_ep ? "" : "; not verified (the binding has no --verify)");
	r->res->state = "deployed";
	run_record(r, "deployed", r->l.m.sha256, gen[0] ? gen : NULL);
	if (j->gen_root[0])
		(void)dep_gen_prune(j->gen_root, DEP_GEN_KEEP, j->gen_prev, &why);
	return CK_OK;
}

enum ck_code
ck_deploy(const struct ck_ctx *ctx, struct ck_store *st, const char *name,
	  const struct ck_deploy_opts *o, struct ck_deploy_result *out, struct ck_err *err)
{
	static const struct ck_deploy_opts dflt;
	struct dep_run r;
	enum ck_code rc;

	memset(&r, 0, sizeof(r));
	memset(out, 0, sizeof(*out));
	r.ctx = ctx;
	r.st = st;
	r.o = o != NULL ? o : &dflt;
	r.res = out;
	out->state = "refused";
	rc = run_prepare(&r, name, err);
	if (rc != CK_OK) {
		snprintf(out->message, sizeof(out->message), "refused, nothing was changed: %s",
			 err->msg);
		ck_err_prefix(err, "deploy %s refused, nothing was changed", name);
		goto out;
	}
	if (r.o->dry_run) {
		out->state = "would-deploy";
		snprintf(out->message, sizeof(out->message), "would deploy %.16s to %s (all checks "
			 "passed)", r.l.m.sha256, r.b.target);
	} else if (run_unchanged(&r)) {
		out->state = "unchanged";
		out->verified = r.has_ep;
		snprintf(out->generation, sizeof(out->generation), "%s",
			 r.b.generation ? r.b.generation : "");
		snprintf(out->message, sizeof(out->message), "%.16s is already deployed to %s",
			 r.l.m.sha256, r.b.target);
	} else {
		rc = run_steps(&r, err);
	}
out:
	run_cleanup(&r);
	return rc;
}

/* Deploys each binding of bl that keep() accepts; see ck_deploy_node. */
static enum ck_code
deploy_list(const struct ck_ctx *ctx, struct ck_store *st, const struct ck_deploy_opts *o,
	    const struct ck_binding_list *bl, const char *lineage, ck_deploy_each_fn each,
	    void *each_arg, size_t *deployed, struct ck_err *err)
{
	struct ck_deploy_result res;
	struct ck_err e;
	size_t i, failed = 0, done = 0;
	enum ck_code rc;

	for (i = 0; i < bl->n; i++) {
		const struct ck_binding *b = &bl->items[i];

		if (lineage != NULL && (b->lineage == NULL || strcmp(b->lineage, lineage) != 0))
			continue;
		ck_err_clear(&e);
		rc = ck_deploy(ctx, st, b->name, o, &res, &e);
		if (res.binding[0] == '\0')
			snprintf(res.binding, sizeof(res.binding), "%s", b->name);
		if (each != NULL)
			each(each_arg, &res, rc, &e);
		if (rc == CK_OK) {
			done++;
			continue;
		}
		/* Every binding gets its turn; the first failure is the one reported. */
		if (failed++ == 0 && err != NULL)
			*err = e;
	}
	if (deployed != NULL)
		*deployed = done;
	if (failed > 1)
		ck_err_prefix(err, "%zu bindings%s%s failed to deploy; the first", failed,
			      lineage ? " of lineage " : "", lineage ? lineage : "");
	return failed > 0 ? (err != NULL ? err->code : CK_ERR_STATE) : CK_OK;
}

enum ck_code
ck_deploy_lineage(const struct ck_ctx *ctx, struct ck_store *st, const char *lineage,
		  const struct ck_deploy_opts *o, size_t *deployed, struct ck_err *err)
{
	struct ck_binding_list bl = { NULL, 0 };
	enum ck_code rc;

	if (deployed != NULL)
		*deployed = 0;
	if ((rc = ck_store_bindings_of_node(st, ck_ctx_node(ctx), 0, &bl, err)) != CK_OK)
		return rc;
	rc = deploy_list(ctx, st, o, &bl, lineage, NULL, NULL, deployed, err);
	ck_binding_list_cleanup(&bl);
	return rc;
}

enum ck_code
ck_deploy_node(const struct ck_ctx *ctx, struct ck_store *st, const struct ck_deploy_opts *o,
	       int behind_only, ck_deploy_each_fn each, void *each_arg, size_t *deployed,
	       struct ck_err *err)
{
	struct ck_binding_list bl = { NULL, 0 };
	enum ck_code rc;

	if (deployed != NULL)
		*deployed = 0;
	if ((rc = ck_store_bindings_of_node(st, ck_ctx_node(ctx), behind_only, &bl, err)) != CK_OK)
		return rc;
	rc = deploy_list(ctx, st, o, &bl, NULL, each, each_arg, deployed, err);
	ck_binding_list_cleanup(&bl);
	return rc;
}
