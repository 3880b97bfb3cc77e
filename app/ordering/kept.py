"""Uploads kept while an order form is shown again with errors, so the resident need not
choose the files again.

A file that passed the intake policy is put into the object store, encrypted like every
object, and named in the login's (signed) session cookie: its object key and its wrapped data
key, which nobody can use without the portal's key-encryption key. No row points at it, so it
stays outside every case file; the order stores the file again as a document of its own, and
`portal storage gc` removes the kept copy once it is older than its grace period (24 hours).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

from flask import session

from app.web import runtime
from casefiles.documents import CheckedFile, Upload
from storage.encryption import TamperedObject

_SESSION_KEY = "kept_uploads"


def keep(service_id: str, files: Mapping[str, CheckedFile]) -> None:
    """Keep these checked files (by field) for the next submission of this service's form."""
    objects = runtime().objects
    kept: dict[str, Any] = dict(session.get(_SESSION_KEY) or {})
    mine = dict(kept.get(service_id) or {})
    for name, checked in files.items():
        checked.spool.seek(0)
        stored = objects.put(checked.spool)
        checked.spool.seek(0)
        mine[name] = {
            "key": stored.key,
            "wrapped": base64.b64encode(stored.wrapped_key).decode(),
            "filename": checked.filename,
        }
    # One service's files at a time: the cookie stays small.
    session[_SESSION_KEY] = {service_id: mine} if mine else {}


def kept_names(service_id: str) -> dict[str, str]:
    """The kept files of this service's form: field name -> file name."""
    mine = (session.get(_SESSION_KEY) or {}).get(service_id) or {}
    return {name: entry["filename"] for name, entry in mine.items()}


def take(service_id: str, field: str) -> Upload | None:
    """The kept file of a field as an upload to check again, or None."""
    entry = ((session.get(_SESSION_KEY) or {}).get(service_id) or {}).get(field)
    if not entry:
        return None
    objects = runtime().objects
    try:
        with objects.open(entry["key"], base64.b64decode(entry["wrapped"])) as chunks:
            data = b"".join(chunks)
    except (FileNotFoundError, ValueError, TamperedObject):  # collected meanwhile: ask again
        drop(service_id, field)
        return None
    return Upload(filename=entry["filename"], stream=io.BytesIO(data))


def drop(service_id: str, field: str) -> None:
    """Forget one kept file (the resident removed it, or it is gone)."""
    kept: dict[str, Any] = dict(session.get(_SESSION_KEY) or {})
    mine = dict(kept.get(service_id) or {})
    mine.pop(field, None)
    session[_SESSION_KEY] = {service_id: mine} if mine else {}


def forget() -> None:
    """Forget every kept file (an order was placed, or a fresh form begins)."""
    session.pop(_SESSION_KEY, None)
