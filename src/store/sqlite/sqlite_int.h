/*
 * sqlite/sqlite_int.h - what the SQLite driver's two files share.
 */
#ifndef CK_STORE_SQLITE_INT_H
#define CK_STORE_SQLITE_INT_H

#include "core/core.h"

/* The DDL of migration n (1-based), NULL past the last; 0: the
 * schema_version table, created if absent. */
const char *st_sqlite_migration(int n);

#endif
