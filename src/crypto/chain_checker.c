/*
 * chain_checker.c - reads many stored certificates and checks their chains
 * quickly.  A store's chains repeat (one intermediate for thousands of
 * leaves), and OpenSSL 3.0 spends about 0.1 ms parsing each certificate:
 * a checker parses each distinct chain certificate once, verifies each
 * link between two chain certificates once, and parses the leaf once for
 * both its facts and its chain.  Certificates come through this thread's
 * decoded-certificate cache (x509_cache.c): a leaf the flow's check just
 * decoded is not decoded again by the store, and is only read here.
 *
 * Only ever answers "the chain verifies": on any break it runs
 * ck_chain_check itself, so the error (and its words) is exactly the
 * one-at-a-time answer.
 *
 * Must never: answer for a chain it did not verify link by link, grow
 * without bound (CHECKER_CERTS_MAX distinct chain certificates are kept;
 * others are parsed every time).
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto_int.h"

#define CHECKER_CERTS_MAX 64
#define CHECKER_LINKS_MAX 128

/* A chain certificate seen before, by its DER bytes. */
struct checker_cert {
	unsigned char *der;
	size_t len;
	X509 *x;
};

struct ck_chain_checker {
	struct checker_cert certs[CHECKER_CERTS_MAX];
	size_t ncerts;
	/* Links verified good: certs[issuer] signed certs[subject]. */
	struct { unsigned char issuer, subject; } links[CHECKER_LINKS_MAX];
	size_t nlinks;
};

enum ck_code
ck_chain_checker_new(struct ck_chain_checker **out, struct ck_err *err)
{
	struct ck_chain_checker *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return CK_OOM(err);
	*out = c;
	return CK_OK;
}

void
ck_chain_checker_free(struct ck_chain_checker *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->ncerts; i++) {
		X509_free(c->certs[i].x);
		free(c->certs[i].der);
	}
	free(c);
}

/* The cached index of der, parsing and keeping it if there is room; -1 if
 * it is not kept (*tmp then holds a parse the caller frees, or NULL). */
static int
checker_cert(struct ck_chain_checker *c, const struct ck_der *d, X509 **tmp)
{
	struct checker_cert *e;
	size_t i;

	*tmp = NULL;
	for (i = 0; i < c->ncerts; i++)
		if (c->certs[i].len == d->len && memcmp(c->certs[i].der, d->data, d->len) == 0)
			return (int)i;
	if (crypto_x509_shared(d->data, d->len, tmp, NULL) != CK_OK)
		return -1;
	if (c->ncerts == CHECKER_CERTS_MAX || (c->certs[c->ncerts].der = malloc(d->len)) == NULL)
		return -1;
	e = &c->certs[c->ncerts];
	memcpy(e->der, d->data, d->len);
	e->len = d->len;
	e->x = *tmp;
	*tmp = NULL;
	return (int)c->ncerts++;
}

/* 1 if chain[i] signed chain[i-1] was verified before (indexes into certs). */
static int
checker_link_known(const struct ck_chain_checker *c, int issuer, int subject)
{
	size_t i;

	for (i = 0; i < c->nlinks; i++)
		if (c->links[i].issuer == issuer && c->links[i].subject == subject)
			return 1;
	return 0;
}

/* 1 if every link of leaf x's chain verifies (each fact recomputed, or
 * known to this checker or to this thread's certificate cache). */
static int
checker_chain_ok(struct ck_chain_checker *c, const unsigned char *der, size_t len, X509 *x,
		 const struct ck_der_list *chain)
{
	X509 *prev = x, *cur, *tmp = NULL, *prev_tmp = NULL;
	const unsigned char *prev_der = der;
	size_t prev_len = len, i;
	int prev_idx = -1, idx, ok = 1;

	for (i = 0; ok && i < chain->n; i++) {
		idx = checker_cert(c, &chain->items[i], &tmp);
		cur = idx >= 0 ? c->certs[idx].x : tmp;
		if (cur == NULL) {
			ok = 0;
			break;
		}
		if (!(prev_idx >= 0 && idx >= 0 && checker_link_known(c, idx, prev_idx)) &&
		    !crypto_x509_link_known(prev_der, prev_len, chain->items[i].data,
					    chain->items[i].len)) {
			if ((ok = crypto_chain_link_ok(cur, prev)))
				crypto_x509_link_note(prev_der, prev_len, chain->items[i].data,
						      chain->items[i].len);
			if (ok && prev_idx >= 0 && idx >= 0 && c->nlinks < CHECKER_LINKS_MAX) {
				c->links[c->nlinks].issuer = (unsigned char)idx;
				c->links[c->nlinks++].subject = (unsigned char)prev_idx;
			}
		}
		X509_free(prev_tmp);
		prev_tmp = tmp;
		tmp = NULL;
		prev = cur;
		prev_idx = idx;
		prev_der = chain->items[i].data;
		prev_len = chain->items[i].len;
	}
	X509_free(prev_tmp);
	X509_free(tmp);
	return ok;
}

enum ck_code
ck_chain_checker_cert(struct ck_chain_checker *c, const unsigned char *der, size_t len,
		      const struct ck_der_list *chain, struct ck_cert_info *info,
		      enum ck_code *chain_rc, struct ck_err *cerr, struct ck_err *err)
{
	return ck_chain_checker_leaf(c, der, len, chain, NULL, info, chain_rc, cerr, err);
}

enum ck_code
ck_chain_checker_leaf(struct ck_chain_checker *c, const unsigned char *der, size_t len,
		      const struct ck_der_list *chain, const struct ck_known_spki *known,
		      struct ck_cert_info *info, enum ck_code *chain_rc, struct ck_err *cerr,
		      struct ck_err *err)
{
	char key_desc[CK_KEY_DESC_MAX];
	X509 *x = NULL;
	enum ck_code rc;

	*chain_rc = CK_OK;
	/* The leaf is only ever the subject of a link (crypto_x509_leaf). */
	if ((rc = crypto_x509_leaf(der, len, known, &x, key_desc, err)) != CK_OK)
		return rc;
	if ((rc = crypto_cert_info_from_x509(x, der, len, key_desc, info, err)) == CK_OK &&
	    chain != NULL && chain->n > 0 && !checker_chain_ok(c, der, len, x, chain))
		*chain_rc = ck_chain_check(der, len, chain, cerr);
	X509_free(x);
	return rc;
}
