/*
 * http.c - the default transport on libcurl, and struct acme_http_response.
 * Owns TLS policy (always verified, https only, no redirects), timeouts,
 * the body and header bounds, and connection reuse (an easy handle kept by
 * a client, or borrowed from a batch's share for each request).  Never
 * interprets ACME: status codes are the caller's business.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "acme/acme_int.h"

struct acme_curl {
	CURL *h;
	const struct ck_ctx *ctx;      /* its cancel flag aborts a transfer; may be NULL */
	char *ca_bundle;
	unsigned connect_s;
	unsigned total_s;
};

/* What the body callback collects during one exchange. */
struct curl_sink {
	struct ck_buf body;
	int too_large;
};

/* ---- responses ---------------------------------------------------------- */

enum ck_code
acme_http_response_add_header(struct acme_http_response *r, const char *name, const char *value,
			      struct ck_err *err)
{
	struct acme_http_header *nh;
	char *n, *v;

	if (r->nheaders >= ACME_HEADERS_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "the server sent more than %d headers",
			       ACME_HEADERS_MAX);
	n = strdup(name);
	v = strdup(value);
	nh = realloc(r->headers, (r->nheaders + 1) * sizeof(*nh));
	if (n == NULL || v == NULL || nh == NULL) {
		free(n);
		free(v);
		if (nh != NULL)
			r->headers = nh;
		return CK_OOM(err);
	}
	r->headers = nh;
	nh[r->nheaders].name = n;
	nh[r->nheaders].value = v;
	r->nheaders++;
	return CK_OK;
}

enum ck_code
acme_http_response_set_body(struct acme_http_response *r, const char *body, size_t n,
			    struct ck_err *err)
{
	char *copy;

	if (n > ACME_BODY_MAX)
		return CK_FAIL(err, CK_ERR_TOO_LARGE,
			       "the server sent a body over %d bytes; refusing it", ACME_BODY_MAX);
	copy = malloc(n + 1);
	if (copy == NULL)
		return CK_OOM(err);
	if (n > 0)
		memcpy(copy, body, n);
	copy[n] = '\0';
	free(r->body);
	r->body = copy;
	r->body_len = n;
	return CK_OK;
}

