"""Issue 9, the haproxy, pkcs12 and exec targets through `certkeep bind` and
`certkeep deploy`, against real programs on 127.0.0.1:

  - HAProxy (Debian's haproxy 2.6, own configuration, no system service):
    the combined file deployed and a reload (--reload 'kill -USR2 PID' to a
    master-worker HAProxy); the runtime API swap (socket=) without a reload:
    the served leaf by handshake is the deployed one and HAProxy's pid is
    the same before and after;
  - a key on a SoftHSM2 token: bind to haproxy (Debian 12's HAProxy 2.6 has
    no PKCS#11 support), pkcs12 or exec is refused with the reason;
  - pkcs12: a file `openssl pkcs12` opens with the password from the file,
    modern and legacy;
  - exec: a deploy hook of the shape certbot's documentation shows runs
    unchanged; a hook that fails and one that hangs are clear errors with
    their output, and the certificate HAProxy serves is unchanged (checked
    by handshake, and by the engine's rollback verification).

No ACME server is needed: two certificates for localhost/127.0.0.1 from a
throw-away CA are imported into a fresh store per test.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import ckharness

TMP = None
PKI = None  # {"ca", "A": (pem, sha256), "B": (pem, sha256)}


def _sha256_of(pem_path):
    der = subprocess.run(["openssl", "x509", "-in", pem_path, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def setUpModule():
    global TMP, PKI
    TMP = tempfile.mkdtemp(prefix="ck-targets-")
    ca = ckharness.make_ca(os.path.join(TMP, "pki"))
    PKI = {"ca": ca["ca_cert"]}
    for stem in ("A", "B"):
        c = ckharness.make_server_cert(os.path.join(TMP, "pki"), ca["ca_cert"], ca["ca_key"],
                                       stem)
        bundle = os.path.join(TMP, "pki", stem + "-bundle.pem")
        with open(bundle, "w") as out:
            for path in (c["cert"], c["key"]):
                with open(path) as src:
                    out.write(src.read())
        PKI[stem] = (bundle, _sha256_of(c["cert"]))


def tearDownModule():
    if os.environ.get("CK_KEEP_TMP") != "1":
        shutil.rmtree(TMP, ignore_errors=True)


def handshake(port, cafile, timeout=5):
    """SHA-256 of the leaf served on 127.0.0.1:port for SNI localhost (chain verified)."""
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def wait_port(port, proc, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("%s exited with %s" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("%s did not listen on %d" % (what, port))


class HAProxy:
    """Debian's haproxy in the foreground on 127.0.0.1 serving crt FILE; with
    socket an admin runtime API; with master_worker (-W) reloadable by
    SIGUSR2 to .proc.pid."""

    def __init__(self, workdir, crt, socket_path=None, master_worker=False):
        self.port = ckharness.free_port()
        self.conf = os.path.join(workdir, "haproxy.cfg")
        glob = "global\n    stats socket %s level admin\n" % socket_path if socket_path else ""
        with open(self.conf, "w") as fp:
            fp.write(glob + "defaults\n    mode http\n    timeout connect 5s\n"
                     "    timeout client 5s\n    timeout server 5s\n"
                     "frontend fe\n    bind 127.0.0.1:%d ssl crt %s\n"
                     "    http-request return status 200 content-type text/plain string ok\n"
                     % (self.port, crt))
        self.log = open(os.path.join(workdir, "haproxy.log"), "w")
        self.master = os.path.join(workdir, "master.sock")
        argv = ["haproxy"] + (["-W", "-S", self.master] if master_worker else []) + \
            ["-db", "-f", self.conf]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.port, self.proc, "haproxy")
        if master_worker:
            self.wait_master()

    def wait_master(self, timeout=10):
        """Until the master answers on its CLI: a SIGUSR2 sent before that (even
        after the worker listens) is lost, the master has no handler yet."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(2)
                    s.connect(self.master)
                    s.sendall(b"show proc\n")
                    s.shutdown(socket.SHUT_WR)
                    if b"worker" in s.makefile("rb").read():
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("haproxy's master did not answer on %s" % self.master)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class TargetCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.id().rsplit(".", 1)[-1] + "-", dir=TMP)
        self.ck = ckharness.Certkeep(os.path.join(self.dir, "store.db"), ca_bundle=PKI["ca"])
        self.ck.run("import", PKI["A"][0])
        self.ck.run("import", PKI["B"][0])
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def haproxy(self, crt, **kw):
        shutil.copyfile(PKI["A"][0], crt)
        os.chmod(crt, 0o600)
        s = HAProxy(self.dir, crt, **kw)
        self.servers.append(s)
        self.assertEqual(handshake(s.port, PKI["ca"]), PKI["A"][1])
        return s

    def bind(self, cert, target, *extra, check=True):
        return self.ck.run("bind", "web", "--cert", cert, "--target", target, *extra,
                           check=check)

    def deploy(self, *extra, check=True):
        res = self.ck.run("deploy", "--json", *extra, "web", check=False, timeout=120)
        out = json.loads(res.stdout)[0]
        if check and res.returncode != 0:
            raise AssertionError(ckharness.describe(res, "deploy must succeed"))
        return res, out


