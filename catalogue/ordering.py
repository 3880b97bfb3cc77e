"""Ordering a service: the form checked, the order routed, a case file opened with the filled
form (sealed PDF and JSON), the attachments, the first steps and one `case.ordered` entry.

All in the caller's transaction; whatever is refused raises before anything is written, or
the caller rolls back (the web view answers with a 4xx, which rolls back, see app/web.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from casefiles.documents import CheckedFile, Upload
from casefiles.errors import InvalidInput, NotFound
from casefiles.journal import keyring_of, record
from casefiles.models import CaseAuthority, CaseFile, DocumentVersion
from casefiles.operations import add_document, get_case, open_case
from catalogue import fees, form_pdf, forms, registry, routing
from catalogue.model import Service
from catalogue.models import ServiceVersion, Step, StepStatus
from directory.actors import Actor
from directory.models import Authority, Party, Role
from directory.routing import list_communes
from mailbox.events import emit
from mailbox.models import Direction, Message, MessageDocument, MessageKind
from signing.canonical import canonical_json
from storage.db import utcnow

ORDERED = "case.ordered"
FOLLOW_UP_ORDERED = "case.follow_up_ordered"  # in the case file a follow-up was ordered from
HOLDER_ROLE = "recipient"  # as for delivered case files: answer_in_case finds the resident so


class MayNotOrder(Exception):
    """This actor may not order this service (a clerk, or a person for an organisations'
    service); views answer 403 with the message, an English msgid."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OrderRefused(InvalidInput):
    """The form has errors: every field's error, for showing beside the fields."""

    def __init__(self, errors: Mapping[str, forms.FieldError | str]) -> None:
        super().__init__(next(iter(errors), "form"), "Please correct the form.")
        self.errors = dict(errors)


@dataclass(frozen=True)
class PlannedStep:
    step_id: str
    position: int
    authority: Authority | None
    status: StepStatus


def order(
    session: Session,
    actor: Actor,
    service_id: str,
    raw_answers: Mapping[str, str | list[str]],
    files: Mapping[str, CheckedFile],
    *,
    follow_up_of: uuid.UUID | None = None,
    catalogue: registry.Catalogue | None = None,
    language: str = "de",
) -> CaseFile:
    """Order a service as the logged-in resident or organisation: a new case file, journalled.

    `files`: the upload of each file field, already checked by the intake policy (before the
    transaction, casefiles/documents.py)."""
    service = (catalogue or registry.default()).get(service_id)
    if service is None:
        raise NotFound("service")
    party = may_order(session, actor, service)
    previous = follow_up_source(session, actor, service, follow_up_of)
    answers, errors = check_form(session, service, raw_answers, files)
    if errors:
        raise OrderRefused(errors)
    lead = routing.route(session, service, party, answers)
    steps = fees.hold(service, plan_steps(session, service, party, answers))  # fee first

    case = open_case(
        session, actor, title=service.title.de, authority=lead, parties=[(party, HOLDER_ROLE)]
    )
    case.case_type, case.case_type_version = service.id, service.version
    _keep_declaration(session, service)
    attached = _attach(session, actor, case, service, files, answers)
    uploads = {f.name for f in service.fields() if f.type == "file"}
    plain = forms.answers_json({n: v for n, v in answers.items() if n not in uploads})
    plain.update(attached)  # file fields: what was filed, by name and digest
    answers_sha256 = hashlib.sha256(canonical_json(plain)).hexdigest()
    now = utcnow()
    facts = {
        "service": {"id": service.id, "version": service.version, "digest": service.digest},
        "case_reference": case.reference,
        "case_id": str(case.id),
        "party": {"id": str(party.id), "name": party.display_name},
        "authority": {"id": str(lead.id), "name": lead.name},
        "ordered_at": now.isoformat(),
        "answers": plain,
        "answers_sha256": answers_sha256,
        "communes": _commune_names(session, service, plain),
    }
    keyring = keyring_of(session)
    pdf, signatures = form_pdf.sealed(form_pdf.render_form_pdf(service, facts), keyring)
    stem = f"Bestellung-{case.reference}"
    pdf_version = add_document(
        session,
        actor,
        case,
        _file(f"{stem}.pdf", "application/pdf", pdf),
        title=f"Bestellung {service.title.de}",
        signatures=signatures,
    )
    json_version = add_document(
        session,
        actor,
        case,
        _file(f"{stem}.json", "application/json", form_pdf.form_json(facts)),
        title=f"Bestellung {service.title.de} (JSON)",
    )
    documents = [pdf_version.document_id, json_version.document_id]
    documents += [uuid.UUID(f["document_id"]) for f in attached.values()]
    message = _order_message(session, actor, case, party, service, documents, now)
    authorities = _take_part(session, case, lead, steps)
    rows = _create_steps(session, case, steps, now)
    payload = {
        "service": service.id,
        "version": service.version,
        "digest": service.digest,
        "title": service.title.de,
        "answers_sha256": answers_sha256,
        "form_pdf": str(pdf_version.document_id),
        "form_json": str(json_version.document_id),
        "message_id": str(message.id),
        "subject": message.subject,
        "text": message.body,
        "documents": [str(d) for d in documents],
        "sender_party": {"id": str(party.id), "name": party.display_name},
        "authority": {"id": str(lead.id), "name": lead.name},
        "authorities": authorities,
        "steps": [_step_entry(row) for row in rows],
        "follow_up_of": _link(previous),
        "created_at": now.isoformat(),
    }
    record(session, case, actor, ORDERED, payload)
    if previous is not None:  # the link both ways: each case file's journal names the other
        link = {"case_id": str(case.id), "reference": case.reference}
        record(session, previous, actor, FOLLOW_UP_ORDERED,
               {**link, "service": service.id, "title": service.title.de})  # fmt: skip
    fees.bill_before(session, case, service)  # a fee due before: billed now, steps wait
    event = {
        "case_id": str(case.id),
        "reference": case.reference,
        "service": service.id,
        "version": service.version,
        "steps": [
            {"id": str(r.id), "step": r.step_id, "status": r.status.value}
            for r in rows
            if r.authority_id == lead.id
        ],
    }
    emit(session, lead.id, ORDERED, event)
    # The steps begin (automatic ones run, other authorities hear of theirs): catalogue/steps.py.
    from catalogue.steps import begin

    begin(session, case, language=language)
    return case


