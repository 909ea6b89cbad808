/*
 * test_crypto_x509.c - CSRs (names, IP SANs, signature, the right key),
 * certificate facts, PEM certificate lists, chain order, and the SPKI link
 * between a certificate and its key.
 */
#include "test_crypto_util.h"
#include "crypto/alternates.h"

static void
csr_names(X509_REQ *req, char *out, size_t n)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *gens = NULL;
	int i;

	out[0] = '\0';
	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);

		if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name)
			gens = X509V3_EXT_d2i(e);
	}
	assert_non_null(gens);
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		char buf[300];

		if (gn->type == GEN_DNS)
			snprintf(buf, sizeof(buf), "DNS:%s",
				 (const char *)ASN1_STRING_get0_data(gn->d.dNSName));
		else if (gn->type == GEN_IPADD)
			snprintf(buf, sizeof(buf), "IP(%d)", ASN1_STRING_length(gn->d.iPAddress));
		else
			snprintf(buf, sizeof(buf), "other");
		if (out[0] != '\0')
			strncat(out, ",", n - strlen(out) - 1);
		strncat(out, buf, n - strlen(out) - 1);
	}
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

static X509_REQ *
csr_parse(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);

	assert_non_null(req);
	assert_ptr_equal(p, der + len);
	return req;
}

static void
test_csr_contents(void **state)
{
	static const enum ck_key_type types[] = {CK_KEY_EC256, CK_KEY_RSA2048, CK_KEY_ED25519};
	const char *names[] = {"example.com", "www.example.com", "192.0.2.7", "2001:db8::1"};
	EVP_PKEY *other = t_key(CK_KEY_EC256);
	unsigned char *other_spki = NULL;
	size_t other_len = 0, i;

	(void)state;
	assert_int_equal(ck_key_spki_der(other, &other_spki, &other_len, NULL), CK_OK);
	for (i = 0; i < CK_ARRAY_LEN(types); i++) {
		EVP_PKEY *k = t_key(types[i]);
		unsigned char *der = NULL, *spki = NULL;
		size_t len = 0, slen = 0;
		char buf[256];
		X509_REQ *req;

		assert_int_equal(ck_csr_create(k, names, 4, &der, &len, NULL), CK_OK);
		req = csr_parse(der, len);
		X509_NAME_oneline(X509_REQ_get_subject_name(req), buf, sizeof(buf));
		assert_string_equal(buf, "/CN=example.com");
		csr_names(req, buf, sizeof(buf));
		assert_string_equal(buf, "DNS:example.com,DNS:www.example.com,IP(4),IP(16)");
		assert_int_equal(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)), 1);
		assert_int_equal(X509_REQ_verify(req, k), 1);
		assert_true(ck_key_public_equal(X509_REQ_get0_pubkey(req), k));
		/* it carries this key's SPKI and not some other key's */
		assert_int_equal(ck_key_spki_der(k, &spki, &slen, NULL), CK_OK);
		assert_non_null(memmem(der, len, spki, slen));
		assert_null(memmem(der, len, other_spki, other_len));
		assert_int_not_equal(X509_REQ_verify(req, other), 1);
		if (types[i] != CK_KEY_ED25519)
			assert_int_equal(X509_REQ_get_signature_nid(req),
					 types[i] == CK_KEY_EC256 ? NID_ecdsa_with_SHA256
								  : NID_sha256WithRSAEncryption);
		else
			assert_int_equal(X509_REQ_get_signature_nid(req), NID_ED25519);
		ERR_clear_error();
		X509_REQ_free(req);
		free(der);
		free(spki);
		EVP_PKEY_free(k);
	}
	free(other_spki);
	EVP_PKEY_free(other);
}

