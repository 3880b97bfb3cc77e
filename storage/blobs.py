"""Stored objects as rows: where the encrypted bytes are and what their plaintext digest is."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.bulk import insert_rows
from storage.db import Base, UTCDateTime, utcnow
from storage.encryption import EncryptedObjects, KeyEncryptionKey, PlaintextChunks, StoredObject
from storage.group_keys import ensure_group_keys, group_key
from storage.work import services_of, unit_of


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
    # The key group (storage/group_keys.py) whose key wraps `wrapped_key`; None: the KEK wraps
    # it directly (objects stored before migration 0013 until `portal storage rewrap`).
    group_id: Mapped[uuid.UUID | None] = mapped_column(index=True)


def objects_of(session: Session) -> EncryptedObjects:
    """The encrypted object store that this session's runtime was configured with."""
    return services_of(session).objects


def store_blob(session: Session, reader: BinaryIO, *, group: uuid.UUID | None = None) -> Blob:
    """Encrypt and store a stream, and add the row that records it; with a `group`, its data
    key is wrapped by the group's key (storage.group_keys), made if the group has none yet."""
    wrapping = group_key_for(session, group)
    stored = objects_of(session).put(reader, wrapping)
    blob = Blob(**_recorded(session, [stored], [group])[0])
    session.add(blob)
    session.flush()
    return blob


def store_blobs(
    session: Session,
    readers: Sequence[BinaryIO],
    *,
    groups: Sequence[uuid.UUID | None] | None = None,
) -> list[dict[str, Any]]:
    """Encrypt and store many streams with one durable group commit, and insert their rows in
    one statement; the rows' values (ids included) in the order of `readers`. `groups`: each
    stream's key group (or None), the groups' keys made in bulk."""
    chosen = list(groups) if groups is not None else [None] * len(readers)
    if len(chosen) != len(readers):
        raise ValueError("one group (or None) per stream")
    keys = ensure_group_keys(session, {g for g in chosen if g is not None})
    wrapping = [keys[g] if g is not None else None for g in chosen]
    rows = _recorded(session, objects_of(session).put_many(readers, wrapping), chosen)
    insert_rows(session, Blob.__table__, rows)
    return rows


def group_key_for(session: Session, group: uuid.UUID | None) -> KeyEncryptionKey | None:
    """The key that wraps the data keys of `group`'s objects, made if new (None: no group)."""
    return ensure_group_keys(session, [group])[group] if group is not None else None


def _recorded(
    session: Session, stored: list[StoredObject], groups: Sequence[uuid.UUID | None]
) -> list[dict[str, Any]]:
    # Remembered so that a rollback can remove the objects again: no orphans from failed work.
    unit_of(session).stored_keys.extend(s.key for s in stored)
    now = utcnow()
    return [
        {
            "id": uuid.uuid4(),
            "backend": s.backend,
            "key": s.key,
            "size": s.size,
            "sha256": s.sha256,
            "wrapped_key": s.wrapped_key,
            "kek_id": s.kek_id,
            "created_at": now,
            "group_id": group,
        }
        for s, group in zip(stored, groups, strict=True)
    ]


@contextlib.contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A unit of work inside the transaction: on an error its rows roll back to the savepoint,
    and the objects it stored and the jobs it queued are dropped as a whole transaction's are."""
    work = unit_of(session)
    mark = work.mark()
    nested = session.begin_nested()
    try:
        yield
        nested.commit()
    except BaseException:
        try:
            nested.rollback()
        finally:
            # Even when the rollback fails (the connection is gone): these rows are not saved.
            work.undo(mark)
        raise


def read_blob(session: Session, blob: Blob) -> Iterator[bytes]:
    """The plaintext of a stored object, in authenticated chunks."""
    return open_stored(session, blob.key, blob.wrapped_key, blob.group_id)


def open_stored(
    session: Session, key: str, wrapped_key: bytes, group_id: uuid.UUID | None
) -> PlaintextChunks:
    """The plaintext chunks of an object given its row's columns (for readers that select
    them in bulk); storage.group_keys.GroupKeyMissing if its group was destroyed."""
    return stored_opener(session, key, wrapped_key, group_id)()


def blob_opener(session: Session, blob: Blob) -> Callable[[], PlaintextChunks]:
    """What opens the object later, in any thread (casefiles/export/read_ahead.py)."""
    return stored_opener(session, blob.key, blob.wrapped_key, blob.group_id)


def stored_opener(
    session: Session, key: str, wrapped_key: bytes, group_id: uuid.UUID | None
) -> Callable[[], PlaintextChunks]:
    """Its group's key is looked up now, through the session, which must stay in its own
    thread; the opener itself uses no session."""
    wrapping = group_key(session, group_id) if group_id is not None else None
    objects = objects_of(session)
    return lambda: objects.open(key, wrapped_key, wrapping)


def stored_digest(
    session: Session, key: str, wrapped_key: bytes, group_id: uuid.UUID | None
) -> tuple[int, str]:
    """Plaintext size and SHA-256 of an object, computed by streaming it."""
    wrapping = group_key(session, group_id) if group_id is not None else None
    return objects_of(session).digest(key, wrapped_key, wrapping)


def blob_bytes(session: Session, blob: Blob) -> bytes:
    """The whole plaintext; only for small objects such as receipts."""
    return b"".join(read_blob(session, blob))
