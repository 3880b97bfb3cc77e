"""Delivering into mailboxes, and the legal states of a delivery after it.

accepted → available → opened | deemed_delivered, or → withdrawn before it is opened.
Every change is a journal entry of the case file, written in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.documents import CheckedFile
from casefiles.errors import InvalidInput, NotFound
from casefiles.journal import record
from casefiles.lifecycle import ensure_open
from casefiles.models import CaseFile
from casefiles.operations import add_document, get_case, open_case
from directory.actors import Actor
from directory.consent import is_reachable
from directory.models import Authority, Party, Role
from mailbox.deadlines import period_end
from mailbox.events import emit
from mailbox.letters import (
    DeliveryOptions,
    RecipientNotReachable,
    accepted_entry,
    accepted_values,
    available_entry,
    available_values,
    check_message,
    event_data,
    message_values,
    wants_notice,
)
from mailbox.models import Delivery, DeliveryStatus, Message, MessageDocument, MessageKind
from mailbox.queries import OpeningRequired, get_delivery
from mailbox.receipts import receipt_payload
from mailbox.seals import prepare_pdf
from storage.db import utcnow
from storage.jobs import enqueue

__all__ = [
    "OpeningRequired",
    "AlreadyDelivered",
    "DeliveryOptions",
    "RecipientNotReachable",
    "deliver",
    "open_delivery",
    "withdraw_delivery",
    "sweep_deemed_deliveries",
]


class AlreadyDelivered(InvalidInput):
    """The delivery has been opened or deemed delivered: it can no longer be withdrawn."""

    code = "already_delivered"

    def __init__(self) -> None:
        super().__init__("status", "This delivery has been delivered and cannot be withdrawn.")


def deliver(
    session: Session,
    actor: Actor,
    *,
    recipient_id: uuid.UUID | None,
    kind: MessageKind | str,
    subject: str,
    files: Sequence[CheckedFile],
    body: str = "",
    options: DeliveryOptions | None = None,
) -> Delivery:
    """Put a message with its documents into a recipient's mailbox, in its case file."""
    actor.require_authority()
    options = options or DeliveryOptions()
    subject, kind = check_message(subject, kind, files, options)
    recipient = session.get(Party, recipient_id) if recipient_id else None
    if recipient is None:
        raise InvalidInput("recipient", "Choose a recipient.")
    if not is_reachable(session, recipient.id):
        raise RecipientNotReachable()
    authority = session.get_one(Authority, actor.authority_id)
    case = _case_for(session, actor, authority, recipient, subject, options)

    prepared = [prepare_pdf(session, authority, f, seal=options.seal) for f in files]
    versions = [add_document(session, actor, case, f, signatures=sigs) for f, sigs in prepared]
    now = utcnow()
    message_row = message_values(case.id, authority, actor, kind, subject, body, now)
    message = Message.of_columns(message_row)
    session.add(message)
    session.flush()
    session.add_all(
        MessageDocument(message_id=message.id, document_id=v.document_id, position=n)
        for n, v in enumerate(versions)
    )
    values = accepted_values(message.id, recipient, authority, actor, options, now)
    delivery = Delivery(**values, message=message, recipient=recipient)
    session.add(delivery)
    session.flush()
    documents = [v.document_id for v in versions]
    record(
        session, case, actor, *accepted_entry(message_row, values, authority, recipient, documents)
    )
    _make_available(session, actor, delivery, case)
    return delivery


def _case_for(
    session: Session,
    actor: Actor,
    authority: Authority,
    recipient: Party,
    subject: str,
    options: DeliveryOptions,
) -> CaseFile:
    """The recipient's case file to deliver into: named by id or external reference, or new.

    A case file has one holder. A letter for someone else in the same matter (the same case id
    or external reference) goes into a case file of that recipient's own, under the same
    external reference, so residents never see each other's letters.
    """
    external_ref = options.external_ref
    if options.case_id:
        try:
            named = get_case(session, actor, options.case_id)
        except NotFound:
            raise InvalidInput("case_id", "There is no such case file of your authority.") from None
        if named.party_id == recipient.id:
            ensure_open(named)
            return named
        external_ref = named.external_ref
    if external_ref:
        case = session.scalar(
            select(CaseFile).where(
                CaseFile.authority_id == authority.id,
                CaseFile.external_ref == external_ref,
                CaseFile.party_id == recipient.id,
            )
        )
        if case is not None:
            # The authority's file number names a closed case file: nothing enters it again.
            ensure_open(case)
            return case
    return open_case(
        session,
        actor,
        title=subject,
        authority=authority,
        parties=[(recipient, "recipient")],
        external_ref=external_ref,
    )


