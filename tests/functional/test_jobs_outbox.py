"""The jobs outbox: a job is a row committed with the work that asked for it, marked done by the
job, and handed over again by the relay when it was not done (both profiles where it applies)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest
from flask import Flask
from rq import Queue
from rq.job import JobStatus
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError

from app import create_app
from app.relay import Relay
from app.runtime import Runtime
from app.web import db
from app.workers import PeriodicJob, start_background_loop
from mailbox.models import Delivery
from storage.db import transaction
from storage.jobs import enqueue
from storage.outbox import OutboxJob
from tests.api.support import Api, letter
from tests.conftest import PROFILE, login, wait_for
from tests.mailbox.conftest import deliver_letter, in_process_portal
from tests.support.services import free_port
from tests.support.smtp import start_smtp_server

NOTICE = "mailbox.jobs.send_notice"


def outbox(runtime: Runtime, func: str | None = None) -> list[OutboxJob]:
    with runtime.sessions() as session:
        query = select(OutboxJob).order_by(OutboxJob.created_at)
        if func:
            query = query.where(OutboxJob.func == func)
        return list(session.scalars(query))


def make_due(runtime: Runtime, **values: Any) -> None:
    """As if the rows' time had come (a minute, an hour later)."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with runtime.engine.begin() as conn:
        conn.execute(update(OutboxJob).values(next_attempt_at=past, **values))


@pytest.fixture
def job_app(runtime: Runtime) -> Flask:
    """A portal with three extra views that ask for a job, then answer 201, 409 or fail."""
    application = create_app(runtime.config)
    application.extensions["portal"].close()
    application.extensions["portal"] = runtime

    def ask(outcome: str) -> tuple[str, int]:
        enqueue(db(), "mailbox.jobs.issue_receipt", str(uuid.uuid4()))
        db().flush()
        if outcome == "fail":
            raise RuntimeError("the view fails after asking for a job")
        return outcome, 201 if outcome == "ok" else 409

    application.add_url_rule("/test-job/<outcome>", "test_job", ask, methods=["POST"])
    application.extensions["csrf"].exempt(ask)  # a plain POST, as a script would send it
    return application


def test_a_job_is_recorded_exactly_when_its_request_commits(job_app, runtime):
    client = job_app.test_client()
    assert client.post("/test-job/conflict").status_code == 409
    assert client.post("/test-job/fail").status_code == 500
    assert outbox(runtime) == []  # rolled back with the request

    assert client.post("/test-job/ok").status_code == 201
    [row] = outbox(runtime)
    assert row.func == "mailbox.jobs.issue_receipt" and row.attempts == 1
    # In-process right after the commit, or by the suite's worker: the job marks it done.
    wait_for(lambda: outbox(runtime)[0].done_at is not None)


def test_one_row_per_job_once_per_transaction_in_one_statement(runtime):
    statements: list[tuple[str, bool]] = []

    def seen(_conn, _cursor, statement, _params, _context, executemany):
        if "job_outbox" in statement and statement.lstrip().upper().startswith("INSERT"):
            statements.append((statement, executemany))

    event.listen(runtime.engine, "before_cursor_execute", seen)
    try:
        with transaction(runtime.sessions) as session:  # no hand-over: only the rows count
            for n in range(100):
                enqueue(session, "mailbox.jobs.issue_receipt", f"delivery-{n}")
            enqueue(session, "mailbox.jobs.issue_receipt", "delivery-0")  # asked twice
    finally:
        event.remove(runtime.engine, "before_cursor_execute", seen)
    assert len(outbox(runtime)) == 100
    assert len(statements) == 1  # an executemany (or one multi-row INSERT), never 100


