/*
 * fleet_gen.c - bench/fleet's lineage maker: a throw-away EC P-256 CA and
 * COUNT lineages, each one leaf certificate with its own EC P-256 key, as
 * the rows `certkeep import FILE --name LINEAGE` stores in PostgreSQL
 * (keys, certificates, chain, lineages), in COPY text format, plus the
 * first SAMPLE leaves as PEM bundles so the bench can import those through
 * certkeep itself and check that its rows equal these.
 *
 *   fleet_gen DIR FIRST COUNT SAMPLE NOW [AGE]
 *
 * For i in [FIRST, FIRST+COUNT): lineage sI.fleet.bench.test (I = i, 7
 * digits), CN and one DNS SAN that name, serial i+1, issued (i % 61) days
 * before NOW and valid for 90 days: ages spread as in a store renewed at
 * two thirds of the lifetime, so about 1 in 61 is due on any day (AGE
 * given: every leaf AGE days old; 80 makes them all due).  Row ids
 * are i+1 in every table.  Writes DIR/keys.copy, DIR/certificates.copy,
 * DIR/chain.copy, DIR/lineages.copy (current_cert_id left NULL: the two
 * tables refer to each other; the bench sets it after loading), and for
 * i < FIRST+SAMPLE DIR/sample/cI.pem (key, leaf, CA).  DIR/ca.pem and
 * DIR/ca.key are made on the first call and read on later ones.
 *
 * Why not `certkeep import` for all of them: it costs ~3.5 ms of CPU per
 * certificate (OpenSSL parsing it several times), an hour for 1,000,000.
 * Never does: write outside DIR, reuse a key between leaves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>

#include "bench_ca.h"

static long fixed_age = -1; /* AGE, or -1: i % 61 */
static EVP_PKEY_CTX *keygen;  /* one P-256 key generation context for every key */
static X509_EXTENSION *leaf_bc; /* basicConstraints CA:FALSE, made once */

/* A new P-256 key through the shared context. */
static EVP_PKEY *
new_key(void)
{
	EVP_PKEY *k = NULL;

	if (keygen == NULL && (keygen = bench_p256_keygen()) == NULL)
		return NULL;
	if (EVP_PKEY_keygen(keygen, &k) <= 0)
		return NULL;
	return k;
}

/*
 * The P-256 key's DER forms written by hand: OpenSSL 3.0 sets up an encoder
 * for every i2d_PUBKEY, i2d_PKCS8 and X509_set_pubkey, which is 90 % of the
 * time of a lineage.  The bench checks these bytes against what certkeep
 * import stores for the sample.  spki: 91 bytes; p8: 138 bytes.
 */
static const unsigned char spki_prefix[] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00
};
static const unsigned char p8_prefix[] = {
	0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
	0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
	0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20
};
static const unsigned char p8_mid[] = { 0xa1, 0x44, 0x03, 0x42, 0x00 };

static int
key_ders(EVP_PKEY *k, unsigned char spki[91], unsigned char p8[138])
{
	unsigned char point[65];
	size_t len = 0;
	BIGNUM *d = NULL;
	int ok;

	ok = EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
					     sizeof(point), &len) && len == sizeof(point) &&
	     EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d) &&
	     BN_bn2binpad(d, p8 + sizeof(p8_prefix), 32) == 32;
	BN_clear_free(d);
	if (!ok)
		return 0;
	memcpy(spki, spki_prefix, sizeof(spki_prefix));
	memcpy(spki + sizeof(spki_prefix), point, sizeof(point));
	memcpy(p8, p8_prefix, sizeof(p8_prefix));
	memcpy(p8 + sizeof(p8_prefix) + 32, p8_mid, sizeof(p8_mid));
	memcpy(p8 + sizeof(p8_prefix) + 32 + sizeof(p8_mid), point, sizeof(point));
	return 1;
}

/* The certificate's public key from its SPKI DER, without an encoder. */
static int
set_pubkey(X509 *x, const unsigned char spki[91])
{
	X509_PUBKEY *pub = X509_get_X509_PUBKEY(x);
	unsigned char *bits = OPENSSL_memdup(spki + sizeof(spki_prefix), 65);

	if (pub == NULL || bits == NULL ||
	    !X509_PUBKEY_set0_param(pub, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
				    OBJ_nid2obj(NID_X9_62_prime256v1), bits, 65)) {
		OPENSSL_free(bits);
		return 0;
	}
	return 1;
}

