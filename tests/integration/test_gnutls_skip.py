"""The certkeep program keeps GnuTLS from initializing itself
(src/cli/gnutls_skip.c): it exports _gnutls_global_init_skip in its dynamic
symbol table, and where GnuTLS is loaded (Debian's libcurl pulls it in),
GnuTLS's constructor binds to that definition, not its own.  The library
never exports it: a program that embeds libcertkeep may use GnuTLS."""

import os
import re
import subprocess
import unittest

import ckharness

SYMBOL = "_gnutls_global_init_skip"


def dyn_syms(path):
    """readelf's dynamic symbol lines naming SYMBOL (-W: names whole)."""
    out = subprocess.run(["readelf", "-W", "--dyn-syms", path], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return [line for line in out.splitlines()
            if line.split() and line.split()[-1].split("@")[0] == SYMBOL]


class GnutlsSkip(unittest.TestCase):
    def test_program_exports_the_skip(self):
        rows = dyn_syms(ckharness.certkeep_bin())
        self.assertEqual(len(rows), 1, "certkeep does not export %s: %r" % (SYMBOL, rows))
        # Num: Value Size Type Bind Vis Ndx Name: a defined, global, default function
        f = rows[0].split()
        self.assertEqual(f[3:6], ["FUNC", "GLOBAL", "DEFAULT"], rows[0])
        self.assertNotEqual(f[6], "UND", "certkeep only refers to %s: %s" % (SYMBOL, rows[0]))

    def test_gnutls_binds_to_the_programs_skip(self):
        binary = ckharness.certkeep_bin()
        env = dict(os.environ, LD_DEBUG="bindings")
        res = subprocess.run([binary, "--version"], capture_output=True, text=True, env=env,
                             timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr[-2000:])
        binds = [line for line in res.stderr.splitlines()
                 if "`%s'" % SYMBOL in line and "libgnutls" in line]
        loaded = re.search(r"libgnutls\.so", subprocess.run(
            ["ldd", binary], capture_output=True, text=True, timeout=30).stdout)
        if not loaded:
            # Nothing loads GnuTLS here: nothing to skip, and nothing bound.
            self.assertEqual(binds, [])
            return
        self.assertTrue(binds, "GnuTLS is loaded but never looked %s up" % SYMBOL)
        for line in binds:
            target = line.split(" to ", 1)[1]
            self.assertIn(os.path.basename(binary), target.split(":")[0],
                          "GnuTLS bound %s to something else: %s" % (SYMBOL, line.strip()))

    def test_library_does_not_export_the_skip(self):
        lib = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            ckharness.certkeep_bin()))), "libcertkeep.so")
        if not os.path.exists(lib):
            self.skipTest("no libcertkeep.so beside %s" % ckharness.certkeep_bin())
        self.assertEqual(dyn_syms(lib), [])


if __name__ == "__main__":
    unittest.main()
