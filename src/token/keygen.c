/*
 * keygen.c - key pairs made on the token with an explicit template, and
 * the certificate objects that go with them.  Key pairs: the
 * private key CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, never
 * CKA_EXTRACTABLE, CKA_SIGN and nothing else (no decrypt, unwrap or
 * derive, which SoftHSM would otherwise allow); CKA_ID the SHA-1 of the
 * public key (ck_key_id_sha1: the link a certificate object carries too);
 * CKA_LABEL the name the caller gives (the lineage).
 *
 * Certificate objects carry the key's CKA_ID and the lineage's label; a
 * new one replaces the lineage's previous one (written first, the old one
 * removed after: one object per lineage afterwards).
 *
 * Must never: leave a half-made pair behind (both objects are destroyed
 * when any later step fails), make a key the template does not pin, or
 * remove a lineage's certificate object before its successor is there.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "token/p11.h"

#define TOK_EC_PARAMS_MAX 16   /* DER of a named-curve OID */
#define TOK_CERTS_MAX 64       /* certificate objects with one label, or read at once */
#define TOK_CERT_MAX (64 * 1024) /* bytes of one certificate object's CKA_VALUE */

/* The public template's type-specific part: EC parameters or RSA size. */
static enum ck_code
tok_gen_params(enum ck_key_type type, unsigned char *ecp, size_t *ecp_len, CK_ULONG *bits,
	       CK_MECHANISM_TYPE *mech, struct ck_err *err)
{
	int nid = type == CK_KEY_EC256 ? NID_X9_62_prime256v1
		  : type == CK_KEY_EC384 ? NID_secp384r1 : NID_undef;
	unsigned char *p = ecp;
	int n;

	*ecp_len = 0;
	*bits = 0;
	if (nid != NID_undef) {
		*mech = CKM_EC_KEY_PAIR_GEN;
		n = i2d_ASN1_OBJECT(OBJ_nid2obj(nid), NULL);
		if (n <= 0 || n > TOK_EC_PARAMS_MAX || i2d_ASN1_OBJECT(OBJ_nid2obj(nid), &p) != n)
			return CK_FAIL_SSL(err, "encoding the curve's OID failed");
		*ecp_len = (size_t)n;
		return CK_OK;
	}
	*mech = CKM_RSA_PKCS_KEY_PAIR_GEN;
	*bits = type == CK_KEY_RSA2048 ? 2048 : type == CK_KEY_RSA3072 ? 3072
		: type == CK_KEY_RSA4096 ? 4096 : 0;
	if (*bits == 0)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "certkeep makes EC P-256, EC P-384 and "
			       "RSA 2048/3072/4096 keys on a token, not %s",
			       ck_key_type_name(type));
	return CK_OK;
}

/* Sets CKA_ID on both objects of the pair. */
static enum ck_code
tok_set_id(struct ck_token *t, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv,
	   unsigned char *id, size_t id_len, struct ck_err *err)
{
	CK_ATTRIBUTE a = { CKA_ID, id, id_len };
	CK_RV rv;

	if ((rv = t->f->C_SetAttributeValue(t->session, pub, &a, 1)) != CKR_OK ||
	    (rv = t->f->C_SetAttributeValue(t->session, priv, &a, 1)) != CKR_OK)
		return CK_FAIL(err, CK_ERR_IO, "token '%s' refused to set the new key's CKA_ID "
			       "(C_SetAttributeValue: 0x%lx)", t->label, (unsigned long)rv);
	return CK_OK;
}

