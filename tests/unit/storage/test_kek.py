"""The key-encryption key: created once, private, shared safely by racing processes."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
import threading
from pathlib import Path

import pytest

from storage.encryption import KeyEncryptionKey, kek_from_base64, load_or_create_kek


def test_kek_is_created_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "kek.b64"
    created = load_or_create_kek(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_kek(path) == created
    assert kek_from_base64(path.read_text()) == created
    assert os.listdir(path.parent) == ["kek.b64"]  # no temporary file left
    assert re.fullmatch(r"[0-9a-f]{16}", created.key_id)
    assert created.key_id == hashlib.sha256(created.key).hexdigest()[:16]
    assert base64.b64encode(created.key).decode() not in repr(created)


def test_concurrent_kek_creation_agrees(tmp_path: Path) -> None:
    path = tmp_path / "kek.b64"
    barrier = threading.Barrier(8)
    results: list[KeyEncryptionKey] = []

    def create() -> None:
        barrier.wait()
        results.append(load_or_create_kek(path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert load_or_create_kek(path) == results[0]


@pytest.mark.parametrize(
    "text", ["", "not base64!", base64.b64encode(b"x" * 31).decode(), "QUJD" * 20]
)
def test_bad_kek_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="key-encryption key"):
        kek_from_base64(text)


def test_kek_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        KeyEncryptionKey(b"x" * 16)


def test_wrapping_is_rfc_3394() -> None:
    # RFC 3394 section 4.6: 256 bits of key data with a 256-bit KEK. A KEK in a PKCS#11 token
    # (CKM_AES_KEY_WRAP) gives the same bytes, which is what lets the KEK move into one.
    kek = KeyEncryptionKey(bytes(range(32)))
    data = bytes.fromhex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
    wrapped = bytes.fromhex(
        "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"
    )
    assert kek.wrap(data) == wrapped
    assert kek.unwrap(wrapped) == data
    with pytest.raises(ValueError, match="does not unwrap"):
        KeyEncryptionKey(bytes(32)).unwrap(wrapped)
