"""The floors of bench/export.py: what `portal export` and `portal verify PATH` are measured
against, in the bench's own process, with nothing of the portal's exporter or checker."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.runtime import Runtime
from casefiles.models import Document, DocumentVersion, JournalEntry
from storage.blobs import read_blob


def compression_of(package: Path) -> int:
    """The compression the export gave its documents (the most common among large members)."""
    with zipfile.ZipFile(package) as archive:
        kinds = [i.compress_type for i in archive.infolist() if i.file_size >= 64 * 1024]
    return max(set(kinds), key=kinds.count) if kinds else zipfile.ZIP_STORED


def export_floor(runtime: Runtime, case_id: uuid.UUID, target: Path, compression: int) -> float:
    """Seconds to read every version's object through the store (decrypting) and write it into
    a zip with plain zipfile; nothing of the exporter."""
    target.unlink(missing_ok=True)
    os.sync()  # as before each command (_timed)
    started = time.perf_counter()
    with runtime.sessions() as session:
        versions = session.scalars(
            select(DocumentVersion)
            .join(Document)
            .where(Document.case_id == case_id)
            .options(selectinload(DocumentVersion.blob))
        ).all()
        with target.open("wb") as raw, zipfile.ZipFile(raw, "w", compression) as archive:
            for version in versions:
                name = f"floor/documents/{version.id}/{version.filename}"
                with archive.open(name, "w", force_zip64=True) as member:
                    for chunk in read_blob(session, version.blob):
                        member.write(chunk)
    seconds = time.perf_counter() - started
    target.unlink()
    return seconds


def signatures(runtime: Runtime, case_id: uuid.UUID) -> list[tuple[Any, bytes, bytes]]:
    """The case file's journal signatures with their public keys, read before the clock runs."""
    with runtime.sessions() as session:
        entries = session.scalars(select(JournalEntry).where(JournalEntry.case_id == case_id)).all()
        keys = {k: runtime.keyring.certificate(k).public_key() for k in {e.key_id for e in entries}}
        return [(keys[e.key_id], e.signature, bytes.fromhex(e.entry_hash)) for e in entries]


def verify_floor(package: Path, signed: list[tuple[Any, bytes, bytes]]) -> float:
    """Seconds to hash every member of the package as read from the zip and check as many
    ECDSA P-256 signatures as the journal holds."""
    started = time.perf_counter()
    with zipfile.ZipFile(package) as archive:
        for info in archive.infolist():
            digest = hashlib.sha256()
            with archive.open(info) as member:
                while chunk := member.read(1 << 20):
                    digest.update(chunk)
    algorithm = ec.ECDSA(hashes.SHA256())
    for key, signature, entry_hash in signed:
        key.verify(signature, entry_hash, algorithm)
    return time.perf_counter() - started
