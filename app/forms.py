"""Turning uploaded form files into checked files, shared by the web blueprints."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from flask import current_app, request

from casefiles.documents import CheckedFile, Upload, check_upload

IMAGES_AND_PDF = ("application/pdf", "image/png", "image/jpeg")


@contextlib.contextmanager
def uploaded_files(
    field: str = "files", allowed: tuple[str, ...] = ("application/pdf",)
) -> Iterator[list[CheckedFile]]:
    """The request's files, checked (size, type); their spools are closed afterwards."""
    files: list[CheckedFile] = []
    limit = current_app.config["PORTAL_MAX_UPLOAD_BYTES"]
    try:
        for storage in request.files.getlist(field):
            if storage.filename:
                upload = Upload(filename=storage.filename, stream=storage.stream)  # type: ignore[arg-type]
                files.append(check_upload(upload, field=field, allowed=allowed, max_bytes=limit))
        yield files
    finally:
        for checked in files:
            checked.close()
