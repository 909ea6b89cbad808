/*
 * doctor_token.c - the doctor's look at PKCS#11 tokens, read-only unless
 * --repair: every token a stored key lives on (and every configured
 * token) is opened without a PIN and its public objects read afresh, never
 * from a cache.  Findings: CK-D030 token-absent (a token a stored key
 * lives on cannot be opened), CK-D031 token-key-missing (the token holds
 * no public key with the stored key's CKA_ID and public key: deleted, or
 * the token was re-initialised), CK-D032 token-cert-unlinked (a
 * certificate object whose CKA_ID names no key on its token; --repair sets
 * the CKA_ID of the key whose public key is the certificate's), CK-D033
 * token-key-cert-expired (a key on a token whose every certificate in the
 * store has expired: it still sits on the card, signing nothing valid).
 *
 * Must never: delete an object, write anything but a certificate object's
 * CKA_ID on --repair, or report a key absent when its token could not be
 * read (that is CK-D030, not CK-D031).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flow/doctor.h"
#include "flow/tokens.h"

#define DT_TOKENS_MAX 16          /* distinct tokens looked at in one run */

static const char DT_WHY_ABSENT[] =
	"the private key of every certificate linked to it is on that token: nothing can be "
	"signed with it (no renewal with the same key, no TLS with it) until the token is "
	"back";
static const char DT_WHY_MISSING[] =
	"the store links certificates to a key that is no longer on its token: they have no "
	"usable private key any more (the smart-card failure CRYPT_E_NO_KEY_PROPERTY)";
static const char DT_WHY_UNLINKED[] =
	"applications find a certificate's key on a token by the CKA_ID both carry: with "
	"none, or another one, the certificate shows up without its key";

static const char DT_WHY_EXPIRED[] =
	"a key on a token that only expired certificates use occupies a slot of a small "
	"device and still signs if asked; its lineage may have stopped renewing";

/* One token looked at: how the store's URIs name it, and what it holds. */
struct dt_token {
	char module[CK_TOKEN_MODULE_PATH_MAX + 1];
	char label[CK_TOKEN_LABEL_MAX + 1];
	struct ck_token *t;       /* NULL: could not be opened (err says why) */
	struct ck_err err;
	struct ck_token_key_list keys;
};

struct dt_run {
	struct dt_token tokens[DT_TOKENS_MAX];
	size_t n;
	struct ck_cert_list certs;    /* the store's certificates, for CK-D033 */
	time_t now;
};

static enum ck_code
dt_add(struct ck_findings *f, const char *code, const char *name, enum ck_severity sev,
       int64_t key_id, int fixed, const char *why, const char *fix, struct ck_err *err,
       const char *object_fmt, const char *what_fmt, ...) __attribute__((format(printf, 11, 12)));

static enum ck_code
dt_add(struct ck_findings *f, const char *code, const char *name, enum ck_severity sev,
       int64_t key_id, int fixed, const char *why, const char *fix, struct ck_err *err,
       const char *object, const char *what_fmt, ...)
{
	struct ck_finding *p, *x;
	va_list ap;
	char what[CK_ERR_MSG_MAX + 256];

	va_start(ap, what_fmt);
	vsnprintf(what, sizeof(what), what_fmt, ap);
	va_end(ap);
	if ((p = realloc(f->items, (f->n + 1) * sizeof(*p))) == NULL)
		return CK_OOM(err);
	f->items = p;
	x = &p[f->n];
	memset(x, 0, sizeof(*x));
	x->code = code;
	x->name = name;
	x->severity = sev;
	x->key_id = key_id;
	x->fixed = fixed;
	x->object = strdup(object);
	x->what = strdup(what);
	x->why = strdup(why);
	x->fix = strdup(fix);
	f->n++;
	if (x->object == NULL || x->what == NULL || x->why == NULL || x->fix == NULL)
		return CK_OOM(err);
	return CK_OK;
}

