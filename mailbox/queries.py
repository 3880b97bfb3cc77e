"""Reading mailboxes and deliveries, always scoped to the actor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session, selectinload

from casefiles.errors import NotFound
from casefiles.models import CaseFile, Document, DocumentVersion, JournalEntry
from casefiles.operations import get_case, get_version
from directory.actors import Actor
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
        .options(selectinload(Delivery.message).selectinload(Message.authority))
        .order_by(unopened_first, Delivery.available_at.desc())
    )
    if filters.authority_id:
        stmt = stmt.where(Message.authority_id == filters.authority_id)
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
        .join(Message, Message.authority_id == Authority.id)
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
        return delivery.message.authority_id == actor.authority_id
    return False


def sent_deliveries(
    session: Session, actor: Actor, status: str | None = None, limit: int = 200
) -> list[Delivery]:
    """What the actor's authority has delivered, newest first."""
    actor.require_authority()
    stmt = (
        select(Delivery)
        .join(Message)
        .where(Message.authority_id == actor.authority_id)
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


def visible_documents(
    session: Session, actor: Actor, case: CaseFile, visible: list[Message]
) -> list[Document]:
    """The case file's documents the actor may see: all for its authority and archivists; for a
    resident only what was delivered to them (not withdrawn), what they sent, and the receipts
    of their own deliveries."""
    if actor.role != Role.RESIDENT:
        return list(case.documents)
    allowed = {d.id for m in visible for d in m.documents}
    allowed |= _receipt_documents(session, actor, case.id)
    return [d for d in case.documents if d.id in allowed]


def visible_entries(
    session: Session, actor: Actor, case: CaseFile, entries: list[JournalEntry]
) -> list[JournalEntry]:
    """The journal entries the actor may read. A resident reads the entries of the case file
    that concern them: none that name another party, or someone else's delivery, message or
    document (the journal stays whole; this is what is shown)."""
    if actor.role != Role.RESIDENT:
        return entries
    mine = {str(i) for i in session.scalars(_deliveries_to(actor, case.id))}
    messages = case_messages(session, actor, case.id)
    allowed_messages = {str(m.id) for m in messages}
    allowed_documents = {str(d.id) for d in visible_documents(session, actor, case, messages)}
    me = str(actor.party_id)

    def readable(entry: JournalEntry) -> bool:
        p = entry.payload
        if "delivery_id" in p and p["delivery_id"] not in mine:
            return False
        if "message_id" in p and p["message_id"] not in allowed_messages:
            return False
        if "document_id" in p and p["document_id"] not in allowed_documents:
            return False
        if entry.action == "party.added":
            return p.get("party", {}).get("id") == me
        if entry.action == "case.opened":
            return all(party.get("id") == me for party in p.get("parties", []))
        return True

    return [e for e in entries if readable(e)]


def _deliveries_to(actor: Actor, case_id: uuid.UUID) -> Select[uuid.UUID]:
    return (
        select(Delivery.id)
        .join(Message)
        .where(Message.case_id == case_id, Delivery.recipient_party_id == actor.party_id)
        .where(Delivery.status.not_in([DeliveryStatus.WITHDRAWN, DeliveryStatus.ACCEPTED]))
    )


def _receipt_documents(session: Session, actor: Actor, case_id: uuid.UUID) -> set[uuid.UUID]:
    """The receipt documents (PDF and signed JSON) of the actor's deliveries in a case file."""
    mine = {str(i) for i in session.scalars(_deliveries_to(actor, case_id))}
    issued = session.scalars(
        select(JournalEntry.payload)
        .where(JournalEntry.case_id == case_id)
        .where(JournalEntry.action == "receipt.issued")
    )
    found: set[uuid.UUID] = set()
    for payload in issued:
        if payload["delivery_id"] in mine:
            found |= {uuid.UUID(payload["pdf_document_id"]), uuid.UUID(payload["json_document_id"])}
    return found


def reply_queue(session: Session, actor: Actor, include_handled: bool = False) -> list[Message]:
    """Replies and follow-ups residents sent to the actor's authority, oldest first."""
    actor.require_authority()
    stmt = (
        select(Message)
        .where(Message.direction == Direction.INBOUND)
        .where(Message.authority_id == actor.authority_id)
        .options(selectinload(Message.sender_party), selectinload(Message.case))
        .order_by(Message.created_at)
    )
    if not include_handled:
        stmt = stmt.where(Message.handled_at.is_(None))
    return list(session.scalars(stmt))


def readable_version(session: Session, actor: Actor, version_id: uuid.UUID) -> DocumentVersion:
    """A document version the actor may download now.

    Staff may read what their case files hold. A resident's right is checked for this very
    document, not for the case file: it was delivered to them and not withdrawn, they sent it,
    or it is the receipt of their delivery. A delivered document opens only once its delivery
    has been opened (or counts as delivered), because the opening is what the receipt proves.
    """
    if actor.role != Role.RESIDENT:
        return get_version(session, actor, version_id)
    version = session.get(DocumentVersion, version_id)
    if version is None:
        raise NotFound("document")
    document = version.document
    carriers = session.scalars(
        select(Message)
        .join(MessageDocument, MessageDocument.message_id == Message.id)
        .where(MessageDocument.document_id == document.id)
        .options(selectinload(Message.delivery))
    )
    waiting: Delivery | None = None
    for message in carriers:
        if message.direction == Direction.INBOUND and message.sender_party_id == actor.party_id:
            return version
        delivery = message.delivery
        if delivery is None or delivery.recipient_party_id != actor.party_id:
            continue
        if delivery.status in (DeliveryStatus.OPENED, DeliveryStatus.DEEMED_DELIVERED):
            return version
        if delivery.status == DeliveryStatus.AVAILABLE:
            waiting = delivery
    if waiting is not None:
        raise OpeningRequired(waiting.id)
    if document.id in _receipt_documents(session, actor, document.case_id):
        return version
    raise NotFound("document")


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
