/*
 * origins.c - the extra origins a user allowed for one ACME server (a CA
 * that really serves from several hosts: acme/origin.c refuses every
 * other origin than the directory's).  They are kept in the store's
 * settings as CK_SERVER_ORIGINS_SETTING + directory URL -> space-separated
 * "https://host:port", so every later command for that server honours
 * them without being told again; and this is where an acme_client for a
 * server is made with them.
 *
 * Must never: widen what a client may reach beyond what the user listed
 * for that very directory URL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow/account_int.h"

#define ORIGINS_TEXT_MAX (ACME_ORIGINS_MAX * ACME_ORIGIN_MAX)

static enum ck_code
origins_key(const char *server, char *out, size_t n, struct ck_err *err)
{
	if (server == NULL || snprintf(out, n, "%s%s", CK_SERVER_ORIGINS_SETTING, server) >= (int)n)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the ACME server URL is too long");
	return CK_OK;
}

enum ck_code
ck_server_origins_get(struct ck_store *st, const char *server, struct ck_strv *out,
		      struct ck_err *err)
{
	char key[CK_STORE_URL_MAX + 32], o[ACME_ORIGIN_MAX], *text = NULL, *tok, *save = NULL;
	struct ck_strv v = { 0 };
	enum ck_code rc;

	if ((rc = origins_key(server, key, sizeof(key), err)) != CK_OK)
		return rc;
	rc = ck_store_setting_get(st, key, &text, err);
	if (rc == CK_ERR_NOT_FOUND) {
		*out = v;
		return CK_OK;
	}
	if (rc != CK_OK)
		return rc;
	for (tok = strtok_r(text, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		if (acme_origin_parse(tok, o, NULL) != CK_OK) {
			rc = CK_FAIL(err, CK_ERR_CORRUPT,
				     "the origins allowed for %s are damaged in the store: set them "
				     "again with `certkeep account update --server %s --allow-origin "
				     "ORIGIN`", server, server);
			goto out;
		}
		if ((rc = ck_strv_add(&v, o, ACME_ORIGINS_MAX, ACME_ORIGIN_MAX, err)) != CK_OK)
			goto out;
	}
	*out = v;
	memset(&v, 0, sizeof(v));
out:
	ck_strv_cleanup(&v);
	free(text);
	return rc;
}

enum ck_code
ck_server_origins_set(struct ck_store *st, const char *server, const char *const *origins,
		      size_t n, struct ck_err *err)
{
	char key[CK_STORE_URL_MAX + 32], norm[ACME_ORIGINS_MAX][ACME_ORIGIN_MAX];
	char text[ORIGINS_TEXT_MAX + 1] = "";
	size_t i, j, k = 0, used = 0;
	enum ck_code rc;

	if ((rc = origins_key(server, key, sizeof(key), err)) != CK_OK)
		return rc;
	if (n > ACME_ORIGINS_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "at most %d extra origins per ACME server",
			       ACME_ORIGINS_MAX);
	for (i = 0; i < n; i++) {
		if ((rc = acme_origin_parse(origins[i], norm[k], err)) != CK_OK)
			return rc;
		for (j = 0; j < k && strcmp(norm[j], norm[k]) != 0; j++)
			;
		if (j < k)
			continue; /* listed twice */
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s", used ? " " : "",
					 norm[k]);
		k++;
	}
	return ck_store_setting_set(st, key, used > 0 ? text : NULL, err);
}

enum ck_code
ck_server_client_new(const struct ck_ctx *ctx, struct ck_store *st, const char *server,
		     const char *ca_bundle, const struct ck_origins_arg *given,
		     struct acme_client **out, struct ck_err *err)
{
	struct acme_client *c = NULL;
	struct ck_strv stored = { 0 };
	enum ck_code rc;
	size_t i;

	if ((rc = acme_client_new(ctx, server, ca_bundle, &c, err)) != CK_OK)
		return rc;
	if (ctx->acme_transport != NULL)
		acme_client_set_transport(c, ctx->acme_transport);
	if (given != NULL && given->given) {
		for (i = 0; i < given->n && rc == CK_OK; i++)
			rc = acme_client_allow_origin(c, given->v[i], err);
	} else if (st != NULL && (rc = ck_server_origins_get(st, server, &stored, err)) == CK_OK) {
		for (i = 0; i < stored.n && rc == CK_OK; i++)
			rc = acme_client_allow_origin(c, stored.v[i], err);
	}
	ck_strv_cleanup(&stored);
	if (rc != CK_OK) {
		acme_client_free(c);
		return rc;
	}
	*out = c;
	return CK_OK;
}

enum ck_code
ck_account_origins_set(struct ck_store *st, struct ck_account_session *s,
		       const char *const *origins, size_t n, struct ck_err *err)
{
	struct ck_strv v = { 0 };
	enum ck_code rc;
	size_t i;

	if ((rc = ck_server_origins_set(st, s->server, origins, n, err)) != CK_OK ||
	    (rc = ck_server_origins_get(st, s->server, &v, err)) != CK_OK)
		return rc;
	acme_client_clear_origins(s->client);
	for (i = 0; i < v.n && rc == CK_OK; i++)
		rc = acme_client_allow_origin(s->client, v.v[i], err);
	ck_strv_cleanup(&v);
	return rc;
}
