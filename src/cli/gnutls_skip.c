/*
 * gnutls_skip.c - keeps GnuTLS from initializing itself in the certkeep
 * program.  Debian's libcurl loads GnuTLS (through librtmp and libldap)
 * although certkeep's curl speaks TLS with OpenSSL and nothing in certkeep
 * calls GnuTLS.  GnuTLS's library constructor runs gnutls_global_init()
 * unless the program defines _gnutls_global_init_skip() returning 1: the
 * documented GNUTLS_SKIP_GLOBAL_INIT of <gnutls/gnutls.h> ("Use the
 * following definition globally in your program to disable implicit
 * initialization of gnutls"), spelled out here so certkeep needs no GnuTLS
 * headers.  Skipping it saves about 0.9 MiB of resident memory at start
 * (its pages, nettle's, gmp's, libtasn1's and the ASN.1 trees it parses).
 *
 * The constructor finds the definition through the dynamic symbol table:
 * it is exported with default visibility and named in the CLI's link
 * arguments (--export-dynamic-symbol); tests/integration/test_gnutls_skip.py
 * checks that GnuTLS binds to it.
 *
 * The CLI's choice, never the library's: a program that embeds
 * libcertkeep may use GnuTLS itself.  Must never: do anything but return
 * 1 (it runs in a library constructor, before main); be linked into
 * libcertkeep; stay if certkeep ever calls GnuTLS (such a call would
 * then need gnutls_global_init() first).
 */
#include "cli/cli.h"

__attribute__((visibility("default"))) int _gnutls_global_init_skip(void);

int
_gnutls_global_init_skip(void)
{
	return 1;
}
