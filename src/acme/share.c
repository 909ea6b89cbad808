/*
 * share.c - what the ACME clients of one batch (the renewal scheduler's
 * workers) hand on to each other instead of asking the server again: per
 * directory URL (and CA bundle) the directory's body, the unused nonces
 * of clients that are done, and the idle libcurl handles with the live
 * connection and TLS session in them (a client of a batch borrows one for
 * each request: client.c).  A batch of n certificates then fetches the
 * directory once, a nonce only when none is left over, and opens as many
 * connections as it has requests in flight at once, not n of each.
 *
 * Nonces are a pool every client of the batch feeds and draws from: a
 * client puts back the nonce in hand when it is about to sleep (a poll, a
 * Retry-After) or is done, and one that finds the pool empty while other
 * clients hold nonces (they will put them back) waits a short bounded
 * time for one before it sends HEAD newNonce.  Every nonce handed out is
 * removed from the pool first, so no nonce is ever given to two clients;
 * one older than ACME_NONCE_MAX_AGE_MS is dropped, never handed out (a
 * stale one costs a badNonce round trip).  A handle is used by one client
 * at a time.  All of it is behind one mutex.
 *
 * The share may outlive one batch (the agent keeps one for its life): a
 * directory that looks stale (acme_share_forget_directory) is dropped and
 * fetched again by the next client that needs it.
 *
 * Must never: hand a nonce or a handle to two clients at once; serve a
 * directory fetched for another URL or CA bundle.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/acme_int.h"

#define SHARE_SERVERS_MAX 8     /* distinct directory URLs remembered */
#define SHARE_NONCES_MAX 64     /* nonces kept per server */
#define SHARE_IDLE_MAX 16       /* idle handles kept per server (>= the workers) */

struct share_nonce {
	char *value;
	long long at;                 /* ck_mono_ms() when the server sent it */
};

struct share_server {
	char *url;
	char *ca_bundle;              /* NULL: the system's */
	char *dir_body;               /* the directory as the server sent it, or NULL */
	size_t dir_len;
	struct share_nonce nonces[SHARE_NONCES_MAX]; /* oldest first */
	size_t nnonces;
	size_t holders;               /* clients counted as holding a nonce (they give it back) */
	struct acme_curl *idle[SHARE_IDLE_MAX];
	size_t nidle;
};

struct acme_share {
	pthread_mutex_t lock;
	pthread_cond_t nonce_back;    /* a nonce was put back */
	struct share_server s[SHARE_SERVERS_MAX];
	size_t n;
};

enum ck_code
acme_share_new(struct acme_share **out, struct ck_err *err)
{
	struct acme_share *sh = calloc(1, sizeof(*sh));
	pthread_condattr_t ca;

	if (sh == NULL)
		return CK_OOM(err);
	if (pthread_mutex_init(&sh->lock, NULL) != 0) {
		free(sh);
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a mutex");
	}
	/* Waits are measured on the monotonic clock: a clock step cannot stretch one. */
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&sh->nonce_back, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		pthread_mutex_destroy(&sh->lock);
		free(sh);
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a condition variable");
	}
	pthread_condattr_destroy(&ca);
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
			free(s->nonces[j].value);
		for (j = 0; j < s->nidle; j++)
			acme_curl_free(s->idle[j]);
	}
	pthread_cond_destroy(&sh->nonce_back);
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

/* Drops the pool's nonces that are too old at now_ms (they are oldest first). Locked. */
static void
share_nonces_expire(struct share_server *s, long long now_ms)
{
	size_t i, old = 0;

	while (old < s->nnonces && now_ms - s->nonces[old].at > ACME_NONCE_MAX_AGE_MS)
		free(s->nonces[old++].value);
	if (old == 0)
		return;
	for (i = old; i < s->nnonces; i++)
		s->nonces[i - old] = s->nonces[i];
	s->nnonces -= old;
}

/* Counts the caller as a holder (once). Locked. */
static void
share_hold(struct share_server *s, int *held)
{
	if (!*held) {
		s->holders++;
		*held = 1;
	}
}

char *
acme_share_take_nonce(struct acme_share *sh, const char *url, const char *ca_bundle,
		      unsigned wait_ms, int *held)
{
	struct share_server *s;
	struct timespec until;
	long long now = ck_mono_ms();
	char *n = NULL;

	if (sh == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(wait_ms / 1000u);
	until.tv_nsec += (long)(wait_ms % 1000u) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sh->lock);
	if ((s = share_find(sh, url, ca_bundle, 1)) == NULL)
		goto out;
	for (;;) {
		share_nonces_expire(s, now);
		if (s->nnonces > 0) {
			n = s->nonces[--s->nnonces].value; /* the newest */
			share_hold(s, held);
			break;
		}
		/* Wait only while another client holds one it will give back. */
		if (wait_ms == 0 || s->holders <= (size_t)(*held != 0) ||
		    pthread_cond_timedwait(&sh->nonce_back, &sh->lock, &until) != 0)
			break;
		now = ck_mono_ms();
	}
out:
	pthread_mutex_unlock(&sh->lock);
	return n;
}

void
acme_share_held_nonce(struct acme_share *sh, const char *url, const char *ca_bundle, int *held)
{
	struct share_server *s;

	if (sh == NULL || *held)
		return;
	pthread_mutex_lock(&sh->lock);
	if ((s = share_find(sh, url, ca_bundle, 1)) != NULL)
		share_hold(s, held);
	pthread_mutex_unlock(&sh->lock);
}

void
acme_share_put_nonce(struct acme_share *sh, const char *url, const char *ca_bundle, char *nonce,
		     long long at, int *held)
{
	struct share_server *s;

	if (sh != NULL && (nonce != NULL || *held)) {
		pthread_mutex_lock(&sh->lock);
		if ((s = share_find(sh, url, ca_bundle, 1)) != NULL) {
			if (*held && s->holders > 0)
				s->holders--;
			if (nonce != NULL && ck_mono_ms() - at <= ACME_NONCE_MAX_AGE_MS) {
				if (s->nnonces == SHARE_NONCES_MAX) { /* full: the oldest goes */
					free(s->nonces[0].value);
					memmove(&s->nonces[0], &s->nonces[1],
						(SHARE_NONCES_MAX - 1) * sizeof(s->nonces[0]));
					s->nnonces--;
				}
				s->nonces[s->nnonces].value = nonce;
				s->nonces[s->nnonces++].at = at;
				nonce = NULL;
			}
			pthread_cond_broadcast(&sh->nonce_back); /* a nonce, or one holder less */
		}
		pthread_mutex_unlock(&sh->lock);
	}
	*held = 0;
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
acme_share_forget_directory(struct acme_share *sh, const char *url, const char *ca_bundle)
{
	struct share_server *s;

	if (sh == NULL)
		return;
	pthread_mutex_lock(&sh->lock);
	if ((s = share_find(sh, url, ca_bundle, 0)) != NULL) {
		free(s->dir_body);
		s->dir_body = NULL;
		s->dir_len = 0;
	}
	pthread_mutex_unlock(&sh->lock);
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