/* The new pair's public key, its id and its description into out. */
static enum ck_code
tok_gen_describe(struct ck_token *t, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv,
		 const char *label, struct ck_token_key *out, struct ck_err *err)
{
	EVP_PKEY *pk = NULL;
	enum ck_code rc;

	if ((rc = tok_obj_pkey(t, pub, &pk, err)) != CK_OK ||
	    (rc = ck_key_id_sha1(pk, out->id, err)) != CK_OK ||
	    (rc = tok_set_id(t, pub, priv, out->id, 20, err)) != CK_OK ||
	    (rc = ck_key_spki_der(pk, &out->spki, &out->spki_len, err)) != CK_OK ||
	    (rc = ck_key_spki_sha256(pk, out->spki_sha256, err)) != CK_OK)
		goto out;
	out->id_len = 20;
	ck_key_describe(pk, out->algorithm, sizeof(out->algorithm));
	if ((out->label = strdup(label)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	rc = ck_pkcs11_uri_format(t->label, out->id, out->id_len, NULL, t->module, &out->uri,
				  err);
out:
	EVP_PKEY_free(pk);
	return rc;
}

enum ck_code
ck_token_key_generate(struct ck_token *t, enum ck_key_type type, const char *label,
		      struct ck_token_key *out, struct ck_err *err)
{
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	static CK_BYTE e65537[] = { 0x01, 0x00, 0x01 };
	unsigned char ecp[TOK_EC_PARAMS_MAX], tmp_id[20];
	size_t ecp_len = 0, ll;
	CK_ULONG bits = 0;
	CK_MECHANISM mech = { 0, NULL, 0 };
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	struct ck_token_key k;
	enum ck_code rc;
	CK_RV rv;

	memset(&k, 0, sizeof(k));
	if (label == NULL || (ll = strlen(label)) == 0 || ll > CK_TOKEN_OBJ_LABEL_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a token key's label is 1 to %d bytes",
			       CK_TOKEN_OBJ_LABEL_MAX);
	if ((rc = tok_ready(t, err)) != CK_OK ||
	    (rc = tok_gen_params(type, ecp, &ecp_len, &bits, &mech.mechanism, err)) != CK_OK)
		return rc;
	if (!t->rw)
		return CK_FAIL(err, CK_ERR_PERMISSION, "token '%s' is write-protected: no key "
			       "can be made on it", t->label);
	/* A random id until the public key is known: never another key's id. */
	if (RAND_bytes(tmp_id, sizeof(tmp_id)) != 1)
		return CK_FAIL_SSL(err, "no random bytes for a temporary key id");
	{
		CK_ATTRIBUTE pubt[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) },
			{ CKA_VERIFY, &yes, sizeof(yes) },
			{ CKA_ENCRYPT, &no, sizeof(no) },
			{ CKA_WRAP, &no, sizeof(no) },
			{ CKA_DERIVE, &no, sizeof(no) },
			{ CKA_LABEL, (void *)label, ll },
			{ CKA_ID, tmp_id, sizeof(tmp_id) },
			{ ecp_len ? CKA_EC_PARAMS : CKA_MODULUS_BITS,
			  ecp_len ? (void *)ecp : (void *)&bits,
			  ecp_len ? ecp_len : sizeof(bits) },
			{ CKA_PUBLIC_EXPONENT, e65537, sizeof(e65537) },
		};
		CK_ATTRIBUTE privt[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_SENSITIVE, &yes, sizeof(yes) },
			{ CKA_EXTRACTABLE, &no, sizeof(no) },
			{ CKA_SIGN, &yes, sizeof(yes) },
			{ CKA_DECRYPT, &no, sizeof(no) },
			{ CKA_UNWRAP, &no, sizeof(no) },
			{ CKA_DERIVE, &no, sizeof(no) },
			{ CKA_LABEL, (void *)label, ll },
			{ CKA_ID, tmp_id, sizeof(tmp_id) },
		};
		/* The public exponent belongs to RSA only. */
		CK_ULONG npub = CK_ARRAY_LEN(pubt) - (ecp_len ? 1 : 0);

		rv = t->f->C_GenerateKeyPair(t->session, &mech, pubt, npub, privt,
					     CK_ARRAY_LEN(privt), &pub, &priv);
	}
	if (rv != CKR_OK) {
		rc = rv == CKR_USER_NOT_LOGGED_IN
			     ? CK_FAIL(err, CK_ERR_STATE, "token '%s' needs a login before it makes "
				       "a key (--pin-file)", t->label)
			     : CK_FAIL(err, CK_ERR_IO, "token '%s' could not make a %s key pair "
				       "(C_GenerateKeyPair: 0x%lx)", t->label,
				       ck_key_type_name(type), (unsigned long)rv);
		goto out;
	}
	if ((rc = tok_gen_describe(t, pub, priv, label, &k, err)) != CK_OK)
		goto out;
	*out = k;
	memset(&k, 0, sizeof(k));
	pub = priv = CK_INVALID_HANDLE;
