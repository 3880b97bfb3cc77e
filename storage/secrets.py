"""Small secrets kept in rows (webhook HMAC secrets): AES-256-GCM under a key derived from the
key-encryption key, so a database dump alone reveals none of them."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.encryption import KeyEncryptionKey, TamperedObject

_VERSION = b"\x01"


class SecretBox:
    def __init__(self, kek: KeyEncryptionKey) -> None:
        # A derived key: the KEK itself only ever wraps data keys.
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"einwohnerportal row secrets v1"
        ).derive(kek.key)
        self._aead = AESGCM(derived)

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, _VERSION)

    def decrypt(self, sealed: bytes) -> bytes:
        if sealed[:1] != _VERSION or len(sealed) < 29:
            raise TamperedObject("not a sealed secret of this portal")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], _VERSION)
        except InvalidTag:
            raise TamperedObject("secret cannot be decrypted (other key or altered)") from None
