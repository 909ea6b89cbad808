/*
 * import.c - certificates and keys coming in: files (PEM, DER, PKCS#12)
 * parsed whole, keys committed first, each certificate that stands on its
 * own stored with the chain built from the input, linked by SPKI (in the
 * input, the store, a pending request, or - through the caller's key
 * finder - a token) or labelled "no private key".
 * Also the pending request (key + CSR), the first half of an import that
 * arrives days later.
 *
 * Must never: store anything from an input that did not parse whole (a
 * wrong password stores nothing), drop a key or certificate of the input,
 * pass a key_id to the store that the store did not find by SPKI itself,
 * keep key material outside EVP_PKEY or a buffer wiped before free.
 */
#include <stdlib.h>
#include <string.h>


#include "flow/ops.h"

/* One certificate of the input. */
struct imp_cert {
	const unsigned char *der; /* points into a bundle */
	size_t len;
	struct ck_cert_info info;
	size_t src;
	int standalone;           /* stored as a certificate of its own */
	int in_chain;             /* used in some standalone certificate's chain */
	int present_before;
	int labelled_before;
};

struct imp_key {
	EVP_PKEY *key;            /* owned by a bundle */
	char spki[65];
};

/* A key outside the store the finder found, for one SPKI. */
struct imp_hit {
	char spki[65];
	struct ck_key_hit hit;
};

struct imp {
	const struct ck_import_source *src;
	size_t nsrc;
	struct ck_bundle *bundles;
	struct imp_cert *certs;
	size_t ncerts;
	struct imp_key *keys;
	size_t nkeys;
	struct imp_hit *hits;
	size_t nhits;
};

static void
imp_hit_cleanup(struct ck_key_hit *h)
{
	free(h->pkcs11_uri);
	free(h->spki_der);
	free(h->where);
	memset(h, 0, sizeof(*h));
}

static void
imp_cleanup(struct imp *im)
{
	size_t i;

	for (i = 0; i < im->ncerts; i++)
		ck_cert_info_cleanup(&im->certs[i].info);
	free(im->certs);
	free(im->keys);
	for (i = 0; i < im->nhits; i++)
		imp_hit_cleanup(&im->hits[i].hit);
	free(im->hits);
	for (i = 0; im->bundles != NULL && i < im->nsrc; i++)
		ck_bundle_cleanup(&im->bundles[i]);
	free(im->bundles);
	memset(im, 0, sizeof(*im));
}

void
ck_import_result_cleanup(struct ck_import_result *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->ncerts; i++) {
		free(r->certs[i].subject);
		free(r->certs[i].source);
		free(r->certs[i].key_location);
		free(r->certs[i].key_where);
		free(r->certs[i].lineage);
	}
	free(r->certs);
	free(r->keys);
	memset(r, 0, sizeof(*r));
}

static int
imp_key_index(const struct imp *im, const char *spki)
{
	size_t i;

	for (i = 0; i < im->nkeys; i++)
		if (strcmp(im->keys[i].spki, spki) == 0)
			return (int)i;
	return -1;
}

static int
imp_hit_index(const struct imp *im, const char *spki)
{
	size_t i;

	for (i = 0; i < im->nhits; i++)
		if (strcmp(im->hits[i].spki, spki) == 0)
			return (int)i;
	return -1;
}

