#!/usr/bin/env python3
"""peers - certkeep next to certbot, lego and uacme in one run against one
local Pebble (bench/peers runs this; see bench/README.md):

1. N single-name EC P-256 certificates per tool, one invocation each, round
   robin (bench/issue_bench.py does this part, unchanged);
2. certkeep renews all of its certificates in one
   `renew --all --force --concurrency 8`, when this build has a `renew`
   command (found by `certkeep renew --help`); otherwise the step is reported
   as not measured.  The goals speak of a batch of 100 (--batch, default
   100): when the rounds left certkeep fewer lineages, it first issues the
   rest one at a time (not timed), so the batch's per-certificate CPU is not
   mostly the process's start-up, as it is for 21;
3. one certificate with --names names (default 50) per tool, one invocation.

Per tool: wall, CPU (user+sys), peak RSS and ACME requests (Pebble's log) per
certificate, and the ratios peer / certkeep.  The issue's goals for the batch
are printed next to the numbers, never asserted.  JSON goes under
bench/results/ unless --out says otherwise.

Standard library only.  Never does: listen on anything but 127.0.0.1, change
the system CA store (see issue_bench.py for uacme).
"""

import argparse
import datetime
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import issue_bench as ib  # noqa: E402

DEFAULT_NAMES = 50
DEFAULT_BATCH = 100
MULTI_TIMEOUT = 900.0
CONCURRENCY = 8
MIB = ib.MIB
# The flag each tool repeats for one more name; None: names follow the first.
NAME_FLAG = {"certkeep": "-d", "certbot": "-d", "lego": "--domains", "uacme": None}
GOALS = {
    "wall": "batch wall/cert at least 20x below the fastest peer's one-at-a-time "
            "wall/cert, honouring every Retry-After",
    "cpu": "batch CPU/cert at most 1/5 of lego's",
    "requests": "batch requests/cert at most 7",
    "rss": "peak RSS at most 16 MiB for a 1,000-certificate renewal",
}


def multi_argv(tool, names):
    """(argv, env, bind) for one certificate naming every name in names."""
    argv, env, bind = tool.issue_argv(names[0])
    flag = NAME_FLAG[tool.name]
    if flag is None:
        return argv + names[1:], env, bind
    at = argv.index(names[0]) + 1
    more = [x for n in names[1:] for x in (flag, n)]
    return argv[:at] + more + argv[at:], env, bind


def multi_one(bench, tool, names):
    """Issues and checks the many-name certificate; returns its measurement."""
    argv, env, bind = multi_argv(tool, names)
    saved = bench.args.timeout
    bench.args.timeout = max(saved, MULTI_TIMEOUT)
    try:
        ib.wait_port_free(tool.pebble.http_port)
        bench.log.take()
        with tool.around_run():
            r = bench.measured(tool, argv, env=env, bind=bind, label="multi")
        r["requests"], r["routes"] = bench.log.take()
    finally:
        bench.args.timeout = saved
    path = tool.cert_path(names[0])
    if not os.path.exists(path):
        raise ib.RunFailed("exit 0 but no certificate at %s" % path)
    got, p256 = ib.cert_facts(path)
    if sorted(got) != sorted(names):
        raise ib.RunFailed("the certificate names %d names, not the %d asked for" % (
            len(got), len(names)))
    if not p256:
        raise ib.RunFailed("the certificate is not for an EC P-256 key")
    del r["output"]
    r["names"] = len(names)
    return r


def step_multi(bench, tools, result, count):
    out = {}
    for tool, entry in tools:
        if entry["status"] != "ok":
            out[tool.name] = {"status": "not measured", "reason": entry["reason"]}
            continue
        names = ["m%d.%s.bench.test" % (j, tool.name) for j in range(count)]
        ib.progress("%s: one certificate with %d names" % (tool.name, count))
        try:
            out[tool.name] = dict(multi_one(bench, tool, names), status="ok")
        except ib.RunFailed as e:
            out[tool.name] = {"status": "failed", "reason": str(e)}
            ib.progress("%s: %d names: %s" % (tool.name, count, e))
    result["multi"] = {"names": count, "tools": out}


def current_certs(ck):
    """{lineage: current sha256} of certkeep's store."""
    res = ib.run_quiet(ck.base() + ["list", "--json"], timeout=120)
    if res.returncode != 0:
        raise ib.RunFailed("certkeep list --json failed: %s" % ib.first_line(res.stderr))
    return {r["name"]: r["sha256"] for r in json.loads(res.stdout) if r["current"]}


def top_up(ck, have, want):
    """Issues lineages batch-N.certkeep.bench.test (not timed) until certkeep's
    store has `want`."""
    missing = want - have
    if missing <= 0:
        return
    ib.progress("certkeep: issuing %d more lineages for a batch of %d (not timed)" % (
        missing, want))
    for i in range(missing):
        name = "batch-%04d.certkeep.bench.test" % i
        argv, env, _ = ck.issue_argv(name)
        ib.wait_port_free(ck.pebble.http_port)
        res = ib.run_quiet(argv, timeout=120)
        if res.returncode != 0:
            raise ib.RunFailed("certkeep issue %s failed: %s" % (name, ib.first_line(res.stderr)))


