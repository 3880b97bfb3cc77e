"""Parties (people, organisations), authorities and the accounts that act for them."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.chain_rows import ChainEntryColumns
from storage.db import Base, UTCDateTime, utcnow


def enum_column(cls: type[enum.Enum]) -> Enum:
    # Enums are stored by value, so the database reads like the code and survives renames.
    return Enum(cls, values_callable=lambda e: [m.value for m in e], native_enum=False, length=32)


class PartyKind(enum.StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


class AuthorityLevel(enum.StrEnum):
    COMMUNE = "commune"
    CANTON = "canton"
    FEDERAL = "federal"
    COMPANY = "company"


class Role(enum.StrEnum):
    RESIDENT = "resident"
    CLERK = "clerk"
    ARCHIVIST = "archivist"
    API_CLIENT = "api_client"  # never an account: the actor of a specialist application


class Commune(Base):
    """A political commune, keyed by its official BFS number (Federal Statistical Office),
    which outlives renames; mergers retire numbers and the import brings the new ones."""

    __tablename__ = "communes"

    bfs: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    canton: Mapped[str] = mapped_column(String(2), default="LU")


class Party(Base):
    __tablename__ = "parties"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'person' AND ahvn13 IS NOT NULL)"
            " OR (kind = 'organisation' AND uid IS NOT NULL)",
            name="identified",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[PartyKind] = mapped_column(enum_column(PartyKind))
    display_name: Mapped[str] = mapped_column(String(200))
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    date_of_birth: Mapped[dt.date | None]
    ahvn13: Mapped[str | None] = mapped_column(String(16), unique=True)
    uid: Mapped[str | None] = mapped_column(String(15), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The head of the party's consent chain (ConsentEntry), as case files keep their journal's:
    # appends lock this row, and a deleted last entry is noticed.
    consent_head_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    consent_head_hash: Mapped[str | None] = mapped_column(String(64))
    # The address of residence; its commune decides which offices are responsible (routing.py).
    street: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str | None] = mapped_column(String(10))
    town: Mapped[str | None] = mapped_column(String(100))
    bfs: Mapped[int | None] = mapped_column(ForeignKey("communes.bfs"), index=True)

    commune: Mapped[Commune | None] = relationship()


class Authority(Base):
    __tablename__ = "authorities"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[AuthorityLevel] = mapped_column(enum_column(AuthorityLevel))
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Days after which an unopened delivery counts as delivered (7 unless the law says else).
    deemed_delivery_days: Mapped[int] = mapped_column(default=7, server_default="7")
    # Where the authority's seal key is: "file:/path/slug" or "pkcs11:token=…;object=…".
    seal_ref: Mapped[str | None] = mapped_column(String(300))
    seal_certificate: Mapped[bytes | None] = mapped_column(LargeBinary)
    # What a Swiss QR-bill names as creditor: the QR-IBAN (IID 30000-31999) and the address.
    qr_iban: Mapped[str | None] = mapped_column(String(34))
    street: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str | None] = mapped_column(String(10))
    town: Mapped[str | None] = mapped_column(String(100))


class Responsibility(Base):
    """Which authority does a task (as service declarations name it, e.g. "einwohnerdienste")
    for a commune. A regional office is simply responsible in several communes."""

    __tablename__ = "responsibilities"
    __table_args__ = (UniqueConstraint("bfs", "task"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    bfs: Mapped[int] = mapped_column(ForeignKey("communes.bfs"))
    task: Mapped[str] = mapped_column(String(64))
    authority_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("authorities.id"), index=True)

    commune: Mapped[Commune] = relationship()
    authority: Mapped[Authority] = relationship()


class Consent(Base):
    """A party's consent to electronic delivery; revoking it closes the row, history stays."""

    __tablename__ = "delivery_consents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)
    given_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    given_by: Mapped[str] = mapped_column(String(300))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(300))


class ConsentEntry(ChainEntryColumns, Base):
    """One signed entry of a party's consent chain: each grant and revocation, hash-chained
    like a case file's journal and in the same format (docs/journal-format.md §9), with the
    member `party_id` where a journal has `case_id`. The rows of `delivery_consents` are its
    projection, and a delivery's legality rests on it."""

    __tablename__ = "consent_entries"
    __table_args__ = (UniqueConstraint("party_id", "seq"),)

    party_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parties.id"), index=True)


class ApiClient(Base):
    """A specialist application of one authority, calling the REST API with its keys."""

    __tablename__ = "api_clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    authority_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("authorities.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    # The HMAC secret, encrypted with the key-encryption key (it must be readable to sign).
    webhook_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    authority: Mapped[Authority] = relationship()


class ApiKey(Base):
    """A bearer key: only its SHA-256 is kept (keys are long random strings, shown once)."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_clients.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[ApiClient] = relationship()


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(
            "(role = 'resident' AND party_id IS NOT NULL AND authority_id IS NULL)"
            " OR (role = 'clerk' AND authority_id IS NOT NULL AND party_id IS NULL)"
            " OR (role = 'archivist' AND party_id IS NULL)",
            name="role_binding",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    login: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    display_name: Mapped[str] = mapped_column(String(200))
    party_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("parties.id"), index=True)
    authority_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("authorities.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    party: Mapped[Party | None] = relationship()
    authority: Mapped[Authority | None] = relationship()


class LoginFailures(Base):
    """Failed logins with one login name (its hash) from anywhere, and the delay they impose
    on the next attempt with that name (throttle.py). Counters, no legal meaning."""

    __tablename__ = "login_failures"

    login_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delayed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Set only once the owner is to be warned: the account the name belongs to.
    account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    warn_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    warned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LoginPairFailures(Base):
    """Failed logins with one login name from one client (address or known device), hashed
    together, and the block they impose on that pair alone (throttle.py)."""

    __tablename__ = "login_pair_failures"

    pair_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LoginSession(Base):
    """One logged-in browser (sessions.py): the cookie carries a random token, the row its
    SHA-256, so a copy of the database opens no session. Logout deletes the row."""

    __tablename__ = "login_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    account: Mapped[Account] = relationship()
