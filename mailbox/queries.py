"""Reading mailboxes and deliveries, always scoped to the actor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import case as sql_case
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from casefiles.errors import NotFound
from casefiles.models import Document, DocumentVersion, JournalEntry
from casefiles.operations import get_case, get_version
from directory.actors import AccessDenied, Actor
from directory.models import Authority, Role
from mailbox.models import Delivery, DeliveryStatus, Direction, Message, MessageDocument


class OpeningRequired(Exception):
    """A resident asked for a delivered document before opening the delivery (no receipt yet)."""

    def __init__(self, delivery_id: uuid.UUID) -> None:
        super().__init__("open the message first")
        self.delivery_id = delivery_id


@dataclass(frozen=True)
class InboxFilter:
    authority_id: uuid.UUID | None = None
    kind: str | None = None
    status: str | None = None


def inbox(session: Session, actor: Actor, filters: InboxFilter | None = None) -> list[Delivery]:
    """The resident's deliveries, unopened first, then newest first."""
    actor.require(Role.RESIDENT)
    filters = filters or InboxFilter()
    unopened_first = sql_case((Delivery.status == DeliveryStatus.AVAILABLE, 0), else_=1)
    stmt = (
        select(Delivery)
        .join(Message)
        .where(Delivery.recipient_party_id == actor.party_id)
        .where(Delivery.status.not_in([DeliveryStatus.WITHDRAWN, DeliveryStatus.ACCEPTED]))
        .options(selectinload(Delivery.message).selectinload(Message.sender))
        .order_by(unopened_first, Delivery.available_at.desc())
    )
    if filters.authority_id:
        stmt = stmt.where(Message.sender_authority_id == filters.authority_id)
    if filters.kind:
        stmt = stmt.where(Message.kind == filters.kind)
    if filters.status:
        stmt = stmt.where(Delivery.status == filters.status)
    return list(session.scalars(stmt))


def inbox_senders(session: Session, actor: Actor) -> list[tuple[uuid.UUID, str]]:
    """The authorities that have delivered to the resident (for the inbox filter)."""
    actor.require(Role.RESIDENT)
    stmt = (
        select(Authority.id, Authority.name)
        .join(Message, Message.sender_authority_id == Authority.id)
        .join(Delivery, Delivery.message_id == Message.id)
        .where(Delivery.recipient_party_id == actor.party_id)
        .distinct()
        .order_by(Authority.name)
    )
    return [(row.id, row.name) for row in session.execute(stmt)]


def get_delivery(session: Session, actor: Actor, delivery_id: uuid.UUID) -> Delivery:
    """A delivery as its recipient or its sending authority may see it."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or not _may_see(actor, delivery):
        raise NotFound("message")
    return delivery


def _may_see(actor: Actor, delivery: Delivery) -> bool:
    if actor.role == Role.RESIDENT:
        return delivery.recipient_party_id == actor.party_id and delivery.status not in (
            DeliveryStatus.WITHDRAWN,
            DeliveryStatus.ACCEPTED,
        )
    if actor.role in (Role.CLERK, Role.API_CLIENT):
        return delivery.message.sender_authority_id == actor.authority_id
    return False


def sent_deliveries(
    session: Session, actor: Actor, status: str | None = None, limit: int = 200
) -> list[Delivery]:
    """What the actor's authority has delivered, newest first."""
    actor.require_authority()
    stmt = (
        select(Delivery)
        .join(Message)
        .where(Message.sender_authority_id == actor.authority_id)
        .options(selectinload(Delivery.message), selectinload(Delivery.recipient))
        .order_by(Delivery.accepted_at.desc())
        .limit(limit)
    )
    if status:
        stmt = stmt.where(Delivery.status == status)
    return list(session.scalars(stmt))


def case_messages(session: Session, actor: Actor, case_id: uuid.UUID) -> list[Message]:
    """The messages of a case file the actor may see, oldest first."""
    case = get_case(session, actor, case_id)
    stmt = (
        select(Message)
        .where(Message.case_id == case.id)
        .options(selectinload(Message.documents), selectinload(Message.delivery))
        .order_by(Message.created_at)
    )
    messages = list(session.scalars(stmt))
    if actor.role == Role.RESIDENT:
        # A resident sees their own replies and what was delivered to them and not withdrawn.
        messages = [
            m
            for m in messages
            if m.direction == Direction.INBOUND
            and m.sender_party_id == actor.party_id
            or (m.delivery is not None and _may_see(actor, m.delivery))
        ]
    return messages


def withheld_documents(
    session: Session, actor: Actor, case_id: uuid.UUID, visible: list[Message]
) -> set[uuid.UUID]:
    """Documents of the case that belong to messages the actor may not see (residents only:
    someone else's deliveries, withdrawn ones)."""
    if actor.role != Role.RESIDENT:
        return set()
    stmt = select(MessageDocument.document_id).join(Message).where(Message.case_id == case_id)
    attached = set(session.scalars(stmt))
    return attached - {d.id for m in visible for d in m.documents}


def reply_queue(session: Session, actor: Actor, include_handled: bool = False) -> list[Message]:
    """Replies and follow-ups residents sent to the actor's authority, oldest first."""
    actor.require_authority()
    stmt = (
        select(Message)
        .where(Message.direction == Direction.INBOUND)
        .where(Message.sender_authority_id == actor.authority_id)
        .options(selectinload(Message.sender_party), selectinload(Message.case))
        .order_by(Message.created_at)
    )
    if not include_handled:
        stmt = stmt.where(Message.handled_at.is_(None))
    return list(session.scalars(stmt))


def readable_version(session: Session, actor: Actor, version_id: uuid.UUID) -> DocumentVersion:
    """A document version the actor may download now.

    Residents see a delivered document only once they have opened its delivery (or it counts
    as delivered), because the opening is what the receipt proves.
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
        if delivery.status in (DeliveryStatus.WITHDRAWN, DeliveryStatus.ACCEPTED):
            raise AccessDenied("withdrawn")
        if delivery.status == DeliveryStatus.AVAILABLE:
            raise OpeningRequired(delivery.id)
    return version


@dataclass(frozen=True)
class ReceiptFiles:
    """The filed receipt of a delivery: the sealed PDF and the signed JSON document."""

    pdf: DocumentVersion
    json: DocumentVersion


def receipt_files(session: Session, delivery: Delivery) -> ReceiptFiles | None:
    """The receipt documents once the receipt job has filed them (the caller has checked access
    to the delivery)."""
    if delivery.receipt_document_id is None:
        return None
    entry = session.scalars(
        select(JournalEntry)
        .where(JournalEntry.case_id == delivery.message.case_id)
        .where(JournalEntry.action == "receipt.issued")
        .where(JournalEntry.payload["delivery_id"].as_string() == str(delivery.id))
        .order_by(JournalEntry.seq)
    ).first()
    if entry is None:
        return None
    pdf = session.get_one(Document, uuid.UUID(entry.payload["pdf_document_id"]))
    signed = session.get_one(Document, uuid.UUID(entry.payload["json_document_id"]))
    return ReceiptFiles(pdf=pdf.current, json=signed.current)
