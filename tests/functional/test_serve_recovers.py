"""The embedded `portal serve` redoes a job that failed, without anyone acting: no relay run by
hand, no `portal jobs recover`, no worker, no scheduler, no clock moved. Its own background
thread relays the outbox (app/workers.py `start_background_loop`).

The installed `portal serve` runs from another directory, without Redis (jobs run in-process
after the commit), on the profile's database and object store; an authority delivers a letter
through the API with a real key over HTTP while the mail relay is down, so the notice job
fails once. Then the relay comes up, and the server sends the notice by itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from app.runtime import Runtime
from mailbox.models import Delivery
from storage.db import utcnow
from storage.outbox import FIRST_LOOK, OutboxJob
from tests.api.support import letter
from tests.conftest import make_pdf, wait_for
from tests.support.services import free_port, portal_executable
from tests.support.smtp import start_smtp_server

NOTICE = "mailbox.jobs.send_notice"


def multipart(metadata: dict[str, Any], filename: str, pdf: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body as any HTTP client sends it: the metadata and one PDF."""
    boundary = uuid.uuid4().hex
    parts = [
        ('name="metadata"', "application/json", json.dumps(metadata).encode()),
        (f'name="files"; filename="{filename}"', "application/pdf", pdf),
    ]
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
        f"Content-Type: {media_type}\r\n\r\n".encode()
        + content
        + b"\r\n"
        for disposition, media_type, content in parts
    )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def request(base_url: str, path: str, **kwargs: Any) -> tuple[int, bytes]:
    """One HTTP request to the served portal; its status and body (errors included)."""
    req = urllib.request.Request(f"{base_url}{path}", **kwargs)  # noqa: S310 - http://127.0.0.1
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:  # noqa: S310
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def start_serve(runtime: Runtime, smtp_url: str, cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`portal serve` on a free port, embedded jobs (no Redis), relaying every half second."""
    env = {**os.environ, **runtime.config.as_env()}
    env.pop("PORTAL_REDIS_URL", None)  # the embedded way of running jobs, in either profile
    port = free_port()
    env |= {"PORTAL_SMTP_URL": smtp_url, "PORTAL_BASE_URL": f"http://127.0.0.1:{port}"}
    command = [portal_executable(), "serve", "--port", str(port), "--relay-interval", "0.5"]
    with (cwd / "serve.log").open("wb") as log:  # the child writes to its own copy
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"portal serve ended: {(cwd / 'serve.log').read_text()[-2000:]}")
        try:
            return request(base_url, "/readyz")[0] == 200
        except OSError:
            return False

    wait_for(up, timeout=60)
    return proc, base_url


def notice_rows(runtime: Runtime) -> list[OutboxJob]:
    with runtime.sessions() as session:
        return list(session.scalars(select(OutboxJob).where(OutboxJob.func == NOTICE)))


def test_a_notice_that_failed_once_is_sent_by_the_server_by_itself(runtime, demo, tmp_path):
    smtp_port = free_port()  # nothing listens here yet: the first attempt fails
    proc, base_url = start_serve(runtime, f"smtp://127.0.0.1:{smtp_port}", tmp_path)
    smtp = None
    try:
        body, content_type = multipart(letter(demo), "verfuegung.pdf", make_pdf("Verfügung"))
        headers = {
            "Authorization": f"Bearer {demo['api_client']['api_key']}",
            "Content-Type": content_type,
        }
        status, answer = request(
            base_url, "/api/v1/deliveries", data=body, headers=headers, method="POST"
        )
        assert status == 201, answer.decode()
        delivery_id = json.loads(answer)["delivery_id"]

        # The in-process run right after the commit met no mail relay: tried once, not done.
        wait_for(lambda: "failed; the outbox relay runs it again" in read_log(tmp_path))
        [row] = notice_rows(runtime)
        assert row.args == [delivery_id]
        assert (row.attempts, row.done_at) == (1, None)
        # Due again a minute after the first attempt, not before: the relay leaves it alone.
        assert row.next_attempt_at - row.created_at >= FIRST_LOOK
        smtp = start_smtp_server(port=smtp_port)
        time.sleep(2)  # four rounds of the relay
        assert not smtp.messages and notice_rows(runtime)[0].attempts == 1

        # Its time comes (the row's due time is set to now rather than waiting out the minute).
        # Nobody acts from here on: the server's relay finds the row due and runs the job again.
        with runtime.sessions.begin() as session:
            session.execute(
                update(OutboxJob).where(OutboxJob.id == row.id).values(next_attempt_at=utcnow())
            )
        [notice] = wait_for(lambda: list(smtp.messages), timeout=60)
        assert f"{base_url}/messages/{delivery_id}" in notice.get_content()
        wait_for(lambda: notice_rows(runtime)[0].done_at is not None)
        [row] = notice_rows(runtime)
        assert row.attempts == 2
        with runtime.sessions() as session:
            delivery = session.get_one(Delivery, uuid.UUID(delivery_id))
            assert delivery.notice_sent_at is not None
    finally:
        proc.terminate()
        proc.wait(10)
        if smtp is not None:
            smtp.stop()
    assert proc.returncode is not None


def read_log(folder: Path) -> str:
    return (folder / "serve.log").read_text(errors="replace")
