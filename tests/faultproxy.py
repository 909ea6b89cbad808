#!/usr/bin/env python3
"""faultproxy - an HTTPS reverse proxy in front of an ACME server (Pebble)
that injects the faults Pebble cannot produce: problem documents with
Retry-After (429/503/500/400 badNonce...), dropped connections, delays,
arbitrary canned answers (ARI, rate limits), and a server that caches
account keys after keyChange (letsencrypt/boulder#8124).  Standard library
only.  See tests/README.md for the whole story.

In-process:

    proxy = FaultProxy(upstream="https://127.0.0.1:14000", upstream_ca=ca,
                       cert=server_pem, key=server_key)
    proxy.start()                      # proxy.base_url, proxy.url("/dir")
    proxy.add_rule("/order-plz", method="POST", count=2, status=503,
                   type="urn:ietf:params:acme:error:serverInternal",
                   detail="try later", retry_after=3)
    proxy.stale_account_key(5)         # after a keyChange: 5 s of 401s
    proxy.count("/finalize-order/", "POST")
    proxy.stop()

Standalone (a JSON control API on --control, see CONTROL_API below):

    python3 tests/faultproxy.py --upstream https://127.0.0.1:14000 \\
        --upstream-ca ca.pem --cert server.pem --key server.key \\
        --listen 127.0.0.1:14443 --control 127.0.0.1:14444

How it forwards: requests go upstream with the client's own Host header,
so a server that builds its URLs from Host (Pebble does) hands out URLs of
the proxy, and the JWS `url` the client signed matches what the server
expects.  For a server with a fixed base URL, the upstream base URL in
response bodies and Location/Link headers is rewritten to the proxy's.
"""

import argparse
import base64
import http.client
import http.server
import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "content-length",
              "accept-encoding", "content-encoding"}
MAX_BODY = 1 << 20
UPSTREAM_TIMEOUT = 30
PROBLEM_TYPES = {
    "rateLimited": 429, "badNonce": 400, "serverInternal": 500, "unauthorized": 401,
    "malformed": 400,
}

CONTROL_API = """
GET  /counters          {"POST /order-plz": 3, ...}  (method + path, query dropped)
GET  /rules             the active rules
POST /rules             a rule (the keyword arguments of FaultProxy.add_rule) -> {"id": N}
POST /rules/clear       remove every rule
POST /rules/ID/release  let the answers a "hold" rule holds go
POST /stale-key         {"seconds": N}: stale-account-key mode (0 = off)
POST /reset             rules, counters, request log, payloads, stale mode and
                        directory meta all cleared
GET  /log               [{"time", "method", "path", "status", "action"}, ...]
GET  /payloads          [{"path", "payload"}, ...]: every POST's decoded JWS payload
POST /directory-meta    {"profiles": {...}, ...}: merged into the directory's "meta"
                        ({} = off)
POST /renewal-info      {"default": WINDOW, "windows": {"CERT-ID": WINDOW}, "retry_after": N}
                        ARI on (see FaultProxy.set_renewal_info); {"off": true} = off
GET  /replaces          the "replaces" of every newOrder payload (null when absent)
"""

RENEWAL_INFO_PATH = "/renewal-info/"


def http_date(seconds_from_now):
    """An HTTP-date (RFC 9110 IMF-fixdate) `seconds_from_now` from now, for
    a Retry-After in its date form."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                         time.gmtime(time.time() + seconds_from_now))


def rfc3339(seconds_from_now):
    """An RFC 3339 UTC time `seconds_from_now` from now."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_from_now))


def ari_window(start_s, end_s, explanation_url=None):
    """A renewalInfo body (RFC 9773) whose suggestedWindow runs from start_s
    to end_s seconds from now (negative: in the past)."""
    body = {"suggestedWindow": {"start": rfc3339(start_s), "end": rfc3339(end_s)}}
    if explanation_url:
        body["explanationURL"] = explanation_url
    return body



def _b64url_decode(text):
    text = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text.encode("ascii"))


def jws_protected(body):
    """The protected header of a flattened JWS request body, or None."""
    try:
        jws = json.loads(body)
        return json.loads(_b64url_decode(jws["protected"]))
    except (ValueError, KeyError, TypeError):
        return None


def jws_payload(body):
    """The payload of a flattened JWS request body: the decoded JSON, "" for
    a POST-as-GET (empty payload), None when body is not a JWS."""
    try:
        text = _b64url_decode(json.loads(body)["payload"])
        return json.loads(text) if text else ""
    except (ValueError, KeyError, TypeError):
        return None


