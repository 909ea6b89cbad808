/*
 * test_crypto_fast.c - the ways around OpenSSL 3.0's per-object costs
 * (issue 14): a public key's SPKI and a request's public key written from
 * the key's parameters must be byte for byte what OpenSSL's encoder writes,
 * for every key type certkeep makes and for a token's public keys (built
 * from CKA_EC_POINT / raw bytes); the per-thread decoded-certificate cache
 * answers only for exactly the same bytes, per thread, within its bound;
 * a leaf whose key the caller knows is read without decoding that key
 * ("lite"), with every fact and every chain verdict of the full decode,
 * and never handed to a caller that needs its key.
 */
#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "test_crypto_util.h"
#include "crypto/crypto_int.h"

static unsigned char *
der_pubkey(EVP_PKEY *k, int *len)
{
	unsigned char *der = NULL;

	*len = i2d_PUBKEY(k, &der);
	assert_true(*len > 0);
	return der;
}

/* A public-only key as the token module builds one (fromdata, raw). */
static EVP_PKEY *
token_like_pub(EVP_PKEY *k)
{
	unsigned char pt[CRYPTO_PUBKEY_POINT_MAX];
	char group[64];
	size_t ptlen = sizeof(pt), glen = 0;
	OSSL_PARAM_BLD *bld;
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pub = NULL;

	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) {
		assert_int_equal(EVP_PKEY_get_raw_public_key(k, pt, &ptlen), 1);
		pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pt, ptlen);
		assert_non_null(pub);
		return pub;
	}
	assert_int_equal(EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
							sizeof(group), &glen), 1);
	assert_int_equal(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt,
							 sizeof(pt), &ptlen), 1);
	assert_non_null(bld = OSSL_PARAM_BLD_new());
	assert_int_equal(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
			 1);
	assert_int_equal(OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, ptlen),
			 1);
	assert_non_null(params = OSSL_PARAM_BLD_to_param(bld));
	assert_non_null(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL));
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pub, EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return pub;
}

/* ck_key_spki_der(k) is i2d_PUBKEY(k); fast: it took the parameter path. */
static void
check_spki(EVP_PKEY *k, int fast)
{
	unsigned char *want, *got = NULL;
	X509_PUBKEY *xp = X509_PUBKEY_new();
	char hex[65], want_hex[65];
	size_t len = 0;
	int wlen;

	want = der_pubkey(k, &wlen);
	assert_int_equal(ck_key_spki_der(k, &got, &len, NULL), CK_OK);
	assert_int_equal(len, (size_t)wlen);
	assert_memory_equal(got, want, len);
	assert_int_equal(ck_key_spki_sha256(k, hex, NULL), CK_OK);
	ck_sha256_hex(want, (size_t)wlen, want_hex);
	assert_string_equal(hex, want_hex);
	assert_int_equal(crypto_pubkey_fill(k, xp), fast);
	X509_PUBKEY_free(xp);
	OPENSSL_free(want);
	free(got);
}

/* A P-256 key whose parameters are written out explicitly, not named. */
static EVP_PKEY *
explicit_p256(void)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING,
				       OSSL_PKEY_EC_ENCODING_EXPLICIT, 0),
		OSSL_PARAM_END,
	};
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_params(ctx, params), 1);
	assert_int_equal(EVP_PKEY_generate(ctx, &k), 1);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static void
test_spki_fast_path_identical(void **state)
{
	static const struct { enum ck_key_type t; int fast; } types[] = {
		{CK_KEY_EC256, 1}, {CK_KEY_EC384, 1}, {CK_KEY_ED25519, 1},
		{CK_KEY_RSA2048, 0}, {CK_KEY_RSA3072, 0},
	};
	size_t i, round;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(types); i++) {
		for (round = 0; round < 3; round++) {
			EVP_PKEY *k = t_key(types[i].t), *pub;

			check_spki(k, types[i].fast);
			if (types[i].fast) {
				pub = token_like_pub(k);
				check_spki(pub, 1);
				EVP_PKEY_free(pub);
			}
			EVP_PKEY_free(k);
		}
	}
	/* Explicit parameters are not a named curve: the encoder writes them. */
	{
		EVP_PKEY *k = explicit_p256();

		check_spki(k, 0);
		EVP_PKEY_free(k);
	}
}

