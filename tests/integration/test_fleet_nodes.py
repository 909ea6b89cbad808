"""Fleet fan-out (issue 12): two nodes on one PostgreSQL store (a real server
started for the module by scripts/pg-test-server) with a real Pebble, each
with its own binding (a pem target directory) of the same lineage.  Node A
renews; A never touches B's target; doctor reports node B behind; B's
`deploy`, and B's running `agent` (within seconds, with no renewal of its
own), deploy B's binding; doctor is clean after.  A killed agent's lease is a
doctor finding; the agent stops on SIGTERM with exit 0."""

import hashlib
import json
import os
import signal
import ssl
import subprocess
import time
import unittest

import ckharness

PG = None
PEBBLE = None
TMP = None


def setUpModule():
    global PG, PEBBLE, TMP
    TMP, PG, PEBBLE = ckharness.module_pg_pebble("ck-fleet-")


def served(directory):
    """SHA-256 (hex) of the leaf in a pem target's cert.pem, or None."""
    try:
        with open(os.path.join(directory, "cert.pem")) as fp:
            return hashlib.sha256(ssl.PEM_cert_to_DER_cert(fp.read())).hexdigest()
    except FileNotFoundError:
        return None


class TestFleetNodes(unittest.TestCase):

    def setUp(self):
        self.db, self.url, self.dir = ckharness.pg_test_db(self, PG, TMP)
        trust = PEBBLE.trust_bundle(os.path.join(self.dir, "trust.pem"))
        self.a = ckharness.Certkeep(self.url, ca_bundle=trust, env={"CERTKEEP_NODE": "node-a"})
        self.b = ckharness.Certkeep(self.url, ca_bundle=trust)
        self.b_args = ("--node", "node-b")   # the global option, for B
        self.a.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")
        self.a.run("issue", "-d", "www.fleet.test", *self.http(), timeout=300)
        self.dir_a = os.path.join(self.dir, "a")
        self.dir_b = os.path.join(self.dir, "b")
        os.makedirs(self.dir_a)
        os.makedirs(self.dir_b)
        self.a.run("bind", "web-a", "--lineage", "www.fleet.test", "--target", "pem:" + self.dir_a)
        # B's binding, made on B; and one A makes for B (its target is B's, not checked on A)
        self.runb("bind", "web-b", "--lineage", "www.fleet.test", "--target", "pem:" + self.dir_b)

    def http(self):
        return ("--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1")

    def runb(self, *args, **kw):
        return self.b.run(*args, global_args=self.b_args, **kw)

    def current(self):
        return [c for c in self.a.json("list", "--json") if c["current"]][0]["sha256"]

    def doctor_codes(self, ck, *extra, run=None):
        res = (run or ck.run)("doctor", "--json", *extra, check=False)
        return [(f["code"], f["object"]) for f in json.loads(res.stdout)["findings"]]

    def renew_on_a(self):
        old = self.current()
        out = json.loads(self.a.run("renew", "www.fleet.test", "--force", "--json",
                                    *self.http(), timeout=300).stdout)
        self.assertEqual(out["renewed"], 1, out)
        new = self.current()
        self.assertNotEqual(new, old)
        return old, new

    def test_each_node_deploys_its_own_bindings(self):
        bindings = {b["name"]: b for b in self.a.json("bindings", "--json")}
        self.assertEqual(bindings["web-a"]["node"], "node-a")
        self.assertEqual(bindings["web-b"]["node"], "node-b")
        # each node's deploy deploys its own binding only
        da = self.a.json("deploy", "--json")
        self.assertEqual([r["name"] for r in da], ["web-a"])
        self.assertIsNone(served(self.dir_b), "A must not touch B's target")
        db = json.loads(self.runb("deploy", "--json").stdout)
        self.assertEqual([r["name"] for r in db], ["web-b"])
        first = self.current()
        self.assertEqual(served(self.dir_a), first)
        self.assertEqual(served(self.dir_b), first)
        # A cannot deploy B's binding by name either
        res = self.a.run("deploy", "web-b", check=False)
        self.assertEqual(res.returncode, 1)
        self.assertIn("belongs to node node-b", res.stderr)

        old, new = self.renew_on_a()
        self.assertEqual(served(self.dir_a), new, "A's renewal deploys A's binding")
        self.assertEqual(served(self.dir_b), old, "A never touches B's target")
        self.assertIn(("CK-D041", "node node-b"), self.doctor_codes(self.a, "--node-grace", "0"))
        self.assertNotIn(("CK-D041", "node node-a"),
                         self.doctor_codes(self.a, "--node-grace", "0"))
        # within the default grace it is not yet a finding
        self.assertNotIn(("CK-D041", "node node-b"), self.doctor_codes(self.a))
        db = json.loads(self.runb("deploy", "--json").stdout)
        self.assertEqual([(r["name"], r["state"]) for r in db], [("web-b", "deployed")])
        self.assertEqual(served(self.dir_b), new)
        self.assertEqual(self.doctor_codes(self.a, "--node-grace", "0"), [])
        # nothing behind: a plain deploy does nothing
        self.assertEqual(json.loads(self.runb("deploy", "--json").stdout), [])
        # B's renew run (nothing due on B) deploys what A's renewal left behind
        _, newer = self.renew_on_a()
        self.assertEqual(served(self.dir_b), new)
        out = json.loads(self.runb("renew", "--all", "--json", *self.http(),
                                   timeout=300).stdout)
        self.assertEqual(out["renewed"], 0, out)
        self.assertEqual([(d["name"], d["state"]) for d in out["deploys"]],
                         [("web-b", "deployed")])
        self.assertEqual(served(self.dir_b), newer)
        self.assertEqual(served(self.dir_a), newer)

    def start_agent(self, node, *extra):
        argv = self.b.argv("agent", *extra, global_args=("--node", node))
        log = open(os.path.join(self.dir, "agent-%s.log" % node), "w+")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        return proc, log

    def wait_for(self, what, pred, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.1)
        self.fail("%s did not happen within %d s" % (what, seconds))

    def test_agent_deploys_within_seconds_and_stops_on_sigterm(self):
        self.a.run("deploy")
        proc, log = self.start_agent("node-b", "--no-renew", "--heartbeat", "1")
        try:
            first = self.current()
            self.wait_for("the agent's first deploy", lambda: served(self.dir_b) == first, 30)
            self.wait_for("the agent's heartbeat", lambda: PG.psql(
                self.db, "SELECT heartbeat_s FROM nodes WHERE name = 'node-b'").strip() == "1",
                10)
            _, new = self.renew_on_a()
            t0 = time.monotonic()
            self.wait_for("B's agent deploying A's renewal", lambda: served(self.dir_b) == new, 10)
            took = time.monotonic() - t0
            self.assertLess(took, 10)
            self.assertEqual(self.doctor_codes(self.a, "--node-grace", "0"), [])
            # it did not renew anything itself: one certificate renewed, by A
            self.assertEqual(PG.psql(self.db, "SELECT count(*) FROM renewal WHERE "
                                     "claim_owner LIKE 'node-b %'").strip(), "0")
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=30)
        log.seek(0)
        text = log.read()
        log.close()
        self.assertEqual(rc, 0, text)
        self.assertIn("node node-b stopped", text)
        self.assertIn("the store changed", text)
        # a cleanly stopped agent promises no more heartbeats
        self.assertEqual(PG.psql(self.db, "SELECT heartbeat_s FROM nodes WHERE "
                                 "name = 'node-b'").strip(), "0")

    def test_killed_agents_lease_is_a_doctor_finding(self):
        """Node C's agent renews a lineage that is due (its CA's ARI window is
        past) and is killed while its finalize is held: the lease it took is a
        doctor finding once it has missed three heartbeats."""
        proxy = PEBBLE.fault_proxy()
        self.addCleanup(proxy.stop)
        fp = ckharness.faultproxy()
        proxy.set_renewal_info(default=fp.ari_window(-7200, -60))
        self.a.run("account", "register", "--server", proxy.directory_url, "--agree-tos")
        self.a.run("issue", "-d", "due.fleet.test", "--server", proxy.directory_url,
                   *self.http(), timeout=300)
        rule = proxy.add_rule("/finalize-order/", method="POST", count=1, action="hold",
                              delay=120)
        proc, log = self.start_agent("node-c", "--heartbeat", "1")
        try:
            self.assertTrue(rule.holding.wait(60), "the agent never reached finalize")
            owner = PG.psql(self.db, "SELECT claim_owner FROM renewal WHERE "
                            "lineage = 'due.fleet.test'").strip()
            self.assertTrue(owner.startswith("node-c pid %d " % proc.pid), owner)
            self.assertEqual(self.doctor_codes(self.a).count(("CK-D040", "lineage due.fleet.test")),
                             0, "a lease of a node that beats is no finding")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            log.close()
            proxy.release(rule)
        # three missed heartbeats (1 s each) later, it is a finding that names the node
        time.sleep(4)
        res = self.a.run("doctor", "--json", check=False)
        found = [f for f in json.loads(res.stdout)["findings"] if f["code"] == "CK-D040"]
        self.assertEqual([f["object"] for f in found], ["lineage due.fleet.test"], res.stdout)
        self.assertIn("node node-c", found[0]["what"])
        self.assertIn("certkeep agent on node node-c", found[0]["fix"])
        self.assertEqual(res.returncode, 1)

if __name__ == "__main__":
    unittest.main()
