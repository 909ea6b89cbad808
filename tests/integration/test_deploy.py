"""Issue 9, deployment, against real servers on 127.0.0.1 (tlsserver.py):
nginx (bind, deploy, the served leaf by handshake is the deployed one; a
re-issue then deploy serves the new one), Apache (one deploy and verify),
each refusal of the issue's "Bad input" list (the served certificate is
unchanged, by handshake before and after), rollback (a reload command that
fails; a reload of a different server, so the old leaf keeps being served)
and deploys under a handshake loop (200 deploys alternating two
certificates: zero failed handshakes, zero "key values mismatch").  The
fault points through deploy are test_deploy_crash.py.

One Pebble for the module and one store prepared once (an account; lineage
www = certificate A and lineage alt = certificate B for www.deploy.test,
both from Pebble; an expired certificate with its key and a valid one
without, from a throw-away CA); each test works on a copy of that store
with its own nginx or Apache.
"""

import datetime
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

import ckharness
import tlsserver

NAME = "www.deploy.test"
PEBBLE = None
TMP = None
BASE = None   # {"store_dir", "bundle", "A", "B", "expired", "nokey"}


def _test_ca_certs(directory):
    """A throw-away CA of its own name (its PEM path is out["ca"]), and from
    it an expired leaf (with key) and a valid leaf (its key thrown away) for
    NAME: out[stem] = (PEM path, SHA-256)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certkeep deploy test CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=5))
               .not_valid_after(now + datetime.timedelta(days=5))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
               .sign(ca_key, hashes.SHA256()))
    out = {"ca": os.path.join(directory, "deploy-ca.pem")}
    with open(out["ca"], "wb") as fp:
        fp.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    for stem, start, end, keep_key in (("expired", now - datetime.timedelta(days=3),
                                        now - datetime.timedelta(days=1), True),
                                       ("nokey", now - datetime.timedelta(hours=1),
                                        now + datetime.timedelta(days=2), False)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), False)
                .sign(ca_key, hashes.SHA256()))
        path = os.path.join(directory, stem + ".pem")
        with open(path, "wb") as fp:
            fp.write(cert.public_bytes(serialization.Encoding.PEM))
            if keep_key:
                fp.write(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        out[stem] = (path, hashlib.sha256(cert.public_bytes(
            serialization.Encoding.DER)).hexdigest())
    return out


def setUpModule():
    global PEBBLE, TMP, BASE
    TMP, PEBBLE = ckharness.module_pebble("ck-deploy-")
    base = os.path.join(TMP, "base")
    extra = _test_ca_certs(TMP)
    bundle = PEBBLE.trust_bundle(os.path.join(TMP, "trust.pem"), extra["ca"])
    ck = ckharness.Certkeep(os.path.join(base, "store.db"), ca_bundle=bundle)
    ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")
    shas = {}
    for lineage in ("www", "alt"):
        ck.run("issue", "-d", NAME, "--name", lineage, "--server", PEBBLE.directory_url,
               "--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1",
               timeout=300)
        shas[lineage] = current(ck, lineage)
    ck.run("import", "--name", "old", extra["expired"][0])
    ck.run("import", "--name", "nokey", extra["nokey"][0])
    BASE = {"store_dir": base, "bundle": bundle, "A": shas["www"], "B": shas["alt"],
            "expired": extra["expired"][1], "nokey": extra["nokey"][1]}


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


def current(ck, lineage):
    for e in ck.json("list", "--json"):
        if e["name"] == lineage and e["current"]:
            return e["sha256"]
    raise AssertionError("lineage %s has no current certificate" % lineage)


class DeployCase(unittest.TestCase):
    """A copy of the prepared store, a TLS directory with a placeholder set,
    and helpers; subclasses start the server they need."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.id().rsplit(".", 1)[-1] + "-", dir=TMP)
        shutil.copytree(BASE["store_dir"], os.path.join(self.dir, "store"))
        self.store = os.path.join(self.dir, "store", "store.db")
        self.ck = ckharness.Certkeep(self.store, ca_bundle=BASE["bundle"])
        self.tls = os.path.join(self.dir, "tls")
        self.placeholder = tlsserver.placeholder(self.tls)
        self.server = None

    def tearDown(self):
        if self.server is not None:
            self.server.stop()

    def start_nginx(self):
        self.server = tlsserver.Nginx(os.path.join(self.dir, "nginx"), self.tls).start()
        self.target = "nginx:%s,conf=%s" % (self.tls, self.server.conf)
        self.verify = "127.0.0.1:%d,sni=%s" % (self.server.port, NAME)
        return self.server

    def served(self, verify_chain=False):
        return tlsserver.handshake(self.server.port, NAME,
                                   BASE["bundle"] if verify_chain else None)

    def bind(self, name="www", *extra, check=True, **kw):
        args = ["bind", name] + list(extra)
        if "--lineage" not in extra and "--cert" not in extra:
            args += ["--lineage", "www"]
        if "--target" not in extra:
            args += ["--target", self.target]
        if "--verify" not in extra:
            args += ["--verify", self.verify]
        return self.ck.run(*args, check=check, **kw)

    def deploy(self, *names, check=True, extra=()):
        res = self.ck.run("deploy", "--json", *(list(extra) + list(names or ["www"])),
                          check=False, timeout=120)
        try:
            out = json.loads(res.stdout)
        except ValueError:
            raise AssertionError(ckharness.describe(res, "deploy --json must print JSON"))
        if check and res.returncode != 0:
            raise AssertionError(ckharness.describe(res, "deploy must succeed"))
        return res, out

    def binding(self, name="www"):
        for b in self.ck.json("bindings", "--json"):
            if b["name"] == name:
                return b
        raise AssertionError("no binding %s" % name)


