/*
 * origin.c - the same-origin rule for URLs a server hands out.  A
 * directory names the ACME server; every URL the client follows
 * (directory resources, account, orders, authorizations, challenges,
 * finalize, certificates, alternates) must share its origin (scheme,
 * host, port) or be on an origin the user listed for that server.
 * Otherwise a server (or whoever tampers with its answers) could send
 * account-signed requests, and the nonces and CSRs in them, to a third
 * host.  URLs are parsed with libcurl's URL API, the parser the
 * transport itself uses, never by hand.  Owns nothing else.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "acme/acme_int.h"

/* One part of a parsed URL (curl_free'd by the caller), NULL if absent. */
static char *
url_part(CURLU *u, CURLUPart part, unsigned flags)
{
	char *v = NULL;

	if (curl_url_get(u, part, &v, flags) != CURLUE_OK)
		return NULL;
	return v;
}

/*
 * "scheme://host:port" of a parsed URL into out (host lower-cased, an IPv6
 * literal in brackets as curl gives it, port explicit: 443 when absent).
 * 0 on success, -1 when a part is missing, not https, carries an IPv6 zone
 * id, or does not fit.
 */
static int
origin_text(CURLU *u, char out[ACME_ORIGIN_MAX])
{
	char *scheme = url_part(u, CURLUPART_SCHEME, 0);
	char *host = url_part(u, CURLUPART_HOST, 0);
	char *port = url_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
	char *zone = url_part(u, CURLUPART_ZONEID, 0);
	int r = -1, n;
	size_t i;

	if (scheme == NULL || host == NULL || port == NULL || zone != NULL || host[0] == '\0' ||
	    strcmp(scheme, "https") != 0)
		goto out;
	n = snprintf(out, ACME_ORIGIN_MAX, "https://%s:%s", host, port);
	if (n < 0 || n >= ACME_ORIGIN_MAX)
		goto out;
	for (i = 0; out[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(zone);
	return r;
}

/* Parses url with libcurl; NULL if it is not a URL curl accepts. */
static CURLU *
url_parse(const char *url)
{
	CURLU *u = curl_url();

	if (u == NULL)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return NULL;
	}
	return u;
}

enum ck_code
acme_origin_of(const char *url, char out[ACME_ORIGIN_MAX], struct ck_err *err)
{
	char safe[96];
	CURLU *u;
	int r;

	if (url == NULL || !acme_url_ok(url) || (u = url_parse(url)) == NULL) {
		ck_str_printable(safe, sizeof(safe), url != NULL ? url : "(none)");
		return CK_FAIL(err, CK_ERR_PARSE, "%s is not an https:// URL", safe);
	}
	r = origin_text(u, out);
	curl_url_cleanup(u);
	if (r != 0) {
		ck_str_printable(safe, sizeof(safe), url);
		return CK_FAIL(err, CK_ERR_PARSE, "%s has no usable https:// origin", safe);
	}
	return CK_OK;
}

enum ck_code
acme_origin_parse(const char *text, char out[ACME_ORIGIN_MAX], struct ck_err *err)
{
	char safe[96], *path = NULL, *query = NULL, *frag = NULL, *user = NULL;
	CURLU *u = NULL;
	enum ck_code rc = CK_ERR_INVALID_ARG;

	ck_str_printable(safe, sizeof(safe), text != NULL ? text : "(none)");
	if (text == NULL || !acme_url_ok(text) || (u = url_parse(text)) == NULL)
		goto bad;
	path = url_part(u, CURLUPART_PATH, 0);
	query = url_part(u, CURLUPART_QUERY, 0);
	frag = url_part(u, CURLUPART_FRAGMENT, 0);
	user = url_part(u, CURLUPART_USER, 0);
	if ((path != NULL && strcmp(path, "/") != 0) || query != NULL || frag != NULL ||
	    user != NULL || origin_text(u, out) != 0)
		goto bad;
	rc = CK_OK;
	goto out;
bad:
	CK_FAIL(err, CK_ERR_INVALID_ARG,
		"%s is not an origin: give https://HOST or https://HOST:PORT, without a path",
		safe);
out:
	curl_free(path);
	curl_free(query);
	curl_free(frag);
	curl_free(user);
	curl_url_cleanup(u);
	return rc;
}

enum ck_code
acme_client_allow_origin(struct acme_client *c, const char *origin, struct ck_err *err)
{
	char o[ACME_ORIGIN_MAX];
	enum ck_code rc;
	size_t i;

	if ((rc = acme_origin_parse(origin, o, err)) != CK_OK)
		return rc;
	for (i = 0; i < c->extra_origins.n; i++)
		if (strcmp(c->extra_origins.v[i], o) == 0)
			return CK_OK;
	if (c->extra_origins.n >= ACME_ORIGINS_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "at most %d extra origins per ACME server",
			       ACME_ORIGINS_MAX);
	return ck_strv_add(&c->extra_origins, o, ACME_ORIGINS_MAX, ACME_ORIGIN_MAX, err);
}

void
acme_client_clear_origins(struct acme_client *c)
{
	ck_strv_cleanup(&c->extra_origins);
}

const char *
acme_client_origin(const struct acme_client *c)
{
	return c->origin;
}

/*
 * 1 if url is spelled on origin ("https://host:port", as origin_text
 * writes it): it starts with exactly that text, or with it less a ":443"
 * that origin_text added, followed by '/'.  The authority then ends at
 * that '/' and is byte for byte what libcurl's parse gave origin (already
 * lower-cased, its port explicit or the default), so parsing url would
 * give origin again.  0 means "not spelled so": parse it.  The server's
 * URLs are spelled like its directory's, so this spares a libcurl URL
 * parse (and its allocations) on nearly every request.
 */
static int
origin_spelled(const char *url, const char *origin)
{
	size_t n = strlen(origin);

	if (strncmp(url, origin, n) == 0 && url[n] == '/')
		return 1;
	if (n > 4 && strcmp(origin + n - 4, ":443") == 0 && strncmp(url, origin, n - 4) == 0 &&
	    url[n - 4] == '/')
		return 1;
	return 0;
}

enum ck_code
acme_url_check_origin(const struct acme_client *c, const char *url, const char *what,
		      struct ck_err *err)
{
	char o[ACME_ORIGIN_MAX], safe[160];
	enum ck_code rc;
	size_t i;

	if (url != NULL && acme_url_ok(url)) {
		if (origin_spelled(url, c->origin))
			return CK_OK;
		for (i = 0; i < c->extra_origins.n; i++)
			if (origin_spelled(url, c->extra_origins.v[i]))
				return CK_OK;
	}
	if ((rc = acme_origin_of(url, o, err)) != CK_OK) {
		ck_err_prefix(err, "refusing %s", what);
		return rc;
	}
	if (strcmp(o, c->origin) == 0)
		return CK_OK;
	for (i = 0; i < c->extra_origins.n; i++)
		if (strcmp(o, c->extra_origins.v[i]) == 0)
			return CK_OK;
	ck_str_printable(safe, sizeof(safe), url);
	return CK_FAIL(err, CK_ERR_PARSE,
		       "refusing %s %s: it is on %s, not on the ACME server's origin %s, so "
		       "nothing was sent there; if this CA really serves from both hosts, allow "
		       "it with --allow-origin %s", what, safe, o, c->origin, o);
}

enum ck_code
acme_strv_check_origin(const struct acme_client *c, const struct ck_strv *v, const char *what,
		       struct ck_err *err)
{
	enum ck_code rc;
	size_t i;

	for (i = 0; v != NULL && i < v->n; i++)
		if ((rc = acme_url_check_origin(c, v->v[i], what, err)) != CK_OK)
			return rc;
	return CK_OK;
}
