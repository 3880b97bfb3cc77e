"""What the archive's pages share: the archivist check, the labels of appraisal states, and
turning a domain refusal into a message beside the form."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from flask import abort, g
from flask_babel import get_locale, lazy_gettext
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.web import actor
from casefiles.archive_models import Appraisal, AppraisalStatus, ExportStatus
from casefiles.export import ExportError
from casefiles.lifecycle import CaseClosed
from casefiles.models import CaseFile, CaseStatus
from directory.actors import AccessDenied, Actor
from directory.errors import InvalidInput, NotFound
from directory.models import Role
from storage.db import utcnow

# What an archivist's action may meet: each becomes a message beside the form, never a 500.
REFUSALS = (InvalidInput, AccessDenied, NotFound, CaseClosed, ExportError)

# The appraisal states of the list's filter and column (casefiles.appraisal.archive_cases).
STATES = {
    "none": lazy_gettext("Not appraised"),
    "proposed": lazy_gettext("Proposal pending"),
    "approved_archive": lazy_gettext("Approved: archive"),
    "approved_destroy": lazy_gettext("Approved: destroy"),
    "rejected": lazy_gettext("Proposal rejected"),
    "transferred": lazy_gettext("Transferred"),
}
DISPOSITIONS = {"archive": lazy_gettext("Archiving"), "destroy": lazy_gettext("Destruction")}
DECISIONS = {
    AppraisalStatus.PROPOSED: lazy_gettext("Pending"),
    AppraisalStatus.APPROVED: lazy_gettext("Approved"),
    AppraisalStatus.REJECTED: lazy_gettext("Rejected"),
}
EXPORT_STATUS = {
    ExportStatus.QUEUED: lazy_gettext("Waiting to start"),
    ExportStatus.RUNNING: lazy_gettext("Being made"),
    ExportStatus.DONE: lazy_gettext("Ready for download"),
    ExportStatus.FAILED: lazy_gettext("Failed"),
}
# Badge classes of portal.css for the states (the text carries the meaning).
BADGES = {
    "none": "new",
    "proposed": "accepted",
    "approved_archive": "done",
    "approved_destroy": "error",
    "rejected": "withdrawn",
    "transferred": "closed",
}


def archivist() -> Actor:
    """The logged-in archivist; everyone else gets a 403 (the workbench is theirs alone)."""
    me = actor()
    if me.role != Role.ARCHIVIST:
        abort(403)
    return me


def language() -> str:
    return str(get_locale() or "de")[:2]


def today() -> dt.date:
    """The day casefiles.appraisal.propose compares the retention date with."""
    return utcnow().date()


def discard() -> None:
    """Roll back what a refused action may have begun; the page is then read afresh."""
    tx = g.pop("tx", None)
    if tx is not None:
        tx.rollback()


# The domain's refusals name themselves by `code` (casefiles.appraisal, casefiles.lifecycle).
STATUS_OF_CODE = {"four_eyes": 403, "appraisal_conflict": 409, "case_closed": 409}


def refusal_status(exc: Exception) -> int:
    if isinstance(exc, AccessDenied):
        return 403
    if isinstance(exc, NotFound):
        return 404
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code in STATUS_OF_CODE:
        return STATUS_OF_CODE[code]
    if isinstance(exc, InvalidInput):
        return 422
    return 409


def message_of(exc: Exception) -> str:
    """The refusal in the reader's language (the domain's messages are English msgids)."""
    if isinstance(exc, InvalidInput):
        return _(exc.message, **exc.params)
    if isinstance(exc, NotFound):
        return _("This case file or export no longer exists.")
    return _(str(exc))


def state_of(case: CaseFile, appraisals: Sequence[Appraisal]) -> str:
    """The case file's appraisal state from its newest appraisal (appraisals newest last)."""
    if case.status == CaseStatus.TRANSFERRED:
        return "transferred"
    if not appraisals:
        return "none"
    last = appraisals[-1]
    if last.status == AppraisalStatus.PROPOSED:
        return "proposed"
    if last.status == AppraisalStatus.REJECTED:
        return "rejected"
    return f"approved_{last.disposition.value}"


def states_of(session: Session, cases: Iterable[CaseFile]) -> dict[uuid.UUID, str]:
    """The appraisal state of each case file of one page of the list, in one query."""
    cases = list(cases)
    by_case: dict[uuid.UUID, list[Appraisal]] = {c.id: [] for c in cases}
    if by_case:
        rows = session.scalars(
            select(Appraisal)
            .where(Appraisal.case_id.in_(by_case))
            .order_by(Appraisal.proposed_at, Appraisal.id)
        )
        for row in rows:
            by_case[row.case_id].append(row)
    return {c.id: state_of(c, by_case[c.id]) for c in cases}
