"""Case files (Dossiers), their parties, documents with versions, and the journal."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from directory.models import Authority, Party, enum_column
from storage.blobs import Blob
from storage.chain_rows import ChainEntryColumns
from storage.db import Base, UTCDateTime, utcnow


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    # Closed by its authority or when its process and periods have run out (casefiles/lifecycle.py):
    # read-only from then on, and the archivists' business.
    CLOSED = "closed"
    # Handed over to the archive as an export (kept here or destroyed, as configured).
    TRANSFERRED = "transferred"


class CaseFile(Base):
    __tablename__ = "case_files"
    # An authority's own file number may span several holders (an objection procedure, say),
    # each with a case file of their own.
    __table_args__ = (UniqueConstraint("authority_id", "external_ref", "party_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    authority_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("authorities.id"), index=True)
    # The holder: the resident or organisation this case file is about. Only the holder (and
    # the authorities) see it, so residents never see each other's letters (issue 6).
    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    status: Mapped[CaseStatus] = mapped_column(enum_column(CaseStatus), default=CaseStatus.OPEN)
    # The sending authority's own reference (its specialist application's file number).
    external_ref: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The head of the journal; kept on the row so that appends can lock it and a deleted last
    # entry is noticed.
    head_seq: Mapped[int] = mapped_column(default=0)
    head_hash: Mapped[str | None] = mapped_column(String(64))
    # The service (catalogue) a resident ordered this case file as, and the declaration's
    # version then; None for case files an authority opened by delivering.
    case_type: Mapped[str | None] = mapped_column(String(64), index=True)
    case_type_version: Mapped[int | None]
    # The lifecycle (issue 10), each from a signed journal entry: when the case file was closed,
    # how long it must be kept from then on, and what the case type suggests after that.
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    retention_until: Mapped[dt.date | None] = mapped_column(Date, index=True)
    disposition: Mapped[str | None] = mapped_column(String(16))  # "archive" or "destroy"

    authority: Mapped[Authority] = relationship()
    holder: Mapped[Party] = relationship(foreign_keys=[party_id])
    parties: Mapped[list[CaseParty]] = relationship(
        back_populates="case", cascade="all, delete-orphan"
    )
    documents: Mapped[list[Document]] = relationship(
        back_populates="case", order_by="Document.created_at"
    )


class CaseParty(Base):
    __tablename__ = "case_parties"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_files.id"), primary_key=True)
    party_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("parties.id"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(32))

    case: Mapped[CaseFile] = relationship(back_populates="parties")
    party: Mapped[Party] = relationship()


class CaseAuthority(Base):
    """An authority taking part in a case file besides (or as) its lead: it sees the case file
    (visible_cases). Role "lead" for the authority an order was routed to, "step" for one
    that has a step in it."""

    __tablename__ = "case_authorities"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_files.id"), primary_key=True)
    authority_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("authorities.id"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(32))


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_files.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(300))

    case: Mapped[CaseFile] = relationship(back_populates="documents")
    versions: Mapped[list[DocumentVersion]] = relationship(
        back_populates="document", order_by="DocumentVersion.number"
    )

    @property
    def current(self) -> DocumentVersion:
        return self.versions[-1]


class DocumentVersion(Base):
    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"), index=True)
    number: Mapped[int]
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id"))
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # PDF signatures found on intake or applied by the portal, as validated then:
    # [{"signer", "intact", "valid", "trusted", "signed_at", "field"}].
    signatures: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)

    document: Mapped[Document] = relationship(back_populates="versions")
    blob: Mapped[Blob] = relationship()


class JournalEntry(ChainEntryColumns, Base):
    """One append-only event of a case file, chained to the previous one and signed."""

    __tablename__ = "journal_entries"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_files.id"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