const char *
acme_http_response_header(const struct acme_http_response *r, const char *name)
{
	size_t i;

	for (i = 0; r != NULL && i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

void
acme_http_response_cleanup(struct acme_http_response *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* ---- libcurl ------------------------------------------------------------ */

enum ck_code
acme_ca_bundle_check(const char *ca_bundle, struct ck_err *err)
{
	int e;

	if (ca_bundle == NULL || access(ca_bundle, R_OK) == 0)
		return CK_OK;
	e = errno;
	return CK_FAIL(err, CK_ERR_IO, "cannot read the CA bundle %s: %s", ca_bundle, strerror(e));
}

enum ck_code
acme_curl_new(const char *ca_bundle, struct acme_curl **out, struct ck_err *err)
{
	struct acme_curl *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return CK_OOM(err);
	t->connect_s = ACME_CONNECT_TIMEOUT_S;
	t->total_s = ACME_TOTAL_TIMEOUT_S;
	if (acme_ca_bundle_check(ca_bundle, err) != CK_OK) {
		free(t);
		return CK_ERR_IO;
	}
	if (ca_bundle != NULL && (t->ca_bundle = strdup(ca_bundle)) == NULL) {
		free(t);
		return CK_OOM(err);
	}
	t->h = curl_easy_init();
	if (t->h == NULL) {
		acme_curl_free(t);
		return CK_FAIL(err, CK_ERR_INTERNAL, "libcurl could not create a handle");
	}
	*out = t;
	return CK_OK;
}

void
acme_curl_free(struct acme_curl *t)
{
	if (t == NULL)
		return;
	if (t->h != NULL)
		curl_easy_cleanup(t->h);
	free(t->ca_bundle);
	free(t);
}

void
acme_curl_set_timeouts(struct acme_curl *t, unsigned connect_s, unsigned total_s)
{
	if (connect_s > 0)
		t->connect_s = connect_s;
	if (total_s > 0)
		t->total_s = total_s;
}

void
acme_curl_set_ctx(struct acme_curl *t, const struct ck_ctx *ctx)
{
	t->ctx = ctx;
}

/* libcurl asks this during a transfer (about once a second, and on every
 * progress): non-zero aborts it with CURLE_ABORTED_BY_CALLBACK. */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
	    curl_off_t ulnow)
{
	const struct acme_curl *t = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return ck_ctx_cancelled(t->ctx);
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct curl_sink *s = arg;
	size_t n = size * nmemb;

	if (ck_buf_append(&s->body, data, n, NULL) != CK_OK) {
		s->too_large = 1;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	return n;
}

/*
 * The response headers the ACME layer reads, copied from libcurl's own
 * header store (curl_easy_header, libcurl >= 7.84) into resp: the final
 * response's only (CURLH_HEADER of request -1 leaves out 1xx interim
 * answers and trailers), every instance of each in order (Link comes once
 * per alternate chain), values already trimmed by libcurl.  A value over
 * ACME_HEADER_VALUE_MAX, or more than ACME_HEADERS_MAX of them, is refused
 * whole (CK_ERR_TOO_LARGE), never truncated.
 */
static enum ck_code
curl_headers(CURL *h, struct acme_http_response *resp, struct ck_err *err)
{
	static const char *const wanted[] = { "Replay-Nonce", "Location", "Retry-After",
					      "Content-Type", "Link" };
	struct curl_header *hd;
	enum ck_code rc;
	CURLHcode hc;
	size_t k, i, amount;

	for (k = 0; k < CK_ARRAY_LEN(wanted); k++) {
		amount = 1;
		for (i = 0; i < amount; i++) {
			hc = curl_easy_header(h, wanted[k], i, CURLH_HEADER, -1, &hd);
			if (hc == CURLHE_MISSING || hc == CURLHE_NOHEADERS)
				break;
			if (hc == CURLHE_OUT_OF_MEMORY)
				return CK_OOM(err);
			if (hc != CURLHE_OK)
				return CK_FAIL(err, CK_ERR_INTERNAL, "libcurl could not return the "
					       "%s header (CURLHcode %d)", wanted[k], (int)hc);
			amount = hd->amount;
			if (strlen(hd->value) > ACME_HEADER_VALUE_MAX)
				return CK_FAIL(err, CK_ERR_TOO_LARGE, "the server sent a %s header "
					       "over %d bytes", wanted[k], ACME_HEADER_VALUE_MAX);
			if ((rc = acme_http_response_add_header(resp, wanted[k], hd->value, err)) !=
			    CK_OK)
				return rc;
		}
	}
	return CK_OK;
}

static enum ck_code
curl_fail(CURLcode cc, const struct curl_sink *s, const char *url, const char *errbuf,
	  struct ck_err *err)
{
	char safe[160];
	const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc);
	enum ck_code code = CK_ERR_NETWORK;

	ck_str_printable(safe, sizeof(safe), url);
	if (s->too_large)
		return CK_FAIL(err, CK_ERR_TOO_LARGE,
			       "%s sent a body over %d bytes; refusing it", safe, ACME_BODY_MAX);
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		code = CK_ERR_TIMEOUT;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
		code = CK_ERR_TLS;
		break;
	case CURLE_FILESIZE_EXCEEDED:
		code = CK_ERR_TOO_LARGE;
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		return CK_FAIL(err, CK_ERR_CANCELLED, "request to %s: stopped on request (interrupt "
			       "or terminate signal)", safe);
	default:
		break;
	}
	if (code == CK_ERR_TLS)
		return CK_FAIL(err, code, "TLS with %s failed: %s (check --ca-bundle)", safe, why);
	return CK_FAIL(err, code, "request to %s failed: %s", safe, why);
}

static enum ck_code
curl_setup(struct acme_curl *t, const struct acme_http_request *req, struct curl_sink *s,
	   struct curl_slist **hdrs, char *errbuf, struct ck_err *err)
{
	CURL *h = t->h;
	char line[256];

	curl_easy_reset(h); /* keeps live connections and TLS sessions */
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	/* HTTP/1.1, never HTTP/2: a client sends one request at a time on its
	 * handle, so HTTP/2's multiplexing buys nothing, and its framing costs
	 * CPU and syscalls (nghttp2, SETTINGS/WINDOW_UPDATE/PING frames to read
	 * and answer).  Against Pebble, 200 renewals at concurrency 8, 4
	 * alternating runs: CPU 1.93 -> 1.76 s; per renewal 48 -> 21 poll,
	 * 56 -> 25 recvfrom, 14 -> 7 sendto (strace -c).  RFC 8555 does not
	 * care; certbot speaks HTTP/1.1 too. */
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (t->ca_bundle != NULL) {
		/* Instead of the system store, not in addition to it (Debian's
		 * libcurl also has a default CA path). */
		curl_easy_setopt(h, CURLOPT_CAINFO, t->ca_bundle);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)t->connect_s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)t->total_s);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, ACME_USER_AGENT);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)ACME_BODY_MAX);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	if (t->ctx != NULL && t->ctx->cancel != NULL) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);
	}
	if (req->method == ACME_METHOD_HEAD)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (req->method == ACME_METHOD_POST) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		snprintf(line, sizeof(line), "Content-Type: %s",
			 req->content_type != NULL ? req->content_type : ACME_CT_JOSE);
		if ((*hdrs = curl_slist_append(*hdrs, line)) == NULL)
			return CK_OOM(err);
		if ((*hdrs = curl_slist_append(*hdrs, "Expect:")) == NULL)
			return CK_OOM(err);
	}
	if (req->accept != NULL) {
		snprintf(line, sizeof(line), "Accept: %s", req->accept);
		if ((*hdrs = curl_slist_append(*hdrs, line)) == NULL)
			return CK_OOM(err);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	return CK_OK;
}

enum ck_code
acme_curl_request(void *arg, const struct acme_http_request *req, struct acme_http_response *out,
		  struct ck_err *err)
{
	struct acme_curl *t = arg;
	struct acme_http_response resp = { 0 };
	struct curl_sink s = { .too_large = 0 };
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	enum ck_code rc;
	CURLcode cc;
	long status = 0;
	size_t len;

	ck_buf_init(&s.body, ACME_BODY_MAX);
	if ((rc = curl_setup(t, req, &s, &hdrs, errbuf, err)) != CK_OK)
		goto out;
	cc = curl_easy_perform(t->h);
	if (cc != CURLE_OK) {
		rc = curl_fail(cc, &s, req->url, errbuf, err);
		goto out;
	}
	if ((rc = curl_headers(t->h, &resp, err)) != CK_OK)
		goto out;
	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
	resp.status = status;
	resp.body = (char *)ck_buf_take(&s.body, &len);
	resp.body_len = len;
	*out = resp;
	memset(&resp, 0, sizeof(resp));
	rc = CK_OK;
out:
	curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	ck_buf_cleanup(&s.body);
	acme_http_response_cleanup(&resp);
	return rc;
}
