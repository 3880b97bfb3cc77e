"""Stored objects as rows: where the encrypted bytes are and what their plaintext digest is."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import BinaryIO

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.db import Base, UTCDateTime, utcnow
from storage.encryption import EncryptedObjects


class Blob(Base):
    __tablename__ = "blobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    backend: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def objects_of(session: Session) -> EncryptedObjects:
    """The encrypted object store that this session's runtime was configured with."""
    return session.info["objects"]  # type: ignore[no-any-return]


def store_blob(session: Session, reader: BinaryIO) -> Blob:
    """Encrypt and store a stream, and add the row that records it."""
    stored = objects_of(session).put(reader)
    # Remembered so that a rollback can remove the object again: no orphans from failed work.
    session.info.setdefault("stored_keys", []).append(stored.key)
    blob = Blob(
        backend=stored.backend,
        key=stored.key,
        size=stored.size,
        sha256=stored.sha256,
        wrapped_key=stored.wrapped_key,
        kek_id=stored.kek_id,
    )
    session.add(blob)
    session.flush()
    return blob


def read_blob(session: Session, blob: Blob) -> Iterator[bytes]:
    """The plaintext of a stored object, in authenticated chunks."""
    return objects_of(session).open(blob.key, blob.wrapped_key)


def blob_bytes(session: Session, blob: Blob) -> bytes:
    """The whole plaintext; only for small objects such as receipts."""
    return b"".join(read_blob(session, blob))
