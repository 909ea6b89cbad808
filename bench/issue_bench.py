#!/usr/bin/env python3
"""issue_bench - certkeep against certbot, lego and uacme: N sequential EC
P-256 certificates per tool, one invocation and one name per certificate,
http-01 on Pebble's httpPort, all tools against the same local Pebble in the
same run (PEBBLE_VA_NOSLEEP=1, PEBBLE_WFE_NONCEREJECT=0, PEBBLE_AUTHZREUSE=0).

Measured per invocation (by bench/measure, a small C launcher, see there
why): wall time, user+sys CPU time, peak RSS (ru_maxrss of the tool and of
the children it waited for), and ACME requests counted from Pebble's log by
delta.  Not measured: one account registration and one warm-up certificate
per tool before the timed runs, and the certificate checks after each run.
The tools take turns (round robin) so that drift on the machine hits all of
them alike.

Standard library only; uses tests/integration/ckharness.py for Pebble.
Never does: touch the system CA store (uacme gets its CA bundle through a
bind mount in a private mount namespace), listen on anything but 127.0.0.1.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True  # no __pycache__ in tests/integration/
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import ckharness  # noqa: E402

TOOLS = ("certkeep", "certbot", "lego", "uacme")
PEERS = ("certbot", "lego", "uacme")
DEFAULT_COUNT = 20
RUN_TIMEOUT = 180.0
PORT_WAIT = 10.0
UACME_HOOK = "/usr/share/uacme/uacme.sh"
MIB = 1024.0


class ToolUnavailable(Exception):
    """The tool cannot run here; the message says why."""


class RunFailed(Exception):
    """One invocation failed; the message says how."""


def run_quiet(argv, env=None, timeout=60):
    """Runs argv (not measured); returns CompletedProcess with text output."""
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def first_line(text):
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def deb_version(package):
    res = run_quiet(["dpkg-query", "-W", "-f", "${Version}", package])
    return res.stdout.strip() if res.returncode == 0 else None


def wait_port_free(port, timeout=PORT_WAIT):
    """Waits until 127.0.0.1:port can be bound (the previous tool let go)."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RunFailed("port %d is still in use after %.0f s" % (port, timeout))
        time.sleep(0.05)


