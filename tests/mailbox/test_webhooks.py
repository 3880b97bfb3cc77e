"""Webhooks from the user's side: deliveries and openings in the portal are POSTed, signed, to a
real local HTTP server standing in for an authority's specialist application."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from mailbox.jobs import lost_jobs
from mailbox.models import WebhookEvent
from mailbox.webhooks import WebhookFailed, canonical_body, sign
from storage.db import utcnow
from storage.outbox import OutboxJob
from tests.conftest import csrf_token, login, wait_for
from tests.mailbox.conftest import (
    Hook,
    deliver_letter,
    events,
    in_process_portal,
    register_webhook,
    the_delivery,
)
from tests.support.webhook_receiver import Request, WebhookReceiver


def undone_jobs(runtime: Any) -> list[str]:
    """Jobs recorded and not finished: undone outbox rows, and rq's queued or running ones."""
    with runtime.sessions() as session:
        undone = list(session.scalars(select(OutboxJob.func).where(OutboxJob.done_at.is_(None))))
    if runtime.queue is not None:
        from rq.registry import StartedJobRegistry

        undone += runtime.queue.job_ids + StartedJobRegistry(queue=runtime.queue).get_job_ids()
    return undone


def webhook_jobs(runtime: Any) -> list[tuple[str, ...]]:
    with runtime.sessions() as session:
        return [args for func, args in lost_jobs(session) if func == "mailbox.jobs.send_webhook"]


def assert_signed(request: Request, hook: Hook) -> dict[str, Any]:
    """The request verifies with the client's secret, by the Standard Webhooks reference library
    as a receiver would use it; returns its parsed body."""
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    Webhook(hook.secret.decode()).verify(request.body, dict(request.headers))
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", request.headers["Webhook-Signature"])
    payload = json.loads(request.body)
    assert canonical_body(payload) == request.body  # compact, sorted: the same bytes each time
    assert payload["id"] == request.headers["Webhook-Id"]
    return payload  # type: ignore[no-any-return]


def open_message(app: Any, account: dict[str, Any], delivery_id: str) -> None:
    resident: FlaskClient = app.test_client()
    login(resident, account)
    page = resident.get(f"/messages/{delivery_id}")
    opened = resident.post(
        f"/messages/{delivery_id}/open",
        data={"csrf_token": csrf_token(page.get_data(as_text=True))},
    )
    assert opened.status_code == 302


def test_delivery_and_opening_are_posted_signed(
    app: Any,
    client: FlaskClient,
    runtime: Any,
    demo: dict[str, Any],
    pdf: Any,
    hook: Hook,
    receiver: WebhookReceiver,
) -> None:
    # The suite's own portal: in the services profile a `portal worker` process posts.
    login(client, demo["clerk"])
    deliver_letter(client, demo["resident"]["ahvn13"], pdf())
    delivery_id = str(the_delivery(runtime).id)

    [available] = wait_for(lambda: receiver.requests)
    payload = assert_signed(available, hook)
    assert payload["type"] == "delivery.available"
    assert payload["data"]["delivery_id"] == delivery_id
    assert payload["data"]["status"] == "available"
    assert set(payload) == {"id", "type", "created_at", "data"}
    assert available.path == "/hooks/portal"
    # Only the facts an application needs to fetch the rest with its key: no subject, no text.
    assert b"Baubewilligung" not in available.body

    open_message(app, demo["resident"], delivery_id)
    wait_for(lambda: len(receiver.requests) == 2)
    opened = assert_signed(receiver.requests[1], hook)
    assert opened["type"] == "delivery.opened"
    assert opened["data"]["delivery_id"] == delivery_id
    assert opened["id"] != payload["id"]

    wait_for(lambda: all(e.delivered_at for e in events(runtime)))
    assert [e.attempts for e in events(runtime)] == [0, 0]
    assert webhook_jobs(runtime) == []

    # Running a delivered event's job again (a duplicate, a recovery) posts nothing.
    runtime.run_job("mailbox.jobs.send_webhook", payload["id"])
    runtime.recover()
    # Whatever that asked for has run (the services worker runs it asynchronously) before the
    # count is taken: no job left undone in the outbox, none queued or running in rq.
    wait_for(lambda: not undone_jobs(runtime))
    assert len(receiver.requests) == 2


