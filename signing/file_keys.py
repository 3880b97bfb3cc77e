"""Seal keys held in memory, read from a key file (signing.key_files) or just generated.

`FileSealKey` is the `SealKey` (signing.seal_key) of the embedded default and of the seals the
portal's CA issues into files; a key inside a token is signing.pkcs11_keys.Pkcs11SealKey.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.certificates import certificate_fingerprint, to_asn1

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
        return action(_FileKeySigner(self))


class _FileKeySigner(Signer):
    """A pyHanko signer over an already parsed key.

    pyHanko's `SimpleSigner` parses its private key again for every signature; holding the
    `cryptography` key object avoids that cost.
    """

    def __init__(self, key: FileSealKey) -> None:
        registry = SimpleCertificateStore.from_certs([to_asn1(c) for c in key.chain])
        # embed_roots: the CA certificate travels in the CMS, so whoever holds only the PDF
        # (an archive, a court) has the whole chain; trusting the root is still their call.
        super().__init__(
            signing_cert=to_asn1(key.certificate), cert_registry=registry, embed_roots=True
        )
        self._key = key

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if digest_algorithm != PDF_DIGEST:
            raise SigningError(f"the seal signs with {PDF_DIGEST} only, not {digest_algorithm}")
        return self._key.sign(data)
