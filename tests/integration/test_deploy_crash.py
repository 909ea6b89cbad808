"""Issue 9: `certkeep deploy` killed at each of its fault points, against a
real nginx on 127.0.0.1.

One deploy (nginx target, --verify) is run with CERTKEEP_FAULT_LOG to
enumerate the fault points it passes (a point passed twice is two sites).
Then for EACH site: re-pin the binding to the other certificate, run the
deploy with CERTKEEP_FAULT=site (certkeep aborts there), and assert
  - the handshake serves the old or the new certificate (never anything
    else, never a failed handshake);
  - the files in the target directory are one complete set (doctor finds
    no incomplete set and nothing changed behind its back), and doctor says
    which set they hold when the deploy was interrupted (CK-D020: "the OLD
    set" / "the NEW set" matching cert.pem);
then run the deploy again: it finishes or repeats the work and the new
certificate is served.
"""

import hashlib
import json
import os
import shutil
import tempfile
import unittest

import ckharness
import test_deploy
import tlsserver
from test_deploy import NAME


def setUpModule():
    test_deploy.setUpModule()


def tearDownModule():
    test_deploy.tearDownModule()


def fault_sites(log):
    """'name:N' for each pass of each fault point, in order."""
    seen, sites = {}, []
    with open(log, encoding="ascii") as fp:
        for line in fp:
            name = line.strip()
            if name:
                seen[name] = seen.get(name, 0) + 1
                sites.append("%s:%d" % (name, seen[name]))
    return sites


def file_sha(path):
    der = tlsserver.subprocess.run(["openssl", "x509", "-in", path, "-outform", "DER"],
                                   check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


class TestDeployCrash(unittest.TestCase):

    def setUp(self):
        base = test_deploy.BASE
        self.dir = tempfile.mkdtemp(prefix="crash-", dir=test_deploy.TMP)
        shutil.copytree(base["store_dir"], os.path.join(self.dir, "store"))
        self.ck = ckharness.Certkeep(os.path.join(self.dir, "store", "store.db"),
                                     ca_bundle=base["bundle"])
        self.tls = os.path.join(self.dir, "tls")
        tlsserver.placeholder(self.tls)
        self.nginx = tlsserver.Nginx(os.path.join(self.dir, "nginx"), self.tls).start()
        self.certs = [base["A"], base["B"]]
        self.bind(self.certs[0])
        self.ck.run("deploy", "www")

    def tearDown(self):
        self.nginx.stop()

    def bind(self, sha):
        self.ck.run("bind", "www", "--cert", sha, "--target",
                    "nginx:%s,conf=%s" % (self.tls, self.nginx.conf), "--verify",
                    "127.0.0.1:%d,sni=%s" % (self.nginx.port, NAME))

    def served(self):
        return tlsserver.handshake(self.nginx.port, NAME, test_deploy.BASE["bundle"])

    def test_kill_at_every_fault_point(self):
        log = os.path.join(self.dir, "faults.log")
        self.bind(self.certs[1])
        res = self.ck.run("deploy", "www", env={"CERTKEEP_FAULT_LOG": log})
        self.assertEqual(self.served(), self.certs[1])
        sites = fault_sites(log)
        if not sites:
            self.skipTest("certkeep was built without -Dfault_injection=true")
        names = {s.rsplit(":", 1)[0] for s in sites}
        for must in ("deploy.gen.file", "deploy.gen.switched", "deploy.reloaded",
                     "deploy.verified", "store.binding_deploy_end.commit"):
            self.assertIn(must, names, sites)
        old = self.certs[1]
        for i, site in enumerate(sites):
            new = self.certs[i % 2]
            with self.subTest(site=site):
                self.bind(new)
                res = self.ck.run("deploy", "www", check=False,
                                  env={"CERTKEEP_FAULT": site})
                self.assertNotEqual(res.returncode, 0, ckharness.describe(
                    res, "certkeep must abort at fault point %s" % site))
                self.assertIn("fault point", res.stderr)
                served = self.served()
                self.assertIn(served, (old, new), "served must be the old or new leaf")
                on_disk = file_sha(os.path.join(self.tls, "cert.pem"))
                self.assertIn(on_disk, (old, new))
                doc = self.ck.run("doctor", "--json", check=False)
                d020 = [f for f in json.loads(doc.stdout)["findings"]
                        if f["code"] == "CK-D020"]
                for f in d020:
                    self.assertNotIn("incomplete", f["what"], f)
                    self.assertNotIn("behind", f["what"], f)
                    self.assertIn("interrupted", f["what"], f)
                    self.assertIn("the NEW set" if on_disk == new else "the OLD set",
                                  f["what"], f)
                res = self.ck.run("deploy", "--json", "www", check=False)
                self.assertEqual(res.returncode, 0, ckharness.describe(
                    res, "the next deploy must finish or repeat the work after %s" % site))
                self.assertEqual(self.served(), new)
                doc = json.loads(self.ck.run("doctor", "--json", check=False).stdout)
                self.assertEqual([f for f in doc["findings"] if f["code"] == "CK-D020"], [])
                old = new
        gens = [e for e in os.listdir(self.tls) if e.startswith("gen-")]
        self.assertLessEqual(len(gens), 4, "prune removes what crashes left: %s" % gens)


if __name__ == "__main__":
    unittest.main()
