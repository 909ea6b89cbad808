"""Keys at rest sealed (issue 12) against a real Pebble.

- A store given --store-key-file (or $CERTKEEP_STORE_KEY_FILE) when new is
  sealed: issuance works end to end, and `sqlite3 store.db .dump` holds
  neither the PKCS#8 DER (hex) nor the PEM base64 of the certificate's key.
- Without the key file a sealed store still lists, shows and exports
  certificates with --no-key; exporting the key fails naming the option.
- A wrong key file is refused at open; a key file another user could read
  is refused naming the file.
- `store seal` turns a plain store with keys into a sealed one; `store
  rekey` re-seals under a new key, after which only the new key opens the
  store and issuance goes on with it.
- `copy` from a sealed store says whether the key was re-sealed under the
  destination's key or written unsealed.
- On PostgreSQL: `pg_dump` of a sealed store holds no key (the account key
  and every certificate key, issued and renewed) as PKCS#8 DER, PEM base64
  or a PEM line.
"""

import json
import os
import re
import subprocess
import tempfile
import unittest

import ckharness

PEBBLE = None
TMP = None


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-sealed-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


def key_file(directory, name, mode=0o600):
    path = os.path.join(directory, name)
    with open(path, "w") as fp:
        fp.write(os.urandom(32).hex() + "\n")
    os.chmod(path, mode)
    return path


def dump(store):
    return subprocess.run(["sqlite3", store, ".dump"], capture_output=True, text=True,
                          check=True).stdout


def key_forms(key_pem_path):
    """The PKCS#8 DER (hex, as .dump writes blobs) and PEM base64 of a key."""
    der = subprocess.run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", key_pem_path,
                          "-outform", "DER"], capture_output=True, check=True).stdout
    with open(key_pem_path) as fp:
        pem = fp.read()
    b64 = "".join(l for l in pem.splitlines() if not l.startswith("-----"))
    return der, b64


class SealedCase(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.id().rsplit(".", 1)[-1] + "-", dir=TMP)
        self.store = os.path.join(self.dir, "store", "store.db")
        self.ck = ckharness.Certkeep(self.store, ca_bundle=PEBBLE.ca_bundle)

    def issue(self, name, keyfile, check=True, **kw):
        return self.ck.run("issue", "-d", name, "--name", name.split(".")[0],
                           "--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1",
                           check=check, timeout=300,
                           global_args=("--store-key-file", keyfile) if keyfile else (), **kw)

    def export_key(self, ref, keyfile, check=True):
        out = os.path.join(self.dir, "export-%s.key" % ref)
        if os.path.exists(out):
            os.unlink(out)
        res = self.ck.run("export", ref, "--key-out", out, check=check,
                          global_args=("--store-key-file", keyfile) if keyfile else ())
        return out, res

    def assert_dump_clean(self, key_pem):
        text = dump(self.store)
        der, b64 = key_forms(key_pem)
        self.assertNotIn(der.hex().upper(), text.upper(), "the PKCS#8 DER is in the dump")
        self.assertNotIn(b64, text, "the PEM base64 of the key is in the dump")
        for line in b64[:64], b64[64:128]:
            self.assertNotIn(line, text, "a PEM line of the key is in the dump")
        return text

    def register(self, keyfile):
        self.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos",
                    global_args=("--store-key-file", keyfile) if keyfile else ())


class TestSealedIssuance(SealedCase):

    def test_issue_into_sealed_store_and_dump(self):
        a = key_file(self.dir, "a.key")
        # The environment variable gives the key as well as the option does.
        self.ck.env["CERTKEEP_STORE_KEY_FILE"] = a
        self.register(None)
        self.issue("sealed.example.test", None)
        del self.ck.env["CERTKEEP_STORE_KEY_FILE"]
        key_pem, _ = self.export_key("sealed", a)
        text = self.assert_dump_clean(key_pem)
        self.assertIn("key_seal_check_v1", text, "the store records that it is sealed")

        # Without the key: list, show and a certificate-only export work ...
        self.assertEqual(len(self.ck.json("list", "--json")), 1)
        self.ck.run("show", "sealed")
        self.ck.run("export", "sealed", "--no-key", "--cert-out",
                    os.path.join(self.dir, "c.pem"))
        # ... and using the key fails, naming the option.
        _, res = self.export_key("sealed", None, check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "export needs the key"))
        self.assertIn("--store-key-file", res.stderr)

        # A wrong key is refused at open, before any use.
        b = key_file(self.dir, "b.key")
        res = self.ck.run("list", check=False, global_args=("--store-key-file", b))
        self.assertEqual(res.returncode, 1)
        self.assertIn("sealed with another key: check --store-key-file", res.stderr)
        # A key file others can read is refused, naming it.
        loose = key_file(self.dir, "loose.key", 0o644)
        res = self.ck.run("list", check=False, global_args=("--store-key-file", loose))
        self.assertEqual(res.returncode, 1)
        self.assertIn(loose, res.stderr)

        # Rekey: afterwards only the new key opens the store; issuance goes on with it.
        self.ck.run("store", "rekey", "--new-key-file", b, global_args=("--store-key-file", a))
        res = self.ck.run("list", check=False, global_args=("--store-key-file", a))
        self.assertIn("sealed with another key", res.stderr)
        self.issue("again.example.test", b)
        k2, _ = self.export_key("again", b)
        k1, _ = self.export_key("sealed", b)
        self.assert_dump_clean(k1)
        self.assert_dump_clean(k2)


