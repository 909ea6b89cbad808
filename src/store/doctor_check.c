/*
 * doctor_check.c - the individual doctor checks over certificates, keys,
 * requests, bindings, lineages and accounts.  Each appends findings; none
 * changes the store.  Facts are recomputed from stored DER / PKCS#8, or
 * taken from a verified fact recorded for exactly those bytes (facts.c;
 * the digest is computed here, every run).
 *
 * Must never: trust a thumbprint or SPKI column without recomputing it or
 * matching it to a fact by the digest of the stored bytes.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "store/doctor_int.h"

#define DAY 86400

enum ck_code
dr_cert_link(struct ck_store *st, struct dr_keys *keys, int64_t cert_id, const char *spki,
	     int64_t key_id, struct dr_link *out, struct ck_err *err)
{
	char actual[65];
	int64_t cand = 0;
	enum ck_code rc;
	int exists = 0, corrupt = 0;

	out->cert_id = cert_id;
	out->key_id = key_id;
	out->candidate = 0;
	if (key_id == 0) {
		out->state = DR_LINK_LABELLED;
	} else {
		if ((rc = dr_key_actual_spki(st, keys, key_id, actual, &exists, &corrupt, err)) != CK_OK)
			return rc;
		if (!exists)
			out->state = DR_LINK_DANGLING;
		else if (strcmp(actual, spki) != 0)
			out->state = DR_LINK_MISMATCH;
		else
			out->state = DR_LINK_OK;
	}
	if (out->state == DR_LINK_OK)
		return CK_OK;
	/* A key whose column says it matches; believed only if recomputing agrees. */
	rc = st_query_int(st, err, &cand, "SELECT id FROM keys WHERE spki_sha256 = ?", "t", spki);
	if (rc == CK_ERR_NOT_FOUND)
		return CK_OK;
	if (rc != CK_OK)
		return rc;
	if ((rc = dr_key_actual_spki(st, keys, cand, actual, &exists, &corrupt, err)) != CK_OK)
		return rc;
	if (exists && !corrupt && strcmp(actual, spki) == 0 && cand != key_id)
		out->candidate = cand;
	return CK_OK;
}

/* The links being scanned by dr_scan_links. */
struct scan_links {
	struct dr_keys *keys;
	struct dr_link *v;
	size_t cap, n;
};

/* One certificate row's link (st_row_visit). */
static enum ck_code
scan_one_link(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	struct scan_links *l = arg;
	struct ck_cert_info info;
	struct dr_link *link;
	enum ck_code rc;

	if ((rc = st_list_reserve(&l->v, &l->cap, l->n, sizeof(*l->v), "certificates",
				  err)) != CK_OK)
		return rc;
	link = &l->v[l->n++];
	memset(link, 0, sizeof(*link));
	memset(&info, 0, sizeof(info));
	if (ck_cert_info_from_der(st_col_blob_ref(s, 1, NULL), st_col_bytes(s, 1), &info,
				  NULL) != CK_OK) {
		link->cert_id = st_col_int64(s, 0);
		link->state = DR_LINK_CERT_BAD;
		return CK_OK;
	}
	rc = dr_cert_link(st, l->keys, st_col_int64(s, 0), info.spki_sha256, st_col_int64(s, 2), link, err);
	memcpy(link->sha256, info.sha256, sizeof(link->sha256));
	ck_cert_info_cleanup(&info);
	return rc;
}

enum ck_code
dr_scan_links(struct ck_store *st, struct dr_keys *keys, struct dr_link **links, size_t *n,
	      struct ck_err *err)
{
	struct scan_links l = { keys, NULL, 0, 0 };
	enum ck_code rc;

	rc = st_each_row(st, err, scan_one_link, &l,
			 "SELECT id, der, key_id FROM certificates ORDER BY id", "");
	if (rc != CK_OK) {
		free(l.v);
		return rc;
	}
	*links = l.v;
	*n = l.n;
	return CK_OK;
}

/* ---- certificates ----------------------------------------------------- */

static enum ck_code
cert_link_findings(struct ck_store *st, const struct dr_link *l, struct ck_findings *f,
		   struct ck_err *err)
{
	const char *sha = l->sha256;

