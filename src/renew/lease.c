/*
 * lease.c - a run's renewal leases (store/renewal.h): the run's owner name
 * "<node> pid <pid> run <nonce>", the grant (taking over only an expired
 * lease, or one whose holder is provably dead on this same node), the
 * fence on the worker's store handle while it renews, and one heartbeat
 * thread that extends every lease the run holds every TTL/3.
 *
 * A process that is stopped (SIGSTOP) or starved stops heart-beating with
 * it: its leases expire after the TTL, another node may take them, and
 * the fence refuses whatever the stopped process tries to commit after.
 *
 * Must never: take a live lease of another process, leave a worker's
 * handle fenced after its lineage is done, or revive a lease it lost.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "renew/renew_int.h"

/* "<node> pid <pid> run <nonce>": this run's name in the leases it holds. */
static void
lease_owner(struct renew_leases *l)
{
	unsigned int nonce = 0;

	if (RAND_bytes((unsigned char *)&nonce, sizeof(nonce)) != 1)
		nonce = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	snprintf(l->owner, sizeof(l->owner), "%s pid %ld run %08x", ck_ctx_node(l->ctx),
		 (long)getpid(), nonce);
}

/* 1 if owner names a process on this node that is gone. */
static int
lease_owner_gone(const struct renew_leases *l, const char *owner)
{
	char node[CK_NODE_MAX + 1];
	long pid;

	if (owner == NULL || sscanf(owner, "%63[^ ] pid %ld", node, &pid) != 2 || pid <= 0)
		return 0;
	return strcmp(node, ck_ctx_node(l->ctx)) == 0 && kill((pid_t)pid, 0) != 0 &&
	       errno == ESRCH;
}

/* The lease on lineage into *token, taking over one whose holder died here;
 * the slot's dropped lease (if any) given back in the same transaction. */
static enum ck_code
lease_grant(struct renew_leases *l, struct renew_lease_slot *s, struct ck_store *st,
	    const char *lineage, int64_t *token, struct ck_err *err)
{
	time_t until = ck_now(l->ctx) + (time_t)l->ttl;
	struct ck_renewal row;
	enum ck_code rc;

	rc = ck_store_renewal_claim_after(st, s->done[0] != '\0' ? s->done : NULL, lineage,
					  l->owner, until, NULL, token, err);
	if (rc == CK_OK || rc == CK_ERR_BUSY)
		s->done[0] = '\0'; /* its release committed either way */
	if (rc != CK_ERR_BUSY)
		return rc;
	memset(&row, 0, sizeof(row));
	if (ck_store_renewal_get(st, lineage, &row, NULL) == CK_OK &&
	    lease_owner_gone(l, row.claim_owner)) {
		ck_log(&l->ctx->log, CK_LOG_INFO,
		       "lineage %s was claimed by %s, which is no longer running: taking it over",
		       lineage, row.claim_owner);
		ck_err_clear(err);
		rc = ck_store_renewal_claim(st, lineage, l->owner, until, row.claim_owner, token,
					    err);
	}
	ck_renewal_cleanup(&row);
	return rc;
}

/* Extends each lease held (called by the heartbeat without the lock). */
static void
lease_beat(struct renew_leases *l, struct ck_store **st)
{
	struct renew_lease_slot held[CK_RENEW_CONCURRENCY_MAX];
	size_t i, n = 0;
	int broken = 0;
	struct ck_err e;

	pthread_mutex_lock(&l->lock);
	for (i = 0; i < l->nslots; i++)
		if (l->slots[i].held && !l->slots[i].lost)
			held[n++] = l->slots[i];
	pthread_mutex_unlock(&l->lock);
	ck_err_clear(&e);
	if (n > 0 && *st == NULL &&
	    ck_store_open_ex(l->path, l->ctx, CK_STORE_SMALL_CACHE, st, &e) != CK_OK) {
		ck_log(&l->ctx->log, CK_LOG_WARN, "the lease heartbeat cannot open the store (the "
		       "leases expire unless a later beat succeeds): %s", e.msg);
		*st = NULL;
		return;
	}
	for (i = 0; i < n; i++) {
		ck_err_clear(&e);
		if (ck_store_renewal_extend(*st, held[i].lineage, l->owner, held[i].token,
					    ck_now(l->ctx) + (time_t)l->ttl, &e) == CK_OK)
			continue;
		ck_log(&l->ctx->log, CK_LOG_WARN, "lease heartbeat: %s", e.msg);
		if (e.code != CK_ERR_LEASE_LOST) {
			/* the connection may be gone (a server restart, a deadline):
			 * the next beat opens a new one instead of failing on it */
			broken = 1;
			continue;
		}
		pthread_mutex_lock(&l->lock);
		if (l->slots[held[i].index].held && l->slots[held[i].index].token == held[i].token)
			l->slots[held[i].index].lost = 1;
		pthread_mutex_unlock(&l->lock);
	}
	if (broken) {
		ck_store_close(*st);
		*st = NULL;
	}
}

