"""For operators (issue 7): /healthz, /readyz naming the part that is away, /metrics behind its
token with request, delivery, outbox and rq figures, and gunicorn's workers adding up.

Parts are made unreachable for real: a separate app pointed at a closed port (with a secret in
its URL, which must never show), and in the services profile a TCP proxy in front of the real
PostgreSQL, S3 server and Redis that is cut, black-holed and restored."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import operator
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue, Retry, SimpleWorker
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app import create_app
from app.runtime import Runtime
from mailbox.models import Delivery, DeliveryStatus
from storage.outbox import OutboxJob
from tests.api.support import Api, letter
from tests.conftest import PROFILE, wait_for
from tests.support.s3 import s3_url
from tests.support.services import free_port, portal_executable
from tests.support.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-for-tests"
SECRET = "never-shown-s3cr3t"  # in every URL that points at a closed port
TIMEOUT = 2.0  # PORTAL_OPS_TIMEOUT of the separate apps (2 shared cores: room for the others)
services_only = pytest.mark.skipif(PROFILE != "services", reason="needs the services profile")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def token(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(runtime.config, "metrics_token", TOKEN)
    return TOKEN


@pytest.fixture
def api(app: Flask, demo: dict[str, Any]) -> Api:
    """The demo's specialist application with its real key (as tests/api/conftest.py)."""
    return Api(app.test_client(), demo["api_client"]["api_key"])


@contextlib.contextmanager
def separate_app(runtime: Runtime, **changes: Any) -> Iterator[Flask]:
    """An app of its own on the suite's configuration, with `changes`."""
    config = dataclasses.replace(
        runtime.config, metrics_token=TOKEN, ops_timeout=TIMEOUT, **changes
    )
    app = create_app(config)
    try:
        yield app
    finally:
        probes = app.extensions["portal_ops"].probes
        if probes is not None:
            probes.close()
        app.extensions["portal"].close()


def metrics_text(client: FlaskClient) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=")
    return response.get_data(as_text=True)


def scrape(client: FlaskClient) -> Samples:
    return parse(metrics_text(client))


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def requests_of(samples: Samples, endpoint: str, status: str = "200") -> float:
    labels = {"endpoint": endpoint, "method": "GET", "status": status}
    return value(samples, "portal_http_requests_total", **labels) or 0.0


# --- health and readiness ----------------------------------------------------------------------


