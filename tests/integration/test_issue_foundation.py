"""Issue 2 (foundation) against a real Pebble: register, issue with every key
type, 20 names, badNonce storms, `list --json`, export, store permissions,
re-issue of a lineage, thumbprint prefixes, usage errors and --help.

One Pebble for the module (setUpModule); a fresh store per test class; a
separate Pebble with PEBBLE_WFE_NONCEREJECT=60 for the badNonce test.
"""

import base64
import datetime
import json
import os
import re
import stat
import subprocess
import tempfile
import unittest

import ckharness

HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
KEY_TYPES = ("ec256", "ec384", "rsa2048", "rsa3072", "rsa4096", "ed25519")
# The commands every release has had; the --help test takes the full list from
# the program's own table (`certkeep --help`) and checks these are among them.
COMMANDS = ("account", "issue", "list", "show", "export", "import", "copy", "move", "rm",
            "request", "requests", "doctor", "token")

PEBBLE = None
TMP = None


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-foundation-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


def openssl(*args, input=None):
    res = subprocess.run(["openssl", *args], input=input, capture_output=True, text=True)
    if res.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), res.stderr))
    return res.stdout


def fingerprint(pem_path, digest="sha256"):
    out = openssl("x509", "-in", pem_path, "-noout", "-fingerprint", "-" + digest)
    return out.strip().split("=", 1)[1].replace(":", "").lower()


def cert_text(pem_path):
    return openssl("x509", "-in", pem_path, "-noout", "-text")


def cert_sans(pem_path):
    out = openssl("x509", "-in", pem_path, "-noout", "-ext", "subjectAltName")
    return sorted(re.findall(r"DNS:([^,\s]+)", out))


def pem_blocks(path):
    with open(path, encoding="ascii") as fp:
        return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                          fp.read(), re.S)


def openssl_date(pem_path, which):
    out = openssl("x509", "-in", pem_path, "-noout", "-" + which).strip()
    value = out.split("=", 1)[1]
    return datetime.datetime.strptime(value, "%b %d %H:%M:%S %Y GMT").replace(
        tzinfo=datetime.timezone.utc)


def rfc3339(value):
    return datetime.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)


def key_type_of_cert(pem_path):
    """ec256 / ec384 / rsaNNNN / ed25519 as openssl sees the certificate's key."""
    text = cert_text(pem_path)
    if "ED25519" in text:
        return "ed25519"
    if "id-ecPublicKey" in text:
        if "prime256v1" in text or "P-256" in text:
            return "ec256"
        if "secp384r1" in text or "P-384" in text:
            return "ec384"
        return "ec?"
    m = re.search(r"Public-Key: \((\d+) bit\)", text)
    if "rsaEncryption" in text and m:
        return "rsa" + m.group(1)
    return "unknown"


def algorithm_matches(algorithm, key_type):
    """Whether list --json's key.algorithm names key_type, in any spelling
    ("ec256", "EC P-256", "ecdsa-p256", "RSA 2048", "rsa2048", "Ed25519"...)."""
    a = re.sub(r"[^a-z0-9]", "", str(algorithm).lower())
    return {
        "ec256": ("256" in a and ("ec" in a or a.startswith("p"))),
        "ec384": ("384" in a and ("ec" in a or a.startswith("p"))),
        "rsa2048": ("rsa" in a and "2048" in a),
        "rsa3072": ("rsa" in a and "3072" in a),
        "rsa4096": ("rsa" in a and "4096" in a),
        "ed25519": "ed25519" in a,
    }[key_type]


