"""The rules of a new delivery, in one place for `deliver` (one letter, ORM objects) and
`deliver_many` (a mass mailing, rows inserted in bulk): the checks, the column values of the
message and the delivery, and the payloads of the journal entries and webhook events."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from casefiles.documents import CheckedFile
from casefiles.errors import InvalidInput
from directory.actors import Actor
from directory.identifiers import N_
from directory.models import Authority, Party
from mailbox.deadlines import deemed_delivery_at
from mailbox.models import DeliveryStatus, MessageKind

MAX_PERIOD_DAYS = 365


@dataclass(frozen=True)
class DeliveryOptions:
    appeal_period_days: int | None = None
    reply_allowed: bool = True
    case_id: uuid.UUID | None = None
    external_ref: str | None = None
    seal: bool = False  # seal the PDFs with the authority's seal key


class RecipientNotReachable(InvalidInput):
    """No account or no consent: the authority must send this one on paper."""

    code = "recipient_not_reachable"

    def __init__(self) -> None:
        # N_: raised through this subclass, the message is not where extraction looks for one.
        super().__init__(
            "recipient",
            N_("This recipient does not receive electronic deliveries. Please send it on paper."),
        )


def check_message(
    subject: str, kind: MessageKind | str, files: Sequence[CheckedFile], options: DeliveryOptions
) -> tuple[str, MessageKind]:
    """The subject (stripped) and kind of a letter to deliver, or InvalidInput."""
    subject = subject.strip()
    if not subject:
        raise InvalidInput("subject", "A subject is required.")
    if len(subject) > 300:
        raise InvalidInput("subject", "The subject is longer than 300 characters.")
    try:
        kind = MessageKind(kind)
    except ValueError:
        raise InvalidInput("kind", "Choose what kind of message this is.") from None
    if kind == MessageKind.REPLY:
        raise InvalidInput("kind", "Choose what kind of message this is.")
    if not files:
        raise InvalidInput("files", "Attach at least one PDF document.")
    if any(f.media_type != "application/pdf" for f in files):
        raise InvalidInput("files", "Authorities deliver PDF documents only.")
    period = options.appeal_period_days
    if period is not None and not 1 <= period <= MAX_PERIOD_DAYS:
        raise InvalidInput("appeal_period_days", "A period is between 1 and 365 days.")
    return subject, kind


def message_values(
    case_id: uuid.UUID,
    authority: Authority,
    actor: Actor,
    kind: MessageKind,
    subject: str,
    body: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """The column values of an authority's outbound message."""
    return {
        "id": uuid.uuid4(),
        "case_id": case_id,
        "sender_authority_id": authority.id,
        "kind": kind,
        "subject": subject,
        "body": body.strip(),
        "created_at": now,
        "created_by": actor.label,
    }


def accepted_values(
    message_id: uuid.UUID,
    recipient: Party,
    authority: Authority,
    actor: Actor,
    options: DeliveryOptions,
    now: dt.datetime,
) -> dict[str, Any]:
    """The column values of a delivery as it is accepted."""
    return {
        "id": uuid.uuid4(),
        "message_id": message_id,
        "recipient_party_id": recipient.id,
        "status": DeliveryStatus.ACCEPTED,
        "accepted_at": now,
        # Copied from the authority: a later change of its rule does not reach back.
        "deemed_after_days": authority.deemed_delivery_days,
        "appeal_period_days": options.appeal_period_days,
        "reply_allowed": options.reply_allowed,
        "api_client_id": actor.client_id,
    }


def available_values(available_at: dt.datetime, deemed_after_days: int) -> dict[str, Any]:
    """What changes when a delivery becomes available in the mailbox."""
    return {
        "status": DeliveryStatus.AVAILABLE,
        "available_at": available_at,
        "deemed_due_at": deemed_delivery_at(available_at, deemed_after_days),
    }


def accepted_entry(
    message: dict[str, Any],
    delivery: dict[str, Any],
    authority: Authority,
    recipient: Party,
    document_ids: Sequence[uuid.UUID],
) -> tuple[str, dict[str, Any]]:
    """The journal entry (action, payload) of an accepted delivery, from the column values of
    its message and delivery: every column of both rows is in it (mailbox/projection.py)."""
    return "delivery.accepted", {
        "delivery_id": str(delivery["id"]),
        "message_id": str(message["id"]),
        "kind": MessageKind(message["kind"]).value,
        "subject": message["subject"],
        # The body's digest, not the body: the letter's text is in the message row and its
        # documents; the digest fixes it without copying it into every dump of the journal.
        "body_sha256": hashlib.sha256(message["body"].encode()).hexdigest(),
        "sender": {"id": str(authority.id), "name": authority.name},
        "recipient": {"id": str(recipient.id), "name": recipient.display_name},
        "documents": [str(d) for d in document_ids],
        "created_at": message["created_at"].isoformat(),
        "accepted_at": delivery["accepted_at"].isoformat(),
        "deemed_after_days": delivery["deemed_after_days"],
        "appeal_period_days": delivery["appeal_period_days"],
        "reply_allowed": delivery["reply_allowed"],
    }


def available_entry(
    delivery_id: uuid.UUID, available: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The journal entry (action, payload) of a delivery that became available."""
    return "delivery.available", {
        "delivery_id": str(delivery_id),
        "available_at": available["available_at"].isoformat(),
        "deemed_delivered_at": available["deemed_due_at"].isoformat(),
    }


def event_data(
    delivery_id: uuid.UUID, case_id: uuid.UUID, status: DeliveryStatus, due_date: dt.date | None
) -> dict[str, object]:
    """The data of a delivery's webhook event."""
    return {
        "delivery_id": str(delivery_id),
        "case_id": str(case_id),
        "status": status.value,
        "due_date": due_date.isoformat() if due_date else None,
    }


def wants_notice(recipient: Party) -> bool:
    """Whether the recipient is told of a new delivery by e-mail (after commit, by a job)."""
    return bool(recipient.email)
