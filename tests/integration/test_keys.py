"""Keys through the command line: nothing deletes the only copy, and a
removed key leaves no copy in the store's files.

- `move` onto a store that knows the same public key only as a pkcs11:
  token reference is refused with nothing changed (the source keeps the
  certificate and its software key; the destination gets nothing), while
  `copy` still works; a move killed between the destination's commit and
  the source's delete leaves the key exportable from both stores.
- With another connection holding the store open (a second certkeep
  process, a backup reading it), SQLite neither checkpoints nor removes
  store.db-wal when a command ends, so the page images of a deleted key
  would stay in the WAL and in the not-yet-checkpointed database page.
  After `rm` + `doctor --prune` and after `move`, the PKCS#8 DER of the
  key (read from the store before) is in neither store.db nor
  store.db-wal.  When a reader keeps the checkpoint from finishing, the
  command still succeeds and warns that an older copy stays in the WAL.

The certificates come from test_store_cli's throw-away PKI (openssl CLI).
"""

import hashlib
import os
import sqlite3
import subprocess
import tempfile
import unittest

import ckharness
import test_store_cli as sc

TMP = None
PKI = None


def setUpModule():
    global TMP, PKI
    TMP, PKI = sc.module_pki("ck-keys-")


def spki_der(key_path):
    return subprocess.run(["openssl", "pkey", "-in", key_path, "-pubout", "-outform", "DER"],
                          capture_output=True, check=True).stdout


def store_bytes(ck):
    """The bytes of store.db and store.db-wal (b"" for a file that is absent).

    Read by another process: closing a descriptor of store.db in this one
    would drop every POSIX lock this process holds on it, the reader
    connection's too, and certkeep would then find itself alone and
    remove the WAL when it closes (hiding what the tests look for).
    """
    out = {}
    for suffix in ("", "-wal"):
        path = ck.store + suffix
        res = subprocess.run(["cat", path], capture_output=True)
        out["store.db" + suffix] = res.stdout if os.path.exists(path) else b""
    return out


def pkcs8_of(con, key_path):
    """The stored PKCS#8 DER of the key whose public key is key_path's."""
    spki = hashlib.sha256(spki_der(key_path)).hexdigest()
    row = con.execute("SELECT pkcs8_der FROM keys WHERE spki_sha256 = ?", (spki,)).fetchone()
    assert row is not None and row[0] is not None, "no software key for %s" % key_path
    return bytes(row[0])


def start_store(ck):
    """Creates ck's store empty, as a user would: only a command that puts
    something in a store creates one, so import a lone certificate (no key)
    and remove it again."""
    leaf = PKI.leaf()
    ck.run("import", leaf["cert"], "--name", "starter")
    ck.run("rm", "starter")
    assert sc.entries(ck) == [], "the starter certificate is gone"
    return ck


class KeysCase(sc.StoreCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.id().rsplit(".", 1)[-1] + "-", dir=TMP)
        self.ck = start_store(sc.new_store(self.dir))
        self.dst = start_store(sc.new_store(self.dir, "dst"))

    def assertKeyUsable(self, ck, leaf, msg):
        e = sc.entry(ck, leaf["sha256"])
        self.assertIsNotNone(e, msg + ": the certificate is there")
        self.assertIs(e["key"]["linked"], True, msg)
        files = self.export_files(ck, leaf["sha256"])
        self.assertEqual(sc.pubkey_of_key(files["key"]), sc.pubkey_of_key(leaf["key"]), msg)

    def assertNotInFiles(self, ck, secret, msg):
        for name, data in store_bytes(ck).items():
            # (not assertNotIn: its message would print the whole file)
            self.assertFalse(secret in data, "%s: the key is still in %s" % (msg, name))


