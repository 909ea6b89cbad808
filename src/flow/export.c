/*
 * export.c - a certificate leaving the store: with its key and chain as
 * PEM, DER or PKCS#12 (modern AES-256 / legacy 3DES for old Windows), in
 * one file or separate ones.  Owns invariant 5 for files: nothing leaves
 * without its key unless the caller asked for certificate-only output, and
 * a key that cannot leave (a token key) is named as such.
 *
 * Must never: write a key file wider than 0600, write a certificate whose
 * key was asked for before the key file is complete, export a key that
 * does not match the certificate, keep key text in memory unwiped.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/render.h"
#include "flow/ops.h"

#define EXPORT_OUT_MAX (4 * CK_PEM_MAX) /* one output file */

enum ck_code
ck_export_format_parse(const char *s, enum ck_export_format *out, struct ck_err *err)
{
	if (s != NULL && strcmp(s, "pem") == 0)
		*out = CK_EXPORT_PEM;
	else if (s != NULL && strcmp(s, "der") == 0)
		*out = CK_EXPORT_DER;
	else if (s != NULL && (strcmp(s, "pfx") == 0 || strcmp(s, "p12") == 0 ||
			       strcmp(s, "pkcs12") == 0))
		*out = CK_EXPORT_PFX;
	else
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "unknown format; use pem, der or pfx");
	return CK_OK;
}

enum ck_code
ck_pfx_compat_parse(const char *s, enum ck_pfx_compat *out, struct ck_err *err)
{
	if (s != NULL && strcmp(s, "modern") == 0)
		*out = CK_PFX_MODERN;
	else if (s != NULL && strcmp(s, "legacy") == 0)
		*out = CK_PFX_LEGACY;
	else
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "unknown PFX compatibility; use modern (AES-256, SHA-256) or legacy "
			       "(3DES, SHA-1: Windows Server 2016 and older)");
	return CK_OK;
}

/* Every output path given, for the distinctness check. */
static size_t
export_paths(const struct ck_export_opts *o, const char *p[CK_EXPORT_FILES_MAX])
{
	const char *all[CK_EXPORT_FILES_MAX] = { o->out, o->cert_out, o->key_out, o->chain_out,
						 o->fullchain_out };
	size_t i, n = 0;

	for (i = 0; i < CK_EXPORT_FILES_MAX; i++)
		if (all[i] != NULL)
			p[n++] = all[i];
	return n;
}

/*
 * A PFX is protected by a non-empty password, or unprotected because the
 * caller said so (no_password): an empty password file is a mistake far
 * more often than a wish, and the PFX it makes opens for anyone.
 */
static enum ck_code
export_check_password(const struct ck_export_opts *o, struct ck_err *err)
{
	if (o->format != CK_EXPORT_PFX && (o->password != NULL || o->no_password))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "%s is for --format pfx; PEM and DER keys are written "
			       "unencrypted, mode 0600",
			       o->password != NULL ? "--password-file" : "--no-password");
	if (o->format != CK_EXPORT_PFX)
		return CK_OK;
	if (o->no_password && o->password != NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "--no-password and --password-file contradict each other");
	if (o->no_password)
		return CK_OK;
	if (o->password == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "a PFX needs a password: --password-file FILE (or fd:N); passwords "
			       "are never taken from the command line (--no-password writes an "
			       "unprotected PFX on purpose)");
	if (o->password[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "the PFX password is empty, which would leave the key unprotected; "
			       "nothing was written: put the password in the file, or give "
			       "--no-password instead of --password-file to write an unprotected "
			       "PFX on purpose");
	return CK_OK;
}

enum ck_code
ck_export_check(const struct ck_export_opts *o, struct ck_err *err)
{
	const char *p[CK_EXPORT_FILES_MAX];
	enum ck_code rc;
	int separate;
	size_t n, i, j;

	if (o == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no export options");
	separate = o->cert_out || o->key_out || o->chain_out || o->fullchain_out;
	if (o->out != NULL && separate)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "--out writes one file: use it or the separate --cert-out, "
			       "--key-out, --chain-out, --fullchain-out files, not both");
	if (o->out == NULL && !separate)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "say where to write: --out FILE, or --cert-out FILE (with "
			       "--key-out, --chain-out, --fullchain-out as wanted)");
	if (o->format == CK_EXPORT_PFX && o->out == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a PFX is one file: use --out FILE");
	if ((rc = export_check_password(o, err)) != CK_OK)
		return rc;
	if (o->no_key && o->key_out != NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "--no-key and --key-out contradict each other");
	if (o->format == CK_EXPORT_DER && (o->chain_out != NULL || o->fullchain_out != NULL))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "DER holds one certificate: use --format pem for chain files");
	n = export_paths(o, p);
	for (i = 0; i < n; i++) {
		if (p[i][0] == '\0')
			return CK_FAIL(err, CK_ERR_INVALID_ARG, "an output file name is empty");
		for (j = i + 1; j < n; j++)
			if (strcmp(p[i], p[j]) == 0)
				return CK_FAIL(err, CK_ERR_INVALID_ARG,
					       "two outputs name the same file; give each its own");
	}
	return CK_OK;
}

