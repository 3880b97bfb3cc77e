"""An S3 server for tests: moto's standalone server on a free local port, spoken to over HTTP.

moto accepts any credentials and does not check signatures (see docs/NOTES), so tests use it as a
protocol peer for our S3 code, never to test access control.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

ACCESS_KEY = "testing"
SECRET_KEY = "testing"


def start_s3_server() -> tuple[str, Callable[[], None]]:
    """Start moto's S3 server; return its endpoint ("127.0.0.1:PORT") and a function to stop it."""
    # Imported here: moto is heavy, and suites that never start a server should not pay for it.
    # No warning filter is needed with moto 5.2 beyond pyproject's narrow datetime.utcnow one.
    from moto.server import ThreadedMotoServer

    # Werkzeug logs every request at INFO; the tests would drown in it.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # Port 0 lets the kernel pick a free port atomically (no probe-then-bind race between
    # parallel test runs); the bound port is read back from the server.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return f"{host}:{port}", server.stop


def s3_url(endpoint: str, bucket: str) -> str:
    """The PORTAL_STORAGE_URL for ``bucket`` on a test server started by start_s3_server()."""
    return f"s3://{ACCESS_KEY}:{SECRET_KEY}@{endpoint}/{bucket}?secure=false"