static void
test_csr_cn_rules(void **state)
{
	char long_name[80];
	const char *ip_first[] = {"10.0.0.1", "a.example"};
	const char *long_first[2];
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	unsigned char *der = NULL;
	size_t len = 0;
	char buf[512];
	X509_REQ *req;

	(void)state;
	/* an IP is never the CN: the first DNS name is */
	assert_int_equal(ck_csr_create(k, ip_first, 2, &der, &len, NULL), CK_OK);
	req = csr_parse(der, len);
	X509_NAME_oneline(X509_REQ_get_subject_name(req), buf, sizeof(buf));
	assert_string_equal(buf, "/CN=a.example");
	X509_REQ_free(req);
	free(der);
	/* a first DNS name over 64 bytes leaves the subject empty; it is still a SAN */
	memset(long_name, 'a', 70);
	long_name[40] = '.'; /* a valid name: each label at most 63 bytes */
	memcpy(long_name + 70, ".example", 9);
	long_first[0] = long_name;
	long_first[1] = "b.example";
	assert_int_equal(ck_csr_create(k, long_first, 2, &der, &len, NULL), CK_OK);
	req = csr_parse(der, len);
	assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(req)), 0);
	csr_names(req, buf, sizeof(buf));
	assert_non_null(strstr(buf, long_name));
	X509_REQ_free(req);
	free(der);
	EVP_PKEY_free(k);
}

static void
test_csr_rejects(void **state)
{
	const char *many[CK_CSR_MAX_NAMES + 1];
	char too_long[CK_NAME_MAX + 2], names_buf[CK_CSR_MAX_NAMES + 1][32];
	const char *one[1];
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	unsigned char *der = NULL;
	size_t len = 0, i;
	struct ck_err err;

	(void)state;
	assert_int_equal(ck_csr_create(k, one, 0, &der, &len, NULL), CK_ERR_INVALID_ARG);
	for (i = 0; i < CK_ARRAY_LEN(many); i++) {
		snprintf(names_buf[i], sizeof(names_buf[i]), "h%zu.example", i);
		many[i] = names_buf[i];
	}
	assert_int_equal(ck_csr_create(k, many, CK_CSR_MAX_NAMES, &der, &len, NULL), CK_OK);
	free(der);
	der = NULL;
	ck_err_clear(&err);
	assert_int_equal(ck_csr_create(k, many, CK_CSR_MAX_NAMES + 1, &der, &len, &err),
			 CK_ERR_TOO_LARGE);
	assert_null(der);
	memset(too_long, 'a', CK_NAME_MAX + 1);
	too_long[CK_NAME_MAX + 1] = '\0';
	one[0] = too_long;
	assert_int_equal(ck_csr_create(k, one, 1, &der, &len, NULL), CK_ERR_INVALID_ARG);
	one[0] = "";
	assert_int_equal(ck_csr_create(k, one, 1, &der, &len, NULL), CK_ERR_INVALID_ARG);
	one[0] = "bad name.example";
	assert_int_equal(ck_csr_create(k, one, 1, &der, &len, NULL), CK_ERR_INVALID_ARG);
	one[0] = "bad\nname";
	assert_int_equal(ck_csr_create(k, one, 1, &der, &len, NULL), CK_ERR_INVALID_ARG);
	assert_null(der);
	EVP_PKEY_free(k);
}

static void
test_name_is_ip(void **state)
{
	(void)state;
	assert_true(ck_name_is_ip("192.0.2.1"));
	assert_true(ck_name_is_ip("::1"));
	assert_true(ck_name_is_ip("2001:db8::7"));
	assert_false(ck_name_is_ip("example.com"));
	assert_false(ck_name_is_ip("192.0.2"));
	assert_false(ck_name_is_ip("1.2.3.4.5"));
	assert_false(ck_name_is_ip(""));
	assert_false(ck_name_is_ip(NULL));
}

/*
 * The one DNS name rule (ck_dns_name_valid).  It replaced two: the CSR's
 * character check (letters, digits, '-', '.', '*', '_' anywhere) and
 * issuance's LDH check (labels 1..63, no '-' at a label's ends, no trailing
 * dot).  The union of what both refused is refused; "csr_before" marks
 * what the CSR check accepted before and ck_csr_create now refuses.
 */
