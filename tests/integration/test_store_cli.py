"""Issue 3 through the command line, no ACME server needed: import (PEM,
DER, PKCS#12 modern and legacy, encrypted keys), export (PEM files, one PEM
file, DER, PFX modern/legacy), REF forms and ambiguity, copy and move
between stores, request -> sign with a throw-away CA -> import, doctor on
planted problems (--repair, --prune), rm refused while a binding uses the
certificate, --help and usage errors.

Test certificates come from the `openssl` CLI: a throw-away root and
intermediate CA, leaves with EC P-256, RSA 2048 and Ed25519 keys, one
expired leaf (`openssl ca` with -startdate/-enddate).  Every store lives in
a directory certkeep creates (0700), so doctor has nothing to say about
permissions unless a test plants it.

The helpers at the top (Pki, new_store, clone_store, ...) are shared with
test_crash.py.
"""

import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import time
import unittest

import ckharness

TMP = None
PKI = None
KEYSET_MSG = "Keyset does not exist"


def setUpModule():
    global TMP, PKI
    TMP, PKI = module_pki("ck-store-cli-")


def module_pki(prefix):
    """For setUpModule: (tmp, Pki in tmp/pki), tmp from ckharness.module_tmp."""
    tmp = ckharness.module_tmp(prefix)
    return tmp, Pki(os.path.join(tmp, "pki"))


# ------------------------------------------------------------------ helpers

def openssl(*args, input=None, check=True):
    res = subprocess.run(["openssl", *[str(a) for a in args]], input=input,
                         capture_output=True, text=True)
    if check and res.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(map(str, args)), res.stderr))
    return res


def read(path, mode="r"):
    with open(path, mode) as fp:
        return fp.read()


def write(path, data, mode=0o644):
    with open(path, "wb" if isinstance(data, bytes) else "w") as fp:
        fp.write(data)
    os.chmod(path, mode)
    return path


def cert_der(path):
    """DER of the (first) certificate in a PEM file."""
    return subprocess.run(["openssl", "x509", "-in", path, "-outform", "DER"],
                          capture_output=True, check=True).stdout


def pem_certs(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", text,
                      re.S)


def pubkey_of_key(path, password_file=None):
    args = ["pkey", "-in", path, "-pubout"]
    if password_file:
        args += ["-passin", "file:" + password_file]
    return openssl(*args).stdout


def pubkey_of_cert(path):
    return openssl("x509", "-in", path, "-noout", "-pubkey").stdout


def sha256_of(path):
    out = openssl("x509", "-in", path, "-noout", "-fingerprint", "-sha256").stdout
    return out.strip().split("=", 1)[1].replace(":", "").lower()


