/*
 * test_crypto_batch.c - the crypto helpers that read many stored keys and
 * certificates quickly (key_reader.c, chain_checker.c): each must give
 * exactly the one-at-a-time answer.  The key reader says "matches" only
 * for a private key whose public key is the given SPKI (EC, RSA, Ed25519),
 * never for another key, a truncated key or trailing bytes; the chain
 * checker gives ck_cert_info_from_der's facts and ck_chain_check's verdict
 * and words for good chains, repeated chains (its caches), chains out of
 * order, a leaf from another CA under a cached chain, and a damaged chain
 * certificate.
 */
#include "test_crypto_util.h"

static void
key_ders(EVP_PKEY *k, unsigned char **p8, size_t *p8_len, unsigned char **spki,
	 size_t *spki_len)
{
	assert_int_equal(ck_key_to_pkcs8_der(k, p8, p8_len, NULL), CK_OK);
	assert_int_equal(ck_key_spki_der(k, spki, spki_len, NULL), CK_OK);
}

static void
test_key_reader_matches_only_its_own_key(void **state)
{
	static const enum ck_key_type types[] = { CK_KEY_EC256, CK_KEY_RSA2048, CK_KEY_ED25519 };
	struct ck_key_reader *r = NULL;
	unsigned char *p8[3], *spki[3], *longer;
	size_t p8_len[3], spki_len[3], i, j;
	EVP_PKEY *k[3];

	(void)state;
	assert_int_equal(ck_key_reader_new(&r, NULL), CK_OK);
	for (i = 0; i < 3; i++) {
		k[i] = t_key(types[i]);
		key_ders(k[i], &p8[i], &p8_len[i], &spki[i], &spki_len[i]);
	}
	/* Twice over, mixed types: the decoders are reused between keys. */
	for (j = 0; j < 2; j++)
		for (i = 0; i < 3; i++)
			assert_int_equal(ck_key_reader_matches(r, p8[i], p8_len[i], spki[i],
							       spki_len[i]), 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(ck_key_reader_matches(r, p8[i], p8_len[i], spki[(i + 1) % 3],
						       spki_len[(i + 1) % 3]), 0);
	/* Another key of the same type. */
	{
		EVP_PKEY *other = t_key(CK_KEY_EC256);
		unsigned char *op8, *ospki;
		size_t op8_len, ospki_len;

		key_ders(other, &op8, &op8_len, &ospki, &ospki_len);
		assert_int_equal(ck_key_reader_matches(r, p8[0], p8_len[0], ospki, ospki_len), 0);
		ck_secure_free(op8, op8_len);
		free(ospki);
		EVP_PKEY_free(other);
	}
	/* Truncated, with a trailing byte, empty, no reader. */
	assert_int_equal(ck_key_reader_matches(r, p8[0], p8_len[0] - 1, spki[0], spki_len[0]), 0);
	longer = malloc(p8_len[0] + 1);
	assert_non_null(longer);
	memcpy(longer, p8[0], p8_len[0]);
	longer[p8_len[0]] = 0;
	assert_int_equal(ck_key_reader_matches(r, longer, p8_len[0] + 1, spki[0], spki_len[0]), 0);
	assert_int_equal(ck_key_reader_matches(r, p8[0], p8_len[0], spki[0], spki_len[0] - 1), 0);
	assert_int_equal(ck_key_reader_matches(r, NULL, 0, spki[0], spki_len[0]), 0);
	assert_int_equal(ck_key_reader_matches(NULL, p8[0], p8_len[0], spki[0], spki_len[0]), 0);
	/* And after all that, the good pair still matches. */
	assert_int_equal(ck_key_reader_matches(r, p8[0], p8_len[0], spki[0], spki_len[0]), 1);
	free(longer);
	for (i = 0; i < 3; i++) {
		ck_secure_free(p8[i], p8_len[i]);
		free(spki[i]);
		EVP_PKEY_free(k[i]);
	}
	ck_key_reader_free(r);
	ck_key_reader_free(NULL);
}

/* A root, an intermediate under it, and DER of both. */
struct t_cas {
	EVP_PKEY *root_key, *inter_key;
	X509 *root, *inter;
	struct ck_der der[2];     /* inter, root: a chain in order */
};

static void
cas_init(struct t_cas *c, const char *prefix)
{
	char cn[64];

	c->root_key = t_key(CK_KEY_EC256);
	c->inter_key = t_key(CK_KEY_EC256);
	snprintf(cn, sizeof(cn), "%s root", prefix);
	c->root = t_make_cert(c->root_key, NULL, NULL, cn, 1, NULL, 1, 1700000000, 1900000000);
	snprintf(cn, sizeof(cn), "%s intermediate", prefix);
	c->inter = t_make_cert(c->inter_key, c->root, c->root_key, cn, 1, NULL, 2, 1700000000,
			       1900000000);
	c->der[0].data = t_cert_der(c->inter, &c->der[0].len);
	c->der[1].data = t_cert_der(c->root, &c->der[1].len);
}

static void
cas_cleanup(struct t_cas *c)
{
	EVP_PKEY_free(c->root_key);
	EVP_PKEY_free(c->inter_key);
	X509_free(c->root);
	X509_free(c->inter);
	free(c->der[0].data);
	free(c->der[1].data);
}

static unsigned char *
leaf_der(struct t_cas *c, long serial, size_t *len)
{
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	X509 *x = t_make_cert(k, c->inter, c->inter_key, "leaf.test", 0, "DNS:leaf.test", serial,
			      1700000000, 1900000000);
	unsigned char *der = t_cert_der(x, len);

	X509_free(x);
	EVP_PKEY_free(k);
	return der;
}

/* The checker's answer for (der, chain) equals the one-at-a-time answer. */
static void
check_same(struct ck_chain_checker *c, const unsigned char *der, size_t len,
	   const struct ck_der_list *chain, enum ck_code want_chain)
{
	struct ck_cert_info got, want;
	struct ck_err cerr, werr;
	enum ck_code chain_rc = CK_ERR_INTERNAL;

	ck_err_clear(&cerr);
	ck_err_clear(&werr);
	assert_int_equal(ck_cert_info_from_der(der, len, &want, NULL), CK_OK);
	assert_int_equal(ck_chain_checker_cert(c, der, len, chain, &got, &chain_rc, &cerr, NULL),
			 CK_OK);
	assert_string_equal(got.sha256, want.sha256);
	assert_string_equal(got.spki_sha256, want.spki_sha256);
	assert_string_equal(got.subject, want.subject);
	assert_int_equal(got.not_after, want.not_after);
	assert_int_equal(chain_rc, want_chain);
	assert_int_equal(ck_chain_check(der, len, chain, &werr), want_chain);
	assert_string_equal(cerr.msg, werr.msg);
	ck_cert_info_cleanup(&got);
	ck_cert_info_cleanup(&want);
}

static void
test_chain_checker_same_answers(void **state)
{
	struct ck_chain_checker *c = NULL;
	struct t_cas a, b;
	struct ck_der swapped[2], bad[2];
	struct ck_der_list good = { NULL, 2 }, out_of_order = { swapped, 2 },
			   damaged = { bad, 2 }, none = { NULL, 0 };
	unsigned char *la, *lb, *broken;
	size_t la_len, lb_len;
	long i;

	(void)state;
	cas_init(&a, "a");
	cas_init(&b, "b");
	good.items = a.der;
	assert_int_equal(ck_chain_checker_new(&c, NULL), CK_OK);
	/* Many leaves under one chain: parsed and linked once, verified each time. */
	for (i = 0; i < 5; i++) {
		la = leaf_der(&a, 10 + i, &la_len);
		check_same(c, la, la_len, &good, CK_OK);
		free(la);
	}
	la = leaf_der(&a, 20, &la_len);
	check_same(c, la, la_len, &none, CK_OK);
	check_same(c, la, la_len, NULL, CK_OK);
	/* Out of order: the words of ck_chain_check. */
	swapped[0] = a.der[1];
	swapped[1] = a.der[0];
	check_same(c, la, la_len, &out_of_order, CK_ERR_PARSE);
	/* A leaf of CA b under a's chain, after a's chain is cached. */
	lb = leaf_der(&b, 30, &lb_len);
	check_same(c, lb, lb_len, &good, CK_ERR_PARSE);
	/* b's own chain, then a's again: both still right. */
	good.items = b.der;
	check_same(c, lb, lb_len, &good, CK_OK);
	good.items = a.der;
	check_same(c, la, la_len, &good, CK_OK);
	/* A damaged intermediate (one bit of its signature changed), after the
	 * good one's link to the root was cached. */
	broken = malloc(a.der[0].len);
	assert_non_null(broken);
	memcpy(broken, a.der[0].data, a.der[0].len);
	broken[a.der[0].len - 3] ^= 0x01;
	bad[0].data = broken;
	bad[0].len = a.der[0].len;
	bad[1] = a.der[1];
	check_same(c, la, la_len, &damaged, CK_ERR_PARSE);
	/* An unreadable leaf is the caller's error, as ck_cert_info_from_der's. */
	{
		struct ck_cert_info info;
		enum ck_code chain_rc = CK_OK;

		assert_int_equal(ck_chain_checker_cert(c, la, la_len - 1, &good, &info, &chain_rc,
						       NULL, NULL), CK_ERR_PARSE);
	}
	free(broken);
	free(la);
	free(lb);
	ck_chain_checker_free(c);
	ck_chain_checker_free(NULL);
	cas_cleanup(&a);
	cas_cleanup(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_reader_matches_only_its_own_key),
		cmocka_unit_test(test_chain_checker_same_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