static const struct {
	const char *name;
	int dns;        /* ck_dns_name_valid(name, 0) */
	int wildcard;   /* ck_dns_name_valid(name, 1) */
	int csr_before; /* the CSR check accepted it before the one rule */
} name_rules[] = {
	{ "example.com", 1, 1, 1 },
	{ "a", 1, 1, 1 },
	{ "xn--bcher-kva.example", 1, 1, 1 },
	{ "A-1.Example.ORG", 1, 1, 1 },
	{ "0.example", 1, 1, 1 },
	{ "*.example.com", 0, 1, 1 },
	{ "", 0, 0, 0 },
	{ "example.com.", 0, 0, 1 },      /* trailing dot: an absolute name */
	{ ".example.com", 0, 0, 1 },      /* empty first label */
	{ "a..example", 0, 0, 1 },        /* empty label */
	{ "-a.example", 0, 0, 1 },        /* '-' first */
	{ "a-.example", 0, 0, 1 },        /* '-' last in a label */
	{ "example-", 0, 0, 1 },          /* '-' last */
	{ "_acme.example", 0, 0, 1 },     /* '_' (CA/B Forum ballot SC12) */
	{ "a_b.example", 0, 0, 1 },
	{ "*", 0, 0, 1 },                 /* a wildcard of nothing */
	{ "*.*.example", 0, 0, 1 },       /* '*' only as the whole first label */
	{ "a.*.example", 0, 0, 1 },
	{ "a*.example", 0, 0, 1 },
	{ "*example.com", 0, 0, 1 },
	{ "bad name.example", 0, 0, 0 },
	{ "bad\nname", 0, 0, 0 },
	{ "caf\xc3\xa9.example", 0, 0, 0 }, /* not A-labels */
	{ "a/b.example", 0, 0, 0 },
};

static void
test_dns_name_rules(void **state)
{
	char label63[80], label64[80], total[CK_NAME_MAX + 2];
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	const char *one[1];
	unsigned char *der = NULL;
	size_t len = 0, i;
	struct ck_err err;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(name_rules); i++) {
		const char *n = name_rules[i].name;

		if (ck_dns_name_valid(n, 0) != name_rules[i].dns ||
		    ck_dns_name_valid(n, 1) != name_rules[i].wildcard)
			fail_msg("name rule %zu (\"%s\") judged wrongly", i, n);
		assert_int_equal(ck_identifier_valid(n, 1), name_rules[i].wildcard);
		/* a CSR takes exactly what the rule (wildcards allowed) takes */
		one[0] = n;
		ck_err_clear(&err);
		if (ck_csr_create(k, one, 1, &der, &len, &err) != (name_rules[i].wildcard
								   ? CK_OK
								   : CK_ERR_INVALID_ARG))
			fail_msg("ck_csr_create of \"%s\": %s", n, err.msg);
		if (!name_rules[i].wildcard)
			assert_non_null(strstr(err.msg, "name 1 "));
		free(der);
		der = NULL;
	}
	assert_false(ck_dns_name_valid(NULL, 1));
	assert_false(ck_identifier_valid(NULL, 1));
	assert_true(ck_identifier_valid("192.0.2.1", 0));
	assert_true(ck_identifier_valid("2001:db8::1", 0));
	/* a label has at most 63 bytes (the CSR check took any length before) */
	memset(label63, 'a', 63);
	memcpy(label63 + 63, ".example", 9);
	assert_true(ck_dns_name_valid(label63, 0));
	memset(label64, 'a', 64);
	memcpy(label64 + 64, ".example", 9);
	assert_false(ck_dns_name_valid(label64, 1));
	one[0] = label64;
	assert_int_equal(ck_csr_create(k, one, 1, &der, &len, NULL), CK_ERR_INVALID_ARG);
	/* a name has at most CK_NAME_MAX bytes */
	for (i = 0; i < CK_NAME_MAX; i++)
		total[i] = (i % 2) ? '.' : 'a';
	total[CK_NAME_MAX - 1] = 'a';
	total[CK_NAME_MAX] = '\0';
	assert_true(ck_dns_name_valid(total, 0));
	total[CK_NAME_MAX] = 'a';
	total[CK_NAME_MAX + 1] = '\0';
	assert_false(ck_dns_name_valid(total, 0));
	EVP_PKEY_free(k);
}