class TestNginx(DeployCase):

    def test_bind_deploy_serves_deployed_then_reissue(self):
        self.start_nginx()
        self.assertEqual(self.served(), self.placeholder)
        self.bind()
        self.assertEqual(self.served(), self.placeholder, "bind must not deploy anything")
        res, out = self.deploy()
        self.assertEqual(out[0]["state"], "deployed", out)
        self.assertTrue(out[0]["verified"], out)
        self.assertEqual(out[0]["served_sha256"], BASE["A"])
        self.assertEqual(self.served(verify_chain=True), BASE["A"],
                         "the handshake must show the deployed leaf, chain verified")
        # the set: links through DIR/live -> gen-N, key 0600
        for f in ("cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"):
            self.assertEqual(os.readlink(os.path.join(self.tls, f)), "live/" + f)
        self.assertRegex(os.readlink(os.path.join(self.tls, "live")), r"^gen-\d+$")
        self.assertEqual(os.stat(os.path.join(self.tls, "privkey.pem")).st_mode & 0o777, 0o600)
        b = self.binding()
        self.assertEqual(b["deployed_sha256"], BASE["A"])
        self.assertEqual(b["state"], "deployed")
        self.assertTrue(b["generation"].startswith(self.tls + "/gen-"), b)
        self.assertIsNotNone(b["deployed_at"])
        # deploying again changes nothing
        _, out = self.deploy()
        self.assertEqual(out[0]["state"], "unchanged", out)
        # a re-issue: doctor sees the binding behind, deploy serves the new one
        self.ck.run("issue", "-d", NAME, "--name", "www", "--server", PEBBLE.directory_url,
                    "--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1",
                    timeout=300)
        new = current(self.ck, "www")
        self.assertNotEqual(new, BASE["A"])
        doc = self.ck.run("doctor", "--json", check=False)
        codes = [f["code"] for f in json.loads(doc.stdout)["findings"]]
        self.assertIn("CK-D018", codes, doc.stdout)
        _, out = self.deploy()
        self.assertEqual(out[0]["state"], "deployed", out)
        self.assertEqual(self.served(verify_chain=True), new)
        doc = self.ck.run("doctor", "--json", check=False)
        codes = [f["code"] for f in json.loads(doc.stdout)["findings"]]
        self.assertNotIn("CK-D018", codes, doc.stdout)
        self.assertNotIn("CK-D020", codes, doc.stdout)

    def test_generations_pruned_to_three(self):
        self.start_nginx()
        self.bind("a", "--cert", BASE["A"])
        self.bind("b", "--cert", BASE["B"])
        for i in range(5):
            self.deploy("a" if i % 2 == 0 else "b")
        gens = sorted(e for e in os.listdir(self.tls) if e.startswith("gen-"))
        self.assertLessEqual(len(gens), 3, gens)
        self.assertEqual(self.served(), BASE["A"])

    def test_dry_run_changes_nothing(self):
        self.start_nginx()
        b = self.ck.json("bind", "www", "--lineage", "www", "--json", "--target",
                         "nginx:%s//,conf=%s" % (self.tls, self.server.conf),
                         "--verify", self.verify, "--reload", "nginx -s reload -c "
                         + self.server.conf)
        self.assertEqual(b["target"], self.target, "the target is stored in canonical form")
        self.assertEqual((b["lineage"], b["state"], b["deployed_sha256"]), ("www", "new", None))
        self.assertEqual(b["reload"], "nginx -s reload -c " + self.server.conf)
        before = sorted(os.listdir(self.tls))
        _, out = self.deploy(extra=["--dry-run"])
        self.assertEqual(out[0]["state"], "would-deploy", out)
        self.assertEqual(sorted(os.listdir(self.tls)), before)
        self.assertEqual(self.served(), self.placeholder)


