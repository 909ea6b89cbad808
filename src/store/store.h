/*
 * store.h - what the rest of the library includes for the store.  The
 * store API itself is public: include/certkeep/store.h (its contract
 * comments live there).  Store internals are in store_int.h.
 */
#ifndef CK_STORE_H
#define CK_STORE_H

#include <certkeep/store.h>

#include "core/core.h"
#include "crypto/crypto.h"

#endif
