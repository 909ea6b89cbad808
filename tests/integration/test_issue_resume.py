"""Issue 13, certificates: an order the CA has is never lost.

Against a real Pebble, through the fault proxy where Pebble cannot
misbehave on its own:
  - resume: an order left open by a kill (CERTKEEP_FAULT) is continued by
    the next `certkeep issue` for the same lineage and names (no second
    newOrder in Pebble's log), whatever state it was left in; an order the
    server no longer has is closed and replaced; an unknown answer (503)
    leaves it open; other names place a new order and leave the old alone;
  - alternates: the certificate is committed before any alternate chain is
    fetched, so a dropped, hanging or killed alternate download costs the
    alternates only.
"""

import json
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

import ckharness

TMP = None
PEBBLE = None


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-resume-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


def query(store, sql, *args):
    db = sqlite3.connect(store)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def orders(store, lineage):
    """[(id, url, status, closed, key_id)] of a lineage, oldest first."""
    return query(store, "SELECT id, url, status, closed, key_id FROM orders WHERE lineage = ? "
                        "ORDER BY id", lineage)


def kept(order):
    """An order row without its status (which follows the server's)."""
    return order[0], order[1], order[3], order[4]


class IssueCase(unittest.TestCase):
    """A fresh store registered through a fresh fault proxy in front of pebble."""

    pebble = None

    def setUp(self):
        pebble = self.pebble or PEBBLE
        self.dir = tempfile.mkdtemp(prefix=self.id().rsplit(".", 1)[-1] + "-", dir=TMP)
        self.proxy = pebble.fault_proxy()
        self.addCleanup(self.proxy.stop)
        self.store = os.path.join(self.dir, "store", "store.db")
        self.ck = ckharness.Certkeep(self.store, ca_bundle=pebble.ca_bundle)
        self.ck.run("account", "register", "--server", self.proxy.directory_url, "--agree-tos")

    def issue_argv(self, names, lineage):
        pebble = self.pebble or PEBBLE
        args = ["issue", "--name", lineage, "--http-port", str(pebble.http_port),
                "--http-address", "127.0.0.1"]
        for n in names:
            args += ["-d", n]
        return args

    def issue(self, names, lineage, fault=None, check=True):
        env = {"CERTKEEP_FAULT": fault} if fault else None
        return self.ck.run(*self.issue_argv(names, lineage), env=env, check=check, timeout=300)

    def crash(self, names, lineage, fault):
        res = self.issue(names, lineage, fault=fault, check=False)
        if res.returncode == 0 or "fault point" not in res.stderr:
            self.skipTest("certkeep was built without -Dfault_injection=true")
        return res

    def new_orders(self):
        return (self.pebble or PEBBLE).count_requests("POST", "/order-plz")

    def cert(self, sha):
        found = [e for e in self.ck.json("list", "--json") if e["sha256"] == sha]
        self.assertEqual(len(found), 1, "certificate %s is listed" % sha[:16])
        return found[0]


