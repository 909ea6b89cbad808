"""Issue 10: certificates issued by a real Pebble whose key lives on a real
SoftHSM2 token (its own SOFTHSM2_CONF and token directory per test).

`certkeep issue --token URI --pin-file F` makes the key pair on the token
(EC P-256, RSA 2048), signs the CSR there, and after issuance writes the
certificate onto the token.  Checked with OpenSC's pkcs11-tool, not with
certkeep: the private key is never extractable and may only sign; the
certificate object carries the key's CKA_ID and the lineage's label, and
holds exactly the certificate the store holds; a second issuance for the
lineage replaces the object (one afterwards).  The store records the key's
location as a pkcs11: URI; `export` of the key fails saying it cannot
leave the token, while the certificate and chain export.  A wrong PIN
fails once with its own message and nothing is ordered; an existing token
key chosen by id= in the URI is used as is.
"""

import os
import re
import subprocess
import tempfile
import unittest

import ckharness
from test_token import run

MODULE = os.environ.get("CK_SOFTHSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
LABEL = "ck-issue-token"
PIN = "123456"
PEBBLE = None
TMP = None


def setUpModule():
    global PEBBLE, TMP
    TMP, PEBBLE = ckharness.module_pebble("ck-token-issue-")


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


class TokenIssueCase(unittest.TestCase):
    register = True

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.id().rsplit(".", 1)[-1] + "-", dir=TMP)
        os.makedirs(os.path.join(self.dir, "tokens"))
        self.conf = os.path.join(self.dir, "softhsm2.conf")
        with open(self.conf, "w", encoding="ascii") as fp:
            fp.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
                     "log.level = ERROR\n" % self.dir)
        self.env = dict(os.environ, SOFTHSM2_CONF=self.conf)
        run("softhsm2-util", "--init-token", "--free", "--label", LABEL, "--pin", PIN,
            "--so-pin", "654321", env=self.env)
        self.pin_file = os.path.join(self.dir, "pin")
        with open(self.pin_file, "w", encoding="ascii") as fp:
            fp.write(PIN + "\n")
        self.uri = "pkcs11:token=%s?module-path=%s" % (LABEL, MODULE)
        self.ck = ckharness.Certkeep(os.path.join(self.dir, "store", "store.db"),
                                     ca_bundle=PEBBLE.ca_bundle,
                                     env={"SOFTHSM2_CONF": self.conf})
        if self.register:
            self.ck.run("account", "register", "--server", PEBBLE.directory_url,
                        "--agree-tos")

    def p11(self, *args, check=True):
        return run("pkcs11-tool", "--module", MODULE, "--token-label", LABEL, *args,
                   env=self.env, check=check)

    def objects(self):
        """pkcs11-tool's listing after login: (kind, type, {field: value}) per object."""
        out = self.p11("--login", "--pin", PIN, "--list-objects").stdout
        objs = []
        for block in re.split(r"\n(?=\S)", out):
            head, _, rest = block.partition("\n")
            kind, _, typ = head.partition(";")
            fields = dict(re.findall(r"^\s+([\w ]+?):\s+(.*)$", rest, re.M))
            objs.append((kind.strip(), typ.strip(), fields))
        return objs

    def issue(self, name, lineage, *extra, check=True, pin_file=None):
        return self.ck.run("issue", "-d", name, "--name", lineage, "--server",
                           PEBBLE.directory_url, "--http-port", str(PEBBLE.http_port),
                           "--http-address", "127.0.0.1", "--token", self.uri,
                           "--pin-file", pin_file or self.pin_file, *extra, check=check,
                           timeout=300)

    def cert_on_token(self, key_id):
        out = os.path.join(self.dir, "tok.der")
        self.p11("--read-object", "--type", "cert", "--id", key_id, "-o", out)
        return run("openssl", "x509", "-inform", "DER", "-in", out, "-noout",
                   "-fingerprint", "-sha256").stdout.split("=", 1)[1].strip()

    def check_issued(self, lineage, name, kind, *extra):
        """Issues, then checks the token with pkcs11-tool: (key id, sha256)."""
        sha = self.issue_and_row(lineage, name, *extra)
        objs = self.objects()
        privs = [(t, f) for k, t, f in objs if k == "Private Key Object" and
                 f.get("label") == lineage]
        certs = [f for k, _, f in objs if k == "Certificate Object" and
                 f.get("label") == lineage]
        newest = [(t, f) for t, f in privs if f["ID"] in [c["ID"] for c in certs]]
        self.assertEqual(len(newest), 1, objs)
        typ, priv = newest[0]
        self.assertTrue(typ.startswith(kind), typ)
        self.assertIn("never extractable", priv["Access"])
        self.assertIn("sensitive", priv["Access"])
        self.assertEqual(priv["Usage"], "sign")
        self.assertEqual(len(certs), 1, "one certificate object for the lineage: %r" % objs)
        self.assertEqual(certs[0]["ID"], priv["ID"],
                         "the certificate object carries the key's CKA_ID")
        self.assertEqual(self.cert_on_token(certs[0]["ID"]).replace(":", "").lower(), sha)
        return priv["ID"], sha

    def issue_and_row(self, lineage, name, *extra):
        sha = self.issue(name, lineage, *extra).stdout.strip()
        row = self.row(sha)
        self.assertTrue(row["key"]["location"].startswith("pkcs11:"), row)
        self.assertIn("token=" + LABEL, row["key"]["location"])
        self.assertTrue(row["key"]["linked"], row)
        return sha

    def row(self, sha):
        return [r for r in self.ck.json("list", "--json") if r["sha256"] == sha][0]