void
ck_export_result_cleanup(struct ck_export_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nfiles; i++)
		free(r->files[i].path);
	memset(r, 0, sizeof(*r));
}

/* What the export holds in memory before anything is written. */
struct exp {
	struct ck_cert_row row;
	unsigned char *der;
	size_t der_len;
	struct ck_der_list chain;
	EVP_PKEY *key;
	struct ck_buf cert;       /* PEM or DER */
	struct ck_buf chain_pem;
	struct ck_buf key_text;   /* secret: PEM or PKCS#8 DER */
	struct ck_buf single;     /* --out: secret when it holds the key */
};

static void
exp_cleanup(struct exp *e)
{
	ck_cert_row_cleanup(&e->row);
	free(e->der);
	ck_der_list_cleanup(&e->chain);
	EVP_PKEY_free(e->key);
	ck_buf_cleanup(&e->cert);
	ck_buf_cleanup(&e->chain_pem);
	ck_buf_cleanup(&e->key_text);
	ck_buf_cleanup(&e->single);
}

/* Whether these options put the private key in some output. */
static int
export_wants_key(const struct ck_export_opts *o)
{
	if (o->no_key)
		return 0;
	if (o->out != NULL)
		return o->format != CK_EXPORT_DER;
	return o->key_out != NULL;
}

/* The refusals of invariant 5, before anything is read or written. */
static enum ck_code
export_key_rules(const struct ck_export_opts *o, const struct ck_cert_row *row,
		 struct ck_err *err)
{
	if (o->no_key)
		return CK_OK;
	if (!row->linked)
		return CK_FAIL(err, CK_ERR_KEY_MISSING,
			       "certificate %.16s has no private key in this store (the state "
			       "Windows reports as \"Keyset does not exist\"); nothing was written: "
			       "import its key (certkeep import key.pem) and it will be linked, or "
			       "pass --no-key to export the certificate alone", row->sha256);
	if (o->out != NULL && o->format == CK_EXPORT_DER)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "a DER file holds only the certificate; nothing was written: use "
			       "--cert-out FILE --key-out FILE (both DER) to export its key too, "
			       "or pass --no-key for the certificate alone");
	return CK_OK;
}

static enum ck_code
export_load_key(struct ck_store *st, struct exp *e, struct ck_err *err)
{
	EVP_PKEY *pub = NULL;
	enum ck_code rc;
	int same;

	rc = ck_store_key_load(st, e->row.key_id, &e->key, err);
	if (rc == CK_ERR_KEY_NOT_EXPORTABLE)
		return CK_FAIL(err, CK_ERR_KEY_NOT_EXPORTABLE,
			       "the private key of certificate %.16s lives on a token (%s) and "
			       "cannot leave its token; nothing was written: pass --no-key to "
			       "export the certificate alone and use the key where it is",
			       e->row.sha256, e->row.key_location ? e->row.key_location : "pkcs11");
	if (rc != CK_OK)
		return rc;
	if ((rc = ck_cert_pubkey(e->der, e->der_len, &pub, err)) != CK_OK)
		return rc;
	same = ck_key_public_equal(pub, e->key);
	EVP_PKEY_free(pub);
	if (!same)
		return CK_FAIL(err, CK_ERR_CORRUPT,
			       "the stored key of certificate %.16s does not match it; nothing was "
			       "written: run 'certkeep doctor'", e->row.sha256);
	return CK_OK;
}

/* The key as text for --key-out and single PEM files (secret). */
static enum ck_code
export_key_text(struct exp *e, enum ck_export_format f, struct ck_err *err)
{
	if (f == CK_EXPORT_DER)
		return ck_render_key_der(e->key, &e->key_text, err);
	return ck_render_key_pem(e->key, &e->key_text, err);
}

