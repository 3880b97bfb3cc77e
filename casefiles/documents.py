"""Uploaded files: checked before anything is stored, then encrypted into the object store."""

from __future__ import annotations

import io
import logging
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, cast

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from casefiles.errors import InvalidInput

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
SPOOL_BYTES = 1024 * 1024  # an upload up to this size stays in memory
_SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


@dataclass
class Upload:
    """A file as it arrives: a name, the type it claims and a stream positioned at its start."""

    filename: str
    stream: BinaryIO
    media_type: str = "application/pdf"


@dataclass
class CheckedFile:
    filename: str
    media_type: str
    size: int
    spool: BinaryIO  # a rewound copy of the bytes, bounded in memory

    def close(self) -> None:
        self.spool.close()


def check_upload(
    upload: Upload,
    *,
    field: str = "files",
    allowed: tuple[str, ...] = ("application/pdf",),
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> CheckedFile:
    """Copy an upload to a spool, enforcing size and type; raise InvalidInput, store nothing."""
    name = _clean_filename(upload.filename)
    # typeshed types the spool as IO[bytes]; it is a binary file in every way callers use.
    spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES))  # noqa: SIM115
    size = 0
    while chunk := upload.stream.read(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            spool.close()
            limit = max_bytes // (1024 * 1024)
            raise InvalidInput(
                field, "The file %(name)s is larger than %(limit)s MB.", name=name, limit=limit
            )
        spool.write(chunk)
    if size == 0:
        spool.close()
        raise InvalidInput(field, "The file %(name)s is empty.", name=name)
    spool.seek(0)
    media_type = _sniff(spool, allowed)
    if media_type is None:
        spool.close()
        kinds = ", ".join(a.split("/")[1].upper() for a in allowed)
        raise InvalidInput(
            field, "The file %(name)s is not a valid %(kinds)s file.", name=name, kinds=kinds
        )
    if media_type == "application/pdf" and not _readable_pdf(spool, size):
        spool.close()
        raise InvalidInput(
            field, "The file %(name)s is damaged and cannot be read as a PDF.", name=name
        )
    spool.seek(0)
    return CheckedFile(filename=name, media_type=media_type, size=size, spool=spool)


def _sniff(spool: BinaryIO, allowed: tuple[str, ...]) -> str | None:
    # The type is what the bytes say, never what the browser or client claims.
    head = spool.read(16)
    spool.seek(0)
    for media_type in allowed:
        if any(head.startswith(sig) for sig in _SIGNATURES[media_type]):
            return media_type
    return None


def _readable_pdf(spool: BinaryIO, size: int) -> bool:
    # pypdf reads a few bytes at a time; through SpooledTemporaryFile's wrapper that costs as
    # much again as the parsing itself, so a file still held in memory is parsed from a BytesIO.
    source = io.BytesIO(spool.read()) if size <= SPOOL_BYTES else spool
    spool.seek(0)
    try:
        reader = PdfReader(source, strict=False)
        return len(reader.pages) > 0
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        log.info("rejected unreadable PDF: %s", exc)
        return False
    finally:
        spool.seek(0)


def _clean_filename(filename: str | None) -> str:
    # Keep only the last path part and printable characters; the name is shown and exported.
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*').strip(". ")
    return name[:200] or "document.pdf"
