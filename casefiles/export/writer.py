"""Writing an export (docs/export-format.md): case files into one streaming zip, as a BagIt bag
or an eCH-0160 SIP around the same payload."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, BinaryIO

from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from casefiles.export import ExportError, ech0160
from casefiles.export.bagit import SOURCE_ORGANIZATION, write_tag_files
from casefiles.export.collect import CaseExport, VersionFile, collect_case, load_case
from casefiles.export.format import (
    ANCHOR_JSON,
    BAGIT,
    CA_PEM,
    CASE_JSON,
    EXPORT_JSON,
    FORMAT,
    JOURNAL,
    METADATA_XML,
    PACKAGINGS,
    PAYLOAD_FOLDER,
    README,
    XSD_FOLDER,
)
from casefiles.export.package import PackageWriter, Written, compressible, open_zip
from casefiles.export.read_ahead import ReadFailed
from casefiles.export.readme import readme_text
from casefiles.journal_dump import dump_journal
from signing import Keyring
from storage.blobs import blob_opener
from storage.db import utcnow
from storage.encryption import TamperedObject

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ExportSummary:
    name: str  # the zip's root folder; the file is usually NAME.zip
    packaging: str
    cases: list[str]  # the references, in order
    files: int  # files in the package
    bytes: int  # their uncompressed size


def check_packaging(packaging: str) -> None:
    if packaging not in PACKAGINGS:
        raise ExportError(f"unknown format {packaging!r}: use {' or '.join(PACKAGINGS)}")


def default_name(references: Sequence[str], packaging: str, when: str) -> str:
    """`D-ABCD-EFGH-bagit` for one case file; `export-20261202-040000-bagit` for several."""
    if len(references) == 1:
        return f"{references[0]}-{packaging}"
    return f"export-{when}-{packaging}"


def write_export(
    session: Session,
    keyring: Keyring,
    case_ids: Sequence[uuid.UUID],
    packaging: str,
    out: BinaryIO,
    *,
    progress: Progress | None = None,
    name: str | None = None,
    write_behind: bool = False,
) -> ExportSummary:
    """Write the export of `case_ids` to `out` (a writable binary file) as one zip, streaming
    every document from the object store; raises ExportError for what cannot be exported.
    `write_behind`: `out` is a file that the caller will fsync; its disk writes start early."""
    check_packaging(packaging)
    wanted = list(dict.fromkeys(case_ids))
    if not wanted:
        raise ExportError("no case file to export")
    cases = [collect_case(session, load_case(session, case_id)) for case_id in wanted]
    moment = utcnow().replace(microsecond=0)
    name = name or default_name(
        [c.reference for c in cases], packaging, moment.strftime("%Y%m%d-%H%M%S")
    )
    total = sum(len(c.files) + 2 + (c.anchor is not None) for c in cases) + 3
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    payload = PAYLOAD_FOLDER[packaging]
    ca_der = keyring.ca_certificate.public_bytes(serialization.Encoding.DER)
    ca_sha256 = hashlib.sha256(ca_der).hexdigest()
    export_json = {
        "format": FORMAT,
        "packaging": packaging,
        "name": name,
        "created_at": moment.isoformat(),
        "portal": SOURCE_ORGANIZATION,
        "ca_sha256": ca_sha256,
        "cases": [
            {"case_id": str(c.case_id), "reference": c.reference, "path": c.reference}
            for c in cases
        ],
    }
    with open_zip(out) as zf:
        writer = PackageWriter(zf, name, moment, write_behind=write_behind)
        for case in cases:
            _write_case(session, keyring, writer, f"{payload}/{case.reference}", case, step)
        writer.add_bytes(f"{payload}/{EXPORT_JSON}", _json(export_json))
        step()
        ca_pem = keyring.ca_certificate.public_bytes(serialization.Encoding.PEM)
        writer.add_bytes(f"{payload}/{CA_PEM}", ca_pem)
        step()
        writer.add_bytes(
            f"{payload}/{README}", readme_text(packaging, SOURCE_ORGANIZATION, name, ca_sha256)
        )
        step()
        payload_files = list(writer.written)
        if packaging == BAGIT:
            write_tag_files(writer, payload_files, name=name, when=moment)
        else:
            for xsd_name, data in _schemas():
                writer.add_bytes(f"{XSD_FOLDER}/{xsd_name}", data)
            metadata = ech0160.metadata_xml(
                [(f.path, f.sha256) for f in writer.written],
                export_json,
                [c.case_json for c in cases],
            )
            writer.add_bytes(METADATA_XML, metadata)
    return ExportSummary(
        name=name,
        packaging=packaging,
        cases=[c.reference for c in cases],
        files=len(writer.written),
        bytes=sum(f.size for f in writer.written),
    )


def _write_case(
    session: Session,
    keyring: Keyring,
    writer: PackageWriter,
    folder: str,
    case: CaseExport,
    step: Callable[[], None],
) -> None:
    _write_documents(session, writer, folder, case.files, step)
    writer.add(f"{folder}/{JOURNAL}", dump_journal(session, keyring, case.case_id))
    step()
    if case.anchor is not None:
        writer.add_bytes(f"{folder}/{ANCHOR_JSON}", _json(case.anchor))
        step()
    writer.add_bytes(f"{folder}/{CASE_JSON}", _json(case.case_json))
    step()


def _write_documents(
    session: Session,
    writer: PackageWriter,
    folder: str,
    files: list[VersionFile],
    step: Callable[[], None],
) -> None:
    """Every document version, read ahead in another thread; each checked against its record."""

    def written(index: int, written: Written) -> None:
        file = files[index]
        if (written.sha256, written.size) != (file.blob.sha256, file.blob.size):
            raise ExportError(
                f"document version {file.version_id} does not match its recorded SHA-256: "
                "the stored object is damaged; nothing was exported"
            )
        step()

    # The objects' keys are looked up here, through the session; they are opened and read there.
    entries = [
        (f"{folder}/{f.path}", blob_opener(session, f.blob), compressible(f.path, f.media_type))
        for f in files
    ]
    try:
        writer.add_read_ahead(entries, written)
    except ReadFailed as failed:
        if not isinstance(failed.error, TamperedObject):
            raise failed.error from None
        raise ExportError(
            f"document version {files[failed.index].version_id}: the stored object is damaged "
            f"({failed.error}); nothing was exported"
        ) from None


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8") + b"\n"


def _schemas() -> Iterator[tuple[str, bytes]]:
    """The official arelda v4.1 schemas shipped with the portal (casefiles/export/xsd/)."""
    folder = resources.files("casefiles.export") / "xsd"
    found = sorted(
        (e for e in folder.iterdir() if e.name.endswith(".xsd")) if folder.is_dir() else [],
        key=lambda e: e.name,
    )
    if not any(e.name == "arelda.xsd" for e in found):
        raise ExportError(
            "the arelda schemas (casefiles/export/xsd/) are missing from this installation"
        )
    for entry in found:
        yield entry.name, entry.read_bytes()