/* Adds the certificates and keys of bundle b (source s), dropping duplicates. */
static enum ck_code
imp_collect(struct imp *im, struct ck_bundle *b, size_t s, struct ck_err *err)
{
	struct imp_cert *c;
	size_t i, k;
	enum ck_code rc;
	char spki[65];

	for (i = 0; i < b->certs.n; i++) {
		c = &im->certs[im->ncerts];
		memset(c, 0, sizeof(*c));
		c->der = b->certs.items[i].data;
		c->len = b->certs.items[i].len;
		c->src = s;
		if ((rc = ck_cert_info_from_der(c->der, c->len, &c->info, err)) != CK_OK)
			return rc;
		for (k = 0; k < im->ncerts; k++)
			if (strcmp(im->certs[k].info.sha256, c->info.sha256) == 0)
				break;
		if (k < im->ncerts)
			ck_cert_info_cleanup(&c->info);
		else
			im->ncerts++;
	}
	for (i = 0; i < b->nkeys; i++) {
		if ((rc = ck_key_spki_sha256(b->keys[i], spki, err)) != CK_OK)
			return rc;
		if (imp_key_index(im, spki) >= 0)
			continue;
		im->keys[im->nkeys].key = b->keys[i];
		memcpy(im->keys[im->nkeys].spki, spki, sizeof(spki));
		im->nkeys++;
	}
	return CK_OK;
}

/* Parses every source; nothing is stored if any fails. */
static enum ck_code
imp_parse(struct imp *im, const char *password, struct ck_err *err)
{
	size_t i, total = 0;
	enum ck_code rc;

	im->bundles = calloc(im->nsrc, sizeof(*im->bundles));
	if (im->bundles == NULL)
		return CK_OOM(err);
	for (i = 0; i < im->nsrc; i++) {
		rc = ck_bundle_parse(im->src[i].data, im->src[i].len, password, &im->bundles[i],
				     err);
		if (rc != CK_OK) {
			ck_err_prefix(err, "%s", im->src[i].name);
			return rc;
		}
		total += im->bundles[i].certs.n + im->bundles[i].nkeys;
	}
	im->certs = calloc(total + 1, sizeof(*im->certs));
	im->keys = calloc(total + 1, sizeof(*im->keys));
	if (im->certs == NULL || im->keys == NULL)
		return CK_OOM(err);
	for (i = 0; i < im->nsrc; i++) {
		if ((rc = imp_collect(im, &im->bundles[i], i, err)) != CK_OK) {
			ck_err_prefix(err, "%s", im->src[i].name);
			return rc;
		}
	}
	return CK_OK;
}

/* 1 if candidate issued child (names and signature). */
static int
imp_issued(const struct imp_cert *child, const struct imp_cert *cand)
{
	struct ck_der item = { (unsigned char *)cand->der, cand->len };
	struct ck_der_list one = { &item, 1 };

	if (strcmp(child->info.issuer, cand->info.subject) != 0)
		return 0;
	return ck_chain_check(child->der, child->len, &one, NULL) == CK_OK;
}

/*
 * The chain of certificate i from the input's other certificates, issuer
 * by issuer, up to a self-signed one or CK_STORE_CHAIN_MAX.  idx receives
 * indexes into im->certs; *n their count.
 */
static void
imp_chain(const struct imp *im, size_t i, size_t *idx, size_t *n)
{
	size_t cur = i, k, j;

	*n = 0;
	while (*n < CK_STORE_CHAIN_MAX && !im->certs[cur].info.self_signed) {
		for (k = 0; k < im->ncerts; k++) {
			if (k == i || k == cur)
				continue;
			for (j = 0; j < *n && idx[j] != k; j++)
				;
			if (j < *n)
				continue;
			if (imp_issued(&im->certs[cur], &im->certs[k]))
				break;
		}
		if (k == im->ncerts)
			return;
		idx[(*n)++] = k;
		cur = k;
	}
}

/* Decides which certificates stand alone; the rest become chains. */
static void
imp_classify(struct imp *im)
{
	size_t idx[CK_STORE_CHAIN_MAX], n, i, j;
	int has_leaf = 0;

	for (i = 0; i < im->ncerts; i++)
		if (!im->certs[i].info.is_ca)
			has_leaf = 1;
	for (i = 0; i < im->ncerts; i++) {
		struct imp_cert *c = &im->certs[i];
		c->standalone = !c->info.is_ca || !has_leaf ||
				imp_key_index(im, c->info.spki_sha256) >= 0;
	}
	for (i = 0; i < im->ncerts; i++) {
		if (!im->certs[i].standalone)
			continue;
		imp_chain(im, i, idx, &n);
		for (j = 0; j < n; j++)
			im->certs[idx[j]].in_chain = 1;
	}
	/* A CA certificate no leaf chains to is kept on its own, never dropped. */
	for (i = 0; i < im->ncerts; i++)
		if (!im->certs[i].standalone && !im->certs[i].in_chain)
			im->certs[i].standalone = 1;
}

