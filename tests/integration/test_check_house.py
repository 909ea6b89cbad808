"""scripts/check-house on tiny trees of its own: a clean tree passes; a tree
with one violation of each rule fails and names each one; the baseline
ratchet accepts exactly what it lists and fails when an entry is out of date."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "check-house")

PUBLIC_H = """/* the public face of the tiny tree */
#ifndef CK_H
#define CK_H
#define CK_TWICE(x) helper_not_declared(x)
int ck_ok(void);
extern int ck_counter;
#endif
"""

LIB_C = """int ck_ok(void) { return 0; }
int ck_counter;
"""


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def long_function(name, body_lines):
    body = "".join("\tx += %d;\n" % i for i in range(body_lines))
    return "int\n%s(int x)\n{\n%s\treturn x;\n}\n" % (name, body)


class CheckHouse(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="ck-house-")
        self.addCleanup(shutil.rmtree, self.root)
        write(self.root, "include/certkeep.h", PUBLIC_H)
        write(self.root, "src/core/core.h", "/* core */\n#include \"certkeep.h\"\n")
        write(self.root, "src/core/ok.c", "#include \"core/core.h\"\n" + long_function("ok", 100))
        write(self.root, "src/crypto/c.c", "#include \"core/core.h\"\n/* sqlite3_open() in a "
              "comment, \"sqlite3_close\" in a string */\nconst char *s = \"sqlite3_x(\";\n")
        write(self.root, "src/store/sqlite/driver.c", "#include <sqlite3.h>\nvoid d(sqlite3 *db) "
              "{ sqlite3_close(db); }\n")
        write(self.root, "src/store/s.c", "#include \"crypto/crypto.h\"\n")
        self.lib_c = os.path.join(self.root, "lib.c")
        write(self.root, "lib.c", LIB_C)
        self.build_lib()

    def build_lib(self):
        self.lib = os.path.join(self.root, "libtiny.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", self.lib, self.lib_c], check=True)

    def run_check(self, *extra):
        p = subprocess.run([sys.executable, SCRIPT, "--root", self.root, "--lib", self.lib]
                           + list(extra), capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout + p.stderr

    def baseline(self, text):
        write(self.root, "scripts/house-baseline", text)

    def break_every_rule(self):
        write(self.root, "src/store/db.c", "#include <sqlite3.h>\nint f(sqlite3_stmt *st)\n"
              "{\n\treturn sqlite3_step(st) + sqlite3_column_int(st, 0);\n}\n")
        write(self.root, "src/core/big.c", "/* padding */\n" * 801)
        write(self.root, "src/core/long.c", long_function("too_long", 130))
        write(self.root, "src/crypto/up.c", "#include \"acme/acme.h\"\n")
        write(self.root, "src/token/peer.c", "#include \"store/store.h\"\n")
        with open(self.lib_c, "a") as f:
            f.write("int st_internal_thing(void) { return 1; }\n")
        self.build_lib()

    def test_clean_tree_passes_and_prints_figures(self):
        rc, out = self.run_check()
        self.assertEqual(rc, 0, out)
        self.assertIn("check-house: OK", out)
        self.assertIn("sqlite: 0 sqlite3_ identifiers", out,
                      "comments, strings and the driver do not count")
        self.assertIn("function: largest src/core/ok.c:ok, 105 lines", out)
        self.assertIn("include: 2 includes cross rooms, 0 break the floors", out)
        self.assertIn("symbol: 2 exported by libtiny.so, 2 declared", out)
        self.assertIn("baseline: 0 entries remain", out)

    def test_each_violation_fails_and_is_named(self):
        self.break_every_rule()
        rc, out = self.run_check()
        self.assertEqual(rc, 1, out)
        for named in ("new: sqlite src/store/db.c 3",
                      "new: file src/core/big.c 801",
                      "new: function src/core/long.c:too_long 135",
                      "new: include src/crypto/up.c:acme/acme.h -",
                      "new: include src/token/peer.c:store/store.h -",
                      "new: symbol st_* 1",
                      "FAILED, 6 problems"):
            self.assertIn(named, out)
        self.assertIn("crypto (floor 1) includes acme (floor 2), above it", out)
        self.assertNotIn("helper_not_declared", out)

    def test_room_without_a_floor_fails(self):
        write(self.root, "src/attic/x.c", "int x;\n")
        rc, out = self.run_check()
        self.assertEqual(rc, 1, out)
        self.assertIn("room 'attic' has no floor in LEVELS", out)

    def test_baseline_ratchet(self):
        self.break_every_rule()
        listed = ("sqlite src/store/db.c 3\nfile src/core/big.c 801\n"
                  "function src/core/long.c:too_long 135\n"
                  "include src/crypto/up.c:acme/acme.h -\n"
                  "include src/token/peer.c:store/store.h -\nsymbol st_* 1\n")
        self.baseline("# what was there\n" + listed)
        rc, out = self.run_check()
        self.assertEqual(rc, 0, out)
        self.assertIn("baseline: 6 entries remain", out)

        # The code gets better: the entries must follow, never go stale quietly.
        os.remove(os.path.join(self.root, "src/crypto/up.c"))
        write(self.root, "src/core/big.c", "/* padding */\n" * 805)
        write(self.root, "src/store/db.c", "int f(void *st)\n{\n\treturn sqlite3_step(st);\n}\n")
        rc, out = self.run_check()
        self.assertEqual(rc, 1, out)
        self.assertIn("stale: include src/crypto/up.c:acme/acme.h - no longer occurs", out)
        self.assertIn("stale: sqlite src/store/db.c 1 (baseline 3): lower the entry", out)
        self.assertIn("grew: file src/core/big.c 805 (baseline 801)", out)

        # --shrink-baseline drops and lowers entries, never raises one.
        rc, out = self.run_check("--shrink-baseline")
        self.assertEqual(rc, 1, out)
        self.assertIn("grew: file src/core/big.c 805", out)
        with open(os.path.join(self.root, "scripts/house-baseline")) as f:
            shrunk = f.read()
        self.assertIn("# what was there\n", shrunk)
        self.assertIn("sqlite src/store/db.c 1\n", shrunk)
        self.assertIn("file src/core/big.c 801\n", shrunk)
        self.assertNotIn("src/crypto/up.c", shrunk)
        write(self.root, "src/core/big.c", "/* padding */\n" * 801)
        rc, out = self.run_check()
        self.assertEqual(rc, 0, out)
        self.assertIn("baseline: 5 entries remain", out)

    def test_cannot_measure_without_the_library(self):
        os.remove(self.lib)
        rc, out = self.run_check()
        self.assertEqual(rc, 2, out)
        self.assertIn("cannot measure: no shared library", out)


if __name__ == "__main__":
    unittest.main()
