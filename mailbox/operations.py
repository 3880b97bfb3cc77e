"""Delivering messages into mailboxes and opening them (which records the receipt)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from mailbox.models import Delivery, DeliveryStatus, Message, MessageDocument, MessageKind
from mailbox.receipts import receipt_payload

from sqlalchemy import case as sql_case
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from casefiles.documents import CheckedFile
from casefiles.errors import InvalidInput, NotFound
from casefiles.journal import record
from casefiles.models import DocumentVersion
from casefiles.operations import add_document, get_version, open_case
from directory.actors import AccessDenied, Actor
from directory.models import Authority, Party, Role
from storage.db import utcnow
from storage.jobs import enqueue


class OpeningRequired(Exception):
    """A resident asked for a delivered document before opening the delivery (no receipt yet)."""

    def __init__(self, delivery_id: uuid.UUID) -> None:
        super().__init__("open the message first")
        self.delivery_id = delivery_id


def deliver(
    session: Session,
    actor: Actor,
    *,
    recipient_id: uuid.UUID | None,
    kind: MessageKind | str,
    subject: str,
    files: Sequence[CheckedFile],
    body: str = "",
) -> Delivery:
    """Put a message with its documents into a recipient's mailbox, in a new case file."""
    actor.require(Role.CLERK)
    subject = subject.strip()
    if not subject:
        raise InvalidInput("subject", "A subject is required.")
    try:
        kind = MessageKind(kind)
    except ValueError:
        raise InvalidInput("kind", "Choose what kind of message this is.") from None
    if not files:
        raise InvalidInput("files", "Attach at least one PDF document.")
    recipient = session.get(Party, recipient_id) if recipient_id else None
    if recipient is None:
        raise InvalidInput("recipient", "Choose a recipient.")
    authority = session.get_one(Authority, actor.authority_id)

    case = open_case(
        session, actor, title=subject, authority=authority, parties=[(recipient, "recipient")]
    )
    versions = [add_document(session, actor, case, f) for f in files]
    message = Message(
        case_id=case.id,
        sender_authority_id=authority.id,
        kind=kind,
        subject=subject[:300],
        body=body.strip(),
        created_by=actor.label,
    )
    session.add(message)
    session.flush()
    session.add_all(
        MessageDocument(message_id=message.id, document_id=v.document_id) for v in versions
    )
    now = utcnow()
    delivery = Delivery(
        message_id=message.id,
        recipient_party_id=recipient.id,
        status=DeliveryStatus.AVAILABLE,
        accepted_at=now,
        available_at=now,
    )
    session.add(delivery)
    session.flush()
    record(
        session,
        case,
        actor,
        "delivery.available",
        {
            "delivery_id": str(delivery.id),
            "message_id": str(message.id),
            "kind": kind.value,
            "subject": message.subject,
            "recipient": {"id": str(recipient.id), "name": recipient.display_name},
            "documents": [str(v.document_id) for v in versions],
        },
    )
    return delivery


def inbox(session: Session, actor: Actor) -> list[Delivery]:
    """The resident's deliveries, unopened first, then newest first."""
    actor.require(Role.RESIDENT)
    unopened_first = sql_case((Delivery.status == DeliveryStatus.AVAILABLE, 0), else_=1)
    stmt = (
        select(Delivery)
        .where(Delivery.recipient_party_id == actor.party_id)
        .where(Delivery.status != DeliveryStatus.WITHDRAWN)
        .options(selectinload(Delivery.message).selectinload(Message.sender))
        .order_by(unopened_first, Delivery.available_at.desc())
    )
    return list(session.scalars(stmt))


def get_delivery(session: Session, actor: Actor, delivery_id: uuid.UUID) -> Delivery:
    """A delivery as its recipient or its sending authority may see it."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or not _may_see(actor, delivery):
        raise NotFound("message")
    return delivery


def _may_see(actor: Actor, delivery: Delivery) -> bool:
    if actor.role == Role.RESIDENT:
        return (
            delivery.recipient_party_id == actor.party_id
            and delivery.status != DeliveryStatus.WITHDRAWN
        )
    if actor.role == Role.CLERK:
        return delivery.message.sender_authority_id == actor.authority_id
    return False


def open_delivery(session: Session, actor: Actor, delivery_id: uuid.UUID) -> Delivery:
    """The recipient opens a delivery: a legal act, recorded as a signed receipt entry."""
    actor.require(Role.RESIDENT)
    delivery = get_delivery(session, actor, delivery_id)
    if delivery.status != DeliveryStatus.AVAILABLE:
        return delivery  # opening again changes nothing: the first opening is what counts
    delivery.status = DeliveryStatus.OPENED
    delivery.opened_at = utcnow()
    delivery.opened_by = actor.label
    session.flush()
    record(session, delivery.message.case, actor, "delivery.opened", receipt_payload(delivery))
    enqueue(session, "mailbox.jobs.issue_receipt", str(delivery.id))
    return delivery


def sent_deliveries(session: Session, actor: Actor, limit: int = 200) -> list[Delivery]:
    """What the clerk's authority has delivered, newest first."""
    actor.require(Role.CLERK)
    stmt = (
        select(Delivery)
        .join(Message)
        .where(Message.sender_authority_id == actor.authority_id)
        .options(selectinload(Delivery.message), selectinload(Delivery.recipient))
        .order_by(Delivery.accepted_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def readable_version(session: Session, actor: Actor, version_id: uuid.UUID) -> DocumentVersion:
    """A document version the actor may download now.

    Residents see a delivered document only once they have opened its delivery, because the
    opening is what the receipt proves.
    """
    version = get_version(session, actor, version_id)
    if actor.role != Role.RESIDENT:
        return version
    stmt = (
        select(Delivery)
        .join(Message)
        .join(MessageDocument, MessageDocument.message_id == Message.id)
        .where(MessageDocument.document_id == version.document_id)
    )
    for delivery in session.scalars(stmt):
        if delivery.recipient_party_id != actor.party_id:
            continue
        if delivery.status == DeliveryStatus.WITHDRAWN:
            raise AccessDenied("withdrawn")
        if delivery.status == DeliveryStatus.AVAILABLE:
            raise OpeningRequired(delivery.id)
    return version
