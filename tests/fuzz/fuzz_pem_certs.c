/*
 * fuzz_pem_certs.c - libFuzzer target for ck_pem_certs_parse (ACME
 * certificate downloads), ck_cert_info_from_der and ck_cert_aki_serial (the
 * ARI certificate ID's partial read): the input is read as a PEM chain, and
 * also as one DER certificate.  Differential: a chain's leaf read "lite"
 * (ck_chain_checker_leaf with its own key known, so that key is not
 * decoded) must give exactly the facts and chain verdict of the full
 * decode; any difference aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
info(const unsigned char *der, size_t len)
{
	struct ck_cert_info ci;
	unsigned char *kid = NULL, *serial = NULL;
	size_t kid_len = 0, serial_len = 0;

	if (ck_cert_info_from_der(der, len, &ci, NULL) == CK_OK)
		ck_cert_info_cleanup(&ci);
	if (ck_cert_aki_serial(der, len, &kid, &kid_len, &serial, &serial_len, NULL) == CK_OK) {
		free(kid);
		free(serial);
	}
}

static int
facts_differ(const struct ck_cert_info *a, const struct ck_cert_info *b)
{
	size_t i;

	if (strcmp(a->sha256, b->sha256) || strcmp(a->spki_sha256, b->spki_sha256) ||
	    strcmp(a->subject, b->subject) || strcmp(a->issuer, b->issuer) ||
	    strcmp(a->serial, b->serial) || a->nsans != b->nsans ||
	    a->not_before != b->not_before || a->not_after != b->not_after ||
	    strcmp(a->key_desc, b->key_desc) || a->is_ca != b->is_ca ||
	    a->self_signed != b->self_signed)
		return 1;
	for (i = 0; i < a->nsans; i++)
		if (strcmp(a->sans[i], b->sans[i]))
			return 1;
	return 0;
}

static void
lite_same(const unsigned char *der, size_t len, const struct ck_der_list *chain)
{
	struct ck_chain_checker *c = NULL;
	struct ck_known_spki known;
	struct ck_cert_info full, lite;
	enum ck_code full_rc, lite_rc, chain_rc = CK_OK;
	EVP_PKEY *pub = NULL;

	if (ck_cert_pubkey(der, len, &pub, NULL) != CK_OK)
		return;
	if (ck_known_spki_of(pub, &known, NULL) == CK_OK && ck_chain_checker_new(&c, NULL) == CK_OK) {
		full_rc = ck_cert_info_from_der(der, len, &full, NULL);
		lite_rc = ck_chain_checker_leaf(c, der, len, chain, &known, &lite, &chain_rc, NULL,
						NULL);
		if (full_rc != lite_rc)
			abort();
		if (full_rc == CK_OK) {
			if (facts_differ(&full, &lite) ||
			    chain_rc != ck_chain_check(der, len, chain, NULL))
				abort();
			ck_cert_info_cleanup(&full);
			ck_cert_info_cleanup(&lite);
		}
	}
	ck_chain_checker_free(c);
	ck_known_spki_cleanup(&known);
	EVP_PKEY_free(pub);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ck_der_list l;
	struct ck_der_list rest;
	size_t i;

	if (ck_pem_certs_parse((const char *)data, size, &l, NULL) == CK_OK) {
		for (i = 0; i < l.n; i++)
			info(l.items[i].data, l.items[i].len);
		if (l.n > 1) {
			rest.items = l.items + 1;
			rest.n = l.n - 1;
			(void)ck_chain_check(l.items[0].data, l.items[0].len, &rest, NULL);
			lite_same(l.items[0].data, l.items[0].len, &rest);
		} else if (l.n == 1) {
			lite_same(l.items[0].data, l.items[0].len, NULL);
		}
		ck_der_list_cleanup(&l);
	}
	info(data, size);
	return 0;
}
