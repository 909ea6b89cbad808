/*
 * pg/pq_api.h - libpq, opened on first use (core/dl.h): only a PostgreSQL
 * store maps it.  Include this instead of <libpq-fe.h>; the PQ* calls in
 * this directory read as usual and go through st_pq, a table of pointers
 * typed by libpq's own prototypes.  The library is not linked, so a call
 * to a PQ function missing from this list fails to link.  st_pg_load must
 * have succeeded first (pg_open calls it; nothing else reaches libpq).
 */
#ifndef CK_STORE_PG_PQ_API_H
#define CK_STORE_PG_PQ_API_H

#include <libpq-fe.h>

#include "core/core.h"

/* Every libpq function the driver calls. */
#define ST_PQ_FUNCTIONS(X) \
	X(PQcancel) \
	X(PQclear) \
	X(PQcmdStatus) \
	X(PQcmdTuples) \
	X(PQconnectPoll) \
	X(PQconnectStartParams) \
	X(PQconninfo) \
	X(PQconninfoFree) \
	X(PQconninfoParse) \
	X(PQconsumeInput) \
	X(PQdb) \
	X(PQerrorMessage) \
	X(PQfinish) \
	X(PQflush) \
	X(PQfreeCancel) \
	X(PQfreemem) \
	X(PQftype) \
	X(PQgetCancel) \
	X(PQgetResult) \
	X(PQgetisnull) \
	X(PQgetlength) \
	X(PQgetvalue) \
	X(PQhost) \
	X(PQisBusy) \
	X(PQnotifies) \
	X(PQntuples) \
	X(PQport) \
	X(PQresultErrorField) \
	X(PQresultErrorMessage) \
	X(PQresultStatus) \
	X(PQsendQuery) \
	X(PQsendQueryParams) \
	X(PQsetNoticeProcessor) \
	X(PQsetnonblocking) \
	X(PQsocket) \
	X(PQstatus) \
	X(PQtransactionStatus) \
	X(PQunescapeBytea)

struct st_pq_api {
#define ST_PQ_MEMBER(f) __typeof__(f) *f;
	ST_PQ_FUNCTIONS(ST_PQ_MEMBER)
#undef ST_PQ_MEMBER
};

/* Filled once by st_pg_load; read-only afterwards. */
extern struct st_pq_api st_pq;

/*
 * Opens libpq (the soname the build linked against) and resolves every
 * function, once per process, safe from several threads at once.  CK_OK,
 * or CK_ERR_UNSUPPORTED naming the package to install (every later call
 * gives the same answer).
 */
enum ck_code st_pg_load(struct ck_err *err);

#ifndef ST_PQ_API_LOADER
#define PQcancel (st_pq.PQcancel)
#define PQclear (st_pq.PQclear)
#define PQcmdStatus (st_pq.PQcmdStatus)
#define PQcmdTuples (st_pq.PQcmdTuples)
#define PQconnectPoll (st_pq.PQconnectPoll)
#define PQconnectStartParams (st_pq.PQconnectStartParams)
#define PQconninfo (st_pq.PQconninfo)
#define PQconninfoFree (st_pq.PQconninfoFree)
#define PQconninfoParse (st_pq.PQconninfoParse)
#define PQconsumeInput (st_pq.PQconsumeInput)
#define PQdb (st_pq.PQdb)
#define PQerrorMessage (st_pq.PQerrorMessage)
#define PQfinish (st_pq.PQfinish)
#define PQflush (st_pq.PQflush)
#define PQfreeCancel (st_pq.PQfreeCancel)
#define PQfreemem (st_pq.PQfreemem)
#define PQftype (st_pq.PQftype)
#define PQgetCancel (st_pq.PQgetCancel)
#define PQgetResult (st_pq.PQgetResult)
#define PQgetisnull (st_pq.PQgetisnull)
#define PQgetlength (st_pq.PQgetlength)
#define PQgetvalue (st_pq.PQgetvalue)
#define PQhost (st_pq.PQhost)
#define PQisBusy (st_pq.PQisBusy)
#define PQnotifies (st_pq.PQnotifies)
#define PQntuples (st_pq.PQntuples)
#define PQport (st_pq.PQport)
#define PQresultErrorField (st_pq.PQresultErrorField)
#define PQresultErrorMessage (st_pq.PQresultErrorMessage)
#define PQresultStatus (st_pq.PQresultStatus)
#define PQsendQuery (st_pq.PQsendQuery)
#define PQsendQueryParams (st_pq.PQsendQueryParams)
#define PQsetNoticeProcessor (st_pq.PQsetNoticeProcessor)
#define PQsetnonblocking (st_pq.PQsetnonblocking)
#define PQsocket (st_pq.PQsocket)
#define PQstatus (st_pq.PQstatus)
#define PQtransactionStatus (st_pq.PQtransactionStatus)
#define PQunescapeBytea (st_pq.PQunescapeBytea)
#endif

#endif
