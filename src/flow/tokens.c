/*
 * tokens.c - configured tokens in the store's settings, the changes to
 * them, a token's public keys, the import's key finder over them, and
 * the imported certificates written onto their keys' tokens (see
 * tokens.h).
 *
 * Must never: keep a PIN, or hand the store a key reference whose SPKI
 * it has not got from the token itself.
 */
#include <stdlib.h>
#include <string.h>

#include "flow/certkey.h"
#include "flow/tokens.h"

enum ck_code
ck_tokens_load(struct ck_store *st, struct ck_token_conf_list *out, struct ck_err *err)
{
	char *text = NULL;
	enum ck_code rc;

	rc = ck_store_setting_get(st, CK_TOKEN_SETTING, &text, err);
	if (rc == CK_ERR_NOT_FOUND) {
		memset(out, 0, sizeof(*out));
		if (err != NULL)
			ck_err_clear(err);
		return CK_OK;
	}
	if (rc != CK_OK)
		return rc;
	rc = ck_token_conf_parse(text, out, err);
	free(text);
	return rc;
}

enum ck_code
ck_tokens_save(struct ck_store *st, const struct ck_token_conf_list *l, struct ck_err *err)
{
	char *text = NULL;
	enum ck_code rc;

	if (l->n == 0)
		return ck_store_setting_set(st, CK_TOKEN_SETTING, NULL, err);
	if ((rc = ck_token_conf_format(l, &text, err)) != CK_OK)
		return rc;
	rc = ck_store_setting_set(st, CK_TOKEN_SETTING, text, err);
	free(text);
	return rc;
}

static enum ck_code
tokens_find(void *arg, const char *spki_sha256, struct ck_key_hit *hit, struct ck_err *err)
{
	const struct ck_token_key *k = NULL;
	const struct ck_token_conf *c = NULL;
	struct ck_key_hit h;
	enum ck_code rc;

	if ((rc = ck_token_set_find(arg, spki_sha256, &k, &c, err)) != CK_OK)
		return rc;
	memset(&h, 0, sizeof(h));
	h.pkcs11_uri = strdup(k->uri);
	h.where = strdup(c->name);
	h.spki_der = malloc(k->spki_len);
	if (h.pkcs11_uri == NULL || h.where == NULL || h.spki_der == NULL) {
		free(h.pkcs11_uri);
		free(h.where);
		free(h.spki_der);
		return CK_OOM(err);
	}
	memcpy(h.spki_der, k->spki, k->spki_len);
	h.spki_len = k->spki_len;
	*hit = h;
	return CK_OK;
}

enum ck_code
ck_tokens_finder(struct ck_store *st, struct ck_token_set **set, struct ck_key_finder *f,
		  struct ck_err *err)
{
	struct ck_token_conf_list l;
	struct ck_token_set *s = NULL;
	enum ck_code rc;

	memset(f, 0, sizeof(*f));
	*set = NULL;
	if ((rc = ck_tokens_load(st, &l, err)) != CK_OK)
		return rc;
	if (l.n == 0)
		return CK_OK;
	if ((rc = ck_token_set_new(&l, &s, err)) != CK_OK)
		return rc;
	f->find = tokens_find;
	f->arg = s;
	*set = s;
	return CK_OK;
}

/* Opens a token (no login) and lists its public keys; OUTPUT only on success. */
static enum ck_code
tokens_open_keys(const char *module, const char *label, struct ck_token **t,
		 struct ck_token_key_list *keys, struct ck_err *err)
{
	struct ck_token_key_list kl = { NULL, 0, 0 };
	struct ck_token *tok = NULL;
	enum ck_code rc;

	if ((rc = ck_token_open(module, label, &tok, err)) != CK_OK ||
	    (rc = ck_token_public_keys(tok, &kl, err)) != CK_OK) {
		ck_token_key_list_cleanup(&kl);
		ck_token_close(tok);
		return rc;
	}
	*t = tok;
	*keys = kl;
	return CK_OK;
}

enum ck_code
ck_tokens_probe(const char *name, const char *module, const char *label, struct ck_token **t,
		struct ck_token_key_list *keys, struct ck_err *err)
{
	enum ck_code rc;

	if ((rc = tokens_open_keys(module, label, t, keys, err)) != CK_OK)
		ck_err_prefix(err, "token '%s' was not added", name);
	return rc;
}

/* Loads the configuration, adds (module != NULL) or removes token name, saves
 * it: one transaction, rolled back on any failure. */
static enum ck_code
tokens_update(struct ck_store *st, const char *name, const char *module, const char *label,
	      struct ck_err *err)
{
	struct ck_token_conf_list l;
	enum ck_code rc;

