"""Preferred chains (issue 11): Pebble with PEBBLE_ALTERNATE_ROOTS=1 and
PEBBLE_CHAIN_LENGTH=3 offers every certificate under two roots: the default
chain (under /roots/0) and one alternate (the same issuing intermediate,
/intermediates/N, cross-signed under /roots/1); each chain is three
intermediates, the root itself not sent.

`issue --preferred-chain CN` selects the chain whose topmost certificate is
issued by the root named CN, records the preference on the lineage (a later
issue keeps it), and falls back to the default chain with a warning naming
the roots offered.  `chain REF --select N|CN` switches it without an order.
`export` writes the selected chain (chain, fullchain, PKCS#12).  What the
chains are is checked against Pebble's management API (/roots/N,
/intermediates/N), never against what certkeep says about itself."""

import base64
import os
import subprocess
import unittest

import ckharness

TMP = PEBBLE = None


def setUpModule():
    global TMP, PEBBLE
    TMP, PEBBLE = ckharness.module_pebble(
        "ck-chains-", env={"PEBBLE_ALTERNATE_ROOTS": "1", "PEBBLE_CHAIN_LENGTH": "3"})


def tearDownModule():
    ckharness.module_cleanup(TMP, PEBBLE)


def pem_blocks(text):
    """The CERTIFICATE blocks of a PEM text, each normalised to its DER."""
    ders, cur = [], None
    for line in text.splitlines():
        if line.startswith("-----BEGIN CERTIFICATE"):
            cur = []
        elif line.startswith("-----END CERTIFICATE"):
            ders.append(base64.b64decode("".join(cur)))
            cur = None
        elif cur is not None:
            cur.append(line.strip())
    return ders


def der_field(der, field):
    """`openssl x509 -noout -FIELD` (subject or issuer) of one DER certificate, RFC 2253."""
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-" + field,
                          "-nameopt", "RFC2253"], input=der, capture_output=True, check=True)
    return out.stdout.decode().strip().split("=", 1)[1]


def cn_of(name):
    for part in name.split(","):
        if part.startswith("CN="):
            return part[3:]
    return ""


