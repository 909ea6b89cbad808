"""Issue 13: certkeep follows only URLs on the ACME directory's origin.

Through tests/faultproxy.py in front of Pebble, the proxy's directory is
replaced by one whose newOrder points at Pebble's own origin (another
port: another origin).  certkeep refuses it, names both origins and the
way out (--allow-origin), and Pebble sees no newOrder.  An origin allowed
with `account update --allow-origin` is kept for that server and shown by
`account show`; '' clears it again.
"""

import json
import os
import ssl
import tempfile
import unittest
import urllib.parse
import urllib.request

import ckharness

PEBBLE = None
TMP = None


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-origin-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


def origin_of(url):
    p = urllib.parse.urlsplit(url)
    return "https://%s:%d" % (p.hostname, p.port or 443)


class OriginCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self._testMethodName + "-", dir=TMP)
        self.ck = ckharness.Certkeep(os.path.join(self.dir, "store.db"),
                                     ca_bundle=PEBBLE.ca_bundle)
        self.proxy = PEBBLE.fault_proxy()
        self.addCleanup(self.proxy.stop)

    def directory(self):
        ctx = ssl.create_default_context(cafile=PEBBLE.ca_bundle)
        with urllib.request.urlopen(self.proxy.directory_url, context=ctx, timeout=30) as r:
            return json.load(r)

    def test_foreign_new_order_refused_until_allowed(self):
        server = self.proxy.directory_url
        self.ck.run("account", "register", "--server", server, "--agree-tos")
        elsewhere = origin_of(PEBBLE.directory_url)
        self.assertNotEqual(elsewhere, origin_of(server))
        d = self.directory()
        d["newOrder"] = elsewhere + urllib.parse.urlsplit(d["newOrder"]).path
        self.proxy.add_rule("/dir", method="GET", status=200, body=d)
        orders_before = PEBBLE.count_requests("POST", "/order-plz")

        res = self.ck.run("issue", "-d", "origin.example.test", "--http-port",
                          str(PEBBLE.http_port), "--http-address", "127.0.0.1", check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "issue must fail"))
        for want in ("newOrder", elsewhere, origin_of(server), "--allow-origin " + elsewhere):
            self.assertIn(want, res.stderr, ckharness.describe(
                res, "the error must name %r" % want))
        self.assertEqual(PEBBLE.count_requests("POST", "/order-plz"), orders_before,
                         "no request may go to the other origin")
        self.assertEqual(self.proxy.count("/order-plz", "POST"), 0)

        shown = self.ck.run("account", "show", check=False)
        self.assertEqual(shown.returncode, 1, ckharness.describe(
            shown, "the directory is refused for every command"))

        # Allowed for this server: kept in the store, honoured without the flag.
        self.ck.run("account", "update", "--allow-origin", elsewhere)
        acct = self.ck.json("account", "show", "--json")
        self.assertEqual(acct["allowed_origins"], [elsewhere])
        text = self.ck.run("account", "show").stdout
        self.assertIn("other origins:  " + elsewhere, text)

        # '' clears the list: refused again.
        self.ck.run("account", "update", "--allow-origin", "")
        shown = self.ck.run("account", "show", check=False)
        self.assertEqual(shown.returncode, 1, ckharness.describe(shown, "refused again"))
        self.assertIn(elsewhere, shown.stderr)
        self.assertEqual(self.ck.json("account", "list", "--json")[0]["allowed_origins"], [])

    def test_register_keeps_allowed_origins(self):
        server = self.proxy.directory_url
        acct = self.ck.json("account", "register", "--server", server, "--agree-tos",
                            "--allow-origin", "https://CDN.example.test",
                            "--allow-origin", "https://cdn.example.test:443/", "--json")
        self.assertEqual(acct["allowed_origins"], ["https://cdn.example.test:443"])
        res = self.ck.run("account", "register", "--server", server, "--agree-tos",
                          "--allow-origin", "https://cdn.example.test/acme", check=False)
        self.assertEqual(res.returncode, 2, ckharness.describe(res, "a path is a usage error"))
        self.assertIn("without a path", res.stderr)
        # Registering again without the flag keeps the list.
        acct = self.ck.json("account", "register", "--server", server, "--agree-tos", "--json")
        self.assertEqual(acct["allowed_origins"], ["https://cdn.example.test:443"])


if __name__ == "__main__":
    unittest.main()
