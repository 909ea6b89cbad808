/*
 * certkeep.h - the public face of libcertkeep: include this one header.
 *
 * libcertkeep is an ACME (RFC 8555) client, a certificate-and-private-key
 * store, and a TLS deployer.  An embedding program does what the certkeep
 * command does, with the same guarantees (docs/invariants.md): the store
 * enforces them itself, whoever calls it.
 *
 *   <certkeep/error.h>    enum ck_code, struct ck_err, CK_API
 *   <certkeep/context.h>  ck_global_init (the one init call), struct ck_ctx,
 *                         and the threading rule
 *   <certkeep/keys.h>     key types, DER certificate lists, PFX flavours
 *   <certkeep/store.h>    the store: open, keys, certificates, lineages,
 *                         orders, requests, accounts, bindings, copy/move,
 *                         doctor (docs/store.md)
 *   <certkeep/io.h>       import, export, pending requests (CSR for a CA
 *                         outside ACME)
 *   <certkeep/doctor.h>   `certkeep doctor` as one call: repair, prune, checks
 *   <certkeep/tokens.h>   the PKCS#11 tokens a store is configured with, and
 *                         the key finder an import uses to link to them
 *   <certkeep/account.h>  ACME accounts: register, recover, open, rollover,
 *                         deactivate
 *   <certkeep/issue.h>    one certificate from an ACME server into the store
 *   <certkeep/revoke.h>   revoke a stored certificate, recorded in the store
 *   <certkeep/deploy.h>   bind certificates to targets; deploy, verify, roll back
 *   <certkeep/version.h>  CERTKEEP_VERSION, generated from meson.build
 * Challenges other than the built-in http-01 responder and the renewal
 * scheduler will each get a header of their own here.
 *
 * Start-up: ck_global_init() once, before any thread; then ck_ctx_new().
 * Threading: one struct ck_store per thread, a set-up ck_ctx may be shared
 * (certkeep/context.h says it in full).  Conventions: every function
 * returns enum ck_code and fills a caller's struct ck_err on failure, OUT
 * parameters are set only on success (certkeep/error.h).  examples/
 * issue_export.c issues a certificate and exports it (about 50 lines).
 *
 * Link with `pkg-config --cflags --libs libcertkeep`.  Only functions
 * declared here (marked CK_API) are exported from libcertkeep.so.
 */
#ifndef CERTKEEP_H
#define CERTKEEP_H

#include <certkeep/version.h> /* CERTKEEP_VERSION, generated from meson.build */

#include <certkeep/error.h>
#include <certkeep/context.h>
#include <certkeep/keys.h>
#include <certkeep/store.h>
#include <certkeep/io.h>
#include <certkeep/doctor.h>
#include <certkeep/tokens.h>
#include <certkeep/account.h>
#include <certkeep/challenge.h>
#include <certkeep/issue.h>
#include <certkeep/revoke.h>
#include <certkeep/renew.h>
#include <certkeep/deploy.h>

#endif
