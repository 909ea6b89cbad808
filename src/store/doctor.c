/*
 * doctor.c - checks every invariant of a store and explains findings:
 * the rule table (stable codes, names, severities, and why each matters in
 * the words an admin has seen), the link check shared with repair, and
 * repair (relink, never delete) and prune (orphan keys only).
 *
 * Every check recomputes from stored DER (certificate SPKI and
 * thumbprints, the key's public part from its PKCS#8), or, for bytes whose
 * SHA-256 (computed every run) matches a verified fact recorded when they
 * entered the store, takes the fact instead of parsing and re-verifying
 * (facts.c; --full trusts none): columns are not trusted, so corruption is
 * found, not repeated.
 *
 * Must never: change the store while checking; delete anything in repair;
 * delete anything but unused keys in prune.
 */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/doctor_int.h"

static const struct dr_rule rules[] = {
	[DR_CERT_KEY_MISSING] = { "CK-D001", "cert-key-missing", CK_SEV_WARNING,
		"a certificate deployed without its private key cannot serve TLS: this is the "
		"state Windows reports as 'Keyset does not exist' (NTE_BAD_KEYSET) and IIS "
		"loses its HTTPS binding" },
	[DR_CERT_KEY_RELINKABLE] = { "CK-D002", "cert-key-relinkable", CK_SEV_ERROR,
		"the matching key is in the store but the certificate does not point to it, "
		"so export, copy and deploy would treat it as keyless ('Keyset does not exist')" },
	[DR_KEY_SPKI_MISMATCH] = { "CK-D003", "key-spki-mismatch", CK_SEV_ERROR,
		"the linked key is not the certificate's key: a deploy of this pair fails "
		"(nginx 'key values mismatch', Windows 'the private key does not match')" },
	[DR_KEY_CORRUPT] = { "CK-D004", "key-corrupt", CK_SEV_ERROR,
		"the stored key cannot be read or does not match its recorded public key, so it "
		"cannot sign anything; the store's file was damaged or edited" },
	[DR_CERT_CORRUPT] = { "CK-D005", "cert-corrupt", CK_SEV_ERROR,
		"the certificate's recorded thumbprint or public key does not match its own "
		"bytes, so references and bindings may match the wrong certificate" },
	[DR_ORPHAN_KEY] = { "CK-D006", "orphan-key", CK_SEV_INFO,
		"a private key no certificate, account or request uses is secret material kept "
		"for nothing" },
	[DR_REQUEST_STALE] = { "CK-D007", "pending-request-stale", CK_SEV_WARNING,
		"a request that waits this long has probably been forgotten by the CA or by the "
		"person who sent it; its key stays in the store until it is answered" },
	[DR_BINDING_DANGLING] = { "CK-D008", "binding-dangling", CK_SEV_ERROR,
		"a binding that names a certificate the store does not have cannot be deployed: "
		"this is IIS's 'A specified logon session does not exist' / invalid certificate "
		"hash (CRYPT_E_NOT_FOUND) failure" },
	[DR_CERT_EXPIRED] = { "CK-D009", "cert-expired", CK_SEV_ERROR,
		"clients refuse an expired certificate (browsers show NET::ERR_CERT_DATE_INVALID)" },
	[DR_CERT_EXPIRING] = { "CK-D010", "cert-expiring", CK_SEV_WARNING,
		"the certificate expires soon and no newer certificate of its lineage is stored" },
	[DR_CHAIN_INVALID] = { "CK-D011", "chain-invalid", CK_SEV_WARNING,
		"a server sending this chain makes clients fail with 'unable to get local issuer "
		"certificate'" },
	[DR_STORE_PERMISSIONS] = { "CK-D012", "store-permissions", CK_SEV_ERROR,
		"the store holds private keys: other users who can read or replace it can "
		"impersonate every site whose key it holds" },
	[DR_LINEAGE_DANGLING] = { "CK-D013", "lineage-dangling", CK_SEV_ERROR,
		"the lineage's current certificate is not in the store, so the name resolves to "
		"nothing and renewals and deploys of it fail" },
	[DR_ROLLOVER_PENDING] = { "CK-D014", "account-rollover-pending", CK_SEV_WARNING,
		"an account key rollover was interrupted: until it is resolved the server may "
		"accept only one of the two keys ('JWS verification error')" },
	[DR_ACCOUNT_KEY_MISSING] = { "CK-D015", "account-key-missing", CK_SEV_ERROR,
		"without its key the ACME account cannot sign requests and is lost to certkeep" },
	[DR_ORDER_STALE] = { "CK-D016", "order-stale", CK_SEV_WARNING,
		"an ACME order left open this long was interrupted and not resumed: the CA may "
		"hold a certificate for it that is not in the store, and its key stays here "
		"until the order is finished or given up" },
	[DR_BINDING_REVOKED] = { "CK-D017", "binding-revoked", CK_SEV_ERROR,
		"clients that check revocation (OCSP, CRLs) refuse a revoked certificate: the "
		"binding serves one they will reject" },
	[DR_BINDING_STALE] = { "CK-D018", "binding-stale", CK_SEV_WARNING,
		"the server still serves the certificate deployed before the renewal: it expires "
		"on its old date and the renewal protects nothing until it is deployed" },
	[DR_BINDING_EXPIRED] = { "CK-D019", "binding-expired", CK_SEV_ERROR,
		"clients refuse an expired certificate (NET::ERR_CERT_DATE_INVALID): the site "
		"behind this binding is down for them" },
	[DR_DUE_LATE] = { "CK-D021", "due-late", CK_SEV_ERROR,
		"renew --all reads only the lineages whose stored next look has come: one "
		"stored later than its due time is renewed late, or only after its certificate "
		"expired and clients refuse it (NET::ERR_CERT_DATE_INVALID)" },
	[DR_NODE_LEASE_ORPHANED] = { "CK-D040", "node-lease-orphaned", CK_SEV_WARNING,
		"a renewal lease held by a node that stopped heart-beating blocks every other "
		"node from renewing that lineage until the lease expires" },
	[DR_NODE_BEHIND] = { "CK-D041", "node-behind", CK_SEV_WARNING,
		"the node still serves the certificate from before the lineage's renewal: the "
		"renewal protects nothing there until that node deploys it" },
	[DR_GENERATION_BACKWARDS] = { "CK-D042", "generation-backwards", CK_SEV_ERROR,
		"a node saw a newer store than the one there is now (a restore from an old "
		"backup): caches that trust a generation number may hold keys and accounts the "
		"store no longer has, and a generation number may mean two different states" },
	[DR_FACTS_MISSING] = { "CK-D043", "facts-missing", CK_SEV_INFO,
		"a certificate or key without a verified fact (a store made before certkeep "
		"recorded them) is parsed and verified again by every doctor run: minutes at "
		"100,000 certificates" },
};

