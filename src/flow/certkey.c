/*
 * certkey.c - a flow's signing key, software or on a token (certkey.h).
 *
 * Must never: keep a PIN, or trust a token key's CKA_ID without checking
 * its public key against the one the store recorded.
 */
#include <stdlib.h>
#include <string.h>

#include "flow/certkey.h"

/* Opens and logs in to the token uri_text names; *u the parsed URI. */
static enum ck_code
key_token_open(struct flow_key *k, const char *uri_text, const struct flow_key_src *src,
	       struct ck_pkcs11_uri *u, struct ck_err *err)
{
	struct ck_pkcs11_uri given;
	const char *pin = src->pin_file;
	enum ck_code rc;

	if ((rc = ck_pkcs11_uri_parse(uri_text, u, err)) != CK_OK)
		return rc;
	/* A stored URI has no pin-source: the one the user gave may. */
	if ((pin == NULL || pin[0] == '\0') && u->pin_source[0] != '\0')
		pin = u->pin_source;
	if ((pin == NULL || pin[0] == '\0') && src->token_uri != NULL &&
	    ck_pkcs11_uri_parse(src->token_uri, &given, NULL) == CK_OK &&
	    given.pin_source[0] != '\0')
		pin = given.pin_source;
	if ((rc = ck_token_open_uri(u, src->module, &k->token, err)) != CK_OK)
		return rc;
	return ck_token_login(k->token, pin, err);
}

/* The new or chosen token key for label: the URI's id=/object=, else made now. */
static enum ck_code
key_token_choose(struct flow_key *k, const struct ck_pkcs11_uri *u, enum ck_key_type kt,
		 const char *label, struct ck_err *err)
{
	struct ck_token_key made;
	enum ck_code rc;

	if (u->has_id) {
		memcpy(k->id, u->id, u->id_len);
		k->id_len = u->id_len;
		return CK_OK;
	}
	if (u->object[0] != '\0')
		return ck_token_key_id_by_label(k->token, u->object, k->id, &k->id_len, err);
	memset(&made, 0, sizeof(made));
	if ((rc = ck_token_key_generate(k->token, kt, label, &made, err)) != CK_OK)
		return rc;
	memcpy(k->id, made.id, made.id_len);
	k->id_len = made.id_len;
	ck_token_key_cleanup(&made);
	return CK_OK;
}

/* Stores the token key's reference: its URI and the SPKI read from the token. */
static enum ck_code
key_token_store(struct flow_key *k, struct ck_store *st, struct ck_err *err)
{
	unsigned char *spki = NULL;
	size_t spki_len = 0;
	char *uri = NULL;
	enum ck_code rc;

	if ((rc = ck_key_spki_der(ck_signer_pubkey(k->signer), &spki, &spki_len, err)) != CK_OK ||
	    (rc = ck_pkcs11_uri_format(ck_token_label(k->token), k->id, k->id_len, NULL,
				       ck_token_module(k->token), &uri, err)) != CK_OK)
		goto out;
	rc = ck_store_key_put_token(st, uri, spki, spki_len, &k->key_id, NULL, err);
out:
	free(spki);
	free(uri);
	return rc;
}

enum ck_code
flow_key_new(struct flow_key *k, struct ck_store *st, const struct flow_key_src *src,
	     enum ck_key_type kt, const char *label, struct ck_err *err)
{
	struct flow_key nk;
	struct ck_pkcs11_uri u;
	EVP_PKEY *key = NULL;
	enum ck_code rc;

	memset(&nk, 0, sizeof(nk));
	if (src == NULL || src->token_uri == NULL) {
		if ((rc = ck_key_generate(kt, &key, err)) != CK_OK ||
		    (rc = ck_store_key_put(st, key, &nk.key_id, NULL, err)) != CK_OK ||
		    (rc = ck_signer_from_key(key, &nk.signer, err)) != CK_OK)
			goto out;
	} else {
		if ((rc = key_token_open(&nk, src->token_uri, src, &u, err)) != CK_OK ||
		    (rc = key_token_choose(&nk, &u, kt, label, err)) != CK_OK ||
		    (rc = ck_token_signer_new(nk.token, nk.id, nk.id_len, &nk.signer, err)) ||
		    (rc = key_token_store(&nk, st, err)) != CK_OK)
			goto out;
	}
	*k = nk;
	memset(&nk, 0, sizeof(nk));
out:
	EVP_PKEY_free(key);
	flow_key_cleanup(&nk);
	return rc;
}

