/*
 * certkeep/issue.h - obtain one certificate from an ACME server into the store.
 *
 * The order of steps is the point of this file (ARCHITECTURE.md invariants
 * 1-3): the certificate key is committed to the store before the order is
 * recorded and long before finalize; the issued certificate is committed
 * linked to that key, as the lineage's current certificate, with the order
 * closed, in one transaction.  A crash at any instant leaves either no
 * certificate or a linked one, and never a certificate without its key.
 *
 * Alternate chains are fetched only after that commit and attached in a
 * second transaction: a slow or failing alternate download can cost the
 * alternates, never the certificate.
 *
 * Resume: an order left open (a failure, a kill) is continued by the next
 * ck_issue for the same lineage, account and identifiers instead of a new
 * order: pending -> answer the challenges again, ready -> finalize with the
 * stored key, processing -> poll, valid -> download.  An order the server
 * calls invalid (expired orders are invalid, RFC 8555 7.1.6) or no longer
 * knows (404, 403) is closed in the store and a new one is placed; its key
 * becomes an ordinary unused key (doctor's orphan-key, `keys prune`).  An
 * unknown answer (5xx, timeout, dropped connection) leaves the order open
 * and fails: it is asked again next time, never assumed gone.
 */
#ifndef CERTKEEP_ISSUE_H
#define CERTKEEP_ISSUE_H

#include <stdint.h>
#include <time.h>

#include <certkeep/challenge.h>
#include <certkeep/store.h>

#ifdef __cplusplus
extern "C" {
#endif

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
	const char *profile;           /* ACME profile to ask for, recorded on the lineage;
					* NULL = the lineage's recorded one (none for a new
					* lineage), "" = none, and clears the recorded one */
	/* The certificate key on a PKCS#11 token (NULL: a software key in the
	 * store): an RFC 7512 URI naming the token by token= and/or serial=,
	 * and an existing key by id= or object= (else a key pair is made there,
	 * labelled with the lineage).  The module is the URI's module-path=,
	 * else pkcs11_module, else p11-kit's proxy.  After issuance the
	 * certificate is written to the token with the key's CKA_ID, replacing
	 * the lineage's previous certificate object. */
	const char *token_uri;
	const char *pkcs11_module;
	const char *pin_file;          /* the token's user PIN: a file, or fd:N; NULL: the
					* URI's pin-source.  Never the PIN itself. */
	const char *preferred_chain;   /* issuer CN of the chain to select, recorded on the
					* lineage; NULL = the lineage's recorded one, "" = the
					* default chain, and clears the recorded one */
	/* How the names are proven, recorded on the lineage (never a secret's
	 * value).  NULL = the lineage's recorded settings, else (nothing
	 * recorded, a new lineage) the http-01 listener on http_address and
	 * http_port.  Borrowed for the call. */
	const struct ck_challenge_settings *challenge;
	int run_only;                  /* 1: key_type and profile apply to this issuance
					* only; the lineage keeps its recorded ones (renew's
					* overrides) */
	const char *replaces;          /* ARI certificate ID (RFC 9773) of the certificate
					* this one replaces, sent in newOrder when the
					* server offers renewalInfo; NULL = none */
	int renewal_done;              /* 1: the lineage's renewal state (failures, backoff,
					* ARI window) is reset in the transaction that
					* stores the certificate (renew: one commit, not two) */
};

struct ck_issue_result {
	int64_t cert_id;
	char sha256[65];
	char lineage[CK_STORE_NAME_MAX + 1];
	time_t not_after;
	size_t alternates;             /* alternate chains recorded */
	unsigned long requests;        /* HTTP requests sent to the ACME server */
	int64_t order_id;              /* the store's order row */
	int resumed;                   /* 1: an open order was continued, not placed */
	size_t chain_selected;         /* chain selected (0 = default; see ck_cert_chains) */
};

/*
 * Validates names (DNS names of letters, digits and hyphens, "*." only as
 * a whole first label; IPv4/IPv6 literals; none twice).  Whether a
 * wildcard can be proven depends on the challenge: ck_issue_check_challenge.
 * Pure; used by ck_issue and by callers that check early.
 */
CK_API enum ck_code ck_issue_check_names(const char *const *names, size_t n, struct ck_err *err);

