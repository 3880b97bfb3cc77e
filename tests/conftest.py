"""Test set-up. PORTAL_TEST_PROFILE chooses the parts the whole suite runs on:

- embedded (default): SQLite file, folder object store, jobs in-process;
- services: PostgreSQL, Redis with a real `portal worker` process, and an S3 server over HTTP.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Before the app is imported: cheap password hashes, the suite creates hundreds of accounts.
os.environ.setdefault("PORTAL_INSECURE_FAST_HASHING", "1")

from flask import Flask
from flask.testing import FlaskClient
from reportlab.pdfgen import canvas
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from werkzeug.test import EnvironBuilder

from app import create_app
from app.config import Config
from app.migrate import upgrade
from app.models import Base
from app.runtime import Runtime
from tests.support import services

PROFILE = os.environ.get("PORTAL_TEST_PROFILE", "embedded")


def pytest_report_header() -> str:
    return f"portal test profile: {PROFILE}"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) that the portal, and its worker, send notices to."""
    from tests.support.smtp import start_smtp_server

    server = start_smtp_server()
    yield server
    server.stop()


@pytest.fixture
def smtp_messages(smtp_server: Any) -> list[Any]:
    """The e-mails received during this test."""
    smtp_server.messages.clear()
    smtp_server.received.clear()
    return smtp_server.messages  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def tsa_server() -> Iterator[Any]:
    """A real, independent RFC 3161 TSA over HTTP: `openssl ts -reply` (tests/support/tsa.py)."""
    from tests.support.tsa import start_tsa

    server = start_tsa()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def portal_config(
    tmp_path_factory: pytest.TempPathFactory, smtp_server: Any, tsa_server: Any
) -> Iterator[Config]:
    instance = tmp_path_factory.mktemp("instance")
    common = {
        "instance_path": instance,
        "secret_key": "test-secret",
        "testing": True,
        "keys_dir": instance / "keys",
        "kek": None,
        # The services profile runs on PostgreSQL, where keys beside the data are refused
        # (app/keys.py); the suite accepts them. tests/functional/test_key_sources.py does not.
        "allow_local_keys": True,
        "max_upload_mb": 2,
        "smtp_url": smtp_server.url,
    }
    if PROFILE == "embedded":
        yield Config.from_env(
            **common,
            database_url=f"sqlite:///{instance / 'portal.sqlite3'}",
            storage_url=str(instance / "objects"),
            redis_url=None,
        )
        return
    from tests.support.s3 import s3_url, start_s3_server

    stops: list[Callable[[], None]] = []
    try:
        database_url, drop = services.postgres_database()
        stops.append(drop)
        redis_url, stop_redis = services.redis_server(instance)
        stops.append(stop_redis)
        endpoint, stop_s3 = start_s3_server()
        stops.append(stop_s3)
        yield Config.from_env(
            **common,
            database_url=database_url,
            storage_url=s3_url(endpoint, "portal-test"),
            redis_url=redis_url,
            # Production-like: anchors and receipts time-stamped by an independent TSA (the
            # embedded profile uses the portal's own).
            tsa_url=tsa_server.url,
            tsa_ca_file=tsa_server.ca_file,
        )
    finally:
        for stop in reversed(stops):
            stop()


