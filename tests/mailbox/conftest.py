"""Fixtures for notices and webhooks: a real SMTP server, a real webhook receiver, and portals
whose jobs reach them.

The suite's shared Config (tests/conftest.py) has no SMTP URL, and in the services profile its
worker process is started before any test could give it one. So the notice tests run a portal on
its own Runtime: the same database, object store and keys as the suite, its own SMTP URL, and jobs
run in-process after commit (or, in `worker_portal`, by a `portal worker` of its own on its own
queue). Webhooks need nothing from the Config: the shared app and worker post them as they are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from app.config import Config
from app.runtime import Runtime
from directory.api_clients import create_api_client, set_webhook_secret
from directory.models import Authority
from mailbox.models import Delivery, WebhookEvent
from tests.conftest import csrf_token, post_multipart
from tests.support.smtp import SmtpServer, start_smtp_server
from tests.support.webhook_receiver import WebhookReceiver, start_webhook_receiver

SUBJECT = "Baubewilligung Nr. 2026-17 Gartenhaus"
BODY = "Bitte beachten Sie die Rechtsmittelbelehrung auf Seite 2."
FILENAME = "verfuegung-gartenhaus.pdf"


@dataclass
class Portal:
    runtime: Runtime
    app: Flask

    def client(self) -> FlaskClient:
        return self.app.test_client()


@contextlib.contextmanager
def portal_on(config: Config) -> Iterator[Portal]:
    """A web app on its own Runtime built from `config` (shares the suite's database)."""
    rt = Runtime(config)
    app = create_app(config)
    app.extensions["portal"].close()
    app.extensions["portal"] = rt
    try:
        yield Portal(rt, app)
    finally:
        rt.close()


@contextlib.contextmanager
def in_process_portal(runtime: Runtime, **overrides: Any) -> Iterator[Portal]:
    """Like the suite's portal, jobs run in-process after commit, with config overrides."""
    with portal_on(dataclasses.replace(runtime.config, redis_url=None, **overrides)) as portal:
        yield portal


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = start_smtp_server()
    yield server
    server.stop()


@pytest.fixture
def mail_portal(runtime: Runtime, smtp: SmtpServer) -> Iterator[Portal]:
    """A portal that sends its notices to the `smtp` server."""
    with in_process_portal(runtime, smtp_url=smtp.url) as portal:
        yield portal


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = start_webhook_receiver()
    yield server
    server.stop()


@dataclass(frozen=True)
class Hook:
    client_id: uuid.UUID
    secret: bytes


def register_webhook(
    runtime: Runtime, url: str, slug: str = "stadt-luzern-einwohnerdienste"
) -> Hook:
    """A specialist application of the authority, with a webhook URL and a fresh secret."""
    with runtime.transaction() as session:
        authority = session.scalars(select(Authority).where(Authority.slug == slug)).one()
        client = create_api_client(session, authority, "Bauverwaltung (Test)", url)
        secret = set_webhook_secret(session, client)
        return Hook(client.id, secret.encode())


@pytest.fixture
def hook(runtime: Runtime, demo: dict[str, Any], receiver: WebhookReceiver) -> Hook:
    """The demo clerk's authority (Stadt Luzern) has a client whose webhook is `receiver`."""
    return register_webhook(runtime, receiver.url)


def deliver_letter(
    client: FlaskClient, recipient_ahvn13: str, pdf_bytes: bytes, subject: str = SUBJECT
) -> Any:
    """A clerk (logged in on `client`) delivers a decision through the office form."""
    page = client.get("/office/deliver")
    assert page.status_code == 200
    response = post_multipart(
        client,
        "/office/deliver",
        {
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "recipient": recipient_ahvn13,
            "kind": "decision",
            "subject": subject,
            "body": BODY,
            "files": [(io.BytesIO(pdf_bytes), FILENAME)],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def the_delivery(runtime: Runtime) -> Delivery:
    with runtime.sessions() as session:
        return session.scalars(select(Delivery)).one()


def events(runtime: Runtime, type_: str | None = None) -> list[WebhookEvent]:
    with runtime.sessions() as session:
        query = select(WebhookEvent).order_by(WebhookEvent.created_at)
        if type_:
            query = query.where(WebhookEvent.type == type_)
        return list(session.scalars(query))
