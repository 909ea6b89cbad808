/*
 * tlsalpn01_cert.c - the self-signed validation certificate of RFC 8737
 * section 3: one subjectAltName (the identifier: a DNS name, or for an IP
 * identifier its address, RFC 8738 section 6) and the critical
 * id-pe-acmeIdentifier extension whose value is the DER OCTET STRING of
 * SHA-256(key authorization).  Built with OpenSSL's ASN.1 API, never by
 * hand.  Also the SNI a validation server sends for an identifier.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "challenge/tlsalpn01.h"

#define ALPN_CERT_DAYS 7
#define ACME_IDENTIFIER_OID "1.3.6.1.5.5.7.1.31"

enum ck_code
tlsalpn_sni_for(const char *identifier, int is_ip, char *out, size_t n, struct ck_err *err)
{
	unsigned char a[16];
	size_t i, len = 0;

	if (!is_ip) {
		if (!ck_dns_name_valid(identifier, 0) || strlen(identifier) >= n)
			return CK_FAIL(err, CK_ERR_INVALID_ARG, "'%.80s' is not a DNS name",
				       identifier);
		snprintf(out, n, "%s", identifier);
		for (i = 0; out[i] != '\0'; i++)
			if (out[i] >= 'A' && out[i] <= 'Z')
				out[i] = (char)(out[i] - 'A' + 'a');
		return CK_OK;
	}
	/* RFC 8738 section 6: the reverse-DNS name (RFC 1035 3.5, RFC 3596 2.5). */
	if (inet_pton(AF_INET, identifier, a) == 1 && n >= 30) {
		snprintf(out, n, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
		return CK_OK;
	}
	if (inet_pton(AF_INET6, identifier, a) == 1 && n >= 73) {
		static const char hex[] = "0123456789abcdef";
		for (i = 16; i-- > 0;) {
			out[len++] = hex[a[i] & 0xf];
			out[len++] = '.';
			out[len++] = hex[a[i] >> 4];
			out[len++] = '.';
		}
		snprintf(out + len, n - len, "ip6.arpa");
		return CK_OK;
	}
	return CK_FAIL(err, CK_ERR_INVALID_ARG, "'%.80s' is not an IP address", identifier);
}

/* The critical id-pe-acmeIdentifier extension for keyauth. */
static X509_EXTENSION *
acme_identifier_ext(const char *keyauth)
{
	unsigned char md[32], *der = NULL;
	unsigned int mdlen = 0;
	ASN1_OCTET_STRING *inner = NULL, *value = NULL;
	ASN1_OBJECT *obj = NULL;
	X509_EXTENSION *ext = NULL;
	int dlen;

	if (EVP_Digest(keyauth, strlen(keyauth), md, &mdlen, EVP_sha256(), NULL) != 1)
		return NULL;
	if ((inner = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(inner, md, (int)mdlen) != 1)
		goto out;
	/* The extension's value is the DER of an OCTET STRING holding the hash. */
	if ((dlen = i2d_ASN1_OCTET_STRING(inner, &der)) <= 0)
		goto out;
	if ((value = ASN1_OCTET_STRING_new()) == NULL || ASN1_OCTET_STRING_set(value, der, dlen) != 1)
		goto out;
	if ((obj = OBJ_txt2obj(ACME_IDENTIFIER_OID, 1)) == NULL)
		goto out;
	ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, value);
out:
	ASN1_OBJECT_free(obj);
	ASN1_OCTET_STRING_free(value);
	ASN1_OCTET_STRING_free(inner);
	OPENSSL_free(der);
	return ext;
}

static int
add_san(X509 *x, const char *identifier, int is_ip)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *gn = NULL;
	ASN1_OCTET_STRING *ip = NULL;
	ASN1_IA5STRING *dns = NULL;
	int ok = 0;

	if (gens == NULL || (gn = GENERAL_NAME_new()) == NULL)
		goto out;
	if (is_ip) {
		if ((ip = a2i_IPADDRESS(identifier)) == NULL)
			goto out;
		GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
	} else {
		if ((dns = ASN1_IA5STRING_new()) == NULL ||
		    ASN1_STRING_set(dns, identifier, (int)strlen(identifier)) != 1) {
			ASN1_IA5STRING_free(dns);
			goto out;
		}
		GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
	}
	if (sk_GENERAL_NAME_push(gens, gn) <= 0)
		goto out;
	gn = NULL;
	ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
out:
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return ok;
}

enum ck_code
tlsalpn_cert_new_serial(EVP_PKEY *key, const char *identifier, int is_ip, const char *keyauth,
			const unsigned char rnd[TLSALPN_SERIAL_LEN], X509 **out, struct ck_err *err)
{
	X509 *x = X509_new();
	X509_NAME *nm = NULL;
	X509_EXTENSION *ext = NULL;
	ASN1_INTEGER *serial;
	unsigned char sn[TLSALPN_SERIAL_LEN];
	enum ck_code rc = CK_ERR_CRYPTO;

	if (x == NULL || X509_set_version(x, 2) != 1 || (serial = X509_get_serialNumber(x)) == NULL)
		goto out;
	/* Positive and minimal DER whatever rnd is: the first byte in 0x40..0x7f.
	 * A leading 00 before a byte below 0x80 is padding that strict parsers
	 * (Go's x509, so Pebble and Boulder) refuse: the handshake fails. */
	memcpy(sn, rnd, sizeof(sn));
	sn[0] = (unsigned char)((sn[0] & 0x3f) | 0x40);
	if (ASN1_STRING_set(serial, sn, sizeof(sn)) != 1)
		goto out;
	if ((nm = X509_NAME_new()) == NULL ||
	    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
				       (const unsigned char *)"certkeep tls-alpn-01", -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, nm) != 1 || X509_set_issuer_name(x, nm) != 1)
		goto out;
	if (X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * ALPN_CERT_DAYS) == NULL ||
	    X509_set_pubkey(x, key) != 1 || !add_san(x, identifier, is_ip))
		goto out;
	if ((ext = acme_identifier_ext(keyauth)) == NULL || X509_add_ext(x, ext, -1) != 1)
		goto out;
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		goto out;
	*out = x;
	x = NULL;
	rc = CK_OK;
out:
	X509_EXTENSION_free(ext);
	X509_NAME_free(nm);
	X509_free(x);
	if (rc != CK_OK)
		return CK_FAIL(err, rc, "cannot make the tls-alpn-01 certificate for %.80s",
			       identifier);
	return CK_OK;
}

enum ck_code
tlsalpn_cert_new(EVP_PKEY *key, const char *identifier, int is_ip, const char *keyauth,
		 X509 **out, struct ck_err *err)
{
	unsigned char rnd[TLSALPN_SERIAL_LEN];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return CK_FAIL(err, CK_ERR_CRYPTO, "cannot make the tls-alpn-01 certificate for "
			       "%.80s: no random bytes", identifier);
	return tlsalpn_cert_new_serial(key, identifier, is_ip, keyauth, rnd, out, err);
}
