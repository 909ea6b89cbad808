"""libpq and libldns are opened on first use (src/core/dl.h), never linked:

- `certkeep --version` maps neither (LD_DEBUG=files lists every object the
  dynamic linker loads); opening a PostgreSQL store maps libpq then;
- a machine without one of them (the test build's CERTKEEP_TEST_DL_MISSING
  makes certkeep open a name that does not exist instead) gets a clear
  error naming the package to install, never a crash, and only where the
  library is needed: a PostgreSQL store, dns-01's check and --dns-update;
  http-01 issuance, and dns-01 by hook with --dns-wait 0, work without both.

Everything on 127.0.0.1.
"""

import os
import sqlite3
import subprocess
import tempfile
import unittest

import ckharness

PEBBLE = None
TMP = None


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-lazylibs-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


def soname(pkg, stem):
    """The soname of pkg's library, as meson.build reads it."""
    libdir = subprocess.run(["pkg-config", "--variable=libdir", pkg], capture_output=True,
                            text=True, check=True).stdout.strip()
    out = subprocess.run(["readelf", "-d", os.path.join(libdir, stem + ".so")],
                         capture_output=True, text=True, check=True).stdout
    return out.split("Library soname: [")[1].split("]")[0]


PQ = soname("libpq", "libpq")
LDNS = soname("ldns", "libldns")


def loaded(res):
    """The objects the dynamic linker loaded, from LD_DEBUG=files on stderr."""
    return [line.split("file=")[1].split()[0] for line in res.stderr.splitlines()
            if "file=" in line and ("needed by" in line or "dynamically loaded by" in line)]


class LazyCase(unittest.TestCase):
    """A fresh SQLite store per class with an account on the module's Pebble."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix=cls.__name__ + "-", dir=TMP)
        cls.store = os.path.join(cls.dir, "store", "store.db")
        cls.ck = ckharness.Certkeep(cls.store, ca_bundle=PEBBLE.ca_bundle)
        os.makedirs(os.path.dirname(cls.store))
        cls.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")

    def assert_clean_failure(self, res):
        self.assertGreater(res.returncode, 0, res.stdout + res.stderr)  # not a signal
        for crash in ("AddressSanitizer", "runtime error", "Segmentation"):
            self.assertNotIn(crash, res.stderr)


class TestMapped(LazyCase):

    def test_version_maps_neither_library(self):
        res = self.ck.run("--version", env={"LD_DEBUG": "files"})
        names = loaded(res)
        self.assertIn("libcrypto.so.3", " ".join(names))  # LD_DEBUG did list the objects
        self.assertFalse([n for n in names if PQ in n or LDNS in n], names)

    def test_postgresql_store_maps_libpq_then(self):
        port = ckharness.free_port()
        res = self.ck.run("list", store="postgresql://127.0.0.1:%d/none?connect_timeout=2" % port,
                          env={"LD_DEBUG": "files"}, check=False)
        self.assertIn("cannot connect to the PostgreSQL store", res.stderr)
        names = loaded(res)
        self.assertTrue([n for n in names if PQ in n], names)
        self.assertFalse([n for n in names if LDNS in n], names)


class TestMissing(LazyCase):

    def test_missing_libpq_names_the_package(self):
        port = ckharness.free_port()
        res = self.ck.run("list", store="postgresql://127.0.0.1:%d/none" % port, check=False,
                          env={"CERTKEEP_TEST_DL_MISSING": PQ})
        self.assert_clean_failure(res)
        self.assertIn("a PostgreSQL store (--store postgresql://...) needs the library %s, "
                      "which cannot be loaded" % PQ, res.stderr)
        self.assertIn("install the package libpq5", res.stderr)

    def test_http01_and_unchecked_hook_work_without_both(self):
        env = {"CERTKEEP_TEST_DL_MISSING": "%s,%s" % (PQ, LDNS)}
        self.ck.run("issue", "-d", "nolibs.example.test", "--name", "nolibs",
                    "--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1",
                    env=env, timeout=300)
        log = os.path.join(self.dir, "hook.log")
        hook = os.path.join(self.dir, "hook")
        with open(hook, "w") as f:
            f.write('#!/bin/sh\necho "$1 $2" >> %(log)s\ncase "$1" in\n'
                    '  add) curl -sf -d "{\\"host\\":\\"$2.\\",\\"value\\":\\"$3\\"}" '
                    '%(url)s/set-txt ;;\n'
                    '  del) curl -sf -d "{\\"host\\":\\"$2.\\"}" %(url)s/clear-txt ;;\n'
                    'esac\n' % {"log": log, "url": PEBBLE.challtest_url})
        os.chmod(hook, 0o755)
        self.ck.run("issue", "-d", "nolibsdns.example.test", "--name", "nolibsdns",
                    "--challenge", "dns-01", "--dns-hook", hook, "--dns-wait", "0",
                    env=env, timeout=300)
        with open(log) as f:
            self.assertEqual(f.read().split(),
                             ["add", "_acme-challenge.nolibsdns.example.test",
                              "del", "_acme-challenge.nolibsdns.example.test"])
        res = self.ck.run("list", env=env)
        self.assertIn("nolibs", res.stdout)
        self.assertIn("nolibsdns", res.stdout)


class TestMissingLdns(LazyCase):
    """Its own store: no order may be in it."""

    def test_missing_ldns_refused_before_any_order(self):
        hook = os.path.join(self.dir, "unused-hook")
        with open(hook, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(hook, 0o755)
        tsig = os.path.join(self.dir, "tsig.key")
        with open(tsig, "w") as f:
            f.write('key "k." { algorithm hmac-sha256; secret "c2VjcmV0c2VjcmV0"; };\n')
        os.chmod(tsig, 0o600)
        for extra in (["--dns-hook", hook], ["--dns-update", "127.0.0.1:1", "--tsig-file", tsig]):
            res = self.ck.run("issue", "-d", "noldns.example.test", "--challenge", "dns-01",
                              *extra, check=False, env={"CERTKEEP_TEST_DL_MISSING": LDNS})
            self.assert_clean_failure(res)
            self.assertIn("dns-01's check that the TXT records are visible (--dns-wait 0 skips "
                          "it) and --dns-update needs the library %s" % LDNS, res.stderr)
            self.assertIn("install the package libldns3", res.stderr)
        db = sqlite3.connect(self.store)
        try:
            self.assertEqual(db.execute("SELECT count(*) FROM orders").fetchone()[0], 0)
        finally:
            db.close()


if __name__ == "__main__":
    unittest.main()