class Rule:
    """One fault: requests whose path starts with `path` (and whose method
    is `method`, any when None) get `action`, for the next `count` matches
    (forever when None).

    action "problem": answer `status` with an RFC 7807 problem document of
        `type` (a full URN, or a short name like "rateLimited") and `detail`,
        plus `retry_after` (seconds, or an HTTP-date string) if given.
    action "respond": answer `status` with `body` (JSON-serialised unless a
        str) and `headers`, e.g. for ARI or other canned answers.
    action "drop": close the connection without an answer.
    action "delay": wait `delay` seconds, then forward as usual.
    action "headers": forward as usual and add `headers` to the answer
        (replacing the upstream's of the same name), e.g. a Retry-After
        the upstream does not send.
    action "forward_then_error": forward upstream (the upstream acts on the
        request: a keyChange commits), throw its answer away and answer the
        client `status` (default 502) instead, like a load balancer that gave
        up waiting: a plain-text gateway page, or a problem document when
        `type` is given.  The client cannot tell what happened upstream.
    Every answer the proxy makes itself carries a fresh Replay-Nonce fetched
    from upstream, so a client can go on.
    """

    _next_id = 0

    def __init__(self, path, method=None, count=None, action=None, status=None, type=None,
                 detail=None, retry_after=None, delay=None, body=None, headers=None):
        Rule._next_id += 1
        self.id = Rule._next_id
        self.path = path
        self.method = method.upper() if method else None
        self.count = count
        if action is None:
            action = "delay" if delay is not None and status is None else (
                "respond" if body is not None else "problem")
        if action not in ("problem", "respond", "drop", "delay", "forward_then_error", "hold",
                          "headers"):
            raise ValueError("unknown action %r" % action)
        self.action = action
        if type and not type.startswith("urn:"):
            type = "urn:ietf:params:acme:error:" + type
        self.type = type
        if status is None and action == "forward_then_error":
            status = 502
        self.status = status if status is not None else PROBLEM_TYPES.get(
            (type or "").rsplit(":", 1)[-1], 503 if action == "problem" else 200)
        self.detail = detail
        self.retry_after = retry_after
        self.delay = delay
        self.body = body
        self.headers = dict(headers or {})
        self.hits = 0
        self.released = threading.Event()
        self.holding = threading.Event()  # set once an answer is being held

    def matches(self, method, path):
        return (self.method is None or self.method == method) and path.startswith(self.path)

    def as_dict(self):
        return {k: v for k, v in vars(self).items()
                if v is not None and not isinstance(v, threading.Event)}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"

    def log_message(self, fmt, *args):
        if self.server.proxy.verbose:
            sys.stderr.write("faultproxy: " + (fmt % args) + "\n")

    def do_GET(self):
        self._handle()

    def do_HEAD(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _handle(self):
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, b"", {})
            return
        body = self.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(self.path).path
        rule = proxy._take_rule(self.command, path)
        proxy._count(self.command, path)
        if self.command == "POST":
            proxy._record_payload(path, body)
        if rule is not None and rule.action == "delay":
            time.sleep(rule.delay or 0)
            rule = None
        if rule is not None and rule.action == "drop":
            proxy._log(self.command, path, None, "drop")
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if rule is not None and rule.action in ("forward_then_error", "hold", "headers"):
            self._forward(body, path, after=rule)
            return
        if rule is not None:
            self._answer_rule(rule, path)
            return
        if self.command in ("GET", "HEAD") and path.startswith(RENEWAL_INFO_PATH):
            answer = proxy._ari_answer(path)
            if answer is not None:
                status, doc, headers = answer
                proxy._log(self.command, path, status, "renewal-info")
                self._send(status, json.dumps(doc).encode(), headers)
                return
        if self.command == "POST" and proxy._stale_reject(body):
            self._answer_problem(401, "urn:ietf:params:acme:error:unauthorized",
                                 "JWS verification error", None, path, "stale-key", {})
            return
        self._forward(body, path)

    def _answer_rule(self, rule, path):
        if rule.action == "problem":
            self._answer_problem(rule.status, rule.type or
                                 "urn:ietf:params:acme:error:serverInternal",
                                 rule.detail or "injected by faultproxy", rule.retry_after,
                                 path, "rule %d" % rule.id, rule.headers)
            return
        body = rule.body
        if not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        headers = {"Content-Type": "application/json"}
        headers.update(rule.headers)
        if rule.retry_after is not None:
            headers["Retry-After"] = str(rule.retry_after)
        self._add_nonce(headers)
        self.server.proxy._log(self.command, path, rule.status, "rule %d" % rule.id)
        self._send(rule.status, body, headers)

    def _answer_problem(self, status, ptype, detail, retry_after, path, action, extra):
        doc = {"type": ptype, "detail": detail, "status": status}
        headers = {"Content-Type": "application/problem+json"}
        headers.update(extra)
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        self._add_nonce(headers)
        self.server.proxy._log(self.command, path, status, action)
        self._send(status, json.dumps(doc).encode(), headers)

    def _add_nonce(self, headers):
        nonce = self.server.proxy._fresh_nonce(self.headers.get("Host"))
        if nonce:
            headers["Replay-Nonce"] = nonce

    def _gateway_error(self, rule, path, upstream_status):
        """The answer of a forward_then_error rule, after the upstream's."""
        action = "rule %d (upstream %s)" % (rule.id, upstream_status)
        if rule.type:
            self._answer_problem(rule.status, rule.type, rule.detail or "injected by faultproxy",
                                 rule.retry_after, path, action, rule.headers)
            return
        self.server.proxy._log(self.command, path, rule.status, action)
        text = "%d gateway error (injected by faultproxy)\n" % rule.status
        self._send(rule.status, text.encode(), {"Content-Type": "text/plain"})

    def _forward(self, body, path, after=None):
        proxy = self.server.proxy
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            status, reason, resp_headers, data = proxy._upstream(self.command, self.path, body,
                                                                 headers)
        except (OSError, http.client.HTTPException) as e:
            proxy._log(self.command, path, 502, "upstream error: %s" % e)
            self._send(502, ("upstream error: %s\n" % e).encode(), {"Content-Type":
                                                                     "text/plain"})
            return
        out = {}
        for k, v in resp_headers:
            if k.lower() in HOP_BY_HOP:
                continue
            if k.lower() in ("location", "link"):
                v = proxy._rewrite(v)
            out.setdefault(k, []).append(v)
        data = proxy._rewrite_bytes(data)
        if self.command == "GET" and status == 200 and path == proxy.directory_path:
            data = proxy._directory_with_meta(data)
        if self.command == "POST" and status == 200 and path == proxy.key_change_path:
            proxy._key_changed(body)
        if after is not None and after.action == "forward_then_error":
            self._gateway_error(after, path, status)
            return
        action = "forward"
        if after is not None and after.action == "headers":
            for k, v in after.headers.items():
                out = {h: hv for h, hv in out.items() if h.lower() != k.lower()}
                out[k] = [v]
            action = "rule %d (headers)" % after.id
        elif after is not None:  # hold
            after.holding.set()
            released = after.released.wait(after.delay if after.delay is not None else 60)
            action = "rule %d (held, %s)" % (after.id, "released" if released else "timed out")
        proxy._log(self.command, path, status, action)
        self._send(status, data, out, reason)

    def _send(self, status, data, headers, reason=None):
        self.send_response(status, reason)
        for k, v in headers.items():
            for one in (v if isinstance(v, list) else [v]):
                self.send_header(k, one)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)


