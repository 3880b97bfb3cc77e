"""Automatic steps and the letters steps send: a document generated from the declaration's
`body` template in the resident's language, sealed and delivered without a clerk when the
resident's data suffices (`requires`); otherwise the step stays in the clerk's queue.

Also the plain letters of the step lifecycle (a request for information, a reminder, a
refusal): one small PDF renderer for all, sealed like every document the portal issues.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.journal import keyring_of
from casefiles.models import CaseFile, JournalEntry
from catalogue import form_pdf
from catalogue.model import GeneratedDocument, Service
from directory.actors import Actor
from directory.models import Authority, Party, Role
from directory.routing import get_commune
from mailbox.models import MessageKind
from mailbox.seals import PreparedFile

ZURICH = ZoneInfo("Europe/Zurich")


def authority_actor(authority: Authority) -> Actor:
    """The portal acting for an authority (an automatic step, a deadline's expiry): the journal
    names the authority, and no person."""
    return Actor(
        account_id=None,
        role=Role.CLERK,
        display_name="Einwohnerportal (automatisch)",
        authority_id=authority.id,
        authority_name=authority.name,
    )


def render_letter(
    authority: Authority, title: str, body: str, reference: str, language: str = "de"
) -> bytes:
    """A one-page letter of the authority: title, the text (paragraphs by line), the case file."""
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"{title} {reference}",
        author=authority.name,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
    )
    story: list[Any] = [
        Paragraph(escape(authority.name), styles["Normal"]),
        Spacer(1, 10 * mm),
        Paragraph(escape(title), styles["Title"]),
        Spacer(1, 4 * mm),
    ]
    for line in body.splitlines():
        story.append(Paragraph(escape(line) or "&nbsp;", styles["BodyText"]))
    label = {"de": "Dossier", "fr": "Dossier", "it": "Incarto", "en": "Case file"}.get(language)
    story += [Spacer(1, 8 * mm), Paragraph(f"{label or 'Dossier'} {escape(reference)}",
                                           styles["Normal"])]  # fmt: skip
    doc.build(story)
    return buffer.getvalue()


def sealed_file(session: Session, authority: Authority, name: str, pdf: bytes) -> PreparedFile:
    """The letter sealed: with the authority's own seal when it has one (deliver applies it),
    else with the portal's (a PreparedFile that deliver takes as it is)."""
    if authority.seal_ref:
        return PreparedFile(name, "application/pdf", len(pdf), io.BytesIO(pdf), None, None)
    data, signatures = form_pdf.sealed(pdf, keyring_of(session))
    return PreparedFile(name, "application/pdf", len(data), io.BytesIO(data), signatures, None)


def ordered_answers(session: Session, case: CaseFile) -> Mapping[str, Any]:
    """The answers of the order as its case.ordered entry holds them (plain JSON values)."""
    payload = session.scalar(
        select(JournalEntry.payload).where(
            JournalEntry.case_id == case.id, JournalEntry.action == "case.ordered"
        )
    )
    return dict((payload or {}).get("answers") or {})


def placeholders(
    session: Session, case: CaseFile, party: Party, answers: Mapping[str, Any], language: str
) -> dict[str, str]:
    """The values a document body may use; empty where the register holds nothing."""
    commune = get_commune(session, party.bfs) if party.bfs else None
    # An address is only one with its street and town: half of one would certify nothing.
    address = ""
    if party.street and party.town:
        address = f"{party.street}, {party.postcode or ''} {party.town}".replace("  ", " ")
    today = dt.datetime.now(ZURICH).date()
    values = {
        "party.display_name": party.display_name or "",
        "party.address": address,
        "party.commune": commune.name if commune else "",
        "party.date_of_birth": party.date_of_birth.strftime("%d.%m.%Y")
        if party.date_of_birth
        else "",
        "case.reference": case.reference,
        "today": today.strftime("%d.%m.%Y"),
    }
    for name, value in answers.items():
        if isinstance(value, dict):
            value = ", ".join(str(v) for v in value.values() if v)
        values[f"answer.{name}"] = "" if value is None else str(value)
    return values


def missing(requires: tuple[str, ...], values: Mapping[str, str]) -> list[str]:
    """What the document needs that the resident's data does not hold."""
    return [name for name in requires if not values.get(name, "").strip()]


def fill(template: str, values: Mapping[str, str]) -> str:
    """The template with its {name} placeholders replaced (the loader allows known ones only)."""
    out = template
    for name, value in values.items():
        out = out.replace("{" + name + "}", value)
    return out


def generated(
    service: Service, document: GeneratedDocument, values: Mapping[str, str], language: str
) -> tuple[str, str, MessageKind]:
    """The generated document's title, text and the kind of message it is delivered as."""
    title = document.title.get(language)
    body = fill(document.body.get(language), values)
    if service.fee is not None and service.fee.due == "with_decision":
        reason = service.fee.reason.get(language) if service.fee.reason else title
        body += f"\n{reason}: CHF {service.fee.amount:.2f}"
    kind = MessageKind.DECISION if document.kind == "decision" else MessageKind.LETTER
    return title, body, kind
