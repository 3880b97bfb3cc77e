"""Checking an export with nothing but the file and the installed package
(docs/export-format.md §3): no instance, no database, no keys.

It shares only the format's names (casefiles/export/format.py) and the pure function that
writes metadata.xml with the writer; everything else is read from the package itself.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from casefiles.export import format as fmt
from casefiles.export_check.archive import NotAnExport, Package, read_package
from casefiles.export_check.cases import check_case
from casefiles.export_check.manifests import check_bagit, check_ech0160
from casefiles.export_check.report import ExportReport, Item

__all__ = ["ExportReport", "Item", "NotAnExport", "check_export"]


def check_export(path: Path, ca_pem: bytes | None = None) -> ExportReport:
    """Check the export at `path`; `ca_pem` pins the CA it must have been made under.
    NotAnExport when the file is not an export at all."""
    pinned = _load_ca(ca_pem, "the CA given") if ca_pem is not None else None
    found: dict[str, x509.Certificate | None] = {}

    def validator(package: Package) -> Any:
        # Called once ca.pem is read (it is read first): the PDFs are validated as they stream.
        found["ca"] = _package_ca(package)
        return _pdf_validator(pinned or found["ca"])

    package = read_package(Path(path), validator)
    report = ExportReport(packaging=package.packaging)
    if package.packaging == fmt.BAGIT:
        check_bagit(package, report)
    else:
        check_ech0160(package, report)
    ca = found.get("ca")
    _trust(report, ca, pinned)
    export = _export_json(package, report, ca)
    if package.packaging == fmt.ECH0160:
        _rebuilt_metadata(package, report, export)
    for entry in export.get("cases") or []:
        if isinstance(entry, dict):
            try:
                check_case(package, report, entry, pinned or ca)
            except Exception as error:  # noqa: BLE001  (tampered bytes fail the item, never crash)
                what = f"{type(error).__name__}: {error}"
                report.add(str(entry.get("path") or "case file"), [f"unreadable ({what})"], "")
    if not report.cases:
        report.add(fmt.EXPORT_JSON, ["names no case file"], "")
    return report


def _load_ca(pem: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as error:
        raise NotAnExport(f"{what} is not a PEM certificate ({error})") from None


def _package_ca(package: Package) -> x509.Certificate | None:
    raw = package.texts.get(f"{package.payload}/{fmt.CA_PEM}")
    try:
        return x509.load_pem_x509_certificate(raw) if raw else None
    except ValueError:
        return None


def _fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def _pdf_validator(ca: x509.Certificate | None) -> Any:
    def validate(data: bytes) -> Any:
        # pyHanko (half a second to load) only once a signed PDF is read: many packages hold none.
        from signing.pdf_validation import validate_pdf

        try:
            return validate_pdf(data, [ca] if ca is not None else [])
        except Exception as error:  # noqa: BLE001  (a damaged PDF is a failed item, not a crash)
            return error

    return validate


def _trust(
    report: ExportReport, ca: x509.Certificate | None, pinned: x509.Certificate | None
) -> None:
    """§3.7: the package's CA is the one given, or its fingerprint is shown, unpinned."""
    if ca is None:
        report.add(fmt.CA_PEM, ["missing or not a PEM certificate"], "")
        return
    report.ca_fingerprint = _fingerprint(ca)
    if pinned is None:
        report.notes.append(
            "trust not pinned: compare the CA's fingerprint with the one the canton publishes, "
            "or give it with --ca"
        )
        return
    same = _fingerprint(pinned) == report.ca_fingerprint
    report.trust_pinned = same
    report.add(
        "trust",
        [] if same else [f"the package's CA is not the one given ({_fingerprint(pinned)})"],
        "the package's CA is the one given",
    )


def _export_json(package: Package, report: ExportReport, ca: x509.Certificate | None) -> Any:
    name = f"{package.payload}/{fmt.EXPORT_JSON}"
    try:
        export = json.loads(package.texts[name])
        if not isinstance(export, dict):
            raise ValueError("not a JSON object")
    except (KeyError, ValueError) as error:
        report.add(fmt.EXPORT_JSON, [f"missing or not JSON ({error})"], "")
        return {}
    problems = []
    expected = {"format": fmt.FORMAT, "packaging": package.packaging, "name": package.root}
    for key, value in expected.items():
        if export.get(key) != value:
            problems.append(f"{key} is {export.get(key)!r}, expected {value!r}")
    if ca is not None and export.get("ca_sha256") != _fingerprint(ca):
        problems.append(f"ca_sha256 is not the fingerprint of {fmt.CA_PEM}")
    report.add(fmt.EXPORT_JSON, problems, f"{fmt.FORMAT}, {package.packaging}")
    return export


def _rebuilt_metadata(package: Package, report: ExportReport, export: Any) -> None:
    """metadata.xml must be exactly what the writer makes of the package's own files, so that
    no byte of it (titles, dates) can change unnoticed (§3.2)."""
    from casefiles.export.ech0160 import metadata_xml  # lxml and the format's names only

    files = [(n, m.sha256) for n, m in package.members.items() if n != fmt.METADATA_XML]
    try:
        cases = [
            json.loads(package.texts[f"{package.payload}/{entry['path']}/{fmt.CASE_JSON}"])
            for entry in export.get("cases") or []
        ]
        rebuilt = metadata_xml(files, export, cases)
    except Exception as error:  # noqa: BLE001  whatever the writer cannot read is a failure
        report.add(f"{fmt.METADATA_XML} (rebuilt)", [f"cannot be rebuilt ({error!r})"], "")
        return
    same = rebuilt == package.texts.get(fmt.METADATA_XML)
    report.add(
        f"{fmt.METADATA_XML} (rebuilt)",
        [] if same else ["differs from the one rebuilt from the package's files (altered)"],
        "the same bytes as rebuilt from the package's files",
    )
