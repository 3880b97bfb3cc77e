"""Envelope encryption over both real backends: round trips, tampering, keys, bounded memory."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from storage.encryption import (
    CHUNK_SIZE,
    EncryptedObjects,
    EncryptingReader,
    KeyEncryptionKey,
    StoredObject,
    TamperedObject,
)
from storage.objects import FolderStore

HEADER_SIZE = 16
SEALED = CHUNK_SIZE + 16


class GeneratedReader(io.RawIOBase):
    """``size`` bytes made on demand from a generator, so no test input sits in memory whole."""

    def __init__(self, size: int, seed: bytes = b"seed") -> None:
        self._blocks = self._generate(size, seed)
        self._current = b""
        self.sha256 = hashlib.sha256()

    @staticmethod
    def _generate(size: int, seed: bytes) -> Iterator[bytes]:
        block = hashlib.sha512(seed).digest() * 1024  # 64 KiB blocks
        for offset in range(0, size, len(block)):
            yield block[: min(len(block), size - offset)]

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(CHUNK_SIZE), b""))
        if not self._current:
            self._current = next(self._blocks, b"")
        data, self._current = self._current[:size], self._current[size:]
        self.sha256.update(data)
        return data


def raw(objects: EncryptedObjects, key: str) -> bytes:
    with objects.store.open(key) as stream:
        return stream.read()


def replace_raw(objects: EncryptedObjects, key: str, data: bytes) -> None:
    objects.store.put(key, io.BytesIO(data))


def plaintext(objects: EncryptedObjects, stored: StoredObject) -> bytes:
    return b"".join(objects.open(stored.key, stored.wrapped_key))


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 1_000_000])
def test_round_trip(objects: EncryptedObjects, kek: KeyEncryptionKey, size: int) -> None:
    data = os.urandom(size)
    stored = objects.put(io.BytesIO(data))

    assert plaintext(objects, stored) == data
    assert stored.backend == objects.store.backend
    assert re.fullmatch(r"[0-9a-f]{3}/[0-9a-f]{32}", stored.key)
    assert stored.key.split("/")[1].startswith(stored.key[:3])
    assert stored.size == size
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.kek_id == kek.key_id
    assert len(stored.wrapped_key) == 40
    assert objects.digest(stored.key, stored.wrapped_key) == (size, stored.sha256)
    chunks = max(1, -(-size // CHUNK_SIZE))
    ciphertext = raw(objects, stored.key)
    assert len(ciphertext) == HEADER_SIZE + size + 16 * chunks
    assert ciphertext[:4] == b"EPO1"
    if size >= 64:
        assert data[:32] not in ciphertext and data[-32:] not in ciphertext


def test_chunks_are_yielded_as_they_are_authenticated(objects: EncryptedObjects) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 10)
    stored = objects.put(io.BytesIO(data))
    chunks = list(objects.open(stored.key, stored.wrapped_key))
    assert [len(c) for c in chunks] == [CHUNK_SIZE] * 3 + [10]


def test_same_plaintext_encrypts_differently(objects: EncryptedObjects) -> None:
    first = objects.put(io.BytesIO(b"same"))
    second = objects.put(io.BytesIO(b"same"))
    assert first.key != second.key and first.wrapped_key != second.wrapped_key
    assert raw(objects, first.key) != raw(objects, second.key)


def test_missing_object(objects: EncryptedObjects) -> None:
    stored = objects.put(io.BytesIO(b"x"))
    objects.delete(stored.key)
    objects.delete(stored.key)
    with pytest.raises(FileNotFoundError):
        objects.open(stored.key, stored.wrapped_key)


@pytest.fixture
def three_chunks(objects: EncryptedObjects) -> tuple[StoredObject, bytes, bytes]:
    data = os.urandom(2 * CHUNK_SIZE + 1000)
    stored = objects.put(io.BytesIO(data))
    return stored, data, raw(objects, stored.key)


def swap_chunks(ciphertext: bytes, a: int, b: int) -> bytes:
    body = ciphertext[HEADER_SIZE:]
    chunks = [body[i : i + SEALED] for i in range(0, len(body), SEALED)]
    chunks[a], chunks[b] = chunks[b], chunks[a]
    return ciphertext[:HEADER_SIZE] + b"".join(chunks)


@pytest.mark.parametrize(
    ("case", "tamper", "message"),
    [
        ("magic", lambda c: b"EPO2" + c[4:], "bad header"),
        ("chunk size", lambda c: c[:4] + (4096).to_bytes(4, "big") + c[8:], "chunk 0"),
        ("nonce prefix", lambda c: c[:8] + bytes([c[8] ^ 1]) + c[9:], "chunk 0"),
        ("first chunk", lambda c: flip(c, HEADER_SIZE + 5), "chunk 0: failed authentication"),
        ("second tag", lambda c: flip(c, HEADER_SIZE + 2 * SEALED - 1), "chunk 1"),
        ("last byte", lambda c: flip(c, len(c) - 1), "chunk 2"),
        ("cut mid-chunk", lambda c: c[:-100], "chunk 2"),
        ("cut at boundary", lambda c: c[: HEADER_SIZE + 2 * SEALED], "chunk 1: truncated"),
        ("header only", lambda c: c[:HEADER_SIZE], "truncated"),
        ("cut header", lambda c: c[:10], "header truncated"),
        ("empty", lambda c: b"", "header truncated"),
        ("chunks swapped", lambda c: swap_chunks(c, 0, 1), "chunk 0"),
        ("byte appended", lambda c: c + b"\0", "chunk 2"),
        ("chunk appended", lambda c: c + c[HEADER_SIZE : HEADER_SIZE + SEALED], "chunk 2"),
    ],
)
def test_tampering_is_detected(
    objects: EncryptedObjects,
    three_chunks: tuple[StoredObject, bytes, bytes],
    case: str,
    tamper: object,
    message: str,
) -> None:
    stored, _, ciphertext = three_chunks
    assert callable(tamper)
    replace_raw(objects, stored.key, tamper(ciphertext))
    with pytest.raises(TamperedObject, match=message):
        plaintext(objects, stored)
    with pytest.raises(TamperedObject):
        objects.digest(stored.key, stored.wrapped_key)


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x40]) + data[index + 1 :]


def test_appending_a_chunk_to_an_exact_multiple_is_detected(objects: EncryptedObjects) -> None:
    stored = objects.put(io.BytesIO(os.urandom(2 * CHUNK_SIZE)))
    ciphertext = raw(objects, stored.key)
    replace_raw(objects, stored.key, ciphertext + ciphertext[HEADER_SIZE : HEADER_SIZE + SEALED])
    with pytest.raises(TamperedObject, match="chunk 1: data appended after the final chunk"):
        plaintext(objects, stored)


def test_good_chunks_before_a_bad_one_are_released(
    objects: EncryptedObjects, three_chunks: tuple[StoredObject, bytes, bytes]
) -> None:
    stored, data, ciphertext = three_chunks
    replace_raw(objects, stored.key, swap_chunks(ciphertext, 1, 2))
    chunks = objects.open(stored.key, stored.wrapped_key)
    assert next(chunks) == data[:CHUNK_SIZE]
    with pytest.raises(TamperedObject, match="chunk 1"):
        next(chunks)


def test_wrong_kek_is_refused(objects: EncryptedObjects) -> None:
    stored = objects.put(io.BytesIO(b"secret letter"))
    other = EncryptedObjects(objects.store, KeyEncryptionKey(os.urandom(32)))
    with pytest.raises(TamperedObject, match="wrong key-encryption key"):
        other.open(stored.key, stored.wrapped_key)


@pytest.mark.parametrize("wrapped", [b"", b"\0" * 40, b"short"])
def test_corrupted_wrapped_key_is_refused(objects: EncryptedObjects, wrapped: bytes) -> None:
    stored = objects.put(io.BytesIO(b"secret letter"))
    with pytest.raises(TamperedObject, match="wrong key-encryption key"):
        objects.open(stored.key, wrapped)


def test_another_objects_data_key_is_refused(objects: EncryptedObjects) -> None:
    first = objects.put(io.BytesIO(b"first"))
    second = objects.put(io.BytesIO(b"second"))
    with pytest.raises(TamperedObject, match="chunk 0"):
        b"".join(objects.open(first.key, second.wrapped_key))


class RecordingFolderStore(FolderStore):
    """A real folder store that remembers the streams it handed out."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.opened: list[BinaryIO] = []

    def open(self, key: str) -> BinaryIO:
        stream = super().open(key)
        self.opened.append(stream)
        return stream


