"""What an export takes from the portal for one case file: its metadata (`case.json`), the
document versions with their stored objects, and the anchor's proof of its head."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from casefiles.errors import NotFound
from casefiles.export import ExportError
from casefiles.export.format import DOCUMENTS
from casefiles.models import CaseFile, Document, DocumentVersion, JournalEntry
from storage.blobs import Blob


@dataclass(frozen=True)
class VersionFile:
    path: str  # relative to the case file's folder
    blob: Blob
    media_type: str
    version_id: uuid.UUID


@dataclass(frozen=True)
class CaseExport:
    case_id: uuid.UUID
    reference: str
    case_json: dict[str, Any]
    files: list[VersionFile]
    anchor: dict[str, Any] | None


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_filename(name: str) -> str:
    """A stored file name made safe for a path (docs/export-format.md §2): separators, control
    characters and leading dots become `_`, at most 120 characters are kept."""
    safe = _UNSAFE.sub("_", name)
    stripped = safe.lstrip(".")
    safe = "_" * (len(safe) - len(stripped)) + stripped
    return safe[:120] or "_"


def load_case(session: Session, case_id: uuid.UUID) -> CaseFile:
    case = session.get(CaseFile, case_id)
    if case is not None:
        return case
    record = _destroyed(session, case_id)
    if record is not None:
        raise ExportError(f"case file {case_id} was destroyed; only its destruction record is left")
    raise ExportError(f"no case file {case_id}")


def _destroyed(session: Session, case_id: uuid.UUID) -> Any:
    # casefiles.destruction arrives with the key-per-case-file work; without it nothing is
    # destroyed yet.
    try:
        from casefiles.destruction import destroyed
    except ImportError:
        return None
    return destroyed(session, case_id)


def collect_case(session: Session, case: CaseFile) -> CaseExport:
    versions = list(
        session.scalars(
            select(DocumentVersion)
            .join(Document, Document.id == DocumentVersion.document_id)
            .where(Document.case_id == case.id)
            .order_by(Document.created_at, Document.id, DocumentVersion.number)
            # Two queries for all versions, not two per version (1,000 documents: 2,000 queries).
            .options(selectinload(DocumentVersion.document), selectinload(DocumentVersion.blob))
        )
    )
    receipts = _receipt_documents(session, case.id)
    files, documents = [], []
    for version in versions:
        document = version.document
        path = f"{DOCUMENTS}/{version.id}/{safe_filename(version.filename)}"
        files.append(VersionFile(path, version.blob, version.media_type, version.id))
        documents.append(
            {
                "document_id": str(document.id),
                "version_id": str(version.id),
                "version": version.number,
                "title": document.title,
                "filename": version.filename,
                "media_type": version.media_type,
                "size": version.blob.size,
                "sha256": version.blob.sha256,
                "created_at": version.created_at.isoformat(),
                "path": path,
                "receipt": str(document.id) in receipts,
            }
        )
    last = session.scalar(
        select(JournalEntry.recorded_at).where(
            JournalEntry.case_id == case.id, JournalEntry.seq == case.head_seq
        )
    )
    case_json = {
        "case_id": str(case.id),
        "reference": case.reference,
        "title": case.title,
        "authority": {"id": str(case.authority_id), "name": case.authority.name},
        "holder": {"id": str(case.party_id), "name": case.holder.display_name},
        "case_type": case.case_type,
        "case_type_version": case.case_type_version,
        "status": case.status.value,
        "created_at": case.created_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "retention_until": case.retention_until.isoformat() if case.retention_until else None,
        "disposition": case.disposition,
        "head": {"seq": case.head_seq, "hash": case.head_hash},
        "last_entry_at": last.isoformat() if last else None,
        "documents": documents,
    }
    return CaseExport(case.id, case.reference, case_json, files, _anchor(session, case))


def _receipt_documents(session: Session, case_id: uuid.UUID) -> set[str]:
    """The documents that are delivery receipts: the sealed PDF and its signed JSON."""
    payloads = session.scalars(
        select(JournalEntry.payload).where(
            JournalEntry.case_id == case_id, JournalEntry.action == "receipt.issued"
        )
    )
    found: set[str] = set()
    for payload in payloads:
        found.update(str(payload.get(k)) for k in ("pdf_document_id", "json_document_id"))
    return found


def _anchor(session: Session, case: CaseFile) -> dict[str, Any] | None:
    """The latest anchor's proof when it holds the case file's current head; else none."""
    from casefiles.anchor_proofs import inclusion_proof

    try:
        proof = inclusion_proof(session, case.id)
    except NotFound:
        return None
    if (proof["head_seq"], proof["head_hash"]) != (case.head_seq, case.head_hash):
        return None  # an older head: the journal since then is not anchored yet
    return proof
