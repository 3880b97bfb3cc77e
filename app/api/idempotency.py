"""`Idempotency-Key`: a retried request gets the first answer again and does no work twice.

The record is claimed (inserted) before the work, in the same transaction as the work, and
filled in with the answer at the end; so it exists for others exactly when the work has been
committed. A concurrent retry with the same key runs into the unique constraint (client, key):
on PostgreSQL its insert waits for the first transaction and fails once that one has committed,
on SQLite the write lock serializes both. Either way the retry then replays the stored answer.
A request that fails (4xx/5xx) rolls back with its claim, so its key can be used again.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from app.api.auth import current_actor
from app.api.problems import ApiProblem
from app.web import db
from mailbox.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
_IN_PROGRESS = 0  # status_code of a claim whose answer is not known yet


@dataclass
class Answer:
    """What a view answers: a JSON body, a status and extra headers."""

    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class Digest:
    """SHA-256 over a request's parts, each length-prefixed so that parts cannot run together."""

    def __init__(self, label: str) -> None:
        self._hash = hashlib.sha256()
        self.add(label.encode())

    def add(self, data: bytes) -> None:
        self._hash.update(len(data).to_bytes(8, "big"))
        self._hash.update(data)

    def add_stream(self, chunks: Iterable[bytes]) -> None:
        """A part whose length is not known in advance, streamed through the hash."""
        inner = hashlib.sha256()
        for chunk in chunks:
            inner.update(chunk)
        self.add(inner.digest())

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def request_label() -> str:
    """The part of a request's identity outside its body: the same key on another endpoint is
    another request."""
    return f"{request.method} {request.path}"


def header_key() -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    check_key(key, HEADER)
    return key


def check_key(key: object, field_name: str) -> str:
    if (
        not isinstance(key, str)
        or not 1 <= len(key) <= MAX_KEY_LENGTH
        or not key.isascii()
        or not key.isprintable()
    ):
        raise ApiProblem(
            422,
            "Invalid input",
            f"An idempotency key is 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            errors=[{"field": field_name, "detail": "not a valid idempotency key"}],
        )
    return key


def find(session: Session, client_id: uuid.UUID, key: str, digest: str) -> IdempotencyRecord | None:
    """The stored answer for this key, or None; another request under the same key is refused."""
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.client_id == client_id, IdempotencyRecord.key == key
        )
    )
    if record is not None:
        check_same_request(record, digest)
    return record


def check_same_request(record: IdempotencyRecord, digest: str) -> None:
    if not hmac.compare_digest(record.request_hash, digest):
        raise ApiProblem(
            422,
            "Idempotency key reused",
            "This Idempotency-Key was used for a different request. Use a new key for a new "
            "request, or send exactly the same request again.",
            code="idempotency_key_reused",
        )


def claim(
    session: Session, client_id: uuid.UUID, key: str, digest: str
) -> IdempotencyRecord | None:
    """Insert the claim for this key; None when another request holds the key."""
    record = IdempotencyRecord(
        client_id=client_id, key=key, request_hash=digest, status_code=_IN_PROGRESS, response={}
    )
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        return None
    return record


def winner(session: Session, client_id: uuid.UUID, key: str, digest: str) -> IdempotencyRecord:
    """After a lost claim: the answer the other request committed, or 409 if there is none yet."""
    record = find(session, client_id, key, digest)
    if record is None or record.status_code == _IN_PROGRESS:
        raise ApiProblem(
            409,
            "Request in progress",
            "A request with this Idempotency-Key is still being processed. Retry shortly.",
            code="request_in_progress",
            headers={"Retry-After": "1"},
        )
    return record


def complete(record: IdempotencyRecord, answer: Answer) -> None:
    record.status_code = answer.status
    record.response = answer.body


def render(answer: Answer, replayed: bool = False) -> Response:
    response = jsonify(answer.body)
    response.status_code = answer.status
    response.headers.update(answer.headers)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def replay(record: IdempotencyRecord) -> Answer:
    body = record.response
    headers = {}
    if record.status_code == 201 and "links" in body:
        headers["Location"] = body["links"]["self"]
    return Answer(body, record.status_code, headers)


def respond(digest: Digest, work: Callable[[], Answer]) -> Response:
    """Run `work` once per Idempotency-Key (if the request has one) and answer."""
    key = header_key()
    if key is None:
        return render(work())
    session = db()
    client_id = current_actor().client_id
    assert client_id is not None
    hexdigest = digest.hexdigest()
    record = find(session, client_id, key, hexdigest)
    if record is not None:
        return render(replay(record), replayed=True)
    claimed = claim(session, client_id, key, hexdigest)
    if claimed is None:
        return render(replay(winner(session, client_id, key, hexdigest)), replayed=True)
    answer = work()
    complete(claimed, answer)
    return render(answer)
