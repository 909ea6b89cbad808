/*
 * sqlite/schema.c - the store's schema in SQLite's dialect, as an ordered
 * list of migrations: migration N (1-based) takes the database from
 * version N-1 to N.  The runner that applies them, one transaction each,
 * is the store's (src/store/schema.c); a driver for another database
 * carries the same versions in its own dialect.  docs/store.md documents
 * every table.
 *
 * Must never: edit a migration that has shipped (add a new one instead).
 * A migration of exactly two concatenated literals is written in
 * parentheses, or clang (the fuzz build) takes it for a missing comma.
 */
#include <stddef.h>

#include "store/sqlite/sqlite_int.h"

static const char *const migrations[] = {
	/* 1: the full first schema. */
	"CREATE TABLE generation ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  value INTEGER NOT NULL);"
	"INSERT INTO generation (id, value) VALUES (1, 0);"
	"CREATE TABLE settings ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL);"
	"CREATE TABLE keys ("
	"  id INTEGER PRIMARY KEY,"
	"  spki_sha256 TEXT NOT NULL UNIQUE,"
	"  spki_der BLOB NOT NULL,"
	"  key_type TEXT NOT NULL,"
	"  algorithm TEXT NOT NULL,"
	"  pkcs8_der BLOB,"
	"  pkcs11_uri TEXT,"
	"  created INTEGER NOT NULL,"
	"  CHECK ((pkcs8_der IS NULL) <> (pkcs11_uri IS NULL)));"
	"CREATE TABLE lineages ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  identifiers TEXT NOT NULL,"
	"  key_type TEXT NOT NULL DEFAULT '',"
	"  current_cert_id INTEGER REFERENCES certificates(id) ON DELETE SET NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE certificates ("
	"  id INTEGER PRIMARY KEY,"
	"  der BLOB NOT NULL,"
	"  sha256 TEXT NOT NULL UNIQUE,"
	"  sha1 TEXT NOT NULL,"
	"  spki_sha256 TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  issuer TEXT NOT NULL,"
	"  serial TEXT NOT NULL,"
	"  sans TEXT NOT NULL,"
	"  not_before INTEGER NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  key_algorithm TEXT NOT NULL,"
	"  key_id INTEGER REFERENCES keys(id),"
	"  key_state TEXT NOT NULL CHECK (key_state IN ('linked', 'no-key')),"
	"  lineage_id INTEGER REFERENCES lineages(id) ON DELETE SET NULL,"
	"  origin TEXT,"
	"  alternates TEXT,"
	"  created INTEGER NOT NULL,"
	"  CHECK ((key_id IS NULL) = (key_state = 'no-key')));"
	"CREATE INDEX certificates_spki ON certificates(spki_sha256);"
	"CREATE INDEX certificates_sha1 ON certificates(sha1);"
	"CREATE INDEX certificates_key ON certificates(key_id);"
	"CREATE INDEX certificates_lineage ON certificates(lineage_id);"
	"CREATE TABLE chain ("
	"  cert_id INTEGER NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,"
	"  pos INTEGER NOT NULL,"
	"  der BLOB NOT NULL,"
	"  PRIMARY KEY (cert_id, pos));"
	"CREATE TABLE accounts ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  server TEXT NOT NULL,"
	"  url TEXT,"
	"  key_id INTEGER NOT NULL REFERENCES keys(id),"
	"  pending_key_id INTEGER REFERENCES keys(id),"
	"  contacts TEXT NOT NULL DEFAULT '[]',"
	"  status TEXT NOT NULL DEFAULT 'valid',"
	"  tos_agreed INTEGER NOT NULL DEFAULT 0,"
	"  eab_kid TEXT,"
	"  created INTEGER NOT NULL,"
	"  UNIQUE (server, name));"
	"CREATE TABLE orders ("
	"  id INTEGER PRIMARY KEY,"
	"  lineage TEXT NOT NULL,"
	"  account_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,"
	"  key_id INTEGER REFERENCES keys(id) ON DELETE SET NULL,"
	"  identifiers TEXT NOT NULL,"
	"  url TEXT,"
	"  status TEXT NOT NULL,"
	"  finalize_url TEXT,"
	"  closed INTEGER NOT NULL DEFAULT 0,"
	"  cert_id INTEGER REFERENCES certificates(id) ON DELETE SET NULL,"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL);"
	"CREATE TABLE requests ("
	"  id INTEGER PRIMARY KEY,"
	"  key_id INTEGER REFERENCES keys(id) ON DELETE SET NULL,"
	"  csr_der BLOB NOT NULL,"
	"  identifiers TEXT NOT NULL,"
	"  lineage TEXT,"
	"  created INTEGER NOT NULL,"
	"  closed INTEGER,"
	"  cert_id INTEGER REFERENCES certificates(id) ON DELETE SET NULL);"
	"CREATE TABLE bindings ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  lineage TEXT,"
	"  pinned_sha256 TEXT,"
	"  target TEXT NOT NULL,"
	"  last_sha256 TEXT,"
	"  state TEXT NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  CHECK ((lineage IS NULL) <> (pinned_sha256 IS NULL)));",
	/* 2: an account's key before its last rollover, kept in use until the
	 * rollover's grace ends (a server's stale key cache may still want it) */
	"ALTER TABLE accounts ADD COLUMN previous_key_id INTEGER "
	"  REFERENCES keys(id) ON DELETE SET NULL;"
	"ALTER TABLE accounts ADD COLUMN previous_until INTEGER;",
	/* 3: mark the file as a certkeep store (CK_STORE_APPLICATION_ID), so that
	 * opening refuses other programs' databases before writing to them.
	 * Stores made before this are recognised by their tables. */
	"PRAGMA application_id = 1131107188;",
	/* 4: revocation (RFC 8555 section 7.6) as the server confirmed it: when
	 * certkeep recorded it and the RFC 5280 reason name (NULL: not known,
	 * e.g. the server said alreadyRevoked).  NULL revoked_at = not revoked. */
	("ALTER TABLE certificates ADD COLUMN revoked_at INTEGER;"
	 "ALTER TABLE certificates ADD COLUMN revoke_reason TEXT;"),
	/* 5: the ACME profile a lineage asks for (issue --profile), NULL = none */
	"ALTER TABLE lineages ADD COLUMN profile TEXT;",
	/* 6: chains.  The issuer CN a lineage prefers (issue --preferred-chain,
	 * NULL = the server's default chain) and, per certificate, which of its
	 * chains is selected: 0 = the default chain (table chain), i = the i-th
	 * of its alternates (certificates.alternates). */
	("ALTER TABLE lineages ADD COLUMN preferred_chain TEXT;"
	 "ALTER TABLE certificates ADD COLUMN chain_selected INTEGER NOT NULL DEFAULT 0;"),
	/* 7: indexes for "is this key used" (doctor's per-key check, key info,
	 * prune): without them each key scans every order and request, and a
	 * store that issued n certificates holds n orders. */
	("CREATE INDEX orders_key ON orders(key_id);"
	 "CREATE INDEX requests_key ON requests(key_id);"),
	/* 8: how the lineage's identifiers are proven (challenge type per name and
	 * its settings), a JSON object written by challenge/settings.c, NULL =
	 * never chosen (http-01 listener) */
	"ALTER TABLE lineages ADD COLUMN challenge TEXT;",
	/* 9: renewal (certkeep renew).  renewal: per lineage, the ARI window of
	 * the certificate cert_sha256 and the moment chosen in it, when to ask
	 * renewalInfo again, the failure count and backoff, and the claim of the
	 * run renewing it (owner, expiry, a token that grows with every claim:
	 * the fencing token of a later lease).  rate_limits: a server's
	 * Retry-After (429, 503, rateLimited) per name ('' = the whole server):
	 * nothing is sent for that name before `until`. */
	("CREATE TABLE renewal ("
	 "  lineage TEXT PRIMARY KEY,"
	 "  cert_sha256 TEXT,"
	 "  ari_start INTEGER, ari_end INTEGER, ari_moment INTEGER, ari_next INTEGER,"
	 "  ari_explanation TEXT,"
	 "  failures INTEGER NOT NULL DEFAULT 0,"
	 "  backoff_until INTEGER,"
	 "  last_error TEXT,"
	 "  claim_owner TEXT, claim_until INTEGER,"
	 "  claim_token INTEGER NOT NULL DEFAULT 0,"
	 "  updated INTEGER NOT NULL);"
	 "CREATE TABLE rate_limits ("
	 "  server TEXT NOT NULL,"
	 "  name TEXT NOT NULL,"
	 "  until INTEGER NOT NULL,"
	 "  reason TEXT,"
	 "  PRIMARY KEY (server, name));"),
	/* 10: deployment (issue 9): a binding's reload command and --verify
	 * endpoint, and what its last deploy did: when, the one-line result,
	 * the generation directory it switched to, and the certificate of a
	 * deploy that started and has not recorded its end (a crash). */
	"ALTER TABLE bindings ADD COLUMN reload TEXT;"
	"ALTER TABLE bindings ADD COLUMN verify TEXT;"
	"ALTER TABLE bindings ADD COLUMN deployed_at INTEGER;"
	"ALTER TABLE bindings ADD COLUMN result TEXT;"
	"ALTER TABLE bindings ADD COLUMN generation TEXT;"
	"ALTER TABLE bindings ADD COLUMN pending_sha256 TEXT;",
	/* 11: the PKCS#11 token a lineage's certificate key lives on, so that a
	 * later issue or renew makes it there again: the token's URI (never a
	 * pin-value), the module path given apart from it, and the PIN file's
	 * path (never the PIN, never an fd).  NULL token_uri = software keys. */
	"ALTER TABLE lineages ADD COLUMN token_uri TEXT;"
	"ALTER TABLE lineages ADD COLUMN token_module TEXT;"
	"ALTER TABLE lineages ADD COLUMN token_pin_file TEXT;",
	/* 12: fleets (issue 12).  bindings.node: the node that deploys the
	 * binding; NULL (every binding made before this migration) = any node
	 * that runs deploy or renew on this store, exactly as before, so a
	 * single machine's bindings keep deploying.  nodes: one row per node
	 * that ran an agent, deploy or renew: when it started, its last
	 * heartbeat, how often an agent promised one (0 = not an agent), its
	 * version, the highest store generation it saw, and the generation
	 * at which its bindings were last all deployed. */
	"ALTER TABLE bindings ADD COLUMN node TEXT;"
	"CREATE TABLE nodes ("
	"  name TEXT PRIMARY KEY,"
	"  started INTEGER NOT NULL,"
	"  heartbeat INTEGER NOT NULL,"
	"  heartbeat_s INTEGER NOT NULL DEFAULT 0,"
	"  version TEXT NOT NULL,"
	"  seen_generation INTEGER NOT NULL DEFAULT 0,"
	"  deployed_generation INTEGER);",
	/* 13: a generation per account, bumped by every change of its key
	 * (pending, rollover, registration over the row), URL or status, so a
	 * cached account key (src/flow/account_cache.c) is checked against its
	 * own account's counter, not the global one that moves with every
	 * certificate of a busy fleet (docs/store.md, "Generations and caches"). */
	"ALTER TABLE accounts ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;",
	/* 14 (issue 12, fleets): the order behind a certificate, looked up for
	 * every lineage a renewal plans (ck_store_cert_order_account: by
	 * cert_id, or by the order URL an imported certificate names): without
	 * these both engines read every order per lineage, so a due-scan grew
	 * with lineages x orders (78 ms per lineage at 200,000 orders on
	 * PostgreSQL). */
	"CREATE INDEX orders_cert ON orders(cert_id);"
	"CREATE INDEX orders_url ON orders(url);",
	/* 15 (issue 12, the due-scan): lineages.due_at, the moment a renewal
	 * plan must next look at the lineage (docs/store.md, "The due-scan"):
	 * <= 0 = look now and compute it; every existing lineage gets 0, so
	 * the first plan fills it.  A plan reads only due_at <= now, by the
	 * index, in (due_at, id) order, and stores a value only over the one
	 * it read.  Every change that moves it sets it to a random negative
	 * number in its own transaction (so a plan's write over an older read
	 * fails): a new current certificate or new names (lineages_due_reset),
	 * a revocation or a key linked or unlinked (certificates_due_reset);
	 * an ARI answer stored and a renewal done do it in renewal.c.  A first
	 * current certificate (none before) needs no trigger: due_at is 0
	 * until a plan has seen one. */
	"ALTER TABLE lineages ADD COLUMN due_at INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX lineages_due_at ON lineages(due_at, id);"
	"CREATE INDEX lineages_current ON lineages(current_cert_id);"
	"CREATE TRIGGER lineages_due_reset AFTER UPDATE OF current_cert_id, identifiers ON lineages"
	"  WHEN OLD.current_cert_id IS NOT NULL AND"
	"   (OLD.current_cert_id IS NOT NEW.current_cert_id OR OLD.identifiers IS NOT NEW.identifiers)"
	"  BEGIN UPDATE lineages SET due_at = -1 - (random() & 4611686018427387903)"
	"  WHERE id = NEW.id; END;"
	"CREATE TRIGGER certificates_due_reset AFTER UPDATE OF revoked_at, key_id ON certificates"
	"  WHEN OLD.revoked_at IS NOT NEW.revoked_at OR OLD.key_id IS NOT NEW.key_id"
	"  BEGIN UPDATE lineages SET due_at = -1 - (random() & 4611686018427387903)"
	"  WHERE current_cert_id = NEW.id; END;",
	/* 16 (issue 14, doctor at scale): verified facts, keyed by the SHA-256
	 * of the exact bytes they were proven from, so doctor re-verifies only
	 * what changed (src/store/facts.c, docs/store.md "Verified facts").
	 * kind 'cert': digest = the certificate DER's SHA-256; spki_sha256 and
	 * not_after read from it; chain_sha256 = the SHA-256 over the chain
	 * DERs (in order) whose names and signatures were checked link by link
	 * (NULL: no chain, or it did not verify).  kind 'key': digest = the
	 * SHA-256 of keys.pkcs8_der as stored (the ciphertext of a sealed key,
	 * never the clear PKCS#8); spki_sha256 = the public key that private
	 * key was proven to have; key_id = its row (one fact per key). */
	"CREATE TABLE facts ("
	"  digest TEXT PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  key_id INTEGER,"
	"  spki_sha256 TEXT NOT NULL,"
	"  chain_sha256 TEXT,"
	"  not_after INTEGER,"
	"  created INTEGER NOT NULL);"
	"CREATE INDEX facts_key ON facts(key_id);",
	/* 17 (issue 14): a lineage's open orders without reading every order
	 * ever placed.  Resuming looked through all open orders with a scan of
	 * the whole table, once per issuance: quadratic over a store's life
	 * and the most pages a renewal read.  Partial: a closed order, which
	 * is nearly every order, is not in it. */
	"CREATE INDEX orders_open ON orders(lineage, id) WHERE closed = 0;",
};

/* Exactly the text read_identity (driver.c) recognises in a store. */
static const char schema_init[] =
	"CREATE TABLE IF NOT EXISTS schema_version ("
	" version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)";

const char *
st_sqlite_migration(int n)
{
	if (n == 0)
		return schema_init;
	if (n < 0 || (size_t)n > CK_ARRAY_LEN(migrations))
		return NULL;
	return migrations[n - 1];
}
