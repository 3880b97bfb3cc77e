"""The lifecycle of a case file (issue 10): open, then closed by its authority or by the sweep,
kept until its retention date, then appraised by the archivists.

Closing is a signed journal entry (`case.closed`) that holds every value it sets on the row
(mailbox/projection.py). A closed case file is read-only for its parties and authorities:
`ensure_open` guards the places where new things enter an existing case file. The archivists'
entries (appraisal, transfer) and the destruction do not pass through it, on purpose.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from casefiles.archive_models import Disposition
from casefiles.errors import InvalidInput
from casefiles.findings import N_
from casefiles.journal import record
from casefiles.models import CaseFile, CaseStatus, JournalEntry
from directory.actors import Actor
from storage.db import utcnow

CLOSED = "case.closed"
TRANSFERRED = "case.transferred"
# Retention is counted from the day of closing as Lucerne sees it, not UTC's.
_ZURICH = ZoneInfo("Europe/Zurich")


class CaseClosed(InvalidInput):
    """The case file is closed: nothing new may enter it (HTTP 409, a form error)."""

    code = "case_closed"

    def __init__(self) -> None:
        super().__init__(
            "case_id",
            "This case file is closed: nothing can be added to it any more. "
            "Open a new case file or order the service again.",
        )


class NotClosable(InvalidInput):
    """The case file cannot be closed yet: something in it is still running (HTTP 409)."""

    code = "not_closable"


# Why a case file cannot be closed yet (catalogue/lifecycle.py decides; the msgids live here,
# where the message catalogues are extracted from).
STEPS_OPEN = N_("This case file still has open steps; finish them first.")
DELIVERY_PENDING = N_(
    "A delivery in this case file has not been opened or deemed delivered yet; "
    "wait for it or withdraw it first."
)
RECEIPT_PENDING = N_("A receipt of this case file is still being issued; try again in a minute.")


def ensure_open(case: CaseFile) -> None:
    """Refuse to add anything to a closed (or transferred) case file."""
    if case.status != CaseStatus.OPEN:
        raise CaseClosed()


def local_today() -> dt.date:
    """Today in Lucerne: the day retention dates are compared with."""
    return utcnow().astimezone(_ZURICH).date()


def day_start(day: dt.date) -> dt.datetime:
    """The first moment of a day in Lucerne (for comparing closing times with dates)."""
    return dt.datetime.combine(day, dt.time(), tzinfo=_ZURICH)


def add_years(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def close_case(
    session: Session,
    actor: Actor,
    case: CaseFile,
    *,
    years: int,
    disposition: str,
    automatic: bool,
    reason: str | None = None,
) -> JournalEntry:
    """Close an open case file, recording when and how long it is to be kept."""
    ensure_open(case)
    if years < 0:
        raise InvalidInput("retention_years", "A retention period cannot be negative.")
    if disposition not in {d.value for d in Disposition}:
        raise InvalidInput("disposition", "The disposition must be archive or destroy.")
    closed_at = utcnow()
    until = add_years(closed_at.astimezone(_ZURICH).date(), years)
    payload = {
        "closed_at": closed_at.isoformat(),
        "retention_until": until.isoformat(),
        "retention_years": years,
        "disposition": disposition,
        "automatic": automatic,
        "reason": reason,
    }
    entry = record(session, case, actor, CLOSED, payload)
    case.status = CaseStatus.CLOSED
    case.closed_at = closed_at
    case.retention_until = until
    case.disposition = disposition
    session.flush()
    return entry
