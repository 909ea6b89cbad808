"""certkeep renew against a real Pebble (and the fault proxy for what Pebble
2.4 lacks: ARI, rate limits).  What a user notices: nothing due -> nothing
sent; a forced renewal gives every lineage one new, linked, current
certificate, with its own account and key type; a kill mid-batch is resumed
with exactly one finalize per lineage; a Retry-After holds a name across
runs and then lets it go; ARI's window decides (replaces set) and its
moment stays put; two runs never renew one lineage twice."""

import calendar
import concurrent.futures
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
import unittest

import ckharness
from cryptography import x509
from cryptography.hazmat.primitives import hashes

TMP = PEBBLE = SHORT = None
SHORT_LIFE = 40  # seconds: Pebble's certificateValidityPeriod for the lifetime tests


def setUpModule():
    global TMP, PEBBLE, SHORT
    TMP, PEBBLE = ckharness.module_pebble("ck-renew-")
    SHORT = ckharness.Pebble(os.path.join(TMP, "short"), name="short",
                             config={"certificateValidityPeriod": SHORT_LIFE})
    SHORT.start()


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE, SHORT)


class RenewBase(unittest.TestCase):
    """A store per test, registered on self.server() (Pebble or a proxy)."""

    def pebble(self):
        return PEBBLE

    def server(self):
        return self.pebble().directory_url

    def setUp(self):
        self.store = os.path.join(TMP, self.id().rsplit(".", 2)[-2] + "-" +
                                  self.id().rsplit(".", 1)[-1], "store.db")
        self.ck = ckharness.Certkeep(self.store, ca_bundle=self.pebble().ca_bundle)
        self.ck.run("account", "register", "--server", self.server(), "--agree-tos")

    def http(self):
        return ("--http-port", str(self.pebble().http_port), "--http-address", "127.0.0.1")

    def issue(self, name, *extra):
        self.ck.run("issue", "-d", name, *self.http(), *extra, timeout=300)

    def issue_many(self, names, ck=None):
        """One lineage per name, issued 4 at a time: each issue proves its name by
        http-01 through a webroot that a static server on the CA's http port serves
        (standalone listeners of processes side by side would fight over that port).
        The server stops before this returns; renewals then prove by --http-port."""
        ck = ck or self.ck
        webroot = os.path.join(os.path.dirname(ck.store), "webroot")
        os.makedirs(webroot, exist_ok=True)
        static = ckharness.StaticServer(webroot, self.pebble().http_port)
        try:
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                for r in pool.map(lambda n: ck.run("issue", "-d", n, "--webroot", webroot,
                                                   check=False, timeout=300), names):
                    self.assertEqual(r.returncode, 0, ckharness.describe(r, "issue"))
        finally:
            static.stop()

    def renew(self, *args, check=True, env=None):
        return self.ck.run("renew", *self.http(), *args, check=check, env=env, timeout=600)

    def renew_json(self, *args, check=True):
        r = self.renew("--json", *args, check=check)
        return json.loads(r.stdout), r

    def dry(self, *args):
        return {i["lineage"]: i for i in self.ck.json("renew", "--dry-run", "--json", *args)}

    def certs(self, lineage):
        return [c for c in self.ck.json("list", "--json") if c["name"] == lineage]

    def current(self, lineage):
        return [c for c in self.certs(lineage) if c["current"]][0]

    def sql(self, query, *params):
        db = sqlite3.connect(self.store)
        try:
            return db.execute(query, params).fetchall()
        finally:
            db.close()

    def finalizes(self):
        return self.pebble().count_finalized()

    def new_orders(self):
        return self.pebble().count_requests("POST", "/order-plz")