/*
 * Whether cfg can prove names (checked by ck_issue before any order): a
 * wildcard only by dns-01 and an IP address never by dns-01
 * (CK_ERR_UNSUPPORTED naming the name and the flag that fixes it); a
 * per-name override must name one of names; dns-01 needs a hook or an
 * update server (CK_ERR_INVALID_ARG naming the options); the settings' own values are in range.  Pure.
 */
CK_API enum ck_code ck_issue_check_challenge(const char *const *names, size_t n,
					     const struct ck_challenge_settings *cfg,
					     struct ck_err *err);

/*
 * 1 if a and b name the same identifiers in any order: DNS names compared
 * case-insensitively, IP literals by address ("::1" == "0:0::1").
 */
CK_API int ck_issue_names_same(const char *const *a, size_t na, const char *const *b, size_t nb);

/*
 * Checks a downloaded chain (leaf first) before anything of it is stored:
 * the leaf's public key is key's (CK_ERR_KEY_MISMATCH), its SANs are
 * exactly names (CK_ERR_PARSE naming the first name missing or extra),
 * and each certificate is signed by the next (CK_ERR_PARSE naming the
 * position).  The last certificate is not checked against a trust store:
 * it may be a root or be issued by one the server does not send.
 */
CK_API enum ck_code ck_issue_check_cert(const struct ck_der_list *certs, EVP_PKEY *key,
					const char *const *names, size_t n, struct ck_err *err);

/*
 * The open order ck_issue would resume for lineage: the newest one placed
 * by account_id whose identifiers are exactly names (ck_issue_names_same),
 * with an order URL and a key.  An open order for other names is left
 * alone (never closed here: the CA may still issue it, and asking for the
 * old names again resumes it).  CK_ERR_NOT_FOUND if there is none.  The
 * renewal scheduler calls this to see what is in flight for a lineage.
 */
CK_API enum ck_code ck_issue_order_find(struct ck_store *st, const char *lineage, int64_t account_id,
					const char *const *names, size_t n, struct ck_order *out,
					struct ck_err *err);

/*
 * Runs the whole issuance, proving the names as p->challenge (or the
 * lineage's record) says, every responder stopped and every challenge
 * file, record and listener gone on return, also when ctx is cancelled
 * (CK_ERR_CANCELLED; the order stays open and is resumed).  *out is
 * set only on success.  Errors carry the server's problem (CK_ERR_ACME,
 * CK_ERR_VALIDATION with the challenge's problem) and say what was kept:
 * the key stays in the store and an unfinished order is recorded, which
 * the next call for the same lineage and names resumes (see above).  A
 * certificate that fails ck_issue_check_cert is not stored; its order and
 * key stay for investigation.  A profile (p->profile, else the lineage's
 * recorded one) the server does not offer is refused (CK_ERR_INVALID_ARG,
 * naming the offered ones) before any key, order or lineage change.
 * With a preferred chain (p->preferred_chain, else the lineage's), the
 * chain whose topmost certificate's issuer has that CN is selected; when
 * none has, the default chain is, with a warning naming the CNs offered.
 */
CK_API enum ck_code ck_issue(const struct ck_ctx *ctx, struct ck_store *st,
			     const struct ck_issue_params *p, struct ck_issue_result *out,
			     struct ck_err *err);

/* One profile an ACME server offers (the profiles extension, meta.profiles). */
struct ck_profile {
	char *name;                    /* [A-Za-z0-9._-] */
	char *description;             /* printable, as the server wrote it */
};

/*
 * The profiles the ACME server at `server` offers, in the directory's order
 * (*out NULL and *n 0 when it offers none).  server NULL: the store's
 * default server (st required then); with a server, st may be NULL and is
 * then never created.  Needs no account, changes nothing.  Free *out with
 * ck_profiles_free.
 */
CK_API enum ck_code ck_profiles_get(const struct ck_ctx *ctx, struct ck_store *st,
				    const char *server, const char *ca_bundle,
				    struct ck_profile **out, size_t *n, struct ck_err *err);
/* Frees what ck_profiles_get returned; NULL is fine. */
CK_API void ck_profiles_free(struct ck_profile *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
