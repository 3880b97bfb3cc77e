"""Checking that a case file proves its own history: chain, signatures, stored bytes."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.journal import GENESIS, compute_hash, entries, keyring_of
from casefiles.models import CaseFile, Document, DocumentVersion
from signing import verify as verify_signature
from storage.blobs import objects_of
from storage.encryption import TamperedObject


@dataclass
class Problem:
    item: str
    message: str


@dataclass
class CaseReport:
    case_id: uuid.UUID
    reference: str
    entries: int = 0
    documents: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_case(session: Session, case: CaseFile) -> CaseReport:
    """Check one case file's journal and every stored document version."""
    report = CaseReport(case_id=case.id, reference=case.reference)
    recorded_digests = _check_journal(session, case, report)
    _check_documents(session, case, report, recorded_digests)
    return report


def _check_journal(session: Session, case: CaseFile, report: CaseReport) -> dict[str, str]:
    keyring = keyring_of(session)
    journal = entries(session, case)
    report.entries = len(journal)
    previous = GENESIS
    digests: dict[str, str] = {}
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
            digests[str(entry.payload.get("version_id"))] = str(entry.payload.get("sha256"))
    if case.head_seq != len(journal) or (journal and case.head_hash != journal[-1].entry_hash):
        report.problems.append(
            Problem(
                "journal head",
                f"the case file records {case.head_seq} entries, "
                f"{len(journal)} are present (entries removed or added)",
            )
        )
    return digests


def _check_documents(
    session: Session, case: CaseFile, report: CaseReport, recorded: dict[str, str]
) -> None:
    objects = objects_of(session)
    versions = session.scalars(
        select(DocumentVersion).join(Document).where(Document.case_id == case.id)
    ).all()
    report.documents = len(versions)
    for version in versions:
        item = f"document {version.filename} (version {version.number}, {version.id})"
        blob = version.blob
        journal_digest = recorded.get(str(version.id))
        if journal_digest is None:
            report.problems.append(Problem(item, "no journal entry records this document"))
        elif journal_digest != blob.sha256:
            report.problems.append(Problem(item, "digest differs from the one in the journal"))
        try:
            size, digest = objects.digest(blob.key, blob.wrapped_key)
        except FileNotFoundError:
            report.problems.append(Problem(item, f"stored object {blob.key} is missing"))
            continue
        except TamperedObject as exc:
            report.problems.append(Problem(item, f"stored object {blob.key} is altered: {exc}"))
            continue
        if digest != blob.sha256 or size != blob.size:
            report.problems.append(Problem(item, "stored bytes do not match the recorded digest"))


def verify_cases(session: Session, case_ids: list[uuid.UUID] | None = None) -> Iterator[CaseReport]:
    """Reports for the given case files, or for all of them (an operator's check)."""
    stmt = select(CaseFile.id).order_by(CaseFile.created_at)
    if case_ids:
        stmt = stmt.where(CaseFile.id.in_(case_ids))
    # Ids first, one case at a time: the check streams objects and must not hold all rows.
    for case_id in session.scalars(stmt).all():
        case = session.get_one(CaseFile, case_id)
        yield verify_case(session, case)
        session.expunge_all()
