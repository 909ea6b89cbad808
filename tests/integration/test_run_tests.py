"""scripts/run-tests counts honestly: an expected failure is never a pass, a
-k pattern that selects nothing fails, a skip is a skip.  The runner is run
on a folder of tiny test modules of this test's own (--integration-dir)."""

import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(ROOT, "scripts", "run-tests")

MODULE = textwrap.dedent('''
    import unittest

    class T(unittest.TestCase):
        def test_passes(self):
            self.assertTrue(True)

        @unittest.expectedFailure
        def test_known_broken(self):
            self.assertTrue(False)

        @unittest.skip("not here")
        def test_skipped(self):
            pass
''')


class TestRunner(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ck-runner-")
        with open(os.path.join(cls.tmp.name, "test_sample.py"), "w") as fp:
            fp.write(MODULE)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_runner(self, *args):
        return subprocess.run([sys.executable, RUNNER, "--only", "integration",
                               "--integration-dir", self.tmp.name, *args],
                              capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    def last_line(self, res):
        lines = [l for l in res.stdout.splitlines() if l.strip()]
        self.assertTrue(lines, "the runner printed nothing:\n" + res.stderr)
        return lines[-1]

    def test_expected_failure_is_not_a_pass(self):
        res = self.run_runner()
        self.assertEqual(self.last_line(res), "1 passed, 0 failed, 2 skipped",
                         res.stdout + res.stderr)
        self.assertIn("1 expected failure(s), counted as skipped: test_sample.T.test_known_broken",
                      res.stdout)
        self.assertEqual(res.returncode, 0)

    def test_pattern_matching_nothing_fails(self):
        res = self.run_runner("-k", "no_test_has_this_name")
        self.assertEqual(self.last_line(res), "0 passed, 1 failed", res.stdout + res.stderr)
        self.assertNotEqual(res.returncode, 0)

    def test_pattern_selects(self):
        res = self.run_runner("-k", "test_passes")
        self.assertEqual(self.last_line(res), "1 passed, 0 failed", res.stdout + res.stderr)
        self.assertEqual(res.returncode, 0)


if __name__ == "__main__":
    unittest.main()
