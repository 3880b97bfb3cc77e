"""Object stores for the storage tests: a real folder, and moto's S3 server over HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.encryption import EncryptedObjects, KeyEncryptionKey
from storage.objects import ObjectStore, open_store
from storage.s3 import S3Store
from tests.support.s3 import s3_url, start_s3_server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """One moto server for the whole session; each test gets its own bucket in it."""
    endpoint, stop = start_s3_server()
    yield endpoint
    stop()


@pytest.fixture
def folder_store(tmp_path: Path) -> ObjectStore:
    return open_store(f"file://{tmp_path / 'objects'}")


@pytest.fixture
def s3_store(s3_endpoint: str) -> S3Store:
    store = open_store(s3_url(s3_endpoint, f"test-{uuid.uuid4().hex[:16]}"))
    assert isinstance(store, S3Store)
    return store


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    """Each test that takes ``store`` runs once per backend."""
    return request.getfixturevalue(f"{request.param}_store")  # type: ignore[no-any-return]


@pytest.fixture
def kek() -> KeyEncryptionKey:
    return KeyEncryptionKey(os.urandom(32))


@pytest.fixture
def objects(store: ObjectStore, kek: KeyEncryptionKey) -> EncryptedObjects:
    """Encrypted objects over ``store``, so once per backend."""
    return EncryptedObjects(store, kek)