/* ck_key_to_pkcs8_der(k) is EVP_PKEY2PKCS8's DER; fast: the lite path took it. */
static int
check_pkcs8(EVP_PKEY *k, int fast)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k), *lite = crypto_pkcs8_lite(k);
	unsigned char *want = NULL, *got = NULL;
	const unsigned char *p;
	EVP_PKEY *back;
	size_t len = 0;
	int wlen, lead_zero;

	assert_non_null(p8);
	assert_true((wlen = i2d_PKCS8_PRIV_KEY_INFO(p8, &want)) > 0);
	assert_int_equal(ck_key_to_pkcs8_der(k, &got, &len, NULL), CK_OK);
	assert_int_equal(len, (size_t)wlen);
	assert_memory_equal(got, want, len);
	assert_int_equal(lite != NULL, fast);
	/* and it reads back as the same key */
	p = got;
	assert_non_null(back = d2i_AutoPrivateKey(NULL, &p, (long)len));
	assert_int_equal(EVP_PKEY_eq(back, k), 1);
	/* P-256's scalar starts 36 bytes in: a zero there is the padding's test */
	lead_zero = EVP_PKEY_get_base_id(k) == EVP_PKEY_EC && len > 36 && got[36] == 0;
	EVP_PKEY_free(back);
	PKCS8_PRIV_KEY_INFO_free(lite);
	PKCS8_PRIV_KEY_INFO_free(p8);
	OPENSSL_clear_free(want, (size_t)wlen);
	ck_secure_free(got, len);
	return lead_zero;
}

/* Private keys as PKCS#8: byte for byte the encoder's, also for a scalar
 * with leading zero bytes (padded to the order's size); RSA and explicit
 * parameters take the encoder; a public-only key has no PKCS#8. */
static void
test_pkcs8_fast_path_identical(void **state)
{
	static const struct { enum ck_key_type t; int fast; } types[] = {
		{CK_KEY_EC256, 1}, {CK_KEY_EC384, 1}, {CK_KEY_ED25519, 1}, {CK_KEY_RSA2048, 0},
	};
	unsigned char *der = NULL;
	size_t i, round, len = 0;
	int zeros = 0;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(types); i++) {
		for (round = 0; round < 3; round++) {
			EVP_PKEY *k = t_key(types[i].t);

			check_pkcs8(k, types[i].fast);
			EVP_PKEY_free(k);
		}
	}
	for (round = 0; round < 4000 && zeros == 0; round++) {
		EVP_PKEY *k = t_key(CK_KEY_EC256);

		zeros += check_pkcs8(k, 1);
		EVP_PKEY_free(k);
	}
	assert_int_equal(zeros, 1);
	{
		EVP_PKEY *k = explicit_p256(), *pub = NULL;

		check_pkcs8(k, 0);
		EVP_PKEY_free(k);
		k = t_key(CK_KEY_EC256);
		pub = token_like_pub(k);
		assert_null(crypto_pkcs8_lite(pub));
		assert_int_not_equal(ck_key_to_pkcs8_der(pub, &der, &len, NULL), CK_OK);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(k);
	}
}

/* The request's key is the encoder's bytes: setting it the old way
 * (X509_REQ_set_pubkey) on the parsed request changes no byte of its TBS. */
static void
test_csr_pubkey_identical(void **state)
{
	static const enum ck_key_type types[] = {CK_KEY_EC256, CK_KEY_EC384, CK_KEY_ED25519,
						 CK_KEY_RSA2048};
	static const char *const names[] = {"a.example", "b.example"};
	size_t i, len = 0;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(types); i++) {
		EVP_PKEY *k = t_key(types[i]);
		unsigned char *der = NULL, *tbs = NULL, *tbs_old = NULL, *pk = NULL, *want;
		const unsigned char *p;
		X509_REQ *req;
		int tlen, tlen_old, pklen, wlen;

		assert_int_equal(ck_csr_create(k, names, 2, &der, &len, NULL), CK_OK);
		p = der;
		assert_non_null(req = d2i_X509_REQ(NULL, &p, (long)len));
		assert_int_equal(X509_REQ_verify(req, k), 1);
		pklen = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &pk);
		want = der_pubkey(k, &wlen);
		assert_int_equal(pklen, wlen);
		assert_memory_equal(pk, want, (size_t)wlen);
		assert_true((tlen = i2d_re_X509_REQ_tbs(req, &tbs)) > 0);
		assert_int_equal(X509_REQ_set_pubkey(req, k), 1);
		assert_true((tlen_old = i2d_re_X509_REQ_tbs(req, &tbs_old)) > 0);
		assert_int_equal(tlen, tlen_old);
		assert_memory_equal(tbs, tbs_old, (size_t)tlen);
		assert_memory_equal(tbs, der + (der[1] & 0x80 ? 2 + (der[1] & 0x7f) : 2),
				    (size_t)tlen);
		OPENSSL_free(tbs);
		OPENSSL_free(tbs_old);
		OPENSSL_free(pk);
		OPENSSL_free(want);
		X509_REQ_free(req);
		free(der);
		EVP_PKEY_free(k);
	}
}

