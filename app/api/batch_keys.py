"""The idempotency keys of a batch's items, claimed, answered and released a batch at a time.

The same protocol as `app.api.idempotency` (claim before the work, in its transaction; the answer
filed at the end; a failed item's claim released), in one statement per step instead of one per
item. On PostgreSQL the rows travel as arrays (`unnest`), which keeps a thousand claims one
small statement; elsewhere as a multi-row insert and an executemany.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailbox.models import IdempotencyRecord
from storage.db import utcnow

IN_PROGRESS = 0  # the status of a claim whose answer is not known yet (as idempotency's)
_TABLE = cast(Table, IdempotencyRecord.__table__)

# A key that a concurrent transaction has inserted makes this wait for it, then skip the key:
# the same as the unique violation that `idempotency.claim` runs into, without a savepoint each.
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