/* Which standalone certificate --name applies to; CK_ERR_INVALID_ARG if unclear. */
static enum ck_code
imp_lineage_target(const struct imp *im, const char *lineage, size_t *target, struct ck_err *err)
{
	size_t i, all = 0, leaves = 0, first_all = 0, first_leaf = 0;

	*target = (size_t)-1;
	if (lineage == NULL)
		return CK_OK;
	if (!ck_store_name_valid(lineage))
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "the lineage name must be 1 to %d of A-Z a-z 0-9 . _ - and not "
			       "start with '.' or '-'; nothing was imported", CK_STORE_NAME_MAX);
	for (i = 0; i < im->ncerts; i++) {
		if (!im->certs[i].standalone)
			continue;
		if (all++ == 0)
			first_all = i;
		if (!im->certs[i].info.is_ca && leaves++ == 0)
			first_leaf = i;
	}
	if (leaves == 1)
		*target = first_leaf;
	else if (leaves == 0 && all == 1)
		*target = first_all;
	else if (all == 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "--name names a certificate, but the input holds only keys; "
			       "nothing was imported");
	else
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "--name names one certificate, but the input holds %zu; nothing "
			       "was imported: import them one at a time", leaves ? leaves : all);
	return CK_OK;
}

/* Records whether each standalone certificate was in the store (and labelled) before. */
static enum ck_code
imp_snapshot(struct ck_store *st, struct imp *im, struct ck_err *err)
{
	struct ck_cert_row row;
	int64_t id = 0;
	enum ck_code rc;
	size_t i;

	for (i = 0; i < im->ncerts; i++) {
		struct imp_cert *c = &im->certs[i];
		if (!c->standalone)
			continue;
		rc = ck_store_cert_find_sha256(st, c->info.sha256, &id, err);
		if (rc == CK_ERR_NOT_FOUND)
			continue;
		if (rc != CK_OK)
			return rc;
		memset(&row, 0, sizeof(row));
		if ((rc = ck_store_cert_get(st, id, &row, err)) != CK_OK)
			return rc;
		c->present_before = 1;
		c->labelled_before = !row.linked;
		ck_cert_row_cleanup(&row);
	}
	return CK_OK;
}

/* Checks a finder's hit for spki before anything of it is stored. */
static enum ck_code
imp_hit_check(const struct ck_key_hit *h, const char *spki, struct ck_err *err)
{
	char got[65];

	if (h->pkcs11_uri == NULL || h->spki_der == NULL || h->spki_len == 0 ||
	    strlen(h->pkcs11_uri) > CK_STORE_URL_MAX || h->spki_len > CK_STORE_KEY_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the key finder returned an incomplete "
			       "or over-long key reference");
	ck_sha256_hex(h->spki_der, h->spki_len, got);
	if (strcmp(got, spki) != 0)
		return CK_FAIL(err, CK_ERR_KEY_MISMATCH, "the key finder returned a key whose "
			       "public key is not the certificate's");
	return CK_OK;
}

/*
 * Asks finder for the key of each standalone certificate whose SPKI
 * matches no input key and no stored key (pending requests' keys are
 * stored keys).  Runs before the transaction: a token is not read while
 * the store is locked.
 */
static enum ck_code
imp_find_outside(struct ck_store *st, struct imp *im, const struct ck_key_finder *finder,
		 struct ck_err *err)
{
	struct ck_key_hit hit;
	int64_t id = 0;
	enum ck_code rc;
	size_t i;

