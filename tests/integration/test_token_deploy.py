"""Issue 10: deploying a certificate whose key lives on a PKCS#11 token
(SoftHSM2, its own token directory) to a real nginx, and the targets that
cannot use such a key.

The lineage is issued by Pebble with its key on the token.  An nginx:
binding then writes cert.pem, chain.pem, fullchain.pem, an openssl.cnf that
loads OpenSSL's pkcs11 engine (libengine-pkcs11-openssl) and an
nginx-ssl.conf naming the key as "engine:pkcs11:<URI>" - never privkey.pem,
never the PIN.  nginx's master runs with OPENSSL_CONF naming that
openssl.cnf (the one-time set-up docs/targets.md describes); a handshake
then shows the lineage's certificate and an HTTP request over it completes
(the ECDHE key exchange was signed by the key on the token).  After
`certkeep renew` the binding is redeployed and the new certificate (a new
key, made on the token) is served.  HAProxy, Apache, pem and PKCS#12
bindings are refused at bind with the reason.

nginx's workers run as root here for the renewal: SoftHSM 2.6 writes every
new object 0600 for its owner, so workers of another user (Debian's
www-data) could not read a key a renewal makes; test_workers_of_another_user
shows what such workers need (the token's files readable by their group).
"""

import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import ssl
import socket
import subprocess
import unittest

import ckharness
import test_token_issue
import tlsserver
from test_token_issue import TokenIssueCase

NAME = "tok.deploy.test"
PEBBLE = None
TMP = None
BUNDLE = None


def setUpModule():
    global PEBBLE, TMP, BUNDLE
    TMP, PEBBLE = ckharness.module_pebble("ck-token-deploy-")
    os.chmod(TMP, 0o711)  # nginx's workers (another user) reach the token below
    test_token_issue.PEBBLE, test_token_issue.TMP = PEBBLE, TMP
    BUNDLE = PEBBLE.trust_bundle(os.path.join(TMP, "trust.pem"))


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