@pytest.mark.parametrize("how", ["exhausted", "closed early", "context manager", "tampered"])
def test_stream_is_closed(tmp_path: Path, kek: KeyEncryptionKey, how: str) -> None:
    store = RecordingFolderStore(tmp_path)
    objects = EncryptedObjects(store, kek)
    stored = objects.put(io.BytesIO(os.urandom(3 * CHUNK_SIZE)))
    if how == "tampered":
        replace_raw(objects, stored.key, raw(objects, stored.key)[:-1])
    chunks = objects.open(stored.key, stored.wrapped_key)
    if how == "exhausted":
        list(chunks)
    elif how == "closed early":
        next(chunks)
        chunks.close()
    elif how == "context manager":
        with chunks:
            pass
    else:
        with pytest.raises(TamperedObject):
            list(chunks)
    assert store.opened[-1].closed


def test_failed_upload_leaves_nothing(folder_store: FolderStore, kek: KeyEncryptionKey) -> None:
    class Failing(GeneratedReader):
        """Fails where its end would be, like an upload whose client disconnects."""

        def read(self, size: int = -1) -> bytes:
            if data := super().read(size):
                return data
            raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        EncryptedObjects(folder_store, kek).put(Failing(5 * CHUNK_SIZE))  # type: ignore[arg-type]
    assert list(folder_store.iter_keys()) == []


@pytest.mark.parametrize("read_size", [1, 7, 1000, SEALED + 3, -1])
def test_encrypting_reader_honours_read_sizes(
    folder_store: FolderStore, kek: KeyEncryptionKey, read_size: int
) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 5)
    dek = os.urandom(32)
    reader = EncryptingReader(io.BytesIO(data), dek)
    pieces = []
    while piece := reader.read(read_size):
        pieces.append(piece)
    # Requests are filled completely until the end; minio relies on few, full reads.
    assert read_size < 0 or all(len(piece) == read_size for piece in pieces[:-1])
    assert reader.done and reader.size == len(data)
    assert reader.sha256 == hashlib.sha256(data).hexdigest()
    folder_store.put("manual", io.BytesIO(b"".join(pieces)))
    objects = EncryptedObjects(folder_store, kek)
    assert b"".join(objects.open("manual", aes_key_wrap(kek.key, dek))) == data


def test_64_mb_streams_with_bounded_memory(
    folder_store: FolderStore, kek: KeyEncryptionKey
) -> None:
    size = 64 * 1024 * 1024
    objects = EncryptedObjects(folder_store, kek)
    source = GeneratedReader(size)
    tracemalloc.start()
    try:
        stored = objects.put(source)  # type: ignore[arg-type]
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest = objects.digest(stored.key, stored.wrapped_key)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == size and stored.sha256 == source.sha256.hexdigest()
    assert digest == (size, stored.sha256)
    assert put_peak < 4_000_000, put_peak
    assert read_peak < 4_000_000, read_peak