class StoreCase(unittest.TestCase):
    """A fresh store (in a directory that does not exist yet) per class,
    with one account registered on the module's Pebble."""

    register = True

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix=cls.__name__ + "-", dir=TMP)
        cls.store_dir = os.path.join(cls.dir, "store")
        cls.store = os.path.join(cls.store_dir, "store.db")
        cls.ck = ckharness.Certkeep(cls.store, ca_bundle=PEBBLE.ca_bundle)
        cls.register_result = None
        if cls.register:
            cls.register_result = cls.ck.run("account", "register", "--server",
                                             PEBBLE.directory_url, "--agree-tos")

    def issue(self, *names, key_type=None, lineage=None, server=None, check=True):
        args = ["issue"]
        for n in names:
            args += ["-d", n]
        if lineage:
            args += ["--name", lineage]
        if key_type:
            args += ["--key-type", key_type]
        if server:
            args += ["--server", server]
        args += ["--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1"]
        return self.ck.run(*args, check=check, timeout=300)

    def thumbprint_of(self, res):
        out = res.stdout.strip()
        self.assertRegex(out, HEX64, ckharness.describe(
            res, "issue must print the new certificate's SHA-256 thumbprint (64 hex) on stdout"))
        return out.lower()

    def list_json(self):
        data = self.ck.json("list", "--json")
        self.assertIsInstance(data, list, "list --json must print a JSON array")
        return data

    def entry(self, sha256):
        for e in self.list_json():
            if str(e.get("sha256", "")).lower() == sha256:
                return e
        self.fail("certificate %s is not in list --json" % sha256)

    def export(self, ref, key=True, chain=True):
        d = tempfile.mkdtemp(prefix="export-", dir=self.dir)
        files = {"cert": os.path.join(d, "cert.pem")}
        args = ["export", ref, "--cert-out", files["cert"]]
        if chain:
            files["chain"] = os.path.join(d, "chain.pem")
            files["fullchain"] = os.path.join(d, "fullchain.pem")
            args += ["--chain-out", files["chain"], "--fullchain-out", files["fullchain"]]
        if key:
            files["key"] = os.path.join(d, "key.pem")
            args += ["--key-out", files["key"]]
        self.ck.run(*args)
        return files


class TestRegister(StoreCase):
    register = False

    def test_register_creates_account_and_private_store(self):
        before = PEBBLE.count_requests("POST", "/sign-me-up")
        res = self.ck.run("account", "register", "--server", PEBBLE.directory_url,
                          "--agree-tos", "--contact", "mailto:admin@example.test")
        self.assertEqual(PEBBLE.count_requests("POST", "/sign-me-up"), before + 1,
                         ckharness.describe(res, "register must create the account on the "
                                                 "server with one newAccount request"))
        self.assertTrue(os.path.isfile(self.store), "register must create the store file")
        self.assertEqual(stat.S_IMODE(os.stat(self.store).st_mode), 0o600,
                         "the store file must be mode 0600")
        self.assertEqual(stat.S_IMODE(os.stat(self.store_dir).st_mode), 0o700,
                         "the store's directory (created by certkeep) must be mode 0700")

    def test_register_requires_agreement(self):
        store = os.path.join(self.dir, "noagree", "store.db")
        res = self.ck.run("account", "register", "--server", PEBBLE.directory_url,
                          store=store, check=False)
        self.assertNotEqual(res.returncode, 0, ckharness.describe(
            res, "register without --agree-tos must not create an account"))
        self.assertTrue(res.stderr.strip(), "a refusal must say why on stderr")