	if (finder == NULL || finder->find == NULL)
		return CK_OK;
	if ((im->hits = calloc(im->ncerts + 1, sizeof(*im->hits))) == NULL)
		return CK_OOM(err);
	for (i = 0; i < im->ncerts; i++) {
		const char *spki = im->certs[i].info.spki_sha256;
		if (!im->certs[i].standalone || imp_key_index(im, spki) >= 0 ||
		    imp_hit_index(im, spki) >= 0)
			continue;
		rc = ck_store_key_find_spki(st, spki, &id, err);
		if (rc == CK_OK)
			continue;
		if (rc != CK_ERR_NOT_FOUND)
			return rc;
		memset(&hit, 0, sizeof(hit));
		rc = finder->find(finder->arg, spki, &hit, err);
		if (rc == CK_OK)
			rc = imp_hit_check(&hit, spki, err);
		if (rc != CK_OK) {
			imp_hit_cleanup(&hit);
			if (rc == CK_ERR_NOT_FOUND)
				continue;
			return rc;
		}
		memcpy(im->hits[im->nhits].spki, spki, sizeof(im->hits[0].spki));
		im->hits[im->nhits++].hit = hit;
	}
	if (err != NULL)
		ck_err_clear(err);
	return CK_OK;
}

/* Stores each hit as a token reference (inside the import's transaction). */
static enum ck_code
imp_put_hits(struct ck_store *st, const struct imp *im, struct ck_import_result *res,
	     struct ck_err *err)
{
	const struct ck_key_hit *h;
	int64_t id = 0;
	int created = 0;
	enum ck_code rc;
	size_t i;

	for (i = 0; i < im->nhits; i++) {
		h = &im->hits[i].hit;
		rc = ck_store_key_put_token(st, h->pkcs11_uri, h->spki_der, h->spki_len, &id,
					    &created, err);
		if (rc != CK_OK)
			return rc;
		if (created)
			res->changed = 1;
	}
	return CK_OK;
}

/* A stored certificate without a key that an input key may link. */
struct imp_waiting {
	int64_t cert_id;
	size_t key;
	char sha256[65];
};

/* The waiting list being filled by imp_waiting_add for input key `key`. */
struct imp_waiting_fill {
	struct imp_waiting *w;
	size_t n, cap;
	size_t key;
};

/* Adds a certificate with the input key's SPKI if it is labelled (ck_cert_row_fn). */
static enum ck_code
imp_waiting_add(const struct ck_cert_row *row, void *arg, struct ck_err *err)
{
	struct imp_waiting_fill *f = arg;
	struct imp_waiting *grown;
	size_t ncap;

	if (row->linked)
		return CK_OK;
	if (f->n == f->cap) {
		ncap = f->cap ? f->cap * 2 : 8;
		if ((grown = realloc(f->w, ncap * sizeof(*grown))) == NULL)
			return CK_OOM(err);
		f->w = grown;
		f->cap = ncap;
	}
	f->w[f->n].cert_id = row->id;
	f->w[f->n].key = f->key;
	memcpy(f->w[f->n].sha256, row->sha256, sizeof(f->w[f->n].sha256));
	f->n++;
	return CK_OK;
}

/*
 * The store's labelled certificates whose SPKI matches an input key, found
 * by SPKI (an index), so an import costs the same in a store of any size.
 */
static enum ck_code
imp_waiting_list(struct ck_store *st, const struct imp *im, struct imp_waiting **out, size_t *n,
		 struct ck_err *err)
{
	struct imp_waiting_fill f = { NULL, 0, 0, 0 };
	enum ck_code rc = CK_OK;

