"""Generations everywhere (issue 12): nodes sharing one PostgreSQL store, a
real PostgreSQL (scripts/pg-test-server) and a real Pebble.

  - node A rolls the account key over, then at once node B (another
    process) places an order: Pebble accepts it, signed with the new key;
  - a long-running process (a renewal batch, concurrency 1, one account for
    every lineage) that kept the account's session (key, kid, client)
    between its orders: node A rolls the key over between two of them (from
    the batch's own deploy hook, so it lands exactly between them), and the
    batch's next order is signed with the new key, because the kept session
    is checked against the account's generation before it is used.  A cache
    that ignored generations fails here with Pebble's "JWS verification
    error" (checked by hand: the commit message of this test says how).
"""

import json
import os
import unittest

import ckharness

PG = None
PEBBLE = None
TMP = None

HOOK = """#!/bin/sh
# node A: one account key rollover, when armed (the batch deploys each lineage)
[ -e '%(armed)s' ] || exit 0
rm -f '%(armed)s'
'%(ck)s' --store '%(store)s' --ca-bundle '%(ca)s' account rollover --key-type ec256 \\
    >'%(log)s' 2>&1 && touch '%(done)s'
"""


def setUpModule():
    global PG, PEBBLE, TMP
    TMP, PG, PEBBLE = ckharness.module_pg_pebble("ck-fleetgen-")


class TestFleetGenerations(unittest.TestCase):

    def setUp(self):
        self.db, self.url, self.dir = ckharness.pg_test_db(self, PG, TMP)
        # two nodes: two processes (two certkeep invocations) on one store
        self.node_a = ckharness.Certkeep(self.url, ca_bundle=PEBBLE.ca_bundle)
        self.node_b = ckharness.Certkeep(self.url, ca_bundle=PEBBLE.ca_bundle)
        self.node_a.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")

    def http(self):
        return ("--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1")

    def account_row(self):
        """(key_id, generation) of the one account."""
        key_id, gen = PG.psql(self.db, "SELECT key_id, generation FROM accounts").strip().split("|")
        return int(key_id), int(gen)

    def assert_no_jws_error(self, res):
        self.assertNotIn("JWS verification error", res.stdout + res.stderr,
                         ckharness.describe(res, "signed with a stale account key"))

    def test_rollover_on_a_then_order_on_b(self):
        before = self.account_row()
        self.node_a.run("account", "rollover", "--key-type", "ec256")
        after = self.account_row()
        self.assertNotEqual(after[0], before[0], "the rollover switched the key")
        self.assertGreater(after[1], before[1], "the account's generation moved")
        res = self.node_b.run("issue", "-d", "b.fleet.test", *self.http(), timeout=300)
        self.assert_no_jws_error(res)
        self.assertEqual(PG.psql(self.db, "SELECT count(*) FROM certificates").strip(), "1")

    def test_batch_keeps_its_session_until_the_key_changes(self):
        names = ["one.fleet.test", "two.fleet.test", "three.fleet.test"]
        for n in names:
            self.node_b.run("issue", "-d", n, *self.http(), timeout=300)
        armed, done = os.path.join(self.dir, "armed"), os.path.join(self.dir, "done")
        hook = os.path.join(self.dir, "rollover-hook.sh")
        with open(hook, "w") as fp:
            fp.write(HOOK % {"armed": armed, "done": done, "ck": self.node_a.binary,
                             "store": self.url, "ca": PEBBLE.ca_bundle,
                             "log": os.path.join(self.dir, "hook.log")})
        os.chmod(hook, 0o755)
        # deploys check the chain: Pebble's issuing root next to its TLS CA
        trust = PEBBLE.trust_bundle(os.path.join(self.dir, "trust.pem"))
        node_b = ckharness.Certkeep(self.url, ca_bundle=trust)
        for i, n in enumerate(names):
            node_b.run("bind", "hook%d" % i, "--lineage", n, "--target", "exec:" + hook)
        open(armed, "w").close()
        key_before, _ = self.account_row()
        # One long-running process renews every lineage, one after another,
        # on one account: after the first, node A rolls the key over.
        res = node_b.run("renew", "--all", "--force", "--concurrency", "1", "--json",
                              *self.http(), check=False, timeout=600)
        self.assertTrue(os.path.exists(done), "node A's rollover ran: %s" % (
            open(os.path.join(self.dir, "hook.log")).read()
            if os.path.exists(os.path.join(self.dir, "hook.log")) else "no log"))
        key_after, _ = self.account_row()
        self.assertNotEqual(key_after, key_before)
        self.assert_no_jws_error(res)
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "every renewal succeeds"))
        out = json.loads(res.stdout)
        self.assertEqual(out["renewed"], 3, out)
        # The batch used its kept session while the account did not change
        # (one fresh open after the rollover, none between the others) ...
        self.assertEqual(res.stderr.count("changed since this process read it"), 1, res.stderr)
        # ... and every lineage has its new certificate.
        self.assertEqual(PG.psql(self.db, "SELECT count(*) FROM certificates").strip(), "6")


if __name__ == "__main__":
    unittest.main()