class TestIssueKeyTypes(StoreCase):

    def test_each_key_type(self):
        for kt in KEY_TYPES:
            with self.subTest(key_type=kt):
                name = "%s.keytypes.example.test" % kt
                res = self.issue(name, key_type=kt)
                sha = self.thumbprint_of(res)
                files = self.export(sha)
                self.assertEqual(fingerprint(files["cert"]), sha)
                self.assertEqual(key_type_of_cert(files["cert"]), kt,
                                 "the certificate's public key must be of the asked type")
                self.assert_key_matches(files)
                e = self.entry(sha)
                self.assertTrue(algorithm_matches(e["key"]["algorithm"], kt),
                                "key.algorithm %r does not name %s" % (e["key"]["algorithm"],
                                                                       kt))

    def test_default_key_type_is_ec256_and_lineage_is_first_name(self):
        res = self.issue("first.default.example.test", "second.default.example.test")
        sha = self.thumbprint_of(res)
        e = self.entry(sha)
        self.assertEqual(e["name"], "first.default.example.test",
                         "the default lineage name is the first identifier")
        files = self.export("first.default.example.test")
        self.assertEqual(key_type_of_cert(files["cert"]), "ec256")

    def test_explicit_server(self):
        """--server picks the server, not the store's default: two directory
        URLs (Pebble itself and a fault proxy in front of it, whose counters
        show which one an order went through)."""
        store = os.path.join(self.dir, "two-servers", "store.db")
        ck = ckharness.Certkeep(store, ca_bundle=PEBBLE.ca_bundle)
        proxy = PEBBLE.fault_proxy()
        try:
            ck.run("account", "register", "--server", proxy.directory_url, "--agree-tos")
            # registered last, so Pebble's own URL is the store's default server
            ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")
            port = ["--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1"]
            ck.run("issue", "-d", "default.explicit.example.test", *port, timeout=300)
            self.assertEqual(proxy.count("/order-plz", "POST"), 0,
                             "without --server the order goes to the default server")
            res = ck.run("issue", "-d", "explicit.example.test", "--server",
                         proxy.directory_url, *port, timeout=300)
            self.thumbprint_of(res)
            self.assertEqual(proxy.count("/order-plz", "POST"), 1,
                             "with --server the order goes to that server")
        finally:
            proxy.stop()

    def test_unknown_key_type_is_usage_error(self):
        res = self.issue("bogus.example.test", key_type="dsa1024", check=False)
        self.assertEqual(res.returncode, 2, ckharness.describe(res, "expected usage error 2"))

    def assert_key_matches(self, files):
        cert_pub = openssl("x509", "-in", files["cert"], "-noout", "-pubkey")
        key_pub = openssl("pkey", "-in", files["key"], "-pubout")
        self.assertEqual(cert_pub, key_pub, "the exported key must match the certificate")


class TestTwentyNames(StoreCase):

    def test_twenty_names(self):
        names = ["n%d.example.test" % i for i in range(1, 21)]
        res = self.issue(*names, lineage="twenty")
        sha = self.thumbprint_of(res)
        e = self.entry(sha)
        self.assertEqual(sorted(e["sans"]), sorted(names))
        files = self.export("twenty", key=False, chain=False)
        self.assertEqual(cert_sans(files["cert"]), sorted(names))