/* DER -> PEM -> OpenSSL's PEM reader gives back the label and the same bytes. */
static void
pem_round_trip(const char *label, const unsigned char *der, size_t len)
{
	char *pem = NULL, *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	size_t pem_len = 0;
	long dlen = 0;
	BIO *bio;

	assert_int_equal(ck_der_to_pem(label, der, len, &pem, &pem_len, NULL), CK_OK);
	assert_int_equal(strlen(pem), pem_len);
	assert_true(strncmp(pem, "-----BEGIN ", 11) == 0);
	bio = BIO_new_mem_buf(pem, (int)pem_len);
	assert_int_equal(PEM_read_bio(bio, &name, &header, &data, &dlen), 1);
	assert_string_equal(name, label);
	assert_string_equal(header, "");
	assert_int_equal((size_t)dlen, len);
	assert_memory_equal(data, der, len);
	BIO_free(bio);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	free(pem);
}

static void
test_der_to_pem(void **state)
{
	static const unsigned char odd[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
	unsigned char big[3000], *der, *csr = NULL;
	EVP_PKEY *k = t_key(CK_KEY_EC256);
	const char *names[] = { "pem.example" };
	char *pem = NULL, *x509_pem;
	const unsigned char *p;
	size_t len, csr_len = 0, i;
	struct ck_err err;
	X509 *x;
	BIO *bio;

	(void)state;
	pem_round_trip("DATA", odd, sizeof(odd));
	for (i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);
	pem_round_trip("SOME THING", big, sizeof(big)); /* many 64-column lines */
	assert_int_equal(ck_csr_create(k, names, 1, &csr, &csr_len, NULL), CK_OK);
	pem_round_trip("CERTIFICATE REQUEST", csr, csr_len);
	/* a certificate comes out as OpenSSL's own certificate writer writes it */
	der = t_self_signed_der(k, "pem.example", &len);
	pem_round_trip("CERTIFICATE", der, len);
	assert_int_equal(ck_cert_der_to_pem(der, len, &pem, NULL), CK_OK);
	p = der;
	x = d2i_X509(NULL, &p, (long)len);
	assert_non_null(x);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	assert_true(BIO_get_mem_data(bio, &x509_pem) > 0);
	assert_memory_equal(pem, x509_pem, strlen(pem));
	BIO_free(bio);
	X509_free(x);
	free(pem);
	pem = NULL;
	/* nothing, or not a certificate, is refused */
	ck_err_clear(&err);
	assert_int_equal(ck_der_to_pem("DATA", odd, 0, &pem, NULL, &err), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_der_to_pem("DATA", NULL, 5, &pem, NULL, NULL), CK_ERR_INVALID_ARG);
	assert_int_equal(ck_der_to_pem(NULL, odd, sizeof(odd), &pem, NULL, NULL),
			 CK_ERR_INVALID_ARG);
	assert_int_equal(ck_cert_der_to_pem(odd, sizeof(odd), &pem, NULL), CK_ERR_PARSE);
	assert_null(pem);
	free(der);
	free(csr);
	EVP_PKEY_free(k);
}

/* A root, an intermediate and a leaf. */
struct pki {
	EVP_PKEY *root_key, *int_key, *leaf_key;
	X509 *root, *inter, *leaf;
};

static void
pki_make(struct pki *p, enum ck_key_type leaf_type)
{
	p->root_key = t_key(CK_KEY_EC384);
	p->int_key = t_key(CK_KEY_EC256);
	p->leaf_key = t_key(leaf_type);
	p->root = t_make_cert(p->root_key, NULL, NULL, "Test Root", 1, NULL, 1, 1600000000,
			      2000000000);
	p->inter = t_make_cert(p->int_key, p->root, p->root_key, "Test Intermediate", 1, NULL, 2,
			       1600000000, 2000000000);
	p->leaf = t_make_cert(p->leaf_key, p->inter, p->int_key, "leaf.example", 0,
			      "DNS:leaf.example,DNS:www.leaf.example,IP:192.0.2.9,IP:2001:db8::9",
			      0x1234ABCD, 1700000000, 1707776000);
}

static void
pki_free(struct pki *p)
{
	EVP_PKEY_free(p->root_key);
	EVP_PKEY_free(p->int_key);
	EVP_PKEY_free(p->leaf_key);
	X509_free(p->root);
	X509_free(p->inter);
	X509_free(p->leaf);
}

static void
test_cert_info(void **state)
{
	struct pki p;
	struct ck_cert_info info, rinfo;
	unsigned char *der, *rder;
	size_t len, rlen;
	char hex[65];

	(void)state;
	pki_make(&p, CK_KEY_EC256);
	der = t_cert_der(p.leaf, &len);
	assert_int_equal(ck_cert_info_from_der(der, len, &info, NULL), CK_OK);
	ck_sha256_hex(der, len, hex);
	assert_string_equal(info.sha256, hex);
	assert_int_equal(strlen(info.sha1), 40);
	assert_string_equal(info.subject, "CN=leaf.example,O=certkeep test");
	assert_string_equal(info.issuer, "CN=Test Intermediate,O=certkeep test");
	assert_string_equal(info.serial, "1234ABCD");
	assert_int_equal(info.nsans, 4);
	assert_string_equal(info.sans[0], "leaf.example");
	assert_string_equal(info.sans[1], "www.leaf.example");
	assert_string_equal(info.sans[2], "192.0.2.9");
	assert_string_equal(info.sans[3], "2001:db8::9");
	assert_int_equal(info.not_before, 1700000000);
	assert_int_equal(info.not_after, 1707776000);
	assert_string_equal(info.key_desc, "EC P-256");
	assert_false(info.is_ca);
	assert_false(info.self_signed);
	assert_int_equal(ck_key_spki_sha256(p.leaf_key, hex, NULL), CK_OK);
	assert_string_equal(info.spki_sha256, hex);
	ck_cert_info_cleanup(&info);
	assert_null(info.subject);

	rder = t_cert_der(p.root, &rlen);
	assert_int_equal(ck_cert_info_from_der(rder, rlen, &rinfo, NULL), CK_OK);
	assert_true(rinfo.is_ca);
	assert_true(rinfo.self_signed);
	assert_int_equal(rinfo.nsans, 0);
	assert_string_equal(rinfo.key_desc, "EC P-384");
	assert_string_equal(rinfo.serial, "01");
	ck_cert_info_cleanup(&rinfo);

	/* truncated or padded DER is refused */
	assert_int_equal(ck_cert_info_from_der(der, len - 1, &info, NULL), CK_ERR_PARSE);
	assert_int_equal(ck_cert_info_from_der((const unsigned char *)"\x30\x00", 2, &info, NULL),
			 CK_ERR_PARSE);
	free(der);
	free(rder);
	pki_free(&p);
}

static void
test_spki_link(void **state)
{
	static const enum ck_key_type types[] = {CK_KEY_EC256, CK_KEY_EC384, CK_KEY_RSA2048,
						 CK_KEY_ED25519};
	size_t i;

	(void)state;
	for (i = 0; i < CK_ARRAY_LEN(types); i++) {
		EVP_PKEY *k = t_key(types[i]), *pub = NULL, *other = t_key(types[i]);
		struct ck_cert_info info;
		unsigned char *der;
		size_t len;
		char hex[65], ohex[65];

		der = t_self_signed_der(k, "self.example", &len);
		assert_int_equal(ck_cert_info_from_der(der, len, &info, NULL), CK_OK);
		assert_int_equal(ck_key_spki_sha256(k, hex, NULL), CK_OK);
		assert_string_equal(info.spki_sha256, hex);
		assert_int_equal(ck_key_spki_sha256(other, ohex, NULL), CK_OK);
		assert_string_not_equal(info.spki_sha256, ohex);
		assert_true(info.self_signed);
		assert_int_equal(ck_cert_pubkey(der, len, &pub, NULL), CK_OK);
		assert_true(ck_key_public_equal(pub, k));
		assert_false(ck_key_public_equal(pub, other));
		ck_cert_info_cleanup(&info);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(other);
		EVP_PKEY_free(k);
		free(der);
	}
}

static void
test_pem_certs(void **state)
{
	struct pki p;
	struct t_text t = {0};
	struct ck_der_list l = {0};
	unsigned char *der;
	char *pem = NULL;
	size_t len, i;
	struct ck_err err;

	(void)state;
	pki_make(&p, CK_KEY_EC256);
	der = t_cert_der(p.leaf, &len);
	assert_int_equal(ck_cert_der_to_pem(der, len, &pem, NULL), CK_OK);
	assert_int_equal(strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28), 0);
	t_text_add(&t, "leaf:\n", 6);
	t_text_add(&t, pem, strlen(pem));
	t_text_add_cert(&t, p.inter);
	t_text_add_cert(&t, p.root);
	assert_int_equal(ck_pem_certs_parse(t.s, t.len, &l, NULL), CK_OK);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.items[0].len, len);
	assert_memory_equal(l.items[0].data, der, len);
	ck_der_list_cleanup(&l);
	assert_null(l.items);

	/* a key among the certificates is refused, even an encrypted one */
	t_text_add_key(&t, p.leaf_key);
	ck_err_clear(&err);
	assert_int_equal(ck_pem_certs_parse(t.s, t.len, &l, &err), CK_ERR_PARSE);
	assert_non_null(strstr(err.msg, "\"PRIVATE KEY\""));
	assert_int_equal(l.n, 0);
	static const char enc[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n"
				  "-----END ENCRYPTED PRIVATE KEY-----\n";
	assert_int_equal(ck_pem_certs_parse(enc, strlen(enc), &l, NULL), CK_ERR_PARSE);
	free(t.s);
	t.s = NULL;
	t.len = 0;
	/* no certificate at all, and an unknown block */
	assert_int_equal(ck_pem_certs_parse("nothing here", 12, &l, NULL), CK_ERR_PARSE);
	static const char csr[] = "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n"
				  "-----END CERTIFICATE REQUEST-----\n";
	assert_int_equal(ck_pem_certs_parse(csr, strlen(csr), &l, &err), CK_ERR_PARSE);
	assert_non_null(strstr(err.msg, "CERTIFICATE REQUEST"));
	/* a CERTIFICATE block that is not a certificate */
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
	assert_int_equal(ck_pem_certs_parse(junk, strlen(junk), &l, NULL), CK_ERR_PARSE);
	/* more than CK_BUNDLE_MAX_ITEMS certificates */
	for (i = 0; i < CK_BUNDLE_MAX_ITEMS + 1; i++)
		t_text_add(&t, pem, strlen(pem));
	assert_int_equal(ck_pem_certs_parse(t.s, t.len, &l, NULL), CK_ERR_TOO_LARGE);
	free(t.s);
	free(pem);
	free(der);
	pki_free(&p);
}

