"""The sweep runs by itself: from `portal scheduler` (rq's cron) with Redis, or from the
embedded server's own thread without it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess

from sqlalchemy import select, update

from mailbox.models import Delivery
from tests.conftest import login, wait_for
from tests.functional.test_delivery_law import deliver
from tests.support.services import free_port, portal_executable


def test_overdue_delivery_is_swept_without_anyone_asking(app, demo, pdf, runtime, tmp_path):
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    deliver(clerk, demo["resident"]["ahvn13"], pdf())
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    with runtime.engine.begin() as conn:  # as if it had waited unopened for eight days
        conn.execute(
            update(Delivery.__table__).values(
                available_at=past, deemed_due_at=past + dt.timedelta(days=7)
            )
        )

    env = {**os.environ, **runtime.config.as_env(), "PORTAL_SWEEP_INTERVAL": "1"}
    if runtime.queue is not None:
        command = [portal_executable(), "scheduler"]
    else:
        command = [portal_executable(), "serve", "--port", str(free_port())]
    proc = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:

        def swept():
            with runtime.sessions() as session:
                delivery = session.scalars(select(Delivery)).one()
                return delivery.status == "deemed_delivered" and delivery.receipt_document_id

        wait_for(swept, timeout=30)
    finally:
        proc.terminate()
        proc.wait(10)
    with runtime.sessions() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.deemed_at == past + dt.timedelta(days=7)
