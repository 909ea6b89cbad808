/*
 * test_flow_issue.c - what `certkeep issue` decides without a server:
 * which names it accepts (a typo must fail fast, before a key is made),
 * whether a downloaded certificate is the one ordered (before anything is
 * stored), and which open order it resumes.
 */
#include "test_store_util.h"

#include "flow/issue.h"

static enum ck_code
check1(const char *name, struct ck_err *e)
{
	const char *v[1] = { name };

	ck_err_clear(e);
	return ck_issue_check_names(v, 1, e);
}

static void
test_names_accepted(void **state)
{
	struct ck_err e;
	const char *many[] = { "a.example.test", "b.example.test", "127.0.0.1", "::1",
			       "xn--bcher-kva.example", "A-1.Example.TEST" };

	(void)state;
	assert_int_equal(ck_issue_check_names(many, 6, &e), CK_OK);
	assert_int_equal(check1("localhost", &e), CK_OK);
}

static void
test_names_rejected_with_reason(void **state)
{
	struct ck_err e;
	const char *dup[] = { "www.example.test", "WWW.example.test" };
	char longlabel[80];

	(void)state;
	/* A wildcard is a valid name; only a whole first label "*" is. */
	assert_int_equal(check1("*.example.test", &e), CK_OK);
	assert_int_equal(check1("a.*.example.test", &e), CK_ERR_INVALID_ARG);
	assert_int_equal(check1("*.*.example.test", &e), CK_ERR_INVALID_ARG);
	assert_int_equal(check1("*x.example.test", &e), CK_ERR_INVALID_ARG);
	assert_int_equal(check1("bad_name.example", &e), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(e.msg, "bad_name.example"));
	assert_int_equal(check1("-lead.example", &e), CK_ERR_INVALID_ARG);
	assert_int_equal(check1("trail-.example", &e), CK_ERR_INVALID_ARG);
	assert_int_equal(check1("a..b", &e), CK_ERR_INVALID_ARG);
	assert_int_equal(check1("dot.example.", &e), CK_ERR_INVALID_ARG);
	assert_int_equal(check1("", &e), CK_ERR_INVALID_ARG);
	assert_int_equal(check1("evil\x1b[31m.example", &e), CK_ERR_INVALID_ARG);
	/* The control byte is not echoed back to the terminal. */
	assert_null(strchr(e.msg, '\x1b'));
	memset(longlabel, 'a', 64);
	strcpy(longlabel + 64, ".example");
	assert_int_equal(check1(longlabel, &e), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_issue_check_names(dup, 2, &e), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(e.msg, "twice"));
	assert_int_equal(ck_issue_check_names(dup, 0, &e), CK_ERR_INVALID_ARG);
}

/* Which challenge may prove which name: decided before any order. */
static void
test_challenge_fits_names(void **state)
{
	const char *names[] = { "example.test", "*.example.test", "127.0.0.1" };
	struct ck_challenge_override ov[2] = { { "*.EXAMPLE.test", CK_CHALLENGE_DNS01 },
					       { "127.0.0.1", CK_CHALLENGE_TLSALPN01 } };
	struct ck_challenge_settings cfg;
	struct ck_err e;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.dns_wait = -1;
	/* The default (http-01) cannot prove a wildcard: the message says how. */
	assert_int_equal(ck_issue_check_challenge(names, 2, &cfg, &e), CK_ERR_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "*.example.test"));
	assert_non_null(strstr(e.msg, "dns-01"));
	cfg.type = CK_CHALLENGE_TLSALPN01;
	assert_int_equal(ck_issue_check_challenge(names, 2, &cfg, &e), CK_ERR_UNSUPPORTED);
	/* dns-01 for the wildcard, but no way to publish the record. */
	cfg.overrides = ov;
	cfg.noverrides = 1;
	assert_int_equal(ck_issue_check_challenge(names, 2, &cfg, &e), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(e.msg, "--dns-hook"));
	cfg.dns_hook = "/usr/local/bin/dns-hook";
	assert_int_equal(ck_issue_check_challenge(names, 2, &cfg, &e), CK_OK);
	assert_int_equal(chall_type_for(&cfg, "*.example.test"), CK_CHALLENGE_DNS01);
	assert_int_equal(chall_type_for(&cfg, "example.test"), CK_CHALLENGE_TLSALPN01);
	/* An IP address never by dns-01. */
	cfg.type = CK_CHALLENGE_DNS01;
	assert_int_equal(ck_issue_check_challenge(names, 3, &cfg, &e), CK_ERR_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "127.0.0.1"));
	cfg.noverrides = 2;
	assert_int_equal(ck_issue_check_challenge(names, 3, &cfg, &e), CK_OK);
	/* An override must name a name of the certificate. */
	assert_int_equal(ck_issue_check_challenge(names, 1, &cfg, &e), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(e.msg, "names no name"));
}

