/*
 * ari.c - ACME Renewal Information (RFC 9773): the certificate ID
 * (base64url(AKI keyIdentifier) "." base64url(serial DER content)) and
 * the GET of renewalInfo/<ID> with its suggestedWindow, explanationURL
 * and Retry-After.  Owns nothing the caller keeps; never chooses the
 * moment to renew (the scheduler does) and never sleeps.
 */
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"
#include "crypto/crypto.h"

void
acme_ari_cleanup(struct acme_ari *a)
{
	if (a == NULL)
		return;
	free(a->explanation_url);
	memset(a, 0, sizeof(*a));
}

/* "<b64url(a)>.<b64url(b)>" into a new string. */
static enum ck_code
ari_join(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen, char **out,
	 struct ck_err *err)
{
	char *ea = NULL, *eb = NULL, *s = NULL;
	enum ck_code rc;

	if ((rc = ck_b64url_encode(a, alen, &ea, err)) != CK_OK ||
	    (rc = ck_b64url_encode(b, blen, &eb, err)) != CK_OK)
		goto out;
	if ((s = malloc(strlen(ea) + strlen(eb) + 2)) == NULL) {
		rc = CK_OOM(err);
		goto out;
	}
	sprintf(s, "%s.%s", ea, eb);
	*out = s;
out:
	free(ea);
	free(eb);
	return rc;
}

/* The ID's parts come from an ASN.1 read that leaves the certificate's
 * names and public key undecoded (ck_cert_aki_serial): the plan asks this
 * of every due lineage, and d2i_X509 costs a decoder chain in OpenSSL 3.0. */
enum ck_code
acme_ari_cert_id(const unsigned char *der, size_t len, char **out, struct ck_err *err)
{
	unsigned char *kid = NULL, *serial = NULL;
	size_t kid_len = 0, serial_len = 0;
	enum ck_code rc;

	if ((rc = ck_cert_aki_serial(der, len, &kid, &kid_len, &serial, &serial_len, err)) ==
	    CK_OK)
		rc = ari_join(kid, kid_len, serial, serial_len, out, err);
	free(kid);
	free(serial);
	return rc;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; no libc time zone). */
static long long
ari_days(int y, int m, int d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	long long yoe = y - era * 400;
	long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* Reads exactly n digits at *s into *v. */
static int
ari_digits(const char **s, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return 0;
		*v = *v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	return 1;
}

int
acme_rfc3339_parse(const char *text, time_t *out)
{
	const char *s = text;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	long long t;

	if (s == NULL || !ari_digits(&s, 4, &y) || *s++ != '-' || !ari_digits(&s, 2, &mo) ||
	    *s++ != '-' || !ari_digits(&s, 2, &d) || (*s != 'T' && *s != 't') ||
	    (s++, !ari_digits(&s, 2, &h)) || *s++ != ':' || !ari_digits(&s, 2, &mi) ||
	    *s++ != ':' || !ari_digits(&s, 2, &sec))
		return 0;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '-' ? -1 : 1;
		if (!ari_digits(&s, 2, &oh) || *s++ != ':' || !ari_digits(&s, 2, &om) || oh > 23 ||
		    om > 59)
			return 0;
	} else {
		return 0;
	}
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return 0;
	t = ari_days(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + sec;
	t -= sign * (oh * 3600LL + om * 60LL);
	*out = (time_t)t;
	return 1;
}

enum ck_code
acme_ari_parse(const char *body, size_t len, struct acme_ari *out, struct ck_err *err)
{
	struct acme_ari a = { 0 };
	json_t *j = NULL, *w;
	char *start = NULL, *end = NULL;
	enum ck_code rc;

	if ((rc = acme_json_load(body, len, &j, err)) != CK_OK)
		goto out;
	w = json_object_get(j, "suggestedWindow");
	if (!json_is_object(w)) {
		rc = CK_FAIL(err, CK_ERR_PARSE, "renewalInfo has no \"suggestedWindow\" object");
		goto out;
	}
	if ((rc = acme_json_str(w, "start", ACME_FIELD_MAX, 1, &start, err)) != CK_OK ||
	    (rc = acme_json_str(w, "end", ACME_FIELD_MAX, 1, &end, err)) != CK_OK ||
	    (rc = acme_json_url(j, "explanationURL", 0, &a.explanation_url, err)) != CK_OK)
		goto out;
	if (!acme_rfc3339_parse(start, &a.start) || !acme_rfc3339_parse(end, &a.end) ||
	    a.end < a.start) {
		rc = CK_FAIL(err, CK_ERR_PARSE,
			     "renewalInfo's suggestedWindow is not two RFC 3339 times, start first");
		goto out;
	}
	a.retry_after = -1;
	*out = a;
	memset(&a, 0, sizeof(a));
out:
	free(start);
	free(end);
	acme_ari_cleanup(&a);
	json_decref(j);
	return rc;
}

enum ck_code
acme_ari_fetch(struct acme_client *c, const char *cert_id, struct acme_ari *out,
	       struct ck_err *err)
{
	const struct acme_directory *d;
	struct acme_http_response resp = { 0 };
	struct acme_ari a = { 0 };
	char *url = NULL;
	enum ck_code rc;

	if (cert_id == NULL || strlen(cert_id) > ACME_URL_MAX / 2 ||
	    strspn(cert_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") !=
		    strlen(cert_id))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "not an ARI certificate ID");
	if ((rc = acme_directory_get(c, &d, err)) != CK_OK)
		return rc;
	if (d->renewal_info == NULL)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED,
			       "the server does not offer renewal information (no renewalInfo)");
	if ((url = malloc(strlen(d->renewal_info) + strlen(cert_id) + 2)) == NULL)
		return CK_OOM(err);
	sprintf(url, "%s%s%s", d->renewal_info,
		d->renewal_info[strlen(d->renewal_info) - 1] == '/' ? "" : "/", cert_id);
	if ((rc = acme_get(c, url, &resp, err)) != CK_OK) {
		ck_err_prefix(err, "renewalInfo failed");
		goto out;
	}
	if ((rc = acme_ari_parse(resp.body, resp.body_len, &a, err)) != CK_OK)
		goto out;
	/* explanationURL is only shown, never fetched: acme_json_url checked it
	 * (https, printable, bounded), its origin does not matter. */
	a.retry_after = acme_response_retry_after(c, &resp);
	*out = a;
	memset(&a, 0, sizeof(a));
out:
	acme_ari_cleanup(&a);
	acme_http_response_cleanup(&resp);
	free(url);
	return rc;
}
