"""A fleet (issue 12): several `certkeep renew` processes ("nodes", each
with its own CERTKEEP_NODE name) on one PostgreSQL store, against a real
Pebble, with a real PostgreSQL started for the module (scripts/pg-test-server).

What a user notices, and what is checked:
- 3 nodes x 200 lineages due at once: every lineage is renewed exactly once
  (Pebble's log: as many finalizes as lineages, and every lineage has
  exactly one new certificate), doctor is clean, a run afterwards sends
  nothing.
- Connections between a node and PostgreSQL cut mid-batch (a TCP proxy
  resets them), and PostgreSQL restarted mid-batch (pg_ctl restart -m
  immediate): after the operator runs `renew --all` again, every lineage is
  renewed exactly once, doctor is clean, nothing is lost (every lineage's
  current certificate is the new one, linked to a key the store holds, and
  exports with it).

How the lineages are made cheaply: the test's own throw-away CA signs one
certificate per lineage, already two thirds through its 90-day life (so the
lifetime rule makes it due now, no --force), and `certkeep import --name`
stores each one (certkeep's own import: the same rows as any import).  The
lineages are proven by http-01 through a webroot (`issue --webroot`), which
lets every node publish its proofs where one web server on Pebble's
httpPort serves them: one lineage is issued that way for real, and its
recorded challenge settings (the JSON issue wrote) are copied to the
imported lineages, as if each had been issued with the same --webroot.
Every renewal is a full order against Pebble (new key, challenge, finalize).
"""

import concurrent.futures
import datetime
import json
import os
import subprocess
import time
import unittest

import ckharness
import tcpproxy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PG = PEBBLE = TMP = WEBROOT = HTTPD = None
CA_NAME = "certkeep fleet test CA"


def setUpModule():
    global PG, PEBBLE, TMP, WEBROOT, HTTPD
    TMP, PG, PEBBLE = ckharness.module_pg_pebble("ck-fleet-")
    WEBROOT = os.path.join(TMP, "webroot")
    os.makedirs(WEBROOT)
    # What each node's `--webroot` writes, served on Pebble's httpPort.
    HTTPD = ckharness.StaticServer(WEBROOT, PEBBLE.http_port)


def tearDownModule():
    if HTTPD is not None:
        HTTPD.stop()


def pg_restart():
    """pg_ctl restart -m immediate on the module's server, as its owner
    (postgres when root); its log stays where pg-test-server put it (without
    -l the server would hold our stdout open)."""
    bindir = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
    argv = [os.path.join("/usr/lib/postgresql", bindir, "bin", "pg_ctl"), "-D",
            os.path.join(PG.dir, "data"), "-l", os.path.join(PG.dir, "log"), "-w", "-t", "60",
            "-m", "immediate", "restart"]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)


