/*
 * doctor.c - the deploy room's part of `certkeep doctor`: for every
 * binding with a directory target (pem, nginx, apache), the files on disk
 * against the store (CK-D020 binding-files): a complete set of the
 * recorded certificate is fine; a deploy interrupted (pending) is reported
 * with which set the files hold, old or new; anything else was changed
 * behind certkeep's back, or is incomplete (key and certificate differ).
 *
 * Must never: change a file or the store; show key material.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "deploy/deploy_int.h"

#define D020_CODE "CK-D020"
#define D020_NAME "binding-files"
#define D020_WHY "a server reloading these files serves what is on disk, not what the store " \
	"recorded: after an interrupted deploy or a manual edit the two differ, and a key " \
	"that does not match its certificate stops nginx ('key values mismatch')"

/* Appends one finding (strings copied). */
static enum ck_code
finding_add(struct ck_findings *f, enum ck_severity sev, const char *name, const char *what,
	    const char *fix, struct ck_err *err)
{
	struct ck_finding *p, *n;
	char obj[CK_STORE_NAME_MAX + 16];

	if (f->n >= CK_STORE_ROWS_MAX || (p = realloc(f->items, (f->n + 1) * sizeof(*p))) == NULL)
		return CK_OOM(err);
	f->items = p;
	n = &p[f->n];
	memset(n, 0, sizeof(*n));
	snprintf(obj, sizeof(obj), "binding %s", name);
	n->code = D020_CODE;
	n->name = D020_NAME;
	n->severity = sev;
	n->object = strdup(obj);
	n->what = strdup(what);
	n->why = strdup(D020_WHY);
	n->fix = strdup(fix);
	f->n++;
	if (n->object == NULL || n->what == NULL || n->why == NULL || n->fix == NULL)
		return CK_OOM(err);
	return CK_OK;
}

/* 1 if DIR/privkey.pem holds the key of the certificate in DIR/cert.pem. */
static int
files_key_matches(const char *dir)
{
	char path[DEP_PATH_MAX + 16];
	unsigned char *cert = NULL, *key = NULL;
	size_t clen = 0, klen = 0;
	struct ck_der_list certs = { 0 };
	EVP_PKEY *priv = NULL, *pub = NULL;
	struct ck_err e;
	int ok = 0;

	memset(&e, 0, sizeof(e));
	snprintf(path, sizeof(path), "%s/" DEP_PEM_CERT, dir);
	if (ck_file_read(path, CK_PEM_MAX, &cert, &clen, &e) != CK_OK ||
	    ck_pem_certs_parse((const char *)cert, clen, &certs, &e) != CK_OK ||
	    ck_cert_pubkey(certs.items[0].data, certs.items[0].len, &pub, &e) != CK_OK)
		goto out;
	snprintf(path, sizeof(path), "%s/" DEP_PEM_KEY, dir);
	if (ck_file_read_secret(path, CK_PEM_MAX, &key, &klen, &e) != CK_OK ||
	    ck_key_from_pem((const char *)key, klen, NULL, &priv, &e) != CK_OK)
		goto out;
	ok = ck_key_public_equal(priv, pub);
out:
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	ck_der_list_cleanup(&certs);
	free(cert);
	if (key != NULL)
		ck_secure_free(key, klen + 1);
	return ok;
}

/* The finding (if any) of one binding with a directory target at dir. */
static enum ck_code
doctor_one(const struct ck_binding *b, const char *dir, struct ck_findings *f,
	   struct ck_err *err)
{
	char path[DEP_PATH_MAX + 16], sha[65], what[CK_ERR_MSG_MAX], fix[160];
	const char *which;
	struct ck_err e;

	memset(&e, 0, sizeof(e));
	snprintf(path, sizeof(path), "%s/" DEP_PEM_CERT, dir);
	snprintf(fix, sizeof(fix), "certkeep deploy %s", b->name);
	if (dep_pem_file_sha256(path, sha, &e) != CK_OK) {
		if (b->last_sha256[0] == '\0' && b->pending_sha256[0] == '\0')
			return CK_OK; /* never deployed */
		snprintf(what, sizeof(what), "%s cannot be read (%s): the deployed set is gone",
			 path, e.msg);
		return finding_add(f, CK_SEV_ERROR, b->name, what, fix, err);
	}
	if (!files_key_matches(dir)) {
		snprintf(what, sizeof(what), "the set in %s is incomplete: privkey.pem is missing "
			 "or is not the key of cert.pem (%.16s)", dir, sha);
		return finding_add(f, CK_SEV_ERROR, b->name, what, fix, err);
	}
	if (b->pending_sha256[0] != '\0') {
		which = strcmp(sha, b->pending_sha256) == 0 ? "the NEW set" :
			strcmp(sha, b->last_sha256) == 0 ? "the OLD set" : "neither set";
		snprintf(what, sizeof(what), "a deploy of %.16s was interrupted; the files in %s "
			 "hold %s (certificate %.16s, complete)", b->pending_sha256, dir, which, sha);
		snprintf(fix, sizeof(fix), "certkeep deploy %s (finishes or repeats it)", b->name);
		return finding_add(f, CK_SEV_WARNING, b->name, what, fix, err);
	}
	if (strcmp(sha, b->last_sha256) != 0) {
		snprintf(what, sizeof(what), "the files in %s hold certificate %.16s, not the "
			 "deployed %.16s: changed behind certkeep's back", dir, sha,
			 b->last_sha256[0] ? b->last_sha256 : "(nothing)");
		return finding_add(f, CK_SEV_ERROR, b->name, what, fix, err);
	}
	return CK_OK;
}

enum ck_code
ck_deploy_doctor(const struct ck_ctx *ctx, struct ck_store *st, struct ck_findings *out,
		 struct ck_err *err)
{
	struct ck_binding_list l = { 0 };
	enum ck_code rc;
	size_t i;

	(void)ctx;
	if ((rc = ck_store_binding_list(st, &l, err)) != CK_OK)
		return rc;
	for (i = 0; i < l.n && rc == CK_OK; i++) {
		struct dep_spec spec;
		const struct dep_ops *ops;
		struct ck_err e;

		memset(&e, 0, sizeof(e));
		if (dep_spec_parse(l.items[i].target, &spec, &e) != CK_OK ||
		    (ops = dep_ops_for(spec.kind)) == NULL || ops->swap != dep_dir_swap)
			continue;
		rc = doctor_one(&l.items[i], spec.path, out, err);
	}
	ck_binding_list_cleanup(&l);
	return rc;
}
