"""The documents of a batch item: inline (base64) or referenced (a document the portal holds).

A mass mailing often encloses the same document in every letter (a leaflet, a tariff sheet).
Instead of sending its bytes a thousand times, an item can name a document of one of the
authority's own case files by id; each letter still gets its own encrypted copy in its own case
file, so that every case file stays complete on its own (export, retention, deletion).
"""

from __future__ import annotations

import binascii
import io
import uuid
from typing import Any

import pybase64

from app.api import idempotency as idem
from app.api.problems import ValidationFailed
from app.web import short_transaction
from casefiles.errors import NotFound
from casefiles.operations import get_document
from directory.actors import AccessDenied, Actor
from storage.blobs import blob_bytes

INLINE = frozenset({"filename", "content_base64"})
REFERENCED = frozenset({"document_id"})
REFERENCED_NAMED = frozenset({"document_id", "filename"})


def file_errors(files: list[Any]) -> list[tuple[str, str]]:
    """What is wrong with the shape of an item's `files` (nothing is looked up here)."""
    errors = []
    for i, f in enumerate(files):
        members = set(f) if isinstance(f, dict) else None
        if members not in (INLINE, REFERENCED, REFERENCED_NAMED):
            errors.append(
                (
                    f"files[{i}]",
                    "must be an object with filename and content_base64, "
                    "or with document_id (and optionally filename)",
                )
            )
        elif not all(isinstance(f[name], str) for name in members):
            errors.append((f"files[{i}]", "its members must be strings"))
        elif "document_id" in f and not _is_uuid(f["document_id"]):
            errors.append((f"files[{i}].document_id", "must be the id (a UUID) of a document"))
    return errors


def add_to_digest(digest: idem.Digest, files: list[dict[str, str]]) -> None:
    """An item's documents as they were sent (a reference by its id)."""
    for f in files:
        digest.add(f.get("filename", "").encode())
        if "document_id" in f:
            digest.add(b"document:" + f["document_id"].encode())
        else:
            # As sent, not through json.dumps: escaping 40 KB of base64 again cost as much as
            # decoding it.
            digest.add(f["content_base64"].encode())


class Documents:
    """Reads the items' documents; a referenced one once a request, however many items name
    it, and checked again like any upload (the policy may have changed since it was stored)."""

    def __init__(self, actor: Actor) -> None:
        self._actor = actor
        self._read: dict[uuid.UUID, tuple[str, bytes] | None] = {}

    def read_all(self, items: list[Any]) -> None:
        """Read every document the items reference, in a short transaction of its own: the
        request's transaction begins only after the documents have been checked."""
        wanted = {
            uuid.UUID(f["document_id"])
            for item in items
            if isinstance(item, dict) and isinstance(item.get("files"), list)
            for f in item["files"]
            if isinstance(f, dict) and isinstance(f.get("document_id"), str)
            if _is_uuid(f["document_id"])
        }
        if not wanted:
            return
        with short_transaction() as session:
            for document_id in wanted - set(self._read):
                try:
                    version = get_document(session, self._actor, document_id).current
                except (NotFound, AccessDenied):
                    self._read[document_id] = None
                    continue
                self._read[document_id] = (version.filename, blob_bytes(session, version.blob))

    def uploads(self, files: list[dict[str, str]]) -> list[tuple[str, io.BytesIO]]:
        """(filename, stream) for each document, for `checked_input` to check like any upload."""
        uploads = []
        for i, f in enumerate(files):
            if "document_id" in f:
                filename, data = self._referenced(uuid.UUID(f["document_id"]), i)
                uploads.append((f.get("filename", filename), io.BytesIO(data)))
            else:
                uploads.append((f["filename"], io.BytesIO(decode(f, i))))
        return uploads

    def _referenced(self, document_id: uuid.UUID, i: int) -> tuple[str, bytes]:
        read = self._read.get(document_id)
        if read is None:  # not found, not the authority's, or not read by `read_all`
            field = f"files[{i}].document_id"
            raise ValidationFailed([(field, "is not a document in a case file of your authority")])
        return read


def decode(file: dict[str, str], i: int) -> bytes:
    try:
        return pybase64.b64decode(file["content_base64"], validate=True)  # SIMD: ~40x faster
    except (binascii.Error, ValueError):
        raise ValidationFailed([(f"files[{i}].content_base64", "is not valid base64")]) from None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