class TestIssueOnToken(TokenIssueCase):

    def test_ec_key_on_token_and_renewal_replaces_object(self):
        key_id, sha = self.check_issued("ectok", "ec.tok.example.test", "EC")
        self.assertEqual(self.row(sha)["key"]["algorithm"], "EC P-256")

        # the key cannot leave the token; the certificate and chain can
        out = os.path.join(self.dir, "out")
        res = self.ck.run("export", sha, "--cert-out", out + ".crt", "--key-out",
                          out + ".key", check=False)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("cannot leave its token", res.stderr)
        self.assertFalse(os.path.exists(out + ".key"))
        self.ck.run("export", sha, "--no-key", "--fullchain-out", out + ".crt")
        with open(out + ".crt", encoding="ascii") as fp:
            self.assertGreaterEqual(fp.read().count("BEGIN CERTIFICATE"), 2,
                                    "the certificate with its chain")

        # a second issuance: a new key and one certificate object, the new one
        key_id2, sha2 = self.check_issued("ectok", "ec.tok.example.test", "EC")
        self.assertNotEqual(sha2, sha)
        self.assertNotEqual(key_id2, key_id)

    def test_rsa_key_on_token(self):
        _, sha = self.check_issued("rsatok", "rsa.tok.example.test", "RSA", "--key-type",
                                   "rsa2048")
        self.assertEqual(self.row(sha)["key"]["algorithm"], "RSA 2048")

    def test_existing_key_by_id(self):
        self.p11("--login", "--pin", PIN, "--keypairgen", "--key-type", "EC:secp384r1",
                 "--id", "c0ffee", "--label", "mine")
        self.uri = "pkcs11:token=%s;id=%%C0%%FF%%EE?module-path=%s" % (LABEL, MODULE)
        sha = self.issue_and_row("mine", "mine.tok.example.test")
        row = self.row(sha)
        self.assertIn("id=%C0%FF%EE", row["key"]["location"])
        self.assertEqual(row["key"]["algorithm"], "EC P-384")
        certs = [f for k, _, f in self.objects() if k == "Certificate Object"]
        self.assertEqual([c["ID"] for c in certs], ["c0ffee"])

    def test_wrong_pin_fails_once_and_orders_nothing(self):
        bad = os.path.join(self.dir, "bad-pin")
        with open(bad, "w", encoding="ascii") as fp:
            fp.write("999999\n")
        before = PEBBLE.count_requests("POST", "/order-plz")
        res = self.issue("pin.tok.example.test", "pin", pin_file=bad, check=False)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("wrong PIN for token '%s'" % LABEL, res.stderr)
        self.assertIn("will not be tried again", res.stderr)
        self.assertEqual(PEBBLE.count_requests("POST", "/order-plz"), before,
                         "no order is placed without the key")
        self.assertEqual([k for k, _, _ in self.objects() if k == "Private Key Object"], [])
        self.assertNotIn(PIN, res.stderr + res.stdout)


