/*
 * check.c - the checks a certificate passes before any target changes
 * (seed 003: never delete first): the reference resolves; the certificate
 * is linked to a key (invariant 1) that matches it; its chain verifies to
 * a trusted root and is in order; it is valid now, not revoked in the
 * store, and covers the --verify name.  bind and deploy run the same
 * function, so a binding never points at a hash that matches nothing.
 *
 * Must never: write anything; accept a chain that verifies only because
 * it brought its own root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "deploy/deploy_int.h"

#define REFUSE(err, code, n, what, ...) \
	ck_err_set((err), (code), __func__, "check " #n " of 7 (" what ") failed: " __VA_ARGS__)

void
dep_loaded_cleanup(struct dep_loaded *l)
{
	if (l == NULL)
		return;
	ck_cert_row_cleanup(&l->row);
	free(l->der);
	ck_der_list_cleanup(&l->chain);
	EVP_PKEY_free(l->key);
	free(l->key_uri);
	free(l->token_module);
	free(l->token_pin);
	memset(l, 0, sizeof(*l));
}

/* Check 1: lineage's current certificate, or the pinned one, into *id. */
static enum ck_code
check_reference(struct ck_store *st, const char *lineage, const char *pinned, int64_t *id,
		struct ck_err *err)
{
	struct ck_lineage lin;
	enum ck_code rc;

	if (pinned != NULL) {
		rc = ck_store_cert_find_sha256(st, pinned, id, err);
		if (rc == CK_ERR_NOT_FOUND)
			return REFUSE(err, rc, 1, "reference", "no certificate with SHA-256 %s is in "
				      "the store; fix: import it, or bind to a stored one "
				      "('certkeep list')", pinned);
		return rc;
	}
	memset(&lin, 0, sizeof(lin));
	rc = ck_store_lineage_get(st, lineage, &lin, err);
	if (rc == CK_ERR_NOT_FOUND)
		return REFUSE(err, rc, 1, "reference", "no lineage named '%s'; fix: 'certkeep "
			      "issue --lineage %s ...' first, or bind to a stored one", lineage,
			      lineage);
	if (rc == CK_OK && lin.current_cert_id == 0)
		rc = REFUSE(err, CK_ERR_NOT_FOUND, 1, "reference", "lineage '%s' has no "
			    "certificate yet; fix: 'certkeep issue' for it first", lineage);
	if (rc == CK_OK)
		*id = lin.current_cert_id;
	ck_lineage_cleanup(&lin);
	return rc;
}

/* Checks 2 and 3: linked to a key, and the key is the certificate's. */
static enum ck_code
check_key(struct ck_store *st, struct dep_loaded *l, struct ck_err *err)
{
	struct ck_key_info ki;
	EVP_PKEY *certpub = NULL, *pub = NULL;
	enum ck_code rc;

	if (l->row.key_id == 0)
		return REFUSE(err, CK_ERR_KEY_MISSING, 2, "certificate has its key",
			      "certificate %.16s has no private key in the store (what Windows "
			      "calls 'Keyset does not exist'); fix: 'certkeep import' its key, or "
			      "issue a new certificate", l->row.sha256);
	memset(&ki, 0, sizeof(ki));
	if ((rc = ck_store_key_info(st, l->row.key_id, &ki, err)) != CK_OK ||
	    (rc = ck_cert_pubkey(l->der, l->len, &certpub, err)) != CK_OK)
		goto out;
	if (ki.pkcs11_uri != NULL) {
		rc = ck_store_key_public(st, l->row.key_id, &pub, err);
		if (rc == CK_OK && (rc = ck_strdup(ki.pkcs11_uri, &l->key_uri, err)) == CK_OK &&
		    !ck_key_public_equal(pub, certpub))
			rc = CK_ERR_KEY_MISMATCH;
	} else {
		rc = ck_store_key_load(st, l->row.key_id, &l->key, err);
		if (rc == CK_OK && !ck_key_public_equal(l->key, certpub))
			rc = CK_ERR_KEY_MISMATCH;
	}
	if (rc == CK_ERR_KEY_MISMATCH || rc == CK_ERR_CORRUPT)
		rc = REFUSE(err, rc, 3, "key matches", "the key linked to certificate %.16s is not "
			    "its key (nginx would say 'key values mismatch'); fix: 'certkeep "
			    "doctor' names the damage, then re-import the right key", l->row.sha256);
out:
	EVP_PKEY_free(certpub);
	EVP_PKEY_free(pub);
	ck_key_info_cleanup(&ki);
	return rc;
}

