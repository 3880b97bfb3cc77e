"""Exports made in the background for the archivists: asked for on an approved archive
appraisal, written by a job that shows its progress, kept as an encrypted object under the case
file's key (so destroying the case file destroys the package too), downloaded when done."""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.archive_models import (
    Appraisal,
    AppraisalStatus,
    Disposition,
    Export,
    ExportStatus,
)
from casefiles.errors import NotFound
from casefiles.export import ExportError
from casefiles.export.writer import check_packaging, write_export
from casefiles.journal import keyring_of
from casefiles.models import CaseFile, CaseStatus
from directory.actors import Actor
from directory.models import Role
from storage.blobs import Blob, read_blob, store_blob
from storage.db import utcnow
from storage.jobs import enqueue
from storage.work import unit_of

log = logging.getLogger(__name__)

JOB = "casefiles.export.jobs.run_export"
PROGRESS_EVERY = 0.25  # seconds between progress commits


def _archivist(actor: Actor) -> None:
    # Others are told nothing exists: exports are the archivists' business alone.
    if actor.role != Role.ARCHIVIST or actor.account_id is None:
        raise NotFound("no such export")


def request_export(session: Session, actor: Actor, case_id: uuid.UUID, packaging: str) -> Export:
    """Ask for an export of a closed case file that a second archivist approved for the
    archive; the job `run_export` makes it. An export of the same format still under way is
    returned instead of a second one."""
    _archivist(actor)
    check_packaging(packaging)
    case = session.get(CaseFile, case_id)
    if case is None or case.status not in (CaseStatus.CLOSED, CaseStatus.TRANSFERRED):
        raise NotFound(f"no closed case file {case_id}")
    approved = session.scalar(
        select(Appraisal.id).where(
            Appraisal.case_id == case.id,
            Appraisal.status == AppraisalStatus.APPROVED,
            Appraisal.disposition == Disposition.ARCHIVE,
        )
    )
    if approved is None:
        raise ExportError(
            f"case file {case.reference} has no approved archive appraisal: an archivist "
            "proposes to archive it and a second archivist approves, then it can be exported"
        )
    running = session.scalar(
        select(Export).where(
            Export.case_id == case.id,
            Export.format == packaging,
            Export.status.in_([ExportStatus.QUEUED, ExportStatus.RUNNING]),
        )
    )
    if running is not None:
        return running
    export = Export(
        case_id=case.id,
        format=packaging,
        status=ExportStatus.QUEUED,
        requested_by=actor.account_id,
        requested_by_label=actor.label,
    )
    session.add(export)
    session.flush()
    enqueue(session, JOB, str(export.id))
    return export


def run_export(session: Session, export_id: str) -> None:
    """The job: write the package to a temporary file, store it encrypted under the case
    file's key, and record DONE (or FAILED with the reason). Progress is committed as it goes
    in this job's own session: a second connection could not write beside it on SQLite, whose
    transactions take the write lock when they begin."""
    export = session.get(Export, uuid.UUID(export_id))
    if export is None or export.status in (ExportStatus.DONE, ExportStatus.FAILED):
        return  # done already (a retried job), or the case file is gone
    export.status, export.done_items, export.error = ExportStatus.RUNNING, 0, None
    session.commit()
    mark = unit_of(session).mark()
    last = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if done < total and now - last < PROGRESS_EVERY:
            return
        last = now
        export.done_items, export.total_items = done, total
        session.commit()

    try:
        with tempfile.TemporaryFile() as out:
            keyring = keyring_of(session)
            summary = write_export(
                session, keyring, [export.case_id], export.format, out, progress=progress
            )
            out.seek(0)
            # Under the case file's key: destroying the case file destroys the package.
            blob = store_blob(session, out, group=export.case_id)
        export.blob_id, export.filename = blob.id, f"{summary.name}.zip"
        export.status, export.finished_at = ExportStatus.DONE, utcnow()
        session.flush()
    except Exception as error:
        message = str(error) if isinstance(error, ExportError) else "the export failed"
        log.exception("export %s failed", export_id)
        session.rollback()
        unit_of(session).undo(mark)  # the package object, if it was stored
        failed = session.get_one(Export, uuid.UUID(export_id))
        failed.status, failed.error, failed.finished_at = ExportStatus.FAILED, message, utcnow()
        session.flush()


def export_of(session: Session, actor: Actor, export_id: uuid.UUID) -> Export:
    _archivist(actor)
    export = session.get(Export, export_id)
    if export is None:
        raise NotFound("no such export")
    return export


def exports_of(session: Session, actor: Actor, case_id: uuid.UUID) -> list[Export]:
    """A case file's exports, newest first."""
    _archivist(actor)
    return list(
        session.scalars(
            select(Export).where(Export.case_id == case_id).order_by(Export.created_at.desc())
        )
    )


def package_stream(
    session: Session, actor: Actor, export_id: uuid.UUID
) -> tuple[Iterator[bytes], str, int]:
    """The finished package's bytes (decrypted chunk by chunk), its file name and size."""
    export = export_of(session, actor, export_id)
    if export.status != ExportStatus.DONE or export.blob_id is None:
        raise NotFound("this export is not finished")
    blob = session.get_one(Blob, export.blob_id)
    return read_blob(session, blob), export.filename or f"export-{export.id}.zip", blob.size
