"""The life of a step: the queue of an authority, claiming, outcomes, the resident's timeline.

Every transition is one change in the caller's transaction with one signed journal entry
`step.<what>` that holds the step's row as it is afterwards (`facts`) and names the acting
authority. Only the step's authority may act on it; for any other actor it does not exist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from casefiles.documents import CheckedFile, Upload, check_upload
from casefiles.errors import InvalidInput, NotFound
from casefiles.journal import record
from casefiles.models import CaseAuthority, CaseFile, JournalEntry
from casefiles.operations import get_case
from catalogue import automatic, fees, information, registry
from catalogue import model as declared
from catalogue.build import build_service
from catalogue.models import FINISHED, ServiceVersion, Step, StepStatus
from catalogue.outcomes import Decided, Done, Forwarded, NeedsInformation, Outcome, Rejected, check
from catalogue.timeline import TimelineItem, timeline  # noqa: F401  (the interface)
from directory.actors import Actor
from directory.models import Authority, Role
from directory.operations import find_authority
from mailbox.events import emit
from mailbox.models import Message, MessageKind
from mailbox.operations import DeliveryOptions, deliver
from mailbox.replies import send_reply
from storage.db import utcnow

PROCESS_DONE = "case.process_done"
ACTIVE = (StepStatus.OPEN, StepStatus.CLAIMED)


def facts(step: Step) -> dict[str, Any]:
    """The step's row as the journal records it (every column: the projection)."""

    def at(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": str(step.id),
        "step": step.step_id,
        "position": step.position,
        "authority": str(step.authority_id) if step.authority_id else None,
        "status": step.status.value,
        "claimed_by": str(step.claimed_by) if step.claimed_by else None,
        "opened_at": at(step.opened_at),
        "due_at": at(step.due_at),
        "finished_at": at(step.finished_at),
        "outcome": step.outcome,
        "note": step.note,
    }


def journal(session: Session, actor: Actor, step: Step, what: str, **extra: Any) -> None:
    session.flush()
    authority = session.get_one(Authority, actor.authority_id or step.authority_id)
    payload = {"step": facts(step), "authority": {"id": str(authority.id), "name": authority.name}}
    record(session, step.case, actor, f"step.{what}", {**payload, **extra})


def service_of(session: Session, case: CaseFile) -> declared.Service:
    """The declaration the case file was ordered under (the shipped one while it is the same)."""
    current = registry.default().get(case.case_type or "")
    digest = session.scalar(
        select(JournalEntry.payload["digest"].as_string()).where(
            JournalEntry.case_id == case.id, JournalEntry.action == "case.ordered"
        )
    )
    if (
        current is not None
        and current.version == case.case_type_version
        and (digest is None or digest == current.digest)
    ):
        return current
    kept = session.scalar(
        select(ServiceVersion).where(
            ServiceVersion.service_id == case.case_type,
            ServiceVersion.version == case.case_type_version,
            *([ServiceVersion.digest == digest] if digest else []),
        )
    )
    if kept is None:
        raise NotFound("service")
    return build_service(kept.declaration, kept.digest)


