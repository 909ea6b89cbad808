#!/usr/bin/env python3
"""ckharness - the integration tests' harness: a throw-away CA, Pebble with
pebble-challtestsrv on loopback, and a runner for the certkeep binary.

Standard library only (plus the openssl CLI for keys, certificates and the
test-only JWS of AcmeProbe).  Everything it starts listens on 127.0.0.1
ports it picked itself, logs into the caller's directory, and is stopped
(and killed if it will not stop) when the context manager exits, or when
the test process dies.

  make_ca, make_server_cert   throw-away CA and TLS server certificates
  Pebble                      pebble + pebble-challtestsrv (EAB, nonce reject)
  Pebble.fault_proxy()        tests/faultproxy.py in front of that Pebble
  Certkeep                    runs the binary under test ($CERTKEEP_BIN)
  AcmeKey, AcmeProbe          ask the ACME server directly (which account has
                              this key?), independent of certkeep

Used by the tests (import ckharness) and by scripts/demo:

    python3 tests/integration/ckharness.py serve --dir DIR

starts Pebble, prints `export ...` lines for a shell (CK_DIRECTORY_URL,
CERTKEEP_CA_BUNDLE, CK_HTTP_PORT, CK_PEBBLE_LOG) and then a line `ready`,
and stays up until it is killed (SIGTERM/SIGINT stop Pebble cleanly).
"""

import argparse
import base64
import errno
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS_DIR)

PEBBLE = os.environ.get("CK_PEBBLE", "pebble")
CHALLTESTSRV = os.environ.get("CK_CHALLTESTSRV", "pebble-challtestsrv")
EAB_EXAMPLE = "/usr/share/doc/pebble/examples/pebble-config-external-account-bindings.json"
# The HMAC keys of Debian's example EAB config (used when that file is absent).
EAB_KEYS = {
    "kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W",
    "kid-2": "b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH",
}
# One line per ACME request in Pebble's log (see shared/TESTBED.md).
REQUEST_RE = re.compile(r"^Pebble \S+ \S+ (GET|HEAD|POST) \S+ -> calling handler", re.M)
REQUEST_LINE_RE = re.compile(r"^Pebble \S+ \S+ (GET|HEAD|POST) (\S+) -> calling handler",
                             re.M)
# Pebble's line for a finalize it accepted (the order was ready).
FINALIZED_RE = re.compile(r"^Pebble \S+ \S+ Order \S+ is fully authorized\. Processing "
                          r"finalization$", re.M)
# Pebble 2.4's routes that a client POSTs to once per operation.  Not
# finalize: certkeep may send it before the CA has decided (see
# count_finalized) and send it again after an orderNotReady.
ONCE_PER_OPERATION = ("/sign-me-up", "/order-plz", "/chalZ/", "/rollover-account-key")
# A bound, not a sleep: how long Pebble may take to answer its first request.
# It makes its CA keys at start (a chain of 3 with alternate roots: several
# RSA keys), which took over 20 s with two test modules on each of two busy
# cores (run-tests -j).
START_TIMEOUT = 90.0

# Everything the tests talk to is on loopback: never through a proxy that
# the environment may name (urllib here, libcurl in certkeep).
for _var in ("no_proxy", "NO_PROXY"):
    _have = os.environ.get(_var, "")
    if "127.0.0.1" not in _have:
        os.environ[_var] = ",".join(x for x in (_have, "127.0.0.1,localhost,::1") if x)
STOP_TIMEOUT = 5.0


def eab_keys():
    """The kid -> base64url HMAC key map of Pebble's example EAB config."""
    try:
        with open(EAB_EXAMPLE, encoding="utf-8") as fp:
            return dict(json.load(fp)["pebble"]["externalAccountMACKeys"])
    except (OSError, ValueError, KeyError):
        return dict(EAB_KEYS)


