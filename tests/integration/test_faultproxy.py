"""The fault proxy (tests/faultproxy.py) itself, against a real Pebble, with
ckharness.AcmeProbe as the client (no certkeep needed): URL rewriting,
problem rules with Retry-After and a usable nonce, count-limited rules,
drop, delay, counters, the stale-account-key mode after a real keyChange,
and the standalone control API."""

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

import ckharness

PEBBLE = None
TMP = None


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-faultproxy-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


class FixedBaseServer:
    """A tiny HTTPS server that, like a server with a configured base URL,
    puts its own address in its answers whatever the Host header says."""

    def __init__(self, directory):
        import http.server
        import ssl
        import threading
        self.tls = ckharness.make_server_cert(directory, PEBBLE.tls["ca_cert"],
                                              PEBBLE.tls["ca_key"])
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                body = json.dumps({"newNonce": outer.base + "/nonce",
                                   "keyChange": outer.base + "/key-change"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Location", outer.base + "/acct/1")
                self.send_header("Link", '<%s/dir>;rel="index"' % outer.base)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.tls["cert"], self.tls["key"])
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.base = "https://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class ProxyCase(unittest.TestCase):

    def setUp(self):
        self.proxy = PEBBLE.fault_proxy()
        self.addCleanup(self.proxy.stop)
        self.ctx = PEBBLE.ssl_context()

    def fetch(self, method, url, body=None, headers=None):
        """(status, headers, body bytes) without raising on HTTP errors."""
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=15) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def probe(self):
        return ckharness.AcmeProbe(self.proxy.directory_url, PEBBLE.ca_bundle)

    def key(self, name, key_type="ec256"):
        return ckharness.AcmeKey.generate(os.path.join(TMP, "%s-%s.pem" % (
            self.id().rsplit(".", 1)[-1], name)), key_type)


class TestForwarding(ProxyCase):

    def test_directory_urls_point_at_the_proxy(self):
        status, headers, body = self.fetch("GET", self.proxy.directory_url)
        self.assertEqual(status, 200)
        directory = json.loads(body)
        upstream = PEBBLE.directory_url.rsplit("/", 1)[0]
        for field in ("newNonce", "newAccount", "newOrder", "keyChange", "revokeCert"):
            self.assertTrue(directory[field].startswith(self.proxy.base_url + "/"),
                            "%s = %s" % (field, directory[field]))
        self.assertNotIn(upstream, body.decode())
        self.assertNotIn(upstream, headers.get("Link", ""))

    def test_rewrites_a_fixed_upstream_base(self):
        # A server with a fixed base URL (unlike Pebble, which follows Host):
        # its URLs in bodies and Location/Link headers become the proxy's.
        upstream = FixedBaseServer(os.path.join(TMP, "fixed"))
        self.addCleanup(upstream.stop)
        proxy = ckharness.faultproxy().FaultProxy(upstream.base + "/dir", PEBBLE.ca_bundle,
                                                  upstream.tls["cert"], upstream.tls["key"])
        proxy.start()
        self.addCleanup(proxy.stop)
        status, headers, body = self.fetch("GET", proxy.directory_url)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["newNonce"], proxy.base_url + "/nonce")
        self.assertEqual(headers["Location"], proxy.base_url + "/acct/1")
        self.assertEqual(headers["Link"], '<%s/dir>;rel="index"' % proxy.base_url)
        self.assertNotIn(upstream.base, body.decode())

    def test_full_account_flow_through_proxy(self):
        probe = self.probe()
        status, kid, _ = probe.new_account(self.key("acct"))
        self.assertEqual(status, 201)
        self.assertTrue(kid.startswith(self.proxy.base_url + "/"), kid)

    def test_counters(self):
        probe = self.probe()
        probe.new_account(self.key("acct"))
        self.fetch("GET", self.proxy.directory_url)
        self.assertEqual(self.proxy.count("/dir", "GET"), 2)  # probe's + ours
        self.assertEqual(self.proxy.count("/nonce-plz", "HEAD"), 1)
        self.assertEqual(self.proxy.count("/sign-me-up", "POST"), 1)
        self.assertEqual(self.proxy.count("/sign-me-up", "GET"), 0)
        self.assertEqual(self.proxy.counters_dict()["POST /sign-me-up"], 1)


