"""The journal is the record, the rows are its projection: every column of every table is declared
(mailbox/projection.py), and a change of any covered column, behind the domain's back, makes
`portal verify` fail naming the case file (or the party's consent chain), the row and the column.
Values written before migration 0009 are "not covered" until `portal journal complete`."""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import Base
from casefiles.journal import sealed_entry
from casefiles.models import CaseFile, JournalEntry
from casefiles.projection import Key
from casefiles.verify import verify_cases
from directory.actors import Actor
from directory.consent import give_consent
from directory.models import Account, Consent, ConsentEntry, Party
from mailbox.projection import TABLES
from mailbox.verification import case_rows, verify_consent_chains
from tests.functional.test_verify_cli import run_verify
from tests.support.projection_world import (
    World,
    build_world,
    other_values,
    owner,
    referenced,
    table,
)
from tests.support.services import portal_executable


def test_every_column_of_every_table_is_declared():
    """A new column (or table) carrying a legal fact cannot slip in unmapped."""
    for t in Base.metadata.sorted_tables:
        assert t.name in TABLES, f"table {t.name} is not declared in mailbox/projection.py"
        columns, declared = set(t.columns.keys()), set(TABLES[t.name].columns)
        assert columns - declared == set(), f"{t.name}: columns declared nowhere"
        assert declared - columns == set(), f"{t.name}: declared columns that do not exist"


def _rows(conn: Connection, name: str, world: World) -> list[dict[str, Any]]:
    """The table's rows that belong to the world's case files or its resident's consent."""
    mine = {("case", c) for c in world.cases} | {("party", world.resident_party)}
    found = []
    for row in conn.execute(select(table(name))).mappings():
        if owner(conn, name, _key(name, row)) in mine:
            found.append(dict(row))
    return found


def _key(name: str, row: Any) -> dict[str, Any]:
    return {c.name: row[c.name] for c in table(name).primary_key.columns}


def _row_name(key: dict[str, Any]) -> str:
    return "/".join(str(v) for v in key.values())


