"""Issue 11, revocation (RFC 8555 §7.6) against a real Pebble: `certkeep
revoke` signed by the issuing account and by the certificate's own key,
with a reason that Pebble's management API (/cert-status-by-serial/SERIAL)
reports; revoking twice (alreadyRevoked: a clear non-fatal message, the
store records it); revoking after the account was deactivated with
--with-cert-key; a 503 on revokeCert (unknown: nothing recorded); `list`,
`show` and `doctor` (CK-D017 binding-revoked) mark a revoked certificate.

One Pebble for the module; a fresh store with one account per test.
"""

import json
import os
import shutil
import sqlite3
import tempfile
import time
import unittest

import ckharness

PEBBLE = None
TMP = None
# RFC 5280 CRLReason codes of the names certkeep takes.
REASON_CODES = {"unspecified": 0, "keyCompromise": 1, "affiliationChanged": 3,
                "superseded": 4, "cessationOfOperation": 5}


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-revoke-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


class RevokeCase(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.id().rsplit(".", 1)[-1] + "-", dir=TMP)
        self.store = os.path.join(self.dir, "store", "store.db")
        self.ck = ckharness.Certkeep(self.store, ca_bundle=PEBBLE.ca_bundle)
        self.server = PEBBLE.directory_url

    def register(self, server=None):
        self.server = server or PEBBLE.directory_url
        self.ck.run("account", "register", "--server", self.server, "--agree-tos")

    def issue(self, name):
        self.ck.run("issue", "-d", name, "--name", name.split(".")[0], "--server", self.server,
                    "--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1",
                    timeout=300)
        return self.entry(name.split(".")[0])

    def entry(self, lineage):
        for e in self.ck.json("list", "--json"):
            if e["name"] == lineage and e["current"]:
                return e
        raise AssertionError("lineage %s not in list --json" % lineage)

    def status(self, serial):
        """Pebble's view: (Status, Reason) of the certificate with this serial."""
        serial = serial.replace(":", "").lower()
        data = json.loads(PEBBLE.mgmt_get("/cert-status-by-serial/" + serial))
        return data.get("Status"), data.get("Reason"), data

    def assert_revoked_at_pebble(self, serial, reason):
        st, code, data = self.status(serial)
        self.assertEqual(st, "Revoked", "Pebble must report the certificate revoked: %r" % data)
        self.assertEqual(code, REASON_CODES[reason],
                         "Pebble must report the reason %s: %r" % (reason, data))


