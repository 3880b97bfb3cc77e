"""The package's own checksums: BagIt manifests, or the eCH-0160 metadata.xml with its schema
(docs/export-format.md §3.2). Every digest compared here was taken once, while reading the zip."""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Any

from lxml import etree

from casefiles.export import format as fmt
from casefiles.export_check.archive import Package
from casefiles.export_check.report import ExportReport

XSD_DIR = Path(fmt.__file__).resolve().parent / "xsd"
_LINE = re.compile(r"([0-9a-f]{64})  (\S.*)")  # as written: lowercase hex, two spaces, the path
_NS = {"a": fmt.ARELDA_NAMESPACE}


def check_bagit(package: Package, report: ExportReport) -> None:
    """bagit.txt, manifest-sha256.txt over data/, tagmanifest-sha256.txt over the tag files."""
    declared = package.texts.get(fmt.BAGIT_TXT, b"").decode("utf-8", "replace").splitlines()
    report.add(
        fmt.BAGIT_TXT,
        [] if "BagIt-Version: 1.0" in declared else ["does not declare BagIt-Version 1.0"],
        "BagIt 1.0",
    )
    data = {n for n in package.members if n.startswith(f"{package.payload}/")}
    tags = set(package.members) - data - {fmt.TAG_MANIFEST}
    for manifest, covered in ((fmt.MANIFEST, data), (fmt.TAG_MANIFEST, tags)):
        listed, problems = _parse_manifest(package, manifest)
        problems += _compare(package, listed, covered)
        report.add(manifest, problems, f"{len(listed)} files, every checksum holds")


def _parse_manifest(package: Package, manifest: str) -> tuple[dict[str, str], list[str]]:
    if manifest not in package.texts:
        return {}, ["missing"]
    listed: dict[str, str] = {}
    problems = []
    text = package.texts[manifest].decode("utf-8", "replace")
    if text and not text.endswith("\n"):
        problems.append("the last line is not ended")
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LINE.fullmatch(line)
        if match is None:
            problems.append(f"line {number} is not '<sha256>  <path>'")
            continue
        path = _bagit_path(match.group(2))
        if path in listed:
            problems.append(f"{path} is listed twice")
        listed[path] = match.group(1)
    return listed, problems


def _bagit_path(text: str) -> str:
    # RFC 8493 §2.1.3: CR, LF and % in a path are percent-encoded, nothing else.
    return text.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")


def _compare(package: Package, listed: dict[str, str], covered: set[str]) -> list[str]:
    problems = [f"{name}: not listed" for name in sorted(covered - set(listed))]
    for name, digest in sorted(listed.items()):
        member = package.members.get(name)
        if member is None or name not in covered:
            problems.append(f"{name}: listed but not in the package")
        elif member.sha256 != digest:
            problems.append(f"{name}: checksum differs (altered)")
    return problems


def check_ech0160(package: Package, report: ExportReport) -> Any:
    """metadata.xml valid against arelda v4.1, its checksums over content/ and header/xsd/,
    and the schema copies the official ones; returns the parsed document (or None)."""
    raw = package.texts.get(fmt.METADATA_XML, b"")
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        document = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as error:
        report.add(fmt.METADATA_XML, [f"not well-formed XML ({error})"], "")
        return None
    schema = _schema()
    valid = schema.validate(document)
    errors = [f"line {e.line}: {e.message}" for e in schema.error_log] if not valid else []
    report.add(f"{fmt.METADATA_XML} (arelda v4.1 schema)", errors, "valid")
    listed, problems = _listed_files(document)
    covered = {
        n
        for n in package.members
        if n.startswith(f"{package.payload}/") or n.startswith(f"{fmt.XSD_FOLDER}/")
    }
    unexpected = set(package.members) - covered - {fmt.METADATA_XML}
    problems += [f"{name}: not part of an eCH-0160 package" for name in sorted(unexpected)]
    problems += _compare(package, listed, covered)
    report.add(
        f"{fmt.METADATA_XML} (checksums)", problems, f"{len(listed)} files, every checksum holds"
    )
    report.add(f"{fmt.XSD_FOLDER}/", _schema_copies(package), "the official arelda v4.1 schemas")
    return document


@functools.lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / "arelda.xsd")))


def _listed_files(document: Any) -> tuple[dict[str, str], list[str]]:
    """Each `datei` of the table of contents by its path (the names of its `ordner` and its own)."""
    listed: dict[str, str] = {}
    problems: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for folder in node.findall("a:ordner", _NS):
            walk(folder, f"{prefix}{folder.findtext('a:name', '', _NS)}/")
        for datei in node.findall("a:datei", _NS):
            path = prefix + datei.findtext("a:name", "", _NS)
            algorithm = datei.findtext("a:pruefalgorithmus", "", _NS)
            if algorithm != "SHA-256":
                problems.append(f"{path}: checksum algorithm {algorithm!r}, expected SHA-256")
            if path in listed:
                problems.append(f"{path} is listed twice")
            listed[path] = datei.findtext("a:pruefsumme", "", _NS)

    contents = document.find("a:inhaltsverzeichnis", _NS)
    if contents is None:
        return {}, ["no table of contents (inhaltsverzeichnis)"]
    walk(contents, "")
    return listed, problems


def _schema_copies(package: Package) -> list[str]:
    shipped = {
        f"{fmt.XSD_FOLDER}/{path.name}": hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(XSD_DIR.glob("*.xsd"))
    }
    copies = {n: m.sha256 for n, m in package.members.items() if n.startswith(fmt.XSD_FOLDER)}
    problems = [f"{name}: missing" for name in sorted(set(shipped) - set(copies))]
    problems += [f"{name}: not an official schema" for name in sorted(set(copies) - set(shipped))]
    problems += [
        f"{name}: differs from the official schema"
        for name in sorted(set(copies) & set(shipped))
        if copies[name] != shipped[name]
    ]
    return problems
