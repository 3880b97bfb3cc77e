"""Background work of the mailbox. Each job takes ids and is idempotent."""

from __future__ import annotations

import io
import uuid
from mailbox.models import Delivery, DeliveryStatus
from mailbox.receipts import render_receipt_pdf

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.documents import CheckedFile
from casefiles.journal import keyring_of, record
from casefiles.models import JournalEntry
from casefiles.operations import add_document
from directory.actors import Actor
from signing import seal_pdf


def issue_receipt(session: Session, delivery_id: str) -> None:
    """Render the opened delivery's receipt as a sealed PDF and file it in the case file."""
    # The row lock makes a second run (a retry, a recovered job) wait and then find it done.
    delivery = session.get(Delivery, uuid.UUID(delivery_id), with_for_update=True)
    if delivery is None or delivery.receipt_document_id is not None:
        return
    if delivery.status not in (DeliveryStatus.OPENED, DeliveryStatus.DEEMED_DELIVERED):
        return
    case = delivery.message.case
    # The PDF prints exactly the facts the signed journal entry holds.
    entry = session.scalars(
        select(JournalEntry)
        .where(JournalEntry.case_id == case.id)
        .where(JournalEntry.action.in_(["delivery.opened", "delivery.deemed_delivered"]))
        .where(JournalEntry.payload["delivery_id"].as_string() == delivery_id)
        .order_by(JournalEntry.seq)
    ).first()
    if entry is None:
        return
    pdf = render_receipt_pdf(entry.payload, entry.entry_hash)
    sealed = seal_pdf(pdf, keyring_of(session).seal, reason="Zustellnachweis")
    actor = Actor.system()
    version = add_document(
        session,
        actor,
        case,
        CheckedFile(
            filename=f"Zustellnachweis-{case.reference}.pdf",
            media_type="application/pdf",
            size=len(sealed),
            spool=io.BytesIO(sealed),
        ),
        title="Zustellnachweis",
    )
    delivery.receipt_document_id = version.document_id
    record(
        session,
        case,
        actor,
        "receipt.issued",
        {
            "delivery_id": delivery_id,
            "document_id": str(version.document_id),
            "sha256": version.blob.sha256,
        },
    )


def lost_jobs(session: Session) -> list[tuple[str, tuple[str, ...]]]:
    """Jobs the database says are due but whose effect is missing (Redis lost them, say)."""
    stmt = select(Delivery.id).where(
        Delivery.status.in_([DeliveryStatus.OPENED, DeliveryStatus.DEEMED_DELIVERED]),
        Delivery.receipt_document_id.is_(None),
    )
    return [("mailbox.jobs.issue_receipt", (str(i),)) for i in session.scalars(stmt)]
