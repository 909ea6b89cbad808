/*
 * dns01_hook.c - dns-01 by an operator's program (--dns-hook PROG):
 * `PROG add FQDN VALUE` publishes a TXT record, `PROG del FQDN VALUE`
 * withdraws it.  FQDN is "_acme-challenge.<name>" without a final dot;
 * apex and wildcard of one name are two adds on the same FQDN.
 *
 * The program runs through ck_proc_run: no shell, stdin /dev/null, an
 * environment of a minimal PATH only (the hook reads its own credentials
 * from its own files; certkeep passes it no secret), a timeout
 * (--dns-hook-timeout, default 120 s), its output captured and shown,
 * printable and bounded, only when it fails.  Every add that succeeded gets
 * its del: on remove, and at stop for whatever is left, even after Ctrl-C.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "challenge/dns01.h"

#define HOOK_TIMEOUT_DEFAULT_S 120
#define HOOK_OUTPUT_MAX 4096           /* captured from the hook */
#define HOOK_OUTPUT_SHOWN 240          /* of it, in an error message */
#define HOOK_PATH_ENV "PATH=/usr/local/bin:/usr/bin:/bin"

struct hook {
	struct dns01_set set;
};

/*
 * The hook's output made fit for an error message: control bytes and
 * non-ASCII become '?', runs of newlines and spaces one space, at most
 * HOOK_OUTPUT_SHOWN bytes (then "...").  out has n bytes.
 */