static void
test_chain_check(void **state)
{
	struct pki p;
	struct ck_der_list good = {0}, bad = {0}, wrong = {0};
	struct ck_der items[2], ritems[2], witems[1];
	unsigned char *leaf;
	size_t leaf_len;
	struct ck_err err;

	(void)state;
	pki_make(&p, CK_KEY_RSA2048);
	leaf = t_cert_der(p.leaf, &leaf_len);
	items[0].data = t_cert_der(p.inter, &items[0].len);
	items[1].data = t_cert_der(p.root, &items[1].len);
	good.items = items;
	good.n = 2;
	assert_int_equal(ck_chain_check(leaf, leaf_len, &good, NULL), CK_OK);
	good.n = 1;
	assert_int_equal(ck_chain_check(leaf, leaf_len, &good, NULL), CK_OK);
	good.n = 0;
	assert_int_equal(ck_chain_check(leaf, leaf_len, &good, NULL), CK_OK);
	/* out of order */
	ritems[0] = items[1];
	ritems[1] = items[0];
	bad.items = ritems;
	bad.n = 2;
	ck_err_clear(&err);
	assert_int_not_equal(ck_chain_check(leaf, leaf_len, &bad, &err), CK_OK);
	assert_non_null(strstr(err.msg, "chain certificate 1"));
	/* same issuer name, different key: the signature decides */
	EVP_PKEY *imposter_key = t_key(CK_KEY_EC256);
	X509 *imposter = t_make_cert(imposter_key, p.root, p.root_key, "Test Intermediate", 1, NULL,
				     3, 1600000000, 2000000000);
	witems[0].data = t_cert_der(imposter, &witems[0].len);
	wrong.items = witems;
	wrong.n = 1;
	assert_int_not_equal(ck_chain_check(leaf, leaf_len, &wrong, NULL), CK_OK);
	free(witems[0].data);
	X509_free(imposter);
	EVP_PKEY_free(imposter_key);
	free(items[0].data);
	free(items[1].data);
	free(leaf);
	pki_free(&p);
}

