"""`header/metadata.xml` of an eCH-0160 SIP (arelda v4.1), built from the package's own data.

A pure function of what the package holds, so that a checker can rebuild it from the files and
compare bytes (docs/export-format.md §3): nothing here reads a database or a clock. It imports
lxml, the standard library and the format's names only, as the offline checker may import it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from lxml import etree

from casefiles.export.format import ARELDA_NAMESPACE, ECH0160, PAYLOAD_FOLDER

NS = ARELDA_NAMESPACE
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_VERSION = "4.1"
CHECKSUM = "SHA-256"
CONTENT = PAYLOAD_FOLDER[ECH0160]


def datei_id(path: str) -> str:
    """The id of a file's `datei`: derived from its path in the package (an XML ID must start
    with a letter, so a prefix)."""
    return "datei-" + hashlib.sha256(path.encode("utf-8")).hexdigest()[:32]


def metadata_xml(
    payload_files: Sequence[tuple[str, str]],
    export_json: dict[str, Any],
    case_jsons: Sequence[dict[str, Any]],
) -> bytes:
    """The metadata of a SIP. `payload_files`: (path, SHA-256) of every file of the package
    but `header/metadata.xml`, relative to its root folder (`content/…`, `header/xsd/…`), in
    any order; `case_jsons`: each case file's `case.json`, in `export_json["cases"]` order."""
    root = etree.Element(
        _q("paket"),
        {
            f"{{{XSI}}}schemaLocation": f"{NS} xsd/arelda.xsd",
            f"{{{XSI}}}type": "paketSIP",
            "schemaVersion": SCHEMA_VERSION,
        },
        nsmap={None: NS, "xsi": XSI},
    )
    _text(root, "paketTyp", "SIP")
    _contents(root, payload_files)
    present = {path for path, _sha in payload_files}
    _delivery(root, export_json, case_jsons, present)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)  # type: ignore[no-any-return]


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _text(parent: Any, tag: str, value: str, **attributes: str) -> Any:
    element = etree.SubElement(parent, _q(tag), attributes)
    element.text = value
    return element


# The table of contents: `header/` and `content/` as folders (`ordner`) and files (`datei`),
# each folder's subfolders first, then its files (the schema's order), both sorted by name.


def _contents(root: Any, payload_files: Iterable[tuple[str, str]]) -> None:
    tree: dict[str, Any] = {}
    for path, sha256 in payload_files:
        *folders, name = path.split("/")
        node = tree
        for folder in folders:
            node = node.setdefault(folder + "/", {})
        node[name] = (path, sha256)
    listing = etree.SubElement(root, _q("inhaltsverzeichnis"))
    _folder_children(listing, tree)


def _folder_children(parent: Any, node: dict[str, Any]) -> None:
    for key in sorted(k for k in node if k.endswith("/")):
        folder = etree.SubElement(parent, _q("ordner"))
        _text(folder, "name", key[:-1])
        _text(folder, "originalName", key[:-1])
        _folder_children(folder, node[key])
    for key in sorted(k for k in node if not k.endswith("/")):
        path, sha256 = node[key]
        datei = etree.SubElement(parent, _q("datei"), id=datei_id(path))
        _text(datei, "name", key)
        _text(datei, "originalName", key)
        _text(datei, "pruefalgorithmus", CHECKSUM)
        _text(datei, "pruefsumme", sha256)


# The delivery: who hands it over (the authorities), one position of the classification
# system, a dossier per case file and a dokument per document, each version a file reference.


