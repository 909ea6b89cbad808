"""Certificates linked to keys on a PKCS#11 token, through the command line,
against a real SoftHSM2 token made for the test (its own SOFTHSM2_CONF and
token directory; an EC P-256 and an RSA 2048 key pair made by pkcs11-tool).

For each token public key a throw-away CA (openssl) issues a certificate
with `openssl x509 -req -force_pubkey`, so the certificate's key exists
only on the token.  Checked: `token add` (and its refusals: wrong label,
missing module, a library that is no PKCS#11 module), `token list`, `token
keys` (SPKI SHA-256 equal to what openssl computes from pkcs11-tool's own
export), `import` naming the token and its URI, `list --json` showing the
URI as the key's location and linked true, `export` refusing the key
("cannot leave its token") while `--no-key` works, a certificate whose key
is on no token still labelled "no private key", a certificate imported
before its token was configured linked by a later import, `token rm`, and
--help on every token subcommand.  A module path comes from the store and
a root `certkeep import` loads it: a module file that is group- or
world-writable, owned by another uid, or in a group-writable directory is
refused with the path and the reason (by `token add` and by an import
that searches a configured token); a good copy in a private directory and
a symbolic link to the real module load.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import ckharness

MODULE = os.environ.get("CK_SOFTHSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
LABEL = "ck it token"
PIN = "123456"
TMP = None
HSM = None


def run(*argv, env=None, check=True):
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env)
    if check and res.returncode != 0:
        raise AssertionError("%s failed (%d): %s%s" % (" ".join(map(str, argv)),
                                                        res.returncode, res.stdout, res.stderr))
    return res


def quote_uri(data):
    """RFC 3986 percent-encoding of everything outside the unreserved set."""
    unreserved = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    return "".join(chr(b) if b in unreserved else "%%%02X" % b for b in data)


def token_uri(key_id):
    return "pkcs11:token=%s;id=%s;type=private?module-path=%s" % (
        quote_uri(LABEL.encode()), quote_uri(bytes.fromhex(key_id)),
        quote_uri(MODULE.encode()))


class Hsm:
    """A SoftHSM2 token with two key pairs, and certificates for their public keys."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(os.path.join(directory, "tokens"))
        self.conf = os.path.join(directory, "softhsm2.conf")
        with open(self.conf, "w", encoding="ascii") as fp:
            fp.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
                     "log.level = ERROR\n" % directory)
        self.env = dict(os.environ, SOFTHSM2_CONF=self.conf)
        run("softhsm2-util", "--init-token", "--free", "--label", LABEL, "--pin", PIN,
            "--so-pin", "654321", env=self.env)
        self.keys = {}
        for key_id, label, ktype in (("01", "k-ec", "EC:prime256v1"),
                                     ("02", "k-rsa", "RSA:2048")):
            self.p11("--login", "--pin", PIN, "--keypairgen", "--key-type", ktype,
                     "--id", key_id, "--label", label)
            der = os.path.join(directory, label + ".der")
            pem = os.path.join(directory, label + ".pem")
            self.p11("--read-object", "--type", "pubkey", "--id", key_id, "-o", der)
            run("openssl", "pkey", "-pubin", "-inform", "DER", "-in", der, "-out", pem)
            with open(der, "rb") as fp:
                spki_der = fp.read()
            self.keys[label] = {"id": key_id, "pem": pem,
                                "spki_sha256": hashlib.sha256(spki_der).hexdigest(),
                                "uri": token_uri(key_id)}
        self.ca = ckharness.make_ca(os.path.join(directory, "ca"))

    def p11(self, *args):
        return run("pkcs11-tool", "--module", MODULE, "--token-label", LABEL, *args,
                   env=self.env)

    def cert_for(self, pubkey_pem, name):
        """A certificate for name whose public key is pubkey_pem (the private key
        of the dummy CSR is thrown away)."""
        d = os.path.join(self.dir, "certs")
        os.makedirs(d, exist_ok=True)
        csr, dummy = os.path.join(d, name + ".csr"), os.path.join(d, name + ".dummy.key")
        ext, cert = os.path.join(d, name + ".ext"), os.path.join(d, name + ".pem")
        run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", dummy, "-out", csr, "-subj", "/CN=" + name)
        with open(ext, "w", encoding="ascii") as fp:
            fp.write("basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:%s\n" % name)
        run("openssl", "x509", "-req", "-in", csr, "-force_pubkey", pubkey_pem,
            "-CA", self.ca["ca_cert"], "-CAkey", self.ca["ca_key"], "-CAcreateserial",
            "-days", "30", "-extfile", ext, "-out", cert)
        return cert


