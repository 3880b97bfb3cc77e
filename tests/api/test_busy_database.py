"""A request that meets a database conflict (a row locked past the lock timeout, a busy SQLite
file) answers 503 with Retry-After and changes nothing; sent again once the lock is gone, it
succeeds."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.factory import create_app
from tests.api.support import Api, assert_problem, letter
from tests.conftest import csrf_token, login


@pytest.fixture
def impatient_app(runtime):
    """The portal on the same database, configured to give up waiting for a lock after 0.3 s."""
    url = make_url(runtime.config.database_url)
    if url.get_backend_name() == "postgresql":
        url = url.update_query_dict({"options": "-c lock_timeout=300"})
    else:
        url = url.update_query_dict({"timeout": "0.3"})
    config = dataclasses.replace(runtime.config, database_url=url.render_as_string(False))
    app = create_app(config)
    yield app
    app.extensions["portal"].close()


@contextlib.contextmanager
def delivery_locked(runtime, delivery_id: str) -> Iterator[None]:
    """Another connection holds what changing the delivery needs: its row on PostgreSQL, the
    database's write lock on SQLite."""
    with runtime.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            stmt = text("SELECT id FROM deliveries WHERE id = :id FOR UPDATE")
            connection.execute(stmt, {"id": uuid.UUID(delivery_id)})
        else:
            connection.execute(text("SELECT 1"))  # BEGIN IMMEDIATE (storage.db)
        yield
        connection.rollback()


def test_api_answers_503_while_the_delivery_is_locked_and_the_retry_succeeds(
    api, demo, impatient_app, runtime
):
    delivery_id = api.deliver(letter(demo)).get_json()["delivery_id"]
    impatient = Api(impatient_app.test_client(), api.key)
    path = f"/deliveries/{delivery_id}/withdraw"

    with delivery_locked(runtime, delivery_id):
        busy = impatient.post_json(path, {"reason": "Doppelt"})
        problem = assert_problem(busy, 503, "unavailable")
    assert busy.headers["Retry-After"] == "1"
    assert "nothing was saved" in problem["detail"]
    assert api.get(f"/deliveries/{delivery_id}").get_json()["status"] == "available"

    retried = impatient.post_json(path, {"reason": "Doppelt"})
    assert retried.status_code == 200 and retried.get_json()["status"] == "withdrawn"


def test_opening_answers_a_503_page_while_locked_and_the_retry_opens(
    api, demo, impatient_app, runtime
):
    delivery_id = api.deliver(letter(demo)).get_json()["delivery_id"]
    resident = impatient_app.test_client()
    login(resident, demo["resident"])
    token = csrf_token(resident.get(f"/messages/{delivery_id}").get_data(as_text=True))

    with delivery_locked(runtime, delivery_id):
        busy = resident.post(f"/messages/{delivery_id}/open", data={"csrf_token": token})
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    page = busy.get_data(as_text=True)
    assert "Das Portal ist gerade ausgelastet. Es wurde nichts gespeichert." in page
    assert api.get(f"/deliveries/{delivery_id}").get_json()["status"] == "available"

    opened = resident.post(f"/messages/{delivery_id}/open", data={"csrf_token": token})
    assert opened.status_code == 302
    assert api.get(f"/deliveries/{delivery_id}").get_json()["status"] == "opened"
