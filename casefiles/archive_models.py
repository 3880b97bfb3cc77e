"""What archivists work with (issue 10): appraisals (four eyes), the destruction register and
export jobs."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from directory.models import enum_column
from storage.chain_rows import ChainEntryColumns
from storage.db import Base, UTCDateTime, utcnow


class Disposition(enum.StrEnum):
    ARCHIVE = "archive"
    DESTROY = "destroy"


class AppraisalStatus(enum.StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"


class Appraisal(Base):
    """An archivist's proposal to archive or destroy a closed case file, and a second
    archivist's decision on it (never the same account). Each step is a signed journal entry
    of the case file (`appraisal.proposed`, `appraisal.approved`, `appraisal.rejected`)."""

    __tablename__ = "appraisals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_files.id"), index=True)
    disposition: Mapped[Disposition] = mapped_column(enum_column(Disposition))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[AppraisalStatus] = mapped_column(
        enum_column(AppraisalStatus), default=AppraisalStatus.PROPOSED
    )
    proposed_by: Mapped[uuid.UUID] = mapped_column()  # the archivist's account
    proposed_by_label: Mapped[str] = mapped_column(String(300))
    proposed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[uuid.UUID | None] = mapped_column()
    decided_by_label: Mapped[str | None] = mapped_column(String(300))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)


class DestructionRecord(ChainEntryColumns, Base):
    """One entry of the destruction register: a signed, hash-chained journal of its own
    (docs/journal-format.md's entry format, with `register` as the member naming the chain),
    which outlives the case files it records."""

    __tablename__ = "destruction_records"
    __table_args__ = (UniqueConstraint("register", "seq"),)

    register: Mapped[uuid.UUID] = mapped_column()  # casefiles.destruction.REGISTER
    # The destroyed case file's id, to find its record (also in the payload, which is hashed).
    case_id: Mapped[uuid.UUID] = mapped_column(index=True)


class ExportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Export(Base):
    """An export made in the background for the archivists' UI: its progress, and the package
    (an encrypted object under the case file's key, so destroying the case file destroys it)."""

    __tablename__ = "exports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_files.id"), index=True)
    format: Mapped[str] = mapped_column(String(16))  # "bagit" or "ech0160"
    status: Mapped[ExportStatus] = mapped_column(
        enum_column(ExportStatus), default=ExportStatus.QUEUED
    )
    done_items: Mapped[int] = mapped_column(default=0)
    total_items: Mapped[int] = mapped_column(default=0)
    blob_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("blobs.id"))
    filename: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[uuid.UUID] = mapped_column()  # the account
    requested_by_label: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
