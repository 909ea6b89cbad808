"""certkeep store copy between engines (issue 12, "Moving between engines"): a
real PostgreSQL started for the module (scripts/pg-test-server) and a real
Pebble.  Certificates issued into SQLite (an account, two lineages, a binding
deployed, an order left in flight by an issue killed after its order) are
copied to PostgreSQL; the PostgreSQL store then lists, shows, exports the same
key, plans renewals and is doctor-clean; copied back to a new SQLite file it
holds exactly the source's rows.  A sealed store stays sealed and no key is
readable in the database.  A destination with a store in it is refused
untouched; a copy killed before its commit leaves nothing there."""

import hashlib
import json
import os
import subprocess
import unittest

import ckharness

PG = None
PEBBLE = None
TMP = None
BUNDLE = None


def setUpModule():
    global PG, PEBBLE, TMP, BUNDLE
    TMP, PG, PEBBLE = ckharness.module_pg_pebble("ck-storecopy-")
    # Pebble's TLS bundle plus its issuing root: bind checks the chain.
    BUNDLE = PEBBLE.trust_bundle(os.path.join(TMP, "trust.pem"))


def sqlite_rows(path):
    """Every row of every table of a SQLite store but the schema's own (schema_version's
    apply times and the generation differ on purpose), as sorted text lines."""
    out = subprocess.run(["sqlite3", path, ".dump"], capture_output=True, text=True,
                         check=True).stdout
    return sorted(l for l in out.splitlines() if l.startswith("INSERT INTO ")
                  and not l.startswith("INSERT INTO schema_version")
                  and not l.startswith("INSERT INTO generation"))


def sqlite_generation(path):
    return int(subprocess.run(["sqlite3", path, "SELECT value FROM generation"],
                              capture_output=True, text=True, check=True).stdout)


def pg_tables(db):
    return PG.psql(db, "SELECT count(*) FROM information_schema.tables "
                   "WHERE table_schema = current_schema()").strip()


class StoreCopyCase(unittest.TestCase):

    def setUp(self):
        self.name = ckharness.test_name(self)
        self.dir = os.path.join(TMP, self.name)
        os.makedirs(self.dir, mode=0o700)
        self.store = os.path.join(self.dir, "src", "store.db")
        self.ck = ckharness.Certkeep(self.store, ca_bundle=BUNDLE)

    def issue(self, name, keyfile=None, check=True, env=None):
        return self.ck.run("issue", "-d", name + ".copy.test", "--name", name,
                           "--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1",
                           check=check, env=env, timeout=300,
                           global_args=("--store-key-file", keyfile) if keyfile else ())

    def copy(self, src, to, *extra, check=True, env=None):
        return self.ck.run("store", "copy", "--to", to, *extra, store=src, check=check,
                           env=env, timeout=300)

    def exported_key(self, store, ref, keyfile=None):
        out = os.path.join(self.dir, "k-%s.pem" % hashlib.sha256(store.encode()).hexdigest()[:8])
        if os.path.exists(out):
            os.unlink(out)
        self.ck.run("export", ref, "--key-out", out, store=store,
                    global_args=("--store-key-file", keyfile) if keyfile else ())
        with open(out) as fp:
            return fp.read()

    def doctor_clean(self, store, keyfile=None):
        res = self.ck.run("doctor", "--json", store=store, check=False,
                          global_args=("--store-key-file", keyfile) if keyfile else ())
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "doctor must be clean"))
        self.assertEqual(json.loads(res.stdout)["findings"], [])


