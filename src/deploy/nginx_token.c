/*
 * nginx_token.c - an nginx:DIR target whose certificate key lives on a
 * PKCS#11 token.  The key never becomes a file: nginx signs with it through
 * OpenSSL's ENGINE API and Debian's libengine-pkcs11-openssl (libp11), the
 * only route Debian 12's nginx 1.22 has (its ssl_certificate_key knows
 * "engine:ID:KEY" and files; it has no "store:" syntax for an OpenSSL 3
 * provider, and Debian 12 ships no pkcs11-provider).  See docs/targets.md.
 *
 * Each generation holds, beside cert.pem, chain.pem and fullchain.pem:
 *   openssl.cnf     loads the engine with init = 1 and the module's
 *                   MODULE_PATH (the engine cannot take module-path= in a
 *                   URI); nginx's master must start with OPENSSL_CONF
 *                   naming DIR/openssl.cnf, and certkeep runs `nginx -t`
 *                   and `nginx -s reload` with it too (both parse the key).
 *   nginx-ssl.conf  the two lines a server block includes:
 *                   ssl_certificate DIR/fullchain.pem and ssl_certificate_key
 *                   "engine:pkcs11:pkcs11:token=..;id=..;type=private
 *                   ?pin-source=file:PIN", so the key named switches with its
 *                   certificate through the same live link.
 * The PIN never enters either file: the engine reads it from the PIN file
 * the lineage records (or its URI's pin-source) when the master loads the
 * key; workers are forks, and libp11 logs in again after the fork itself.
 *
 * Must never: write the PIN, refer to a PIN file path that could break out
 * of nginx's quoted string, or pass a secret in a child's environment.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "deploy/target.h"
#include "token/token.h"

#define NGX_TOK_ENGINE_SO "pkcs11.so"    /* libengine-pkcs11-openssl's engine */
#define NGX_TOK_TEXT_MAX 8192            /* one rendered configuration file */
#define NGX_TOK_HSM_ENV "SOFTHSM2_CONF"  /* passed on to nginx when certkeep has it */

/* What a token deploy to nginx works with (job->priv). */
struct ngx_tok {
	char engine[DEP_PATH_MAX];       /* ENGINESDIR/pkcs11.so */
	char module[DEP_PATH_MAX];       /* the PKCS#11 module for MODULE_PATH */
	char pin[DEP_PATH_MAX];          /* the PIN file the engine reads */
	char *uri;                       /* the engine's URI of the key (no module, no PIN) */
	char env_cnf[DEP_PATH_MAX + 32]; /* OPENSSL_CONF=DIR/openssl.cnf */
	char env_hsm[DEP_PATH_MAX + 32];
	const char *env[3];
};

/* OpenSSL's engines directory (OPENSSL_ENGINES_DIR: 'ENGINESDIR: "/x"') + the engine. */
static enum ck_code
ngx_tok_engine(char *out, size_t n, struct ck_err *err)
{
	const char *s = OpenSSL_version(OPENSSL_ENGINES_DIR), *q = strchr(s, '"');
	size_t len = q != NULL ? strcspn(q + 1, "\"") : 0;

	if (len == 0 || (size_t)snprintf(out, n, "%.*s/%s", (int)len, q + 1,
					 NGX_TOK_ENGINE_SO) >= n)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED, "this OpenSSL names no engines directory "
			       "(%s): nginx cannot load the pkcs11 engine", s);
	if (access(out, R_OK) != 0)
		return CK_FAIL(err, CK_ERR_NOT_FOUND, "OpenSSL's pkcs11 engine %s is not installed "
			       "(Debian: apt-get install libengine-pkcs11-openssl): nginx signs "
			       "with a token key only through it", out);
	return CK_OK;
}

/* 1 when path is absolute and made of [A-Za-z0-9/._+-] only: safe inside
 * nginx's quoted string (no '$' variable, no quote) and libp11's URI. */
static int
ngx_tok_path_plain(const char *path)
{
	return path[0] == '/' &&
	       strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
			    "/._+-") == strlen(path);
}

/*
 * libp11 reads a pin-source file whole, a trailing newline included (then
 * the token says "PIN incorrect" and counts a try): refuse such a file
 * before nginx uses it.  The PIN is read only to look at its last byte.
 */
