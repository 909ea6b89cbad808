/*
 * alternates.c - alternate chains and their stored text (alternates.h).
 *
 * Must never: accept a chain that does not carry the issued certificate,
 * or read more than the bounds of alternates.h from stored text.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "crypto/alternates.h"
#include "crypto/crypto_int.h"

enum ck_code
ck_alternates_add(struct ck_alternates *a, const struct ck_der *leaf, const char *pem,
		  size_t pem_len, struct ck_err *err)
{
	struct ck_der_list l = { NULL, 0 };
	struct ck_der_list *p;
	enum ck_code rc;

	if (a->n >= CK_ALTERNATES_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "more than %d alternate chains",
			       CK_ALTERNATES_MAX);
	if ((rc = ck_pem_certs_parse(pem, pem_len, &l, err)) != CK_OK)
		return rc;
	if (l.n == 0 || l.items[0].len != leaf->len ||
	    memcmp(l.items[0].data, leaf->data, leaf->len) != 0) {
		ck_der_list_cleanup(&l);
		return CK_FAIL(err, CK_ERR_PARSE, "an alternate chain does not start with the "
						  "issued certificate");
	}
	if ((p = realloc(a->chains, (a->n + 1) * sizeof(*p))) == NULL) {
		ck_der_list_cleanup(&l);
		return CK_OOM(err);
	}
	a->chains = p;
	/* Drop the leaf: the chain keeps the issuers only. */
	free(l.items[0].data);
	memmove(l.items, l.items + 1, (l.n - 1) * sizeof(*l.items));
	l.n--;
	a->chains[a->n++] = l;
	return CK_OK;
}

/* One chain as a JSON array of base64url strings. */
static enum ck_code
alternates_chain_json(const struct ck_der_list *c, json_t **out, struct ck_err *err)
{
	json_t *arr = json_array();
	enum ck_code rc = CK_OK;
	size_t i;

	if (arr == NULL)
		return CK_OOM(err);
	for (i = 0; i < c->n && rc == CK_OK; i++) {
		char *b64 = NULL;

		if ((rc = ck_b64url_encode(c->items[i].data, c->items[i].len, &b64, err)) != CK_OK)
			break;
		if (json_array_append_new(arr, json_string(b64)) != 0)
			rc = CK_OOM(err);
		free(b64);
	}
	if (rc != CK_OK) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return CK_OK;
}

enum ck_code
ck_alternates_encode(const struct ck_alternates *a, char **json, struct ck_err *err)
{
	json_t *arr = json_array(), *chain = NULL;
	enum ck_code rc = CK_OK;
	char *text;
	size_t i;

	if (arr == NULL)
		return CK_OOM(err);
	for (i = 0; i < a->n; i++) {
		if ((rc = alternates_chain_json(&a->chains[i], &chain, err)) != CK_OK)
			goto out;
		if (json_array_append_new(arr, chain) != 0) {
			rc = CK_OOM(err);
			goto out;
		}
	}
	if ((text = ck_json_dumps(arr, JSON_COMPACT)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	*json = text;
out:
	json_decref(arr);
	return rc;
}

/* One stored chain (a JSON array of base64url strings) into *out. */
static enum ck_code
alternates_chain_parse(const json_t *j, struct ck_der_list *out, struct ck_err *err)
{
	size_t i, n = json_array_size(j);
	enum ck_code rc;

	if (!json_is_array(j) || n > CK_BUNDLE_MAX_ITEMS)
		return CK_FAIL(err, CK_ERR_PARSE, "an alternate chain is not an array of at most "
			       "%d certificates", CK_BUNDLE_MAX_ITEMS);
	if (n > 0 && (out->items = calloc(n, sizeof(*out->items))) == NULL)
		return CK_OOM(err);
	for (i = 0; i < n; i++) {
		const json_t *s = json_array_get(j, i);

		if (!json_is_string(s))
			return CK_FAIL(err, CK_ERR_PARSE, "an alternate chain holds a non-string");
		rc = ck_b64url_decode(json_string_value(s), json_string_length(s),
				      &out->items[i].data, &out->items[i].len, err);
		if (rc != CK_OK)
			return rc;
		out->n++;
	}
	return CK_OK;
}

enum ck_code
ck_alternates_decode(const char *json, struct ck_alternates *out, struct ck_err *err)
{
	struct ck_alternates a = { NULL, 0 };
	json_error_t jerr;
	json_t *arr = NULL;
	enum ck_code rc = CK_OK;
	size_t i, n;

	if (json == NULL || json[0] == '\0')
		goto done;
	arr = json_loads(json, 0, &jerr);
	if (arr == NULL && json_error_code(&jerr) == json_error_out_of_memory) {
		rc = CK_OOM(err);
		goto out;
	}
	n = json_array_size(arr);
	if (!json_is_array(arr) || n > CK_ALTERNATES_MAX) {
		rc = CK_FAIL(err, CK_ERR_PARSE, "the alternate chains are not a JSON array of at "
			     "most %d chains", CK_ALTERNATES_MAX);
		goto out;
	}
	if (n > 0 && (a.chains = calloc(n, sizeof(*a.chains))) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	for (i = 0; i < n; i++, a.n++) {
		if ((rc = alternates_chain_parse(json_array_get(arr, i), &a.chains[i], err)) !=
		    CK_OK) {
			a.n++; /* the partly parsed chain is cleaned up too */
			goto out;
		}
	}
done:
	*out = a;
	a.chains = NULL;
	a.n = 0;
out:
	ck_alternates_cleanup(&a);
	json_decref(arr);
	return rc;
}

/* The CN of name as bounded UTF-8 without control characters; "" if none. */
static char *
chain_name_cn(const X509_NAME *name)
{
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	char *out;
	int len = -1;
	size_t k;

	if (i >= 0)
		len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (len < 0)
		len = 0;
	if ((size_t)len > CK_CHAIN_CN_MAX) { /* cut at a character boundary */
		len = CK_CHAIN_CN_MAX;
		while (len > 0 && (utf8[len] & 0xC0) == 0x80)
			len--;
	}
	if ((out = malloc((size_t)len + 1)) != NULL) {
		for (k = 0; k < (size_t)len; k++) {
			out[k] = (utf8[k] < 0x20 || utf8[k] == 0x7f) ? '?' : (char)utf8[k];
			/* C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F) too. */
			if (utf8[k] == 0xc2 && k + 1 < (size_t)len && utf8[k + 1] < 0xa0) {
				out[k] = '?';
				out[++k] = '?';
			}
		}
		out[len] = '\0';
	}
	OPENSSL_free(utf8);
	return out;
}

enum ck_code
ck_chain_top_issuer_cn(const struct ck_der *leaf, const struct ck_der_list *chain, char **cn,
		       struct ck_err *err)
{
	const struct ck_der *top = chain->n > 0 ? &chain->items[chain->n - 1] : leaf;
	X509 *x = NULL;
	char *s;
	enum ck_code rc;

	if ((rc = crypto_x509_from_der(top->data, top->len, &x, err)) != CK_OK)
		return rc;
	s = chain_name_cn(X509_get_issuer_name(x));
	X509_free(x);
	if (s == NULL)
		return CK_OOM(err);
	*cn = s;
	return CK_OK;
}

void
ck_alternates_cleanup(struct ck_alternates *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n; i++)
		ck_der_list_cleanup(&a->chains[i]);
	free(a->chains);
	a->chains = NULL;
	a->n = 0;
}