class TestCopyBetweenEngines(StoreCopyCase):

    def test_sqlite_to_postgresql_and_back(self):
        self.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")
        self.issue("www")
        self.issue("api")
        deploy_dir = os.path.join(self.dir, "deploy")
        os.makedirs(deploy_dir)
        self.ck.run("bind", "web", "--lineage", "www", "--target", "pem:" + deploy_dir)
        self.ck.run("deploy", "web", timeout=120)
        # an order in flight: issue killed right after the server made its order
        res = self.issue("late", check=False, env={"CERTKEEP_FAULT": "issue.after_order"})
        self.assertNotEqual(res.returncode, 0)
        pending = subprocess.run(["sqlite3", self.store,
                                  "SELECT count(*) FROM orders WHERE closed = 0"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        self.assertEqual(pending, "1")

        url = PG.createdb(self.name)
        summary = json.loads(self.copy(self.store, url, "--json").stdout)
        self.assertTrue(summary["verified"])
        self.assertEqual(summary["generation"], sqlite_generation(self.store) + 1)
        for table in ("keys", "accounts", "lineages", "certificates", "chain", "orders",
                      "bindings", "settings"):
            want = subprocess.run(["sqlite3", self.store, "SELECT count(*) FROM " + table],
                                  capture_output=True, text=True, check=True).stdout.strip()
            self.assertEqual(str(summary["tables"][table]), want, table)
            self.assertEqual(PG.psql(self.name, "SELECT count(*) FROM " + table).strip(), want,
                             table)

        # the PostgreSQL store is the same store
        pg = ckharness.Certkeep(url, ca_bundle=BUNDLE)
        self.assertEqual(pg.json("list", "--json"), self.ck.json("list", "--json"))
        self.assertEqual(pg.json("bindings", "--json"), self.ck.json("bindings", "--json"))
        self.assertIn("www.copy.test", pg.run("show", "www").stdout)
        self.assertEqual(self.exported_key(url, "www"), self.exported_key(self.store, "www"))
        plan = pg.json("renew", "--all", "--show-all", "--dry-run", "--json")
        self.assertEqual(plan, self.ck.json("renew", "--all", "--show-all", "--dry-run", "--json"))
        self.assertLessEqual({"www", "api"}, {p["lineage"] for p in plan})
        self.doctor_clean(url)

        # and back to a new SQLite file: exactly the source's rows
        back = os.path.join(self.dir, "back", "store.db")
        self.copy(url, back)
        self.assertEqual(sqlite_rows(back), sqlite_rows(self.store))
        self.assertEqual(sqlite_generation(back), sqlite_generation(self.store) + 2)
        # the copy is a working store: its next rows get new ids
        ckharness.Certkeep(back, ca_bundle=BUNDLE).run(
            "issue", "-d", "more.copy.test", "--name", "more", "--http-port",
            str(PEBBLE.http_port), "--http-address", "127.0.0.1", timeout=300)
        pg.run("issue", "-d", "more.copy.test", "--name", "more", "--http-port",
               str(PEBBLE.http_port), "--http-address", "127.0.0.1", timeout=300)
        self.doctor_clean(url)

    def test_sealed_store_stays_sealed(self):
        keyfile = os.path.join(self.dir, "node.key")
        with open(keyfile, "w") as fp:
            fp.write(os.urandom(32).hex() + "\n")
        os.chmod(keyfile, 0o600)
        self.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos",
                    global_args=("--store-key-file", keyfile))
        self.issue("sealed", keyfile)
        url = PG.createdb(self.name)
        # no key needed: the ids (the sealed keys' associated data) are kept
        summary = json.loads(self.copy(self.store, url, "--json").stdout)
        self.assertTrue(summary["sealed"])
        self.assertEqual(summary["keys_loaded"], 0)
        key_pem = self.exported_key(self.store, "sealed", keyfile)
        der = subprocess.run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-outform", "DER"],
                             input=key_pem.encode(), capture_output=True, check=True).stdout
        stored = PG.psql(self.name, "SELECT string_agg(encode(pkcs8_der, 'hex'), ',') "
                         "FROM keys")
        self.assertNotIn(der.hex(), stored, "a private key is in clear in PostgreSQL")
        pg = ckharness.Certkeep(url, ca_bundle=BUNDLE)
        res = pg.run("export", "sealed", "--key-out", os.path.join(self.dir, "x.pem"),
                     check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("--store-key-file", res.stderr)
        self.assertEqual(self.exported_key(url, "sealed", keyfile), key_pem)
        # with the key, every key is opened at the destination too
        back = os.path.join(self.dir, "back.db")
        summary = json.loads(self.ck.run("store", "copy", "--to", back, "--json", store=url,
                                         global_args=("--store-key-file", keyfile)).stdout)
        self.assertEqual(summary["keys_loaded"], summary["tables"]["keys"])
        self.doctor_clean(url, keyfile)


class TestCopyRefusals(StoreCopyCase):

    def setUp(self):
        super().setUp()
        bundle = os.path.join(self.dir, "one.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=one.copy.test",
                        "-days", "30", "-keyout", bundle + ".key", "-out", bundle + ".crt"],
                       check=True, capture_output=True)
        with open(bundle, "w") as fp:
            fp.write(open(bundle + ".key").read() + open(bundle + ".crt").read())
        self.ck.run("import", "--name", "one", bundle)

    def test_nonempty_destination_refused_untouched(self):
        url = PG.createdb(self.name)
        other = os.path.join(self.dir, "other.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=two.copy.test",
                        "-days", "30", "-keyout", other, "-out", other + ".crt"],
                       check=True, capture_output=True)
        with open(other, "a") as fp:
            fp.write(open(other + ".crt").read())
        pg = ckharness.Certkeep(url)
        pg.run("import", "--name", "two", other)
        before = PG.psql(self.name, "SELECT string_agg(sha256, ',') FROM certificates") + \
            PG.psql(self.name, "SELECT value FROM generation")
        res = self.copy(self.store, url, check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "must be refused"))
        self.assertIn("already holds a store", res.stderr)
        self.assertIn("not changed", res.stderr)
        after = PG.psql(self.name, "SELECT string_agg(sha256, ',') FROM certificates") + \
            PG.psql(self.name, "SELECT value FROM generation")
        self.assertEqual(before, after)
        # and a password on the command line is refused before anything happens
        res = self.copy(self.store, url.replace("postgres@", "postgres:s3cret@", 1),
                        check=False)
        self.assertEqual(res.returncode, 2)
        self.assertNotIn("s3cret", res.stdout + res.stderr)

    def test_killed_copy_leaves_nothing(self):
        url = PG.createdb(self.name)
        for point in ("store.copy_all.table:3", "store.copy_all.commit"):
            res = self.copy(self.store, url, check=False, env={"CERTKEEP_FAULT": point})
            self.assertNotEqual(res.returncode, 0)
            self.assertIn("fault point", res.stderr)
            self.assertEqual(pg_tables(self.name), "0", "the killed copy left tables")
        lite = os.path.join(self.dir, "lite.db")
        res = self.copy(self.store, lite, check=False,
                        env={"CERTKEEP_FAULT": "store.copy_all.table:3"})
        self.assertNotEqual(res.returncode, 0)
        self.assertEqual(subprocess.run(["sqlite3", lite, "SELECT count(*) FROM sqlite_master"],
                                        capture_output=True, text=True, check=True
                                        ).stdout.strip(), "0")
        # the empty destinations take a copy afterwards
        self.copy(self.store, url)
        self.copy(self.store, lite)
        self.assertEqual(sqlite_rows(lite), sqlite_rows(self.store))
        self.assertEqual(ckharness.Certkeep(url).json("list", "--json"),
                         self.ck.json("list", "--json"))


if __name__ == "__main__":
    unittest.main()
