"""Uploaded files: checked by the intake policy before anything is stored, then encrypted into
the object store.

The policy is the same for authorities' deliveries (web form, API, batch, documents referenced
by id) and residents' replies:
- the type is what the bytes say (PDF; PNG and JPEG where images are allowed), never what the
  client declares, and the stored name ends in that type's extension (`invoice.html` that is
  a PDF is stored as `invoice.html.pdf`);
- a PDF must pass `casefiles.pdf_policy` (no active content, no HTML, not encrypted, at most
  `max_pages` pages); an image is decoded completely and encoded again (`casefiles.images`),
  and the new bytes are stored;
- those checks run in a child process with a time limit (`seconds`) and a memory cap
  (`casefiles.sandbox`), and callers run them before their transaction starts.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from casefiles import findings
from casefiles.errors import InvalidInput
from casefiles.findings import N_
from casefiles.sandbox import DEFAULT_SECONDS, Overrun, Sandbox

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PAGES = 2000
SPOOL_BYTES = 1024 * 1024  # an upload up to this size stays in memory
_SIGNATURES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
# The first extension is the one given to a file whose name does not end in any of them.
_EXTENSIONS = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
}
TOO_SLOW = N_(
    "The file %(name)s took too long to check (over %(seconds)s seconds) and was refused."
)
TOO_MUCH_MEMORY = N_("The file %(name)s needs too much memory to check and was refused.")
# The only messages taken from the checker's child (see `_finding`).
_MESSAGES = frozenset(
    value for key, value in vars(findings).items() if key.isupper() and isinstance(value, str)
)


@dataclass
class Upload:
    """A file as it arrives: a name, the type it claims and a stream positioned at its start."""

    filename: str
    stream: BinaryIO
    media_type: str = "application/pdf"


@dataclass(frozen=True)
class IntakeLimits:
    """The limits of the intake policy (PORTAL_MAX_UPLOAD_MB, PORTAL_MAX_PAGES,
    PORTAL_CHECK_SECONDS)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pages: int = DEFAULT_MAX_PAGES
    seconds: float = DEFAULT_SECONDS


@dataclass
class CheckedFile:
    filename: str
    media_type: str
    size: int
    spool: BinaryIO  # a rewound copy of the bytes to store, bounded in memory

    def close(self) -> None:
        self.spool.close()


class Intake:
    """The intake policy for one request's files, checked one after the other in one child
    process (started with the first file, stopped by `close`)."""

    def __init__(self, limits: IntakeLimits | None = None) -> None:
        self.limits = limits or IntakeLimits()
        self._sandbox = Sandbox(self.limits.seconds)

    def check(
        self,
        upload: Upload,
        *,
        field: str = "files",
        allowed: tuple[str, ...] = ("application/pdf",),
    ) -> CheckedFile:
        """Copy an upload to a spool and check it by the policy; raise InvalidInput, store
        nothing."""
        name = _clean_filename(upload.filename) or "document"
        spool = _spool(upload, field, name, self.limits.max_bytes)
        try:
            media_type = _sniff(spool, allowed)
            if media_type is None:
                kinds = ", ".join(a.split("/")[1].upper() for a in allowed)
                raise InvalidInput(
                    field,
                    "The file %(name)s is not a valid %(kinds)s file.",
                    name=name,
                    kinds=kinds,
                )
            data = spool.read()  # the checks need the file in one piece; it is below max_bytes
            spool.seek(0)
            stored = _inspect(self._sandbox, self.limits, data, media_type, field, name)
        except BaseException:
            spool.close()
            raise
        if stored is not data:  # an image, encoded again: the new bytes are the file
            spool.close()
            spool = _spool_bytes(stored)
        filename = _with_extension(name, media_type)
        return CheckedFile(filename=filename, media_type=media_type, size=len(stored), spool=spool)

    def close(self) -> None:
        self._sandbox.close()

    def __enter__(self) -> Intake:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def check_upload(
    upload: Upload,
    *,
    field: str = "files",
    allowed: tuple[str, ...] = ("application/pdf",),
    limits: IntakeLimits | None = None,
) -> CheckedFile:
    """Check one upload by the intake policy (a child process of its own; for many files, use
    one `Intake`)."""
    with Intake(limits) as intake:
        return intake.check(upload, field=field, allowed=allowed)


def _inspect(
    sandbox: Sandbox, limits: IntakeLimits, data: bytes, media_type: str, field: str, name: str
) -> bytes:
    """The bytes to store (the image encoded again, or the PDF as it came)."""
    if media_type == "application/pdf":
        request = {"op": "pdf", "max_pages": limits.max_pages}
    else:
        request = {"op": "image", "media_type": media_type}
    try:
        answer, payload = sandbox.run(request, data)
    except Overrun as exc:
        if exc.kind == "time":
            seconds = f"{limits.seconds:g}"
            raise InvalidInput(field, TOO_SLOW, name=name, seconds=seconds) from None
        raise InvalidInput(field, TOO_MUCH_MEMORY, name=name) from None
    if "finding" in answer:
        message, params = _finding(answer["finding"])
        raise InvalidInput(field, message, name=name, **params)
    if payload is not None and len(payload) > limits.max_bytes:
        limit = limits.max_bytes // (1024 * 1024)
        raise InvalidInput(
            field, "The file %(name)s is larger than %(limit)s MB.", name=name, limit=limit
        )
    return payload if payload is not None else data


def _finding(raw: Any) -> tuple[str, dict[str, Any]]:
    # The child parsed hostile bytes: take from it only a message we wrote, with plain values.
    try:
        message, params = raw
        if message in _MESSAGES and all(
            isinstance(k, str) and k != "name" and isinstance(v, str | int)
            for k, v in params.items()
        ):
            return message, params
    except (TypeError, ValueError, AttributeError):
        pass
    return findings.DAMAGED, {}


def _spool(upload: Upload, field: str, name: str, max_bytes: int) -> BinaryIO:
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
    return spool


def _spool_bytes(data: bytes) -> BinaryIO:
    spool = cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES))  # noqa: SIM115
    spool.write(data)
    spool.seek(0)
    return spool


def _sniff(spool: BinaryIO, allowed: tuple[str, ...]) -> str | None:
    # The type is what the bytes say, never what the browser or client claims.
    head = spool.read(16)
    spool.seek(0)
    for media_type in allowed:
        if any(head.startswith(sig) for sig in _SIGNATURES[media_type]):
            return media_type
    return None


def _with_extension(name: str, media_type: str) -> str:
    # Appended rather than replaced: the sender's name stays readable, and the last extension,
    # the one that decides how a computer opens the file, is the true one.
    extensions = _EXTENSIONS[media_type]
    if name.lower().endswith(extensions):
        return name
    return name + extensions[0]


def _clean_filename(filename: str | None) -> str:
    # Keep only the last path part and printable characters; the name is shown and exported.
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*').strip(". ")
    return name[:200]
