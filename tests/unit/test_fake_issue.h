/*
 * test_fake_issue.h - the scripted ACME server of test_acme_fake.h issuing
 * real certificates: the chain (leaf for the CSR's key, then a throw-away
 * CA) for a finalize request, and the account row the flows find in a
 * test store.  static inline so each test binary takes what it uses;
 * needs test_store_util.h and test_acme_fake.h first.
 */
#ifndef CK_TEST_FAKE_ISSUE_H
#define CK_TEST_FAKE_ISSUE_H

#include <openssl/pem.h>

/*
 * The PEM chain (malloc'd) a CA would issue for the CSR in a finalize
 * request's JWS: a leaf for "a.test" with serial, signed by (ca, ca_key),
 * then ca.
 */
static inline char *
t_fake_chain_for_finalize(X509 *ca, EVP_PKEY *ca_key, const char *jws, long serial)
{
	char *payload = fake_payload(jws);
	json_t *j = payload != NULL ? json_loads(payload, 0, NULL) : NULL;
	const char *csr64 = json_string_value(json_object_get(j, "csr"));
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_REQ *req;
	EVP_PKEY *pub;
	X509 *leaf;
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *pem;
	long n;

	assert_non_null(csr64);
	assert_int_equal(ck_b64url_decode(csr64, strlen(csr64), &der, &len, NULL), CK_OK);
	p = der;
	assert_non_null(req = d2i_X509_REQ(NULL, &p, (long)len));
	assert_non_null(pub = X509_REQ_get_pubkey(req));
	leaf = t_x509(pub, ca, ca_key, "a.test", 0, "DNS:a.test", serial, 1690000000, 2000000000);
	assert_int_equal(PEM_write_bio_X509(b, leaf), 1);
	assert_int_equal(PEM_write_bio_X509(b, ca), 1);
	n = BIO_get_mem_data(b, &data);
	pem = strndup(data, (size_t)n);
	BIO_free(b);
	X509_free(leaf);
	EVP_PKEY_free(pub);
	X509_REQ_free(req);
	free(der);
	json_decref(j);
	free(payload);
	return pem;
}

/*
 * Stores a new account key and the account "default" of FAKE_DIR at
 * FAKE_BASE/acct/1, valid, and tells the fake its key's thumbprint (for
 * onlyReturnExisting).  Returns the account's row id.
 */
static inline int64_t
t_fake_account(struct ck_store *st, struct fake *f)
{
	struct ck_account in = { 0 };
	EVP_PKEY *acct_key = t_key(CK_KEY_EC256);
	int64_t key_id = 0, id = 0;
	char *tp = NULL;

	assert_int_equal(ck_store_key_put(st, acct_key, &key_id, NULL, NULL), CK_OK);
	in.name = "default";
	in.server = FAKE_DIR;
	in.url = FAKE_BASE "/acct/1";
	in.key_id = key_id;
	in.status = "valid";
	assert_int_equal(ck_store_account_put(st, &in, &id, NULL), CK_OK);
	assert_int_equal(ck_key_thumbprint(acct_key, &tp, NULL), CK_OK);
	snprintf(f->acct_tp, sizeof(f->acct_tp), "%s", tp);
	free(tp);
	EVP_PKEY_free(acct_key);
	return id;
}

/*
 * A run of the flows against the fake, issuing for real: a store in a new
 * temporary directory, a context whose clock is the fake's and whose ACME
 * transport (ctx.acme_transport, the seam under test) is the fake, a
 * throw-away CA, and the account "default" (t_fake_account).  A test's own
 * env embeds it and hands its hook and hook_arg to t_fake_issue_open.
 */
struct t_fake_issue {
	char dir[64];
	struct fake_clock clk;
	struct ck_ctx ctx;
	struct acme_http_ops ops;
	struct fake f;
	struct ck_store *st;
	EVP_PKEY *ca_key;
	X509 *ca;
	char *chain_pem;         /* what the certificate URL serves once finalize was received */
	int64_t acct_id;
};

/* Opens w (a temporary directory /tmp/<prefix>-XXXXXX); fails the test if it cannot. */
static inline void
t_fake_issue_open(struct t_fake_issue *w, const char *prefix, fake_hook hook, void *hook_arg)
{
	char path[128];

	memset(w, 0, sizeof(*w));
	snprintf(w->dir, sizeof(w->dir), "/tmp/%s-XXXXXX", prefix);
	assert_non_null(mkdtemp(w->dir));
	snprintf(path, sizeof(path), "%s/store.db", w->dir);
	fake_ctx_init(&w->ctx, &w->clk);
	fake_reset(&w->f);
	w->f.hook = hook;
	w->f.hook_arg = hook_arg;
	w->ops.request = fake_request;
	w->ops.arg = &w->f;
	w->ctx.acme_transport = &w->ops;
	assert_int_equal(ck_store_open(path, &w->ctx, &w->st, NULL), CK_OK);
	w->ca_key = t_key(CK_KEY_EC256);
	w->ca = t_x509(w->ca_key, NULL, NULL, "fake CA", 1, NULL, 1, 1690000000, 2000000000);
	w->acct_id = t_fake_account(w->st, &w->f);
}

/* Closes the store, frees everything, removes the directory. */
static inline void
t_fake_issue_close(struct t_fake_issue *w)
{
	ck_store_close(w->st);
	fake_reset(&w->f);
	EVP_PKEY_free(w->ca_key);
	X509_free(w->ca);
	free(w->chain_pem);
	t_rm_rf(w->dir);
}

/* For a hook's finalize request: issues the chain (serial) the certificate URL will serve. */
static inline void
t_fake_issue_finalize(struct t_fake_issue *w, const struct acme_http_request *req, long serial)
{
	char *body = strndup(req->body, req->body_len);

	assert_non_null(body);
	free(w->chain_pem);
	w->chain_pem = t_fake_chain_for_finalize(w->ca, w->ca_key, body, serial);
	free(body);
}

#endif
