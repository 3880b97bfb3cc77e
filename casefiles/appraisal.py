"""Appraisal of closed case files by the archivists (issue 10): one proposes to archive or to
destroy, a second one (never the same account: four eyes) approves or rejects; an approved
archive is exported and marked transferred, an approved destruction destroys the case file.

Each step is a signed entry of the case file's journal; the rows of `appraisals` are the
archivists' working list (mailbox/projection.py says why they are outside the record).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Exists, Select, exists, func, not_, or_, select
from sqlalchemy.orm import Session, selectinload

from casefiles.archive_models import (
    Appraisal,
    AppraisalStatus,
    Disposition,
    Export,
    ExportStatus,
)
from casefiles.errors import InvalidInput, NotFound
from casefiles.journal import record
from casefiles.lifecycle import TRANSFERRED, day_start, local_today
from casefiles.models import CaseFile, CaseStatus
from casefiles.operations import visible_cases
from directory.actors import Actor
from directory.models import Role
from storage.blobs import Blob
from storage.db import utcnow
from storage.work import services_of

MAX_REASON = 2000
MAX_PER_PAGE = 200
APPRAISAL_STATES = (
    "none",
    "proposed",
    "approved_archive",
    "approved_destroy",
    "rejected",
    "transferred",
)


class AppraisalConflict(InvalidInput):
    """The case file or the appraisal is not in the state this step needs (HTTP 409)."""

    code = "appraisal_conflict"


class FourEyes(InvalidInput):
    """The archivist who proposed an appraisal cannot also decide it (HTTP 403)."""

    code = "four_eyes"

    def __init__(self) -> None:
        super().__init__(
            "appraisal",
            "You proposed this appraisal yourself; a second archivist must decide it.",
        )


def _archivist(actor: Actor) -> uuid.UUID:
    actor.require(Role.ARCHIVIST)
    if actor.account_id is None:  # an archivist is always a person with an account
        raise InvalidInput("actor", "Only an archivist with an account can appraise.")
    return actor.account_id


def _case(session: Session, actor: Actor, case_id: uuid.UUID) -> CaseFile:
    """The case file, if the archivist may see it, without its parties and documents loaded:
    a destruction deletes their rows, and loaded objects of them would only be in the way."""
    case = session.scalar(visible_cases(actor).where(CaseFile.id == case_id))
    if case is None:
        raise NotFound("case file")
    return case


def pending(session: Session, case_id: uuid.UUID) -> Appraisal | None:
    """The case file's proposal waiting for a second archivist, if any."""
    stmt = select(Appraisal).where(
        Appraisal.case_id == case_id, Appraisal.status == AppraisalStatus.PROPOSED
    )
    return session.scalars(stmt).first()


def appraisals_of(session: Session, case_id: uuid.UUID) -> list[Appraisal]:
    """The case file's appraisals, oldest first (the caller has checked access to the case)."""
    stmt = select(Appraisal).where(Appraisal.case_id == case_id).order_by(Appraisal.proposed_at)
    return list(session.scalars(stmt))


def approved(session: Session, case_id: uuid.UUID) -> Appraisal | None:
    """The case file's approved appraisal, if one was approved."""
    stmt = select(Appraisal).where(
        Appraisal.case_id == case_id, Appraisal.status == AppraisalStatus.APPROVED
    )
    return session.scalars(stmt.order_by(Appraisal.decided_at.desc())).first()