class TestListExportReissue(StoreCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.names = ["www.lineage.example.test", "lineage.example.test"]
        cls.first = cls.ck.run("issue", "-d", cls.names[0], "-d", cls.names[1], "--name",
                               "web", "--http-port", str(PEBBLE.http_port),
                               "--http-address", "127.0.0.1", timeout=300)

    def test_issue_prints_thumbprint(self):
        sha = self.thumbprint_of(self.first)
        files = self.export("web", key=False, chain=False)
        self.assertEqual(fingerprint(files["cert"]), sha,
                         "the printed thumbprint is the SHA-256 of the certificate's DER")

    def test_list_json_fields(self):
        sha = self.thumbprint_of(self.first)
        e = self.entry(sha)
        files = self.export(sha, key=False, chain=False)
        cert = files["cert"]
        for field in ("name", "sha256", "sha1", "subject", "sans", "issuer", "serial",
                      "not_before", "not_after", "key"):
            self.assertIn(field, e, "list --json lacks %r" % field)
        self.assertEqual(e["name"], "web")
        self.assertEqual(e["sha256"].lower(), fingerprint(cert, "sha256"))
        self.assertEqual(e["sha1"].lower(), fingerprint(cert, "sha1"))
        self.assertIn(self.names[0], e["subject"])
        self.assertIsInstance(e["sans"], list)
        self.assertEqual(sorted(e["sans"]), sorted(self.names))
        self.assertIn("Pebble Intermediate CA", e["issuer"])
        serial = openssl("x509", "-in", cert, "-noout", "-serial").strip().split("=", 1)[1]
        self.assertEqual(re.sub(r"[^0-9a-f]", "", e["serial"].lower()).lstrip("0"),
                         serial.lower().lstrip("0"))
        for field, which in (("not_before", "startdate"), ("not_after", "enddate")):
            self.assertRegex(e[field], RFC3339_UTC, "%s must be RFC 3339 UTC" % field)
            self.assertEqual(rfc3339(e[field]), openssl_date(cert, which), field)
        self.assertIsInstance(e["key"], dict)
        self.assertTrue(algorithm_matches(e["key"]["algorithm"], "ec256"), e["key"])
        self.assertEqual(e["key"]["location"], "store")
        self.assertIs(e["key"]["linked"], True)

    def test_list_human(self):
        sha = self.thumbprint_of(self.first)
        out = self.ck.run("list").stdout
        self.assertIn("web", out)
        self.assertIn(sha[:16].lower(), out.lower(), "list shows the SHA-256 thumbprint")

    def test_export_files(self):
        files = self.export("web")
        cert_pub = openssl("x509", "-in", files["cert"], "-noout", "-pubkey")
        key_pub = openssl("pkey", "-in", files["key"], "-pubout")
        self.assertEqual(cert_pub, key_pub, "the exported key must match the certificate")
        self.assertEqual(stat.S_IMODE(os.stat(files["key"]).st_mode), 0o600,
                         "the key file must be mode 0600")
        cert = pem_blocks(files["cert"])
        chain = pem_blocks(files["chain"])
        full = pem_blocks(files["fullchain"])
        self.assertEqual(len(cert), 1, "--cert-out holds the certificate alone")
        self.assertGreaterEqual(len(chain), 1, "--chain-out holds the issuer chain")
        self.assertEqual(full, cert + chain, "fullchain = certificate followed by the chain")
        root = os.path.join(self.dir, "pebble-root.pem")
        with open(root, "wb") as fp:
            fp.write(PEBBLE.mgmt_get("/roots/0"))
        out = subprocess.run(["openssl", "verify", "-CAfile", root, "-untrusted",
                              files["chain"], files["cert"]], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, "exported chain must verify to Pebble's root: "
                         + out.stdout + out.stderr)

    def test_store_permissions(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.store).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.store_dir).st_mode), 0o700)

    def test_export_by_prefix(self):
        sha = self.thumbprint_of(self.first)
        for ref in (sha[:8], sha[:12], sha):
            with self.subTest(ref=ref):
                files = self.export(ref, key=False, chain=False)
                self.assertEqual(fingerprint(files["cert"]), sha)

    def test_export_unknown_ref_fails(self):
        out = os.path.join(self.dir, "nothing.pem")
        res = self.ck.run("export", "0000000000", "--cert-out", out, check=False)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "unknown REF: exit 1"))
        self.assertTrue(res.stderr.strip())
        self.assertFalse(os.path.exists(out), "nothing is written for an unknown REF")

    def test_reissue_makes_new_current_and_keeps_old(self):
        names = ["again.lineage.example.test"]
        old = self.thumbprint_of(self.issue(*names, lineage="again"))
        new = self.thumbprint_of(self.issue(*names, lineage="again"))
        self.assertNotEqual(old, new)
        shas = [str(e["sha256"]).lower() for e in self.list_json() if e.get("name") == "again"]
        self.assertIn(old, shas, "the old certificate stays in the store")
        self.assertIn(new, shas)
        files = self.export("again", key=False, chain=False)
        self.assertEqual(fingerprint(files["cert"]), new,
                         "the lineage's current certificate is the new one")
        old_files = self.export(old, key=True, chain=False)
        self.assertEqual(fingerprint(old_files["cert"]), old,
                         "the old certificate is still exportable by its thumbprint")


