"""The catalogue's rows: the declarations case files were ordered under, and the steps of each
ordered case file at the authorities that take part."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casefiles.models import CaseFile
from directory.models import Authority, enum_column
from storage.db import Base, UTCDateTime, utcnow


class ServiceVersion(Base):
    """A declaration as it was when a case file was ordered under it: the case file stays
    readable under that version after the YAML file changes (its row is never updated)."""

    __tablename__ = "service_versions"
    # The digest is in the key: a file edited without a new version number is a new row, and
    # the case.ordered entry names the digest it was ordered under.
    __table_args__ = (UniqueConstraint("service_id", "version", "digest"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    service_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int]
    digest: Mapped[str] = mapped_column(String(64))
    declaration: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StepStatus(enum.StrEnum):
    WAITING = "waiting"  # an earlier step (`after`) is not finished yet
    OPEN = "open"  # in the authority's queue, nobody has it
    CLAIMED = "claimed"  # a clerk works on it
    NEEDS_INFORMATION = "needs_information"  # the resident was asked, with a deadline
    DONE = "done"
    DECIDED = "decided"  # finished with a decision delivered to the resident
    FORWARDED = "forwarded"  # handed to another authority (a new step row takes over)
    REJECTED = "rejected"
    SKIPPED = "skipped"  # its `when` did not hold for the answers

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset(
    {
        StepStatus.DONE,
        StepStatus.DECIDED,
        StepStatus.FORWARDED,
        StepStatus.REJECTED,
        StepStatus.SKIPPED,
    }
)


class Step(Base):
    """One step of an ordered case file at one authority (the declaration's step `step_id`).

    The lifecycle (claiming, outcomes, requests for information) is catalogue/steps.py's; the
    ordering creates the rows: open without `after`, waiting otherwise, skipped by `when`."""

    __tablename__ = "steps"
    __table_args__ = (
        UniqueConstraint("case_id", "step_id"),
        # The work queue: an authority's steps by status.
        Index("ix_steps_queue", "authority_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_files.id"), index=True)
    step_id: Mapped[str] = mapped_column(String(64))
    # The order of the declaration, for the timeline.
    position: Mapped[int] = mapped_column(default=0)
    # Routed at ordering; None only for a skipped step whose rule found no office.
    authority_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("authorities.id"))
    status: Mapped[StepStatus] = mapped_column(enum_column(StepStatus), index=True)
    claimed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)

    case: Mapped[CaseFile] = relationship()
    authority: Mapped[Authority | None] = relationship()


class FeeStatus(enum.StrEnum):
    BILLED = "billed"  # the QR-bill went out; not paid yet
    PAID = "paid"  # the billing authority marked it paid


class Fee(Base):
    """A fee billed to the case file's holder with a Swiss QR-bill (catalogue/fees.py).

    The amount is kept in Rappen (an integer): exact on SQLite and PostgreSQL alike. The account
    and the reference are those printed on the bill: the authority's QR-IBAN may change later."""

    __tablename__ = "fees"
    __table_args__ = (UniqueConstraint("reference"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_files.id"), index=True)
    authority_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("authorities.id"), index=True)
    # The step whose decision carried the bill. No foreign key: steps' ids are keys of the
    # projection that tests/functional/test_projection_coverage.py changes, and the fee's
    # journal entry names the step anyway.
    step_id: Mapped[uuid.UUID | None]
    amount_rappen: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="CHF")
    due: Mapped[str] = mapped_column(String(16))  # "before" (fee first) or "with_decision"
    reason: Mapped[str] = mapped_column(String(300))
    account: Mapped[str] = mapped_column(String(34))
    reference: Mapped[str] = mapped_column(String(32))
    status: Mapped[FeeStatus] = mapped_column(enum_column(FeeStatus), default=FeeStatus.BILLED)
    billed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    paid_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))

    case: Mapped[CaseFile] = relationship()
    authority: Mapped[Authority] = relationship()
