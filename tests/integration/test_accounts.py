"""Issue 4 (ACME accounts) against a real Pebble: register (ToS, adoption of
an existing account, bring-your-own key), show --json, update contacts and
terms, recover by key, several accounts per store, rollover EC->EC,
EC->RSA, RSA->EC each followed by an issuance and a check that the server
no longer accepts the old key, rollover to another account's key (409),
deactivate then issue, EAB (missing, wrong, right), usage errors and
--help.

The server's view is checked with ckharness.AcmeProbe (a separate minimal
ACME client signing through openssl), never through certkeep itself.
"""

import json
import os
import tempfile
import unittest

import ckharness

PEBBLE = None
EAB_PEBBLE = None
TMP = None
SUBCOMMANDS = ("register", "list", "show", "update", "recover", "rollover", "deactivate")


def setUpModule():
    global PEBBLE, EAB_PEBBLE, TMP
    TMP = tempfile.mkdtemp(prefix="ck-accounts-")
    PEBBLE = ckharness.Pebble(os.path.join(TMP, "pebble"))
    PEBBLE.start()
    EAB_PEBBLE = ckharness.Pebble(os.path.join(TMP, "pebble-eab"), eab=True, name="pebble-eab")
    EAB_PEBBLE.start()


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE, EAB_PEBBLE)


jwk_thumbprint = ckharness.jwk_thumbprint


class AccountCase(unittest.TestCase):
    pebble_attr = "PEBBLE"

    @property
    def pebble(self):
        return globals()[self.pebble_attr]

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self._testMethodName + "-", dir=TMP)
        self.ck = self.new_store("a")
        self.probe = ckharness.AcmeProbe(self.pebble.directory_url, self.pebble.ca_bundle)

    def new_store(self, name):
        return ckharness.Certkeep(os.path.join(self.dir, name, "store.db"),
                                  ca_bundle=self.pebble.ca_bundle)

    def key(self, name, key_type="ec256"):
        return ckharness.AcmeKey.generate(os.path.join(self.dir, name + ".pem"), key_type)

    def register(self, ck=None, *extra, key=None, check=True):
        args = ["account", "register", "--server", self.pebble.directory_url, "--agree-tos"]
        if key is not None:
            args += ["--key-file", key.path]
        return (ck or self.ck).run(*args, *extra, check=check)

    def show(self, ck=None, *extra):
        data = (ck or self.ck).json("account", "show", "--json", *extra)
        self.assertIsInstance(data, dict, "account show --json must print one JSON object")
        return data

    def issue(self, ck, name, check=True):
        return ck.run("issue", "-d", name, "--http-port", str(self.pebble.http_port),
                      "--http-address", "127.0.0.1", check=check, timeout=300)

    def server_account(self, key, url):
        """The server's account object, fetched with POST-as-GET signed by key."""
        status, _, body = self.probe.post(url, key, None, kid=url)
        self.assertEqual(status, 200, "the server must answer the account fetch: %s" % body)
        return body


