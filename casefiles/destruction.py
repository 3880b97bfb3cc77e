"""Destruction that really destroys: a closed case file's key, objects and rows go, and the
destruction register keeps what was destroyed, when, and on whose word.

The register is a signed, hash-chained journal of its own (signing/chain.py's entry format with
the member `register` naming the chain, docs/journal-format.md §10): one entry
`case.destroyed` per case file, holding its reference, type, how many parties, the digests of
its documents and its journal's head, so that an anchor or an export made before can still be
matched against it. `portal verify` checks the register, and anchors hold its head.

What goes: the case file's key (storage.group_keys), after which no copy of its object rows,
in the database or in any backup, can be decrypted; every row of every table that refers to the
case file by a foreign key chain (found from the metadata, so a new table is covered without
naming it here); the rows without a foreign key that mention it (API idempotency records,
webhook events, finished jobs); its objects, deleted from the store once the transaction has
committed (`UnitOfWork.doomed_keys`; what a store refuses, `portal storage gc` takes later).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, Text, delete, func, inspect, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from casefiles.archive_models import DestructionRecord
from casefiles.errors import InvalidInput
from casefiles.journal import keyring_of
from casefiles.models import CaseFile, CaseParty, CaseStatus, Document, DocumentVersion
from casefiles.verify import Problem
from directory.actors import Actor
from signing.chain import GENESIS, link_problems, sealed_row
from storage.blobs import Blob
from storage.db import utcnow
from storage.group_keys import destroy_group
from storage.work import unit_of

# The one destruction register of an instance; fixed, so that anchors and exports name it.
REGISTER = uuid.UUID("5d1e57a0-0000-4000-8000-000000000010")
OWNER = "register"  # the member of the hashed object that names the chain
DESTROYED = "case.destroyed"
# Tables without a foreign key to the case file whose rows may hold its id or reference in a
# JSON column: API answers kept for idempotency, webhook events, finished jobs.
_MENTIONING = {"idempotency_records": "response", "webhook_events": "payload", "job_outbox": "args"}
_NOT_BY_FK = {"destruction_records"}  # the register outlives what it records
_ADVISORY_LOCK = 0x5D1E57A0  # PostgreSQL: one destruction at a time appends to the register


class NotDestroyable(InvalidInput):
    """An open case file is never destroyed (HTTP 409, a form error)."""

    code = "not_destroyable"


@dataclass(frozen=True)
class _Doomed:
    table: Table
    where: ColumnElement[bool]
    keys: list[tuple[Any, ...]]  # primary keys of its rows (to forget their ORM objects)


def destroy(
    session: Session,
    actor: Actor,
    case: CaseFile,
    *,
    proposed_by: str,
    approved_by: str,
    reason: str,
) -> DestructionRecord:
    """Destroy a closed case file: record it in the register, destroy its key, delete its rows
    now and its objects after commit. Flushes, never commits."""
    if case.status == CaseStatus.OPEN:
        raise NotDestroyable("case_id", "An open case file cannot be destroyed; close it first.")
    session.flush()
    _lock_register(session)
    record = _append(session, actor, case, proposed_by, approved_by, reason)
    case_id, reference = case.id, case.reference
    doomed = _doomed_rows(session, case_id)
    blob_ids = _blob_ids(session, case_id, doomed)
    object_keys = destroy_group(session, case_id)
    object_keys += _keys_of(session, blob_ids)
    mentions = [str(case_id), reference] + [
        str(key[0]) for d in doomed for key in d.keys if isinstance(key[0], uuid.UUID)
    ]
    for d in reversed(doomed):  # children first: the foreign keys are checked per statement
        session.execute(delete(d.table).where(d.where))
    for chunk in _chunks(sorted(blob_ids), 500):
        session.execute(delete(Blob).where(Blob.id.in_(chunk)))
    _delete_mentions(session, mentions)
    _forget(session, doomed)
    unit_of(session).doomed_keys.extend(dict.fromkeys(object_keys))
    return record


def _lock_register(session: Session) -> None:
    # SQLite: the write lock is held from BEGIN IMMEDIATE on. The unique (register, seq)
    # stops a fork on any database; the lock makes the second destruction wait, not fail.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_ADVISORY_LOCK)))


def _append(
    session: Session, actor: Actor, case: CaseFile, proposed_by: str, approved_by: str, reason: str
) -> DestructionRecord:
    head = session.execute(
        select(DestructionRecord.seq, DestructionRecord.entry_hash)
        .where(DestructionRecord.register == REGISTER)
        .order_by(DestructionRecord.seq.desc())
        .limit(1)
    ).first()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    parties = session.scalar(
        select(func.count()).select_from(CaseParty).where(CaseParty.case_id == case.id)
    )
    versions = session.execute(
        select(DocumentVersion.id, Blob.sha256, Blob.size)
        .join(Document, Document.id == DocumentVersion.document_id)
        .join(Blob, Blob.id == DocumentVersion.blob_id)
        .where(Document.case_id == case.id)
        .order_by(Document.created_at, DocumentVersion.number, DocumentVersion.id)
    ).all()
    payload = {
        "case_id": str(case.id),
        "reference": case.reference,
        "case_type": case.case_type,
        "parties": parties or 0,
        "documents": [
            {"version_id": str(v), "sha256": sha256, "size": size} for v, sha256, size in versions
        ],
        "journal_head": {"seq": case.head_seq, "hash": case.head_hash},
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "retention_until": case.retention_until.isoformat() if case.retention_until else None,
        "reason": reason,
        "proposed_by": proposed_by,
        "approved_by": approved_by,
    }
    row = sealed_row(
        keyring_of(session),
        OWNER,
        REGISTER,
        seq,
        prev,
        actor,
        DESTROYED,
        payload,
        recorded_at=utcnow(),
    )
    record = DestructionRecord(**row, case_id=case.id)
    session.add(record)
    session.flush()
    return record


def _doomed_rows(session: Session, case_id: uuid.UUID) -> list[_Doomed]:
    """Every row that refers to the case file through a chain of foreign keys, table by table,
    parents first (the metadata's order), as conditions on values read now."""
    metadata = CaseFile.metadata
    root = cast(Table, CaseFile.__table__)
    referenced: dict[str, set[str]] = {}
    for table in metadata.tables.values():
        for fk in table.foreign_keys:
            referenced.setdefault(fk.column.table.name, set()).add(fk.column.name)
    values: dict[str, dict[str, set[Any]]] = {}
    doomed: list[_Doomed] = []
    for table in metadata.sorted_tables:
        if table is root:
            where: ColumnElement[bool] = root.c.id == case_id
        elif table.name in _NOT_BY_FK:
            continue
        else:
            conditions = [
                fk.parent.in_(sorted(values[fk.column.table.name][fk.column.name]))
                for fk in table.foreign_keys
                if fk.column.table is not table
                and fk.column.table.name in values
                and values[fk.column.table.name][fk.column.name]
            ]
            if not conditions:
                continue
            where = or_(*conditions)
        wanted = list(table.primary_key.columns)
        wanted += [
            table.c[n] for n in sorted(referenced.get(table.name, ())) if table.c[n] not in wanted
        ]
        rows = session.execute(select(*wanted).where(where)).all()
        if not rows:
            continue
        width = len(table.primary_key.columns)
        doomed.append(_Doomed(table, where, [tuple(r[:width]) for r in rows]))
        values[table.name] = {
            col.name: {r[i] for r in rows if r[i] is not None} for i, col in enumerate(wanted)
        }
    return doomed


def _blob_ids(session: Session, case_id: uuid.UUID, doomed: list[_Doomed]) -> set[uuid.UUID]:
    """The case file's objects: those of its key group, and those its rows point to."""
    blobs = cast(Table, Blob.__table__)
    found = set(session.scalars(select(Blob.id).where(Blob.group_id == case_id)))
    for d in doomed:
        for fk in d.table.foreign_keys:
            if fk.column.table is blobs:
                stmt = select(fk.parent).where(d.where, fk.parent.is_not(None))
                found |= set(session.scalars(stmt))
    return found


def _keys_of(session: Session, blob_ids: set[uuid.UUID]) -> list[str]:
    keys: list[str] = []
    for chunk in _chunks(sorted(blob_ids), 500):
        keys += session.scalars(select(Blob.key).where(Blob.id.in_(chunk)))
    return keys


def _delete_mentions(session: Session, mentions: list[str]) -> None:
    metadata = CaseFile.metadata
    for name, column_name in _MENTIONING.items():
        table = metadata.tables.get(name)
        if table is None:
            continue
        text = sql_cast(table.c[column_name], Text)
        for chunk in _chunks(list(dict.fromkeys(mentions)), 100):
            where = or_(*(text.contains(m, autoescape=True) for m in chunk))
            if name == "job_outbox":  # a job still to run names ids only; it finds them gone
                where = where & table.c.done_at.is_not(None)
            session.execute(delete(table).where(where))


def _forget(session: Session, doomed: list[_Doomed]) -> None:
    """Drop the ORM objects of deleted rows from the session, so nothing flushes them again."""
    gone = {(d.table.name, key) for d in doomed for key in d.keys}
    for obj in list(session.identity_map.values()):
        table = getattr(type(obj), "__table__", None)
        identity = inspect(obj).identity or ()
        # `obj in session`: expunging a case file cascades to its parties, already gone then.
        if table is not None and (table.name, tuple(identity)) in gone and obj in session:
            session.expunge(obj)


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def destroyed(session: Session, case_id: uuid.UUID) -> DestructionRecord | None:
    """The register's record of the case file's destruction, if it was destroyed."""
    return session.scalar(
        select(DestructionRecord).where(
            DestructionRecord.register == REGISTER, DestructionRecord.case_id == case_id
        )
    )


def register_length(session: Session) -> int:
    """How many records the register holds."""
    return session.scalar(select(func.count()).select_from(DestructionRecord)) or 0


def verify_register(session: Session) -> list[Problem]:
    """The register's faults: sequence gaps, broken links, altered entries, bad signatures, a
    case id column that is not its entry's, a case file recorded destroyed that still exists."""
    keyring = keyring_of(session)
    table = cast(Table, DestructionRecord.__table__)
    stmt = select(table).order_by(table.c.register, table.c.seq)
    rows: list[Mapping[str, Any]] = [dict(r) for r in session.execute(stmt).mappings()]
    problems: list[Problem] = []
    mine = [r for r in rows if r["register"] == REGISTER]
    for row in rows:
        if row["register"] != REGISTER:
            problems.append(
                Problem(_item(row), f"belongs to an unknown register {row['register']}")
            )
    for faulty, message in link_problems(OWNER, mine, keyring.certificate):
        problems.append(Problem(_item(faulty), message))
    for row in mine:
        payload = row["payload"] if isinstance(row["payload"], dict) else {}
        if payload.get("case_id") != str(row["case_id"]):
            problems.append(Problem(_item(row), "its case_id column is not the one it records"))
    recorded = [r["case_id"] for r in mine]
    for chunk in _chunks(recorded, 500):
        for case_id in session.scalars(select(CaseFile.id).where(CaseFile.id.in_(chunk))):
            problems.append(
                Problem(f"case file {case_id}", "is recorded as destroyed but still exists")
            )
    return problems


def _item(row: Any) -> str:
    reference = row["payload"].get("reference") if isinstance(row["payload"], dict) else None
    return f"destruction register entry {row['seq']} ({reference or row['case_id']})"


# Anchors (casefiles/anchors.py): the register's head is a leaf of its own.
def register_heads(session: Session) -> dict[uuid.UUID, tuple[int, str | None]]:
    head = session.execute(
        select(DestructionRecord.seq, DestructionRecord.entry_hash)
        .where(DestructionRecord.register == REGISTER)
        .order_by(DestructionRecord.seq.desc())
        .limit(1)
    ).first()
    return {REGISTER: (head[0], head[1])} if head else {}


def register_hashes_at(
    session: Session, wanted: list[tuple[uuid.UUID, int]]
) -> dict[tuple[uuid.UUID, int], str]:
    seqs = [seq for register, seq in wanted if register == REGISTER]
    found: dict[tuple[uuid.UUID, int], str] = {}
    for chunk in _chunks(seqs, 500):
        rows = session.execute(
            select(DestructionRecord.seq, DestructionRecord.entry_hash).where(
                DestructionRecord.register == REGISTER, DestructionRecord.seq.in_(chunk)
            )
        )
        found.update({(REGISTER, seq): entry_hash for seq, entry_hash in rows})
    return found


def destroyed_heads(
    session: Session, case_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, str | None]]:
    """The journal head each of these case files had when it was destroyed (those that were)."""
    found: dict[uuid.UUID, tuple[int, str | None]] = {}
    for chunk in _chunks(list(case_ids), 500):
        rows = session.execute(
            select(DestructionRecord.case_id, DestructionRecord.payload).where(
                DestructionRecord.register == REGISTER, DestructionRecord.case_id.in_(chunk)
            )
        )
        for case_id, payload in rows:
            head = (payload or {}).get("journal_head") or {}
            found[case_id] = (int(head.get("seq") or 0), head.get("hash"))
    return found