	switch (l->state) {
	case DR_LINK_OK:
	case DR_LINK_CERT_BAD:
		return CK_OK;
	case DR_LINK_MISMATCH:
		return dr_add(f, DR_KEY_SPKI_MISMATCH, CK_SEV_ERROR, l->cert_id, l->key_id,
			      st_printf("cert %s", sha),
			      st_printf("certificate %.16s is linked to key %lld, whose public key "
					"is not the certificate's", sha, (long long)l->key_id),
			      l->candidate ? st_printf("certkeep doctor --repair (key %lld matches)",
						       (long long)l->candidate)
					   : st_printf("certkeep import THE-RIGHT-KEY-FILE, then "
						       "certkeep doctor --repair"),
			      err);
	case DR_LINK_LABELLED:
	case DR_LINK_DANGLING:
		break;
	}
	if (l->candidate)
		return dr_add(f, DR_CERT_KEY_RELINKABLE, CK_SEV_ERROR, l->cert_id, l->candidate,
			      st_printf("cert %s", sha),
			      st_printf("certificate %.16s is not linked to its key, but key %lld in "
					"the store matches it", sha, (long long)l->candidate),
			      st_printf("certkeep doctor --repair"), err);
	(void)st;
	return dr_add(f, DR_CERT_KEY_MISSING,
		      l->state == DR_LINK_DANGLING ? CK_SEV_ERROR : CK_SEV_WARNING, l->cert_id, 0,
		      st_printf("cert %s", sha),
		      l->state == DR_LINK_DANGLING
			      ? st_printf("certificate %.16s is linked to key %lld, which is not in "
					  "the store", sha, (long long)l->key_id)
			      : st_printf("certificate %.16s has no private key in the store", sha),
		      st_printf("certkeep import KEYFILE (it links by public key), or certkeep rm %s",
				sha),
		      err);
}

static enum ck_code
cert_expiry_findings(const struct ck_doctor_opts *o, int64_t id, const char *sha,
		     const char *lineage, const struct ck_cert_info *info, struct ck_findings *f,
		     struct ck_err *err)
{
	char when[21];
	const char *first = info->nsans > 0 ? info->sans[0] : "NAME";

	ck_time_rfc3339(info->not_after, when);
	if (info->not_after < o->now)
		return dr_add(f, DR_CERT_EXPIRED, CK_SEV_ERROR, id, 0, st_printf("cert %s", sha),
			      st_printf("certificate %.16s (%s) expired at %s", sha,
					lineage ? lineage : first, when),
			      lineage ? st_printf("certkeep issue --name %s -d %s", lineage, first)
				      : st_printf("import a renewed certificate, then certkeep rm %s",
						  sha),
			      err);
	if (info->not_after - o->now < (time_t)o->expiry_warn_days * DAY)
		return dr_add(f, DR_CERT_EXPIRING, CK_SEV_WARNING, id, 0, st_printf("cert %s", sha),
			      st_printf("certificate %.16s (%s) expires at %s", sha,
					lineage ? lineage : first, when),
			      lineage ? st_printf("certkeep issue --name %s -d %s", lineage, first)
				      : st_printf("import a renewed certificate, then certkeep rm %s",
						  sha),
			      err);
	return CK_OK;
}

/* The finding for a stored chain that does not verify (cerr says why). */
static enum ck_code
cert_chain_finding(int64_t id, const char *sha, const struct ck_err *cerr,
		   struct ck_findings *f, struct ck_err *err)
{
	return dr_add(f, DR_CHAIN_INVALID, CK_SEV_WARNING, id, 0, st_printf("cert %s", sha),
		      st_printf("the chain stored with certificate %.16s does not verify: %s",
				sha, cerr->msg),
		      st_printf("issue the certificate again, or import it with its right "
				"intermediate certificates into a fresh lineage"),
		      err);
}

/* What the per-row checks read and write. */
struct check_args {
	struct dr_keys *keys;
	const struct ck_doctor_opts *o;
	struct ck_findings *f;
};