class TestApache(DeployCase):

    def test_deploy_and_verify(self):
        self.server = tlsserver.Apache(os.path.join(self.dir, "apache"), self.tls).start()
        self.assertEqual(self.served(), self.placeholder)
        self.target = "apache:%s,conf=%s" % (self.tls, self.server.conf)
        self.verify = "127.0.0.1:%d,sni=%s" % (self.server.port, NAME)
        self.bind()
        _, out = self.deploy()
        self.assertEqual(out[0]["state"], "deployed", out)
        self.assertTrue(out[0]["verified"], out)
        self.assertEqual(self.served(verify_chain=True), BASE["A"])


class DeployedCase(DeployCase):
    """nginx serving certificate A, deployed through binding www."""

    def setUp(self):
        super().setUp()
        self.start_nginx()
        self.bind()
        self.deploy()
        self.assertEqual(self.served(), BASE["A"])


class TestRefusals(DeployedCase):
    """Each bad input of the issue: refused (or rolled back) with a clear
    message, the running server untouched (handshake before and after)."""

    def refused(self, res, *needles):
        self.assertNotEqual(res.returncode, 0, ckharness.describe(res, "must be refused"))
        for n in needles:
            self.assertIn(n, res.stderr, ckharness.describe(res, "message must say %r" % n))
        self.assertEqual(self.served(), BASE["A"], "the served certificate must not change")

    def test_target_dir_is_a_symlink(self):
        link = os.path.join(self.dir, "link-to-tls")
        os.symlink(self.tls, link)
        res = self.bind("s", "--target", "nginx:%s,conf=%s" % (link, self.server.conf),
                        check=False)
        self.refused(res, "is a symlink")

    def test_stable_name_symlink_elsewhere(self):
        other = os.path.join(self.dir, "other")
        tlsserver.placeholder(other)
        d = os.path.join(self.dir, "tls2")
        os.makedirs(d)
        os.symlink(os.path.join(other, "cert.pem"), os.path.join(d, "cert.pem"))
        res = self.bind("s", "--target", "pem:" + d, check=False)
        self.refused(res, "which certkeep did not make")

    def test_target_not_writable(self):
        self.bind("www", "--lineage", "alt")
        res = subprocess.run(["unshare", "--mount", "sh", "-c",
                              'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && '
                              'shift && exec "$@"', "sh", self.tls]
                             + self.ck.argv("deploy", "www"),
                             capture_output=True, text=True, timeout=60)
        self.refused(res, "not writable", "nothing was changed")

    def test_full_disk(self):
        self.bind("www", "--lineage", "alt")
        res = subprocess.run(["unshare", "--mount", "sh", "-c",
                              'mount -t tmpfs -o size=64k tmpfs "$1" && shift && exec "$@"',
                              "sh", self.tls] + self.ck.argv("deploy", "www"),
                             capture_output=True, text=True, timeout=60)
        self.refused(res, "full", "nothing was changed")

    def test_reload_hangs(self):
        self.bind("www", "--lineage", "alt", "--reload", "sleep 60")
        t0 = time.monotonic()
        res, out = self.deploy(check=False, extra=["--timeout", "1"])
        self.assertLess(time.monotonic() - t0, 30)
        self.refused(res)
        self.assertEqual(out[0]["state"], "rolled-back", out)
        self.assertIn("did not finish", out[0]["message"])
        self.assertTrue(out[0]["rollback_verified"], out)

    def test_verify_endpoint_not_tls(self):
        import socket
        plain = socket.socket()
        plain.bind(("127.0.0.1", 0))
        plain.listen(16)
        stop = threading.Event()

        def answer():
            plain.settimeout(0.2)
            while not stop.is_set():
                try:
                    c, _ = plain.accept()
                    c.sendall(b"HTTP/1.0 200 OK\r\n\r\nnot TLS\n")
                    c.close()
                except OSError:
                    pass
        th = threading.Thread(target=answer, daemon=True)
        th.start()
        try:
            self.bind("www", "--lineage", "alt", "--verify",
                      "127.0.0.1:%d,sni=%s" % (plain.getsockname()[1], NAME))
            res, out = self.deploy(check=False)
        finally:
            stop.set()
            th.join()
            plain.close()
        self.assertEqual(out[0]["state"], "rolled-back", out)
        self.refused(res, "verification failed")

    def test_pinned_thumbprint_missing(self):
        res = self.bind("p", "--cert", "ab" * 32, check=False)
        self.refused(res, "check 1 of 7", "nothing was changed")

    def test_cert_without_key(self):
        res = self.bind("www", "--lineage", "nokey", check=False)
        self.refused(res, "check 2 of 7", "no private key")

    def test_key_mismatch_planted(self):
        db = sqlite3.connect(self.store)
        with db:
            other = db.execute("SELECT key_id FROM certificates WHERE sha256 = ?",
                               (BASE["B"],)).fetchone()[0]
            db.execute("UPDATE certificates SET key_id = ? WHERE sha256 = ?",
                       (other, BASE["A"]))
        db.close()
        res, _ = self.deploy(check=False)
        self.assertIn("key values mismatch", res.stderr)
        self.refused(res, "check 3 of 7")

    def test_expired(self):
        res = self.bind("www", "--lineage", "old", check=False)
        self.refused(res, "check 5 of 7", "not now")

    def test_name_not_covered(self):
        res = self.bind("www", "--verify", "127.0.0.1:%d,sni=other.deploy.test"
                        % self.server.port, check=False)
        self.refused(res, "check 7 of 7", "other.deploy.test")

    def test_untrusted_root(self):
        ck = ckharness.Certkeep(self.store, ca_bundle=PEBBLE.ca_bundle)
        res = ck.run("bind", "u", "--lineage", "alt", "--target", self.target, check=False)
        self.refused(res, "check 4 of 7", "trusted root")