static unsigned char *
cert_der(EVP_PKEY *k, long serial, size_t *len)
{
	X509 *x = t_make_cert(k, NULL, NULL, "cache.example", 0, "DNS:cache.example", serial,
			      time(NULL) - 60, time(NULL) + 86400);
	unsigned char *der = t_cert_der(x, len);

	X509_free(x);
	return der;
}

/* Decodes der through the cache; the object (a reference the caller frees). */
static X509 *
shared(const unsigned char *der, size_t len)
{
	X509 *x = NULL;

	assert_int_equal(crypto_x509_shared(der, len, &x, NULL), CK_OK);
	assert_non_null(x);
	return x;
}

static void
test_cache_hit_only_on_same_bytes(void **state)
{
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	unsigned char *der, *copy, *changed;
	X509 *a, *b, *c;
	size_t len;

	(void)state;
	crypto_x509_cache_clear();
	der = cert_der(k, 7, &len);
	copy = malloc(len);
	changed = malloc(len);
	assert_non_null(copy);
	assert_non_null(changed);
	memcpy(copy, der, len);
	memcpy(changed, der, len);
	changed[len - 1] ^= 0x01; /* the signature's last byte: still a certificate */
	a = shared(der, len);
	b = shared(copy, len); /* other memory, same bytes: the same object */
	assert_ptr_equal(a, b);
	c = shared(changed, len);
	assert_ptr_not_equal(a, c);
	{
		const ASN1_BIT_STRING *sa, *sc;

		X509_get0_signature(&sa, NULL, a);
		X509_get0_signature(&sc, NULL, c);
		assert_int_not_equal(ASN1_STRING_cmp(sa, sc), 0);
	}
	/* A prefix of the bytes is not the certificate: refused, not served. */
	assert_int_equal(crypto_x509_shared(der, len - 1, &b, NULL), CK_ERR_PARSE);
	X509_free(a);
	X509_free(a);
	X509_free(c);
	crypto_x509_cache_clear();
	free(changed);
	free(copy);
	free(der);
	EVP_PKEY_free(k);
}

static void
test_cache_bounded(void **state)
{
	EVP_PKEY *k = t_key(CK_KEY_ED25519);
	unsigned char *der[6];
	X509 *first, *again, *x;
	size_t len[6], i;

	(void)state;
	crypto_x509_cache_clear();
	for (i = 0; i < 6; i++)
		der[i] = cert_der(k, (long)i + 1, &len[i]);
	first = shared(der[0], len[0]);
	for (i = 1; i < 6; i++) {
		x = shared(der[i], len[i]);
		X509_free(x);
	}
	/* Five others came after it: the first was dropped, decoded anew. */
	again = shared(der[0], len[0]);
	assert_ptr_not_equal(first, again);
	X509_free(again);
	X509_free(first);
	/* The latest are kept: a hit. */
	x = shared(der[5], len[5]);
	again = shared(der[5], len[5]);
	assert_ptr_equal(x, again);
	X509_free(x);
	X509_free(again);
	crypto_x509_cache_clear();
	for (i = 0; i < 6; i++)
		free(der[i]);
	EVP_PKEY_free(k);
}

/* The entry in use stays while new ones come (least recently used goes):
 * a batch's issuer is decoded once per thread, not once per few leaves. */
static void
test_cache_keeps_the_entry_in_use(void **state)
{
	EVP_PKEY *k = t_key(CK_KEY_ED25519);
	unsigned char *der[9];
	X509 *issuer, *again, *x;
	size_t len[9], i;

	(void)state;
	crypto_x509_cache_clear();
	for (i = 0; i < 9; i++)
		der[i] = cert_der(k, (long)i + 1, &len[i]);
	issuer = shared(der[0], len[0]);
	for (i = 1; i < 9; i++) { /* a leaf, then the issuer again, eight times */
		x = shared(der[i], len[i]);
		X509_free(x);
		again = shared(der[0], len[0]);
		assert_ptr_equal(issuer, again);
		X509_free(again);
	}
	X509_free(issuer);
	crypto_x509_cache_clear();
	for (i = 0; i < 9; i++)
		free(der[i]);
	EVP_PKEY_free(k);
}

