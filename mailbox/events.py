"""Events for the authorities' specialist applications (webhooks), written as outbox rows in
the same transaction as the change, and sent by a job after commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.models import ApiClient
from mailbox.models import WebhookEvent
from storage.bulk import insert_rows
from storage.db import utcnow
from storage.jobs import enqueue

EVENT_TYPES = (
    "delivery.available",
    "delivery.opened",
    "delivery.deemed_delivered",
    "delivery.withdrawn",
    "case.reply_received",
    "case.ordered",
    "step.assigned",  # catalogue/steps.py: a step is in the authority's queue
)


def emit(session: Session, authority_id: uuid.UUID, type_: str, data: dict[str, Any]) -> int:
    """Queue one event for every API client of the authority that has a webhook."""
    return emit_many(session, authority_id, type_, [data])


def emit_many(
    session: Session, authority_id: uuid.UUID, type_: str, datas: Sequence[dict[str, Any]]
) -> int:
    """Queue an event per data item for every API client of the authority that has a webhook:
    one query for the clients and one insert however many items; the number of events."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_}")
    clients = session.scalars(
        select(ApiClient.id).where(
            ApiClient.authority_id == authority_id, ApiClient.webhook_url.is_not(None)
        )
    ).all()
    if not clients or not datas:
        return 0
    now = utcnow()
    rows = []
    for client_id in clients:
        for data in datas:
            event_id = uuid.uuid4()
            payload = {
                "id": str(event_id),
                "type": type_,
                "created_at": now.isoformat(),
                "data": data,
            }
            rows.append(
                {
                    "id": event_id,
                    "client_id": client_id,
                    "type": type_,
                    "payload": payload,
                    "created_at": now,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
            )
    insert_rows(session, WebhookEvent.__table__, rows)
    for row in rows:
        enqueue(session, "mailbox.jobs.send_webhook", str(row["id"]))
    return len(rows)
