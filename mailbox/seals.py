"""Authorities' seals on delivered PDFs: checked when an authority brings its own signature,
applied with the authority's key when it asks the portal to seal.

Sealing and validating parse the whole PDF (pyHanko, ~15 ms a letter, more for long ones), so
callers do it before their transaction with `prepare_pdfs`, which needs no session: the
database lock (SQLite takes it at the first statement) is not held while PDFs are parsed.
`prepare_pdf`, which `deliver` and `deliver_many` call, takes a file prepared that way as it is.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session

from casefiles.documents import CheckedFile
from casefiles.journal import keyring_of
from directory.actors import Actor
from directory.errors import InvalidInput
from directory.identifiers import N_
from directory.models import Authority
from signing import PdfSignatureStatus, seal_pdf, validate_pdf

log = logging.getLogger(__name__)

CANNOT_SEAL = N_(
    "The file %(name)s cannot be sealed: it is damaged, encrypted or already carries a seal "
    "field of that name."
)


@dataclass
class PreparedFile(CheckedFile):
    """A file sealed (or not) and its signatures validated, ahead of the delivery."""

    signatures: list[dict[str, Any]] | None = None
    sealed_by: uuid.UUID | None = None  # the authority whose seal was applied; None: not sealed


def sealing_authority(session: Session, actor: Actor) -> Authority:
    """The authority whose seal `prepare_pdfs` applies for this actor."""
    actor.require_authority()
    return session.get_one(Authority, actor.authority_id)


def prepare_pdfs(
    files: Sequence[CheckedFile],
    ca_certificate: x509.Certificate,
    *,
    seal_with: Authority | None,
) -> list[PreparedFile]:
    """The files to store, sealed with the authority's seal if one is given, their signatures
    validated; no session needed."""
    return [_prepare(seal_with, ca_certificate, f) for f in files]


def prepare_pdf(
    session: Session, authority: Authority, file: CheckedFile, *, seal: bool
) -> tuple[CheckedFile, list[dict[str, Any]] | None]:
    """The file to store and its validated signatures (None when it carries none)."""
    seal_with = authority if seal else None
    if isinstance(file, PreparedFile) and file.sealed_by == (seal_with and seal_with.id):
        return file, file.signatures
    prepared = _prepare(seal_with, keyring_of(session).ca_certificate, file)
    return prepared, prepared.signatures


def _prepare(
    authority: Authority | None, ca_certificate: x509.Certificate, file: CheckedFile
) -> PreparedFile:
    data = file.spool.read()
    file.spool.seek(0)
    spool = file.spool
    if authority is not None:
        if not authority.seal_ref:
            raise InvalidInput("seal", "Your authority has no seal yet; ask the portal team.")
        # Imported when needed: the PKCS#11 path loads a native module most requests never use.
        from signing.authority_keys import load_seal

        key = load_seal(authority.seal_ref, authority.seal_certificate)
        try:
            data = seal_pdf(data, key, reason=f"Siegel {authority.name}")
        except ValueError as exc:
            log.info("cannot seal %s: %s", file.filename, exc)
            raise InvalidInput("seal", CANNOT_SEAL, name=file.filename) from None
        spool = io.BytesIO(data)
    signatures = None
    # Unsigned and not sealed: nothing to validate (the cheap check keeps bulk fast).
    if authority is not None or b"/ByteRange" in data:
        signatures = _validated(data, ca_certificate, file.filename)
    return PreparedFile(
        filename=file.filename,
        media_type=file.media_type,
        size=len(data),
        spool=spool,
        signatures=signatures,
        sealed_by=authority.id if authority is not None else None,
    )


def _validated(
    data: bytes, ca_certificate: x509.Certificate, filename: str
) -> list[dict[str, Any]] | None:
    try:
        statuses = validate_pdf(data, [ca_certificate])
    except ValueError:
        raise InvalidInput(
            "files",
            "The file %(name)s is damaged and cannot be read as a PDF.",
            name=filename,
        ) from None
    broken = [s for s in statuses if not s.intact]
    if broken:
        raise InvalidInput(
            "files",
            "The signature in %(name)s is broken: the document was changed after signing.",
            name=filename,
        )
    return [_as_json(s) for s in statuses] or None


def _as_json(status: PdfSignatureStatus) -> dict[str, Any]:
    return {
        "field": status.field_name,
        "signer": status.signer,
        "intact": status.intact,
        "valid": status.valid,
        "trusted": status.trusted,
        "signed_at": status.signed_at.isoformat() if status.signed_at else None,
    }
