/*
 * spec.c - the typed target spec ("nginx:/etc/ssl/www,conf=/etc/nginx/
 * nginx.conf") and the --verify endpoint ("127.0.0.1:8443,sni=www"):
 * parsed once at bind time into structs, stored in canonical text,
 * read back with the same parser.  Pure: no file system, no network.
 *
 * Must never: accept a relative path, a path with ".." or a control byte,
 * or an option a kind does not take (a typo must not be silently ignored).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "deploy/target.h"

static const char *const kind_names[] = {
	[DEP_KIND_PEM] = "pem", [DEP_KIND_NGINX] = "nginx", [DEP_KIND_APACHE] = "apache",
	[DEP_KIND_HAPROXY] = "haproxy", [DEP_KIND_PKCS12] = "pkcs12", [DEP_KIND_EXEC] = "exec",
};

#define SPEC_FORMS "pem:DIR, nginx:DIR[,conf=FILE], apache:DIR[,conf=FILE], " \
	"haproxy:FILE[,socket=PATH], pkcs12:FILE[,compat=legacy][,password-file=F] or exec:PROG " \
	"(absolute paths)"

const char *
dep_kind_name(enum dep_kind k)
{
	if ((size_t)k < CK_ARRAY_LEN(kind_names))
		return kind_names[k];
	return "unknown";
}

/*
 * Copies path (n bytes of src) into out normalised: absolute, no empty,
 * "." or ".." steps, no trailing '/', printable ASCII without ','.
 * what names it in the error.
 */
static enum ck_code
spec_path(const char *what, const char *src, size_t n, char out[DEP_PATH_MAX], struct ck_err *err)
{
	size_t i, o = 0, step;

	if (n == 0 || src[0] != '/')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "%s must be an absolute path", what);
	if (n >= DEP_PATH_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "%s is longer than %d bytes", what,
			       DEP_PATH_MAX - 1);
	for (i = 0; i < n; i++)
		if ((unsigned char)src[i] < 0x20 || (unsigned char)src[i] > 0x7e)
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "%s holds a control or non-ASCII byte", what);
	for (i = 0; i < n; i += step) {
		while (i < n && src[i] == '/')
			i++;
		for (step = 0; i + step < n && src[i + step] != '/'; step++)
			;
		if (step == 0)
			break;
		if ((step == 1 && src[i] == '.') || (step == 2 && src[i] == '.' && src[i + 1] == '.'))
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "%s must not hold '.' or '..' steps", what);
		out[o++] = '/';
		memcpy(out + o, src + i, step);
		o += step;
	}
	if (o == 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "%s must not be the root directory", what);
	out[o] = '\0';
	return CK_OK;
}

/* Which options each kind takes. */
static int
spec_takes(enum dep_kind k, const char *opt)
{
	if (strcmp(opt, "conf") == 0)
		return k == DEP_KIND_NGINX || k == DEP_KIND_APACHE;
	if (strcmp(opt, "socket") == 0)
		return k == DEP_KIND_HAPROXY;
	if (strcmp(opt, "compat") == 0 || strcmp(opt, "password-file") == 0)
		return k == DEP_KIND_PKCS12;
	return 0;
}

/* One "opt=value" (n bytes at s) into out. */
static enum ck_code
spec_option(struct dep_spec *out, const char *s, size_t n, unsigned *seen, struct ck_err *err)
{
	static const char *const opts[] = { "conf", "socket", "compat", "password-file" };
	const char *eq = memchr(s, '=', n);
	char name[16];
	size_t nlen, i;

	nlen = eq ? (size_t)(eq - s) : n;
	if (eq == NULL || nlen == 0 || nlen >= sizeof(name))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "target option '%.*s' is not NAME=VALUE; the forms are " SPEC_FORMS,
			       (int)(n > 40 ? 40 : n), s);
	memcpy(name, s, nlen);
	name[nlen] = '\0';
	for (i = 0; i < CK_ARRAY_LEN(opts) && strcmp(opts[i], name) != 0; i++)
		;
	if (i == CK_ARRAY_LEN(opts) || !spec_takes(out->kind, name))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a %s target takes no option '%s'; the forms "
			       "are " SPEC_FORMS, dep_kind_name(out->kind), name);
	if (*seen & (1u << i))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "target option '%s' is given twice", name);
	*seen |= 1u << i;
	s += nlen + 1;
	n -= nlen + 1;
	if (i == 0)
		return spec_path("conf=", s, n, out->conf, err);
	if (i == 1)
		return spec_path("socket=", s, n, out->socket, err);
	if (i == 3)
		return spec_path("password-file=", s, n, out->password_file, err);
	if (n == 6 && memcmp(s, "legacy", 6) == 0)
		out->compat = CK_PFX_LEGACY;
	else if (n == 6 && memcmp(s, "modern", 6) == 0)
		out->compat = CK_PFX_MODERN;
	else
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "compat= takes modern or legacy");
	return CK_OK;
}