class TestRenew(RenewBase):

    def test_nothing_due_sends_nothing(self):
        for n in ("a.renew.test", "b.renew.test"):
            self.issue(n)
        posts, orders = self.pebble().count_requests("POST"), self.new_orders()
        dirs, total = self.pebble().count_requests("GET", "/dir"), self.pebble().count_requests()
        self.assertEqual(self.dry("--all"), {})  # only what is due is listed ...
        plan = self.dry("--all", "--show-all")   # ... every lineage with --show-all
        self.assertEqual(set(plan), {"a.renew.test", "b.renew.test"})
        self.assertEqual({i["state"] for i in plan.values()}, {"not-due"})
        for item in plan.values():  # two thirds of Pebble's 5-year lifetime, a little earlier
            self.assertIsNotNone(item["due_at"])
        r = self.renew("--all")
        self.assertIn("0 due: 0 renewed", r.stdout)
        self.assertEqual((self.pebble().count_requests("POST"), self.new_orders()),
                         (posts, orders), "a renewal with nothing due sent requests")
        # nothing but the directory was read (does the CA offer ARI?), once per run
        self.assertEqual(self.pebble().count_requests() - total, 2)
        self.assertEqual(self.pebble().count_requests("GET", "/dir") - dirs, 2)

    def test_forced_renew_gives_each_lineage_one_new_linked_certificate(self):
        names = ["f%d.renew.test" % i for i in range(5)]
        self.issue_many(names)
        old = {n: self.current(n)["sha256"] for n in names}
        finalizes = self.finalizes()
        out, r = self.renew_json("--all", "--force", "--concurrency", "3")
        self.assertEqual((out["due"], out["renewed"], out["failed"]), (5, 5, 0), out)
        self.assertNotIn("\u00b7", r.stderr, "a progress line although stderr is no terminal")
        self.assertEqual(self.finalizes() - finalizes, 5)
        for n in names:
            certs = self.certs(n)
            self.assertEqual(len(certs), 2, certs)
            cur = self.current(n)
            self.assertNotEqual(cur["sha256"], old[n])
            self.assertTrue(cur["key"]["linked"], cur)
            item = [i for i in out["lineages"] if i["lineage"] == n][0]
            self.assertEqual((item["state"], item["why"], item["new_certificate"]),
                             ("renewed", "forced", cur["sha256"]))

    def test_renewal_redeploys_the_lineages_bindings(self):
        """After a renewal the lineage's bindings serve the new certificate; a
        binding whose deploy fails is reported for its lineage and does not
        stop the others."""
        trust = self.pebble().trust_bundle(os.path.join(os.path.dirname(self.store),
                                                        "trust.pem"))
        ck = ckharness.Certkeep(self.store, ca_bundle=trust)
        self.issue("d1.renew.test")
        self.issue("d2.renew.test")
        site = os.path.join(os.path.dirname(self.store), "site")
        os.makedirs(site)
        ck.run("bind", "site", "--lineage", "d1.renew.test", "--target", "pem:" + site)
        ck.run("bind", "hook", "--lineage", "d2.renew.test", "--target", "exec:/bin/false")
        ck.run("deploy", "site")
        old = self.current("d1.renew.test")["sha256"]
        r = ck.run("renew", *self.http(), "--all", "--force", "--json", check=False,
                   timeout=600)
        out = json.loads(r.stdout)
        self.assertEqual(r.returncode, 1, "a failed redeploy must fail the run")
        self.assertEqual(out["renewed"], 2, out)
        new = self.current("d1.renew.test")["sha256"]
        self.assertNotEqual(new, old)
        with open(os.path.join(site, "cert.pem"), "rb") as fp:
            served = x509.load_pem_x509_certificate(fp.read())
        self.assertEqual(served.fingerprint(hashes.SHA256()).hex(), new)
        items = {i["lineage"]: i for i in out["lineages"]}
        self.assertIsNone(items["d1.renew.test"]["deploy_error"])
        self.assertIn("hook", items["d2.renew.test"]["deploy_error"] or "")
        # the renewal itself stood: d2's new certificate is current
        self.assertEqual(items["d2.renew.test"]["new_certificate"],
                         self.current("d2.renew.test")["sha256"])

    def test_fifty_lineages_at_concurrency_eight(self):
        names = ["c%02d.renew.test" % i for i in range(50)]
        self.issue_many(names)
        finalizes = self.finalizes()
        out, _ = self.renew_json("--all", "--force", "--concurrency", "8")
        self.assertEqual((out["renewed"], out["failed"]), (50, 0), out)
        self.assertEqual(self.finalizes() - finalizes, 50)
        rows = self.sql("SELECT l.name, count(c.id) FROM lineages l JOIN certificates c "
                        "ON c.lineage_id = l.id GROUP BY l.name")
        self.assertEqual(sorted(rows), sorted((n, 2) for n in names))

    def test_own_account_and_key_type_and_run_only_overrides(self):
        self.ck.run("account", "register", "--server", self.server(), "--agree-tos",
                    "--account", "other")
        self.issue("x.renew.test", "--account", "other", "--key-type", "ec384")
        self.issue("y.renew.test", "--key-type", "rsa2048")
        self.renew("--all", "--force")
        self.assertEqual(self.current("x.renew.test")["key"]["algorithm"], "EC P-384")
        self.assertEqual(self.current("y.renew.test")["key"]["algorithm"], "RSA 2048")
        accounts = dict(self.sql(
            "SELECT o.lineage, a.name FROM orders o JOIN accounts a ON a.id = o.account_id "
            "WHERE o.id IN (SELECT max(id) FROM orders GROUP BY lineage)"))
        self.assertEqual(accounts, {"x.renew.test": "other", "y.renew.test": "default"})
        # an override holds for that run only
        self.renew("y.renew.test", "--force", "--key-type", "ec256")
        self.assertEqual(self.current("y.renew.test")["key"]["algorithm"], "EC P-256")
        self.renew("y.renew.test", "--force")
        self.assertEqual(self.current("y.renew.test")["key"]["algorithm"], "RSA 2048")

    def test_each_lineage_proven_its_own_recorded_way(self):
        self.ck.run("issue", "-d", "alpn.renew.test", "--challenge", "tls-alpn-01",
                    "--tls-port", str(self.pebble().tls_port), "--tls-address", "127.0.0.1",
                    timeout=300)
        self.issue("http.renew.test")
        # no challenge options: tls-alpn-01 for one, http-01 on its port for the other,
        # both in flight at once
        r = self.ck.run("renew", "--all", "--force", "--json", "--concurrency", "2",
                        timeout=300)
        out = json.loads(r.stdout)
        self.assertEqual((out["renewed"], out["failed"]), (2, 0), out)
        log = self.pebble().log()
        # what Pebble tried for either name, for the message if a count is off
        tried = "\n".join(l for l in log.splitlines()
                          if "validate" in l and ("alpn.renew.test" in l or
                                                  "http.renew.test" in l))
        self.assertNotIn("http://alpn.renew.test", log, tried)  # never asked for by http-01
        self.assertEqual(log.count("validate w/ HTTP: http://http.renew.test:%d/" %
                                   self.pebble().http_port), 6, tried)  # issue + renew, 3 each

    def test_order_cap_per_server(self):
        for n in ("cap1.renew.test", "cap2.renew.test"):
            self.issue(n)
        orders = self.new_orders()
        # the two issues are orders of this server in the window: one slot is left
        out, r = self.renew_json("--all", "--force", "--concurrency", "1", "--order-cap", "3",
                                 "--order-cap-window", "3600")
        self.assertEqual(r.returncode, 0)
        states = sorted(i["state"] for i in out["lineages"])
        self.assertEqual(states, ["renewed", "waiting"], out)
        waiting = [i for i in out["lineages"] if i["state"] == "waiting"][0]
        self.assertIn("cap on new orders", waiting["wait_reason"])
        self.assertEqual(self.new_orders() - orders, 1)

    def test_failed_validation_backs_off(self):
        self.issue("v.renew.test")
        self.ck.run("revoke", "v.renew.test")  # due at once: revoked
        self.assertEqual(self.dry("v.renew.test")["v.renew.test"]["why"], "revoked")
        wrong = str(ckharness.free_port())  # nobody answers the CA's http-01 there
        r = self.ck.run("renew", "v.renew.test", "--http-port", wrong, "--http-address",
                        "127.0.0.1", "--json", check=False, timeout=300)
        self.assertEqual(r.returncode, 1, r.stderr)
        item = json.loads(r.stdout)["lineages"][0]
        self.assertEqual(item["state"], "failed")
        self.assertIn("validation", item["error"])
        orders = self.new_orders()
        out, r = self.renew_json("v.renew.test")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(out["lineages"][0]["state"], "waiting")
        self.assertIn("backoff after 1 failed attempt", out["lineages"][0]["wait_reason"])
        self.assertEqual(self.new_orders(), orders, "retried in a tight loop")
        failures, until = self.sql("SELECT failures, backoff_until FROM renewal")[0]
        self.assertEqual(failures, 1)
        self.assertGreater(until, time.time() + 60)

    def test_progress_line_on_a_terminal(self):
        self.issue("tty.renew.test")
        master, slave = os.openpty()
        try:
            r = subprocess.run(self.ck.argv("renew", "--all", "--force", *self.http()),
                               stdout=subprocess.PIPE, stderr=slave, text=True, timeout=300)
        finally:
            os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(seen.decode("utf-8", "replace"),
                         r"1/1 renewed \u00b7 0 waiting for Retry-After \u00b7 0 failed "
                         r"\u00b7 \d\d:\d\d")

    def test_usage(self):
        r = self.ck.run("renew", "--help")
        for opt in ("--all", "--show-all", "--dry-run", "--force", "--concurrency", "--json"):
            self.assertIn(opt, r.stdout)
        for args in ((), ("x", "--all"), ("--all", "--concurrency", "0"),
                     ("--all", "--concurrency", "65"), ("x", "--show-all")):
            self.assertEqual(self.ck.run("renew", *args, check=False).returncode, 2, args)
        r = self.ck.run("renew", "no-such-lineage", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no lineage is named 'no-such-lineage'", r.stderr)


class TestRenewProxy(RenewBase):
    """Through the fault proxy: ARI, Retry-After, concurrent runs."""

    def setUp(self):
        self.proxy = PEBBLE.fault_proxy()
        self.addCleanup(self.proxy.stop)
        super().setUp()

    def server(self):
        return self.proxy.directory_url

    def orders_sent(self):
        return self.proxy.count("/order-plz", "POST")

    def ari_ids(self):
        return [e["path"].rsplit("/", 1)[-1] for e in self.proxy.request_log()
                if e["path"].startswith("/renewal-info/")]

    def test_ari_window_in_the_past_is_due_now_with_replaces(self):
        fp = ckharness.faultproxy()
        self.proxy.set_renewal_info(default=fp.ari_window(-7200, -60, "https://ca.test/why"))
        self.issue("ari-past.renew.test")
        item = self.dry("--all")["ari-past.renew.test"]
        self.assertEqual((item["state"], item["why"]), ("due", "ari-window"))
        self.assertEqual(item["explanation_url"], "https://ca.test/why")
        r = self.renew("--all")
        self.assertIn("https://ca.test/why", r.stdout)
        self.assertEqual(self.proxy.order_replaces()[-1], self.ari_ids()[-1])
        self.assertRegex(self.ari_ids()[-1], r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")

    def test_ari_window_next_month_not_due_and_moment_stable(self):
        fp = ckharness.faultproxy()
        self.proxy.set_renewal_info(default=fp.ari_window(30 * 86400, 31 * 86400),
                                    retry_after=21600)
        self.issue("ari-later.renew.test")
        self.issue("ari-later2.renew.test")
        orders, asked = self.orders_sent(), len(self.ari_ids())
        first, _ = self.renew_json("--all", "--show-all")
        self.assertEqual(first["due"], 0)
        self.assertEqual(len(self.ari_ids()) - asked, 2)
        moments = {i["lineage"]: i["due_at"] for i in first["lineages"]}
        for i in first["lineages"]:
            self.assertLessEqual(i["ari_window"]["start"], i["due_at"])
            self.assertLessEqual(i["due_at"], i["ari_window"]["end"])
        # the moment is stored; Retry-After: 21600 means renewalInfo is not asked again
        self.proxy.set_renewal_info(default=fp.ari_window(40 * 86400, 41 * 86400))
        again, _ = self.renew_json("--all", "--show-all")
        self.assertEqual({i["lineage"]: i["due_at"] for i in again["lineages"]}, moments)
        self.assertEqual(len(self.ari_ids()) - asked, 2)
        self.assertEqual(self.orders_sent(), orders)
        stored = self.sql("SELECT count(*) FROM renewal WHERE ari_moment IS NOT NULL")[0][0]
        self.assertEqual(stored, 2)

    def test_renewal_info_retry_after_on_an_error_is_kept(self):
        fp = ckharness.faultproxy()
        self.proxy.set_renewal_info(default=fp.ari_window(-7200, -60))
        self.issue("arierr.renew.test")
        self.proxy.add_rule("/renewal-info/", method="GET", count=1, status=503,
                            type="serverInternal", detail="busy", retry_after=60)
        asked = self.proxy.count("/renewal-info/", "GET")
        out, _ = self.renew_json("--all", "--show-all")  # no answer: the lifetime rule decides
        self.assertEqual(out["lineages"][0]["state"], "not-due")
        self.assertEqual(self.proxy.count("/renewal-info/", "GET") - asked, 1)
        out, _ = self.renew_json("--all", "--show-all")  # a later run waits for it too
        self.assertEqual(out["lineages"][0]["state"], "not-due")
        self.assertEqual(self.proxy.count("/renewal-info/", "GET") - asked, 1)

    def test_sigterm_stops_cleanly_and_the_next_run_resumes(self):
        self.issue("term.renew.test")
        rule = self.proxy.add_rule("/finalize-order/", method="POST", count=1, action="hold",
                                   delay=120)
        finalizes = self.finalizes()
        proc = subprocess.Popen(self.ck.argv("renew", "--all", "--force", "--json",
                                             *self.http()),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(rule.holding.wait(60), "the run never reached finalize")
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)  # how systemd stops the service
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            self.proxy.release(rule)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual(proc.returncode, 1, stderr)
        self.assertEqual(json.loads(stdout)["lineages"][0]["state"], "cancelled")
        self.assertEqual(self.sql("SELECT claim_owner FROM renewal"), [(None,)])
        out, _ = self.renew_json("--all")  # not forced: the order in flight makes it due
        item = out["lineages"][0]
        self.assertEqual((item["state"], item["why"], item["resumed"]),
                         ("renewed", "order-in-flight", True))
        self.assertEqual(self.finalizes() - finalizes, 1)

    def rl_orders(self):
        return len([p for p in self.proxy.jws_payloads("/order-plz")
                    if p and p["identifiers"][0]["value"] == "rl.renew.test"])

    def test_429_retry_after_holds_the_names_across_runs(self):
        self.issue("rl.renew.test")
        self.issue("free.renew.test")
        issued = self.rl_orders()
        self.proxy.add_rule("/order-plz", method="POST", count=1, type="rateLimited",
                            detail="too many certificates", retry_after=30)
        out, r = self.renew_json("rl.renew.test", "--force")
        self.assertEqual(r.returncode, 0)
        item = out["lineages"][0]
        self.assertEqual(item["state"], "waiting")
        self.assertIn("too many certificates", item["wait_reason"])
        posts = self.proxy.count("", "POST")
        time.sleep(1)
        out, _ = self.renew_json("--all", "--force")
        states = {i["lineage"]: i["state"] for i in out["lineages"]}
        self.assertEqual(states, {"rl.renew.test": "waiting", "free.renew.test": "renewed"})
        self.assertEqual(self.rl_orders() - issued, 1,
                         "an order was sent for a name under Retry-After")
        self.assertGreater(self.proxy.count("", "POST"), posts)

    def test_retry_after_as_http_date_then_renews(self):
        fp = ckharness.faultproxy()
        self.issue("date.renew.test")
        # The date must still be ahead when the second run starts: two runs
        # took over 3 s with the machine loaded (run-tests -j), so 10 s.
        self.proxy.add_rule("/order-plz", method="POST", count=1, status=429,
                            type="rateLimited", retry_after=fp.http_date(10))
        out, _ = self.renew_json("--all", "--force")
        self.assertEqual(out["lineages"][0]["state"], "waiting")
        until = out["lineages"][0]["wait_until"]
        orders = self.orders_sent()
        self.renew("--all", "--force")
        self.assertEqual(self.orders_sent(), orders)
        # then, once the date has passed (kept to the second), it renews
        left = calendar.timegm(time.strptime(until, "%Y-%m-%dT%H:%M:%SZ")) - time.time()
        time.sleep(max(0.0, left) + 1.1)
        out, _ = self.renew_json("--all", "--force")
        self.assertEqual(out["lineages"][0]["state"], "renewed", (until, out))

    def test_503_retry_after_holds_the_whole_server(self):
        self.issue("s1.renew.test")
        self.issue("s2.renew.test")
        self.proxy.add_rule("/order-plz", method="POST", count=1, status=503,
                            type="serverInternal", detail="maintenance", retry_after=20)
        out, _ = self.renew_json("s1.renew.test", "--force")
        self.assertEqual(out["lineages"][0]["state"], "waiting")
        orders = self.orders_sent()
        out, _ = self.renew_json("--all", "--force")
        self.assertEqual({i["state"] for i in out["lineages"]}, {"waiting"})
        self.assertEqual(self.orders_sent(), orders)

    def test_two_runs_never_renew_one_lineage_twice(self):
        finalizes = self.finalizes()
        self.issue("claim.renew.test")
        rule = self.proxy.add_rule("/finalize-order/", method="POST", count=1, action="hold",
                                   delay=120)
        first = subprocess.Popen(self.ck.argv("renew", "claim.renew.test", "--force", "--json",
                                              *self.http()),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(rule.holding.wait(60), "the first run never reached finalize")
            out, r = self.renew_json("claim.renew.test", "--force")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(out["lineages"][0]["state"], "claimed")
            self.assertIn("is being renewed by", out["lineages"][0]["error"])
        finally:
            self.proxy.release(rule)
            stdout, stderr = first.communicate(timeout=120)
        self.assertEqual(first.returncode, 0, stderr)
        self.assertEqual(json.loads(stdout)["renewed"], 1)
        self.assertEqual(self.finalizes() - finalizes, 1 + 1)  # issue + renew
        self.assertEqual(len(self.certs("claim.renew.test")), 2)


class TestRenewShortLived(RenewBase):
    """Pebble issuing 40-second certificates: due at half the lifetime.

    One store for the class, and the batch test's lineages are issued when its
    first test starts: they become due while test_due_at_half_the_lifetime
    waits for its own, so the half lifetime is waited once, not once per test
    (in either order: a test that finds its lineages not due yet waits)."""

    FAULT = ["k%d.renew.test" % i for i in range(4)]
    KILLED = ["r%d.renew.test" % i for i in range(4)]
    shared = None  # (store, Certkeep) of the class

    def pebble(self):
        return SHORT

    def setUp(self):
        cls = type(self)
        if cls.shared is None:
            super().setUp()
            self.issue_many(self.FAULT + self.KILLED)
            cls.shared = (self.store, self.ck)
        self.store, self.ck = cls.shared

    def wait_due(self, names, limit=SHORT_LIFE):
        deadline = time.time() + limit
        while time.time() < deadline:
            plan = self.dry(*names)
            if all(plan[n]["state"] == "due" for n in names):
                return plan
            time.sleep(1)
        self.fail("not due after %d s: %s" % (limit, plan))

    def test_due_at_half_the_lifetime(self):
        self.issue("half.renew.test")
        item = self.dry("half.renew.test")["half.renew.test"]
        self.assertEqual(item["state"], "not-due")
        cert = self.current("half.renew.test")
        nb = time.mktime(time.strptime(cert["not_before"], "%Y-%m-%dT%H:%M:%SZ"))
        due = time.mktime(time.strptime(item["due_at"], "%Y-%m-%dT%H:%M:%SZ"))
        self.assertTrue(nb + SHORT_LIFE / 2 - 3 <= due <= nb + SHORT_LIFE / 2, (nb, due))
        self.wait_due(["half.renew.test"])
        out, _ = self.renew_json("half.renew.test")
        self.assertEqual((out["lineages"][0]["state"], out["lineages"][0]["why"]),
                         ("renewed", "lifetime"))

    def test_killed_during_a_batch_resumes_without_duplicates(self):
        fault, killed = self.FAULT, self.KILLED
        self.wait_due(fault + killed)
        # a fault point: the process dies right after the second finalize
        finalizes = self.finalizes()
        env = dict(os.environ, CERTKEEP_FAULT="issue.after_finalize:2")
        r = self.renew(*fault, "--concurrency", "1", check=False, env=env)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("fault point issue.after_finalize reached", r.stderr)
        out, _ = self.renew_json(*fault)
        states = {i["lineage"]: (i["state"], i["resumed"]) for i in out["lineages"]}
        self.assertEqual(states[fault[0]], ("not-due", False))
        self.assertEqual(states[fault[1]], ("renewed", True))
        self.assertEqual(self.finalizes() - finalizes, 4, "one finalize per lineage")
        # a SIGKILL at a random moment of a concurrent batch
        finalizes = self.finalizes()
        proc = subprocess.Popen(self.ck.argv("renew", *killed, "--concurrency", "2",
                                             *self.http()),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(0.2, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        out, _ = self.renew_json(*killed)
        self.assertEqual(out["failed"], 0, out)
        self.assertEqual(self.finalizes() - finalizes, 4, "one finalize per lineage")
        for n in fault + killed:
            self.assertEqual(len(self.certs(n)), 2, n)
            self.assertTrue(self.current(n)["key"]["linked"])


class TestSystemdUnits(unittest.TestCase):

    def test_meson_install_installs_units_that_verify(self):
        binary = os.path.abspath(ckharness.certkeep_bin())
        build = os.path.dirname(os.path.dirname(os.path.dirname(binary)))
        dest = os.path.join(TMP, "destdir")
        # --no-rebuild: the modules beside this one (run-tests -j) run the
        # build's binary; a rebuild here would relink it under them
        r = subprocess.run(["meson", "install", "-C", build, "--destdir", dest, "--quiet",
                            "--no-rebuild"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        found = {}
        for top, _, files in os.walk(dest):
            for f in files:
                if f.startswith("certkeep-renew.") or f.startswith("certkeep-agent."):
                    found[f] = os.path.join(top, f)
        self.assertEqual(sorted(found), ["certkeep-agent.service", "certkeep-renew.service",
                                         "certkeep-renew.timer"])
        service = open(found["certkeep-renew.service"]).read()
        for want in ("ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
                     "ReadWritePaths=/var/lib/certkeep -/etc/certkeep/deploy", "renew --all"):
            self.assertIn(want, service)
        self.assertNotIn("@BINDIR@", service)
        agent = open(found["certkeep-agent.service"]).read()
        for want in ("ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
                     "ReadWritePaths=/var/lib/certkeep -/etc/certkeep/deploy",
                     "certkeep agent", "KillSignal=SIGTERM", "Restart=on-failure"):
            self.assertIn(want, agent)
        self.assertNotIn("@BINDIR@", agent)
        self.assertIn("RandomizedDelaySec=", open(found["certkeep-renew.timer"]).read())
        # verify wants ExecStart's binary where the unit says: the installed one
        # lives under the destdir, so point a copy at it
        check = os.path.join(TMP, "units")
        os.makedirs(check, exist_ok=True)
        installed = [os.path.join(top, f) for top, _, files in os.walk(dest) for f in files
                     if f == "certkeep" and os.access(os.path.join(top, f), os.X_OK)][0]
        for name, path in found.items():
            with open(path) as fp:
                body = fp.read()
            exec_path = [w for w in body.split() if w.startswith("ExecStart=")]
            if exec_path:
                body = body.replace(exec_path[0], "ExecStart=" + installed)
            with open(os.path.join(check, name), "w") as fp:
                fp.write(body)
        # --man=no: certkeep(1) is installed under the destdir, not where man looks
        r = subprocess.run(["systemd-analyze", "verify", "--man=no"] +
                           [os.path.join(check, n) for n in sorted(found)],
                           capture_output=True, text=True,
                           env=dict(os.environ, SYSTEMD_LOG_LEVEL="notice"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((r.stdout + r.stderr).strip(), "")


if __name__ == "__main__":
    unittest.main()
