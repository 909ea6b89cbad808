"""Issue 8, dns-01, end to end against a real Pebble validating for real
(never PEBBLE_VA_ALWAYS_VALID):

- by hook: a hook script drives pebble-challtestsrv's management API
  (/set-txt, /clear-txt), Pebble resolves through challtestsrv; apex and
  wildcard in one certificate; http-01 and dns-01 names in one; hooks that
  are not executable, hang or print garbage; DNS that never shows the
  record; Ctrl-C during the wait; a second issue of the lineage without
  flags repeats the recorded method;
- by RFC 2136: a real BIND 9 (`named`, started here in a temporary
  directory on a loopback port, a dynamic zone, TSIG keys from
  tsig-keygen), Pebble resolving through that BIND; a wrong secret gives
  an error naming the zone and the key.

Everything on 127.0.0.1.
"""

import json
import os
import pwd
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import ckharness

PEBBLE = None
TMP = None


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-dns01-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


def cert_sans(pem_path):
    out = subprocess.run(["openssl", "x509", "-in", pem_path, "-noout", "-ext",
                          "subjectAltName"], capture_output=True, text=True, check=True).stdout
    return sorted(re.findall(r"DNS:([^,\s]+)", out))


def dig_txt(port, name):
    """The TXT values the server at 127.0.0.1:port answers for name."""
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "+norecurse",
                          "+time=2", "+tries=1", "TXT", name],
                         capture_output=True, text=True, check=True).stdout
    return sorted(v.strip('"') for v in out.split())


def write_hook(path, body):
    with open(path, "w", encoding="utf-8") as fp:
        fp.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


read = ckharness._read   # a file's text, "" when it does not exist (yet)


class DnsCase(unittest.TestCase):
    """A fresh store per class with an account on the module's Pebble."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix=cls.__name__ + "-", dir=TMP)
        cls.store = os.path.join(cls.dir, "store", "store.db")
        cls.ck = ckharness.Certkeep(cls.store, ca_bundle=PEBBLE.ca_bundle)
        # a key of our own, so that a test can ask the CA as this account
        os.makedirs(os.path.dirname(cls.store))
        cls.key = ckharness.AcmeKey.generate(os.path.join(cls.dir, "account.pem"))
        cls.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos",
                   "--key-file", cls.key.path)

    def forget_authorizations(self, lineage):
        """The CA forgets the authorizations the lineage's orders won, so the
        next order must prove its names again: Pebble reuses a valid one about
        once in 100 orders even at PEBBLE_AUTHZREUSE=0 (tests/README.md)."""
        probe = ckharness.AcmeProbe(PEBBLE.directory_url, PEBBLE.ca_bundle)
        kid = probe.account_url(self.key)
        db = sqlite3.connect(self.store)
        try:
            urls = db.execute("SELECT url FROM orders WHERE lineage = ? AND url IS NOT NULL",
                              (lineage,)).fetchall()
        finally:
            db.close()
        for (url,) in urls:
            probe.deactivate_authorizations(url, self.key, kid)

    def challtest_hook(self, name):
        """A hook publishing through challtestsrv's management API, logging each call."""
        log = os.path.join(self.dir, name + ".log")
        body = (
            'echo "$1 $2 $3" >> %(log)s\n'
            'case "$1" in\n'
            '  add) curl -sf -d "{\\"host\\":\\"$2.\\",\\"value\\":\\"$3\\"}" %(url)s/set-txt ;;\n'
            '  del) curl -sf -d "{\\"host\\":\\"$2.\\"}" %(url)s/clear-txt ;;\n'
            '  *) exit 2 ;;\n'
            'esac\n') % {"log": log, "url": PEBBLE.challtest_url}
        return write_hook(os.path.join(self.dir, name), body), log

    def dns_args(self, hook, wait=30):
        return ["--dns-hook", hook, "--dns-resolver", "127.0.0.1:%d" % PEBBLE.dns_port,
                "--dns-wait", str(wait)]

    def export_cert(self, lineage):
        out = os.path.join(self.dir, lineage + ".pem")
        self.ck.run("export", lineage, "--cert-out", out)
        return out


