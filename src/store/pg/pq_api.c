/*
 * pg/pq_api.c - loads libpq on first use (pg/pq_api.h, core/dl.h).
 *
 * Must never: load it for a command that does not open a PostgreSQL
 * store, crash when it is missing.
 */
#define ST_PQ_API_LOADER
#include "store/pg/pq_api.h"

#include "core/dl.h"

struct st_pq_api st_pq;

static struct ck_dl pq_dl = CK_DL_INIT(CK_PQ_SONAME, "a PostgreSQL store (--store "
				       "postgresql://...)", "libpq5");

static void
pq_load_once(void)
{
	void *h = ck_dl_open(&pq_dl);
	int ok = h != NULL;

#define ST_PQ_RESOLVE(f) \
	ok = ok && (st_pq.f = (__typeof__(st_pq.f))ck_dl_sym(&pq_dl, h, #f)) != NULL;
	ST_PQ_FUNCTIONS(ST_PQ_RESOLVE)
#undef ST_PQ_RESOLVE
	ck_dl_done(&pq_dl, h, ok);
}

enum ck_code
st_pg_load(struct ck_err *err)
{
	return ck_dl_load(&pq_dl, pq_load_once, err);
}
