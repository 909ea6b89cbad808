/*
 * print.h - output helpers shared by the commands: times, the JSON object
 * of a certificate (the `list --json` contract), JSON to stdout, short
 * human forms.  Formats facts; never decides anything about them.
 */
#ifndef CK_CLI_PRINT_H
#define CK_CLI_PRINT_H

#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "store/store.h"

/* RFC 3339 UTC text of t as a new JSON string (null for t == 0). */
json_t *print_json_time(time_t t);
/* The object `list --json` prints for one certificate: name, sha256, sha1,
 * subject, sans, issuer, serial, not_before, not_after, key {algorithm,
 * location, linked}, current, chain_length, origin, created, revoked
 * ({at, reason} or null), profile (the ACME profile its lineage asks for,
 * null if none).  NULL on NOMEM. */
json_t *print_cert_json(const struct ck_cert_row *r);
/* {"at": RFC 3339, "reason": name or null} if r is recorded revoked, else
 * JSON null.  NULL on NOMEM. */
json_t *print_revoked_json(const struct ck_cert_row *r);
/* Dumps v (indented, keys in insertion order) and a newline to stdout, then
 * drops the reference.  Returns CLI_EXIT_OK, or CLI_EXIT_FAIL if v is NULL
 * or the dump failed (saying so on stderr). */
int print_json_out(json_t *v);
/* "2026-11-22" of t into out[11]. */
void print_date(time_t t, char out[11]);
/* One word for a certificate's key: "store", "token", "NO KEY". */
const char *print_key_state(const struct ck_cert_row *r);
/* The SANs joined with ", " (at most n bytes, "..." when cut). */
void print_sans(const struct ck_cert_row *r, char *out, size_t n);

/* Every chain of c as a JSON array of {index, top_issuer, length, selected}
 * (print_chain.c; NULL when out of memory). */
json_t *print_chains_json(const struct ck_cert_chains *c);
/* Every chain of c, one line each, the first labelled label. */
void print_chains_human(const struct ck_cert_chains *c, const char *label);

#endif
