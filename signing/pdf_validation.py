"""Validation of the signatures embedded in a PDF (PAdES seals, document time-stamps) against
given trust roots, offline."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from io import BytesIO

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    SignatureCoverageLevel,
)
from pyhanko.sign.validation.status import PdfSignatureStatus as HankoPdfStatus
from pyhanko_certvalidator import ValidationContext

from signing.certificates import to_asn1


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
    return asyncio.run(_validate_all(reader, fields, [to_asn1(c) for c in trust_roots]))


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
