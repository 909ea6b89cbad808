"""Issue 4: an account key rollover that survives crashes and stale server
key caches.

- Through tests/faultproxy.py mimicking a server that caches account keys
  for 5 s after keyChange (letsencrypt/boulder#8124): a rollover followed
  at once by an issuance succeeds (the client tolerates the stale cache);
  with the tolerance disabled (--grace 0) the issuance fails with the
  server's message.
- A registration interrupted at any fault point is resumed by running it
  again (the stored key is reused; an account already made is adopted).
- Crash at every fault point a rollover passes (CERTKEEP_FAULT, enumerated
  with CERTKEEP_FAULT_LOG; needs a -Dfault_injection=true build) and with
  kill -9 at random moments: after each, `certkeep account show` works
  (it fetches the account signed with the stored key, so the server
  accepts the key the store holds) and no rollover is left pending.

CK_CRASH_RUNS sets the number of kill -9 runs (default 15).
"""

import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import ckharness

PEBBLE = None
TMP = None
CRASH_RUNS = int(os.environ.get("CK_CRASH_RUNS", "15"))
CRASH_LOOP_BUDGET_S = 240


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-rollover-crash-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


class RolloverCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self._testMethodName + "-", dir=TMP)
        self.ck = ckharness.Certkeep(os.path.join(self.dir, "store.db"),
                                     ca_bundle=PEBBLE.ca_bundle)
        self.probe = ckharness.AcmeProbe(PEBBLE.directory_url, PEBBLE.ca_bundle)

    def register(self, server=None):
        self.ck.run("account", "register", "--server", server or PEBBLE.directory_url,
                    "--agree-tos")
        return self.show()

    def show(self):
        """account show --json (must work)."""
        return self.ck.json("account", "show", "--json")

    def show_full(self):
        """account show --json after a crash: (account JSON, stderr)."""
        res = self.ck.run("account", "show", "--json", check=False)
        self.assertEqual(res.returncode, 0, ckharness.describe(
            res, "after a crash the next `account show` must work"))
        return json.loads(res.stdout), res.stderr

    def issue(self, name, check=True):
        return self.ck.run("issue", "-d", name, "--http-port", str(PEBBLE.http_port),
                           "--http-address", "127.0.0.1", check=check, timeout=300)

    def assert_consistent(self, acct, url, why):
        self.assertEqual(acct["url"], url, why + ": the account must be kept")
        self.assertIsNone(acct["pending_key"], why + ": no rollover may stay pending")
        self.assertEqual(acct["status"], "valid", why)


class TestStaleKeyCache(RolloverCase):
    def test_issue_right_after_rollover_tolerates_a_stale_cache(self):
        with PEBBLE.fault_proxy() as proxy:
            self.register(proxy.directory_url)
            proxy.stale_account_key(5)
            self.ck.run("account", "rollover")
            start = time.monotonic()
            res = self.issue("stale-ok.example.test")
            self.assertGreater(proxy.stale_rejections, 0, ckharness.describe(
                res, "the proxy must really have answered the stale-key error"))
            self.assertIn("stale", res.stderr, "the retries must be explained on stderr")
            self.assertLess(time.monotonic() - start, 60)

    def test_with_tolerance_disabled_the_servers_message_is_shown(self):
        with PEBBLE.fault_proxy() as proxy:
            self.register(proxy.directory_url)
            proxy.stale_account_key(5)
            self.ck.run("account", "rollover", "--grace", "0")
            res = self.issue("stale-fail.example.test", check=False)
            self.assertEqual(res.returncode, 1, ckharness.describe(
                res, "with --grace 0 the stale cache must make the order fail"))
            self.assertIn("JWS verification error", res.stderr,
                          "the server's message must be shown")
            self.assertEqual(proxy.stale_rejections, 1, "no retry when the grace is 0")
            time.sleep(5.5)
            self.issue("stale-later.example.test")  # once the cache is fresh it works


