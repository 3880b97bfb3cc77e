"""Residents reply or send a follow-up from inside a case file; authorities answer there too."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from casefiles.documents import CheckedFile
from casefiles.errors import InvalidInput, NotFound
from casefiles.journal import record
from casefiles.lifecycle import ensure_open
from casefiles.models import CaseStatus
from casefiles.operations import add_document, get_case
from directory.actors import Actor
from directory.models import Party, Role
from mailbox.events import emit
from mailbox.models import Delivery, DeliveryStatus, Direction, Message, MessageDocument
from mailbox.operations import DeliveryOptions, deliver
from storage.db import utcnow

MAX_TEXT = 20_000


def send_reply(
    session: Session,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    text: str,
    files: Sequence[CheckedFile] = (),
    in_reply_to: uuid.UUID | None = None,
) -> Message:
    """A resident writes to the authority responsible for one of their case files."""
    actor.require(Role.RESIDENT)
    case = get_case(session, actor, case_id)
    ensure_open(case)  # a closed case file takes no more replies (issue 10)
    text = text.strip()
    if not text and not files:
        raise InvalidInput("text", "Write a text or attach a document.")
    if len(text) > MAX_TEXT:
        raise InvalidInput("text", "The text is longer than 20000 characters.")
    if "\x00" in text:  # PostgreSQL text cannot hold NUL: refused here, not a 500 at flush
        raise InvalidInput("text", "This field contains characters that are not allowed.")
    original = None
    if in_reply_to is not None:
        original = session.get(Message, in_reply_to)
        if original is None or original.case_id != case.id:
            raise NotFound("message")
        delivery = original.delivery
        if delivery is not None and not may_reply(actor, delivery):
            raise InvalidInput("text", "This message does not take replies.")
    party = session.get_one(Party, actor.party_id)
    versions = [add_document(session, actor, case, f) for f in files]
    subject = f"Antwort: {original.subject}" if original else f"Nachricht zu {case.title}"
    message = Message(
        case_id=case.id,
        direction=Direction.INBOUND,
        authority_id=case.authority_id,
        sender_party_id=party.id,
        in_reply_to_id=original.id if original else None,
        kind="reply",
        subject=subject[:300],
        body=text,
        # When it arrived: a reply can be an appeal, whose period it must meet.
        created_at=utcnow(),
        created_by=actor.label,
    )
    session.add(message)
    session.flush()
    session.add_all(
        MessageDocument(message_id=message.id, document_id=v.document_id, position=n)
        for n, v in enumerate(versions)
    )
    record(
        session,
        case,
        actor,
        "reply.received",
        {
            "message_id": str(message.id),
            "in_reply_to": str(original.id) if original else None,
            "text": text,
            "documents": [str(v.document_id) for v in versions],
            "subject": message.subject,
            "authority": {"id": str(case.authority_id), "name": case.authority.name},
            "sender_party": {"id": str(party.id), "name": party.display_name},
            "created_at": message.created_at.isoformat(),
        },
    )
    emit(
        session,
        case.authority_id,
        "case.reply_received",
        {"case_id": str(case.id), "message_id": str(message.id), "external_ref": case.external_ref},
    )
    return message


def may_reply(actor: Actor, delivery: Delivery) -> bool:
    """Whether the actor may answer this delivery: its recipient, once it is delivered (opened
    or deemed delivered), if the authority allowed replies, while the case file is open."""
    return (
        delivery.reply_allowed
        and delivery.message.case.status == CaseStatus.OPEN
        and delivery.recipient_party_id == actor.party_id
        and delivery.status in (DeliveryStatus.OPENED, DeliveryStatus.DEEMED_DELIVERED)
    )


def mark_handled(session: Session, actor: Actor, message_id: uuid.UUID) -> Message:
    """A clerk takes a reply off the authority's work queue."""
    actor.require_authority()
    message = session.get(Message, message_id)
    if (
        message is None
        or message.direction != Direction.INBOUND
        or message.authority_id != actor.authority_id
    ):
        raise NotFound("message")
    if message.handled_at is None:
        message.handled_at, message.handled_by = utcnow(), actor.label
        session.flush()
        handled = {"message_id": str(message.id), "handled_at": message.handled_at.isoformat()}
        record(session, message.case, actor, "reply.handled", handled)
    return message


def answer_in_case(
    session: Session,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    recipient_id: uuid.UUID | None,
    kind: str,
    subject: str,
    files: Sequence[CheckedFile],
    body: str = "",
    options: DeliveryOptions | None = None,
) -> Delivery:
    """An authority answers within one of its case files: a delivery to the case's recipient
    (or to the party named), subject to the same rules as any delivery."""
    actor.require_authority()
    case = get_case(session, actor, case_id)
    if recipient_id is None:
        recipients = [p.party_id for p in case.parties if p.role == "recipient"]
        if len(recipients) != 1:
            raise InvalidInput(
                "recipient", "This case file has several parties; name the recipient."
            )
        recipient_id = recipients[0]
    options = dataclasses.replace(options or DeliveryOptions(), case_id=case.id, external_ref=None)
    return deliver(
        session,
        actor,
        recipient_id=recipient_id,
        kind=kind,
        subject=subject,
        files=files,
        body=body,
        options=options,
    )
