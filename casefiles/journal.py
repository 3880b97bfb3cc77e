"""The journal: append-only, hash-chained, each entry hash signed with the portal's seal key."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.models import CaseFile, JournalEntry
from directory.actors import Actor
from signing import Keyring, sign
from storage.db import utcnow

GENESIS = "0" * 64


def keyring_of(session: Session) -> Keyring:
    return session.info["keyring"]  # type: ignore[no-any-return]


def canonical(fields: dict[str, Any]) -> bytes:
    """The bytes an entry hash covers: sorted keys, no spaces, UTF-8; payloads hold no floats."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_fields(entry: JournalEntry) -> dict[str, Any]:
    return {
        "case_id": str(entry.case_id),
        "seq": entry.seq,
        "recorded_at": entry.recorded_at.isoformat(),
        "actor": {"kind": entry.actor_kind, "id": entry.actor_id, "label": entry.actor_label},
        "action": entry.action,
        "payload": entry.payload,
        "prev_hash": entry.prev_hash,
    }


def compute_hash(entry: JournalEntry) -> str:
    return hashlib.sha256(canonical(entry_fields(entry))).hexdigest()


def record(
    session: Session, case: CaseFile, actor: Actor, action: str, payload: dict[str, Any]
) -> JournalEntry:
    """Append a signed entry to a case file's journal, in the caller's transaction."""
    # Lock the case row so that two writers cannot both append after the same head.
    session.execute(select(CaseFile.id).where(CaseFile.id == case.id).with_for_update())
    session.refresh(case, attribute_names=["head_seq", "head_hash"])
    keyring = keyring_of(session)
    entry = JournalEntry(
        case_id=case.id,
        seq=case.head_seq + 1,
        recorded_at=utcnow(),
        actor_kind=actor.kind,
        actor_id=actor.ref,
        actor_label=actor.label,
        action=action,
        payload=json.loads(canonical(payload)),  # fail early on values JSON cannot hold
        prev_hash=case.head_hash or GENESIS,
    )
    entry.entry_hash = compute_hash(entry)
    entry.signature = sign(keyring.seal, bytes.fromhex(entry.entry_hash))
    entry.key_id = keyring.seal.key_id
    case.head_seq = entry.seq
    case.head_hash = entry.entry_hash
    session.add(entry)
    session.flush()
    return entry


def entries(session: Session, case: CaseFile) -> list[JournalEntry]:
    """The case file's journal in order (the caller has checked access to the case)."""
    stmt = select(JournalEntry).where(JournalEntry.case_id == case.id).order_by(JournalEntry.seq)
    return list(session.scalars(stmt))