class TestEnrollment(TokenIssueCase):
    """request on the token today, an offline CA signs, import links it days later."""
    register = False

    def offline_ca_sign(self, csr):
        ca_key, ca_crt = os.path.join(self.dir, "ca.key"), os.path.join(self.dir, "ca.crt")
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "30", "-subj",
            "/CN=ck offline CA")
        run("openssl", "req", "-in", csr, "-noout", "-verify")
        leaf = os.path.join(self.dir, "leaf.pem")
        run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-CAcreateserial", "-days", "20", "-copy_extensions", "copy", "-out", leaf)
        issued = os.path.join(self.dir, "issued.pem")
        with open(issued, "w", encoding="ascii") as out:
            for part in (leaf, ca_crt):
                with open(part, encoding="ascii") as fp:
                    out.write(fp.read())
        fp = run("openssl", "x509", "-in", leaf, "-noout", "-fingerprint", "-sha256")
        return issued, fp.stdout.split("=", 1)[1].strip().replace(":", "").lower()

    def test_request_offline_ca_import_writes_token(self):
        csr = os.path.join(self.dir, "req.csr")
        res = self.ck.run("request", "--token", self.uri, "--pin-file", self.pin_file,
                          "-d", "enroll.tok.example.test", "--name", "enroll",
                          "--csr-out", csr)
        self.assertIn("import --pin-file F", res.stdout)
        privs = [(t, f) for k, t, f in self.objects() if k == "Private Key Object"]
        self.assertEqual(len(privs), 1, privs)
        self.assertEqual(privs[0][1]["label"], "enroll")
        self.assertIn("never extractable", privs[0][1]["Access"])
        issued, sha = self.offline_ca_sign(csr)

        # days later, without the PIN: linked and completed, not yet on the token
        res = self.ck.run("import", issued)
        self.assertIn("which is now closed", res.stdout)
        self.assertIn("not written onto its token", res.stdout)
        self.assertEqual([k for k, _, _ in self.objects() if k == "Certificate Object"], [])
        row = self.row(sha)
        self.assertTrue(row["key"]["location"].startswith("pkcs11:"), row)
        self.assertTrue(row["key"]["linked"], row)
        self.assertEqual(row["name"], "enroll")
        self.assertTrue(row["current"], row)

        # with the PIN: written beside its key, once
        for _ in range(2):
            res = self.ck.run("import", "--pin-file", self.pin_file, issued)
            self.assertIn("1 certificate(s) written onto the token", res.stdout)
            certs = [f for k, _, f in self.objects() if k == "Certificate Object"]
            self.assertEqual(len(certs), 1, certs)
            self.assertEqual(certs[0]["label"], "enroll")
            self.assertEqual(certs[0]["ID"], privs[0][1]["ID"])
            self.assertEqual(self.cert_on_token(certs[0]["ID"]).replace(":", "").lower(), sha)
        self.assertEqual(self.ck.json("requests", "--json"), [])

    def test_token_key_of_expired_certificate(self):
        """doctor CK-D033: the key on the token serves only an expired certificate."""
        csr = os.path.join(self.dir, "old.csr")
        self.ck.run("request", "--token", self.uri, "--pin-file", self.pin_file,
                    "-d", "old.tok.example.test", "--name", "old", "--csr-out", csr)
        ca = os.path.join(self.dir, "ca")
        os.makedirs(ca)
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", ca + "/ca.key", "-out", ca + "/ca.crt", "-days", "30",
            "-subj", "/CN=ck offline CA")
        open(ca + "/index.txt", "w").close()
        with open(ca + "/serial", "w", encoding="ascii") as fp:
            fp.write("1000\n")
        with open(ca + "/ca.cnf", "w", encoding="ascii") as fp:
            fp.write("[ca]\ndefault_ca = d\n[d]\ndir = %s\ndatabase = $dir/index.txt\n"
                     "new_certs_dir = $dir\nserial = $dir/serial\ncertificate = $dir/ca.crt\n"
                     "private_key = $dir/ca.key\ndefault_md = sha256\npolicy = p\n"
                     "copy_extensions = copy\n[p]\ncommonName = supplied\n" % ca)
        old = os.path.join(self.dir, "old.pem")
        run("openssl", "ca", "-batch", "-config", ca + "/ca.cnf", "-in", csr, "-out", old,
            "-notext", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z")
        self.ck.run("import", "--pin-file", self.pin_file, old)
        doc = __import__("json").loads(self.ck.run("doctor", "--json", check=False).stdout)
        exp = [f for f in doc["findings"] if f["code"] == "CK-D033"]
        self.assertEqual(len(exp), 1, doc)
        self.assertIn("serves only expired certificates", exp[0]["what"])
        self.assertIn("token '%s'" % LABEL, exp[0]["what"])


class TestAccountOnToken(TokenIssueCase):
    """The ACME account key made on the token; Pebble verifies its JWS."""
    register = False

    def plain_issue(self, name, *extra, check=True):
        return self.ck.run("issue", "-d", name, "--server", PEBBLE.directory_url,
                           "--http-port", str(PEBBLE.http_port), "--http-address",
                           "127.0.0.1", *extra, check=check, timeout=300)

    def test_register_and_issue_with_account_key_on_token(self):
        res = self.ck.run("account", "register", "--server", PEBBLE.directory_url,
                          "--agree-tos", "--token", self.uri, "--pin-file", self.pin_file)
        self.assertIn("registered account default", res.stdout)
        privs = [(t, f) for k, t, f in self.objects() if k == "Private Key Object"]
        self.assertEqual(len(privs), 1, privs)
        self.assertEqual(privs[0][1]["label"], "acme-account-default")
        self.assertIn("never extractable", privs[0][1]["Access"])

        shown = self.ck.json("account", "show", "--pin-file", self.pin_file, "--json")
        self.assertEqual(shown["status"], "valid", shown)

        # every request is signed on the token: without the PIN nothing is sent
        before = PEBBLE.count_requests("POST")
        res = self.plain_issue("nopin.acct.example.test", check=False)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("needs its user PIN", res.stderr)
        self.assertEqual(PEBBLE.count_requests("POST"), before)

        sha = self.plain_issue("acct.tok.example.test", "--pin-file",
                               self.pin_file).stdout.strip()
        self.assertEqual(self.row(sha)["key"]["location"], "store")
        # and with both keys on the token
        _, sha2 = self.check_issued("both", "both.tok.example.test", "EC")
        self.assertNotEqual(sha, sha2)

    def test_rollover_software_account_key_onto_token(self):
        self.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")
        before = self.ck.json("account", "show", "--json")
        res = self.ck.run("account", "rollover", "--token", self.uri, "--pin-file",
                          self.pin_file)
        self.assertIn("rolled over to a new EC P-256 key", res.stdout)
        privs = [f for k, _, f in self.objects() if k == "Private Key Object"]
        self.assertEqual([p["label"] for p in privs], ["acme-account-default"])
        # the server now accepts only the token key: requests are signed there
        after = self.ck.json("account", "show", "--pin-file", self.pin_file, "--json")
        self.assertEqual(after["url"], before["url"])
        self.assertNotEqual(after["jwk_thumbprint"], before["jwk_thumbprint"])
        self.plain_issue("roll.acct.example.test", "--pin-file", self.pin_file)
        # and back to a software key, signed for by the token key
        self.ck.run("account", "rollover", "--pin-file", self.pin_file)
        self.plain_issue("back.acct.example.test")

    def test_interrupted_rollover_onto_token_is_resolved(self):
        self.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")
        before = self.ck.json("account", "show", "--json")["jwk_thumbprint"]
        for point, rolled in (("rollover.after_pending", False),
                              ("rollover.after_keychange", True)):
            res = self.ck.run("account", "rollover", "--token", self.uri, "--pin-file",
                              self.pin_file, check=False, env={"CERTKEEP_FAULT": point})
            self.assertNotEqual(res.returncode, 0, res.stderr)
            res = self.ck.run("account", "show", "--pin-file", self.pin_file, "--json")
            acct = __import__("json").loads(res.stdout)
            self.assertIn("interrupted", res.stderr, point)
            self.assertIsNone(acct["pending_key"], acct)
            self.assertEqual(acct["jwk_thumbprint"] != before, rolled, point)
        self.plain_issue("resolved.acct.example.test", "--pin-file", self.pin_file)


class TestDoctorTokens(TokenIssueCase):
    """doctor reads the token afresh: an unlinked certificate object (and
    --repair), a key deleted behind certkeep's back, a token that is gone;
    copy and move of a certificate whose key is on the token."""

    def codes(self, *extra, env=None):
        res = self.ck.run("doctor", "--json", *extra, check=False, env=env)
        doc = __import__("json").loads(res.stdout)
        return doc, [f["code"] for f in doc["findings"] if f["code"].startswith("CK-D03")]

    def test_doctor_token_findings_and_repair(self):
        key_id, sha = self.check_issued("doc", "doc.tok.example.test", "EC")
        self.assertEqual(self.codes()[1], [])

        # a certificate object written by another tool, with no key's CKA_ID
        der = os.path.join(self.dir, "stray.der")
        self.p11("--read-object", "--type", "cert", "--id", key_id, "-o", der)
        self.p11("--login", "--pin", PIN, "--write-object", der, "--type", "cert",
                 "--id", "ff", "--label", "stray")
        doc, codes = self.codes()
        self.assertEqual(codes, ["CK-D032"], doc)
        stray = [f for f in doc["findings"] if f["code"] == "CK-D032"][0]
        self.assertIn("stray", stray["object"])
        self.assertIn("--repair", stray["fix"])
        doc, codes = self.codes("--repair")
        self.assertEqual(codes, [], doc)
        self.assertEqual([a["code"] for a in doc["actions"]], ["CK-D032"], doc)
        ids = sorted(f["ID"] for k, _, f in self.objects() if k == "Certificate Object")
        self.assertEqual(ids, [key_id, key_id], "the stray object now carries the key's id")

        # the key deleted behind certkeep's back
        self.p11("--login", "--pin", PIN, "--delete-object", "--type", "pubkey", "--id",
                 key_id)
        self.p11("--login", "--pin", PIN, "--delete-object", "--type", "privkey", "--id",
                 key_id)
        doc, codes = self.codes()
        self.assertIn("CK-D031", codes, doc)
        missing = [f for f in doc["findings"] if f["code"] == "CK-D031"][0]
        self.assertIn("no public key with this key's CKA_ID", missing["what"])

        # the token gone (another token directory: no token with that label)
        empty = os.path.join(self.dir, "empty.conf")
        os.makedirs(os.path.join(self.dir, "none"))
        with open(empty, "w", encoding="ascii") as fp:
            fp.write("directories.tokendir = %s/none\nobjectstore.backend = file\n" % self.dir)
        doc, codes = self.codes(env={"SOFTHSM2_CONF": empty})
        self.assertIn("CK-D030", codes, doc)
        self.assertNotIn("CK-D031", codes, "an unreadable token is not a missing key")
        absent = [f for f in doc["findings"] if f["code"] == "CK-D030"][0]
        self.assertIn("no token labelled '%s'" % LABEL, absent["what"])

    def test_copy_and_move_of_token_backed_certificate(self):
        _, sha = self.check_issued("mv", "mv.tok.example.test", "EC")
        other = os.path.join(self.dir, "other", "store.db")
        res = self.ck.run("copy", sha, "--to", other)
        self.assertIn("with its key reference (the key stays on its token)", res.stdout)
        copied = [r for r in self.ck.json("list", "--json", store=other)
                  if r["sha256"] == sha][0]
        self.assertEqual(copied["key"]["location"], self.row(sha)["key"]["location"])

        # the token out of reach: the move is refused and nothing changes
        empty = os.path.join(self.dir, "empty.conf")
        os.makedirs(os.path.join(self.dir, "none"))
        with open(empty, "w", encoding="ascii") as fp:
            fp.write("directories.tokendir = %s/none\nobjectstore.backend = file\n" % self.dir)
        third = os.path.join(self.dir, "third", "store.db")
        res = self.ck.run("move", sha, "--to", third, check=False,
                          env={"SOFTHSM2_CONF": empty})
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("cannot be reached from here", res.stderr)
        self.assertIn("Nothing was changed", res.stderr)
        self.assertEqual(self.row(sha)["sha256"], sha)
        self.assertFalse(os.path.exists(third))

        res = self.ck.run("move", sha, "--to", third)
        self.assertIn("moved to", res.stdout)
        self.assertEqual([r for r in self.ck.json("list", "--json") if r["sha256"] == sha], [])
        moved = [r for r in self.ck.json("list", "--json", store=third)
                 if r["sha256"] == sha][0]
        self.assertTrue(moved["key"]["linked"], moved)


if __name__ == "__main__":
    unittest.main()


class TestTokenRecorded(TokenIssueCase):
    """The lineage records its token: renew and a later plain issue keep the
    key on the token (before, both silently made a software key)."""

    def plain_issue(self, name, lineage, *extra, check=True, input=None):
        return self.ck.run("issue", "-d", name, "--name", lineage, "--server",
                           PEBBLE.directory_url, "--http-port", str(PEBBLE.http_port),
                           "--http-address", "127.0.0.1", *extra, check=check, input=input,
                           timeout=300)

    def assert_on_token(self, lineage, sha, old_ids):
        """The store's key for sha is a pkcs11: URI, the token holds exactly one
        certificate object for the lineage, with a new key's CKA_ID."""
        row = self.row(sha)
        self.assertTrue(row["key"]["location"].startswith("pkcs11:"),
                        "the new certificate's key is on the token: %r" % row)
        objs = self.objects()
        certs = [f for k, _, f in objs if k == "Certificate Object" and
                 f.get("label") == lineage]
        self.assertEqual(len(certs), 1, objs)
        self.assertNotIn(certs[0]["ID"], old_ids, "a new key, not the old one")
        privs = [f["ID"] for k, _, f in objs if k == "Private Key Object"]
        self.assertIn(certs[0]["ID"], privs)
        self.assertEqual(self.cert_on_token(certs[0]["ID"]).replace(":", "").lower(), sha)
        return certs[0]["ID"]

    def test_renew_and_plain_issue_stay_on_token(self):
        key_id, sha = self.check_issued("rtok", "rtok.example.test", "EC")
        shown = self.ck.json("show", "rtok", "--json")
        self.assertEqual(shown["token"], {"uri": self.uri, "module": None,
                                          "pin_file": self.pin_file})
        text = self.ck.run("show", "rtok").stdout
        self.assertIn(self.uri, text)
        self.assertIn(self.pin_file, text)

        r = self.ck.run("renew", "rtok", "--force", "--json", check=False, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        sha2 = self.ck.json("show", "rtok", "--json")["sha256"]
        self.assertNotEqual(sha2, sha)
        key2 = self.assert_on_token("rtok", sha2, [key_id])

        sha3 = self.plain_issue("rtok.example.test", "rtok").stdout.strip()
        self.assert_on_token("rtok", sha3, [key_id, key2])
        self.assertEqual(self.ck.json("show", "rtok", "--json")["token"]["uri"], self.uri)

    def test_fd_pin_not_recorded_and_token_cleared(self):
        # a PIN given as fd:N is not recorded (an fd means nothing later)
        self.plain_issue("fd.tok.example.test", "fdtok", "--token", self.uri, "--pin-file",
                         "fd:0", input=PIN + "\n")
        self.assertEqual(self.ck.json("show", "fdtok", "--json")["token"],
                         {"uri": self.uri, "module": None, "pin_file": None})
        r = self.ck.run("renew", "fdtok", "--force", check=False, timeout=600)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("--pin-file", r.stdout + r.stderr)
        # renew's --pin-file is for this run: the key is made on the token
        old = self.ck.json("show", "fdtok", "--json")["sha256"]
        r = self.ck.run("renew", "fdtok", "--force", "--pin-file", self.pin_file,
                        check=False, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        sha = self.ck.json("show", "fdtok", "--json")["sha256"]
        self.assertNotEqual(sha, old)
        self.assertTrue(self.row(sha)["key"]["location"].startswith("pkcs11:"))
        self.assertIsNone(self.ck.json("show", "fdtok", "--json")["token"]["pin_file"])
        # --token '' clears the record: software keys again
        sha = self.plain_issue("fd.tok.example.test", "fdtok", "--token", "").stdout.strip()
        self.assertFalse(self.row(sha)["key"]["location"].startswith("pkcs11:"),
                         self.row(sha))
        self.assertIsNone(self.ck.json("show", "fdtok", "--json")["token"])