class TestHook(DnsCase):

    def test_apex_and_wildcard(self):
        hook, log = self.challtest_hook("hook-wild")
        self.ck.run("issue", "-d", "wild.example.test", "-d", "*.wild.example.test",
                    "--challenge", "dns-01", "--name", "wild", *self.dns_args(hook),
                    timeout=300)
        self.assertEqual(cert_sans(self.export_cert("wild")),
                         ["*.wild.example.test", "wild.example.test"])
        calls = read(log).splitlines()
        adds = [c for c in calls if c.startswith("add ")]
        dels = [c for c in calls if c.startswith("del ")]
        self.assertEqual(len(adds), 2, calls)
        self.assertEqual({a.split()[1] for a in adds}, {"_acme-challenge.wild.example.test"})
        self.assertNotEqual(adds[0].split()[2], adds[1].split()[2], "two values, one name")
        self.assertEqual(sorted(d.split(" ", 1)[1] for d in dels),
                         sorted(a.split(" ", 1)[1] for a in adds), "a del for every add")
        self.assertEqual(dig_txt(PEBBLE.dns_port, "_acme-challenge.wild.example.test"), [])

    def test_http01_and_dns01_in_one_certificate(self):
        hook, log = self.challtest_hook("hook-mixed")
        self.ck.run("issue", "-d", "a.mixed.example.test:dns-01", "-d", "b.mixed.example.test",
                    "--name", "mixed", "--http-port", str(PEBBLE.http_port),
                    "--http-address", "127.0.0.1", *self.dns_args(hook), timeout=300)
        self.assertEqual(cert_sans(self.export_cert("mixed")),
                         ["a.mixed.example.test", "b.mixed.example.test"])
        names = {c.split()[1] for c in read(log).splitlines()}
        self.assertEqual(names, {"_acme-challenge.a.mixed.example.test"},
                         "only the dns-01 name went to the hook")

    def test_renewal_repeats_the_hook(self):
        hook, log = self.challtest_hook("hook-renew")
        self.ck.run("issue", "-d", "renew.example.test", "--challenge", "dns-01", "--name",
                    "renewdns", *self.dns_args(hook), timeout=300)
        first = read(log).count("add ")
        self.assertEqual(first, 1)
        shown = self.ck.json("show", "renewdns", "--json")
        self.assertEqual(shown["challenge"]["type"], "dns-01")
        self.assertEqual(shown["challenge"]["dns_hook"], hook)
        # A renewal-style issue with no challenge options: nothing listens on
        # Pebble's httpPort, so only the recorded hook can succeed.
        self.forget_authorizations("renewdns")
        self.ck.run("issue", "-d", "renew.example.test", "--name", "renewdns", timeout=300)
        self.assertEqual(read(log).count("add "), 2,
                         "the second issue used the recorded hook without flags")
        self.assertNotEqual(self.ck.json("show", "renewdns", "--json")["sha256"],
                            shown["sha256"])


class TestHookFaults(DnsCase):

    def issue_fails(self, name, hook, *extra, wait=30, timeout=120):
        res = self.ck.run("issue", "-d", name, "--challenge", "dns-01", "--name",
                          name.split(".")[0], *self.dns_args(hook, wait), *extra,
                          check=False, timeout=timeout)
        self.assertNotEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertNotIn("Traceback", res.stderr)
        return res

    def test_bad_combinations_refused_before_any_order(self):
        before = PEBBLE.count_requests("POST", "/order-plz")
        hook = write_hook(os.path.join(self.dir, "unused"), "exit 0")
        for extra, want in ((["--dns-hook", hook, "--dns-update", "127.0.0.1",
                              "--tsig-file", hook], "give one of them"),
                            (["--dns-update", "127.0.0.1"], "--dns-update needs --tsig-file")):
            res = self.ck.run("issue", "-d", "combo.example.test", "--challenge", "dns-01",
                              *extra, check=False)
            self.assertNotEqual(res.returncode, 0)
            self.assertIn(want, res.stderr)
        self.assertEqual(PEBBLE.count_requests("POST", "/order-plz"), before)

    def test_not_executable(self):
        hook = write_hook(os.path.join(self.dir, "noexec"), "exit 0")
        os.chmod(hook, 0o644)
        res = self.issue_fails("noexec.example.test", hook)
        self.assertIn(hook, res.stderr)
        self.assertIn("not an executable file", res.stderr)

    def test_hangs(self):
        log = os.path.join(self.dir, "hang.log")
        hook = write_hook(os.path.join(self.dir, "hang"),
                          'echo "$1 $2 $3" >> %s\n[ "$1" = add ] && exec sleep 60\nexit 0' % log)
        t0 = time.monotonic()
        res = self.issue_fails("hang.example.test", hook, "--dns-hook-timeout", "2")
        self.assertLess(time.monotonic() - t0, 60)
        self.assertIn("add _acme-challenge.hang.example.test failed", res.stderr)
        self.assertIn("--dns-hook-timeout", res.stderr)
        self.assertIn("del _acme-challenge.hang.example.test", read(log), "cleanup ran")

    def test_garbage(self):
        hook = write_hook(os.path.join(self.dir, "garbage"),
                          "i=0; while [ $i -lt 5000 ]; do printf '\\033[31mjunk\\377\\001\\n';"
                          " i=$((i+1)); done; exit 1")
        res = self.issue_fails("garbage.example.test", hook)
        self.assertIn(hook, res.stderr)
        self.assertIn("exited with status 1", res.stderr)
        self.assertIn("junk", res.stderr)
        self.assertLess(len(res.stderr), 4000, "the hook's output is bounded in the error")
        self.assertNotIn("\x1b", res.stderr)

    def test_record_never_visible(self):
        log = os.path.join(self.dir, "idle.log")
        hook = write_hook(os.path.join(self.dir, "idle"), 'echo "$1 $2 $3" >> %s' % log)
        res = self.issue_fails("idle.example.test", hook, wait=3)
        self.assertIn("_acme-challenge.idle.example.test", res.stderr)
        self.assertIn("not visible after 3 s", res.stderr)
        self.assertIn("at 127.0.0.1#%d: no TXT record" % PEBBLE.dns_port, res.stderr)
        self.assertIn("del _acme-challenge.idle.example.test", read(log), "cleanup ran")

    def test_sigint_during_wait(self):
        log = os.path.join(self.dir, "sigint.log")
        hook = write_hook(os.path.join(self.dir, "sigint"), 'echo "$1 $2 $3" >> %s' % log)
        argv = self.ck.argv("issue", "-d", "sigint.example.test", "--challenge", "dns-01",
                            "--name", "sigint", *self.dns_args(hook, 120))
        env = dict(os.environ, **self.ck.env)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        try:
            deadline = time.monotonic() + 60
            while "add " not in read(log) and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertIn("add _acme-challenge.sigint.example.test", read(log))
            time.sleep(0.5)   # into the wait
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertNotEqual(proc.returncode, 0, out + err)
        self.assertIn("del _acme-challenge.sigint.example.test", read(log),
                      "the record was withdrawn after Ctrl-C: " + err)


