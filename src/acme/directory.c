/*
 * directory.c - the ACME directory (RFC 8555 section 7.1.1): fetched once
 * per client, parsed with every URL checked https://, and kept only when
 * every resource it names is on the directory's own origin or an allowed
 * one (origin.c).  Owns nothing but the directory; never follows a URL
 * itself.  Terms of service and website are shown, never fetched, so any
 * origin is fine for them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"

static void
profiles_free(struct acme_profile *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].description);
	}
	free(p);
}

void
acme_directory_cleanup(struct acme_directory *d)
{
	if (d == NULL)
		return;
	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->new_authz);
	free(d->revoke_cert);
	free(d->key_change);
	free(d->renewal_info);
	free(d->terms_of_service);
	free(d->website);
	profiles_free(d->profiles, d->nprofiles);
	memset(d, 0, sizeof(*d));
}

/* 1 if s is a profile name: 1..ACME_PROFILE_NAME_MAX of [A-Za-z0-9._-]. */
static int
profile_name_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= ACME_PROFILE_NAME_MAX ||
		    (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL))
			return 0;
	return i > 0;
}

/* meta.profiles: an object name -> description, outside data, so bounded. */
static enum ck_code
directory_profiles(json_t *meta, struct acme_directory *d, struct ck_err *err)
{
	json_t *obj = json_object_get(meta, "profiles"), *v;
	const char *name;
	enum ck_code rc;
	size_t n;

	if (obj == NULL || json_is_null(obj))
		return CK_OK;
	if (!json_is_object(obj))
		return CK_FAIL(err, CK_ERR_PARSE, "the directory's \"meta.profiles\" is not an object");
	if ((n = json_object_size(obj)) > ACME_PROFILES_MAX)
		return CK_FAIL(err, CK_ERR_PARSE,
			       "the directory offers %zu profiles (at most %d accepted)", n,
			       ACME_PROFILES_MAX);
	if (n == 0)
		return CK_OK;
	if ((d->profiles = calloc(n, sizeof(*d->profiles))) == NULL)
		return CK_OOM(err);
	json_object_foreach(obj, name, v) {
		struct acme_profile *p = &d->profiles[d->nprofiles];

		if (!profile_name_ok(name))
			return CK_FAIL(err, CK_ERR_PARSE,
				       "the directory offers a profile whose name is not 1 to %d of "
				       "[A-Za-z0-9._-]", ACME_PROFILE_NAME_MAX);
		if ((p->name = strdup(name)) == NULL)
			return CK_OOM(err);
		d->nprofiles++;
		if ((rc = acme_json_str(obj, name, ACME_PROFILE_DESC_MAX, 1, &p->description,
					err)) != CK_OK) {
			ck_err_prefix(err, "profile \"%s\"", name);
			return rc;
		}
	}
	return CK_OK;
}

int
acme_directory_has_profile(const struct acme_directory *d, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < d->nprofiles; i++)
		if (strcmp(d->profiles[i].name, name) == 0)
			return 1;
	return 0;
}

enum ck_code
acme_directory_check_profile(const struct acme_directory *d, const char *profile,
			     struct ck_err *err)
{
	char offered[ACME_PROFILES_MAX * (ACME_PROFILE_NAME_MAX + 2) + 1];
	size_t i, len = 0;

	if (profile == NULL || acme_directory_has_profile(d, profile))
		return CK_OK;
	if (d->nprofiles == 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "the server offers no profiles, so it cannot issue under profile "
			       "\"%.64s\": leave out --profile", profile);
	offered[0] = '\0';
	for (i = 0; i < d->nprofiles; i++)
		len += (size_t)snprintf(offered + len, sizeof(offered) - len, "%s%s",
					i ? ", " : "", d->profiles[i].name);
	return CK_FAIL(err, CK_ERR_INVALID_ARG,
		       "the server does not offer profile \"%.64s\"; it offers: %s", profile,
		       offered);
}