def test_failed_attempts_back_off_and_the_third_succeeds(
    runtime: Any,
    demo: dict[str, Any],
    pdf: Any,
    hook: Hook,
    receiver: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.fail_next(2)
    with in_process_portal(runtime) as portal:
        clerk = portal.client()
        login(clerk, demo["clerk"])
        before = utcnow()
        deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())  # attempt 1, after commit
        [event] = events(runtime)
        assert (event.attempts, event.last_error, event.delivered_at) == (1, "HTTP 500", None)
        assert event.next_attempt_at is not None
        assert event.next_attempt_at >= before + dt.timedelta(seconds=60)
        # Recovery respects the backoff: not found again before next_attempt_at.
        assert webhook_jobs(runtime) == []
        assert "mailbox.jobs.send_webhook failed" in caplog.text

        with pytest.raises(WebhookFailed):  # what rq sees, and retries
            portal.runtime.run_job("mailbox.jobs.send_webhook", str(event.id))
        [event] = events(runtime)
        assert (event.attempts, event.last_error) == (2, "HTTP 500")
        assert event.next_attempt_at is not None
        assert event.next_attempt_at >= utcnow() + dt.timedelta(seconds=110)

        portal.runtime.run_job("mailbox.jobs.send_webhook", str(event.id))
        [event] = events(runtime)
        assert event.delivered_at is not None
        assert event.attempts == 2

        # Once delivered, the same event id is never posted again.
        portal.runtime.run_job("mailbox.jobs.send_webhook", str(event.id))
        portal.runtime.recover()

    assert [r.status for r in receiver.requests] == [500, 500, 204]
    # Every attempt carries the same id and the same body, each freshly signed.
    assert {r.headers["Webhook-Id"] for r in receiver.requests} == {str(event.id)}
    assert len({r.body for r in receiver.requests}) == 1
    for request in receiver.requests:
        assert_signed(request, hook)
    assert webhook_jobs(runtime) == []
    assert "whsec_" not in caplog.text


def test_gives_up_after_ten_attempts(
    runtime: Any,
    demo: dict[str, Any],
    pdf: Any,
    hook: Hook,
    receiver: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.fail_next(1, status=503)
    with in_process_portal(runtime) as portal:
        clerk = portal.client()
        login(clerk, demo["clerk"])
        deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
        [event] = events(runtime)
        with portal.runtime.transaction() as session:
            session.get_one(WebhookEvent, event.id).attempts = 9
        receiver.fail_next(1, status=503)
        portal.runtime.run_job("mailbox.jobs.send_webhook", str(event.id))  # no retry asked
        portal.runtime.run_job("mailbox.jobs.send_webhook", str(event.id))
    [event] = events(runtime)
    assert (event.attempts, event.last_error) == (10, "HTTP 503")
    assert event.delivered_at is None and event.next_attempt_at is None
    assert webhook_jobs(runtime) == []
    assert len(receiver.requests) == 2
    [warning] = [r for r in caplog.records if r.name == "mailbox.webhooks"]
    assert warning.levelno == logging.WARNING
    assert "given up after 10 attempts" in warning.getMessage()


def test_a_redirect_is_a_failure_and_not_followed(
    runtime: Any, demo: dict[str, Any], pdf: Any, hook: Hook, receiver: WebhookReceiver
) -> None:
    receiver.fail_next(1, status=307)
    with in_process_portal(runtime) as portal:
        clerk = portal.client()
        login(clerk, demo["clerk"])
        deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
    [event] = events(runtime)
    assert (event.attempts, event.last_error) == (1, "HTTP 307")
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://bau:Geheim-42@{host}/hooks/portal", "credentials"),
        ("ftp://{host}/hooks/portal", "not an http(s) URL"),
    ],
)
def test_unsafe_webhook_urls_are_refused(
    runtime: Any, demo: dict[str, Any], pdf: Any, receiver: WebhookReceiver, url: str, reason: str
) -> None:
    host = receiver.url.split("/")[2]
    hook = register_webhook(runtime, receiver.url)
    with runtime.transaction() as session:
        # Set on the row: create_api_client already refuses what is not http(s).
        from directory.models import ApiClient

        session.get_one(ApiClient, hook.client_id).webhook_url = url.format(host=host)
    with in_process_portal(runtime) as portal:
        clerk = portal.client()
        login(clerk, demo["clerk"])
        deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
    [event] = events(runtime)
    assert event.attempts == 1 and event.delivered_at is None
    assert event.last_error is not None and reason in event.last_error
    assert "Geheim-42" not in event.last_error
    assert receiver.requests == []


