/*
 * ref.c - references (REF): the pure parser (fuzzed, no database) and the
 * resolution rules (lineage name first, then full SHA-256, SHA-1, SHA-256
 * prefix of at least CK_REF_PREFIX_MIN digits; ambiguity is an error that
 * lists the candidates).
 *
 * Must never: guess between candidates, accept a prefix shorter than
 * CK_REF_PREFIX_MIN, echo unprintable input into a message.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#define REF_CANDIDATES_SHOWN 10

int
ck_store_name_valid(const char *s)
{
	return ck_str_is_name(s, CK_STORE_NAME_MAX);
}

static int
hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c;
	if (c >= 'a' && c <= 'f')
		return c;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 'a';
	return -1;
}

/* U+200E LEFT-TO-RIGHT MARK (E2 80 8E) and U+200F, which the Windows
 * certificate dialog puts in front of a copied thumbprint. */
static size_t
invisible_mark(const char *p)
{
	if ((unsigned char)p[0] == 0xe2 && (unsigned char)p[1] == 0x80 &&
	    ((unsigned char)p[2] == 0x8e || (unsigned char)p[2] == 0x8f))
		return 3;
	return 0;
}

/*
 * Collects hex digits, skipping spaces, colons and invisible marks.
 * Returns 1 if text is hex-with-separators only (and sets *seps when
 * separators were seen), 0 otherwise.
 */
static int
collect_hex(const char *text, char hex[65], size_t *hex_len, int *seps)
{
	const char *p = text;
	size_t n = 0, skip;
	int v;

	*seps = 0;
	while (*p != '\0') {
		if ((skip = invisible_mark(p)) > 0) {
			p += skip;
			continue;
		}
		if (*p == ' ' || *p == ':' || *p == '\t') {
			*seps = 1;
			p++;
			continue;
		}
		if ((v = hex_val(*p)) < 0 || n >= 64)
			return 0;
		hex[n++] = (char)v;
		p++;
	}
	hex[n] = '\0';
	*hex_len = n;
	return n > 0;
}

enum ck_code
ck_ref_parse(const char *text, struct ck_ref *out, struct ck_err *err)
{
	struct ck_ref r;
	char shown[64];
	size_t len;
	int seps = 0, is_hex;

	if (text == NULL || text[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "empty REF: give a lineage name or a certificate thumbprint");
	len = strnlen(text, CK_REF_MAX + 1);
	if (len > CK_REF_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "REF is longer than %d characters: give a lineage name or a "
			       "certificate thumbprint", CK_REF_MAX);
	memset(&r, 0, sizeof(r));
	if (ck_store_name_valid(text))
		memcpy(r.name, text, len + 1);
	is_hex = collect_hex(text, r.hex, &r.hex_len, &seps);
	if (!is_hex) {
		r.hex[0] = '\0';
		r.hex_len = 0;
	} else if (seps && r.hex_len != 40 && r.hex_len != 64) {
		ck_str_printable(shown, sizeof(shown), text);
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "REF '%s' has %zu hex digits: a thumbprint written with spaces or "
			       "colons must be complete (40 for SHA-1, 64 for SHA-256)",
			       shown, r.hex_len);
	}
	if (r.hex_len == 64)
		r.sha256_full = 1;
	if (r.hex_len == 40)
		r.sha1 = 1;
	if (!seps && r.hex_len >= CK_REF_PREFIX_MIN && r.hex_len < 64)
		r.sha256_prefix = 1;
	if (r.name[0] == '\0' && !r.sha256_full && !r.sha1 && !r.sha256_prefix) {
		ck_str_printable(shown, sizeof(shown), text);
		return CK_FAIL(err, CK_ERR_INVALID_ARG,
			       "REF '%s' is neither a lineage name nor a thumbprint (SHA-256: 64 "
			       "hex digits or a prefix of at least %d; SHA-1: 40 hex digits, "
			       "spaces and colons allowed)",
			       shown, CK_REF_PREFIX_MIN);
	}
	*out = r;
	return CK_OK;
}

void
st_ref_candidates_msg(char *msg, size_t n, const char *ref, const char *const *sha256,
		      const char *const *lineage, size_t count, int more)
{
	size_t i, used;
	int w;

	w = snprintf(msg, n, "REF '%s' matches several certificates; give more digits:", ref);
	used = w < 0 ? 0 : (size_t)w;
	for (i = 0; i < count && used < n; i++) {
		w = snprintf(msg + used, n - used, " %.16s (%s)%s", sha256[i],
			     lineage[i] ? lineage[i] : "no lineage", i + 1 < count ? "," : "");
		used += w < 0 ? 0 : (size_t)w;
	}
	if (more && used < n)
		snprintf(msg + used, n - used, ", and more");
}

/* Lineage's current certificate; *found = 0 if no lineage has that name. */
static enum ck_code
resolve_name(struct ck_store *st, const char *name, int64_t *cert_id, int *found,
	     struct ck_err *err)
{
	struct st_stmt *s = NULL;
	enum ck_code rc;
	int r;