static enum ck_code
directory_meta(json_t *meta, struct acme_directory *d, struct ck_err *err)
{
	enum ck_code rc;
	int b;

	if (meta == NULL || json_is_null(meta))
		return CK_OK;
	if (!json_is_object(meta))
		return CK_FAIL(err, CK_ERR_PARSE, "the directory's \"meta\" is not an object");
	/* Terms of service are shown to users: printable and bounded, any scheme. */
	if ((rc = acme_json_str(meta, "termsOfService", ACME_URL_MAX, 0, &d->terms_of_service,
				err)) != CK_OK)
		return rc;
	if ((rc = acme_json_str(meta, "website", ACME_URL_MAX, 0, &d->website, err)) != CK_OK)
		return rc;
	if ((rc = acme_json_bool(meta, "externalAccountRequired", &b, err)) != CK_OK)
		return rc;
	d->external_account_required = b == 1;
	return directory_profiles(meta, d, err);
}

enum ck_code
acme_directory_parse(const char *body, size_t len, struct acme_directory *out,
		     struct ck_err *err)
{
	struct acme_directory d = { 0 };
	json_t *j = NULL;
	enum ck_code rc;

	if ((rc = acme_json_load(body, len, &j, err)) != CK_OK)
		goto out;
	if ((rc = acme_json_url(j, "newNonce", 1, &d.new_nonce, err)) != CK_OK ||
	    (rc = acme_json_url(j, "newAccount", 1, &d.new_account, err)) != CK_OK ||
	    (rc = acme_json_url(j, "newOrder", 1, &d.new_order, err)) != CK_OK ||
	    (rc = acme_json_url(j, "newAuthz", 0, &d.new_authz, err)) != CK_OK ||
	    (rc = acme_json_url(j, "revokeCert", 0, &d.revoke_cert, err)) != CK_OK ||
	    (rc = acme_json_url(j, "keyChange", 0, &d.key_change, err)) != CK_OK ||
	    (rc = acme_json_url(j, "renewalInfo", 0, &d.renewal_info, err)) != CK_OK)
		goto out;
	if ((rc = directory_meta(json_object_get(j, "meta"), &d, err)) != CK_OK)
		goto out;
	*out = d;
	memset(&d, 0, sizeof(d));
out:
	if (rc != CK_OK)
		ck_err_prefix(err, "bad ACME directory");
	acme_directory_cleanup(&d);
	json_decref(j);
	return rc;
}

/* Every resource URL of d on an allowed origin. */
static enum ck_code
directory_origins(const struct acme_client *c, const struct acme_directory *d, struct ck_err *err)
{
	const struct {
		const char *name;
		const char *url;
	} urls[] = {
		{ "newNonce", d->new_nonce }, { "newAccount", d->new_account },
		{ "newOrder", d->new_order }, { "newAuthz", d->new_authz },
		{ "revokeCert", d->revoke_cert }, { "keyChange", d->key_change },
		{ "renewalInfo", d->renewal_info },
	};
	char what[64];
	enum ck_code rc;
	size_t i;

	for (i = 0; i < CK_ARRAY_LEN(urls); i++) {
		if (urls[i].url == NULL)
			continue;
		snprintf(what, sizeof(what), "the directory's %s URL", urls[i].name);
		if ((rc = acme_url_check_origin(c, urls[i].url, what, err)) != CK_OK)
			return rc;
	}
	return CK_OK;
}

enum ck_code
acme_directory_get(struct acme_client *c, const struct acme_directory **out,
		   struct ck_err *err)
{
	struct acme_http_response resp = { 0 };
	struct acme_directory d = { 0 };
	enum ck_code rc;

	if (!c->have_directory) {
		/* Fetched once per batch when the clients share (ctx->acme_share). */
		rc = acme_share_directory(c->ctx->acme_share, c->directory_url, c->ca_bundle,
					  &resp.body, &resp.body_len);
		if (rc == CK_ERR_NOMEM)
			return CK_OOM(err);
		if (rc != CK_OK && (rc = acme_get(c, c->directory_url, &resp, err)) != CK_OK) {
			ck_err_prefix(err, "cannot fetch the ACME directory");
			return rc;
		}
		rc = acme_directory_parse(resp.body, resp.body_len, &d, err);
		if (rc == CK_OK && (rc = directory_origins(c, &d, err)) != CK_OK)
			ck_err_prefix(err, "bad ACME directory");
		if (rc == CK_OK)
			acme_share_keep_directory(c->ctx->acme_share, c->directory_url, c->ca_bundle,
						  resp.body, resp.body_len);
		acme_http_response_cleanup(&resp);
		if (rc != CK_OK) {
			acme_directory_cleanup(&d);
			return rc;
		}
		c->dir = d;
		c->have_directory = 1;
	}
	*out = &c->dir;
	return CK_OK;
}