enum ck_code
flow_key_find(struct flow_key *k, const struct flow_key_src *src, struct ck_err *err)
{
	struct flow_key nk;
	struct ck_pkcs11_uri u;
	enum ck_code rc;

	memset(&nk, 0, sizeof(nk));
	if ((rc = key_token_open(&nk, src->token_uri, src, &u, err)) != CK_OK)
		goto out;
	if (!u.has_id && u.object[0] == '\0') {
		rc = CK_FAIL(err, CK_ERR_INVALID_ARG, "name the existing key in the URI with id= "
			     "or object= (%s names only a token)", src->token_uri);
		goto out;
	}
	if ((rc = key_token_choose(&nk, &u, CK_KEY_NONE, NULL, err)) != CK_OK ||
	    (rc = ck_token_signer_new(nk.token, nk.id, nk.id_len, &nk.signer, err)) != CK_OK)
		goto out;
	*k = nk;
	memset(&nk, 0, sizeof(nk));
out:
	flow_key_cleanup(&nk);
	return rc;
}

enum ck_code
flow_key_store(struct flow_key *k, struct ck_store *st, struct ck_err *err)
{
	return key_token_store(k, st, err);
}

enum ck_code
flow_key_load(struct flow_key *k, struct ck_store *st, int64_t key_id,
	      const struct flow_key_src *src, struct ck_err *err)
{
	static const struct flow_key_src none = { NULL, NULL, NULL };
	struct flow_key nk;
	struct ck_key_info ki;
	struct ck_pkcs11_uri u;
	char spki[65];
	EVP_PKEY *key = NULL;
	enum ck_code rc;

	memset(&nk, 0, sizeof(nk));
	memset(&ki, 0, sizeof(ki));
	nk.key_id = key_id;
	if ((rc = ck_store_key_info(st, key_id, &ki, err)) != CK_OK)
		goto out;
	if (ki.pkcs11_uri == NULL) {
		if ((rc = ck_store_key_load(st, key_id, &key, err)) != CK_OK ||
		    (rc = ck_signer_from_key(key, &nk.signer, err)) != CK_OK)
			goto out;
	} else {
		if ((rc = key_token_open(&nk, ki.pkcs11_uri, src ? src : &none, &u, err)) != CK_OK)
			goto out;
		if (!u.has_id) {
			rc = CK_FAIL(err, CK_ERR_CORRUPT, "stored key %lld names its token key "
				     "without a CKA_ID (%s)", (long long)key_id, ki.pkcs11_uri);
			goto out;
		}
		memcpy(nk.id, u.id, u.id_len);
		nk.id_len = u.id_len;
		if ((rc = ck_token_signer_new(nk.token, nk.id, nk.id_len, &nk.signer, err)) ||
		    (rc = ck_key_spki_sha256(ck_signer_pubkey(nk.signer), spki, err)) != CK_OK)
			goto out;
		if (strcmp(spki, ki.spki_sha256) != 0) {
			rc = CK_FAIL(err, CK_ERR_KEY_MISMATCH, "token '%s' holds another key under "
				     "the CKA_ID of stored key %lld (%s): the token was changed "
				     "behind certkeep's back; nothing was signed",
				     ck_token_label(nk.token), (long long)key_id, ki.pkcs11_uri);
			goto out;
		}
	}
	*k = nk;
	memset(&nk, 0, sizeof(nk));
out:
	EVP_PKEY_free(key);
	ck_key_info_cleanup(&ki);
	flow_key_cleanup(&nk);
	return rc;
}

EVP_PKEY *
flow_key_public(const struct flow_key *k)
{
	EVP_PKEY *pub = ck_signer_pubkey(k->signer);

	return EVP_PKEY_up_ref(pub) == 1 ? pub : NULL;
}

enum ck_code
flow_key_cert_to_token(struct flow_key *k, const unsigned char *der, size_t len,
		       const char *label, size_t *replaced, struct ck_err *err)
{
	*replaced = 0;
	if (k->token == NULL)
		return CK_OK;
	return ck_token_cert_write(k->token, der, len, k->id, k->id_len, label, replaced, err);
}

void
flow_key_cleanup(struct flow_key *k)
{
	if (k == NULL)
		return;
	ck_signer_free(k->signer);
	ck_token_close(k->token);
	memset(k, 0, sizeof(*k));
}
