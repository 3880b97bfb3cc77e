"""Events for the authorities' specialist applications (webhooks), written as outbox rows in
the same transaction as the change, and sent by a job after commit."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.models import ApiClient
from mailbox.models import WebhookEvent
from storage.db import utcnow
from storage.jobs import enqueue

EVENT_TYPES = (
    "delivery.available",
    "delivery.opened",
    "delivery.deemed_delivered",
    "delivery.withdrawn",
    "case.reply_received",
)


def emit(session: Session, authority_id: uuid.UUID, type_: str, data: dict[str, Any]) -> int:
    """Queue one event for every API client of the authority that has a webhook."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_}")
    clients = session.scalars(
        select(ApiClient.id).where(
            ApiClient.authority_id == authority_id, ApiClient.webhook_url.is_not(None)
        )
    ).all()
    now = utcnow()
    for client_id in clients:
        event_id = uuid.uuid4()
        session.add(
            WebhookEvent(
                id=event_id,
                client_id=client_id,
                type=type_,
                payload={
                    "id": str(event_id),
                    "type": type_,
                    "created_at": now.isoformat(),
                    "data": data,
                },
                next_attempt_at=now,
            )
        )
        enqueue(session, "mailbox.jobs.send_webhook", str(event_id))
    if clients:
        session.flush()
    return len(clients)
