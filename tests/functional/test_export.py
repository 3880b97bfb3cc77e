"""`portal export` from the operator's side: a case file with several documents (one of them in
two versions) and a delivered letter's receipt, exported by the installed command in both
packagings, unpacked and checked by the Library of Congress `bagit` library and by the
official arelda v4.1 schema; the documents against the journal; bad input refused cleanly."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tracemalloc
import zipfile
from dataclasses import dataclass
from pathlib import Path

import bagit
import pytest
from click.testing import CliRunner
from lxml import etree

from app.cli import cli
from casefiles.export.ech0160 import metadata_xml
from tests.support.export_world import build_case, damage_object
from tests.support.services import portal_executable

OFFICIAL_XSD = Path("/work/shared/reference/ech-0160/xsd")
if not OFFICIAL_XSD.is_dir():  # the repository's copy is the official one, shipped as it is
    OFFICIAL_XSD = Path(__file__).parents[2] / "casefiles" / "export" / "xsd"


@dataclass
class Ran:
    returncode: int
    stderr: bytes


def run_portal(runtime, *args, cwd, installed=False):
    """The installed `portal` from another folder, or (starting it takes seconds on a busy
    machine) the same command in this process."""
    if installed:
        env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
        done = subprocess.run(
            [portal_executable(), *args], env=env, cwd=cwd, capture_output=True, timeout=180
        )
        return Ran(done.returncode, done.stderr)
    result = CliRunner(env=runtime.config.as_env()).invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return Ran(result.exit_code, result.stderr.encode())


def unpack(path: Path, into: Path) -> Path:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        roots = {name.split("/")[0] for name in names}
        assert len(roots) == 1, roots
        assert not any(n.startswith("/") or ".." in n.split("/") for n in names)
        zf.extractall(into)
    return into / roots.pop()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_documents_against_journal(payload: Path, reference: str) -> dict:
    """Every version the journal records is in the package with its size and SHA-256, and
    nothing else is in documents/."""
    folder = payload / reference
    lines = [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()]
    added = {
        e["payload"]["version_id"]: e["payload"]
        for e in lines
        if e["type"] == "entry" and e["action"] == "document.added"
    }
    case = json.loads((folder / "case.json").read_text())
    assert {d["version_id"] for d in case["documents"]} == set(added)
    for document in case["documents"]:
        file = folder / document["path"]
        recorded = added[document["version_id"]]
        assert file.stat().st_size == recorded["size"]
        assert sha256(file) == recorded["sha256"] == document["sha256"]
    present = {p.parent.name for p in (folder / "documents").glob("*/*")}
    assert present == set(added)
    assert case["head"]["seq"] == max(e["seq"] for e in lines if e["type"] == "entry")
    return case


@pytest.mark.parametrize("packaging", ["bagit", "ech0160"])
def test_an_exported_case_file_is_a_valid_package(runtime, tmp_path, packaging):
    case_id = build_case(runtime, documents=2, second_version=True)
    anchored = packaging == "ech0160"
    if anchored:  # the anchor then holds the journal's head: its proof goes into the package
        made = run_portal(runtime, "anchor", cwd=tmp_path)
        assert made.returncode == 0, made.stderr
    target = tmp_path / "out" / "paket.zip"
    target.parent.mkdir()
    result = run_portal(
        runtime, "export", str(case_id), "--format", packaging, "-o", str(target),
        cwd=tmp_path, installed=packaging == "bagit",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert [p.name for p in target.parent.iterdir()] == ["paket.zip"]  # no temporary left
    with zipfile.ZipFile(target) as zf:
        kinds = {i.filename.rsplit(".", 1)[-1]: i.compress_type for i in zf.infolist()}
    assert kinds["pdf"] == zipfile.ZIP_STORED and kinds["jsonl"] == zipfile.ZIP_DEFLATED

    root = unpack(target, tmp_path / "unpacked")
    assert root.name == "paket"
    payload = root / ("data" if packaging == "bagit" else "content")
    export = json.loads((payload / "export.json").read_text())
    assert export["format"] == "einwohnerportal-export/1" and export["packaging"] == packaging
    [entry] = export["cases"]
    assert entry["case_id"] == str(case_id)
    ca_der = (payload / "ca.pem").read_text()
    assert "BEGIN CERTIFICATE" in ca_der
    readme = (payload / "README.txt").read_text()
    assert all(
        word in readme for word in ("portal verify", "verify_export.py", "ENGLISH", "FRANÇAIS")
    )

    case = check_documents_against_journal(payload, entry["reference"])
    anchor = payload / entry["reference"] / "anchor.json"
    assert anchor.exists() == anchored
    if anchored:
        proof = json.loads(anchor.read_text())
        assert (proof["head_seq"], proof["head_hash"]) == (
            case["head"]["seq"],
            case["head"]["hash"],
        )
    versions = sorted(d["version"] for d in case["documents"])
    assert versions.count(2) == 1 and len(versions) == 6  # letter, 2 receipts, 2 + 1 version
    receipts = [d for d in case["documents"] if d["receipt"]]
    assert sorted(d["media_type"] for d in receipts) == ["application/json", "application/pdf"]

    if packaging == "bagit":
        bag = bagit.Bag(str(root))
        bag.validate()
        assert bag.info["Source-Organization"] == "Einwohnerportal Luzern"
        assert bag.info["External-Identifier"] == "paket"
        return
    document, files = check_sip(root)
    ns = {"a": "http://bar.admin.ch/arelda/v4"}
    listed = {
        d.findtext("a:pruefsumme", namespaces=ns) for d in document.iterfind(".//a:datei", ns)
    }
    assert listed == {s for _p, s in files}
    [dossier] = document.iterfind(".//a:dossier", ns)
    assert dossier.findtext("a:aktenzeichen", namespaces=ns) == entry["reference"]
    assert len(dossier.findall("a:dokument", ns)) == 5
    refs = [r.text for r in dossier.iterfind("a:dokument/a:dateiRef", ns)]
    assert len(refs) == 6 == len(set(refs))
    dossier_refs = [r.text for r in dossier.iterfind("a:dateiRef", ns)]
    assert len(dossier_refs) == 3  # case.json, journal.jsonl, anchor.json


def check_sip(root: Path):
    """metadata.xml valid against the official schema, shipped with the official schemas, and
    exactly what metadata_xml() rebuilds from the package's own files."""
    metadata = (root / "header" / "metadata.xml").read_bytes()
    schema = etree.XMLSchema(etree.parse(str(OFFICIAL_XSD / "arelda.xsd")))
    document = etree.fromstring(metadata)
    schema.assertValid(document)
    for xsd in OFFICIAL_XSD.glob("*.xsd"):
        assert (root / "header" / "xsd" / xsd.name).read_bytes() == xsd.read_bytes()
    files = [
        (p.relative_to(root).as_posix(), sha256(p))
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() != "header/metadata.xml"
    ]
    export = json.loads((root / "content" / "export.json").read_text())
    cases = [
        json.loads((root / "content" / c["path"] / "case.json").read_text())
        for c in export["cases"]
    ]
    assert metadata_xml(files, export, cases) == metadata
    return document, files


