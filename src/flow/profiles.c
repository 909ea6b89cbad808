/*
 * profiles.c - the ACME profiles a server offers (the profiles extension:
 * meta.profiles in the directory), read from the directory alone: no
 * account, nothing written.  Issuance asks for one through
 * ck_issue_params.profile (issue.c); the ACME layer checks it is offered.
 */
#include <stdlib.h>
#include <string.h>

#include "flow/account.h"
#include "flow/issue.h"

void
ck_profiles_free(struct ck_profile *p, size_t n)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].description);
	}
	free(p);
}

/* Copies the directory's profiles into a caller-owned array. */
static enum ck_code
profiles_copy(const struct acme_directory *d, struct ck_profile **out, size_t *n,
	      struct ck_err *err)
{
	struct ck_profile *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (d->nprofiles == 0)
		return CK_OK;
	if ((v = calloc(d->nprofiles, sizeof(*v))) == NULL)
		return CK_OOM(err);
	for (i = 0; i < d->nprofiles; i++) {
		if (ck_strdup(d->profiles[i].name, &v[i].name, err) != CK_OK ||
		    ck_strdup(d->profiles[i].description, &v[i].description, err) != CK_OK) {
			ck_profiles_free(v, i + 1);
			return CK_ERR_NOMEM;
		}
	}
	*out = v;
	*n = d->nprofiles;
	return CK_OK;
}

enum ck_code
ck_profiles_get(const struct ck_ctx *ctx, struct ck_store *st, const char *server,
		const char *ca_bundle, struct ck_profile **out, size_t *n, struct ck_err *err)
{
	const struct acme_directory *d;
	struct acme_client *c = NULL;
	char *srv = NULL;
	enum ck_code rc = CK_ERR_INVALID_ARG;

	if (out == NULL || n == NULL || (server == NULL && st == NULL)) {
		rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "profiles need a server or a store");
		goto out;
	}
	if ((rc = ck_server_pick(st, server, &srv, err)) != CK_OK ||
	    (rc = ck_server_client_new(ctx, st, srv, ca_bundle, NULL, &c, err)) != CK_OK ||
	    (rc = acme_directory_get(c, &d, err)) != CK_OK)
		goto out;
	rc = profiles_copy(d, out, n, err);
out:
	acme_client_free(c);
	free(srv);
	return rc;
}
