"""doctor checks each lineage's stored next look (lineages.due_at, migration
15) against the time it is due by the renewal plan's own rule (CK-D021
due-late), on both engines.  What a user notices: a lineage whose stored
next look is later than its due time is left out of renew --all (renewed
late: an outage); doctor names it, doctor without --repair changes nothing,
and after doctor --repair renew --dry-run --all lists it as due."""

import json
import os
import sqlite3
import time
import unittest

import ckharness

TMP = PG = PEBBLE = None
LINEAGE = "late.due.test"


def setUpModule():
    global TMP, PG, PEBBLE
    TMP, PG, PEBBLE = ckharness.module_pg_pebble("ck-doctordue-")


class DueLateBase:
    """A store per test (self.ck; self.sql runs SQL on it as an admin would)."""

    def http(self):
        return ("--http-port", str(PEBBLE.http_port), "--http-address", "127.0.0.1")

    def due_at(self):
        return int(self.sql("SELECT due_at FROM lineages WHERE name = '%s'" % LINEAGE))

    def dry(self):
        return {i["lineage"]: i for i in self.ck.json("renew", "--dry-run", "--all", "--json",
                                                      *self.http())}

    def doctor(self, *args):
        res = self.ck.run("doctor", "--json", *args, check=False)
        out = json.loads(res.stdout)
        late = [x for x in out["findings"] + out["actions"] if x["code"] == "CK-D021"]
        return res, late

    def test_late_next_look_found_and_repaired(self):
        self.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")
        self.ck.run("issue", "-d", LINEAGE, *self.http(), timeout=300)
        sha = [c for c in self.ck.json("list", "--json")
               if c["name"] == LINEAGE and c["current"]][0]["sha256"].lower()
        now = int(time.time())
        # The CA's renewal window (ARI) for this certificate has come; renewalInfo
        # is not asked again for a day.  The stored next look says next month.
        self.sql("INSERT INTO renewal (lineage, cert_sha256, ari_start, ari_end, ari_moment, "
                 "ari_next, updated) VALUES ('%s', '%s', %d, %d, %d, %d, %d)"
                 % (LINEAGE, sha, now - 7200, now + 86400, now - 3600, now + 86400, now))
        late = now + 30 * 86400
        self.sql("UPDATE lineages SET due_at = %d WHERE name = '%s'" % (late, LINEAGE))
        self.assertNotIn(LINEAGE, self.dry())  # the outage: renew skips it
        res, found = self.doctor()
        self.assertEqual(res.returncode, 1, ckharness.describe(res, "a finding remains"))
        self.assertEqual([(x["name"], x["severity"], x["object"], x["fixed"]) for x in found],
                         [("due-late", "error", "lineage " + LINEAGE, False)], res.stdout)
        self.assertIn("ARI", found[0]["what"])
        self.assertEqual(self.due_at(), late)  # doctor alone never writes
        res, fixed = self.doctor("--repair")
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "repaired"))
        self.assertEqual([(x["name"], x["fixed"]) for x in fixed], [("due-late", True)])
        self.assertLess(self.due_at(), 0)  # "compute now", as the triggers set it
        item = self.dry()[LINEAGE]
        self.assertEqual((item["state"], item["why"]), ("due", "ari-window"), item)


class TestDueLateSQLite(DueLateBase, unittest.TestCase):

    def setUp(self):
        directory = os.path.join(TMP, ckharness.test_name(self) + "_sqlite")
        os.makedirs(directory, mode=0o700)
        self.store = os.path.join(directory, "store.db")
        self.ck = ckharness.Certkeep(self.store, ca_bundle=PEBBLE.ca_bundle)

    def sql(self, query):
        db = sqlite3.connect(self.store)
        try:
            rows = db.execute(query).fetchall()
            db.commit()
            return rows[0][0] if rows else None
        finally:
            db.close()


class TestDueLatePostgreSQL(DueLateBase, unittest.TestCase):

    def setUp(self):
        self.db, self.url, _ = ckharness.pg_test_db(self, PG, TMP)
        self.ck = ckharness.Certkeep(self.url, ca_bundle=PEBBLE.ca_bundle)

    def sql(self, query):
        return PG.psql(self.db, query).strip()


if __name__ == "__main__":
    unittest.main()
