"""Checking that a case file proves its own history: chain, signatures, stored bytes, and (with
a projection, mailbox/projection.py) that its rows are what its journal says."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session, joinedload

from casefiles.journal import GENESIS, compute_hash, entries, keyring_of
from casefiles.models import CaseFile, Document, DocumentVersion, JournalEntry
from signing import verify as verify_signature
from storage.blobs import objects_of
from storage.encryption import TamperedObject


@dataclass
class Problem:
    item: str
    message: str
    # For a row that differs from its record: the table, the row's key and the column.
    table: str | None = None
    row: str | None = None
    column: str | None = None


@dataclass
class CaseReport:
    case_id: uuid.UUID
    reference: str
    entries: int = 0
    documents: int = 0
    problems: list[Problem] = field(default_factory=list)
    # Values of the rows that the journal does not hold (written before migration 0009): not a
    # fault found, but not proven either, until `portal journal complete` records them.
    uncovered: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# What a projection finds for one case file: rows that differ from the journal, and values the
# journal does not hold. A projection prepares the rows of a batch of case files at once and
# returns the check for each of them.
Findings = tuple[list[Problem], list[Problem]]
RowCheck = Callable[[CaseFile, Sequence[JournalEntry]], Findings]
Projection = Callable[[Session, Sequence[uuid.UUID]], RowCheck]
_BATCH = 200  # case files whose rows a projection loads together


def verify_case(
    session: Session,
    case: CaseFile,
    rows: RowCheck | None = None,
    loaded: tuple[list[JournalEntry], list[DocumentVersion]] | None = None,
) -> CaseReport:
    """Check one case file's journal and every stored document version (and, given `rows`,
    every row against its journal). `loaded`: its journal and versions, when the caller read
    them for a batch of case files (verify_cases), else they are read here."""
    report = CaseReport(case_id=case.id, reference=case.reference)
    journal, versions = loaded if loaded is not None else (entries(session, case), None)
    recorded_digests = _check_journal(session, case, journal, report)
    _check_documents(session, case, report, recorded_digests, versions)
    if rows is not None:
        problems, uncovered = rows(case, journal)
        report.problems += problems
        report.uncovered += uncovered
    return report


def _check_journal(
    session: Session, case: CaseFile, journal: list[JournalEntry], report: CaseReport
) -> dict[str, tuple[str, int | None]]:
    keyring = keyring_of(session)
    report.entries = len(journal)
    previous = GENESIS
    digests: dict[str, tuple[str, int | None]] = {}
    for expected_seq, entry in enumerate(journal, start=1):
        item = f"journal entry {entry.seq} ({entry.action})"
        if entry.seq != expected_seq:
            report.problems.append(
                Problem(item, f"sequence gap: expected entry {expected_seq}, found {entry.seq}")
            )
        if entry.prev_hash != previous:
            report.problems.append(Problem(item, "does not follow the previous entry's hash"))
        if not hmac.compare_digest(compute_hash(entry), entry.entry_hash):
            report.problems.append(Problem(item, "content does not match its hash (altered)"))
        try:
            cert = keyring.certificate(entry.key_id)
            signed = verify_signature(cert, bytes.fromhex(entry.entry_hash), entry.signature)
        except (KeyError, ValueError):
            signed = False
        if not signed:
            report.problems.append(Problem(item, "signature is not valid"))
        previous = entry.entry_hash
        if entry.action == "document.added":
            payload = entry.payload
            digests[str(payload.get("version_id"))] = (
                str(payload.get("sha256")),
                payload.get("size"),
            )
    if case.head_seq != len(journal):
        report.problems.append(
            Problem(
                "journal head",
                f"the case file records {case.head_seq} entries, "
                f"{len(journal)} are present (entries removed or added) "
                f"(case_files {case.id} head_seq)",
                "case_files",
                str(case.id),
                "head_seq",
            )
        )
    elif journal and case.head_hash != journal[-1].entry_hash:
        report.problems.append(
            Problem(
                "journal head",
                f"the case file's head is not its last entry's hash (case_files {case.id} "
                "head_hash)",
                "case_files",
                str(case.id),
                "head_hash",
            )
        )
    return digests


def _check_documents(
    session: Session,
    case: CaseFile,
    report: CaseReport,
    recorded: dict[str, tuple[str, int | None]],
    versions: Sequence[DocumentVersion] | None = None,
) -> None:
    objects = objects_of(session)
    if versions is None:
        versions = session.scalars(
            select(DocumentVersion)
            .join(Document)
            .where(Document.case_id == case.id)
            .options(joinedload(DocumentVersion.blob))
        ).all()
    report.documents = len(versions)
    for version in versions:
        item = f"document {version.filename} (version {version.number}, {version.id})"
        blob = version.blob
        try:
            stored: tuple[int, str] | None = objects.digest(blob.key, blob.wrapped_key)
        except FileNotFoundError:
            report.problems.append(Problem(item, f"stored object {blob.key} is missing"))
            stored = None
        except TamperedObject as exc:
            report.problems.append(Problem(item, f"stored object {blob.key} is altered: {exc}"))
            stored = None
        journal = recorded.get(str(version.id))
        if journal is None:
            report.problems.append(
                Problem(
                    item,
                    "no journal entry records this document",
                    "document_versions",
                    str(version.id),
                    "id",
                )
            )
        else:
            report.problems += _blob_problems(item, version, stored, journal)
        if stored is not None and stored != (blob.size, blob.sha256):
            report.problems.append(Problem(item, "stored bytes do not match the recorded digest"))


def _blob_problems(
    item: str,
    version: DocumentVersion,
    stored: tuple[int, str] | None,
    journal: tuple[str, int | None],
) -> list[Problem]:
    """The version's blob row against the digest and size its `document.added` entry holds.

    A blob row that agrees with its own stored bytes but not with the journal is another
    document's: then the version's `blob_id` was changed, not the blob.
    """
    blob = version.blob
    problems = []
    checks = (
        ("sha256", "digest", journal[0], blob.sha256),
        ("size", "size", journal[1], blob.size),
    )
    for column, name, recorded, actual in checks:
        if recorded == actual:
            continue
        if stored == (blob.size, blob.sha256):
            where = ("document_versions", str(version.id), "blob_id")
            message = f"points to another stored object: its {name} differs from the journal's"
        else:
            where = ("blobs", str(blob.id), column)
            message = f"the {name} differs from the one in the journal"
        problems.append(Problem(item, f"{message} ({' '.join(where)})", *where))
    return problems


def verify_cases(
    session: Session,
    case_ids: list[uuid.UUID] | None = None,
    projection: Projection | None = None,
) -> Iterator[CaseReport]:
    """Reports for the given case files, or for all of them (an operator's check); with a
    projection, their rows are checked against their journals too."""
    stmt = select(CaseFile.id).order_by(CaseFile.created_at)
    if case_ids:
        stmt = stmt.where(CaseFile.id.in_(case_ids))
    # Ids first, then a batch of case files at a time: the check streams objects and must not
    # hold all rows, but a few queries per case file cost more than the checks themselves (the
    # round trips dominated `portal verify`, issue #8). So the case files, their journals and
    # their versions are read per batch, as the projection reads its rows.
    all_ids = session.scalars(stmt).all()
    for start in range(0, len(all_ids), _BATCH):
        batch = all_ids[start : start + _BATCH]
        rows = projection(session, batch) if projection is not None else None
        cases = {c.id: c for c in session.scalars(select(CaseFile).where(CaseFile.id.in_(batch)))}
        # Core rows, not ORM objects: the checks and the projection (mailbox/derive.py) read
        # only the columns, by name, and building thousands of tracked objects was a good part
        # of the time. They stand in for JournalEntry, hence the cast.
        journals: dict[uuid.UUID, list[JournalEntry]] = {case_id: [] for case_id in batch}
        journal_table = cast(Table, JournalEntry.__table__)
        stmt_journal = (
            select(journal_table)
            .where(journal_table.c.case_id.in_(batch))
            .order_by(journal_table.c.case_id, journal_table.c.seq)
        )
        for entry in session.execute(stmt_journal):
            journals[entry.case_id].append(cast(JournalEntry, entry))
        versions: dict[uuid.UUID, list[DocumentVersion]] = {case_id: [] for case_id in batch}
        stmt_versions = (
            select(DocumentVersion, Document.case_id)
            .join(Document)
            .where(Document.case_id.in_(batch))
            .options(joinedload(DocumentVersion.blob))
        )
        for version, case_id in session.execute(stmt_versions):
            versions[case_id].append(version)
        for case_id in batch:
            case = cases.get(case_id)
            if case is None:  # deleted since the ids were read
                continue
            yield verify_case(session, case, rows, (journals[case_id], versions[case_id]))
        session.expunge_all()