def test_withdrawal_is_posted(
    runtime: Any, demo: dict[str, Any], pdf: Any, hook: Hook, receiver: WebhookReceiver
) -> None:
    with in_process_portal(runtime) as portal:
        clerk = portal.client()
        login(clerk, demo["clerk"])
        deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
        delivery_id = str(the_delivery(runtime).id)
        token = csrf_token(clerk.get("/office/").get_data(as_text=True))
        clerk.post(f"/office/deliveries/{delivery_id}/withdraw", data={"csrf_token": token})
    types = [assert_signed(r, hook)["type"] for r in receiver.requests]
    assert types == ["delivery.available", "delivery.withdrawn"]


def test_only_the_senders_clients_are_told(
    runtime: Any, demo: dict[str, Any], pdf: Any, hook: Hook, receiver: WebhookReceiver
) -> None:
    other = register_webhook(runtime, receiver.url + "/steuern", slug="lu-steuern")
    with in_process_portal(runtime) as portal:
        clerk = portal.client()
        login(clerk, demo["clerk"])  # Stadt Luzern
        deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
    [request] = receiver.requests
    assert request.path == "/hooks/portal"
    with pytest.raises(WebhookVerificationError):
        Webhook(other.secret.decode()).verify(request.body, dict(request.headers))


# Our signatures, as the Standard Webhooks reference library checks them -------------------

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
BODY = canonical_body({"id": "evt-1", "type": "delivery.opened", "data": {"x": "ä"}})


def signed_headers(timestamp: int, secret: str = SECRET, msg_id: str = "evt-1") -> dict[str, str]:
    return {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": sign(secret.encode(), msg_id, timestamp, BODY),
    }


def test_a_fresh_signed_request_verifies() -> None:
    now = int(time.time())
    assert Webhook(SECRET).verify(BODY, signed_headers(now)) == json.loads(BODY)
    # Header names are case-insensitive; a receiver may see them lower-cased.
    lowered = {k.lower(): v for k, v in signed_headers(now - 290).items()}
    Webhook(SECRET).verify(BODY, lowered)


@pytest.mark.parametrize(
    "tamper", ["body", "old timestamp", "future timestamp", "other secret", "other id"]
)
def test_a_changed_or_stale_request_does_not_verify(tamper: str) -> None:
    now = int(time.time())
    headers, body = signed_headers(now), BODY
    if tamper == "body":
        body = BODY.replace(b"opened", b"withdrawn")
    elif tamper == "old timestamp":
        headers = signed_headers(now - 400)  # a replay of a request seen minutes ago
    elif tamper == "future timestamp":
        headers = signed_headers(now + 400)
    elif tamper == "other secret":
        other = "whsec_" + base64.b64encode(b"another secret of thirty-two b!!").decode()
        headers = signed_headers(now, secret=other)
    elif tamper == "other id":
        headers["Webhook-Id"] = "evt-2"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, headers)


def test_the_secret_has_the_standard_form(runtime, demo) -> None:
    secret = register_webhook(runtime, "https://fachapp.example.ch/hooks").secret.decode()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
