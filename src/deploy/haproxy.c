/*
 * haproxy.c - the haproxy:FILE[,socket=PATH] target: the combined PEM
 * HAProxy's `crt FILE` reads (leaf, chain, key; 0600), kept in
 * generations beside FILE (file_target.c).  Then either
 *  - socket=PATH: the runtime API puts the file HAProxy now finds on disk
 *    into the running process (set ssl cert + commit ssl cert, abort on
 *    failure; haproxy_api.c) and `show ssl cert` confirms its leaf: no
 *    reload, no new process, no dropped connection; or
 *  - no socket: a reload, the binding's --reload CMD or by default
 *    `systemctl reload haproxy` (Debian's service; a reload re-reads FILE).
 * Rollback switches FILE back to the previous generation; the engine's
 * second reload then puts that file into HAProxy the same way.
 *
 * HAProxy 2.6 (Debian 12) is built without engine or provider support for
 * PKCS#11: a token-backed key is refused when the binding is made.
 *
 * Must never: leave a runtime API transaction open, reload when the
 * runtime API was asked for.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/sha.h>

#include "crypto/render.h"
#include "deploy/file_target.h"
#include "deploy/haproxy_api.h"

#define HAPROXY_PEM_END "-----END CERTIFICATE-----"

static enum ck_code
haproxy_validate(struct dep_job *job, struct ck_err *err)
{
	const char *sock = job->spec->socket;
	char sha1[41];
	struct stat sb;
	enum ck_code rc;

	if ((rc = dep_refuse_token_key(job->m, "HAProxy 2.6 (Debian 12) is built without "
				       "PKCS#11 engine or provider support and reads keys from "
				       "files only; deploy this certificate to nginx (which can "
				       "use the token) or issue one with a file key", err)) != CK_OK)
		return rc;
	if (sock[0] != '\0' && job->reload_cmd != NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "socket=%s swaps the certificate through "
			       "HAProxy's runtime API without a reload; drop --reload (or drop "
			       "socket= to reload instead)", sock);
	if ((rc = dep_file_validate(job, err)) != CK_OK || sock[0] == '\0')
		return rc;
	errno = 0;
	if (stat(sock, &sb) != 0 || !S_ISSOCK(sb.st_mode))
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "socket=%s is not a unix socket (%s); give "
			       "HAProxy's 'stats socket PATH level admin'", sock,
			       errno ? strerror(errno) : "another kind of file");
	/* Read-only: HAProxy answers and serves FILE (its configuration's crt). */
	if ((rc = dep_haproxy_cert_sha1(sock, job->spec->path, sha1, err)) != CK_OK)
		ck_err_prefix(err, "HAProxy's runtime API must serve %s for socket= to work",
			      job->spec->path);
	return rc;
}

static enum ck_code
haproxy_render(struct dep_job *job, struct dep_files *out, struct ck_err *err)
{
	const struct dep_material *m = job->m;
	struct ck_buf b;
	enum ck_code rc;

	if ((rc = dep_refuse_token_key(m, "HAProxy reads keys from files only", err)) != CK_OK)
		return rc;
	ck_buf_init_secret(&b, HAPI_PAYLOAD_MAX);
	rc = ck_render_combined(m->key, m->leaf_der, m->leaf_len, m->chain, &b, err);
	if (rc != CK_OK) {
		ck_buf_cleanup(&b);
		return rc;
	}
	return dep_file_take(job, &b, out, err);
}

/* Upper-case hex SHA-1 of the first certificate of a combined PEM (its leaf). */
static enum ck_code
haproxy_leaf_sha1(const char *pem, char out[41], struct ck_err *err)
{
	const char *end = strstr(pem, HAPROXY_PEM_END);
	unsigned char md[SHA_DIGEST_LENGTH];
	struct ck_der_list certs = { 0 };
	enum ck_code rc;

	if (end == NULL)
		return CK_FAIL(err, CK_ERR_PARSE, "the HAProxy file holds no certificate");
	rc = ck_pem_certs_parse(pem, (size_t)(end - pem) + strlen(HAPROXY_PEM_END), &certs, err);
	if (rc != CK_OK)
		return rc;
	SHA1(certs.items[0].data, certs.items[0].len, md);
	ck_hex_encode_upper(md, sizeof(md), out, 41);
	ck_der_list_cleanup(&certs);
	return CK_OK;
}

/* socket=: what FILE holds now goes into HAProxy, and HAProxy shows its leaf. */
static enum ck_code
haproxy_api_push(struct dep_job *job, struct ck_err *err)
{
	const char *file = job->spec->path, *sock = job->spec->socket;
	char want[41], loaded[41];
	unsigned char *pem = NULL;
	size_t len = 0;
	enum ck_code rc;

	if ((rc = ck_file_read_secret(file, HAPI_PAYLOAD_MAX, &pem, &len, err)) != CK_OK)
		return rc;
	if ((rc = haproxy_leaf_sha1((const char *)pem, want, err)) != CK_OK ||
	    (rc = dep_haproxy_cert_swap(sock, file, pem, len, err)) != CK_OK ||
	    (rc = dep_haproxy_cert_sha1(sock, file, loaded, err)) != CK_OK)
		goto out;
	if (strcmp(want, loaded) != 0)
		rc = CK_FAIL(err, CK_ERR_STATE, "HAProxy committed %s but shows a certificate with "
			     "SHA-1 %s, not %s", file, loaded, want);
out:
	ck_secure_free(pem, len + 1);
	if (rc != CK_OK)
		ck_err_prefix(err, "runtime API swap");
	return rc;
}

static enum ck_code
haproxy_reload(struct dep_job *job, struct ck_err *err)
{
	static const char *const dflt[] = { "systemctl", "reload", "haproxy", NULL };

	if (job->spec->socket[0] != '\0')
		return haproxy_api_push(job, err);
	return dep_run_reload(job, "haproxy reload", dflt, err);
}

const struct dep_ops dep_haproxy_ops = {
	.kind = DEP_KIND_HAPROXY,
	.validate = haproxy_validate,
	.render = haproxy_render,
	.swap = dep_file_swap,
	.reload = haproxy_reload,
	.rollback = dep_dir_rollback,
};
