"""tcpproxy - a plain TCP proxy on 127.0.0.1 for the fleet tests: a node
talks to PostgreSQL through it, and the test cuts every connection in
flight (drop()) as a network failure would, mid-transaction.  Standard
library only; loopback only.

    proxy = TcpProxy(("127.0.0.1", pg_port)).start()   # proxy.port
    proxy.drop()          # reset every open connection (RST, not FIN)
    proxy.refuse(True)    # new connections are reset at once, until refuse(False)
    proxy.stop()
"""

import socket
import struct
import threading


class TcpProxy:
    """Forwards each connection on 127.0.0.1:port to target, byte for byte."""

    def __init__(self, target):
        self.target = target
        self.lock = threading.Lock()
        self.pairs = []
        self.refusing = False
        self.accepted = 0
        self.dropped = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()

    def start(self):
        self.sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    @staticmethod
    def _reset(s):
        """Closes s with an RST, as a dead peer would.  shutdown() first: a
        close() alone does not end a recv() blocked on s in a pump thread,
        and until that returns the kernel keeps the connection open and
        silent (a black hole, not a reset)."""
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass

    def _accept(self):
        """Accepts until stop(): a connection that fails on its way in (reset
        before accept, upstream unreachable) is closed and the loop goes on;
        a proxy that stopped accepting would hang its clients instead of
        failing them."""
        while not self.stopped.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            try:
                self._connect(client)
            except OSError:
                self._reset(client)

    def _connect(self, client):
        with self.lock:
            if self.refusing:
                self._reset(client)
                return
        upstream = socket.create_connection(self.target, timeout=10)
        upstream.settimeout(None)
        pair = (client, upstream)
        with self.lock:
            self.pairs.append(pair)
            self.accepted += 1
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(a, b, pair), daemon=True).start()

    def _pump(self, src, dst, pair):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        with self.lock:
            if pair in self.pairs:
                self.pairs.remove(pair)
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop(self):
        """Resets every connection in flight; returns how many there were."""
        with self.lock:
            pairs, self.pairs = self.pairs, []
            self.dropped += len(pairs)
        for pair in pairs:
            for s in pair:
                self._reset(s)
        return len(pairs)

    def refuse(self, on):
        with self.lock:
            self.refusing = on

    def stop(self):
        self.stopped.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in progress
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.drop()