def propose(
    session: Session, actor: Actor, case_id: uuid.UUID, disposition: str, reason: str
) -> Appraisal:
    """An archivist proposes to archive or destroy a closed case file past its retention."""
    account = _archivist(actor)
    case = _case(session, actor, case_id)
    if disposition not in {d.value for d in Disposition}:
        raise InvalidInput("disposition", "Choose archive or destroy.")
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason", "Give a reason for the proposal.")
    if len(reason) > MAX_REASON or "\x00" in reason:
        raise InvalidInput("reason", "The reason is longer than 2000 characters.")
    if case.status != CaseStatus.CLOSED:
        raise AppraisalConflict("case_id", "This case file has been handed over already.")
    today = local_today()
    if case.retention_until is None or case.retention_until > today:
        raise AppraisalConflict(
            "case_id",
            "This case file must be kept until %(date)s; it can be appraised from then on.",
            date=case.retention_until.isoformat() if case.retention_until else "?",
        )
    if pending(session, case.id) is not None:
        raise AppraisalConflict("case_id", "A proposal for this case file is waiting already.")
    if approved(session, case.id) is not None:
        raise AppraisalConflict("case_id", "This case file has been appraised already.")
    appraisal = Appraisal(
        id=uuid.uuid4(),
        case_id=case.id,
        disposition=Disposition(disposition),
        reason=reason,
        status=AppraisalStatus.PROPOSED,
        proposed_by=account,
        proposed_by_label=actor.label,
        proposed_at=utcnow(),
    )
    session.add(appraisal)
    session.flush()
    payload = {"appraisal_id": str(appraisal.id), "disposition": disposition, "reason": reason}
    record(session, case, actor, "appraisal.proposed", payload)
    return appraisal


def decide(
    session: Session,
    actor: Actor,
    appraisal_id: uuid.UUID,
    *,
    approve: bool,
    note: str | None = None,
) -> Appraisal:
    """A second archivist approves or rejects a proposal; approved destroy destroys."""
    account = _archivist(actor)
    appraisal = session.get(Appraisal, appraisal_id, with_for_update={"key_share": True})
    if appraisal is None:
        raise NotFound("appraisal")
    case = _case(session, actor, appraisal.case_id)
    if appraisal.status != AppraisalStatus.PROPOSED:
        raise AppraisalConflict("appraisal", "This proposal has been decided already.")
    if appraisal.proposed_by == account:
        raise FourEyes()
    note = (note or "").strip() or None
    if note is not None and (len(note) > MAX_REASON or "\x00" in note):
        raise InvalidInput("note", "The note is longer than 2000 characters.")
    appraisal.status = AppraisalStatus.APPROVED if approve else AppraisalStatus.REJECTED
    appraisal.decided_by = account
    appraisal.decided_by_label = actor.label
    appraisal.decided_at = utcnow()
    appraisal.decision_note = note
    session.flush()
    payload = {
        "appraisal_id": str(appraisal.id),
        "disposition": appraisal.disposition.value,
        "proposed_by": appraisal.proposed_by_label,
        "note": note,
    }
    if approve:
        record(session, case, actor, "appraisal.approved", payload)
    else:
        record(session, case, actor, "appraisal.rejected", payload)
    if approve and appraisal.disposition == Disposition.DESTROY:
        _destroy(session, actor, case, appraisal, appraisal.reason)
    return appraisal


def _destroy(
    session: Session, actor: Actor, case: CaseFile, appraisal: Appraisal, reason: str
) -> None:
    # Imported here: casefiles.destruction deletes this module's rows too.
    from casefiles.destruction import destroy

    destroy(
        session,
        actor,
        case,
        proposed_by=appraisal.proposed_by_label,
        approved_by=appraisal.decided_by_label or actor.label,
        reason=reason,
    )


def mark_transferred(
    session: Session, actor: Actor, case_id: uuid.UUID, export_id: uuid.UUID
) -> CaseFile:
    """Record that the archive took the case file over as this export."""
    _archivist(actor)
    case = _case(session, actor, case_id)
    if case.status != CaseStatus.CLOSED:
        raise AppraisalConflict("case_id", "This case file has been handed over already.")
    decision = approved(session, case.id)
    if decision is None or decision.disposition != Disposition.ARCHIVE:
        raise AppraisalConflict(
            "case_id", "Only a case file whose archiving was approved can be handed over."
        )
    export = session.get(Export, export_id)
    if export is None or export.case_id != case.id:
        raise NotFound("export")
    if export.status != ExportStatus.DONE or export.blob_id is None:
        raise AppraisalConflict("export_id", "This export is not finished yet.")
    blob = session.get_one(Blob, export.blob_id)
    payload = {
        "export_id": str(export.id),
        "format": export.format,
        "filename": export.filename,
        "sha256": blob.sha256,
        "appraisal_id": str(decision.id),
    }
    record(session, case, actor, TRANSFERRED, payload)
    case.status = CaseStatus.TRANSFERRED
    session.flush()
    if getattr(services_of(session).settings, "after_transfer", "keep") == "destroy":
        reason = "handed over to the archive as " + (export.filename or export.format)
        _destroy(session, actor, case, decision, reason)
    return case


