"""`portal verify`'s check of the rows against their records (the mapping: mailbox/projection.py),
the consent chains, and `portal journal complete` for what was written before migration 0009."""

from __future__ import annotations

import datetime as dt
import operator
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table as SqlTable
from sqlalchemy import and_, inspect, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import FromClause

from casefiles.batch_read import IdBatch, among, as_text, driver_columns, fetch_all, row_dicts
from casefiles.journal import entries, keyring_of, record
from casefiles.models import CaseFile, CaseParty, Document, DocumentVersion, JournalEntry
from casefiles.projection import (
    NOT_RECORDED,
    Comparison,
    Covered,
    Expected,
    Key,
    RowKey,
    as_record,
    normal,
)
from casefiles.verify import CaseReport, Findings, Problem, RowCheck, verify_case
from directory.actors import Actor
from directory.consent_chain import OWNER
from directory.models import Consent, ConsentEntry, Party
from mailbox.derive import COMPLETED, derive_case, derive_consents
from mailbox.models import Delivery, Message, MessageDocument
from mailbox.projection import CASE_TABLES, TABLES
from signing.chain import link_problems
from storage.db import Base

Rows = dict[str, dict[RowKey, Mapping[str, Any]]]  # table → key → the row's columns
_BATCH = 1000  # parties whose chains are read together
_COMPLETED_REASON = (
    "values the journal did not hold before migration 0009, as the rows held them when this "
    "entry was written"
)


_MODELS = (
    CaseFile,
    CaseParty,
    Document,
    DocumentVersion,
    Message,
    MessageDocument,
    Delivery,
    Consent,
)
_SQL_TABLES = {t.name: t for t in (cast(SqlTable, m.__table__) for m in _MODELS)}
_CONSENT_ENTRIES = cast(SqlTable, ConsentEntry.__table__)


# The case files' tables that the journal says something about: a table whose columns are all
# outside the record has no row the journal could name (no key), so nothing to compare.
_COMPARED = tuple(name for name in CASE_TABLES if TABLES[name].key)


def _table(name: str) -> SqlTable:
    found = _SQL_TABLES.get(name)
    if found is None:
        # The tables of packages above mailbox (catalogue's steps): by name from the metadata,
        # without importing them (app/models.py has registered every model).
        found = _SQL_TABLES[name] = Base.metadata.tables[name]
    return found


def _key(name: str, row: Mapping[str, Any]) -> RowKey:
    return tuple(str(row[k]) for k in TABLES[name].key)


def _key_function(name: str) -> Callable[[Mapping[str, Any]], RowKey]:
    """`_key` for the rows of one table, without looking up its key columns for each row."""
    names = TABLES[name].key
    if len(names) == 1:
        (only,) = names
        return lambda row: (str(row[only]),)
    columns = operator.itemgetter(*names)
    return lambda row: tuple(map(str, columns(row)))


def _case_column(name: str) -> tuple[Any, FromClause]:
    """The column that says which case file a row of `name` belongs to, and the join to it."""
    table, documents, messages = _table(name), _table("documents"), _table("messages")
    if name == "case_files":
        return table.c.id, table
    if name == "document_versions":
        return documents.c.case_id, table.join(documents)
    if name in ("message_documents", "deliveries"):
        return messages.c.case_id, table.join(messages, table.c.message_id == messages.c.id)
    return table.c.case_id, table


def load_case_rows(
    session: Session, case_ids: Sequence[uuid.UUID], tables: Sequence[str] = CASE_TABLES
) -> dict[str, Rows]:
    """The rows of these case files (by their ids as text), table by table: one query per
    table."""
    found: dict[str, Rows] = defaultdict(lambda: defaultdict(dict))
    for name in tables:
        column, joined = _case_column(name)
        columns = driver_columns(session, _table(name))
        stmt = select(*columns, as_text(session, column).label("_case")).select_from(joined)
        key = _key_function(name)
        for row in row_dicts(session, stmt.where(among(session, column, case_ids))):
            found[str(row["_case"])][name][key(row)] = row
    return found


def _lookup(session: Session) -> Any:
    def lookup(name: str, key: RowKey) -> Mapping[str, Any] | None:
        """A row by its key wherever it is (rare: only for a row missing from its record)."""
        table = _table(name)
        try:
            where = [table.c[k] == uuid.UUID(v) for k, v in zip(TABLES[name].key, key, strict=True)]
        except ValueError:
            return None
        row = session.execute(select(table).where(and_(*where))).mappings().first()
        return dict(row) if row is not None else None

    return lookup


