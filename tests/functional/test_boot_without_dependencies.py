"""The portal starts while its database, object store and Redis are away, answers 503 for what
needs them, and serves as soon as they are back: the web app (`create_app`, and `wsgi:app`
under gunicorn), `portal worker` and `portal scheduler`. Each dependency sits behind a TCP
proxy of the tests that refuses connections until it is restored."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

from app.config import Config
from tests.api.support import Api, assert_problem, counts, letter
from tests.conftest import PROFILE
from tests.support.outages import Proxied, portal, proxied, s3_target
from tests.support.services import free_port, portal_executable

ROOT = Path(__file__).resolve().parents[2]
services_only = pytest.mark.skipif(
    PROFILE != "services", reason="the worker and scheduler run on Redis (services profile)"
)


@pytest.fixture
def away(runtime) -> Iterator[Proxied]:
    """The session's dependencies behind proxies, all cut: the database (PostgreSQL), the S3
    server (the session's, or one of this test's in the embedded profile) and Redis."""
    with s3_target(runtime.config) as s3, proxied(runtime.config, s3) as deps:
        deps.cut()
        yield deps


def test_create_app_boots_without_its_dependencies_and_serves_once_back(demo, away):
    started = time.monotonic()
    with portal(away.config) as (app, portal_runtime):
        assert time.monotonic() - started < 5  # nothing waited for a connection
        api = Api(app.test_client(), demo["api_client"]["api_key"])
        if "database" in away.proxies:
            # The key check needs the database: 503, not a traceback and not a 401.
            busy = api.get(f"/deliveries/{uuid.uuid4()}")
            assert_problem(busy, 503, "unavailable")
            assert busy.headers["Retry-After"] == "5"
            away.proxies["database"].restore()
        busy = api.deliver(letter(demo))  # the document needs the object store
        assert_problem(busy, 503, "unavailable")
        assert busy.headers["Retry-After"] == "5"

        away.restore()
        before = counts(portal_runtime)
        delivered = api.deliver(letter(demo))
        assert delivered.status_code == 201, delivered.get_data(as_text=True)
        assert counts(portal_runtime)["Delivery"] == before["Delivery"] + 1


def child_env(config: Config, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    return {**env, **config.as_env(), "PORTAL_ALLOW_LOCAL_KEYS": "1", **extra}


def http_status(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (our own server)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout} s")


def answers(url: str) -> int | None:
    try:
        return http_status(url)
    except OSError:
        return None


def test_gunicorn_boots_wsgi_app_without_dependencies(demo, away, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "wsgi:app",
                "--workers=1",
                f"--bind=127.0.0.1:{port}",
            ],
            cwd=ROOT,  # with the project's gunicorn.conf.py
            env=child_env(away.config),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # The login page needs none of the dependencies: the worker booted and serves.
        assert wait_until(lambda: answers(f"{base}/login") == 200, 30, "the login page")
        # The API key is checked against the database.
        delivery = f"{base}/api/v1/deliveries/{uuid.uuid4()}"
        bearer = {"Authorization": f"Bearer {demo['api_client']['api_key']}"}
        assert http_status(delivery, bearer) == (503 if "database" in away.proxies else 404)
        away.restore()
        assert http_status(delivery, bearer) == 404
        assert server.poll() is None, log.read_text()
    finally:
        server.terminate()
        server.wait(30)


@services_only
@pytest.mark.services
def test_worker_and_scheduler_start_without_dependencies_and_work_once_back(away, tmp_path):
    # Queues of their own: no worker takes what the scheduler enqueues, so it can be counted.
    queue_name = f"boot-{uuid.uuid4().hex[:8]}"
    processes = {}
    logs = {}
    for name, args in (("worker", ["worker", "--burst"]), ("scheduler", ["scheduler"])):
        logs[name] = tmp_path / f"{name}.log"
        env = child_env(away.config, PORTAL_QUEUE=f"{queue_name}-{name}")
        with logs[name].open("wb") as out:
            processes[name] = subprocess.Popen(
                [portal_executable(), *args],
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
    try:
        time.sleep(4)  # past every connection attempt of the start, and a retry or two
        for name, process in processes.items():
            assert process.poll() is None, f"{name} exited: {logs[name].read_text()}"

        away.restore()
        # The burst worker registers once Redis answers, finds its queue empty and ends.
        assert processes["worker"].wait(60) == 0, logs["worker"].read_text()
        # The scheduler registers and enqueues its periodic jobs (no worker takes this queue).
        redis = Redis.from_url(away.config.redis_url or "")
        queue = Queue(f"{queue_name}-scheduler", connection=redis)
        wait_until(lambda: queue.count > 0, 30, "the scheduler's periodic jobs")
        assert processes["scheduler"].poll() is None, logs["scheduler"].read_text()
        queue.empty()
        queue.connection.close()
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait(30)
