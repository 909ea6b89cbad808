/*
 * conf.c - the configured tokens (name -> PKCS#11 module path + token
 * label) as JSON text kept in one store setting, and the set that
 * searches them for a public key by SPKI, opening each token once.
 *
 * Must never: accept a relative module path (what it loads would depend
 * on the working directory), an entry past its maximum, or report a key
 * as absent when a token could not be searched.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crypto/crypto.h"
#include "token/token.h"

int
ck_token_name_valid(const char *s)
{
	return ck_str_is_name(s, CK_TOKEN_NAME_MAX);
}

const struct ck_token_conf *
ck_token_conf_find(const struct ck_token_conf_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->items[i].name, name) == 0)
			return &l->items[i];
	return NULL;
}

enum ck_code
ck_token_conf_add(struct ck_token_conf_list *l, const char *name, const char *module,
		  const char *label, struct ck_err *err)
{
	struct ck_token_conf *c;

	if (!ck_token_name_valid(name))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a token name is 1 to %d of A-Z a-z 0-9 "
			       ". _ - and does not start with '.' or '-'", CK_TOKEN_NAME_MAX);
	if (module == NULL || module[0] != '/' || strlen(module) > CK_TOKEN_MODULE_PATH_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "token '%s': the module path must be "
			       "absolute and at most %d bytes", name, CK_TOKEN_MODULE_PATH_MAX);
	if (label == NULL || label[0] == '\0' || strlen(label) > CK_TOKEN_LABEL_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "token '%s': the token label must be 1 "
			       "to %d bytes", name, CK_TOKEN_LABEL_MAX);
	if (ck_token_conf_find(l, name) != NULL)
		return CK_FAIL(err, CK_ERR_EXISTS, "a token named '%s' is configured already: "
			       "remove it first (certkeep token rm %s)", name, name);
	if (l->n >= CK_TOKEN_CONF_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "at most %d tokens can be configured",
			       CK_TOKEN_CONF_MAX);
	c = &l->items[l->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->module, sizeof(c->module), "%s", module);
	snprintf(c->label, sizeof(c->label), "%s", label);
	return CK_OK;
}

enum ck_code
ck_token_conf_remove(struct ck_token_conf_list *l, const char *name, struct ck_err *err)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (strcmp(l->items[i].name, name) != 0)
			continue;
		memmove(&l->items[i], &l->items[i + 1], (l->n - i - 1) * sizeof(l->items[0]));
		l->n--;
		return CK_OK;
	}
	return CK_FAIL(err, CK_ERR_NOT_FOUND, "no token named '%s' is configured (certkeep "
		       "token list shows them)", name);
}

enum ck_code
ck_token_conf_parse(const char *text, struct ck_token_conf_list *out, struct ck_err *err)
{
	struct ck_token_conf_list l;
	json_error_t jerr;
	json_t *root = NULL, *v, *m, *t;
	const char *name;
	enum ck_code rc = CK_ERR_PARSE;

	memset(&l, 0, sizeof(l));
	if (text == NULL || text[0] == '\0')
		goto done;
	root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		rc = CK_FAIL(err, CK_ERR_PARSE, "the store's token configuration is not a JSON "
			     "object");
		goto out;
	}
	json_object_foreach(root, name, v) {
		m = json_object_get(v, "module");
		t = json_object_get(v, "token");
		if (!json_is_object(v) || !json_is_string(m) || !json_is_string(t)) {
			rc = CK_FAIL(err, CK_ERR_PARSE, "the store's token configuration has an "
				     "entry without a module or token string");
			goto out;
		}
		if ((rc = ck_token_conf_add(&l, name, json_string_value(m), json_string_value(t),
					    err)) != CK_OK) {
			ck_err_prefix(err, "the store's token configuration");
			rc = CK_ERR_PARSE;
			if (err != NULL)
				err->code = CK_ERR_PARSE;
			goto out;
		}
	}
done:
	*out = l;
	rc = CK_OK;
out:
	json_decref(root);
	return rc;
}

enum ck_code
ck_token_conf_format(const struct ck_token_conf_list *l, char **out, struct ck_err *err)
{
	json_t *root = json_object(), *e;
	char *s;
	size_t i;

	if (root == NULL)
		goto fail;
	for (i = 0; i < l->n; i++) {
		e = json_pack("{s:s, s:s}", "module", l->items[i].module, "token",
			      l->items[i].label);
		if (e == NULL || json_object_set_new(root, l->items[i].name, e) != 0)
			goto fail;
	}
	if ((s = ck_json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		goto fail;
	json_decref(root);
	*out = s;
	return CK_OK;
fail:
	json_decref(root);
	return CK_OOM(err);
}

/* ---- the set searched by SPKI ------------------------------------------- */

struct ck_token_set {
	struct ck_token_conf_list conf;
	struct ck_token_key_list keys[CK_TOKEN_CONF_MAX];
	int loaded[CK_TOKEN_CONF_MAX];
};

enum ck_code
ck_token_set_new(const struct ck_token_conf_list *l, struct ck_token_set **out,
		 struct ck_err *err)
{
	struct ck_token_set *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return CK_OOM(err);
	if (l != NULL)
		s->conf = *l;
	*out = s;
	return CK_OK;
}

void
ck_token_set_free(struct ck_token_set *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < CK_TOKEN_CONF_MAX; i++)
		ck_token_key_list_cleanup(&s->keys[i]);
	free(s);
}

/* Reads the public keys of token i once (opened and closed here). */
static enum ck_code
set_load(struct ck_token_set *s, size_t i, struct ck_err *err)
{
	const struct ck_token_conf *c = &s->conf.items[i];
	struct ck_token *t = NULL;
	enum ck_code rc;

	if (s->loaded[i])
		return CK_OK;
	rc = ck_token_open(c->module, c->label, &t, err);
	if (rc == CK_OK)
		rc = ck_token_public_keys(t, &s->keys[i], err);
	ck_token_close(t);
	if (rc != CK_OK) {
		ck_err_prefix(err, "configured token '%s' could not be searched for the key "
				   "(fix it, or remove it with 'certkeep token rm %s')",
			      c->name, c->name);
		/* never CK_ERR_NOT_FOUND: that would read as "no token has the key" */
		if (rc == CK_ERR_NOT_FOUND) {
			rc = CK_ERR_IO;
			if (err != NULL)
				err->code = rc;
		}
		return rc;
	}
	s->loaded[i] = 1;
	return CK_OK;
}

enum ck_code
ck_token_set_find(struct ck_token_set *s, const char *spki_sha256,
		  const struct ck_token_key **key, const struct ck_token_conf **conf,
		  struct ck_err *err)
{
	enum ck_code rc;
	size_t i, k;

	for (i = 0; i < s->conf.n; i++) {
		if ((rc = set_load(s, i, err)) != CK_OK)
			return rc;
		for (k = 0; k < s->keys[i].n; k++) {
			if (strcmp(s->keys[i].items[k].spki_sha256, spki_sha256) != 0)
				continue;
			*key = &s->keys[i].items[k];
			*conf = &s->conf.items[i];
			return CK_OK;
		}
	}
	return CK_FAIL(err, CK_ERR_NOT_FOUND, "no configured token has this public key");
}