def destroyed_case(runtime) -> str:
    from casefiles.destruction import destroy
    from casefiles.lifecycle import close_case
    from casefiles.models import CaseFile
    from directory.actors import Actor

    case_id = build_case(runtime, documents=0, receipt=False, title="Zu vernichten")
    with runtime.transaction() as session:
        case = session.get_one(CaseFile, case_id)
        close_case(session, Actor.system(), case, years=0, disposition="destroy", automatic=True)
    with runtime.transaction() as session:
        case = session.get_one(CaseFile, case_id)
        destroy(session, Actor.system(), case, proposed_by="A", approved_by="B", reason="Test")
    return str(case_id)


def test_bad_input_is_refused_and_leaves_nothing(runtime, tmp_path):
    case_id = build_case(runtime, documents=0, receipt=False)
    out = tmp_path / "out"
    out.mkdir()
    cases = {
        "destroyed": ([destroyed_case(runtime)], out / "z.zip", b"was destroyed"),
        "unknown": (["00000000-0000-4000-8000-000000000000"], out / "a.zip", b"no case file"),
        "garbage": (["D-2026-1"], out / "b.zip", b"not a case file id"),
        "no folder": ([str(case_id)], tmp_path / "missing" / "c.zip", b"no folder"),
    }
    for label, (ids, target, message) in cases.items():
        result = run_portal(
            runtime, "export", *ids, "--format", "bagit", "-o", str(target), cwd=tmp_path
        )
        assert result.returncode == 2, (label, result.stderr)
        assert message in result.stderr and b"Traceback" not in result.stderr, label
    assert list(out.iterdir()) == [] and not (tmp_path / "missing").exists()

    bad_format = run_portal(
        runtime, "export", str(case_id), "--format", "tar", "-o", str(out / "d.zip"), cwd=tmp_path
    )
    assert bad_format.returncode == 2 and b"tar" in bad_format.stderr

    existing = out / "e.zip"
    existing.write_bytes(b"keep me")
    refused = run_portal(
        runtime, "export", str(case_id), "--format", "bagit", "-o", str(existing), cwd=tmp_path
    )
    assert refused.returncode == 2 and b"--force" in refused.stderr
    assert existing.read_bytes() == b"keep me"
    forced = run_portal(
        runtime,
        "export",
        str(case_id),
        "--format",
        "bagit",
        "-o",
        str(existing),
        "--force",
        cwd=tmp_path,
    )
    assert forced.returncode == 0, forced.stderr
    assert zipfile.is_zipfile(existing) and sorted(p.name for p in out.iterdir()) == ["e.zip"]

    # Several case files in one SIP: a dossier each.
    other = build_case(runtime, documents=1, receipt=False, title="Zweites Dossier")
    both = run_portal(
        runtime,
        "export",
        str(case_id),
        str(other),
        "--format",
        "ech0160",
        "-o",
        str(out / "f.zip"),
        cwd=tmp_path,
    )
    assert both.returncode == 0, both.stderr
    document, _files = check_sip(unpack(out / "f.zip", tmp_path / "both"))
    ns = {"a": "http://bar.admin.ch/arelda/v4"}
    assert len(document.findall(".//a:dossier", ns)) == 2