const char *
ck_severity_name(enum ck_severity s)
{
	switch (s) {
	case CK_SEV_INFO:
		return "info";
	case CK_SEV_WARNING:
		return "warning";
	case CK_SEV_ERROR:
		return "error";
	}
	return "unknown";
}

enum ck_code
dr_add(struct ck_findings *f, enum dr_id id, enum ck_severity sev, int64_t cert_id,
       int64_t key_id, char *object, char *what, char *fix, struct ck_err *err)
{
	struct ck_finding *p, *n;
	const struct dr_rule *r = &rules[id];

	if (object == NULL || what == NULL || fix == NULL || f->n >= CK_STORE_ROWS_MAX)
		goto fail;
	if ((p = realloc(f->items, (f->n + 1) * sizeof(*p))) == NULL)
		goto fail;
	f->items = p;
	n = &f->items[f->n];
	memset(n, 0, sizeof(*n));
	n->code = r->code;
	n->name = r->name;
	n->severity = sev;
	n->object = object;
	n->what = what;
	n->why = strdup(r->why);
	n->fix = fix;
	n->cert_id = cert_id;
	n->key_id = key_id;
	f->n++;
	if (n->why == NULL)
		return CK_OOM(err);
	return CK_OK;
fail:
	free(object);
	free(what);
	free(fix);
	return CK_FAIL(err, CK_ERR_NOMEM, "out of memory (or too many findings)");
}

enum ck_severity
dr_default_severity(enum dr_id id)
{
	return rules[id].severity;
}

void
ck_findings_cleanup(struct ck_findings *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++) {
		free(f->items[i].object);
		free(f->items[i].what);
		free(f->items[i].why);
		free(f->items[i].fix);
	}
	free(f->items);
	f->items = NULL;
	f->n = 0;
}

/* ---- permissions ----------------------------------------------------- */