class TestResume(IssueCase):

    def resumed(self, names, lineage, fault):
        """Kills issue at fault, re-runs it, checks the re-run placed no order
        and stored the certificate of the order the first run left open."""
        self.crash(names, lineage, fault)
        left = [o for o in orders(self.store, lineage) if not o[3]]
        self.assertEqual(len(left), 1, "the killed run left its order open: %s" % left)
        placed = self.new_orders()
        keys = query(self.store, "SELECT count(*) FROM keys")[0][0]
        sha = self.issue(names, lineage).stdout.strip()
        self.assertEqual(self.new_orders(), placed,
                         "the re-run must continue the open order, not place a new one")
        self.assertEqual(query(self.store, "SELECT count(*) FROM keys")[0][0], keys,
                         "no new certificate key for a resumed order")
        entry = self.cert(sha)
        self.assertEqual(entry["origin"], left[0][1], "the certificate is the open order's")
        self.assertIs(entry["key"]["linked"], True)
        self.assertEqual(query(self.store, "SELECT key_id FROM certificates WHERE sha256 = ?",
                               sha)[0][0], left[0][4], "linked to the order's stored key")
        row = [o for o in orders(self.store, lineage) if o[0] == left[0][0]][0]
        self.assertEqual((row[2], row[3]), ("valid", 1), "the resumed order is closed valid")
        return left[0]

    def test_killed_between_key_and_order_record_leaves_no_orphan_key(self):
        """The certificate key and its order's record are one commit: a run
        that dies between them (a kill, a lost database connection, a
        restarted PostgreSQL) leaves no key that nothing refers to."""
        keys = query(self.store, "SELECT count(*) FROM keys")[0][0]
        self.crash(["orphan.example.test"], "orphan", "issue.after_key:1")
        self.assertEqual(query(self.store, "SELECT count(*) FROM keys")[0][0], keys,
                         "the killed run committed no key")
        self.assertEqual(orders(self.store, "orphan"), [], "and no order record")
        findings = json.loads(self.ck.run("doctor", "--json", check=False).stdout)["findings"]
        self.assertNotIn("orphan-key", [f["name"] for f in findings])
        sha = self.issue(["orphan.example.test"], "orphan").stdout.strip()
        self.assertEqual(self.cert(sha)["name"], "orphan")

    def test_killed_after_finalize_downloads(self):
        finalized = PEBBLE.count_finalized()
        self.resumed(["fin.example.test"], "fin", "issue.after_finalize:1")
        self.assertEqual(PEBBLE.count_finalized(), finalized + 1,
                         "a finalized order is not finalized again")

    def test_killed_before_finalize_finalizes_with_stored_key(self):
        self.resumed(["ready.example.test", "127.0.0.1"], "ready", "issue.before_finalize:1")

    def test_killed_before_challenges_answers_them(self):
        self.resumed(["pending.example.test"], "pending", "issue.after_order:1")

    def test_order_unknown_to_server_is_closed_and_replaced(self):
        self.crash(["gone.example.test"], "gone", "issue.after_order:1")
        old = orders(self.store, "gone")[0]
        self.proxy.add_rule("/my-order/", method="POST", count=1, status=404,
                            type="malformed", detail="No order found for ID")
        placed = self.new_orders()
        sha = self.issue(["gone.example.test"], "gone").stdout.strip()
        self.assertEqual(self.new_orders(), placed + 1, "a new order replaces the gone one")
        rows = {o[0]: o for o in orders(self.store, "gone")}
        self.assertEqual((rows[old[0]][2], rows[old[0]][3]), ("invalid", 1),
                         "the order the server does not know is closed")
        self.assertNotEqual(self.cert(sha)["origin"], old[1])
        # Its key is an ordinary unused key now: doctor calls it an orphan.
        findings = json.loads(self.ck.run("doctor", "--json", check=False).stdout)["findings"]
        self.assertIn(("orphan-key", old[4]),
                      [(f["name"], f.get("key_id")) for f in findings])

    def test_order_invalid_at_server_is_closed_and_replaced(self):
        self.crash(["inv.example.test"], "inv", "issue.after_order:1")
        old = orders(self.store, "inv")[0]
        body = {"status": "invalid", "expires": "2020-01-01T00:00:00Z",
                "identifiers": [{"type": "dns", "value": "inv.example.test"}],
                "authorizations": [], "finalize": old[1].replace("my-order", "finalize-order")}
        self.proxy.add_rule("/my-order/", method="POST", count=1, action="respond",
                            status=200, body=body)
        placed = self.new_orders()
        self.issue(["inv.example.test"], "inv")
        self.assertEqual(self.new_orders(), placed + 1)
        rows = {o[0]: o for o in orders(self.store, "inv")}
        self.assertEqual(rows[old[0]][3], 1, "an order the server calls invalid is closed")

    def test_unknown_answer_leaves_order_open(self):
        self.crash(["flaky.example.test"], "flaky", "issue.after_order:1")
        old = orders(self.store, "flaky")[0]
        self.proxy.add_rule("/my-order/", method="POST", status=503, type="serverInternal",
                            detail="maintenance")
        placed = self.new_orders()
        res = self.issue(["flaky.example.test"], "flaky", check=False)
        self.assertNotEqual(res.returncode, 0, ckharness.describe(res, "503 is not an answer"))
        self.assertIn("left open", res.stderr, ckharness.describe(res, "says what was kept"))
        self.assertEqual(self.new_orders(), placed, "no new order on an unknown answer")
        self.assertEqual(orders(self.store, "flaky"), [old], "the order is untouched")
        self.proxy.clear_rules()
        sha = self.issue(["flaky.example.test"], "flaky").stdout.strip()
        self.assertEqual(self.new_orders(), placed, "once the server answers, it resumes")
        self.assertEqual(self.cert(sha)["origin"], old[1])

    def test_other_names_place_a_new_order(self):
        self.crash(["one.example.test"], "names", "issue.after_finalize:1")
        old = orders(self.store, "names")[0]
        placed = self.new_orders()
        sha = self.issue(["one.example.test", "two.example.test"], "names").stdout.strip()
        self.assertEqual(self.new_orders(), placed + 1,
                         "an open order for other names is not resumed")
        self.assertNotEqual(self.cert(sha)["origin"], old[1])
        self.assertEqual(orders(self.store, "names")[0], old,
                         "the other order is left open: the CA may have issued it")
        # Asking for its names again picks it up.
        placed = self.new_orders()
        sha = self.issue(["one.example.test"], "names").stdout.strip()
        self.assertEqual(self.new_orders(), placed)
        self.assertEqual(self.cert(sha)["origin"], old[1])


