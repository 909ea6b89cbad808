/*
 * challenge.h - the seam between issuance and the ways of proving control
 * of an identifier (RFC 8555 section 8; RFC 8737; RFC 8738).  One
 * interface, an ops table, with one implementation per way:
 *
 *   http-01 standalone   http01.c      a listener on a port (libevent's evhttp)
 *   http-01 webroot      webroot.c     files below a directory another server serves
 *   tls-alpn-01          tlsalpn01.c   a TLS listener answering ALPN acme-tls/1
 *   dns-01 by hook       dns01_hook.c  an operator's program adds/removes TXT records
 *   dns-01 by RFC 2136   dns01_update.c  TSIG-signed dynamic updates (ldns)
 *
 * A responder serves every item added to it at once, so one responder per
 * way can serve many orders in flight (the renewal scheduler keeps up to N
 * orders through one listener per type).  Items are keyed by
 * (identifier, token): two orders for the same name (apex and wildcard:
 * two dns-01 values on one name) are two items.
 *
 * The issue flow drives it:  chall_responder_new (nothing bound or written
 * yet) -> start (bind the port, open the webroot, read the TSIG file) ->
 * add (per challenge: serve it / write it / publish the record) -> ready
 * (once per round of adds: wait until what was added is visible where the
 * CA will look, e.g. DNS propagation) -> tell the server -> (served: has
 * the CA looked?) -> remove (per item, when its authorization is decided)
 * -> stop (free everything; every file, record and listener it made is
 * gone afterwards, on success, error and cancel alike).
 *
 * Threading: add, ready and remove may be called from several threads at
 * once (one per order in flight); implementations lock what they share.
 * start and stop are called once, by the owner, with no other call running.
 *
 * Secrets: key authorizations are not secret (the CA publishes them), but
 * TSIG keys are: read from their file at start, wiped at stop, never
 * logged or put in argv/environment.
 */
#ifndef CK_CHALLENGE_H
#define CK_CHALLENGE_H

#include "certkeep.h"
#include "core/core.h"

/* One thing to prove, as the ACME server gave it. */
struct chall_item {
	const char *identifier;   /* authorization's identifier value: a DNS name without
				   * "*." (RFC 8555 7.1.4) or an IP literal */
	int is_ip;                /* 1: identifier type "ip" (RFC 8738) */
	int wildcard;             /* 1: the authorization is for "*.identifier" */
	const char *token;        /* the challenge token: base64url, checked by the flow */
	const char *keyauth;      /* key authorization "token.thumbprint" (RFC 8555 8.1) */
};

struct chall_responder;

struct chall_ops {
	const char *type;         /* the ACME challenge type it answers: "http-01", ... */
	/* Acquires what it needs (port, directory, key file).  Errors name the
	 * resource and the option that changes it. */
	enum ck_code (*start)(struct chall_responder *r, struct ck_err *err);
	/* Serves / writes / publishes one item.  Re-adding the same item is a no-op. */
	enum ck_code (*add)(struct chall_responder *r, const struct chall_item *it,
			    struct ck_err *err);
	/* Blocks until every added item is visible to the CA (bounded by the
	 * settings' wait; cancellable through ctx).  NULL = ready at once. */
	enum ck_code (*ready)(struct chall_responder *r, struct ck_err *err);
	/* Withdraws one item; unknown items are ignored.  Best effort: failures
	 * are logged (naming what is left behind and how to remove it). */
	void (*remove)(struct chall_responder *r, const struct chall_item *it);
	/* Withdraws everything still added, releases everything, frees r. */
	void (*stop)(struct chall_responder *r);
	/* 1 when the item has been served to someone (the CA's validation
	 * server, as far as a responder can tell) since it was added, *at the
	 * ck_mono_ms() of the first time; 0 when not yet.  NULL for a way that
	 * cannot see the CA's look (a webroot another server serves, DNS). */
	int (*served)(struct chall_responder *r, const struct chall_item *it, long long *at);
};

struct chall_responder {
	const struct chall_ops *ops;
	const struct ck_ctx *ctx;                  /* borrowed; outlives r */
	const struct ck_challenge_settings *cfg;   /* borrowed; outlives r */
	void *impl;                                /* the implementation's state */
};

/*
 * A responder of the given type (CK_CHALLENGE_HTTP01 with cfg->webroot set
 * is the webroot one) for cfg; nothing acquired until start.
 * CK_ERR_INVALID_ARG when cfg lacks what the type needs (dns-01 without a
 * hook or an update server), naming the option.
 */
enum ck_code chall_responder_new(const struct ck_ctx *ctx, enum ck_challenge_type type,
				 const struct ck_challenge_settings *cfg,
				 struct chall_responder **out, struct ck_err *err);