	if ((rc = ck_store_tx_begin(st, err)) != CK_OK)
		return rc;
	if ((rc = ck_tokens_load(st, &l, err)) != CK_OK ||
	    (rc = module != NULL ? ck_token_conf_add(&l, name, module, label, err)
				 : ck_token_conf_remove(&l, name, err)) != CK_OK ||
	    (rc = ck_tokens_save(st, &l, err)) != CK_OK ||
	    (rc = ck_store_tx_commit(st, err)) != CK_OK)
		ck_store_tx_rollback(st);
	return rc;
}

enum ck_code
ck_tokens_add(struct ck_store *st, const char *name, const char *module, const char *label,
	      struct ck_err *err)
{
	if (module == NULL || label == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a token needs a module and a label");
	return tokens_update(st, name, module, label, err);
}

enum ck_code
ck_tokens_remove(struct ck_store *st, const char *name, struct ck_err *err)
{
	return tokens_update(st, name, NULL, NULL, err);
}

enum ck_code
ck_tokens_keys(const struct ck_token_conf_list *l, const char *name, struct ck_token **t,
	       struct ck_token_key_list *keys, struct ck_err *err)
{
	const struct ck_token_conf *c;
	enum ck_code rc;

	if ((c = ck_token_conf_find(l, name)) == NULL)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "no token named '%s' is configured "
			       "('certkeep token list' shows them)", name);
	if ((rc = tokens_open_keys(c->module, c->label, t, keys, err)) != CK_OK)
		ck_err_prefix(err, "token '%s'", name);
	return rc;
}

/* Writes certificate c (linked to a token key) onto its token. */
static enum ck_code
tokens_write_one(struct ck_store *st, const struct ck_import_cert *c,
		 const struct ck_token_target *tok, struct ck_err *err)
{
	struct flow_key_src src = { tok->uri, tok->module, tok->pin_file };
	struct flow_key k;
	unsigned char *der = NULL;
	char label[CK_STORE_NAME_MAX + 1];
	size_t len = 0, replaced = 0;
	enum ck_code rc;

	memset(&k, 0, sizeof(k));
	/* Without a lineage the certificate's own thumbprint names it. */
	snprintf(label, sizeof(label), "%s", c->lineage ? c->lineage : c->sha256);
	if ((rc = ck_store_cert_der(st, c->cert_id, &der, &len, NULL, err)) != CK_OK ||
	    (rc = flow_key_load(&k, st, c->key_id, &src, err)) != CK_OK ||
	    (rc = flow_key_cert_to_token(&k, der, len, label, &replaced, err)) != CK_OK)
		ck_err_prefix(err, "certificate %.16s was imported and linked, but not written "
			      "onto its token", c->sha256);
	flow_key_cleanup(&k);
	free(der);
	return rc;
}

enum ck_code
ck_tokens_write_imported(struct ck_store *st, const struct ck_import_result *r,
			 const struct ck_token_target *tok, size_t *written, struct ck_err *err)
{
	static const struct ck_token_target none = { NULL, NULL, NULL };
	const struct ck_import_cert *c;
	enum ck_code rc;
	size_t i;

	*written = 0;
	for (i = 0; i < r->ncerts; i++) {
		c = &r->certs[i];
		if (c->key_id == 0 || c->key_location == NULL ||
		    strncmp(c->key_location, "pkcs11:", 7) != 0)
			continue;
		if ((rc = tokens_write_one(st, c, tok ? tok : &none, err)) != CK_OK)
			return rc;
		(*written)++;
	}
	return CK_OK;
}

enum ck_code
ck_tokens_move_check(struct ck_store *src, int64_t cert_id, const char *module,
		     struct ck_err *err)
{
	struct ck_cert_row row;
	struct ck_pkcs11_uri u;
	struct ck_token *t = NULL;
	struct ck_err e;
	enum ck_code rc;

	memset(&row, 0, sizeof(row));
	memset(&u, 0, sizeof(u));
	if ((rc = ck_store_cert_get(src, cert_id, &row, err)) != CK_OK)
		return rc;
	if (row.key_location == NULL || strncmp(row.key_location, "pkcs11:", 7) != 0)
		goto out; /* not a token key: the store's own checks apply */
	ck_err_clear(&e);
	if ((rc = ck_pkcs11_uri_parse(row.key_location, &u, &e)) == CK_OK &&
	    (rc = ck_token_open_uri(&u, module, &t, &e)) == CK_OK)
		goto out;
	rc = CK_FAIL(err, CK_ERR_STATE, "refusing to move certificate %.16s: its key lives on "
		     "token '%s', which cannot be reached from here (%s); moved, it would have "
		     "no usable key.  Nothing was changed: attach the token and move again, or "
		     "copy the certificate (its key reference travels with it)", row.sha256,
		     u.token, e.msg);
out:
	ck_token_close(t);
	ck_cert_row_cleanup(&row);
	return rc;
}