out:
	if (pub != CK_INVALID_HANDLE)
		t->f->C_DestroyObject(t->session, pub);
	if (priv != CK_INVALID_HANDLE)
		t->f->C_DestroyObject(t->session, priv);
	ck_token_key_cleanup(&k);
	return rc;
}

/* DER of a certificate's subject, issuer and serial (for the object's attributes). */
static enum ck_code
tok_cert_names(X509 *x, unsigned char **subj, int *sl, unsigned char **iss, int *il,
	       unsigned char **ser, int *serl, struct ck_err *err)
{
	*subj = *iss = *ser = NULL;
	*sl = i2d_X509_NAME(X509_get_subject_name(x), subj);
	*il = i2d_X509_NAME(X509_get_issuer_name(x), iss);
	*serl = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), ser);
	if (*sl <= 0 || *il <= 0 || *serl <= 0)
		return CK_FAIL_SSL(err, "encoding the certificate's names failed");
	return CK_OK;
}

/* Destroys every certificate object labelled label except keep. */
static enum ck_code
tok_cert_prune(struct ck_token *t, const char *label, CK_OBJECT_HANDLE keep, size_t *removed,
	       struct ck_err *err)
{
	CK_OBJECT_HANDLE objs[TOK_CERTS_MAX];
	size_t n = 0, i;
	enum ck_code rc;
	CK_RV rv;

	*removed = 0;
	if ((rc = tok_find(t, CKO_CERTIFICATE, NULL, 0, label, objs, TOK_CERTS_MAX, &n, err)))
		return rc;
	for (i = 0; i < n; i++) {
		if (objs[i] == keep)
			continue;
		if ((rv = t->f->C_DestroyObject(t->session, objs[i])) != CKR_OK)
			return CK_FAIL(err, CK_ERR_IO, "token '%s' refused to remove the previous "
				       "certificate object labelled '%s' (C_DestroyObject: 0x%lx); "
				       "the new one is on the token", t->label, label,
				       (unsigned long)rv);
		(*removed)++;
	}
	return CK_OK;
}

enum ck_code
ck_token_cert_write(struct ck_token *t, const unsigned char *der, size_t len,
		    const unsigned char *id, size_t id_len, const char *label, size_t *replaced,
		    struct ck_err *err)
{
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	unsigned char *subj = NULL, *iss = NULL, *ser = NULL;
	const unsigned char *p = der;
	int sl = 0, il = 0, serl = 0;
	CK_OBJECT_HANDLE o = CK_INVALID_HANDLE;
	X509 *x = NULL;
	enum ck_code rc;
	CK_RV rv;

	if (label == NULL || strlen(label) == 0 || strlen(label) > CK_TOKEN_OBJ_LABEL_MAX ||
	    id == NULL || id_len == 0 || id_len > CK_TOKEN_ID_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "a certificate object needs a label and "
			       "the key's CKA_ID");
	if ((rc = tok_ready(t, err)) != CK_OK)
		return rc;
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL || p != der + len) {
		rc = CK_FAIL_SSL(err, "the certificate to write onto the token does not parse");
		goto out;
	}
	if ((rc = tok_cert_names(x, &subj, &sl, &iss, &il, &ser, &serl, err)) != CK_OK)
		goto out;
	{
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) },
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &no, sizeof(no) },
			{ CKA_LABEL, (void *)label, strlen(label) },
			{ CKA_ID, (void *)id, id_len },
			{ CKA_VALUE, (void *)der, len },
			{ CKA_SUBJECT, subj, (CK_ULONG)sl },
			{ CKA_ISSUER, iss, (CK_ULONG)il },
			{ CKA_SERIAL_NUMBER, ser, (CK_ULONG)serl },
		};
		rv = t->f->C_CreateObject(t->session, tmpl, CK_ARRAY_LEN(tmpl), &o);
	}
	if (rv != CKR_OK) {
		rc = CK_FAIL(err, rv == CKR_USER_NOT_LOGGED_IN ? CK_ERR_STATE : CK_ERR_IO,
			     "token '%s' refused the certificate object (C_CreateObject: 0x%lx)%s",
			     t->label, (unsigned long)rv,
			     rv == CKR_USER_NOT_LOGGED_IN ? ": log in first (--pin-file)" : "");
		goto out;
	}
	/* The new object first, then the old ones go: never delete first. */
	rc = tok_cert_prune(t, label, o, replaced, err);
