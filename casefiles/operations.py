"""Opening case files, adding documents, and reading them as an actor may."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import Session, selectinload

from casefiles.documents import CheckedFile
from casefiles.errors import InvalidInput, NotFound
from casefiles.journal import record
from casefiles.lifecycle import ensure_open
from casefiles.models import (
    CaseAuthority,
    CaseFile,
    CaseParty,
    CaseStatus,
    Document,
    DocumentVersion,
)
from directory.actors import Actor
from directory.models import Authority, Party, Role
from storage.blobs import store_blob
from storage.db import utcnow

# Crockford base32 without look-alikes: references are read out on the phone.
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_reference() -> str:
    code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"D-{code[:4]}-{code[4:]}"


def new_case(
    *, title: str, authority: Authority, holder: Party, external_ref: str | None
) -> dict[str, Any]:
    """The checked column values of a new case file, before its journal."""
    title = title.strip()
    if not title:
        raise InvalidInput("subject", "A subject is required.")
    return {
        "id": uuid.uuid4(),
        "reference": new_reference(),
        "title": title[:300],
        "authority_id": authority.id,
        "party_id": holder.id,
        "external_ref": (external_ref or "").strip()[:100] or None,
        "created_at": utcnow(),
    }


def case_opened(
    case: dict[str, Any], authority: Authority, parties: Sequence[tuple[Party, str]]
) -> tuple[str, dict[str, Any]]:
    """The journal entry (action, payload) that opens the case file `case` (its values);
    every column of the row is in it (mailbox/projection.py)."""
    return "case.opened", {
        "reference": case["reference"],
        "title": case["title"],
        "authority": {"id": str(authority.id), "name": authority.name},
        "external_ref": case["external_ref"],
        "parties": [{"id": str(p.id), "name": p.display_name, "role": role} for p, role in parties],
        "holder": str(case["party_id"]),
        "created_at": case["created_at"].isoformat(),
    }


def open_case(
    session: Session,
    actor: Actor,
    *,
    title: str,
    authority: Authority,
    parties: Sequence[tuple[Party, str]],
    external_ref: str | None = None,
) -> CaseFile:
    """Open a case file for an authority with its parties (party, role), journalled.

    The first party is the holder: the one resident or organisation the case file is about.
    """
    if not parties:
        raise InvalidInput("recipient", "Choose a recipient.")
    holder = parties[0][0]
    values = new_case(title=title, authority=authority, holder=holder, external_ref=external_ref)
    case = CaseFile(**values)
    case.authority = authority
    case.parties = [CaseParty(party_id=p.id, party=p, role=role) for p, role in parties]
    session.add(case)
    session.flush()
    record(session, case, actor, *case_opened(values, authority, parties))
    return case


def new_document(
    case_id: uuid.UUID,
    actor: Actor,
    file: CheckedFile,
    blob_id: uuid.UUID,
    *,
    title: str | None = None,
    signatures: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The column values of a new document and of its first version, for a stored blob."""
    now = utcnow()
    document = {
        "id": uuid.uuid4(),
        "case_id": case_id,
        "title": (title or file.filename)[:300],
        "created_at": now,
        "created_by": actor.label,
    }
    version = {
        "id": uuid.uuid4(),
        "document_id": document["id"],
        "number": 1,
        "blob_id": blob_id,
        "filename": file.filename,
        "media_type": file.media_type,
        "created_at": now,
        "signatures": signatures,
    }
    return document, version


def document_added(
    document: dict[str, Any], version: dict[str, Any], size: int, sha256: str
) -> tuple[str, dict[str, Any]]:
    """The journal entry (action, payload) that records a new document version."""
    return "document.added", {
        "document_id": str(document["id"]),
        "version_id": str(version["id"]),
        "version": version["number"],
        "title": document["title"],
        "filename": version["filename"],
        "media_type": version["media_type"],
        "size": size,
        "sha256": sha256,
        "signatures": version["signatures"],
        "created_at": version["created_at"].isoformat(),
    }


def add_document(
    session: Session,
    actor: Actor,
    case: CaseFile,
    file: CheckedFile,
    *,
    title: str | None = None,
    signatures: list[dict[str, Any]] | None = None,
) -> DocumentVersion:
    """Store a checked file encrypted and add it to the case file as a new document."""
    ensure_open(case)  # a closed case file is read-only (issue 10)
    blob = store_blob(session, file.spool, group=case.id)  # under the case file's key
    doc_values, version_values = new_document(
        case.id, actor, file, blob.id, title=title, signatures=signatures
    )
    document = Document(**doc_values)
    version = DocumentVersion(**version_values, blob=blob)
    document.versions.append(version)
    session.add(document)
    session.flush()
    record(
        session, case, actor, *document_added(doc_values, version_values, blob.size, blob.sha256)
    )
    return version


def visible_cases(actor: Actor) -> Select[CaseFile]:
    """The case files this actor may see, as a query to refine."""
    stmt = select(CaseFile)
    if actor.role == Role.RESIDENT:
        # The holder only: a resident who was once added as a further party (before case files
        # had one holder) still reads their own letters through the inbox, not the dossier.
        return stmt.where(CaseFile.party_id == actor.party_id)
    if actor.role in (Role.CLERK, Role.API_CLIENT):
        # The lead authority, and every authority taking part (a step of an ordered service).
        taking_part = select(CaseAuthority.case_id).where(
            CaseAuthority.authority_id == actor.authority_id
        )
        return stmt.where(
            or_(CaseFile.authority_id == actor.authority_id, CaseFile.id.in_(taking_part))
        )
    if actor.role == Role.ARCHIVIST:
        # Closed case files only: open ones are their authorities' business (issue 10).
        return stmt.where(CaseFile.status.in_((CaseStatus.CLOSED, CaseStatus.TRANSFERRED)))
    return stmt.where(false())


def list_cases(session: Session, actor: Actor, limit: int = 200) -> list[CaseFile]:
    """The actor's case files, newest first."""
    stmt = (
        visible_cases(actor)
        .options(selectinload(CaseFile.authority))
        .order_by(CaseFile.created_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def get_case(session: Session, actor: Actor, case_id: uuid.UUID) -> CaseFile:
    """One case file, if the actor may see it."""
    stmt = (
        visible_cases(actor)
        .where(CaseFile.id == case_id)
        .options(
            selectinload(CaseFile.parties).selectinload(CaseParty.party),
            selectinload(CaseFile.documents).selectinload(Document.versions),
        )
    )
    case = session.scalar(stmt)
    if case is None:
        raise NotFound("case file")
    return case


def get_version(session: Session, actor: Actor, version_id: uuid.UUID) -> DocumentVersion:
    """A document version within a case file the actor may see."""
    version = session.get(DocumentVersion, version_id)
    if version is None:
        raise NotFound("document")
    get_case(session, actor, version.document.case_id)
    return version


def get_document(session: Session, actor: Actor, document_id: uuid.UUID) -> Document:
    """A document within a case file the actor may see."""
    document = session.get(Document, document_id)
    if document is None:
        raise NotFound("document")
    get_case(session, actor, document.case_id)
    return document