class TestCrash(RolloverCase):
    def fault_points(self):
        """Every fault point one rollover passes, as name:N for repeated names."""
        log = os.path.join(self.dir, "faults.log")
        self.ck.run("account", "rollover", env={"CERTKEEP_FAULT_LOG": log})
        if not os.path.exists(log):
            self.skipTest("certkeep was built without -Dfault_injection=true")
        seen = collections.Counter()
        points = []
        with open(log, encoding="ascii") as fp:
            for name in fp.read().split():
                seen[name] += 1
                points.append(name if seen[name] == 1 else "%s:%d" % (name, seen[name]))
        return points

    def test_crash_at_every_fault_point(self):
        url = self.register()["url"]
        points = self.fault_points()
        for want in ("rollover.after_key", "rollover.after_pending",
                     "rollover.after_keychange", "rollover.after_commit"):
            self.assertIn(want, points, "rollover must pass fault point %s" % want)
        outcomes = collections.Counter()
        for point in points:
            before = self.show()["jwk_thumbprint"]
            res = self.ck.run("account", "rollover", check=False,
                              env={"CERTKEEP_FAULT": point})
            self.assertNotEqual(res.returncode, 0, ckharness.describe(
                res, "fault point %s must abort the rollover" % point))
            acct, stderr = self.show_full()
            self.assert_consistent(acct, url, "after a crash at %s" % point)
            rolled = acct["jwk_thumbprint"] != before
            outcomes["new key" if rolled else "old key"] += 1
            if point in ("rollover.after_pending", "rollover.after_keychange"):
                self.assertIn("interrupted", stderr,
                              "show must say it resolved the rollover after %s" % point)
            if point == "rollover.after_pending":
                self.assertFalse(rolled, "before keyChange the old key must stay")
            if point == "rollover.after_keychange":
                self.assertTrue(rolled, "after keyChange the new key must be kept")
        sys.stderr.write("\n[rollover crash] %d fault points: %s\n" % (
            len(points), dict(outcomes)))
        self.issue("after-faults.example.test")

    def test_crash_during_register_is_resumed(self):
        for point in ("register.after_key", "register.after_row",
                      "register.after_new_account"):
            ck = ckharness.Certkeep(os.path.join(self.dir, point, "store.db"),
                                    ca_bundle=PEBBLE.ca_bundle)
            res = ck.run("account", "register", "--server", PEBBLE.directory_url,
                         "--agree-tos", check=False, env={"CERTKEEP_FAULT": point})
            if "fault point" not in res.stderr:
                self.skipTest("certkeep was built without -Dfault_injection=true")
            res = ck.run("account", "register", "--server", PEBBLE.directory_url,
                         "--agree-tos")
            if point == "register.after_new_account":
                self.assertIn("adopted", res.stdout, ckharness.describe(
                    res, "the account made before the crash must be adopted, not doubled"))
            acct = ck.json("account", "show", "--json")
            self.assertEqual(acct["status"], "valid")
            self.assertEqual(len(ck.json("account", "list", "--json")), 1)

    def test_kill_9_at_random_moments(self):
        url = self.register()["url"]
        # how long one rollover takes here, to spread the kills over it
        t0 = time.monotonic()
        self.ck.run("account", "rollover")
        span = max(0.05, time.monotonic() - t0)
        rng = random.Random(int(os.environ.get("CK_CRASH_SEED", "0")) or None)
        outcomes = collections.Counter()
        deadline = time.monotonic() + CRASH_LOOP_BUDGET_S
        runs = 0
        for _ in range(CRASH_RUNS):
            if time.monotonic() > deadline:
                break
            before = self.show()["jwk_thumbprint"]
            proc = subprocess.Popen(self.ck.argv("account", "rollover"),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    stdin=subprocess.DEVNULL)
            # process start-up takes much of the span: bias towards its later part,
            # where the key is committed, recorded as pending, sent, switched
            time.sleep(rng.uniform(span * 0.3, span * 1.1))
            killed = proc.poll() is None
            if killed:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            runs += 1
            acct, stderr = self.show_full()
            self.assert_consistent(acct, url, "after kill -9 run %d" % runs)
            rolled = acct["jwk_thumbprint"] != before
            outcomes["%s, %s%s" % ("killed" if killed else "finished",
                                   "new key" if rolled else "old key",
                                   ", resolved by show" if "interrupted" in stderr else "")] += 1
        self.assertGreaterEqual(runs, min(CRASH_RUNS, 5))
        sys.stderr.write("\n[rollover crash] kill -9 runs: %d (rollover ~%.2f s): %s\n" % (
            runs, span, dict(outcomes)))
        self.issue("after-kills.example.test")


if __name__ == "__main__":
    unittest.main()
