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


def describe(entry: JournalEntry) -> str:
    p: dict[str, Any] = entry.payload
    match entry.action:
        case "case.opened":
            return _("Case file opened: %(title)s", title=p.get("title", ""))
        case "document.added":
            return _("Document added: %(name)s", name=p.get("filename", ""))
        case "delivery.available":
            return _(
                "Delivered to the mailbox of %(name)s: %(subject)s",
                name=p.get("recipient", {}).get("name", ""),
                subject=p.get("subject", ""),
            )
        case "delivery.opened":
            return _("Opened by %(name)s (receipt recorded)", name=p.get("opened_by", ""))
        case "receipt.issued":
            return _("Sealed receipt issued")
        case _:
            return entry.action


def timeline(entries: list[JournalEntry]) -> list[TimelineItem]:
    return [
        TimelineItem(
            when=localtime(e.recorded_at, "dd.MM.yyyy, HH:mm:ss"),
            who=e.actor_label,
            what=describe(e),
        )
        for e in entries
    ]
