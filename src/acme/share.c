/*
 * share.c - what the ACME clients of one batch (the renewal scheduler's
 * workers) hand on to each other instead of asking the server again: per
 * directory URL (and CA bundle) the directory's body, the unused nonces
 * of clients that are done, and their idle libcurl handles with the live
 * connection and TLS session in them.  A batch of n certificates then
 * fetches the directory once and a nonce only when none is left over,
 * not n times each.
 *
 * Every nonce handed out is removed from the share first, so no nonce is
 * ever given to two clients (a stale one is answered badNonce, which the
 * client retries with the fresh nonce of that answer).  A handle is used
 * by one client at a time.  All of it is behind one mutex.
 *
 * Must never: hand a nonce or a handle to two clients at once; serve a
 * directory fetched for another URL or CA bundle.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"

#define SHARE_SERVERS_MAX 8     /* distinct directory URLs remembered */
#define SHARE_NONCES_MAX 64     /* nonces kept per server */
#define SHARE_IDLE_MAX 16       /* idle handles kept per server (>= the workers) */

struct share_server {
	char *url;
	char *ca_bundle;              /* NULL: the system's */
	char *dir_body;               /* the directory as the server sent it, or NULL */
	size_t dir_len;
	char *nonces[SHARE_NONCES_MAX];
	size_t nnonces;
	struct acme_curl *idle[SHARE_IDLE_MAX];
	size_t nidle;
};

struct acme_share {
	pthread_mutex_t lock;
	struct share_server s[SHARE_SERVERS_MAX];
	size_t n;
};

enum ck_code
acme_share_new(struct acme_share **out, struct ck_err *err)
{
	struct acme_share *sh = calloc(1, sizeof(*sh));

	if (sh == NULL)
		return CK_OOM(err);
	if (pthread_mutex_init(&sh->lock, NULL) != 0) {
		free(sh);
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a mutex");
	}
	*out = sh;
	return CK_OK;
}

void
acme_share_free(struct acme_share *sh)
{
	size_t i, j;

	if (sh == NULL)
		return;
	for (i = 0; i < sh->n; i++) {
		struct share_server *s = &sh->s[i];
		free(s->url);
		free(s->ca_bundle);
		free(s->dir_body);
		for (j = 0; j < s->nnonces; j++)
			free(s->nonces[j]);
		for (j = 0; j < s->nidle; j++)
			acme_curl_free(s->idle[j]);
	}
	pthread_mutex_destroy(&sh->lock);
	free(sh);
}

static int
same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The entry for (url, ca_bundle), made when add and there is room; NULL if none. Locked. */
static struct share_server *
share_find(struct acme_share *sh, const char *url, const char *ca_bundle, int add)
{
	struct share_server *s;
	size_t i;

	for (i = 0; i < sh->n; i++)
		if (strcmp(sh->s[i].url, url) == 0 && same_text(sh->s[i].ca_bundle, ca_bundle))
			return &sh->s[i];
	if (!add || sh->n >= SHARE_SERVERS_MAX)
		return NULL;
	s = &sh->s[sh->n];
	memset(s, 0, sizeof(*s));
	if ((s->url = strdup(url)) == NULL ||
	    (ca_bundle != NULL && (s->ca_bundle = strdup(ca_bundle)) == NULL)) {
		free(s->url);
		s->url = NULL;
		return NULL;
	}
	sh->n++;
	return s;
}

struct acme_curl *
acme_share_take_curl(struct acme_share *sh, const char *url, const char *ca_bundle)
{
	struct share_server *s;
	struct acme_curl *t = NULL;

	if (sh == NULL)
		return NULL;
	pthread_mutex_lock(&sh->lock);
	if ((s = share_find(sh, url, ca_bundle, 0)) != NULL && s->nidle > 0)
		t = s->idle[--s->nidle];
	pthread_mutex_unlock(&sh->lock);
	return t;
}

void
acme_share_put_curl(struct acme_share *sh, const char *url, const char *ca_bundle,
		    struct acme_curl *t)
{
	struct share_server *s;

	if (t == NULL)
		return;
	if (sh != NULL) {
		pthread_mutex_lock(&sh->lock);
		if ((s = share_find(sh, url, ca_bundle, 1)) != NULL && s->nidle < SHARE_IDLE_MAX) {
			s->idle[s->nidle++] = t;
			t = NULL;
		}
		pthread_mutex_unlock(&sh->lock);
	}
	acme_curl_free(t);
}

char *
acme_share_take_nonce(struct acme_share *sh, const char *url, const char *ca_bundle)
{
	struct share_server *s;
	char *n = NULL;

	if (sh == NULL)
		return NULL;
	pthread_mutex_lock(&sh->lock);
	if ((s = share_find(sh, url, ca_bundle, 0)) != NULL && s->nnonces > 0)
		n = s->nonces[--s->nnonces];
	pthread_mutex_unlock(&sh->lock);
	return n;
}

void
acme_share_put_nonce(struct acme_share *sh, const char *url, const char *ca_bundle, char *nonce)
{
	struct share_server *s;

	if (nonce == NULL)
		return;
	if (sh != NULL) {
		pthread_mutex_lock(&sh->lock);
		if ((s = share_find(sh, url, ca_bundle, 1)) != NULL &&
		    s->nnonces < SHARE_NONCES_MAX) {
			s->nonces[s->nnonces++] = nonce;
			nonce = NULL;
		}
		pthread_mutex_unlock(&sh->lock);
	}
	free(nonce);
}

enum ck_code
acme_share_directory(struct acme_share *sh, const char *url, const char *ca_bundle,
		     char **body, size_t *len)
{
	struct share_server *s;
	enum ck_code rc = CK_ERR_NOT_FOUND;

	*body = NULL;
	*len = 0;
	if (sh == NULL)
		return rc;
	pthread_mutex_lock(&sh->lock);
	if ((s = share_find(sh, url, ca_bundle, 0)) != NULL && s->dir_body != NULL) {
		rc = CK_ERR_NOMEM;
		if ((*body = malloc(s->dir_len + 1)) != NULL) {
			memcpy(*body, s->dir_body, s->dir_len + 1);
			*len = s->dir_len;
			rc = CK_OK;
		}
	}
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

void
acme_share_keep_directory(struct acme_share *sh, const char *url, const char *ca_bundle,
			  const char *body, size_t len)
{
	struct share_server *s;
	char *copy;

	if (sh == NULL || body == NULL)
		return;
	pthread_mutex_lock(&sh->lock);
	if ((s = share_find(sh, url, ca_bundle, 1)) != NULL && s->dir_body == NULL &&
	    (copy = malloc(len + 1)) != NULL) {
		memcpy(copy, body, len);
		copy[len] = '\0';
		s->dir_body = copy;
		s->dir_len = len;
	}
	pthread_mutex_unlock(&sh->lock);
}
