"""Row secrets (webhook HMAC secrets): format 2 wraps a data key per secret with the KEK, so a
KEK inside a token reads them too; format 1 (older rows) is still read and can be resealed."""

from __future__ import annotations

import os

import pytest

from storage.encryption import KeyEncryptionKey, TamperedObject
from storage.secrets import SecretBox, reseal

# Known answers, pinned: rows sealed today must open decades later (STYLE.md rule 12).
KNOWN_KEK = KeyEncryptionKey(bytes(range(32)))
# Format 1 as the portal wrote it before: HKDF-SHA256 of the KEK, nonce bytes 100..111.
KNOWN_V1 = bytes.fromhex(
    "016465666768696a6b6c6d6e6f9581b68e2adaca3901bb9ed3ccc599c2fd4dacd8c954d099b2682d"
)
# Format 2: data key bytes 200..231 wrapped by RFC 3394, nonce bytes 50..61.
KNOWN_V2 = bytes.fromhex(
    "02ae1f5c4903aa6b0ed126e192d386858e62232df11eba66bf977e0d4f5acfa47541f0a6ff3cb849ed"
    "32333435363738393a3b3c3d98a54a000f9cb874e315aaf44c2228b9380f928081234f62255fc0"
)


def test_known_answers_of_both_formats() -> None:
    box = SecretBox(KNOWN_KEK)
    assert box.decrypt(KNOWN_V1) == b"whsec_known"
    assert box.decrypt(KNOWN_V2) == b"whsec_known"
    assert KNOWN_V2[1:41] == KNOWN_KEK.wrap(bytes(range(200, 232)))


def test_new_secrets_are_format_2_and_round_trip() -> None:
    box = SecretBox(KeyEncryptionKey(os.urandom(32)))
    sealed = box.encrypt(b"whsec_abc")
    assert sealed[:1] == b"\x02" and len(sealed) == 1 + 40 + 12 + len(b"whsec_abc") + 16
    assert b"whsec_abc" not in sealed
    assert box.decrypt(sealed) == b"whsec_abc"
    assert box.encrypt(b"whsec_abc") != sealed  # fresh data key and nonce each time
    assert not box.needs_reseal(sealed)


def test_another_kek_or_a_swapped_wrapped_key_is_detected() -> None:
    box = SecretBox(KeyEncryptionKey(os.urandom(32)))
    first, second = box.encrypt(b"one"), box.encrypt(b"two")
    with pytest.raises(TamperedObject):
        SecretBox(KeyEncryptionKey(os.urandom(32))).decrypt(first)
    # The wrapped key is authenticated with the secret: another secret's does not fit.
    with pytest.raises(TamperedObject):
        box.decrypt(first[:1] + second[1:41] + first[41:])
    flipped = bytearray(first)
    flipped[-1] ^= 1
    with pytest.raises(TamperedObject):
        box.decrypt(bytes(flipped))
    for garbage in (b"", b"\x03" + bytes(80), b"\x02" + bytes(10), b"\x01" + bytes(5)):
        with pytest.raises(TamperedObject):
            box.decrypt(garbage)


def test_reseal_turns_format_1_into_format_2() -> None:
    box = SecretBox(KNOWN_KEK)
    assert box.needs_reseal(KNOWN_V1)
    resealed = reseal(box, KNOWN_V1)
    assert resealed[:1] == b"\x02"
    assert box.decrypt(resealed) == b"whsec_known"
    assert reseal(box, resealed) is resealed
