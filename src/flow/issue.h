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

#endif