/* SHA-256 hex of certificate id's stored chain as it is now (st_facts_chain_digest's
 * order and bytes), read through the run's reused statement. */
static enum ck_code
cert_chain_digest(struct ck_store *st, struct dr_keys *keys, int64_t id, char out[65],
		  struct ck_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = NULL;
	enum ck_code rc;
	int r = 0, ok;

	out[0] = '\0';
	if ((rc = dr_stmt_run(st, &keys->chain_stmt, "SELECT der FROM chain WHERE cert_id = ? "
			      "ORDER BY pos", id, err)) != CK_OK)
		return rc;
	if ((c = EVP_MD_CTX_new()) == NULL)
		return CK_OOM(err);
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
	while (ok && (r = st_step(st, keys->chain_stmt, err)) == 1)
		ok = EVP_DigestUpdate(c, st_col_blob_ref(keys->chain_stmt, 0, NULL),
				      st_col_bytes(keys->chain_stmt, 0)) == 1;
	if (ok && r == 0 && EVP_DigestFinal_ex(c, md, &mdlen) == 1)
		ck_hex_encode(md, mdlen, out, 65);
	EVP_MD_CTX_free(c);
	(void)st_reset(st, keys->chain_stmt, NULL);
	if (r < 0)
		return err ? err->code : CK_ERR_STORE;
	return CK_OK;
}

/*
 * The certificate row s's facts (columns 9-12: the fact for the digest its
 * sha256 column names) when they hold for its DER and chain as stored now:
 * *used = 1 and info's sha256, spki_sha256 and not_after set, the chain
 * known to verify.  *used = 0 (recompute) when there is no fact, the bytes
 * or the chain changed, the run is --full, or an expiry finding is due
 * (its words need the parsed names).
 */
static enum ck_code
cert_from_fact(struct ck_store *st, const struct check_args *a, struct st_stmt *s,
	       int relevant, struct ck_cert_info *info, int *used, struct ck_err *err)
{
	char digest[65], want[65], chain[65], chain_want[65];
	time_t not_after = (time_t)st_col_int64(s, 12);
	enum ck_code rc;

	*used = 0;
	if (a->keys->full || st_col_is_null(s, 9) || st_col_is_null(s, 1))
		return CK_OK;
	if (relevant && not_after - a->o->now < (time_t)a->o->expiry_warn_days * DAY)
		return CK_OK;
	st_col_copy(s, 9, want, sizeof(want));
	ck_sha256_hex(st_col_blob_ref(s, 1, NULL), st_col_bytes(s, 1), digest);
	if (strcmp(digest, want) != 0)
		return CK_OK;
	if (st_col_int(s, 8) > 0) {
		st_col_copy(s, 11, chain_want, sizeof(chain_want));
		if (chain_want[0] == '\0')
			return CK_OK; /* no verified chain recorded: CK-D011 is recomputed */
		if ((rc = cert_chain_digest(st, a->keys, st_col_int64(s, 0), chain, err)) != CK_OK)
			return rc;
		if (strcmp(chain, chain_want) != 0)
			return CK_OK;
	}
	memcpy(info->sha256, digest, sizeof(info->sha256));
	st_col_copy(s, 10, info->spki_sha256, sizeof(info->spki_sha256));
	info->not_after = not_after;
	*used = 1;
	return CK_OK;
}

