/*
 * gen_certs.c - bench/store's certificate maker: a throw-away EC P-256 CA
 * and many leaf certificates it signed, each with its own EC P-256 key, as
 * PEM files certkeep imports (leaf, CA as its chain, PKCS#8 key).
 *
 *   gen_certs DIR FIRST COUNT PER_DIR
 *
 * Writes DIR/ca.pem and DIR/ca.key on the first call (reads them on later
 * calls, so every batch chains to the same CA) and, for i in
 * [FIRST, FIRST+COUNT), DIR/bNNNNN/cI.pem with NNNNN = i / PER_DIR: one
 * directory per `certkeep import` invocation.  The leaf of i is
 * CN=sI.store.bench.test with that name as its one DNS SAN, serial I+1,
 * valid from a day ago for 90 days.
 *
 * Why C: 100,000 keys and signatures in Python take minutes; here a few
 * seconds.  Never does: write outside DIR, reuse a key between leaves.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_ca.h"

static EVP_PKEY *
new_key(EVP_PKEY_CTX *kctx)
{
	EVP_PKEY *k = NULL;

	if (EVP_PKEY_keygen(kctx, &k) <= 0)
		return NULL;
	return k;
}

/* A certificate for key with subject CN=cn, signed by (ca, ca_key) or self-signed. */
static X509 *
make_cert(const char *cn, long serial, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key,
	  const char *san)
{
	time_t now = time(NULL);
	X509 *x = bench_cert_new(cn, serial, now - DAY, now + (ca ? 90 : 3650) * DAY, ca);
	int ok;

	if (x == NULL)
		return NULL;
	ok = X509_set_pubkey(x, key);
	if (ok && ca == NULL)
		ok = bench_add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") &&
		     bench_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") &&
		     bench_add_ext(x, x, NID_subject_key_identifier, "hash");
	if (ok && ca != NULL)
		ok = bench_add_ext(ca, x, NID_basic_constraints, "critical,CA:FALSE") &&
		     bench_add_ext(ca, x, NID_subject_alt_name, san) &&
		     bench_add_ext(ca, x, NID_authority_key_identifier, "keyid");
	return bench_cert_sign(x, ok, ca ? ca_key : key);
}

static int
write_ca(const char *dir, EVP_PKEY_CTX *kctx, X509 **ca, EVP_PKEY **ca_key)
{
	return (*ca_key = new_key(kctx)) != NULL &&
	       (*ca = make_cert("certkeep bench throw-away CA", 1, *ca_key, NULL, NULL,
				NULL)) != NULL &&
	       bench_ca_write(dir, *ca, *ca_key);
}

static int
write_leaf(const char *dir, long i, long per_dir, EVP_PKEY_CTX *kctx, X509 *ca,
	   EVP_PKEY *ca_key)
{
	char path[4096], cn[64], san[80];
	EVP_PKEY *k = new_key(kctx);
	X509 *x = NULL;
	FILE *f = NULL;
	int ok = 0;

	snprintf(cn, sizeof(cn), "s%ld.store.bench.test", i);
	snprintf(san, sizeof(san), "DNS:%s", cn);
	if (k == NULL || (x = make_cert(cn, i + 2, k, ca, ca_key, san)) == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/b%05ld", dir, i / per_dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		goto out;
	snprintf(path, sizeof(path), "%s/b%05ld/c%ld.pem", dir, i / per_dir, i);
	if ((f = fopen(path, "w")) == NULL)
		goto out;
	ok = PEM_write_X509(f, x) && PEM_write_X509(f, ca) &&
	     PEM_write_PKCS8PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	ok = (fclose(f) == 0) && ok;
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return ok;
}

int
main(int argc, char **argv)
{
	EVP_PKEY_CTX *kctx = NULL;
	EVP_PKEY *ca_key = NULL;
	X509 *ca = NULL;
	long first, count, per_dir, i;
	int have, rc = 1;

	if (argc != 5) {
		fprintf(stderr, "usage: gen_certs DIR FIRST COUNT PER_DIR\n");
		return 2;
	}
	first = strtol(argv[2], NULL, 10);
	count = strtol(argv[3], NULL, 10);
	per_dir = strtol(argv[4], NULL, 10);
	if (first < 0 || count < 0 || per_dir <= 0) {
		fprintf(stderr, "gen_certs: FIRST, COUNT >= 0 and PER_DIR > 0\n");
		return 2;
	}
	if ((kctx = bench_p256_keygen()) == NULL)
		goto out;
	have = bench_ca_read(argv[1], &ca, &ca_key);
	if (have == 0 || (have < 0 && !write_ca(argv[1], kctx, &ca, &ca_key))) {
		fprintf(stderr, "gen_certs: cannot make or read the CA in %s\n", argv[1]);
		goto out;
	}
	for (i = first; i < first + count; i++) {
		if (!write_leaf(argv[1], i, per_dir, kctx, ca, ca_key)) {
			fprintf(stderr, "gen_certs: certificate %ld failed\n", i);
			goto out;
		}
	}
	rc = 0;
out:
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_CTX_free(kctx);
	return rc;
}