class TestPreferredChain(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.roots = [pem_blocks(cls.mgmt("/roots/%d" % i))[0] for i in (0, 1)]
        cls.root_cn = [cn_of(der_field(r, "subject")) for r in cls.roots]
        cls.intermediates = [pem_blocks(cls.mgmt("/intermediates/%d" % i))[0] for i in (0, 1)]

    @staticmethod
    def mgmt(path):
        got = PEBBLE.mgmt_get(path)
        return got.decode() if isinstance(got, bytes) else got

    def setUp(self):
        self.dir = os.path.join(TMP, self.id().rsplit(".", 1)[-1])
        os.makedirs(self.dir)
        self.ck = ckharness.Certkeep(os.path.join(self.dir, "store.db"),
                                     ca_bundle=PEBBLE.ca_bundle)
        self.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")

    def issue(self, name, *extra, **kw):
        return self.ck.run("issue", "-d", name, "--http-port", str(PEBBLE.http_port),
                           "--http-address", "127.0.0.1", *extra, timeout=300, **kw)

    def exported_chain(self, ref, what="chain"):
        """The chain export writes for ref (DER list, nearest issuer first)."""
        path = os.path.join(self.dir, "%s-%d.pem" % (what, len(os.listdir(self.dir))))
        self.ck.run("export", ref, "--no-key", "--%s-out" % what, path)
        with open(path, encoding="ascii") as fp:
            return pem_blocks(fp.read())

    def assert_under_root(self, chain, n, why):
        """chain (issuers only) is Pebble's chain under /roots/n: it starts
        with /intermediates/n and its topmost certificate is issued by root n."""
        self.assertEqual(len(chain), 3, "PEBBLE_CHAIN_LENGTH=3: three intermediates (%s)" % why)
        self.assertEqual(chain[0], self.intermediates[n],
                         "the issuing intermediate is /intermediates/%d (%s)" % (n, why))
        self.assertEqual(der_field(chain[-1], "issuer"), der_field(self.roots[n], "subject"),
                         "the topmost certificate is issued by /roots/%d (%s)" % (n, why))

    def chains(self, ref):
        got = self.ck.json("chain", ref, "--json")
        return got["selected"], {c["top_issuer"]: c for c in got["chains"]}

    def test_pebble_offers_two_roots(self):
        """The set-up itself: the default chain leads to root 0, the
        alternate to root 1, and certkeep lists both with their roots."""
        self.assertNotEqual(self.root_cn[0], self.root_cn[1])
        self.issue("plain.example.test")
        selected, by_cn = self.chains("plain.example.test")
        self.assertEqual(selected, 0)
        self.assertEqual(sorted(by_cn), sorted(self.root_cn))
        self.assertEqual(by_cn[self.root_cn[0]]["index"], 0, "Pebble's default is root 0")
        self.assertEqual(by_cn[self.root_cn[1]]["length"], 3)
        self.assert_under_root(self.exported_chain("plain.example.test"), 0, "default")
        shown = self.ck.json("show", "plain.example.test", "--json")
        self.assertEqual(shown["alternate_chains"], 1, "existing field kept")
        self.assertEqual([c["selected"] for c in shown["chains"]], [True, False])
        text = self.ck.run("show", "plain.example.test").stdout
        self.assertIn('1. to "%s", 3 certificate(s)' % self.root_cn[1], text)

    def test_preferred_chain_selected_exported_and_kept(self):
        name = "pref.example.test"
        r = self.issue(name, "--preferred-chain", self.root_cn[1])
        sha1 = r.stdout.strip()
        self.assertNotIn("warning", r.stderr)
        selected, by_cn = self.chains(name)
        self.assertEqual(selected, by_cn[self.root_cn[1]]["index"])
        self.assertNotEqual(selected, 0, "root 1 is offered as an alternate")
        self.assertTrue(by_cn[self.root_cn[1]]["selected"])
        chain = self.exported_chain(name)
        self.assert_under_root(chain, 1, "preferred")
        full = self.exported_chain(name, "fullchain")
        self.assertEqual(full[1:], chain, "fullchain = leaf + the selected chain")
        self.assert_pfx_chain(name, chain)

        # A second issue of the lineage, without the flag (what renewal runs).
        sha2 = self.issue(name).stdout.strip()
        self.assertNotEqual(sha1, sha2)
        selected, by_cn = self.chains(name)
        self.assertEqual(selected, by_cn[self.root_cn[1]]["index"],
                         "the lineage's preference is honoured without the flag")
        self.assert_under_root(self.exported_chain(name), 1, "renewed")
        # '' clears it: the next certificate uses the default chain.
        self.issue(name, "--preferred-chain", "")
        self.assertEqual(self.chains(name)[0], 0)
        self.assert_under_root(self.exported_chain(name), 0, "cleared")

    def assert_pfx_chain(self, name, chain):
        pw = os.path.join(self.dir, "pw")
        with open(pw, "w", encoding="ascii") as fp:
            fp.write("chain-test-pw\n")
        pfx = os.path.join(self.dir, "out.pfx")
        self.ck.run("export", name, "--format", "pfx", "--password-file", pw, "--out", pfx)
        out = subprocess.run(["openssl", "pkcs12", "-in", pfx, "-nokeys", "-cacerts",
                              "-passin", "file:" + pw], capture_output=True, check=True)
        self.assertEqual(sorted(pem_blocks(out.stdout.decode())), sorted(chain),
                         "the PKCS#12 carries the selected chain")

    def test_unknown_cn_falls_back_with_warning(self):
        name = "unknown.example.test"
        r = self.issue(name, "--preferred-chain", "No Such Root CA")
        self.assertIn("warning", r.stderr)
        self.assertIn('"No Such Root CA"', r.stderr)
        for cn in self.root_cn:
            self.assertIn('"%s"' % cn, r.stderr, "the warning names every root offered")
        self.assertEqual(self.chains(name)[0], 0)
        self.assert_under_root(self.exported_chain(name), 0, "fallback")

    def test_chain_select_by_index_and_by_cn(self):
        name = "select.example.test"
        sha = self.issue(name).stdout.strip()
        before = self.ck.json("show", name, "--json")
        _, by_cn = self.chains(name)
        alt = by_cn[self.root_cn[1]]["index"]

        r = self.ck.run("chain", name, "--select", str(alt))
        self.assertIn("chain %d selected" % alt, r.stdout)
        self.assertEqual(self.chains(sha)[0], alt, "by REF = thumbprint too")
        self.assert_under_root(self.exported_chain(name), 1, "selected by index")

        self.ck.run("chain", sha[:16], "--select", self.root_cn[0])
        self.assertEqual(self.chains(name)[0], 0)
        self.assert_under_root(self.exported_chain(name), 0, "selected by CN")

        got = self.ck.json("chain", name, "--select", self.root_cn[1], "--json")
        self.assertEqual(got["selected"], alt)
        self.assertEqual(got["sha256"], sha)

        # No such chain: refused, nothing changed.
        for bad in ("7", "Nobody's Root"):
            r = self.ck.run("chain", name, "--select", bad, check=False)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertEqual(self.chains(name)[0], alt)
        self.assertIn(self.root_cn[0], r.stderr, "the error names the chains there are")
        after = self.ck.json("show", name, "--json")
        self.assertEqual(after["sha256"], before["sha256"], "no new certificate, no order")


if __name__ == "__main__":
    unittest.main()
