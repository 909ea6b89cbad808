/*
 * key_reader.c - checks many stored keys against their recorded public
 * keys quickly.  OpenSSL 3.0 builds a new decoder for every d2i of a key
 * (about 0.4 ms for a PKCS#8 key, most of doctor's time per certificate);
 * a reader builds its two decoders once and reuses them for every key.
 *
 * Only ever answers "yes, this private key's public key is this SPKI": any
 * other outcome (unreadable, different, an allocation failed) is "not
 * proven here", and the caller decides with the one-key-at-a-time
 * functions (ck_key_from_pkcs8_der, ck_key_spki_sha256), so a reader can
 * never make a damaged key look sound.
 *
 * Must never: keep a decoded key after the call, log key material.
 */
#include <stdlib.h>

#include <openssl/decoder.h>
#include <openssl/err.h>

#include "crypto/crypto_int.h"

struct ck_key_reader {
	OSSL_DECODER_CTX *priv_dc;   /* PKCS#8 PrivateKeyInfo DER -> priv */
	OSSL_DECODER_CTX *pub_dc;    /* SubjectPublicKeyInfo DER -> pub */
	EVP_PKEY *priv;              /* the decoders' targets; empty between calls */
	EVP_PKEY *pub;
};

enum ck_code
ck_key_reader_new(struct ck_key_reader **out, struct ck_err *err)
{
	struct ck_key_reader *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return CK_OOM(err);
	r->priv_dc = OSSL_DECODER_CTX_new_for_pkey(&r->priv, "DER", "PrivateKeyInfo", NULL,
						   EVP_PKEY_KEYPAIR, NULL, NULL);
	r->pub_dc = OSSL_DECODER_CTX_new_for_pkey(&r->pub, "DER", "SubjectPublicKeyInfo", NULL,
						  EVP_PKEY_PUBLIC_KEY, NULL, NULL);
	if (r->priv_dc == NULL || r->pub_dc == NULL) {
		ck_key_reader_free(r);
		return ck_err_openssl(err, CK_ERR_NOMEM, __func__, "cannot set up the key decoders");
	}
	*out = r;
	return CK_OK;
}

void
ck_key_reader_free(struct ck_key_reader *r)
{
	if (r == NULL)
		return;
	OSSL_DECODER_CTX_free(r->priv_dc);
	OSSL_DECODER_CTX_free(r->pub_dc);
	EVP_PKEY_free(r->priv);
	EVP_PKEY_free(r->pub);
	free(r);
}

/* Decodes der whole with dc into *target (left NULL on failure). */
static int
reader_decode(OSSL_DECODER_CTX *dc, EVP_PKEY **target, const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	size_t left = len;

	EVP_PKEY_free(*target);
	*target = NULL;
	if (der == NULL || len == 0 || len > CK_PEM_MAX)
		return 0;
	if (!OSSL_DECODER_from_data(dc, &p, &left) || *target == NULL || left != 0) {
		EVP_PKEY_free(*target);
		*target = NULL;
		return 0;
	}
	return 1;
}

int
ck_key_reader_matches(struct ck_key_reader *r, const unsigned char *p8, size_t p8_len,
		      const unsigned char *spki, size_t spki_len)
{
	int same;

	if (r == NULL)
		return 0;
	same = reader_decode(r->priv_dc, &r->priv, p8, p8_len) &&
	       reader_decode(r->pub_dc, &r->pub, spki, spki_len) &&
	       EVP_PKEY_eq(r->priv, r->pub) == 1;
	EVP_PKEY_free(r->priv);
	EVP_PKEY_free(r->pub);
	r->priv = NULL;
	r->pub = NULL;
	ERR_clear_error();
	return same;
}