/* X509 from DER (NULL on failure). */
static X509 *
x509_of(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;

	return d2i_X509(NULL, &p, (long)len);
}

/* Check 4: in order (ck_chain_check), then to a trusted root. */
static enum ck_code
check_chain(struct dep_loaded *l, const char *ca_bundle, struct ck_err *err)
{
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *xc = X509_STORE_CTX_new();
	X509 *leaf = x509_of(l->der, l->len);
	enum ck_code rc = CK_OK;
	size_t i;

	if (ck_chain_check(l->der, l->len, &l->chain, err) != CK_OK) {
		char why[CK_ERR_MSG_MAX];

		snprintf(why, sizeof(why), "%s", err->msg);
		rc = REFUSE(err, CK_ERR_CORRUPT, 4, "chain", "the stored chain of certificate %.16s "
			    "is not in order (%s); fix: re-import it with its chain in order",
			    l->row.sha256, why);
		goto out;
	}
	if (untrusted == NULL || store == NULL || xc == NULL || leaf == NULL) {
		rc = CK_FAIL_SSL(err, "setting up the chain check");
		goto out;
	}
	for (i = 0; i < l->chain.n; i++) {
		X509 *c = x509_of(l->chain.items[i].data, l->chain.items[i].len);

		if (c == NULL || !sk_X509_push(untrusted, c)) {
			X509_free(c);
			rc = CK_FAIL_SSL(err, "reading the chain");
			goto out;
		}
	}
	if ((ca_bundle != NULL ? X509_STORE_load_file(store, ca_bundle)
			       : X509_STORE_set_default_paths(store)) != 1) {
		ERR_clear_error();
		rc = REFUSE(err, CK_ERR_IO, 4, "chain", "cannot read the trusted roots (%s); fix: "
			    "give a readable --ca-bundle", ca_bundle ? ca_bundle : "system store");
		goto out;
	}
	if (X509_STORE_CTX_init(xc, store, leaf, untrusted) != 1) {
		rc = CK_FAIL_SSL(err, "setting up the chain check");
		goto out;
	}
	/* Validity is check 5, with the context's clock. */
	X509_STORE_CTX_set_flags(xc, X509_V_FLAG_NO_CHECK_TIME);
	if (X509_verify_cert(xc) != 1) {
		ERR_clear_error();
		rc = REFUSE(err, CK_ERR_TLS, 4, "chain", "certificate %.16s does not verify to a "
			    "trusted root (%s; trusted: %s); fix: give the CA's root with "
			    "--ca-bundle, or re-import the certificate with its chain",
			    l->row.sha256,
			    X509_verify_cert_error_string(X509_STORE_CTX_get_error(xc)),
			    ca_bundle ? ca_bundle : "the system store");
	}
out:
	X509_STORE_CTX_free(xc);
	X509_STORE_free(store);
	sk_X509_pop_free(untrusted, X509_free);
	X509_free(leaf);
	return rc;
}

/* Checks 5 to 7: valid now, not revoked, covers the --verify name. */
static enum ck_code
check_time_name(const struct ck_ctx *ctx, struct dep_loaded *l, const struct dep_endpoint *ep,
		struct ck_err *err)
{
	time_t now = ck_now(ctx);
	char nb[21], na[21];
	const char *name;
	X509 *leaf;
	int ok;

