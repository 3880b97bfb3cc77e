"""A child process that looks at untrusted files under hard limits of time and memory.

Parsing a hostile PDF or image can take far more memory and time than its size suggests: qpdf
keeps ~0.3 KB per cross-reference entry and ~0.9 KB per parsed object, and a compressed
cross-reference or object stream of 1 MB describes a million of them (measured here: a 5 MB
file cost 430 MB, a 54 KB one 90 MB). In the web process that memory would stay with the
worker, and a parse inside qpdf cannot be interrupted. So the checks run in a child process
(`python -m casefiles.sandbox`): its address space is capped (`RLIMIT_AS`), and a check that
runs over its time is killed together with the child.

Children are kept for the next request (starting one, with pikepdf and Pillow, costs
~0.2-0.5 s); one that ran over a limit is killed, one that has read a lot is retired. The child
gets no secrets: a clean environment, no open files but its pipes, and it answers in JSON and
raw bytes, never pickles, so a parser bug exploited inside it cannot reach the web process.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

DEFAULT_SECONDS = 5.0
# Address space of the child: the parsers take ~50 MB; the largest file the policy lets through
# (250,000 objects, or a 50-megapixel image) needs ~350 MB while it is checked.
DEFAULT_MEMORY = 768 * 1024 * 1024
_RETIRE_AFTER_BYTES = 64 * 1024 * 1024  # a child keeps the heap of what it parsed
_IDLE = 4  # children kept between requests
_MAX_ANSWER = 256 * 1024 * 1024
_START_SECONDS = 30.0  # a loaded machine; a child that is not up by then is broken

_idle: list[_Child] = []
_idle_lock = threading.Lock()
_cleanup_registered = False


class Overrun(Exception):
    """The check ran over a limit: `kind` is "time" or "memory" (a child that died counts as
    memory: the cap is what stops a parser that keeps allocating)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Sandbox:
    """Checks in a child process, one at a time, each within `seconds`."""

    def __init__(self, seconds: float = DEFAULT_SECONDS, memory: int = DEFAULT_MEMORY) -> None:
        self.seconds, self.memory = seconds, memory
        self._child: _Child | None = None

    def run(self, request: dict[str, Any], data: bytes) -> tuple[dict[str, Any], bytes | None]:
        """Send `request` (JSON) and `data` to the child; its answer (JSON) and bytes, if any."""
        child = self._child or _take(self.memory)
        self._child = None
        try:
            answer, payload = child.ask(request, data, self.seconds)
        except BaseException:
            child.kill()
            raise
        self._child = child
        return answer, payload

    def close(self) -> None:
        """Give the child back for the next request."""
        if self._child is not None:
            _give_back(self._child)
            self._child = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _Child:
    def __init__(self, memory: int) -> None:
        self.memory = memory
        self.read = 0
        root = Path(__file__).resolve().parent.parent  # where `casefiles` can be imported from
        env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-E", "-s", "-m", "casefiles.sandbox", str(memory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=root,
            env=env,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._to = Connection(os.dup(self.process.stdin.fileno()), readable=False)
        self._from = Connection(os.dup(self.process.stdout.fileno()), writable=False)
        # Ready once the parsers are imported: the time limit of a check is the check's alone.
        try:
            ready = self._from.poll(_START_SECONDS) and self._from.recv_bytes(16) == b"ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise RuntimeError("the intake checker did not start")

    def ask(
        self, request: dict[str, Any], data: bytes, seconds: float
    ) -> tuple[dict[str, Any], bytes | None]:
        try:
            self._to.send_bytes(json.dumps(request).encode())
            self._to.send_bytes(data)
            self.read += len(data)
            if not self._from.poll(seconds):
                raise Overrun("time")
            answer = json.loads(self._from.recv_bytes(_MAX_ANSWER))
            payload = self._from.recv_bytes(_MAX_ANSWER) if answer.get("payload") else None
        except (EOFError, OSError, ValueError):
            raise Overrun("memory") from None
        if answer.get("memory"):
            raise Overrun("memory")
        return answer, payload

    def alive(self) -> bool:
        return self.process.poll() is None and self.read < _RETIRE_AFTER_BYTES

    def kill(self) -> None:
        self._to.close()
        self._from.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def _take(memory: int) -> _Child:
    global _cleanup_registered
    with _idle_lock:
        while _idle:
            child = _idle.pop()
            if child.memory == memory and child.alive():
                return child
            child.kill()
        if not _cleanup_registered:
            atexit.register(_stop_idle)
            _cleanup_registered = True
    return _Child(memory)


def _give_back(child: _Child) -> None:
    with _idle_lock:
        if child.alive() and len(_idle) < _IDLE:
            _idle.append(child)
            return
    child.kill()


def _stop_idle() -> None:
    with _idle_lock:
        while _idle:
            _idle.pop().kill()


def _serve(memory: int) -> None:
    """The child: answer requests on stdin/stdout until stdin closes."""
    from casefiles.images import reencode
    from casefiles.pdf_policy import Finding, inspect_pdf

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    requests = Connection(os.dup(0), writable=False)
    answers = Connection(os.dup(1), readable=False)
    # Nothing a library prints may get into the answers.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    answers.send_bytes(b"ready")
    while True:
        try:
            request = json.loads(requests.recv_bytes())
            data = requests.recv_bytes()
        except EOFError:
            return
        payload: bytes | None = None
        try:
            if request["op"] == "pdf":
                result: bytes | Finding | None = inspect_pdf(data, request["max_pages"])
            else:
                result = reencode(data, request["media_type"])
            if isinstance(result, bytes):
                answer: dict[str, Any] = {"payload": True}
                payload = result
            elif result is not None:
                answer = {"finding": [result.message, result.params]}
            else:
                answer = {}
        except MemoryError:
            answers.send_bytes(json.dumps({"memory": True}).encode())
            return  # a heap that ran out is not trusted with the next file
        answers.send_bytes(json.dumps(answer).encode())
        if payload is not None:
            answers.send_bytes(payload)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