def _delivery(
    root: Any, export_json: dict[str, Any], case_jsons: Sequence[dict[str, Any]], present: set[str]
) -> None:
    portal = export_json.get("portal") or "Einwohnerportal"
    authorities = sorted({case["authority"]["name"] for case in case_jsons}) or [portal]
    creators = "; ".join(authorities)
    periods = [_period(case) for case in case_jsons]
    delivery = etree.SubElement(root, _q("ablieferung"), {f"{{{XSI}}}type": "ablieferungFilesSIP"})
    _text(delivery, "ablieferungstyp", "FILES")
    _text(delivery, "ablieferndeStelle", creators)
    if periods:
        _zeitraum(
            delivery, "entstehungszeitraum", min(p[0] for p in periods), max(p[1] for p in periods)
        )
    _text(
        delivery,
        "bemerkung",
        f"{portal}: Export {export_json['name']} ({export_json['format']}), "
        f"erstellt {export_json['created_at']}",
    )
    _text(delivery, "ablieferungsnummer", export_json["name"])
    provenance = etree.SubElement(delivery, _q("provenienz"))
    _text(provenance, "aktenbildnerName", creators)
    _text(provenance, "systemName", portal)
    system = etree.SubElement(delivery, _q("ordnungssystem"))
    _text(system, "name", f"{portal}: Dossiers")
    position = etree.SubElement(system, _q("ordnungssystemposition"), id="position-1")
    _text(position, "nummer", "1")
    _text(position, "titel", "Dossiers")
    for entry, case, period in zip(export_json["cases"], case_jsons, periods, strict=True):
        _dossier(position, f"{CONTENT}/{entry['path']}", case, period, present)


def _dossier(
    parent: Any, folder: str, case: dict[str, Any], period: tuple[str, str], present: set[str]
) -> None:
    dossier = etree.SubElement(parent, _q("dossier"), id=f"dossier-{case['case_id']}")
    _text(dossier, "titel", case["title"])
    _text(dossier, "erscheinungsform", "digital")
    _text(dossier, "federfuehrendeOrganisationseinheit", case["authority"]["name"])
    _zeitraum(dossier, "entstehungszeitraum", *period)
    head = case.get("head") or {}
    _merkmale(
        dossier,
        [
            ("case_id", case["case_id"]),
            ("case_type", case.get("case_type")),
            ("status", case.get("status")),
            ("closed_at", case.get("closed_at")),
            ("retention_until", case.get("retention_until")),
            ("disposition", case.get("disposition")),
            ("journal_head_seq", head.get("seq")),
            ("journal_head_hash", head.get("hash")),
        ],
    )
    _text(dossier, "aktenzeichen", case["reference"])
    by_document: dict[str, list[dict[str, Any]]] = {}
    for version in case["documents"]:
        by_document.setdefault(version["document_id"], []).append(version)
    for document_id, versions in by_document.items():
        versions = sorted(versions, key=lambda v: v["version"])
        first = versions[0]
        dokument = etree.SubElement(dossier, _q("dokument"), id=f"dokument-{document_id}")
        _text(dokument, "titel", versions[-1]["title"] or first["filename"])
        _text(dokument, "erscheinungsform", "digital")
        if first.get("receipt"):
            _text(dokument, "dokumenttyp", "Zustellnachweis")
        registered = etree.SubElement(dokument, _q("registrierdatum"))
        _text(registered, "datum", _date(first["created_at"]))
        _merkmale(dokument, [(f"version {v['version']}", v["version_id"]) for v in versions])
        for version in versions:
            _text(dokument, "dateiRef", datei_id(f"{folder}/{version['path']}"))
    for name in ("case.json", "journal.jsonl", "anchor.json"):
        if f"{folder}/{name}" in present:
            _text(dossier, "dateiRef", datei_id(f"{folder}/{name}"))


def _merkmale(parent: Any, pairs: Sequence[tuple[str, Any]]) -> None:
    shown = [(name, value) for name, value in pairs if value is not None]
    if not shown:
        return
    extra = etree.SubElement(parent, _q("zusatzDaten"))
    for name, value in shown:
        _text(extra, "merkmal", str(value), name=name)


def _period(case: dict[str, Any]) -> tuple[str, str]:
    """From its opening to its closing (or, while open, its last journal entry), as dates."""
    start = _date(case["created_at"])
    end = case.get("closed_at") or case.get("last_entry_at") or case["created_at"]
    return start, max(start, _date(end))


def _zeitraum(parent: Any, name: str, start: str, end: str) -> None:
    period = etree.SubElement(parent, _q(name))
    _text(etree.SubElement(period, _q("von")), "datum", start)
    _text(etree.SubElement(period, _q("bis")), "datum", end)


def _date(moment: str) -> str:
    """The calendar day (UTC, as recorded) of an ISO 8601 time: xs:date, as the schema's
    `datumTypA` allows."""
    return dt.datetime.fromisoformat(moment).date().isoformat()