class TestRegisterShow(AccountCase):
    def test_register_then_show_json_fields(self):
        k = self.key("k")
        res = self.register(None, "--contact", "mailto:ops@example.test", key=k)
        self.assertIn("registered", res.stdout, ckharness.describe(res, "register says so"))
        acct = self.show()
        for field in ("url", "status", "contacts", "tos_agreed", "key_algorithm",
                      "jwk_thumbprint", "name", "server", "pending_key"):
            self.assertIn(field, acct, "show --json lacks %r: %s" % (field, acct))
        self.assertEqual(acct["url"], self.probe.account_url(k),
                         "the stored account URL must be the server's account of the key")
        self.assertEqual(acct["status"], "valid")
        self.assertEqual(acct["contacts"], ["mailto:ops@example.test"])
        self.assertTrue(acct["tos_agreed"])
        self.assertEqual(acct["key_algorithm"], "EC P-256")
        self.assertEqual(acct["jwk_thumbprint"], jwk_thumbprint(k.jwk),
                         "show's thumbprint must be the RFC 7638 thumbprint of the account key")
        self.assertIsNone(acct["pending_key"])
        self.assertEqual(acct["server"], self.pebble.directory_url)
        listed = self.ck.json("account", "list", "--json")
        self.assertEqual([a["url"] for a in listed], [acct["url"]])

    def test_generated_key_types(self):
        for kt, alg in (("ec256", "EC P-256"), ("ec384", "EC P-384"), ("rsa2048", "RSA 2048")):
            ck = self.new_store(kt)
            self.register(ck, "--key-type", kt)
            self.assertEqual(self.show(ck)["key_algorithm"], alg)

    def test_register_without_agreement_names_the_terms(self):
        res = self.ck.run("account", "register", "--server", self.pebble.directory_url,
                          check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "must refuse"))
        tos = self.pebble.directory["meta"]["termsOfService"]
        self.assertIn(tos, res.stderr, "the refusal must show the terms of service URL")
        self.assertIn("--agree-tos", res.stderr)
        self.assertEqual(self.ck.json("account", "list", "--json"), [],
                         "nothing may be stored when the terms were not agreed to")

    def test_register_with_a_key_that_has_an_account_adopts_it(self):
        k = self.key("k")
        first = self.register(None, key=k)
        url = self.show()["url"]
        other = self.new_store("b")
        res = self.register(other, key=k)
        self.assertIn("adopted", res.stdout, ckharness.describe(
            res, "registering a key that has an account must adopt it and say so"))
        self.assertNotIn("adopted", first.stdout)
        self.assertEqual(self.show(other)["url"], url)

    def test_register_twice_in_one_store_keeps_the_account(self):
        self.register()
        url = self.show()["url"]
        res = self.register()
        self.assertIn("adopted", res.stdout)
        self.assertEqual(self.show()["url"], url)
        res = self.register(None, key=self.key("other"), check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(
            res, "another key under the same account name must be refused"))
        self.assertIn("--account", res.stderr)
        self.assertEqual(self.show()["url"], url)


class TestUpdateRecover(AccountCase):
    def test_update_contacts_replace_and_clear(self):
        k = self.key("k")
        self.register(None, "--contact", "mailto:a@example.test", key=k)
        url = self.show()["url"]
        self.ck.run("account", "update", "--contact", "mailto:b@example.test",
                    "--contact", "mailto:c@example.test")
        want = ["mailto:b@example.test", "mailto:c@example.test"]
        self.assertEqual(self.show()["contacts"], want)
        self.assertEqual(self.server_account(k, url).get("contact"), want,
                         "the server must hold the replaced contacts")
        self.ck.run("account", "update", "--contact", "")
        self.assertEqual(self.show()["contacts"], [])
        self.assertFalse(self.server_account(k, url).get("contact"),
                         "--contact '' must clear the contacts on the server")

    def test_agree_to_new_terms(self):
        self.register()
        res = self.ck.run("account", "update", "--agree-tos")
        self.assertEqual(res.returncode, 0)
        self.assertTrue(self.show()["tos_agreed"])

    def test_recover_by_key_into_an_empty_store(self):
        k = self.key("k", "rsa2048")
        self.register(None, key=k)
        url = self.show()["url"]
        b = self.new_store("b")
        res = b.run("account", "recover", "--server", self.pebble.directory_url,
                    "--key-file", k.path)
        self.assertIn(url, res.stdout)
        acct = self.show(b)
        self.assertEqual(acct["url"], url)
        self.assertEqual(acct["jwk_thumbprint"], jwk_thumbprint(k.jwk))
        self.assertEqual(acct["key_algorithm"], "RSA 2048")

    def test_recover_without_an_account_stores_nothing(self):
        k = self.key("lonely")
        res = self.ck.run("account", "recover", "--server", self.pebble.directory_url,
                          "--key-file", k.path, check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "no account: must fail"))
        self.assertIn("no account", res.stderr)
        self.assertEqual(self.ck.json("account", "list", "--json"), [])
        self.assertIsNone(self.probe.account_url(k), "recover must never create an account")


