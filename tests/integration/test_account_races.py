"""Issue 13 (accounts): where certkeep reasons about the ACME server's state
or another certkeep process's, a rollover must never lose the account.

- keyChange reaches Pebble (which switches the key) but the client hears a
  502 from a "gateway" (tests/faultproxy.py, action forward_then_error): the
  answer is not a "no", so certkeep asks the server which key it accepts
  and keeps the new one; afterwards the account works, issuance works, and
  `doctor` offers neither key for pruning.
- `account update` is in flight (the fault proxy holds the server's answer
  after Pebble applied it) while `account rollover` in a second process
  commits; when the update's answer arrives it must not write the key it
  read before its round trip back over the rollover.

The server's view is checked with ckharness.AcmeProbe, never through
certkeep itself.
"""

import json
import os
import subprocess
import tempfile
import unittest

import ckharness

PEBBLE = None
TMP = None


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-account-races-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


class RaceCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self._testMethodName + "-", dir=TMP)
        self.proxy = PEBBLE.fault_proxy()
        self.addCleanup(self.proxy.stop)
        self.ck = ckharness.Certkeep(os.path.join(self.dir, "store.db"),
                                     ca_bundle=PEBBLE.ca_bundle)
        self.probe = ckharness.AcmeProbe(PEBBLE.directory_url, PEBBLE.ca_bundle)
        self.old = ckharness.AcmeKey.generate(os.path.join(self.dir, "old.pem"), "ec256")
        self.new = ckharness.AcmeKey.generate(os.path.join(self.dir, "new.pem"), "ec256")
        self.ck.run("account", "register", "--server", self.proxy.directory_url,
                    "--agree-tos", "--key-file", self.old.path)
        self.url = self.probe.account_url(self.old)
        self.assertIsNotNone(self.url)

    def show(self):
        return self.ck.json("account", "show", "--json")

    def assert_account_works_with_new_key(self, what):
        self.assertEqual(self.probe.account_url(self.new), self.url,
                         "the server must hold the new key (%s)" % what)
        res = self.ck.run("account", "show", "--json", check=False)
        self.assertEqual(res.returncode, 0, ckharness.describe(
            res, "after %s `account show` (signed with the stored key) must work" % what))
        acct = json.loads(res.stdout)
        self.assertEqual(acct["jwk_thumbprint"], ckharness.jwk_thumbprint(self.new.jwk),
                         "after %s the store's account key must be the new key" % what)
        self.assertIsNone(acct["pending_key"])

    def orphan_findings(self):
        res = self.ck.run("doctor", "--json", check=False)
        self.assertIn(res.returncode, (0, 1), ckharness.describe(res, "doctor must run"))
        return [f for f in json.loads(res.stdout)["findings"] if f["name"] == "orphan-key"]

    def issue(self, name):
        self.ck.run("issue", "-d", name, "--http-port", str(PEBBLE.http_port),
                    "--http-address", "127.0.0.1", timeout=300)


class TestKeyChangeGatewayError(RaceCase):
    def test_502_after_the_server_switched_keeps_the_account(self):
        rule = self.proxy.add_rule(self.proxy.key_change_path, method="POST", count=1,
                                   action="forward_then_error", status=502)
        res = self.ck.run("account", "rollover", "--key-file", self.new.path,
                          "--grace", "300", check=False)
        self.assertEqual(rule.hits, 1, "keyChange must have met the 502")
        self.assertEqual(res.returncode, 0, ckharness.describe(
            res, "a 502 is no answer: asking the server shows the rollover happened"))
        self.assert_account_works_with_new_key("a keyChange answered 502")
        self.assertEqual(self.orphan_findings(), [],
                         "within the rollover's grace period doctor must offer neither the "
                         "new key nor the previous one for pruning")
        self.ck.run("doctor", "--prune")
        self.assert_account_works_with_new_key("doctor --prune")
        self.issue("gateway-502.example.test")

    def test_definite_refusal_still_clears_the_pending_key(self):
        self.proxy.add_rule(self.proxy.key_change_path, method="POST", count=1,
                            type="malformed", detail="refused by the test")
        res = self.ck.run("account", "rollover", "--key-file", self.new.path, check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "a 400 malformed is a no"))
        self.assertIn("refused by the test", res.stderr)
        acct = self.show()
        self.assertIsNone(acct["pending_key"])
        self.assertEqual(acct["jwk_thumbprint"], ckharness.jwk_thumbprint(self.old.jwk))
        self.assertEqual(self.probe.account_url(self.old), self.url)


class TestConcurrentUpdate(RaceCase):
    def test_update_in_flight_does_not_undo_a_rollover(self):
        # Pebble applies the update at once; its answer is held until the
        # rollover (a second process) has committed.
        hold = self.proxy.add_rule("/my-account/", method="POST", count=1, action="hold",
                                   delay=120)
        update = subprocess.Popen(
            self.ck.argv("account", "update", "--contact", "mailto:race@example.test"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.DEVNULL)
        try:
            self.assertTrue(hold.holding.wait(120), "the update must reach the server")
            self.ck.run("account", "rollover", "--key-file", self.new.path)
        finally:
            self.proxy.release(hold)
            out, errs = update.communicate(timeout=120)
        self.assertEqual(update.returncode, 0, "the update itself succeeded on the server: "
                         "stdout %s stderr %s" % (out, errs))
        self.assert_account_works_with_new_key("an update that was in flight during a "
                                               "rollover")
        self.assertEqual(self.show()["contacts"], ["mailto:race@example.test"])
        self.issue("update-race.example.test")


if __name__ == "__main__":
    unittest.main()
