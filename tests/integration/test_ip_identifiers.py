"""IP-address certificates (RFC 8738) by http-01 against Pebble: `-d
127.0.0.1` and `-d ::1` are ordered as identifiers of type "ip" (seen in the
newOrder payloads through the fault proxy), Pebble validates http-01 by
connecting to that very address on its httpPort (the built-in responder
listens there: --http-address), and the certificate carries the address as
an iPAddress SAN and no DNS name.  ::1 works here: the container has IPv6
loopback, and Pebble's VA dials [::1]:httpPort for an ip identifier ::1."""

import os
import socket
import subprocess
import unittest

import ckharness

TMP = PEBBLE = None


def setUpModule():
    global TMP, PEBBLE
    TMP, PEBBLE = ckharness.module_pebble("ck-ip-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class TestIpIdentifiers(unittest.TestCase):

    def setUp(self):
        self.proxy = PEBBLE.fault_proxy()
        self.addCleanup(self.proxy.stop)
        self.dir = os.path.join(TMP, self.id().rsplit(".", 1)[-1])
        os.makedirs(self.dir)
        self.ck = ckharness.Certkeep(os.path.join(self.dir, "store.db"),
                                     ca_bundle=PEBBLE.ca_bundle)
        self.ck.run("account", "register", "--server", self.proxy.directory_url, "--agree-tos")

    def issue_ip(self, address, lineage, value=None, *extra):
        sha = self.ck.run("issue", "-d", address, "--http-port", str(PEBBLE.http_port),
                          "--http-address", value or address, *extra,
                          timeout=300).stdout.strip()
        orders = [p for p in self.proxy.jws_payloads("/order-plz") if p]
        self.assertEqual(orders[-1]["identifiers"], [{"type": "ip", "value": value or address}],
                         "an IP literal is ordered as an ip identifier (RFC 8738)")
        pem = os.path.join(self.dir, "cert.pem")
        self.ck.run("export", lineage, "--no-key", "--cert-out", pem)
        out = subprocess.run(["openssl", "x509", "-in", pem, "-noout", "-ext",
                              "subjectAltName", "-fingerprint", "-sha256"],
                             capture_output=True, text=True, check=True).stdout
        self.assertIn(sha.upper(), out.replace(":", ""), "the exported certificate is it")
        sans = out.split("X509v3 Subject Alternative Name:", 1)[1].split("\n")[1].strip()
        return sans, self.ck.json("show", lineage, "--json")

    def test_ipv4_loopback(self):
        sans, shown = self.issue_ip("127.0.0.1", "127.0.0.1")
        self.assertEqual(sans, "IP Address:127.0.0.1", "one iPAddress SAN, no DNS name")
        self.assertEqual(shown["sans"], ["127.0.0.1"])

    @unittest.skipUnless(ipv6_loopback(), "this host has no IPv6 loopback")
    def test_ipv6_loopback(self):
        # The lineage name is derived from "::1" as "0--1" ("0::1", ':' -> '-'):
        # a name may not start with '-'.
        sans, shown = self.issue_ip("::1", "0--1")
        self.assertEqual(sans, "IP Address:0:0:0:0:0:0:0:1", "one iPAddress SAN, no DNS name")
        self.assertEqual((shown["name"], shown["sans"]), ("0--1", ["::1"]))
        # Typed long-hand, it is still sent in RFC 5952 form (RFC 8738 section 3).
        sans, shown = self.issue_ip("0:0:0:0:0:0:0:1", "long", "::1", "--name", "long")
        self.assertEqual(shown["sans"], ["::1"])


if __name__ == "__main__":
    unittest.main()
