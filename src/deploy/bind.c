/*
 * bind.c - `certkeep bind` as one call (include/certkeep/deploy.h): the
 * target spec and --verify endpoint parsed into types, the reload command
 * split, the certificate put through the same checks a deploy runs, the
 * target's own checks, and only then the binding stored (canonical text).
 *
 * Must never: store a binding that names nothing, or a target or
 * endpoint text that does not parse back.
 */
#include <stdio.h>
#include <string.h>

#include "deploy/deploy_int.h"

/* The argument checks that need no store. */
static enum ck_code
bind_parse(const struct ck_bind_opts *o, struct dep_spec *spec, struct dep_endpoint *ep,
	   struct ck_err *err)
{
	struct ck_strv argv = { 0 };
	enum ck_code rc;

	if (o == NULL || o->name == NULL || !ck_store_name_valid(o->name))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a binding name is 1..%d of [A-Za-z0-9._-], "
			       "not starting with '.' or '-'", CK_STORE_NAME_MAX);
	if (o->node != NULL && !ck_store_name_valid(o->node))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "'%s' is not a node name: 1..%d of "
			       "[A-Za-z0-9._-]", o->node, CK_NODE_MAX);
	if ((o->lineage == NULL) == (o->cert_ref == NULL))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a binding follows a lineage (--lineage L) "
			       "or pins one certificate (--cert REF): give exactly one");
	if (o->lineage != NULL && !ck_store_name_valid(o->lineage))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "'%s' is not a lineage name", o->lineage);
	if ((rc = dep_spec_parse(o->target, spec, err)) != CK_OK)
		return rc;
	if (o->verify != NULL && (rc = dep_endpoint_parse(o->verify, ep, err)) != CK_OK)
		return rc;
	if (o->reload != NULL && (rc = dep_cmd_split(o->reload, &argv, err)) != CK_OK)
		return rc;
	ck_strv_cleanup(&argv);
	return CK_OK;
}

/* The target's own checks (validate), on a job that is never swapped. */
static enum ck_code
bind_validate_target(const struct ck_ctx *ctx, const struct dep_spec *spec,
		     const struct dep_loaded *l, const char *reload, struct ck_err *err)
{
	struct dep_job job;
	enum ck_code rc;

	memset(&job, 0, sizeof(job));
	job.ctx = ctx;
	job.spec = spec;
	job.m = &l->m;
	job.reload_cmd = reload;
	job.dry_run = 1;
	if ((job.ops = dep_ops_for(spec->kind)) == NULL)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "this build cannot deploy to %s targets",
			       dep_kind_name(spec->kind));
	rc = job.ops->validate(&job, err);
	if (job.ops->cleanup != NULL)
		job.ops->cleanup(&job);
	return rc;
}

enum ck_code
ck_bind(const struct ck_ctx *ctx, struct ck_store *st, const struct ck_bind_opts *o,
	struct ck_binding *out, struct ck_err *err)
{
	struct dep_spec spec;
	struct dep_endpoint ep;
	struct dep_loaded l;
	struct ck_cert_row row;
	struct ck_binding b;
	char target[DEP_SPEC_MAX];
	int64_t id = 0;
	enum ck_code rc;

	memset(&ep, 0, sizeof(ep));
	memset(&l, 0, sizeof(l));
	memset(&row, 0, sizeof(row));
	memset(&b, 0, sizeof(b));
	if ((rc = bind_parse(o, &spec, &ep, err)) != CK_OK)
		goto out;
	if (o->cert_ref != NULL) {
		if ((rc = ck_store_ref_resolve(st, o->cert_ref, &id, err)) != CK_OK ||
		    (rc = ck_store_cert_get(st, id, &row, err)) != CK_OK) {
			ck_err_prefix(err, "check 1 of 7 (reference) failed");
			goto out;
		}
		snprintf(b.pinned_sha256, sizeof(b.pinned_sha256), "%s", row.sha256);
	}
	rc = dep_load_checked(ctx, st, o->name, o->lineage,
			      b.pinned_sha256[0] ? b.pinned_sha256 : NULL, o->ca_bundle,
			      o->verify ? &ep : NULL, &l, err);
	if (rc != CK_OK)
		goto out;
	b.node = (char *)(o->node != NULL ? o->node : ck_ctx_node(ctx));
	/* Another node's target is on its machine: its deploy checks it there. */
	if (strcmp(b.node, ck_ctx_node(ctx)) == 0 &&
	    (rc = bind_validate_target(ctx, &spec, &l, o->reload, err)) != CK_OK)
		goto out;
	if (dep_spec_format(&spec, target, sizeof(target)) == 0) {
		rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "the target is too long");
		goto out;
	}
	b.name = (char *)o->name;
	b.lineage = (char *)o->lineage;
	b.target = target;
	b.reload = (char *)o->reload;
	b.verify = (char *)o->verify;
	if ((rc = ck_store_binding_put(st, &b, NULL, err)) == CK_OK && out != NULL)
		rc = ck_store_binding_get(st, o->name, out, err);
out:
	if (rc != CK_OK)
		ck_err_prefix(err, "bind %s refused, nothing was changed",
			      o && o->name ? o->name : "");
	dep_loaded_cleanup(&l);
	ck_cert_row_cleanup(&row);
	return rc;
}