@pytest.fixture(scope="session")
def runtime(portal_config: Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """The session's portal services; in the services profile with a real `portal worker`
    process (started from another directory), so every job any test enqueues gets done."""
    rt = Runtime(portal_config)
    upgrade(rt.engine)
    proc = None
    if rt.queue is not None:
        cwd = tmp_path_factory.mktemp("elsewhere")
        proc = services.start_worker(rt.config.as_env(), cwd, cwd / "worker.log")
    yield rt
    if proc is not None:
        proc.terminate()
        proc.wait(10)
    rt.close()


@pytest.fixture(scope="session")
def app(runtime: Runtime) -> Flask:
    application = create_app(runtime.config)
    # Share the session runtime so both see one engine (and tests can reach its services).
    application.extensions["portal"].close()
    application.extensions["portal"] = runtime
    return application


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests that commit (HTTP, CLI, browser) leave nothing behind for the next one."""
    yield
    if "runtime" not in request.fixturenames:
        return
    rt: Runtime = request.getfixturevalue("runtime")
    wait_for_idle_worker(rt)
    tables = list(reversed(Base.metadata.sorted_tables))
    for attempt in range(5):
        try:
            with rt.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # One round trip of DELETEs, children first: on a test's few rows about 1 ms,
                    # where TRUNCATE (new files for every table) took 80 ms, 1,400 times a run.
                    deletes = "; ".join(f'DELETE FROM "{t.name}"' for t in tables)  # noqa: S608
                    conn.execute(text(deletes))  # our own table names
                else:
                    for table in tables:
                        conn.execute(table.delete())
            break
        except OperationalError:
            # A worker job that started late can still deadlock with the cleaning; try again.
            if attempt == 4:
                raise
            time.sleep(0.2)
    store = rt.objects.store
    for key in list(store.iter_keys()):
        store.delete(key)


def wait_for_idle_worker(rt: Runtime, timeout: float = 20.0) -> None:
    """Let the worker finish what the test enqueued, so cleaning does not race its jobs."""
    if rt.queue is None:
        return
    from rq.registry import StartedJobRegistry

    started = StartedJobRegistry(queue=rt.queue)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (rt.queue.count or started.count):
        time.sleep(0.05)


@pytest.fixture
def db_session(runtime: Runtime) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back: for domain-level tests."""
    connection = runtime.engine.connect()
    outer = connection.begin()
    # The runtime's sessions, on this connection: they carry its services (storage/work.py).
    # Expiring on commit as a plain Session does: a test's commit is a savepoint's release.
    session = runtime.sessions(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=True
    )
    yield session
    session.close()
    outer.rollback()
    connection.close()


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One SoftHSM2 token for the whole session (SoftHSM2 reads its config once a process)."""
    from tests.support.softhsm import SoftHsmToken, softhsm_token

    label, pin = "portal", "1234"
    module_path, conf_path = softhsm_token(tmp_path_factory.mktemp("softhsm"), label, pin)
    return SoftHsmToken(module_path, conf_path, label, pin)


@pytest.fixture
def client(app: Flask) -> FlaskClient:

    return app.test_client()


def make_pdf(text_line: str = "Verfügung", pages: int = 1) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for n in range(pages):
        pdf.drawString(72, 720, f"{text_line} – Seite {n + 1}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@pytest.fixture
def pdf() -> Callable[..., bytes]:
    return make_pdf


@pytest.fixture
def demo(runtime: Runtime) -> dict[str, dict[str, Any]]:
    """The demo portal's accounts by role name (first of each role), freshly created."""
    from app.demo import create_demo

    path = runtime.config.instance_path / "demo-accounts.json"
    path.unlink(missing_ok=True)
    accounts = create_demo(runtime)
    by_role: dict[str, dict[str, Any]] = {}
    for account in accounts:
        by_role.setdefault(account["role"], account)
        by_role.setdefault(account["login"], account)
    by_role["other_resident"] = [a for a in accounts if a["role"] == "resident"][1]
    by_role["other_clerk"] = [a for a in accounts if a["role"] == "clerk"][1]
    assert json.loads(path.read_text())["accounts"] == accounts
    return by_role


def login(client: FlaskClient, account: dict[str, Any]) -> None:
    page = client.get("/login")
    token = csrf_token(page.get_data(as_text=True))
    response = client.post(
        "/login",
        data={"login": account["login"], "password": account["password"], "csrf_token": token},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def post_multipart(client: FlaskClient, path: str, data: dict[str, Any]) -> Any:
    """POST a multipart form and close the request body werkzeug spooled to disk for it.

    Werkzeug's test client leaves that temporary file to the garbage collector, which the
    warnings-are-errors setting rightly reports.
    """
    builder = EnvironBuilder(
        path=path, method="POST", data=data, content_type="multipart/form-data"
    )
    environ = builder.get_environ()
    try:
        return client.open(environ)
    finally:
        environ["wsgi.input"].close()
        builder.close()


def csrf_token(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll until condition() is truthy: jobs run in a worker process in the services profile."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.05)


@pytest.fixture
def tmp_instance(tmp_path: Path) -> Path:
    return tmp_path
