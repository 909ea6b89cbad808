"""A store bigger than one list call (CK_STORE_ROWS_MAX = 100,000 rows): `list`
and `list --json` stream every certificate, and `import` of a key still finds
the labelled certificate it links.  Before the store streamed rows, `list`
failed with "more than 100000 certificates" and so did importing any key
into such a store (import read the whole certificate list to find labelled
certificates).  Not timed: bench/store measures speed.

The 100,000 extra rows are planted with SQL (copies of one imported
certificate's row under other thumbprints, each labelled "no private key"):
importing them one by one would take minutes under the sanitizers.
"""

import json
import os
import tempfile
import unittest

import test_store_cli as sc

ROWS_MAX = 100000
TMP = None
PKI = None


def setUpModule():
    global TMP, PKI
    TMP, PKI = sc.module_pki("ck-store-scale-")


def plant_copies(ck, n):
    """n more certificate rows: copies of the first row with thumbprints 1..n."""
    con = sc.db(ck)
    con.execute(
        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?) "
        "INSERT INTO certificates (der, sha256, sha1, spki_sha256, subject, issuer, serial, "
        "sans, not_before, not_after, key_algorithm, key_id, key_state, lineage_id, origin, "
        "alternates, created) "
        "SELECT c.der, printf('%064x', k.i), printf('%040x', k.i), printf('%064x', k.i), "
        "c.subject, c.issuer, c.serial, c.sans, c.not_before, c.not_after, c.key_algorithm, "
        "NULL, 'no-key', NULL, c.origin, NULL, c.created "
        "FROM k, (SELECT * FROM certificates ORDER BY id LIMIT 1) c", (n,))
    con.close()


class ScaleCase(sc.StoreCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.id().rsplit(".", 1)[-1] + "-", dir=TMP)
        self.ck = sc.new_store(self.dir)


class TestPastRowsMax(ScaleCase):

    def setUp(self):
        super().setUp()
        self.leaf = PKI.leaf()
        # The certificate alone: stored labelled "no private key".
        self.ck.run("import", self.leaf["cert"])
        plant_copies(self.ck, ROWS_MAX)

    def test_list_streams_every_row(self):
        rows = self.ck.json("list", "--json")
        self.assertEqual(len(rows), ROWS_MAX + 1)
        self.assertIn(self.leaf["sha256"], {r["sha256"] for r in rows})
        lines = self.ck.run("list").stdout.splitlines()
        self.assertEqual(len(lines), ROWS_MAX + 2)   # the header, then one per row
        self.assertTrue(lines[0].startswith("LINEAGE"))

    def test_import_key_links_labelled_certificate(self):
        res = self.ck.run("import", self.leaf["key"])
        self.assertIn("linked to certificate %s" % self.leaf["sha256"][:16], res.stdout)
        self.assertIs(sc.entry(self.ck, self.leaf["sha256"])["key"]["linked"], True)


class TestListJsonForm(ScaleCase):

    def test_list_json_is_one_indented_array(self):
        """Streamed row by row, the text is still exactly one JSON array
        indented by two (what `list --json` always printed)."""
        self.ck.run("import", PKI.key("ec256", os.path.join(self.dir, "lone.key")))
        self.assertEqual(self.ck.run("list", "--json").stdout, "[]\n")
        a, b = PKI.leaf("ec256"), PKI.leaf("rsa2048")
        self.ck.run("import", a["bundle"], "--name", "first")
        self.ck.run("import", b["cert"])
        out = self.ck.run("list", "--json").stdout
        rows = json.loads(out)
        self.assertEqual([r["sha256"] for r in rows], [a["sha256"], b["sha256"]])
        self.assertEqual(out, json.dumps(rows, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    unittest.main()
