/*
 * x509_cache.c - a small per-thread cache of decoded certificates, keyed
 * by their exact DER bytes.  One renewal decodes the same certificates
 * several times on one thread: the flow's check decodes the issued leaf
 * and its issuer, the store decodes the leaf again to prove its facts, and
 * every renewal of a batch brings the same issuer.  OpenSSL 3.0 spends
 * about 0.1 ms in each d2i_X509 (a decoder chain for the public key).
 *
 * Why a cached object is safe:
 * - an entry is found only by the whole DER (length and memcmp of every
 *   byte, never a hash alone): a hit is a decode of exactly those bytes, so
 *   the store still proves its facts from the bytes it stores (invariant 1);
 * - objects are shared (X509_up_ref), so callers must only read them.  The
 *   callers (audited) are chain_checker.c's ck_chain_checker_leaf (through
 *   crypto_x509_leaf) and checker_cert, which pass them to
 *   crypto_cert_info_from_x509 (getters; X509_get_ext_d2i returns copies),
 *   crypto_chain_link_ok (X509_check_issued, X509_verify; the extension
 *   flags OpenSSL caches inside an X509 are filled under its own lock, from
 *   the same bytes) and keep them in a checker, which never changes them
 *   either.
 *
 * A leaf may be held "lite" (crypto_x509_leaf): decoded by the same
 * template, but in a library context with no decoders, so OpenSSL leaves
 * its public key undecoded (X509_get0_pubkey answers NULL).  Everything
 * else of the certificate is there: names, serial, validity, extensions,
 * the SPKI's bytes, and it can be the subject of X509_check_issued and
 * X509_verify (which use the issuer's key).  A lite entry is handed only to
 * crypto_x509_leaf's callers; crypto_x509_shared decodes it in full and
 * takes its place.  With a lite entry goes the description of its key
 * (ck_key_describe text), noted only from a key whose SPKI DER is exactly
 * the certificate's SPKI DER (the same bytes decode to the same key).
 *
 * It also remembers, per certificate, the certificate seen to sign it
 * (crypto_x509_link_note after crypto_chain_link_ok said so): a batch's
 * intermediate is proven signed by its root once per thread, not once per
 * renewal.  The memory is the signer's exact bytes, dropped with the entry.
 *
 * Must never: serve a caller that sets anything on an X509 (X509_alias_set1,
 * X509_add1_trust_object, X509_sign, ...), hold more than X509_CACHE_MAX
 * entries or any certificate over X509_CACHE_DER_MAX bytes, outlive its
 * thread (a pthread key destructor frees it at thread exit).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include "crypto/crypto_int.h"

#define X509_CACHE_MAX 4
#define X509_CACHE_DER_MAX 16384

struct x509_cache_entry {
	unsigned char *der;
	size_t len;
	X509 *x;
	unsigned long used;       /* the cache's clock at its last use */
	unsigned char *signer;    /* the DER of a certificate seen to sign it, or NULL */
	size_t signer_len;
	int lite;                 /* x's public key is not decoded (crypto_x509_leaf) */
	char key_desc[CK_KEY_DESC_MAX]; /* a lite entry's key description, or "" */
};

struct x509_cache {
	struct x509_cache_entry e[X509_CACHE_MAX];
	unsigned long clock;      /* counts uses: the least recently used entry goes */
};

static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static pthread_key_t cache_key;
static int cache_key_made;

static void
cache_free(void *p)
{
	struct x509_cache *c = p;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < X509_CACHE_MAX; i++) {
		X509_free(c->e[i].x);
		free(c->e[i].der);
		free(c->e[i].signer);
	}
	free(c);
}

static void
cache_key_make(void)
{
	cache_key_made = pthread_key_create(&cache_key, cache_free) == 0;
}

/* This thread's cache, made on first use; NULL without memory (then
 * nothing is cached and every call decodes). */
static struct x509_cache *
cache_get(void)
{
	struct x509_cache *c;

	if (pthread_once(&cache_once, cache_key_make) != 0 || !cache_key_made)
		return NULL;
	c = pthread_getspecific(cache_key);
	if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL &&
	    pthread_setspecific(cache_key, c) != 0) {
		free(c);
		c = NULL;
	}
	return c;
}

/* The entry of exactly der, or NULL. */
static struct x509_cache_entry *
cache_find(struct x509_cache *c, const unsigned char *der, size_t len)
{
	size_t i;

	for (i = 0; c != NULL && der != NULL && i < X509_CACHE_MAX; i++)
		if (c->e[i].x != NULL && c->e[i].len == len && memcmp(c->e[i].der, der, len) == 0)
			return &c->e[i];
	return NULL;
}

/* Keeps x (one more reference, lite: its key undecoded) under a copy of
 * der, in place of der's lite entry if there is one (a full decode
 * replaces it), else of the least recently used entry (a batch's issuer
 * stays while leaves come and go); nothing if no room. */
static void
cache_put(struct x509_cache *c, const unsigned char *der, size_t len, X509 *x, int lite)
{
	struct x509_cache_entry *e = cache_find(c, der, len);
	unsigned char *copy = NULL;
	size_t i;

	if (e == NULL)
		for (e = &c->e[0], i = 1; i < X509_CACHE_MAX; i++)
			if (c->e[i].used < e->used)
				e = &c->e[i];
	if (len > X509_CACHE_DER_MAX || (copy = malloc(len)) == NULL || !X509_up_ref(x)) {
		free(copy);
		return;
	}
	memcpy(copy, der, len);
	X509_free(e->x);
	free(e->der);
	free(e->signer);
	e->der = copy;
	e->len = len;
	e->x = x;
	e->used = ++c->clock;
	e->signer = NULL;
	e->signer_len = 0;
	e->lite = lite;
	e->key_desc[0] = '\0';
}