/* One certificate row: corruption, link, expiry, chain (st_row_visit). */
static enum ck_code
check_one_cert(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	const struct check_args *a = arg;
	const struct ck_doctor_opts *o = a->o;
	struct ck_findings *f = a->f;
	struct ck_cert_info info;
	struct dr_link link;
	const unsigned char *der = st_col_blob_ref(s, 1, NULL);
	size_t len = st_col_bytes(s, 1);
	int64_t id = st_col_int64(s, 0);
	char col_sha[65], col_spki[65], lineage[CK_STORE_NAME_MAX + 1];
	int relevant = st_col_int(s, 6) || st_col_int(s, 7) ||
		       st_col_is_null(s, 5);
	struct ck_der_list chain = { NULL, 0 };
	unsigned char *copy = NULL;
	size_t copy_len = 0;
	enum ck_code rc, chain_rc = CK_OK;
	struct ck_err cerr;
	int from_fact = 0;

	memset(&info, 0, sizeof(info));
	memset(&link, 0, sizeof(link));
	ck_err_clear(&cerr);
	st_col_copy(s, 2, col_sha, sizeof(col_sha));
	st_col_copy(s, 3, col_spki, sizeof(col_spki));
	st_col_copy(s, 5, lineage, sizeof(lineage));
	a->keys->stats.certs++;
	if ((rc = cert_from_fact(st, a, s, relevant, &info, &from_fact, err)) != CK_OK)
		return rc;
	if (!from_fact)
		a->keys->stats.certs_recomputed++;
	/* The chain first, so the leaf is parsed once for its facts and its chain. */
	if (!from_fact && st_col_int(s, 8) > 0 &&
	    (rc = ck_store_cert_der(st, id, &copy, &copy_len, &chain, err)) != CK_OK)
		return rc;
	free(copy);
	if (!from_fact &&
	    (der == NULL || ck_chain_checker_cert(a->keys->chains, der, len, &chain, &info,
						  &chain_rc, &cerr, NULL) != CK_OK)) {
		ck_der_list_cleanup(&chain);
		return dr_add(f, DR_CERT_CORRUPT, CK_SEV_ERROR, id, 0, st_printf("cert %s", col_sha),
			      st_printf("certificate %.16s is not a readable certificate", col_sha),
			      st_printf("certkeep rm %s, then import the certificate again",
					col_sha),
			      err);
	}
	if (strcmp(col_sha, info.sha256) != 0 || strcmp(col_spki, info.spki_sha256) != 0) {
		rc = dr_add(f, DR_CERT_CORRUPT, CK_SEV_ERROR, id, 0, st_printf("cert %s", col_sha),
			    st_printf("certificate recorded as %.16s is really %.16s%s", col_sha,
				      info.sha256,
				      strcmp(col_spki, info.spki_sha256) ? " (public key column "
									   "wrong too)" : ""),
			    st_printf("certkeep rm %s, then import the certificate again", col_sha),
			    err);
		if (rc != CK_OK)
			goto out;
	}
	if ((rc = dr_cert_link(st, a->keys, id, info.spki_sha256, st_col_int64(s, 4), &link,
			       err)) != CK_OK)
		goto out;
	memcpy(link.sha256, info.sha256, sizeof(link.sha256));
	if ((rc = cert_link_findings(st, &link, f, err)) != CK_OK)
		goto out;
	if (relevant && (rc = cert_expiry_findings(o, id, info.sha256,
						   lineage[0] ? lineage : NULL, &info, f, err)) !=
				CK_OK)
		goto out;
	if (chain.n > 0 && chain_rc != CK_OK)
		rc = cert_chain_finding(id, info.sha256, &cerr, f, err);
out:
	ck_der_list_cleanup(&chain);
	ck_cert_info_cleanup(&info);
	return rc;
}

enum ck_code
dr_check_certs(struct ck_store *st, struct dr_keys *keys, const struct ck_doctor_opts *o,
	       struct ck_findings *f, struct ck_err *err)
{
	struct check_args a = { keys, o, f };

	/* relevant for expiry: current of its lineage (6), or used by a binding (7),
	 * or in no lineage (5 NULL); superseded certificates are not reported.
	 * 9-12: the verified fact for the DER digest the sha256 column names
	 * (cert_from_fact trusts it only for the bytes as they are). */
	return st_each_row(st, err, check_one_cert, &a,
			   "SELECT c.id, c.der, c.sha256, c.spki_sha256, c.key_id, l.name, "
			   "CASE WHEN l.current_cert_id = c.id THEN 1 ELSE 0 END, "
			   "EXISTS(SELECT 1 FROM bindings b WHERE b.pinned_sha256 = c.sha256 OR "
			   "b.last_sha256 = c.sha256), "
			   "(SELECT count(*) FROM chain h WHERE h.cert_id = c.id), "
			   "f.digest, f.spki_sha256, f.chain_sha256, f.not_after "
			   "FROM certificates c LEFT JOIN lineages l ON l.id = c.lineage_id "
			   "LEFT JOIN facts f ON f.digest = c.sha256 AND f.kind = 'cert' "
			   "ORDER BY c.id",
			   "");
}