static void
hook_output_shown(const char *in, size_t len, char *out, size_t n)
{
	size_t i, o = 0;
	int space = 1;

	for (i = 0; i < len && o + 4 < n && o < HOOK_OUTPUT_SHOWN; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
			if (!space)
				out[o++] = ' ';
			space = 1;
			continue;
		}
		out[o++] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
		space = 0;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	if (i < len && o + 4 <= n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static unsigned
hook_timeout_ms(const struct chall_responder *r)
{
	unsigned s = r->cfg->dns_hook_timeout ? r->cfg->dns_hook_timeout : HOOK_TIMEOUT_DEFAULT_S;

	return s > 86400 ? 86400 * 1000u : s * 1000u;
}

/* Runs `hook op fqdn value` under ctx; a clear error naming the hook, op and name. */
static enum ck_code
hook_run(const struct chall_responder *r, const struct ck_ctx *ctx, const char *op,
	 const struct dns01_rec *rec, struct ck_err *err)
{
	const char *argv[] = { r->cfg->dns_hook, op, rec->fqdn, rec->value, NULL };
	const char *envp[] = { HOOK_PATH_ENV, NULL };
	struct ck_proc_result res;
	char hook[160], how[128], out[HOOK_OUTPUT_SHOWN + 8];
	unsigned ms = hook_timeout_ms(r);
	enum ck_code rc;

	memset(&res, 0, sizeof(res));
	ck_str_printable(hook, sizeof(hook), r->cfg->dns_hook);
	rc = ck_proc_run(ctx, argv, envp, ms, HOOK_OUTPUT_MAX, &res, err);
	if (rc != CK_OK) {
		ck_err_prefix(err, "DNS hook %s %s %s", hook, op, rec->fqdn);
		return rc;
	}
	if (!ck_proc_ok(&res)) {
		ck_proc_describe(&res, ms, how, sizeof(how));
		hook_output_shown(res.output, res.output_len, out, sizeof(out));
		rc = CK_FAIL(err, res.cancelled ? CK_ERR_CANCELLED :
			     res.timed_out ? CK_ERR_TIMEOUT : CK_ERR_IO,
			     "DNS hook %s %s %s failed: it %s%s%s%s%s", hook, op, rec->fqdn, how,
			     out[0] ? "; its output: \"" : " and printed nothing", out,
			     out[0] ? "\"" : "",
			     res.timed_out ? " (--dns-hook-timeout sets the limit)" : "");
	}
	ck_proc_result_cleanup(&res);
	return rc;
}

/* del, never cancelled (cleanup runs after Ctrl-C too); failures are logged. */
static void
hook_del(struct chall_responder *r, const struct dns01_rec *rec)
{
	struct ck_ctx quiet;
	struct ck_err e = { 0 };

	dns01_ctx_uncancelled(r->ctx, &quiet);
	if (hook_run(r, &quiet, "del", rec, &e) != CK_OK)
		ck_log(&r->ctx->log, CK_LOG_WARN, "%s; the TXT record %s \"%s\" may be left "
		       "behind: remove it by hand", e.msg, rec->fqdn, rec->value);
}

static enum ck_code
hook_start(struct chall_responder *r, struct ck_err *err)
{
	char hook[160];
	struct stat sb;

	ck_str_printable(hook, sizeof(hook), r->cfg->dns_hook);
	if (strchr(r->cfg->dns_hook, '/') == NULL)
		return CK_OK;   /* looked up in PATH by ck_proc_run, which names it */
	if (stat(r->cfg->dns_hook, &sb) != 0)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "DNS hook %s does not exist (--dns-hook)",
			       hook);
	if (!S_ISREG(sb.st_mode) || access(r->cfg->dns_hook, X_OK) != 0)
		return CK_FAIL(err, CK_ERR_PERMISSION, "DNS hook %s is not an executable file "
			       "(chmod +x it, or fix --dns-hook)", hook);
	return CK_OK;
}

static enum ck_code
hook_add(struct chall_responder *r, const struct chall_item *it, struct ck_err *err)
{
	struct hook *h = r->impl;
	struct dns01_rec rec;
	enum ck_code rc;

	rc = dns01_rec_from_item(it, &rec, err);
	if (rc != CK_OK || dns01_set_has(&h->set, &rec))
		return rc;
	rc = hook_run(r, r->ctx, "add", &rec, err);
	if (rc == CK_ERR_TIMEOUT || rc == CK_ERR_CANCELLED) {
		hook_del(r, &rec);   /* it may have published before it was ended */
		return rc;
	}
	if (rc != CK_OK)
		return rc;
	rc = dns01_set_add(&h->set, &rec, err);
	if (rc != CK_OK)
		hook_del(r, &rec);
	return rc;
}

static enum ck_code
hook_ready(struct chall_responder *r, struct ck_err *err)
{
	struct hook *h = r->impl;

	return dns01_wait(r, &h->set, NULL, 53, err);
}

static void
hook_remove(struct chall_responder *r, const struct chall_item *it)
{
	struct hook *h = r->impl;
	struct dns01_rec rec;

	if (dns01_rec_from_item(it, &rec, NULL) == CK_OK && dns01_set_take(&h->set, &rec))
		hook_del(r, &rec);
}

static void
hook_stop(struct chall_responder *r)
{
	struct hook *h = r->impl;
	struct dns01_rec rec;

	while (dns01_set_pop(&h->set, &rec))
		hook_del(r, &rec);
	dns01_set_cleanup(&h->set);
	free(h);
	free(r);
}

static const struct chall_ops hook_ops = {
	.type = "dns-01",
	.start = hook_start,
	.add = hook_add,
	.ready = hook_ready,
	.remove = hook_remove,
	.stop = hook_stop,
};

enum ck_code
chall_dns01_hook_new(struct chall_responder *r, struct ck_err *err)
{
	struct hook *h;
	enum ck_code rc;

	if (r->cfg->dns_hook == NULL || r->cfg->dns_hook[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "dns-01 needs --dns-hook PROG or "
			       "--dns-update SERVER");
	if ((rc = chall_dns01_can_run(r->cfg, err)) != CK_OK)
		return rc;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return CK_OOM(err);
	dns01_set_init(&h->set);
	r->impl = h;
	r->ops = &hook_ops;
	return CK_OK;
}
