"""Issue 10: p11-kit's proxy module is the module when neither the URI's
module-path= nor --pkcs11-module names one.

p11-kit reads a user's module configuration (~/.config/pkcs11/modules)
but never as root ("skipping user config in program running as root"), and
Debian's softhsm2 package registers SoftHSM system-wide under the name
"softhsm2".  So certkeep runs here as the unprivileged user `nobody`, with
HOME a private directory whose ~/.config/pkcs11/modules/softhsm2.module
overrides that registration by name - never the system configuration:

- with `module:` left blank (SoftHSM disabled for this user) the token is
  not found through the proxy, and the error says so;
- with `module: <SoftHSM>` the proxy finds the token, `certkeep issue
  --token pkcs11:token=LABEL --pin-file F` makes the key there (one private
  key object, checked with pkcs11-tool against SoftHSM directly), signs the
  CSR through the proxy and Pebble issues the certificate.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

import ckharness
from test_token import run

MODULE = os.environ.get("CK_SOFTHSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
LABEL = "ck-proxy-token"
PIN = "123456"
PEBBLE = None
TMP = None


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-token-proxy-")
    os.chmod(TMP, 0o711)


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


class AsUser(ckharness.Certkeep):
    """certkeep run as another user (setpriv: no shell, no PAM)."""

    def __init__(self, user, *args, **kw):
        super().__init__(*args, **kw)
        pw = pwd.getpwnam(user)
        self.prefix = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
                       "--clear-groups", "--"]

    def argv(self, *args, **kw):
        return self.prefix + super().argv(*args, **kw)


class TestProxyModule(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="proxy-", dir=TMP)
        os.chmod(self.dir, 0o711)
        nobody = pwd.getpwnam("nobody")
        self.conf = os.path.join(self.dir, "softhsm2.conf")
        tokens = os.path.join(self.dir, "tokens")
        os.makedirs(tokens)
        with open(self.conf, "w", encoding="ascii") as fp:
            fp.write("directories.tokendir = %s\nobjectstore.backend = file\n"
                     "log.level = ERROR\n" % tokens)
        self.env = dict(os.environ, SOFTHSM2_CONF=self.conf)
        run("softhsm2-util", "--init-token", "--free", "--label", LABEL, "--pin", PIN,
            "--so-pin", "654321", env=self.env)
        self.pin_file = os.path.join(self.dir, "pin")
        with open(self.pin_file, "w", encoding="ascii") as fp:
            fp.write(PIN + "\n")
        self.home = os.path.join(self.dir, "home")
        self.modules = os.path.join(self.home, ".config", "pkcs11", "modules")
        os.makedirs(self.modules)
        os.makedirs(os.path.join(self.dir, "store"))
        for root, dirs, files in os.walk(self.dir):
            for entry in [root] + [os.path.join(root, f) for f in files]:
                if entry != self.dir:
                    os.chown(entry, nobody.pw_uid, nobody.pw_gid)
        self.ck = AsUser("nobody", os.path.join(self.dir, "store", "store.db"),
                         ca_bundle=PEBBLE.ca_bundle,
                         env={"SOFTHSM2_CONF": self.conf, "HOME": self.home,
                              "XDG_CONFIG_HOME": os.path.join(self.home, ".config")})

    def register(self, module_line):
        path = os.path.join(self.modules, "softhsm2.module")
        with open(path, "w", encoding="ascii") as fp:
            fp.write("# certkeep's test: SoftHSM for this user only\n%s\n" % module_line)
        shutil.chown(path, "nobody")

    def issue(self, check=True):
        return self.ck.run("issue", "-d", "proxy.tok.example.test", "--name", "ptok",
                           "--server", PEBBLE.directory_url, "--http-port",
                           str(PEBBLE.http_port), "--http-address", "127.0.0.1",
                           "--token", "pkcs11:token=" + LABEL, "--pin-file", self.pin_file,
                           check=check, timeout=300)

    def private_keys(self):
        out = run("pkcs11-tool", "--module", MODULE, "--token-label", LABEL, "--login",
                  "--pin", PIN, "--list-objects", "--type", "privkey", env=self.env).stdout
        return [line for line in out.splitlines() if line.startswith("Private Key Object")]

    def test_issue_through_proxy(self):
        self.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")

        # SoftHSM disabled in this user's p11-kit configuration: not found
        self.register("module:")
        res = self.issue(check=False)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn(LABEL, res.stderr)
        self.assertIn("p11-kit-proxy", res.stderr, "the message names the module it used")
        self.assertEqual(self.private_keys(), [])

        # registered for this user: the proxy finds the token and the key signs
        self.register("module: " + MODULE)
        sha = self.issue().stdout.strip()
        row = [r for r in self.ck.json("list", "--json") if r["sha256"] == sha][0]
        self.assertTrue(row["key"]["location"].startswith("pkcs11:token=" + LABEL), row)
        self.assertTrue(row["key"]["linked"], row)
        proxy = run("pkg-config", "--variable=proxy_module", "p11-kit-1").stdout.strip()
        self.assertIn("module-path=" + urllib.parse.quote(proxy, safe=""),
                      row["key"]["location"], "the key is recorded as reached by the proxy")
        self.assertEqual(len(self.private_keys()), 1)