/* subjectAltName DNS:name, built directly (no config string parsing). */
static int
add_san(X509 *x, const char *name)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	int ok = 0;

	if (gens == NULL || g == NULL || ia5 == NULL ||
	    !ASN1_STRING_set(ia5, name, (int)strlen(name)))
		goto out;
	GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
	ia5 = NULL;
	if (!sk_GENERAL_NAME_push(gens, g))
		goto out;
	g = NULL;
	ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
out:
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(g);
	GENERAL_NAMES_free(gens);
	return ok;
}

struct out {
	FILE *keys, *certs, *chain, *lineages;
};

/* A leaf (ca given) or the self-signed CA, valid [nb, nb + days). */
static X509 *
make_cert(const char *cn, long serial, EVP_PKEY *key, const unsigned char *spki, X509 *ca,
	  EVP_PKEY *ca_key, long nb, long days)
{
	X509 *x = bench_cert_new(cn, serial, nb, nb + days * DAY, ca);
	int ok;

	if (x == NULL)
		return NULL;
	ok = spki != NULL ? set_pubkey(x, spki) : X509_set_pubkey(x, key);
	if (ok && ca == NULL)
		ok = bench_add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") &&
		     bench_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (ok && ca != NULL && leaf_bc == NULL) {
		X509V3_CTX v3;

		X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
		leaf_bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:FALSE");
		ok = leaf_bc != NULL;
	}
	if (ok && ca != NULL)
		ok = X509_add_ext(x, leaf_bc, -1) && add_san(x, cn);
	return bench_cert_sign(x, ok, ca ? ca_key : key);
}

/* COPY text's bytea: \\x and lowercase hex. */
static void
put_bytea(FILE *f, const unsigned char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char buf[2 * 4096];
	size_t i, o = 0;

	fputs("\\\\x", f);
	for (i = 0; i < n; i++) {
		buf[o++] = hex[p[i] >> 4];
		buf[o++] = hex[p[i] & 15];
		if (o == sizeof(buf)) {
			fwrite(buf, 1, o, f);
			o = 0;
		}
	}
	fwrite(buf, 1, o, f);
}

static void
hexdigest(const EVP_MD *md, const unsigned char *p, size_t n, char *out)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	EVP_Digest(p, n, d, &len, md, NULL);
	for (i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static int
ca_load(const char *dir, X509 **ca, EVP_PKEY **ca_key, long now)
{
	int have = bench_ca_read(dir, ca, ca_key);

	if (have >= 0)
		return have;
	return (*ca_key = new_key()) != NULL &&
	       (*ca = make_cert("certkeep fleet bench throw-away CA", 1, *ca_key, NULL, NULL, NULL,
				now - 100 * DAY, 3650)) != NULL &&
	       bench_ca_write(dir, *ca, *ca_key);
}

static int
write_sample(const char *dir, long i, EVP_PKEY *k, X509 *x, X509 *ca)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/sample/c%ld.pem", dir, i);
	if ((f = fopen(path, "w")) == NULL)
		return 0;
	ok = PEM_write_PKCS8PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) && PEM_write_X509(f, x) &&
	     PEM_write_X509(f, ca);
	return fclose(f) == 0 && ok;
}

