"""Background work of the mailbox. Each job takes ids, loads its rows and is idempotent."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from casefiles.documents import CheckedFile
from casefiles.journal import keyring_of, record
from casefiles.models import JournalEntry
from casefiles.operations import add_document
from directory.actors import Actor
from mailbox.models import Delivery, DeliveryStatus, WebhookEvent
from mailbox.operations import sweep_deemed_deliveries
from mailbox.receipts import render_receipt_pdf
from signing import seal_pdf
from signing.jws import sign_json
from storage.db import utcnow

DELIVERED = (DeliveryStatus.OPENED, DeliveryStatus.DEEMED_DELIVERED)


def receipt_entry(session: Session, delivery: Delivery) -> JournalEntry | None:
    """The signed journal entry that records the legal delivery (opened or deemed)."""
    return session.scalars(
        select(JournalEntry)
        .where(JournalEntry.case_id == delivery.message.case_id)
        .where(JournalEntry.action.in_([f"delivery.{s.value}" for s in DELIVERED]))
        .where(JournalEntry.payload["delivery_id"].as_string() == str(delivery.id))
        .order_by(JournalEntry.seq)
    ).first()


def issue_receipt(session: Session, delivery_id: str) -> None:
    """File the receipt in the case file: a PAdES-sealed PDF (B-T) and a signed JSON (JWS)."""
    # The row lock makes a second run (a retry, a recovered job) wait and then find it done.
    delivery = session.get(Delivery, uuid.UUID(delivery_id), with_for_update={"key_share": True})
    if delivery is None or delivery.receipt_document_id is not None:
        return
    if delivery.status not in DELIVERED:
        return
    entry = receipt_entry(session, delivery)
    if entry is None:
        return
    case = delivery.message.case
    keyring = keyring_of(session)
    seal = keyring.seal
    # Both forms carry exactly the facts of the signed journal entry. The PDF's seal is PAdES
    # B-T: a time-stamp from the portal's TSA (signing/timestamps.py) dates the seal itself.
    pdf = seal_pdf(
        render_receipt_pdf(entry.payload, entry.entry_hash),
        seal,
        reason="Zustellnachweis",
        timestamper=keyring.tsa.stamper if keyring.tsa else None,
    )
    signed = {
        "receipt": entry.payload,
        "journal": {"case_id": str(case.id), "seq": entry.seq, "entry_hash": entry.entry_hash},
        "jws": sign_json(seal, {"receipt": entry.payload, "entry_hash": entry.entry_hash}),
    }
    actor = Actor.system()
    stem = f"Zustellnachweis-{case.reference}"
    pdf_version = add_document(
        session, actor, case, _file(f"{stem}.pdf", "application/pdf", pdf), title="Zustellnachweis"
    )
    # Indented for people, not canonical: what is signed is the JWS payload (canonical JSON,
    # signing/canonical.py), and this file's bytes are fixed by their digest in the journal.
    json_bytes = json.dumps(signed, ensure_ascii=False, indent=2).encode()
    json_version = add_document(
        session,
        actor,
        case,
        _file(f"{stem}.json", "application/json", json_bytes),
        title="Zustellnachweis (signiertes JSON)",
    )
    delivery.receipt_document_id = pdf_version.document_id
    record(
        session,
        case,
        actor,
        "receipt.issued",
        {
            "delivery_id": delivery_id,
            "pdf_document_id": str(pdf_version.document_id),
            "pdf_sha256": pdf_version.blob.sha256,
            "json_document_id": str(json_version.document_id),
            "json_sha256": json_version.blob.sha256,
        },
    )


def _file(name: str, media_type: str, data: bytes) -> CheckedFile:
    return CheckedFile(filename=name, media_type=media_type, size=len(data), spool=io.BytesIO(data))


def send_notice(session: Session, delivery_id: str) -> None:
    """E-mail the recipient that something waits (never the content); at most once."""
    from mailbox.notifications import send_delivery_notice

    # SMTP errors propagate: the transaction rolls back (notice_sent_at stays empty), rq retries
    # with backoff, and recovery finds the notice again (see lost_jobs).
    send_delivery_notice(session, uuid.UUID(delivery_id))


class NoticesFailed(Exception):
    """Some notices of a mailing could not be sent; the job is retried for them."""


def send_notices(session: Session, *delivery_ids: str) -> None:
    """The notices of a mass mailing, one job for all: each as `send_notice` sends it."""
    from mailbox.notifications import send_delivery_notice

    failed = []
    for delivery_id in delivery_ids:
        try:
            send_delivery_notice(session, uuid.UUID(delivery_id))
        except Exception:
            session.rollback()
            failed.append(delivery_id)
            continue
        # Each notice is committed as it is sent, unlike the rest of a job's work: a failure
        # later in the mailing must not undo `notice_sent_at` of mails already handed over, or
        # the retry would send them twice. A retry finds them done and skips them.
        session.commit()
    if failed:
        raise NoticesFailed(f"{len(failed)} of {len(delivery_ids)} notices failed: {failed[:5]}")


def send_webhook(session: Session, event_id: str) -> None:
    """POST one event to its client's webhook; on failure the job is retried with backoff."""
    from mailbox.webhooks import WebhookFailed, post_event

    try:
        post_event(session, uuid.UUID(event_id))
    except WebhookFailed:
        # The failed attempt (attempts, last_error, next_attempt_at) must outlive the rollback
        # that the edge does for a raised exception, so it is committed here; the raise then
        # lets rq retry the job. Nothing else was written in this job's transaction.
        session.commit()
        raise


def warn_of_failed_logins(session: Session, login_hash: str) -> None:
    """E-mail a login's owner about repeated failed logins (directory.throttle marks it due)."""
    from mailbox.login_warnings import send_login_warning

    send_login_warning(session, login_hash)


def sweep(session: Session, as_of: str | None = None) -> int:
    """The periodic sweep: deliveries unopened past their period count as delivered."""
    moment = dt.datetime.fromisoformat(as_of) if as_of else utcnow()
    return sweep_deemed_deliveries(session, moment)


def lost_jobs(session: Session) -> list[tuple[str, tuple[str, ...]]]:
    """Jobs the database says are due but whose effect is missing (Redis lost them, say)."""
    from mailbox.notifications import pending_notices

    receipts = session.scalars(
        select(Delivery.id).where(
            Delivery.status.in_(DELIVERED), Delivery.receipt_document_id.is_(None)
        )
    )
    webhooks = session.scalars(
        select(WebhookEvent.id).where(
            WebhookEvent.delivered_at.is_(None),
            WebhookEvent.attempts < 10,
            # Respect the backoff: recovery must not turn a failing receiver into a hot loop.
            or_(WebhookEvent.next_attempt_at.is_(None), WebhookEvent.next_attempt_at <= utcnow()),
        )
    )
    found: list[tuple[str, tuple[str, ...]]] = [
        ("mailbox.jobs.issue_receipt", (str(i),)) for i in receipts
    ]
    found += [("mailbox.jobs.send_webhook", (str(i),)) for i in webhooks]
    # Notices that failed or were lost: still waiting, never sent, recent (NOTICE_WINDOW_DAYS).
    found += [("mailbox.jobs.send_notice", (str(i),)) for i in pending_notices(session)]
    return found
