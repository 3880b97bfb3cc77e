"""PAdES seals on PDFs (pyHanko): B-B, or B-T with a time-stamp over the signature.

signing.pdf_validation checks them (and any other PDF signature).
"""

from __future__ import annotations

import asyncio
from io import BytesIO

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer
from pyhanko.sign.timestamps import TimeStamper

from signing.file_keys import PDF_DIGEST
from signing.seal_key import SealKey

# Room for the CMS object, fixed so that pyHanko need not sign a dry run first just to measure
# it (that doubles the cost). pyHanko counts hex digits: 8192 leave 4 KB for the DER, and an
# ECDSA seal with its two certificates takes ~1.6 KB. A timestamp token brings the TSA's own
# chain along (~1.5 KB from the portal's TSA, more from others): 32768 leave 16 KB.
_BYTES_RESERVED = 8192
_BYTES_RESERVED_TIMESTAMPED = 32768


def seal_pdf(
    pdf: bytes,
    key: SealKey,
    *,
    reason: str,
    location: str = "Luzern",
    field_name: str = "Siegel",
    timestamper: TimeStamper | None = None,
) -> bytes:
    """Add a PAdES seal in a new signature field, as an incremental update of `pdf`: B-B, or
    B-T with a time-stamp over the signature from `timestamper` (signing/timestamps.py).

    `key` is any `SealKey`: a key file or a key inside a PKCS#11 token; the seal is the same
    either way.
    """
    metadata = PdfSignatureMetadata(
        field_name=field_name,
        reason=reason,
        location=location,
        md_algorithm=PDF_DIGEST,
        subfilter=SigSeedSubFilter.PADES,
    )
    unused = [_writer(pdf)]  # garbage fails here, before a token is even opened

    def seal_with(signer: Signer) -> bytes:
        # A writer is spent by one try; a stale token session makes with_pdf_signer try
        # again, and that try needs a fresh one.
        writer = unused.pop() if unused else _writer(pdf)
        return _seal_with(writer, metadata, signer, timestamper)

    return key.with_pdf_signer(seal_with)


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