/* ---- keys -------------------------------------------------------------- */

/* One key row: readable, matching its public key, used (st_row_visit). */
static enum ck_code
check_one_key(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	const struct check_args *a = arg;
	struct ck_findings *f = a->f;
	char actual[65], spki[65], alg[32];
	int64_t id = st_col_int64(s, 0);
	enum ck_code rc;
	int exists = 0, corrupt = 0;

	st_col_copy(s, 1, spki, sizeof(spki));
	st_col_copy(s, 2, alg, sizeof(alg));
	if ((rc = dr_key_actual_spki(st, a->keys, id, actual, &exists, &corrupt, err)) != CK_OK)
		return rc;
	if (corrupt && (rc = dr_add(f, DR_KEY_CORRUPT, CK_SEV_ERROR, 0, id,
				    st_printf("key %lld", (long long)id),
				    st_printf("key %lld (%s, public key %.16s) %s", (long long)id,
					      alg, spki,
					      actual[0] ? "does not match its recorded "
							  "public key" : "cannot be read"),
				    st_printf("restore the store from a backup; certificates of "
					      "this key need a new key (issue again)"),
				    err)) != CK_OK)
		return rc;
	if (!st_col_int(s, 3))
		rc = dr_add(f, DR_ORPHAN_KEY, CK_SEV_INFO, 0, id, st_printf("key %lld", (long long)id),
			    st_printf("%s key %lld (public key %.16s) is used by nothing", alg,
				      (long long)id, spki),
			    st_printf("certkeep doctor --prune"), err);
	return rc;
}

enum ck_code
dr_check_keys(struct ck_store *st, struct dr_keys *keys, struct ck_findings *f,
	      struct ck_err *err)
{
	struct check_args a = { keys, NULL, f };

	return st_each_row(st, err, check_one_key, &a,
			   "SELECT k.id, k.spki_sha256, k.algorithm, " ST_KEY_USED_SQL
			   " FROM keys k ORDER BY k.id", "");
}

/* ---- requests, bindings, lineages, accounts ---------------------------- */

enum ck_code
dr_check_requests(struct ck_store *st, const struct ck_doctor_opts *o, struct ck_findings *f,
		  struct ck_err *err)
{
	struct ck_request_list l = { NULL, 0 };
	char when[21];
	enum ck_code rc;
	size_t i;

	if ((rc = ck_store_request_list(st, 0, &l, err)) != CK_OK)
		return rc;
	for (i = 0; i < l.n && rc == CK_OK; i++) {
		const struct ck_request *q = &l.items[i];
		if (o->now - q->created <= (time_t)o->pending_max_age_days * DAY)
			continue;
		ck_time_rfc3339(q->created, when);
		rc = dr_add(f, DR_REQUEST_STALE, CK_SEV_WARNING, 0, q->key_id,
			    st_printf("request %lld", (long long)q->id),
			    st_printf("pending request %lld for %s has waited since %s (more than "
				      "%d days)", (long long)q->id,
				      q->nidentifiers ? q->identifiers[0] : "?", when,
				      o->pending_max_age_days),
			    st_printf("certkeep import ISSUED-CERT when the CA answers (it links "
				      "and closes the request)"),
			    err);
	}
	ck_request_list_cleanup(&l);
	return rc;
}

static enum ck_code
binding_dangling(struct ck_findings *f, const char *name, char *what, struct ck_err *err)
{
	return dr_add(f, DR_BINDING_DANGLING, CK_SEV_ERROR, 0, 0, st_printf("binding %s", name),
		      what,
		      st_printf("point binding %s at a stored certificate, or import the "
				"certificate it names (certkeep import FILE)", name),
		      err);
}