static enum ck_code
ngx_tok_pin_bare(const char *path, struct ck_err *err)
{
	unsigned char *pin = NULL;
	size_t len = 0;
	enum ck_code rc;
	int nl;

	if ((rc = ck_file_read_secret(path, CK_TOKEN_PIN_MAX + 2, &pin, &len, err)) != CK_OK) {
		ck_err_prefix(err, "the PIN file nginx's engine is to read");
		return rc;
	}
	nl = len > 0 && (pin[len - 1] == '\n' || pin[len - 1] == '\r');
	ck_secure_free(pin, len + 1);
	if (nl)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the PIN file %s ends with a line break: "
			       "OpenSSL's pkcs11 engine reads the file whole and would send the "
			       "line break as part of the PIN (a wrong PIN costs a try); write it "
			       "without one (printf '%%s' PIN > FILE)", path);
	return CK_OK;
}

/* The PIN file: the URI's pin-source, else the lineage's record. */
static enum ck_code
ngx_tok_pin(const struct dep_material *m, const struct ck_pkcs11_uri *u, char *out, size_t n,
	    struct ck_err *err)
{
	const char *pin = u->pin_source[0] ? u->pin_source : m->token_pin;

	if (pin != NULL && strncmp(pin, "file:", 5) == 0)
		pin += 5;
	if (pin == NULL || pin[0] == '\0' || strncmp(pin, "fd:", 3) == 0)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "nginx must log in to the token when it "
			       "starts, and no PIN file is recorded for the key of certificate "
			       "%.16s: issue the lineage with --token URI --pin-file FILE (a file "
			       "nginx's master can read; never fd:N)", m->sha256);
	if (!ngx_tok_path_plain(pin) || strlen(pin) >= n)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the PIN file %s must be an absolute path "
			       "of letters, digits and / . _ + - only (it goes into nginx's "
			       "configuration, quoted); move it", pin);
	snprintf(out, n, "%s", pin);
	return ngx_tok_pin_bare(pin, err);
}

/* The key's URI for the engine: token, id (or object), type=private, and the PIN's file. */
static enum ck_code
ngx_tok_uri(const struct ck_pkcs11_uri *u, const char *pin, char **out, struct ck_err *err)
{
	char *base = NULL, *full;
	size_t len;
	enum ck_code rc;

	if (u->token[0] == '\0')
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the key's URI names no token label; nginx's "
			       "engine finds the token by it");
	if ((rc = ck_pkcs11_uri_format(u->token, u->id, u->has_id ? u->id_len : 0,
				       u->object[0] ? u->object : NULL, NULL, &base, err)) != CK_OK)
		return rc;
	len = strlen(base) + strlen(pin) + 32;
	if ((full = malloc(len)) == NULL) {
		free(base);
		return CK_OOM(err);
	}
	snprintf(full, len, "%s?pin-source=file:%s", base, pin);
	free(base);
	*out = full;
	return CK_OK;
}

/* Module, PIN file and the engine URI of job's token key into t. */
static enum ck_code
ngx_tok_fill(const struct dep_job *job, struct ngx_tok *t, struct ck_err *err)
{
	const struct dep_material *m = job->m;
	const char *hsm = getenv(NGX_TOK_HSM_ENV), *module;
	struct ck_pkcs11_uri u;
	enum ck_code rc;
	size_t n = 0;

	if (!ngx_tok_path_plain(job->spec->path))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the target directory %s goes into "
			       "nginx's configuration: use a path of letters, digits and / . _ + - "
			       "only", job->spec->path);
	if ((rc = ck_pkcs11_uri_parse(m->key_uri, &u, err)) != CK_OK ||
	    (rc = ngx_tok_engine(t->engine, sizeof(t->engine), err)) != CK_OK ||
	    (rc = ngx_tok_pin(m, &u, t->pin, sizeof(t->pin), err)) != CK_OK)
		return rc;
	module = u.module_path[0] ? u.module_path
		 : m->token_module != NULL ? m->token_module : ck_token_default_module();
	if (!ngx_tok_path_plain(module) || strlen(module) >= sizeof(t->module))
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "the PKCS#11 module path %s cannot be "
			       "written into an OpenSSL configuration as is", module);
	snprintf(t->module, sizeof(t->module), "%s", module);
	if ((rc = ngx_tok_uri(&u, t->pin, &t->uri, err)) != CK_OK)
		return rc;
	snprintf(t->env_cnf, sizeof(t->env_cnf), "OPENSSL_CONF=%s/%s", job->spec->path,
		 DEP_NGINX_OPENSSL_CNF);
	t->env[n++] = t->env_cnf;
	/* SoftHSM finds its token directory through this; nginx -t must see the token
	 * nginx's master sees (its unit sets the same). A path, never a secret. */
	if (hsm != NULL && hsm[0] != '\0' && strlen(hsm) < DEP_PATH_MAX) {
		snprintf(t->env_hsm, sizeof(t->env_hsm), "%s=%s", NGX_TOK_HSM_ENV, hsm);
		t->env[n++] = t->env_hsm;
	}
	t->env[n] = NULL;
	return CK_OK;
}

