"""Fleets (issue 12): several certkeep nodes renewing from one PostgreSQL
store, each lineage under a lease with a fencing token.  A real PostgreSQL
(scripts/pg-test-server) and a real Pebble issuing 40-second certificates
(so lineages become due by themselves, at half the lifetime).

Each node is its own process with its own node name: the default node
name is the host name, so each runs in a UTS namespace of its own with
another host name (`unshare --uts`), as on separate machines.  The http-01
challenge is answered by webroot behind one static server on Pebble's
http port, as a fleet behind a load balancer would, so nodes never fight
over a listening port.

What a user notices:
- a long order keeps its lease: the run's heartbeat extends it;
- fencing: a node paused (SIGSTOP) past its lease, while its finalize is
  answered, cannot commit when resumed (the lease was lost); the node that
  took the lease over resumed the same order: one finalize, one new
  current certificate;
- two nodes renewing the same 20 due lineages at once renew each exactly
  once (one finalize per lineage), even when one node's plan went stale
  while it waited (it skips what the other renewed since);
- a node killed (SIGKILL) mid-batch: its live leases are not taken by the
  other node before they expire, and afterwards its orders are resumed:
  one finalize per lineage, doctor clean.
"""

import json
import os
import signal
import subprocess
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import ckharness

PG = PEBBLE = STATIC = TMP = WEBROOT = None
LIFE = 40  # seconds: Pebble's certificateValidityPeriod


def setUpModule():
    global PG, PEBBLE, STATIC, TMP, WEBROOT
    TMP, PG, PEBBLE = ckharness.module_pg_pebble("ck-fleet-lease-",
                                                 config={"certificateValidityPeriod": LIFE})
    WEBROOT = os.path.join(TMP, "www")
    os.mkdir(WEBROOT)
    STATIC = ckharness.StaticServer(WEBROOT, PEBBLE.http_port)


def tearDownModule():
    if STATIC is not None:
        STATIC.stop()


def on_node(node, argv):
    """argv run as node `node`: in a UTS namespace whose host name is node
    (unshare execs, so the process id stays the one Popen returns)."""
    return ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', node] + list(argv)