/* One binding row: what it names exists (st_row_visit). */
static enum ck_code
check_one_binding(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	struct ck_findings *f = arg;
	char name[CK_STORE_NAME_MAX + 1], lin[CK_STORE_NAME_MAX + 1], pin[65], last[65];

	(void)st;
	st_col_copy(s, 0, name, sizeof(name));
	st_col_copy(s, 1, lin, sizeof(lin));
	st_col_copy(s, 2, pin, sizeof(pin));
	st_col_copy(s, 3, last, sizeof(last));
	if (pin[0] && !st_col_int(s, 6))
		return binding_dangling(f, name, st_printf("binding %s is pinned to certificate "
							   "%.16s, which the store does not "
							   "have", name, pin), err);
	if (lin[0] && !st_col_int(s, 4))
		return binding_dangling(f, name, st_printf("binding %s follows lineage %s, "
							   "which does not exist", name, lin),
					err);
	if (lin[0] && !st_col_int(s, 5))
		return binding_dangling(f, name, st_printf("binding %s follows lineage %s, "
							   "which has no certificate", name,
							   lin), err);
	if (last[0] && !st_col_int(s, 7))
		return binding_dangling(f, name, st_printf("binding %s last deployed "
							   "certificate %.16s, which the store "
							   "no longer has", name, last), err);
	return CK_OK;
}

enum ck_code
dr_check_bindings(struct ck_store *st, struct ck_findings *f, struct ck_err *err)
{
	return st_each_row(st, err, check_one_binding, f,
			   "SELECT b.name, b.lineage, b.pinned_sha256, b.last_sha256, "
			   "EXISTS(SELECT 1 FROM lineages l WHERE l.name = b.lineage), "
			   "EXISTS(SELECT 1 FROM lineages l JOIN certificates c ON "
			   "c.id = l.current_cert_id WHERE l.name = b.lineage), "
			   "EXISTS(SELECT 1 FROM certificates c WHERE c.sha256 = b.pinned_sha256), "
			   "EXISTS(SELECT 1 FROM certificates c WHERE c.sha256 = b.last_sha256) "
			   "FROM bindings b ORDER BY b.name", "");
}

/* One lineage whose current certificate is gone (st_row_visit). */
static enum ck_code
check_one_lineage(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	struct ck_findings *f = arg;
	char name[CK_STORE_NAME_MAX + 1];

	(void)st;
	st_col_copy(s, 0, name, sizeof(name));
	return dr_add(f, DR_LINEAGE_DANGLING, CK_SEV_ERROR, 0, 0, st_printf("lineage %s", name),
		      st_printf("lineage %s points at certificate %lld, which is not in the "
				"store", name, (long long)st_col_int64(s, 1)),
		      st_printf("issue or import a certificate for %s", name), err);
}

enum ck_code
dr_check_lineages(struct ck_store *st, struct ck_findings *f, struct ck_err *err)
{
	return st_each_row(st, err, check_one_lineage, f,
			   "SELECT l.name, l.current_cert_id FROM lineages l WHERE "
			   "l.current_cert_id IS NOT NULL AND NOT EXISTS(SELECT 1 FROM "
			   "certificates c WHERE c.id = l.current_cert_id) ORDER BY l.name", "");
}

/* One account row: its keys are in the store, no rollover left open (st_row_visit). */
static enum ck_code
check_one_account(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	struct ck_findings *f = arg;
	char name[CK_STORE_NAME_MAX + 1], server[256];

	(void)st;
	st_col_copy(s, 1, name, sizeof(name));
	st_col_copy(s, 2, server, sizeof(server));
	if (!st_col_int(s, 4) || !st_col_int(s, 5))
		return dr_add(f, DR_ACCOUNT_KEY_MISSING, CK_SEV_ERROR, 0, 0,
			      st_printf("account %s", name),
			      st_printf("account %s (%s) names a %skey that is not in the store",
					name, server, st_col_int(s, 4) ? "pending " : ""),
			      st_printf("certkeep account recover --server %s --key-file KEYFILE",
					server),
			      err);
	if (st_col_int(s, 3))
		return dr_add(f, DR_ROLLOVER_PENDING, CK_SEV_WARNING, 0, 0,
			      st_printf("account %s", name),
			      st_printf("account %s (%s) has an unfinished key rollover", name,
					server),
			      st_printf("certkeep account show --server %s (asks the server "
					"which key it accepts and settles it)", server),
			      err);
	return CK_OK;
}