def test_healthz_answers(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_readyz_answers_when_every_part_does(client: FlaskClient, runtime: Runtime) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_data(as_text=True)
    expected = {"database": "ok", "objects": "ok"}
    if runtime.config.redis_url:  # the embedded profile has no Redis, and /readyz no line for it
        expected["redis"] = "ok"
    assert response.get_json() == expected


CLOSED: dict[str, Callable[[int], dict[str, str]]] = {
    "database": lambda port: {
        "database_url": f"postgresql+psycopg://portal:{SECRET}@127.0.0.1:{port}/portal"
    },
    "objects": lambda port: {
        "storage_url": f"s3://portal:{SECRET}@127.0.0.1:{port}/portal-test?secure=false"
    },
    "redis": lambda port: {"redis_url": f"redis://:{SECRET}@127.0.0.1:{port}/0"},
}


@pytest.mark.parametrize("part", sorted(CLOSED))
def test_readyz_names_the_part_that_is_unreachable(runtime: Runtime, part: str) -> None:
    with separate_app(runtime, **CLOSED[part](free_port())) as app:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200  # the process answers all the same

        started = time.monotonic()
        response = client.get("/readyz")
        assert time.monotonic() - started < TIMEOUT + 2  # a closed port answers at once
        assert response.status_code == 503
        # JSON, not the error page: the check never went through the request's transaction.
        body = response.get_json()
        parts = {"database", "objects"} | ({"redis"} if _redis(app) else set())
        assert set(body) == parts
        assert body[part].startswith("unreachable: "), body
        assert {name: body[name] for name in parts - {part}} == dict.fromkeys(parts - {part}, "ok")
        assert SECRET not in response.get_data(as_text=True)

        # The scrape still answers, says which source it could not read, and leaks nothing.
        text = metrics_text(client)
        assert SECRET not in text
        if part != "objects":
            assert value(parse(text), "portal_metrics_source_up", source=part) == 0


def _redis(app: Flask) -> bool:
    return bool(app.extensions["portal"].config.redis_url)


def _through(proxy: TcpProxy, runtime: Runtime, part: str) -> dict[str, str]:
    """The setting that sends `part` through `proxy`."""
    config = runtime.config
    if part == "database":
        url = make_url(config.database_url).set(host="127.0.0.1", port=proxy.port)
        return {"database_url": url.render_as_string(hide_password=False)}
    if part == "objects":
        bucket = urlsplit(config.storage_url).path.strip("/")
        return {"storage_url": s3_url(proxy.address, bucket)}
    database = urlsplit(config.redis_url or "").path or "/0"
    return {"redis_url": f"redis://{proxy.address}{database}"}


def _target(runtime: Runtime, part: str) -> tuple[str, int]:
    config = runtime.config
    if part == "database":
        url = make_url(config.database_url)
        return url.host or "127.0.0.1", url.port or 5432
    parts = urlsplit(config.storage_url if part == "objects" else config.redis_url or "")
    return parts.hostname or "127.0.0.1", parts.port or 0


@services_only
@pytest.mark.parametrize("part", ["database", "objects", "redis"])
def test_readyz_follows_a_cut_a_blackhole_and_the_return(runtime: Runtime, part: str) -> None:
    with (
        TcpProxy(*_target(runtime, part)) as proxy,
        separate_app(runtime, **_through(proxy, runtime, part)) as app,
    ):
        client = app.test_client()
        wait_for(lambda: client.get("/readyz").status_code == 200, timeout=15)

        proxy.cut()
        refused = client.get("/readyz")
        assert refused.status_code == 503
        assert refused.get_json()[part].startswith("unreachable: "), refused.get_json()

        proxy.cut(blackhole=True)  # connections accepted and never answered
        started = time.monotonic()
        silent = client.get("/readyz")
        assert time.monotonic() - started < TIMEOUT + 2  # the deadline, not the driver's wait
        assert silent.status_code == 503
        body = silent.get_json()
        assert body[part].startswith("unreachable: ")
        assert all(answer == "ok" for name, answer in body.items() if name != part), body

        proxy.restore()
        wait_for(lambda: client.get("/readyz").status_code == 200, timeout=15)


# --- metrics -----------------------------------------------------------------------------------


def test_metrics_do_not_exist_without_a_token_setting(
    client: FlaskClient, runtime: Runtime
) -> None:
    assert runtime.config.metrics_token is None
    assert client.get("/metrics").status_code == 404
    answer = client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert answer.status_code == 404
    assert b"portal_" not in answer.data


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x", "Bearer "]
)
def test_metrics_refuse_without_the_token(
    client: FlaskClient, token: str, header: str | None
) -> None:
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"portal_" not in response.data
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_requests_are_counted_by_endpoint_and_status_never_by_path(
    client: FlaskClient, token: str, api: Api
) -> None:
    before = scrape(client)
    assert client.get("/healthz").status_code == 200
    unknown = uuid.uuid4()
    assert api.get(f"/deliveries/{unknown}").status_code == 404
    assert client.get(f"/no-such-page/{unknown}").status_code == 404
    text = metrics_text(client)
    after = parse(text)

    assert requests_of(after, "ops.healthz") == requests_of(before, "ops.healthz") + 1
    duration = "portal_http_request_duration_seconds_count"
    labels = {"endpoint": "ops.healthz", "method": "GET"}
    assert (value(after, duration, **labels) or 0) == (value(before, duration, **labels) or 0) + 1
    assert requests_of(after, "unmatched", "404") == requests_of(before, "unmatched", "404") + 1
    grown = [
        dict(labels)["endpoint"]
        for (name, labels), count in after.items()
        if name == "portal_http_requests_total"
        and dict(labels)["status"] == "404"
        and count > before.get((name, labels), 0)
    ]
    assert sorted(grown)[0].startswith("api.") and "unmatched" in grown, grown
    assert str(unknown) not in text and "no-such-page" not in text


def test_deliveries_by_state_and_the_outbox_after_a_delivery(
    client: FlaskClient, token: str, api: Api, demo: dict[str, Any], runtime: Runtime
) -> None:
    states = [state.value for state in DeliveryStatus]
    before = scrape(client)
    created = api.deliver(letter(demo))
    assert created.status_code == 201, created.get_data(as_text=True)

    def agrees() -> Samples | None:
        # One scrape and the database at one moment (in the services profile the worker runs
        # the delivery's jobs meanwhile, and the outbox empties).
        samples = scrape(client)
        with runtime.sessions() as session:
            rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
            by_state = {status.value: count for status, count in rows}
            undone = OutboxJob.done_at.is_(None)
            depth = session.scalar(select(func.count()).select_from(OutboxJob).where(undone))
        shown = {state: value(samples, "portal_deliveries", state=state) for state in states}
        if shown != {state: by_state.get(state, 0) for state in states}:
            return None
        return samples if value(samples, "portal_outbox_depth") == depth else None

    samples = wait_for(agrees)
    total = sum(value(samples, "portal_deliveries", state=state) or 0 for state in states)
    earlier = sum(value(before, "portal_deliveries", state=state) or 0 for state in states)
    assert total == earlier + 1
    assert (value(samples, "portal_deliveries", state="available") or 0) >= 1
    assert value(samples, "portal_outbox_given_up") == 0
    assert value(samples, "portal_metrics_source_up", source="database") == 1
    if runtime.queue is None:  # embedded: no Redis, so no rq figures at all
        assert not any(name == "portal_jobs" for name, _ in samples)
        assert value(samples, "portal_metrics_source_up", source="redis") is None