class TestFinalizeOnFetch(IssueCase):
    """certkeep finalizes once the CA has fetched every proof from its own
    responder, instead of asking for the authorization again (one request
    less per order); a CA that was still deciding says orderNotReady, and
    then the authorization is asked for as usual.

    The proxy gives the authorization a Retry-After of 3 s (Pebble sends
    none), so the first poll round comes after Pebble's validation server
    has fetched the proof: the test does not race it."""

    def slow_first_poll(self):
        self.proxy.add_rule("/authZ/", method="POST", count=1, action="headers",
                            headers={"Retry-After": "3"})

    def test_finalized_without_asking_for_the_authorization_again(self):
        self.slow_first_poll()
        finalized = PEBBLE.count_finalized()
        sha = self.issue(["fetched.example.test"], "fetched").stdout.strip()
        self.assertIs(self.cert(sha)["key"]["linked"], True)
        self.assertEqual(self.proxy.count("/authZ/", "POST"), 1,
                         "the authorization was fetched once, to answer its challenge")
        self.assertEqual(self.proxy.count("/finalize-order/", "POST"), 1)
        self.assertEqual(PEBBLE.count_finalized() - finalized, 1)

    def test_tls_alpn_responder_sees_the_fetch_too(self):
        self.slow_first_poll()
        res = self.ck.run("issue", "--name", "alpn", "-d", "alpn.example.test", "--challenge",
                          "tls-alpn-01", "--tls-port", str(PEBBLE.tls_port), "--tls-address",
                          "127.0.0.1", timeout=300)
        self.assertIs(self.cert(res.stdout.strip())["key"]["linked"], True)
        self.assertEqual(self.proxy.count("/authZ/", "POST"), 1)
        self.assertEqual(self.proxy.count("/finalize-order/", "POST"), 1)

    def test_a_ca_still_deciding_is_asked_again(self):
        self.slow_first_poll()
        self.proxy.add_rule("/finalize-order/", method="POST", count=1, status=403,
                            type="orderNotReady", detail="injected: still validating")
        finalized = PEBBLE.count_finalized()
        sha = self.issue(["deciding.example.test"], "deciding").stdout.strip()
        self.assertIs(self.cert(sha)["key"]["linked"], True)
        self.assertEqual(self.proxy.count("/authZ/", "POST"), 2,
                         "after the refusal the authorization was asked for once")
        self.assertEqual(self.proxy.count("/finalize-order/", "POST"), 2)
        self.assertEqual(PEBBLE.count_finalized() - finalized, 1, "one order finalized")
        self.assertEqual([(o[2], o[3]) for o in orders(self.store, "deciding")], [("valid", 1)])

    def test_unknown_answer_to_the_early_finalize_resumes_without_a_second_one(self):
        # The finalize sent on the fetch reaches Pebble, which accepts it, but a
        # gateway answers 502: unknown, not "no".  The order stays open; the next
        # run asks for it and downloads, without a second order or finalize.
        self.slow_first_poll()
        self.proxy.add_rule("/finalize-order/", method="POST", count=1,
                            action="forward_then_error")
        finalized, placed = PEBBLE.count_finalized(), self.new_orders()
        res = self.issue(["unknown.example.test"], "unknown", check=False)
        self.assertNotEqual(res.returncode, 0, ckharness.describe(res, "502 is not an answer"))
        self.assertIn("open: the next run resumes it", res.stderr)
        self.assertEqual([o[3] for o in orders(self.store, "unknown")], [0], "left open")
        self.assertEqual(PEBBLE.count_finalized() - finalized, 1, "Pebble did finalize it")
        sha = self.issue(["unknown.example.test"], "unknown").stdout.strip()
        self.assertIs(self.cert(sha)["key"]["linked"], True)
        self.assertEqual(self.new_orders() - placed, 1, "the same order, resumed")
        self.assertEqual(PEBBLE.count_finalized() - finalized, 1, "finalized once")
        self.assertEqual(self.proxy.count("/finalize-order/", "POST"), 1)

    def test_a_proof_refused_after_the_fetch_is_named_and_the_order_closed(self):
        self.slow_first_poll()
        self.proxy.add_rule("/finalize-order/", method="POST", count=1, status=403,
                            type="orderNotReady", detail="injected: still validating")
        origin = self.proxy.directory_url.rsplit("/", 1)[0]
        self.proxy.add_rule("/authZ/", method="POST", count=1, action="respond", status=200, body={
            "status": "invalid", "expires": "2030-01-01T00:00:00Z",
            "identifier": {"type": "dns", "value": "refused.example.test"},
            "challenges": [{"type": "http-01", "url": origin + "/chalZ/injected",
                            "token": "injected", "status": "invalid",
                            "error": {"type": "urn:ietf:params:acme:error:unauthorized",
                                      "detail": "injected: the key authorization did not match"}}]})
        finalized = PEBBLE.count_finalized()
        res = self.issue(["refused.example.test"], "refused", check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "validation failure exits 1"))
        self.assertIn("validation of refused.example.test failed (http-01)", res.stderr)
        self.assertIn("did not match", res.stderr, "the CA's reason is shown")
        self.assertIn("--http-port", res.stderr, "the error says what to check")
        self.assertEqual(PEBBLE.count_finalized() - finalized, 0)
        self.assertEqual([(o[2], o[3]) for o in orders(self.store, "refused")], [("invalid", 1)],
                         "an order whose authorization failed is closed")


