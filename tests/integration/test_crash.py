"""Crash safety of the store's write paths (issue 3), tested by killing
certkeep at every fault point it passes.

For each operation (import, copy, move, request -> import, issue-finalize):
  1. run it once on a fresh store with CERTKEEP_FAULT_LOG to enumerate the
     fault points it passes (a point passed twice is two crash sites,
     "name:1" and "name:2");
  2. for EACH site, on a fresh copy of the same starting state: run it with
     CERTKEEP_FAULT=name:N (certkeep aborts there), then reopen the store(s)
     and assert that `doctor --json` has no error-severity finding, that
     every certificate listed before the crash is still there with its key
     link (for move: in the source or the destination, never in neither),
     that an open request is still open or closed by a stored, linked
     certificate; then re-run the operation and assert it completes.

Needs a binary built with -Dfault_injection=true (the test build is); the
tests skip, saying so, otherwise.  issue-finalize needs Pebble (ckharness);
for it, a crash that leaves the ACME order open must be resumed by the
re-run: no second newOrder in Pebble's log, and the stored certificate is
that order's (issue 13).
Each test prints how many fault points and runs it covered.
"""

import json
import os
import sqlite3
import sys
import tempfile
import unittest

import ckharness
import test_store_cli as sc

TMP = None
PKI = None
TOTALS = {"points": 0, "runs": 0}


def setUpModule():
    global TMP, PKI
    TMP, PKI = sc.module_pki("ck-crash-")


def tearDownModule():
    sys.stderr.write("\ncrash tests: %d fault points, %d crash runs in total\n" % (
        TOTALS["points"], TOTALS["runs"]))


def fault_sites(log_path):
    """["name:1", "name:2", "other:1", ...] in the order they were passed."""
    sites, seen = [], {}
    try:
        with open(log_path, encoding="utf-8") as fp:
            for line in fp:
                name = line.strip()
                if not name:
                    continue
                seen[name] = seen.get(name, 0) + 1
                sites.append("%s:%d" % (name, seen[name]))
    except FileNotFoundError:
        pass
    return sites


def snapshot(ck):
    """{sha256: list entry} and the open requests of one store."""
    certs = {e["sha256"]: e for e in ck.json("list", "--json")}
    reqs = ck.json("requests", "--json")
    return certs, reqs