/* Builds every blob the options ask for (the bytes come from crypto/render.h). */
static enum ck_code
export_build(struct exp *e, const struct ck_export_opts *o, struct ck_err *err)
{
	enum ck_code rc;

	if (o->format == CK_EXPORT_PFX)
		return ck_render_pkcs12(e->key, e->der, e->der_len, &e->chain,
					o->no_password ? "" : o->password, e->row.lineage,
					o->pfx_compat, &e->single, err);
	if (e->key != NULL && (rc = export_key_text(e, o->format, err)) != CK_OK)
		return rc;
	if (o->format == CK_EXPORT_DER)
		return ck_buf_append(o->out ? &e->single : &e->cert, e->der, e->der_len, err);
	if ((rc = ck_render_cert_pem(e->der, e->der_len, &e->cert, err)) != CK_OK ||
	    (rc = ck_render_chain_pem(&e->chain, &e->chain_pem, err)) != CK_OK)
		return rc;
	if (o->out == NULL)
		return CK_OK;
	/* One PEM file: certificate, chain, key (the order nginx and HAProxy read). */
	return ck_render_combined(e->key, e->der, e->der_len, &e->chain, &e->single, err);
}

static enum ck_code
export_write_one(struct ck_export_result *r, const char *path, const char *what,
		 const void *data, size_t len, mode_t mode, struct ck_err *err)
{
	struct ck_export_file *f = &r->files[r->nfiles];
	enum ck_code rc;

	/* The path is copied first: nothing may fail once the file is written,
	 * or a file would exist that the result does not list. */
	if ((f->path = strdup(path)) == NULL)
		return CK_OOM(err);
	if ((rc = ck_file_write_atomic(path, data, len, mode, err)) != CK_OK) {
		free(f->path);
		f->path = NULL;
		if (r->nfiles > 0)
			ck_err_prefix(err, "%zu file(s) were already written", r->nfiles);
		return rc;
	}
	f->what = what;
	f->mode = mode;
	r->nfiles++;
	return CK_OK;
}

/* Writes the files, the key first. */
static enum ck_code
export_write(const struct exp *e, const struct ck_export_opts *o, struct ck_export_result *r,
	     struct ck_err *err)
{
	struct ck_buf full;
	enum ck_code rc;

	if (o->out != NULL)
		return export_write_one(r, o->out,
					o->format == CK_EXPORT_PFX ? "PKCS#12" : "certificate",
					e->single.data, e->single.len, e->key ? 0600 : 0644, err);
	if (o->key_out != NULL &&
	    (rc = export_write_one(r, o->key_out, "private key", e->key_text.data,
				   e->key_text.len, 0600, err)) != CK_OK)
		return rc;
	if (o->cert_out != NULL &&
	    (rc = export_write_one(r, o->cert_out, "certificate", e->cert.data, e->cert.len,
				   0644, err)) != CK_OK)
		return rc;
	if (o->chain_out != NULL &&
	    (rc = export_write_one(r, o->chain_out, "chain", e->chain_pem.data, e->chain_pem.len,
				   0644, err)) != CK_OK)
		return rc;
	if (o->fullchain_out == NULL)
		return CK_OK;
	ck_buf_init(&full, EXPORT_OUT_MAX);
	rc = ck_render_fullchain(e->der, e->der_len, &e->chain, &full, err);
	if (rc == CK_OK)
		rc = export_write_one(r, o->fullchain_out, "full chain", full.data, full.len, 0644,
				      err);
	ck_buf_cleanup(&full);
	return rc;
}

enum ck_code
ck_store_export(struct ck_store *st, int64_t cert_id, const struct ck_export_opts *o,
		struct ck_export_result *out, struct ck_err *err)
{
	struct ck_export_result res;
	struct exp e;
	enum ck_code rc;

	memset(&res, 0, sizeof(res));
	memset(&e, 0, sizeof(e));
	ck_buf_init(&e.cert, EXPORT_OUT_MAX);
	ck_buf_init(&e.chain_pem, EXPORT_OUT_MAX);
	ck_buf_init_secret(&e.key_text, EXPORT_OUT_MAX);
	ck_buf_init_secret(&e.single, EXPORT_OUT_MAX);
	if ((rc = ck_export_check(o, err)) != CK_OK)
		goto out;
	if ((rc = ck_store_cert_get(st, cert_id, &e.row, err)) != CK_OK ||
	    (rc = export_key_rules(o, &e.row, err)) != CK_OK ||
	    (rc = ck_store_cert_der(st, cert_id, &e.der, &e.der_len, NULL, err)) != CK_OK ||
	    (rc = ck_store_cert_chain_selected(st, cert_id, &e.chain, &res.chain_index, err)) !=
		    CK_OK)
		goto out;
	if (export_wants_key(o) && (rc = export_load_key(st, &e, err)) != CK_OK)
		goto out;
	if ((rc = export_build(&e, o, err)) != CK_OK ||
	    (rc = export_write(&e, o, &res, err)) != CK_OK)
		goto out;
	res.key_included = e.key != NULL;
	res.chain_len = e.chain.n;
	*out = res;
	memset(&res, 0, sizeof(res));
out:
	ck_export_result_cleanup(&res);
	exp_cleanup(&e);
	return rc;
}
