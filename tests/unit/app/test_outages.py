"""Which dependency an error says is away (app/outages.py), for errors raised by the real
clients against closed ports: what makes the API and the pages answer 503 instead of 500."""

from __future__ import annotations

import os

import psycopg
import pytest
from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from app.outages import missing_dependency
from storage.objects import open_store
from storage.s3_http import Limits
from tests.conftest import PROFILE
from tests.support.services import free_port


def raised(action) -> BaseException:
    try:
        action()
    except Exception as error:
        return error
    raise AssertionError("nothing raised")


def test_an_unreachable_database_through_sqlalchemy():
    engine = create_engine(f"postgresql+psycopg://127.0.0.1:{free_port()}/portal")
    try:
        error = raised(lambda: engine.connect().close())
    finally:
        engine.dispose()
    assert missing_dependency(error) == "database"


def test_raw_psycopg_errors_count_too():
    # Driver-level code (COPY) raises psycopg's own errors, without SQLAlchemy's wrapper.
    error = raised(lambda: psycopg.connect(f"postgresql://127.0.0.1:{free_port()}/x").close())
    assert isinstance(error, psycopg.OperationalError)
    assert missing_dependency(error) == "database"


@pytest.mark.services
@pytest.mark.skipif(PROFILE != "services", reason="needs the PostgreSQL server")
def test_a_terminated_backend_raw_from_psycopg():
    admin = os.environ.get("PORTAL_TEST_POSTGRES", "postgresql://127.0.0.1:5432/postgres")
    with psycopg.connect(admin, autocommit=True) as victim, psycopg.connect(admin) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (victim.info.backend_pid,))
        error = raised(lambda: victim.execute("SELECT 1"))
    assert isinstance(error, psycopg.errors.AdminShutdown)
    assert missing_dependency(error) == "database"


def test_an_unreachable_object_store_also_behind_a_later_error():
    store = open_store(f"s3://k:s@127.0.0.1:{free_port()}/bucket", Limits(connect=0.5, retries=0))
    error = raised(lambda: store.exists("k"))
    assert missing_dependency(error) == "object store"

    def cleanup_fails_too():
        try:
            store.exists("k")
        except OSError:
            raise RuntimeError("the cleanup failed as well") from None  # context kept

    assert missing_dependency(raised(cleanup_fails_too)) == "object store"


def test_an_unreachable_redis():
    redis = Redis(port=free_port(), socket_connect_timeout=1)
    try:
        error = raised(redis.ping)
    finally:
        redis.close()
    assert missing_dependency(error) == "redis"


def test_other_errors_are_no_outage(runtime):
    assert missing_dependency(ValueError("bad input")) is None
    assert missing_dependency(FileNotFoundError("no such object")) is None
    with runtime.engine.connect() as connection:
        error = raised(lambda: connection.execute(text("INSERT INTO blobs (id) VALUES (NULL)")))
    assert isinstance(error, IntegrityError)
    assert missing_dependency(error) is None
