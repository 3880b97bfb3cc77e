"""Messages tied to case files, and their deliveries with legal states."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casefiles.models import CaseFile, Document
from directory.models import Authority, Party, enum_column
from storage.db import Base, UTCDateTime, utcnow


class MessageKind(enum.StrEnum):
    DECISION = "decision"
    LETTER = "letter"
    INVOICE = "invoice"
    INFORMATION = "information"
    REPLY = "reply"
    ORDER = "order"  # inbound: a resident's order of a service (catalogue/ordering.py)


class DeliveryStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    AVAILABLE = "available"
    OPENED = "opened"
    DEEMED_DELIVERED = "deemed_delivered"
    WITHDRAWN = "withdrawn"


class Direction(enum.StrEnum):
    OUTBOUND = "outbound"  # from an authority into a mailbox
    INBOUND = "inbound"  # a resident's reply or follow-up, to the authority of the case


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_files.id"), index=True)
    direction: Mapped[Direction] = mapped_column(
        enum_column(Direction), default=Direction.OUTBOUND, server_default="outbound"
    )
    # The authority on the authority's side of the message: outbound its sender, inbound (a
    # resident's reply or order) its addressee. The column keeps its first name, which fitted
    # outbound letters only (renaming it would need a migration for no gain).
    authority_id: Mapped[uuid.UUID] = mapped_column(
        "sender_authority_id", ForeignKey("authorities.id")
    )
    sender_party_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("parties.id"))
    in_reply_to_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id"))
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(300))
    # Inbound messages wait in the authority's work queue until a clerk marks them handled.
    handled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    handled_by: Mapped[str | None] = mapped_column(String(300))

    case: Mapped[CaseFile] = relationship()
    authority: Mapped[Authority] = relationship()
    sender_party: Mapped[Party | None] = relationship()
    documents: Mapped[list[Document]] = relationship(
        secondary="message_documents", order_by="MessageDocument.position"
    )
    delivery: Mapped[Delivery | None] = relationship(back_populates="message")

    @classmethod
    def of_columns(cls, values: Mapping[str, Any]) -> Message:
        """A message from its column values, as `mailbox.letters` writes them for the bulk
        insert too (there the column name, `sender_authority_id`, is the key)."""
        attributes = {
            cls.__mapper__.get_property_by_column(cls.__table__.c[name]).key: value
            for name, value in values.items()
        }
        return cls(**attributes)


class MessageDocument(Base):
    __tablename__ = "message_documents"

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    # The order the sender gave: the letter first, then its enclosures.
    position: Mapped[int] = mapped_column(default=0, server_default="0")


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_sweep", "status", "deemed_due_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), unique=True)
    recipient_party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus), index=True)
    accepted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    opened_by: Mapped[str | None] = mapped_column(String(300))
    deemed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When it will count as delivered if nobody opens it; what the sweep looks for.
    deemed_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by: Mapped[str | None] = mapped_column(String(300))
    # Copied from the authority when delivered: a later change of its rule does not reach back.
    deemed_after_days: Mapped[int] = mapped_column(default=7, server_default="7")
    appeal_period_days: Mapped[int | None]
    due_date: Mapped[dt.date | None]
    reply_allowed: Mapped[bool] = mapped_column(default=True, server_default=true())
    api_client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_clients.id"))
    notice_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    receipt_document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("documents.id"))

    message: Mapped[Message] = relationship(back_populates="delivery")
    recipient: Mapped[Party] = relationship()
    receipt_document: Mapped[Document | None] = relationship()


class IdempotencyRecord(Base):
    """The answer given to an API request with an Idempotency-Key, to give it again."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("client_id", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_clients.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEvent(Base):
    """An event for one API client's webhook (an outbox row): sent after commit, retried."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_pending", "delivered_at", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_clients.id"), index=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
