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
- a number option (issue's ports, seconds and waits, account's --grace)
  out of its range or not a whole number is a usage error (exit 2) that
  names the range, and creates no store; its range's ends are accepted;
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
    TMP, PKI = sc.module_pki("ck-bad-input-")


def file_hash(path):
    with open(path, "rb") as fp:
        return hashlib.sha256(fp.read()).hexdigest()


def sqlite_file(path, *statements):
    """A SQLite database of another program (rollback journal, python's sqlite3)."""
    con = sqlite3.connect(path)
    for sql in statements:
        con.execute(sql)
    con.commit()
    con.close()
    return path


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


# ------------------------------------------------------------------ store path

NO_CREATE = [
    ("list",),
    ("show", "www"),
    ("export", "www", "--cert-out", "/dev/null", "--no-key"),
    ("rm", "www"),
    ("requests",),
    ("doctor",),
    ("token", "list"),
    ("token", "keys", "tok"),
    ("token", "rm", "tok"),
    ("account", "list"),
    ("account", "show", "--server", "https://127.0.0.1:9/dir"),
    ("account", "update", "--server", "https://127.0.0.1:9/dir", "--contact",
     "mailto:a@example.org"),
    ("account", "rollover", "--server", "https://127.0.0.1:9/dir"),
    ("account", "deactivate", "--server", "https://127.0.0.1:9/dir", "--yes"),
    ("copy", "www", "--to", "TO"),
    ("move", "www", "--to", "TO"),
]


class TestStorePath(Case):

    def test_mistyped_store_path_creates_nothing(self):
        missing = os.path.join(self.dir, "typo", "deeper", "store.db")
        ck = ckharness.Certkeep(missing)
        to = os.path.join(self.dir, "to", "store.db")
        for cmd in NO_CREATE:
            with self.subTest(cmd=" ".join(cmd[:2])):
                args = [to if a == "TO" else a for a in cmd]
                res = ck.run(*args, check=False, input="")
                self.assertFails(res, "no store at %s" % missing)
                self.assertFalse(os.path.exists(os.path.join(self.dir, "typo")),
                                 "neither the store nor its directory may be created")
                self.assertFalse(os.path.exists(os.path.join(self.dir, "to")))

    def test_commands_that_store_something_create_the_store(self):
        leaf = PKI.leaf("ec256")
        ck = ckharness.Certkeep(os.path.join(self.dir, "new", "store.db"))
        ck.run("import", leaf["cert"], leaf["key"], "--name", "www")
        self.assertEqual(sc.mode_of(ck.store), 0o600)
        self.assertEqual(sc.mode_of(os.path.dirname(ck.store)), 0o700)
        con = sqlite3.connect(ck.store)
        self.assertEqual(con.execute("PRAGMA application_id").fetchone()[0], APPLICATION_ID)
        con.close()
        to = os.path.join(self.dir, "copy", "store.db")
        ck.run("copy", "www", "--to", to)
        self.assertIsNotNone(sc.entry(ckharness.Certkeep(to), leaf["sha256"]))
        req = ckharness.Certkeep(os.path.join(self.dir, "req", "store.db"))
        req.run("request", "-d", "req.example.org", "--csr-out", self.path("req.csr"))
        self.assertTrue(os.path.exists(req.store))

    def not_stores(self):
        """(name, path) of things that are not certkeep stores."""
        other = sqlite_file(self.path("other.sqlite"),
                            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
                            "INSERT INTO notes (body) VALUES ('mine')")
        appid = sqlite_file(self.path("appid.sqlite"), "PRAGMA application_id = 1234",
                            "CREATE TABLE t (x)")
        text = sc.write(self.path("notes.txt"), "SQLite format 3? no, just text\n" * 40)
        empty = sc.write(self.path("empty.db"), b"")
        d = self.path("a-directory")
        os.mkdir(d)
        return [("another program's SQLite database", other, "without certkeep's tables"),
                ("a SQLite database with another application_id", appid,
                 "another application"),
                ("a text file", text, "not a certkeep store"),
                ("an empty file", empty, "not a certkeep store"),
                ("a directory", d, "is a directory")]

    def test_a_file_that_is_not_a_store_is_refused_and_unchanged(self):
        leaf = PKI.leaf("ec256")
        for what, path, needle in self.not_stores():
            before = None if os.path.isdir(path) else file_hash(path)
            ck = ckharness.Certkeep(path)
            for cmd in (("doctor",), ("list",), ("import", leaf["cert"], leaf["key"])):
                if what == "an empty file" and cmd[0] == "import":
                    continue  # a command that creates stores may fill an empty file
                with self.subTest(what=what, cmd=cmd[0]):
                    res = ck.run(*cmd, check=False)
                    self.assertFails(res, path, needle, "not changed")
                    if before is not None:
                        self.assertEqual(file_hash(path), before, "the file must be unchanged")
                    for suffix in ("-wal", "-shm", "-journal"):
                        self.assertFalse(os.path.exists(path + suffix),
                                         "no %s file may appear beside it" % suffix)

    def test_an_empty_file_becomes_a_store_for_a_command_that_creates(self):
        leaf = PKI.leaf("ec256")
        path = sc.write(self.path("empty.db"), b"", 0o600)
        ck = ckharness.Certkeep(path)
        ck.run("import", leaf["cert"], leaf["key"])
        self.assertIsNotNone(sc.entry(ck, leaf["sha256"]))


