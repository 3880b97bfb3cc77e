"""Seal keys held in memory, read from a key file (signing.key_files) or just generated.

`FileSealKey` is the `SealKey` (signing.seal_key) of the embedded default and of the seals the
portal's CA issues into files; a key inside a token is signing.pkcs11_keys.Pkcs11SealKey.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from signing.certificates import certificate_fingerprint

if TYPE_CHECKING:
    from pyhanko.sign.signers import Signer

_T = TypeVar("_T")
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
PDF_DIGEST = "sha256"  # the one digest seals use in PDFs (signing.pades asks pyHanko for it)


@dataclass(frozen=True)
class FileSealKey:
    """A private key in memory with its certificate and the issuer certificates up to the root."""

    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def key_id(self) -> str:
        return certificate_fingerprint(self.certificate)

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data, _ECDSA_SHA256)

    def with_pdf_signer(self, action: Callable[[Signer], _T]) -> _T:
        # pyHanko's signing half loads here, not at import: commands that only read (export,
        # verify) start without it.
        from signing.file_key_signer import FileKeySigner

        return action(FileKeySigner(self))