class FleetCase(unittest.TestCase):
    """A new PostgreSQL database per test, an account on Pebble through the
    fault proxy (which holds an answer where a test needs a node to wait)."""

    def server(self):
        return self.proxy.directory_url

    def setUp(self):
        self.proxy = PEBBLE.fault_proxy()
        self.addCleanup(self.proxy.stop)
        self.db = ckharness.test_name(self)
        self.url = PG.createdb(self.db)
        self.ck = ckharness.Certkeep(self.url, ca_bundle=PEBBLE.ca_bundle)
        self.ck.run("account", "register", "--server", self.server(), "--agree-tos")

    def issue(self, *names):
        with ThreadPoolExecutor(4) as pool:
            for r in pool.map(lambda n: self.ck.run("issue", "-d", n, "--webroot", WEBROOT,
                                                    check=False, timeout=300), names):
                self.assertEqual(r.returncode, 0, ckharness.describe(r, "issue"))

    def node(self, node, *args):
        """A renew on node `node`, started (stdout and stderr piped)."""
        return subprocess.Popen(on_node(node, self.ck.argv("renew", "--json", *args)),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, proc, code=0):
        stdout, stderr = proc.communicate(timeout=600)
        self.assertEqual(proc.returncode, code, "exit %d\nstdout:\n%s\nstderr:\n%s" %
                         (proc.returncode, stdout, stderr))
        return json.loads(stdout), stderr

    def renew_on(self, node, *args, code=0):
        return self.finish(self.node(node, *args), code)

    def finalizes(self):
        return self.proxy.count("/finalize-order/", "POST")

    def reached(self, rule, proc, what="finalize"):
        """Until an answer to node proc is held by rule (fails if proc ends first)."""
        deadline = time.time() + 120
        while not rule.holding.wait(0.2):
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                stdout, stderr = proc.communicate()
                self.fail("the node never reached %s (exit %s)\n%s\n%s" %
                          (what, proc.returncode, stdout, stderr))

    def certs(self, lineage):
        return [c for c in self.ck.json("list", "--json") if c["name"] == lineage]

    def current(self, lineage):
        return [c for c in self.certs(lineage) if c["current"]][0]["sha256"].lower()

    def lease_until(self, *lineages):
        """The latest lease expiry among lineages (0: none held)."""
        rows = PG.psql(self.db, "SELECT coalesce(max(claim_until), 0) FROM renewal WHERE "
                       "lineage IN (%s)" % ",".join("'%s'" % n for n in lineages))
        return int(rows.strip() or 0)

    def wait_expired(self, *lineages):
        """Until every lease on lineages has expired (the store's clock is real time)."""
        deadline = time.time() + 120
        while time.time() < deadline:
            until = self.lease_until(*lineages)
            if time.time() >= until + 1:
                return
            time.sleep(0.2)
        self.fail("the leases on %s never expired" % (lineages,))

    def wait_due(self, names):
        deadline = time.time() + LIFE + 30
        while time.time() < deadline:
            plan = {i["lineage"]: i for i in self.ck.json("renew", "--dry-run", "--json",
                                                            *names)}
            if all(plan[n]["state"] == "due" for n in names):
                return
            time.sleep(1)
        self.fail("not due after %d s: %s" % (LIFE + 30, plan))

    def due(self, pattern, n):
        """n lineages (pattern % i) issued and due; (names, finalizes so far)."""
        names = [pattern % i for i in range(n)]
        self.issue(*names)
        self.wait_due(names)
        return names, self.finalizes()

    def hold(self, path):
        """The proxy holds the answer to the next POST to path (until released)."""
        return self.proxy.add_rule(path, method="POST", count=1, action="hold", delay=300)

    def renewed_once(self, names, before):
        """One finalize and one new certificate per lineage since before; doctor clean."""
        self.assertEqual(self.finalizes() - before, len(names), "one finalize per lineage")
        for n in names:
            self.assertEqual(len(self.certs(n)), 2, n)
        self.doctor_clean()

    def doctor_clean(self):
        """No finding but CK-D010 (cert-expiring: these certificates live 40 s)."""
        res = self.ck.run("doctor", "--json", check=False)
        findings = [f for f in json.loads(res.stdout)["findings"] if f["code"] != "CK-D010"]
        self.assertEqual(findings, [], ckharness.describe(res, "doctor must be clean"))


