/*
 * doctor.h - what the library includes for `certkeep doctor` as one call.
 * ck_doctor_run is public: include/certkeep/doctor.h (the order of repair,
 * prune and checks is written there).
 */
#ifndef CK_FLOW_DOCTOR_H
#define CK_FLOW_DOCTOR_H

#include <certkeep/doctor.h>

#include "store/store.h"

/*
 * The token findings (doctor_token.c: CK-D030 token-absent, CK-D031
 * token-key-missing, CK-D032 token-cert-unlinked, CK-D033) appended to found; with
 * repair, certificate objects whose key is on their token get its CKA_ID
 * first (appended to actions); CK-D033 token-key-cert-expired against now
 * (0: the clock).  Tokens are read afresh, without a PIN.
 */
enum ck_code ck_doctor_tokens(struct ck_store *st, int repair, time_t now,
			      struct ck_findings *actions, struct ck_findings *found,
			      struct ck_err *err);

#endif
