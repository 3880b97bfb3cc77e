"""A TCP forwarder on 127.0.0.1 that tests put in front of a server (S3, PostgreSQL, Redis) to
cut it off mid-request and restore it, as a network fault or a crashed server would.

    with TcpProxy("127.0.0.1", 5432) as proxy:   # clients connect to proxy.port
        proxy.cut()                  # live connections closed, new ones refused
        proxy.cut(blackhole=True)    # … or accepted and never answered (a dropped route)
        proxy.restore()              # forwarding again, on the same port

One thread accepts, two threads pump each connection; `cut` shuts the sockets down, which wakes
the pumps, so it takes effect at once. Everything is closed by `close()` (or the `with` block).
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from types import TracebackType

_CHUNK = 64 * 1024
_POLL = 0.05  # seconds the accepting thread waits before it looks at its state again


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `host`:`target_port` until cut."""

    def __init__(self, host: str, target_port: int, port: int = 0) -> None:
        self.target = (host, target_port)
        self._lock = threading.Lock()
        self._links: set[socket.socket] = set()  # both ends of every forwarded connection
        self._held: set[socket.socket] = set()  # connections swallowed by a blackhole
        self._blackhole = False
        self._stopped = threading.Event()
        self._listener: socket.socket | None = self._listen(port)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cut(self, *, blackhole: bool = False) -> None:
        """Close every live connection; refuse new ones, or with `blackhole` accept them and
        never send or forward a byte (a client then waits for its own timeout)."""
        with self._lock:
            self._blackhole = blackhole
            if not blackhole and self._listener is not None:
                self._listener.close()  # a connect now gets ECONNREFUSED
                self._listener = None
            elif blackhole and self._listener is None:
                self._listener = self._listen(self.port)
            doomed = list(self._links)
            self._links.clear()
        for sock in doomed:
            _close(sock)

    def restore(self) -> None:
        """Forward again, on the same port; connections held by a blackhole are closed."""
        with self._lock:
            self._blackhole = False
            if self._listener is None:
                self._listener = self._listen(self.port)
            held = list(self._held)
            self._held.clear()
        for sock in held:
            _close(sock)

    def close(self) -> None:
        self._stopped.set()
        self.cut()
        self._thread.join(5)
        with self._lock:
            held = list(self._held)
            self._held.clear()
        for sock in held:
            _close(sock)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @staticmethod
    def _listen(port: int) -> socket.socket:
        # A listener that cut() closed lives on until the accepting thread's wait on it returns
        # (up to _POLL): the kernel keeps a socket while a call uses it. A restore() right after
        # a cut found the port still taken (EADDRINUSE), so binding is tried again meanwhile.
        deadline = time.monotonic() + 20 * _POLL
        while True:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(("127.0.0.1", port))
                listener.listen(64)
            except OSError as error:
                listener.close()
                if error.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(_POLL / 5)
                continue
            listener.settimeout(_POLL)
            return listener

    def _accept(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                listener = self._listener
            if listener is None:
                self._stopped.wait(_POLL)
                continue
            try:
                client, _ = listener.accept()
            except OSError:  # the timeout, or the listener closed by cut()
                continue
            client.settimeout(None)
            self._serve(client)

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            if self._blackhole or self._stopped.is_set():
                self._held.add(client)
                return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)  # the server itself is down: the client sees its connection end
            return
        upstream.settimeout(None)
        with self._lock:
            self._links.update((client, upstream))
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(
                target=self._pump, args=(source, sink), name="tcp-proxy-pump", daemon=True
            ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
        except OSError:
            pass  # cut, or the other side went away
        finally:
            # One side done ends the connection for both: clients and servers here never
            # half-close on purpose.
            with self._lock:
                self._links.discard(source)
                self._links.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    # shutdown() first: it wakes a thread blocked in recv() on the socket; close() alone may not.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