	ck_time_rfc3339(l->row.not_before, nb);
	ck_time_rfc3339(l->row.not_after, na);
	if (now < l->row.not_before || now >= l->row.not_after)
		return REFUSE(err, CK_ERR_STATE, 5, "valid now", "certificate %.16s is valid from "
			      "%s to %s, not now; fix: renew it ('certkeep issue') and bind the new "
			      "one", l->row.sha256, nb, na);
	if (l->row.revoked_at != 0)
		return REFUSE(err, CK_ERR_STATE, 6, "not revoked", "certificate %.16s was revoked; "
			      "clients that check revocation refuse it; fix: issue a new "
			      "certificate and bind that", l->row.sha256);
	if (ep == NULL)
		return CK_OK;
	name = dep_endpoint_name(ep);
	if ((leaf = x509_of(l->der, l->len)) == NULL)
		return CK_FAIL_SSL(err, "reading the certificate");
	ok = ck_name_is_ip(name) ? X509_check_ip_asc(leaf, name, 0) == 1
				 : X509_check_host(leaf, name, 0, 0, NULL) == 1;
	X509_free(leaf);
	if (!ok)
		return REFUSE(err, CK_ERR_STATE, 7, "covers the name", "certificate %.16s does not "
			      "cover '%s' (the --verify name clients will ask for); fix: issue one "
			      "for that name, or give --verify HOST:PORT,sni=NAME with a name it "
			      "covers", l->row.sha256, name);
	return CK_OK;
}

/* For a token key of a lineage: the module and PIN file the lineage records
 * (a target that signs with the key on the token needs them). */
static enum ck_code
load_token_record(struct ck_store *st, const char *lineage, struct dep_loaded *l,
		  struct ck_err *err)
{
	struct ck_lineage lin;
	enum ck_code rc;

	if (l->key_uri == NULL || lineage == NULL)
		return CK_OK;
	memset(&lin, 0, sizeof(lin));
	if ((rc = ck_store_lineage_get(st, lineage, &lin, err)) == CK_OK &&
	    ((lin.token_module != NULL &&
	      (rc = ck_strdup(lin.token_module, &l->token_module, err)) != CK_OK) ||
	     (lin.token_pin_file != NULL &&
	      (rc = ck_strdup(lin.token_pin_file, &l->token_pin, err)) != CK_OK)))
		rc = CK_OOM(err);
	ck_lineage_cleanup(&lin);
	return rc;
}

enum ck_code
dep_load_checked(const struct ck_ctx *ctx, struct ck_store *st, const char *binding,
		 const char *lineage, const char *pinned, const char *ca_bundle,
		 const struct dep_endpoint *ep, struct dep_loaded *out, struct ck_err *err)
{
	struct dep_loaded l;
	int64_t id = 0;
	enum ck_code rc;

	memset(&l, 0, sizeof(l));
	if ((rc = check_reference(st, lineage, pinned, &id, err)) != CK_OK ||
	    (rc = ck_store_cert_get(st, id, &l.row, err)) != CK_OK ||
	    (rc = ck_store_cert_der(st, id, &l.der, &l.len, NULL, err)) != CK_OK ||
	    (rc = ck_store_cert_chain_selected(st, id, &l.chain, NULL, err)) != CK_OK ||
	    (rc = check_key(st, &l, err)) != CK_OK ||
	    (rc = load_token_record(st, lineage, &l, err)) != CK_OK ||
	    (rc = check_chain(&l, ca_bundle, err)) != CK_OK ||
	    (rc = check_time_name(ctx, &l, ep, err)) != CK_OK) {
		dep_loaded_cleanup(&l);
		return rc;
	}
	l.m.binding = binding;
	l.m.lineage = lineage;
	l.m.cert_id = id;
	memcpy(l.m.sha256, l.row.sha256, sizeof(l.m.sha256));
	l.m.key = l.key;
	l.m.key_uri = l.key_uri;
	l.m.token_module = l.token_module;
	l.m.token_pin = l.token_pin;
	l.m.names = (const char *const *)l.row.sans;
	l.m.nnames = l.row.nsans;
	l.m.ca_bundle = ca_bundle;
	*out = l;
	/* m points into *out, not into the local copy. */
	out->m.leaf_der = out->der;
	out->m.leaf_len = out->len;
	out->m.chain = &out->chain;
	return CK_OK;
}

enum ck_code
dep_pem_file_sha256(const char *path, char out[65], struct ck_err *err)
{
	struct ck_der_list certs = { 0 };
	unsigned char *data = NULL;
	size_t len = 0;
	enum ck_code rc;

	if ((rc = ck_file_read(path, CK_PEM_MAX, &data, &len, err)) != CK_OK)
		return rc;
	rc = ck_pem_certs_parse((const char *)data, len, &certs, err);
	if (rc == CK_OK)
		ck_sha256_hex(certs.items[0].data, certs.items[0].len, out);
	ck_der_list_cleanup(&certs);
	free(data);
	return rc;
}
