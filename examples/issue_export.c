/*
 * issue_export.c - issue a certificate with libcertkeep and export it.
 *
 *   issue_export STORE DIRECTORY_URL CA_BUNDLE NAME HTTP_PORT OUTDIR
 *
 * Opens (or creates) the store, registers an account with the ACME server
 * unless the store has one, issues a certificate for NAME by http-01 (the
 * built-in responder listens on 127.0.0.1:HTTP_PORT), and writes
 * OUTDIR/cert.pem, OUTDIR/key.pem (0600) and OUTDIR/fullchain.pem.
 * CA_BUNDLE is the trust anchor of the server's TLS ("" for the system's).
 * Build: cc issue_export.c $(pkg-config --cflags --libs libcertkeep)
 */
#include <stdio.h>
#include <stdlib.h>

#include <certkeep.h>

int
main(int argc, char **argv)
{
	struct ck_err err = { 0 };
	struct ck_ctx *ctx = NULL;
	struct ck_store *st = NULL;
	struct ck_account acct = { 0 };
	struct ck_issue_result res;
	struct ck_export_result files = { 0 };
	char cert[4096], key[4096], full[4096];
	enum ck_code rc;

	if (argc != 7) {
		fprintf(stderr, "usage: %s STORE DIRECTORY_URL CA_BUNDLE NAME HTTP_PORT OUTDIR\n",
			argv[0]);
		return 2;
	}
	const char *ca = argv[3][0] ? argv[3] : NULL, *names[] = { argv[4] };
	snprintf(cert, sizeof(cert), "%s/cert.pem", argv[6]);
	snprintf(key, sizeof(key), "%s/key.pem", argv[6]);
	snprintf(full, sizeof(full), "%s/fullchain.pem", argv[6]);

	if ((rc = ck_global_init()) != CK_OK || (rc = ck_ctx_new(&ctx, &err)) != CK_OK ||
	    (rc = ck_store_open(argv[1], ctx, &st, &err)) != CK_OK)
		goto out;
	rc = ck_store_account_get(st, argv[2], NULL, &acct, &err);
	if (rc == CK_ERR_NOT_FOUND) {
		struct ck_account_register_opts reg = { .server = argv[2], .agree_tos = 1,
							.ca_bundle = ca };
		rc = ck_account_register(ctx, st, &reg, &acct, NULL, &err);
	}
	if (rc != CK_OK)
		goto out;

	struct ck_issue_params p = { .server = argv[2], .ca_bundle = ca, .names = names,
				     .nnames = 1, .http_address = "127.0.0.1",
				     .http_port = (unsigned)atoi(argv[5]) };
	if ((rc = ck_issue(ctx, st, &p, &res, &err)) != CK_OK)
		goto out;
	struct ck_export_opts o = { .format = CK_EXPORT_PEM, .cert_out = cert, .key_out = key,
				    .fullchain_out = full };
	if ((rc = ck_store_export(st, res.cert_id, &o, &files, &err)) == CK_OK)
		printf("%s %s: %zu files in %s\n", res.lineage, res.sha256, files.nfiles, argv[6]);
out:
	if (rc != CK_OK)
		fprintf(stderr, "error: %s (%s)\n", err.msg, ck_code_name(rc));
	ck_export_result_cleanup(&files);
	ck_account_cleanup(&acct);
	ck_store_close(st);
	ck_ctx_free(ctx);
	ck_global_cleanup();
	return rc == CK_OK ? 0 : 1;
}