/* The token (module, label) in r, opened and read on first need. */
static struct dt_token *
dt_token(struct dt_run *r, const char *module, const char *label)
{
	struct ck_pkcs11_uri u;
	struct dt_token *d;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->tokens[i].module, module) == 0 &&
		    strcmp(r->tokens[i].label, label) == 0)
			return &r->tokens[i];
	if (r->n == DT_TOKENS_MAX)
		return NULL;
	d = &r->tokens[r->n++];
	memset(d, 0, sizeof(*d));
	snprintf(d->module, sizeof(d->module), "%s", module);
	snprintf(d->label, sizeof(d->label), "%s", label);
	memset(&u, 0, sizeof(u));
	snprintf(u.token, sizeof(u.token), "%s", label);
	snprintf(u.module_path, sizeof(u.module_path), "%s", module);
	if (ck_token_open_uri(&u, NULL, &d->t, &d->err) == CK_OK &&
	    ck_token_public_keys(d->t, &d->keys, &d->err) != CK_OK) {
		ck_token_close(d->t);
		d->t = NULL;
	}
	return d;
}

static void
dt_run_cleanup(struct dt_run *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		ck_token_key_list_cleanup(&r->tokens[i].keys);
		ck_token_close(r->tokens[i].t);
	}
}

/* The public key on d with this CKA_ID, or NULL. */
static const struct ck_token_key *
dt_key_by_id(const struct dt_token *d, const unsigned char *id, size_t id_len)
{
	size_t i;

	for (i = 0; i < d->keys.n; i++)
		if (d->keys.items[i].id_len == id_len && id_len > 0 &&
		    memcmp(d->keys.items[i].id, id, id_len) == 0)
			return &d->keys.items[i];
	return NULL;
}

/* CK-D033: every certificate the store links to token key k has expired. */
static enum ck_code
dt_check_expired(const struct dt_run *r, const struct ck_key_info *k, const char *token,
		 struct ck_findings *f, struct ck_err *err)
{
	const struct ck_cert_row *newest = NULL;
	char object[64], when[21];
	size_t i;

	for (i = 0; i < r->certs.n; i++) {
		const struct ck_cert_row *c = &r->certs.items[i];
		if (c->key_id != k->id)
			continue;
		if (c->not_after > r->now)
			return CK_OK;
		if (newest == NULL || c->not_after > newest->not_after)
			newest = c;
	}
	if (newest == NULL)
		return CK_OK;
	snprintf(object, sizeof(object), "key %lld", (long long)k->id);
	ck_time_rfc3339(newest->not_after, when);
	return dt_add(f, "CK-D033", "token-key-cert-expired", CK_SEV_WARNING, k->id, 0,
		      DT_WHY_EXPIRED, "renew the lineage (certkeep issue --token ...), or "
		      "delete the key from the token if it is retired", err, object,
		      "the key on token '%s' serves only expired certificates (the newest, "
		      "%.16s, expired %s)", token, newest->sha256, when);
}

/* CK-D030 / CK-D031 (and CK-D033) for one stored token key. */
static enum ck_code
dt_check_key(struct dt_run *r, const struct ck_key_info *k, struct ck_findings *f,
	     struct ck_err *err)
{
	const struct ck_token_key *tk;
	struct ck_pkcs11_uri u;
	struct dt_token *d;
	char object[64];

	snprintf(object, sizeof(object), "key %lld", (long long)k->id);
	if (ck_pkcs11_uri_parse(k->pkcs11_uri, &u, NULL) != CK_OK || u.module_path[0] == '\0' ||
	    u.token[0] == '\0' || (d = dt_token(r, u.module_path, u.token)) == NULL)
		return CK_OK; /* a URI this check cannot follow (no module, no label) */
	if (d->t == NULL)
		return dt_add(f, "CK-D030", "token-absent", CK_SEV_ERROR, k->id, 0, DT_WHY_ABSENT,
			      "insert or attach the token (or fix its module path), then run "
			      "certkeep doctor again", err, object,
			      "its token '%s' cannot be opened: %s", u.token, d->err.msg);
	tk = dt_key_by_id(d, u.id, u.id_len);
	if (tk != NULL && strcmp(tk->spki_sha256, k->spki_sha256) == 0)
		return dt_check_expired(r, k, u.token, f, err);
	return dt_add(f, "CK-D031", "token-key-missing", CK_SEV_ERROR, k->id, 0, DT_WHY_MISSING,
		      "if the key is gone, issue a new certificate for the lineage (certkeep "
		      "issue --token ...); if the token was swapped, put the right one back",
		      err, object, "token '%s' %s (%s)", u.token,
		      tk ? "holds another public key under this key's CKA_ID" :
			   "holds no public key with this key's CKA_ID", k->pkcs11_uri);
}