class TestRules(ProxyCase):

    def test_503_with_retry_after_and_usable_nonce(self):
        self.proxy.add_rule("/sign-me-up", method="POST", count=1, status=503,
                            type="serverInternal", detail="maintenance", retry_after=7)
        key = self.key("acct")
        probe = self.probe()
        status, headers, body = probe.post(probe.directory["newAccount"], key,
                                           {"termsOfServiceAgreed": True})
        self.assertEqual(status, 503)
        self.assertEqual(headers["Retry-After"], "7")
        self.assertEqual(headers["Content-Type"], "application/problem+json")
        self.assertEqual(body["type"], "urn:ietf:params:acme:error:serverInternal")
        self.assertEqual(body["detail"], "maintenance")
        nonce = headers["Replay-Nonce"]
        self.assertTrue(nonce)
        # The rule was for one request only, and the nonce it handed out is
        # accepted upstream: the very next request uses it and succeeds.
        self.assertEqual(probe.nonce, nonce)
        before_head = self.proxy.count("/nonce-plz", "HEAD")
        status, location, _ = probe.new_account(key)
        self.assertEqual(status, 201)
        self.assertEqual(self.proxy.count("/nonce-plz", "HEAD"), before_head)
        self.assertEqual(self.proxy.count("/sign-me-up", "POST"), 2)

    def test_rate_limited_429_and_http_date(self):
        date = "Wed, 21 Oct 2037 07:28:00 GMT"
        self.proxy.add_rule("/order-plz", method="POST", type="rateLimited",
                            detail="too many", retry_after=date)
        status, headers, body = self.fetch("POST", self.proxy.url("/order-plz"), b"{}",
                                           {"Content-Type": "application/jose+json"})
        self.assertEqual(status, 429)
        self.assertEqual(headers["Retry-After"], date)
        self.assertEqual(json.loads(body)["type"], "urn:ietf:params:acme:error:rateLimited")
        # Unlimited: still there.
        status, _, _ = self.fetch("POST", self.proxy.url("/order-plz"), b"{}",
                                  {"Content-Type": "application/jose+json"})
        self.assertEqual(status, 429)

    def test_bad_nonce_forever(self):
        self.proxy.add_rule("/sign-me-up", method="POST", type="badNonce", detail="nope")
        probe = self.probe()
        status, headers, body = probe.post(probe.directory["newAccount"], self.key("a"),
                                           {"termsOfServiceAgreed": True})
        self.assertEqual(status, 400)
        self.assertEqual(body["type"], "urn:ietf:params:acme:error:badNonce")
        self.assertEqual(self.proxy.count("/sign-me-up", "POST"), 5)  # the probe's bound
        self.assertTrue(all(r["action"] != "forward" for r in self.proxy.request_log()
                            if r["path"] == "/sign-me-up"), "nothing reached upstream")

    def test_method_filter(self):
        self.proxy.add_rule("/dir", method="POST", status=500, type="serverInternal")
        status, _, _ = self.fetch("GET", self.proxy.directory_url)
        self.assertEqual(status, 200)

    def test_drop(self):
        self.proxy.add_rule("/dir", count=1, action="drop")
        with self.assertRaises((urllib.error.URLError, http.client.HTTPException,
                                ConnectionError)):
            self.fetch("GET", self.proxy.directory_url)
        status, _, _ = self.fetch("GET", self.proxy.directory_url)
        self.assertEqual(status, 200)
        self.assertEqual(self.proxy.count("/dir"), 2)

    def test_delay(self):
        self.proxy.add_rule("/dir", count=1, delay=1.0)
        start = time.monotonic()
        status, _, _ = self.fetch("GET", self.proxy.directory_url)
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.monotonic() - start, 1.0)
        start = time.monotonic()
        self.fetch("GET", self.proxy.directory_url)
        self.assertLess(time.monotonic() - start, 1.0)

    def test_canned_answer(self):
        self.proxy.add_rule("/renewal-info/", method="GET", status=200,
                            body={"suggestedWindow": {"start": "2030-01-01T00:00:00Z",
                                                      "end": "2030-01-02T00:00:00Z"}},
                            retry_after=21600)
        status, headers, body = self.fetch("GET", self.proxy.url("/renewal-info/abc.def"))
        self.assertEqual(status, 200)
        self.assertEqual(headers["Retry-After"], "21600")
        self.assertIn("suggestedWindow", json.loads(body))


    def test_forward_then_error(self):
        # The keyChange reaches Pebble (which switches the key), the client
        # hears 502 from the "gateway": only asking the server again tells.
        probe = self.probe()
        old, new = self.key("old"), self.key("new")
        status, kid, _ = probe.new_account(old)
        self.assertEqual(status, 201)
        rule = self.proxy.add_rule(self.proxy.key_change_path, method="POST", count=1,
                                   action="forward_then_error")
        status, body = probe.key_change(kid, old, new)
        self.assertEqual(status, 502)
        self.assertIn("gateway error", body)
        self.assertEqual(probe.account_url(new), kid, "upstream must have switched the key")
        self.assertIsNone(probe.account_url(old))
        entry = [r for r in self.proxy.request_log() if r["path"] == self.proxy.key_change_path]
        self.assertEqual([(r["status"], r["action"]) for r in entry],
                         [(502, "rule %d (upstream 200)" % rule.id)])
        # count=1: the next keyChange is forwarded as usual
        status, body = probe.key_change(kid, new, old)
        self.assertEqual(status, 200, body)

    def test_forward_then_error_with_a_problem_document(self):
        probe = self.probe()
        self.proxy.add_rule("/sign-me-up", method="POST", count=1, status=504,
                            action="forward_then_error", type="serverInternal",
                            detail="timeout")
        key = self.key("acct")
        status, headers, body = probe.post(probe.directory["newAccount"], key,
                                           {"termsOfServiceAgreed": True})
        self.assertEqual(status, 504)
        self.assertEqual(body["type"], "urn:ietf:params:acme:error:serverInternal")
        self.assertTrue(headers["Replay-Nonce"])
        # upstream created the account although the client heard 504
        status, _, _ = probe.new_account(key, only_return_existing=True)
        self.assertEqual(status, 200)


    def test_hold_answers_after_upstream_acted(self):
        # The account exists upstream while its creator still waits for the answer.
        probe, other = self.probe(), self.probe()
        key = self.key("held")
        rule = self.proxy.add_rule("/sign-me-up", method="POST", count=1, action="hold")
        result = []
        worker = threading.Thread(target=lambda: result.append(probe.new_account(key)))
        worker.start()
        self.assertTrue(rule.holding.wait(30), "the request must reach the hold")
        self.assertIsNotNone(other.account_url(key), "upstream acted before the answer")
        self.assertEqual(result, [], "the answer must still be held")
        self.assertTrue(self.proxy.release(rule))
        worker.join(30)
        self.assertEqual(result[0][0], 201)
        self.assertIn("rule %d (held, released)" % rule.id,
                      [r["action"] for r in self.proxy.request_log()])


