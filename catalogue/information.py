"""Requests for information: a step asks the resident, with a deadline by the declaration
(`information.days`, Lucerne's holidays counted as mailbox/deadlines.py does for legal periods);
a reminder goes out `reminder_days` before it; when it passes, the declaration's `on_expiry`
decides: `reject` refuses the order, `continue` hands the step back to the authority.

The letters go through the delivery machinery (sealed PDF, e-mail notice, journal)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalogue import automatic
from catalogue import model as declared
from catalogue.models import Step, StepStatus
from directory.actors import Actor
from directory.models import Authority
from mailbox.deadlines import ZURICH, period_end
from mailbox.letters import RecipientNotReachable
from mailbox.models import MessageKind
from mailbox.operations import DeliveryOptions, deliver
from storage.db import utcnow

if TYPE_CHECKING:
    from catalogue.outcomes import NeedsInformation

DEFAULT_DAYS = 30  # a step that asks without declaring `information`
DEFAULT_POLICY = declared.Information(days=DEFAULT_DAYS, on_expiry="continue", reminder_days=None)


def policy(service: declared.Service, step_id: str) -> declared.Information:
    return service.step(step_id).information or DEFAULT_POLICY


def deadline(asked_at: dt.datetime, days: int) -> tuple[dt.date, dt.datetime]:
    """The last day to answer (moved past weekends and LU holidays) and its end, in UTC."""
    day = period_end(asked_at, days)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), ZURICH)
    return day, end.astimezone(dt.UTC)


def remedy(days: int) -> str:
    """The legal remedy line of a decision (its period runs from the legal delivery)."""
    return (
        f"\n\nRechtsmittelbelehrung: Gegen diesen Entscheid kann innert {days} Tagen seit "
        "Zustellung bei der zuständigen Rechtsmittelinstanz schriftlich und begründet "
        "Einsprache bzw. Beschwerde erhoben werden."
    )


def send_letter(
    session: Session,
    actor: Actor,
    step: Step,
    title: str,
    body: str,
    pdf: bytes,
    kind: MessageKind,
    *,
    appeal_days: int | None = None,
) -> uuid.UUID | None:
    """Deliver a generated letter of the step's authority into the case file; None when the
    resident takes no electronic deliveries (the clerk then writes on paper)."""
    authority = session.get_one(Authority, step.authority_id)
    if appeal_days:
        body += remedy(appeal_days)
    file = automatic.sealed_file(session, authority, f"{step.step_id}.pdf", pdf)
    try:  # refused before anything is written
        delivery = deliver(
            session,
            actor,
            recipient_id=step.case.party_id,
            kind=kind,
            subject=title[:300],
            files=[file],
            body=body,
            options=DeliveryOptions(
                appeal_period_days=appeal_days, case_id=step.case_id, seal=bool(authority.seal_ref)
            ),
        )
    except RecipientNotReachable:
        return None
    return delivery.id


def request(
    session: Session,
    actor: Actor,
    step: Step,
    service: declared.Service,
    outcome: NeedsInformation,
    now: dt.datetime,
) -> None:
    """Ask the resident: a letter with the question and the deadline; the step waits."""
    from catalogue.steps import journal

    rule = policy(service, step.step_id)
    day, due_at = deadline(now, outcome.days or rule.days)
    authority = session.get_one(Authority, step.authority_id)
    title = f"Rückfrage: {service.title.de}"
    body = (
        f"{outcome.question}\n\nBitte antworten Sie bis am {day:%d.%m.%Y} im Einwohnerportal, "
        f"im Dossier {step.case.reference}."
    )
    pdf = automatic.render_letter(authority, title, body, step.case.reference)
    delivery = send_letter(session, actor, step, title, body, pdf, MessageKind.INFORMATION)
    step.status, step.due_at, step.note = StepStatus.NEEDS_INFORMATION, due_at, outcome.question
    journal(session, actor, step, "information_requested", question=outcome.question,
            deadline=day.isoformat(), on_expiry=rule.on_expiry,
            delivery_id=str(delivery) if delivery else None)  # fmt: skip


def _reminded(session: Session, step: Step) -> bool:
    from casefiles.models import JournalEntry

    stmt = select(JournalEntry.payload).where(
        JournalEntry.case_id == step.case_id, JournalEntry.action == "step.reminded"
    )
    return any(p["step"]["id"] == str(step.id) and p.get("due_at") == step.due_at.isoformat()
               for p in session.scalars(stmt) if step.due_at)  # fmt: skip


def sweep(session: Session, as_of: str | None = None) -> dict[str, int]:
    """The periodic job: reminders before, expiry after the deadline; safe to run any time."""
    from catalogue.steps import advance, journal, reject, service_of

    now = dt.datetime.fromisoformat(as_of) if as_of else utcnow()
    waiting = session.scalars(
        select(Step).where(Step.status == StepStatus.NEEDS_INFORMATION).order_by(Step.due_at)
    ).all()
    counts = {"reminded": 0, "expired": 0}
    for step in waiting:
        session.refresh(step, with_for_update={"key_share": True})
        if step.status != StepStatus.NEEDS_INFORMATION or step.due_at is None:
            continue  # answered in the meantime
        service = service_of(session, step.case)
        rule = policy(service, step.step_id)
        authority = session.get_one(Authority, step.authority_id)
        actor = automatic.authority_actor(authority)
        due_at = _utc(step.due_at)
        if due_at <= now:
            counts["expired"] += 1
            journal(session, actor, step, "expired", on_expiry=rule.on_expiry)
            if rule.on_expiry == "reject":
                reason = (
                    "Die Frist für Ihre Angaben ist abgelaufen, ohne dass eine Antwort einging."
                )
                reject(session, actor, step, reason, service)
                advance(session, actor, step.case, service)
            else:
                step.status = StepStatus.CLAIMED if step.claimed_by else StepStatus.OPEN
                step.due_at = None
                journal(session, actor, step, "reopened", reason="deadline passed")
            continue
        reminder_at = due_at - dt.timedelta(days=rule.reminder_days or 0)
        if rule.reminder_days and now >= reminder_at and not _reminded(session, step):
            _remind(session, actor, step, service, authority, due_at)
            counts["reminded"] += 1
    return counts


def _remind(
    session: Session,
    actor: Actor,
    step: Step,
    service: declared.Service,
    authority: Authority,
    due_at: dt.datetime,
) -> None:
    from catalogue.steps import journal

    day = (due_at - dt.timedelta(seconds=1)).astimezone(ZURICH).date()
    title = f"Erinnerung: {service.title.de}"
    body = (
        f"Wir erinnern Sie an unsere Rückfrage:\n{step.note or ''}\n\nBitte antworten Sie bis am "
        f"{day:%d.%m.%Y} im Einwohnerportal, im Dossier {step.case.reference}."
    )
    pdf = automatic.render_letter(authority, title, body, step.case.reference)
    delivery = send_letter(session, actor, step, title, body, pdf, MessageKind.INFORMATION)
    extra: dict[str, Any] = {"due_at": step.due_at.isoformat() if step.due_at else None}
    journal(session, actor, step, "reminded", delivery_id=str(delivery) if delivery else None,
            **extra)  # fmt: skip


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