enum ck_code
dep_spec_parse(const char *text, struct dep_spec *out, struct ck_err *err)
{
	struct dep_spec s;
	const char *colon, *p, *comma;
	unsigned seen = 0;
	size_t i, klen;
	enum ck_code rc;

	if (text == NULL || text[0] == '\0' || strlen(text) >= DEP_SPEC_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a target is one of " SPEC_FORMS);
	memset(&s, 0, sizeof(s));
	colon = strchr(text, ':');
	klen = colon ? (size_t)(colon - text) : 0;
	for (i = 0; i < CK_ARRAY_LEN(kind_names); i++)
		if (klen == strlen(kind_names[i]) && memcmp(text, kind_names[i], klen) == 0)
			break;
	if (colon == NULL || i == CK_ARRAY_LEN(kind_names))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "unknown target '%.*s'; a target is one of "
			       SPEC_FORMS, (int)(klen ? (klen > 20 ? 20 : klen) : 0), text);
	s.kind = (enum dep_kind)i;
	p = colon + 1;
	comma = strchr(p, ',');
	rc = spec_path("the target path", p, comma ? (size_t)(comma - p) : strlen(p), s.path, err);
	while (rc == CK_OK && comma != NULL) {
		p = comma + 1;
		comma = strchr(p, ',');
		rc = spec_option(&s, p, comma ? (size_t)(comma - p) : strlen(p), &seen, err);
	}
	if (rc != CK_OK)
		return rc;
	*out = s;
	return CK_OK;
}

size_t
dep_spec_format(const struct dep_spec *s, char *out, size_t n)
{
	int len;

	len = snprintf(out, n, "%s:%s%s%s%s%s%s%s", dep_kind_name(s->kind), s->path,
		       s->conf[0] ? ",conf=" : "", s->conf, s->socket[0] ? ",socket=" : "",
		       s->socket, s->kind == DEP_KIND_PKCS12 && s->compat == CK_PFX_LEGACY ?
		       ",compat=legacy" : "", s->password_file[0] ? ",password-file=" : "");
	if (len < 0 || (size_t)len >= n)
		goto small;
	if (s->password_file[0]) {
		size_t used = (size_t)len;
		int more = snprintf(out + used, n - used, "%s", s->password_file);

		if (more < 0 || (size_t)more >= n - used)
			goto small;
		len += more;
	}
	return (size_t)len;
small:
	if (n > 0)
		out[0] = '\0';
	return 0;
}

/* The host part of text (host_len bytes, IPv6 without its brackets) into ep. */
static enum ck_code
endpoint_host(struct dep_endpoint *ep, const char *h, size_t n, struct ck_err *err)
{
	if (n == 0 || n > DEP_HOST_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "--verify needs a host of 1..%d bytes",
			       DEP_HOST_MAX);
	memcpy(ep->host, h, n);
	ep->host[n] = '\0';
	if (!ck_identifier_valid(ep->host, 0))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "--verify host '%s' is neither a DNS name nor an IP address", ep->host);
	return CK_OK;
}

enum ck_code
dep_endpoint_parse(const char *text, struct dep_endpoint *out, struct ck_err *err)
{
	struct dep_endpoint ep;
	const char *portp, *comma, *hend;
	char *end = NULL;
	unsigned long port;
	enum ck_code rc;

	memset(&ep, 0, sizeof(ep));
	if (text == NULL || strlen(text) > 2 * DEP_HOST_MAX + 16)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "--verify takes HOST:PORT[,sni=NAME]");
	comma = strchr(text, ',');
	if (text[0] == '[') {
		hend = strchr(text, ']');
		if (hend == NULL || hend[1] != ':')
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "--verify takes [IPv6]:PORT[,sni=NAME]");
		rc = endpoint_host(&ep, text + 1, (size_t)(hend - text - 1), err);
		portp = hend + 2;
	} else {
		hend = memchr(text, ':', comma ? (size_t)(comma - text) : strlen(text));
		if (hend == NULL)
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "--verify takes HOST:PORT[,sni=NAME]: the port is missing");
		rc = endpoint_host(&ep, text, (size_t)(hend - text), err);
		portp = hend + 1;
	}
	if (rc != CK_OK)
		return rc;
	port = strtoul(portp, &end, 10);
	if (end == portp || port == 0 || port > 65535 || (*end != '\0' && *end != ',') ||
	    portp[0] == '+' || portp[0] == '-' || portp[0] == ' ')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "--verify port must be 1..65535");
	ep.port = (unsigned)port;
	if (*end == ',') {
		if (strncmp(end, ",sni=", 5) != 0 || strlen(end + 5) > DEP_HOST_MAX ||
		    !ck_dns_name_valid(end + 5, 0))
			return CK_FAIL(err, CK_ERR_INVALID_ARG,
				       "--verify takes HOST:PORT[,sni=NAME] with NAME a DNS name");
		snprintf(ep.sni, sizeof(ep.sni), "%s", end + 5);
	}
	*out = ep;
	return CK_OK;
}

const char *
dep_endpoint_name(const struct dep_endpoint *ep)
{
	return ep->sni[0] ? ep->sni : ep->host;
}
