"""The portal run as an operator runs it: gunicorn with the repository's gunicorn.conf.py, one
`portal worker` and one `portal scheduler`, each a process of its own, for the fault suite
(tests/faults) and `bench/faults.py`, which hurt them on purpose.

The processes are found by their ids only: the gunicorn workers as children of its master, the
one serving a request by its open connection to the listening port (/proc/net/tcp).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
_ESTABLISHED = "01"  # the state column of /proc/net/tcp


class Deployment:
    """gunicorn (`web_workers` workers), a worker and the scheduler, on the settings `env`."""

    def __init__(
        self,
        env: dict[str, str],
        folder: Path,
        web_workers: int = 2,
        per_process: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.env = {**os.environ, **env}
        # Settings of one process only, by name: "gunicorn", "worker", "scheduler".
        self.per_process = per_process or {}
        self.folder = folder
        self.web_workers = web_workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.ended_early: list[str] = []

    def start(self, timeout: float = 90) -> None:
        # From the project root, so that gunicorn reads the repository's gunicorn.conf.py.
        self.web = self._spawn(
            "gunicorn",
            [str(BIN / "gunicorn"), f"--bind=127.0.0.1:{self.port}", "wsgi:app"],
            cwd=ROOT,
            extra={"PORTAL_WEB_WORKERS": str(self.web_workers)},
        )
        self.worker = self._spawn("worker", [str(BIN / "portal"), "worker"])
        self.scheduler = self._spawn("scheduler", [str(BIN / "portal"), "scheduler"])
        deadline = time.monotonic() + timeout
        while not (self.ready() and len(self.web_pids()) == self.web_workers):
            for name, proc in (("gunicorn", self.web), ("worker", self.worker)):
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} ended: {self.log_tail(name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the portal is not ready: {self.log_tail('gunicorn')}")
            time.sleep(0.2)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=5) as answer:  # noqa: S310
                return bool(answer.status == 200)
        except (OSError, urllib.error.HTTPError):
            return False

    def web_pids(self) -> list[int]:
        return children(self.web.pid) if self.web is not None else []

    def serving_web_worker(self, timeout: float = 30) -> int:
        """The id of a gunicorn worker in the middle of a request (waits for one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid in self.web_pids():
                if serves(pid, self.port):
                    return pid
            time.sleep(0.01)
        raise RuntimeError("no gunicorn worker served a request")

    def kill_worker(self) -> int:
        """`kill -9` of `portal worker`, then what a supervisor does: the rest of its unit
        ended (systemd's default: SIGTERM to what is left), a new worker started. The rest is
        rq's scheduler, a child process of the worker that outlives its parent's kill -9."""
        assert self.worker is not None
        old = self.worker
        left = children(old.pid)
        os.kill(old.pid, signal.SIGKILL)
        old.wait(10)
        for pid in left:
            stop_pid(pid)
        self.worker = self._spawn("worker", [str(BIN / "portal"), "worker"])
        return old.pid

    def stop(self) -> None:
        named = {"gunicorn": self.web, "worker": self.worker, "scheduler": self.scheduler}
        # Whatever ended by itself before the stop crashed: none of them may (issue 7).
        self.ended_early = [n for n, p in named.items() if p is not None and p.poll() is not None]
        processes = [p for p in named.values() if p is not None]
        left = [pid for p in processes for pid in children(p.pid)]
        for proc in processes:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in processes:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for pid in left:
            stop_pid(pid, grace=2)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def _spawn(
        self,
        name: str,
        command: list[str],
        cwd: Path | None = None,
        extra: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                command,
                env={**self.env, **self.per_process.get(name, {}), **(extra or {})},
                cwd=cwd or self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
            )


def children(pid: int) -> list[int]:
    """The ids of the processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        # The name in parentheses may hold spaces; the fields after it are fixed.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def serves(pid: int, port: int) -> bool:
    """Whether process `pid` holds an established connection on local `port`: a sync gunicorn
    worker does exactly while it serves a request (it closes each connection after it)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    if not inodes:
        return False
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rpartition(":")[2], 16)
        if local_port == port and fields[3] == _ESTABLISHED and fields[9] in inodes:
            return True
    return False


def stop_pid(pid: int, grace: float = 5) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds, to a process that is not our child."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            os.kill(pid, 0)  # ProcessLookupError once it is gone
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