class TestDoctorFacts(StoreCase):
    """Issue 14: issuance records verified facts (docs/store.md), doctor
    checks the issued certificate and the keys by digest instead of parsing
    and re-verifying them, --full recomputes, and the facts travel with
    `store copy` and `copy`."""

    def doctor(self, *extra, store=None):
        res = self.ck.run("doctor", "--json", *extra, store=store, check=False)
        data = json.loads(res.stdout)
        self.assertTrue(data["clean"], ckharness.describe(res, "the store must be clean"))
        return data["checked"]

    def test_issued_certificate_checked_by_its_facts(self):
        sha = self.thumbprint_of(self.issue("facts.example.test"))
        checked = self.doctor()
        # The issued certificate; the account key and the certificate key.
        self.assertEqual(checked["certificates"], 1, checked)
        self.assertEqual(checked["keys"], 2, checked)
        self.assertEqual(checked["certificates_recomputed"], 0, checked)
        self.assertEqual(checked["keys_recomputed"], 0, checked)
        full = self.doctor("--full")
        self.assertEqual(full["certificates_recomputed"], 1, full)
        self.assertEqual(full["keys_recomputed"], 2, full)
        # A whole-store copy carries the facts table; a certificate copy
        # records them in the destination as it stores the certificate.
        whole = os.path.join(self.dir, "whole", "store.db")
        self.ck.run("store", "copy", "--to", whole)
        checked = self.doctor(store=whole)
        self.assertEqual((checked["certificates_recomputed"], checked["keys_recomputed"]),
                         (0, 0), checked)
        one = os.path.join(self.dir, "one", "store.db")
        self.ck.run("copy", sha, "--to", one)
        checked = self.doctor(store=one)
        self.assertEqual(checked["certificates"], 1, checked)
        self.assertEqual((checked["certificates_recomputed"], checked["keys_recomputed"]),
                         (0, 0), checked)


class TestValidationFails(StoreCase):
    """The CA cannot reach the responder: a clear error that names the
    cause and what to check, nothing stored but the key, and the next try
    (on the right port) succeeds."""

    def test_wrong_port(self):
        free = ckharness.free_port()
        res = self.ck.run("issue", "-d", "unreachable.example.test", "--http-port", str(free),
                          "--http-address", "127.0.0.1", check=False, timeout=300)
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "validation failure exits 1"))
        err = res.stderr
        self.assertIn("validation of unreachable.example.test failed", err)
        self.assertIn("connection", err, "the server's problem type is shown")
        self.assertIn("--http-port", err, "the error says what to check")
        self.assertEqual([e for e in self.list_json()], [], "no certificate was stored")
        doc = self.ck.run("doctor", "--json", check=False)
        names = [f["name"] for f in json.loads(doc.stdout)["findings"]]
        self.assertNotIn("cert-key-missing", names)
        ok = self.issue("unreachable.example.test")
        self.thumbprint_of(ok)


class TestBadNonce(unittest.TestCase):
    """A separate Pebble that rejects 60 % of good nonces."""

    # At least ISSUES certificates, more (up to ISSUES_MAX) until Pebble's
    # log shows a retried POST: each counted POST is rejected with
    # probability 0.6, so three certificates (seven counted POSTs) see none
    # about once in 600 runs; twelve (25 POSTs) once in 10^10.
    ISSUES = 3
    ISSUES_MAX = 12

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="badnonce-", dir=TMP)
        cls.pebble = ckharness.Pebble(os.path.join(cls.dir, "pebble"), nonce_reject=60)
        cls.pebble.start()

    @classmethod
    def tearDownClass(cls):
        cls.pebble.stop()

    def test_issue_survives_nonce_rejections(self):
        ck = ckharness.Certkeep(os.path.join(self.dir, "store", "store.db"),
                                ca_bundle=self.pebble.ca_bundle)
        ck.run("account", "register", "--server", self.pebble.directory_url, "--agree-tos")
        self.assertIn("Configured to reject 60% of good nonces", self.pebble.log())
        issued = surplus = 0
        while issued < self.ISSUES or (surplus == 0 and issued < self.ISSUES_MAX):
            res = ck.run("issue", "-d", "nonce%d.example.test" % issued, "--http-port",
                         str(self.pebble.http_port), "--http-address", "127.0.0.1",
                         timeout=300)
            self.assertRegex(res.stdout.strip(), HEX64)
            issued += 1
            # One newAccount, then per certificate one newOrder and one
            # challenge: any POST beyond that was a retry after badNonce.
            surplus = self.pebble.count_bad_nonce(1 + 2 * issued)
        self.assertGreater(surplus, 0, "Pebble's log shows no retried POST: with 60 %% of "
                           "nonces rejected, badNonce must have happened (POSTs: %d)" % (
                               1 + 2 * issued + surplus))
        self.assertEqual(len(ck.json("list", "--json")), issued)