static void
test_names_count_bounded(void **state)
{
	static char buf[CK_CSR_MAX_NAMES + 1][32];
	const char *v[CK_CSR_MAX_NAMES + 1];
	struct ck_err e;
	size_t i;

	(void)state;
	for (i = 0; i <= CK_CSR_MAX_NAMES; i++) {
		snprintf(buf[i], sizeof(buf[i]), "n%zu.example.test", i);
		v[i] = buf[i];
	}
	assert_int_equal(ck_issue_check_names(v, CK_CSR_MAX_NAMES, &e), CK_OK);
	assert_int_equal(ck_issue_check_names(v, CK_CSR_MAX_NAMES + 1, &e), CK_ERR_INVALID_ARG);
}

/* A chain leaf <- intermediate <- root for key, the leaf naming san. */
struct t_chain {
	EVP_PKEY *root_key, *int_key;
	X509 *root, *inter;
	struct ck_der d[3];
	struct ck_der_list l;
};

static void
t_chain_make(struct t_chain *c, EVP_PKEY *key, const char *san)
{
	time_t now = time(NULL);
	X509 *leaf;

	memset(c, 0, sizeof(*c));
	c->root_key = t_key(CK_KEY_EC256);
	c->int_key = t_key(CK_KEY_EC256);
	c->root = t_x509(c->root_key, NULL, NULL, "test root", 1, NULL, 1, now - T_DAY,
			 now + 100 * T_DAY);
	c->inter = t_x509(c->int_key, c->root, c->root_key, "test intermediate", 1, NULL, 2,
			  now - T_DAY, now + 100 * T_DAY);
	leaf = t_x509(key, c->inter, c->int_key, "leaf", 0, san, 3, now - T_DAY,
		      now + 90 * T_DAY);
	t_der(leaf, &c->d[0]);
	t_der(c->inter, &c->d[1]);
	t_der(c->root, &c->d[2]);
	X509_free(leaf);
	c->l.items = c->d;
	c->l.n = 3;
}

static void
t_chain_free(struct t_chain *c)
{
	size_t i;

	for (i = 0; i < 3; i++)
		free(c->d[i].data);
	X509_free(c->root);
	X509_free(c->inter);
	EVP_PKEY_free(c->root_key);
	EVP_PKEY_free(c->int_key);
}

