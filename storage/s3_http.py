"""How long the S3 backend may wait: timeouts, retries and a time budget per web request.

minio's own client waits five minutes for an answer and tries five times, so an unreachable S3
server held a web worker until the server's worker timeout killed it. Here every S3 call waits
at most `Limits.connect` for a connection and `Limits.read` for each answer, and tries again at
most `Limits.retries` times (refused, timed out, or a 5xx answer). On top of that:

- `request_budget`: the time that all S3 calls of one web request may take together (time spent
  on other things, such as reading a slow client's upload, does not count); once it is spent,
  the next call fails at once and a running one is not tried again;
- `hurry`: one short attempt, no retries, for the best-effort cleanup after a failed request,
  so that cleaning up never blocks the answer (`storage.objects.discard`).

Both are context variables of the calling thread: the limits of one request never touch another.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

import certifi
import urllib3
from urllib3.util import Retry, Timeout

__all__ = ["Limits", "end_budget", "http_client", "hurry", "request_budget", "start_budget"]

_budget: ContextVar[_Budget | None] = ContextVar("storage_budget", default=None)
_hurried: ContextVar[bool] = ContextVar("storage_hurried", default=False)
_HURRY_SECONDS = 1.0
# 5xx answers worth another try; a proxy's 502/504 too (minio's own list).
_RETRY_STATUSES = (500, 502, 503, 504)


@dataclass(frozen=True)
class Limits:
    """Seconds to wait for a connection and for each answer, and how many more tries."""

    connect: float = 2.0
    read: float = 5.0
    retries: int = 2

    def __post_init__(self) -> None:
        if self.connect <= 0 or self.read <= 0 or self.retries < 0:
            raise ValueError("storage timeouts must be positive and retries not negative")


class _Budget:
    """What is left of a request's storage time; each call takes off what it used."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds


class _BudgetedRetry(Retry):
    """urllib3's retry that also counts as exhausted once the request's budget is spent."""

    deadline: float | None = None

    def new(self, **kw: Any) -> _BudgetedRetry:
        retry = super().new(**kw)
        retry.deadline = self.deadline
        return retry

    def is_exhausted(self) -> bool:
        spent = self.deadline is not None and time.monotonic() >= self.deadline
        return spent or super().is_exhausted()


class _LimitedPool(urllib3.PoolManager):
    """The pool minio talks through (its `http_client`): every call gets this thread's limits.

    minio passes no timeout or retries of its own to `urlopen`, so they are set here per call.
    """

    def __init__(self, limits: Limits) -> None:
        super().__init__(
            maxsize=10,  # minio's own default
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        )
        self.limits = limits

    # PoolManager's own signature, which urllib3 declares against RequestMethods' the same way.
    def urlopen(  # type: ignore[override]
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> urllib3.BaseHTTPResponse:
        if "retries" in kw or "timeout" in kw:  # a caller that knows better
            return super().urlopen(method, url, redirect=redirect, **kw)
        budget = _budget.get()
        started = time.monotonic()
        kw["retries"], kw["timeout"] = self._attempts(budget, started)
        try:
            return super().urlopen(method, url, redirect=redirect, **kw)
        finally:
            if budget is not None:
                budget.left -= time.monotonic() - started

    def _attempts(self, budget: _Budget | None, now: float) -> tuple[Retry, Timeout]:
        limits = self.limits
        if _hurried.get():
            return Retry(total=0), Timeout(_HURRY_SECONDS, _HURRY_SECONDS)
        connect, read = limits.connect, limits.read
        deadline = None
        if budget is not None:
            if budget.left <= 0:
                raise urllib3.exceptions.TimeoutError("the request's storage time budget is spent")
            deadline = now + budget.left
            connect, read = min(connect, budget.left), min(read, budget.left)
        retry = _BudgetedRetry(
            total=limits.retries,
            backoff_factor=0.2,
            backoff_max=1.0,
            status_forcelist=_RETRY_STATUSES,
            # A busy server's Retry-After could be minutes; our budget decides instead.
            respect_retry_after_header=False,
        )
        retry.deadline = deadline
        return retry, Timeout(connect=connect, read=read)


def http_client(limits: Limits) -> urllib3.PoolManager:
    """The HTTP client to give minio: waits and retries bounded by `limits` and the budgets."""
    return _LimitedPool(limits)


def start_budget(seconds: float) -> Token[_Budget | None]:
    """From now on, this thread's S3 calls take at most `seconds` together; hand the token to
    `end_budget`."""
    return _budget.set(_Budget(seconds))


def end_budget(token: Token[_Budget | None]) -> None:
    _budget.reset(token)


@contextlib.contextmanager
def request_budget(seconds: float) -> Iterator[None]:
    """`start_budget` … `end_budget` as a block."""
    token = start_budget(seconds)
    try:
        yield
    finally:
        end_budget(token)


@contextlib.contextmanager
def hurry() -> Iterator[None]:
    """Inside the block each S3 call is one attempt of at most a second: for cleanup that is
    allowed to fail (what it leaves, `portal storage gc` removes later)."""
    token = _hurried.set(True)
    try:
        yield
    finally:
        _hurried.reset(token)
