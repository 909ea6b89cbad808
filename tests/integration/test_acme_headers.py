"""The libcurl transport hands the ACME layer the response headers it
reads (Replay-Nonce, Location, Retry-After, Content-Type, Link) from
libcurl's header store: every instance of a repeated header, the final
response's only.  Seen end to end, against Pebble and the fault proxy."""

import os
import shutil
import tempfile
import unittest

import ckharness


class TestHeaders(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ck-headers-")
        # Two more roots: the certificate comes with two Link: rel="alternate"
        # headers, one per alternate chain.
        cls.pebble = ckharness.Pebble(os.path.join(cls.dir, "pebble"),
                                      env={"PEBBLE_ALTERNATE_ROOTS": "2"})
        cls.pebble.start()

    @classmethod
    def tearDownClass(cls):
        cls.pebble.stop()
        if not os.environ.get("CK_KEEP_TMP"):
            shutil.rmtree(cls.dir, ignore_errors=True)

    def certkeep(self, name):
        store = os.path.join(self.dir, name, "store.db")
        return ckharness.Certkeep(store, ca_bundle=self.pebble.ca_bundle)

    def test_two_alternate_links_both_recorded(self):
        ck = self.certkeep("links")
        ck.run("account", "register", "--server", self.pebble.directory_url, "--agree-tos")
        sha = ck.run("issue", "-d", "links.example.test", "--http-port",
                     str(self.pebble.http_port), "--http-address", "127.0.0.1",
                     timeout=300).stdout.strip()
        shown = ck.json("show", sha, "--json")
        self.assertEqual(shown["alternate_chains"], 2,
                         "each Link: rel=\"alternate\" header is one alternate chain")
        self.assertIn("2 alternate chain(s)", ck.run("show", sha).stdout)

    def test_retry_after_of_the_final_answer(self):
        ck = self.certkeep("retry")
        proxy = self.pebble.fault_proxy()
        self.addCleanup(proxy.stop)
        proxy.add_rule("/sign-me-up", method="POST", status=429, type="rateLimited",
                       detail="slow down", retry_after=4321)
        r = ck.run("-v", "account", "register", "--server", proxy.directory_url,
                   "--agree-tos", check=False)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("-> 429, Retry-After 4321", r.stderr)
        self.assertIn("slow down", r.stderr)


if __name__ == "__main__":
    unittest.main()
