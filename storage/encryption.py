"""Envelope encryption of stored objects: AES-256-GCM per object, data keys wrapped by a KEK.

Each object gets a fresh random 256-bit data key (DEK), wrapped with the key-encryption key (KEK)
by RFC 3394 AES key wrap and kept in the object's row with its plaintext size and SHA-256. An
object of a key group (a case file: storage.group_keys) has its data key wrapped by the group's
key instead, which the KEK wraps in turn: destroying the group's key shreds the group.

The KEK is a `WrappingKey`: 32 bytes held in memory (`KeyEncryptionKey`, from PORTAL_KEK, a file
or the embedded demo's instance/kek.b64), or an AES key that never leaves a PKCS#11 token
(signing.token_kek). Both do plain RFC 3394 (CKM_AES_KEY_WRAP), so the same key bytes give the
same wrapped keys in either: a KEK moves into a token without rewriting a single row.

Stored format ("EPO1"), streamed in one pass in both directions::

    header   = b"EPO1" || chunk_size (uint32, big-endian) || nonce_prefix (8 random bytes)
    object   = header || sealed_0 || sealed_1 || ... || sealed_n
    sealed_i = AES-256-GCM(dek).encrypt(nonce = nonce_prefix || i (uint32, big-endian),
                                        data = chunk_i, aad = header || final_i)  # + 16-byte tag

All chunks but the last hold exactly ``chunk_size`` (64 KiB) plaintext bytes; the last holds
0..chunk_size bytes and alone has ``final_i = 1`` (one byte; others 0): an empty plaintext is one
empty final chunk. The nonce counter detects reordered or dropped chunks, the final flag truncation
at a chunk boundary and appended chunks, the AAD edits to the header, the tag any flipped bit.
Plaintext chunks are released only after their tag has been checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from storage.objects import ObjectStore, discard

MAGIC = b"EPO1"
CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
_PREFIX_SIZE = 8  # with a 4-byte counter this fills GCM's 12-byte nonce
_HEADER = struct.Struct(">4sI8s")
# A forged header must not make us buffer gigabytes before the first tag check fails.
_MIN_CHUNK, _MAX_CHUNK = 1024, 16 * 1024 * 1024
_FINAL, _NOT_FINAL = b"\x01", b"\x00"


class TamperedObject(Exception):
    """A stored object or its wrapped key failed authentication."""


class WrappingKey(Protocol):
    """A key-encryption key: wraps and unwraps 32-byte data keys by RFC 3394 AES key wrap."""

    @property
    def key_id(self) -> str:
        """Names the key in rows and messages (at most 32 characters) without revealing it."""
        ...

    def wrap(self, data_key: bytes) -> bytes:
        """The data key wrapped (40 bytes for a 32-byte key)."""
        ...

    def unwrap(self, wrapped_key: bytes) -> bytes:
        """The data key; ValueError if it was not wrapped by this key or was altered."""
        ...

    def derive_legacy_key(self, info: bytes) -> bytes:
        """HKDF-SHA256 of the key itself, as format-1 row secrets were sealed (storage.secrets).

        Only a key held in memory can; a token raises LookupError saying how to reseal them.
        """
        ...


@dataclass(frozen=True)
class KeyEncryptionKey:
    """A KEK held in memory: from PORTAL_KEK, a KEK file, or the demo's instance/kek.b64."""

    key: bytes = field(repr=False)  # never in reprs, logs or tracebacks

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise ValueError(f"key-encryption key must be 32 bytes, got {len(self.key)}")

    @property
    def key_id(self) -> str:
        """Names the key in rows and messages without revealing it."""
        return hashlib.sha256(self.key).hexdigest()[:16]

    def wrap(self, data_key: bytes) -> bytes:
        return aes_key_wrap(self.key, data_key)

    def unwrap(self, wrapped_key: bytes) -> bytes:
        try:
            return aes_key_unwrap(self.key, wrapped_key)
        except InvalidUnwrap:
            raise ValueError(f"the wrapped key does not unwrap under KEK {self.key_id}") from None

    def derive_legacy_key(self, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(self.key)


@dataclass(frozen=True)
class StoredObject:
    backend: str
    key: str
    size: int
    sha256: str
    wrapped_key: bytes = field(repr=False)
    kek_id: str


def kek_from_base64(text: str) -> KeyEncryptionKey:
    """Parse a base64-encoded 32-byte key-encryption key."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("key-encryption key is not valid base64") from None  # no key in message
    return KeyEncryptionKey(raw)


def load_or_create_kek(path: Path) -> KeyEncryptionKey:
    """Read the KEK from ``path``, creating it (mode 0600) if it does not exist yet."""
    path = Path(path)
    with suppress(FileNotFoundError):
        return kek_from_base64(path.read_text("ascii"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(base64.b64encode(os.urandom(32)).decode("ascii") + "\n")
            out.flush()
            os.fsync(out.fileno())
        # link() (unlike replace()) fails when another process created the key first; we then use
        # theirs, so two processes never encrypt with different keys under one name.
        with suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return kek_from_base64(path.read_text("ascii"))


def _read_full(reader: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes unless the stream ends first (raw streams may return less)."""
    parts = []
    while size > 0 and (data := reader.read(size)):
        parts.append(data)
        size -= len(data)
    return b"".join(parts)  # no copy for the usual single part


class EncryptingReader:
    """A readable whose bytes are the EPO1 ciphertext of ``reader``; hashes plaintext as it goes."""

    def __init__(self, reader: BinaryIO, dek: bytes, chunk_size: int = CHUNK_SIZE) -> None:
        self._reader = reader
        self._aead = AESGCM(dek)
        self._chunk_size = chunk_size
        self._prefix = os.urandom(_PREFIX_SIZE)
        self._header = _HEADER.pack(MAGIC, chunk_size, self._prefix)
        self._counter = 0
        self._hash = hashlib.sha256()
        self.size = 0
        self.done = False  # True once the final chunk has been sealed
        self._pending = memoryview(self._header)
        self._lookahead = self._next_plaintext()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def _next_plaintext(self) -> bytes:
        data = _read_full(self._reader, self._chunk_size)
        self._hash.update(data)
        self.size += len(data)
        return data

    def _seal_next(self) -> bytes:
        chunk = self._lookahead
        # Reading one chunk ahead tells us whether this chunk is the last one before sealing it.
        self._lookahead = self._next_plaintext() if len(chunk) == self._chunk_size else b""
        final = not self._lookahead
        # to_bytes raises OverflowError past 2**32 chunks (256 TiB): a nonce never repeats.
        nonce = self._prefix + self._counter.to_bytes(4, "big")
        self._counter += 1
        self.done = final
        return self._aead.encrypt(nonce, chunk, self._header + (_FINAL if final else _NOT_FINAL))

    def read(self, size: int = -1) -> bytes:
        # Fill the request as far as possible: minio concatenates short reads quadratically.
        parts: list[memoryview] = []
        wanted = size if size >= 0 else sys.maxsize
        while wanted > 0:
            if not self._pending:
                if self.done:
                    break
                self._pending = memoryview(self._seal_next())
            parts.append(self._pending[:wanted])
            self._pending = self._pending[len(parts[-1]) :]
            wanted -= len(parts[-1])
        return b"".join(parts)


class PlaintextChunks(Iterator[bytes]):
    """Authenticated plaintext chunks of one stored object; closes its stream at the end.

    Not a generator: one never started ignores close(), leaking the stream (WSGI calls close()).
    """

    def __init__(self, stream: BinaryIO, dek: bytes, key: str) -> None:
        self._stream, self._key = stream, key
        self._counter, self._done, self._buffer = 0, False, b""
        try:
            header = _read_full(stream, _HEADER.size)
            if len(header) != _HEADER.size:
                raise TamperedObject(f"object {key!r}: header truncated")
            magic, chunk_size, prefix = _HEADER.unpack(header)
            if magic != MAGIC or not _MIN_CHUNK <= chunk_size <= _MAX_CHUNK:
                raise TamperedObject(f"object {key!r}: bad header (not EPO1 or a bad chunk size)")
        except BaseException:
            stream.close()
            raise
        self._header, self._prefix = header, prefix
        self._sealed_size = chunk_size + TAG_SIZE
        self._aead = AESGCM(dek)

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        try:
            return self._next_chunk()
        except BaseException:
            self.close()
            raise

    def _next_chunk(self) -> bytes:
        # One byte beyond a full sealed chunk tells whether more follows, i.e. whether it is final.
        data = self._buffer + _read_full(self._stream, self._sealed_size + 1 - len(self._buffer))
        final = len(data) <= self._sealed_size
        sealed, self._buffer = (data, b"") if final else (data[:-1], data[-1:])
        if not sealed:  # only possible right after the header: a non-final chunk keeps one byte
            raise TamperedObject(f"object {self._key!r}: truncated (no chunks)")
        index = self._counter
        nonce = self._prefix + index.to_bytes(4, "big")
        self._counter += 1
        try:
            plain = self._aead.decrypt(
                nonce, sealed, self._header + (_FINAL if final else _NOT_FINAL)
            )
        except InvalidTag:
            raise TamperedObject(self._diagnose(index, nonce, sealed, final)) from None
        if final:
            self._done = True
            self.close()
        return plain

    def _diagnose(self, index: int, nonce: bytes, sealed: bytes, final: bool) -> str:
        # Only on failure: try the other flag to tell truncation or extension from a modification.
        where = f"object {self._key!r}, chunk {index}"
        with suppress(InvalidTag, ValueError):
            self._aead.decrypt(nonce, sealed, self._header + (_NOT_FINAL if final else _FINAL))
            if final:
                return f"{where}: truncated (the chunk is not the final one)"
            return f"{where}: data appended after the final chunk"
        return f"{where}: failed authentication (modified, cut short or reordered)"

    def close(self) -> None:
        self._done = True
        self._stream.close()

    def __enter__(self) -> PlaintextChunks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EncryptedObjects:
    """Encrypts objects on their way into a store and authenticates them on the way out."""

    def __init__(self, store: ObjectStore, kek: WrappingKey) -> None:
        self.store = store
        self.kek = kek

    def put(self, reader: BinaryIO, wrapping: WrappingKey | None = None) -> StoredObject:
        """Encrypt, hash and upload ``reader`` in one streaming pass; its data key wrapped by
        ``wrapping`` (a group's key, storage.group_keys) or else by the KEK."""
        return self._put([reader], lambda items: self.store.put(*items[0]), [wrapping])[0]

    def put_many(
        self,
        readers: Sequence[BinaryIO],
        wrapping: Sequence[WrappingKey | None] | None = None,
    ) -> list[StoredObject]:
        """As put() for each reader, made durable together (the store's group commit)."""
        return self._put(readers, self.store.put_many, wrapping)

    def _put(
        self,
        readers: Sequence[BinaryIO],
        upload: Callable[[list[tuple[str, BinaryIO]]], None],
        wrapping: Sequence[WrappingKey | None] | None = None,
    ) -> list[StoredObject]:
        wrappers = [w or self.kek for w in wrapping] if wrapping else [self.kek] * len(readers)
        if len(wrappers) != len(readers):
            raise ValueError("one wrapping key (or None) per reader")
        deks = [AESGCM.generate_key(bit_length=256) for _ in readers]
        # One level of 4096 folders keeps them small on the folder backend (2,500 objects each
        # at ten million) while a new object seldom needs a new folder: two levels of 256 made
        # a mass mailing create a folder for almost every letter, ~0.5 ms each on ext4.
        keys = [f"{n[:3]}/{n}" for n in (uuid.uuid4().hex for _ in readers)]
        encrypting = [EncryptingReader(r, dek) for r, dek in zip(readers, deks, strict=True)]
        # A store whose upload raises leaves none of the objects behind (ObjectStore.put_many);
        # one that answered may still have lost the answer, and gc takes what that leaves.
        upload([(k, cast(BinaryIO, e)) for k, e in zip(keys, encrypting, strict=True)])
        if not all(e.done for e in encrypting):
            discard(self.store, keys)  # stored, but cut short: no row may point at them
            raise OSError(f"store {self.store.backend} stopped reading before the end")
        return [
            StoredObject(
                backend=self.store.backend,
                key=key,
                size=e.size,
                sha256=e.sha256,
                wrapped_key=wrapper.wrap(dek),
                # The KEK's id even for a group's key: the KEK is what unwraps the group's key.
                kek_id=self.kek.key_id,
            )
            for key, dek, e, wrapper in zip(keys, deks, encrypting, wrappers, strict=True)
        ]

    def _unwrap(self, wrapped_key: bytes, wrapping: WrappingKey | None) -> bytes:
        try:
            return (wrapping or self.kek).unwrap(wrapped_key)
        except ValueError:
            if wrapping is not None:
                problem = "the data key does not unwrap under its group's key (corrupted)"
            else:
                problem = f"wrong key-encryption key {self.kek.key_id}, or a corrupted wrapped key"
            raise TamperedObject(problem) from None

    def open(
        self, key: str, wrapped_key: bytes, wrapping: WrappingKey | None = None
    ) -> PlaintextChunks:
        """Plaintext chunks of ``key``; close the iterator if you stop before its end.
        ``wrapping``: the group's key that wrapped the data key (None: the KEK did)."""
        dek = self._unwrap(wrapped_key, wrapping)  # before opening: a wrong key leaks no stream
        return PlaintextChunks(self.store.open(key), dek, key)

    def digest(
        self, key: str, wrapped_key: bytes, wrapping: WrappingKey | None = None
    ) -> tuple[int, str]:
        """Plaintext size and SHA-256 of ``key``, computed by streaming it."""
        hasher, size = hashlib.sha256(), 0
        with self.open(key, wrapped_key, wrapping) as chunks:
            for chunk in chunks:
                hasher.update(chunk)
                size += len(chunk)
        return size, hasher.hexdigest()

    def delete(self, key: str) -> None:
        self.store.delete(key)