/* Convenience wrappers over r->ops (ready may be NULL in the table). */
enum ck_code chall_start(struct chall_responder *r, struct ck_err *err);
enum ck_code chall_add(struct chall_responder *r, const struct chall_item *it, struct ck_err *err);
enum ck_code chall_ready(struct chall_responder *r, struct ck_err *err);
void chall_remove(struct chall_responder *r, const struct chall_item *it);
/* r->ops->served: 1 served (*at set), 0 not yet, -1 the way cannot tell. */
int chall_served(struct chall_responder *r, const struct chall_item *it, long long *at);
/* NULL is a no-op. */
void chall_stop(struct chall_responder *r);

/* The dns-01 TXT value for a key authorization: base64url(SHA-256(keyauth)), 43 chars. */
enum ck_code chall_dns01_value(const char *keyauth, char out[44], struct ck_err *err);
/* "_acme-challenge.<identifier>" without a trailing dot (RFC 8555 8.4). */
enum ck_code chall_dns01_name(const char *identifier, char *out, size_t n, struct ck_err *err);

/*
 * The type that proves name (as given to -d: "*.example.org" for a
 * wildcard): its override in cfg, else cfg->type; never
 * CK_CHALLENGE_DEFAULT (that is http-01).  IP literals compare by address,
 * DNS names case-insensitively.  cfg NULL: http-01.
 */
enum ck_challenge_type chall_type_for(const struct ck_challenge_settings *cfg, const char *name);

/* ---- the settings as recorded on a lineage (settings.c) ----------------- */

#define CHALL_SETTINGS_JSON_MAX 16384  /* the recorded text */
#define CHALL_SETTING_STR_MAX 4096     /* one path, address or program */
#define CHALL_SECONDS_MAX 86400        /* timeouts and waits */

/* Settings decoded from their record: every string and the overrides are owned. */
struct chall_settings_rec {
	struct ck_challenge_settings s;
};

/*
 * Checks cfg's own values (ports 1-65535, printable strings of at most
 * CHALL_SETTING_STR_MAX, no NUL type in an override, bounded seconds);
 * CK_ERR_INVALID_ARG naming the option.  Does not look at the names.
 */
enum ck_code chall_settings_check(const struct ck_challenge_settings *cfg, struct ck_err *err);
/*
 * The record of cfg: a JSON object with only the fields that are set
 * ("type", "http_port", "webroot", ..., "overrides": [{"name", "type"}]),
 * never a secret's value (the TSIG file is its path).  *out: free().
 */
enum ck_code chall_settings_encode(const struct ck_challenge_settings *cfg, char **out,
				   struct ck_err *err);
/*
 * Decodes a record (outside data: the store can be edited): bounded
 * (CHALL_SETTINGS_JSON_MAX, CHALL_SETTING_STR_MAX, CK_CSR_MAX_NAMES
 * overrides), every field type-checked, an unknown field refused (a newer
 * certkeep's record is not half-understood), then chall_settings_check.
 * CK_ERR_PARSE/CK_ERR_TOO_LARGE/CK_ERR_INVALID_ARG saying which field.
 * Free out with chall_settings_rec_cleanup (also after a failure).
 */
enum ck_code chall_settings_decode(const char *json, struct chall_settings_rec *out,
				   struct ck_err *err);
void chall_settings_rec_cleanup(struct chall_settings_rec *rec);
/*
 * The listener cfg's responder of `type` binds, if it binds one: the
 * http-01 listener (no webroot) and the tls-alpn-01 one, when cfg may use
 * that type (its default type or an override).  *address: NULL = every
 * address; *port with the default (80, 443) filled in.  Returns 0 (and
 * leaves the outputs alone) when that type binds nothing for cfg.  Two
 * responders whose listeners are the same serve the same answers, so they
 * can be one (flow/issue_pool.c).
 */
int chall_settings_listener(const struct ck_challenge_settings *cfg, enum ck_challenge_type type,
			    const char **address, unsigned *port);
/* One line for humans: "tls-alpn-01 on 127.0.0.1 port 5001; dns-01 for *.example.org". */
void chall_settings_describe(const struct ck_challenge_settings *cfg, char *buf, size_t n);

/* Each implementation's constructor (chall_responder_new dispatches). */
enum ck_code chall_http01_new(struct chall_responder *r, struct ck_err *err);
enum ck_code chall_webroot_new(struct chall_responder *r, struct ck_err *err);
enum ck_code chall_tlsalpn01_new(struct chall_responder *r, struct ck_err *err);
enum ck_code chall_dns01_hook_new(struct chall_responder *r, struct ck_err *err);
enum ck_code chall_dns01_update_new(struct chall_responder *r, struct ck_err *err);

/*
 * CK_OK when dns-01 as cfg sets it up can run in this process: libldns is
 * opened now (once) when its visibility check (dns_wait != 0) or
 * --dns-update needs it, so that a missing library is reported before any
 * order; else CK_ERR_UNSUPPORTED naming the package to install.
 */
enum ck_code chall_dns01_can_run(const struct ck_challenge_settings *cfg, struct ck_err *err);

#endif