class CrashLoop:
    """One operation, killed at each of its fault points in turn (a mixin:
    each operation's class adds unittest.TestCase)."""

    OP = None

    # Subclasses: template(dir) -> state built once; clone(state, dir) -> a
    # fresh copy; run_op(state, env) -> CompletedProcess; done(state) checks
    # the completed operation.  state["stores"] lists the Certkeep runners.

    def clone(self, template, base):
        state = dict(template)
        state["stores"] = [sc.clone_store(ck, base, "s%d" % i)
                           for i, ck in enumerate(template["stores"])]
        return state

    def fresh(self):
        return self.clone(self.template_state, tempfile.mkdtemp(dir=self.dir))

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.OP + "-", dir=TMP)
        os.makedirs(os.path.join(self.dir, "template"))
        self.template_state = self.template(os.path.join(self.dir, "template"))

    def check_invariants(self, state, before, site):
        after = [snapshot(ck) for ck in state["stores"]]
        for i, ck in enumerate(state["stores"]):
            res = ck.run("doctor", "--json", check=False)
            self.assertIn(res.returncode, (0, 1), ckharness.describe(res, "doctor after crash"))
            errors = [f for f in json.loads(res.stdout)["findings"]
                      if f["severity"] == "error"]
            self.assertEqual(errors, [], "%s: crash at %s left store %d breaking an "
                                         "invariant: %s" % (self.OP, site, i, errors))
        merged = {}
        for certs, _ in after:
            merged.update(certs)
        for i, (certs, reqs) in enumerate(before):
            # A move may leave the certificate in either store, never in neither.
            where = merged if self.OP == "move" else after[i][0]
            for sha, e in certs.items():
                self.assertIn(sha, where, "%s: crash at %s lost certificate %s" % (
                    self.OP, site, sha[:16]))
                if e["key"]["linked"]:
                    self.assertIs(where[sha]["key"]["linked"], True,
                                  "%s: crash at %s unlinked certificate %s from its key" % (
                                      self.OP, site, sha[:16]))
            open_after = {r["id"] for r in after[i][1]}
            for r in reqs:
                if r["id"] in open_after:
                    continue
                # Closed by the crash-interrupted import: its certificate must be there.
                linked = [e for e in after[i][0].values() if e["key"]["linked"]
                          and e["name"] == r["lineage"]]
                self.assertTrue(linked, "%s: crash at %s closed request %s without its "
                                        "certificate" % (self.OP, site, r["id"]))

    def test_every_fault_point(self):
        state = self.fresh()
        # Every run starts from a byte copy of the same template: what the
        # stores hold before the operation is read once, not before each run.
        before = [snapshot(ck) for ck in state["stores"]]
        log = os.path.join(self.dir, "faults.log")
        res = self.run_op(state, {"CERTKEEP_FAULT_LOG": log})
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "the operation itself"))
        self.done(state)
        sites = fault_sites(log)
        if not sites:
            self.skipTest("certkeep was built without -Dfault_injection=true: no fault points")
        names = sorted({s.rsplit(":", 1)[0] for s in sites})
        runs = 0
        for site in sites:
            with self.subTest(site=site):
                state = self.fresh()
                res = self.run_op(state, {"CERTKEEP_FAULT": site})
                runs += 1
                self.assertNotEqual(res.returncode, 0, ckharness.describe(
                    res, "certkeep must abort at fault point %s" % site))
                self.assertIn("fault point", res.stderr)
                self.check_invariants(state, before, site)
                if self.needs_rerun(state):
                    before_rerun = self.before_rerun(state)
                    res = self.run_op(state, {})
                    self.assertEqual(res.returncode, 0, ckharness.describe(
                        res, "%s must complete when re-run after a crash at %s" % (
                            self.OP, site)))
                    self.after_rerun(state, site, before_rerun, res)
                self.done(state)
        self.after_all(sites)
        TOTALS["points"] += len(names)
        TOTALS["runs"] += runs
        sys.stderr.write("\n%s: %d fault points (%d crash sites), %d crash runs, each "
                         "followed by doctor, a state check and a completing re-run\n" % (
                             self.OP, len(names), len(sites), runs))

    def needs_rerun(self, state):
        return True

    def before_rerun(self, state):
        """What after_rerun needs to know about the crashed state."""
        return None

    def after_rerun(self, state, site, before, res):
        """Checks how the re-run completed (after a crash at site)."""

    def after_all(self, sites):
        """Checks over every crash site once the loop is done."""


class TestCrashImport(CrashLoop, unittest.TestCase):
    OP = "import"

    def template(self, d):
        ck = sc.new_store(d, "src")
        a = PKI.leaf("ec256")
        ck.run("import", a["bundle"], "--name", "a")
        self.b = PKI.leaf("rsa2048")
        ck.run("import", self.b["cert"])  # labelled: its key comes with the import
        self.c = PKI.leaf("ed25519")
        return {"stores": [ck]}

    def run_op(self, state, env):
        return state["stores"][0].run("import", self.c["bundle"], self.b["key"], "--name", "c",
                                      env=env, check=False)

    def done(self, state):
        ck = state["stores"][0]
        for leaf in (self.b, self.c):
            e = sc.entry(ck, leaf["sha256"])
            self.assertIsNotNone(e)
            self.assertIs(e["key"]["linked"], True)
        self.assertEqual(sc.entry(ck, self.c["sha256"])["chain_length"], 2)


class TestCrashCopy(CrashLoop, unittest.TestCase):
    OP = "copy"

    def template(self, d):
        src, dst = sc.new_store(d, "src"), sc.new_store(d, "dst")
        self.a = PKI.leaf("ec256")
        src.run("import", self.a["bundle"], "--name", "a")
        dst.run("import", PKI.leaf("ec256")["bundle"], "--name", "other")
        return {"stores": [src, dst]}

    def run_op(self, state, env):
        src, dst = state["stores"]
        return src.run("copy", "a", "--to", dst.store, env=env, check=False)

    def done(self, state):
        src, dst = state["stores"]
        self.assertIs(sc.entry(dst, self.a["sha256"])["key"]["linked"], True)
        self.assertIsNotNone(sc.entry(src, self.a["sha256"]))


