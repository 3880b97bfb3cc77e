"""Messages tied to case files, and their deliveries with legal states."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casefiles.models import CaseFile, Document
from directory.models import Authority, Party, _enum
from storage.db import Base, UTCDateTime, utcnow


class MessageKind(enum.StrEnum):
    DECISION = "decision"
    LETTER = "letter"
    INVOICE = "invoice"
    INFORMATION = "information"


class DeliveryStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    AVAILABLE = "available"
    OPENED = "opened"
    DEEMED_DELIVERED = "deemed_delivered"
    WITHDRAWN = "withdrawn"


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_files.id"), index=True)
    sender_authority_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("authorities.id"))
    kind: Mapped[MessageKind] = mapped_column(_enum(MessageKind))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(300))

    case: Mapped[CaseFile] = relationship()
    sender: Mapped[Authority] = relationship()
    documents: Mapped[list[Document]] = relationship(secondary="message_documents")
    delivery: Mapped[Delivery] = relationship(back_populates="message")


class MessageDocument(Base):
    __tablename__ = "message_documents"

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"), primary_key=True)


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), unique=True)
    recipient_party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus), index=True)
    accepted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    opened_by: Mapped[str | None] = mapped_column(String(300))
    receipt_document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("documents.id"))

    message: Mapped[Message] = relationship(back_populates="delivery")
    recipient: Mapped[Party] = relationship()
    receipt_document: Mapped[Document | None] = relationship()