class TestHAProxy(TargetCase):
    def test_combined_file_with_reload(self):
        crt = self.path("site.pem")
        hap = self.haproxy(crt, master_worker=True)
        verify = "127.0.0.1:%d,sni=localhost" % hap.port
        self.bind(PKI["B"][1], "haproxy:" + crt, "--reload", "kill -USR2 %d" % hap.proc.pid,
                  "--verify", verify)
        res, out = self.deploy()
        self.assertEqual(out["state"], "deployed", out)
        self.assertTrue(out["verified"], out)
        self.assertEqual(handshake(hap.port, PKI["ca"]), PKI["B"][1])
        # the combined file: leaf, chain, key; 0600; through the generation link
        self.assertTrue(os.path.islink(crt))
        self.assertEqual(os.stat(crt).st_mode & 0o777, 0o600)
        with open(crt) as fp:
            text = fp.read()
        self.assertLess(text.index("BEGIN CERTIFICATE"), text.index("BEGIN PRIVATE KEY"))
        # back to A, and a reload that fails: rolled back, B still served
        self.bind(PKI["A"][1], "haproxy:" + crt, "--reload", "false", "--verify", verify)
        res, out = self.deploy(check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertEqual(out["state"], "rolled-back", out)
        self.assertIn("'false' exited with status 1", out["message"])
        self.assertEqual(handshake(hap.port, PKI["ca"]), PKI["B"][1])

    def test_runtime_api_without_reload(self):
        crt, sock = self.path("site.pem"), self.path("admin.sock")
        hap = self.haproxy(crt, socket_path=sock)
        pid = hap.proc.pid
        verify = "127.0.0.1:%d,sni=localhost" % hap.port
        self.bind(PKI["B"][1], "haproxy:%s,socket=%s" % (crt, sock), "--verify", verify)
        res, out = self.deploy()
        self.assertEqual(out["state"], "deployed", out)
        self.assertTrue(out["verified"], out)
        self.assertEqual(handshake(hap.port, PKI["ca"]), PKI["B"][1])
        # no reload: the very process that served A serves B
        self.assertIsNone(hap.proc.poll())
        self.assertEqual(hap.proc.pid, pid)
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(sock)
            s.sendall(b"show info\n")
            info = s.makefile("rb").read().decode()
        self.assertIn("\nPid: %d\n" % pid, info)
        # a --reload next to socket= is refused at bind, the binding unchanged
        res = self.bind(PKI["A"][1], "haproxy:%s,socket=%s" % (crt, sock), "--reload",
                        "true", check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("drop --reload", res.stderr)
        self.assertEqual(handshake(hap.port, PKI["ca"]), PKI["B"][1])


class TestPkcs12(TargetCase):
    def test_modern_and_legacy(self):
        p12, pw = self.path("keystore.p12"), self.path("pw")
        with open(pw, "w") as fp:
            fp.write("changeit\n")
        for compat, alg in (("", "AES-256-CBC"), (",compat=legacy",
                                                  "pbeWithSHA1And3-KeyTripleDES-CBC")):
            self.bind(PKI["B"][1], "pkcs12:%s%s,password-file=%s" % (p12, compat, pw))
            res, out = self.deploy()
            self.assertEqual(out["state"], "deployed", out)
            self.assertEqual(os.stat(p12).st_mode & 0o777, 0o600)
            info = subprocess.run(["openssl", "pkcs12", "-in", p12, "-passin", "file:" + pw,
                                   "-info", "-nodes"], capture_output=True, text=True)
            self.assertEqual(info.returncode, 0, info.stderr)
            self.assertIn(alg, info.stdout + info.stderr)
            self.assertIn("-----BEGIN PRIVATE KEY-----", info.stdout)
            leaf = subprocess.run(["openssl", "pkcs12", "-in", p12, "-passin", "file:" + pw,
                                   "-nokeys", "-clcerts"], capture_output=True, text=True)
            leaf_pem = self.path("leaf.pem")
            with open(leaf_pem, "w") as fp:
                fp.write(leaf.stdout)
            self.assertEqual(_sha256_of(leaf_pem), PKI["B"][1])
            # the next round deploys again (a new file, another format)
            self.ck.run("unbind", "web")


class TestFileTargetsDoctor(TargetCase):
    """doctor checks single-file targets too: a haproxy combined PEM or a
    PKCS#12 file changed behind certkeep's back, or left without its key."""

    def d020(self):
        doc = self.ck.run("doctor", "--json", check=False)
        return [f for f in json.loads(doc.stdout)["findings"] if f["code"] == "CK-D020"]

    def test_haproxy_file_changed_behind_our_back(self):
        crt = self.path("site.pem")
        self.bind(PKI["A"][1], "haproxy:" + crt, "--reload", "/bin/true")
        self.deploy()
        self.assertEqual(self.d020(), [])
        shutil.copyfile(PKI["B"][0], crt)  # someone else's set
        found = self.d020()
        self.assertEqual(len(found), 1, found)
        self.assertIn("behind certkeep's back", found[0]["what"])
        with open(crt, "w") as fp:  # only the certificate, no key
            with open(PKI["A"][0]) as src:
                fp.write(src.read().split("-----BEGIN PRIVATE KEY-----")[0])
        found = self.d020()
        self.assertEqual(len(found), 1, found)
        self.assertIn("incomplete", found[0]["what"])
        self.deploy()
        self.assertEqual(self.d020(), [])

    def test_pkcs12_file_changed_behind_our_back(self):
        p12, pw = self.path("keystore.p12"), self.path("pw")
        with open(pw, "w") as fp:
            fp.write("changeit\n")
        self.bind(PKI["B"][1], "pkcs12:%s,password-file=%s" % (p12, pw))
        self.deploy()
        self.assertEqual(self.d020(), [])
        other = self.path("other.p12")
        subprocess.run(["openssl", "pkcs12", "-export", "-in", PKI["A"][0], "-out", other,
                        "-passout", "file:" + pw], check=True, capture_output=True)
        shutil.copyfile(other, p12)
        found = self.d020()
        self.assertEqual(len(found), 1, found)
        self.assertIn(PKI["A"][1][:16], found[0]["what"])


CERTBOT_HOOK = """#!/bin/sh

set -e

for domain in $RENEWED_DOMAINS; do
        case $domain in
        localhost)
                daemon_cert_root=%s

                # Make sure the certificate and private key files are
                # never world readable, even just for an instant while
                # we're copying them into daemon_cert_root.
                umask 077

                cp "$RENEWED_LINEAGE/fullchain.pem" "$daemon_cert_root/$domain.cert"
                cp "$RENEWED_LINEAGE/privkey.pem" "$daemon_cert_root/$domain.key"

                # Apply the proper file ownership and permissions for
                # the daemon to read its certificate and key.
                chmod 400 "$daemon_cert_root/$domain.cert" \\
                        "$daemon_cert_root/$domain.key"
                ;;
        esac
done
"""


class TestExec(TargetCase):
    def hook(self, name, text):
        path = self.path(name)
        with open(path, "w") as fp:
            fp.write(text)
        os.chmod(path, 0o755)
        return path

    def test_certbot_deploy_hook_unchanged(self):
        daemon = self.path("daemon")
        os.mkdir(daemon, 0o700)
        hook = self.hook("certbot-hook.sh", CERTBOT_HOOK % daemon)
        self.bind(PKI["B"][1], "exec:" + hook)
        res, out = self.deploy()
        self.assertEqual(out["state"], "deployed", out)
        # an exec target has no generation directory: none is reported or recorded
        self.assertIsNone(out["generation"], out)
        self.assertIn("to exec:" + hook, out["message"])
        self.assertIsNone(self.ck.json("bindings", "--json")[0].get("generation"))
        # what the hook copied is B's full chain and key: HAProxy serves it
        with open(os.path.join(daemon, "localhost.cert")) as c, \
                open(os.path.join(daemon, "localhost.key")) as k:
            combined = c.read() + k.read()
        crt = self.path("from-hook.pem")
        with open(crt, "w") as fp:
            fp.write(combined)
        hap = HAProxy(self.dir, crt)
        self.servers.append(hap)
        self.assertEqual(handshake(hap.port, PKI["ca"]), PKI["B"][1])
        # (that the hook's directory is gone afterwards: test_deploy_kinds, which
        # knows its name without a listing of /tmp that other tests share)

    def test_failing_and_hanging_hooks(self):
        crt = self.path("site.pem")
        hap = self.haproxy(crt)
        verify = "127.0.0.1:%d,sni=localhost" % hap.port
        fail = self.hook("fail.sh", "#!/bin/sh\necho 'cp: cannot create "
                         "/etc/daemon/cert: Permission denied' >&2\nexit 4\n")
        self.bind(PKI["B"][1], "exec:" + fail, "--verify", verify)
        res, out = self.deploy(check=False)
        self.assertEqual(res.returncode, 1)
        self.assertEqual(out["state"], "rolled-back", out)
        self.assertIn("exited with status 4", out["message"])
        self.assertIn("cp: cannot create /etc/daemon/cert: Permission denied", out["message"])
        self.assertEqual(handshake(hap.port, PKI["ca"]), PKI["A"][1])
        hang = self.hook("hang.sh", "#!/bin/sh\necho 'restarting the daemon'\nsleep 60\n")
        self.bind(PKI["B"][1], "exec:" + hang, "--verify", verify)
        start = time.monotonic()
        res, out = self.deploy("--timeout", "1", check=False)
        self.assertLess(time.monotonic() - start, 20)
        self.assertEqual(res.returncode, 1)
        self.assertIn("did not finish within 1 s", out["message"])
        self.assertIn("restarting the daemon", out["message"])
        self.assertEqual(handshake(hap.port, PKI["ca"]), PKI["A"][1])


class TestTokenKey(unittest.TestCase):
    """A certificate whose key is on a (SoftHSM2) token: HAProxy cannot use
    it, nor a PKCS#12 file or a deploy hook; each bind is refused with the
    reason and nothing is stored or written."""

    def test_bind_refused(self):
        import test_token  # its SoftHSM2 token with two key pairs and a CA

        d = tempfile.mkdtemp(prefix="token-", dir=TMP)
        hsm = test_token.Hsm(os.path.join(d, "hsm"))
        ck = ckharness.Certkeep(os.path.join(d, "store.db"), ca_bundle=hsm.ca["ca_cert"],
                                env={"SOFTHSM2_CONF": hsm.conf})
        ck.run("token", "add", "hsm", "--module", test_token.MODULE, "--token",
               test_token.LABEL)
        cert = hsm.cert_for(hsm.keys["k-ec"]["pem"], "localhost")
        self.assertIn("linked to its key on token 'hsm'", ck.run("import", cert).stdout)
        sha = _sha256_of(cert)
        for target, reason in (
                ("haproxy:%s/site.pem" % d, "HAProxy 2.6 (Debian 12) is built without PKCS#11"),
                ("pkcs12:%s/site.p12" % d, "a PKCS#12 file carries the private key itself"),
                ("exec:/bin/true", "a deploy hook gets privkey.pem")):
            res = ck.run("bind", "web", "--cert", sha, "--target", target, check=False)
            self.assertNotEqual(res.returncode, 0, target)
            self.assertIn(reason, res.stderr)
            self.assertIn("lives on a token (pkcs11:", res.stderr)
        self.assertEqual(ck.json("bindings", "--json"), [])
        self.assertFalse(os.path.exists(os.path.join(d, "site.pem")))
        self.assertFalse(os.path.exists(os.path.join(d, ".certkeep-site.pem")))


if __name__ == "__main__":
    unittest.main()