def wait_port_open(port, proc, timeout=PORT_WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunFailed("the webroot server exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RunFailed("the webroot server did not listen on %d within %.0f s" % (port, timeout))


def cert_facts(pem_path):
    """(SAN DNS names, is EC P-256) of the first certificate in pem_path."""
    res = run_quiet(["openssl", "x509", "-in", pem_path, "-noout", "-text"])
    if res.returncode != 0:
        raise RunFailed("%s is not a certificate: %s" % (pem_path, first_line(res.stderr)))
    names = re.findall(r"DNS:([^,\s]+)", res.stdout)
    p256 = "prime256v1" in res.stdout or "P-256" in res.stdout
    return names, p256


class PebbleLog:
    """Counts ACME requests in Pebble's log since the last call."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.take()

    def take(self):
        """(requests, {"METHOD /route/": count}) logged since the last take()."""
        with open(self.path, "rb") as fp:
            fp.seek(self.offset)
            data = fp.read()
        end = data.rfind(b"\n") + 1  # only whole lines; the rest waits
        self.offset += end
        text = data[:end].decode("utf-8", "replace")
        routes = {}
        for m in ckharness.REQUEST_LINE_RE.finditer(text):
            key = "%s %s" % (m.group(1), m.group(2))
            routes[key] = routes.get(key, 0) + 1
        return sum(routes.values()), routes


class Bench:
    """The shared state of one run: Pebble, the launcher, the work directory."""

    def __init__(self, args, workdir, pebble, measure_bin):
        self.args = args
        self.workdir = workdir
        self.pebble = pebble
        self.measure_bin = measure_bin
        self.log = PebbleLog(pebble.log_path)
        self.seq = 0

    def measured(self, tool, argv, env=None, bind=None, label="run"):
        """Runs argv under bench/measure; returns a dict with wall_s, user_s,
        sys_s, cpu_s, maxrss_kib, exit, output_path.  Raises RunFailed."""
        self.seq += 1
        out = os.path.join(tool.dir, "measure-%04d.txt" % self.seq)
        output_path = os.path.join(tool.dir, "%s-%04d.log" % (label, self.seq))
        launcher = [self.measure_bin, "-o", out]
        if bind:
            launcher += ["-b", "%s:%s" % bind]
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(output_path, "wb") as log:
            proc = subprocess.Popen(launcher + ["--"] + argv, env=full_env, cwd=tool.dir,
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = proc.wait(self.args.timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise RunFailed("%s timed out after %.0f s (output: %s)" % (
                    " ".join(argv[:2]), self.args.timeout, output_path)) from None
            except BaseException:  # e.g. Ctrl-C: the tool is in its own session
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
        try:
            with open(out, encoding="ascii") as fp:
                wall_ns, user_us, sys_us, rss, _status = (int(x) for x in fp.read().split())
        except (OSError, ValueError):
            raise RunFailed("the launcher wrote no measurement (exit %d): %s" % (
                code, tail(output_path))) from None
        if code != 0:
            raise RunFailed("`%s` exited %d: %s" % (" ".join(argv), code, tail(output_path)))
        return {"wall_s": wall_ns / 1e9, "user_s": user_us / 1e6, "sys_s": sys_us / 1e6,
                "cpu_s": (user_us + sys_us) / 1e6, "maxrss_kib": rss,
                "output": output_path}


def tail(path, lines=6):
    try:
        with open(path, encoding="utf-8", errors="replace") as fp:
            text = fp.read().strip().splitlines()
    except OSError:
        return "(no output)"
    return " | ".join(line.strip() for line in text[-lines:]) or "(no output)"


class Tool:
    """One ACME client.  Subclasses fill in the commands."""

    name = None
    package = None

    def __init__(self, bench):
        self.bench = bench
        self.dir = os.path.join(bench.workdir, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.version = None

    @property
    def pebble(self):
        return self.bench.pebble

    def check(self):
        """Raises ToolUnavailable when the tool cannot run here."""
        raise NotImplementedError

    def prepare(self):
        """Registers the account (not timed)."""
        raise NotImplementedError

    def issue_argv(self, name):
        """(argv, env, bind) for one issuance of `name`."""
        raise NotImplementedError

    def cert_path(self, name):
        """Where the certificate for `name` is after a successful run."""
        raise NotImplementedError

    def around_run(self):
        """Context for one issuance (e.g. a webroot server); not timed."""
        return _Nothing()

    def issue(self, name, label="issue"):
        argv, env, bind = self.issue_argv(name)
        wait_port_free(self.pebble.http_port)
        with self.around_run():
            return self.bench.measured(self, argv, env=env, bind=bind, label=label)

    def verify(self, name):
        path = self.cert_path(name)
        if not os.path.exists(path):
            raise RunFailed("exit 0 but no certificate at %s" % path)
        names, p256 = cert_facts(path)
        if names != [name]:
            raise RunFailed("the certificate at %s names %s, not %s" % (path, names, name))
        if not p256:
            raise RunFailed("the certificate at %s is not for an EC P-256 key" % path)


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Certkeep(Tool):
    name = "certkeep"

    def check(self):
        self.binary = os.path.abspath(self.bench.args.certkeep)
        if not os.access(self.binary, os.X_OK):
            raise ToolUnavailable("no certkeep binary at %s (build it with `make build`, "
                                  "or pass --certkeep BIN or set CERTKEEP_BIN)" % self.binary)
        res = run_quiet([self.binary, "--version"])
        self.version = first_line(res.stdout) or "unknown"
        self.store = os.path.join(self.dir, "store")

    def base(self):
        return [self.binary, "--store", self.store, "--ca-bundle", self.pebble.ca_bundle]

    def prepare(self):
        self.bench.measured(self, self.base() + ["account", "register", "--server",
                                                 self.pebble.directory_url, "--agree-tos"],
                            label="register")

    def issue_argv(self, name):
        return (self.base() + ["issue", "-d", name, "--http-port", str(self.pebble.http_port),
                               "--http-address", "127.0.0.1"], None, None)

    def cert_path(self, name):
        path = os.path.join(self.dir, "export-%s.pem" % name)
        res = run_quiet(self.base() + ["export", name, "--cert-out", path])
        if res.returncode != 0:
            raise RunFailed("certkeep export %s failed: %s" % (name, first_line(res.stderr)))
        return path


class Certbot(Tool):
    name = "certbot"
    package = "certbot"

    def check(self):
        if shutil.which("certbot") is None:
            raise ToolUnavailable("certbot is not installed (apt-get install certbot)")
        self.version = "certbot " + (deb_version("certbot") or "unknown")
        self.env = {"REQUESTS_CA_BUNDLE": self.pebble.ca_bundle}

    def common(self):
        return ["--server", self.pebble.directory_url,
                "--config-dir", os.path.join(self.dir, "config"),
                "--work-dir", os.path.join(self.dir, "work"),
                "--logs-dir", os.path.join(self.dir, "logs"),
                "--non-interactive", "--agree-tos", "--register-unsafely-without-email"]

    def prepare(self):
        self.bench.measured(self, ["certbot", "register"] + self.common(), env=self.env,
                            label="register")

    def issue_argv(self, name):
        return (["certbot", "certonly", "--standalone",
                 "--http-01-port", str(self.pebble.http_port),
                 "--http-01-address", "127.0.0.1"] + self.common() +
                ["-d", name, "--key-type", "ecdsa", "--elliptic-curve", "secp256r1"],
                self.env, None)

    def cert_path(self, name):
        return os.path.join(self.dir, "config", "live", name, "cert.pem")


class Lego(Tool):
    name = "lego"
    package = "lego"

    def check(self):
        if shutil.which("lego") is None:
            raise ToolUnavailable("lego is not installed (apt-get install lego)")
        self.version = "lego " + (deb_version("lego") or "unknown")
        self.env = {"LEGO_CA_CERTIFICATES": self.pebble.ca_bundle}

    def argv(self, name):
        return ["lego", "--server", self.pebble.directory_url, "--accept-tos",
                "--email", "bench@lego.bench.test", "--path", os.path.join(self.dir, "data"),
                "--key-type", "ec256", "--http",
                "--http.port", "127.0.0.1:%d" % self.pebble.http_port,
                "--domains", name, "run"]

    def prepare(self):
        # lego has no register-only command: its first `run` registers the
        # account.  That run (a throw-away name) is the untimed preparation.
        wait_port_free(self.pebble.http_port)
        self.bench.measured(self, self.argv("register.lego.bench.test"), env=self.env,
                            label="register")

    def issue_argv(self, name):
        return self.argv(name), self.env, None

    def cert_path(self, name):
        return os.path.join(self.dir, "data", "certificates", name + ".crt")


class Uacme(Tool):
    """uacme with the shipped webroot hook (/usr/share/uacme/uacme.sh) and a
    python3 http.server serving the webroot on Pebble's httpPort while uacme
    runs (started before, stopped after each run; not measured)."""

    name = "uacme"
    package = "uacme"

    def check(self):
        if shutil.which("uacme") is None:
            raise ToolUnavailable("uacme is not installed (apt-get install uacme)")
        if not os.access(UACME_HOOK, os.X_OK):
            raise ToolUnavailable("uacme's hook %s is missing" % UACME_HOOK)
        if os.geteuid() != 0:
            raise ToolUnavailable("uacme trusts only the system CA store and the bench "
                                  "gives it Pebble's CA by a bind mount in a private mount "
                                  "namespace, which needs root")
        self.version = "uacme " + (deb_version("uacme") or "unknown")
        self.conf = os.path.join(self.dir, "conf")
        self.webroot = os.path.join(self.dir, "webroot")
        challenges = os.path.join(self.webroot, ".well-known", "acme-challenge")
        os.makedirs(challenges, exist_ok=True)
        self.env = {"UACME_CHALLENGE_PATH": challenges}
        # A stand-in for /etc/ssl/certs that holds only Pebble's CA, both as
        # the bundle libcurl reads and as a hashed directory entry.
        self.cadir = os.path.join(self.dir, "ssl-certs")
        os.makedirs(self.cadir, exist_ok=True)
        shutil.copyfile(self.pebble.ca_bundle, os.path.join(self.cadir, "ca-certificates.crt"))
        shutil.copyfile(self.pebble.ca_bundle, os.path.join(self.cadir, "pebble-ca.pem"))
        res = run_quiet(["openssl", "x509", "-in", self.pebble.ca_bundle, "-noout", "-hash"])
        if res.returncode == 0:
            os.symlink("pebble-ca.pem", os.path.join(self.cadir, res.stdout.strip() + ".0"))
        self.bind = (self.cadir, "/etc/ssl/certs")

    def base(self):
        return ["uacme", "-c", self.conf, "-a", self.pebble.directory_url, "-t", "EC",
                "-b", "256"]

    def prepare(self):
        self.bench.measured(self, self.base() + ["-y", "new"], bind=self.bind,
                            label="register")

    def issue_argv(self, name):
        return self.base() + ["-h", UACME_HOOK, "issue", name], self.env, self.bind

    def around_run(self):
        return WebrootServer(self.webroot, self.pebble.http_port, self.dir)

    def cert_path(self, name):
        return os.path.join(self.conf, name, "cert.pem")


class WebrootServer:
    """python3 -m http.server on 127.0.0.1:port serving `root`."""

    def __init__(self, root, port, logdir):
        self.root, self.port, self.logdir = root, port, logdir
        self.proc = None

    def __enter__(self):
        self.logfp = open(os.path.join(self.logdir, "webroot-server.log"), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
             self.root, str(self.port)], stdin=subprocess.DEVNULL, stdout=self.logfp,
            stderr=subprocess.STDOUT)
        try:
            wait_port_open(self.port, self.proc)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logfp.close()
        return False


TOOL_CLASSES = {"certkeep": Certkeep, "certbot": Certbot, "lego": Lego, "uacme": Uacme}


def summarize(runs, count):
    """Per-tool aggregates over the successful runs."""
    if not runs:
        return None
    walls = [r["wall_s"] for r in runs]
    cpus = [r["cpu_s"] for r in runs]
    reqs = [r["requests"] for r in runs]
    return {
        "certs": len(runs),
        "complete": len(runs) == count,
        "wall_total_s": sum(walls),
        "wall_per_cert_s": sum(walls) / len(runs),
        "wall_median_s": statistics.median(walls),
        "wall_min_s": min(walls),
        "wall_max_s": max(walls),
        "cpu_total_s": sum(cpus),
        "cpu_per_cert_s": sum(cpus) / len(runs),
        "user_per_cert_s": sum(r["user_s"] for r in runs) / len(runs),
        "sys_per_cert_s": sum(r["sys_s"] for r in runs) / len(runs),
        "peak_rss_kib": max(r["maxrss_kib"] for r in runs),
        "requests_total": sum(reqs),
        "requests_per_cert": sum(reqs) / len(runs),
        "requests_min": min(reqs),
        "requests_max": max(reqs),
    }


def machine_info():
    info = {"kernel": platform.release(), "python": platform.python_version(),
            "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fp:
            m = re.search(r"^model name\s*:\s*(.+)$", fp.read(), re.M)
            info["cpu"] = m.group(1).strip() if m else platform.machine()
    except OSError:
        info["cpu"] = platform.machine()
    try:
        with open("/proc/meminfo", encoding="utf-8") as fp:
            m = re.search(r"^MemTotal:\s*(\d+) kB", fp.read(), re.M)
            info["mem_gib"] = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
    except OSError:
        pass
    try:
        with open("/etc/debian_version", encoding="ascii") as fp:
            info["debian"] = fp.read().strip()
    except OSError:
        pass
    info["pebble"] = deb_version("pebble")
    return info


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def print_report(result, out):
    count = result["count"]
    w = out.write
    w("\nissue_bench: %d sequential EC P-256 certificates per tool, one invocation each, "
      "http-01, Pebble %s\n" % (count, result["machine"].get("pebble") or "?"))
    w("machine: %s, %s CPUs, %s GiB, kernel %s; %s\n\n" % (
        result["machine"].get("cpu"), result["machine"].get("cpus"),
        result["machine"].get("mem_gib"), result["machine"].get("kernel"), result["date"]))
    head = ("tool", "certs", "wall s", "wall/cert", "median", "min..max", "CPU/cert",
            "peak RSS", "req/cert")
    rows = []
    notes = []
    for name, t in result["tools"].items():
        s = t.get("summary")
        if s is None:
            rows.append((name, "0/%d" % count) + ("-",) * 7)
        else:
            rows.append((name, "%d/%d" % (s["certs"], count), fmt(s["wall_total_s"], ".2f"),
                         fmt(s["wall_per_cert_s"], ".3f"), fmt(s["wall_median_s"], ".3f"),
                         "%.3f..%.3f" % (s["wall_min_s"], s["wall_max_s"]),
                         fmt(s["cpu_per_cert_s"], ".4f"),
                         "%.1f MiB" % (s["peak_rss_kib"] / MIB),
                         "%.2f" % s["requests_per_cert"]))
        if t["status"] != "ok":
            notes.append("%s: %s" % (name, t["reason"]))
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = "  ".join("%-*s" if i == 0 else "%*s" for i in range(len(head)))
    w((line % tuple(x for pair in zip(widths, head) for x in pair)).rstrip() + "\n")
    for r in rows:
        w((line % tuple(x for pair in zip(widths, r) for x in pair)).rstrip() + "\n")
    w("\n(wall and CPU in seconds; CPU = user+sys of the tool and the children it "
      "waited for; peak RSS = largest ru_maxrss of any run)\n")
    if result["ratios"]:
        w("\nratios peer / certkeep (above 1: certkeep uses less)\n")
        rh = ("peer", "wall/cert", "CPU/cert", "peak RSS", "req/cert")
        rr = [(p, fmt(r["wall_per_cert"], ".2f"), fmt(r["cpu_per_cert"], ".2f"),
               fmt(r["peak_rss"], ".2f"), fmt(r["requests_per_cert"], ".2f"))
              for p, r in result["ratios"].items()]
        rw = [max(len(str(x[i])) for x in rr + [rh]) for i in range(len(rh))]
        rl = "  ".join("%-*s" if i == 0 else "%*s" for i in range(len(rh)))
        for r in [rh] + rr:
            w(rl % tuple(x for pair in zip(rw, r) for x in pair) + "\n")
    elif result.get("ratio_note"):
        w("\nno ratios: %s\n" % result["ratio_note"])
    w("\nrequests per certificate by route (mean):\n")
    for name, t in result["tools"].items():
        s = t.get("summary")
        if s is None:
            continue
        parts = ["%s %.2f" % (k, v / s["certs"]) for k, v in sorted(t["routes"].items())]
        w("  %-8s %s\n" % (name, ", ".join(parts)))
    for n in notes:
        w("\nNOT MEASURED / INCOMPLETE: %s\n" % n)


def ratios(result):
    ck = result["tools"].get("certkeep", {}).get("summary")
    if ck is None or not ck["complete"]:
        reason = result["tools"].get("certkeep", {}).get("reason") or "certkeep did not run"
        return {}, "certkeep has no complete result (%s)" % reason
    out = {}
    for name in PEERS:
        s = result["tools"].get(name, {}).get("summary")
        if s is None or not s["complete"]:
            continue

        def div(a, b):
            return a / b if b else None
        out[name] = {
            "wall_per_cert": div(s["wall_per_cert_s"], ck["wall_per_cert_s"]),
            "cpu_per_cert": div(s["cpu_per_cert_s"], ck["cpu_per_cert_s"]),
            "peak_rss": div(s["peak_rss_kib"], ck["peak_rss_kib"]),
            "requests_per_cert": div(s["requests_per_cert"], ck["requests_per_cert"]),
        }
    return out, None if out else "no peer has a complete result"


def progress(msg):
    sys.stderr.write("issue_bench: %s\n" % msg)
    sys.stderr.flush()


def run(args, workdir, measure_bin, after=None):
    """The N rounds; then after(bench, tools, result), if given, while
    Pebble still runs (bench/peers adds its steps there)."""
    started = datetime.datetime.now(datetime.timezone.utc)
    result = {"date": started.strftime("%Y-%m-%d %H:%M UTC"), "count": args.count,
              "machine": machine_info(), "tools": {},
              "settings": {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0",
                           "PEBBLE_AUTHZREUSE": "0", "order": "round robin",
                           "key": "EC P-256", "challenge": "http-01"}}
    pebble = ckharness.Pebble(os.path.join(workdir, "pebble"), nonce_reject=0, authz_reuse=0,
                              env={"PEBBLE_VA_NOSLEEP": "1"})
    with pebble:
        bench = Bench(args, workdir, pebble, measure_bin)
        tools = []
        for name in args.tools:
            tool = TOOL_CLASSES[name](bench)
            entry = {"status": "ok", "reason": None, "version": None, "runs": [],
                     "routes": {}, "prepare": None}
            result["tools"][name] = entry
            try:
                tool.check()
                entry["version"] = tool.version
                progress("%s (%s): registering an account and a warm-up certificate "
                         "(not timed)" % (name, tool.version))
                bench.log.take()
                tool.prepare()
                tool.issue("warmup.%s.bench.test" % name, label="warmup")
                tool.verify("warmup.%s.bench.test" % name)
                entry["prepare"] = {"requests": bench.log.take()[0]}
                tools.append((tool, entry))
            except (ToolUnavailable, RunFailed) as e:
                entry["status"] = "unavailable" if isinstance(e, ToolUnavailable) else "failed"
                entry["reason"] = "preparation: %s" % e
                progress("%s: %s" % (name, entry["reason"]))
        for i in range(args.count):
            for tool, entry in tools:
                if entry["status"] != "ok":
                    continue
                name = "b%d.%s.bench.test" % (i, tool.name)
                try:
                    bench.log.take()
                    r = tool.issue(name)
                    requests, routes = bench.log.take()
                    tool.verify(name)
                except RunFailed as e:
                    entry["status"] = "failed"
                    entry["reason"] = "certificate %d (%s): %s" % (i + 1, name, e)
                    progress("%s: %s" % (tool.name, entry["reason"]))
                    continue
                r.update({"name": name, "requests": requests})
                del r["output"]
                entry["runs"].append(r)
                for k, v in routes.items():
                    entry["routes"][k] = entry["routes"].get(k, 0) + v
            progress("round %d/%d done" % (i + 1, args.count))
        if after is not None:
            after(bench, tools, result)
    for name, entry in result["tools"].items():
        entry["summary"] = summarize(entry["runs"], args.count)
        if entry["status"] == "ok" and entry["summary"] is None:
            entry["status"], entry["reason"] = "failed", "no run"
    result["ratios"], result["ratio_note"] = ratios(result)
    return result


def build_measure(workdir):
    src = os.path.join(HERE, "measure.c")
    out = os.path.join(workdir, "measure")
    cc = os.environ.get("CC", "cc")
    res = run_quiet([cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-o", out, src])
    if res.returncode != 0:
        raise SystemExit("issue_bench: cannot compile %s with %s: %s" % (
            src, cc, res.stderr.strip()))
    return out


def main(argv=None, after=None, report_extra=None):
    """The command line.  bench/peers.py passes after (see run) and
    report_extra(result, out), printed after the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", "-n", type=int, default=DEFAULT_COUNT,
                    help="certificates per tool (default %d)" % DEFAULT_COUNT)
    ap.add_argument("--tools", default=",".join(TOOLS),
                    help="comma-separated subset of %s (default: all)" % ",".join(TOOLS))
    ap.add_argument("--certkeep", default=os.environ.get("CERTKEEP_BIN") or
                    os.path.join(ROOT, "build", "src", "cli", "certkeep"),
                    help="certkeep binary (default: $CERTKEEP_BIN, else build/src/cli/certkeep)")
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(),
                                                  "certkeep-issue-bench.json"),
                    help="JSON result file (default: /tmp/certkeep-issue-bench.json)")
    ap.add_argument("--timeout", type=float, default=RUN_TIMEOUT,
                    help="seconds one invocation may take (default %.0f)" % RUN_TIMEOUT)
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (logs, stores) and print its path")
    args = ap.parse_args(argv)
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = [t for t in args.tools if t not in TOOL_CLASSES]
    if bad or args.count < 1:
        ap.error("unknown tool %s" % ",".join(bad) if bad else "--count must be at least 1")
    workdir = tempfile.mkdtemp(prefix="certkeep-bench-")
    try:
        measure_bin = build_measure(workdir)
        result = run(args, workdir, measure_bin, after)
    finally:
        if args.keep:
            progress("work directory kept: %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_report(result, sys.stdout)
    if report_extra is not None:
        report_extra(result, sys.stdout)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fp:
        json.dump(result, fp, indent=2, sort_keys=True)
        fp.write("\n")
    os.replace(tmp, args.out)
    print("\nJSON: %s" % args.out)
    failed = [n for n, t in result["tools"].items() if t["status"] == "failed"]
    complete = [n for n, t in result["tools"].items() if t["status"] == "ok"]
    if "certkeep" in result["tools"] and result["tools"]["certkeep"]["status"] != "ok":
        return 1
    return 1 if failed or not complete else 0


if __name__ == "__main__":
    sys.exit(main())
