"""A silent PostgreSQL server never hangs a node (issue 12).  A real
PostgreSQL started for the module, reached through a small TCP proxy of this
module's own that can go silent: it keeps every connection open and forwards
nothing more (a black-holed network, a stopped postgres, a proxy that
accepts and never answers), and closes the server's side when the client
closes its own.  A statement against it fails within the store deadline
(CERTKEEP_STORE_TIMEOUT, short here) with a message naming the server and
the wait, and the store is intact; a connection attempt fails within the
connect deadline; an agent waiting on it notices, and stops on SIGTERM
within seconds, and so does a renew --all whose server goes silent
mid-batch, leaving nothing half-written.  Bounds are generous: the machine
is loaded."""

import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest
import urllib.parse

import ckharness
from test_pg_store import self_signed

PG = None
PEBBLE = None
TMP = None
RENEWED = ["r%d.silent.test" % i for i in range(4)]


def setUpModule():
    global PG, PEBBLE, TMP
    TMP, PG, PEBBLE = ckharness.module_pg_pebble("ck-pgsilent-")


class SilentProxy:
    """Forwards 127.0.0.1:port to target until it goes silent: silence() now,
    or silence_on(b"...") when a client packet holds those bytes (that packet
    is not forwarded either).  accept_only=True: silent from the start, with
    no connection to the target at all.  A client that closes gets the
    server's side closed too, so the server ends its session."""

    def __init__(self, target, accept_only=False):
        self.target = target
        self.accept_only = accept_only
        self.silent = threading.Event()
        self.trigger = None
        self.lock = threading.Lock()
        self.socks = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def silence(self):
        self.silent.set()

    def silence_on(self, pattern):
        self.trigger = pattern

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            up = None
            if not self.accept_only:
                try:
                    up = socket.create_connection(self.target, timeout=10)
                    up.settimeout(None)
                except OSError:
                    client.close()
                    continue
            with self.lock:
                self.socks += [s for s in (client, up) if s is not None]
            threading.Thread(target=self._pump, args=(client, up, True), daemon=True).start()
            if up is not None:
                threading.Thread(target=self._pump, args=(up, client, False),
                                 daemon=True).start()

    def _pump(self, src, dst, from_client):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_client and self.trigger and self.trigger in data:
                    self.silent.set()
                if not self.silent.is_set() and dst is not None:
                    dst.sendall(data)
        except OSError:
            pass
        if from_client and dst is not None:
            self._close(dst)

    @staticmethod
    def _close(s):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def stop(self):
        self.sock.close()
        with self.lock:
            for s in self.socks:
                self._close(s)