static enum ck_code
check_mode(const char *path, const char *what, struct ck_findings *f, struct ck_err *err)
{
	struct stat sb;

	if (stat(path, &sb) != 0 || (sb.st_mode & 077) == 0)
		return CK_OK;
	return dr_add(f, DR_STORE_PERMISSIONS, dr_default_severity(DR_STORE_PERMISSIONS), 0, 0,
		      st_printf("%s %s", what, path),
		      st_printf("%s %s has mode %04o: group or others have access", what, path,
				(unsigned)(sb.st_mode & 07777)),
		      st_printf("chmod %s %s", S_ISDIR(sb.st_mode) ? "700" : "600", path), err);
}

static enum ck_code
check_permissions(struct ck_store *st, struct ck_findings *f, struct ck_err *err)
{
	char *dup = NULL, *side = NULL;
	enum ck_code rc;
	const char *suffix[] = { "-wal", "-shm" };
	size_t i;

	if ((rc = check_mode(st->path, "store file", f, err)) != CK_OK)
		return rc;
	for (i = 0; i < CK_ARRAY_LEN(suffix); i++) {
		if ((side = st_printf("%s%s", st->path, suffix[i])) == NULL)
			return CK_OOM(err);
		rc = check_mode(side, "store file", f, err);
		free(side);
		if (rc != CK_OK)
			return rc;
	}
	if ((dup = strdup(st->path)) == NULL)
		return CK_OOM(err);
	rc = check_mode(dirname(dup), "store directory", f, err);
	free(dup);
	return rc;
}

/* ---- the whole check -------------------------------------------------- */

enum ck_code
ck_store_doctor(struct ck_store *st, const struct ck_doctor_opts *opts, struct ck_findings *out,
		struct ck_err *err)
{
	struct ck_findings f = { NULL, 0 };
	struct ck_doctor_opts o;
	struct dr_keys keys;
	enum ck_code rc;

	memset(&o, 0, sizeof(o));
	if (opts != NULL)
		o = *opts;
	if (o.now == 0)
		o.now = st_now(st);
	if (o.pending_max_age_days <= 0)
		o.pending_max_age_days = 30;
	if (o.expiry_warn_days <= 0)
		o.expiry_warn_days = 30;
	if ((rc = dr_keys_init(&keys, err)) != CK_OK)
		return rc;
	keys.full = o.full;
	/* One read transaction: every check sees the same snapshot. */
	if ((rc = st_read_begin(st, err)) != CK_OK) {
		dr_keys_cleanup(&keys);
		return rc;
	}
	if ((rc = check_permissions(st, &f, err)) != CK_OK ||
	    (rc = dr_check_certs(st, &keys, &o, &f, err)) != CK_OK ||
	    (rc = dr_check_keys(st, &keys, &f, err)) != CK_OK ||
	    (rc = dr_check_requests(st, &o, &f, err)) != CK_OK ||
	    (rc = dr_check_bindings(st, &f, err)) != CK_OK ||
	    (rc = dr_check_lineages(st, &f, err)) != CK_OK ||
	    (rc = dr_check_accounts(st, &f, err)) != CK_OK ||
	    (rc = dr_check_orders(st, &o, &f, err)) != CK_OK ||
	    (rc = dr_check_revoked(st, &f, err)) != CK_OK ||
	    (rc = dr_check_deploys(st, &o, &f, err)) != CK_OK ||
	    (rc = dr_check_due(st, &o, &f, err)) != CK_OK ||
	    (rc = dr_check_fleet(st, &o, &f, err)) != CK_OK)
		goto out;
	*out = f;
	f.items = NULL;
	f.n = 0;
	if (o.stats != NULL)
		*o.stats = keys.stats;
out:
	st_read_end(st);
	dr_keys_cleanup(&keys);
	ck_findings_cleanup(&f);
	return rc;
}

/* ---- repair and prune ----------------------------------------------- */

enum ck_code
dr_fixed(struct ck_findings *f, enum dr_id id, int64_t cert_id, int64_t key_id, char *object,
	 char *what, struct ck_err *err)
{
	enum ck_code rc = dr_add(f, id, CK_SEV_INFO, cert_id, key_id, object, what,
				 st_printf("nothing more to do"), err);

	if (rc == CK_OK)
		f->items[f->n - 1].fixed = 1;
	return rc;
}

/* Records the verified facts a store made before migration 16 (or a row
 * changed since) lacks; one action saying how many.  Facts are a cache of
 * what the bytes prove: the generation does not move. */
