"""A real HTTP server for webhook tests: records every request and answers as told.

receiver = start_webhook_receiver()
receiver.fail_next(2)        # the next two requests get 500
...  # POST to receiver.url
receiver.requests            # [Request(method, path, headers, body, status)]
receiver.stop()
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered


@dataclass
class WebhookReceiver:
    url: str
    requests: list[Request] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)  # statuses for the next requests
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer `status` to the next `count` requests, then 204 again."""
        with self._lock:
            self._failures.extend([status] * count)

    def _record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            status = self._failures.pop(0) if self._failures else 204
            self.requests.append(Request(method, path, headers, body, status))
            return status

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def start_webhook_receiver(path: str = "/hooks/portal") -> WebhookReceiver:
    """Listen on 127.0.0.1 and a free port; `url` is where to POST."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status = receiver._record("POST", self.path, dict(self.headers.items()), body)
            self.send_response(status)
            if 300 <= status < 400:
                # Somewhere else on purpose: a sender must not follow it with the signed event.
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep the test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    receiver = WebhookReceiver(url=f"http://127.0.0.1:{port}{path}", _server=server)
    receiver._thread = threading.Thread(target=server.serve_forever, daemon=True)
    receiver._thread.start()
    return receiver
