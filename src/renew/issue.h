/*
 * issue.h - obtain one certificate from an ACME server into the store.
 *
 * The order of steps is the point of this file (ARCHITECTURE.md invariants
 * 1-3): the certificate key is committed to the store before the order is
 * recorded and long before finalize; the issued certificate is committed
 * linked to that key, as the lineage's current certificate, with the order
 * closed, in one transaction.  A crash at any instant leaves either no
 * certificate or a linked one, and never a certificate without its key.
 */
#ifndef CK_RENEW_ISSUE_H
#define CK_RENEW_ISSUE_H

#include <stdint.h>
#include <time.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "store/store.h"

struct ck_issue_params {
	const char *server;            /* directory URL; NULL = the store's default server */
	const char *account;           /* account name; NULL = the server's default account */
	const char *ca_bundle;         /* trust anchors for the server's TLS; NULL = system */
	const char *lineage;           /* NULL = derived from the first name */
	const char *const *names;      /* DNS names and IP literals, at least one */
	size_t nnames;
	enum ck_key_type key_type;     /* CK_KEY_NONE = the lineage's policy, else ec256 */
	const char *http_address;      /* http-01 responder address; NULL = every address */
	unsigned http_port;            /* 0 = 80 */
};

struct ck_issue_result {
	int64_t cert_id;
	char sha256[65];
	char lineage[CK_STORE_NAME_MAX + 1];
	time_t not_after;
	size_t alternates;             /* alternate chains recorded */
	unsigned long requests;        /* HTTP requests sent to the ACME server */
};

/*
 * Validates names (DNS names of letters, digits and hyphens, lower-cased;
 * IPv4/IPv6 literals; no wildcard: http-01 cannot validate one) and the
 * lineage name.  Pure; used by ck_issue and by callers that check early.
 */
enum ck_code ck_issue_check_names(const char *const *names, size_t n, struct ck_err *err);

/*
 * Runs the whole issuance by http-01 with the built-in responder.  *out is
 * set only on success.  Errors carry the server's problem (CK_ERR_ACME,
 * CK_ERR_VALIDATION with the challenge's problem) and say what was kept:
 * the key stays in the store and an unfinished order is recorded.
 */
enum ck_code ck_issue(const struct ck_ctx *ctx, struct ck_store *st,
		      const struct ck_issue_params *p, struct ck_issue_result *out,
		      struct ck_err *err);

#endif