/* The public key on d that is the certificate der's, or NULL. */
static const struct ck_token_key *
dt_key_of_cert(const struct dt_token *d, const unsigned char *der, size_t len)
{
	struct ck_cert_info info;
	const struct ck_token_key *hit = NULL;
	size_t i;

	memset(&info, 0, sizeof(info));
	if (der == NULL || ck_cert_info_from_der(der, len, &info, NULL) != CK_OK)
		return NULL;
	for (i = 0; i < d->keys.n && hit == NULL; i++)
		if (strcmp(d->keys.items[i].spki_sha256, info.spki_sha256) == 0)
			hit = &d->keys.items[i];
	ck_cert_info_cleanup(&info);
	return hit;
}

/* CK-D032 for the certificate objects of one open token; --repair relinks. */
static enum ck_code
dt_check_certs(struct dt_token *d, int repair, struct ck_findings *actions,
	       struct ck_findings *f, struct ck_err *err)
{
	struct ck_token_cert_list l = { NULL, 0 };
	const struct ck_token_key *k;
	struct ck_err e;
	char object[CK_TOKEN_OBJ_LABEL_MAX + 64];
	enum ck_code rc = CK_OK;
	size_t i;

	if (ck_token_cert_objects(d->t, &l, NULL) != CK_OK)
		return CK_OK; /* a token that lists no certificates has none to link */
	for (i = 0; i < l.n && rc == CK_OK; i++) {
		struct ck_token_cert *c = &l.items[i];
		if (dt_key_by_id(d, c->id, c->id_len) != NULL)
			continue;
		snprintf(object, sizeof(object), "token '%s' certificate '%s'", d->label, c->label);
		k = dt_key_of_cert(d, c->der, c->der_len);
		ck_err_clear(&e);
		if (k != NULL && repair &&
		    ck_token_cert_set_id(d->t, c->handle, k->id, k->id_len, &e) == CK_OK) {
			rc = dt_add(actions, "CK-D032", "token-cert-unlinked", CK_SEV_INFO, 0, 1,
				    DT_WHY_UNLINKED, "", err, object, "CKA_ID set to that of key "
				    "'%s', whose public key is the certificate's", k->label);
			continue;
		}
		rc = dt_add(f, "CK-D032", "token-cert-unlinked", CK_SEV_WARNING, 0, 0,
			    DT_WHY_UNLINKED, k != NULL ? "certkeep doctor --repair sets its CKA_ID "
			    "to the key's" : "put its key on the token, or remove the object",
			    err, object, "its CKA_ID names no key on the token; %s%s",
			    k != NULL ? "the key whose public key it carries is there" :
				    "no key on the token has its public key",
			    e.code != CK_OK ? e.msg : "");
	}
	ck_token_cert_list_cleanup(&l);
	return rc;
}

enum ck_code
ck_doctor_tokens(struct ck_store *st, int repair, time_t now, struct ck_findings *actions,
		 struct ck_findings *found, struct ck_err *err)
{
	struct ck_key_list keys = { NULL, 0 };
	struct ck_token_conf_list conf;
	struct dt_run *r = calloc(1, sizeof(*r));
	enum ck_code rc;
	size_t i;

	if (r == NULL)
		return CK_OOM(err);
	memset(&conf, 0, sizeof(conf));
	r->now = now != 0 ? now : time(NULL);
	if ((rc = ck_store_key_list(st, 0, &keys, err)) != CK_OK ||
	    (rc = ck_store_cert_list(st, &r->certs, err)) != CK_OK ||
	    (rc = ck_tokens_load(st, &conf, err)) != CK_OK)
		goto out;
	for (i = 0; i < keys.n && rc == CK_OK; i++)
		if (keys.items[i].pkcs11_uri != NULL)
			rc = dt_check_key(r, &keys.items[i], found, err);
	for (i = 0; i < conf.n; i++)
		(void)dt_token(r, conf.items[i].module, conf.items[i].label);
	for (i = 0; i < r->n && rc == CK_OK; i++)
		if (r->tokens[i].t != NULL)
			rc = dt_check_certs(&r->tokens[i], repair, actions, found, err);
out:
	ck_key_list_cleanup(&keys);
	ck_cert_list_cleanup(&r->certs);
	dt_run_cleanup(r);
	free(r);
	return rc;
}