def test_an_api_delivery_records_its_notice_job_and_the_job_marks_it_done(
    app, demo, runtime, smtp_messages
):
    api = Api(app.test_client(), demo["api_client"]["api_key"])
    response = api.deliver(letter(demo))
    assert response.status_code == 201, response.get_data(as_text=True)
    [row] = outbox(runtime, NOTICE)
    delivery_id = response.get_json()["delivery_id"]
    assert row.args == [delivery_id]
    wait_for(lambda: smtp_messages)
    wait_for(lambda: outbox(runtime, NOTICE)[0].done_at is not None)


def test_a_failed_in_process_job_is_run_again_by_the_relay(runtime, demo, pdf):
    port = free_port()  # nothing listens here yet: the first attempt fails
    with in_process_portal(runtime, smtp_url=f"smtp://127.0.0.1:{port}") as portal:
        clerk = portal.client()
        login(clerk, demo["clerk"])
        deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
        [row] = outbox(runtime, NOTICE)
        assert row.done_at is None and row.attempts == 1

        assert Relay(portal.runtime).run().looked_at == 0  # not due yet: a minute later
        smtp = start_smtp_server(port=port)
        try:
            make_due(runtime)
            assert Relay(portal.runtime).run().handed_over == 1
            [notice] = smtp.messages
        finally:
            smtp.stop()
    [row] = outbox(runtime, NOTICE)
    assert row.done_at is not None and row.attempts == 2
    with runtime.sessions() as session:
        assert session.scalars(select(Delivery.notice_sent_at)).one() is not None


@pytest.mark.skipif(PROFILE != "services", reason="rq only")
def test_the_relay_hands_over_what_redis_lost_or_gave_up(runtime):
    assert runtime.dispatch_queue is not None and runtime.redis is not None
    with transaction(runtime.sessions) as session:  # committed, never handed over: lost
        enqueue(session, "mailbox.jobs.issue_receipt", str(uuid.uuid4()))
    make_due(runtime)
    assert Relay(runtime).run().handed_over == 1
    wait_for(lambda: outbox(runtime)[0].done_at is not None)

    with runtime.engine.begin() as conn:
        conn.execute(OutboxJob.__table__.delete())
    with transaction(runtime.sessions) as session:
        enqueue(session, "mailbox.jobs.issue_receipt", str(uuid.uuid4()))
    [row] = outbox(runtime)
    # rq ran it and gave up (its own retries spent): parked on a queue no worker takes.
    parked = Queue(f"parked-{uuid.uuid4().hex}", connection=runtime.redis)
    job = parked.enqueue("mailbox.jobs.issue_receipt", job_id=row.recorded().run_id)
    job.set_status(JobStatus.FAILED)
    make_due(runtime)
    assert Relay(runtime).run().waiting == 1  # the wait after a failure is not over yet
    assert outbox(runtime)[0].next_attempt_at > dt.datetime.now(dt.UTC)
    make_due(runtime, dispatched_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2))
    assert Relay(runtime).run().handed_over == 1
    wait_for(lambda: outbox(runtime)[0].done_at is not None)
    assert outbox(runtime)[0].attempts == 2
    parked.delete(delete_jobs=True)


def test_the_background_loop_of_the_embedded_server_outlives_its_errors(
    runtime, monkeypatch, caplog
):
    calls = []
    real_run = Relay.run

    def flaky(self: Relay) -> Any:
        calls.append(1)
        if len(calls) <= 2:  # the database away for two rounds
            raise OperationalError("SELECT", {}, Exception("connection refused"))
        return real_run(self)

    monkeypatch.setattr(Relay, "run", flaky)
    ran = threading.Event()
    monkeypatch.setattr("app.jobs.recover", lambda _session: ran.set() if len(calls) > 2 else None)
    jobs = [PeriodicJob("recover", "app.jobs.recover", (), 1)]
    stop = start_background_loop(runtime, jobs, 0.2)
    try:
        assert ran.wait(15)
    finally:
        stop.set()
        for thread in threading.enumerate():
            if thread.name == "portal-background":
                thread.join(10)
    assert len(calls) >= 3
    assert "outbox relay: the database is unreachable" in caplog.text
