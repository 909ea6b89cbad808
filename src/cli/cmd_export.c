/*
 * cmd_export.c - `certkeep export REF ...`: argv to struct ck_export_opts,
 * the password from a file or descriptor, then ck_store_export (which
 * decides what may leave and writes the files) and a summary of what was
 * written.  Never takes a password from argv.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "flow/ops.h"

static void
export_usage(FILE *fp)
{
	fprintf(fp,
		"usage: certkeep export REF [--format pem|der|pfx] [--pfx-compat modern|legacy]\n"
		"                       [--password-file F | --no-password] [--no-key]\n"
		"                       (--out F | [--cert-out F] [--key-out F] [--chain-out F]\n"
		"                                  [--fullchain-out F])\n"
		"\n"
		"Writes a certificate with its private key and chain.  Each file is written\n"
		"whole or not at all; key files (and single files holding the key) are mode\n"
		"0600, the others 0644.  A certificate whose key is not in the store is\n"
		"refused unless --no-key (that is the state Windows reports as \"Keyset does\n"
		"not exist\"); a key on a token cannot leave its token.\n"
		"\n"
		"REF is a lineage name, a SHA-256 thumbprint (full or a unique prefix of at\n"
		"least 8 hex digits) or a SHA-1 thumbprint in any form Windows shows.\n"
		"\n"
		"options:\n"
		"  --format pem|der|pfx     default pem; pfx is PKCS#12 and needs --out and\n"
		"                           --password-file (or --no-password)\n"
		"  --pfx-compat modern|legacy\n"
		"                           modern: AES-256 + SHA-256 (default); legacy: 3DES +\n"
		"                           SHA-1 for Windows Server 2016 and older\n"
		"  --password-file F        the PFX password from file F, or fd:N for an\n"
		"                           inherited descriptor (never on the command line);\n"
		"                           an empty password is refused\n"
		"  --no-password            an unprotected PFX on purpose (empty password:\n"
		"                           anyone who has the file has the key)\n"
		"  --out F                  one file: pem = certificate + chain + key,\n"
		"                           pfx = all three, der = the certificate alone\n"
		"  --cert-out F             the certificate\n"
		"  --key-out F              the private key (PKCS#8; mode 0600)\n"
		"  --chain-out F            the chain (issuers, PEM)\n"
		"  --fullchain-out F        certificate followed by the chain (PEM)\n"
		"  --no-key                 certificate-only output; also allows a certificate\n"
		"                           that has no key here\n"
		"  -h, --help               this text\n");
}

enum { OPT_FORMAT = 256, OPT_COMPAT, OPT_PASSFILE, OPT_OUT, OPT_CERT, OPT_KEY, OPT_CHAIN,
       OPT_FULL, OPT_NOKEY, OPT_NOPASS };

/* Parses the options into o; returns -1 for --help, 0 ok, else the usage exit code. */
static int
export_parse(int argc, char **argv, struct ck_export_opts *o, const char **passfile,
	     const char **ref)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "pfx-compat", required_argument, NULL, OPT_COMPAT },
		{ "password-file", required_argument, NULL, OPT_PASSFILE },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "cert-out", required_argument, NULL, OPT_CERT },
		{ "key-out", required_argument, NULL, OPT_KEY },
		{ "chain-out", required_argument, NULL, OPT_CHAIN },
		{ "fullchain-out", required_argument, NULL, OPT_FULL },
		{ "no-key", no_argument, NULL, OPT_NOKEY },
		{ "no-password", no_argument, NULL, OPT_NOPASS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ck_err err;
	int c;

	ck_err_clear(&err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_FORMAT:
			if (ck_export_format_parse(optarg, &o->format, &err) != CK_OK)
				return cli_usage_error("export", "%s", err.msg);
			break;
		case OPT_COMPAT:
			if (ck_pfx_compat_parse(optarg, &o->pfx_compat, &err) != CK_OK)
				return cli_usage_error("export", "%s", err.msg);
			break;
		case OPT_PASSFILE: *passfile = optarg; break;
		case OPT_OUT: o->out = optarg; break;
		case OPT_CERT: o->cert_out = optarg; break;
		case OPT_KEY: o->key_out = optarg; break;
		case OPT_CHAIN: o->chain_out = optarg; break;
		case OPT_FULL: o->fullchain_out = optarg; break;
		case OPT_NOKEY: o->no_key = 1; break;
		case OPT_NOPASS: o->no_password = 1; break;
		case 'h':
			export_usage(stdout);
			return -1;
		default:
			return cli_usage_error("export", "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error("export", "a REF is required");
	if (optind != argc - 1)
		return cli_usage_error("export", "exactly one REF, please");
	*ref = argv[optind];
	/* The library's rule check, with a placeholder for the password it will
	 * read (checked again once read: an empty one is refused). */
	if (*passfile != NULL)
		o->password = "(from the file)";
	if (ck_export_check(o, &err) != CK_OK)
		return cli_usage_error("export", "%s", err.msg);
	o->password = NULL;
	return 0;
}

static void
export_report(const char *ref, const struct ck_export_opts *o, const struct ck_export_result *r)
{
	size_t i;

	for (i = 0; i < r->nfiles; i++)
		printf("wrote %s %s (mode %04o)\n", r->files[i].what, r->files[i].path,
		       (unsigned)r->files[i].mode);
	if (!r->key_included)
		printf("%s: exported without its private key (%s)\n", ref,
		       o->no_key ? "--no-key" : "no --key-out was given");
}

int
cmd_export(struct cli *cli, int argc, char **argv)
{
	struct ck_export_opts o;
	struct ck_export_result res;
	struct ck_store *st = NULL;
	struct ck_err err;
	const char *passfile = NULL, *ref = NULL;
	char *password = NULL;
	int64_t id = 0;
	int rc;

	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	ck_err_clear(&err);
	rc = export_parse(argc, argv, &o, &passfile, &ref);
	if (rc != 0)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (passfile != NULL &&
	    ck_secret_read(passfile, CK_IMPORT_PASSWORD_MAX, &password, &err) != CK_OK)
		return cli_fail(cli, &err);
	o.password = password;
	if (ck_export_check(&o, &err) != CK_OK) {
		ck_err_prefix(&err, "%s", passfile);
		rc = cli_fail(cli, &err);
		ck_secure_strfree(password);
		return rc;
	}
	if (cli_store_open(cli, &st, &err) != 0 ||
	    ck_store_ref_resolve(st, ref, &id, &err) != CK_OK ||
	    ck_store_export(st, id, &o, &res, &err) != CK_OK) {
		rc = cli_fail(cli, &err);
	} else {
		export_report(ref, &o, &res);
		rc = CLI_EXIT_OK;
	}
	ck_export_result_cleanup(&res);
	ck_secure_strfree(password);
	ck_store_close(st);
	return rc;
}
