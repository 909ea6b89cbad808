/*
 * nodes.c - the nodes of a fleet sharing one store (schema 12): each
 * node's heartbeat, version, the highest store generation it saw and the
 * generation at which its bindings were last all deployed.  The agent
 * (src/cli/cmd_agent.c) beats; deploy and renew record a one-off beat;
 * doctor (doctor_fleet.c) reads the rows to find a node that stopped
 * beating, one that is behind, and a store whose generation went back.
 *
 * Must never: bump the store generation (a heartbeat would wake every
 * agent of the fleet), or let a node's seen generation go down.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* The upsert of a heartbeat; started_expr keeps or resets `started`. */
#define NODE_BEAT_SQL(started_expr) \
	"INSERT INTO nodes (name, started, heartbeat, heartbeat_s, version, " \
	"seen_generation, deployed_generation) VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6) " \
	"ON CONFLICT(name) DO UPDATE SET heartbeat = excluded.heartbeat, " \
	"started = " started_expr ", heartbeat_s = excluded.heartbeat_s, " \
	"version = excluded.version, seen_generation = CASE WHEN " \
	"excluded.seen_generation > nodes.seen_generation THEN excluded.seen_generation " \
	"ELSE nodes.seen_generation END, deployed_generation = " \
	"coalesce(excluded.deployed_generation, nodes.deployed_generation)"

enum ck_code
ck_store_node_beat(struct ck_store *st, const struct ck_node_beat *b, struct ck_err *err)
{
	int64_t now = (int64_t)st_now(st), seen;
	enum ck_code rc;

	if (b == NULL)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "no heartbeat given");
	if ((rc = st_check_name("node name", b->name, 1, err)) != CK_OK ||
	    (rc = st_check_text("version", b->version, 31, 1, err)) != CK_OK)
		return rc;
	if (b->seen_generation > (uint64_t)INT64_MAX)
		return CK_FAIL(err, CK_ERR_INVALID_ARG, "generation out of range");
	seen = (int64_t)b->seen_generation;
	/* Two texts rather than CASE over parameters: PostgreSQL types a
	 * parameter from its column, not inside a CASE. */
	return st_tx_exec(st, err, "store.node_beat", NULL,
			  b->restart ? NODE_BEAT_SQL("excluded.started")
				     : NODE_BEAT_SQL("nodes.started"),
			  "tiitiI", b->name, now, (int64_t)b->heartbeat_s, b->version, seen,
			  b->deployed ? seen : (int64_t)0);
}

static enum ck_code
node_row(struct st_stmt *s, void *elem, struct ck_err *err)
{
	struct ck_node *n = elem;

	(void)err;
	st_col_copy(s, 0, n->name, sizeof(n->name));
	n->started = (time_t)st_col_int64(s, 1);
	n->heartbeat = (time_t)st_col_int64(s, 2);
	n->heartbeat_s = (unsigned)st_col_int64(s, 3);
	st_col_copy(s, 4, n->version, sizeof(n->version));
	n->seen_generation = (uint64_t)st_col_int64(s, 5);
	n->deployed_generation = (uint64_t)st_col_int64(s, 6);
	return CK_OK;
}

static const struct st_list_spec node_spec = {
	sizeof(struct ck_node), "nodes", node_row, NULL,
};

enum ck_code
ck_store_node_list(struct ck_store *st, struct ck_node_list *out, struct ck_err *err)
{
	return st_list_read(st, err, &node_spec, &out->items, &out->n,
			    "SELECT name, started, heartbeat, heartbeat_s, version, seen_generation, "
			    "coalesce(deployed_generation, 0) FROM nodes ORDER BY name", "");
}

void
ck_node_list_cleanup(struct ck_node_list *l)
{
	if (l != NULL)
		st_list_free(&l->items, &l->n, sizeof(*l->items), NULL);
}
