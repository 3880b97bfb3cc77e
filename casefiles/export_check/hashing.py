"""SHA-256 of an export's members in a thread of its own, a few chunks behind the reader.

Reading and inflating a member (file I/O, zlib) and hashing it (hashlib) release the GIL: on
two cores they overlap instead of adding up. At most _IN_FLIGHT chunks wait to be hashed, so
memory stays flat however far the reader gets ahead.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

_IN_FLIGHT = 8  # chunks of up to 1 MB


class BackgroundHashing:
    """`new()` a digest, `update(digest, chunk)` it, then `hexdigest(digest)`: a future of the
    result. One worker: a digest's updates run in the order given."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="export-check-hash")
        self._room = threading.BoundedSemaphore(_IN_FLIGHT)

    def __enter__(self) -> BackgroundHashing:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def new(self) -> Any:
        return hashlib.sha256()

    def update(self, digest: Any, chunk: bytes) -> None:
        self._room.acquire()
        try:
            future = self._pool.submit(digest.update, chunk)
        except BaseException:
            self._room.release()
            raise
        future.add_done_callback(self._release)

    def hexdigest(self, digest: Any) -> Future[str]:
        return self._pool.submit(digest.hexdigest)

    def _release(self, _future: Future[Any]) -> None:
        self._room.release()