def check_form(
    session: Session,
    service: Service,
    raw_answers: Mapping[str, str | list[str]],
    files: Mapping[str, CheckedFile],
) -> tuple[dict[str, Any], dict[str, forms.FieldError]]:
    """The form's answers and errors (forms.validate), communes checked against the register;
    the checked files are rewound for storing afterwards."""
    communes = {c.bfs for c in list_communes(session)}
    uploads = {name: Upload(filename=f.filename, stream=f.spool) for name, f in files.items()}
    try:
        answers, errors = forms.validate(service, raw_answers, uploads, communes=communes)
    finally:
        for checked in files.values():
            checked.spool.seek(0)
    forms.close_files(answers)  # the intake policy's copies are what is stored
    return answers, errors


def may_order(session: Session, actor: Actor, service: Service) -> Party:
    """The party ordering, if this actor may order this service; else MayNotOrder."""
    if actor.role != Role.RESIDENT or actor.party_id is None:
        raise MayNotOrder("Only residents and organisations can order services.")
    party = session.get_one(Party, actor.party_id)
    if party.kind.value not in service.who:
        if "person" in service.who:
            raise MayNotOrder("This service can only be ordered by a person.")
        raise MayNotOrder("This service can only be ordered by an organisation.")
    return party


def plan_steps(
    session: Session, service: Service, party: Party, answers: Mapping[str, Any]
) -> list[PlannedStep]:
    """Each step's authority and first status: skipped when its `when` does not hold, open
    when nothing before it is pending, waiting otherwise. A step that applies but cannot be
    routed refuses the order (NotRoutable): nobody would ever work on it."""
    planned: list[PlannedStep] = []
    pending: set[str] = set()  # steps that apply (not skipped)
    for position, step in enumerate(service.steps):
        if step.when is not None and not step.when.holds(answers):
            planned.append(PlannedStep(step.id, position, None, StepStatus.SKIPPED))
            continue
        before: tuple[str, ...] = step.after or ()
        if step.after is None and position:  # the step before, as the declaration lists them
            before = (service.steps[position - 1].id,)
        authority = routing.route(session, service, party, answers, step)
        status = StepStatus.WAITING if pending & set(before) else StepStatus.OPEN
        planned.append(PlannedStep(step.id, position, authority, status))
        pending.add(step.id)
    return planned


def follow_up_source(
    session: Session, actor: Actor, service: Service, case_id: uuid.UUID | None
) -> CaseFile | None:
    """The case file `service` is ordered as a follow-up of: NotFound unless the actor may see
    it, InvalidInput unless its case type offers this service."""
    if case_id is None:
        return None
    previous = get_case(session, actor, case_id)  # NotFound for another resident's
    declared = registry.default().get(previous.case_type or "")
    if declared is None or service.id not in declared.follow_ups:
        raise InvalidInput("follow_up_of", "This service is not a follow-up of that case file.")
    return previous