def due_bundles(directory, names):
    """One PEM per name (key, certificate, CA), from a throw-away CA, the
    certificate 80 of its 90 days old: due now by the lifetime rule."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=100))
          .not_valid_after(now + datetime.timedelta(days=100))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    paths = []
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=80))
                .not_valid_after(now + datetime.timedelta(days=10))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        path = os.path.join(directory, name + ".pem")
        with open(path, "wb") as fp:
            fp.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
            fp.write(cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
        paths.append(path)
    return paths


class FleetCase(unittest.TestCase):
    """A database per test holding `self.names` due lineages (plus the one
    issued for real, not due), an account on Pebble, the webroot recorded."""

    COUNT = 60
    TEMPLATE = "tmpl.fleet.test"

    def setUp(self):
        self.db, self.url, self.dir = ckharness.pg_test_db(self, PG, TMP)
        self.ck = ckharness.Certkeep(self.url, ca_bundle=PEBBLE.ca_bundle)
        self.ck.run("account", "register", "--server", PEBBLE.directory_url, "--agree-tos")
        self.ck.run("issue", "-d", self.TEMPLATE, "--webroot", WEBROOT, timeout=300)
        tag = "".join(w[0] for w in self.db.split("_"))  # names stay short
        self.names = ["n%03d.%s.fleet.test" % (i, tag) for i in range(self.COUNT)]
        bundles = due_bundles(self.dir, self.names)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for res in pool.map(lambda nb: self.ck.run("import", nb[1], "--name", nb[0]),
                                zip(self.names, bundles)):
                self.assertEqual(res.returncode, 0)
        self.sql("UPDATE lineages SET challenge = (SELECT challenge FROM lineages WHERE "
                 "name = '%s') WHERE challenge IS NULL" % self.TEMPLATE)
        due = [i["lineage"] for i in self.ck.json("renew", "--dry-run", "--all", "--json")
               if i["state"] == "due"]
        self.assertEqual(sorted(due), sorted(self.names), "exactly the imported lineages are due")
        self.finalizes0 = PEBBLE.count_finalized()

    def sql(self, query):
        return PG.psql(self.db, query)

    LEASE_TTL = None   # renew's default

    def node(self, i, store=None, concurrency=4):
        """Starts node i: `certkeep renew --all --json` as its own process."""
        ttl = ("--lease-ttl", str(self.LEASE_TTL)) if self.LEASE_TTL else ()
        argv = self.ck.argv("renew", "--all", "--json", "--concurrency", str(concurrency),
                            *ttl, store=store)
        env = dict(os.environ, CERTKEEP_NODE="node%d" % i)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        self.addCleanup(self.reap, proc)
        return proc

    @staticmethod
    def reap(proc):
        """A node still running when its test ends is killed (a failed test)."""
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    def wait_finalizes(self, procs, n, limit=300):
        """Waits until Pebble has seen n finalizes of this test's round."""
        deadline = time.monotonic() + limit
        while PEBBLE.count_finalized() - self.finalizes0 < n:
            self.assertLess(time.monotonic(), deadline, "the nodes never reached %d finalizes" % n)
            self.assertTrue(any(p.poll() is None for p in procs),
                            "every node ended before %d finalizes" % n)
            time.sleep(0.05)

    def finish(self, procs, expect_ok=True):
        outs = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=900)
            if expect_ok:
                self.assertEqual(p.returncode, 0, "a node failed:\n%s\n%s" % (stdout, stderr))
            outs.append((p.returncode, stdout, stderr))
        return outs

    def operator_reruns(self, limit=240):
        """`renew --all` again, as an operator (or the timer) would, until
        nothing is due or in flight; returns how many runs it took."""
        deadline = time.monotonic() + limit
        runs = 0
        while True:
            pending = [i for i in self.ck.json("renew", "--dry-run", "--all", "--json")
                       if i["state"] != "not-due"]
            if not pending:
                return runs
            self.assertLess(time.monotonic(), deadline,
                            "still pending after %d runs: %s" % (runs, pending[:5]))
            runs += 1
            self.ck.run("renew", "--all", "--json", "--concurrency", "4", check=False,
                        timeout=600)
            time.sleep(1)  # leases the cut-off nodes still hold expire in their time

    def assert_exactly_once_nothing_lost(self):
        finalizes = PEBBLE.count_finalized() - self.finalizes0
        rows = self.sql(
            "SELECT l.name || ' ' || count(c.id) || ' ' || "
            "  bool_or(c.id = l.current_cert_id AND c.issuer NOT LIKE '%%%s%%' "
            "          AND c.key_state = 'linked' AND k.pkcs8_der IS NOT NULL) "
            "FROM lineages l JOIN certificates c ON c.lineage_id = l.id "
            "LEFT JOIN keys k ON k.id = c.key_id "
            "WHERE l.name <> '%s' GROUP BY l.name ORDER BY l.name" % (CA_NAME, self.TEMPLATE))
        got = [r.split(" ") for r in rows.split("\n") if r]
        # Each lineage: the imported certificate and exactly one new one,
        # current, linked to a key the store holds ...
        self.assertEqual(got, [[n, "2", "true"] for n in sorted(self.names)])
        # ... and Pebble finalized exactly one order per lineage: with at
        # least one finalize behind each new certificate, as many finalizes
        # as lineages means exactly one each.
        self.assertEqual(finalizes, len(self.names), "finalizes in this round")
        res = self.ck.run("doctor", "--json", check=False)
        self.assertEqual(res.returncode, 0, ckharness.describe(res, "doctor must be clean"))
        self.assertEqual(json.loads(res.stdout)["findings"], [])
        # The new key is usable: it exports, and matches its certificate.
        out = os.path.join(self.dir, "export")
        self.ck.run("export", self.names[-1], "--cert-out", out + ".crt", "--key-out",
                    out + ".key")
        pub = [subprocess.run(["openssl", kind, "-in", out + ext, "-noout", "-pubkey"]
                              if kind == "x509" else ["openssl", "pkey", "-in", out + ext,
                                                      "-pubout"],
                              capture_output=True, text=True, check=True).stdout
               for kind, ext in (("x509", ".crt"), ("pkey", ".key"))]
        self.assertEqual(pub[0], pub[1])
        # A run now has nothing to do and sends nothing.
        before = PEBBLE.count_requests("POST", "/order-plz")
        out = json.loads(self.ck.run("renew", "--all", "--json").stdout)
        self.assertEqual(out["renewed"], 0)
        self.assertEqual(PEBBLE.count_requests("POST", "/order-plz"), before)


class TestFleet(FleetCase):

    COUNT = 200

    def test_three_nodes_renew_two_hundred_lineages_each_once(self):
        started = time.monotonic()
        procs = [self.node(i) for i in range(3)]
        outs = self.finish(procs)
        took = time.monotonic() - started
        renewed = [json.loads(o[1])["renewed"] for o in outs]
        self.assertEqual(sum(renewed), self.COUNT, "renewed per node: %s" % renewed)
        self.assert_exactly_once_nothing_lost()
        print("\n3 nodes x %d lineages: %.1f s, renewed per node %s" %
              (self.COUNT, took, renewed), flush=True)


class TestFleetFaults(FleetCase):

    COUNT = 60
    # A node cut off from PostgreSQL cannot release the leases it holds:
    # they stay until they expire, and only then may another node (the
    # operator's reruns run as this host's node) take them over.  A short
    # TTL keeps the wait short; a lease never moves while it is live.
    LEASE_TTL = 15

    def test_connections_dropped_mid_batch(self):
        proxy = tcpproxy.TcpProxy(("127.0.0.1", int(PG.url.rsplit(":", 1)[1]))).start()
        try:
            via = self.url.replace(PG.url, "postgresql://postgres@127.0.0.1:%d" % proxy.port)
            procs = [self.node(0, store=via), self.node(1)]
            self.wait_finalizes(procs, self.COUNT // 3)
            self.assertIsNone(procs[0].poll(), "node 0 still running")
            proxy.refuse(True)
            self.assertGreater(proxy.drop(), 0, "node 0 had connections to drop")
            time.sleep(1)
            proxy.refuse(False)
            self.finish(procs, expect_ok=False)
        finally:
            proxy.stop()
        self.operator_reruns()
        self.assert_exactly_once_nothing_lost()

    def test_postgresql_restarted_mid_batch(self):
        procs = [self.node(0), self.node(1)]
        self.wait_finalizes(procs, self.COUNT // 3)
        pg_restart()
        self.finish(procs, expect_ok=False)
        self.operator_reruns()
        self.assert_exactly_once_nothing_lost()


if __name__ == "__main__":
    unittest.main()
