"""Uploaded files through the intake policy (casefiles/documents.py), shared by the web
blueprints and the API: checked, and sealed or validated, before the request's transaction
begins, so that parsing never holds the database lock."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from flask import current_app, g, request

from app.web import runtime, short_transaction
from casefiles.documents import CheckedFile, Intake, IntakeLimits, Upload
from directory.actors import Actor
from directory.models import Authority
from mailbox.seals import prepare_pdfs, sealing_authority

IMAGES_AND_PDF = ("application/pdf", "image/png", "image/jpeg")


def intake_limits() -> IntakeLimits:
    """The intake policy's limits from the configuration (PORTAL_MAX_UPLOAD_MB, …)."""
    config = runtime().config
    return IntakeLimits(
        max_bytes=current_app.config["PORTAL_MAX_UPLOAD_BYTES"],
        max_pages=config.max_pages,
        seconds=config.check_seconds,
    )


@contextlib.contextmanager
def uploaded_files(
    field: str = "files", allowed: tuple[str, ...] = ("application/pdf",)
) -> Iterator[list[CheckedFile]]:
    """The request's files, checked by the intake policy; their spools are closed afterwards."""
    files: list[CheckedFile] = []
    try:
        with Intake(intake_limits()) as intake:
            for storage in request.files.getlist(field):
                if storage.filename:
                    upload = Upload(filename=storage.filename, stream=storage.stream)  # type: ignore[arg-type]
                    files.append(intake.check(upload, field=field, allowed=allowed))
        yield files
    finally:
        for checked in files:
            checked.close()


def prepared_for_delivery(
    actor: Actor, files: Sequence[CheckedFile], *, seal: bool
) -> list[CheckedFile]:
    """The files sealed with the actor's authority's seal if asked, and their signatures
    validated, as `deliver` would do it, but before the request's transaction."""
    if not files:
        return list(files)
    authority = _sealing_authority(actor) if seal else None
    return list(prepare_pdfs(files, runtime().keyring.ca_certificate, seal_with=authority))


def _sealing_authority(actor: Actor) -> Authority:
    authority: Authority | None = g.get("sealing_authority")
    if authority is None:
        with short_transaction() as session:
            authority = sealing_authority(session, actor)
        g.sealing_authority = authority
    return authority
