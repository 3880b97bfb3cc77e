"""Turning journal entries and statuses into words a person reads (translated)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from app.web import localtime
from casefiles.models import JournalEntry

KIND_LABELS = {
    "decision": lazy_gettext("Decision"),
    "letter": lazy_gettext("Letter"),
    "invoice": lazy_gettext("Invoice"),
    "information": lazy_gettext("Information"),
    "reply": lazy_gettext("Reply"),
}
STATUS_LABELS = {
    "accepted": lazy_gettext("Accepted"),
    "available": lazy_gettext("New"),
    "opened": lazy_gettext("Opened"),
    "deemed_delivered": lazy_gettext("Deemed delivered"),
    "withdrawn": lazy_gettext("Withdrawn"),
}


@dataclass
class TimelineItem:
    when: str
    who: str
    what: str
    iso: str = ""


def describe(entry: JournalEntry) -> str:
    p: dict[str, Any] = entry.payload
    recipient = p.get("recipient") or {}
    texts = {
        "case.opened": lambda: _("Case file opened: %(title)s", title=p.get("title", "")),
        "document.added": lambda: _("Document added: %(name)s", name=p.get("filename", "")),
        "party.added": lambda: _(
            "Party added: %(name)s", name=(p.get("party") or {}).get("name", "")
        ),
        "delivery.accepted": lambda: _(
            "Accepted for the mailbox of %(name)s: %(subject)s",
            name=recipient.get("name", ""),
            subject=p.get("subject", ""),
        ),
        "delivery.available": lambda: _("Available in the mailbox"),
        "delivery.opened": lambda: _(
            "Opened by %(name)s (receipt recorded)", name=p.get("opened_by", "")
        ),
        "delivery.deemed_delivered": lambda: _(
            "Deemed delivered: not opened within the period (receipt recorded)"
        ),
        "delivery.withdrawn": lambda: _("Withdrawn by the authority"),
        "receipt.issued": lambda: _("Sealed receipt issued"),
        "reply.received": lambda: _("Message from the resident received"),
        "reply.handled": lambda: _("Message handled"),
    }
    text = texts.get(entry.action)
    return text() if text else entry.action


def timeline(entries: list[JournalEntry]) -> list[TimelineItem]:
    return [
        TimelineItem(
            when=localtime(e.recorded_at, "dd.MM.yyyy, HH:mm:ss"),
            who=e.actor_label,
            what=describe(e),
            iso=e.recorded_at.isoformat(),
        )
        for e in entries
    ]