class TestCheckedBeforeStoring(IssueCase):
    """The server's download is checked before anything is stored: a chain
    out of order or a leaf for another key is refused, and the order and its
    key stay so that the run after a good download completes it."""

    def account_probe(self):
        der = query(self.store, "SELECT k.pkcs8_der, a.url FROM keys k JOIN accounts a ON "
                                "a.key_id = k.id")[0]
        path = os.path.join(self.dir, "account.pem")
        subprocess.run(["openssl", "pkey", "-inform", "DER", "-out", path], input=der[0],
                       check=True, capture_output=True)
        os.chmod(path, 0o600)
        return ckharness.AcmeProbe(self.proxy.directory_url, PEBBLE.ca_bundle), \
            ckharness.AcmeKey(path), der[1]

    def issued_pem(self, order_url):
        """The chain the CA issued for a finalized order, fetched directly."""
        probe, key, kid = self.account_probe()
        deadline = time.monotonic() + 60
        while True:
            status, _, order = probe.post(order_url, key, None, kid=kid)
            self.assertEqual(status, 200, order)
            if order["status"] == "valid":
                break
            self.assertLess(time.monotonic(), deadline, "order never became valid")
            time.sleep(0.2)
        status, _, pem = probe.post(order["certificate"], key, None, kid=kid)
        self.assertEqual(status, 200)
        return pem

    def refused(self, lineage, body, words):
        self.proxy.add_rule("/certZ/", method="POST", count=1, action="respond", status=200,
                            body=body,
                            headers={"Content-Type": "application/pem-certificate-chain"})
        before = query(self.store, "SELECT count(*) FROM certificates")[0][0]
        res = self.issue([lineage + ".example.test"], lineage, check=False)
        self.assertNotEqual(res.returncode, 0, ckharness.describe(res, "must be refused"))
        for w in words:
            self.assertIn(w, res.stderr, ckharness.describe(res, "the error says %r" % w))
        self.assertIn("kept for investigation", res.stderr)
        self.assertEqual(query(self.store, "SELECT count(*) FROM certificates")[0][0], before,
                         "nothing is stored")
        return res

    def test_chain_out_of_order_refused_order_kept(self):
        self.crash(["chain.example.test"], "chain", "issue.after_finalize:1")
        order = orders(self.store, "chain")[0]
        blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?",
                            self.issued_pem(order[1]), re.S)
        root = PEBBLE.mgmt_get("/roots/0")
        if isinstance(root, bytes):
            root = root.decode()
        bad = blocks[0] + root.strip() + "\n" + "".join(blocks[1:])
        self.refused("chain", bad, ["chain certificate 1 did not issue the leaf"])
        self.assertEqual([kept(o) for o in orders(self.store, "chain")], [kept(order)],
                         "the order is kept open with its key")
        self.assertIn(order[4], [r[0] for r in query(self.store, "SELECT id FROM keys")])
        # A good download later completes the same order.
        sha = self.issue(["chain.example.test"], "chain").stdout.strip()
        self.assertEqual(self.cert(sha)["origin"], order[1])

    def test_leaf_for_another_key_refused(self):
        other = self.issue(["other.example.test"], "other").stdout.strip()
        path = os.path.join(self.dir, "other-fullchain.pem")
        self.ck.run("export", other, "--no-key", "--fullchain-out", path)
        with open(path, encoding="ascii") as fp:
            other_pem = fp.read()
        self.crash(["wrongkey.example.test"], "wrongkey", "issue.after_finalize:1")
        order = orders(self.store, "wrongkey")[0]
        self.refused("wrongkey", other_pem, ["not the order's key"])
        self.assertEqual([kept(o) for o in orders(self.store, "wrongkey")], [kept(order)])


