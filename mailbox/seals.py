"""Authorities' seals on delivered PDFs: checked when an authority brings its own signature,
applied with the authority's key when it asks the portal to seal."""

from __future__ import annotations

import io
import logging
from typing import Any

from sqlalchemy.orm import Session

from casefiles.documents import CheckedFile
from casefiles.journal import keyring_of
from directory.errors import InvalidInput
from directory.models import Authority
from signing import PdfSignatureStatus, seal_pdf, validate_pdf

log = logging.getLogger(__name__)


def prepare_pdf(
    session: Session, authority: Authority, file: CheckedFile, *, seal: bool
) -> tuple[CheckedFile, list[dict[str, Any]] | None]:
    """The file to store and its validated signatures (None when it carries none)."""
    data = file.spool.read()
    file.spool.seek(0)
    if seal:
        if not authority.seal_ref:
            raise InvalidInput("seal", "Your authority has no seal yet; ask the portal team.")
        # Imported when needed: the PKCS#11 path loads a native module most requests never use.
        from signing.authority_keys import load_seal

        key = load_seal(authority.seal_ref, authority.seal_certificate)
        data = seal_pdf(data, key, reason=f"Siegel {authority.name}")
        file = CheckedFile(
            filename=file.filename,
            media_type=file.media_type,
            size=len(data),
            spool=io.BytesIO(data),
        )
    elif b"/ByteRange" not in data:
        return file, None  # unsigned: nothing to validate (the cheap check keeps bulk fast)
    try:
        statuses = validate_pdf(data, [keyring_of(session).ca_certificate])
    except ValueError:
        raise InvalidInput(
            "files",
            "The file %(name)s is damaged and cannot be read as a PDF.",
            name=file.filename,
        ) from None

    broken = [s for s in statuses if not s.intact]
    if broken:
        raise InvalidInput(
            "files",
            "The signature in %(name)s is broken: the document was changed after signing.",
            name=file.filename,
        )
    return file, [_as_json(s) for s in statuses] or None


def _as_json(status: PdfSignatureStatus) -> dict[str, Any]:
    return {
        "field": status.field_name,
        "signer": status.signer,
        "intact": status.intact,
        "valid": status.valid,
        "trusted": status.trusted,
        "signed_at": status.signed_at.isoformat() if status.signed_at else None,
    }
