"""PAdES seals on PDFs (pyHanko) and their validation against the portal's roots."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from io import BytesIO

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    SignatureCoverageLevel,
)
from pyhanko.sign.validation.status import PdfSignatureStatus as HankoPdfStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.keys import SealKey
from signing.tokens import Pkcs11SealKey, with_pdf_signer

# Room for the CMS object, fixed so that pyHanko need not sign a dry run first just to measure
# it (that doubles the cost). pyHanko counts hex digits: 8192 leave 4 KB for the DER, and an
# ECDSA seal with its two certificates takes ~1.6 KB. A timestamp token brings the TSA's own
# chain along (~1.5 KB from the portal's TSA, more from others): 32768 leave 16 KB.
_BYTES_RESERVED = 8192
_BYTES_RESERVED_TIMESTAMPED = 32768
_DIGEST = "sha256"


@dataclass(frozen=True)
class PdfSignatureStatus:
    """What one embedded signature of a PDF says about the document."""

    field_name: str
    signer: str
    intact: bool
    valid: bool
    trusted: bool
    signed_at: datetime | None
    covers_whole_document: bool
    # PAdES B-T: the time of the signature's time-stamp token, and whether the token holds
    # (intact, and its TSA chains to one of the trust roots).
    timestamped_at: datetime | None = None
    timestamp_trusted: bool = False


class _SealSigner(Signer):
    """A pyHanko signer over an already parsed key.

    pyHanko's `SimpleSigner` parses its private key again for every signature; holding the
    `cryptography` key object avoids that cost.
    """

    def __init__(self, key: SealKey) -> None:
        registry = SimpleCertificateStore.from_certs([_to_asn1(c) for c in key.chain])
        # embed_roots: the CA certificate travels in the CMS, so whoever holds only the PDF
        # (an archive, a court) has the whole chain; trusting the root is still their call.
        super().__init__(
            signing_cert=_to_asn1(key.certificate), cert_registry=registry, embed_roots=True
        )
        self._private_key = key.private_key

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if digest_algorithm != _DIGEST:
            raise SigningError(f"the seal signs with {_DIGEST} only, not {digest_algorithm}")
        return self._private_key.sign(data, ec.ECDSA(hashes.SHA256()))


def seal_pdf(
    pdf: bytes,
    key: SealKey | Pkcs11SealKey,
    *,
    reason: str,
    location: str = "Luzern",
    field_name: str = "Siegel",
    timestamper: TimeStamper | None = None,
) -> bytes:
    """Add a PAdES seal in a new signature field, as an incremental update of `pdf`: B-B, or
    B-T with a time-stamp over the signature from `timestamper` (signing/timestamps.py).

    `key` is a key file (SealKey) or a key inside a PKCS#11 token (Pkcs11SealKey); the seal
    is the same either way.
    """
    metadata = PdfSignatureMetadata(
        field_name=field_name,
        reason=reason,
        location=location,
        md_algorithm=_DIGEST,
        subfilter=SigSeedSubFilter.PADES,
    )
    writer = _writer(pdf)  # garbage fails here, before a token is even opened
    if isinstance(key, Pkcs11SealKey):
        unused = [writer]

        def seal_with_token(signer: Signer) -> bytes:
            # A writer is spent by one try; a stale token session makes with_pdf_signer try
            # again, and that try needs a fresh one.
            writer = unused.pop() if unused else _writer(pdf)
            return _seal_with(writer, metadata, signer, timestamper)

        return with_pdf_signer(key, seal_with_token)
    return _seal_with(writer, metadata, _SealSigner(key), timestamper)


def _seal_with(
    writer: IncrementalPdfFileWriter,
    metadata: PdfSignatureMetadata,
    signer: Signer,
    timestamper: TimeStamper | None,
) -> bytes:
    try:
        # asyncio.run: callers are plain sync code (views, jobs, the CLI), with no loop running.
        return asyncio.run(_sign(writer, metadata, signer, timestamper))
    except (SigningError, PdfError) as error:
        # E.g. the field is already signed, or the PDF is encrypted (pyHanko cannot write into
        # it without the password): the caller gets one kind of error for a PDF it cannot seal.
        raise ValueError(
            f"cannot seal the PDF in field {metadata.field_name!r}: {error}"
        ) from error


def _writer(pdf: bytes) -> IncrementalPdfFileWriter:
    try:
        return IncrementalPdfFileWriter(BytesIO(pdf))
    except Exception as error:
        # pyHanko's parser fails on garbage with many kinds of error; callers get one.
        raise ValueError(f"not a readable PDF: {error}") from error


async def _sign(
    writer: IncrementalPdfFileWriter,
    metadata: PdfSignatureMetadata,
    signer: Signer,
    timestamper: TimeStamper | None,
) -> bytes:
    pdf_signer = PdfSigner(metadata, signer, timestamper=timestamper)
    output = BytesIO()
    reserved = _BYTES_RESERVED if timestamper is None else _BYTES_RESERVED_TIMESTAMPED
    await pdf_signer.async_sign_pdf(writer, bytes_reserved=reserved, output=output)
    return output.getvalue()


def validate_pdf(pdf: bytes, trust_roots: Sequence[x509.Certificate]) -> list[PdfSignatureStatus]:
    """Validate every signature embedded in `pdf`; an unsigned PDF gives an empty list."""
    try:
        reader = PdfFileReader(BytesIO(pdf))
        fields = list(enumerate_sig_fields(reader, filled_status=True))
    except Exception as error:
        # pyHanko's parser fails on garbage with many kinds of error; callers get one.
        raise ValueError(f"not a readable PDF: {error}") from error
    if not fields:
        return []
    return asyncio.run(_validate_all(reader, fields, [_to_asn1(c) for c in trust_roots]))


async def _validate_all(
    reader: PdfFileReader,
    fields: list[tuple[str, generic.PdfObject, generic.DictionaryObject]],
    roots: list[asn1_x509.Certificate],
) -> list[PdfSignatureStatus]:
    # Offline there is no CRL or OCSP to fetch, and our own CA publishes none yet. In
    # soft-fail mode missing revocation information is not held against a signature, so a
    # seal that chains to one of our roots counts as trusted. Revocation a validator *can*
    # see (embedded CRLs/OCSP responses) still counts.
    context = ValidationContext(
        trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail"
    )
    readable: list[EmbeddedPdfSignature] = []
    broken: list[PdfSignatureStatus] = []
    for name, _, field_ref in fields:
        try:
            readable.append(EmbeddedPdfSignature(reader, field_ref, name))
        except Exception:
            # A mangled CMS blob makes this one signature fail, not the whole document.
            broken.append(_failed(name, signer=""))
    # Oldest revision first, as a reader would see them; the unreadable ones go last.
    readable.sort(key=lambda signature: signature.signed_revision)
    statuses = [await _validate_one(signature, context) for signature in readable]
    return statuses + broken


async def _validate_one(
    signature: EmbeddedPdfSignature, context: ValidationContext
) -> PdfSignatureStatus:
    name = signature.field_name
    try:
        if signature.sig_object_type == "/DocTimeStamp":
            # Only PAdES B-LTA adds document timestamps; validated here so that such files
            # from elsewhere are not reported as broken.
            stamp = await async_validate_pdf_timestamp(signature, validation_context=context)
            return _status(name, stamp, signed_at=stamp.timestamp)
        status = await async_validate_pdf_signature(signature, signer_validation_context=context)
        token = status.timestamp_validity
        return replace(
            _status(name, status, signed_at=status.signer_reported_dt),
            timestamped_at=token.timestamp if token else None,
            timestamp_trusted=bool(token and token.intact and token.valid and token.trusted),
        )
    except Exception:
        # pyHanko may fail on a mangled signature with any error (even AttributeError); a
        # validator has to report such a signature as failed, not crash on it.
        return _failed(name, signer=_common_name_or_empty(signature))


def _status(
    name: str, status: HankoPdfStatus | DocumentTimestampStatus, *, signed_at: datetime | None
) -> PdfSignatureStatus:
    return PdfSignatureStatus(
        field_name=name,
        signer=_common_name(status.signing_cert),
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        signed_at=signed_at,
        covers_whole_document=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
    )


def _failed(name: str, *, signer: str) -> PdfSignatureStatus:
    return PdfSignatureStatus(
        field_name=name,
        signer=signer,
        intact=False,
        valid=False,
        trusted=False,
        signed_at=None,
        covers_whole_document=False,
    )


def _common_name_or_empty(signature: EmbeddedPdfSignature) -> str:
    try:
        return _common_name(signature.signer_cert)
    except Exception:
        return ""  # only a label for a signature that is reported as failed anyway


def _common_name(certificate: asn1_x509.Certificate) -> str:
    return str(certificate.subject.native.get("common_name", ""))


def _to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
