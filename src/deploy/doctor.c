/*
 * doctor.c - the deploy room's part of `certkeep doctor`: for every
 * binding with files on disk - a directory target (pem, nginx, apache) or
 * a single file (haproxy's combined PEM, pkcs12) - the files against the
 * store (CK-D020 binding-files): a complete set of the
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

/*
 * A set for a key on a token (nginx_token.c) has no privkey.pem by design:
 * 1 if DIR/nginx-ssl.conf names the token key for the certificate sha (it
 * records the certificate it was written for, so cert.pem and the key line
 * come from one generation).  The key itself is checked against the
 * certificate by every deploy (check 3) and the handshake after it.
 */
static int
token_set_matches(const char *dir, const char *sha)
{
	char path[DEP_PATH_MAX + 16], want[64];
	unsigned char *text = NULL;
	size_t len = 0;
	struct ck_err e;
	int ok;

	memset(&e, 0, sizeof(e));
	snprintf(path, sizeof(path), "%s/" DEP_NGINX_SSL_CONF, dir);
	if (ck_file_read(path, 16 * 1024, &text, &len, &e) != CK_OK)
		return 0;
	snprintf(want, sizeof(want), "(certificate %.16s)", sha);
	ok = strstr((char *)text, want) != NULL && strstr((char *)text, "engine:pkcs11:") != NULL;
	free(text);
	return ok;
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

/*
 * A single-file target (haproxy's combined PEM, a PKCS#12 file): the
 * certificate its key belongs to into sha, *complete 1 when the file holds
 * exactly one key and a certificate of that key (else sha is the first
 * certificate's, *complete 0).  An unreadable file: an error in e.
 */
static enum ck_code
file_set_read(const struct dep_spec *spec, char sha[65], int *complete, struct ck_err *e)
{
	struct ck_bundle bun;
	unsigned char *data = NULL;
	char *pw = NULL;
	size_t len = 0, i;
	enum ck_code rc;

	memset(&bun, 0, sizeof(bun));
	*complete = 0;
	if ((rc = ck_file_read_secret(spec->path, CK_PEM_MAX, &data, &len, e)) != CK_OK)
		return rc;
	if (spec->kind == DEP_KIND_PKCS12 && spec->password_file[0] != '\0' &&
	    (rc = ck_secret_read(spec->password_file, 1024, &pw, e)) != CK_OK)
		goto out;
	if ((rc = ck_bundle_parse(data, len, spec->kind == DEP_KIND_PKCS12 ? (pw ? pw : "") : NULL,
				  &bun, e)) != CK_OK)
		goto out;
	if (bun.certs.n == 0) {
		rc = CK_FAIL(e, CK_ERR_PARSE, "it holds no certificate");
		goto out;
	}
	ck_sha256_hex(bun.certs.items[0].data, bun.certs.items[0].len, sha);
	for (i = 0; bun.nkeys == 1 && i < bun.certs.n && !*complete; i++) {
		EVP_PKEY *pub = NULL;

		if (ck_cert_pubkey(bun.certs.items[i].data, bun.certs.items[i].len, &pub, NULL) ==
			    CK_OK &&
		    ck_key_public_equal(pub, bun.keys[0])) {
			ck_sha256_hex(bun.certs.items[i].data, bun.certs.items[i].len, sha);
			*complete = 1;
		}
		EVP_PKEY_free(pub);
	}
out:
	ck_bundle_cleanup(&bun);
	if (data != NULL)
		ck_secure_free(data, len + 1);
	ck_secure_strfree(pw);
	return rc;
}

enum ck_code
dep_files_read(const struct dep_spec *spec, char sha[65], int *complete, struct ck_err *e)
{
	char path[DEP_PATH_MAX + 16];
	enum ck_code rc;

	*complete = 0;
	switch (spec->kind) {
	case DEP_KIND_PEM:
	case DEP_KIND_NGINX:
	case DEP_KIND_APACHE:
		snprintf(path, sizeof(path), "%s/" DEP_PEM_CERT, spec->path);
		if ((rc = dep_pem_file_sha256(path, sha, e)) == CK_OK)
			*complete = files_key_matches(spec->path) ||
				    (spec->kind == DEP_KIND_NGINX &&
				     token_set_matches(spec->path, sha));
		return rc;
	case DEP_KIND_HAPROXY:
	case DEP_KIND_PKCS12:
		return file_set_read(spec, sha, complete, e);
	default:
		return CK_FAIL(e, CK_ERR_UNSUPPORTED, "an exec target keeps no files of its own");
	}
}

/* The finding (if any) of one binding whose files are spec's (a directory or one file). */
static enum ck_code
doctor_one(const struct ck_binding *b, const struct dep_spec *spec, struct ck_findings *f,
	   struct ck_err *err)
{
	char path[DEP_PATH_MAX + 16], sha[65], what[CK_ERR_MSG_MAX], fix[160];
	const char *which, *dir = spec->path;
	int is_dir = spec->kind == DEP_KIND_PEM || spec->kind == DEP_KIND_NGINX ||
		     spec->kind == DEP_KIND_APACHE;
	int complete = 0;
	struct ck_err e;
	enum ck_code rc;

	memset(&e, 0, sizeof(e));
	snprintf(fix, sizeof(fix), "certkeep deploy %s", b->name);
	if (is_dir)
		snprintf(path, sizeof(path), "%s/" DEP_PEM_CERT, dir);
	else
		snprintf(path, sizeof(path), "%s", dir);
	if ((rc = dep_files_read(spec, sha, &complete, &e)) != CK_OK) {
		if (b->last_sha256[0] == '\0' && b->pending_sha256[0] == '\0')
			return CK_OK; /* never deployed */
		snprintf(what, sizeof(what), "%s cannot be read (%s): the deployed set is gone",
			 path, e.msg);
		return finding_add(f, CK_SEV_ERROR, b->name, what, fix, err);
	}
	if (!complete) {
		snprintf(what, sizeof(what), is_dir
			 ? "the set in %s is incomplete: privkey.pem (or, for a key on a token, "
			   "nginx-ssl.conf) is missing or is not the key of cert.pem (%.16s)"
			 : "%s is incomplete: it holds no key, or not the key of its certificate "
			   "(%.16s)", dir, sha);
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

	/* Only this node's: another node's files are on its own machine. */
	if ((rc = ck_store_bindings_of_node(st, ck_ctx_node(ctx), 0, &l, err)) != CK_OK)
		return rc;
	for (i = 0; i < l.n && rc == CK_OK; i++) {
		struct dep_spec spec;
		const struct dep_ops *ops;
		struct ck_err e;

		memset(&e, 0, sizeof(e));
		if (dep_spec_parse(l.items[i].target, &spec, &e) != CK_OK ||
		    (ops = dep_ops_for(spec.kind)) == NULL || spec.kind == DEP_KIND_EXEC)
			continue; /* exec: the hook's files are its own */
		rc = doctor_one(&l.items[i], &spec, out, err);
	}
	ck_binding_list_cleanup(&l);
	return rc;
}
