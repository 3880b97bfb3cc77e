"""Outages of the object store and the database during a request, from the specialist
application's side: 503 with Retry-After within seconds, nothing saved and no object left
behind, and the same request (the same Idempotency-Key) succeeds once the part is back.

A TCP proxy of the tests (tests/support/tcp_proxy.py) sits between the portal and S3 or
PostgreSQL and cuts the connection, before the request or in the middle of it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, g, request
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.runtime import Runtime
from storage.gc import collect_garbage
from tests.api.support import Api, assert_problem, counts, letter
from tests.api.test_batch import item
from tests.conftest import PROFILE, login
from tests.functional.test_core_loop import deliver_letter
from tests.support.outages import portal, proxy_to, s3_target
from tests.support.s3 import s3_url
from tests.support.tcp_proxy import TcpProxy

OUTAGE_RETRY_AFTER = "5"


@pytest.fixture(scope="module")
def s3(runtime: Runtime) -> Iterator[tuple[str, str]]:
    with s3_target(runtime.config) as target:
        yield target


@pytest.fixture
def s3_proxy(s3: tuple[str, str]) -> Iterator[TcpProxy]:
    with proxy_to(s3[0]) as proxy:
        yield proxy


@pytest.fixture
def behind_s3_proxy(runtime, s3_proxy, s3) -> Iterator[tuple[Flask, Runtime]]:
    with portal(runtime.config, storage_url=s3_url(s3_proxy.address, s3[1])) as pair:
        yield pair


def test_delivery_while_s3_is_cut_answers_503_at_once_and_the_retry_succeeds(
    demo, behind_s3_proxy, s3_proxy
):
    app, portal_runtime = behind_s3_proxy
    api = Api(app.test_client(), demo["api_client"]["api_key"])
    before = counts(portal_runtime)
    headers = {"Idempotency-Key": "outage-s3-1"}

    s3_proxy.cut()
    started = time.monotonic()
    busy = api.deliver(letter(demo), headers=headers)
    elapsed = time.monotonic() - started
    problem = assert_problem(busy, 503, "unavailable")
    assert busy.headers["Retry-After"] == OUTAGE_RETRY_AFTER
    assert "nothing was saved" in problem["detail"]
    assert elapsed < 10, elapsed  # the default limits; a refused connection costs well under 2 s

    s3_proxy.restore()
    assert counts(portal_runtime) == before
    again = api.deliver(letter(demo), headers=headers)
    assert again.status_code == 201, again.get_data(as_text=True)
    assert "Idempotent-Replayed" not in again.headers  # the 503 had saved nothing to replay
    after = counts(portal_runtime)
    assert after["Delivery"] - before["Delivery"] == 1
    assert after["objects"] - before["objects"] == after["Blob"] - before["Blob"] == 1


def test_a_silent_s3_costs_a_request_its_storage_budget_at_most(runtime, demo, s3_proxy, s3):
    url = s3_url(s3_proxy.address, s3[1])
    with portal(runtime.config, storage_url=url, storage_budget=3.0) as (app, portal_runtime):
        api = Api(app.test_client(), demo["api_client"]["api_key"])
        before = counts(portal_runtime)
        s3_proxy.cut(blackhole=True)  # connections accepted, never answered
        started = time.monotonic()
        busy = api.deliver(letter(demo))
        elapsed = time.monotonic() - started
        assert_problem(busy, 503, "unavailable")
        assert 2.5 < elapsed < 6, elapsed  # PORTAL_STORAGE_BUDGET=3, not 3 × the 5 s timeout
        s3_proxy.restore()
        assert counts(portal_runtime) == before


def test_a_clerk_sees_the_busy_page_while_s3_is_cut(demo, pdf, behind_s3_proxy, s3_proxy):
    app, portal_runtime = behind_s3_proxy
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    before = counts(portal_runtime)
    s3_proxy.cut()
    busy = deliver_letter(clerk, demo["resident"]["ahvn13"], pdf("Brief"))
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == OUTAGE_RETRY_AFTER
    assert "Es wurde nichts gespeichert." in busy.get_data(as_text=True)
    s3_proxy.restore()
    assert counts(portal_runtime) == before
    assert deliver_letter(clerk, demo["resident"]["ahvn13"], pdf("Brief")).status_code == 302


def batch_body(demo: dict[str, Any], size: int, tag: str) -> dict[str, Any]:
    return {"items": [item(demo, n) | {"idempotency_key": f"{tag}-{n}"} for n in range(size)]}


@pytest.fixture
def postgres_proxy(runtime) -> Iterator[TcpProxy]:
    url = make_url(runtime.config.database_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


@pytest.mark.services
@pytest.mark.skipif(PROFILE != "services", reason="PostgreSQL only")
def test_database_cut_mid_batch_answers_503_and_leaves_no_object(
    runtime, demo, postgres_proxy, monkeypatch
):
    url = make_url(runtime.config.database_url).set(host="127.0.0.1", port=postgres_proxy.port)
    with portal(runtime.config, database_url=url.render_as_string(False)) as (app, _):
        api = Api(app.test_client(), demo["api_client"]["api_key"])
        before = counts(runtime)
        body = batch_body(demo, 5, "cut")

        import mailbox.bulk

        real_store_blobs = mailbox.bulk.store_blobs

        def store_then_cut(session, readers, **keys):
            rows = real_store_blobs(session, readers, **keys)  # the documents are in S3 now …
            postgres_proxy.cut()  # … and the database goes away before their rows
            return rows

        monkeypatch.setattr(mailbox.bulk, "store_blobs", store_then_cut)
        busy = api.post_json("/deliveries/batch", body)
        assert_problem(busy, 503, "unavailable")
        assert busy.headers["Retry-After"] == OUTAGE_RETRY_AFTER
        monkeypatch.undo()
        postgres_proxy.restore()
        # Nothing saved, and the five objects stored before the cut were removed at once.
        assert counts(runtime) == before

        again = api.post_json("/deliveries/batch", body)
        assert again.status_code == 200, again.get_data(as_text=True)
        results = again.get_json()["results"]
        assert [r["status"] for r in results] == [201] * 5
        assert not any(r.get("replayed") for r in results)
        after = counts(runtime)
        assert after["Delivery"] - before["Delivery"] == 5
        assert after["objects"] - before["objects"] == 5


@pytest.mark.services
@pytest.mark.skipif(PROFILE != "services", reason="COPY is the PostgreSQL path")
def test_a_terminated_backend_inside_copy_answers_503_not_500(api, demo, runtime, monkeypatch):
    import mailbox.bulk

    real_insert_rows = mailbox.bulk.insert_rows
    terminated = []

    def terminate_then_insert(session, table, rows):
        if not terminated:
            # pg_terminate_backend of the request's own connection: the raw psycopg COPY is
            # the first to meet it, and raises psycopg's AdminShutdown.
            pid = session.connection().connection.driver_connection.info.backend_pid
            with runtime.engine.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            terminated.append(pid)
        return real_insert_rows(session, table, rows)

    before = counts(runtime)
    body = batch_body(demo, 3, "copy")
    monkeypatch.setattr(mailbox.bulk, "insert_rows", terminate_then_insert)
    busy = api.post_json("/deliveries/batch", body)
    assert terminated
    assert_problem(busy, 503, "unavailable")
    assert busy.headers["Retry-After"] == OUTAGE_RETRY_AFTER
    monkeypatch.undo()
    assert counts(runtime) == before  # no rows, and the three objects removed

    again = api.post_json("/deliveries/batch", body)
    assert [r["status"] for r in again.get_json()["results"]] == [201] * 3


@pytest.mark.services
@pytest.mark.skipif(PROFILE != "services", reason="a terminated backend needs PostgreSQL")
def test_a_connection_lost_at_commit_answers_503_and_leaves_the_objects_to_gc(api, runtime, demo):
    with portal(runtime.config) as (app, _):

        @app.after_request
        def terminate_before_commit(response):
            # Registered last, so it runs before the portal's commit: the view has answered
            # 201 and flushed its rows, and then the database connection is gone.
            if request.method == "POST" and "tx" in g:
                pid = g.tx.session.connection().connection.driver_connection.info.backend_pid
                with runtime.engine.connect() as admin:
                    admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            return response

        before = counts(runtime)
        headers = {"Idempotency-Key": "lost-at-commit"}
        lost = Api(app.test_client(), api.key)
        busy = lost.deliver(letter(demo), headers=headers)
        assert_problem(busy, 503, "unavailable")
        assert busy.headers["Retry-After"] == OUTAGE_RETRY_AFTER

    # Whether a COMMIT on a lost connection was applied cannot be known, so its object stays;
    # the rows are not there (the server ended the transaction), and gc takes the object.
    after = counts(runtime)
    assert {k: v for k, v in after.items() if k != "objects"} == {
        k: v for k, v in before.items() if k != "objects"
    }
    assert after["objects"] == before["objects"] + 1
    report = collect_garbage(runtime.sessions, runtime.objects.store, grace=dt.timedelta(0))
    assert len(report.orphans) == 1
    assert counts(runtime) == before

    again = api.deliver(letter(demo), headers=headers)  # the session's portal, as a retry
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