/* The heartbeat: every ttl/3 seconds (at least 1) until renew_leases_stop. */
static void *
lease_heartbeat(void *arg)
{
	struct renew_leases *l = arg;
	struct ck_store *st = NULL;
	struct timespec at;
	time_t period = l->ttl / 3 > 0 ? (time_t)(l->ttl / 3) : 1;

	pthread_mutex_lock(&l->lock);
	while (!l->stop) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += period;
		while (!l->stop && pthread_cond_timedwait(&l->wake, &l->lock, &at) != ETIMEDOUT)
			;
		if (l->stop)
			break;
		pthread_mutex_unlock(&l->lock);
		lease_beat(l, &st);
		pthread_mutex_lock(&l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	ck_store_close(st);
	return NULL;
}

enum ck_code
renew_leases_start(struct renew_leases *l, const struct ck_ctx *ctx, const char *path,
		   unsigned ttl, struct ck_err *err)
{
	pthread_condattr_t ca;
	int ok;

	memset(l, 0, sizeof(*l));
	l->ctx = ctx;
	l->path = path;
	l->ttl = ttl;
	lease_owner(l);
	if (pthread_condattr_init(&ca) != 0)
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create the lease heartbeat's timer");
	ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	     pthread_cond_init(&l->wake, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok)
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create the lease heartbeat's timer");
	if (pthread_mutex_init(&l->lock, NULL) != 0) {
		pthread_cond_destroy(&l->wake);
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot create a mutex");
	}
	if (pthread_create(&l->tid, NULL, lease_heartbeat, l) != 0) {
		pthread_mutex_destroy(&l->lock);
		pthread_cond_destroy(&l->wake);
		return CK_FAIL(err, CK_ERR_INTERNAL, "cannot start the lease heartbeat");
	}
	l->started = 1;
	return CK_OK;
}

void
renew_leases_stop(struct renew_leases *l)
{
	if (!l->started)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = 1;
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->tid, NULL);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->wake);
	l->started = 0;
}

size_t
renew_leases_slot(struct renew_leases *l)
{
	size_t i;

	pthread_mutex_lock(&l->lock);
	i = l->nslots < CK_RENEW_CONCURRENCY_MAX ? l->nslots++ : CK_RENEW_CONCURRENCY_MAX - 1;
	l->slots[i].index = i;
	pthread_mutex_unlock(&l->lock);
	return i;
}

enum ck_code
renew_lease_take(struct renew_leases *l, size_t slot, struct ck_store *st, const char *lineage,
		 struct ck_err *err)
{
	struct renew_lease_slot *s = &l->slots[slot];
	int64_t token = 0;
	enum ck_code rc;

	if ((rc = lease_grant(l, s, st, lineage, &token, err)) != CK_OK)
		return rc;
	if ((rc = ck_store_renewal_fence(st, lineage, l->owner, token, err)) != CK_OK) {
		(void)ck_store_renewal_release(st, lineage, l->owner, NULL);
		return rc;
	}
	pthread_mutex_lock(&l->lock);
	snprintf(s->lineage, sizeof(s->lineage), "%s", lineage);
	s->token = token;
	s->lost = 0;
	s->held = 1;
	pthread_mutex_unlock(&l->lock);
	return CK_OK;
}

void
renew_lease_drop(struct renew_leases *l, size_t slot, struct ck_store *st, const char *lineage)
{
	pthread_mutex_lock(&l->lock);
	l->slots[slot].held = 0;
	pthread_mutex_unlock(&l->lock);
	ck_store_renewal_unfence(st);
	renew_lease_flush(l, slot, st); /* an older one a failed take left behind */
	snprintf(l->slots[slot].done, sizeof(l->slots[slot].done), "%s", lineage);
}

void
renew_lease_flush(struct renew_leases *l, size_t slot, struct ck_store *st)
{
	struct renew_lease_slot *s = &l->slots[slot];
	struct ck_err e;

	if (s->done[0] == '\0' || st == NULL)
		return;
	ck_err_clear(&e);
	if (ck_store_renewal_release(st, s->done, l->owner, &e) != CK_OK)
		ck_log(&l->ctx->log, CK_LOG_WARN, "the lease on %s is not released (it expires): %s",
		       s->done, e.msg);
	s->done[0] = '\0';
}