def sha1_of(path):
    out = openssl("x509", "-in", path, "-noout", "-fingerprint", "-sha1").stdout
    return out.strip().split("=", 1)[1].replace(":", "").lower()


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class Pki:
    """A throw-away root CA, an intermediate, and leaves signed by it."""

    LEAF_EXT = ("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=%s\n")
    CA_EXT = ("basicConstraints=critical,CA:TRUE\n"
              "keyUsage=critical,keyCertSign,cRLSign\n")

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.root_key = self.path("root.key")
        self.root = self.path("root.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", self.root_key, "-out", self.root, "-days", "3650",
                "-subj", "/CN=certkeep test root", "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext",
                "keyUsage=critical,keyCertSign,cRLSign")
        self.inter_key = self.path("inter.key")
        self.inter = self.path("inter.pem")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", self.inter_key)
        csr = self.path("inter.csr")
        openssl("req", "-new", "-key", self.inter_key, "-subj", "/CN=certkeep test intermediate",
                "-out", csr)
        ext = write(self.path("inter.ext"), self.CA_EXT)
        openssl("x509", "-req", "-in", csr, "-CA", self.root, "-CAkey", self.root_key,
                "-CAcreateserial", "-days", "3650", "-sha256", "-extfile", ext, "-out",
                self.inter)
        self.chain_text = read(self.inter) + read(self.root)
        self.chain = write(self.path("chain.pem"), self.chain_text)
        self.password = write(self.path("password"), "correct horse battery staple\n", 0o600)
        self.wrong_password = write(self.path("wrong"), "not the password\n", 0o600)
        self.count = 0

    def path(self, name):
        return os.path.join(self.dir, name)

    def key(self, key_type, path):
        if key_type == "ec256":
            args = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        elif key_type == "rsa2048":
            args = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
        elif key_type == "ed25519":
            args = ["-algorithm", "ED25519"]
        else:
            raise ValueError(key_type)
        openssl("genpkey", *args, "-out", path)
        os.chmod(path, 0o600)
        return path

    def sign_csr(self, csr, out, names, days=365):
        ext = write(out + ".ext", self.LEAF_EXT % ",".join("DNS:" + n for n in names))
        openssl("x509", "-req", "-in", csr, "-CA", self.inter, "-CAkey", self.inter_key,
                "-CAcreateserial", "-days", str(days), "-sha256", "-extfile", ext,
                "-out", out)
        return out

    def leaf(self, key_type="ec256", names=None):
        """A new leaf: dict with cert, key, names, fullchain, bundle (cert+chain+key)."""
        self.count += 1
        stem = self.path("leaf%d-%s" % (self.count, key_type))
        names = names or ["www%d.example.test" % self.count, "alt%d.example.test" % self.count]
        key = self.key(key_type, stem + ".key")
        csr = stem + ".csr"
        openssl("req", "-new", "-key", key, "-subj", "/CN=" + names[0], "-out", csr)
        cert = self.sign_csr(csr, stem + ".pem", names)
        fullchain = write(stem + "-fullchain.pem", read(cert) + self.chain_text)
        bundle = write(stem + "-bundle.pem", read(cert) + self.chain_text + read(key), 0o600)
        return {"cert": cert, "key": key, "names": names, "fullchain": fullchain,
                "bundle": bundle, "sha256": sha256_of(cert), "sha1": sha1_of(cert),
                "stem": stem}

    def pkcs12(self, leaf, legacy=False):
        out = leaf["stem"] + ("-legacy.p12" if legacy else "-modern.p12")
        args = ["pkcs12", "-export", "-inkey", leaf["key"], "-in", leaf["cert"],
                "-certfile", self.chain, "-passout", "file:" + self.password, "-out", out]
        if legacy:
            args.append("-legacy")
        openssl(*args)
        return out

    def expired_leaf(self):
        """A leaf valid only in January 2020 (openssl ca with explicit dates)."""
        d = self.path("ca-db")
        os.makedirs(os.path.join(d, "new"), exist_ok=True)
        write(os.path.join(d, "index.txt"), "")
        write(os.path.join(d, "serial"), "1000\n")
        conf = write(os.path.join(d, "ca.cnf"),
                     "[ca]\ndefault_ca = test\n[test]\ndir = %s\ndatabase = $dir/index.txt\n"
                     "new_certs_dir = $dir/new\nserial = $dir/serial\ndefault_md = sha256\n"
                     "policy = any\nunique_subject = no\n[any]\ncommonName = supplied\n" % d)
        key = self.key("ec256", self.path("expired.key"))
        csr = self.path("expired.csr")
        openssl("req", "-new", "-key", key, "-subj", "/CN=expired.example.test", "-out", csr)
        ext = write(self.path("expired.ext"), self.LEAF_EXT % "DNS:expired.example.test")
        cert = self.path("expired.pem")
        openssl("ca", "-batch", "-config", conf, "-cert", self.inter, "-keyfile",
                self.inter_key, "-in", csr, "-out", cert, "-startdate", "20200101000000Z",
                "-enddate", "20200201000000Z", "-notext", "-extfile", ext)
        return {"cert": cert, "key": key, "sha256": sha256_of(cert)}


def new_store(base, name="store"):
    """A Certkeep runner on a store in a directory certkeep will create (0700)."""
    d = tempfile.mkdtemp(prefix=name + "-", dir=base)
    return ckharness.Certkeep(os.path.join(d, "ck", "store.db"))


def clone_store(ck, base, name="clone"):
    """A copy of ck's store (database and WAL files) in a new 0700 directory."""
    other = new_store(base, name)
    os.makedirs(os.path.dirname(other.store), mode=0o700)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(ck.store + suffix):
            shutil.copy2(ck.store + suffix, other.store + suffix)
    return other


