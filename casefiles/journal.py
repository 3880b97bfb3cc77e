"""The journal: append-only, hash-chained, each entry hash signed with the portal's seal key."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.models import CaseFile, JournalEntry
from directory.actors import Actor
from signing import Keyring, sign
from signing.canonical import canonical_json
from storage.db import utcnow

GENESIS = "0" * 64


def keyring_of(session: Session) -> Keyring:
    return session.info["keyring"]  # type: ignore[no-any-return]


def canonical(fields: dict[str, Any]) -> bytes:
    """The bytes an entry hash covers (docs/journal-format.md; pinned by known-answer tests)."""
    return canonical_json(fields)


def _no_float(text: str) -> Any:
    # Floats have no portable canonical form (Python's repr is not RFC 8785's), and an archive
    # must rebuild the hashed bytes exactly: write amounts and periods as integers or strings.
    raise TypeError(f"journal payloads hold no floats (got {text}); use an integer or a string")


_HASHED_COLUMNS = (
    "case_id",
    "seq",
    "recorded_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "action",
    "payload",
    "prev_hash",
)


def entry_fields(entry: JournalEntry) -> dict[str, Any]:
    return _hashed_fields({name: getattr(entry, name) for name in _HASHED_COLUMNS})


def _hashed_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """What an entry hash covers, from an entry's column values."""
    return {
        "case_id": str(row["case_id"]),
        "seq": row["seq"],
        "recorded_at": row["recorded_at"].isoformat(),
        "actor": {"kind": row["actor_kind"], "id": row["actor_id"], "label": row["actor_label"]},
        "action": row["action"],
        "payload": row["payload"],
        "prev_hash": row["prev_hash"],
    }


def compute_hash(entry: JournalEntry) -> str:
    return hashlib.sha256(canonical(entry_fields(entry))).hexdigest()


def sealed_entry(
    keyring: Keyring,
    case_id: uuid.UUID,
    seq: int,
    prev_hash: str,
    actor: Actor,
    action: str,
    payload: dict[str, Any],
    key_id: str | None = None,
) -> dict[str, Any]:
    """The column values of the next journal entry after `prev_hash`, hashed and signed
    (`key_id`: the seal's, when the caller has it at hand; it costs a certificate hash)."""
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "case_id": case_id,
        "seq": seq,
        "recorded_at": utcnow(),
        "actor_kind": actor.kind,
        "actor_id": actor.ref,
        "actor_label": actor.label,
        "action": action,
        # Fail early on values JSON cannot hold (and floats); what is stored is what is hashed.
        "payload": json.loads(canonical(payload), parse_float=_no_float),
        "prev_hash": prev_hash,
    }
    row["entry_hash"] = hashlib.sha256(canonical(_hashed_fields(row))).hexdigest()
    row["signature"] = sign(keyring.seal, bytes.fromhex(row["entry_hash"]))
    row["key_id"] = key_id or keyring.seal.key_id
    return row


def record(
    session: Session, case: CaseFile, actor: Actor, action: str, payload: dict[str, Any]
) -> JournalEntry:
    """Append a signed entry to a case file's journal, in the caller's transaction."""
    # Lock the case row so that two writers cannot both append after the same head. FOR NO KEY
    # UPDATE (PostgreSQL), not FOR UPDATE: a writer that has already inserted a row referencing
    # the case (a document, a message) holds a KEY SHARE lock on it, and two such writers asking
    # for FOR UPDATE would deadlock. NO KEY UPDATE does not conflict with KEY SHARE.
    session.execute(
        select(CaseFile.id).where(CaseFile.id == case.id).with_for_update(key_share=True)
    )
    session.refresh(case, attribute_names=["head_seq", "head_hash"])
    prev_hash = case.head_hash or GENESIS
    entry = JournalEntry(
        **sealed_entry(
            keyring_of(session), case.id, case.head_seq + 1, prev_hash, actor, action, payload
        )
    )
    case.head_seq = entry.seq
    case.head_hash = entry.entry_hash
    session.add(entry)
    session.flush()
    return entry


def new_journal(
    keyring: Keyring, case_id: uuid.UUID, actor: Actor, events: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The entries of a case file opened in this transaction, built in memory: seq 1..n after
    the genesis hash. No lock is needed, nobody else can see the case yet; the caller stores the
    rows and sets the case's head from the last one (`head_of`)."""
    rows: list[dict[str, Any]] = []
    prev_hash = GENESIS
    key_id = keyring.seal.key_id
    for seq, (action, payload) in enumerate(events, start=1):
        rows.append(sealed_entry(keyring, case_id, seq, prev_hash, actor, action, payload, key_id))
        prev_hash = rows[-1]["entry_hash"]
    return rows


def head_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The case file's head columns after the entries `rows`."""
    return {"head_seq": rows[-1]["seq"], "head_hash": rows[-1]["entry_hash"]} if rows else {}


def entries(session: Session, case: CaseFile) -> list[JournalEntry]:
    """The case file's journal in order (the caller has checked access to the case)."""
    stmt = select(JournalEntry).where(JournalEntry.case_id == case.id).order_by(JournalEntry.seq)
    return list(session.scalars(stmt))
