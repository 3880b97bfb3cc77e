"""A redis-server of a test's own, which the test may stop and start again (an outage).

The suite's Redis (tests/support/services.py) serves every test; stopping it would take the
suite's worker down with it. This one listens on a port of its own, keeps nothing on disk (as
the suite's), so a restart forgets every key, as a production Redis without persistence would.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.services import free_port, unavailable, wait_for_port


class PrivateRedis:
    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
        self._binary = str(binary)
        self._folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        self._proc = subprocess.Popen(
            [self._binary, *args, "no", "--dir", str(self._folder)], stdout=subprocess.DEVNULL
        )
        wait_for_port(self.port, self._proc)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()  # as a crash would: no goodbye to the clients
            self._proc.wait(10)
            self._proc = None