class TestRollback(DeployedCase):

    def test_reload_fails(self):
        self.bind("www", "--lineage", "alt", "--reload", "/bin/false")
        gen_before = os.readlink(os.path.join(self.tls, "live"))
        res, out = self.deploy(check=False)
        self.assertNotEqual(res.returncode, 0)
        r = out[0]
        self.assertEqual(r["state"], "rolled-back", r)
        self.assertTrue(r["rolled_back"] and r["rollback_verified"], r)
        self.assertIn("reload failed", r["message"])
        self.assertEqual(os.readlink(os.path.join(self.tls, "live")), gen_before)
        self.assertEqual(self.served(verify_chain=True), BASE["A"])
        b = self.binding()
        self.assertEqual(b["deployed_sha256"], BASE["A"], "the store keeps the old record")
        self.assertEqual(b["state"], "rolled-back")

    def test_reload_of_another_server(self):
        other_tls = os.path.join(self.dir, "other-tls")
        tlsserver.placeholder(other_tls)
        other = tlsserver.Nginx(os.path.join(self.dir, "other"), other_tls).start()
        try:
            self.bind("www", "--lineage", "alt", "--reload",
                      "nginx -s reload -c " + other.conf)
            gen_before = os.readlink(os.path.join(self.tls, "live"))
            res, out = self.deploy(check=False)
            r = out[0]
            self.assertEqual(r["state"], "rolled-back", r)
            self.assertEqual(r["served_sha256"], BASE["A"], r)
            self.assertTrue(r["rollback_verified"], r)
            self.assertIn("verification failed", r["message"])
            self.assertEqual(os.readlink(os.path.join(self.tls, "live")), gen_before)
            self.assertEqual(self.served(verify_chain=True), BASE["A"])
        finally:
            other.stop()


class TestUnderLoad(DeployCase):

    DEPLOYS = 200

    def test_handshakes_never_fail_while_deploying(self):
        self.start_nginx()
        self.bind("a", "--cert", BASE["A"])
        self.bind("b", "--cert", BASE["B"])
        # the first deploy replaces the placeholder (which no client trusts)
        self.deploy("b")
        counts = {"ok": 0, "failed": 0, "other": 0}
        errors = []
        stop = threading.Event()

        def loop():
            while not stop.is_set():
                try:
                    sha = tlsserver.handshake(self.server.port, NAME, BASE["bundle"])
                    counts["ok" if sha in (BASE["A"], BASE["B"]) else "other"] += 1
                except Exception as e:  # every failure counts
                    counts["failed"] += 1
                    errors.append(repr(e))
                time.sleep(0.002)  # a client, not a CPU hog: the deploys need the cores
        th = threading.Thread(target=loop, daemon=True)
        th.start()
        t0 = time.monotonic()
        try:
            for i in range(self.DEPLOYS):
                res = self.ck.run("deploy", "a" if i % 2 == 0 else "b", check=False)
                self.assertEqual(res.returncode, 0, ckharness.describe(res, "deploy %d" % i))
        finally:
            stop.set()
            th.join()
        took = time.monotonic() - t0
        mismatch = self.server.log().count("key values mismatch")
        print("\n[load] %d deploys in %.1f s; handshakes: %d ok, %d failed, %d other leaf; "
              "'key values mismatch' in nginx's error log: %d"
              % (self.DEPLOYS, took, counts["ok"], counts["failed"], counts["other"],
                 mismatch))
        self.assertEqual(counts["failed"], 0, errors[:5])
        self.assertEqual(counts["other"], 0)
        self.assertGreater(counts["ok"], self.DEPLOYS)
        self.assertEqual(mismatch, 0)
        self.assertEqual(self.served(), BASE["B"])


if __name__ == "__main__":
    unittest.main()