def case_rows(session: Session, case_ids: Sequence[uuid.UUID]) -> RowCheck:
    """The projection for casefiles.verify: load the rows of a batch of case files, and check
    each one against its journal."""
    # The case files' own rows are read by casefiles.verify with their journals and handed to
    # `check`: not read twice.
    actual = load_case_rows(session, case_ids, [n for n in _COMPARED if n != "case_files"])
    lookup = _lookup(session)
    recipients = {
        row["recipient_party_id"]
        for rows in actual.values()
        for row in rows.get("deliveries", {}).values()
    }
    consents = _consents_in_chains(session, recipients)

    def check(case: CaseFile, journal: Sequence[JournalEntry]) -> Findings:
        expected = derive_case(case.id, journal)
        comparison = Comparison(TABLES, lookup, "journal")
        rows = actual.get(str(case.id), {})
        own: dict[RowKey, Mapping[str, Any]] = {(str(case.id),): _case_row(case)}
        for name in _COMPARED:
            comparison.table(name, expected, own if name == "case_files" else rows.get(name, {}))
        _check_consent(expected, consents, comparison)
        return comparison.findings()

    return check


def _case_row(case: CaseFile) -> Mapping[str, Any]:
    """The case file's row, column by column: casefiles.verify hands over a Core row (read
    with its batch), `complete_case` an ORM object."""
    mapping = getattr(case, "_mapping", None)
    if mapping is not None:
        return cast(Mapping[str, Any], mapping)
    return {a.columns[0].name: getattr(case, a.key) for a in inspect(case).mapper.column_attrs}


Spans = list[tuple[dt.datetime, dt.datetime | None]]


def _consents_in_chains(session: Session, party_ids: Collection[uuid.UUID]) -> dict[str, Spans]:
    """When each party consented, as its consent chain says (parties without one: absent)."""
    chains = _chains(session, party_ids)
    spans = {}
    for party_id, chain in chains.items():
        rows = derive_consents(party_id, chain).tables.get("delivery_consents", {}).values()
        spans[party_id] = [
            (
                normal("time", r["given_at"], from_row=False),
                normal("time", r["revoked_at"], from_row=False),
            )
            for r in rows
        ]
    return spans


def _check_consent(expected: Expected, consents: Mapping[str, Spans], out: Comparison) -> None:
    """A delivery is lawful only with the recipient's consent in force when it was accepted
    (as the recipient's consent chain records it, not as the rows say)."""
    for key, values in expected.tables.get("deliveries", {}).items():
        accepted = values["accepted_at"]
        if accepted is NOT_RECORDED:
            continue  # reported as not covered already
        recipient = values["recipient_party_id"]
        item = f"deliveries {'/'.join(key)} recipient_party_id"
        where = ("deliveries", "/".join(key), "recipient_party_id")
        spans = consents.get(recipient)
        if spans is None:
            message = "the recipient's consent is not covered (no consent chain yet)"
            out.uncovered.append(Problem(item, message, *where))
            continue
        at = normal("time", accepted, from_row=False)
        if not any(given <= at and (revoked is None or at < revoked) for given, revoked in spans):
            message = "the recipient's consent chain shows no consent in force when it was accepted"
            out.problems.append(Problem(item, message, *where))


@dataclass
class ChainReport:
    """What `portal verify` found in one party's consent chain and its consent rows."""

    party_id: uuid.UUID
    entries: int = 0
    problems: list[Problem] = field(default_factory=list)
    uncovered: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def consent_parties(session: Session, case_ids: Collection[uuid.UUID] | None) -> list[uuid.UUID]:
    """Whose consent chains to check: the holders of these case files, or every party with a
    chain or a consent."""
    if case_ids:
        column = CaseFile.party_id
        stmt = select(column).where(CaseFile.id.in_(case_ids)).distinct()
    else:
        column = Party.id
        stmt = select(column).where(
            or_(Party.consent_head_seq > 0, Party.id.in_(select(Consent.party_id)))
        )
    # Sorted by the database (the order of their bytes, as Python orders UUIDs): comparing
    # UUID objects in Python is slow enough to show in `portal verify`.
    return list(session.scalars(stmt.order_by(column)))


