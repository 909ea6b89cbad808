/*
 * fuzz_pem_certs.c - libFuzzer target for ck_pem_certs_parse (ACME
 * certificate downloads), ck_cert_info_from_der and ck_cert_aki_serial (the
 * ARI certificate ID's partial read): the input is read as a PEM chain, and
 * also as one DER certificate.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

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
		}
		ck_der_list_cleanup(&l);
	}
	info(data, size);
	return 0;
}