	*found = 0;
	if ((rc = st_prepare_bind(st, err, &s,
				  "SELECT current_cert_id FROM lineages WHERE name = ?", "t",
				  name)) != CK_OK)
		return rc;
	r = st_step(st, s, err);
	if (r < 0) {
		rc = err ? err->code : CK_ERR_STORE;
	} else if (r == 1) {
		*found = 1;
		if (st_col_is_null(s, 0))
			rc = CK_FAIL(err, CK_ERR_NOT_FOUND,
				     "lineage '%s' has no certificate yet: issue or import one "
				     "first", name);
		else
			*cert_id = st_col_int64(s, 0);
	}
	st_finalize(s);
	return rc;
}

static enum ck_code
resolve_prefix(struct ck_store *st, const char *ref_shown, const struct ck_ref *ref,
	       int64_t *cert_id, int *found, struct ck_err *err)
{
	const char *sha[REF_CANDIDATES_SHOWN], *lin[REF_CANDIDATES_SHOWN];
	char shabuf[REF_CANDIDATES_SHOWN][65], linbuf[REF_CANDIDATES_SHOWN][CK_STORE_NAME_MAX + 1];
	char msg[CK_ERR_MSG_MAX], upper[65];
	struct st_stmt *s = NULL;
	size_t cnt = 0;
	int64_t first = 0;
	enum ck_code rc;
	int r, more = 0;

	*found = 0;
	/* Every text with the prefix sorts in [prefix, prefix with its last
	 * digit one higher): a range the sha256 index answers, not a scan. */
	memcpy(upper, ref->hex, ref->hex_len + 1);
	upper[ref->hex_len - 1]++;
	if ((rc = st_prepare_bind(st, err, &s,
				  "SELECT c.id, c.sha256, l.name FROM certificates c "
				  "LEFT JOIN lineages l ON l.id = c.lineage_id "
				  "WHERE c.sha256 >= ? AND c.sha256 < ? AND substr(c.sha256, 1, ?) = ? "
				  "ORDER BY c.sha256 LIMIT ?",
				  "ttiti", ref->hex, upper, (int64_t)ref->hex_len, ref->hex,
				  (int64_t)REF_CANDIDATES_SHOWN + 1)) != CK_OK)
		return rc;
	while ((r = st_step(st, s, err)) == 1) {
		if (cnt == REF_CANDIDATES_SHOWN) {
			more = 1;
			break;
		}
		if (cnt == 0)
			first = st_col_int64(s, 0);
		st_col_copy(s, 1, shabuf[cnt], sizeof(shabuf[cnt]));
		st_col_copy(s, 2, linbuf[cnt], sizeof(linbuf[cnt]));
		sha[cnt] = shabuf[cnt];
		lin[cnt] = linbuf[cnt][0] ? linbuf[cnt] : NULL;
		cnt++;
	}
	st_finalize(s);
	if (r < 0)
		return err ? err->code : CK_ERR_STORE;
	if (cnt == 1) {
		*found = 1;
		*cert_id = first;
		return CK_OK;
	}
	if (cnt > 1) {
		st_ref_candidates_msg(msg, sizeof(msg), ref_shown, sha, lin, cnt, more);
		return CK_FAIL(err, CK_ERR_AMBIGUOUS, "%s", msg);
	}
	return CK_OK;
}

enum ck_code
ck_store_ref_resolve(struct ck_store *st, const char *text, int64_t *cert_id,
		     struct ck_err *err)
{
	struct ck_ref r;
	char shown[80];
	int64_t id = 0;
	enum ck_code rc;
	int found = 0;

	if ((rc = ck_ref_parse(text, &r, err)) != CK_OK)
		return rc;
	ck_str_printable(shown, sizeof(shown), text);
	if (r.name[0] != '\0') {
		if ((rc = resolve_name(st, r.name, &id, &found, err)) != CK_OK)
			return rc;
		if (found)
			goto done;
	}
	if (r.sha256_full) {
		rc = st_query_int(st, err, &id, "SELECT id FROM certificates WHERE sha256 = ?", "t",
				  r.hex);
		if (rc == CK_OK)
			goto done;
		if (rc != CK_ERR_NOT_FOUND)
			return rc;
	}
	if (r.sha1) {
		rc = st_query_int(st, err, &id, "SELECT id FROM certificates WHERE sha1 = ?", "t",
				  r.hex);
		if (rc == CK_OK)
			goto done;
		if (rc != CK_ERR_NOT_FOUND)
			return rc;
	}
	if (r.sha256_prefix) {
		if ((rc = resolve_prefix(st, shown, &r, &id, &found, err)) != CK_OK)
			return rc;
		if (found)
			goto done;
	}
	if (r.hex_len > 0 && r.hex_len < CK_REF_PREFIX_MIN)
		return CK_FAIL(err, CK_ERR_NOT_FOUND,
			       "no lineage is named '%s' (a thumbprint prefix needs at least %d "
			       "hex digits); 'certkeep list' shows what the store holds",
			       shown, CK_REF_PREFIX_MIN);
	return CK_FAIL(err, CK_ERR_NOT_FOUND,
		       "no certificate matches '%s' (tried %s%s); 'certkeep list' shows what "
		       "the store holds",
		       shown, r.name[0] ? "lineage name" : "",
		       r.hex_len ? (r.name[0] ? ", thumbprints" : "thumbprints") : "");
done:
	*cert_id = id;
	return CK_OK;
}