	*n = 0;
	*out = NULL;
	for (f.key = 0; f.key < im->nkeys && rc == CK_OK; f.key++)
		rc = ck_store_cert_each(st, im->keys[f.key].spki, imp_waiting_add, &f, err);
	if (rc != CK_OK) {
		free(f.w);
		return rc;
	}
	*out = f.w;
	*n = f.n;
	return CK_OK;
}

/* Counts, per key, the waiting certificates that are linked now. */
static enum ck_code
imp_waiting_check(struct ck_store *st, const struct imp_waiting *w, size_t n,
		  struct ck_import_result *res, struct ck_err *err)
{
	struct ck_cert_row row;
	enum ck_code rc;
	size_t i;

	for (i = 0; i < n; i++) {
		struct ck_import_key *k = &res->keys[w[i].key];
		memset(&row, 0, sizeof(row));
		if ((rc = ck_store_cert_get(st, w[i].cert_id, &row, err)) != CK_OK)
			return rc;
		if (row.linked) {
			if (k->relinked++ == 0)
				memcpy(k->relinked_sha256, w[i].sha256, sizeof(w[i].sha256));
			res->changed = 1;
		}
		ck_cert_row_cleanup(&row);
	}
	return CK_OK;
}

static enum ck_code
imp_put_keys(struct ck_store *st, const struct imp *im, struct ck_import_result *res,
	     struct ck_err *err)
{
	enum ck_code rc;
	size_t i;

	for (i = 0; i < im->nkeys; i++) {
		struct ck_import_key *k = &res->keys[i];
		memcpy(k->spki_sha256, im->keys[i].spki, sizeof(k->spki_sha256));
		ck_key_describe(im->keys[i].key, k->algorithm, sizeof(k->algorithm));
		rc = ck_store_key_put(st, im->keys[i].key, &k->key_id, &k->created, err);
		if (rc != CK_OK)
			return rc;
		res->nkeys++;
		if (k->created)
			res->changed = 1;
	}
	return CK_OK;
}

/* The row facts a report needs (key location, lineage) after the put. */
static enum ck_code
imp_fill_row(struct ck_store *st, struct ck_import_cert *ic, struct ck_err *err)
{
	struct ck_cert_row row;
	enum ck_code rc;
	int oom = 0;

	memset(&row, 0, sizeof(row));
	if ((rc = ck_store_cert_get(st, ic->cert_id, &row, err)) != CK_OK)
		return rc;
	ic->key_id = row.key_id;
	if (row.key_location != NULL && (ic->key_location = strdup(row.key_location)) == NULL)
		oom = 1;
	if (row.lineage != NULL && row.is_current && (ic->lineage = strdup(row.lineage)) == NULL)
		oom = 1;
	ck_cert_row_cleanup(&row);
	return oom ? CK_OOM(err) : CK_OK;
}

static enum ck_code
imp_put_cert(struct ck_store *st, const struct imp *im, size_t i, const char *lineage,
	     struct ck_import_cert *ic, struct ck_err *err)
{
	const struct imp_cert *c = &im->certs[i];
	struct ck_der items[CK_STORE_CHAIN_MAX];
	struct ck_der_list chain = { items, 0 };
	struct ck_cert_put_result pr;
	struct ck_cert_new in;
	size_t idx[CK_STORE_CHAIN_MAX], n, j;
	char origin[CK_STORE_TEXT_MAX];
	enum ck_code rc;
	int h;