def test_memory_stays_flat_for_large_documents(runtime, tmp_path):
    """Four documents of 8 MB each: the export holds chunks, never a whole document."""
    from casefiles.export import write_export

    size = 8 << 20
    case_id = build_case(runtime, documents=4, size=size, receipt=False)
    target = tmp_path / "big.zip"
    tracemalloc.start()
    try:
        with target.open("wb") as out, runtime.sessions() as session:
            summary = write_export(session, runtime.keyring, [case_id], "bagit", out)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.bytes > 4 * size and target.stat().st_size > 4 * size
    # Ours is about 3 MB here (the embedded profile: chunks in flight to the writer thread). The
    # services profile's S3 server (moto) runs in this process and holds each object it serves
    # whole; at a document's end, while its handler still holds the last one, the export already
    # asks for the next: up to two documents' worth on its side (seen once in CI: 20.5 MB).
    limit = size if runtime.queue is None else 3 * size
    assert peak < limit, f"peak {peak} bytes of Python memory for {size}-byte documents"
    bag = bagit.Bag(str(unpack(target, tmp_path / "x")))
    bag.validate(fast=True)  # Payload-Oxum; the full check ran above for the small packages


def test_a_damaged_stored_object_stops_the_export_cleanly(runtime, tmp_path):
    """A stored object that no longer authenticates, in the middle of the documents (they are
    read ahead in a thread of their own): a clear error naming the version, exit code 2, no
    file; the other case files still export."""
    from sqlalchemy import select

    from casefiles.models import Document, DocumentVersion

    case_id = build_case(runtime, documents=3, size=300_000, receipt=False)
    with runtime.sessions() as session:
        versions = session.scalars(
            select(DocumentVersion)
            .join(Document)
            .where(Document.case_id == case_id)
            .order_by(Document.created_at, Document.id)
        ).all()
        damaged = versions[len(versions) // 2]
        key, version_id = damaged.blob.key, damaged.id
    damage_object(runtime, key, at=0.75)  # in a later chunk: the first ones are written already

    out = tmp_path / "out"
    out.mkdir()
    result = run_portal(
        runtime,
        "export",
        str(case_id),
        "--format",
        "bagit",
        "-o",
        str(out / "x.zip"),
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert f"document version {version_id}".encode() in result.stderr
    assert b"damaged" in result.stderr and b"Traceback" not in result.stderr
    assert list(out.iterdir()) == []

    # A record that no longer matches its object (the row's digest changed behind the
    # domain's back): refused as well, while the reader is already ahead in the next document.
    from storage.blobs import Blob

    changed = build_case(runtime, documents=3, size=300_000, receipt=False, title="Verändert")
    with runtime.sessions() as session:
        first = session.scalars(
            select(DocumentVersion)
            .join(Document)
            .where(Document.case_id == changed)
            .order_by(Document.created_at, Document.id)
        ).first()
        blob_id, first_id = first.blob.id, first.id
    with runtime.sessions.begin() as session:
        session.execute(
            Blob.__table__.update().where(Blob.__table__.c.id == blob_id).values(sha256="0" * 64)
        )
    result = run_portal(
        runtime,
        "export",
        str(changed),
        "--format",
        "ech0160",
        "-o",
        str(out / "z.zip"),
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert f"document version {first_id} does not match its recorded SHA-256".encode() in (
        result.stderr
    )
    assert list(out.iterdir()) == []

    other = build_case(runtime, documents=1, receipt=False, title="Unbeschädigt")
    fine = run_portal(
        runtime, "export", str(other), "--format", "bagit", "-o", str(out / "y.zip"), cwd=tmp_path
    )
    assert fine.returncode == 0, fine.stderr
    bagit.Bag(str(unpack(out / "y.zip", tmp_path / "y"))).validate()
