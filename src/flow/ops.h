/*
 * ops.h - what the library includes for import, export and pending
 * requests.  The operations are public: include/certkeep/io.h (their
 * contract comments live there).
 */
#ifndef CK_FLOW_OPS_H
#define CK_FLOW_OPS_H

#include <certkeep/io.h>

#include "store/store.h"

#endif