static enum ck_code
repair_facts(struct ck_store *st, struct ck_findings *f, struct ck_err *err)
{
	size_t certs = 0, keys = 0;
	enum ck_code rc;

	if ((rc = st_facts_record_missing_tx(st, &certs, &keys, err)) != CK_OK ||
	    certs + keys == 0)
		return rc;
	return dr_fixed(f, DR_FACTS_MISSING, 0, 0, st_printf("store facts"),
			st_printf("recorded verified facts for %zu certificate(s) and %zu key(s), "
				  "recomputed from their stored bytes; later doctor runs check "
				  "those bytes by digest", certs, keys), err);
}

/* Relinks each certificate whose key is in the store but not linked (st_tx_body). */
static enum ck_code
repair_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct ck_findings *f = arg;
	struct dr_link *links = NULL;
	struct dr_keys keys;
	size_t n = 0, i;
	enum ck_code rc;

	ck_findings_cleanup(f);
	if ((rc = dr_keys_init(&keys, err)) != CK_OK)
		return rc;
	if ((rc = dr_scan_links(st, &keys, &links, &n, err)) != CK_OK)
		goto out;
	for (i = 0; i < n && rc == CK_OK; i++) {
		struct dr_link *l = &links[i];
		if (l->state == DR_LINK_OK || l->candidate == 0)
			continue;
		rc = st_exec(st, err, NULL,
			     "UPDATE certificates SET key_id = ?, key_state = 'linked' WHERE id = ?",
			     "ii", l->candidate, l->cert_id);
		if (rc == CK_OK)
			rc = dr_fixed(f, DR_CERT_KEY_RELINKABLE, l->cert_id, l->candidate,
				      st_printf("cert %s", l->sha256),
				      st_printf("certificate %.16s relinked to its key %lld",
						l->sha256, (long long)l->candidate), err);
	}
	if (rc == CK_OK && f->n > 0)
		rc = st_generation_bump_tx(st, err);
	if (rc == CK_OK)
		rc = dr_repair_generation(st, f, err);
	if (rc == CK_OK)
		rc = dr_repair_due(st, f, err);
	if (rc == CK_OK)
		rc = repair_facts(st, f, err);
out:
	dr_keys_cleanup(&keys);
	free(links);
	return rc;
}

/* Deletes every key nothing uses (st_tx_body). */
static enum ck_code
prune_body(struct ck_store *st, void *arg, struct ck_err *err)
{
	struct ck_findings *f = arg;
	struct ck_key_list keys = { NULL, 0 };
	enum ck_code rc;
	size_t i;

	ck_findings_cleanup(f);
	rc = ck_store_key_list(st, 1, &keys, err);
	for (i = 0; rc == CK_OK && i < keys.n; i++) {
		const struct ck_key_info *k = &keys.items[i];
		rc = st_key_delete_tx(st, k->id, NULL, err);
		if (rc == CK_OK)
			rc = dr_fixed(f, DR_ORPHAN_KEY, 0, k->id, st_printf("key %lld", (long long)k->id),
				      st_printf("removed unused %s key %lld (public key %.16s)",
						k->algorithm, (long long)k->id, k->spki_sha256),
				      err);
	}
	if (rc == CK_OK && f->n > 0) {
		st_wal_scrub(st); /* after the commit: no old copy of a key left in the WAL */
		rc = st_generation_bump_tx(st, err);
	}
	ck_key_list_cleanup(&keys);
	return rc;
}

/* Runs repair_body or prune_body; *out: what it changed, on success only. */
static enum ck_code
fix_run(struct ck_store *st, const char *name, st_tx_body body, struct ck_findings *out,
	struct ck_err *err)
{
	struct ck_findings f = { NULL, 0 };
	enum ck_code rc = st_tx_run(st, err, name, body, &f);

	if (rc == CK_OK) {
		*out = f;
		return CK_OK;
	}
	ck_findings_cleanup(&f);
	return rc;
}

enum ck_code
ck_store_doctor_repair(struct ck_store *st, struct ck_findings *out, struct ck_err *err)
{
	return fix_run(st, "store.repair", repair_body, out, err);
}

enum ck_code
ck_store_doctor_prune(struct ck_store *st, struct ck_findings *out, struct ck_err *err)
{
	return fix_run(st, "store.prune", prune_body, out, err);
}