class TestMoveKeepsTheOnlyCopy(KeysCase):

    def plant_token_reference(self, ck, leaf):
        """The destination knows leaf's public key only as a token reference."""
        der = spki_der(leaf["key"])
        con = sc.db(ck)
        con.execute("INSERT INTO keys (spki_sha256, spki_der, key_type, algorithm, pkcs8_der, "
                    "pkcs11_uri, created) VALUES (?, ?, 'ec256', 'EC P-256', NULL, ?, 0)",
                    (hashlib.sha256(der).hexdigest(), der, "pkcs11:token=card;id=%01"))
        con.close()

    def test_move_onto_token_reference_refused(self):
        leaf = PKI.leaf()
        self.ck.run("import", leaf["bundle"], "--name", "soft")
        self.plant_token_reference(self.dst, leaf)
        res = self.ck.run("move", "soft", "--to", self.dst.store, check=False)
        self.assertFails(res, "token reference", "nothing was changed", "certkeep copy")
        self.assertKeyUsable(self.ck, leaf, "the source keeps its software key")
        self.assertEqual(sc.entries(self.dst), [], "the destination got nothing")
        # copy deletes nothing, so it stays allowed
        self.ck.run("copy", "soft", "--to", self.dst.store)
        self.assertKeyUsable(self.ck, leaf, "copy keeps the source")

    def test_move_killed_between_stores_leaves_both(self):
        leaf = PKI.leaf()
        self.ck.run("import", leaf["bundle"])
        for point in ("store.move.copied", "store.move.src_verified"):
            with self.subTest(point=point):
                res = self.ck.run("move", leaf["sha256"], "--to", self.dst.store, check=False,
                                  env={"CERTKEEP_FAULT": point})
                self.assertEqual(res.returncode, -6, ckharness.describe(res, "aborted at "
                                                                        + point))
                self.assertKeyUsable(self.ck, leaf, "source after a crash at " + point)
                self.assertKeyUsable(self.dst, leaf, "destination after a crash at " + point)
        # run again without a fault: the move completes
        self.ck.run("move", leaf["sha256"], "--to", self.dst.store)
        self.assertIsNone(sc.entry(self.ck, leaf["sha256"]))
        self.assertKeyUsable(self.dst, leaf, "after the move")


class TestRemovedKeyLeavesNoCopy(KeysCase):

    def setUp(self):
        super().setUp()
        # Another connection keeps the store open, as a second certkeep would.
        self.reader = sqlite3.connect(self.ck.store, isolation_level=None)
        self.reader.execute("SELECT count(*) FROM keys").fetchone()

    def tearDown(self):
        self.reader.close()

    def imported_key(self, name):
        leaf = PKI.leaf()
        self.ck.run("import", leaf["bundle"], "--name", name)
        secret = pkcs8_of(self.reader, leaf["key"])
        self.assertTrue(any(secret in d for d in store_bytes(self.ck).values()),
                        "the search finds the key while it is stored")
        return leaf, secret

    def test_rm_then_prune(self):
        leaf, secret = self.imported_key("gone")
        res = self.ck.run("rm", "gone")
        self.assertIn("stays in the store", res.stdout)
        res = self.ck.run("doctor", "--prune", check=False)
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "prune"))
        self.assertNotIn("stays in", res.stderr)
        self.assertNotInFiles(self.ck, secret, "after rm and doctor --prune")

    def test_move(self):
        leaf, secret = self.imported_key("moving")
        res = self.ck.run("move", "moving", "--to", self.dst.store)
        self.assertNotIn("stays in", res.stderr)
        self.assertNotInFiles(self.ck, secret, "after move")
        self.assertKeyUsable(self.dst, leaf, "the destination has it")

    def test_busy_reader_warns(self):
        leaf, secret = self.imported_key("held")
        self.ck.run("rm", "held")
        # A reader in the middle of a read keeps the checkpoint from finishing.
        self.reader.execute("BEGIN")
        self.reader.execute("SELECT count(*) FROM keys").fetchone()
        res = self.ck.run("doctor", "--prune", check=False)
        self.reader.execute("COMMIT")
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "the prune itself worked"))
        self.assertIn("stays in %s-wal" % self.ck.store, res.stderr)
        self.assertEqual(self.reader.execute("SELECT count(*) FROM keys").fetchone()[0], 0)
        # the next removal checkpoints it away
        leaf2, secret2 = self.imported_key("next")
        self.ck.run("rm", "next")
        self.ck.run("doctor", "--prune")
        self.assertNotInFiles(self.ck, secret, "after the next prune")
        self.assertNotInFiles(self.ck, secret2, "after the next prune")


if __name__ == "__main__":
    unittest.main()