class TokenNginx(tlsserver.Nginx):
    """nginx whose master gets OPENSSL_CONF and SOFTHSM2_CONF (as a systemd
    drop-in would give it), serving `serve` (server-block lines)."""

    def __init__(self, workdir, env, serve, user="root"):
        super().__init__(workdir, workdir)
        self.env = env
        self.rewrite(serve, user)

    def rewrite(self, serve, user="root"):
        temps = "".join("  %s_temp_path %s/tmp/%s;\n" % (t, self.dir, t)
                        for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(self.conf, "w") as fp:
            fp.write("user %s;\nworker_processes 1;\npid %s;\nerror_log %s notice;\n"
                     "env OPENSSL_CONF;\nenv SOFTHSM2_CONF;\n"
                     "events { worker_connections 64; }\n"
                     "http {\n  access_log off;\n%s  server {\n"
                     "    listen 127.0.0.1:%d ssl;\n    server_name _;\n%s"
                     "    location / { return 200 \"ok\\n\"; }\n  }\n}\n"
                     % (user, self.pid, self.error_log, temps, self.port, serve))

    def _nginx(self, *args):
        return subprocess.run(["nginx", "-e", self.error_log, "-c", self.conf] + list(args),
                              capture_output=True, text=True, timeout=30, env=self.env)


def get_over_tls(port):
    """(leaf SHA-256, HTTP status line) of a GET / over TLS (1.2: nginx 1.22's
    default; its ECDHE key exchange is signed by the certificate's key)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=NAME) as tls:
            sha = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
            tls.sendall(b"GET / HTTP/1.0\r\nHost: " + NAME.encode() + b"\r\n\r\n")
            return sha, tls.recv(4096).split(b"\r\n", 1)[0].decode()


class TokenDeployCase(TokenIssueCase):

    def setUp(self):
        super().setUp()
        os.chmod(self.dir, 0o711)
        self.ck = ckharness.Certkeep(os.path.join(self.dir, "store", "store.db"),
                                     ca_bundle=BUNDLE, env={"SOFTHSM2_CONF": self.conf})
        self.tls = os.path.join(self.dir, "tls")
        self.server = None
        # OpenSSL's pkcs11 engine reads a PIN file whole: no trailing newline
        with open(self.pin_file, "w", encoding="ascii") as fp:
            fp.write(test_token_issue.PIN)
        self.sha = self.issue(NAME, "tok").stdout.strip()

    def tearDown(self):
        if self.server is not None:
            self.server.stop()

    def current(self):
        return self.ck.json("show", "tok", "--json")["sha256"]

    def start_on_token(self, user="root"):
        """The one-time set-up: bind, a first deploy while nginx serves
        something else, then nginx restarted with OPENSSL_CONF and the
        include.  Returns the nginx."""
        other = os.path.join(self.dir, "other")
        tlsserver.placeholder(other)
        env = dict(os.environ, SOFTHSM2_CONF=self.conf,
                   OPENSSL_CONF=os.path.join(self.tls, "openssl.cnf"))
        self.server = TokenNginx(os.path.join(self.dir, "nginx"), env,
                                 "    ssl_certificate %s/fullchain.pem;\n"
                                 "    ssl_certificate_key %s/privkey.pem;\n" % (other, other),
                                 user)
        self.server.start()
        self.ck.run("bind", "www", "--lineage", "tok", "--target",
                    "nginx:%s,conf=%s" % (self.tls, self.server.conf))
        res = self.ck.run("deploy", "www", check=False, timeout=120)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.server.stop()
        self.server.rewrite("    include %s/nginx-ssl.conf;\n" % self.tls, user)
        self.server.start()
        return self.server


class TestNginxOnToken(TokenDeployCase):

    def test_deploy_serves_with_token_key_then_renewal(self):
        self.start_on_token()
        live = os.path.join(self.tls, "live")
        self.assertEqual(sorted(os.listdir(live)), ["cert.pem", "chain.pem", "fullchain.pem",
                                                    "nginx-ssl.conf", "openssl.cnf"],
                         "no privkey.pem: the key stays on the token")
        self.assertFalse(os.path.exists(os.path.join(self.tls, "privkey.pem")))
        with open(os.path.join(self.tls, "nginx-ssl.conf")) as fp:
            snippet = fp.read()
        with open(os.path.join(self.tls, "openssl.cnf")) as fp:
            cnf = fp.read()
        self.assertRegex(snippet, r'ssl_certificate_key "engine:pkcs11:pkcs11:token=%s;'
                         r'id=[^;]+;type=private\?pin-source=file:%s";'
                         % (re.escape(test_token_issue.LABEL), re.escape(self.pin_file)))
        self.assertIn("MODULE_PATH = " + test_token_issue.MODULE, cnf)
        self.assertIn("init = 1", cnf)
        for text in (snippet, cnf):
            self.assertNotIn(test_token_issue.PIN, text, "the PIN is never written")

        sha, status = get_over_tls(self.server.port)
        self.assertEqual(sha, self.sha, "nginx serves the lineage's certificate")
        self.assertEqual(status, "HTTP/1.1 200 OK",
                         "the handshake completed: the token's key signed it")

        # from now on the binding checks the live endpoint; renew redeploys
        self.ck.run("bind", "www", "--lineage", "tok", "--target",
                    "nginx:%s,conf=%s" % (self.tls, self.server.conf), "--verify",
                    "127.0.0.1:%d,sni=%s" % (self.server.port, NAME))
        r = self.ck.run("renew", "tok", "--force", check=False, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        new = self.current()
        self.assertNotEqual(new, self.sha)
        self.assertEqual(get_over_tls(self.server.port), (new, "HTTP/1.1 200 OK"))

        # doctor: the set has no privkey.pem by design, and is complete
        doc = json.loads(self.ck.run("doctor", "--json", check=False).stdout)
        self.assertEqual([f for f in doc["findings"] if f.get("object") == "binding www"], [], doc)
        # a set whose key line is of another generation is not
        os.unlink(os.path.join(self.tls, "nginx-ssl.conf"))
        doc = json.loads(self.ck.run("doctor", "--json", check=False).stdout)
        found = [f for f in doc["findings"] if f.get("object") == "binding www"]
        self.assertEqual(len(found), 1, doc)
        self.assertIn("nginx-ssl.conf", found[0]["what"])


class TestWorkersOfAnotherUser(TokenDeployCase):

    def test_workers_of_another_user(self):
        """Workers of another user log in again after the fork and need to read
        the token's files: here its directory and files readable by their group."""
        group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
        tokens = os.path.join(self.dir, "tokens")
        for root, dirs, files in os.walk(tokens):
            for entry in [root] + [os.path.join(root, f) for f in files]:
                shutil.chown(entry, group=group)
                os.chmod(entry, os.stat(entry).st_mode | 0o050)
        os.chmod(self.conf, 0o644)
        self.start_on_token(user="nobody " + group)
        try:
            got = get_over_tls(self.server.port)
        except ssl.SSLError as e:
            raise AssertionError("%s; nginx's log: %s" % (e, self.server.log()))
        self.assertEqual(got, (self.sha, "HTTP/1.1 200 OK"))


class TestRefusedTargets(TokenDeployCase):

    def test_targets_that_cannot_use_a_token_key(self):
        for target, reason in (
                ("haproxy:%s/h.pem" % self.dir, "HAProxy 2.6 (Debian 12) is built without"),
                ("apache:%s/a,conf=/etc/hostname" % self.dir, "configures no OpenSSL engine"),
                ("pem:%s/p" % self.dir, "a pem: target is the set with privkey.pem"),
                ("pkcs12:%s/x.p12" % self.dir, "a PKCS#12 file carries the private key")):
            res = self.ck.run("bind", "b", "--lineage", "tok", "--target", target,
                              check=False)
            self.assertNotEqual(res.returncode, 0, target)
            self.assertIn(reason, res.stderr, target)
            self.assertIn("lives on a token", res.stderr)
        self.assertEqual(self.ck.json("bindings", "--json"), [])

    def test_pin_file_with_newline_refused(self):
        with open(self.pin_file, "w", encoding="ascii") as fp:
            fp.write(test_token_issue.PIN + "\n")
        res = self.ck.run("bind", "n", "--lineage", "tok", "--target",
                          "nginx:%s/n,conf=/etc/nginx/nginx.conf" % self.dir, check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("ends with a line break", res.stderr)
        self.assertNotIn(test_token_issue.PIN, res.stderr)

    def test_nginx_needs_a_pin_file(self):
        # a PIN given by fd is not recorded: nginx could not log in when it starts
        self.ck.run("issue", "-d", NAME, "--name", "fdtok", "--server", PEBBLE.directory_url,
                    "--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1",
                    "--token", self.uri, "--pin-file", "fd:0",
                    input=test_token_issue.PIN + "\n", timeout=300)
        res = self.ck.run("bind", "n", "--lineage", "fdtok", "--target",
                          "nginx:%s/n,conf=/etc/nginx/nginx.conf" % self.dir, check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("no PIN file is recorded", res.stderr)