class TestSeveralAccounts(AccountCase):
    def test_two_accounts_on_one_server(self):
        self.register()
        first = self.show()["url"]
        self.register(None, "--account", "second")
        second = self.show(None, "--account", "second")["url"]
        self.assertNotEqual(first, second)
        self.assertEqual(self.show()["url"], first,
                         "without --account the server's default account is used")
        listed = {a["name"]: a for a in self.ck.json("account", "list", "--json")}
        self.assertEqual(set(listed), {"default", "second"})
        self.assertTrue(listed["default"]["default"])
        self.assertFalse(listed["second"]["default"])
        before = self.pebble.count_requests("POST", "/order-plz")
        self.issue(self.ck, "several.example.test")
        self.assertEqual(self.pebble.count_requests("POST", "/order-plz"), before + 1)

    def test_accounts_on_two_servers(self):
        self.register()
        res = self.ck.run("account", "register", "--server", EAB_PEBBLE.directory_url,
                          "--agree-tos", "--eab-kid", "kid-1", "--eab-hmac-key-file",
                          self.write_secret("eab", EAB_PEBBLE.eab_keys["kid-1"]),
                          global_args=("--ca-bundle", EAB_PEBBLE.ca_bundle))
        self.assertEqual(res.returncode, 0)
        servers = {a["server"] for a in self.ck.json("account", "list", "--json")}
        self.assertEqual(servers, {self.pebble.directory_url, EAB_PEBBLE.directory_url})
        # the last registration's server became the store's default server
        acct = self.ck.json("account", "show", "--json",
                            global_args=("--ca-bundle", EAB_PEBBLE.ca_bundle))
        self.assertEqual(acct["server"], EAB_PEBBLE.directory_url)
        self.assertEqual(self.show(None, "--server", self.pebble.directory_url)["server"],
                         self.pebble.directory_url)

    def write_secret(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="ascii") as fp:
            fp.write(text + "\n")
        os.chmod(path, 0o600)
        return path


class TestRollover(AccountCase):
    def rollover_then_issue(self, old_type, new_type, new_alg):
        old = self.key("old", old_type)
        self.register(None, key=old)
        before = self.show()
        self.assertEqual(before["jwk_thumbprint"], jwk_thumbprint(old.jwk))
        res = self.ck.run("account", "rollover", "--key-type", new_type)
        self.assertIn("rolled over", res.stdout)
        after = self.show()
        self.assertEqual(after["url"], before["url"], "a rollover keeps the account")
        self.assertEqual(after["key_algorithm"], new_alg)
        self.assertNotEqual(after["jwk_thumbprint"], before["jwk_thumbprint"])
        self.assertIsNone(after["pending_key"])
        self.assertIsNone(self.probe.account_url(old),
                          "the server must no longer accept the old key")
        status, _, body = self.probe.post(before["url"], old, None, kid=before["url"])
        self.assertNotEqual(status, 200, "a request signed with the old key must fail: %s" % body)
        self.issue(self.ck, "rollover-%s-%s.example.test" % (old_type, new_type))
        res = self.ck.run("account", "recover", "--server", self.pebble.directory_url,
                          "--key-file", old.path, "--account", "old", check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(
            res, "recovering with the old key must fail (accountDoesNotExist)"))

    def test_ec_to_ec(self):
        self.rollover_then_issue("ec256", "ec256", "EC P-256")

    def test_ec_to_rsa(self):
        self.rollover_then_issue("ec256", "rsa2048", "RSA 2048")

    def test_rsa_to_ec(self):
        self.rollover_then_issue("rsa2048", "ec384", "EC P-384")

    def test_rollover_to_a_key_of_another_account_is_refused(self):
        mine, theirs = self.key("mine"), self.key("theirs")
        self.register(None, key=mine)
        self.register(self.new_store("b"), key=theirs)
        res = self.ck.run("account", "rollover", "--key-file", theirs.path, check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "409 must fail"))
        self.assertIn("another account", res.stderr)
        acct = self.show()
        self.assertIsNone(acct["pending_key"], "the refused key must not stay pending")
        self.assertEqual(acct["jwk_thumbprint"], jwk_thumbprint(mine.jwk))
        self.assertEqual(self.probe.account_url(mine), acct["url"])

    def test_second_rollover_and_rollover_to_a_given_key(self):
        self.register()
        url = self.show()["url"]
        self.ck.run("account", "rollover")
        nxt = self.key("next", "ec384")
        self.ck.run("account", "rollover", "--key-file", nxt.path)
        self.assertEqual(self.probe.account_url(nxt), url)
        self.assertEqual(self.show()["jwk_thumbprint"], jwk_thumbprint(nxt.jwk))


