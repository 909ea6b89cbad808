/*
 * doctor.h - what the library includes for `certkeep doctor` as one call.
 * ck_doctor_run is public: include/certkeep/doctor.h (the order of repair,
 * prune and checks is written there).
 */
#ifndef CK_FLOW_DOCTOR_H
#define CK_FLOW_DOCTOR_H

#include <certkeep/doctor.h>

#include "store/store.h"

#endif
