"""The embedding example, examples/issue_export.c, as a user builds it:
`make build-example` installs build-default's library into
build-example/root and compiles the example there through
`pkg-config libcertkeep` only.  Here the built program runs against a real
Pebble: it must register, issue and export a certificate whose key is the
certificate's, and leave the store as the certkeep command leaves it.

$CK_EXAMPLE_BIN overrides the program's path.  A missing program is a
failure, not a skip: it means the public API no longer builds."""

import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

import ckharness

ROOT = ckharness.ROOT
INSTALL = os.path.join(ROOT, "build-example", "root")


def example_bin():
    return os.path.abspath(os.environ.get("CK_EXAMPLE_BIN")
                           or os.path.join(ROOT, "build-example", "issue_export"))


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), capture_output=True, check=True,
                          timeout=30).stdout


class IssueExport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ck-example-")
        cls.pebble = ckharness.Pebble(os.path.join(cls.tmp, "pebble"))
        cls.pebble.start()

    @classmethod
    def tearDownClass(cls):
        cls.pebble.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.bin = example_bin()
        self.assertTrue(os.access(self.bin, os.X_OK),
                        "%s is missing: run `make build-example` (it builds the example "
                        "against the installed library)" % self.bin)
        self.dir = tempfile.mkdtemp(dir=self.tmp)
        self.store = os.path.join(self.dir, "store.db")

    def run_example(self, name, out):
        os.makedirs(out, exist_ok=True)
        res = subprocess.run([self.bin, self.store, self.pebble.directory_url,
                              self.pebble.ca_bundle, name, str(self.pebble.http_port), out],
                             capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "the example failed"))
        return res.stdout

    def test_links_the_installed_library(self):
        """Built against build-example/root, not against the source tree:
        the loader finds libcertkeep.so.0 in the installed tree."""
        res = subprocess.run(["ldd", self.bin], capture_output=True, text=True, check=True)
        line = [x for x in res.stdout.splitlines() if "libcertkeep.so" in x]
        self.assertEqual(len(line), 1, res.stdout)
        self.assertIn(INSTALL + "/", line[0], "links the installed libcertkeep.so.0")

    def test_every_public_function_is_exported(self):
        """Each function the installed headers declare carries CK_API and is
        exported by the installed libcertkeep.so.0: a declaration without it
        would compile in an embedding program and then fail to link."""
        inc = os.path.join(INSTALL, "usr", "local", "include")
        decl = re.compile(r"^(CK_API )?[a-z][A-Za-z0-9_ ]*?[ *](ck_[a-z0-9_]+)\(", re.M)
        declared, unmarked = set(), []
        for dirpath, _, names in os.walk(inc):
            for name in names:
                with open(os.path.join(dirpath, name)) as f:
                    for m in decl.finditer(f.read()):
                        declared.add(m.group(2))
                        if not m.group(1):
                            unmarked.append("%s: %s" % (name, m.group(2)))
        self.assertEqual(unmarked, [], "public declarations without CK_API")
        self.assertGreater(len(declared), 100)
        lib = [os.path.join(d, n) for d, _, ns in os.walk(INSTALL) for n in ns
               if n == "libcertkeep.so.0"]
        self.assertEqual(len(lib), 1, lib)
        nm = subprocess.run(["nm", "-D", "--defined-only", lib[0]], capture_output=True,
                            text=True, check=True).stdout
        exported = {cols[2] for cols in (x.split() for x in nm.splitlines())
                    if len(cols) == 3 and cols[1] == "T"}
        self.assertEqual(sorted(declared - exported), [], "declared but not exported")
        self.assertEqual(sorted(exported - declared), [], "exported but not declared")

    def test_issues_and_exports_a_matching_pair(self):
        out = os.path.join(self.dir, "out")
        said = self.run_example("example.test", out)
        cert, key = os.path.join(out, "cert.pem"), os.path.join(out, "key.pem")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600, "the key file is 0600")
        cert_pub = openssl("x509", "-in", cert, "-noout", "-pubkey")
        key_pub = openssl("pkey", "-in", key, "-pubout")
        self.assertEqual(cert_pub, key_pub, "the exported key is the certificate's")
        text = openssl("x509", "-in", cert, "-noout", "-ext", "subjectAltName").decode()
        self.assertIn("DNS:example.test", text)
        with open(os.path.join(out, "fullchain.pem")) as f:
            self.assertGreaterEqual(f.read().count("BEGIN CERTIFICATE"), 2, "leaf + chain")

        # The store is the command's store: certkeep sees the certificate as
        # the lineage's current one, linked to its key.
        ck = ckharness.Certkeep(self.store, self.pebble.ca_bundle)
        listed = {e["sha256"]: e for e in ck.json("list", "--json")}
        sha = said.split()[1].rstrip(":")
        self.assertIn(sha, listed, said)
        self.assertTrue(listed[sha]["current"])
        self.assertTrue(listed[sha]["key"]["linked"])

        # A second run uses the account the first registered.
        self.run_example("second.example.test", os.path.join(self.dir, "out2"))
        self.assertEqual(len(ck.json("account", "list", "--json")), 1, "one account")
        self.assertEqual(len(ck.json("list", "--json")), 2)


if __name__ == "__main__":
    unittest.main()
