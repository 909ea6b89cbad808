"""ACME profiles (the profiles extension: meta.profiles in the directory,
"profile" in newOrder).  Pebble 2.4 has none, so the fault proxy adds
meta.profiles to the directory and records every newOrder payload:
`certkeep profiles` lists what is offered; `issue --profile` sends it,
records it on the lineage and a later issue reuses it; a profile the
server does not offer is refused before any newOrder."""

import os
import shutil
import tempfile
import unittest

import ckharness

PROFILES = {"classic": "The profile you're used to", "shortlived": "Six-day certificates"}


class TestProfiles(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ck-profiles-")
        cls.pebble = ckharness.Pebble(os.path.join(cls.dir, "pebble"))
        cls.pebble.start()

    @classmethod
    def tearDownClass(cls):
        cls.pebble.stop()
        if not os.environ.get("CK_KEEP_TMP"):
            shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.proxy = self.pebble.fault_proxy()
        self.addCleanup(self.proxy.stop)
        self.proxy.set_directory_meta({"profiles": PROFILES})

    def certkeep(self, register=True):
        store = os.path.join(self.dir, self.id().rsplit(".", 1)[-1], "store.db")
        ck = ckharness.Certkeep(store, ca_bundle=self.pebble.ca_bundle)
        if register:
            ck.run("account", "register", "--server", self.proxy.directory_url, "--agree-tos")
        return ck

    def issue(self, ck, name, *extra, check=True):
        return ck.run("issue", "-d", name, "--http-port", str(self.pebble.http_port),
                      "--http-address", "127.0.0.1", *extra, check=check, timeout=300)

    def new_orders(self):
        return self.proxy.jws_payloads("/order-plz")

    def test_list_text_and_json(self):
        ck = self.certkeep()
        out = ck.run("profiles").stdout  # the store's default server
        for name, desc in PROFILES.items():
            self.assertRegex(out, r"(?m)^%s\s+%s$" % (name, desc))
        self.assertEqual(ck.json("profiles", "--json"),
                         [{"name": n, "description": d} for n, d in PROFILES.items()])

    def test_list_with_server_needs_no_store_and_makes_none(self):
        ck = self.certkeep(register=False)
        got = ck.json("profiles", "--server", self.proxy.directory_url, "--json")
        self.assertEqual(sorted(p["name"] for p in got), sorted(PROFILES))
        self.assertFalse(os.path.exists(ck.store), "profiles must not create a store")
        r = ck.run("profiles", check=False)  # no --server: the store must exist
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertFalse(os.path.exists(ck.store))

    def test_server_without_profiles(self):
        self.proxy.set_directory_meta({})
        ck = self.certkeep(register=False)
        r = ck.run("profiles", "--server", self.proxy.directory_url)
        self.assertIn("the server offers no profiles", r.stdout)
        self.assertEqual(ck.json("profiles", "--server", self.proxy.directory_url, "--json"), [])
        ck.run("account", "register", "--server", self.proxy.directory_url, "--agree-tos")
        r = self.issue(ck, "none.example.test", "--profile", "shortlived", check=False)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("offers no profiles", r.stderr)
        self.assertEqual(self.new_orders(), [])

    def test_issue_with_profile_recorded_and_reused(self):
        ck = self.certkeep()
        self.issue(ck, "short.example.test", "--profile", "shortlived")
        orders = self.new_orders()
        self.assertEqual(len(orders), 1)
        self.assertEqual(orders[0]["profile"], "shortlived")
        shown = ck.json("show", "short.example.test", "--json")
        self.assertEqual(shown["profile"], "shortlived")
        self.assertRegex(ck.run("show", "short.example.test").stdout,
                         r"(?m)^\s+profile\s+shortlived$")
        listed = ck.json("list", "--json")
        self.assertEqual([c["profile"] for c in listed], ["shortlived"])
        # A later issue without --profile asks for the recorded one ...
        self.issue(ck, "short.example.test")
        self.assertEqual([o.get("profile") for o in self.new_orders()],
                         ["shortlived", "shortlived"])
        # ... and --profile '' clears it: no "profile" sent, none recorded.
        self.issue(ck, "short.example.test", "--profile", "")
        self.assertNotIn("profile", self.new_orders()[-1])
        self.assertIsNone(ck.json("show", "short.example.test", "--json")["profile"])
        self.issue(ck, "short.example.test")
        self.assertNotIn("profile", self.new_orders()[-1])

    def test_issue_without_profile_sends_none(self):
        ck = self.certkeep()
        self.issue(ck, "plain.example.test")
        self.assertEqual(len(self.new_orders()), 1)
        self.assertNotIn("profile", self.new_orders()[0])
        self.assertIsNone(ck.json("list", "--json")[0]["profile"])
        self.assertNotIn("profile", ck.run("show", "plain.example.test").stdout)

    def test_unknown_profile_refused_before_any_order(self):
        ck = self.certkeep()
        r = self.issue(ck, "unknown.example.test", "--profile", "tlsserver", check=False)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn('does not offer profile "tlsserver"', r.stderr)
        self.assertIn("classic, shortlived", r.stderr)
        self.assertEqual(self.proxy.count("/order-plz", "POST"), 0)
        self.assertEqual(ck.json("list", "--json"), [])

    def test_recorded_profile_withdrawn_by_the_server(self):
        ck = self.certkeep()
        self.issue(ck, "gone.example.test", "--profile", "shortlived")
        self.proxy.set_directory_meta({"profiles": {"classic": "still here"}})
        r = self.issue(ck, "gone.example.test", check=False)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("lineage gone.example.test asks for profile \"shortlived\"", r.stderr)
        self.assertIn("--profile ''", r.stderr)
        self.assertEqual(len(self.new_orders()), 1)


if __name__ == "__main__":
    unittest.main()
