"""The receipt (Zustellnachweis): what was delivered to whom, opened when and by whom."""

from __future__ import annotations

import datetime as dt
import io
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

if TYPE_CHECKING:
    from mailbox.models import Delivery

ZURICH = ZoneInfo("Europe/Zurich")


def receipt_payload(delivery: Delivery) -> dict[str, Any]:
    """The facts a receipt proves; recorded in the signed journal entry and printed on the PDF."""
    message = delivery.message
    return {
        "delivery_id": str(delivery.id),
        "message_id": str(message.id),
        "case_reference": message.case.reference,
        "sender": {"id": str(message.authority.id), "name": message.authority.name},
        "recipient": {
            "id": str(delivery.recipient.id),
            "name": delivery.recipient.display_name,
        },
        "status": delivery.status.value,
        "opened_by": delivery.opened_by,
        "subject": message.subject,
        "kind": message.kind.value,
        "available_at": _iso(delivery.available_at),
        "opened_at": _iso(delivery.opened_at),
        "deemed_delivered_at": _iso(delivery.deemed_at),
        "appeal_period_days": delivery.appeal_period_days,
        "due_date": delivery.due_date.isoformat() if delivery.due_date else None,
        "documents": [
            {
                "document_id": str(doc.id),
                "filename": doc.current.filename,
                "sha256": doc.current.blob.sha256,
            }
            for doc in message.documents
        ],
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _local(iso: str | None) -> str:
    if not iso:
        return "–"
    return dt.datetime.fromisoformat(iso).astimezone(ZURICH).strftime("%d.%m.%Y %H:%M:%S %Z")


def _due(payload: dict[str, Any]) -> str:
    if not payload.get("due_date"):
        return "–"
    day = dt.date.fromisoformat(payload["due_date"]).strftime("%d.%m.%Y")
    return f"{day} ({payload['appeal_period_days']} Tage)"


def render_receipt_pdf(payload: dict[str, Any], entry_hash: str) -> bytes:
    """A one-page PDF of the receipt, in German (the legal language of the canton)."""
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Zustellnachweis {payload['case_reference']}",
        author="Einwohnerportal Luzern",
        leftMargin=20 * mm,
        rightMargin=20 * mm,
    )
    rows = [
        ["Dossier", payload["case_reference"]],
        ["Absender", payload["sender"]["name"]],
        ["Empfänger/in", payload["recipient"]["name"]],
        ["Geöffnet durch", payload["opened_by"] or "–"],
        ["Betreff", payload["subject"]],
        ["Bereitgestellt am", _local(payload["available_at"])],
        ["Geöffnet am", _local(payload["opened_at"])],
        ["Als zugestellt geltend ab", _local(payload.get("deemed_delivered_at"))],
        ["Fristablauf", _due(payload)],
        ["Zustellungs-ID", payload["delivery_id"]],
    ]
    table = Table(rows, colWidths=[45 * mm, 125 * mm])
    table.setStyle(
        TableStyle(
            [("VALIGN", (0, 0), (-1, -1), "TOP"), ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold")]
        )
    )
    docs = [
        Paragraph(
            f"{d['filename']}<br/><font size=7>SHA-256 {d['sha256']}</font>", styles["BodyText"]
        )
        for d in payload["documents"]
    ]
    story = [
        Paragraph("Zustellnachweis", styles["Title"]),
        Paragraph("Einwohnerportal Luzern – elektronische Zustellung", styles["Normal"]),
        Spacer(1, 8 * mm),
        table,
        Spacer(1, 6 * mm),
        Paragraph("Zugestellte Dokumente", styles["Heading3"]),
        *docs,
        Spacer(1, 6 * mm),
        Paragraph(
            f"Journal-Eintrag (SHA-256): <font size=7>{entry_hash}</font>. Dieses Dokument ist "
            "mit dem elektronischen Siegel des Einwohnerportals versehen.",
            styles["Normal"],
        ),
    ]
    doc.build(story)
    return buffer.getvalue()