_HANDED_OUT = set()  # ports free_port() gave out in this process: never twice
# Ports are also reserved across processes (scripts/run-tests runs test
# modules side by side, and several runs may share a machine): a POSIX
# record lock on byte PORT of one shared file, held by this process until it
# exits (one descriptor for all ports; the kernel drops the locks when the
# process ends, however it ends).
PORT_LOCK_FILE = os.path.join(tempfile.gettempdir(), "ck-test-ports.lock")
_PORT_LOCK_FD = None


def _reserve_port(port):
    """Whether this process now holds port's cross-process reservation
    (False: another live process holds it).  Without a lock file (an odd
    /tmp) the choice falls back to this process's own bookkeeping."""
    global _PORT_LOCK_FD
    import fcntl
    try:
        if _PORT_LOCK_FD is None:
            old = os.umask(0)
            try:
                _PORT_LOCK_FD = os.open(PORT_LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                                        0o666)
            finally:
                os.umask(old)
        fcntl.lockf(_PORT_LOCK_FD, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port, os.SEEK_SET)
        return True
    except BlockingIOError:
        return False
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EAGAIN):
            return False
        return True


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as fp:
            low, high = (int(x) for x in fp.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port(udp_too=False):
    """A loopback port free for TCP (and for UDP when udp_too) right now.

    Chosen at random *below* the kernel's ephemeral range, so that no
    outgoing connection of the tests can take it between now and the moment
    a server (Pebble's listeners, certkeep's http-01 responder) binds it;
    never one this process was handed before, nor one another live test
    process holds (PORT_LOCK_FILE), so test modules can run side by side."""
    import random
    low, _ = _ephemeral_range()
    first = 10000 if low > 12000 else 1024
    for _ in range(500):
        port = random.randint(first, low - 1)
        if port in _HANDED_OUT:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", port))
            if udp_too:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind(("127.0.0.1", port))
        except OSError:
            continue
        if not _reserve_port(port):
            continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free loopback port found")


def _openssl(*args, cwd=None):
    res = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args[:2]), res.stderr.strip()))
    return res.stdout


def make_ca(directory, names=("localhost",), ips=("127.0.0.1",)):
    """Makes a throw-away CA and a server certificate for `names`/`ips` in
    `directory`.  Returns a dict of paths: ca_cert, ca_key, cert, key."""
    os.makedirs(directory, exist_ok=True)
    ca_cert = os.path.join(directory, "ca.pem")
    ca_key = os.path.join(directory, "ca.key")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", ca_key, "-out", ca_cert, "-days", "3",
             "-subj", "/CN=certkeep throw-away test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    os.chmod(ca_key, 0o600)
    out = {"ca_cert": ca_cert, "ca_key": ca_key}
    out.update(make_server_cert(directory, ca_cert, ca_key, "server", names, ips))
    return out


def make_server_cert(directory, ca_cert, ca_key, stem="server", names=("localhost",),
                     ips=("127.0.0.1",)):
    """Issues a TLS server certificate for names/ips from an existing CA
    (e.g. one from make_ca).  Returns {"cert": path, "key": path}."""
    os.makedirs(directory, exist_ok=True)
    p = {k: os.path.join(directory, stem + ext) for k, ext in (
        ("cert", ".pem"), ("key", ".key"), ("csr", ".csr"), ("ext", ".ext"))}
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", p["key"], "-out", p["csr"], "-subj", "/CN=" + names[0])
    sans = ["DNS:" + n for n in names] + ["IP:" + i for i in ips]
    with open(p["ext"], "w", encoding="ascii") as fp:
        fp.write("basicConstraints=critical,CA:FALSE\n"
                 "keyUsage=critical,digitalSignature\n"
                 "extendedKeyUsage=serverAuth\n"
                 "subjectAltName=%s\n" % ",".join(sans))
    _openssl("x509", "-req", "-in", p["csr"], "-CA", ca_cert, "-CAkey", ca_key,
             "-CAcreateserial", "-days", "3", "-sha256", "-extfile", p["ext"],
             "-out", p["cert"])
    os.chmod(p["key"], 0o600)
    return {"cert": p["cert"], "key": p["key"]}