class TestStaleAccountKey(ProxyCase):

    def rollover(self, probe):
        old, new = self.key("old"), self.key("new", "rsa2048")
        status, kid, _ = probe.new_account(old)
        self.assertEqual(status, 201)
        status, body = probe.key_change(kid, old, new)
        self.assertEqual(status, 200, body)
        return kid, old, new

    def test_new_key_rejected_for_the_window_then_accepted(self):
        self.proxy.stale_account_key(2)
        probe = self.probe()
        kid, old, new = self.rollover(probe)
        status, headers, body = probe.post(kid, new, None, kid=kid)
        self.assertEqual(status, 401)
        self.assertEqual(body["type"], "urn:ietf:params:acme:error:unauthorized")
        self.assertEqual(body["detail"], "JWS verification error")
        self.assertTrue(headers["Replay-Nonce"])
        self.assertEqual(self.proxy.stale_rejections, 1)
        time.sleep(2.2)
        status, _, body = probe.post(kid, new, None, kid=kid)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "valid")

    def test_off_by_default(self):
        probe = self.probe()
        kid, old, new = self.rollover(probe)
        status, _, body = probe.post(kid, new, None, kid=kid)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.proxy.stale_rejections, 0)

    def test_other_accounts_unaffected(self):
        self.proxy.stale_account_key(5)
        probe = self.probe()
        self.rollover(probe)
        other = self.key("other")
        status, kid2, _ = probe.new_account(other)
        self.assertEqual(status, 201)
        status, _, body = probe.post(kid2, other, None, kid=kid2)
        self.assertEqual(status, 200, body)