def db(ck):
    """A sqlite3 connection to ck's store (foreign keys off: we plant damage)."""
    con = sqlite3.connect(ck.store, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 5000")
    return con


def entries(ck):
    return ck.json("list", "--json")


def entry(ck, sha256):
    for e in entries(ck):
        if e["sha256"].lower() == sha256:
            return e
    return None


def findings(ck, *extra):
    """doctor --json findings (exit 0 clean, 1 findings)."""
    res = ck.run("doctor", "--json", *extra, check=False)
    if res.returncode not in (0, 1):
        raise AssertionError(ckharness.describe(res, "doctor must exit 0 or 1"))
    data = json.loads(res.stdout)
    return res.returncode, data


def finding_names(data):
    return sorted(f["name"] for f in data["findings"])


class StoreCase(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.id().rsplit(".", 1)[-1] + "-", dir=TMP)
        self.ck = new_store(self.dir)

    def out(self, name):
        return os.path.join(self.dir, name)

    def assertFails(self, res, *needles, code=1):
        self.assertEqual(res.returncode, code, ckharness.describe(res, "expected exit %d" % code))
        text = res.stdout + res.stderr
        for n in needles:
            self.assertIn(n.lower(), text.lower(), ckharness.describe(res, "expected %r" % n))

    def export_files(self, ck, ref, key=True, extra=()):
        d = tempfile.mkdtemp(prefix="export-", dir=self.dir)
        files = {k: os.path.join(d, k + ".pem") for k in ("cert", "chain", "fullchain")}
        args = ["export", ref, "--cert-out", files["cert"], "--chain-out", files["chain"],
                "--fullchain-out", files["fullchain"]]
        if key:
            files["key"] = os.path.join(d, "key.pem")
            args += ["--key-out", files["key"]]
        ck.run(*args, *extra)
        return files


# ------------------------------------------------------------------ import / export

class TestRoundTrip(StoreCase):

    def test_round_trip_each_key_type(self):
        for kt in ("ec256", "rsa2048", "ed25519"):
            with self.subTest(key_type=kt):
                leaf = PKI.leaf(kt)
                ck = new_store(self.dir, kt)
                ck.run("import", leaf["bundle"], "--name", "site-" + kt)
                e = entry(ck, leaf["sha256"])
                self.assertIsNotNone(e, "the imported certificate is listed")
                self.assertEqual(e["name"], "site-" + kt)
                self.assertIs(e["key"]["linked"], True)
                self.assertEqual(e["key"]["location"], "store")
                self.assertIs(e["current"], True)

                first = self.export_files(ck, "site-" + kt)
                self.assertEqual(read(first["cert"]), read(leaf["cert"]),
                                 "exported certificate is byte-identical")
                self.assertEqual(read(first["chain"]), PKI.chain_text,
                                 "exported chain is byte-identical, in issuer order")
                self.assertEqual(read(first["fullchain"]), read(leaf["fullchain"]))
                self.assertEqual(pubkey_of_key(first["key"]), pubkey_of_key(leaf["key"]),
                                 "exported key is the imported key")
                self.assertEqual(mode_of(first["key"]), 0o600, "key file is 0600")
                self.assertEqual(mode_of(first["cert"]), 0o644)

                # Re-import what was exported, as separate files, into a new store.
                ck2 = new_store(self.dir, kt + "-again")
                ck2.run("import", first["cert"], first["chain"], first["key"])
                e2 = entry(ck2, leaf["sha256"])
                self.assertIs(e2["key"]["linked"], True)
                self.assertEqual(e2["chain_length"], 2)
                second = self.export_files(ck2, leaf["sha256"])
                for k in ("cert", "chain", "fullchain"):
                    self.assertEqual(read(second[k]), read(first[k]), k + " round trip")
                self.assertEqual(pubkey_of_key(second["key"]), pubkey_of_key(first["key"]))

    def test_import_twice_is_a_noop_that_says_so(self):
        leaf = PKI.leaf()
        self.ck.run("import", leaf["bundle"])
        before = entries(self.ck)
        res = self.ck.run("import", leaf["bundle"])
        self.assertIn("nothing changed", res.stdout.lower(), ckharness.describe(res, "no-op"))
        self.assertEqual(entries(self.ck), before)

    def test_mixed_order_pem_and_der(self):
        leaf = PKI.leaf("rsa2048")
        # Key first, then root, leaf, intermediate: any order works.
        mixed = write(self.out("mixed.pem"),
                      read(leaf["key"]) + read(PKI.root) + read(leaf["cert"]) + read(PKI.inter),
                      0o600)
        self.ck.run("import", mixed)
        files = self.export_files(self.ck, leaf["sha256"][:12])
        self.assertEqual(read(files["chain"]), PKI.chain_text, "chain ordered by issuer")
        # A DER certificate alone, then its key as DER PKCS#8.
        other = PKI.leaf("ec256")
        der = write(self.out("leaf.der"), cert_der(other["cert"]))
        key_der = self.out("key.der")
        openssl("pkcs8", "-topk8", "-nocrypt", "-in", other["key"], "-outform", "DER",
                "-out", key_der)
        self.ck.run("import", der)
        self.ck.run("import", key_der)
        self.assertIs(entry(self.ck, other["sha256"])["key"]["linked"], True)

    def test_single_pem_and_der_out(self):
        leaf = PKI.leaf()
        self.ck.run("import", leaf["bundle"], "--name", "one")
        combined = self.out("combined.pem")
        self.ck.run("export", "one", "--out", combined)
        text = read(combined)
        self.assertEqual(pem_certs(text), pem_certs(read(leaf["fullchain"])))
        self.assertIn("PRIVATE KEY", text)
        self.assertEqual(mode_of(combined), 0o600, "a single file holding the key is 0600")
        der = self.out("cert.der")
        res = self.ck.run("export", "one", "--format", "der", "--out", der, check=False)
        self.assertFails(res, "--no-key")
        self.assertFalse(os.path.exists(der), "a refusal writes nothing")
        self.ck.run("export", "one", "--format", "der", "--out", der, "--no-key")
        self.assertEqual(read(der, "rb"), cert_der(leaf["cert"]))
        self.assertEqual(mode_of(der), 0o644)


class TestKeyMissing(StoreCase):

    def test_cert_alone_then_key(self):
        leaf = PKI.leaf("ed25519")
        res = self.ck.run("import", leaf["cert"])
        self.assertIn(KEYSET_MSG, res.stdout + res.stderr,
                      ckharness.describe(res, "a certificate without key says so plainly"))
        self.assertIn("WITHOUT a private key", res.stdout + res.stderr)
        e = entry(self.ck, leaf["sha256"])
        self.assertIs(e["key"]["linked"], False)
        self.assertIsNone(e["key"]["location"])

        out = self.out("cert.pem")
        res = self.ck.run("export", leaf["sha256"], "--cert-out", out, check=False)
        self.assertFails(res, KEYSET_MSG, "--no-key")
        self.assertFalse(os.path.exists(out), "the refusal writes nothing")
        self.ck.run("export", leaf["sha256"], "--cert-out", out, "--no-key")
        self.assertEqual(read(out), read(leaf["cert"]))

        res = self.ck.run("import", leaf["key"])
        self.assertIn("linked", res.stdout)
        e = entry(self.ck, leaf["sha256"])
        self.assertIs(e["key"]["linked"], True, "importing the key links the certificate")
        self.assertEqual(e["key"]["location"], "store")
        files = self.export_files(self.ck, leaf["sha256"])
        self.assertEqual(pubkey_of_key(files["key"]), pubkey_of_cert(leaf["cert"]))

    def test_key_alone_is_kept_unlinked(self):
        leaf = PKI.leaf("rsa2048")
        res = self.ck.run("import", leaf["key"])
        self.assertIn("unlinked", res.stdout)
        self.assertEqual(entries(self.ck), [])
        res = self.ck.run("import", leaf["cert"])
        self.assertIn("already in the store", res.stdout, ckharness.describe(res, "key source"))
        self.assertIs(entry(self.ck, leaf["sha256"])["key"]["linked"], True)


class TestPkcs12(StoreCase):

    def test_import_modern_and_legacy(self):
        for legacy in (False, True):
            with self.subTest(legacy=legacy):
                leaf = PKI.leaf()
                p12 = PKI.pkcs12(leaf, legacy)
                ck = new_store(self.dir, "legacy" if legacy else "modern")
                ck.run("import", p12, "--password-file", PKI.password, "--name", "pfx")
                e = entry(ck, leaf["sha256"])
                self.assertIs(e["key"]["linked"], True)
                self.assertEqual(e["chain_length"], 2)
                files = self.export_files(ck, "pfx")
                self.assertEqual(read(files["chain"]), PKI.chain_text)
                self.assertEqual(pubkey_of_key(files["key"]), pubkey_of_key(leaf["key"]))

    def test_wrong_password_stores_nothing(self):
        leaf = PKI.leaf()
        p12 = PKI.pkcs12(leaf)
        res = self.ck.run("import", p12, "--password-file", PKI.wrong_password, check=False)
        self.assertFails(res, "password", "nothing was imported")
        res = self.ck.run("import", p12, check=False)
        self.assertFails(res, "password")
        enc = self.out("enc.pem")
        openssl("pkcs8", "-topk8", "-in", leaf["key"], "-passout", "file:" + PKI.password,
                "-out", enc)
        both = write(self.out("both.pem"), read(leaf["cert"]) + read(enc))
        res = self.ck.run("import", both, "--password-file", PKI.wrong_password, check=False)
        self.assertFails(res, "password", "nothing was imported")
        self.assertEqual(entries(self.ck), [], "a wrong password stores nothing")
        self.ck.run("import", both, "--password-file", PKI.password)
        self.assertIs(entry(self.ck, leaf["sha256"])["key"]["linked"], True)

    def test_password_from_descriptor(self):
        leaf = PKI.leaf()
        p12 = PKI.pkcs12(leaf)
        r, w = os.pipe()
        os.write(w, read(PKI.password).encode())
        os.close(w)
        try:
            res = subprocess.run(self.ck.argv("import", p12, "--password-file", "fd:%d" % r),
                                 pass_fds=(r,), capture_output=True, text=True, timeout=60)
        finally:
            os.close(r)
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "fd:N password"))
        self.assertIs(entry(self.ck, leaf["sha256"])["key"]["linked"], True)

    def test_export_pfx_modern_and_legacy(self):
        leaf = PKI.leaf()
        self.ck.run("import", leaf["bundle"], "--name", "w")
        for compat, needles in (("modern", ("AES-256-CBC", "sha256")),
                                ("legacy", ("pbeWithSHA1And3-KeyTripleDES-CBC", "sha1"))):
            with self.subTest(compat=compat):
                out = self.out(compat + ".pfx")
                self.ck.run("export", "w", "--format", "pfx", "--pfx-compat", compat, "--out",
                            out, "--password-file", PKI.password)
                self.assertEqual(mode_of(out), 0o600)
                info = openssl("pkcs12", "-info", "-in", out, "-passin",
                               "file:" + PKI.password, "-noout", check=False)
                if info.returncode != 0:
                    info = openssl("pkcs12", "-legacy", "-info", "-in", out, "-passin",
                                   "file:" + PKI.password, "-noout")
                text = info.stdout + info.stderr
                for n in needles:
                    self.assertIn(n.lower(), text.lower(), "%s PFX: %s" % (compat, text))
                if compat == "modern":
                    self.assertNotIn("TripleDES", text)
                ck2 = new_store(self.dir, "pfx-" + compat)
                ck2.run("import", out, "--password-file", PKI.password)
                e = entry(ck2, leaf["sha256"])
                self.assertIs(e["key"]["linked"], True)
                self.assertEqual(e["chain_length"], 2)

    def test_export_usage_errors(self):
        leaf = PKI.leaf()
        self.ck.run("import", leaf["bundle"], "--name", "w")
        out = self.out("x.pfx")
        cases = [
            ("export", "w", "--format", "pfx", "--out", out),                # no password
            ("export", "w", "--out", out, "--cert-out", self.out("c.pem")),  # both forms
            ("export", "w"),                                                 # nowhere
            ("export", "w", "--format", "pfx", "--cert-out", out, "--password-file",
             PKI.password),
            ("export", "w", "--key-out", out, "--no-key"),
            ("export", "w", "--format", "nope", "--out", out),
            ("export", "w", "--pfx-compat", "old", "--out", out),
        ]
        for args in cases:
            with self.subTest(args=args):
                res = self.ck.run(*args, check=False)
                self.assertEqual(res.returncode, 2, ckharness.describe(res, "usage error"))
                self.assertFalse(os.path.exists(out))