def faultproxy():
    """The tests/faultproxy.py module."""
    if TESTS_DIR not in sys.path:
        sys.path.insert(0, TESTS_DIR)
    import faultproxy as module
    return module


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM when the test process dies, so a
    killed test run leaves no Pebble behind (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _stop_process(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT)


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as fp:
            return fp.read()
    except OSError:
        return ""



def module_pebble(prefix, **kw):
    """For a test module's setUpModule: a new temporary directory (prefix
    `prefix`) and a started Pebble in it (keyword arguments as Pebble's).
    Returns (tmp, pebble); module_cleanup(tmp, pebble) undoes both."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    pebble = Pebble(os.path.join(tmp, "pebble"), **kw)
    pebble.start()
    return tmp, pebble


def module_cleanup(tmp, *pebbles):
    """For tearDownModule: stops each Pebble that was made, then removes tmp
    unless CK_KEEP_TMP asks to keep it for a post-mortem."""
    for p in pebbles:
        if p is not None:
            p.stop()
    if tmp is not None and not os.environ.get("CK_KEEP_TMP"):
        shutil.rmtree(tmp, ignore_errors=True)


def module_tmp(prefix):
    """For setUpModule: a new temporary directory (prefix `prefix`), removed
    after the module (unittest.addModuleCleanup, so after tearDownModule and
    also when setUpModule fails) unless CK_KEEP_TMP asks to keep it."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    unittest.addModuleCleanup(module_cleanup, tmp)
    return tmp


def module_pg(prefix):
    """For the setUpModule of a test module on PostgreSQL without Pebble: a new
    temporary directory and a started throw-away PostgreSQL (PostgreSQL()).
    Returns (tmp, pg); both are undone by module cleanups (see
    module_pg_pebble)."""
    tmp = module_tmp(prefix)
    pg = PostgreSQL().start()
    unittest.addModuleCleanup(pg.stop)
    return tmp, pg


def module_pg_pebble(prefix, **kw):
    """For the setUpModule of a test module on PostgreSQL and Pebble: a new
    temporary directory (prefix `prefix`), a throw-away PostgreSQL server
    (PostgreSQL()) and a Pebble in tmp/pebble (keyword arguments as
    Pebble's), all started.  Returns (tmp, pg, pebble).

    Stopping them and removing tmp (unless CK_KEEP_TMP) are registered with
    unittest.addModuleCleanup as each one starts: they run after the
    module's tearDownModule (which needs none of it), and also when
    setUpModule fails half-way, so no server outlives its module."""
    tmp, pg = module_pg(prefix)
    pebble = Pebble(os.path.join(tmp, "pebble"), **kw)
    unittest.addModuleCleanup(pebble.stop)
    pebble.start()
    return tmp, pg, pebble


def test_name(test):
    """A unittest test's method name in lower case, at most 60 characters: a
    PostgreSQL database name (anything but [a-z0-9_] made "_"; PostgreSQL
    cuts names at 63) and a directory name."""
    return re.sub(r"[^a-z0-9_]", "_", test.id().rsplit(".", 1)[-1].lower())[:60]


def pg_test_db(test, pg, tmp):
    """For a test's setUp on the server of module_pg_pebble: a new database
    and a new directory tmp/NAME, both named test_name(test).
    Returns (name, connection string, directory)."""
    name = test_name(test)
    url = pg.createdb(name)
    directory = os.path.join(tmp, name)
    os.makedirs(directory)
    return name, url, directory

class Pebble:
    """Pebble + pebble-challtestsrv on loopback, as a context manager.

    nonce_reject: PEBBLE_WFE_NONCEREJECT (percent of valid nonces rejected).
    authz_reuse:  PEBBLE_AUTHZREUSE (percent of authorizations reused).
    eab:          externalAccountBindingRequired with the example kid-1/kid-2.
    env:          extra environment for Pebble (e.g. PEBBLE_CHAIN_LENGTH).
    config:       extra fields of Pebble's config (e.g. certificateValidityPeriod).
    dnsserver:    "127.0.0.1:PORT" of the DNS server Pebble resolves through
                  (e.g. a test's BIND); None = its own challtestsrv.

    After start(): directory_url, ca_bundle (the CA of Pebble's HTTPS
    listener, for --ca-bundle), http_port (pass to `certkeep issue
    --http-port`), tls_port, mgmt_url (Pebble's management API),
    challtest_url (challtestsrv's management API), dns_port, log_path.
    """

    def __init__(self, workdir, nonce_reject=0, authz_reuse=0, eab=False, env=None,
                 name="pebble", dnsserver=None, config=None):
        self.workdir = os.path.abspath(workdir)
        self.dnsserver = dnsserver
        self.nonce_reject = nonce_reject
        self.authz_reuse = authz_reuse
        self.eab = eab
        self.extra_env = dict(env or {})
        self.extra_config = dict(config or {})
        self.name = name
        self.eab_keys = eab_keys() if eab else {}
        self.pebble = None
        self.challtest = None
        self.tls = None
        self._proxy_tls = None
        self.directory_url = None
        self.ca_bundle = None
        self.http_port = self.tls_port = self.dns_port = None
        self.mgmt_url = self.challtest_url = None
        self.log_path = os.path.join(self.workdir, name + ".log")
        self.challtest_log_path = os.path.join(self.workdir, name + "-challtestsrv.log")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        tls = make_ca(os.path.join(self.workdir, self.name + "-tls"))
        self.tls = tls
        self.ca_bundle = tls["ca_cert"]
        self.dns_port = free_port(udp_too=True)
        challtest_mgmt = free_port()
        listen, mgmt = free_port(), free_port()
        self.http_port, self.tls_port = free_port(), free_port()
        self.directory_url = "https://127.0.0.1:%d/dir" % listen
        self.mgmt_url = "https://127.0.0.1:%d" % mgmt
        self.challtest_url = "http://127.0.0.1:%d" % challtest_mgmt

        self._challtest_log = open(self.challtest_log_path, "wb")
        self.challtest = subprocess.Popen(
            [CHALLTESTSRV, "-dns01", "127.0.0.1:%d" % self.dns_port, "-http01", "",
             "-https01", "", "-tlsalpn01", "", "-management", "127.0.0.1:%d" % challtest_mgmt,
             "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
            stdin=subprocess.DEVNULL, stdout=self._challtest_log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent)

        config = {"pebble": {
            "listenAddress": "127.0.0.1:%d" % listen,
            "managementListenAddress": "127.0.0.1:%d" % mgmt,
            "certificate": tls["cert"],
            "privateKey": tls["key"],
            "httpPort": self.http_port,
            "tlsPort": self.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": bool(self.eab),
        }}
        if self.eab:
            config["pebble"]["externalAccountMACKeys"] = self.eab_keys
        config["pebble"].update(self.extra_config)
        config_path = os.path.join(self.workdir, self.name + "-config.json")
        with open(config_path, "w", encoding="utf-8") as fp:
            json.dump(config, fp, indent=2)

        env = dict(os.environ)
        env.update({
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_WFE_NONCEREJECT": str(self.nonce_reject),
            "PEBBLE_AUTHZREUSE": str(self.authz_reuse),
        })
        env.update(self.extra_env)
        self._pebble_log = open(self.log_path, "wb")
        self.pebble = subprocess.Popen(
            [PEBBLE, "-config", config_path, "-dnsserver",
             self.dnsserver or "127.0.0.1:%d" % self.dns_port],
            cwd=self.workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=self._pebble_log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self._wait_ready()

    def fault_proxy(self, verbose=False):
        """A started tests/faultproxy.py FaultProxy in front of this Pebble,
        with a certificate from the same throw-away CA (so ca_bundle trusts
        both).  The caller stops it (or uses it as a context manager)."""
        if self._proxy_tls is None:
            self._proxy_tls = make_server_cert(os.path.join(self.workdir, self.name + "-tls"),
                                               self.tls["ca_cert"], self.tls["ca_key"],
                                               stem="proxy")
        tls = self._proxy_tls
        return faultproxy().FaultProxy(self.directory_url, self.ca_bundle, tls["cert"],
                                     tls["key"], verbose=verbose).start()

    def ssl_context(self):
        """An SSLContext that trusts Pebble's listener (and only it)."""
        return ssl.create_default_context(cafile=self.ca_bundle)

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        ctx = self.ssl_context()
        last = None
        while time.monotonic() < deadline:
            for proc, what in ((self.pebble, "pebble"), (self.challtest, "pebble-challtestsrv")):
                if proc.poll() is not None:
                    raise RuntimeError("%s exited with %s during start-up; log:\n%s" % (
                        what, proc.returncode, self.log()[-2000:] + _read(
                            self.challtest_log_path)[-2000:]))
            try:
                with urllib.request.urlopen(self.directory_url, context=ctx, timeout=2) as r:
                    directory = json.load(r)
                if self._challtest_up() and "newNonce" in directory:
                    self.directory = directory
                    return
            except (OSError, ValueError) as e:
                last = e
            time.sleep(0.1)
        raise RuntimeError("Pebble did not answer %s within %.0f s (%s); log:\n%s" % (
            self.directory_url, START_TIMEOUT, last, self.log()[-2000:]))

    def _challtest_up(self):
        try:
            with urllib.request.urlopen(self.challtest_url + "/", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answers 404 on "/": it is up
        except OSError:
            return False

    def stop(self):
        _stop_process(self.pebble)
        _stop_process(self.challtest)
        for f in ("_pebble_log", "_challtest_log"):
            fp = getattr(self, f, None)
            if fp is not None:
                fp.close()
                setattr(self, f, None)

    def log(self):
        """Pebble's log so far (stdout and stderr)."""
        return _read(self.log_path)

    def count_requests(self, method=None, path_prefix=None):
        """ACME requests Pebble has handled so far (one log line each),
        optionally only those with `method` and a path starting with
        `path_prefix` (e.g. "POST", "/finalize-order/")."""
        n = 0
        for m in REQUEST_LINE_RE.finditer(self.log()):
            if method is not None and m.group(1) != method:
                continue
            if path_prefix is not None and not m.group(2).startswith(path_prefix):
                continue
            n += 1
        return n

    def count_finalized(self):
        """Finalize requests Pebble accepted (one log line each: the order
        was ready and issuance began).  A finalize the server refused
        (orderNotReady: certkeep finalizes once the CA has fetched every
        proof, and asks again if the CA was still deciding; or badNonce)
        is a request but not a finalization."""
        return len(FINALIZED_RE.findall(self.log()))

    def count_bad_nonce(self, expected_posts):
        """How many POSTs to the once-per-operation endpoints (newAccount,
        newOrder, challenge, keyChange) Pebble handled beyond
        `expected_posts`.

        Pebble 2.4 does not log the badNonce it answers; it logs every
        request.  A client that retries only on badNonce POSTs to these
        endpoints exactly once per operation otherwise, so the surplus is
        the number of nonces Pebble rejected there (a lower bound of the
        rejections overall: POST-as-GET retries are not counted)."""
        posts = sum(self.count_requests("POST", p) for p in ONCE_PER_OPERATION)
        return posts - expected_posts

    def set_txt(self, host, value):
        """Adds a TXT record in challtestsrv (dns-01)."""
        self._challtest_post("/set-txt", {"host": host, "value": value})

    def clear_txt(self, host):
        self._challtest_post("/clear-txt", {"host": host})

    def _challtest_post(self, path, body):
        req = urllib.request.Request(self.challtest_url + path, data=json.dumps(body).encode(),
                                     method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            r.read()

    def mgmt_get(self, path):
        """GET on Pebble's management API (e.g. /roots/0); returns bytes."""
        with urllib.request.urlopen(self.mgmt_url + path, context=self.ssl_context(),
                                    timeout=5) as r:
            return r.read()

    def trust_bundle(self, path, *extra):
        """Writes path: the CA of Pebble's HTTPS listener (ca_bundle), the PEM
        files `extra`, then the root Pebble issues under (/roots/0), for a
        --ca-bundle that also verifies issued chains (bind, deploy).
        Returns path."""
        with open(path, "wb") as fp:
            for src in (self.ca_bundle,) + extra:
                with open(src, "rb") as f:
                    fp.write(f.read())
            fp.write(self.mgmt_get("/roots/0"))
        return path


def b64url(data):
    """base64url without padding (RFC 8555 §6.1)."""
    import base64
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _der_ints(der):
    """The two INTEGERs of a DER ECDSA-Sig-Value, as Python ints."""
    def length(buf, i):
        n = buf[i]
        if n < 0x80:
            return n, i + 1
        k = n & 0x7F
        return int.from_bytes(buf[i + 1:i + 1 + k], "big"), i + 1 + k
    if der[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    _, i = length(der, 1)
    out = []
    for _ in range(2):
        if der[i] != 0x02:
            raise ValueError("not a DER INTEGER")
        n, i = length(der, i + 1)
        out.append(int.from_bytes(der[i:i + n], "big"))
        i += n
    return out


class AcmeKey:
    """An account key in a PEM file (EC P-256/P-384 or RSA), signing through
    the openssl CLI: enough JWS for tests to talk to the server directly
    (e.g. to ask which key an account has).  Never used by certkeep."""

    P256_OID = bytes.fromhex("06082a8648ce3d030107")
    P384_OID = bytes.fromhex("06052b81040022")

    def __init__(self, path):
        self.path = path
        spki = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                              capture_output=True, check=True).stdout
        if self.P256_OID in spki or self.P384_OID in spki:
            size = 32 if self.P256_OID in spki else 48
            point = spki[-(2 * size + 1):]
            self.alg, self.size = ("ES256", 32) if size == 32 else ("ES384", 48)
            self.digest = "-sha256" if size == 32 else "-sha384"
            self.jwk = {"crv": "P-256" if size == 32 else "P-384", "kty": "EC",
                        "x": b64url(point[1:1 + size]), "y": b64url(point[1 + size:])}
        else:
            text = subprocess.run(["openssl", "pkey", "-in", path, "-noout", "-text"],
                                  capture_output=True, text=True, check=True).stdout
            mod = subprocess.run(["openssl", "rsa", "-in", path, "-noout", "-modulus"],
                                 capture_output=True, text=True, check=True).stdout
            e = int(re.search(r"(?:publicExponent|Exponent): (\d+)", text).group(1))
            n = bytes.fromhex(mod.strip().split("=", 1)[1])
            self.alg, self.size, self.digest = "RS256", None, "-sha256"
            self.jwk = {"e": b64url(e.to_bytes((e.bit_length() + 7) // 8, "big")),
                        "kty": "RSA", "n": b64url(n)}

    @staticmethod
    def generate(path, key_type="ec256"):
        """Writes a new private key (ec256, ec384, rsa2048...) to path."""
        if key_type.startswith("ec"):
            curve = {"ec256": "P-256", "ec384": "P-384"}[key_type]
            args = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:" + curve]
        else:
            args = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:" + key_type[3:]]
        _openssl("genpkey", *args, "-out", path)
        os.chmod(path, 0o600)
        return AcmeKey(path)

    def sign(self, data):
        sig = subprocess.run(["openssl", "dgst", self.digest, "-sign", self.path],
                             input=data, capture_output=True, check=True).stdout
        if self.size is None:
            return sig
        r, s_ = _der_ints(sig)
        return r.to_bytes(self.size, "big") + s_.to_bytes(self.size, "big")

    def jws(self, protected, payload):
        """Flattened JWS JSON; payload None means POST-as-GET ("")."""
        prot = b64url(json.dumps(protected))
        pay = "" if payload is None else b64url(json.dumps(payload))
        sig = self.sign(("%s.%s" % (prot, pay)).encode("ascii"))
        return {"protected": prot, "payload": pay, "signature": b64url(sig)}


class AcmeProbe:
    """A minimal ACME client for tests: asks the server directly what it
    thinks (which account a key has, an account's status).  Signs with
    AcmeKey (openssl CLI).  Retries badNonce a few times."""

    def __init__(self, directory_url, ca_bundle):
        self.directory_url = directory_url
        self.ctx = ssl.create_default_context(cafile=ca_bundle)
        self.directory = self._request("GET", directory_url)[2]
        self.nonce = None

    def _request(self, method, url, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/jose+json")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=15) as r:
                status, headers, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, headers, raw = e.code, e.headers, e.read()
        nonce = headers.get("Replay-Nonce")
        if nonce:
            self.nonce = nonce
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return status, headers, parsed

    def post(self, url, key, payload, kid=None):
        """Signed POST; returns (status, headers, parsed body)."""
        for _ in range(5):
            if not self.nonce:
                self._request("HEAD", self.directory["newNonce"])
            protected = {"alg": key.alg, "nonce": self.nonce, "url": url}
            if kid:
                protected["kid"] = kid
            else:
                protected["jwk"] = key.jwk
            self.nonce = None
            status, headers, body = self._request("POST", url, key.jws(protected, payload))
            if not (status == 400 and isinstance(body, dict)
                    and body.get("type") == "urn:ietf:params:acme:error:badNonce"):
                return status, headers, body
        return status, headers, body

    def new_account(self, key, only_return_existing=False, contact=None):
        """newAccount; returns (status, account URL or None, body)."""
        payload = {"termsOfServiceAgreed": True}
        if only_return_existing:
            payload = {"onlyReturnExisting": True}
        if contact:
            payload["contact"] = list(contact)
        status, headers, body = self.post(self.directory["newAccount"], key, payload)
        return status, headers.get("Location"), body

    def account_url(self, key):
        """The URL of the account whose key is `key`, or None if none."""
        status, location, _ = self.new_account(key, only_return_existing=True)
        return location if status in (200, 201) else None

    def key_change(self, kid, old_key, new_key):
        """RFC 8555 §7.3.5 rollover; returns (status, body)."""
        url = self.directory["keyChange"]
        inner = new_key.jws({"alg": new_key.alg, "jwk": new_key.jwk, "url": url},
                            {"account": kid, "oldKey": old_key.jwk})
        status, _, body = self.post(url, old_key, inner, kid=kid)
        return status, body


class StaticServer:
    """python3 -m http.server serving a directory on 127.0.0.1:port (a webroot
    behind a real static server, as for http-01 by webroot)."""

    def __init__(self, directory, port):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
             directory, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError("the static server did not start on port %d" % port)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class PostgreSQL:
    """A throw-away PostgreSQL server on a loopback port (scripts/pg-test-server:
    initdb in a temporary directory, trust authentication, no system service).
    createdb(name) -> the connection string of a new, empty database."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ck-pg-", dir="/tmp")
        os.rmdir(self.dir)  # the script creates it for the server's user
        self.script = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "scripts", "pg-test-server")
        self.url = None

    def start(self):
        res = subprocess.run([self.script, "start", self.dir], capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError("cannot start PostgreSQL: %s" % res.stderr)
        self.url = res.stdout.strip()
        return self

    def stop(self):
        subprocess.run([self.script, "stop", self.dir], capture_output=True)

    def psql(self, db, sql):
        """Runs sql on database db as the server's superuser; stdout (unaligned)."""
        res = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                              "%s/%s" % (self.url, db), "-c", sql],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise AssertionError("psql %s: %s" % (sql, res.stderr))
        return res.stdout

    def createdb(self, name):
        self.psql("postgres", "CREATE DATABASE %s" % name)
        return "%s/%s" % (self.url, name)


def certkeep_bin():
    """The certkeep binary under test: $CERTKEEP_BIN, else build-test's."""
    path = os.environ.get("CERTKEEP_BIN") or os.path.join(ROOT, "build-test", "src", "cli",
                                                          "certkeep")
    return os.path.abspath(path)


class CertkeepError(AssertionError):
    pass


class Certkeep:
    """Runs the certkeep binary with --store and --ca-bundle filled in.

    run(*args, store=None, check=True, input=None, env=None, timeout=120,
        global_args=()) -> subprocess.CompletedProcess (text, captured).
    check=True raises CertkeepError (an AssertionError) on a non-zero exit,
    with the command line, stdout and stderr in the message.
    """

    def __init__(self, store, ca_bundle=None, binary=None, env=None):
        self.store = store
        self.ca_bundle = ca_bundle
        self.binary = binary or certkeep_bin()
        self.env = dict(env or {})

    def argv(self, *args, store=None, global_args=()):
        argv = [self.binary, "--store", store or self.store]
        if self.ca_bundle:
            argv += ["--ca-bundle", self.ca_bundle]
        return argv + list(global_args) + [str(a) for a in args]

    def run(self, *args, store=None, check=True, input=None, env=None, timeout=120,
            global_args=()):
        argv = self.argv(*args, store=store, global_args=global_args)
        if not os.access(self.binary, os.X_OK):
            raise CertkeepError("the certkeep binary %s is missing: build it (make build-test, "
                                "or ninja -C DIR src/cli/certkeep) or set CERTKEEP_BIN"
                                % self.binary)
        full_env = dict(os.environ)
        full_env.update(self.env)
        full_env.update(env or {})
        try:
            res = subprocess.run(argv, input=input, capture_output=True, text=True,
                                 env=full_env, timeout=timeout,
                                 stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise CertkeepError("certkeep timed out after %ss: %s\nstdout:\n%s\nstderr:\n%s" % (
                timeout, shlex.join(argv), e.stdout or "", e.stderr or "")) from None
        if check and res.returncode != 0:
            raise CertkeepError(describe(res, "expected exit 0"))
        return res

    def json(self, *args, **kw):
        """run() and parse stdout as JSON."""
        res = self.run(*args, **kw)
        try:
            return json.loads(res.stdout)
        except ValueError as e:
            raise CertkeepError(describe(res, "stdout is not JSON: %s" % e)) from None


def jwk_thumbprint(jwk):
    """RFC 7638: base64url(SHA-256(canonical JSON of the required members)),
    what `certkeep account show --json` calls jwk_thumbprint."""
    canon = json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canon).digest()).rstrip(b"=").decode()


def describe(res, why):
    """A failure message showing the command, exit code, stdout and stderr."""
    argv = res.args if isinstance(res.args, (list, tuple)) else [str(res.args)]
    return "%s: `%s` exited %s\n--- stdout ---\n%s--- stderr ---\n%s" % (
        why, shlex.join(str(a) for a in argv), res.returncode, res.stdout, res.stderr)


def _serve(args):
    os.makedirs(args.dir, exist_ok=True)
    stop = []

    def on_signal(signum, frame):
        stop.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with Pebble(args.dir, nonce_reject=args.nonce_reject, eab=args.eab) as pebble:
        lines = {
            "CK_DIRECTORY_URL": pebble.directory_url,
            "CERTKEEP_CA_BUNDLE": pebble.ca_bundle,
            "CK_HTTP_PORT": str(pebble.http_port),
            "CK_PEBBLE_LOG": pebble.log_path,
            "CK_PEBBLE_MGMT_URL": pebble.mgmt_url,
        }
        for k, v in lines.items():
            print("export %s=%s" % (k, shlex.quote(v)))
        print("ready", flush=True)
        while not stop:
            if pebble.pebble.poll() is not None:
                print("ckharness: pebble exited with %s" % pebble.pebble.returncode,
                      file=sys.stderr)
                return 1
            time.sleep(0.2)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="start Pebble and print shell export lines")
    s.add_argument("--dir", required=True, help="directory for certificates, config, logs")
    s.add_argument("--nonce-reject", type=int, default=0)
    s.add_argument("--eab", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "serve":
        return _serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
