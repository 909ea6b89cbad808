/*
 * doctor_fleet.c - doctor's checks of a fleet sharing one store (issue
 * 12), over the nodes table (nodes.c): CK-D040 a renewal lease held by a
 * node whose agent stopped heart-beating, CK-D041 a node whose bindings
 * are behind their lineage's current certificate for longer than a grace
 * period, CK-D042 a node that saw a higher store generation than the
 * store has now (the store was restored from an older backup), and the
 * repair of the last: the generation moved past every one a node saw.
 *
 * A lease names its node as the first word of renewal.claim_owner (the
 * renew run's owner text begins with the node name).
 *
 * Must never: change the store while checking.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store/doctor_int.h"
#include "store/renewal.h"

/* An agent that missed this many heartbeats in a row has stopped. */
#define DR_BEATS_MISSED 3

/* The node of owner (its first word) in nodes, or NULL. */
static const struct ck_node *
fleet_owner_node(const struct ck_node_list *nodes, const char *owner)
{
	size_t i, n = strcspn(owner, " ");

	for (i = 0; i < nodes->n; i++)
		if (strlen(nodes->items[i].name) == n && strncmp(nodes->items[i].name, owner, n) == 0)
			return &nodes->items[i];
	return NULL;
}

/* What fleet_one_lease needs. */
struct fleet_leases {
	const struct ck_node_list *nodes;
	time_t now;
	struct ck_findings *f;
};

/* CK-D040 for one lease held now (st_row_visit). */
static enum ck_code
fleet_one_lease(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	struct fleet_leases *a = arg;
	char lineage[CK_STORE_NAME_MAX + 1], owner[CK_RENEWAL_OWNER_MAX], beat[21], until[21];
	const struct ck_node *n;
	time_t claim_until = (time_t)st_col_int64(s, 2);

	(void)st;
	st_col_copy(s, 0, lineage, sizeof(lineage));
	st_col_copy(s, 1, owner, sizeof(owner));
	n = fleet_owner_node(a->nodes, owner);
	if (n == NULL || n->heartbeat_s == 0 ||
	    n->heartbeat + (time_t)n->heartbeat_s * DR_BEATS_MISSED >= a->now)
		return CK_OK;
	ck_time_rfc3339(n->heartbeat, beat);
	ck_time_rfc3339(claim_until, until);
	return dr_add(a->f, DR_NODE_LEASE_ORPHANED, CK_SEV_WARNING, 0, 0,
		      st_printf("lineage %s", lineage),
		      st_printf("lineage %s is leased by node %s (%s) until %s, but that node's "
				"agent last beat at %s (it promised one every %u s)", lineage, n->name,
				owner, until, beat, n->heartbeat_s),
		      st_printf("start certkeep agent on node %s again (it resumes the order), or "
				"wait until %s: another node takes the lease over then", n->name,
				until), err);
}

/* One row of the behind query, grouped by node in fleet_behind. */
struct fleet_behind_row {
	char node[CK_STORE_NAME_MAX + 1];
	char first[CK_STORE_NAME_MAX + 1];  /* the first binding of the node (by name) */
	size_t count;
	time_t since;                       /* the oldest current certificate it lacks */
	struct ck_findings *f;
	time_t now;
	int has;
};

/* Emits the finding of the node collected in g. */
static enum ck_code
fleet_behind_emit(struct fleet_behind_row *g, struct ck_err *err)
{
	char since[21];

	if (!g->has)
		return CK_OK;
	g->has = 0;
	ck_time_rfc3339(g->since, since);
	return dr_add(g->f, DR_NODE_BEHIND, CK_SEV_WARNING, 0, 0, st_printf("node %s", g->node),
		      st_printf("node %s has %zu binding%s (%s%s) behind its lineage's current "
				"certificate, stored at %s", g->node, g->count,
				g->count == 1 ? "" : "s", g->first, g->count > 1 ? ", ..." : "",
				since),
		      st_printf("on node %s: certkeep --node %s deploy (or start its agent: "
				"systemctl start certkeep-agent)", g->node, g->node), err);
}

/* One behind binding, ordered by node (st_row_visit). */
static enum ck_code
fleet_one_behind(struct ck_store *st, struct st_stmt *s, void *arg, struct ck_err *err)
{
	struct fleet_behind_row *g = arg;
	const char *node = st_col_text(s, 0);
	time_t created = (time_t)st_col_int64(s, 2);
	enum ck_code rc;

	(void)st;
	if (node == NULL)
		return CK_OK;
	if (g->has && strcmp(g->node, node) != 0 && (rc = fleet_behind_emit(g, err)) != CK_OK)
		return rc;
	if (!g->has) {
		g->has = 1;
		g->count = 0;
		g->since = created;
		snprintf(g->node, sizeof(g->node), "%s", node);
		st_col_copy(s, 1, g->first, sizeof(g->first));
	}
	g->count++;
	if (created < g->since)
		g->since = created;
	return CK_OK;
}

