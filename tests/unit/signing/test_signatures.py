"""Detached signatures as the journal uses them: sign an entry hash, verify it later."""

import hashlib
from pathlib import Path

import pytest

from signing import Keyring, issue_certificate, load_or_create_keyring, sign, verify

DATA = hashlib.sha256(b"journal entry 17").digest()


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    return load_or_create_keyring(Path(tmp_path_factory.mktemp("keys")))


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_signature_verifies(keyring: Keyring) -> None:
    signature = sign(keyring.seal, DATA)
    assert verify(keyring.seal.certificate, DATA, signature)
    assert signature[0] == 0x30  # a DER SEQUENCE (r, s), as other tools expect


def test_changed_data_does_not_verify(keyring: Keyring) -> None:
    signature = sign(keyring.seal, DATA)
    assert not verify(keyring.seal.certificate, _flip(DATA, 5), signature)


@pytest.mark.parametrize("index", [0, 1, 10, -1])
def test_changed_signature_does_not_verify(keyring: Keyring, index: int) -> None:
    signature = sign(keyring.seal, DATA)
    assert not verify(keyring.seal.certificate, DATA, _flip(signature, index % len(signature)))


def test_garbage_signature_does_not_verify(keyring: Keyring) -> None:
    assert not verify(keyring.seal.certificate, DATA, b"")
    assert not verify(keyring.seal.certificate, DATA, b"not a signature")


def test_signature_by_another_key_does_not_verify(keyring: Keyring) -> None:
    other = issue_certificate(keyring, "Gemeinde Emmen", "Gemeinde Emmen")
    signature = sign(other, DATA)
    assert verify(other.certificate, DATA, signature)
    assert not verify(keyring.seal.certificate, DATA, signature)
