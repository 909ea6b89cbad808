/*
 * tlsalpn01.h - inside the tls-alpn-01 responder (RFC 8737): the
 * validation certificate and the SNI of an identifier (tlsalpn01_cert.c),
 * used by the listener (tlsalpn01.c) and by tests.
 */
#ifndef CK_TLSALPN01_H
#define CK_TLSALPN01_H

#include <openssl/x509.h>

#include "certkeep.h"
#include "core/core.h"
#include "crypto/crypto.h"

#define TLSALPN_PROTO "acme-tls/1"
#define TLSALPN_DEFAULT_PORT 443
#define TLSALPN_SNI_MAX 80             /* an IPv6 reverse name is 72 bytes */
#define TLSALPN_SERIAL_LEN 16          /* bytes of a validation certificate's serial */

/*
 * The SNI the CA sends for identifier into out: the DNS name lower-cased,
 * or for an IP identifier (is_ip) its reverse-DNS name (RFC 8738 section
 * 6: 127.0.0.1 -> "1.0.0.127.in-addr.arpa", IPv6 nibbles under ip6.arpa).
 */
enum ck_code tlsalpn_sni_for(const char *identifier, int is_ip, char *out, size_t n,
			     struct ck_err *err);
/*
 * A self-signed certificate for key naming identifier (DNS, or iPAddress
 * when is_ip) with the critical id-pe-acmeIdentifier extension holding
 * SHA-256(keyauth) as a DER OCTET STRING.  *out: X509_free.
 */
enum ck_code tlsalpn_cert_new(EVP_PKEY *key, const char *identifier, int is_ip,
			      const char *keyauth, X509 **out, struct ck_err *err);
/* The same with the serial number made from rnd (tlsalpn_cert_new's random
 * bytes; tests give their own). */
enum ck_code tlsalpn_cert_new_serial(EVP_PKEY *key, const char *identifier, int is_ip,
				     const char *keyauth,
				     const unsigned char rnd[TLSALPN_SERIAL_LEN], X509 **out,
				     struct ck_err *err);

struct chall_responder;
/* Handshakes completed with ALPN acme-tls/1 (tests, logs); the port bound. */
unsigned long chall_tlsalpn01_hits(const struct chall_responder *r);
unsigned chall_tlsalpn01_port(const struct chall_responder *r);

#endif