# ------------------------------------------------------------------ number options

class TestNumberOptions(Case):
    """Every option number goes through cli_number: a whole decimal number in the
    option's range; anything else is exit 2 with the range in the message."""

    BAD = {
        ("issue", "-d", "n.test", "--http-port"): (["0", "65536", "", "80x", "-1", "0x50"],
                                                  "a port is 1-65535"),
        ("issue", "-d", "n.test", "--tls-port"): (["0", "65536", " "], "a port is 1-65535"),
        ("issue", "-d", "n.test", "--dns-hook-timeout"): (["0", "86401", "1s"],
                                                         "seconds are 0-86400"),
        ("issue", "-d", "n.test", "--dns-wait"): (["-1", "86401", ""], "seconds are 0-86400"),
        ("account", "rollover", "--grace"): (["-1", "601", "5m", ""],
                                             "--grace needs seconds 0-600"),
    }

    def test_out_of_range_or_not_a_number_is_a_usage_error_naming_the_range(self):
        ck = ckharness.Certkeep(self.path("none/store.db"))
        for args, (values, needle) in self.BAD.items():
            for v in values:
                with self.subTest(args=args, value=v):
                    self.assertFails(ck.run(*args, v, check=False), needle, code=2)
        self.assertFalse(os.path.exists(self.path("none")), "a usage error created a store")

    def test_the_ends_of_each_range_are_accepted(self):
        ck = ckharness.Certkeep(self.path("none/store.db"))
        for args in (("issue", "-d", "n.test", "--http-port", "1", "--tls-port", "65535",
                      "--dns-wait", "0", "--dns-hook-timeout", "86400"),
                     ("issue", "-d", "n.test", "--dns-wait", "86400", "--dns-hook-timeout", "1"),
                     ("account", "rollover", "--grace", "0"),
                     ("account", "rollover", "--grace", "600")):
            with self.subTest(args=args):
                # past the options, to the missing server: exit 1, never a usage error
                res = ck.run(*args, check=False)
                self.assertFails(res, "no ACME server given", code=1)
                self.assertNotIn("--help", res.stderr)


# ------------------------------------------------------------------ a store made by v1

class TestStoreV1(Case):

    def test_store_made_by_an_earlier_certkeep_opens_and_migrates(self):
        d = os.path.join(self.dir, "v1")
        os.mkdir(d, 0o700)
        store = os.path.join(d, "store.db")
        shutil.copyfile(FIXTURE_V1, store)
        os.chmod(store, 0o600)
        con = sqlite3.connect(store)
        self.assertEqual(con.execute("PRAGMA application_id").fetchone()[0], 0,
                         "the fixture predates the application_id")
        con.close()
        ck = ckharness.Certkeep(store)
        e = sc.entry(ck, FIXTURE_V1_SHA256)
        self.assertIsNotNone(e, "the certificate of the v1 store is listed")
        self.assertEqual(e["key"]["location"], "store")
        con = sqlite3.connect(store)
        self.assertEqual(con.execute("PRAGMA application_id").fetchone()[0], APPLICATION_ID)
        versions = [r[0] for r in con.execute("SELECT version FROM schema_version")]
        con.close()
        self.assertGreater(max(versions), 1, "the store was migrated")
        cert, key = self.path("cert.pem"), self.path("key.pem")
        ck.run("export", "v1", "--cert-out", cert, "--key-out", key)
        self.assertEqual(sc.sha256_of(cert), FIXTURE_V1_SHA256)
        self.assertEqual(sc.pubkey_of_key(key), sc.pubkey_of_cert(cert))
        self.assertEqual(sc.mode_of(key), 0o600)
        code, data = sc.findings(ck)
        self.assertEqual(code, 0, "doctor is clean: %r" % data)


if __name__ == "__main__":
    unittest.main()
