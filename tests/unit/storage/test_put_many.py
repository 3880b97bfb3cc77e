"""`put_many`: several objects with one group commit, on both backends; all or none of them."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from storage.encryption import EncryptedObjects
from storage.objects import FolderStore, ObjectStore
from tests.unit.storage.test_objects import FailingReader, read_all


def test_put_many_stores_every_object(store: ObjectStore) -> None:
    contents = {f"{n:02d}/ab/object-{n}": os.urandom(1000 + n) for n in range(5)}
    store.put_many([(key, io.BytesIO(data)) for key, data in contents.items()])
    for key, data in contents.items():
        assert read_all(store, key) == data
    assert sorted(store.iter_keys()) == sorted(contents)


def test_a_failure_leaves_none_of_the_objects(store: ObjectStore) -> None:
    items = [
        ("a/1", io.BytesIO(b"first")),
        ("a/2", FailingReader(b"half")),
        ("a/3", io.BytesIO(b"x")),
    ]
    with pytest.raises(ConnectionResetError):
        store.put_many(items)  # type: ignore[arg-type]
    assert list(store.iter_keys()) == []
    if isinstance(store, FolderStore):  # no temporary files either
        assert [p for p in Path(store.root).rglob("*") if p.is_file()] == []


def test_a_bad_key_is_refused_before_anything_is_written(store: ObjectStore) -> None:
    with pytest.raises(ValueError):
        store.put_many([("good", io.BytesIO(b"1")), ("../bad", io.BytesIO(b"2"))])
    assert list(store.iter_keys()) == []


def test_encrypted_put_many_round_trips(objects: EncryptedObjects) -> None:
    plain = [os.urandom(70_000), b"", b"short"]
    stored = objects.put_many([io.BytesIO(p) for p in plain])
    assert len({s.key for s in stored}) == 3
    for s, p in zip(stored, plain, strict=True):
        assert b"".join(objects.open(s.key, s.wrapped_key)) == p
        assert objects.digest(s.key, s.wrapped_key) == (len(p), s.sha256)
