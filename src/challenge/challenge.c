/*
 * challenge.c - the seam's common part: which implementation serves a
 * type (chall_responder_new), the wrappers over the ops table, the dns-01
 * record name and value (RFC 8555 8.4), and the type names of the public
 * API.  Owns no state of its own; never reads the settings of a type it
 * does not dispatch to.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "challenge/challenge.h"
#include "crypto/crypto.h"

static const struct {
	enum ck_challenge_type type;
	const char *name;
} chall_names[] = {
	{ CK_CHALLENGE_HTTP01, "http-01" },
	{ CK_CHALLENGE_TLSALPN01, "tls-alpn-01" },
	{ CK_CHALLENGE_DNS01, "dns-01" },
};

enum ck_code
ck_challenge_type_parse(const char *s, enum ck_challenge_type *out, struct ck_err *err)
{
	char shown[40];
	size_t i;

	for (i = 0; s != NULL && i < CK_ARRAY_LEN(chall_names); i++) {
		if (strcmp(s, chall_names[i].name) == 0) {
			*out = chall_names[i].type;
			return CK_OK;
		}
	}
	ck_str_printable(shown, sizeof(shown), s != NULL ? s : "");
	return CK_FAIL(err, CK_ERR_INVALID_ARG,
		       "'%s' is not a challenge type: use http-01, tls-alpn-01 or dns-01", shown);
}

const char *
ck_challenge_type_name(enum ck_challenge_type t)
{
	size_t i;

	for (i = 0; i < CK_ARRAY_LEN(chall_names); i++)
		if (chall_names[i].type == t)
			return chall_names[i].name;
	return "default";
}

/* Same identifier: IP literals by address ("::1" == "0::1"), names case-insensitively. */
static int
chall_name_equal(const char *a, const char *b)
{
	unsigned char x[16], y[16];

	if (inet_pton(AF_INET, a, x) == 1)
		return inet_pton(AF_INET, b, y) == 1 && memcmp(x, y, 4) == 0;
	if (inet_pton(AF_INET6, a, x) == 1)
		return inet_pton(AF_INET6, b, y) == 1 && memcmp(x, y, 16) == 0;
	return strcasecmp(a, b) == 0;
}

enum ck_challenge_type
chall_type_for(const struct ck_challenge_settings *cfg, const char *name)
{
	size_t i;

	for (i = 0; cfg != NULL && name != NULL && i < cfg->noverrides; i++)
		if (cfg->overrides[i].name != NULL &&
		    cfg->overrides[i].type != CK_CHALLENGE_DEFAULT &&
		    chall_name_equal(cfg->overrides[i].name, name))
			return cfg->overrides[i].type;
	if (cfg == NULL || cfg->type == CK_CHALLENGE_DEFAULT)
		return CK_CHALLENGE_HTTP01;
	return cfg->type;
}

enum ck_code
chall_responder_new(const struct ck_ctx *ctx, enum ck_challenge_type type,
		    const struct ck_challenge_settings *cfg, struct chall_responder **out,
		    struct ck_err *err)
{
	struct chall_responder *r;
	enum ck_code rc;

	if (ctx == NULL || cfg == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no context or challenge settings");
	if (type == CK_CHALLENGE_DNS01 && cfg->dns_hook == NULL && cfg->dns_update == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "dns-01 needs a way to publish the TXT record: pass --dns-hook PROG "
			       "or --dns-update SERVER[:PORT] --tsig-file FILE");
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return CK_OOM(err);
	r->ctx = ctx;
	r->cfg = cfg;
	switch (type) {
	case CK_CHALLENGE_DEFAULT:
	case CK_CHALLENGE_HTTP01:
		rc = cfg->webroot != NULL ? chall_webroot_new(r, err) : chall_http01_new(r, err);
		break;
	case CK_CHALLENGE_TLSALPN01:
		rc = chall_tlsalpn01_new(r, err);
		break;
	case CK_CHALLENGE_DNS01:
		if (cfg->dns_hook != NULL && cfg->dns_update != NULL)
			rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "--dns-hook and --dns-update are two "
				     "ways to publish the TXT record: give one of them");
		else
			rc = cfg->dns_hook != NULL ? chall_dns01_hook_new(r, err) :
						     chall_dns01_update_new(r, err);
		break;
	default:
		rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "unknown challenge type %d", (int)type);
		break;
	}
	if (rc != CK_OK) {
		free(r); /* a failed constructor leaves r->impl unset */
		return rc;
	}
	*out = r;
	return CK_OK;
}

enum ck_code
chall_start(struct chall_responder *r, struct ck_err *err)
{
	return r->ops->start(r, err);
}

enum ck_code
chall_add(struct chall_responder *r, const struct chall_item *it, struct ck_err *err)
{
	return r->ops->add(r, it, err);
}

enum ck_code
chall_ready(struct chall_responder *r, struct ck_err *err)
{
	return r->ops->ready != NULL ? r->ops->ready(r, err) : CK_OK;
}

void
chall_remove(struct chall_responder *r, const struct chall_item *it)
{
	if (r != NULL && it != NULL)
		r->ops->remove(r, it);
}

int
chall_served(struct chall_responder *r, const struct chall_item *it, long long *at)
{
	if (r == NULL || it == NULL || r->ops->served == NULL)
		return -1;
	return r->ops->served(r, it, at);
}

void
chall_stop(struct chall_responder *r)
{
	if (r != NULL)
		r->ops->stop(r);
}

enum ck_code
chall_dns01_value(const char *keyauth, char out[44], struct ck_err *err)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char *b64 = NULL;
	enum ck_code rc;

	if (keyauth == NULL || keyauth[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no key authorization");
	if (EVP_Digest(keyauth, strlen(keyauth), md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof(md))
		return CK_FAIL(err, CK_ERR_CRYPTO, "SHA-256 of the key authorization failed");
	if ((rc = ck_b64url_encode(md, sizeof(md), &b64, err)) != CK_OK)
		return rc;
	if (strlen(b64) != 43) {
		free(b64);
		return CK_FAIL(err, CK_ERR_INTERNAL, "base64url of a SHA-256 is not 43 characters");
	}
	memcpy(out, b64, 44);
	free(b64);
	return CK_OK;
}

enum ck_code
chall_dns01_name(const char *identifier, char *out, size_t n, struct ck_err *err)
{
	char shown[80];
	int len;

	if (identifier == NULL || ck_name_is_ip(identifier) || !ck_dns_name_valid(identifier, 0)) {
		ck_str_printable(shown, sizeof(shown), identifier != NULL ? identifier : "");
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "'%s' is not a DNS name: dns-01 validates DNS names only", shown);
	}
	len = snprintf(out, n, "_acme-challenge.%s", identifier);
	if (len < 0 || (size_t)len >= n || len > CK_NAME_MAX) {
		ck_str_printable(shown, sizeof(shown), identifier);
		return CK_FAIL(err, CK_ERR_TOO_LARGE,
			       "_acme-challenge.%s is too long for a DNS name", shown);
	}
	return CK_OK;
}