def verify_consent_chains(
    session: Session, party_ids: Sequence[uuid.UUID]
) -> Iterator[ChainReport]:
    """Check each party's consent chain (links, hashes, signatures, head) and its consent rows
    against it; a few queries per batch of parties."""
    consents = _table("delivery_consents")
    for start in range(0, len(party_ids), _BATCH):
        batch = IdBatch(party_ids[start : start + _BATCH])
        heads = {
            p: (seq, head)
            for p, seq, head in session.execute(
                select(Party.id, Party.consent_head_seq, Party.consent_head_hash).where(
                    among(session, Party.id, batch)
                )
            )
        }
        chains = _chains(session, batch)
        rows: dict[str, dict[RowKey, Mapping[str, Any]]] = defaultdict(dict)
        stmt_rows = select(*driver_columns(session, consents)).where(
            among(session, consents.c.party_id, batch)
        )
        for row in row_dicts(session, stmt_rows):
            rows[row["party_id"]][_key("delivery_consents", row)] = row
        for party_id in batch:
            chain = chains.get(str(party_id), [])
            yield _check_chain(session, party_id, heads.get(party_id), chain, rows)


def _chains(
    session: Session, party_ids: Collection[uuid.UUID] | Collection[str]
) -> dict[str, list[Any]]:
    """The consent chains of these parties by their ids as text, each in order of seq (Core
    rows, read once, by column name, like ConsentEntry objects but without building them;
    UUIDs as text, `driver_columns`)."""
    table = _CONSENT_ENTRIES
    stmt = (
        select(*driver_columns(session, table, typed=True))
        .where(among(session, table.c.party_id, party_ids))
        .order_by(table.c.party_id, table.c.seq)
    )
    chains: dict[str, list[Any]] = defaultdict(list)
    for entry in fetch_all(session, stmt):
        chains[entry.party_id].append(entry)
    return chains


def _check_chain(
    session: Session,
    party_id: uuid.UUID,
    head: tuple[int, str | None] | None,
    chain: Sequence[Any],
    rows: Mapping[str, dict[RowKey, Mapping[str, Any]]],
) -> ChainReport:
    report = ChainReport(party_id, entries=len(chain))
    linked = [e._mapping for e in chain]
    for row, message in link_problems(OWNER, linked, keyring_of(session).certificate):
        report.problems.append(Problem(f"consent entry {row['seq']} ({row['action']})", message))
    seq, head_hash = head or (0, None)
    last = chain[-1].entry_hash if chain else None
    for column, ok in (
        ("consent_head_seq", seq == len(chain)),
        ("consent_head_hash", head_hash == last),
    ):
        if not ok:
            message = (
                f"the party's chain head is not its last entry ({len(chain)} present) "
                f"(parties {party_id} {column})"
            )
            report.problems.append(
                Problem("consent head", message, "parties", str(party_id), column)
            )
            break
    actual = rows.get(str(party_id), {})
    if not chain:
        for key in actual:  # consents from before the chains: nothing to compare them with
            row_name = "/".join(key)
            report.uncovered.append(
                Problem(
                    f"delivery_consents {row_name} id",
                    "not covered (given before 0009, the party has no consent chain yet; "
                    "`portal journal complete` starts it)",
                    "delivery_consents",
                    row_name,
                    "id",
                )
            )
        return report
    comparison = Comparison(TABLES, _lookup(session), "consent chain")
    comparison.table("delivery_consents", derive_consents(party_id, chain), actual)
    report.problems += comparison.problems
    report.uncovered += comparison.uncovered
    return report


def complete_case(session: Session, case: CaseFile) -> tuple[CaseReport, bool]:
    """Record what the case file's journal lacks (written before 0009) as one signed
    `record.completed` entry, from the rows as they are; not for a case file that fails
    verification. Its report before, and whether an entry was written."""
    report = verify_case(session, case, case_rows(session, [case.id]))
    if report.problems or not report.uncovered:
        return report, False
    expected = derive_case(case.id, entries(session, case))
    actual = load_case_rows(session, [case.id]).get(str(case.id), {})
    wanted: dict[tuple[str, RowKey], list[str]] = defaultdict(list)
    for table, key, column in expected.missing():
        wanted[table, key].append(column)
    completed = []
    for (table, key), names in wanted.items():
        row = actual.get(table, {}).get(key)
        if row is None:
            continue
        kinds = TABLES[table].columns
        values = {name: as_record(_compare(kinds[name]), row[name]) for name in names}
        completed.append({"table": table, "key": list(key), "values": values})
    payload = {"reason": _COMPLETED_REASON, "rows": completed}
    record(session, case, Actor.system(), COMPLETED, payload)
    return report, True


def _compare(column: object) -> str:
    assert isinstance(column, Covered | Key)
    return column.compare