@dataclass(frozen=True)
class ArchiveFilters:
    """What the archivists' list is narrowed to; None: not narrowed."""

    q: str | None = None  # reference or title, part of it
    authority_id: uuid.UUID | None = None
    case_type: str | None = None
    closed_from: date | None = None
    closed_to: date | None = None
    retention_due_by: date | None = None  # retention_until on or before
    appraisal: str | None = None  # one of APPRAISAL_STATES


@dataclass(frozen=True)
class ArchivePage:
    items: list[CaseFile]
    total: int
    page: int
    pages: int


def _with_appraisal(stmt: Select[CaseFile], state: str) -> Select[CaseFile]:  # type: ignore[type-var]
    def having(*conditions: ColumnElement[bool]) -> Exists:
        return exists(select(Appraisal.id).where(Appraisal.case_id == CaseFile.id, *conditions))

    approved_as = {
        "approved_archive": Disposition.ARCHIVE,
        "approved_destroy": Disposition.DESTROY,
    }
    if state == "transferred":
        return stmt.where(CaseFile.status == CaseStatus.TRANSFERRED)
    if state == "none":
        return stmt.where(CaseFile.status == CaseStatus.CLOSED, not_(having()))
    if state == "proposed":
        return stmt.where(having(Appraisal.status == AppraisalStatus.PROPOSED))
    if state in approved_as:
        decided = having(
            Appraisal.status == AppraisalStatus.APPROVED,
            Appraisal.disposition == approved_as[state],
        )
        return stmt.where(CaseFile.status == CaseStatus.CLOSED, decided)
    if state == "rejected":
        # Rejected and nothing newer waiting or approved: back to the archivists' desk.
        others = having(Appraisal.status != AppraisalStatus.REJECTED)
        rejected = having(Appraisal.status == AppraisalStatus.REJECTED)
        return stmt.where(CaseFile.status == CaseStatus.CLOSED, rejected, not_(others))
    raise InvalidInput("appraisal", "Choose one of the appraisal states offered.")


def archive_cases(
    session: Session,
    actor: Actor,
    filters: ArchiveFilters,
    *,
    page: int = 1,
    per_page: int = 50,
) -> ArchivePage:
    """The closed and transferred case files an archivist looks for, a page at a time."""
    _archivist(actor)
    if page < 1:
        raise InvalidInput("page", "The page must be 1 or more.")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput("per_page", "Show between 1 and 200 case files a page.")
    stmt = visible_cases(actor)
    if filters.q and filters.q.strip():
        needle = filters.q.strip().replace("\x00", "")
        like = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                CaseFile.reference.ilike(like, escape="\\"),
                CaseFile.title.ilike(like, escape="\\"),
            )
        )
    if filters.authority_id is not None:
        stmt = stmt.where(CaseFile.authority_id == filters.authority_id)
    if filters.case_type:
        stmt = stmt.where(CaseFile.case_type == filters.case_type)
    if filters.closed_from and filters.closed_to and filters.closed_from > filters.closed_to:
        raise InvalidInput("closed_to", "The end of the closing period is before its start.")
    if filters.closed_from is not None:
        stmt = stmt.where(CaseFile.closed_at >= day_start(filters.closed_from))
    if filters.closed_to is not None:
        stmt = stmt.where(CaseFile.closed_at < day_start(filters.closed_to + dt.timedelta(days=1)))
    if filters.retention_due_by is not None:
        stmt = stmt.where(CaseFile.retention_until <= filters.retention_due_by)
    if filters.appraisal:
        stmt = _with_appraisal(stmt, filters.appraisal)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    pages = max(1, math.ceil(total / per_page))
    rows = session.scalars(
        stmt.options(selectinload(CaseFile.authority))
        .order_by(CaseFile.retention_until, CaseFile.reference)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return ArchivePage(list(rows), total, page, pages)