enum ck_code
dep_nginx_token_prepare(struct dep_job *job, struct ck_err *err)
{
	struct ngx_tok *t;
	enum ck_code rc;

	if (job->m->key != NULL || job->priv != NULL)
		return CK_OK;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return CK_OOM(err);
	if ((rc = ngx_tok_fill(job, t, err)) != CK_OK) {
		free(t->uri);
		free(t);
		ck_err_prefix(err, "nginx cannot sign with the key on the token");
		return rc;
	}
	job->priv = t;
	job->env = t->env;
	return CK_OK;
}

void
dep_nginx_token_cleanup(struct dep_job *job)
{
	struct ngx_tok *t = job->priv;

	if (t == NULL)
		return;
	free(t->uri);
	free(t);
	job->priv = NULL;
	job->env = NULL;
}

/* Appends text (printf) as file name (mode 0644) to files. */
static enum ck_code ngx_tok_add(struct dep_files *files, const char *name, struct ck_err *err,
				const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum ck_code
ngx_tok_add(struct dep_files *files, const char *name, struct ck_err *err, const char *fmt, ...)
{
	char *text = malloc(NGX_TOK_TEXT_MAX);
	va_list ap;
	int len;

	if (text == NULL)
		return CK_OOM(err);
	va_start(ap, fmt);
	len = vsnprintf(text, NGX_TOK_TEXT_MAX, fmt, ap);
	va_end(ap);
	if (len < 0 || len >= NGX_TOK_TEXT_MAX) {
		free(text);
		return CK_FAIL(err, CK_ERR_TOO_LARGE, "%s would be over %d bytes", name,
			       NGX_TOK_TEXT_MAX);
	}
	return dep_files_add_take(files, name, (unsigned char *)text, (size_t)len, 0644, 0, err);
}

enum ck_code
dep_nginx_token_render(struct dep_job *job, struct dep_files *out, struct ck_err *err)
{
	const struct ngx_tok *t = job->priv;
	const char *dir = job->spec->path;
	struct dep_files files;
	enum ck_code rc;

	if (t == NULL)
		return CK_FAIL(err, CK_ERR_STATE, "the token key's nginx settings were not prepared");
	if ((rc = dep_render_cert_set(job->m, &files, err)) != CK_OK)
		return rc;
	rc = ngx_tok_add(&files, DEP_NGINX_OPENSSL_CNF, err,
			 "# Written by certkeep for binding %s: loads OpenSSL's pkcs11 engine so\n"
			 "# nginx signs with the key on the token.  Start nginx with\n"
			 "# OPENSSL_CONF=%s/%s in its environment.  No secret here.\n"
			 "openssl_conf = certkeep_init\n\n[certkeep_init]\n"
			 "engines = certkeep_engines\n\n[certkeep_engines]\n"
			 "pkcs11 = certkeep_pkcs11\n\n[certkeep_pkcs11]\nengine_id = pkcs11\n"
			 "dynamic_path = %s\nMODULE_PATH = %s\ninit = 1\n",
			 job->m->binding, dir, DEP_NGINX_OPENSSL_CNF, t->engine, t->module);
	if (rc == CK_OK)
		rc = ngx_tok_add(&files, DEP_NGINX_SSL_CONF, err,
				 "# Written by certkeep for binding %s (certificate %.16s): include\n"
				 "# this file in the server block.  The key stays on its token.\n"
				 "ssl_certificate %s/%s;\nssl_certificate_key \"engine:pkcs11:%s\";\n",
				 job->m->binding, job->m->sha256, dir, DEP_PEM_FULLCHAIN, t->uri);
	if (rc != CK_OK) {
		dep_files_cleanup(&files);
		return rc;
	}
	*out = files;
	return CK_OK;
}
