/*
 * issue.h - what the library includes for issuance.  ck_issue and its
 * checks are public: include/certkeep/issue.h (the order of steps and the
 * resume rules are written there).
 */
#ifndef CK_FLOW_ISSUE_H
#define CK_FLOW_ISSUE_H

#include <certkeep/issue.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "store/store.h"

struct http01;

/*
 * ck_issue answering http-01 through `responder`, a running responder the
 * caller owns and shares between issuances in flight (the renewal
 * scheduler: one listener serves every order).  Only this issuance's
 * tokens are added and withdrawn; the responder is never cleared or
 * stopped here.  responder NULL: ck_issue (a responder of its own on
 * p->http_port).  p->http_port / http_address only describe it in errors.
 */
enum ck_code ck_issue_shared(const struct ck_ctx *ctx, struct ck_store *st,
			     const struct ck_issue_params *p, struct http01 *responder,
			     struct ck_issue_result *out, struct ck_err *err);

#endif
