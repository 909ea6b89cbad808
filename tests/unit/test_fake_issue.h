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

#endif
