"""The pyHanko signer of a seal key held in memory (signing.file_keys.FileSealKey), in a module
of its own so that pyHanko's signing half loads only when a PDF is sealed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.certificates import to_asn1
from signing.file_keys import PDF_DIGEST

if TYPE_CHECKING:
    from signing.file_keys import FileSealKey


class FileKeySigner(Signer):
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