@services_only
def test_rq_job_figures_come_from_the_queues_registries(runtime: Runtime) -> None:
    name = f"ops-test-{uuid.uuid4().hex[:8]}"  # a queue of its own: the suite's worker ignores it
    redis = Redis.from_url(runtime.config.redis_url or "")
    queue = Queue(name, connection=redis)
    try:
        queue.enqueue(operator.truediv, 1, 1)
        queue.enqueue(operator.truediv, 1, 0, retry=Retry(max=1, interval=3600))  # tries again
        queue.enqueue(operator.truediv, 2, 0)  # fails for good
        SimpleWorker([queue], connection=redis).work(burst=True, logging_level="ERROR")
        queue.enqueue(operator.truediv, 3, 1)  # nobody works this one
        with separate_app(runtime, queue_name=name) as app:
            samples = scrape(app.test_client())
        jobs = {
            state: value(samples, "portal_jobs", queue=name, state=state)
            for state in ("queued", "started", "scheduled", "deferred", "failed")
        }
        assert jobs == {"queued": 1, "started": 0, "scheduled": 1, "deferred": 0, "failed": 1}
        assert value(samples, "portal_rq_workers", queue=name) == 0
        assert value(samples, "portal_metrics_source_up", source="redis") == 1
    finally:
        queue.delete(delete_jobs=True)
        redis.delete(*(f"rq:{kind}:{name}" for kind in ("scheduled", "failed", "finished", "wip")))
        for key in redis.scan_iter(f"rq:*:{name}*"):
            redis.delete(key)
        redis.close()


# --- gunicorn ----------------------------------------------------------------------------------


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:  # noqa: S310
            return r.status, r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def _healthz_counts(folder: Path) -> dict[int, float]:
    """Each live worker's own count of /healthz answers, read from its file."""
    counts: dict[int, float] = {}
    for path in folder.glob("counter_*.db"):
        pid = path.stem.removeprefix("counter_")
        if not pid.isdigit():
            continue  # the archive of gone workers
        for key, count, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            _, sample, labels, _ = json.loads(key)
            if sample == "portal_http_requests_total" and labels["endpoint"] == "ops.healthz":
                counts[int(pid)] = counts.get(int(pid), 0) + count
    return counts


def test_gunicorn_workers_add_up_in_one_scrape(runtime: Runtime, tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    port = free_port()
    env = {
        **os.environ,
        **runtime.config.as_env(),
        "PORTAL_ALLOW_LOCAL_KEYS": "1",
        "PORTAL_METRICS_TOKEN": TOKEN,
        "PORTAL_WEB_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }
    gunicorn = str(Path(portal_executable()).parent / "gunicorn")
    log = tmp_path / "gunicorn.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        # From the project root, so gunicorn reads the repository's gunicorn.conf.py.
        server = subprocess.Popen(
            [gunicorn, f"--bind=127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        sent = 0

        def healthz(_: int) -> int:
            try:
                return _get(f"{base}/healthz?token=secret-in-the-query")[0]
            except OSError:  # not listening yet
                return 0

        def both_answered() -> bool:
            nonlocal sent
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                sent += sum(status == 200 for status in pool.map(healthz, range(16)))
            counts = _healthz_counts(folder)
            return len(counts) == 2 and all(counts.values())

        wait_for(both_answered, timeout=60)
        per_worker = _healthz_counts(folder)
        status, text = _get(f"{base}/metrics", TOKEN)
        assert status == 200
        samples = parse(text)
        assert requests_of(samples, "ops.healthz") == sent == sum(per_worker.values())
        assert _get(f"{base}/metrics")[0] == 401

        # A worker killed outright: the master folds its counts, the totals stay.
        gone = min(per_worker)
        os.kill(gone, signal.SIGKILL)
        wait_for(lambda: not (folder / f"counter_{gone}.db").exists(), timeout=20)
        assert (folder / "counter_archive.db").exists()
        status, text = _get(f"{base}/metrics", TOKEN)
        assert status == 200
        after = parse(text)
        assert requests_of(after, "ops.healthz") == sent
        labels = {"endpoint": "ops.healthz", "method": "GET"}
        assert value(after, "portal_http_request_duration_seconds_count", **labels) == sent
        bucket = "portal_http_request_duration_seconds_bucket"
        assert value(after, bucket, **labels, le="+Inf") == sent
    finally:
        server.terminate()
        server.wait(30)
    output = log.read_text()
    assert "GET /healthz HTTP/1.1" in output  # the access log, without the query string
    assert "secret-in-the-query" not in output and TOKEN not in output
    assert "Traceback" not in output, output
