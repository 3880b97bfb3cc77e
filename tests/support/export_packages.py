"""Real exports to check: one case file built through the domain (a delivered and opened letter
with its receipt, further PDFs, a second version, a PDF signed by a third party outside the
portal's CA), anchored, and exported once in each packaging. Built once per test session and
shared by the check and the tamper tests; and how to run the checkers on a package as a user
would, in a folder and HOME of their own, with nothing of the portal's configuration."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from tests.support.services import portal_executable

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / "tools" / "verify_export.py"
THIRD_PARTY = "Notariat Muster (third party)"


@dataclass(frozen=True)
class Exports:
    folder: Path
    zips: dict[str, Path]  # packaging -> the zip
    ca_pem: bytes  # the portal's CA
    other_ca_pem: bytes  # a CA that did not make them (the third party's)
    case_id: uuid.UUID


_built: dict[int, Exports] = {}


def real_exports(runtime: Any, folder: Path) -> Exports:
    """The session's exports (built on first use)."""
    if id(runtime) not in _built:
        _built[id(runtime)] = _build(runtime, folder)
    return _built[id(runtime)]


def _build(runtime: Any, folder: Path) -> Exports:
    from casefiles.anchors import anchor_heads
    from casefiles.export import write_export
    from casefiles.models import CaseFile
    from casefiles.operations import add_document
    from signing import load_or_create_keyring, seal_pdf
    from tests.conftest import make_pdf
    from tests.support.export_world import _accounts, _file, build_case

    case_id = build_case(runtime, documents=2, second_version=True)
    other = load_or_create_keyring(folder / "third-party-keys")
    signed = seal_pdf(make_pdf("Beglaubigung"), other.seal, reason=THIRD_PARTY)
    clerk, _ = _accounts(runtime)
    with runtime.transaction() as session:
        case = session.get_one(CaseFile, case_id)
        add_document(session, clerk, case, _file("beglaubigung.pdf", "application/pdf", signed))
    if runtime.keyring.tsa is not None:
        with runtime.transaction() as session:
            anchor_heads(session, runtime.keyring.tsa)
    zips = {}
    for packaging in ("bagit", "ech0160"):
        path = folder / f"{packaging}.zip"
        with runtime.sessions() as session, path.open("wb") as out:
            write_export(session, runtime.keyring, [case_id], packaging, out)
        zips[packaging] = path
    pem = serialization.Encoding.PEM
    return Exports(
        folder,
        zips,
        runtime.keyring.ca_certificate.public_bytes(pem),
        other.ca_certificate.public_bytes(pem),
        case_id,
    )


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def clean_env(home: Path) -> dict[str, str]:
    """No PORTAL_* setting at all, a HOME of its own: what a stranger's shell would have."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(HOME=str(home), PATH="/usr/bin:/bin")
    return env


def portal_verify(*args: str, cwd: Path, home: Path) -> Run:
    result = subprocess.run(
        [portal_executable(), "verify", *args],
        cwd=cwd,
        env=clean_env(home),
        capture_output=True,
        timeout=300,
    )
    return Run(result.returncode, result.stdout.decode(), result.stderr.decode())


def independent_check(*args: str, cwd: Path, home: Path) -> Run:
    result = subprocess.run(
        [sys.executable, str(CHECKER), *args],
        cwd=cwd,
        env=clean_env(home),
        capture_output=True,
        timeout=300,
    )
    return Run(result.returncode, result.stdout.decode(), result.stderr.decode())


def files_under(*folders: Path) -> set[Path]:
    return {p for folder in folders for p in folder.rglob("*")}