class TestRevoke(RevokeCase):

    def test_by_account_key_with_reason(self):
        self.register()
        e = self.issue("acct.revoke.example.test")
        self.assertIsNone(e["revoked"], "a fresh certificate is not revoked")
        st, _, data = self.status(e["serial"])
        self.assertEqual(st, "Valid", "before: %r" % data)
        out = self.ck.json("revoke", "acct", "--reason", "superseded", "--json")
        self.assertFalse(out["already_revoked"])
        self.assertEqual(out["reason"], "superseded")
        self.assertEqual(out["sha256"], e["sha256"])
        self.assertTrue(out["signed_by"].startswith("account default"), out)
        self.assert_revoked_at_pebble(e["serial"], "superseded")
        after = self.entry("acct")
        self.assertEqual(after["revoked"]["reason"], "superseded")
        self.assertTrue(after["revoked"]["at"].endswith("Z"))
        for k in ("sha256", "serial", "not_after", "key", "origin"):
            self.assertEqual(after[k], e[k], "list --json keeps its field %s" % k)
        self.assertIn("(REVOKED)", self.ck.run("list").stdout)
        show = self.ck.run("show", "acct").stdout
        self.assertIn("REVOKED at", show)
        self.assertIn("superseded", show)
        self.assertEqual(self.ck.json("show", "acct", "--json")["revoked"]["reason"],
                         "superseded")

    def test_by_cert_key_then_twice(self):
        self.register()
        e = self.issue("ckey.revoke.example.test")
        res = self.ck.run("revoke", e["sha256"], "--with-cert-key", "--reason", "keyCompromise")
        self.assertIn("signed by  the certificate's key", res.stdout)
        self.assert_revoked_at_pebble(e["serial"], "keyCompromise")
        first = self.entry("ckey")["revoked"]
        self.assertEqual(first["reason"], "keyCompromise")
        # Twice: the server says alreadyRevoked; not an error, and the first record stays.
        res = self.ck.run("revoke", "ckey", "--reason", "superseded")
        self.assertIn("already revoked", res.stdout)
        self.assertIn("alreadyRevoked", res.stdout)
        self.assertEqual(self.entry("ckey")["revoked"], first)
        self.assert_revoked_at_pebble(e["serial"], "keyCompromise")

    def test_twice_when_the_store_did_not_know(self):
        """alreadyRevoked for a certificate revoked elsewhere: the store records it."""
        self.register()
        e = self.issue("elsewhere.revoke.example.test")
        other = ckharness.Certkeep(os.path.join(self.dir, "copy", "store.db"),
                                   ca_bundle=PEBBLE.ca_bundle)
        shutil.copytree(os.path.dirname(self.store), os.path.join(self.dir, "copy"))
        other.run("revoke", "elsewhere", "--reason", "cessationOfOperation")
        self.assertIsNone(self.entry("elsewhere")["revoked"])
        out = self.ck.json("revoke", "elsewhere", "--json")
        self.assertTrue(out["already_revoked"])
        self.assertIsNone(out["reason"], "the server's reason is not known")
        rec = self.entry("elsewhere")["revoked"]
        self.assertIsNotNone(rec, "alreadyRevoked is recorded")
        self.assertIsNone(rec["reason"])
        self.assert_revoked_at_pebble(e["serial"], "cessationOfOperation")

    def test_deactivated_account_with_cert_key(self):
        self.register()
        e = self.issue("lost.revoke.example.test")
        self.ck.run("account", "deactivate", "--yes")
        res = self.ck.run("revoke", "lost", "--reason", "keyCompromise", check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "the account cannot sign"))
        self.assertIn("--with-cert-key", res.stderr)
        self.assertIsNone(self.entry("lost")["revoked"])
        self.assertEqual(self.status(e["serial"])[0], "Valid")
        self.ck.run("revoke", "lost", "--reason", "keyCompromise", "--with-cert-key")
        self.assert_revoked_at_pebble(e["serial"], "keyCompromise")
        self.assertEqual(self.entry("lost")["revoked"]["reason"], "keyCompromise")

    def test_503_is_unknown_and_not_recorded(self):
        proxy = PEBBLE.fault_proxy()
        self.addCleanup(proxy.stop)
        self.register(proxy.directory_url)
        e = self.issue("unknown.revoke.example.test")
        proxy.add_rule("/revoke-cert", method="POST", count=1, status=503,
                       type="serverInternal", detail="maintenance")
        res = self.ck.run("revoke", "unknown", "--reason", "keyCompromise", check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "a 503 is a failure"))
        self.assertIn("may or may not be revoked", res.stderr)
        self.assertIn("nothing was recorded", res.stderr)
        self.assertIsNone(self.entry("unknown")["revoked"], "an unknown answer records nothing")
        self.assertEqual(self.status(e["serial"])[0], "Valid")
        self.ck.run("revoke", "unknown", "--reason", "keyCompromise")
        self.assert_revoked_at_pebble(e["serial"], "keyCompromise")
        self.assertEqual(self.entry("unknown")["revoked"]["reason"], "keyCompromise")

    def test_doctor_flags_binding_on_revoked(self):
        self.register()
        e = self.issue("bound.revoke.example.test")
        con = sqlite3.connect(self.store)
        con.execute("INSERT INTO bindings (name, lineage, target, state, updated) "
                    "VALUES ('web', 'bound', 'nginx:/etc/nginx', 'deployed', ?)",
                    (int(time.time()),))
        con.commit()
        con.close()
        res = self.ck.run("doctor", "--json", check=False)
        names = [f["name"] for f in json.loads(res.stdout)["findings"]]
        self.assertNotIn("binding-revoked", names)
        self.ck.run("revoke", "bound")
        res = self.ck.run("doctor", "--json", check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "doctor finds it"))
        found = [f for f in json.loads(res.stdout)["findings"] if f["name"] == "binding-revoked"]
        self.assertEqual(len(found), 1, res.stdout)
        self.assertEqual(found[0]["code"], "CK-D017")
        self.assertIn(e["sha256"][:16], found[0]["what"])

    def test_usage(self):
        for args in (("revoke",), ("revoke", "a", "b"), ("revoke", "x", "--reason", "bogus")):
            with self.subTest(args=args):
                res = self.ck.run(*args, check=False)
                self.assertEqual(res.returncode, 2, ckharness.describe(res, "usage error"))
        res = self.ck.run("revoke", "x", "--reason", "certificateHold", check=False)
        self.assertIn("keyCompromise", res.stderr, "the error names the reasons")
        res = self.ck.run("revoke", "--help")
        self.assertIn("--with-cert-key", res.stdout)


if __name__ == "__main__":
    unittest.main()