out:
	X509_free(x);
	OPENSSL_free(subj);
	OPENSSL_free(iss);
	OPENSSL_free(ser);
	return rc;
}

void
ck_token_cert_list_cleanup(struct ck_token_cert_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->items[i].label);
		free(l->items[i].der);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* One certificate object into c. */
static enum ck_code
tok_cert_read(struct ck_token *t, CK_OBJECT_HANDLE o, struct ck_token_cert *c,
	      struct ck_err *err)
{
	unsigned char *id = NULL, *label = NULL;
	size_t idl = 0, ll = 0;
	int hid = 0, hl = 0, hv = 0;
	enum ck_code rc;

	c->handle = o;
	if ((rc = tok_attr(t, o, CKA_ID, CK_TOKEN_ID_MAX, &id, &idl, &hid, err)) != CK_OK ||
	    (rc = tok_attr(t, o, CKA_LABEL, CK_TOKEN_OBJ_LABEL_MAX, &label, &ll, &hl, err)) ||
	    (rc = tok_attr(t, o, CKA_VALUE, TOK_CERT_MAX, &c->der, &c->der_len, &hv, err)))
		goto out;
	memcpy(c->id, id ? id : (unsigned char *)"", idl);
	c->id_len = idl;
	if ((c->label = malloc(ll + 1)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	ck_str_printable(c->label, ll + 1, label ? (char *)label : "");
out:
	free(id);
	free(label);
	return rc;
}

enum ck_code
ck_token_cert_objects(struct ck_token *t, struct ck_token_cert_list *out, struct ck_err *err)
{
	struct ck_token_cert_list l = { NULL, 0 };
	CK_OBJECT_HANDLE objs[TOK_CERTS_MAX];
	size_t n = 0, i;
	enum ck_code rc;

	if ((rc = tok_find(t, CKO_CERTIFICATE, NULL, 0, NULL, objs, TOK_CERTS_MAX, &n, err)))
		return rc;
	if ((l.items = calloc(n + 1, sizeof(*l.items))) == NULL)
		return CK_OOM(err);
	for (i = 0; i < n; i++) {
		if ((rc = tok_cert_read(t, objs[i], &l.items[l.n++], err)) != CK_OK) {
			ck_token_cert_list_cleanup(&l);
			return rc;
		}
	}
	*out = l;
	return CK_OK;
}

enum ck_code
ck_token_cert_set_id(struct ck_token *t, unsigned long handle, const unsigned char *id,
		     size_t id_len, struct ck_err *err)
{
	CK_ATTRIBUTE a = { CKA_ID, (void *)id, id_len };
	enum ck_code rc;
	CK_RV rv;

	if ((rc = tok_ready(t, err)) != CK_OK)
		return rc;
	if ((rv = t->f->C_SetAttributeValue(t->session, handle, &a, 1)) != CKR_OK)
		return CK_FAIL(err, CK_ERR_IO, "token '%s' refused to set a certificate object's "
			       "CKA_ID (C_SetAttributeValue: 0x%lx)%s", t->label, (unsigned long)rv,
			       rv == CKR_USER_NOT_LOGGED_IN ? ": give --pin-file" : "");
	return CK_OK;
}