class TestDeactivate(AccountCase):
    def test_deactivate_needs_yes_then_issue_fails_clearly(self):
        k = self.key("k")
        self.register(None, key=k)
        url = self.show()["url"]
        res = self.ck.run("account", "deactivate", check=False)
        self.assertEqual(res.returncode, 2, ckharness.describe(res, "--yes is required"))
        self.assertEqual(self.show()["status"], "valid")
        self.ck.run("account", "deactivate", "--yes")
        self.assertEqual(self.show()["status"], "deactivated")
        status, _, body = self.probe.post(url, k, None, kid=url)
        self.assertNotEqual(status, 200, "the server must refuse a deactivated account: %s"
                            % body)
        res = self.issue(self.ck, "deactivated.example.test", check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "issue must fail"))
        self.assertIn("deactivated", res.stderr)
        self.assertIn("account register", res.stderr,
                      "the message must say how to go on (register a new account)")
        # and registering again gives a working account
        self.register()
        self.assertNotEqual(self.show()["url"], url)
        self.issue(self.ck, "reregistered.example.test")


class TestEab(AccountCase):
    pebble_attr = "EAB_PEBBLE"

    def secret(self, text):
        path = os.path.join(self.dir, "hmac")
        with open(path, "w", encoding="ascii") as fp:
            fp.write(text + "\n")
        os.chmod(path, 0o600)
        return path

    def test_missing_eab_is_refused_clearly(self):
        res = self.register(check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("External Account Binding", res.stderr)
        self.assertIn("--eab-kid", res.stderr)
        self.assertEqual(self.ck.json("account", "list", "--json"), [])

    def test_wrong_hmac_is_refused_clearly(self):
        wrong = ckharness.b64url(b"\x01" * 32)
        res = self.register(None, "--eab-kid", "kid-1", "--eab-hmac-key-file",
                            self.secret(wrong), check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "wrong HMAC must fail"))
        self.assertIn("check --eab-kid and the HMAC key", res.stderr)
        self.assertNotIn(wrong, res.stderr + res.stdout, "the HMAC key must never be printed")

    def test_right_hmac_registers(self):
        hmac = self.pebble.eab_keys["kid-2"]
        res = self.register(None, "--eab-kid", "kid-2", "--eab-hmac-key-file",
                            self.secret(hmac), "--contact", "mailto:eab@example.test")
        self.assertNotIn(hmac, res.stdout + res.stderr)
        acct = self.show()
        self.assertEqual(acct["eab_kid"], "kid-2")
        self.assertEqual(acct["status"], "valid")
        self.assertTrue(acct["url"].startswith("https://"))

    def test_eab_flags_go_together(self):
        res = self.register(None, "--eab-kid", "kid-1", check=False)
        self.assertEqual(res.returncode, 2)


class TestUsage(AccountCase):
    def test_help_and_usage_errors(self):
        for sub in SUBCOMMANDS:
            res = self.ck.run("account", sub, "--help")
            self.assertIn("usage: certkeep account " + sub, res.stdout)
        for args in (("account",), ("account", "frobnicate"),
                     ("account", "register", "--agree-tos"),
                     ("account", "recover", "--server", self.pebble.directory_url),
                     ("account", "rollover", "--grace", "-1"),
                     ("account", "rollover", "--key-type", "dsa"),
                     ("account", "update"),
                     ("account", "list", "--yes"),
                     ("account", "show", "extra")):
            res = self.ck.run(*args, check=False)
            self.assertEqual(res.returncode, 2, ckharness.describe(res, "usage error -> 2"))

    def test_commands_without_an_account_say_what_to_do(self):
        res = self.ck.run("account", "show", check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("account register", res.stderr)


if __name__ == "__main__":
    unittest.main()