def setUpModule():
    global TMP, HSM
    for tool in ("softhsm2-util", "pkcs11-tool", "openssl"):
        if shutil.which(tool) is None:
            raise AssertionError("%s is missing: run scripts/install-deps" % tool)
    if not os.path.exists(MODULE):
        raise AssertionError("%s is missing: run scripts/install-deps (softhsm2)" % MODULE)
    TMP = tempfile.mkdtemp(prefix="ck-token-")
    HSM = Hsm(os.path.join(TMP, "hsm"))


def tearDownModule():
    if TMP is not None and not os.environ.get("CK_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


class TokenTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=TMP)
        self.ck = ckharness.Certkeep(os.path.join(self.dir, "store", "store.db"),
                                     env={"SOFTHSM2_CONF": HSM.conf})

    def add_token(self, name="hsm"):
        res = self.ck.run("token", "add", name, "--module", MODULE, "--token", LABEL)
        self.assertIn("token '%s' added" % name, res.stdout)
        self.assertIn("2 public key(s)", res.stdout)
        return res

    def cert_row(self, name):
        rows = self.ck.json("list", "--json")
        for r in rows:
            if name in r["sans"]:
                return r
        self.fail("no certificate for %s in %s" % (name, rows))

    def test_import_links_to_token_key(self):
        self.add_token()
        for label, name in (("k-ec", "ec.token.test"), ("k-rsa", "rsa.token.test")):
            key = HSM.keys[label]
            cert = HSM.cert_for(key["pem"], name)
            res = self.ck.run("import", cert)
            self.assertIn("linked to its key on token 'hsm'", res.stdout)
            self.assertIn(key["uri"], res.stdout)
            self.assertNotIn("Keyset does not exist", res.stdout)
            row = self.cert_row(name=name)
            self.assertEqual(row["key"]["location"], key["uri"])
            self.assertTrue(row["key"]["linked"])

            out = os.path.join(self.dir, label)
            res = self.ck.run("export", row["sha256"], "--cert-out", out + ".crt",
                              "--key-out", out + ".key", check=False)
            self.assertEqual(res.returncode, 1, res.stderr)
            self.assertIn("cannot leave its token", res.stderr)
            self.assertFalse(os.path.exists(out + ".key"))
            self.assertFalse(os.path.exists(out + ".crt"))
            self.ck.run("export", row["sha256"], "--no-key", "--cert-out", out + ".crt")
            with open(out + ".crt", encoding="ascii") as a, open(cert, encoding="ascii") as b:
                self.assertIn(b.read().strip(), a.read())

            # the same import again changes nothing
            res = self.ck.run("import", cert)
            self.assertIn("nothing changed", res.stdout)
        doctor = self.ck.run("doctor", "--json", check=False)
        self.assertNotIn("cert-key-missing", doctor.stdout)

    def test_key_on_no_token_is_labelled(self):
        self.add_token()
        other = os.path.join(self.dir, "other.pem")
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", os.path.join(self.dir, "other.key"))
        run("openssl", "pkey", "-in", os.path.join(self.dir, "other.key"), "-pubout",
            "-out", other)
        cert = HSM.cert_for(other, "nokey.token.test")
        res = self.ck.run("import", cert)
        self.assertIn("WITHOUT a private key", res.stdout)
        self.assertIn("Keyset does not exist", res.stdout)
        row = self.cert_row(name="nokey.token.test")
        self.assertFalse(row["key"]["linked"])
        self.assertIsNone(row["key"]["location"])

    def test_late_token_links_labelled_certificate(self):
        cert = HSM.cert_for(HSM.keys["k-ec"]["pem"], "late.token.test")
        res = self.ck.run("import", cert)
        self.assertIn("WITHOUT a private key", res.stdout)
        self.add_token()
        res = self.ck.run("import", cert)
        self.assertIn("was stored without its key; now linked to its key on token 'hsm'",
                      res.stdout)
        row = self.cert_row(name="late.token.test")
        self.assertTrue(row["key"]["linked"])
        self.assertEqual(row["key"]["location"], HSM.keys["k-ec"]["uri"])

    def test_token_keys(self):
        self.add_token()
        keys = self.ck.json("token", "keys", "hsm", "--json")
        by_label = {k["label"]: k for k in keys}
        self.assertEqual(sorted(by_label), ["k-ec", "k-rsa"])
        for label, want in HSM.keys.items():
            got = by_label[label]
            self.assertEqual(got["spki_sha256"], want["spki_sha256"])
            self.assertEqual(got["id"], want["id"])
            self.assertEqual(got["uri"], want["uri"])
        self.assertEqual(by_label["k-ec"]["algorithm"], "EC P-256")
        self.assertEqual(by_label["k-rsa"]["algorithm"], "RSA 2048")
        human = self.ck.run("token", "keys", "hsm").stdout
        for want in HSM.keys.values():
            self.assertIn(want["spki_sha256"], human)

    def test_list_and_rm(self):
        res = self.ck.run("token", "list", check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("no store at", res.stderr)        # token add makes it
        self.add_token("hsm")
        res = self.ck.run("token", "add", "hsm", "--module", MODULE, "--token", LABEL,
                          check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("configured already", res.stderr)
        self.assertEqual(self.ck.json("token", "list", "--json"),
                         [{"name": "hsm", "token": LABEL, "module": MODULE}])
        cert = HSM.cert_for(HSM.keys["k-rsa"]["pem"], "rm.token.test")
        self.ck.run("import", cert)
        res = self.ck.run("token", "rm", "hsm")
        self.assertIn("stay linked", res.stdout)
        self.assertEqual(self.ck.json("token", "list", "--json"), [])
        self.assertIn("no tokens are configured", self.ck.run("token", "list").stdout)
        self.assertTrue(self.cert_row(name="rm.token.test")["key"]["linked"])
        res = self.ck.run("token", "rm", "hsm", check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("no token named 'hsm'", res.stderr)
        res = self.ck.run("token", "keys", "hsm", check=False)
        self.assertEqual(res.returncode, 1)

    def test_add_refusals(self):
        res = self.ck.run("token", "add", "x", "--module", MODULE, "--token", "no such label",
                          check=False)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("no token labelled 'no such label'", res.stderr)
        self.assertIn("'%s'" % LABEL, res.stderr)       # the labels present
        self.assertIn("check the label", res.stderr)
        res = self.ck.run("token", "add", "x", "--module", "/nonexistent/libp11.so",
                          "--token", LABEL, check=False)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("/nonexistent/libp11.so not found: check the path", res.stderr)
        res = self.ck.run("token", "add", "x", "--module", "/usr/lib/x86_64-linux-gnu/libz.so.1",
                          "--token", LABEL, check=False)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("not a PKCS#11 module", res.stderr)
        res = self.ck.run("token", "add", "x", "--token", LABEL, check=False)
        self.assertEqual(res.returncode, 2)
        # nothing was saved by the refusals: not even a store was made
        self.assertFalse(os.path.exists(self.ck.store))

    def test_broken_token_stops_import(self):
        # a configured token whose module is gone: the import says which and stores nothing
        lib = os.path.join(self.dir, "libsofthsm2-copy.so")
        shutil.copy(MODULE, lib)
        self.ck.run("token", "add", "moved", "--module", lib, "--token", LABEL)
        os.unlink(lib)
        cert = HSM.cert_for(HSM.keys["k-ec"]["pem"], "broken.token.test")
        res = self.ck.run("import", cert, check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("nothing was imported", res.stderr)
        self.assertIn("configured token 'moved'", res.stderr)
        self.assertIn("certkeep token rm moved", res.stderr)
        self.assertEqual(self.ck.json("list", "--json"), [])

    def module_copy(self, mode=0o644):
        d = tempfile.mkdtemp(prefix="modules-", dir=self.dir)
        os.chmod(d, 0o755)
        lib = os.path.join(d, "libsofthsm2-copy.so")
        shutil.copy(MODULE, lib)
        os.chmod(lib, mode)
        return lib

    def assertRefused(self, res, lib, reason):
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("refusing to load PKCS#11 module %s" % lib, res.stderr)
        self.assertIn(reason, res.stderr)

    def test_unsafe_module_refused(self):
        lib = self.module_copy()
        for mode, reason in ((0o664, "it is group-writable"), (0o646, "it is world-writable")):
            os.chmod(lib, mode)
            res = self.ck.run("token", "add", "x", "--module", lib, "--token", LABEL,
                              check=False)
            self.assertRefused(res, lib, reason)
        os.chmod(lib, 0o644)
        os.chown(lib, 65534, 65534)
        res = self.ck.run("token", "add", "x", "--module", lib, "--token", LABEL, check=False)
        self.assertRefused(res, lib, "it is owned by uid 65534")
        os.chown(lib, 0, 0)
        os.chmod(os.path.dirname(lib), 0o775)
        res = self.ck.run("token", "add", "x", "--module", lib, "--token", LABEL, check=False)
        self.assertRefused(res, lib, "directory %s/ is group-writable" % os.path.dirname(lib))
        # Nothing was configured: a refused 'token add' does not even start a store.
        res = self.ck.run("token", "list", "--json", check=False)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("no store at", res.stderr)

    def test_safe_copy_and_symlink_load(self):
        lib = self.module_copy()
        res = self.ck.run("token", "add", "copy", "--module", lib, "--token", LABEL)
        self.assertIn("2 public key(s)", res.stdout)
        link = os.path.join(self.dir, "link.so")
        os.symlink(MODULE, link)
        res = self.ck.run("token", "add", "link", "--module", link, "--token", LABEL)
        self.assertIn("2 public key(s)", res.stdout)

    def test_import_refuses_module_made_writable(self):
        # configured while safe; then someone makes it group-writable: the
        # import (run as root here) does not load it, says why, stores nothing
        lib = self.module_copy()
        self.ck.run("token", "add", "hsm", "--module", lib, "--token", LABEL)
        os.chmod(lib, 0o664)
        cert = HSM.cert_for(HSM.keys["k-ec"]["pem"], "writable.token.test")
        res = self.ck.run("import", cert, check=False)
        self.assertRefused(res, lib, "group-writable")
        self.assertIn("nothing was imported", res.stderr)
        self.assertEqual(self.ck.json("list", "--json"), [])

    def test_help(self):
        for sub in ("add", "list", "rm", "keys"):
            res = self.ck.run("token", sub, "--help")
            self.assertTrue(res.stdout.startswith("usage: certkeep token " + sub), res.stdout)
        res = self.ck.run("token", "--help")
        self.assertIn("usage: certkeep token add", res.stdout)
        res = self.ck.run("token", check=False)
        self.assertEqual(res.returncode, 2)
        res = self.ck.run("token", "frob", check=False)
        self.assertEqual(res.returncode, 2)
        self.assertIn("token", self.ck.run("--help").stdout)


if __name__ == "__main__":
    unittest.main()
