"""Challenge types other than the http-01 listener, validated for real by
Pebble (never PEBBLE_VA_ALWAYS_VALID), everything on 127.0.0.1:

- tls-alpn-01 (RFC 8737) on Pebble's tlsPort: issuance, an IP certificate
  (the reverse-DNS SNI of RFC 8738), the handshake refused for a wrong
  ALPN or SNI, and a later issue without flags repeating the recorded
  method;
- http-01 by webroot behind a real static server (python3 -m http.server
  on Pebble's httpPort), its files gone afterwards; a planted symlink
  refused with nothing written outside;
- SIGINT while the server validates: files removed, listener closed,
  non-zero exit with a message;
- a port in use and a wildcard without dns-01: clear errors, the wildcard
  before any order.
"""

import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import unittest

import ckharness

PEBBLE = TMP = None


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-challenges-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


def tree(path):
    """Every path below path (relative), sorted."""
    out = []
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(root, n), path))
    return sorted(out)


def port_bindable(port):
    """True if nothing listens on port (SO_REUSEADDR, as a server binds it:
    connections in TIME_WAIT from earlier handshakes do not count)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


class ChallengeCase(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.id().rsplit(".", 1)[-1] + "-", dir=TMP)
        self.ck = ckharness.Certkeep(os.path.join(self.dir, "store.db"),
                                     ca_bundle=PEBBLE.ca_bundle)
        self.ck.run("account", "register", "--server", self.server_url(), "--agree-tos")

    def server_url(self):
        return PEBBLE.directory_url

    def tls_args(self):
        return ("--challenge", "tls-alpn-01", "--tls-port", str(PEBBLE.tls_port),
                "--tls-address", "127.0.0.1")

    def show(self, ref):
        return self.ck.json("show", ref, "--json")


class TestTlsAlpn(ChallengeCase):

    def test_issue_records_and_repeats_the_method(self):
        # The account's key is the test's, so that it can make the CA forget
        # the first issue's authorization: Pebble reuses a valid one about
        # once in 100 orders even at PEBBLE_AUTHZREUSE=0, and the repeat
        # would then prove nothing.
        store = os.path.join(self.dir, "own-key", "store.db")
        key = ckharness.AcmeKey.generate(os.path.join(self.dir, "account.pem"))
        self.ck = ckharness.Certkeep(store, ca_bundle=PEBBLE.ca_bundle)
        self.ck.run("account", "register", "--server", self.server_url(), "--agree-tos",
                    "--key-file", key.path)
        probe = ckharness.AcmeProbe(self.server_url(), PEBBLE.ca_bundle)
        kid = probe.account_url(key)
        before = PEBBLE.log().count("Attempting to validate w/ HTTP")
        self.ck.run("issue", "-d", "alpn.example.test", *self.tls_args(), timeout=300)
        shown = self.show("alpn.example.test")
        self.assertEqual(shown["sans"], ["alpn.example.test"])
        self.assertEqual(shown["challenge"], {"type": "tls-alpn-01", "tls_port": PEBBLE.tls_port,
                                              "tls_address": "127.0.0.1"})
        text = self.ck.run("show", "alpn.example.test").stdout
        self.assertIn("tls-alpn-01 listener on 127.0.0.1 port %d" % PEBBLE.tls_port, text)
        # A renewal-style issue with no challenge options: nothing listens on
        # Pebble's httpPort, so only the recorded tls-alpn-01 can succeed.
        first = shown["sha256"]
        orders = [u for (u,) in sqlite3.connect(store).execute(
            "SELECT url FROM orders WHERE url IS NOT NULL")]
        self.assertEqual(len(orders), 1, orders)
        forgotten = probe.deactivate_authorizations(orders[0], key, kid)
        self.assertEqual(len(forgotten), 1)
        self.ck.run("issue", "-d", "alpn.example.test", timeout=300)
        second = self.show("alpn.example.test")
        self.assertNotEqual(second["sha256"], first)
        self.assertEqual(second["challenge"]["type"], "tls-alpn-01")
        self.assertEqual(PEBBLE.log().count("Attempting to validate w/ HTTP"), before)
        orders = [u for (u,) in sqlite3.connect(store).execute(
            "SELECT url FROM orders WHERE url IS NOT NULL ORDER BY id")]
        # The repeat's authorization is a new one, validated by tls-alpn-01
        # (Pebble shows a valid authorization with the challenge that won it).
        proven = [(u, sorted(c["type"] for c in a["challenges"] if c["status"] == "valid"))
                  for u, a in probe.authorizations(orders[-1], key, kid)]
        self.assertEqual(len(proven), 1, proven)
        self.assertNotIn(proven[0][0], forgotten)
        self.assertEqual(proven[0][1], ["tls-alpn-01"])

    def test_one_listener_serves_every_name(self):
        # Three authorizations validated at once through one listener, each
        # name answered with its own certificate by its SNI.
        names = ["m1.example.test", "m2.example.test", "m3.example.test"]
        args = []
        for n in names:
            args += ["-d", n]
        self.ck.run("issue", *args, *self.tls_args(), timeout=300)
        self.assertEqual(sorted(self.show("m1.example.test")["sans"]), names)

    def test_ip_certificate_by_reverse_dns_sni(self):
        self.ck.run("issue", "-d", "127.0.0.1", "--name", "loopback-ip", *self.tls_args(),
                    timeout=300)
        shown = self.show("loopback-ip")
        self.assertEqual(shown["sans"], ["127.0.0.1"])

    def test_port_in_use_names_port_and_option(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        try:
            res = self.ck.run("issue", "-d", "busy.example.test", "--challenge", "tls-alpn-01",
                              "--tls-port", str(port), "--tls-address", "127.0.0.1",
                              check=False, timeout=300)
        finally:
            s.close()
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("port %d" % port, res.stderr)
        self.assertIn("in use", res.stderr)
        self.assertIn("--tls-port", res.stderr)


class TestTlsAlpnHandshake(ChallengeCase):
    """The responder's handshake, probed while Pebble validates: the fault
    proxy holds the answer to the challenge POST, so certkeep's listener
    stays up with the challenge registered."""

    def server_url(self):
        if not hasattr(self, "proxy"):
            self.proxy = PEBBLE.fault_proxy()
            self.addCleanup(self.proxy.stop)
        return self.proxy.directory_url

    def handshake(self, port, sni, alpn):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if alpn is not None:
            ctx.set_alpn_protocols([alpn])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=sni) as tls:
                return tls.selected_alpn_protocol(), tls.getpeercert(binary_form=True)

    def test_wrong_alpn_and_sni_refused(self):
        port = PEBBLE.tls_port  # where Pebble validates
        rule = self.proxy.add_rule("/chalZ/", method="POST", count=1, action="hold", delay=60)
        proc = subprocess.Popen(
            self.ck.argv("issue", "-d", "hs.example.test", "--challenge", "tls-alpn-01",
                         "--tls-port", str(port), "--tls-address", "127.0.0.1"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(rule.holding.wait(120), "the challenge was never answered")
            proto, der = self.handshake(port, "hs.example.test", "acme-tls/1")
            self.assertEqual(proto, "acme-tls/1")
            pem = os.path.join(self.dir, "alpn.pem")
            with open(pem, "w") as fp:
                fp.write(ssl.DER_cert_to_PEM_cert(der))
            text = subprocess.run(["openssl", "x509", "-in", pem, "-noout", "-text"],
                                  capture_output=True, text=True, check=True).stdout
            self.assertIn("DNS:hs.example.test", text)
            self.assertRegex(text, r"1\.3\.6\.1\.5\.5\.7\.1\.31: critical")
            with self.assertRaises(ssl.SSLError):
                self.handshake(port, "hs.example.test", "http/1.1")
            with self.assertRaises(ssl.SSLError):
                self.handshake(port, "hs.example.test", None)
            with self.assertRaises(ssl.SSLError):
                self.handshake(port, "other.example.test", "acme-tls/1")
        finally:
            self.proxy.release(rule)
            out, err = proc.communicate(timeout=300)
        self.assertEqual(proc.returncode, 0, err)
        self.assertTrue(port_bindable(port), "the tls-alpn-01 listener is still open")


StaticServer = ckharness.StaticServer


class TestWebroot(ChallengeCase):

    def test_issue_behind_static_server_leaves_nothing(self):
        webroot = os.path.join(self.dir, "www")
        os.mkdir(webroot)
        with open(os.path.join(webroot, "index.html"), "w") as fp:
            fp.write("site\n")
        server = StaticServer(webroot, PEBBLE.http_port)
        self.addCleanup(server.stop)
        before = PEBBLE.log().count("Attempting to validate w/ HTTP")
        # Given relative, recorded absolute: a renewal runs from anywhere.
        res = subprocess.run(self.ck.argv("issue", "-d", "webroot.example.test", "--webroot",
                                          "www"), cwd=self.dir, capture_output=True, text=True,
                             timeout=300)
        self.assertEqual(res.returncode, 0, res.stderr)
        # Pebble fetched the file from the static server (3 fetches each).
        self.assertGreaterEqual(PEBBLE.log().count("Attempting to validate w/ HTTP"),
                                before + 1)
        self.assertEqual(tree(webroot), ["index.html"])
        shown = self.show("webroot.example.test")
        self.assertEqual(shown["challenge"], {"webroot": webroot})

    def test_planted_symlink_refused_nothing_written_outside(self):
        webroot = os.path.join(self.dir, "www")
        elsewhere = os.path.join(self.dir, "elsewhere")
        os.mkdir(webroot)
        os.mkdir(elsewhere)
        os.symlink(elsewhere, os.path.join(webroot, ".well-known"))
        res = self.ck.run("issue", "-d", "planted.example.test", "--webroot", webroot,
                          check=False, timeout=300)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("symbolic link", res.stderr)
        self.assertEqual(tree(elsewhere), [])
        self.assertEqual(tree(webroot), [".well-known"])

    def test_webroot_that_is_a_file_refused(self):
        path = os.path.join(self.dir, "file")
        open(path, "w").close()
        res = self.ck.run("issue", "-d", "file.example.test", "--webroot", path,
                          check=False, timeout=300)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("not a directory", res.stderr)


class TestCancel(ChallengeCase):
    """SIGINT while the server validates (the fault proxy holds the answer to
    the first challenge POST): every file and listener is gone, the exit
    status says it failed, and the message says why."""

    def server_url(self):
        if not hasattr(self, "proxy"):
            self.proxy = PEBBLE.fault_proxy()
            self.addCleanup(self.proxy.stop)
        return self.proxy.directory_url

    def test_sigint_cleans_webroot_and_listener(self):
        webroot = os.path.join(self.dir, "www")
        os.mkdir(webroot)
        port = PEBBLE.tls_port
        rule = self.proxy.add_rule("/chalZ/", method="POST", count=1, action="hold", delay=60)
        self.addCleanup(self.proxy.release, rule)
        proc = subprocess.Popen(
            self.ck.argv("issue", "-d", "files.example.test", "--webroot", webroot,
                         "-d", "tls.example.test:tls-alpn-01", "--tls-port", str(port),
                         "--tls-address", "127.0.0.1"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(rule.holding.wait(120), "the challenge was never answered")
            files = tree(webroot)
            self.assertEqual(len(files), 3, files)  # .well-known, acme-challenge, TOKEN
            self.assertFalse(port_bindable(port), "the tls-alpn-01 listener is not up")
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 1, err)  # not 134: no leak, no abort
        self.assertIn("stopped on request", err)
        self.assertEqual(tree(webroot), [])
        self.assertTrue(port_bindable(port), "the tls-alpn-01 listener is still open")


class TestWildcard(ChallengeCase):

    def test_wildcard_without_dns01_refused_before_any_order(self):
        before = PEBBLE.count_requests("POST", "/order-plz")
        for extra in ((), ("--challenge", "tls-alpn-01")):
            res = self.ck.run("issue", "-d", "*.wild.example.test", *extra, check=False)
            self.assertNotEqual(res.returncode, 0, res.stderr)
            self.assertIn("only dns-01", res.stderr)
        self.assertEqual(PEBBLE.count_requests("POST", "/order-plz"), before)

    def test_wildcard_refused_with_recorded_http01(self):
        # A lineage recorded with http-01, then a wildcard added without
        # challenge options: refused by the library before any order.
        before = PEBBLE.count_requests("POST", "/order-plz")
        res = self.ck.run("issue", "-d", "*.wild2.example.test", "--name", "wild2",
                          check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertEqual(PEBBLE.count_requests("POST", "/order-plz"), before)

    def test_ipv6_literal_is_not_an_override(self):
        # "-d ::1" is a name; only a suffix that is a type is an override.
        res = self.ck.run("issue", "-d", "::1:dns-01", check=False)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("::1 is an IP address: dns-01 cannot validate it", res.stderr)


if __name__ == "__main__":
    unittest.main()