/* A link noted as verified is known only for exactly those two certificates'
 * bytes, on this thread, while the subject is cached. */
static void
test_link_known_only_for_the_same_bytes(void **state)
{
	EVP_PKEY *k = t_key(CK_KEY_ED25519);
	unsigned char *sub, *iss, *other, *fill[5];
	size_t slen, ilen, olen, flen[5], i;
	X509 *x;

	(void)state;
	crypto_x509_cache_clear();
	sub = cert_der(k, 1, &slen);
	iss = cert_der(k, 2, &ilen);
	other = cert_der(k, 3, &olen);
	assert_int_equal(crypto_x509_link_known(sub, slen, iss, ilen), 0);
	crypto_x509_link_note(sub, slen, iss, ilen); /* not cached: nothing noted */
	assert_int_equal(crypto_x509_link_known(sub, slen, iss, ilen), 0);
	x = shared(sub, slen);
	X509_free(x);
	crypto_x509_link_note(sub, slen, iss, ilen);
	assert_int_equal(crypto_x509_link_known(sub, slen, iss, ilen), 1);
	assert_int_equal(crypto_x509_link_known(sub, slen, other, olen), 0);
	assert_int_equal(crypto_x509_link_known(sub, slen, iss, ilen - 1), 0);
	assert_int_equal(crypto_x509_link_known(iss, ilen, sub, slen), 0);
	iss[ilen - 1] ^= 0x01;
	assert_int_equal(crypto_x509_link_known(sub, slen, iss, ilen), 0);
	iss[ilen - 1] ^= 0x01;
	for (i = 0; i < 5; i++) { /* the subject is pushed out: its link with it */
		fill[i] = cert_der(k, (long)i + 10, &flen[i]);
		x = shared(fill[i], flen[i]);
		X509_free(x);
	}
	assert_int_equal(crypto_x509_link_known(sub, slen, iss, ilen), 0);
	x = shared(sub, slen);
	X509_free(x);
	assert_int_equal(crypto_x509_link_known(sub, slen, iss, ilen), 0);
	crypto_x509_cache_clear();
	for (i = 0; i < 5; i++)
		free(fill[i]);
	free(sub);
	free(iss);
	free(other);
	EVP_PKEY_free(k);
}

struct other_thread {
	const unsigned char *der;
	size_t len;
	X509 *x;
};

static void *
other_thread_main(void *arg)
{
	struct other_thread *o = arg;

	/* Twice: a hit inside this thread, never the other thread's object.
	 * The thread's cache is freed when it exits (LeakSanitizer checks). */
	if (crypto_x509_shared(o->der, o->len, &o->x, NULL) == CK_OK) {
		X509 *y = NULL;

		if (crypto_x509_shared(o->der, o->len, &y, NULL) != CK_OK || y != o->x) {
			X509_free(o->x);
			o->x = NULL;
		}
		X509_free(y);
	}
	return NULL;
}