class TestSilentServer(unittest.TestCase):

    def setUp(self):
        self.db, self.url, self.dir = ckharness.pg_test_db(self, PG, TMP)
        self.ck = ckharness.Certkeep(self.url)
        self.proxy = None

    def tearDown(self):
        if self.proxy is not None:
            self.proxy.stop()

    def through_proxy(self, accept_only=False, query=""):
        """A proxy to the module's server, and the store URL through it."""
        u = urllib.parse.urlsplit(self.url)
        self.proxy = SilentProxy((u.hostname, u.port), accept_only=accept_only)
        netloc = "%s127.0.0.1:%d" % (u.netloc.rsplit("@", 1)[0] + "@" if "@" in u.netloc
                                     else "", self.proxy.port)
        return urllib.parse.urlunsplit((u.scheme, netloc, u.path, query, ""))

    def listed(self):
        return sorted(c["sha256"] for c in self.ck.json("list", "--json"))

    def start_agent(self, store, env, *extra):
        argv = self.ck.argv("agent", "--no-renew", *extra, store=store,
                            global_args=("--node", "silent"))
        log = open(os.path.join(self.dir, "agent.log"), "w+")
        full = dict(os.environ)
        full.update(env)
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=full)
        self.addCleanup(log.close)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        return proc, log

    @staticmethod
    def read(log):
        log.seek(0)
        return log.read()

    def wait_for(self, what, pred, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.1)
        self.fail("%s did not happen within %d s" % (what, seconds))

    def test_statement_on_silent_server_fails_within_deadline(self):
        self.ck.run("import", self_signed(self.dir, "first"))
        before = self.listed()
        cases = (
            (b"INSERT", "nothing this transaction did was committed"),
            (b"COMMIT", "outcome is unknown"),
        )
        for pattern, outcome in cases:
            with self.subTest(silent_on=pattern):
                store = self.through_proxy()
                self.proxy.silence_on(pattern)
                bundle = self_signed(self.dir, "second-" + pattern.decode().lower())
                res = self.ck.run("import", bundle, store=store, check=False, timeout=60,
                                  env={"CERTKEEP_STORE_TIMEOUT": "2"})
                self.assertNotEqual(res.returncode, 0, ckharness.describe(res, "must fail"))
                self.assertIn("PostgreSQL at 127.0.0.1:%d did not answer within" %
                              self.proxy.port, res.stderr)
                self.assertIn(outcome, res.stderr)
                self.proxy.stop()
                self.proxy = None
                # withheld, so never committed: the store is as it was, and
                # the server ended the session when the proxy closed it
                self.assertEqual(self.listed(), before)
        self.ck.run("import", self_signed(self.dir, "third"), timeout=60)
        self.assertEqual(len(self.listed()), 2)
        res = self.ck.run("doctor", "--json", check=False)
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "doctor must be clean"))

    def test_connect_to_silent_endpoint_fails_within_deadline(self):
        self.ck.run("import", self_signed(self.dir, "first"))
        store = self.through_proxy(accept_only=True)
        res = self.ck.run("list", store=store, check=False, timeout=60,
                          env={"CERTKEEP_STORE_TIMEOUT": "2"})
        self.assertNotEqual(res.returncode, 0, ckharness.describe(res, "must fail"))
        self.assertIn("cannot connect to the PostgreSQL store: PostgreSQL at 127.0.0.1:%d "
                      "did not answer within 2 s (connecting)" % self.proxy.port, res.stderr)
        # libpq's own connect_timeout in the URL is honoured as the connect deadline
        res = self.ck.run("list", store=store + "?connect_timeout=3", check=False, timeout=60)
        self.assertNotEqual(res.returncode, 0, ckharness.describe(res, "must fail"))
        self.assertIn("did not answer within 3 s (connecting)", res.stderr)
        res = self.ck.run("list", check=False, env={"CERTKEEP_STORE_TIMEOUT": "soon"})
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("CERTKEEP_STORE_TIMEOUT must be a number of seconds", res.stderr)

    def test_each_host_of_a_url_has_its_own_connect_deadline(self):
        self.ck.run("import", self_signed(self.dir, "first"))
        u = urllib.parse.urlsplit(self.url)
        user = u.netloc.rsplit("@", 1)[0] + "@" if "@" in u.netloc else ""
        silent = [SilentProxy((u.hostname, u.port), accept_only=True) for _ in range(2)]
        for p in silent:
            self.addCleanup(p.stop)

        def url(*ports):
            return "%s://%s%s%s?connect_timeout=2" % (
                u.scheme, user, ",".join("127.0.0.1:%d" % p for p in ports), u.path)
        # the first host is silent: after its 2 s, the second one (libpq's
        # connect_timeout counts per host; before, the 2 s were spent on the
        # first and the store could not be opened)
        start = time.monotonic()
        res = self.ck.run("list", "--json", store=url(silent[0].port, u.port), timeout=60,
                          check=False)
        took = time.monotonic() - start
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "the second host answers"))
        self.assertEqual(len(json.loads(res.stdout)), 1)
        self.assertGreaterEqual(took, 1.9)
        # both silent: each waited for in turn, both named
        start = time.monotonic()
        res = self.ck.run("list", store=url(silent[0].port, silent[1].port), timeout=60,
                          check=False)
        took = time.monotonic() - start
        self.assertNotEqual(res.returncode, 0, ckharness.describe(res, "must fail"))
        self.assertIn("none of the 2 hosts answered, each tried under its own deadline",
                      res.stderr)
        for p in silent:
            self.assertIn("PostgreSQL at 127.0.0.1:%d did not answer within 2 s (connecting)"
                          % p.port, res.stderr)
        self.assertGreaterEqual(took, 3.9, res.stderr)

    def test_agent_on_silent_server_stops_on_sigterm(self):
        self.ck.run("import", self_signed(self.dir, "first"))
        store = self.through_proxy()
        # the default deadline (30 s): only the signal can end the wait in time
        proc, log = self.start_agent(store, {}, "--heartbeat", "1")
        self.wait_for("the agent's start", lambda: "started" in self.read(log), 30)
        time.sleep(1)
        self.proxy.silence()
        time.sleep(3)  # the heartbeat (every 1 s) and the next round now wait on it
        self.assertIsNone(proc.poll(), self.read(log))
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("the agent did not stop within 15 s of SIGTERM:\n" + self.read(log))
        self.assertEqual(proc.returncode, 0, self.read(log))
        self.assertIn("stopped (signal)", self.read(log))

    def test_idle_agent_notices_silent_server(self):
        self.ck.run("import", self_signed(self.dir, "first"))
        store = self.through_proxy()
        proc, log = self.start_agent(store, {"CERTKEEP_STORE_TIMEOUT": "2"},
                                     "--heartbeat", "60")
        self.wait_for("the agent's start", lambda: "started" in self.read(log), 30)
        self.proxy.silence()
        self.wait_for("the agent noticing the silent server",
                      lambda: "did not answer within" in self.read(log), 30)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        self.assertEqual(proc.returncode, 0, self.read(log))

    def test_renew_on_silent_server_stops_on_sigterm(self):
        ck = ckharness.Certkeep(self.url, ca_bundle=PEBBLE.ca_bundle)
        http = ("--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1")
        ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")
        for name in RENEWED:
            ck.run("issue", "-d", name, *http, timeout=300)
        before = {c["sha256"] for c in ck.json("list", "--json")}
        store = self.through_proxy()
        # silent from the first statement that names the third lineage (its
        # claim): two renewals are then in flight or done, two not started
        self.proxy.silence_on(RENEWED[2].encode())
        log = open(os.path.join(self.dir, "renew.log"), "w+")
        self.addCleanup(log.close)
        proc = subprocess.Popen(ck.argv("renew", "--all", "--force", "--concurrency", "2",
                                        *http, store=store),
                                stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        self.wait_for("the server going silent mid-batch",
                      lambda: self.proxy.silent.is_set() or proc.poll() is not None, 120)
        self.assertTrue(self.proxy.silent.is_set(), self.read(log))
        time.sleep(3)  # the default deadline (30 s): only the signal can end the wait in time
        self.assertIsNone(proc.poll(), self.read(log))
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("renew did not stop within 15 s of SIGTERM:\n" + self.read(log))
        took = time.monotonic() - start
        out = self.read(log)
        self.assertNotEqual(proc.returncode, 0, out)
        self.assertIn("on request (a signal)", out)
        self.assertLess(took, 10, out)
        self.proxy.stop()
        self.proxy = None
        # nothing half-written: every lineage has one current, linked
        # certificate, old or new; no certificate lost; doctor is clean
        listed = ck.json("list", "--json")
        self.assertLessEqual(before, {c["sha256"] for c in listed})
        for name in RENEWED:
            current = [c for c in listed if c["name"] == name and c["current"]]
            self.assertEqual(len(current), 1, listed)
        res = ck.run("doctor", "--json", check=False)
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "doctor must be clean"))


if __name__ == "__main__":
    unittest.main()