class TestCrashMove(TestCrashCopy):
    OP = "move"

    def run_op(self, state, env):
        src, dst = state["stores"]
        return src.run("move", self.a["sha256"], "--to", dst.store, env=env, check=False)

    def needs_rerun(self, state):
        # Crashed after the source removal committed: the move is complete.
        return sc.entry(state["stores"][0], self.a["sha256"]) is not None

    def done(self, state):
        src, dst = state["stores"]
        self.assertIs(sc.entry(dst, self.a["sha256"])["key"]["linked"], True)
        self.assertIsNone(sc.entry(src, self.a["sha256"]))


class TestCrashRequestImport(CrashLoop, unittest.TestCase):
    OP = "request-import"

    def template(self, d):
        ck = sc.new_store(d, "src")
        ck.run("import", PKI.leaf("ec256")["bundle"], "--name", "existing")
        self.names = ["late.example.test", "www.late.example.test"]
        csr = os.path.join(d, "req.csr")
        ck.run("request", "-d", self.names[0], "-d", self.names[1], "--csr-out", csr)
        self.cert = PKI.sign_csr(csr, os.path.join(d, "issued.pem"), self.names)
        return {"stores": [ck]}

    def run_op(self, state, env):
        return state["stores"][0].run("import", self.cert, PKI.chain, env=env, check=False)

    def done(self, state):
        ck = state["stores"][0]
        e = sc.entry(ck, sc.sha256_of(self.cert))
        self.assertIs(e["key"]["linked"], True)
        self.assertEqual(e["name"], self.names[0])
        self.assertIs(e["current"], True)
        self.assertEqual(ck.json("requests", "--json"), [])


PEBBLE = None


class TestCrashIssue(CrashLoop, unittest.TestCase):
    OP = "issue-finalize"

    @classmethod
    def setUpClass(cls):
        global PEBBLE
        if PEBBLE is None:
            PEBBLE = ckharness.Pebble(os.path.join(TMP, "pebble"))
            PEBBLE.start()

    @classmethod
    def tearDownClass(cls):
        global PEBBLE
        if PEBBLE is not None:
            PEBBLE.stop()
            PEBBLE = None

    def template(self, d):
        ck = sc.new_store(d, "src")
        ck.ca_bundle = PEBBLE.ca_bundle
        ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos",
               timeout=120)
        ck.run("import", PKI.leaf("ec256")["bundle"], "--name", "existing")
        return {"stores": [ck]}

    def clone(self, template, base):
        state = super().clone(template, base)
        for ck in state["stores"]:
            ck.ca_bundle = PEBBLE.ca_bundle
        return state

    def run_op(self, state, env):
        return state["stores"][0].run(
            "issue", "-d", "crash.example.test", "--name", "crash", "--http-port",
            str(PEBBLE.http_port), "--http-address", "127.0.0.1", env=env, check=False,
            timeout=300)

    def done(self, state):
        ck = state["stores"][0]
        current = [e for e in sc.entries(ck) if e["name"] == "crash" and e["current"]]
        self.assertEqual(len(current), 1, "the lineage has its current certificate")
        self.assertIs(current[0]["key"]["linked"], True)

    # Resume (issue 13): a crash that leaves the order open is continued by
    # the re-run, which places no new order and stores that order's certificate.

    def before_rerun(self, state):
        db = sqlite3.connect(state["stores"][0].store)
        try:
            left = db.execute("SELECT url FROM orders WHERE lineage = 'crash' AND closed = 0"
                              ).fetchall()
        finally:
            db.close()
        return [u for (u,) in left], PEBBLE.count_requests("POST", "/order-plz")

    def after_rerun(self, state, site, before, res):
        left, placed = before
        if not left:
            return
        self.assertEqual(len(left), 1, "crash at %s left one open order" % site)
        self.assertEqual(PEBBLE.count_requests("POST", "/order-plz"), placed,
                         "re-run after a crash at %s must resume the open order, not place "
                         "a new one" % site)
        sha = res.stdout.strip()
        entry = sc.entry(state["stores"][0], sha)
        self.assertEqual(entry["origin"], left[0], "crash at %s: the re-run stored the "
                                                   "certificate of the open order" % site)
        self.resumed_sites.append(site)

    def setUp(self):
        super().setUp()
        self.resumed_sites = []

    def after_all(self, sites):
        if not sites:
            return
        for site in ("issue.after_order:1", "issue.before_finalize:1",
                     "issue.after_finalize:1"):
            self.assertIn(site, self.resumed_sites, "a crash at %s leaves an order the "
                                                     "re-run resumes" % site)


if __name__ == "__main__":
    unittest.main()
