"""scripts/run-tests counts honestly: an expected failure is never a pass, a
-k pattern that selects nothing fails, a skip is a skip, the same one at a
time (-j 1) as side by side (-j 2).  Side by side, modules really run at the
same time, each module's lines come out whole, a module whose process dies
is a failure, and ckharness.free_port never hands two live processes the
same port.  The runner is run on folders of tiny test modules of this
test's own (--integration-dir)."""

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


def run_runner(folder, *args):
    """scripts/run-tests on the test modules in folder."""
    return subprocess.run([sys.executable, RUNNER, "--only", "integration",
                           "--integration-dir", folder, *args],
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


class TestRunner(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ck-runner-")
        with open(os.path.join(cls.tmp.name, "test_sample.py"), "w") as fp:
            fp.write(MODULE)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_runner(self, *args, jobs=2):
        return run_runner(self.tmp.name, "-j", str(jobs), *args)

    def last_line(self, res):
        lines = [l for l in res.stdout.splitlines() if l.strip()]
        self.assertTrue(lines, "the runner printed nothing:\n" + res.stderr)
        return lines[-1]

    def test_expected_failure_is_not_a_pass(self):
        for jobs in (1, 2):
            with self.subTest(jobs=jobs):
                res = self.run_runner(jobs=jobs)
                self.assertEqual(self.last_line(res), "1 passed, 0 failed, 2 skipped",
                                 res.stdout + res.stderr)
                self.assertIn("1 expected failure(s), counted as skipped: "
                              "test_sample.T.test_known_broken", res.stdout)
                self.assertEqual(res.returncode, 0)

    def test_pattern_matching_nothing_fails(self):
        for jobs in (1, 2):
            with self.subTest(jobs=jobs):
                res = self.run_runner("-k", "no_test_has_this_name", jobs=jobs)
                self.assertEqual(self.last_line(res), "0 passed, 1 failed",
                                 res.stdout + res.stderr)
                self.assertNotEqual(res.returncode, 0)

    def test_pattern_selects(self):
        for jobs in (1, 2):
            with self.subTest(jobs=jobs):
                res = self.run_runner("-k", "test_passes", jobs=jobs)
                self.assertEqual(self.last_line(res), "1 passed, 0 failed",
                                 res.stdout + res.stderr)
                self.assertEqual(res.returncode, 0)


# Two modules that can only pass side by side: each leaves a mark and waits
# for the other's; each prints lines with pauses between them.
SIDE = textwrap.dedent('''
    import os, sys, time, unittest

    HERE = os.path.dirname(os.path.abspath(__file__))
    ME, OTHER = %r, %r

    class T(unittest.TestCase):
        def test_meets_the_other(self):
            open(os.path.join(HERE, ME + ".mark"), "w").close()
            until = time.monotonic() + 20
            while not os.path.exists(os.path.join(HERE, OTHER + ".mark")):
                self.assertLess(time.monotonic(), until, OTHER + " never ran beside " + ME)
                time.sleep(0.05)
            for i in range(5):
                print("line %%s %%d" %% (ME, i), flush=True)
                time.sleep(0.1)
''')

BROKEN = textwrap.dedent('''
    import unittest

    import no_such_module_anywhere  # noqa: F401

    class T(unittest.TestCase):
        def test_never(self):
            pass
''')

DIES = textwrap.dedent('''
    import os, unittest

    class T(unittest.TestCase):
        def test_process_dies(self):
            os._exit(3)
''')

PORTS = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[1])
    import ckharness
    print(" ".join(str(ckharness.free_port()) for _ in range(int(sys.argv[2]))), flush=True)
    sys.stdin.read()  # holds its ports until told to go
''')


class TestSideBySide(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ck-runner-")
        self.addCleanup(self.tmp.cleanup)

    def write(self, name, text):
        with open(os.path.join(self.tmp.name, name), "w") as fp:
            fp.write(text)

    def run_runner(self, *args):
        return run_runner(self.tmp.name, *args)

    def test_modules_run_together_output_whole(self):
        self.write("test_side_a.py", SIDE % ("a", "b"))
        self.write("test_side_b.py", SIDE % ("b", "a"))
        res = self.run_runner("-j", "2")
        out = res.stdout + res.stderr
        self.assertEqual(res.stdout.strip().splitlines()[-1], "2 passed, 0 failed", out)
        self.assertEqual(res.returncode, 0, out)
        lines = [l for l in res.stdout.splitlines() if l.startswith("line ")]
        self.assertEqual(len(lines), 10, out)
        # Each module's lines in one block, though both printed at once.
        firsts = [l.split()[1] for l in lines]
        self.assertIn(firsts, (["a"] * 5 + ["b"] * 5, ["b"] * 5 + ["a"] * 5), out)
        for m in ("a", "b"):
            self.assertRegex(res.stdout, r"module test_side_%s: 1 passed, 0 failed  \(" % m)

    def test_import_error_and_dead_module_fail(self):
        self.write("test_broken.py", BROKEN)
        self.write("test_dies.py", DIES)
        self.write("test_fine.py", "import unittest\n\nclass T(unittest.TestCase):\n"
                   "    def test_ok(self):\n        pass\n")
        res = self.run_runner("-j", "2")
        out = res.stdout + res.stderr
        # The import error as in a serial run (the loader's error and its
        # test's), the dead module once, the fine one passed.
        serial = self.run_runner("-j", "1", "-k", "test_broken")
        self.assertIn("failed to import", out)
        self.assertIn("test_dies: the module's runner ended (exit 3) without a result", out)
        broken = int(serial.stdout.strip().splitlines()[-1].split()[2])
        self.assertEqual(res.stdout.strip().splitlines()[-1],
                         "1 passed, %d failed" % (broken + 1), out)
        self.assertNotEqual(res.returncode, 0)

    def test_free_ports_differ_across_processes(self):
        """Two live processes never get the same port from free_port (400
        each of some 22,000: without a reservation across processes, about
        seven would be the same)."""
        harness = os.path.dirname(os.path.abspath(__file__))
        self.write("ports.py", PORTS)
        procs = [subprocess.Popen([sys.executable, os.path.join(self.tmp.name, "ports.py"),
                                   harness, "400"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            got = [set(int(x) for x in p.stdout.readline().split()) for p in procs]
        finally:
            for p in procs:
                p.communicate("", timeout=30)
        self.assertEqual([len(g) for g in got], [400, 400])
        self.assertEqual(got[0] & got[1], set(), "ports handed to both processes")


if __name__ == "__main__":
    unittest.main()
