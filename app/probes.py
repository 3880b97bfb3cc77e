"""Short, independent looks at the portal's parts, for /readyz and the figures of /metrics.

Each part is reached through clients of its own that give up within a few seconds: a database
connection outside the requests' pool (so a probe neither waits for a pooled connection nor
takes the request transaction's lock), and a Redis client with socket timeouts and no retries.
The object store is asked through the request path's own store, whose calls are bounded
by the storage layer. On top of that each look runs in a daemon thread that the request waits
for only until the deadline: a driver stuck on a black-holed host costs the probe its deadline,
not the gunicorn worker. A look still running from an earlier probe is waited for again
instead of started twice, so a long outage does not pile up threads.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from app.runtime import Runtime
from storage.s3_http import request_budget

# scheme://user:password@host → scheme://***@host, whatever a driver puts in its message.
_CREDENTIALS = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_MAX_MESSAGE = 300  # enough for urllib3's nested "Caused by …: Connection refused"


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: str | None = None  # what went wrong, fit to show an operator (no secrets)

    @property
    def ok(self) -> bool:
        return self.error is None


class _Run:
    """One look in a daemon thread; `done` is set when it has an outcome."""

    def __init__(self, name: str, look: Callable[[], Any], describe: Callable[[Exception], str]):
        self.done = threading.Event()
        self.outcome = Outcome()
        self._look = look
        self._describe = describe
        threading.Thread(target=self._run, name=f"probe-{name}", daemon=True).start()

    def _run(self) -> None:
        try:
            self.outcome = Outcome(value=self._look())
        except Exception as exc:  # any failure of a part is an answer, never a crash
            self.outcome = Outcome(error=self._describe(exc))
        finally:
            self.done.set()


class Probes:
    """The looks of one app; `timeout` bounds each of them (PORTAL_OPS_TIMEOUT)."""

    def __init__(self, runtime: Runtime, timeout: float) -> None:
        self.runtime = runtime
        self.timeout = timeout
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._engine: Engine | None = None
        self._redis: Redis | None = None
        self._secrets = _secrets_of(runtime)

    def run(self, looks: dict[str, Callable[[], Any]]) -> dict[str, Outcome]:
        """Start every look at once and wait for all of them until one common deadline."""
        with self._lock:
            runs = {}
            for name, look in looks.items():
                run = self._runs.get(name)
                if run is None or run.done.is_set():
                    run = self._runs[name] = _Run(name, look, self.describe)
                runs[name] = run
        deadline = time.monotonic() + self.timeout
        outcomes = {}
        for name, run in runs.items():
            if run.done.wait(max(0.0, deadline - time.monotonic())):
                outcomes[name] = run.outcome
            else:
                outcomes[name] = Outcome(error=f"no answer within {self.timeout:g} s")
        return outcomes

    def describe(self, error: Exception) -> str:
        """The error's kind and first line, with credentials and known secrets blotted out."""
        cause = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's error
        lines = str(cause).strip().splitlines()
        message = _CREDENTIALS.sub(r"\1***@", lines[0] if lines else "")
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return f"{type(cause).__name__}: {message}"[:_MAX_MESSAGE]

    # --- the parts --------------------------------------------------------------------------

    def connection(self) -> Connection:
        """A connection of its own to the database, which gives up within the timeout."""
        if self._engine is None:
            self._engine = _probe_engine(self.runtime.config.database_url, self.timeout)
        conn = self._engine.connect()
        if conn.dialect.name == "postgresql":
            # Transaction-local, so that it also holds behind PgBouncer in transaction mode.
            ms = str(int(self.timeout * 1000))
            conn.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": ms})
        return conn

    def redis(self) -> Redis | None:
        """A client of its own for the configured Redis, or None when there is none."""
        url = self.runtime.config.redis_url
        if url and self._redis is None:
            self._redis = Redis.from_url(
                url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
            )
        return self._redis

    def check_database(self) -> None:
        with self.connection() as conn:
            conn.execute(text("SELECT 1"))

    def check_objects(self) -> None:
        # Through the store's own protocol: an absent key is an answer, an unreachable store
        # raises OSError. Nothing is ever written under this key. The budget stops S3's
        # retries at the deadline, so the look ends about when the answer is given.
        with request_budget(self.timeout):
            self.runtime.objects.store.exists("ops/readyz-probe")

    def check_redis(self) -> None:
        client = self.redis()
        if client is not None:
            client.ping()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        if self._redis is not None:
            self._redis.close()


def _probe_engine(url: str, timeout: float) -> Engine:
    if url.startswith("sqlite"):
        # No make_engine here: its BEGIN IMMEDIATE would queue a probe behind every writer.
        args: dict[str, Any] = {"timeout": timeout, "check_same_thread": False}
    else:
        args = {"connect_timeout": max(2, round(timeout))}  # libpq: whole seconds, at least 2
    return create_engine(url, poolclass=NullPool, connect_args=args)


def _secrets_of(runtime: Runtime) -> list[str]:
    """Passwords and keys in the configured URLs: never part of an answer."""
    config = runtime.config
    found: list[str | None] = [config.secret_key, config.metrics_token]
    found.append(make_url(config.database_url).password)  # type: ignore[arg-type]
    for url in (config.storage_url, config.redis_url, config.smtp_url):
        if url and "://" in url:
            parts = urlsplit(url)
            found += [parts.password, unquote(parts.password or ""), parts.username]
    return _longest_first(s for s in found if s and len(s) >= 4)


def _longest_first(values: Iterable[str]) -> list[str]:
    # A secret that contains another is blotted out whole before its part is.
    return sorted(set(values), key=len, reverse=True)
