"""The S3 backend fails fast: an S3 server that refuses, or takes connections and never answers,
costs a call seconds (its timeouts and retries), a web request at most its storage budget, and
the cleanup after a failure one short attempt. Real moto server, real TCP proxy in between."""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Iterator

import pytest

from storage.objects import StoreUnavailable, discard, open_store
from storage.s3 import S3Store
from storage.s3_http import Limits, request_budget
from tests.support.s3 import s3_url
from tests.support.services import free_port
from tests.support.tcp_proxy import TcpProxy

QUICK = Limits(connect=0.5, read=0.5, retries=1)


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[TcpProxy]:
    host, port = s3_endpoint.rsplit(":", 1)
    with TcpProxy(host, int(port)) as proxy:
        yield proxy


def proxied_store(proxy: TcpProxy, limits: Limits | None = None) -> S3Store:
    store = open_store(s3_url(proxy.address, f"limits-{uuid.uuid4().hex[:12]}"), limits)
    assert isinstance(store, S3Store)
    return store


def timed_failure(action) -> tuple[float, StoreUnavailable]:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        action()
    return time.monotonic() - started, info.value


def test_a_refusing_server_fails_within_a_second_and_the_store_comes_back(proxy, caplog):
    store = proxied_store(proxy)  # the defaults: 2 s to connect, 5 s to answer, 2 retries
    store.put("a", io.BytesIO(b"before"))
    proxy.cut()
    caplog.set_level(logging.INFO, logger="storage.s3")
    for action in (
        lambda: store.put("b", io.BytesIO(b"x")),
        lambda: store.open("a"),
        lambda: store.exists("a"),
        lambda: list(store.iter_keys()),
    ):
        elapsed, error = timed_failure(action)
        assert elapsed < 2, elapsed  # refused at once; only the retries' short backoff
        assert not isinstance(error, FileNotFoundError)
    down = [r for r in caplog.records if "object store unavailable" in r.getMessage()]
    assert len(down) == 1  # one line an outage, not one a call

    proxy.restore()
    assert store.open("a").read() == b"before"
    assert any("available again" in r.getMessage() for r in caplog.records)


def test_a_silent_server_costs_a_call_its_timeouts_and_retries(proxy):
    store = proxied_store(proxy, QUICK)
    store.exists("warm")  # bucket checked: only the call itself meets the fault
    proxy.cut(blackhole=True)
    elapsed, _ = timed_failure(lambda: store.put("k", io.BytesIO(b"x")))
    assert 0.8 < elapsed < 3, elapsed  # two attempts of 0.5 s, and a little backoff


def test_a_request_budget_bounds_all_calls_together(proxy):
    patient = Limits(connect=1, read=1, retries=10)  # 11+ seconds for one call alone
    store = proxied_store(proxy, patient)
    store.exists("warm")
    proxy.cut(blackhole=True)
    with request_budget(1.5):
        elapsed, _ = timed_failure(lambda: store.put("k", io.BytesIO(b"x")))
        assert elapsed < 3.5, elapsed
        # Spent: the next call of the same request fails without waiting at all.
        again, error = timed_failure(lambda: store.exists("k"))
        assert again < 0.2 and "budget" in str(error)


def test_time_outside_storage_calls_does_not_count(proxy):
    store = proxied_store(proxy, QUICK)
    with request_budget(0.5):
        time.sleep(0.6)  # a slow client's upload, say
        store.put("k", io.BytesIO(b"x"))
    assert store.exists("k")


def test_cleanup_after_a_failure_is_one_short_try_and_leaves_the_rest(proxy, caplog):
    store = proxied_store(proxy)  # default limits: a full retry would take seconds a key
    keys = [f"orphan/{n}" for n in range(50)]
    store.put_many([(key, io.BytesIO(b"x")) for key in keys])
    proxy.cut(blackhole=True)
    started = time.monotonic()
    discard(store, keys)
    assert time.monotonic() - started < 2.5  # one attempt of ~1 s, then it stops
    assert "left 50 orphaned object(s) for `portal storage gc`" in caplog.text
    proxy.restore()
    assert sorted(store.iter_keys()) == sorted(keys)  # still there, for gc


def test_opening_a_store_contacts_no_server():
    store = open_store(s3_url(f"127.0.0.1:{free_port()}", "nobody-home"), QUICK)
    # Nothing happened yet; the first call finds the server away, quickly.
    elapsed, _ = timed_failure(lambda: store.exists("k"))
    assert elapsed < 2


def test_bad_limits_are_refused():
    with pytest.raises(ValueError):
        Limits(connect=0)
    with pytest.raises(ValueError):
        Limits(retries=-1)
