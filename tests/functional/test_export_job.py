"""Exports in the background, as the archivists' UI asks for them: only on an approved archive
appraisal, made by the job (in-process when embedded, by the real worker with services), its
progress reaching the total, the package downloadable by archivists and by nobody else."""

from __future__ import annotations

import io
import zipfile

import bagit
import pytest

from casefiles.archive_models import ExportStatus
from casefiles.errors import NotFound
from casefiles.export import ExportError
from casefiles.export.jobs import export_of, package_stream, request_export
from casefiles.models import CaseFile
from tests.conftest import wait_for
from tests.support.export_world import _accounts, approve_for_archive, build_case


def test_an_approved_case_file_is_exported_in_the_background(runtime, tmp_path):
    case_id = build_case(runtime, documents=3)
    archivist = approve_for_archive(runtime, case_id)
    with runtime.transaction() as session:
        export_id = request_export(session, archivist, case_id, "bagit").id
        reference = session.get_one(CaseFile, case_id).reference

    def finished():
        with runtime.sessions() as session:
            export = export_of(session, archivist, export_id)
            return export if export.status in (ExportStatus.DONE, ExportStatus.FAILED) else None

    export = wait_for(finished, timeout=60)
    assert export.status == ExportStatus.DONE, export.error
    # 6 documents, journal and case.json, then export.json, ca.pem and README.txt
    assert export.total_items == export.done_items == 6 + 2 + 3
    assert export.filename == f"{reference}-bagit.zip"

    with runtime.sessions() as session:
        chunks, filename, size = package_stream(session, archivist, export_id)
        data = b"".join(chunks)
    assert filename == export.filename and size == len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(tmp_path)
    bag = bagit.Bag(str(tmp_path / f"{reference}-bagit"))
    bag.validate()
    assert bag.info["External-Identifier"] == f"{reference}-bagit"

    clerk, resident = _accounts(runtime)
    with runtime.sessions() as session:
        for outsider in (clerk, resident):
            with pytest.raises(NotFound):
                export_of(session, outsider, export_id)
            with pytest.raises(NotFound):
                package_stream(session, outsider, export_id)
            with pytest.raises(NotFound):
                request_export(session, outsider, case_id, "ech0160")


def test_an_export_needs_an_approved_archive_appraisal(runtime):
    case_id = build_case(runtime, documents=0, receipt=False)
    archivist = approve_for_archive(runtime, case_id)
    other = build_case(runtime, documents=0, receipt=False, title="Noch offen")
    with runtime.sessions() as session:
        with pytest.raises(NotFound):  # open: not the archivists' business
            request_export(session, archivist, other, "bagit")
        with pytest.raises(ExportError, match="format"):
            request_export(session, archivist, case_id, "tar")
    clerk, _resident = _accounts(runtime)
    with runtime.transaction() as session:
        from casefiles.lifecycle import close_case

        close_case(
            session, clerk, session.get_one(CaseFile, other), years=0, disposition="archive",
            automatic=False,
        )  # fmt: skip
    with runtime.sessions() as session, pytest.raises(ExportError, match="appraisal"):
        request_export(session, archivist, other, "ech0160")