def queue(
    session: Session,
    actor: Actor,
    *,
    status: StepStatus | None = None,
    service: str | None = None,
    mine: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[Step]:
    """The steps of the actor's authority, oldest opened first (waiting and skipped ones are
    nobody's work yet and only listed when asked for by status)."""
    actor.require_authority()
    stmt = (
        select(Step)
        .where(Step.authority_id == actor.authority_id)
        .options(selectinload(Step.case), selectinload(Step.authority))
    )
    if status is not None:
        stmt = stmt.where(Step.status == status)
    else:
        stmt = stmt.where(Step.status.not_in((StepStatus.WAITING, StepStatus.SKIPPED)))
    if service:
        stmt = stmt.join(CaseFile, CaseFile.id == Step.case_id).where(CaseFile.case_type == service)
    if mine:
        stmt = stmt.where(Step.claimed_by == actor.account_id)
    stmt = stmt.order_by(Step.opened_at.is_(None), Step.opened_at, Step.id)
    return list(session.scalars(stmt.limit(max(1, min(limit, 500))).offset(max(0, offset))))


def get_step(session: Session, actor: Actor, step_id: uuid.UUID) -> Step:
    """One step of the actor's authority; NotFound (404) for every other."""
    actor.require_authority()
    step = session.scalar(
        select(Step).where(Step.id == step_id, Step.authority_id == actor.authority_id)
    )
    if step is None:
        raise NotFound("step")
    return step


def _locked(session: Session, actor: Actor, step_id: uuid.UUID) -> Step:
    step = get_step(session, actor, step_id)
    # Two clerks (or a clerk and the deadline sweep) race for the same step: one wins cleanly.
    session.refresh(step, with_for_update={"key_share": True})
    if step.authority_id != actor.authority_id:
        raise NotFound("step")
    return step


def claim(session: Session, actor: Actor, step_id: uuid.UUID) -> Step:
    step = _locked(session, actor, step_id)
    if step.status == StepStatus.CLAIMED and step.claimed_by == actor.account_id:
        return step  # claiming again changes nothing
    if step.status != StepStatus.OPEN:
        raise InvalidInput("status", "This step cannot be claimed now (it is %(status)s).",
                           status=step.status.value)  # fmt: skip
    step.status, step.claimed_by = StepStatus.CLAIMED, actor.account_id
    journal(session, actor, step, "claimed")
    return step


def release(session: Session, actor: Actor, step_id: uuid.UUID) -> Step:
    step = _locked(session, actor, step_id)
    if step.status != StepStatus.CLAIMED:
        raise InvalidInput("status", "Only a claimed step can be released.")
    step.status, step.claimed_by = StepStatus.OPEN, None
    journal(session, actor, step, "released")
    return step


def record_outcome(session: Session, actor: Actor, step_id: uuid.UUID, outcome: Outcome) -> Step:
    """Carry out an outcome; refused (nothing written) when it cannot apply to this step."""
    outcome = check(outcome)
    step = _locked(session, actor, step_id)
    if step.status not in ACTIVE:
        raise InvalidInput("status", "This step is %(status)s: no outcome can be recorded now.",
                           status=step.status.value)  # fmt: skip
    if step.status == StepStatus.CLAIMED and step.claimed_by not in (None, actor.account_id):
        raise InvalidInput("status", "Another clerk has claimed this step.")
    service = service_of(session, step.case)
    now = utcnow()
    if isinstance(outcome, Done):
        finish(session, actor, step, StepStatus.DONE, outcome.note or None, "done")
    elif isinstance(outcome, Decided):
        delivery_id = _deliver_decision(session, actor, step, outcome)
        finish(session, actor, step, StepStatus.DECIDED, outcome.subject, "decided",
               delivery_id=str(delivery_id))  # fmt: skip
    elif isinstance(outcome, NeedsInformation):
        information.request(session, actor, step, service, outcome, now)
    elif isinstance(outcome, Forwarded):
        _forward(session, actor, step, outcome, now)
    elif isinstance(outcome, Rejected):
        reject(session, actor, step, outcome.reason, service)
    if step.status.finished:
        advance(session, actor, step.case, service)
    return step


def finish(
    session: Session, actor: Actor, step: Step, status: StepStatus, note: str | None, what: str,
    **extra: Any,
) -> None:  # fmt: skip
    step.status, step.outcome, step.note = status, status.value, note
    step.finished_at, step.due_at = utcnow(), None
    journal(session, actor, step, what, **extra)


def _files(uploads: Sequence[Upload | CheckedFile]) -> list[CheckedFile]:
    return [u if isinstance(u, CheckedFile) else check_upload(u) for u in uploads]


def _deliver_decision(session: Session, actor: Actor, step: Step, outcome: Decided) -> uuid.UUID:
    authority = session.get_one(Authority, step.authority_id)
    body = outcome.body
    if outcome.fee is not None:
        body += f"\nGebühr: CHF {outcome.fee:.2f}"
    if outcome.appeal_days:
        body += information.remedy(outcome.appeal_days)
    files = _files(outcome.uploads)
    if not files:
        pdf = automatic.render_letter(authority, outcome.subject, body, step.case.reference)
        files = [automatic.sealed_file(session, authority, "Entscheid.pdf", pdf)]
    files += fees.decision_files(session, actor, step, service_of(session, step.case), outcome.fee)
    delivery = deliver(
        session,
        actor,
        recipient_id=step.case.party_id,
        kind=MessageKind.DECISION,
        subject=outcome.subject,
        files=files,
        body=body,
        options=DeliveryOptions(
            appeal_period_days=outcome.appeal_days,
            case_id=step.case_id,
            seal=bool(authority.seal_ref),
        ),
    )
    return delivery.id


def _forward(
    session: Session, actor: Actor, step: Step, outcome: Forwarded, now: dt.datetime
) -> None:
    target = find_authority(session, outcome.to_authority)
    if target is None:
        raise InvalidInput("to_authority", "There is no authority %(slug)s.",
                           slug=outcome.to_authority)  # fmt: skip
    if target.id == step.authority_id:
        raise InvalidInput("to_authority", "The step is already at this authority.")
    source = step.authority_id
    # The same row carries on at the new authority (one row per declared step); the entry keeps
    # where it came from.
    step.authority_id, step.status, step.claimed_by = target.id, StepStatus.OPEN, None
    step.opened_at, step.outcome, step.note = now, StepStatus.FORWARDED.value, outcome.reason
    take_part(session, step.case, target)
    journal(session, actor, step, "forwarded", **{"from": str(source), "to": str(target.id),
                                                  "reason": outcome.reason})  # fmt: skip
    assigned(session, step)


def take_part(session: Session, case: CaseFile, authority: Authority) -> None:
    """The authority sees the case file from now on (casefiles.operations.visible_cases)."""
    if session.get(CaseAuthority, (case.id, authority.id)) is None:
        session.add(CaseAuthority(case_id=case.id, authority_id=authority.id, role="step"))
        session.flush()


def reject(
    session: Session, actor: Actor, step: Step, reason: str, service: declared.Service
) -> None:
    """The order is refused: the resident gets the reason as a letter, the other steps end."""
    authority = session.get_one(Authority, step.authority_id)
    title = f"Ablehnung: {service.title.de}"
    pdf = automatic.render_letter(authority, title, reason, step.case.reference)
    delivery = information.send_letter(session, actor, step, title, reason, pdf, MessageKind.LETTER)
    finish(session, actor, step, StepStatus.REJECTED, reason, "rejected",
           delivery_id=str(delivery) if delivery else None)  # fmt: skip
    for other in _steps(session, step.case):
        if not other.status.finished:
            other.status, other.finished_at, other.claimed_by = StepStatus.SKIPPED, utcnow(), None
            other.due_at = None
            journal(session, actor, other, "skipped", reason="rejected")


def _steps(session: Session, case: CaseFile) -> list[Step]:
    return list(
        session.scalars(select(Step).where(Step.case_id == case.id).order_by(Step.position))
    )


def assigned(session: Session, step: Step) -> None:
    """Tell the step authority's specialist applications that a step is in their queue."""
    assert step.authority_id is not None
    emit(session, step.authority_id, "step.assigned", {
        "step_id": str(step.id), "step": step.step_id, "case_id": str(step.case_id),
        "reference": step.case.reference, "service": step.case.case_type,
        "status": step.status.value,
    })  # fmt: skip


def advance(session: Session, actor: Actor, case: CaseFile, service: declared.Service) -> None:
    """Open the waiting steps whose prerequisites are finished (skipped ones count), run the
    automatic ones, and record once that the process is done when every step is finished."""
    if fees.waiting_for_fee(session, case):
        return  # fee first: nothing opens before it is paid (fees.mark_paid calls back)
    rows = {s.step_id: s for s in _steps(session, case)}
    for position, declared_step in enumerate(service.steps):
        row = rows.get(declared_step.id)
        if row is None or row.status != StepStatus.WAITING:
            continue
        before = declared_step.after
        if before is None:
            before = (service.steps[position - 1].id,) if position else ()
        if all(rows[b].status in FINISHED for b in before if b in rows):
            row.status, row.opened_at = StepStatus.OPEN, utcnow()
            authority = session.get_one(Authority, row.authority_id)
            take_part(session, case, authority)
            journal(session, automatic.authority_actor(authority), row, "opened")
            assigned(session, row)
            if declared_step.automatic is not None:
                run_automatic(session, row, service)
            if row.status.finished:
                return advance(session, actor, case, service)
    if rows and all(r.status in FINISHED for r in rows.values()):
        done = session.scalar(select(JournalEntry.id).where(
            JournalEntry.case_id == case.id, JournalEntry.action == PROCESS_DONE))  # fmt: skip
        if done is None:
            outcomes = {r.step_id: r.status.value for r in rows.values()}
            record(session, case, actor, PROCESS_DONE, {"steps": outcomes,
                                                        "at": utcnow().isoformat()})  # fmt: skip


def begin(session: Session, case: CaseFile, *, language: str = "de") -> None:
    """After an order: tell the step authorities, run the automatic steps that are open, and
    go on from there (catalogue/ordering.py calls it in the order's transaction)."""
    service = service_of(session, case)
    for row in _steps(session, case):
        if row.status == StepStatus.OPEN:
            if row.authority_id != case.authority_id:
                assigned(session, row)  # the lead has case.ordered
            declared_step = service.step(row.step_id)
            if declared_step.automatic is not None:
                run_automatic(session, row, service, language)
    authority = session.get_one(Authority, case.authority_id)
    advance(session, automatic.authority_actor(authority), case, service)


def run_automatic(
    session: Session, step: Step, service: declared.Service, language: str = "de"
) -> bool:
    """Issue the step's document without a clerk when the resident's data suffices; else the
    step stays open in the clerk's queue. Whether it was issued."""
    spec = service.step(step.step_id).automatic
    authority = session.get_one(Authority, step.authority_id)
    actor = automatic.authority_actor(authority)
    values = automatic.placeholders(
        session, step.case, step.case.holder, automatic.ordered_answers(session, step.case),
        language,
    )  # fmt: skip
    if spec is None or automatic.missing(spec.requires, values):
        return False
    document = service.document(spec.document)
    title, body, kind = automatic.generated(service, document, values, language)
    pdf = automatic.render_letter(authority, title, body, step.case.reference, language)
    delivery = information.send_letter(session, actor, step, title, body, pdf, kind,
                                       appeal_days=document.appeal_days)  # fmt: skip
    if delivery is None:
        return False  # the resident takes no electronic deliveries: a clerk sends it on paper
    fees.decision_files(session, actor, step, service, send=True)  # its fee's QR-bill
    finish(session, actor, step, StepStatus.DECIDED, title, "decided",
           delivery_id=str(delivery), automatic=True)  # fmt: skip
    return True


def answer_information(
    session: Session,
    actor: Actor,
    step_id: uuid.UUID,
    text: str,
    uploads: Sequence[Upload | CheckedFile] = (),
) -> Message:
    """The resident answers a request for information inside the dossier (the holder only)."""
    actor.require(Role.RESIDENT)
    step = session.get(Step, step_id)
    if step is None:
        raise NotFound("step")
    case = get_case(session, actor, step.case_id)  # NotFound for another resident's
    session.refresh(step, with_for_update={"key_share": True})
    if step.status != StepStatus.NEEDS_INFORMATION:
        raise InvalidInput("text", "This step is not waiting for your answer.")
    message = send_reply(session, actor, case.id, text=text, files=_files(uploads))
    step.status = StepStatus.CLAIMED if step.claimed_by else StepStatus.OPEN
    step.due_at = None
    authority = session.get_one(Authority, step.authority_id)
    journal(session, automatic.authority_actor(authority), step, "information_answered",
            message_id=str(message.id))  # fmt: skip
    assigned(session, step)
    return message