/* The four rows of lineage i (see the top of the file). */
static int
one(struct out *o, const char *dir, long i, int sample, X509 *ca, EVP_PKEY *ca_key,
    const unsigned char *ca_der, int ca_len, long now)
{
	char name[64], spki_sha[65], sha256[65], sha1[41], *serial = NULL;
	unsigned char spki[91], p8[138], *der = NULL;
	size_t spki_len = sizeof(spki), p8_len = sizeof(p8);
	int der_len = 0, ok = 0;
	long nb = now - (fixed_age >= 0 ? fixed_age : i % 61) * DAY - 3600, id = i + 1;
	EVP_PKEY *k = new_key();
	BIGNUM *bn = NULL;
	X509 *x = NULL;

	snprintf(name, sizeof(name), "s%07ld.fleet.bench.test", i);
	if (k == NULL || !key_ders(k, spki, p8) ||
	    (x = make_cert(name, i + 1, k, spki, ca, ca_key, nb, 90)) == NULL ||
	    (der_len = i2d_X509(x, &der)) <= 0 ||
	    (bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL ||
	    (serial = BN_bn2hex(bn)) == NULL)
		goto out;
	hexdigest(EVP_sha256(), spki, spki_len, spki_sha);
	hexdigest(EVP_sha256(), der, (size_t)der_len, sha256);
	hexdigest(EVP_sha1(), der, (size_t)der_len, sha1);
	fprintf(o->keys, "%ld\t%s\t", id, spki_sha);
	put_bytea(o->keys, spki, spki_len);
	fputs("\tec256\tEC P-256\t", o->keys);
	put_bytea(o->keys, p8, p8_len);
	fprintf(o->keys, "\t\\N\t%ld\n", now);
	fprintf(o->lineages, "%ld\t%s\t[\"%s\"]\tec256\t\\N\t%ld\n", id, name, name, now);
	fprintf(o->certs, "%ld\t", id);
	put_bytea(o->certs, der, (size_t)der_len);
	fprintf(o->certs, "\t%s\t%s\t%s\tCN=%s\tCN=certkeep fleet bench throw-away CA\t%s\t"
		"[\"%s\"]\t%ld\t%ld\tEC P-256\t%ld\tlinked\t%ld\timport:c%ld.pem\t\\N\t%ld\t\\N\t"
		"\\N\t0\n", sha256, sha1, spki_sha, name, serial, name, nb,
		nb + 90 * DAY, id, id, i, now);
	fprintf(o->chain, "%ld\t0\t", id);
	put_bytea(o->chain, ca_der, (size_t)ca_len);
	putc('\n', o->chain);
	ok = !sample || write_sample(dir, i, k, x, ca);
out:
	OPENSSL_free(serial);
	BN_free(bn);
	OPENSSL_cleanse(p8, sizeof(p8));
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(k);
	return ok;
}

static FILE *
open_out(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s.copy", dir, name);
	return fopen(path, "w");
}

int
main(int argc, char **argv)
{
	struct out o;
	unsigned char *ca_der = NULL;
	EVP_PKEY *ca_key = NULL;
	X509 *ca = NULL;
	char path[4096];
	long first, count, sample, now, i;
	int ca_len;

	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: fleet_gen DIR FIRST COUNT SAMPLE NOW [AGE]\n");
		return 2;
	}
	first = atol(argv[2]);
	count = atol(argv[3]);
	sample = atol(argv[4]);
	now = atol(argv[5]);
	if (argc == 7)
		fixed_age = atol(argv[6]);
	snprintf(path, sizeof(path), "%s/sample", argv[1]);
	(void)mkdir(argv[1], 0700);
	(void)mkdir(path, 0700);
	if (!ca_load(argv[1], &ca, &ca_key, now) || (ca_len = i2d_X509(ca, &ca_der)) <= 0) {
		fprintf(stderr, "fleet_gen: cannot make or read the CA in %s\n", argv[1]);
		return 1;
	}
	o.keys = open_out(argv[1], "keys");
	o.certs = open_out(argv[1], "certificates");
	o.chain = open_out(argv[1], "chain");
	o.lineages = open_out(argv[1], "lineages");
	if (o.keys == NULL || o.certs == NULL || o.chain == NULL || o.lineages == NULL) {
		fprintf(stderr, "fleet_gen: cannot write in %s\n", argv[1]);
		return 1;
	}
	for (i = first; i < first + count; i++) {
		if (!one(&o, argv[1], i, i < first + sample, ca, ca_key, ca_der, ca_len, now)) {
			fprintf(stderr, "fleet_gen: lineage %ld failed\n", i);
			return 1;
		}
	}
	if (fclose(o.keys) != 0 || fclose(o.certs) != 0 || fclose(o.chain) != 0 ||
	    fclose(o.lineages) != 0) {
		fprintf(stderr, "fleet_gen: cannot write in %s\n", argv[1]);
		return 1;
	}
	OPENSSL_free(ca_der);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return 0;
}