class TestAlternateChains(unittest.TestCase):
    """A Pebble with two roots offers the chain to the second root as a
    Link: rel="alternate"; issuance records it beside the default chain."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="altroots-", dir=TMP)
        cls.pebble = ckharness.Pebble(os.path.join(cls.dir, "pebble"),
                                      env={"PEBBLE_ALTERNATE_ROOTS": "1"})
        cls.pebble.start()

    @classmethod
    def tearDownClass(cls):
        cls.pebble.stop()

    def test_alternate_chain_recorded(self):
        store = os.path.join(self.dir, "store", "store.db")
        ck = ckharness.Certkeep(store, ca_bundle=self.pebble.ca_bundle)
        ck.run("account", "register", "--server", self.pebble.directory_url, "--agree-tos")
        sha = ck.run("issue", "-d", "alt.example.test", "--http-port",
                     str(self.pebble.http_port), "--http-address", "127.0.0.1",
                     timeout=300).stdout.strip()
        shown = ck.json("show", sha, "--json")
        self.assertEqual(shown["alternate_chains"], 1, "one alternate chain is offered")
        self.assertIn("1 alternate chain", ck.run("show", sha).stdout)
        # What is stored is the alternate chain itself: base64url DER of its
        # issuers (no leaf, like "chain"), starting at another intermediate
        # than the default chain's.
        db = sqlite3_query(store, "SELECT alternates FROM certificates WHERE sha256 = '%s'" % sha)
        chains = json.loads(db)
        self.assertEqual(len(chains), 1)
        self.assertGreaterEqual(len(chains[0]), 1)
        first = chains[0][0]
        der = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
        def field(name):
            out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-" + name,
                                  "-nameopt", "RFC2253"],
                                 input=der, capture_output=True, check=True).stdout.decode()
            return out.strip()[len(name) + 1:]
        self.assertRegex(field("subject"), r"^CN=Pebble Intermediate CA [0-9a-f]+$",
                         "the alternate starts at an intermediate, not the leaf")
        # Pebble's alternate is the intermediate cross-signed by another root.
        self.assertNotEqual(field("issuer"), shown["chain"][0]["issuer"],
                            "the alternate chain leads to another root")


def sqlite3_query(path, sql):
    return subprocess.run(["sqlite3", path, sql], capture_output=True, text=True,
                          check=True).stdout.strip()


class TestBadNonceForever(unittest.TestCase):
    """Through the fault proxy: a server that answers badNonce forever ends
    in a bounded number of retries and a clear error."""

    # The first try plus ACME_BAD_NONCE_RETRIES (20, src/acme/acme.h): enough
    # that Pebble's 60 % rejection never exhausts it, few enough to end fast.
    MAX_TRIES = 21

    def test_bounded_retries_and_clear_error(self):
        d = tempfile.mkdtemp(prefix="badnonce-forever-", dir=TMP)
        proxy = PEBBLE.fault_proxy()
        self.addCleanup(proxy.stop)
        ck = ckharness.Certkeep(os.path.join(d, "store", "store.db"),
                                ca_bundle=PEBBLE.ca_bundle)
        ck.run("account", "register", "--server", proxy.directory_url, "--agree-tos")
        proxy.add_rule("/order-plz", method="POST", type="badNonce",
                       detail="JWS has an invalid anti-replay nonce")
        res = ck.run("issue", "-d", "forever.example.test", "--http-port",
                     str(PEBBLE.http_port), "--http-address", "127.0.0.1", check=False,
                     timeout=120, global_args=("-q",))
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "must fail with exit 1"))
        tries = proxy.count("/order-plz", "POST")
        self.assertGreaterEqual(tries, 2, "badNonce must be retried at least once")
        self.assertLessEqual(tries, self.MAX_TRIES, "badNonce retries must be bounded")
        self.assertIn("nonce", res.stderr.lower(), ckharness.describe(
            res, "the error must name the server's badNonce"))
        self.assertEqual(len(res.stderr.strip().splitlines()), 1,
                         ckharness.describe(res, "with -q, one line on stderr says why"))
        self.assertEqual(res.stdout.strip(), "", "no thumbprint for a failed issue")


class TestUsage(unittest.TestCase):
    """No server needed: --help everywhere, exit 2 for wrong usage."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="usage-", dir=TMP)
        cls.ck = ckharness.Certkeep(os.path.join(cls.dir, "store", "store.db"))

    def section(self, text, heading):
        """Names at the start of each indented line after `heading:` up to the
        next blank line (how `certkeep --help` lists its command table)."""
        names, inside = [], False
        for line in text.splitlines():
            if line.strip() == heading + ":":
                inside = True
            elif inside and not line.strip():
                break
            elif inside:
                names.append(line.split()[0])
        return names

    def commands(self):
        """(command, subcommands) from the program itself: the command table
        in `certkeep --help`, each command's subcommands from its own --help
        ("subcommands:" section, or its "usage: certkeep CMD SUB" lines)."""
        top = self.ck.run("--help", check=False)
        cmds = self.section(top.stdout, "commands")
        out = []
        for c in cmds:
            text = self.ck.run(c, "--help", check=False).stdout
            subs = self.section(text, "subcommands")
            subs += [m for m in re.findall(r"^(?:usage:)?\s+certkeep %s ([a-z][a-z-]*)" % c,
                                           text, re.M) if m not in subs]
            out.append((c, subs))
        return out

    def test_help_exits_zero(self):
        table = self.commands()
        names = [c for c, _ in table]
        for c in COMMANDS:
            self.assertIn(c, names, "certkeep --help must list the command %s" % c)
        args_list = [("--help",)]
        for c, subs in table:
            args_list.append((c, "--help"))
            args_list += [(c, s, "--help") for s in subs]
        self.assertIn(("token", "add", "--help"), args_list)
        self.assertIn(("account", "register", "--help"), args_list)
        for args in args_list:
            with self.subTest(args=args):
                res = self.ck.run(*args, check=False)
                self.assertEqual(res.returncode, 0, ckharness.describe(res, "--help exits 0"))
                self.assertIn("usage", (res.stdout + res.stderr).lower())

    def test_wrong_usage_exits_two(self):
        cases = [
            (),
            ("no-such-command",),
            ("--no-such-option", "list"),
            ("list", "--no-such-option"),
            ("issue",),                              # no -d
            ("issue", "-d", "x.example.test", "--http-port", "notaport"),
            ("export",),                             # no REF
            ("account", "register", "--agree-tos", "--server"),
        ]
        for args in cases:
            with self.subTest(args=args):
                res = self.ck.run(*args, check=False)
                self.assertEqual(res.returncode, 2, ckharness.describe(res, "usage error: 2"))
                self.assertTrue(res.stderr.strip(), "a usage error says why on stderr")


if __name__ == "__main__":
    unittest.main()
