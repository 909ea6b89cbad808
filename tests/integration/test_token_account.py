"""Issue 10: the PIN for signing keys on a token where the earlier sessions
left it out, and a registration that failed after its key was made.

- `revoke --pin-file F` signs with an account key on the token, and
  `revoke --with-cert-key --pin-file F` with the certificate's key on the
  token (before: "cannot sign ACME requests on a token yet"); Pebble's
  management API confirms each revocation.  Without the PIN nothing is sent.
- `account recover --token URI --pin-file F` finds the account of a key
  that stayed on the token when the store was lost.
- `account register --token` whose newAccount never got an answer (the
  fault proxy drops it) stored the key it made; running it again signs with
  that key - the token holds exactly one account key afterwards.
"""

import json
import os
import unittest

import ckharness
import test_token_issue
from test_token_issue import TokenIssueCase, PIN

PEBBLE = None
TMP = None


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-token-account-")
    test_token_issue.PEBBLE, test_token_issue.TMP = PEBBLE, TMP


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


class AccountTokenCase(TokenIssueCase):
    register = False

    def status(self, sha):
        serial = self.row(sha)["serial"].replace(":", "").lower()
        data = json.loads(PEBBLE.mgmt_get("/cert-status-by-serial/" + serial))
        return data.get("Status")

    def account_keys(self):
        return [f for k, _, f in self.objects()
                if k == "Private Key Object" and f.get("label", "").startswith("acme-account-")]

    def plain_issue(self, name, *extra):
        return self.ck.run("issue", "-d", name, "--server", PEBBLE.directory_url,
                           "--http-port", str(PEBBLE.http_port), "--http-address",
                           "127.0.0.1", *extra, timeout=300).stdout.strip()

    def register_on_token(self, server=None, check=True):
        return self.ck.run("account", "register", "--server", server or PEBBLE.directory_url,
                           "--agree-tos", "--token", self.uri, "--pin-file", self.pin_file,
                           check=check, timeout=120)


class TestRevokeOnToken(AccountTokenCase):

    def test_revoke_signed_by_account_key_on_token(self):
        self.register_on_token()
        sha = self.plain_issue("acct.revoke.tok.test", "--pin-file", self.pin_file)
        before = PEBBLE.count_requests("POST")
        res = self.ck.run("revoke", sha, check=False)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn("needs its user PIN", res.stderr)
        self.assertEqual(PEBBLE.count_requests("POST"), before, "nothing was sent")
        self.assertEqual(self.status(sha), "Valid")

        res = self.ck.run("revoke", sha, "--pin-file", self.pin_file, "--json")
        self.assertIn("account default", json.loads(res.stdout)["signed_by"])
        self.assertEqual(self.status(sha), "Revoked")
        self.assertIsNotNone(self.row(sha)["revoked"])

    def test_revoke_signed_by_certificate_key_on_token(self):
        self.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")
        sha = self.issue("cert.revoke.tok.test", "rtok").stdout.strip()
        res = self.ck.run("revoke", sha, "--with-cert-key", "--pin-file", self.pin_file,
                          "--json")
        self.assertEqual(json.loads(res.stdout)["signed_by"], "the certificate's key")
        self.assertEqual(self.status(sha), "Revoked")


class TestRecoverOnToken(AccountTokenCase):

    def test_recover_account_whose_key_is_on_token(self):
        self.register_on_token()
        url = self.ck.json("account", "show", "--pin-file", self.pin_file, "--json")["url"]
        key_id = self.account_keys()[0]["ID"]
        # the store is lost; the token keeps the key
        other = ckharness.Certkeep(os.path.join(self.dir, "store2", "store.db"),
                                   ca_bundle=PEBBLE.ca_bundle,
                                   env={"SOFTHSM2_CONF": self.conf})
        uri = "pkcs11:token=%s;id=%s?module-path=%s" % (
            test_token_issue.LABEL, "".join("%%%s" % key_id[i:i + 2]
                                            for i in range(0, len(key_id), 2)),
            test_token_issue.MODULE)
        res = other.run("account", "recover", "--server", PEBBLE.directory_url, "--token",
                        uri, "--pin-file", self.pin_file)
        self.assertIn(url, res.stdout)
        shown = other.json("account", "show", "--pin-file", self.pin_file, "--json")
        self.assertEqual((shown["url"], shown["status"]), (url, "valid"))
        self.assertEqual(len(self.account_keys()), 1, "no key was made")


class TestRegisterAgain(AccountTokenCase):

    def test_register_after_failed_run_reuses_token_key(self):
        proxy = PEBBLE.fault_proxy()
        self.addCleanup(proxy.stop)
        server = proxy.url("/dir")
        proxy.add_rule("/sign-me-up", method="POST", action="drop")
        res = self.register_on_token(server, check=False)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertEqual(len(self.account_keys()), 1, "the key was made before newAccount")

        proxy.clear_rules()
        self.register_on_token(server)
        keys = self.account_keys()
        self.assertEqual(len(keys), 1, "the second run reused the key: %r" % keys)
        shown = self.ck.json("account", "show", "--server", server, "--pin-file",
                             self.pin_file, "--json")
        self.assertEqual(shown["status"], "valid", shown)