def _targets(conn: Connection, world: World) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(table, column, row) for every covered or key column: a row where it has a value."""
    for name, spec in TABLES.items():
        columns = [*spec.key, *spec.covered]
        if not spec.covered:
            continue
        rows = _rows(conn, name, world)
        assert rows, f"the world has no row in {name}"
        for column in columns:
            yield name, column, next((r for r in rows if r[column] is not None), rows[0])


def _change(conn: Connection, name: str, column: str, row: dict[str, Any]) -> dict[str, Any] | None:
    """Change the column of the row to a plausible other value; the row's key afterwards, or
    None when the database refuses every value tried (a unique constraint guards it)."""
    t, key = table(name), _key(name, row)
    for value in other_values(conn, name, column, row[column])[:8]:
        try:
            with conn.begin_nested():
                conn.execute(
                    update(t).where(*(t.c[k] == v for k, v in key.items())).values({column: value})
                )
        except IntegrityError:
            continue  # a unique or foreign key the value breaks: try the next
        return {**key, column: value} if column in key else key
    return None


# Columns whose every other value breaks a unique constraint: the database guards them.
_GUARDED = {("document_versions", "document_id")}  # (document_id, number) is unique


def _report(runtime: Any, conn: Connection, kind: str, owner_id: uuid.UUID) -> Any:
    info = dict(runtime.sessions.kw["info"])
    with Session(bind=conn, join_transaction_mode="create_savepoint", info=info) as session:
        if kind == "case":
            [report] = verify_cases(session, [owner_id], case_rows)
        else:
            [report] = verify_consent_chains(session, [owner_id])
        session.rollback()
    return report


def _names(report: Any, name: str, column: str, rows: set[str]) -> bool:
    return any(
        p.table == name and p.row in rows and column in (p.column or "").split("/")
        for p in report.problems
    )


def test_every_covered_column_is_checked(app, demo, pdf, runtime, tmp_path):
    world = build_world(app, demo, pdf, runtime, tmp_path)
    conn = runtime.engine.connect()
    outer = conn.begin()
    try:
        for case in world.cases:
            report = _report(runtime, conn, "case", case)
            assert report.ok and not report.uncovered, (report.problems, report.uncovered)
        chain = _report(runtime, conn, "party", world.resident_party)
        assert chain.ok and chain.entries == 3 and not chain.uncovered, chain.problems
        unnoticed, guarded = [], set()
        checked = 0
        for name, column, row in _targets(conn, world):
            key = _key(name, row)
            kind, owner_id = owner(conn, name, key)
            if isinstance(TABLES[name].columns[column], Key) and referenced(name, column):
                # Other rows refer to it: the database itself refuses the change.
                with pytest.raises(IntegrityError), conn.begin_nested():
                    t = table(name)
                    changed = {column: uuid.uuid4()}
                    conn.execute(update(t).where(t.c[column] == row[column]).values(changed))
                continue
            savepoint = conn.begin_nested()
            after = _change(conn, name, column, row)
            if after is None:
                savepoint.rollback()
                guarded.add((name, column))
                continue
            report = _report(runtime, conn, kind, owner_id)
            savepoint.rollback()
            checked += 1
            if report.ok or not _names(report, name, column, {_row_name(key), _row_name(after)}):
                unnoticed.append((name, column, [p.item for p in report.problems]))
        assert unnoticed == []
        assert guarded == _GUARDED
        assert checked > 60
        _consent_given_after_the_deliveries(runtime, conn, world)
    finally:
        outer.rollback()
        conn.close()


def _consent_given_after_the_deliveries(runtime: Any, conn: Connection, world: World) -> None:
    """A delivery is lawful only with consent in force when it was accepted, as the recipient's
    consent chain (not the rows) says: here the chain is started again, with one grant after
    every delivery (as if the portal had delivered without consent)."""
    info = dict(runtime.sessions.kw["info"])
    with Session(bind=conn, join_transaction_mode="create_savepoint", info=info) as session:
        party = session.get_one(Party, world.resident_party)
        session.execute(delete(ConsentEntry).where(ConsentEntry.party_id == party.id))
        session.execute(delete(Consent).where(Consent.party_id == party.id))
        party.consent_head_seq, party.consent_head_hash = 0, None
        account = session.scalars(select(Account).where(Account.party_id == party.id)).one()
        give_consent(session, Actor.for_account(account))
        session.flush()
        [chain] = verify_consent_chains(session, [party.id])
        assert chain.ok and not chain.uncovered, chain.problems
        [report] = verify_cases(session, [world.cases[0]], case_rows)
        session.rollback()
    assert [(p.table, p.column) for p in report.problems] == [
        ("deliveries", "recipient_party_id")
    ], report.problems
    assert "no consent in force when it was accepted" in report.problems[0].message


# Through the installed portal: a column of each table, and the issue's own examples (the dates
# that start a legal period, the subject, the title).
_THROUGH_THE_CLI = [
    ("case_files", "title"),
    ("case_parties", "role"),
    ("documents", "title"),
    ("document_versions", "filename"),
    ("blobs", "sha256"),
    ("messages", "subject"),
    ("message_documents", "position"),
    ("deliveries", "available_at"),
    ("deliveries", "opened_at"),
    ("deliveries", "due_date"),
    ("delivery_consents", "given_at"),
    ("parties", "consent_head_seq"),
    ("steps", "status"),
    ("case_authorities", "role"),
    ("fees", "amount_rappen"),
]


def _cli_targets(runtime: Any, world: World) -> list[tuple[str, str, dict[str, Any]]]:
    assert {t for t, _ in _THROUGH_THE_CLI} == {n for n, spec in TABLES.items() if spec.covered}
    with runtime.engine.connect() as conn:
        targets = {(n, c): row for n, c, row in _targets(conn, world)}
    return [(n, c, targets[n, c]) for n, c in _THROUGH_THE_CLI]


def test_changes_are_named_by_the_installed_portal(app, demo, pdf, runtime, tmp_path):
    """Through `portal verify` from another directory: a covered column of each table changed
    (all at once, one run; the test above changes each column alone)."""
    world = build_world(app, demo, pdf, runtime, tmp_path)
    expected = []
    for name, column, row in _cli_targets(runtime, world):
        key = _key(name, row)
        with runtime.engine.connect() as conn:
            kind, owner_id = owner(conn, name, key)
        reference = _reference(runtime, owner_id) if kind == "case" else str(owner_id)
        expected.append((name, column, key, owner_id, reference))
        with runtime.engine.begin() as conn:
            assert _change(conn, name, column, row) is not None
    result = run_verify(runtime, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name, column, key, owner_id, reference in expected:
        failing = [line for line in lines if f"{owner_id}: FAILED" in line]
        assert len(failing) == 1, (name, column, result.stdout)
        assert reference in failing[0] or column == "reference"  # which it then shows changed
        named = [line for line in lines if f"{name} {_row_name(key)}" in line]
        assert any(column in line for line in named), (name, column, result.stdout)


def _reference(runtime: Any, case_id: uuid.UUID) -> str:
    with runtime.sessions() as session:
        return session.get_one(CaseFile, case_id).reference


# What the journal's payloads gained with migration 0009.
_NEW_FIELDS = {
    "case.opened": ("holder", "created_at"),
    "document.added": ("created_at",),
    "delivery.accepted": (
        "body_sha256",
        "sender",
        "created_at",
        "accepted_at",
        "deemed_after_days",
        "reply_allowed",
    ),
    "delivery.withdrawn": ("withdrawn_at",),
    "reply.received": ("subject", "authority", "sender_party", "created_at"),
    "reply.handled": ("handled_at",),
}


class _Writer:
    def __init__(self, entry: JournalEntry) -> None:
        self.kind, self.ref, self.label = entry.actor_kind, entry.actor_id, entry.actor_label


def _as_before_0009(runtime: Any, case_id: uuid.UUID, party_id: uuid.UUID) -> None:
    """Rewrite a case file's journal as the portal wrote it before 0009 (signed again), and
    forget the party's consent chain, as if its consent had been given back then."""
    with runtime.transaction() as session:
        case = session.get_one(CaseFile, case_id)
        previous = "0" * 64
        for entry in session.scalars(
            select(JournalEntry).where(JournalEntry.case_id == case_id).order_by(JournalEntry.seq)
        ):
            old = {
                k: v for k, v in entry.payload.items() if k not in _NEW_FIELDS.get(entry.action, ())
            }
            row = sealed_entry(
                runtime.keyring, case_id, entry.seq, previous, _Writer(entry), entry.action, old
            )
            for column in ("recorded_at", "payload", "prev_hash", "entry_hash", "signature"):
                setattr(entry, column, row[column])
            previous = row["entry_hash"]
        case.head_hash = previous
        session.execute(ConsentEntry.__table__.delete().where(ConsentEntry.party_id == party_id))
        party = session.get_one(Party, party_id)
        party.consent_head_seq, party.consent_head_hash = 0, None


