"""certkeep on a PostgreSQL store (issue 12, first part): a real PostgreSQL
started for the module (initdb in a temporary directory, a loopback port, no
system service) and a real Pebble.  Issue into PostgreSQL, then list, show,
export and doctor read it back; a database that is not a certkeep store is
refused untouched; two processes importing into one store at once lose
nothing and leave the store consistent."""

import json
import os
import subprocess
import unittest

import ckharness

PG = None
PEBBLE = None
TMP = None


def setUpModule():
    global PG, PEBBLE, TMP
    TMP, PG, PEBBLE = ckharness.module_pg_pebble("ck-pgstore-")


def self_signed(directory, name):
    """A key and a self-signed certificate for name, in one PEM file."""
    key, cert = os.path.join(directory, name + ".key"), os.path.join(directory, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=" + name, "-days", "365",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    bundle = os.path.join(directory, name + ".pem")
    with open(bundle, "w") as out:
        out.write(open(key).read() + open(cert).read())
    return bundle


class TestPgStore(unittest.TestCase):

    def setUp(self):
        self.db, self.url, self.dir = ckharness.pg_test_db(self, PG, TMP)
        self.ck = ckharness.Certkeep(self.url, ca_bundle=PEBBLE.ca_bundle)

    def doctor_clean(self):
        res = self.ck.run("doctor", "--json", check=False)
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "doctor must be clean"))
        self.assertEqual(json.loads(res.stdout)["findings"], [])

    def test_issue_list_show_export_doctor(self):
        self.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")
        self.ck.run("issue", "-d", "pg.example.test", "--http-port", str(PEBBLE.http_port),
                    "--http-address", "127.0.0.1", timeout=300)
        entries = self.ck.json("list", "--json")
        self.assertEqual(len(entries), 1)
        self.assertIs(entries[0]["key"]["linked"], True)
        shown = self.ck.run("show", "pg.example.test").stdout
        self.assertIn(entries[0]["sha256"].lower(), shown.lower())
        out = os.path.join(self.dir, "out")
        self.ck.run("export", "pg.example.test", "--out", out)
        files = os.listdir(self.dir)
        self.assertTrue(files, "export wrote files")
        # The rows are in PostgreSQL: the certificate, its key, the account's key.
        self.assertEqual(PG.psql(self.db, "SELECT count(*) FROM certificates").strip(), "1")
        self.assertEqual(PG.psql(self.db, "SELECT count(*) FROM keys").strip(), "2")
        self.doctor_clean()
        # renew's workers open the store again from its location (the
        # connection string, a password in it never shown)
        ck = ckharness.Certkeep(self.url.replace("postgres@", "postgres:s3cret-pw@", 1),
                                ca_bundle=PEBBLE.ca_bundle)
        res = ck.run("renew", "--all", "--force", "--concurrency", "2", "--http-port",
                     str(PEBBLE.http_port), "--http-address", "127.0.0.1", timeout=300)
        self.assertNotIn("s3cret-pw", res.stdout + res.stderr)
        self.assertEqual(PG.psql(self.db, "SELECT count(*) FROM certificates").strip(), "2")
        self.doctor_clean()

    def test_foreign_database_refused_untouched(self):
        PG.psql(self.db, "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('x')")
        bundle = self_signed(self.dir, "foreign")
        res = self.ck.run("import", bundle, check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("not a certkeep store", res.stderr)
        self.assertEqual(PG.psql(self.db, "SELECT string_agg(table_name, ',') FROM "
                                 "information_schema.tables WHERE table_schema = 'public'"
                                 ).strip(), "notes")

    def test_empty_database_is_not_a_store_until_something_is_stored(self):
        res = self.ck.run("list", check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("no store", res.stderr)
        # the location in the message, without the password in it
        ck = ckharness.Certkeep(self.url.replace("postgres@", "postgres:s3cret-pw@", 1))
        res = ck.run("list", check=False)
        self.assertIn("no store at postgresql://postgres:***@", res.stderr)
        self.assertNotIn("s3cret-pw", res.stderr)
        self.assertEqual(PG.psql(self.db, "SELECT count(*) FROM information_schema.tables "
                                 "WHERE table_schema = 'public'").strip(), "0")

    def test_two_processes_import_at_once(self):
        per = 25
        bundles = [[self_signed(self.dir, "p%d-%d" % (p, i)) for i in range(per)]
                   for p in range(2)]
        self.ck.run("import", bundles[0][0])  # the schema exists before the race
        script = "for f in \"$@\"; do \"$CK\" --store \"$STORE\" import \"$f\" >/dev/null " \
                 "|| exit 1; done"
        env = dict(os.environ, CK=self.ck.binary, STORE=self.url)
        procs = [subprocess.Popen(["bash", "-c", script, "imp"] + b[1:] if p == 0 else
                                  ["bash", "-c", script, "imp"] + b, env=env,
                                  stderr=subprocess.PIPE, text=True)
                 for p, b in enumerate(bundles)]
        for p in procs:
            _, err = p.communicate(timeout=600)
            self.assertEqual(p.returncode, 0, err)
        entries = self.ck.json("list", "--json")
        self.assertEqual(len(entries), 2 * per)
        self.assertTrue(all(e["key"]["linked"] for e in entries))
        # Every write bumped the generation exactly once per change: nothing lost.
        self.assertEqual(int(PG.psql(self.db, "SELECT count(*) FROM keys").strip()), 2 * per)
        self.doctor_clean()


if __name__ == "__main__":
    unittest.main()
