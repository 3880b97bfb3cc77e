"""The filled form of an order as a PDF for people (sealed by the portal) and as JSON for
machines; both carry the same facts, and the journal fixes both by their digests."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from catalogue.model import Field, Service
from signing import Keyring, seal_pdf, validate_pdf

ZURICH = ZoneInfo("Europe/Zurich")
_YES_NO = {True: "Ja", False: "Nein"}


def shown_value(field: Field, value: Any, communes: Mapping[str, str] | None = None) -> str:
    """An answer as the German form shows it (the legal language of the canton); a commune by
    its name and BFS number."""
    if value is None or value == "":
        return "–"
    if field.type == "commune":
        name = (communes or {}).get(str(value))
        return f"{name} (BFS {value})" if name else str(value)
    if field.type == "choice":
        labels = {c.value: c.label.de for c in field.choices}
        if isinstance(value, list | tuple):
            return ", ".join(labels.get(v, str(v)) for v in value)
        return labels.get(value, str(value))
    if field.type == "yesno":
        return _YES_NO.get(bool(value), str(value))
    if field.type == "file":
        files = value if isinstance(value, list) else [value]
        return ", ".join(f"{f['filename']} (SHA-256 {f['sha256'][:16]}…)" for f in files)
    if isinstance(value, Mapping):  # an address, as Swiss letters write it
        town = " ".join(str(value[k]) for k in ("postcode", "town") if value.get(k))
        return ", ".join(p for p in (str(value.get("street") or ""), town) if p)
    if field.type == "date" and isinstance(value, str):  # ISO in the answers' JSON
        value = dt.date.fromisoformat(value)
    if isinstance(value, dt.date):
        return value.strftime("%d.%m.%Y")
    return str(value)


def form_json(facts: Mapping[str, Any]) -> bytes:
    """The order's facts as JSON (indented for people; its bytes are fixed by their digest)."""
    return json.dumps(facts, ensure_ascii=False, indent=2, default=str).encode()


def render_form_pdf(service: Service, facts: Mapping[str, Any]) -> bytes:
    """A PDF of the order: service, case file, who ordered, who is responsible, every answer."""
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Bestellung {service.title.de} {facts['case_reference']}",
        author="Einwohnerportal Luzern",
        leftMargin=20 * mm,
        rightMargin=20 * mm,
    )
    ordered = dt.datetime.fromisoformat(facts["ordered_at"]).astimezone(ZURICH)
    head = [
        ["Leistung", f"{service.title.de} (Version {service.version})"],
        ["Dossier", facts["case_reference"]],
        ["Bestellt von", facts["party"]["name"]],
        ["Bestellt am", ordered.strftime("%d.%m.%Y %H:%M:%S %Z")],
        ["Zuständig", facts["authority"]["name"]],
    ]
    cell = styles["BodyText"]
    answers = facts["answers"]
    rows = [
        [
            Paragraph(escape(f.label.de), cell),
            Paragraph(escape(shown_value(f, answers[f.name], facts.get("communes"))), cell),
        ]
        for f in service.fields()
        if f.name in answers
    ]
    story: list[Any] = [
        Paragraph("Bestellung", styles["Title"]),
        Paragraph("Einwohnerportal Luzern – Bestellbestätigung", styles["Normal"]),
        Spacer(1, 8 * mm),
        _table(head),
        Spacer(1, 6 * mm),
        Paragraph("Angaben", styles["Heading3"]),
    ]
    if rows:
        story.append(_table(rows))
    else:
        story.append(Paragraph("Keine Angaben nötig.", styles["Normal"]))
    story += [
        Spacer(1, 6 * mm),
        Paragraph(
            f"SHA-256 der Angaben: <font size=7>{facts['answers_sha256']}</font>. Dieses Dokument "
            "ist mit dem elektronischen Siegel des Einwohnerportals versehen.",
            styles["Normal"],
        ),
    ]
    doc.build(story)
    return buffer.getvalue()


def _table(rows: list[list[Any]]) -> Table:
    table = Table(rows, colWidths=[50 * mm, 120 * mm])
    table.setStyle(
        TableStyle(
            [("VALIGN", (0, 0), (-1, -1), "TOP"), ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold")]
        )
    )
    return table


def sealed(pdf: bytes, keyring: Keyring) -> tuple[bytes, list[dict[str, Any]]]:
    """The PDF with the portal's seal (PAdES, time-stamped where a TSA is configured), and the
    seal as validated at once (what the document's version records)."""
    data = seal_pdf(
        pdf,
        keyring.seal,
        reason="Bestellung",
        timestamper=keyring.tsa.stamper if keyring.tsa else None,
    )
    statuses = validate_pdf(data, [keyring.ca_certificate])
    signatures = [
        {
            "field": s.field_name,
            "signer": s.signer,
            "intact": s.intact,
            "valid": s.valid,
            "trusted": s.trusted,
            "signed_at": s.signed_at.isoformat() if s.signed_at else None,
        }
        for s in statuses
    ]
    return data, signatures
