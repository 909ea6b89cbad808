"""The version has one source: project() in meson.build.  `certkeep
--version` and the installed <certkeep/version.h> say what it says, and no
source file types a version of its own."""

import os
import re
import subprocess
import unittest

import ckharness

ROOT = ckharness.ROOT


def meson_version():
    with open(os.path.join(ROOT, "meson.build")) as f:
        m = re.search(r"project\(\s*'certkeep'.*?version\s*:\s*'([^']+)'", f.read(), re.S)
    return m.group(1)


class Version(unittest.TestCase):
    def test_cli_says_meson_version(self):
        out = subprocess.run([ckharness.certkeep_bin(), "--version"], capture_output=True,
                             text=True, check=True, timeout=30).stdout
        self.assertEqual(out.strip(), "certkeep %s" % meson_version())

    def test_version_is_typed_nowhere_else(self):
        typed = []
        for top in ("include", "src"):
            for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
                for name in names:
                    path = os.path.join(dirpath, name)
                    with open(path, errors="replace") as f:
                        if re.search(r"#\s*define\s+CERTKEEP_VERSION\s+\"[0-9]", f.read()):
                            typed.append(os.path.relpath(path, ROOT))
        self.assertEqual(typed, [], "CERTKEEP_VERSION must come from "
                         "include/certkeep/version.h.in (configured by meson)")


if __name__ == "__main__":
    unittest.main()
