"""Idempotency keys of API clients: a retried request gets the first answer again and does no
work twice. The storage and its rules live here; the HTTP side (the header, the digest of a
request, an answer replayed as a response) is in `app/api/idempotency.py`.

A record is claimed (inserted) before the work, in the same transaction as the work, and filled
in with the answer at the end; so it exists for others exactly when the work has been committed.
A concurrent retry with the same key runs into the unique constraint (client, key): on
PostgreSQL its insert waits for the first transaction and fails once that one has committed, on
SQLite the write lock serializes both. Either way the retry then replays the stored answer. A
request that fails rolls back with its claim (or has it released), so its key can be used again.

A batch claims, answers and releases many keys in one statement per step instead of one per
item. On PostgreSQL the rows travel as arrays (`unnest`), which keeps a thousand claims one small
statement; elsewhere as a multi-row insert and an executemany.
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Collection, Sequence
from typing import Any, cast

from sqlalchemy import String, Table, any_, bindparam, delete, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailbox.models import IdempotencyRecord
from storage.db import utcnow

MAX_KEY_LENGTH = 200  # the column's length
IN_PROGRESS = 0  # the status of a claim whose answer is not known yet
_TABLE = cast(Table, IdempotencyRecord.__table__)


class KeyReused(Exception):
    """The key was used for a different request: neither its answer nor new work."""


class InProgress(Exception):
    """Another request holds the key and has no answer yet: retry shortly."""


def valid_key(key: object) -> bool:
    """Whether `key` can be a key: 1 to 200 printable ASCII characters."""
    return (
        isinstance(key, str)
        and 1 <= len(key) <= MAX_KEY_LENGTH
        and key.isascii()
        and key.isprintable()
    )


def check_same_request(record: IdempotencyRecord, digest: str) -> None:
    """KeyReused unless the record was claimed by a request with this digest."""
    if not hmac.compare_digest(record.request_hash, digest):
        raise KeyReused()


def find(session: Session, client_id: uuid.UUID, key: str, digest: str) -> IdempotencyRecord | None:
    """The stored answer for this key, or None; another request under the same key is refused
    (KeyReused)."""
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.client_id == client_id, IdempotencyRecord.key == key
        )
    )
    if record is not None:
        check_same_request(record, digest)
    return record


def claim(
    session: Session, client_id: uuid.UUID, key: str, digest: str
) -> IdempotencyRecord | None:
    """Insert the claim for this key; None when another request holds the key."""
    record = IdempotencyRecord(
        client_id=client_id, key=key, request_hash=digest, status_code=IN_PROGRESS, response={}
    )
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        return None
    return record


def winner(session: Session, client_id: uuid.UUID, key: str, digest: str) -> IdempotencyRecord:
    """After a lost claim: the answer the other request committed; InProgress if none yet."""
    record = find(session, client_id, key, digest)
    if record is None or record.status_code == IN_PROGRESS:
        raise InProgress()
    return record


def complete(record: IdempotencyRecord, status: int, body: dict[str, Any]) -> None:
    """File the answer under a claim."""
    record.status_code = status
    record.response = body


def known(
    session: Session, client_id: uuid.UUID, keys: Collection[str]
) -> dict[str, IdempotencyRecord]:
    """The stored records of many keys, in one query rather than one per key."""
    if not keys:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter, not an IN list of 1000 parameters: psycopg prepares a statement
        # it has run five times, and with the IN list the prepared lookup then took time in
        # proportion to all of the client's records (0.6 s a batch from ~23,000 on, growing
        # with every batch of a mailing); `= ANY(array)` stays ~4 ms.
        wanted = IdempotencyRecord.key == any_(bindparam("keys", sorted(keys), ARRAY(String)))
    else:
        wanted = IdempotencyRecord.key.in_(keys)
    stmt = select(IdempotencyRecord).where(IdempotencyRecord.client_id == client_id, wanted)
    return {r.key: r for r in session.scalars(stmt)}


# A key that a concurrent transaction has inserted makes this wait for it, then skip the key:
# the same as the unique violation that `claim` runs into, without a savepoint each.
_PG_CLAIM = text(
    "INSERT INTO idempotency_records"
    " (id, client_id, key, request_hash, status_code, response, created_at)"
    " SELECT t.id, :client_id, t.key, t.hash, :status, CAST('{}' AS json), :now"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:keys AS text[]), CAST(:hashes AS text[]))"
    " AS t(id, key, hash)"
    " ON CONFLICT (client_id, key) DO NOTHING RETURNING id"
)
_PG_ANSWER = text(
    "UPDATE idempotency_records AS r SET status_code = :status, response = CAST(t.answer AS json)"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:answers AS text[])) AS t(id, answer)"
    " WHERE r.id = t.id"
)


def claim_keys(
    session: Session, client_id: uuid.UUID, keys: Sequence[tuple[str, str]]
) -> list[uuid.UUID | None]:
    """Claim (key, request digest) pairs; for each the claim's id, or None when another
    request holds the key."""
    if not keys:
        return []
    ids = [uuid.uuid4() for _ in keys]
    if session.get_bind().dialect.name == "postgresql":
        # Inserted in key order: two requests claiming overlapping keys then wait for each
        # other in one direction only, where in item order each could hold a key the other
        # wants next (a deadlock).
        order = sorted(range(len(keys)), key=lambda i: keys[i][0])
        params = {
            "client_id": client_id,
            "status": IN_PROGRESS,
            "now": utcnow(),
            "ids": [ids[i] for i in order],
            "keys": [keys[i][0] for i in order],
            "hashes": [keys[i][1] for i in order],
        }
        claimed = set(session.scalars(_PG_CLAIM, params))
    else:
        rows = [
            {
                "id": claim_id,
                "client_id": client_id,
                "key": key,
                "request_hash": digest,
                "status_code": IN_PROGRESS,
                "response": {},
                "created_at": utcnow(),
            }
            for claim_id, (key, digest) in zip(ids, keys, strict=True)
        ]
        stmt = sqlite_insert(_TABLE).values(rows).on_conflict_do_nothing()
        claimed = set(session.scalars(stmt.returning(_TABLE.c.id)))
    return [i if i in claimed else None for i in ids]


def file_answers(session: Session, answers: Sequence[tuple[uuid.UUID, dict[str, Any]]]) -> None:
    """File the 201 answers under their claims."""
    if not answers:
        return
    if session.get_bind().dialect.name == "postgresql":
        params = {
            "status": 201,
            "ids": [i for i, _ in answers],
            "answers": [json.dumps(a) for _, a in answers],
        }
        session.execute(_PG_ANSWER, params)
        return
    stmt = update(_TABLE).where(_TABLE.c.id == bindparam("claim"))
    stmt = stmt.values(status_code=201, response=bindparam("answer"))
    session.execute(stmt, [{"claim": i, "answer": a} for i, a in answers])


def release(session: Session, claims: Sequence[uuid.UUID]) -> None:
    """Drop the claims of items that failed, as a rolled-back claim: the key can be used again."""
    if claims:
        session.execute(delete(_TABLE).where(_TABLE.c.id.in_(claims)))