# ------------------------------------------------------------------ references

class TestRefs(StoreCase):

    def test_ref_forms(self):
        leaf = PKI.leaf()
        self.ck.run("import", leaf["bundle"], "--name", "www")
        sha1 = leaf["sha1"].upper()
        forms = ["www", leaf["sha256"], leaf["sha256"][:8], leaf["sha256"].upper(),
                 " ".join(sha1[i:i + 2] for i in range(0, 40, 2)),
                 ":".join(sha1[i:i + 2] for i in range(0, 40, 2)),
                 "\u200e" + sha1.lower()]
        for ref in forms:
            with self.subTest(ref=ref):
                data = self.ck.json("show", ref, "--json")
                self.assertEqual(data["sha256"], leaf["sha256"])

    def test_short_prefix_and_unknown(self):
        leaf = PKI.leaf()
        self.ck.run("import", leaf["bundle"])
        res = self.ck.run("show", leaf["sha256"][:7], check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("8", res.stderr, ckharness.describe(res, "says the minimum length"))
        res = self.ck.run("show", "0" * 64, check=False)
        self.assertFails(res)
        self.assertTrue(res.stderr.strip())

    def test_ambiguous_prefix_lists_candidates(self):
        a, b = PKI.leaf(), PKI.leaf()
        self.ck.run("import", a["bundle"], "--name", "first")
        self.ck.run("import", b["bundle"], "--name", "second")
        crafted = a["sha256"][:10] + ("f" * 54 if a["sha256"][10] != "f" else "e" * 54)
        con = db(self.ck)
        con.execute("UPDATE certificates SET sha256 = ? WHERE sha256 = ?", (crafted, b["sha256"]))
        con.close()
        res = self.ck.run("show", a["sha256"][:10], check=False)
        self.assertFails(res, "several")
        self.assertIn(a["sha256"][:12], res.stderr)
        self.assertIn(crafted[:12], res.stderr)
        self.assertIn("first", res.stderr)
        self.assertIn("second", res.stderr)
        # A longer prefix is unique again.
        self.assertEqual(self.ck.json("show", a["sha256"][:12], "--json")["sha256"],
                         a["sha256"])


# ------------------------------------------------------------------ show / list

class TestShowList(StoreCase):

    def test_show_everything(self):
        leaf = PKI.leaf("rsa2048")
        self.ck.run("import", leaf["bundle"], "--name", "shown")
        data = self.ck.json("show", "shown", "--json")
        self.assertEqual(data["name"], "shown")
        self.assertEqual(sorted(data["sans"]), sorted(leaf["names"]))
        self.assertEqual([c["subject"] for c in data["chain"]],
                         ["CN=certkeep test intermediate", "CN=certkeep test root"])
        self.assertEqual(data["key"]["algorithm"], "RSA 2048")
        self.assertIs(data["key"]["linked"], True)
        self.assertEqual(data["bindings"], [])
        text = self.ck.run("show", "shown").stdout
        for needle in (leaf["sha256"], leaf["sha1"], "certkeep test intermediate", "shown",
                       leaf["names"][1], "linked"):
            self.assertIn(needle, text)

    def test_list_human_and_empty(self):
        self.ck.run("import", PKI.key("ec256", os.path.join(self.dir, "lone.key")))
        self.assertIn("no certificates", self.ck.run("list").stdout)
        self.assertEqual(entries(self.ck), [])
        leaf = PKI.leaf()
        self.ck.run("import", leaf["cert"])
        out = self.ck.run("list").stdout
        self.assertIn(leaf["sha256"][:16], out)
        self.assertIn("NO KEY", out)


# ------------------------------------------------------------------ copy / move

class TestCopyMove(StoreCase):

    def test_copy_carries_the_key(self):
        leaf = PKI.leaf("ed25519")
        self.ck.run("import", leaf["bundle"], "--name", "moving")
        dst = new_store(self.dir, "dst")
        self.ck.run("copy", "moving", "--to", dst.store)
        e = entry(dst, leaf["sha256"])
        self.assertIs(e["key"]["linked"], True)
        self.assertEqual(e["name"], "moving")
        self.assertEqual(e["chain_length"], 2)
        files = self.export_files(dst, "moving")
        self.assertEqual(pubkey_of_key(files["key"]), pubkey_of_key(leaf["key"]))
        self.assertEqual(read(files["chain"]), PKI.chain_text)
        self.assertIsNotNone(entry(self.ck, leaf["sha256"]), "copy keeps the source")
        res = self.ck.run("copy", "moving", "--to", dst.store)
        self.assertIn("already", res.stdout)

    def test_move_removes_source_after_destination(self):
        leaf = PKI.leaf()
        self.ck.run("import", leaf["bundle"], "--name", "moving")
        dst = new_store(self.dir, "dst")
        self.ck.run("move", leaf["sha256"][:8], "--to", dst.store)
        self.assertIsNone(entry(self.ck, leaf["sha256"]), "move removes the source copy")
        self.assertIs(entry(dst, leaf["sha256"])["key"]["linked"], True)
        files = self.export_files(dst, "moving")
        self.assertEqual(pubkey_of_key(files["key"]), pubkey_of_key(leaf["key"]))
        code, data = findings(self.ck)
        self.assertNotIn("cert-key-missing", finding_names(data))

    def test_copy_without_key_refused(self):
        leaf = PKI.leaf()
        self.ck.run("import", leaf["cert"])
        dst = new_store(self.dir, "dst")
        for cmd in ("copy", "move"):
            with self.subTest(cmd=cmd):
                res = self.ck.run(cmd, leaf["sha256"], "--to", dst.store, check=False)
                self.assertFails(res, "key")
                self.assertEqual(entries(dst), [])
        self.ck.run("copy", leaf["sha256"], "--to", dst.store, "--no-key")
        self.assertIs(entry(dst, leaf["sha256"])["key"]["linked"], False)

    def test_move_refused_while_bound(self):
        leaf = PKI.leaf()
        self.ck.run("import", leaf["bundle"])
        plant_binding(self.ck, "iis-site", leaf["sha256"])
        dst = new_store(self.dir, "dst")
        res = self.ck.run("move", leaf["sha256"], "--to", dst.store, check=False)
        self.assertFails(res, "iis-site")
        self.assertIsNotNone(entry(self.ck, leaf["sha256"]))


def plant_binding(ck, name, sha256):
    con = db(ck)
    con.execute("INSERT INTO bindings (name, pinned_sha256, target, last_sha256, state, updated) "
                "VALUES (?, ?, 'iis:0.0.0.0:443', ?, 'deployed', ?)",
                (name, sha256, sha256, int(time.time())))
    con.close()


# ------------------------------------------------------------------ requests

class TestRequest(StoreCase):

    def test_request_sign_import(self):
        names = ["offline.example.test", "www.offline.example.test"]
        csr = self.out("req.csr")
        self.ck.run("request", "-d", names[0], "-d", names[1], "--key-type", "rsa2048",
                    "--csr-out", csr)
        self.assertIn("CERTIFICATE REQUEST", read(csr))
        reqs = self.ck.json("requests", "--json")
        self.assertEqual(len(reqs), 1)
        self.assertEqual(reqs[0]["lineage"], names[0])
        self.assertEqual(sorted(reqs[0]["identifiers"]), sorted(names))
        self.assertIn("offline.example.test", self.ck.run("requests").stdout)
        # The CSR's public key is the stored key's; the CA signs it days later.
        cert = PKI.sign_csr(csr, self.out("issued.pem"), names)
        res = self.ck.run("import", cert, PKI.chain)
        self.assertIn("pending request", res.stdout, ckharness.describe(res, "says it closed"))
        e = entry(self.ck, sha256_of(cert))
        self.assertIs(e["key"]["linked"], True)
        self.assertEqual(e["name"], names[0], "the request's lineage is completed")
        self.assertIs(e["current"], True)
        self.assertEqual(self.ck.json("requests", "--json"), [], "the request is closed")
        files = self.export_files(self.ck, names[0])
        self.assertEqual(pubkey_of_key(files["key"]), pubkey_of_cert(cert))
        code, data = findings(self.ck)
        self.assertNotIn("orphan-key", finding_names(data))

    def test_request_usage(self):
        for args in (("request", "--csr-out", self.out("x")), ("request", "-d", "a.test"),
                     ("request", "-d", "a.test", "--csr-out", self.out("x"), "--key-type",
                      "dsa")):
            with self.subTest(args=args):
                res = self.ck.run(*args, check=False)
                self.assertEqual(res.returncode, 2, ckharness.describe(res, "usage"))
        self.assertFalse(os.path.exists(self.out("x")))


# ------------------------------------------------------------------ doctor

class TestDoctor(StoreCase):

    def base(self):
        """A clean store with three linked certificates (and their chains)."""
        self.leaves = [PKI.leaf("ec256"), PKI.leaf("rsa2048"), PKI.leaf("ed25519")]
        for i, leaf in enumerate(self.leaves):
            self.ck.run("import", leaf["bundle"], "--name", "site%d" % i)
        code, data = findings(self.ck)
        self.assertEqual(code, 0, "a fresh store is clean: %s" % data)
        return self.ck

    def cert_id(self, ck, sha256):
        con = db(ck)
        (cid,) = con.execute("SELECT id FROM certificates WHERE sha256 = ?", (sha256,)).fetchone()
        con.close()
        return cid

    def plant(self, sql, *params):
        ck = clone_store(self.ck, self.dir)
        con = db(ck)
        con.execute(sql, params)
        con.close()
        return ck

    def assertFinding(self, ck, name, severity=None):
        code, data = findings(ck)
        self.assertEqual(code, 1, "doctor exits 1 with findings")
        match = [f for f in data["findings"] if f["name"] == name]
        self.assertTrue(match, "doctor must report %s; got %s" % (name, finding_names(data)))
        for f in match:
            for k in ("code", "what", "why", "fix"):
                self.assertTrue(f[k], "finding %s has %s" % (name, k))
            self.assertRegex(f["code"], r"^CK-D\d{3}$")
            if severity:
                self.assertEqual(f["severity"], severity)
        return match

    def test_clean_store_exits_zero(self):
        self.base()
        res = self.ck.run("doctor")
        self.assertIn("no findings", res.stdout)

    def test_unlinked_cert_is_repaired(self):
        self.base()
        sha = self.leaves[0]["sha256"]
        ck = self.plant("UPDATE certificates SET key_id = NULL, key_state = 'no-key' "
                        "WHERE sha256 = ?", sha)
        self.assertFinding(ck, "cert-key-relinkable", "error")
        res = ck.run("doctor", "--repair", check=False)
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "repair fixes it"))
        self.assertIs(entry(ck, sha)["key"]["linked"], True)
        self.assertEqual(findings(ck)[0], 0)

    def test_deleted_key(self):
        self.base()
        sha = self.leaves[1]["sha256"]
        ck = self.plant("DELETE FROM keys WHERE id = (SELECT key_id FROM certificates "
                        "WHERE sha256 = ?)", sha)
        self.assertFinding(ck, "cert-key-missing")
        res = ck.run("doctor", "--repair", check=False)
        self.assertEqual(res.returncode, 1, "a key that exists nowhere cannot be repaired")
        self.assertIsNotNone(entry(ck, sha), "repair never deletes")

    def test_key_swapped(self):
        self.base()
        a, b = self.leaves[0]["sha256"], self.leaves[1]["sha256"]
        ck = self.plant("UPDATE certificates SET key_id = (SELECT key_id FROM certificates "
                        "WHERE sha256 = ?) WHERE sha256 = ?", b, a)
        self.assertFinding(ck, "key-spki-mismatch", "error")
        res = ck.run("export", a, "--cert-out", self.out("c.pem"), "--key-out",
                     self.out("k.pem"), check=False)
        self.assertNotEqual(res.returncode, 0, "a mismatched key is never exported")
        self.assertFalse(os.path.exists(self.out("k.pem")))

    def test_orphan_key_pruned(self):
        self.base()
        stray = PKI.leaf()
        self.ck.run("import", stray["key"])
        self.assertFinding(self.ck, "orphan-key")
        res = self.ck.run("doctor", "--prune", check=False)
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "prune leaves it clean"))
        self.assertIn("orphan", res.stdout.lower(), "prune says what it removed")
        self.assertEqual(len(entries(self.ck)), 3, "prune removed no certificate")

    def test_old_pending_request(self):
        self.base()
        self.ck.run("request", "-d", "late.example.test", "--csr-out", self.out("r.csr"))
        ck = self.plant("UPDATE requests SET created = created - 90 * 86400")
        self.assertFinding(ck, "pending-request-stale")
        # N is the operator's: a 90-day-old request is within --pending-days 120.
        code, data = findings(ck, "--pending-days", "120")
        self.assertNotIn("pending-request-stale", finding_names(data))
        code, data = findings(ck, "--pending-days", "60")
        self.assertIn("pending-request-stale", finding_names(data))
        res = ck.run("doctor", "--pending-days", "0", check=False)
        self.assertEqual(res.returncode, 2, ckharness.describe(res, "bad N is a usage error"))

    def test_dangling_binding(self):
        self.base()
        ck = clone_store(self.ck, self.dir)
        plant_binding(ck, "iis-default", "ab" * 32)
        self.assertFinding(ck, "binding-dangling", "error")

    def test_expired_certificate(self):
        self.base()
        exp = PKI.expired_leaf()
        self.ck.run("import", exp["cert"], exp["key"], PKI.inter)
        self.assertFinding(self.ck, "cert-expired")

    def test_chain_does_not_verify(self):
        self.base()
        sha = self.leaves[2]["sha256"]
        ck = self.plant("UPDATE chain SET der = ? WHERE pos = 0 AND cert_id = (SELECT id FROM "
                        "certificates WHERE sha256 = ?)", cert_der(PKI.root), sha)
        self.assertFinding(ck, "chain-invalid")

    def test_store_file_mode(self):
        self.base()
        ck = clone_store(self.ck, self.dir)
        os.chmod(ck.store, 0o644)
        self.assertFinding(ck, "store-permissions")


