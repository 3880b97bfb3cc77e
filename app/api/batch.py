"""Many deliveries in one request, for mass mailings: documents inline, a result per item.

One transaction for the whole request and a savepoint per item: a bad item is rolled back to
its savepoint (with the objects it stored and the jobs it queued) and the others go on.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import request
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from app.api import bp
from app.api import idempotency as idem
from app.api.auth import current_actor
from app.api.intake import checked_input, read_json_body, submit
from app.api.problems import ApiProblem, ValidationFailed, from_invalid_input, not_found
from app.api.representations import delivery_summary
from app.web import db
from directory.actors import AccessDenied, Actor
from directory.errors import InvalidInput, NotFound
from mailbox.models import IdempotencyRecord
from storage.blobs import objects_of

log = logging.getLogger(__name__)

MAX_ITEMS = 1000
# 1000 letters of ~30 KB each are ~40 MB as base64; leave room for larger documents.
MAX_BYTES = 128 * 1024 * 1024
MAX_REF = 200
ITEM_MEMBERS = frozenset({"ref", "metadata", "files", "idempotency_key"})
FILE_MEMBERS = frozenset({"filename", "content_base64"})


@dataclass
class Item:
    ref: str
    metadata: Any
    files: list[dict[str, str]]
    key: str | None


@bp.post("/deliveries/batch", endpoint="batch")
def batch() -> Response:
    data = read_json_body(MAX_BYTES, required=True)
    digest = idem.Digest(idem.request_label())
    digest.add(request.get_data(cache=True))
    return idem.respond(digest, lambda: idem.Answer({"results": run_batch(data)}))


def run_batch(data: Any) -> list[dict[str, Any]]:
    items = _items(data)
    session, actor = db(), current_actor()
    known = _known_keys(session, actor, items)
    return [_run_item(session, actor, item, known) for item in items]


def _items(data: Any) -> list[Any]:
    if not isinstance(data, dict):
        raise ValidationFailed([("body", "must be a JSON object with the member 'items'")])
    errors = [(name, "is not a known member") for name in sorted(set(data) - {"items"})]
    items = data.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        errors.append(("items", f"must be a list of 1 to {MAX_ITEMS} items"))
    if errors or not isinstance(items, list):
        raise ValidationFailed(errors)
    return items


def _known_keys(session: Session, actor: Actor, items: list[Any]) -> dict[str, IdempotencyRecord]:
    """The stored answers for the items' keys, in one query rather than one per item."""
    keys = {i.get("idempotency_key") for i in items if isinstance(i, dict)}
    keys = {k for k in keys if isinstance(k, str)}
    if not keys:
        return {}
    stmt = select(IdempotencyRecord).where(
        IdempotencyRecord.client_id == actor.client_id, IdempotencyRecord.key.in_(keys)
    )
    return {r.key: r for r in session.scalars(stmt)}


def _run_item(
    session: Session, actor: Actor, raw: Any, known: dict[str, IdempotencyRecord]
) -> dict[str, Any]:
    ref = raw.get("ref") if isinstance(raw, dict) else None
    client_id = actor.client_id
    assert client_id is not None
    try:
        item = _parse_item(raw)
        digest = _item_digest(item)
        if item.key is not None and item.key in known:
            return _replayed(ref, known[item.key], digest)
        with item_savepoint(session):
            claimed = None
            if item.key is not None:
                claimed = idem.claim(session, client_id, item.key, digest)
                if claimed is None:  # a concurrent request holds the key
                    return _replayed(ref, idem.winner(session, client_id, item.key, digest), digest)
            uploads = [(f["filename"], io.BytesIO(_decode(f, i))) for i, f in enumerate(item.files)]
            with checked_input(item.metadata, uploads) as (meta, files):
                delivery = submit(session, actor, meta, files)
            body = delivery_summary(delivery)
            if claimed is not None:
                idem.complete(claimed, idem.Answer(body, 201))
                known[claimed.key] = claimed
        return _created(ref, 201, body)
    except ApiProblem as exc:
        return _failed(ref, exc)
    except InvalidInput as exc:
        return _failed(ref, from_invalid_input(exc))
    except (NotFound, AccessDenied):
        return _failed(ref, not_found())


def _parse_item(raw: Any) -> Item:
    if not isinstance(raw, dict):
        raise ValidationFailed([("item", "must be a JSON object")])
    errors = [(name, "is not a known member") for name in sorted(set(raw) - ITEM_MEMBERS)]
    ref = raw.get("ref")
    if not isinstance(ref, str) or not 1 <= len(ref) <= MAX_REF:
        errors.append(("ref", f"is required: a string of 1 to {MAX_REF} characters"))
    if "metadata" not in raw:
        errors.append(("metadata", "is required"))
    files = raw.get("files")
    if not isinstance(files, list) or not files:
        errors.append(("files", "must be a list of at least one document"))
        files = []
    for i, f in enumerate(files):
        if not isinstance(f, dict) or set(f) != FILE_MEMBERS:
            errors.append((f"files[{i}]", "must be an object with filename and content_base64"))
        elif not all(isinstance(f[name], str) for name in FILE_MEMBERS):
            errors.append((f"files[{i}]", "filename and content_base64 must be strings"))
    key = raw.get("idempotency_key")
    if key is not None:
        try:
            idem.check_key(key, "idempotency_key")
        except ApiProblem:
            errors.append(("idempotency_key", "must be 1 to 200 printable ASCII characters"))
    if errors:
        raise ValidationFailed(errors)
    return Item(ref=ref, metadata=raw["metadata"], files=files, key=key)  # type: ignore[arg-type]


def _item_digest(item: Item) -> str:
    digest = idem.Digest("batch item")
    canonical = {"metadata": item.metadata, "files": item.files}
    digest.add(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def _decode(file: dict[str, str], i: int) -> bytes:
    try:
        return base64.b64decode(file["content_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed([(f"files[{i}].content_base64", "is not valid base64")]) from None


def _replayed(ref: str | None, record: IdempotencyRecord, digest: str) -> dict[str, Any]:
    idem.check_same_request(record, digest)
    return _created(ref, record.status_code, record.response) | {"replayed": True}


def _created(ref: str | None, status: int, body: dict[str, Any]) -> dict[str, Any]:
    # `status` of a result is its HTTP status; the delivery's own is `delivery_status`.
    result = {k: v for k, v in body.items() if k != "status"}
    return {"ref": ref, "status": status, **result, "delivery_status": body.get("status")}


def _failed(ref: str | None, problem: ApiProblem) -> dict[str, Any]:
    return {"ref": ref, "status": problem.status, "problem": problem.as_json()}


@contextlib.contextmanager
def item_savepoint(session: Session) -> Iterator[None]:
    """One item's unit of work: on an error its rows roll back to the savepoint, and the objects
    it stored and the jobs it queued are dropped as a whole transaction's would be."""
    stored = session.info.setdefault("stored_keys", [])
    jobs = session.info.setdefault("pending_jobs", [])
    stored_mark, jobs_mark = len(stored), len(jobs)
    nested = session.begin_nested()
    try:
        yield
        nested.commit()
    except BaseException:
        nested.rollback()
        orphans = stored[stored_mark:]
        del stored[stored_mark:]
        del jobs[jobs_mark:]
        objects = objects_of(session)
        for key in orphans:
            try:
                objects.delete(key)
            except OSError:
                log.warning("could not remove orphaned object %s", key)
        raise