/* CK-D042 for every node that saw a generation above gen. */
static enum ck_code
fleet_generation(const struct ck_node_list *nodes, uint64_t gen, struct ck_findings *f,
		 struct ck_err *err)
{
	enum ck_code rc = CK_OK;
	size_t i;

	for (i = 0; i < nodes->n && rc == CK_OK; i++) {
		const struct ck_node *n = &nodes->items[i];

		if (n->seen_generation <= gen)
			continue;
		rc = dr_add(f, DR_GENERATION_BACKWARDS, CK_SEV_ERROR, 0, 0,
			    st_printf("node %s", n->name),
			    st_printf("node %s saw store generation %" PRIu64 ", but the store is "
				      "at %" PRIu64 " now: it was restored from an older backup",
				      n->name, n->seen_generation, gen),
			    st_printf("check what the backup lost (certkeep renew --all --dry-run, "
				      "certkeep bindings), then certkeep doctor --repair moves the "
				      "generation past %" PRIu64 " and restart the agents",
				      n->seen_generation), err);
	}
	return rc;
}

enum ck_code
dr_check_fleet(struct ck_store *st, const struct ck_doctor_opts *o, struct ck_findings *f,
	       struct ck_err *err)
{
	struct ck_node_list nodes = { NULL, 0 };
	struct fleet_leases leases = { &nodes, o->now, f };
	struct fleet_behind_row g;
	time_t grace = o->node_grace_s == 0 ? CK_DOCTOR_NODE_GRACE_S
		       : o->node_grace_s < 0 ? 0 : o->node_grace_s;
	uint64_t gen = 0;
	enum ck_code rc;

	memset(&g, 0, sizeof(g));
	g.f = f;
	g.now = o->now;
	if ((rc = ck_store_node_list(st, &nodes, err)) != CK_OK ||
	    (rc = ck_store_generation(st, &gen, err)) != CK_OK)
		goto out;
	rc = st_each_row(st, err, fleet_one_lease, &leases,
			 "SELECT lineage, claim_owner, claim_until FROM renewal "
			 "WHERE claim_owner IS NOT NULL AND claim_until > ? ORDER BY lineage", "i",
			 (int64_t)o->now);
	if (rc != CK_OK)
		goto out;
	rc = st_each_row(st, err, fleet_one_behind, &g,
			 "SELECT b.node, b.name, c.created FROM bindings b "
			 "JOIN lineages l ON l.name = b.lineage "
			 "JOIN certificates c ON c.id = l.current_cert_id "
			 "WHERE b.node IS NOT NULL AND c.created <= ? AND "
			 "(b.last_sha256 IS NULL OR b.last_sha256 <> c.sha256) "
			 "ORDER BY b.node, b.name", "i", (int64_t)(o->now - grace));
	if (rc == CK_OK)
		rc = fleet_behind_emit(&g, err);
	if (rc == CK_OK)
		rc = fleet_generation(&nodes, gen, f, err);
out:
	ck_node_list_cleanup(&nodes);
	return rc;
}

enum ck_code
dr_repair_generation(struct ck_store *st, struct ck_findings *f, struct ck_err *err)
{
	int64_t seen = 0, gen = 0;
	enum ck_code rc;

	if ((rc = st_query_int(st, err, &seen, "SELECT coalesce(max(seen_generation), 0) FROM nodes",
			       "")) != CK_OK ||
	    (rc = st_query_int(st, err, &gen, "SELECT value FROM generation WHERE id = 1", "")) !=
		    CK_OK)
		return rc;
	if (seen <= gen)
		return CK_OK;
	rc = st_exec(st, err, NULL, "UPDATE generation SET value = ? WHERE id = 1", "i", seen + 1);
	if (rc != CK_OK)
		return rc;
	rc = dr_add(f, DR_GENERATION_BACKWARDS, CK_SEV_INFO, 0, 0, st_printf("store generation"),
		    st_printf("store generation moved from %lld to %lld, past every generation a "
			      "node saw", (long long)gen, (long long)seen + 1),
		    st_printf("restart certkeep agent on every node"), err);
	if (rc == CK_OK)
		f->items[f->n - 1].fixed = 1;
	return rc;
}