def _link(case: CaseFile | None) -> dict[str, str] | None:
    return {"case_id": str(case.id), "reference": case.reference} if case else None


def _keep_declaration(session: Session, service: Service) -> None:
    """Keep the declaration as ordered (once per version and digest)."""
    found = session.scalar(
        select(ServiceVersion.id).where(
            ServiceVersion.service_id == service.id,
            ServiceVersion.version == service.version,
            ServiceVersion.digest == service.digest,
        )
    )
    if found is None:
        # Two first orders of a new version at once: the second one's insert meets the unique
        # constraint inside its savepoint, and the row the first one kept serves both.
        try:
            with session.begin_nested():
                session.add(
                    ServiceVersion(
                        service_id=service.id,
                        version=service.version,
                        digest=service.digest,
                        declaration=dict(service.declaration),
                    )
                )
        except IntegrityError:
            pass


def _attach(
    session: Session,
    actor: Actor,
    case: CaseFile,
    service: Service,
    files: Mapping[str, CheckedFile],
    answers: Mapping[str, Any],
) -> dict[str, dict[str, str]]:
    """File the uploads of the file fields that apply; each one's answer names what was filed."""
    filed: dict[str, dict[str, str]] = {}
    for field in service.fields():
        if field.type != "file" or field.name not in answers or field.name not in files:
            continue
        version: DocumentVersion = add_document(
            session, actor, case, files[field.name], title=field.label.de
        )
        filed[field.name] = {
            "filename": version.filename,
            "sha256": version.blob.sha256,
            "document_id": str(version.document_id),
        }
    return filed


def _order_message(
    session: Session,
    actor: Actor,
    case: CaseFile,
    party: Party,
    service: Service,
    documents: Sequence[uuid.UUID],
    now: dt.datetime,
) -> Message:
    """The order as the resident's message to the lead authority: the resident finds it, with
    the sealed form, in the dossier (their confirmation); the authority among its messages."""
    message = Message(
        case_id=case.id,
        direction=Direction.INBOUND,
        authority_id=case.authority_id,
        sender_party_id=party.id,
        kind=MessageKind.ORDER,
        subject=f"Bestellung: {service.title.de}"[:300],
        body=(
            f"Bestellung «{service.title.de}» (Version {service.version}), Dossier "
            f"{case.reference}. Die Angaben liegen als besiegeltes PDF und als JSON bei."
        ),
        created_at=now,
        created_by=actor.label,
    )
    session.add(message)
    session.flush()
    session.add_all(
        MessageDocument(message_id=message.id, document_id=d, position=n)
        for n, d in enumerate(documents)
    )
    return message


def _take_part(
    session: Session, case: CaseFile, lead: Authority, steps: Sequence[PlannedStep]
) -> list[dict[str, str]]:
    """Every authority taking part: the lead, then each step's (once each)."""
    roles: dict[uuid.UUID, tuple[Authority, str]] = {lead.id: (lead, "lead")}
    for step in steps:
        if step.authority is not None and step.status != StepStatus.SKIPPED:
            roles.setdefault(step.authority.id, (step.authority, "step"))
    session.add_all(
        CaseAuthority(case_id=case.id, authority_id=a.id, role=role) for a, role in roles.values()
    )
    return [{"id": str(a.id), "name": a.name, "role": role} for a, role in roles.values()]


def _create_steps(
    session: Session, case: CaseFile, steps: Sequence[PlannedStep], now: dt.datetime
) -> list[Step]:
    rows = [
        Step(
            case_id=case.id,
            step_id=s.step_id,
            position=s.position,
            authority_id=s.authority.id if s.authority else None,
            status=s.status,
            opened_at=now if s.status == StepStatus.OPEN else None,
            finished_at=now if s.status == StepStatus.SKIPPED else None,
        )
        for s in steps
    ]
    session.add_all(rows)
    session.flush()
    return rows


def _step_entry(row: Step) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "step": row.step_id,
        "position": row.position,
        "authority": str(row.authority_id) if row.authority_id else None,
        "status": row.status.value,
        "opened_at": row.opened_at.isoformat() if row.opened_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }


def _commune_names(
    session: Session, service: Service, answers: Mapping[str, Any]
) -> dict[str, str]:
    """The names of the communes answered (the form holds their BFS numbers)."""
    wanted = {
        answers[f.name] for f in service.fields() if f.type == "commune" and f.name in answers
    }
    return {str(c.bfs): c.name for c in list_communes(session) if c.bfs in wanted}


def _file(name: str, media_type: str, data: bytes) -> CheckedFile:
    return CheckedFile(filename=name, media_type=media_type, size=len(data), spool=io.BytesIO(data))
