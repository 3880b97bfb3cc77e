"""Keys per group of objects (a case file is one group), for crypto-shredding.

The key-encryption key wraps each group's key; the group's key wraps the data key of each of the
group's objects. Destroying the group's key makes every object of the group unreadable, in the
store and in every backup of the object rows, because no remaining key unwraps their data keys.
Storage knows nothing of case files: a group is an id its caller chooses.

A group's key is 32 random bytes, made the first time an object of the group is stored, and kept
in `group_keys` wrapped by the KEK (RFC 3394, as the KEK wraps data keys). Unwrapped keys are
kept for the session's transaction only (`UnitOfWork.group_keys`) and never logged.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Collection
from typing import Any, cast

from sqlalchemy import LargeBinary, String, Table, bindparam, delete, event, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.db import Base, UTCDateTime, utcnow
from storage.encryption import KeyEncryptionKey, TamperedObject
from storage.work import services_of, unit_of


class GroupKey(Base):
    __tablename__ = "group_keys"

    group_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)  # by the KEK (RFC 3394)
    kek_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupKeyMissing(TamperedObject):
    """An object's group key is not there: the group was destroyed (or its row deleted)."""


def _cache(session: Session) -> dict[uuid.UUID, KeyEncryptionKey]:
    work = unit_of(session)
    if not event.contains(session, "after_soft_rollback", _forget):
        # A rolled-back transaction may have made a key whose row is gone now: never use it.
        event.listen(session, "after_soft_rollback", _forget)
    return work.group_keys


def _forget(session: Session, _previous: Any) -> None:
    unit_of(session).group_keys.clear()


def group_key(session: Session, group_id: uuid.UUID) -> KeyEncryptionKey:
    """The group's key, unwrapped; GroupKeyMissing if it has none (destroyed)."""
    cache = _cache(session)
    if group_id not in cache:
        wrapped = session.scalar(select(GroupKey.wrapped_key).where(GroupKey.group_id == group_id))
        if wrapped is None:
            raise GroupKeyMissing(f"the key of object group {group_id} is gone (destroyed)")
        cache[group_id] = _unwrap(session, wrapped)
    return cache[group_id]


def ensure_group_keys(
    session: Session, group_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, KeyEncryptionKey]:
    """The keys of these groups, made for those that have none yet: one query for the known,
    one insert for the new (a mass mailing's thousand case files)."""
    cache = _cache(session)
    wanted = [g for g in dict.fromkeys(group_ids) if g not in cache]
    for start in range(0, len(wanted), 500):
        _load_or_make(session, wanted[start : start + 500], cache)
    return {g: cache[g] for g in group_ids}


def _load_or_make(
    session: Session, wanted: list[uuid.UUID], cache: dict[uuid.UUID, KeyEncryptionKey]
) -> None:
    found = _wrapped(session, wanted)
    missing = [g for g in wanted if g not in found]
    if missing:
        kek = services_of(session).objects.kek
        rows = [
            {
                "group_id": g,
                "wrapped_key": kek.wrap(os.urandom(32)),
                "kek_id": kek.key_id,
                "created_at": utcnow(),
            }
            for g in missing
        ]
        session.execute(_insert_new(session), rows)
        # Another transaction may have made some of them first: its keys are the ones to use.
        found |= _wrapped(session, missing)
    for g in wanted:
        cache[g] = _unwrap(session, found[g])


def _wrapped(session: Session, group_ids: list[uuid.UUID]) -> dict[uuid.UUID, bytes]:
    stmt = select(GroupKey.group_id, GroupKey.wrapped_key).where(GroupKey.group_id.in_(group_ids))
    return {g: w for g, w in session.execute(stmt)}


def _insert_new(session: Session) -> Any:
    table = cast(Table, GroupKey.__table__)
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=["group_id"])
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=["group_id"])


def _unwrap(session: Session, wrapped: bytes) -> KeyEncryptionKey:
    kek = services_of(session).objects.kek
    try:
        return KeyEncryptionKey(kek.unwrap(wrapped))
    except ValueError:
        raise TamperedObject(
            f"a group key does not unwrap under the key-encryption key {kek.key_id}"
        ) from None


def destroy_group(session: Session, group_id: uuid.UUID) -> list[str]:
    """Delete the group's key (its objects can never be decrypted again, from any copy of their
    rows) and return the object keys of the group, for the caller to delete after commit."""
    from storage.blobs import Blob  # storage.blobs uses this module

    session.execute(delete(GroupKey).where(GroupKey.group_id == group_id))
    unit_of(session).group_keys.pop(group_id, None)
    return list(session.scalars(select(Blob.key).where(Blob.group_id == group_id)))


# (blob id, group id) pairs of objects still wrapped by the KEK that belong to a group; at most
# `limit` of them. The domain knows which group an object belongs to (casefiles.case_keys).
GroupOf = Callable[[Session, int], list[tuple[uuid.UUID, uuid.UUID]]]


def rewrap_ungrouped(session: Session, group_of: GroupOf, limit: int = 500) -> int:
    """Rewrap one batch of objects stored before key groups under their group's key: unwrap
    the data key with the KEK, wrap it with the group's key, set `group_id`. Objects are not
    rewritten. Returns how many were rewrapped (0: none left); run again until 0."""
    from storage.blobs import Blob

    pairs = group_of(session, limit)
    if not pairs:
        return 0
    kek = services_of(session).objects.kek
    keys = ensure_group_keys(session, {g for _, g in pairs})
    stmt = select(Blob.id, Blob.wrapped_key).where(
        Blob.id.in_([b for b, _ in pairs]), Blob.group_id.is_(None)
    )
    wrapped = {blob_id: key for blob_id, key in session.execute(stmt)}
    rows = []
    for blob_id, group in pairs:
        if blob_id not in wrapped:
            continue  # rewrapped meanwhile
        try:
            data_key = kek.unwrap(wrapped[blob_id])
        except ValueError:
            raise TamperedObject(
                f"the data key of object {blob_id} does not unwrap under KEK {kek.key_id}"
            ) from None
        rows.append({"b_id": blob_id, "b_wrapped": keys[group].wrap(data_key), "b_group": group})
    _update_keys(session, rows, grouped=False)
    return len(rows)


def unwrap_grouped(session: Session, limit: int = 500) -> int:
    """The reverse of `rewrap_ungrouped`, for a downgrade: one batch of grouped objects gets
    its data key wrapped by the KEK again (`group_id` None). Returns how many; run until 0."""
    from storage.blobs import Blob

    found = session.execute(
        select(Blob.id, Blob.wrapped_key, Blob.group_id)
        .where(Blob.group_id.is_not(None))
        .order_by(Blob.id)
        .limit(limit)
    ).all()
    if not found:
        return 0
    kek = services_of(session).objects.kek
    rows = []
    for blob_id, wrapped, group in found:
        assert group is not None  # selected so
        data_key = group_key(session, group).unwrap(wrapped)
        rows.append({"b_id": blob_id, "b_wrapped": kek.wrap(data_key), "b_group": None})
    _update_keys(session, rows, grouped=True)
    return len(rows)


def _update_keys(session: Session, rows: list[dict[str, Any]], *, grouped: bool) -> None:
    from storage.blobs import Blob

    if not rows:
        return
    table = cast(Table, Blob.__table__)
    was = table.c.group_id.is_not(None) if grouped else table.c.group_id.is_(None)
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"), was)
        .values(wrapped_key=bindparam("b_wrapped"), group_id=bindparam("b_group"))
    )
    session.connection().execute(stmt, rows)