	imp_chain(im, i, idx, &n);
	for (j = 0; j < n; j++) {
		items[j].data = (unsigned char *)im->certs[idx[j]].der;
		items[j].len = im->certs[idx[j]].len;
	}
	chain.n = n;
	snprintf(origin, sizeof(origin), "import:%s", im->src[c->src].name);
	memset(&in, 0, sizeof(in));
	in.der = c->der;
	in.len = c->len;
	in.chain = n > 0 ? &chain : NULL;
	in.origin = origin;
	in.key_id = 0; /* the store finds the key by SPKI itself */
	in.lineage = lineage;
	memset(&pr, 0, sizeof(pr));
	if ((rc = ck_store_cert_put(st, &in, &pr, err)) != CK_OK)
		return rc;
	memcpy(ic->sha256, c->info.sha256, sizeof(ic->sha256));
	ic->cert_id = pr.cert_id;
	ic->already_present = pr.already_present || c->present_before;
	ic->request_closed = pr.request_closed;
	ic->chain_len = n;
	if ((ic->subject = strdup(c->info.subject)) == NULL ||
	    (ic->source = strdup(im->src[c->src].name)) == NULL)
		return CK_OOM(err);
	if ((rc = imp_fill_row(st, ic, err)) != CK_OK)
		return rc;
	if (ic->key_id == 0)
		ic->key_source = CK_IMPORT_KEY_NONE;
	else if (imp_key_index(im, c->info.spki_sha256) >= 0)
		ic->key_source = CK_IMPORT_KEY_INPUT;
	else if (ic->request_closed > 0)
		ic->key_source = CK_IMPORT_KEY_REQUEST;
	else if ((h = imp_hit_index(im, c->info.spki_sha256)) >= 0)
		ic->key_source = CK_IMPORT_KEY_FINDER;
	else
		ic->key_source = CK_IMPORT_KEY_STORE;
	if (ic->key_source == CK_IMPORT_KEY_FINDER && im->hits[h].hit.where != NULL &&
	    (ic->key_where = strdup(im->hits[h].hit.where)) == NULL)
		return CK_OOM(err);
	ic->newly_linked = c->labelled_before && ic->key_id != 0;
	return CK_OK;
}

static enum ck_code
imp_put_certs(struct ck_store *st, const struct imp *im, size_t target, const char *lineage,
	      struct ck_import_result *res, struct ck_err *err)
{
	enum ck_code rc;
	size_t i;

	for (i = 0; i < im->ncerts; i++) {
		struct ck_import_cert *ic = &res->certs[res->ncerts];
		if (!im->certs[i].standalone) {
			res->chain_only++;
			continue;
		}
		rc = imp_put_cert(st, im, i, i == target ? lineage : NULL, ic, err);
		res->ncerts++; /* counted even half-filled so cleanup frees it */
		if (rc != CK_OK)
			return rc;
		if (!ic->already_present || ic->newly_linked)
			res->changed = 1;
	}
	return CK_OK;
}

/* Whether each key is used now (an unused one is kept as an unlinked key). */
static enum ck_code
imp_keys_used(struct ck_store *st, struct ck_import_result *res, struct ck_err *err)
{
	struct ck_key_info ki;
	enum ck_code rc;
	size_t i;

	for (i = 0; i < res->nkeys; i++) {
		memset(&ki, 0, sizeof(ki));
		if ((rc = ck_store_key_info(st, res->keys[i].key_id, &ki, err)) != CK_OK)
			return rc;
		res->keys[i].used = ki.used;
		ck_key_info_cleanup(&ki);
	}
	return CK_OK;
}

enum ck_code
ck_store_import(struct ck_store *st, const struct ck_import_source *src, size_t n,
		const char *password, const char *lineage, struct ck_import_result *out,
		struct ck_err *err)
{
	return ck_store_import_with(st, src, n, password, lineage, NULL, out, err);
}

enum ck_code
ck_store_import_with(struct ck_store *st, const struct ck_import_source *src, size_t n,
		     const char *password, const char *lineage,
		     const struct ck_key_finder *finder, struct ck_import_result *out,
		     struct ck_err *err)
{
	struct ck_import_result res;
	struct imp_waiting *waiting = NULL;
	struct imp im;
	size_t target = (size_t)-1, nwaiting = 0;
	enum ck_code rc;

