"""The transaction edge: a rolled-back unit of work leaves no stored object behind, and its jobs
are never dispatched."""

from __future__ import annotations

import io

import pytest

from storage.blobs import store_blob
from storage.db import transaction
from storage.jobs import enqueue


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