class TestFencing(FleetCase):

    def test_a_node_paused_past_its_lease_cannot_commit(self):
        name = "fence.fleet.test"
        self.issue(name)
        before = self.current(name)
        rule = self.hold("/finalize-order/")
        first = self.node("node1", name, "--force", "--lease-ttl", "4")
        stopped = False
        try:
            self.reached(rule, first)
            os.kill(first.pid, signal.SIGSTOP)
            stopped = True
            # Pebble has finalized; node 1 is stopped before it hears so.
            self.proxy.release(rule)
            self.wait_expired(name)
            out, _ = self.renew_on("node2", name, "--force")
            taken = out["lineages"][0]
            self.assertEqual((taken["state"], taken["resumed"]), ("renewed", True), taken)
        finally:
            if stopped:
                os.kill(first.pid, signal.SIGCONT)
        out, stderr = self.finish(first, code=1)
        item = out["lineages"][0]
        self.assertEqual(item["state"], "failed", item)
        self.assertIn("lease of node1 pid %d" % first.pid, item["error"])
        self.assertIn("was lost", item["error"])
        self.assertIn("nothing of this change was committed", item["error"])
        # one finalize for the renewal, one new current certificate: node 2's
        self.assertEqual(self.finalizes(), 1 + 1)
        self.assertEqual(len(self.certs(name)), 2)
        self.assertNotEqual(self.current(name), before)
        self.assertEqual(self.current(name), taken["new_certificate"].lower())
        self.doctor_clean()

    def test_a_long_order_keeps_its_lease_by_heartbeat(self):
        name = "long.fleet.test"
        self.issue(name)
        # finalize answered after 3 lease lifetimes: only the heartbeat keeps it
        self.proxy.add_rule("/finalize-order/", method="POST", count=1, delay=9)
        out, stderr = self.renew_on("node1", name, "--force", "--lease-ttl", "3")
        self.assertEqual(out["lineages"][0]["state"], "renewed", out)
        self.assertNotIn("lease", stderr)
        self.assertEqual(len(self.certs(name)), 2)

    def test_a_heartbeat_whose_connection_dies_opens_a_new_one(self):
        name = "rebeat.fleet.test"
        self.issue(name)
        rule = self.hold("/finalize-order/")
        proc = self.node("node1", name, "--force", "--lease-ttl", "3")
        self.reached(rule, proc)
        # The heartbeat's own connection is ended by the server (an admin's
        # pg_terminate_backend, a failover): its next beat must reconnect,
        # or the lease runs out while the order is in flight.
        # Its two connections while the batch runs: the workers' pooled one
        # (the run's own is closed while the pool lives) and the heartbeat's,
        # opened last (at the first beat).
        sql = ("WITH c AS (SELECT pid, backend_start FROM pg_stat_activity WHERE "
               "datname = current_database() AND pid <> pg_backend_pid() AND "
               "backend_type = 'client backend') SELECT pg_terminate_backend(pid) FROM c "
               "WHERE (SELECT count(*) FROM c) = 2 ORDER BY backend_start DESC LIMIT 1")
        deadline = time.time() + 30
        killed = ""
        while "t" not in killed and time.time() < deadline:
            killed = PG.psql(self.db, sql)
            time.sleep(0.2)
        self.assertIn("t", killed, "the heartbeat's connection was never seen")
        time.sleep(3 * 3)  # three lease lifetimes: only new beats keep the lease
        self.assertGreater(self.lease_until(name), time.time(), "the lease ran out")
        self.proxy.release(rule)
        out, _ = self.finish(proc)
        self.assertEqual(out["lineages"][0]["state"], "renewed", out)
        self.assertEqual(len(self.certs(name)), 2)

    def test_a_node_killed_mid_batch_is_resumed_after_its_leases_expire(self):
        names, before = self.due("k%d.fleet.test", 6)
        rule = self.hold("/finalize-order/")
        first = self.node("node1", *names, "--concurrency", "2", "--lease-ttl", "20")
        try:
            # killed while Pebble finalizes one of its orders
            self.reached(rule, first)
            first.send_signal(signal.SIGKILL)
            first.communicate()
        finally:
            self.proxy.release(rule)
        held = [n for n in names
                if PG.psql(self.db, "SELECT claim_owner FROM renewal WHERE lineage = '%s'"
                           % n).strip().startswith("node1 ")]
        self.assertTrue(held, "node 1 held no lease when it was killed")
        # Another node does not take a live lease, whoever holds it.
        out, _ = self.renew_on("node2", *held)
        self.assertEqual({i["state"] for i in out["lineages"]}, {"claimed"}, out)
        self.wait_expired(*held)
        out, _ = self.renew_on("node2", *names)
        self.assertEqual(out["failed"], 0, out)
        self.assertTrue(any(i["resumed"] for i in out["lineages"]), out)
        self.renewed_once(names, before)


class TestExactlyOnce(FleetCase):

    def test_two_nodes_renew_twenty_lineages_each_exactly_once(self):
        names, before = self.due("t%02d.fleet.test", 20)
        # Node 2 plans all 20, then waits on its first order while node 1
        # renews the other 19: by the time node 2 comes to them its plan is
        # stale, and each is renewed already.
        rule = self.hold("/order-plz")
        two = self.node("node2", "--all", "--concurrency", "1")
        try:
            self.reached(rule, two, "newOrder")
            out1, _ = self.renew_on("node1", "--all", "--concurrency", "4")
        finally:
            self.proxy.release(rule)
        out2, _ = self.finish(two)
        self.assertEqual((out1["renewed"], out1["claimed"]), (19, 1), out1)
        self.assertEqual((out2["renewed"], out2["claimed"]), (1, 19), out2)
        states = {}
        for out in (out1, out2):
            for i in out["lineages"]:
                states.setdefault(i["lineage"], []).append(i["state"])
        for n in names:
            self.assertEqual(states[n].count("renewed"), 1, (n, states[n]))
        skipped = [i for i in out2["lineages"] if i["state"] == "not-due"]
        self.assertEqual(len(skipped), 19, out2)
        for i in skipped:
            self.assertIn("renewed by another run or node", i["wait_reason"])
        self.renewed_once(names, before)


if __name__ == "__main__":
    unittest.main()
