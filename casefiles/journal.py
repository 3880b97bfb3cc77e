"""The journal: append-only, hash-chained, each entry hash signed with the portal's seal key."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.models import CaseFile, JournalEntry
from directory.actors import Actor
from signing import Keyring
from signing.canonical import canonical_json
from signing.chain import GENESIS, hashed_object, sealed_row
from storage.db import utcnow
from storage.work import services_of


def keyring_of(session: Session) -> Keyring:
    """The portal's keyring, which the session's runtime services carry."""
    keyring = services_of(session).keyring
    if not isinstance(keyring, Keyring):
        raise TypeError(f"the session carries a {type(keyring).__name__}, not a Keyring")
    return keyring


def canonical(fields: dict[str, Any]) -> bytes:
    """The bytes an entry hash covers (docs/journal-format.md; pinned by known-answer tests)."""
    return canonical_json(fields)


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
    return hashed_object("case_id", row)


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
    # The entry format is shared with the consent chains (signing/chain.py): what is stored is
    # what is hashed, and payloads holding floats or values JSON cannot hold fail here.
    return sealed_row(
        keyring,
        "case_id",
        case_id,
        seq,
        prev_hash,
        actor,
        action,
        payload,
        recorded_at=utcnow(),
        key_id=key_id,
    )


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