/*
 * Alternate chains in their stored text: what issue writes is what show
 * (and a later certkeep) reads back, in the format stores already hold:
 * [[base64url DER of each issuer, ...], ...], the leaf left out.
 */
static void
test_alternates(void **state)
{
	struct pki p;
	struct t_text a = {0}, b = {0};
	struct ck_alternates alt = {NULL, 0}, back = {NULL, 0};
	struct ck_der leaf;
	unsigned char *inter_der, *root_der;
	char *text = NULL, *i64 = NULL, *r64 = NULL, want[8192];
	size_t ilen, rlen;

	(void)state;
	pki_make(&p, CK_KEY_EC256);
	leaf.data = t_cert_der(p.leaf, &leaf.len);
	inter_der = t_cert_der(p.inter, &ilen);
	root_der = t_cert_der(p.root, &rlen);
	t_text_add_cert(&a, p.leaf);
	t_text_add_cert(&a, p.inter);
	t_text_add_cert(&a, p.root);
	t_text_add_cert(&b, p.inter); /* does not start with the leaf */
	assert_int_equal(ck_alternates_add(&alt, &leaf, a.s, a.len, NULL), CK_OK);
	assert_int_equal(ck_alternates_add(&alt, &leaf, b.s, b.len, NULL), CK_ERR_PARSE);
	assert_int_equal(alt.n, 1);
	assert_int_equal(alt.chains[0].n, 2);
	assert_int_equal(ck_alternates_encode(&alt, &text, NULL), CK_OK);
	assert_int_equal(ck_b64url_encode(inter_der, ilen, &i64, NULL), CK_OK);
	assert_int_equal(ck_b64url_encode(root_der, rlen, &r64, NULL), CK_OK);
	snprintf(want, sizeof(want), "[[\"%s\",\"%s\"]]", i64, r64);
	assert_string_equal(text, want);

	assert_int_equal(ck_alternates_decode(text, &back, NULL), CK_OK);
	assert_int_equal(back.n, 1);
	assert_int_equal(back.chains[0].n, 2);
	assert_memory_equal(back.chains[0].items[1].data, root_der, rlen);
	ck_alternates_cleanup(&back);
	assert_int_equal(ck_alternates_decode(NULL, &back, NULL), CK_OK);
	assert_int_equal(back.n, 0);
	assert_int_equal(ck_alternates_decode("[[],[]]", &back, NULL), CK_OK);
	assert_int_equal(back.n, 2);
	ck_alternates_cleanup(&back);
	assert_int_equal(ck_alternates_decode("{}", &back, NULL), CK_ERR_PARSE);
	assert_int_equal(ck_alternates_decode("[1]", &back, NULL), CK_ERR_PARSE);
	assert_int_equal(ck_alternates_decode("[[\"AAAA\", 7]]", &back, NULL), CK_ERR_PARSE);
	assert_int_equal(ck_alternates_decode("[[\"*\"]]", &back, NULL), CK_ERR_PARSE);

	ck_alternates_cleanup(&alt);
	free(text);
	free(i64);
	free(r64);
	free(leaf.data);
	free(inter_der);
	free(root_der);
	free(a.s);
	free(b.s);
	pki_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csr_contents),
		cmocka_unit_test(test_csr_cn_rules),
		cmocka_unit_test(test_csr_rejects),
		cmocka_unit_test(test_name_is_ip),
		cmocka_unit_test(test_dns_name_rules),
		cmocka_unit_test(test_der_to_pem),
		cmocka_unit_test(test_cert_info),
		cmocka_unit_test(test_spki_link),
		cmocka_unit_test(test_pem_certs),
		cmocka_unit_test(test_chain_check),
		cmocka_unit_test(test_alternates),
	};

	return cmocka_run_group_tests_name("crypto_x509", tests, NULL, NULL);
}