static void
test_cache_per_thread(void **state)
{
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct other_thread o = {0};
	pthread_t t;
	size_t len;
	unsigned char *der = cert_der(k, 9, &len);
	X509 *mine;

	(void)state;
	crypto_x509_cache_clear();
	mine = shared(der, len);
	o.der = der;
	o.len = len;
	assert_int_equal(pthread_create(&t, NULL, other_thread_main, &o), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_non_null(o.x);
	assert_ptr_not_equal(o.x, mine);
	assert_int_equal(X509_cmp(o.x, mine), 0);
	X509_free(o.x);
	X509_free(mine);
	crypto_x509_cache_clear();
	free(der);
	EVP_PKEY_free(k);
}

/* Every fact of a equals b's. */
static void
info_equal(const struct ck_cert_info *a, const struct ck_cert_info *b)
{
	size_t i;

	assert_string_equal(a->sha256, b->sha256);
	assert_string_equal(a->sha1, b->sha1);
	assert_string_equal(a->spki_sha256, b->spki_sha256);
	assert_string_equal(a->subject, b->subject);
	assert_string_equal(a->issuer, b->issuer);
	assert_string_equal(a->serial, b->serial);
	assert_int_equal(a->nsans, b->nsans);
	for (i = 0; i < a->nsans; i++)
		assert_string_equal(a->sans[i], b->sans[i]);
	assert_int_equal(a->not_before, b->not_before);
	assert_int_equal(a->not_after, b->not_after);
	assert_string_equal(a->key_desc, b->key_desc);
	assert_int_equal(a->is_ca, b->is_ca);
	assert_int_equal(a->self_signed, b->self_signed);
}

/* The checker's facts and verdict for leaf (known may be NULL) equal the
 * one-at-a-time answers (ck_cert_info_from_der, ck_chain_check). */
static void
leaf_same(const unsigned char *der, size_t len, const struct ck_der_list *chain,
	  const struct ck_known_spki *known, enum ck_code want_chain)
{
	struct ck_chain_checker *c = NULL;
	struct ck_cert_info got, want;
	struct ck_err cerr, werr;
	enum ck_code chain_rc = CK_ERR_INTERNAL;

	ck_err_clear(&cerr);
	ck_err_clear(&werr);
	assert_int_equal(ck_chain_checker_new(&c, NULL), CK_OK);
	assert_int_equal(ck_cert_info_from_der(der, len, &want, NULL), CK_OK);
	assert_int_equal(ck_chain_checker_leaf(c, der, len, chain, known, &got, &chain_rc, &cerr,
					       NULL), CK_OK);
	info_equal(&got, &want);
	assert_int_equal(chain_rc, want_chain);
	assert_int_equal(ck_chain_check(der, len, chain, &werr), want_chain);
	assert_string_equal(cerr.msg, werr.msg);
	ck_cert_info_cleanup(&got);
	ck_cert_info_cleanup(&want);
	ck_chain_checker_free(c);
}

/* 1 if this thread's cache serves der to a leaf caller without its key
 * decoded (a lite entry), with key description desc. */
static int
leaf_is_lite(const unsigned char *der, size_t len, const char *desc)
{
	char got[CK_KEY_DESC_MAX];
	X509 *x = NULL;
	int lite;

	assert_int_equal(crypto_x509_leaf(der, len, NULL, &x, got, NULL), CK_OK);
	lite = X509_get0_pubkey(x) == NULL;
	ERR_clear_error();
	if (lite)
		assert_string_equal(got, desc);
	else
		assert_string_equal(got, "");
	X509_free(x);
	return lite;
}

static void
test_leaf_lite_same_facts(void **state)
{
	static const enum ck_key_type types[] = { CK_KEY_EC256, CK_KEY_EC384, CK_KEY_RSA2048,
						  CK_KEY_ED25519 };
	EVP_PKEY *ca_key = t_key(CK_KEY_EC256);
	X509 *ca = t_make_cert(ca_key, NULL, NULL, "lite ca", 1, NULL, 1, 1700000000, 1900000000);
	struct ck_der ca_der;
	struct ck_der_list chain = { &ca_der, 1 };
	size_t i;

	(void)state;
	ca_der.data = t_cert_der(ca, &ca_der.len);
	for (i = 0; i < CK_ARRAY_LEN(types); i++) {
		EVP_PKEY *k = t_key(types[i]);
		X509 *leaf = t_make_cert(k, ca, ca_key, "leaf.example", 0,
					 "DNS:leaf.example,DNS:www.leaf.example,IP:192.0.2.7,"
					 "IP:2001:db8::7", 40 + (long)i, 1700000000, 1800000000);
		struct ck_known_spki known;
		unsigned char *der;
		size_t len;
		X509 *x;

		der = t_cert_der(leaf, &len);
		assert_int_equal(ck_known_spki_of(k, &known, NULL), CK_OK);
		crypto_x509_cache_clear();
		leaf_same(der, len, &chain, &known, CK_OK);
		/* It was read lite, and the store's second look (no key given)
		 * is served the same way, with the same facts. */
		assert_true(leaf_is_lite(der, len, known.desc));
		leaf_same(der, len, &chain, NULL, CK_OK);
		/* A caller that needs the key gets it decoded, and the lite entry
		 * is gone: the next leaf caller without a key gets the full one. */
		x = shared(der, len);
		assert_non_null(X509_get0_pubkey(x));
		X509_free(x);
		assert_false(leaf_is_lite(der, len, known.desc));
		crypto_x509_cache_clear();
		ck_known_spki_cleanup(&known);
		X509_free(leaf);
		free(der);
		EVP_PKEY_free(k);
	}
	crypto_x509_cache_clear();
	free(ca_der.data);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

static void
test_leaf_lite_only_for_its_key(void **state)
{
	EVP_PKEY *ca_key = t_key(CK_KEY_EC256), *other_ca_key = t_key(CK_KEY_EC256);
	EVP_PKEY *k = t_key(CK_KEY_EC256), *other = t_key(CK_KEY_EC384);
	X509 *ca = t_make_cert(ca_key, NULL, NULL, "lite ca", 1, NULL, 1, 1700000000, 1900000000);
	X509 *other_ca = t_make_cert(other_ca_key, NULL, NULL, "lite ca", 1, NULL, 2, 1700000000,
				     1900000000);
	X509 *leaf = t_make_cert(k, ca, ca_key, "leaf.example", 0, "DNS:leaf.example", 5,
				 1700000000, 1800000000);
	X509 *stranger = t_make_cert(k, other_ca, other_ca_key, "leaf.example", 0,
				     "DNS:leaf.example", 6, 1700000000, 1800000000);
	X509 *self = t_make_cert(k, NULL, NULL, "self.example", 0, "DNS:self.example", 7,
				 1700000000, 1800000000);
	struct ck_known_spki known, wrong;
	struct ck_der ca_der;
	struct ck_der_list chain = { &ca_der, 1 };
	unsigned char *der, *sder, *xder, *broken;
	size_t len, slen, xlen;

	(void)state;
	ca_der.data = t_cert_der(ca, &ca_der.len);
	der = t_cert_der(leaf, &len);
	sder = t_cert_der(self, &slen);
	xder = t_cert_der(stranger, &xlen);
	assert_int_equal(ck_known_spki_of(k, &known, NULL), CK_OK);
	assert_int_equal(ck_known_spki_of(other, &wrong, NULL), CK_OK);
	/* Another key's description is never taken: the key is decoded. */
	crypto_x509_cache_clear();
	leaf_same(der, len, &chain, &wrong, CK_OK);
	assert_false(leaf_is_lite(der, len, wrong.desc));
	/* A self-issued certificate needs its own key for its self-signature. */
	crypto_x509_cache_clear();
	leaf_same(sder, slen, NULL, &known, CK_OK);
	assert_false(leaf_is_lite(sder, slen, known.desc));
	/* Read lite, a leaf is still checked link by link: a damaged signature
	 * and a leaf of another CA (same issuer name, other key) are refused
	 * in ck_chain_check's words. */
	broken = malloc(len);
	assert_non_null(broken);
	memcpy(broken, der, len);
	broken[len - 3] ^= 0x01;
	crypto_x509_cache_clear();
	leaf_same(broken, len, &chain, &known, CK_ERR_PARSE);
	assert_true(leaf_is_lite(broken, len, known.desc));
	crypto_x509_cache_clear();
	leaf_same(xder, xlen, &chain, &known, CK_ERR_PARSE);
	assert_true(leaf_is_lite(xder, xlen, known.desc));
	/* An unreadable leaf: the full decode's error. */
	{
		struct ck_chain_checker *c = NULL;
		struct ck_cert_info info;
		enum ck_code chain_rc = CK_OK;

		assert_int_equal(ck_chain_checker_new(&c, NULL), CK_OK);
		assert_int_equal(ck_chain_checker_leaf(c, der, len - 1, &chain, &known, &info,
						       &chain_rc, NULL, NULL), CK_ERR_PARSE);
		ck_chain_checker_free(c);
	}
	crypto_x509_cache_clear();
	ck_known_spki_cleanup(&known);
	ck_known_spki_cleanup(&wrong);
	free(broken);
	free(der);
	free(sder);
	free(xder);
	free(ca_der.data);
	X509_free(ca);
	X509_free(other_ca);
	X509_free(leaf);
	X509_free(stranger);
	X509_free(self);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_ca_key);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spki_fast_path_identical),
		cmocka_unit_test(test_pkcs8_fast_path_identical),
		cmocka_unit_test(test_csr_pubkey_identical),
		cmocka_unit_test(test_cache_hit_only_on_same_bytes),
		cmocka_unit_test(test_cache_bounded),
		cmocka_unit_test(test_cache_keeps_the_entry_in_use),
		cmocka_unit_test(test_link_known_only_for_the_same_bytes),
		cmocka_unit_test(test_cache_per_thread),
		cmocka_unit_test(test_leaf_lite_same_facts),
		cmocka_unit_test(test_leaf_lite_only_for_its_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
