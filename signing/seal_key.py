"""The one interface of a seal key, wherever the private key lives.

A key in a file (signing.file_keys.FileSealKey) and a key inside a PKCS#11 token
(signing.pkcs11_keys.Pkcs11SealKey) both implement `SealKey`; what signs (journal entries,
JWS receipts, PAdES seals, time-stamp tokens) takes a `SealKey` and never asks which kind it
has. Seal keys are EC P-256 and sign with ECDSA over SHA-256.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from cryptography import x509

if TYPE_CHECKING:
    from pyhanko.sign.signers import Signer

_T = TypeVar("_T")


class SealKey(Protocol):
    """A private signing key with its certificate and the issuer certificates up to the root."""

    @property
    def certificate(self) -> x509.Certificate:
        """The key's own certificate."""
        ...

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The issuers of `certificate`, up to and including the root (may be empty)."""
        ...

    @property
    def key_id(self) -> str:
        """The lowercase hex SHA-256 of the certificate's DER (what journal entries record)."""
        ...

    def sign(self, data: bytes) -> bytes:
        """An ECDSA P-256 / SHA-256 signature over `data`, DER-encoded (SEQUENCE {r, s})."""
        ...

    def with_pdf_signer(self, action: Callable[[Signer], _T]) -> _T:
        """Run `action` with a pyHanko `Signer` for this key and return what it returns.

        `action` may run more than once (a token session that went stale is renewed and the
        action tried again), so it must start from its input each time.
        """
        ...
