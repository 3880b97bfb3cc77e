"""`Idempotency-Key` over HTTP: the header, the digest of a request, a stored answer replayed as
a response. What is stored and when a key counts as claimed, answered or reused is the mailbox's
(`mailbox/idempotency.py`); here its refusals become problem details.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from app.api.auth import current_actor
from app.api.problems import ApiProblem
from app.web import db
from mailbox import idempotency as key_store
from mailbox.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = key_store.MAX_KEY_LENGTH


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
    if not key_store.valid_key(key):
        raise ApiProblem(
            422,
            "Invalid input",
            f"An idempotency key is 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            errors=[{"field": field_name, "detail": "not a valid idempotency key"}],
        )
    assert isinstance(key, str)
    return key


@contextlib.contextmanager
def _as_problems() -> Iterator[None]:
    """The mailbox's refusals of a key, as the API states them."""
    try:
        yield
    except key_store.KeyReused:
        raise ApiProblem(
            422,
            "Idempotency key reused",
            "This Idempotency-Key was used for a different request. Use a new key for a new "
            "request, or send exactly the same request again.",
            code="idempotency_key_reused",
        ) from None
    except key_store.InProgress:
        raise ApiProblem(
            409,
            "Request in progress",
            "A request with this Idempotency-Key is still being processed. Retry shortly.",
            code="request_in_progress",
            headers={"Retry-After": "1"},
        ) from None


def check_same_request(record: IdempotencyRecord, digest: str) -> None:
    with _as_problems():
        key_store.check_same_request(record, digest)


def find(session: Session, client_id: uuid.UUID, key: str, digest: str) -> IdempotencyRecord | None:
    with _as_problems():
        return key_store.find(session, client_id, key, digest)


def winner(session: Session, client_id: uuid.UUID, key: str, digest: str) -> IdempotencyRecord:
    with _as_problems():
        return key_store.winner(session, client_id, key, digest)


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
    claimed = key_store.claim(session, client_id, key, hexdigest)
    if claimed is None:
        return render(replay(winner(session, client_id, key, hexdigest)), replayed=True)
    answer = work()
    key_store.complete(claimed, answer.status, answer.body)
    return render(answer)