class _TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, proxy, ssl_ctx):
        self.proxy = proxy
        self.ssl_ctx = ssl_ctx
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        # The TLS handshake happens in the request's own thread, so a slow
        # client never blocks accept().
        request.settimeout(UPSTREAM_TIMEOUT)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        alpn = tls.selected_alpn_protocol()
        with self.proxy.lock:
            self.proxy.alpn_seen.append(alpn)
        if alpn not in (None, "http/1.1"):
            # Offered only to see what the client picks: the proxy speaks HTTP/1.1.
            tls.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if self.proxy.verbose:
            super().handle_error(request, client_address)


class FaultProxy:
    """The proxy.  upstream: the upstream's base URL (scheme://host:port);
    upstream_ca: CA file that verifies it; cert/key: the proxy's own TLS
    certificate (for 127.0.0.1); listen: (host, port), port 0 = any."""

    def __init__(self, upstream, upstream_ca, cert, key, listen=("127.0.0.1", 0),
                 directory_path="/dir", verbose=False):
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != "https":
            raise ValueError("upstream must be https")
        self.upstream_base = "%s://%s" % (parts.scheme, parts.netloc)
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 443
        self.directory_path = parts.path if parts.path not in ("", "/") else directory_path
        self.upstream_ctx = ssl.create_default_context(cafile=upstream_ca)
        self.server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_ctx.load_cert_chain(cert, key)
        self.listen = listen
        self.verbose = verbose
        self.lock = threading.Lock()
        self.rules = []
        self.held = []  # "hold" rules, kept after their count ran out so release finds them
        self.counters = {}
        self.requests = []
        self.payloads = []  # (path, decoded JWS payload) of every POST, before any rule
        self.directory_meta = {}
        self.ari = None  # {"default": body, "windows": {id: body}, "retry_after": N} when on
        self.stale_seconds = 0
        self.stale = {}  # kid -> monotonic deadline
        self.stale_rejections = 0
        self.server = None
        self.thread = None
        self.base_url = None
        self.key_change_path = None
        self.new_nonce_path = None
        self.alpn_seen = []  # the ALPN protocol of each TLS connection (None: none chosen)

    # -- life cycle -------------------------------------------------------

    def start(self):
        self.server = _TLSServer(self.listen, _Handler, self, self.server_ctx)
        host, port = self.server.server_address[:2]
        self.base_url = "https://%s:%d" % (host, port)
        self.thread = threading.Thread(target=self.server.serve_forever, name="faultproxy",
                                       daemon=True)
        self.thread.start()
        self._learn_directory()
        return self

    def stop(self):
        with self.lock:
            for rule in self.held:
                rule.released.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def url(self, path):
        """The proxy's URL for an upstream path (e.g. url("/dir"))."""
        return self.base_url + path

    @property
    def directory_url(self):
        return self.url(self.directory_path)

    def _learn_directory(self):
        host = urllib.parse.urlsplit(self.base_url).netloc
        status, _, _, data = self._upstream("GET", self.directory_path, b"", {"Host": host})
        if status != 200:
            raise RuntimeError("upstream directory %s answered %d" % (self.directory_path,
                                                                      status))
        directory = json.loads(data)
        self.key_change_path = urllib.parse.urlsplit(directory.get("keyChange", "")).path
        self.new_nonce_path = urllib.parse.urlsplit(directory["newNonce"]).path

    # -- rules, counters, modes -------------------------------------------

    def add_rule(self, path, method=None, count=None, **kw):
        """Adds a Rule (see its docstring); returns it."""
        rule = Rule(path, method=method, count=count, **kw)
        with self.lock:
            self.rules.append(rule)
            if rule.action == "hold":
                self.held.append(rule)
        return rule

    def clear_rules(self):
        with self.lock:
            self.rules = []

    def release(self, rule):
        """Lets a "hold" rule's answers go (rule: the Rule or its id)."""
        rid = rule.id if isinstance(rule, Rule) else int(rule)
        with self.lock:
            found = [r for r in self.rules + self.held if r.id == rid]
        for r in found:
            r.released.set()
        return bool(found)

    def reset(self):
        with self.lock:
            for rule in self.held:
                rule.released.set()
            self.held = []
            self.rules = []
            self.counters = {}
            self.requests = []
            self.payloads = []
            self.directory_meta = {}
            self.ari = None
            self.stale_seconds = 0
            self.stale = {}
            self.stale_rejections = 0

    def stale_account_key(self, seconds):
        """Mimics a server that caches account keys (Boulder, #8124): for
        `seconds` after each successful keyChange, every JWS request whose
        protected header `kid` is that account is answered 401
        urn:ietf:params:acme:error:unauthorized "JWS verification error"
        (with a fresh nonce) instead of being forwarded.  After a rollover
        only the new key is valid upstream, so the requests this catches
        are the ones signed with the new key.  0 turns it off."""
        with self.lock:
            self.stale_seconds = seconds
            if not seconds:
                self.stale = {}

    def offer_alpn(self, protocols):
        """Offers these ALPN protocols (e.g. ["h2", "http/1.1"]) on the next
        TLS connections; a connection that picks one other than http/1.1 is
        recorded in alpn_seen and closed unserved."""
        self.server_ctx.set_alpn_protocols(list(protocols))

    def set_directory_meta(self, meta):
        """Merges `meta` (a dict, e.g. {"profiles": {"shortlived": "6 days"}})
        into the "meta" object of every directory answer the proxy forwards,
        key by key over what upstream said: a server with the profiles
        extension (meta.profiles) although Pebble 2.4 has none.  {} or None
        turns it off."""
        if meta is not None and not isinstance(meta, dict):
            raise TypeError("directory meta must be an object")
        with self.lock:
            self.directory_meta = dict(meta or {})

    def set_renewal_info(self, default=None, windows=None, retry_after=None, off=False):
        """ARI (RFC 9773), which Pebble 2.4 lacks: every directory answer gets
        "renewalInfo" (the proxy's RENEWAL_INFO_PATH), and GET
        renewalInfo/CERT-ID is answered by the proxy: windows[CERT-ID] if
        given, else `default`, else 404 (a certificate the CA does not know);
        each a renewalInfo body (ari_window() makes one), with Retry-After:
        `retry_after` (seconds or an HTTP-date) when given.  A rule on the
        path still wins.  off=True (or reset()) turns ARI off."""
        with self.lock:
            self.ari = None if off else {"default": default, "windows": dict(windows or {}),
                                         "retry_after": retry_after}

    def order_replaces(self):
        """The "replaces" member of every newOrder payload seen (None when a
        payload had none), in order."""
        with self.lock:
            return [p.get("replaces") if isinstance(p, dict) else None
                    for (path, p) in self.payloads if path.startswith("/order-plz")]

    def _ari_answer(self, path):
        """(status, body, headers) for a renewalInfo GET, or None when ARI is off."""
        with self.lock:
            ari = self.ari
        if ari is None:
            return None
        cert_id = path[len(RENEWAL_INFO_PATH):]
        body = ari["windows"].get(cert_id, ari["default"])
        headers = {"Content-Type": "application/json"}
        if ari["retry_after"] is not None:
            headers["Retry-After"] = str(ari["retry_after"])
        if body is None:
            return 404, {"type": "urn:ietf:params:acme:error:malformed",
                         "detail": "no such certificate", "status": 404}, \
                {"Content-Type": "application/problem+json"}
        return 200, body, headers

    def jws_payloads(self, path_prefix=""):
        """The decoded JWS payloads (see jws_payload) of the POSTs seen,
        before any rule, whose path starts with path_prefix, oldest first."""
        with self.lock:
            return [p for (path, p) in self.payloads if path.startswith(path_prefix)]

    def count(self, path_prefix="", method=None):
        """Requests seen (before any rule) whose path starts with path_prefix."""
        with self.lock:
            return sum(n for (m, p), n in self.counters.items()
                       if p.startswith(path_prefix) and (method is None or m == method))

    def counters_dict(self):
        with self.lock:
            return {"%s %s" % k: v for k, v in sorted(self.counters.items())}

    def request_log(self):
        with self.lock:
            return list(self.requests)

    def _take_rule(self, method, path):
        with self.lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    if rule.count is not None:
                        rule.count -= 1
                        if rule.count <= 0:
                            self.rules.remove(rule)
                    return rule
        return None

    def _record_payload(self, path, body):
        payload = jws_payload(body)
        with self.lock:
            self.payloads.append((path, payload))

    def _directory_with_meta(self, data):
        with self.lock:
            extra = dict(self.directory_meta)
            ari = self.ari is not None
        if not extra and not ari:
            return data
        directory = json.loads(data)
        if extra:
            meta = directory.get("meta")
            directory["meta"] = dict(meta if isinstance(meta, dict) else {}, **extra)
        if ari:
            # Pebble's URLs carry the client's Host: take the origin from one.
            origin = urllib.parse.urlsplit(directory["newNonce"])
            directory["renewalInfo"] = "%s://%s%s" % (origin.scheme, origin.netloc,
                                                      RENEWAL_INFO_PATH.rstrip("/"))
        return json.dumps(directory, indent=2).encode()

    def _count(self, method, path):
        with self.lock:
            self.counters[(method, path)] = self.counters.get((method, path), 0) + 1

    def _log(self, method, path, status, action):
        with self.lock:
            self.requests.append({"time": time.time(), "method": method, "path": path,
                                  "status": status, "action": action})

    def _key_changed(self, body):
        prot = jws_protected(body)
        with self.lock:
            if self.stale_seconds and prot and prot.get("kid"):
                self.stale[self._norm(prot["kid"])] = time.monotonic() + self.stale_seconds

    def _stale_reject(self, body):
        with self.lock:
            if not self.stale:
                return False
        prot = jws_protected(body)
        if not prot or not prot.get("kid"):
            return False
        with self.lock:
            deadline = self.stale.get(self._norm(prot["kid"]))
            if deadline is None:
                return False
            if time.monotonic() >= deadline:
                del self.stale[self._norm(prot["kid"])]
                return False
            self.stale_rejections += 1
            return True

    # -- upstream -----------------------------------------------------------

    def _upstream(self, method, target, body, headers):
        conn = http.client.HTTPSConnection(self.upstream_host, self.upstream_port,
                                           context=self.upstream_ctx,
                                           timeout=UPSTREAM_TIMEOUT)
        try:
            conn.request(method, target, body=body if method == "POST" else None,
                         headers=headers)
            resp = conn.getresponse()
            data = resp.read(MAX_BODY + 1)
            if len(data) > MAX_BODY:
                raise http.client.HTTPException("upstream body over %d bytes" % MAX_BODY)
            return resp.status, resp.reason, resp.getheaders(), data
        finally:
            conn.close()

    def _fresh_nonce(self, host):
        """A valid nonce from upstream, for answers the proxy makes itself."""
        try:
            _, _, headers, _ = self._upstream("HEAD", self.new_nonce_path, b"",
                                              {"Host": host or urllib.parse.urlsplit(
                                                  self.base_url).netloc})
        except (OSError, http.client.HTTPException):
            return None
        for k, v in headers:
            if k.lower() == "replay-nonce":
                return v
        return None

    def _norm(self, url):
        return url.replace(self.base_url, self.upstream_base) if self.base_url else url

    def _rewrite(self, text):
        return text.replace(self.upstream_base, self.base_url)

    def _rewrite_bytes(self, data):
        return data.replace(self.upstream_base.encode(), self.base_url.encode())