static void
test_cert_checked_before_storing(void **state)
{
	const char *names[] = { "www.example.test", "127.0.0.1", "::1" };
	const char *fewer[] = { "www.example.test", "::1" };
	const char *more[] = { "www.example.test", "127.0.0.1", "::1", "mail.example.test" };
	EVP_PKEY *key = t_key(CK_KEY_EC256), *other = t_key(CK_KEY_EC256);
	struct t_chain c;
	struct ck_der swap;
	struct ck_err e;

	(void)state;
	/* The CA may upper-case a name and write an IPv6 address its own way. */
	t_chain_make(&c, key, "DNS:WWW.Example.test,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1");
	ck_err_clear(&e);
	assert_int_equal(ck_issue_check_cert(&c.l, key, names, 3, &e), CK_OK);
	/* The leaf for another key. */
	assert_int_equal(ck_issue_check_cert(&c.l, other, names, 3, &e), CK_ERR_KEY_MISMATCH);
	assert_non_null(strstr(e.msg, "not the order's key"));
	/* Names: one more and one fewer than ordered, each named. */
	assert_int_equal(ck_issue_check_cert(&c.l, key, fewer, 2, &e), CK_ERR_PARSE);
	assert_non_null(strstr(e.msg, "127.0.0.1, which was not ordered"));
	assert_int_equal(ck_issue_check_cert(&c.l, key, more, 4, &e), CK_ERR_PARSE);
	assert_non_null(strstr(e.msg, "does not name mail.example.test"));
	/* The chain out of order: root before the intermediate. */
	swap = c.d[1];
	c.d[1] = c.d[2];
	c.d[2] = swap;
	assert_int_equal(ck_issue_check_cert(&c.l, key, names, 3, &e), CK_ERR_PARSE);
	assert_non_null(strstr(e.msg, "chain certificate 1"));
	/* Leaf alone: nothing to check above it (the root is the client's). */
	c.l.n = 1;
	assert_int_equal(ck_issue_check_cert(&c.l, key, names, 3, &e), CK_OK);
	c.l.n = 0;
	assert_int_equal(ck_issue_check_cert(&c.l, key, names, 3, &e), CK_ERR_PARSE);
	c.l.n = 3;
	t_chain_free(&c);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void
test_cert_chain_signatures_checked(void **state)
{
	const char *names[] = { "www.example.test" };
	EVP_PKEY *key = t_key(CK_KEY_EC256);
	struct t_chain c, d;
	struct ck_der keep;
	struct ck_err e;

	(void)state;
	/* Same names, same subject, other keys: only the signatures differ. */
	t_chain_make(&c, key, "DNS:www.example.test");
	t_chain_make(&d, key, "DNS:www.example.test");
	keep = c.d[1];
	c.d[1] = d.d[1];
	ck_err_clear(&e);
	assert_int_equal(ck_issue_check_cert(&c.l, key, names, 1, &e), CK_ERR_PARSE);
	assert_non_null(strstr(e.msg, "did not issue the leaf"));
	c.d[1] = keep;
	keep = c.d[2];
	c.d[2] = d.d[2];
	assert_int_equal(ck_issue_check_cert(&c.l, key, names, 1, &e), CK_ERR_PARSE);
	assert_non_null(strstr(e.msg, "chain certificate 2"));
	c.d[2] = keep;
	t_chain_free(&c);
	t_chain_free(&d);
	EVP_PKEY_free(key);
}

/*
 * The issuance splits the downloaded PEM without decoding it
 * (ck_pem_certs_split) and decodes each certificate once in the check:
 * a CERTIFICATE block that is not one passes the split and is refused by
 * the check, naming its place, so it never reaches the store.
 */
static void
test_split_chain_refused_by_the_check(void **state)
{
	const char *names[] = { "www.example.test" };
	static const char pem[] = "-----BEGIN CERTIFICATE-----\nAQIDBA==\n"
				  "-----END CERTIFICATE-----\n";
	unsigned char junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	EVP_PKEY *key = t_key(CK_KEY_EC256);
	struct ck_der_list l = { NULL, 0 };
	struct ck_cert_info info;
	struct t_chain c;
	struct ck_der keep;
	struct ck_err e;

	(void)state;
	ck_err_clear(&e);
	assert_int_equal(ck_pem_certs_parse(pem, strlen(pem), &l, &e), CK_ERR_PARSE);
	assert_int_equal(ck_pem_certs_split(pem, strlen(pem), &l, &e), CK_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(ck_issue_check_cert(&l, key, names, 1, &e), CK_ERR_PARSE);
	assert_non_null(strstr(e.msg, "does not parse"));
	ck_der_list_cleanup(&l);
	t_chain_make(&c, key, "DNS:www.example.test");
	keep = c.d[1];
	c.d[1].data = junk;
	c.d[1].len = sizeof(junk);
	assert_int_equal(ck_issue_check_cert(&c.l, key, names, 1, &e), CK_ERR_PARSE);
	assert_non_null(strstr(e.msg, "chain certificate 1"));
	c.d[1] = keep;
	/* Passing, the leaf's facts come with it: nothing parses it again. */
	memset(&info, 0, sizeof(info));
	assert_int_equal(issue_check_cert_info(&c.l, key, names, 1, &info, &e), CK_OK);
	assert_int_equal(info.nsans, 1);
	assert_true(info.not_after > 0);
	ck_cert_info_cleanup(&info);
	t_chain_free(&c);
	EVP_PKEY_free(key);
}

static void
test_names_same_set(void **state)
{
	const char *a[] = { "a.test", "b.test", "::1" };
	const char *b[] = { "0:0::1", "B.TEST", "a.test" };
	const char *c[] = { "a.test", "b.test" };
	const char *d[] = { "a.test", "b.test", "::2" };

	(void)state;
	assert_true(ck_issue_names_same(a, 3, b, 3));
	assert_false(ck_issue_names_same(a, 3, c, 2));
	assert_false(ck_issue_names_same(c, 2, a, 3));
	assert_false(ck_issue_names_same(a, 3, d, 3));
}

static int64_t
t_order(struct t_env *e, const char *lineage, int64_t account, const char *const *names,
	size_t n, const char *url)
{
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	struct ck_order_new on;
	struct ck_err err;
	int64_t id = 0;

	memset(&on, 0, sizeof(on));
	on.lineage = lineage;
	on.account_id = account;
	on.key_id = t_put_key(e->st, k);
	on.identifiers = names;
	on.nidentifiers = n;
	on.url = url;
	on.finalize_url = "https://ca.test/finalize/1";
	ck_err_clear(&err);
	if (ck_store_order_put(e->st, &on, &id, &err) != CK_OK)
		fail_msg("order put: %s", err.msg);
	EVP_PKEY_free(k);
	return id;
}

static void
test_order_found_for_resume(void **state)
{
	struct t_env *e = *state;
	const char *www[] = { "www.example.test", "example.test" };
	const char *www2[] = { "example.test", "WWW.example.test" };
	const char *other[] = { "www.example.test" };
	struct ck_order o;
	struct ck_err err;
	int64_t acct, id1, id2;

	/* An account row the orders can name. */
	t_sql(e->path, "INSERT INTO keys (spki_der, spki_sha256, algorithm, key_type, pkcs11_uri, "
		       "created) VALUES (x'00', 'aa', 'x', 'ec256', 'pkcs11:id=%01', 0);"
		       "INSERT INTO accounts (name, server, key_id, status, created) VALUES "
		       "('default', 'https://ca.test/dir', last_insert_rowid(), 'valid', 0)");
	acct = 1;
	ck_err_clear(&err);
	assert_int_equal(ck_issue_order_find(e->st, "www", acct, www, 2, &o, &err),
			 CK_ERR_NOT_FOUND);
	id1 = t_order(e, "www", acct, www, 2, "https://ca.test/order/1");
	id2 = t_order(e, "www", acct, www, 2, "https://ca.test/order/2");
	(void)t_order(e, "www", acct, other, 1, "https://ca.test/order/3");   /* other names */
	(void)t_order(e, "mail", acct, www, 2, "https://ca.test/order/4");    /* other lineage */
	(void)t_order(e, "www", 0, www, 2, "https://ca.test/order/5");        /* other account */
	/* The newest open order for exactly these names, in any order and case. */
	assert_int_equal(ck_issue_order_find(e->st, "www", acct, www2, 2, &o, &err), CK_OK);
	assert_int_equal(o.id, id2);
	assert_string_equal(o.url, "https://ca.test/order/2");
	ck_order_cleanup(&o);
	/* Closed orders are never resumed. */
	assert_int_equal(ck_store_order_update(e->st, id2, "invalid", NULL, NULL, 1, &err), CK_OK);
	assert_int_equal(ck_issue_order_find(e->st, "www", acct, www, 2, &o, &err), CK_OK);
	assert_int_equal(o.id, id1);
	ck_order_cleanup(&o);
	assert_int_equal(ck_store_order_update(e->st, id1, "valid", NULL, NULL, 1, &err), CK_OK);
	assert_int_equal(ck_issue_order_find(e->st, "www", acct, www, 2, &o, &err),
			 CK_ERR_NOT_FOUND);
	/* A closed order is final: a run that read it open before another run
	 * stored its certificate cannot mark it invalid afterwards. */
	assert_int_equal(ck_store_order_update(e->st, id1, "invalid", NULL, NULL, 1, &err),
			 CK_ERR_STATE);
	assert_int_equal(ck_store_order_get(e->st, id1, &o, &err), CK_OK);
	assert_string_equal(o.status, "valid");
	ck_order_cleanup(&o);
	assert_int_equal(ck_store_order_update(e->st, 999, "invalid", NULL, NULL, 1, &err),
			 CK_ERR_NOT_FOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_accepted),
		cmocka_unit_test(test_names_rejected_with_reason),
		cmocka_unit_test(test_names_count_bounded),
		cmocka_unit_test(test_challenge_fits_names),
		cmocka_unit_test(test_cert_checked_before_storing),
		cmocka_unit_test(test_cert_chain_signatures_checked),
		cmocka_unit_test(test_split_chain_refused_by_the_check),
		cmocka_unit_test(test_names_same_set),
		cmocka_unit_test_setup_teardown(test_order_found_for_resume, t_setup, t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
