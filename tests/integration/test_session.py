"""What a process keeps between ACME exchanges (issues 12 and 14), against a
real Pebble (and, where generations matter, a real PostgreSQL started by
scripts/pg-test-server):

  - a renewal batch shares one nonce pool between its workers: a batch of
    N certificates at concurrency 8 sends at most 7 requests per
    certificate plus a small constant (Pebble's log), where it used to send
    a HEAD newNonce per worker on top of the directory;
  - the client speaks HTTP/1.1 even to a server that offers HTTP/2 (ALPN):
    HTTP/2 costs it CPU and syscalls for nothing;
  - `certkeep agent` keeps its account sessions and its ACME share across
    its renewal cycles: its second cycle fetches no directory, and after a
    rollover made by another process it drops the kept session and renews
    with the new key (no "JWS verification error").
"""

import json
import os
import signal
import subprocess
import time
import unittest

import ckharness

PG = None
PEBBLE = None
TMP = None

BATCH = 16          # certificates renewed in one batch
# newOrder, authz, challenge, finalize, order poll, certificate: 6 when the
# CA has fetched the proof by the first poll round, 7 when the authz is polled
PER_CERT = 7
# The batch's own: the directory GET and the nonces no other worker could hand on
# in time (a worker waits ACME_NONCE_WAIT_MS for one before HEAD newNonce).
# Before the pool: 1 + one HEAD per worker = 9.
BATCH_EXTRA_MAX = 5
RENEW_INTERVAL = 8  # seconds between the agent's renewal cycles


def setUpModule():
    global PG, PEBBLE, TMP
    TMP, PG, PEBBLE = ckharness.module_pg_pebble("ck-session-")


def http():
    return ("--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1")


class TestBatchRequests(unittest.TestCase):

    def test_batch_sends_at_most_seven_requests_per_certificate(self):
        store = os.path.join(TMP, "batch", "store.db")
        ck = ckharness.Certkeep(store, ca_bundle=PEBBLE.ca_bundle)
        ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")
        for i in range(BATCH):
            ck.run("issue", "-d", "b%02d.session.test" % i, *http(), timeout=300)
        log_before = len(PEBBLE.log())
        before = PEBBLE.count_requests()
        posts_before = PEBBLE.count_bad_nonce(0)
        res = ck.run("renew", "--all", "--force", "--concurrency", "8", "--json", *http(),
                     timeout=600)
        sent = PEBBLE.count_requests() - before
        out = json.loads(res.stdout)
        self.assertEqual(out["renewed"], BATCH, out)
        # newOrder and challenge once per renewal: no nonce was rejected
        self.assertLessEqual(PEBBLE.count_bad_nonce(0) - posts_before, 2 * BATCH,
                             self.breakdown(log_before))
        self.assertLessEqual(sent, BATCH * PER_CERT + BATCH_EXTRA_MAX,
                             "%d requests for %d certificates (%.3f each): %s" %
                             (sent, BATCH, sent / BATCH, self.breakdown(log_before)))

    @staticmethod
    def breakdown(since):
        """Requests in Pebble's log after offset `since`, by method and route."""
        seen = {}
        for m in ckharness.REQUEST_LINE_RE.finditer(PEBBLE.log()[since:]):
            key = "%s %s" % (m.group(1), "/".join(m.group(2).split("/")[:2]))
            seen[key] = seen.get(key, 0) + 1
        return ", ".join("%s: %d" % kv for kv in sorted(seen.items()))


class TestHttpVersion(unittest.TestCase):

    def test_client_speaks_http_1_1_to_a_server_that_offers_h2(self):
        # HTTP/2 costs the client CPU and syscalls for nothing (one request at
        # a time per handle): certkeep offers only http/1.1 in ALPN.  The proxy
        # offers h2 first and serves only connections that chose http/1.1.
        with PEBBLE.fault_proxy() as proxy:
            proxy.offer_alpn(["h2", "http/1.1"])
            store = os.path.join(TMP, "alpn", "store.db")
            ck = ckharness.Certkeep(store, ca_bundle=PEBBLE.ca_bundle)
            ck.run("account", "register", "--server", proxy.directory_url, "--agree-tos")
            ck.run("issue", "-d", "alpn.session.test", *http(), timeout=300)
            ck.run("renew", "--all", "--force", "--json", *http(), timeout=300)
            self.assertTrue(proxy.alpn_seen)
            self.assertEqual(set(proxy.alpn_seen), {"http/1.1"}, proxy.alpn_seen)


class TestAgentSessions(unittest.TestCase):

    def setUp(self):
        self.db, self.url, self.dir = ckharness.pg_test_db(self, PG, TMP)
        self.proxy = PEBBLE.fault_proxy()
        self.addCleanup(self.proxy.stop)
        fp = ckharness.faultproxy()
        # the CA says "renew now" for every certificate: every cycle renews
        self.proxy.set_renewal_info(default=fp.ari_window(-7200, -60))
        self.ck = ckharness.Certkeep(self.url, ca_bundle=PEBBLE.ca_bundle)
        self.ck.run("account", "register", "--server", self.proxy.directory_url, "--agree-tos")
        self.ck.run("issue", "-d", "agent.session.test", "--server", self.proxy.directory_url,
                    *http(), timeout=300)

    def certificates(self):
        return int(PG.psql(self.db, "SELECT count(*) FROM certificates").strip())

    def key_id(self):
        return int(PG.psql(self.db, "SELECT key_id FROM accounts").strip())

    def wait_for(self, what, pred, seconds, log):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.1)
        log.seek(0)
        self.fail("%s did not happen within %d s; agent log:\n%s" % (what, seconds, log.read()))

    def test_agent_keeps_sessions_across_cycles_and_follows_a_rollover(self):
        # Cycles RENEW_INTERVAL apart: the rollover below lands between two of
        # them, never during an order (an order in flight is not re-checked
        # between its own requests: docs/store.md).
        argv = self.ck.argv("-v", "agent", "--renew-interval", str(RENEW_INTERVAL),
                            "--heartbeat", "1", global_args=("--node", "node-s"))
        log = open(os.path.join(self.dir, "agent.log"), "w+")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            # cycle 1 renews (the CA's window is past): it reads the directory
            self.wait_for("the agent's first renewal", lambda: self.certificates() >= 2, 120,
                          log)
            dir_gets = self.proxy.count("/dir", "GET")
            self.assertGreaterEqual(dir_gets, 1)
            # cycle 2 renews again with what cycle 1 kept: no directory GET
            self.wait_for("the agent's second renewal", lambda: self.certificates() >= 3, 120,
                          log)
            self.assertEqual(self.proxy.count("/dir", "GET"), dir_gets,
                             "the agent's second cycle fetched the directory again")
            # another process rolls the account key over; the agent's next
            # renewal uses the new key
            key_before = self.key_id()
            self.ck.run("account", "rollover", "--key-type", "ec256")
            self.assertNotEqual(self.key_id(), key_before)
            self.wait_for("the agent's renewal after the rollover",
                          lambda: self.certificates() >= 4, 120, log)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        log.seek(0)
        text = log.read()
        log.close()
        self.assertEqual(proc.returncode, 0, text)
        self.assertNotIn("JWS verification error", text)
        # the kept session was dropped because its account's generation moved
        self.assertTrue("its kept session is dropped" in text or
                        "changed since this process read it" in text, text)


if __name__ == "__main__":
    unittest.main()