class TestHarness(unittest.TestCase):
    """The parts of ckharness the proxy tests do not already exercise."""

    def test_request_counting_and_probe_lookup(self):
        before = PEBBLE.count_requests("POST", "/sign-me-up")
        probe = ckharness.AcmeProbe(PEBBLE.directory_url, PEBBLE.ca_bundle)
        key = ckharness.AcmeKey.generate(os.path.join(TMP, "harness.pem"), "ec384")
        self.assertIsNone(probe.account_url(key), "no account has this key yet")
        status, kid, _ = probe.new_account(key)
        self.assertEqual(status, 201)
        self.assertEqual(probe.account_url(key), kid)
        self.assertEqual(PEBBLE.count_requests("POST", "/sign-me-up"), before + 3)

    def test_eab_pebble(self):
        with ckharness.Pebble(os.path.join(TMP, "eab"), eab=True) as pebble:
            self.assertTrue(pebble.directory["meta"]["externalAccountRequired"])
            self.assertEqual(sorted(pebble.eab_keys), ["kid-1", "kid-2"])
            probe = ckharness.AcmeProbe(pebble.directory_url, pebble.ca_bundle)
            key = ckharness.AcmeKey.generate(os.path.join(TMP, "eab.pem"), "ec256")
            status, _, body = probe.new_account(key)
            self.assertEqual(status, 403)
            self.assertEqual(body["type"], "urn:ietf:params:acme:error:externalAccountRequired")
        self.assertIsNotNone(pebble.pebble.poll(), "Pebble is stopped on exit")
        self.assertIsNotNone(pebble.challtest.poll(), "challtestsrv is stopped on exit")


class TestDirectoryMeta(ProxyCase):

    PROFILES = {"classic": "the usual 90 days", "shortlived": "six days"}

    def directory(self):
        status, _, body = self.fetch("GET", self.proxy.directory_url)
        self.assertEqual(status, 200)
        return json.loads(body)

    def test_meta_merged_into_the_directory_and_cleared(self):
        upstream_meta = self.directory().get("meta", {})
        self.assertNotIn("profiles", upstream_meta)
        self.proxy.set_directory_meta({"profiles": self.PROFILES})
        directory = self.directory()
        self.assertEqual(directory["meta"]["profiles"], self.PROFILES)
        for k, v in upstream_meta.items():  # what upstream said is kept
            self.assertEqual(directory["meta"][k], v)
        self.assertTrue(directory["newOrder"].startswith(self.proxy.base_url + "/"))
        self.proxy.set_directory_meta({})
        self.assertNotIn("profiles", self.directory().get("meta", {}))
        self.proxy.set_directory_meta({"profiles": self.PROFILES})
        self.proxy.reset()
        self.assertNotIn("profiles", self.directory().get("meta", {}))

    def test_new_order_payload_recorded_and_profile_accepted_upstream(self):
        # Pebble 2.4 knows no profiles: it must ignore the field, not refuse
        # the order, or certkeep's profile tests could not run through it.
        probe = self.probe()
        key = self.key("acct")
        status, kid, _ = probe.new_account(key)
        self.assertEqual(status, 201)
        payload = {"identifiers": [{"type": "dns", "value": "profile.example"}],
                   "profile": "shortlived"}
        status, _, body = probe.post(probe.directory["newOrder"], key, payload, kid=kid)
        self.assertEqual(status, 201, body)
        self.assertEqual(self.proxy.jws_payloads("/order-plz"), [payload])
        self.assertEqual(self.proxy.jws_payloads("/sign-me-up"),
                         [{"termsOfServiceAgreed": True}])


class TestRenewalInfo(ProxyCase):
    """ARI (RFC 9773), which Pebble 2.4 lacks: renewalInfo in the directory,
    canned windows with Retry-After, and newOrder's "replaces" recorded."""

    def directory(self):
        status, _, body = self.fetch("GET", self.proxy.directory_url)
        self.assertEqual(status, 200)
        return json.loads(body)

    def test_directory_and_windows(self):
        fp = ckharness.faultproxy()
        self.assertNotIn("renewalInfo", self.directory())
        past, later = fp.ari_window(-3600, -60, "https://ca.test/why"), fp.ari_window(60, 120)
        self.proxy.set_renewal_info(default=later, windows={"AA.BB": past}, retry_after=21600)
        url = self.directory()["renewalInfo"]
        self.assertEqual(url, self.proxy.base_url + "/renewal-info")
        status, headers, body = self.fetch("GET", url + "/AA.BB")
        self.assertEqual((status, headers["Retry-After"], json.loads(body)), (200, "21600", past))
        status, _, body = self.fetch("GET", url + "/CC.DD")
        self.assertEqual((status, json.loads(body)), (200, later))
        self.proxy.set_renewal_info(windows={"AA.BB": past}, retry_after=fp.http_date(30))
        status, headers, _ = self.fetch("GET", url + "/CC.DD")
        self.assertEqual(status, 404)
        status, headers, _ = self.fetch("GET", url + "/AA.BB")
        self.assertRegex(headers["Retry-After"], r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} ")
        self.proxy.reset()
        self.assertNotIn("renewalInfo", self.directory())

    def test_replaces_recorded(self):
        probe = self.probe()
        key = self.key("acct")
        status, kid, _ = probe.new_account(key)
        self.assertEqual(status, 201)
        for payload in ({"identifiers": [{"type": "dns", "value": "r.example"}],
                         "replaces": "AA.BB"},
                        {"identifiers": [{"type": "dns", "value": "r.example"}]}):
            status, _, body = probe.post(probe.directory["newOrder"], key, payload, kid=kid)
            self.assertEqual(status, 201, body)  # Pebble 2.4 ignores "replaces"
        self.assertEqual(self.proxy.order_replaces(), ["AA.BB", None])


