/*
 * alternates.h - the alternate chains an ACME server offered for a
 * certificate (RFC 8555 section 7.4.2, Link rel="alternate"), and the one
 * text form they are kept in: a JSON array of chains, each an array of the
 * base64url DER of the chain's issuers, leaf excluded and nearest issuer
 * first (like a certificate's stored chain):
 *
 *     [["MIIB...", "MIIC..."], ["MIIB..."]]
 *
 * The issuance flow builds it (ck_alternates_add, ck_alternates_encode),
 * the store keeps it as opaque text (certificates.alternates; it checks
 * only that it is a bounded JSON array), and readers decode it
 * (ck_alternates_decode).  Nothing else reads or writes the format.
 */
#ifndef CK_CRYPTO_ALTERNATES_H
#define CK_CRYPTO_ALTERNATES_H

#include <stddef.h>

#include "crypto/crypto.h"

#define CK_ALTERNATES_MAX 16 /* chains kept per certificate (= ACME_LINKS_MAX) */

struct ck_alternates {
	struct ck_der_list *chains; /* n chains, each the issuers only */
	size_t n;
};

/*
 * Adds the alternate chain in pem (leaf first, as the server sends it) to
 * a, keeping its issuers.  The chain must start with leaf (CK_ERR_PARSE
 * otherwise); more than CK_ALTERNATES_MAX chains is CK_ERR_TOO_LARGE.  On
 * failure a is as it was.
 */
enum ck_code ck_alternates_add(struct ck_alternates *a, const struct ck_der *leaf,
			       const char *pem, size_t pem_len, struct ck_err *err);
/* a as the stored text.  OUTPUT *json (free()), set only on success. */
enum ck_code ck_alternates_encode(const struct ck_alternates *a, char **json,
				  struct ck_err *err);
/*
 * Parses stored text (NULL or "" = no alternates: out->n = 0).  Anything
 * but an array of at most CK_ALTERNATES_MAX arrays of at most
 * CK_BUNDLE_MAX_ITEMS base64url strings is CK_ERR_PARSE.  OUTPUT *out
 * (ck_alternates_cleanup), set only on success.
 */
enum ck_code ck_alternates_decode(const char *json, struct ck_alternates *out,
				  struct ck_err *err);
/*
 * The common name of the issuer of a chain's topmost certificate: the root
 * the chain leads to (ACME servers do not send the root itself).  chain
 * holds the issuers, nearest first; an empty chain's topmost certificate
 * is leaf.  UTF-8, control characters replaced with '?', at most
 * CK_CHAIN_CN_MAX bytes; "" when that issuer has no CN (or it is not
 * text).  OUTPUT *cn (free()), set only on success; CK_ERR_PARSE if the
 * topmost certificate does not parse.
 */
#define CK_CHAIN_CN_MAX 256
enum ck_code ck_chain_top_issuer_cn(const struct ck_der *leaf, const struct ck_der_list *chain,
				    char **cn, struct ck_err *err);
/* Frees a's chains; NULL-safe, and safe on a zeroed struct. */
void ck_alternates_cleanup(struct ck_alternates *a);

#endif
