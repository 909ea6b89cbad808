"""Two lineages whose recorded challenge settings differ but both use the
http-01 listener on the same address and port (one issued with
`--challenge http-01`, one without; or one with a tls-alpn-01 port it never
uses): `renew --all` runs their orders through one listener instead of
starting a second one that cannot bind; the same port on every address for
one and on 127.0.0.1 for the other is refused clearly, naming both, before
any order is placed.  Against a real Pebble."""

import json
import os
import unittest

import ckharness

TMP = PEBBLE = None


def setUpModule():
    global TMP, PEBBLE
    TMP, PEBBLE = ckharness.module_pebble("ck-shared-listener-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


class TestSharedListener(unittest.TestCase):

    def setUp(self):
        self.store = os.path.join(TMP, self.id().rsplit(".", 1)[-1], "store.db")
        self.ck = ckharness.Certkeep(self.store, ca_bundle=PEBBLE.ca_bundle)
        self.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")
        self.port = str(PEBBLE.http_port)

    def issue(self, name, *extra):
        self.ck.run("issue", "-d", name, "--http-port", self.port, *extra, timeout=300)

    def renew_all(self):
        # No challenge options: each lineage's recorded settings decide.
        r = self.ck.run("renew", "--all", "--force", "--json", "--concurrency", "3",
                        check=False, timeout=300)
        return json.loads(r.stdout) if r.stdout.strip() else {}, r

    def test_one_listener_for_settings_that_differ(self):
        self.issue("a.shared.test", "--http-address", "127.0.0.1", "--challenge", "http-01")
        self.issue("b.shared.test", "--http-address", "127.0.0.1")
        self.issue("c.shared.test", "--http-address", "127.0.0.1",
                   "--tls-port", str(ckharness.free_port()))
        records = set(r for (r,) in self.sql("SELECT challenge FROM lineages"))
        self.assertEqual(len(records), 3, "three different records: %s" % records)
        finalizes = PEBBLE.count_finalized()
        out, r = self.renew_all()
        self.assertEqual((out.get("renewed"), out.get("failed")), (3, 0),
                         ckharness.describe(r, "renew --all"))
        self.assertEqual(PEBBLE.count_finalized() - finalizes, 3)

    def test_every_address_and_one_address_on_one_port_refused(self):
        self.issue("d.shared.test", "--http-address", "127.0.0.1")
        self.issue("e.shared.test")  # every address, the same port
        orders = PEBBLE.count_requests("POST", "/order-plz")
        out, r = self.renew_all()
        self.assertEqual(r.returncode, 1, ckharness.describe(r, "renew --all"))
        self.assertEqual(out.get("failed"), 1, out)
        text = r.stdout + r.stderr
        self.assertIn("port %s" % self.port, text)
        self.assertIn("every address", text)
        self.assertIn("127.0.0.1", text)
        self.assertNotIn("Address already in use", text)
        # the refused lineage placed no order; the other renewed
        self.assertEqual(PEBBLE.count_requests("POST", "/order-plz") - orders, 1)

    def sql(self, query):
        import sqlite3
        db = sqlite3.connect(self.store)
        try:
            return db.execute(query).fetchall()
        finally:
            db.close()


if __name__ == "__main__":
    unittest.main()
