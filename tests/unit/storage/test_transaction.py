"""The transaction edge: a rolled-back unit of work leaves no stored object behind, and its jobs
are never dispatched."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from storage.blobs import store_blob
from storage.db import is_unavailable, transaction
from storage.gc import collect_garbage
from storage.jobs import enqueue
from tests.conftest import PROFILE


def test_rollback_removes_objects_and_drops_jobs(runtime):
    dispatched = []
    with (
        pytest.raises(RuntimeError),
        transaction(runtime.sessions, lambda _s, jobs: dispatched.extend(jobs)) as session,
    ):
        blob = store_blob(session, io.BytesIO(b"half-written work"))
        key = blob.key
        assert runtime.objects.store.exists(key)
        enqueue(session, "mailbox.jobs.issue_receipt", "x")
        raise RuntimeError("the request failed after storing")
    assert not runtime.objects.store.exists(key)
    assert dispatched == []


def test_commit_keeps_objects_and_dispatches_jobs_once(runtime):
    dispatched = []
    with transaction(runtime.sessions, lambda _s, jobs: dispatched.extend(jobs)) as session:
        blob = store_blob(session, io.BytesIO(b"kept"))
        enqueue(session, "mailbox.jobs.issue_receipt", "x")
        enqueue(session, "mailbox.jobs.issue_receipt", "x")
    assert runtime.objects.store.exists(blob.key)
    assert [(j.func, j.args) for j in dispatched] == [("mailbox.jobs.issue_receipt", ("x",))]


def test_jobs_take_ids_only(runtime):
    with runtime.sessions() as session, pytest.raises(TypeError):
        enqueue(session, "mailbox.jobs.issue_receipt", object())


def _terminate(runtime, session) -> None:
    """End the server process behind `session`'s connection, as an operator or a failover
    would, without SQLAlchemy noticing: its next statement finds the connection gone."""
    pid = session.connection().connection.driver_connection.info.backend_pid
    with runtime.engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


postgres_only = pytest.mark.skipif(
    PROFILE != "services", reason="a terminated server connection needs PostgreSQL"
)


@pytest.mark.services
@postgres_only
def test_objects_go_even_when_the_rollback_fails_on_a_lost_connection(runtime, caplog):
    with pytest.raises(RuntimeError), transaction(runtime.sessions) as session:
        key = store_blob(session, io.BytesIO(b"half-written work")).key
        _terminate(runtime, session)
        raise RuntimeError("the request failed after storing")  # the rollback then fails too
    assert "rollback failed, the connection is gone" in caplog.text
    assert not runtime.objects.store.exists(key)


@pytest.mark.services
@postgres_only
def test_a_commit_on_a_lost_connection_leaves_its_objects_to_gc(runtime, caplog):
    store = runtime.objects.store
    with pytest.raises(OperationalError) as info, transaction(runtime.sessions) as session:
        key = store_blob(session, io.BytesIO(b"maybe committed")).key
        _terminate(runtime, session)
    assert is_unavailable(info.value)
    # Whether the COMMIT was applied is unknown from here: the rows may exist, so the object
    # stays, and gc decides by the rows (here: none, so it goes once past the grace period).
    assert "commit outcome unknown: 1 object(s) left for `portal storage gc`" in caplog.text
    assert store.exists(key)
    report = collect_garbage(runtime.sessions, store, grace=dt.timedelta(0))
    assert report.orphans == [key] and not store.exists(key)