def _make_available(session: Session, actor: Actor, delivery: Delivery, case: CaseFile) -> None:
    available = available_values(utcnow(), delivery.deemed_after_days)
    for name, value in available.items():
        setattr(delivery, name, value)
    session.flush()
    record(session, case, actor, *available_entry(delivery.id, available))
    emit(session, case.authority_id, "delivery.available", _event_data(delivery))
    if wants_notice(delivery.recipient):
        enqueue(session, "mailbox.jobs.send_notice", str(delivery.id))


def _event_data(delivery: Delivery) -> dict[str, object]:
    return event_data(delivery.id, delivery.message.case_id, delivery.status, delivery.due_date)


def _delivered(
    session: Session, actor: Actor, delivery: Delivery, at: dt.datetime, status: DeliveryStatus
) -> None:
    """Opened or deemed: the legal delivery; the receipt and the period follow from it."""
    delivery.status = status
    if status == DeliveryStatus.OPENED:
        delivery.opened_at, delivery.opened_by = at, actor.label
    else:
        delivery.deemed_at = at
    if delivery.appeal_period_days:
        delivery.due_date = period_end(at, delivery.appeal_period_days)
    session.flush()
    case = delivery.message.case
    payload = receipt_payload(delivery)
    record(session, case, actor, f"delivery.{status.value}", payload)
    emit(session, case.authority_id, f"delivery.{status.value}", _event_data(delivery))
    enqueue(session, "mailbox.jobs.issue_receipt", str(delivery.id))


def open_delivery(session: Session, actor: Actor, delivery_id: uuid.UUID) -> Delivery:
    """The recipient opens a delivery: a legal act, recorded as a signed receipt entry."""
    actor.require(Role.RESIDENT)
    delivery = get_delivery(session, actor, delivery_id)
    _lock(session, delivery)
    if delivery.status == DeliveryStatus.AVAILABLE:
        _delivered(session, actor, delivery, utcnow(), DeliveryStatus.OPENED)
    # Opening again changes nothing: the first opening (or the deemed delivery) counts.
    return delivery


def withdraw_delivery(
    session: Session, actor: Actor, delivery_id: uuid.UUID, reason: str = ""
) -> Delivery:
    """The sender recalls a delivery that has not been opened or deemed delivered yet."""
    actor.require_authority()
    delivery = get_delivery(session, actor, delivery_id)
    _lock(session, delivery)
    if delivery.status == DeliveryStatus.WITHDRAWN:
        return delivery
    if delivery.status not in (DeliveryStatus.ACCEPTED, DeliveryStatus.AVAILABLE):
        raise AlreadyDelivered()
    delivery.status = DeliveryStatus.WITHDRAWN
    delivery.withdrawn_at, delivery.withdrawn_by = utcnow(), actor.label
    session.flush()
    case = delivery.message.case
    record(
        session,
        case,
        actor,
        "delivery.withdrawn",
        {
            "delivery_id": str(delivery.id),
            "reason": reason.strip()[:500],
            "withdrawn_at": delivery.withdrawn_at.isoformat(),
        },
    )
    emit(session, case.authority_id, "delivery.withdrawn", _event_data(delivery))
    return delivery


def sweep_deemed_deliveries(session: Session, as_of: dt.datetime, limit: int = 500) -> int:
    """Mark deliveries unopened past their period as deemed delivered; safe to run any time."""
    actor = Actor.system()
    due = session.scalars(
        select(Delivery)
        .where(Delivery.status == DeliveryStatus.AVAILABLE, Delivery.deemed_due_at <= as_of)
        .order_by(Delivery.deemed_due_at)
        .limit(limit)
    ).all()
    done = 0
    for delivery in due:
        _lock(session, delivery)
        if delivery.status == DeliveryStatus.AVAILABLE:  # not opened in the meantime
            assert delivery.deemed_due_at is not None
            # The legal moment is the end of the period, not whenever the sweep ran.
            _delivered(
                session, actor, delivery, delivery.deemed_due_at, DeliveryStatus.DEEMED_DELIVERED
            )
            done += 1
    return done


def _lock(session: Session, delivery: Delivery) -> None:
    # Opening, withdrawing and the sweep race for the same row; the lock lets one win cleanly
    # (NO KEY UPDATE, like the journal lock: rows referencing the delivery do not block it).
    session.refresh(delivery, with_for_update={"key_share": True})