# ------------------------------------------------------------------ rm

class TestRm(StoreCase):

    def test_rm_refused_while_bound(self):
        leaf = PKI.leaf()
        self.ck.run("import", leaf["bundle"], "--name", "bound")
        plant_binding(self.ck, "nginx-www", leaf["sha256"])
        res = self.ck.run("rm", "bound", check=False)
        self.assertFails(res, "nginx-www")
        self.assertIsNotNone(entry(self.ck, leaf["sha256"]))
        self.assertEqual(self.ck.json("show", "bound", "--json")["bindings"][0]["name"],
                         "nginx-www")
        con = db(self.ck)
        con.execute("DELETE FROM bindings")
        con.close()
        self.ck.run("rm", "bound")
        self.assertIsNone(entry(self.ck, leaf["sha256"]))
        code, data = findings(self.ck)
        self.assertIn("orphan-key", finding_names(data), "the key stays as an orphan")


# ------------------------------------------------------------------ usage

class TestUsage(StoreCase):
    COMMANDS = ("list", "show", "export", "import", "copy", "move", "rm", "request",
                "requests", "doctor")

    def test_help(self):
        for cmd in self.COMMANDS:
            with self.subTest(cmd=cmd):
                res = self.ck.run(cmd, "--help", check=False)
                self.assertEqual(res.returncode, 0, ckharness.describe(res, "--help exits 0"))
                self.assertIn("usage: certkeep " + cmd, res.stdout)
                self.assertIn("options:", res.stdout)

    def test_usage_errors(self):
        cases = [("show",), ("show", "a", "b"), ("import",), ("copy", "x"), ("move", "x"),
                 ("rm",), ("requests", "extra"), ("doctor", "--fix"), ("list", "x"),
                 ("import", "f", "--name", "-bad")]
        for args in cases:
            with self.subTest(args=args):
                res = self.ck.run(*args, check=False)
                self.assertEqual(res.returncode, 2, ckharness.describe(res, "usage error"))
                self.assertTrue(res.stderr.strip())

    def test_failure_is_one_line(self):
        res = self.ck.run("import", self.out("does-not-exist.pem"), check=False)
        self.assertEqual(res.returncode, 1)
        self.assertEqual(len(res.stderr.strip().splitlines()), 1, res.stderr)


if __name__ == "__main__":
    unittest.main()