# -- standalone ------------------------------------------------------------

class _ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, obj):
        data = (json.dumps(obj, indent=1) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        proxy = self.server.proxy
        if self.path == "/counters":
            self._reply(200, proxy.counters_dict())
        elif self.path == "/rules":
            with proxy.lock:
                self._reply(200, [r.as_dict() for r in proxy.rules])
        elif self.path == "/log":
            self._reply(200, proxy.request_log())
        elif self.path == "/replaces":
            self._reply(200, proxy.order_replaces())
        elif self.path == "/payloads":
            with proxy.lock:
                self._reply(200, [{"path": p, "payload": v} for (p, v) in proxy.payloads])
        else:
            self._reply(404, {"error": "unknown path", "api": CONTROL_API.strip().split("\n")})

    def do_POST(self):
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._reply(400, {"error": "body is not JSON"})
            return
        try:
            if self.path == "/rules":
                rule = proxy.add_rule(**body)
                self._reply(200, {"id": rule.id})
            elif self.path.startswith("/rules/") and self.path.endswith("/release"):
                found = proxy.release(self.path[len("/rules/"):-len("/release")])
                self._reply(200 if found else 404, {} if found else {"error": "no such rule"})
            elif self.path == "/rules/clear":
                proxy.clear_rules()
                self._reply(200, {})
            elif self.path == "/stale-key":
                proxy.stale_account_key(float(body.get("seconds", 0)))
                self._reply(200, {})
            elif self.path == "/reset":
                proxy.reset()
                self._reply(200, {})
            elif self.path == "/directory-meta":
                proxy.set_directory_meta(body)
                self._reply(200, {})
            elif self.path == "/renewal-info":
                proxy.set_renewal_info(**body)
                self._reply(200, {})
            else:
                self._reply(404, {"error": "unknown path"})
        except (TypeError, ValueError) as e:
            self._reply(400, {"error": str(e)})


def _hostport(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv=None):
    ap = argparse.ArgumentParser(description="HTTPS fault-injecting proxy for ACME tests",
                                 epilog="control API:" + CONTROL_API,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True, help="upstream base or directory URL")
    ap.add_argument("--upstream-ca", required=True, help="CA file for the upstream")
    ap.add_argument("--cert", required=True, help="the proxy's certificate (PEM)")
    ap.add_argument("--key", required=True, help="the proxy's private key (PEM)")
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--control", default="127.0.0.1:0")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    proxy = FaultProxy(args.upstream, args.upstream_ca, args.cert, args.key,
                       listen=_hostport(args.listen), verbose=args.verbose).start()
    control = http.server.ThreadingHTTPServer(_hostport(args.control), _ControlHandler)
    control.proxy = proxy
    print("proxy %s" % proxy.directory_url)
    print("control http://%s:%d" % control.server_address[:2], flush=True)
    try:
        control.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
