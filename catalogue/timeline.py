"""The resident's timeline of an ordered case file: one line per declared step, with the
status the declaration names (or the portal's words for waiting, finished and skipped steps)
in the four languages, the authority at work and, while it asks, the question."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from casefiles.models import CaseFile
from casefiles.operations import get_case
from catalogue import model as declared
from catalogue.models import Step, StepStatus
from directory.actors import Actor


@dataclass(frozen=True)
class TimelineItem:
    step_id: uuid.UUID
    title: declared.Text
    status_label: declared.Text
    state: StepStatus
    authority_name: str
    opened_at: dt.datetime | None
    finished_at: dt.datetime | None
    due_at: dt.datetime | None
    question: str | None


# What a resident reads for the states the declaration has no words for.
_LABELS = {
    StepStatus.WAITING: declared.Text("Noch nicht begonnen", "Pas encore commencé",
                                      "Non ancora iniziato", "Not started yet"),
    StepStatus.NEEDS_INFORMATION: declared.Text("Ihre Angaben werden benötigt",
                                                "Vos informations sont requises",
                                                "Sono necessarie le vostre informazioni",
                                                "Your information is needed"),
    StepStatus.DONE: declared.Text("Erledigt", "Terminé", "Evaso", "Done"),
    StepStatus.DECIDED: declared.Text("Entschieden", "Décidé", "Deciso", "Decided"),
    StepStatus.FORWARDED: declared.Text("Weitergeleitet", "Transmis", "Trasmesso", "Forwarded"),
    StepStatus.REJECTED: declared.Text("Abgelehnt", "Refusé", "Respinto", "Rejected"),
    StepStatus.SKIPPED: declared.Text("Entfällt", "Sans objet", "Non necessario", "Not needed"),
}  # fmt: skip


def timeline(session: Session, actor: Actor, case: CaseFile) -> list[TimelineItem]:
    """The case file's steps as its holder (or a taking-part authority) reads them."""
    get_case(session, actor, case.id)
    if case.case_type is None:
        return []
    from catalogue.steps import service_of  # the steps module re-exports this one

    service = service_of(session, case)
    items = []
    for row in session.scalars(
        select(Step)
        .where(Step.case_id == case.id)
        .options(selectinload(Step.authority))
        .order_by(Step.position)
    ):
        spec = service.step(row.step_id)
        label = _LABELS.get(row.status, spec.status)
        items.append(TimelineItem(
            step_id=row.id, title=spec.title, status_label=label, state=row.status,
            authority_name=row.authority.name if row.authority else "",
            opened_at=row.opened_at, finished_at=row.finished_at, due_at=row.due_at,
            question=row.note if row.status == StepStatus.NEEDS_INFORMATION else None,
        ))  # fmt: skip
    return items