class TestSealedRenewal(SealedCase):

    def test_concurrent_renewal_of_a_sealed_store(self):
        """Renewal workers open their own store handles: each must get the
        node key, or every sealed account key would be 'missing'."""
        a = key_file(self.dir, "a.key")
        self.register(a)
        for n in ("r1.sealed.test", "r2.sealed.test", "r3.sealed.test"):
            self.issue(n, a)
        res = self.ck.run("renew", "--all", "--force", "--concurrency", "3", "--json",
                          "--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1",
                          check=False, timeout=600, global_args=("--store-key-file", a))
        out = json.loads(res.stdout)
        self.assertEqual((res.returncode, out["renewed"], out["failed"]), (0, 3, 0),
                         res.stdout + res.stderr)
        out_key, _ = self.export_key("r1", a)
        self.assert_dump_clean(out_key)


class TestSealExisting(SealedCase):

    def test_seal_plain_store_then_copy(self):
        self.register(None)
        self.issue("plain.example.test", None)
        key_pem, _ = self.export_key("plain", None)
        der, _ = key_forms(key_pem)
        self.assertIn(der.hex().upper(), dump(self.store).upper(),
                      "the search finds a key in a plain store's dump")
        a = key_file(self.dir, "a.key")
        # A key file on a plain store with keys is refused: seal first.
        res = self.ck.run("list", check=False, global_args=("--store-key-file", a))
        self.assertIn("certkeep store seal", res.stderr)
        res = self.ck.run("store", "seal", "--key-file", a)
        self.assertIn("sealed", res.stdout)
        self.assert_dump_clean(key_pem)
        again, _ = self.export_key("plain", a)
        with open(again) as x, open(key_pem) as y:
            self.assertEqual(x.read(), y.read(), "the sealed key is the same key")

        plain_dst = os.path.join(self.dir, "plain-dst", "store.db")
        res = self.ck.run("copy", "plain", "--to", plain_dst,
                          global_args=("--store-key-file", a))
        self.assertIn("UNSEALED", res.stdout)
        self.assertIn(key_forms(key_pem)[0].hex().upper(), dump(plain_dst).upper())

        sealed_dst = os.path.join(self.dir, "sealed-dst", "store.db")
        b = key_file(self.dir, "b.key")
        dst = ckharness.Certkeep(sealed_dst)
        # An absent destination given a key is created sealed.
        res = self.ck.run("copy", "plain", "--to", sealed_dst, "--to-key-file", b,
                          global_args=("--store-key-file", a))
        self.assertIn("re-sealed under the destination's store key", res.stdout)
        text = dump(sealed_dst)
        self.assertNotIn(key_forms(key_pem)[0].hex().upper(), text.upper())
        out = os.path.join(self.dir, "dst.key")
        dst.run("export", "plain", "--key-out", out, global_args=("--store-key-file", b))
        with open(out) as x, open(key_pem) as y:
            self.assertEqual(x.read(), y.read())


if __name__ == "__main__":
    unittest.main()


class TestSealedPostgres(SealedCase):
    """The same on a PostgreSQL store (a server started for this class):
    `pg_dump` of a sealed store holds none of its keys, in any form."""

    @classmethod
    def setUpClass(cls):
        cls.pg = ckharness.PostgreSQL().start()

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()

    def setUp(self):
        super().setUp()
        self.store = self.pg.createdb("sealed")
        self.ck = ckharness.Certkeep(self.store, ca_bundle=PEBBLE.ca_bundle)

    def pg_dump(self):
        return subprocess.run(["pg_dump", "--no-owner", self.store], capture_output=True,
                              text=True, check=True).stdout

    def test_pg_dump_of_a_sealed_store_holds_no_key(self):
        a = key_file(self.dir, "a.key")
        account_key = os.path.join(self.dir, "account.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-out", account_key], check=True,
                       capture_output=True)
        self.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos",
                    "--key-file", account_key, global_args=("--store-key-file", a))
        self.issue("pg1.sealed.test", a)
        self.issue("pg2.sealed.test", a)
        res = self.ck.run("renew", "--all", "--force", "--concurrency", "2", "--json",
                          check=False, timeout=600, global_args=("--store-key-file", a))
        self.assertEqual((res.returncode, json.loads(res.stdout)["renewed"]), (0, 2),
                         res.stdout + res.stderr)
        # Every key the store holds: the account key and each certificate's
        # key (two issued, two renewed), read back through the node key.
        keys = [account_key]
        for c in self.ck.json("list", "--json"):
            out = os.path.join(self.dir, "k-%s.pem" % c["sha256"][:16])
            self.ck.run("export", c["sha256"], "--key-out", out,
                        global_args=("--store-key-file", a))
            keys.append(out)
        text = self.pg_dump()
        self.assertIn("key_seal_check_v1", text, "the dump is of the sealed store")
        self.assertEqual(len(keys), 5)
        self.assertEqual(text.count("COPY public.keys "), 1)
        for path in keys:
            der, b64 = key_forms(path)
            self.assertNotIn(der.hex().upper(), text.upper(), "a PKCS#8 DER is in the dump")
            self.assertNotIn(b64, text, "the PEM base64 of a key is in the dump")
            for line in b64[:64], b64[64:128]:
                self.assertNotIn(line, text, "a PEM line of a key is in the dump")
        # The search is not blind: the same dump of a plain store shows its key.
        plain = ckharness.Certkeep(self.pg.createdb("plain"), ca_bundle=PEBBLE.ca_bundle)
        bundle = os.path.join(self.dir, "bundle.pem")
        with open(bundle, "w") as fp:
            fp.write(open(keys[1]).read())
        plain.run("import", bundle)
        dumped = subprocess.run(["pg_dump", plain.store], capture_output=True, text=True,
                                check=True).stdout
        self.assertIn(key_forms(keys[1])[0].hex().upper(), dumped.upper())