class TestStandalone(unittest.TestCase):

    def test_control_api(self):
        tls = ckharness.make_server_cert(os.path.join(TMP, "standalone"),
                                         PEBBLE.tls["ca_cert"], PEBBLE.tls["ca_key"])
        control_port = ckharness.free_port()
        proc = subprocess.Popen(
            [sys.executable, os.path.join(ckharness.TESTS_DIR, "faultproxy.py"),
             "--upstream", PEBBLE.directory_url, "--upstream-ca", PEBBLE.ca_bundle,
             "--cert", tls["cert"], "--key", tls["key"], "--listen", "127.0.0.1:0",
             "--control", "127.0.0.1:%d" % control_port],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.wait, 5)
        self.addCleanup(proc.terminate)
        first = proc.stdout.readline().split()
        self.assertEqual(first[0], "proxy", first)
        directory_url = first[1]
        control = "http://127.0.0.1:%d" % control_port

        def call(method, path, body=None):
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(control + path, data=data, method=method)
            with urllib.request.urlopen(req, timeout=5) as r:
                return json.load(r)

        for _ in range(50):
            try:
                call("GET", "/counters")
                break
            except OSError:
                time.sleep(0.1)
        rule = call("POST", "/rules", {"path": "/dir", "count": 1, "status": 503,
                                       "type": "serverInternal", "retry_after": 3})
        self.assertIn("id", rule)
        ctx = PEBBLE.ssl_context()
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(directory_url, context=ctx, timeout=5)
        self.assertEqual(cm.exception.code, 503)
        self.assertEqual(cm.exception.headers["Retry-After"], "3")
        with urllib.request.urlopen(directory_url, context=ctx, timeout=5) as r:
            self.assertEqual(r.status, 200)
        self.assertEqual(call("GET", "/counters")["GET /dir"], 2)
        self.assertEqual(call("GET", "/rules"), [])
        held = call("POST", "/rules", {"path": "/dir", "count": 1, "action": "hold"})
        got = []
        worker = threading.Thread(target=lambda: got.append(
            urllib.request.urlopen(directory_url, context=ctx, timeout=30).status))
        worker.start()
        for _ in range(100):
            if call("GET", "/counters").get("GET /dir") == 3:
                break
            time.sleep(0.05)
        self.assertEqual(got, [], "a held answer must wait for its release")
        call("POST", "/rules/%d/release" % held["id"], {})
        worker.join(30)
        self.assertEqual(got, [200])
        call("POST", "/directory-meta", {"profiles": {"classic": "90 days"}})
        with urllib.request.urlopen(directory_url, context=ctx, timeout=5) as r:
            self.assertEqual(json.load(r)["meta"]["profiles"], {"classic": "90 days"})
        self.assertEqual(call("GET", "/payloads"), [])
        call("POST", "/renewal-info", {"default": {"suggestedWindow": {
            "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}}})
        with urllib.request.urlopen(directory_url, context=ctx, timeout=5) as r:
            ari = json.load(r)["renewalInfo"]
        with urllib.request.urlopen(ari + "/X.Y", context=ctx, timeout=5) as r:
            self.assertEqual(json.load(r)["suggestedWindow"]["start"], "2026-01-01T00:00:00Z")
        self.assertEqual(call("GET", "/replaces"), [])
        call("POST", "/reset", {})
        self.assertEqual(call("GET", "/counters"), {})


if __name__ == "__main__":
    unittest.main()
