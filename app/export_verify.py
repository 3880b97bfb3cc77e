"""`portal verify PATH [--ca CA.pem]`: an export checked with nothing but the file and the
installed package (casefiles/export_check). No runtime is built: no instance folder, no
database, no keys."""

from __future__ import annotations

import logging
import sys
import uuid
from pathlib import Path
from typing import NoReturn

import click

EXIT_FAILED, EXIT_NOT_AN_EXPORT = 1, 2


def is_package_path(case_ids: tuple[str, ...]) -> bool:
    """One argument that is not a case file id names an export."""
    if len(case_ids) != 1:
        return False
    try:
        uuid.UUID(case_ids[0])
    except ValueError:
        return True
    return False


def verify_package(argument: str, ca_path: str | None) -> NoReturn:
    """Check the export, print the report, exit 0 / 1 (failures named) / 2 (not an export)."""
    from casefiles.export_check import NotAnExport, check_export

    # pyHanko logs each signature it cannot chain (a third party's) with a traceback; the
    # report says it in one line.
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    path = Path(argument)
    if not path.is_file():
        _refuse(f"{argument}: neither a case file id nor a file")
    try:
        ca_pem = Path(ca_path).read_bytes() if ca_path else None
    except OSError as error:
        _refuse(f"--ca {ca_path}: {error.strerror or error}")
    try:
        report = check_export(path, ca_pem)
    except NotAnExport as error:
        _refuse(f"{argument}: not an export: {error}")
    click.echo(f"{path.name}: {report.packaging} export, case files: {', '.join(report.cases)}")
    for item in report.items:
        click.echo(f"  {'ok' if item.ok else 'FAILED'}  {item.name}: {item.message}")
    if report.ca_fingerprint:
        pinned = "pinned (--ca)" if report.trust_pinned else "trust not pinned"
        click.echo(f"CA SHA-256 fingerprint: {report.ca_fingerprint} ({pinned})")
    for note in report.notes:
        click.echo(f"  note: {note}")
    failures = report.failures
    if failures:
        names = ", ".join(item.name for item in failures)
        click.echo(f"FAILED: {len(failures)} item(s): {names}")
        sys.exit(EXIT_FAILED)
    click.echo(f"ok: {len(report.items)} item(s) checked")
    sys.exit(0)


def _refuse(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(EXIT_NOT_AN_EXPORT)
