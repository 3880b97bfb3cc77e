"""A key per group of objects: the KEK wraps the group's key, the group's key wraps each
object's data key; destroying the group's key leaves every copy of the rows undecryptable."""

from __future__ import annotations

import io
import uuid

import pytest
from sqlalchemy import select

from storage.blobs import Blob, blob_bytes, read_blob, store_blob, store_blobs
from storage.db import transaction
from storage.encryption import TamperedObject
from storage.group_keys import (
    GroupKey,
    GroupKeyMissing,
    destroy_group,
    group_key,
    rewrap_ungrouped,
    unwrap_grouped,
)


def _stored_bytes(runtime, key: str) -> bytes:
    with runtime.objects.store.open(key) as stream:
        return stream.read()


def test_a_grouped_object_reads_back_and_the_kek_alone_cannot_unwrap_it(runtime):
    group = uuid.uuid4()
    with transaction(runtime.sessions) as session:
        blob = store_blob(session, io.BytesIO(b"Verfuegung"), group=group)
        blob_id = blob.id
    with runtime.sessions() as session:
        blob = session.get_one(Blob, blob_id)
        assert blob.group_id == group
        assert blob_bytes(session, blob) == b"Verfuegung"
        row = session.get_one(GroupKey, group)
        assert row.kek_id == runtime.objects.kek.key_id
        with pytest.raises(ValueError):
            runtime.objects.kek.unwrap(blob.wrapped_key)  # the group's key wrapped it
        with pytest.raises(TamperedObject):
            runtime.objects.open(blob.key, blob.wrapped_key)


def test_many_objects_of_many_groups_get_one_key_per_group(runtime):
    first, second = uuid.uuid4(), uuid.uuid4()
    groups = [first, second, first, None]
    payloads = [b"a" * 10, b"b" * 70_000, b"c", b"ungrouped"]
    with transaction(runtime.sessions) as session:
        rows = store_blobs(session, [io.BytesIO(p) for p in payloads], groups=groups)
    with runtime.sessions() as session:
        keys = session.scalars(select(GroupKey.group_id)).all()
        assert sorted(keys) == sorted([first, second])
        for row, payload, group in zip(rows, payloads, groups, strict=True):
            blob = session.get_one(Blob, row["id"])
            assert blob.group_id == group
            assert b"".join(read_blob(session, blob)) == payload


def test_destroying_a_group_makes_restored_rows_undecryptable(runtime):
    group, other = uuid.uuid4(), uuid.uuid4()
    with transaction(runtime.sessions) as session:
        mine = store_blob(session, io.BytesIO(b"secret"), group=group)
        kept = store_blob(session, io.BytesIO(b"other case"), group=other)
        backup = (mine.key, mine.wrapped_key, _stored_bytes(runtime, mine.key))
        backup_key_row = session.get_one(GroupKey, group).wrapped_key
    with transaction(runtime.sessions) as session:
        assert destroy_group(session, group) == [backup[0]]
    with runtime.sessions() as session:
        assert session.get(GroupKey, group) is None
        blob = session.get_one(Blob, mine.id)
        with pytest.raises(GroupKeyMissing):
            blob_bytes(session, blob)
        assert blob_bytes(session, session.get_one(Blob, kept.id)) == b"other case"
    # The old rows (a backup) hold the data key wrapped by a key that exists no more.
    with pytest.raises(ValueError):
        runtime.objects.kek.unwrap(backup[1])
    assert backup_key_row  # only a backup of group_keys itself would still hold it


def test_a_rolled_back_key_is_never_used_again(runtime):
    group = uuid.uuid4()
    with pytest.raises(RuntimeError), transaction(runtime.sessions) as session:
        store_blob(session, io.BytesIO(b"lost"), group=group)
        first = group_key(session, group).key
        raise RuntimeError("the request failed")
    with transaction(runtime.sessions) as session:
        blob = store_blob(session, io.BytesIO(b"kept"), group=group)
        assert group_key(session, group).key != first
    with runtime.sessions() as session:
        assert blob_bytes(session, session.get_one(Blob, blob.id)) == b"kept"


def test_rollback_of_a_plain_session_forgets_the_keys_it_made(runtime):
    group = uuid.uuid4()
    with runtime.sessions() as session:
        first = group_key_made(session, group)
        session.rollback()
        assert group_key_made(session, group) != first
        session.rollback()


def group_key_made(session, group: uuid.UUID) -> bytes:
    store_blob(session, io.BytesIO(b"x"), group=group)
    return group_key(session, group).key


def test_rewrap_moves_old_objects_under_their_group_without_rewriting_them(runtime):
    group = uuid.uuid4()
    with transaction(runtime.sessions) as session:
        old = [store_blob(session, io.BytesIO(f"old {n}".encode())) for n in range(3)]
        loose = store_blob(session, io.BytesIO(b"no group"))
    before = {b.id: (b.wrapped_key, _stored_bytes(runtime, b.key)) for b in old}
    wanted = {b.id for b in old}

    def group_of(session, limit):
        stmt = select(Blob.id).where(Blob.group_id.is_(None), Blob.id.in_(wanted)).limit(limit)
        return [(blob_id, group) for blob_id in session.scalars(stmt)]

    done = []
    while True:  # in batches of two, as `portal storage rewrap` does in batches
        with transaction(runtime.sessions) as session:
            done.append(rewrap_ungrouped(session, group_of, limit=2))
        if not done[-1]:
            break
    assert done == [2, 1, 0]
    with runtime.sessions() as session:
        for blob in old:
            row = session.get_one(Blob, blob.id)
            assert row.group_id == group and row.wrapped_key != before[blob.id][0]
            assert _stored_bytes(runtime, row.key) == before[blob.id][1]  # not rewritten
            assert blob_bytes(session, row) == f"old {old.index(blob)}".encode()
        assert session.get_one(Blob, loose.id).group_id is None
    with transaction(runtime.sessions) as session:
        assert rewrap_ungrouped(session, group_of) == 0  # idempotent
        assert unwrap_grouped(session) == 3
        assert unwrap_grouped(session) == 0
    with runtime.sessions() as session:
        for n, blob in enumerate(old):
            row = session.get_one(Blob, blob.id)
            assert row.group_id is None
            assert runtime.objects.kek.unwrap(row.wrapped_key)  # the KEK's again
            assert blob_bytes(session, row) == f"old {n}".encode()


def test_the_unit_of_work_never_shows_a_group_key(runtime):
    group = uuid.uuid4()
    with runtime.sessions() as session:
        key = group_key_made(session, group)
        from storage.work import unit_of

        text = repr(unit_of(session)) + repr(group_key(session, group))
        assert key.hex() not in text and repr(key) not in text
        session.rollback()