enum ck_code
dr_check_accounts(struct ck_store *st, struct ck_findings *f, struct ck_err *err)
{
	return st_each_row(st, err, check_one_account, f,
			   "SELECT a.id, a.name, a.server, a.pending_key_id IS NOT NULL, "
			   "EXISTS(SELECT 1 FROM keys k WHERE k.id = a.key_id), "
			   "a.pending_key_id IS NULL OR "
			   "EXISTS(SELECT 1 FROM keys k WHERE k.id = a.pending_key_id) "
			   "FROM accounts a ORDER BY a.id", "");
}

/* Open orders older than CK_STORE_ORDER_STALE_S: interrupted and never
 * resumed.  Their keys are not orphans (ST_KEY_USED_SQL counts open orders). */
enum ck_code
dr_check_orders(struct ck_store *st, const struct ck_doctor_opts *o, struct ck_findings *f,
		struct ck_err *err)
{
	struct ck_order_list l = { NULL, 0 };
	char when[21];
	enum ck_code rc;
	size_t i;

	if ((rc = ck_store_order_list_open(st, &l, err)) != CK_OK)
		return rc;
	for (i = 0; i < l.n && rc == CK_OK; i++) {
		const struct ck_order *q = &l.items[i];

		if (o->now - q->created <= CK_STORE_ORDER_STALE_S)
			continue;
		ck_time_rfc3339(q->created, when);
		rc = dr_add(f, DR_ORDER_STALE, CK_SEV_WARNING, 0, q->key_id,
			    st_printf("order %lld", (long long)q->id),
			    st_printf("order %lld for lineage %s (%s%s) has been open since %s, "
				      "last %s at %s", (long long)q->id, q->lineage,
				      q->nidentifiers ? q->identifiers[0] : "?",
				      q->nidentifiers > 1 ? " and others" : "", when, q->status,
				      q->url ? q->url : "an unknown URL"),
			    st_printf("certkeep issue --name %s with the same names resumes it (or "
				      "closes it if the CA has given it up)", q->lineage),
			    err);
	}
	ck_order_list_cleanup(&l);
	return rc;
}

/* One binding whose certificate is revoked (st_row_visit). */
static enum ck_code
check_one_revoked(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	struct ck_findings *f = arg;
	char name[CK_STORE_NAME_MAX + 1], sha[65], reason[32], when[21];

	(void)st;
	st_col_copy(s, 0, name, sizeof(name));
	st_col_copy(s, 2, sha, sizeof(sha));
	st_col_copy(s, 4, reason, sizeof(reason));
	ck_time_rfc3339((time_t)st_col_int64(s, 3), when);
	return dr_add(f, DR_BINDING_REVOKED, CK_SEV_ERROR, st_col_int64(s, 1), 0,
		      st_printf("binding %s", name),
		      st_printf("binding %s deploys certificate %.16s, revoked at %s (reason %s)",
				name, sha, when, reason[0] ? reason : "not known"),
		      st_printf("issue a new certificate (certkeep issue) and deploy it, or point "
				"binding %s at one that is not revoked", name),
		      err);
}

/* Bindings whose certificate (pinned, or the current one of the lineage
 * they follow) is recorded as revoked. */
enum ck_code
dr_check_revoked(struct ck_store *st, struct ck_findings *f, struct ck_err *err)
{
	return st_each_row(st, err, check_one_revoked, f,
			   "SELECT b.name, c.id, c.sha256, c.revoked_at, c.revoke_reason "
			   "FROM bindings b JOIN certificates c ON "
			   "(b.pinned_sha256 IS NOT NULL AND c.sha256 = b.pinned_sha256) OR "
			   "(b.lineage IS NOT NULL AND c.id = (SELECT l.current_cert_id FROM "
			   "lineages l WHERE l.name = b.lineage)) "
			   "WHERE c.revoked_at IS NOT NULL ORDER BY b.name", "");
}
