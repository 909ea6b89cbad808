/*
 * tsig.h - a TSIG key from a file in BIND's format, as `tsig-keygen -a
 * hmac-sha256 NAME` writes it:
 *
 *     key "NAME" {
 *             algorithm hmac-sha256;
 *             secret "BASE64";
 *     };
 *
 * Comments (#, //, C-style) are allowed; the file must hold exactly one
 * key statement and nothing nests deeper than its braces.  The parser is
 * bounded (file size, token length, one level of braces) and never puts
 * the secret in an error message.
 */
#ifndef CK_CHALLENGE_TSIG_H
#define CK_CHALLENGE_TSIG_H

#include "certkeep.h"
#include "core/core.h"

#define TSIG_FILE_MAX 8192            /* bytes of a key file */
#define TSIG_NAME_MAX 254             /* key name (a DNS name) + NUL */
#define TSIG_SECRET_MAX 256           /* base64 secret + NUL */
#define TSIG_TOKEN_MAX 300             /* one word or quoted string */

struct tsig_key {
	char name[TSIG_NAME_MAX];     /* as written, without a final dot */
	char algorithm[32];           /* "hmac-sha256" (the only one accepted) */
	char secret[TSIG_SECRET_MAX]; /* base64, secret: wipe with tsig_key_wipe */
};

/*
 * Parses text (len bytes, need not be NUL-terminated) into *out.
 * CK_ERR_PARSE / CK_ERR_TOO_LARGE / CK_ERR_UNSUPPORTED (another algorithm)
 * with a message naming line and what was expected, never the secret.
 * *out is wiped on failure.
 */
enum ck_code tsig_key_parse(const char *text, size_t len, struct tsig_key *out,
			    struct ck_err *err);
/* Reads and parses a key file (at most TSIG_FILE_MAX bytes); errors name the file. */
enum ck_code tsig_key_read(const char *path, struct tsig_key *out, struct ck_err *err);
/* Wipes the key (its secret above all). */
void tsig_key_wipe(struct tsig_key *k);

#endif