def test_values_from_before_0009_are_not_covered_until_completed(app, demo, pdf, runtime, tmp_path):
    world = build_world(app, demo, pdf, runtime, tmp_path)
    for case_id in world.cases:
        _as_before_0009(runtime, case_id, world.resident_party)
    before = run_verify(runtime, cwd=tmp_path)
    assert before.returncode == 3, before.stdout + before.stderr
    assert "FAILED" not in before.stdout
    assert f"consent chain of party {world.resident_party}: NOT COVERED" in before.stdout
    assert any(
        line.startswith("  - deliveries ")
        and "accepted_at" in line
        and "not covered (written before 0009" in line
        for line in before.stdout.splitlines()
    ), before.stdout

    env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
    done = subprocess.run(
        [portal_executable(), "journal", "complete"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    completed = f"1 consent chain(s) started, {len(world.cases)} case file(s) completed"
    assert completed in done.stdout
    after = run_verify(runtime, cwd=tmp_path)
    assert after.returncode == 0, after.stdout
    assert "NOT COVERED" not in after.stdout
    with runtime.sessions() as session:
        last = session.scalars(
            select(JournalEntry.action)
            .where(JournalEntry.case_id == world.cases[0])
            .order_by(JournalEntry.seq.desc())
        ).first()
    assert last == "record.completed"

    # What the completion recorded is covered like the rest from now on.
    deliveries = table("deliveries")
    with runtime.engine.begin() as conn:
        conn.execute(update(deliveries).values(accepted_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
    tampered = run_verify(runtime, cwd=tmp_path)
    assert tampered.returncode == 1
    assert "accepted_at: the row has" in tampered.stdout and "record.completed" in tampered.stdout
