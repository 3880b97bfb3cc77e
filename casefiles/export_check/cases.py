"""The items of one case file in an export: journal, documents, PDF signatures, anchor."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from cryptography import x509

from casefiles.export import format as fmt
from casefiles.export_check.archive import Package
from casefiles.export_check.journals import check_anchor, check_documents, check_journal
from casefiles.export_check.report import ExportReport


def check_case(
    package: Package,
    report: ExportReport,
    entry: dict[str, Any],
    ca: x509.Certificate | None,
) -> None:
    """Everything §3.3–§3.6 of docs/export-format.md asks of one case file of export.json."""
    case_id, folder = str(entry.get("case_id")), str(entry.get("path"))
    reference = str(entry.get("reference") or folder)
    base = f"{package.payload}/{folder}/"
    report.cases.append(reference)
    raw = package.texts.get(base + fmt.JOURNAL)
    if raw is None:
        report.add(f"{reference} journal", [f"{fmt.JOURNAL} missing"], "")
        return
    journal = check_journal(raw, case_id, ca)
    case, case_problems = _case_json(package.texts.get(base + fmt.CASE_JSON), case_id)
    head = case.get("head") or {}
    if (head.get("seq"), head.get("hash")) != journal.head:
        case_problems.append(f"{fmt.CASE_JSON}'s head is not the journal's last entry")
    report.add(
        f"{reference} journal",
        journal.problems + case_problems,
        f"{len(journal.entries)} entries: hashes, chain, signatures and head hold",
    )
    prefix = base + fmt.DOCUMENTS + "/"
    files = {
        name[len(base) :]: (member.sha256, member.size)
        for name, member in package.members.items()
        if name.startswith(prefix)
    }
    listed = {
        str(d.get("path")): str(d.get("version_id"))
        for d in case.get("documents") or []
        if isinstance(d, dict)
    }
    report.add(
        f"{reference} documents",
        check_documents(journal, files, listed),
        f"{len(files)} document versions, each as the journal records it",
    )
    _pdf_signatures(package, report, reference, prefix)
    anchor = package.texts.get(base + fmt.ANCHOR_JSON)
    if anchor is not None:
        _anchor(report, reference, anchor, case_id, journal, ca)


def _case_json(raw: bytes | None, case_id: str) -> tuple[dict[str, Any], list[str]]:
    if raw is None:
        return {}, [f"{fmt.CASE_JSON} missing"]
    try:
        case = json.loads(raw)
    except ValueError as error:
        return {}, [f"{fmt.CASE_JSON} is not JSON ({error})"]
    if not isinstance(case, dict):
        return {}, [f"{fmt.CASE_JSON} is not a JSON object"]
    if case.get("case_id") != case_id:
        return case, [f"{fmt.CASE_JSON} is of another case file"]
    return case, []


def _pdf_signatures(package: Package, report: ExportReport, reference: str, prefix: str) -> None:
    """Every PAdES signature intact; the portal's seals trusted; others reported."""
    problems: list[str] = []
    count = trusted = 0
    for name, statuses in sorted(package.pdf_signatures.items()):
        if not name.startswith(prefix):
            continue
        shown = name[len(prefix) :]
        if isinstance(statuses, Exception):
            problems.append(f"{shown}: {statuses}")
            continue
        for status in statuses:
            count += 1
            label = f"{shown} signature {status.field_name!r} by {status.signer or '?'}"
            if not (status.intact and status.valid):
                problems.append(f"{label}: not intact (the document was altered after signing)")
                continue
            trusted += status.trusted
            if not status.trusted:
                report.notes.append(
                    f"{reference}: {label} is intact; its certificate does not chain to the "
                    "portal's CA (a third party's signature): its trust is not established here"
                )
            if status.timestamped_at is not None:
                trust = "trusted" if status.timestamp_trusted else "its TSA is not the portal's"
                report.notes.append(
                    f"{reference}: {label} time-stamped {status.timestamped_at.isoformat()} "
                    f"({trust})"
                )
    if count:
        report.add(
            f"{reference} PDF signatures",
            problems,
            f"{count} intact, {trusted} sealed by a certificate of the portal's CA",
        )
    elif problems:
        report.add(f"{reference} PDF signatures", problems, "")


def _anchor(
    report: ExportReport,
    reference: str,
    raw: bytes,
    case_id: str,
    journal: Any,
    ca: x509.Certificate | None,
) -> None:
    problems, token, digest = check_anchor(raw, case_id, journal)
    if token:
        from signing.timestamp_checks import check_tokens  # pyHanko: only with an anchor

        [token_check] = check_tokens([(token, digest)], [ca] if ca is not None else [])
        stamped = f"{reference}: anchor time-stamped {_when(token_check.gen_time)}"
        if token_check.ok:
            report.notes.append(f"{stamped} by {token_check.tsa}")
        elif token_check.problem and "does not chain" in token_check.problem:
            # Intact and over the statement, by a TSA outside the portal's CA (PORTAL_TSA_URL):
            # its roots are not in the package, so its trust is reported, not failed.
            report.notes.append(
                f"{stamped} by {token_check.tsa}, a TSA whose certificate does not chain to the "
                "portal's CA"
            )
        else:
            problems.append(f"time-stamp: {token_check.problem}")
    report.add(f"{reference} anchor", problems, "the journal's head is in the time-stamped anchor")


def _when(moment: dt.datetime | None) -> str:
    return moment.isoformat() if moment else "?"
