"""Small secrets kept in rows (webhook HMAC secrets), so a database dump alone reveals none.

Format 2 (written now) is envelope encryption like the stored objects: a fresh data key per
secret, wrapped by the key-encryption key, so it works alike whether the KEK is in memory or
inside a PKCS#11 token::

    sealed = b"\\x02" || wrapped data key (40 bytes) || nonce (12) || AES-256-GCM(data key)

Format 1 (read only) used a key derived by HKDF from the KEK's own bytes, which a key that never
leaves its token cannot compute: `reseal` turns such a secret into format 2 while the KEK is
still at hand in memory (`portal keys import-kek` does it before moving the KEK into a token).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.encryption import TamperedObject, WrappingKey

_V1, _V2 = b"\x01", b"\x02"
_V1_INFO = b"einwohnerportal row secrets v1"
_WRAPPED = 40  # RFC 3394 of a 32-byte key
_NONCE = 12
_TAG = 16


class SecretBox:
    def __init__(self, kek: WrappingKey) -> None:
        self._kek = kek

    def encrypt(self, plaintext: bytes) -> bytes:
        data_key = AESGCM.generate_key(bit_length=256)
        wrapped = self._kek.wrap(data_key)
        nonce = os.urandom(_NONCE)
        # The wrapped key is in the AAD: swapping it for another secret's is detected.
        sealed = AESGCM(data_key).encrypt(nonce, plaintext, _V2 + wrapped)
        return _V2 + wrapped + nonce + sealed

    def decrypt(self, sealed: bytes) -> bytes:
        if sealed[:1] == _V2 and len(sealed) >= 1 + _WRAPPED + _NONCE + _TAG:
            wrapped = sealed[1 : 1 + _WRAPPED]
            nonce = sealed[1 + _WRAPPED : 1 + _WRAPPED + _NONCE]
            try:
                data_key = self._kek.unwrap(wrapped)
            except ValueError:
                raise TamperedObject("secret cannot be decrypted (other key or altered)") from None
            return _open(AESGCM(data_key), nonce, sealed[1 + _WRAPPED + _NONCE :], _V2 + wrapped)
        if sealed[:1] == _V1 and len(sealed) >= 1 + _NONCE + _TAG:
            aead = AESGCM(self._kek.derive_legacy_key(_V1_INFO))
            return _open(aead, sealed[1:13], sealed[13:], _V1)
        raise TamperedObject("not a sealed secret of this portal")

    def needs_reseal(self, sealed: bytes) -> bool:
        """True for a format-1 secret, which a KEK inside a token could not read."""
        return sealed[:1] == _V1


def _open(aead: AESGCM, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    try:
        return aead.decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise TamperedObject("secret cannot be decrypted (other key or altered)") from None


def reseal(box: SecretBox, sealed: bytes) -> bytes:
    """The same secret in format 2 (unchanged if it is already)."""
    return box.encrypt(box.decrypt(sealed)) if box.needs_reseal(sealed) else sealed
