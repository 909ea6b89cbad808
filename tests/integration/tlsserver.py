"""Real TLS servers for the deploy tests (issue 9), started on 127.0.0.1
with their own prefix, configuration, pid file and logs in a temporary
directory - never a system service:

  Nginx(workdir, tls_dir)   Debian's nginx; serves TLS_DIR/fullchain.pem and
                            TLS_DIR/privkey.pem on .port
  Apache(workdir, tls_dir)  Debian's apache2 (mpm_event, ssl); serves
                            TLS_DIR/fullchain.pem and privkey.pem

and handshake(port, sni, cafile) -> the served leaf's SHA-256 (hex), the
check the tests make before and after each deploy.  placeholder(dir)
writes a self-signed set at the four PEM names, so a server can start
before certkeep's first deploy replaces it.
"""

import hashlib
import os
import signal
import shutil
import socket
import ssl
import subprocess
import time

import ckharness


def handshake(port, sni, cafile=None, timeout=5):
    """SHA-256 (hex) of the leaf served on 127.0.0.1:port for sni.  With
    cafile the chain and name are verified (ssl.SSLError otherwise)."""
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def placeholder(directory, name="placeholder.test"):
    """A self-signed certificate and key as cert.pem, chain.pem (empty),
    fullchain.pem and privkey.pem (0600) in directory.  Returns its SHA-256."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    key = os.path.join(directory, "privkey.pem")
    cert = os.path.join(directory, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=" + name], check=True, capture_output=True)
    os.chmod(key, 0o600)
    shutil.copyfile(cert, os.path.join(directory, "fullchain.pem"))
    open(os.path.join(directory, "chain.pem"), "w").close()
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def _wait_port(port, proc_alive, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if not proc_alive():
                break
            time.sleep(0.02)
    raise AssertionError("%s did not listen on 127.0.0.1:%d" % (what, port))


class Nginx:
    """nginx with its own prefix: conf (the -c FILE), error_log, pid."""

    def __init__(self, workdir, tls_dir, port=None):
        self.dir = os.path.abspath(workdir)
        self.tls_dir = os.path.abspath(tls_dir)
        self.port = port or ckharness.free_port()
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.error_log = os.path.join(self.dir, "error.log")
        self.pid = os.path.join(self.dir, "nginx.pid")
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        temps = "".join("  %s_temp_path %s/tmp/%s;\n" % (t, self.dir, t)
                        for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(self.conf, "w") as fp:
            fp.write("worker_processes 1;\npid %s;\nerror_log %s notice;\n"
                     "events { worker_connections 256; }\n"
                     "http {\n  access_log off;\n%s"
                     "  server {\n    listen 127.0.0.1:%d ssl;\n    server_name _;\n"
                     "    ssl_certificate %s/fullchain.pem;\n"
                     "    ssl_certificate_key %s/privkey.pem;\n"
                     "    location / { return 200 \"ok\\n\"; }\n  }\n}\n"
                     % (self.pid, self.error_log, temps, self.port, self.tls_dir,
                        self.tls_dir))

    def _nginx(self, *args):
        return subprocess.run(["nginx", "-e", self.error_log, "-c", self.conf] + list(args),
                              capture_output=True, text=True, timeout=30)

    def start(self):
        res = self._nginx()
        if res.returncode != 0:
            raise AssertionError("nginx did not start: %s%s" % (res.stdout, res.stderr))
        _wait_port(self.port, lambda: os.path.exists(self.pid), "nginx")
        return self

    def stop(self):
        """Fast shutdown: SIGTERM to the master named in the pid file (what
        `nginx -s stop` sends, without its parse of a configuration that a
        test may have left unreadable to a new nginx: a token's key, a PIN
        file removed), then SIGKILL if it is still there after 10 s."""
        try:
            with open(self.pid) as fp:
                master = int(fp.read().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(master, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while os.path.exists(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if os.path.exists(self.pid):  # still there: nginx removes it when it exits
            try:
                os.kill(master, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def log(self):
        try:
            with open(self.error_log, errors="replace") as fp:
                return fp.read()
        except OSError:
            return ""


class Apache:
    """apache2 with its own ServerRoot-free configuration (TESTBED.md)."""

    MODULES = ("mpm_event", "authz_core", "ssl", "socache_shmcb")

    def __init__(self, workdir, tls_dir, port=None):
        self.dir = os.path.abspath(workdir)
        self.tls_dir = os.path.abspath(tls_dir)
        self.port = port or ckharness.free_port()
        self.conf = os.path.join(self.dir, "apache2.conf")
        self.pid = os.path.join(self.dir, "apache2.pid")
        self.error_log = os.path.join(self.dir, "error.log")
        os.makedirs(self.dir, exist_ok=True)
        mods = "".join("LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n" % (m, m)
                       for m in self.MODULES)
        with open(self.conf, "w") as fp:
            fp.write("ServerRoot %s\nPidFile %s\nErrorLog %s\nDefaultRuntimeDir %s\n"
                     "ServerName localhost\nListen 127.0.0.1:%d\n%s"
                     "SSLSessionCache shmcb:%s/ssl_scache(51200)\n"
                     "<VirtualHost 127.0.0.1:%d>\n  SSLEngine on\n"
                     "  SSLCertificateFile %s/fullchain.pem\n"
                     "  SSLCertificateKeyFile %s/privkey.pem\n</VirtualHost>\n"
                     % (self.dir, self.pid, self.error_log, self.dir, self.port, mods,
                        self.dir, self.port, self.tls_dir, self.tls_dir))

    def _ctl(self, *args):
        return subprocess.run(["apache2", "-f", self.conf] + list(args), capture_output=True,
                              text=True, timeout=30)

    def start(self):
        res = self._ctl("-k", "start")
        if res.returncode != 0:
            raise AssertionError("apache2 did not start: %s%s" % (res.stdout, res.stderr))
        _wait_port(self.port, lambda: True, "apache2")
        return self

    def stop(self):
        self._ctl("-k", "stop")
        deadline = time.monotonic() + 10
        while os.path.exists(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def main(argv=None):
    """For scripts/demo:  tlsserver.py start DIR  makes DIR/tls (a
    placeholder set) and starts nginx serving it from DIR/nginx, printing
    `export CK_NGINX_PORT=... CK_NGINX_CONF=... CK_NGINX_TLS=...` lines;
    tlsserver.py stop DIR  stops it.  Also: tlsserver.py served PORT SNI
    CAFILE prints the served leaf's SHA-256 (chain and name verified)."""
    import sys
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] in ("start", "stop"):
        d = os.path.abspath(args[1])
        tls = os.path.join(d, "tls")
        if args[0] == "stop":
            port_file = os.path.join(d, "nginx", "port")
            if os.path.exists(port_file):
                with open(port_file) as fp:
                    Nginx(os.path.join(d, "nginx"), tls, int(fp.read())).stop()
            return 0
        placeholder(tls)
        ng = Nginx(os.path.join(d, "nginx"), tls).start()
        with open(os.path.join(d, "nginx", "port"), "w") as fp:
            fp.write(str(ng.port))
        print("export CK_NGINX_PORT=%d CK_NGINX_CONF=%s CK_NGINX_TLS=%s"
              % (ng.port, ng.conf, tls))
        return 0
    if len(args) == 4 and args[0] == "served":
        print(handshake(int(args[1]), args[2], args[3]))
        return 0
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