	memset(&im, 0, sizeof(im));
	memset(&res, 0, sizeof(res));
	if (src == NULL || n == 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no input to import");
	if (n > CK_IMPORT_FILES_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "%zu inputs; at most %d in one import", n,
			       CK_IMPORT_FILES_MAX);
	im.src = src;
	im.nsrc = n;
	if ((rc = imp_parse(&im, password, err)) != CK_OK)
		goto out;
	imp_classify(&im);
	if ((rc = imp_lineage_target(&im, lineage, &target, err)) != CK_OK ||
	    (rc = imp_snapshot(st, &im, err)) != CK_OK ||
	    (rc = imp_waiting_list(st, &im, &waiting, &nwaiting, err)) != CK_OK)
		goto out;
	if ((rc = imp_find_outside(st, &im, finder, err)) != CK_OK) {
		ck_err_prefix(err, "nothing was imported");
		goto out;
	}
	res.certs = calloc(im.ncerts + 1, sizeof(*res.certs));
	res.keys = calloc(im.nkeys + 1, sizeof(*res.keys));
	if (res.certs == NULL || res.keys == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	/* One transaction for the whole import: keys first (so each certificate
	 * links as it goes in), then certificates; a failure or a crash
	 * anywhere leaves the store as it was before the import. */
	if ((rc = ck_store_tx_begin(st, err)) != CK_OK)
		goto out;
	if ((rc = imp_put_keys(st, &im, &res, err)) != CK_OK ||
	    (rc = imp_put_hits(st, &im, &res, err)) != CK_OK ||
	    (rc = imp_put_certs(st, &im, target, lineage, &res, err)) != CK_OK ||
	    (rc = imp_keys_used(st, &res, err)) != CK_OK ||
	    (rc = imp_waiting_check(st, waiting, nwaiting, &res, err)) != CK_OK) {
		ck_store_tx_rollback(st);
		ck_err_prefix(err, "nothing was imported");
		goto out;
	}
	CK_FAULT("store.import.before_commit");
	if ((rc = ck_store_tx_commit(st, err)) != CK_OK) {
		ck_err_prefix(err, "nothing was imported");
		goto out;
	}
	CK_FAULT("store.import.after_commit");
	*out = res;
	memset(&res, 0, sizeof(res));
out:
	free(waiting);
	ck_import_result_cleanup(&res);
	imp_cleanup(&im);
	return rc;
}

enum ck_code
ck_store_import_files(struct ck_store *st, const char *const *paths, size_t n,
		      const char *password, const char *lineage, struct ck_import_result *out,
		      struct ck_err *err)
{
	return ck_store_import_files_with(st, paths, n, password, lineage, NULL, out, err);
}

enum ck_code
ck_store_import_files_with(struct ck_store *st, const char *const *paths, size_t n,
			   const char *password, const char *lineage,
			   const struct ck_key_finder *finder, struct ck_import_result *out,
			   struct ck_err *err)
{
	struct ck_import_source *src = NULL;
	enum ck_code rc = CK_OK;
	size_t i;

	if (paths == NULL || n == 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no file to import");
	if (n > CK_IMPORT_FILES_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "%zu files; at most %d in one import", n,
			       CK_IMPORT_FILES_MAX);
	if ((src = calloc(n, sizeof(*src))) == NULL)
		return CK_OOM(err);
	for (i = 0; i < n && rc == CK_OK; i++) {
		unsigned char *data = NULL;
		size_t len = 0;

		src[i].name = paths[i];
		rc = ck_file_read_secret(paths[i], CK_PEM_MAX, &data, &len, err);
		if (rc != CK_OK) {
			ck_err_prefix(err, "nothing was imported");
			break;
		}
		src[i].data = data;
		src[i].len = len;
	}
	if (rc == CK_OK)
		rc = ck_store_import_with(st, src, n, password, lineage, finder, out, err);
	for (i = 0; i < n; i++)
		ck_secure_free((void *)src[i].data, src[i].data ? src[i].len + 1 : 0);
	free(src);
	return rc;
}