enum ck_code
crypto_x509_shared(const unsigned char *der, size_t len, X509 **out, struct ck_err *err)
{
	struct x509_cache *c = der != NULL && len > 0 ? cache_get() : NULL;
	struct x509_cache_entry *e = cache_find(c, der, len);
	enum ck_code rc;
	X509 *x = NULL;

	if (e != NULL && !e->lite && X509_up_ref(e->x)) {
		e->used = ++c->clock;
		*out = e->x;
		return CK_OK;
	}
	if ((rc = crypto_x509_from_der(der, len, &x, err)) != CK_OK)
		return rc;
	if (c != NULL)
		cache_put(c, der, len, x, 0);
	*out = x;
	return CK_OK;
}

/* The library context lite decodes run in: only the built-in null
 * provider, so there is no decoder for a public key (and no default
 * provider loaded behind our back); NULL if it could not be made. */
static OSSL_LIB_CTX *lite_ctx;
static pthread_once_t lite_once = PTHREAD_ONCE_INIT;

static void
lite_ctx_make(void)
{
	OSSL_LIB_CTX *l = OSSL_LIB_CTX_new();

	if (l != NULL && OSSL_PROVIDER_load(l, "null") == NULL) {
		OSSL_LIB_CTX_free(l);
		l = NULL;
	}
	ERR_clear_error();
	lite_ctx = l;
}

/* der decoded with its public key left undecoded, consumed whole; NULL if
 * it does not parse (the caller's full decode then says why). */
static X509 *
lite_decode(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;

	if (pthread_once(&lite_once, lite_ctx_make) != 0 || lite_ctx == NULL ||
	    len > CK_PEM_MAX)
		return NULL;
	x = (X509 *)ASN1_item_d2i_ex(NULL, &p, (long)len, ASN1_ITEM_rptr(X509), lite_ctx, NULL);
	if (x != NULL && p != der + len) {
		X509_free(x);
		x = NULL;
	}
	ERR_clear_error();
	return x;
}

/* 1 if x's SPKI, as DER, is exactly known's bytes. */
static int
lite_spki_is(X509 *x, const struct ck_known_spki *known)
{
	unsigned char *spki = NULL;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
	int same = n > 0 && (size_t)n == known->len && memcmp(spki, known->der, known->len) == 0;

	OPENSSL_free(spki);
	return same;
}

enum ck_code
crypto_x509_leaf(const unsigned char *der, size_t len, const struct ck_known_spki *known,
		 X509 **out, char key_desc[CK_KEY_DESC_MAX], struct ck_err *err)
{
	struct x509_cache *c = der != NULL && len > 0 ? cache_get() : NULL;
	struct x509_cache_entry *e = cache_find(c, der, len);
	X509 *x = NULL;

	key_desc[0] = '\0';
	if (e != NULL && (!e->lite || e->key_desc[0] != '\0') && X509_up_ref(e->x)) {
		e->used = ++c->clock;
		snprintf(key_desc, CK_KEY_DESC_MAX, "%s", e->lite ? e->key_desc : "");
		*out = e->x;
		return CK_OK;
	}
	/* A lite decode serves only when known describes the key it leaves
	 * undecoded (the same SPKI bytes) and that key is needed for nothing
	 * else: a self-issued certificate's self-signature is checked with its
	 * own key (X509_self_signed), so it takes the full decode. */
	if (c != NULL && known != NULL && known->der != NULL && known->desc[0] != '\0') {
		if (e != NULL)
			x = X509_up_ref(e->x) ? e->x : NULL;
		else
			x = lite_decode(der, len);
	}
	if (x != NULL && ((X509_get_extension_flags(x) & (EXFLAG_SI | EXFLAG_INVALID)) != 0 ||
			  !lite_spki_is(x, known))) {
		X509_free(x);
		x = NULL;
	}
	ERR_clear_error();
	if (x == NULL)
		return crypto_x509_shared(der, len, out, err);
	if (e == NULL) {
		cache_put(c, der, len, x, 1);
		e = cache_find(c, der, len);
	}
	if (e != NULL && e->x == x) {
		snprintf(e->key_desc, sizeof(e->key_desc), "%s", known->desc);
		e->used = ++c->clock;
	}
	snprintf(key_desc, CK_KEY_DESC_MAX, "%s", known->desc);
	*out = x;
	return CK_OK;
}

int
crypto_x509_link_known(const unsigned char *der, size_t len, const unsigned char *signer,
		       size_t signer_len)
{
	struct x509_cache_entry *e = cache_find(cache_get(), der, len);

	return e != NULL && e->signer != NULL && e->signer_len == signer_len &&
	       memcmp(e->signer, signer, signer_len) == 0;
}

void
crypto_x509_link_note(const unsigned char *der, size_t len, const unsigned char *signer,
		      size_t signer_len)
{
	struct x509_cache_entry *e = cache_find(cache_get(), der, len);
	unsigned char *copy;

	if (e == NULL || signer_len == 0 || signer_len > X509_CACHE_DER_MAX ||
	    (copy = malloc(signer_len)) == NULL)
		return;
	memcpy(copy, signer, signer_len);
	free(e->signer);
	e->signer = copy;
	e->signer_len = signer_len;
}

void
crypto_x509_cache_clear(void)
{
	struct x509_cache *c;

	if (pthread_once(&cache_once, cache_key_make) != 0 || !cache_key_made)
		return;
	if ((c = pthread_getspecific(cache_key)) != NULL && pthread_setspecific(cache_key, NULL) == 0)
		cache_free(c);
}