class Bind:
    """BIND 9 `named` in a temporary directory on a loopback port with one
    dynamic zone (A records 127.0.0.1 for every name, so Pebble can also
    resolve http-01 names through it) and TSIG keys from tsig-keygen:
    key.conf (allowed to update), wrong.conf (same name, another secret)."""

    def __init__(self, workdir, zone):
        self.dir = workdir
        self.zone = zone
        self.port = ckharness.free_port(udp_too=True)
        self.proc = None

    def path(self, name):
        return os.path.join(self.dir, name)

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        for name, key in (("key.conf", "ck-test"), ("wrong.conf", "ck-test")):
            with open(self.path(name), "w", encoding="utf-8") as fp:
                subprocess.run(["tsig-keygen", "-a", "hmac-sha256", key], stdout=fp, check=True)
        with open(self.path("zone"), "w", encoding="utf-8") as fp:
            fp.write("$TTL 60\n@ IN SOA ns.%(z)s. hostmaster.%(z)s. 1 60 60 600 60\n"
                     "@ IN NS ns.%(z)s.\n@ IN A 127.0.0.1\n* IN A 127.0.0.1\n"
                     "ns IN A 127.0.0.1\n" % {"z": self.zone})
        # Another test may take the port between free_port() and named's
        # bind: named then exits ("unable to listen"), and we try another.
        for _ in range(5):
            if self._launch():
                return self
            self.port = ckharness.free_port(udp_too=True)
        raise RuntimeError("named did not start: " + read(self.path("named.log"))[-2000:])

    def _launch(self):
        """Starts named on self.port; True once it answers, False if it exited."""
        with open(self.path("named.conf"), "w", encoding="utf-8") as fp:
            fp.write('options { directory "%(d)s"; listen-on port %(p)d { 127.0.0.1; };\n'
                     '  listen-on-v6 { none; }; pid-file "%(d)s/named.pid"; recursion no;\n'
                     '  dnssec-validation no; };\ncontrols { };\ninclude "%(d)s/key.conf";\n'
                     'zone "%(z)s" { type primary; file "%(d)s/zone";\n'
                     '  allow-update { key ck-test; }; };\n'
                     % {"d": self.dir, "p": self.port, "z": self.zone})
        bind = pwd.getpwnam("bind")
        for root, dirs, files in os.walk(self.dir):
            for n in [root] + [os.path.join(root, f) for f in files]:
                os.chown(n, bind.pw_uid, bind.pw_gid)
        if getattr(self, "log", None):
            self.log.close()
        self.log = open(self.path("named.log"), "wb")
        self.proc = subprocess.Popen(["named", "-c", self.path("named.conf"), "-p",
                                      str(self.port), "-u", "bind", "-g"],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            res = subprocess.run(["dig", "@127.0.0.1", "-p", str(self.port), "+short",
                                  "+time=1", "+tries=1", "SOA", self.zone],
                                 capture_output=True, text=True)
            if res.returncode == 0 and res.stdout.strip():
                return True
            time.sleep(0.2)
        raise RuntimeError("named did not answer: " + read(self.path("named.log"))[-2000:])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()


class UpdateAnswerDropper:
    """A UDP relay in front of BIND that forwards every message and every
    answer, except the answer to the first `drop` UPDATE messages (opcode
    5), which BIND applies but the client never hears about."""

    def __init__(self, upstream_port, drop=1):
        self.upstream = ("127.0.0.1", upstream_port)
        self.drop = drop
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.dropped = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                msg, client = self.sock.recvfrom(65535)
            except OSError:
                return
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
                up.settimeout(5)
                up.sendto(msg, self.upstream)
                try:
                    answer = up.recv(65535)
                except socket.timeout:
                    continue
            if len(msg) > 2 and (msg[2] >> 3) & 0xF == 5 and self.dropped < self.drop:
                self.dropped += 1
                continue
            self.sock.sendto(answer, client)

    def close(self):
        self.sock.close()


class TestRfc2136(unittest.TestCase):
    """dns-01 by RFC 2136 against BIND; Pebble resolves through that BIND."""

    ZONE = "update.test"

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="rfc2136-", dir=TMP)
        # named runs as user bind: its directory must not be below the
        # module's 0700 directory.
        cls.bind_dir = tempfile.mkdtemp(prefix="ck-bind-")
        os.chmod(cls.bind_dir, 0o755)
        cls.bind = Bind(cls.bind_dir, cls.ZONE).start()
        cls.pebble = ckharness.Pebble(os.path.join(cls.dir, "pebble"),
                                      dnsserver="127.0.0.1:%d" % cls.bind.port,
                                      name="pebble-bind")
        try:
            cls.pebble.start()
        except BaseException:
            cls.bind.stop()
            shutil.rmtree(cls.bind_dir, ignore_errors=True)
            raise
        cls.store = os.path.join(cls.dir, "store", "store.db")
        cls.ck = ckharness.Certkeep(cls.store, ca_bundle=cls.pebble.ca_bundle)
        cls.ck.run("account", "register", "--server", cls.pebble.directory_url, "--agree-tos")

    @classmethod
    def tearDownClass(cls):
        cls.pebble.stop()
        cls.bind.stop()
        if not os.environ.get("CK_KEEP_TMP"):
            shutil.rmtree(cls.bind_dir, ignore_errors=True)

    def update_args(self, keyfile="key.conf", wait=30):
        spec = "127.0.0.1:%d" % self.bind.port
        return ["--challenge", "dns-01", "--dns-update", spec, "--tsig-file",
                self.bind.path(keyfile), "--dns-resolver", spec, "--dns-wait", str(wait)]

    def test_apex_and_wildcard(self):
        os.chmod(self.bind.path("key.conf"), 0o644)
        res = self.ck.run("issue", "-d", self.ZONE, "-d", "*." + self.ZONE, "--name", "upd",
                          *self.update_args(), timeout=300)
        self.assertIn("is readable by every user of this host", res.stderr)
        out = os.path.join(self.dir, "upd.pem")
        self.ck.run("export", "upd", "--cert-out", out)
        self.assertEqual(cert_sans(out), sorted(["*." + self.ZONE, self.ZONE]))
        self.assertEqual(dig_txt(self.bind.port, "_acme-challenge." + self.ZONE), [],
                         "both records were deleted afterwards")

    def test_update_without_answer_is_withdrawn(self):
        # Only a definite answer is an answer: BIND applied the add, certkeep
        # never heard back; it must not leave the record behind.
        relay = UpdateAnswerDropper(self.bind.port)
        try:
            args = self.update_args()
            args[args.index("--dns-update") + 1] = "127.0.0.1:%d" % relay.port
            res = self.ck.run("issue", "-d", "lost." + self.ZONE, "--name", "lost", *args,
                              check=False, timeout=120)
        finally:
            relay.close()
        self.assertNotEqual(res.returncode, 0)
        self.assertEqual(relay.dropped, 1)
        self.assertIn("adding the TXT record _acme-challenge.lost.%s: no answer" % self.ZONE,
                      res.stderr)
        self.assertEqual(dig_txt(self.bind.port, "_acme-challenge.lost." + self.ZONE), [],
                         "the record BIND applied was deleted")

    def test_wrong_secret(self):
        res = self.ck.run("issue", "-d", "bad." + self.ZONE, "--name", "badkey",
                          *self.update_args("wrong.conf"), check=False, timeout=120)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("zone %s." % self.ZONE, res.stderr)
        self.assertIn("TSIG key ck-test", res.stderr)
        self.assertIn("BADSIG", res.stderr)
        self.assertNotIn(read(self.bind.path("wrong.conf")).split('"')[-2], res.stderr,
                         "the secret never shows")
        self.assertEqual(dig_txt(self.bind.port, "_acme-challenge.bad." + self.ZONE), [])


if __name__ == "__main__":
    unittest.main()