def step_batch(bench, tools, result, batch):
    """certkeep renew --all --force --concurrency 8, when the build has it."""
    ck = next((t for t, e in tools if t.name == "certkeep" and e["status"] == "ok"), None)
    if ck is None:
        result["batch"] = {"measured": False, "reason": "not measured: certkeep did not run"}
        return
    probe = ib.run_quiet(ck.base() + ["renew", "--help"])
    if probe.returncode != 0:
        result["batch"] = {"measured": False,
                           "reason": "not measured: no renew command in this build"}
        return
    try:
        top_up(ck, len(current_certs(ck)), batch)
        before = current_certs(ck)
        ib.progress("certkeep: renew --all --force --concurrency %d of %d lineages" % (
            CONCURRENCY, len(before)))
        bench.log.take()
        ib.wait_port_free(ck.pebble.http_port)
        r = bench.measured(ck, ck.base() + ["renew", "--all", "--force", "--concurrency",
                                            str(CONCURRENCY)], label="renew")
        r["requests"], r["routes"] = bench.log.take()
        after = current_certs(ck)
    except ib.RunFailed as e:
        result["batch"] = {"measured": False, "reason": "failed: %s" % e}
        return
    renewed = [n for n, sha in before.items() if after.get(n) not in (None, sha)]
    del r["output"]
    r.update({"measured": True, "lineages": len(before), "renewed": len(renewed)})
    if renewed:
        n = len(renewed)
        r.update({"wall_per_cert_s": r["wall_s"] / n, "cpu_per_cert_s": r["cpu_s"] / n,
                  "requests_per_cert": r["requests"] / n})
    result["batch"] = r


def after_rounds(args):
    def after(bench, tools, result):
        result["goals"] = GOALS
        step_batch(bench, tools, result, args.batch)
        if args.names > 0:
            step_multi(bench, tools, result, args.names)
    return after


def ratio(a, b):
    return "-" if not a or not b else "%.2f" % (a / b)


def report_multi(result, w):
    m = result.get("multi")
    if not m:
        return
    w("\none certificate with %d names per tool (one invocation):\n" % m["names"])
    w("%-9s %8s %9s %9s %9s   ratios peer/certkeep: wall  CPU  RSS  req\n" % (
        "tool", "wall s", "CPU s", "peak RSS", "requests"))
    ck = m["tools"].get("certkeep", {})
    for name, r in m["tools"].items():
        if r.get("status") != "ok":
            w("%-9s NOT MEASURED / FAILED: %s\n" % (name, r.get("reason")))
            continue
        line = "%-9s %8.3f %9.4f %5.1f MiB %9d" % (name, r["wall_s"], r["cpu_s"],
                                                   r["maxrss_kib"] / MIB, r["requests"])
        if name != "certkeep" and ck.get("status") == "ok":
            line += "   %s %s %s %s" % tuple(ratio(r[k], ck[k]) for k in (
                "wall_s", "cpu_s", "maxrss_kib", "requests"))
        w(line + "\n")


def report_batch(result, w):
    b = result.get("batch", {})
    w("\nbatch: certkeep renew --all --force --concurrency %d\n" % CONCURRENCY)
    if not b.get("measured"):
        w("  %s\n" % b.get("reason", "not measured"))
    else:
        w("  %d of %d lineages renewed in %.2f s (exit %s); per certificate: wall %s s, "
          "CPU %s s, requests %s; peak RSS %.1f MiB\n" % (
              b["renewed"], b["lineages"], b["wall_s"], "0" if b["renewed"] else "?",
              ib.fmt(b.get("wall_per_cert_s"), ".4f"), ib.fmt(b.get("cpu_per_cert_s"), ".4f"),
              ib.fmt(b.get("requests_per_cert"), ".2f"), b["maxrss_kib"] / MIB))
        peers = {n: t["summary"] for n, t in result["tools"].items()
                 if n != "certkeep" and t.get("summary")}
        if peers and b.get("wall_per_cert_s"):
            fastest = min(peers, key=lambda n: peers[n]["wall_per_cert_s"])
            w("  fastest peer one at a time: %s %.3f s/cert = %.1fx the batch's\n" % (
                fastest, peers[fastest]["wall_per_cert_s"],
                peers[fastest]["wall_per_cert_s"] / b["wall_per_cert_s"]))
        if "lego" in peers and b.get("cpu_per_cert_s"):
            w("  lego CPU/cert %.4f s = %.1fx the batch's\n" % (
                peers["lego"]["cpu_per_cert_s"],
                peers["lego"]["cpu_per_cert_s"] / b["cpu_per_cert_s"]))
    w("  goals (printed, not asserted):\n")
    for k in ("wall", "cpu", "requests", "rss"):
        w("    - %s\n" % GOALS[k])


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--names", type=int, default=DEFAULT_NAMES)
    ap.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    ours, rest = ap.parse_known_args(argv)
    if "-h" in rest or "--help" in rest:
        print("bench/peers: also --names N (names in the many-name certificate, default "
              "%d; 0 skips it), --batch N (lineages in certkeep's batch renewal, default "
              "%d; certkeep issues the ones the rounds did not make, not timed); the JSON "
              "goes to bench/results/ by default" % (DEFAULT_NAMES, DEFAULT_BATCH))
    if "--out" not in rest:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        rest += ["--out", os.path.join(HERE, "results", "peers-%s.json" % stamp)]

    def report_extra(result, out):
        report_batch(result, out.write)
        report_multi(result, out.write)
    return ib.main(rest, after=after_rounds(ours), report_extra=report_extra)


if __name__ == "__main__":
    sys.exit(main())
