/*
 * schema.c - the store's schema as an ordered list of migrations.
 * Migration N (1-based) takes the database from version N-1 to N, in one
 * transaction that also records the new version; the version is re-read
 * inside the transaction so two processes opening a new store at once
 * apply each migration exactly once.  docs/store.md documents every table.
 *
 * Must never: edit a migration that has shipped (add a new one instead).
 */
#include <string.h>

#include "store/store_int.h"

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
};

#define ST_SCHEMA_VERSION ((int)CK_ARRAY_LEN(migrations))

static enum ck_code
read_version(struct ck_store *st, int *out, struct ck_err *err)
{
	int64_t v = 0;
	enum ck_code rc;

	rc = st_query_int(st, err, &v, "SELECT max(version) FROM schema_version", "");
	if (rc == CK_ERR_NOT_FOUND) {
		*out = 0;
		return CK_OK;
	}
	if (rc == CK_OK)
		*out = (int)v;
	return rc;
}

/* Applies migration n (1-based) unless another process did it first. */
static enum ck_code
apply_one(struct ck_store *st, int n, struct ck_err *err)
{
	enum ck_code rc;
	int have = 0;

	if ((rc = st_begin(st, err)) != CK_OK)
		return rc;
	if ((rc = read_version(st, &have, err)) != CK_OK)
		goto out;
	if (have >= n) {
		rc = st_commit(st, err);
		goto out;
	}
	if (sqlite3_exec(st->db, migrations[n - 1], NULL, NULL, NULL) != SQLITE_OK) {
		rc = ST_DB_FAIL(st, err, "migrating the store schema");
		goto out;
	}
	if ((rc = st_exec(st, err, NULL,
			  "INSERT INTO schema_version (version, applied) VALUES (?, ?)", "ii",
			  (int64_t)n, (int64_t)st_now(st))) != CK_OK)
		goto out;
	CK_FAULT("store.migrate.commit");
	rc = st_commit(st, err);
out:
	st_rollback(st);
	return rc;
}

enum ck_code
st_schema_migrate(struct ck_store *st, struct ck_err *err)
{
	enum ck_code rc;
	int have = 0, n;

	if (sqlite3_exec(st->db,
			 "CREATE TABLE IF NOT EXISTS schema_version ("
			 " version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)",
			 NULL, NULL, NULL) != SQLITE_OK)
		return ST_DB_FAIL(st, err, "creating the schema version table");
	if ((rc = read_version(st, &have, err)) != CK_OK)
		return rc;
	if (have > ST_SCHEMA_VERSION)
		return CK_FAIL(err, CK_ERR_UNSUPPORTED,
			       "the store %s has schema version %d, newer than this certkeep "
			       "understands (%d); nothing was changed: use a newer certkeep",
			       st->path, have, ST_SCHEMA_VERSION);
	for (n = have + 1; n <= ST_SCHEMA_VERSION; n++) {
		if ((rc = apply_one(st, n, err)) != CK_OK)
			return rc;
	}
	st->schema_version = ST_SCHEMA_VERSION;
	return CK_OK;
}