class TestAlternatesAfterCommit(IssueCase):
    """Pebble with a second root offers one alternate chain; fetching it
    must not stand between the CA's certificate and the store."""

    @classmethod
    def setUpClass(cls):
        d = tempfile.mkdtemp(prefix="altroots-", dir=TMP)
        cls.pebble = ckharness.Pebble(os.path.join(d, "pebble"),
                                      env={"PEBBLE_ALTERNATE_ROOTS": "1"})
        cls.pebble.start()

    @classmethod
    def tearDownClass(cls):
        cls.pebble.stop()

    def only_first_download(self, **rule):
        """The default chain goes through; every later /certZ/ download
        (the alternates) gets rule."""
        self.proxy.add_rule("/certZ/", method="POST", count=1, delay=0)
        self.proxy.add_rule("/certZ/", method="POST", **rule)

    def alternates(self, sha):
        return self.ck.json("show", sha, "--json")["alternate_chains"]

    def test_dropped_alternate_keeps_certificate(self):
        self.only_first_download(action="drop")
        res = self.issue(["drop.example.test"], "drop")
        sha = res.stdout.strip()
        self.assertGreaterEqual(self.proxy.count("/certZ/", "POST"), 2,
                                "the alternate was asked for")
        self.assertIs(self.cert(sha)["key"]["linked"], True)
        self.assertEqual(self.alternates(sha), 0)
        self.assertIn("alternate chains not recorded", res.stderr)
        self.proxy.clear_rules()
        sha = self.issue(["drop.example.test"], "drop").stdout.strip()
        self.assertEqual(self.alternates(sha), 1, "a later issue records the alternate")

    def test_killed_during_alternate_download_keeps_certificate(self):
        self.only_first_download(delay=60)
        argv = self.ck.argv(*self.issue_argv(["hang.example.test"], "hang"))
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while self.proxy.count("/certZ/", "POST") < 2:
                self.assertIsNone(proc.poll(), "issue ended before asking for the alternate")
                self.assertLess(time.monotonic(), deadline, "no alternate download seen")
                time.sleep(0.1)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        listed = [e for e in self.ck.json("list", "--json") if e["name"] == "hang"]
        self.assertEqual(len(listed), 1, "the certificate was stored before the alternates")
        self.assertIs(listed[0]["key"]["linked"], True)
        self.assertEqual(self.alternates(listed[0]["sha256"]), 0)
        self.assertEqual([o[3] for o in orders(self.store, "hang")], [1], "the order is closed")

    def test_crash_between_the_two_transactions(self):
        self.crash(["between.example.test"], "between", "issue.after_store:1")
        listed = [e for e in self.ck.json("list", "--json") if e["name"] == "between"]
        self.assertEqual(len(listed), 1)
        self.assertIs(listed[0]["key"]["linked"], True)
        self.assertEqual(self.alternates(listed[0]["sha256"]), 0,
                         "the alternates come in a second transaction")

    def test_alternates_recorded_when_all_goes_well(self):
        sha = self.issue(["fine.example.test"], "fine").stdout.strip()
        self.assertEqual(self.alternates(sha), 1)


if __name__ == "__main__":
    unittest.main()
