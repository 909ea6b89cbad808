/*
 * init.c - the process-wide initialisation of the libraries certkeep is
 * built on (libcurl, OpenSSL), in one call an embedding program makes
 * once, and the library's only process-wide state: whether that call was
 * made.  Everything else in libcertkeep changes no process-wide state
 * (no umask, no signal handlers, no environment).
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "core/core.h"

/* libcurl's and OpenSSL's own state is global; this only records that we
 * set it up, so a second ck_global_init changes nothing (see the contract
 * in certkeep.h: called before any other thread exists). */
static int global_ready;

enum ck_code
ck_global_init(void)
{
	CURLcode cc;

	if (global_ready)
		return CK_OK;
	/* Configuration, error strings, every cipher and digest, libssl:
	 * what OpenSSL would do lazily (and, before 1.1.0, racily). */
	if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG | OPENSSL_INIT_LOAD_CRYPTO_STRINGS |
				OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS,
				NULL) != 1 ||
	    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS, NULL) != 1)
		return CK_ERR_CRYPTO;
	/* Not thread-safe by libcurl's own contract: hence "before any thread". */
	cc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (cc != CURLE_OK)
		return cc == CURLE_OUT_OF_MEMORY ? CK_ERR_NOMEM : CK_ERR_INTERNAL;
	global_ready = 1;
	return CK_OK;
}

void
ck_global_cleanup(void)
{
	if (!global_ready)
		return;
	curl_global_cleanup();
	/* OpenSSL cleans up by itself at exit; OPENSSL_cleanup() here would make
	 * a later ck_global_init fail, so it is left alone. */
	global_ready = 0;
}
