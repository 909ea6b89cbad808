"""docs/examples/dns-hook-cloudflare.sh works: run as certkeep runs it
(`HOOK add|del FQDN VALUE`, an environment of PATH only) against a small
stand-in for Cloudflare's v4 API on 127.0.0.1 that checks the bearer
token and keeps the records.  The token is read from its file and never
appears in any process's argv.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "docs", "examples", "dns-hook-cloudflare.sh")
TOKEN = "cf-test-token-0123456789"


class FakeCloudflare(BaseHTTPRequestHandler):
    zones = {"zone-1": "example.org"}
    records = {}
    next_id = [1]

    def log_message(self, *a):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.reply(403, {"success": False, "errors": [{"message": "bad token"}]})
            return False
        return True

    def do_GET(self):
        if not self.authorized():
            return
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        path = u.path.replace("/client/v4", "")
        if path == "/zones":
            res = [{"id": i, "name": n} for i, n in self.zones.items() if n == q.get("name")]
            return self.reply(200, {"success": True, "result": res})
        m = re.fullmatch(r"/zones/([^/]+)/dns_records", path)
        if m:
            res = [dict(r, id=i) for i, r in self.records.items()
                   if r["zone"] == m.group(1) and r["type"] == q.get("type")
                   and r["name"] == q.get("name")]
            return self.reply(200, {"success": True, "result": res})
        self.reply(404, {"success": False})

    def do_POST(self):
        if not self.authorized():
            return
        m = re.fullmatch(r"/client/v4/zones/([^/]+)/dns_records", self.path)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not m or body.get("type") != "TXT":
            return self.reply(400, {"success": False})
        rid = "rec-%d" % self.next_id[0]
        self.next_id[0] += 1
        self.records[rid] = dict(body, zone=m.group(1))
        self.reply(200, {"success": True, "result": {"id": rid}})

    def do_DELETE(self):
        if not self.authorized():
            return
        m = re.fullmatch(r"/client/v4/zones/([^/]+)/dns_records/([^/]+)", self.path)
        if not m or self.records.pop(m.group(2), None) is None:
            return self.reply(404, {"success": False})
        self.reply(200, {"success": True, "result": {"id": m.group(2)}})


class TestCloudflareHookExample(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ck-cfhook-")
        FakeCloudflare.records = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCloudflare)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        token = os.path.join(self.dir, "cloudflare.token")
        with open(os.open(token, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fp:
            fp.write(TOKEN + "\n")
        with open(SCRIPT, encoding="utf-8") as fp:
            text = fp.read()
        text = text.replace("TOKEN_FILE=/etc/certkeep/cloudflare.token", "TOKEN_FILE=" + token)
        text = text.replace("API=https://api.cloudflare.com/client/v4",
                            "API=http://127.0.0.1:%d/client/v4" % self.server.server_port)
        self.hook = os.path.join(self.dir, "hook.sh")
        with open(self.hook, "w", encoding="utf-8") as fp:
            fp.write(text)
        os.chmod(self.hook, 0o755)

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_hook(self, *args):
        # As certkeep runs it: no shell, PATH only.
        return subprocess.run([self.hook, *args], capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/local/bin:/usr/bin:/bin"})

    def test_add_two_values_then_del(self):
        fqdn = "_acme-challenge.www.example.org"
        for v in ("value-apex", "value-wild"):
            res = self.run_hook("add", fqdn, v)
            self.assertEqual(res.returncode, 0, res.stderr)
        got = sorted((r["name"], r["content"]) for r in FakeCloudflare.records.values())
        self.assertEqual(got, [(fqdn, "value-apex"), (fqdn, "value-wild")])
        self.assertTrue(all(r["zone"] == "zone-1" and r["ttl"] == 60
                            for r in FakeCloudflare.records.values()))
        res = self.run_hook("del", fqdn, "value-apex")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual([r["content"] for r in FakeCloudflare.records.values()],
                         ["value-wild"], "del removes only its own value")

    def test_unknown_zone_and_bad_token(self):
        res = self.run_hook("add", "_acme-challenge.other.net", "v")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("no Cloudflare zone found for _acme-challenge.other.net", res.stderr)
        with open(os.path.join(self.dir, "cloudflare.token"), "w") as fp:
            fp.write("wrong\n")
        res = self.run_hook("add", "_acme-challenge.www.example.org", "v")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("Cloudflare API:", res.stderr)
        self.assertIn("bad token", res.stderr)
        self.assertEqual(FakeCloudflare.records, {})
        self.assertNotIn(TOKEN, res.stderr + res.stdout)


if __name__ == "__main__":
    unittest.main()
