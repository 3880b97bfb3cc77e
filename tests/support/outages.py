"""The portal with its dependencies behind TCP proxies (tests/support/tcp_proxy.py), for tests
that take the database, the object store or Redis away and give them back."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy.engine import make_url

from app.config import Config
from app.factory import create_app
from app.runtime import Runtime
from tests.support.s3 import s3_url, start_s3_server
from tests.support.tcp_proxy import TcpProxy


@contextmanager
def s3_target(config: Config) -> Iterator[tuple[str, str]]:
    """The S3 server ("host:port") and bucket of the portal's objects: the session's (services
    profile), or a server started for the caller (embedded, whose store is a folder)."""
    if config.storage_url.startswith("s3://"):
        parts = urlsplit(config.storage_url)
        yield parts.netloc.rpartition("@")[2], parts.path.strip("/")
        return
    endpoint, stop = start_s3_server()
    try:
        yield endpoint, "portal-outages"
    finally:
        stop()


def proxy_to(address: str) -> TcpProxy:
    host, port = address.rsplit(":", 1)
    return TcpProxy(host, int(port))


@contextmanager
def portal(config: Config, **changes: Any) -> Iterator[tuple[Flask, Runtime]]:
    """A portal of its own (`create_app`) with `changes` to `config`; closed at the end."""
    app = create_app(dataclasses.replace(config, **changes))
    try:
        yield app, app.extensions["portal"]
    finally:
        app.extensions["portal"].close()


@dataclass
class Proxied:
    """The configuration's dependencies behind proxies: `config` reaches them through these."""

    config: Config
    proxies: dict[str, TcpProxy] = field(default_factory=dict)  # "database", "s3", "redis"

    def cut(self) -> None:
        for proxy in self.proxies.values():
            proxy.cut()

    def restore(self) -> None:
        for proxy in self.proxies.values():
            proxy.restore()


@contextmanager
def proxied(config: Config, s3: tuple[str, str] | None = None) -> Iterator[Proxied]:
    """`config` with PostgreSQL, Redis and the S3 server `s3` (endpoint, bucket) reached
    through proxies; SQLite, a folder store and no Redis stay as they are."""
    with ExitStack() as stack:
        result = Proxied(config)
        changes: dict[str, Any] = {}
        url = make_url(config.database_url)
        if url.get_backend_name() == "postgresql":
            proxy = stack.enter_context(TcpProxy(url.host or "127.0.0.1", url.port or 5432))
            result.proxies["database"] = proxy
            changes["database_url"] = url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                False
            )
        if s3 is not None:
            proxy = stack.enter_context(proxy_to(s3[0]))
            result.proxies["s3"] = proxy
            changes["storage_url"] = s3_url(proxy.address, s3[1])
        if config.redis_url:
            redis = urlsplit(config.redis_url)
            proxy = stack.enter_context(TcpProxy(redis.hostname or "127.0.0.1", redis.port or 6379))
            result.proxies["redis"] = proxy
            changes["redis_url"] = redis._replace(netloc=proxy.address).geturl()
        result.config = dataclasses.replace(config, **changes)
        yield result
