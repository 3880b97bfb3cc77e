"""The outcomes a step can end (or pause) with: what a clerk or a specialist application records.

Frozen values checked by `check` before anything is written; catalogue/steps.py carries them out.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass, field

from casefiles.documents import CheckedFile, Upload
from casefiles.errors import InvalidInput

MAX_NOTE = 2000
MAX_SUBJECT = 300
MAX_BODY = 20_000
MAX_DAYS = 365


@dataclass(frozen=True)
class Done:
    """The step's work is done; nothing goes to the resident."""

    note: str = ""


@dataclass(frozen=True)
class Decided:
    """A decision (or certificate) delivered to the resident with the delivery machinery: its
    PDFs sealed with the authority's seal, the legal remedy's period (`appeal_days`) with it."""

    subject: str
    body: str
    uploads: Sequence[Upload | CheckedFile] = field(default_factory=list)
    appeal_days: int | None = None
    fee: decimal.Decimal | None = None


@dataclass(frozen=True)
class NeedsInformation:
    """Ask the resident; the deadline is the declaration's (`information.days`) unless given."""

    question: str
    days: int | None = None


@dataclass(frozen=True)
class Forwarded:
    """Hand the step to another authority (by slug), which then sees the case file."""

    to_authority: str
    reason: str


@dataclass(frozen=True)
class Rejected:
    """The order is refused at this step; the resident is told why, the other steps end."""

    reason: str


Outcome = Done | Decided | NeedsInformation | Forwarded | Rejected
KINDS: dict[str, type] = {
    "done": Done,
    "decided": Decided,
    "needs_information": NeedsInformation,
    "forwarded": Forwarded,
    "rejected": Rejected,
}


def kind_of(outcome: object) -> str:
    for name, cls in KINDS.items():
        if isinstance(outcome, cls):
            return name
    raise InvalidInput("outcome", "Choose one of the outcomes: done, decided, needs_information, "
                       "forwarded, rejected.")  # fmt: skip


def _text(field_name: str, value: object, limit: int, *, required: bool) -> str:
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidInput(field_name, "This must be a text.")
    value = value.strip()
    if required and not value:
        raise InvalidInput(field_name, "This is required.")
    if len(value) > limit:
        raise InvalidInput(field_name, "This is longer than %(max)s characters.", max=limit)
    return value


def _days(field_name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise InvalidInput(field_name, "A period is between 1 and 365 days.")
    return value


def check(outcome: object) -> Outcome:
    """The outcome with its texts stripped, or InvalidInput naming the member at fault."""
    kind = kind_of(outcome)
    if isinstance(outcome, Done):
        return Done(_text("note", outcome.note, MAX_NOTE, required=False))
    if isinstance(outcome, Decided):
        fee = outcome.fee
        if fee is not None and (
            not isinstance(fee, decimal.Decimal) or not fee.is_finite() or not 0 < fee < 100_000
        ):
            raise InvalidInput("fee", "A fee is an amount in francs above 0.")
        return Decided(
            subject=_text("subject", outcome.subject, MAX_SUBJECT, required=True),
            body=_text("body", outcome.body, MAX_BODY, required=False),
            uploads=list(outcome.uploads),
            appeal_days=_days("appeal_days", outcome.appeal_days),
            fee=fee.quantize(decimal.Decimal("0.01")) if fee is not None else None,
        )
    if isinstance(outcome, NeedsInformation):
        return NeedsInformation(
            _text("question", outcome.question, MAX_BODY, required=True),
            _days("days", outcome.days),
        )
    if isinstance(outcome, Forwarded):
        return Forwarded(
            _text("to_authority", outcome.to_authority, 100, required=True),
            _text("reason", outcome.reason, MAX_NOTE, required=True),
        )
    assert kind == "rejected" and isinstance(outcome, Rejected)
    return Rejected(_text("reason", outcome.reason, MAX_NOTE, required=True))
