"""Turning journal entries and statuses into words a person reads (translated)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import get_locale, lazy_gettext
from flask_babel import gettext as _

from app.web import db, localdate, localtime
from casefiles.errors import NotFound
from casefiles.models import CaseFile, JournalEntry
from catalogue import model as declared
from catalogue import registry

KIND_LABELS = {
    "decision": lazy_gettext("Decision"),
    "letter": lazy_gettext("Letter"),
    "invoice": lazy_gettext("Invoice"),
    "information": lazy_gettext("Information"),
    "reply": lazy_gettext("Reply"),
    "order": lazy_gettext("Order"),
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


class Facts:
    """What a history line may say about an entry: its payload, and the service the case file
    was ordered as (for the steps' titles in the reader's language)."""

    def __init__(self, payload: Mapping[str, Any], service: declared.Service | None) -> None:
        self.p = payload
        self.service = service
        self.language = str(get_locale() or "de")[:2]

    def get(self, *path: str) -> str:
        value: Any = self.p
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        return "" if value is None else str(value)

    @property
    def step(self) -> str:
        """The step's title as declared, in the reader's language (its id if unknown)."""
        step_id = self.get("step", "step")
        if self.service is not None:
            for step in self.service.steps:
                if step.id == step_id:
                    return step.title.get(self.language)
        return step_id

    @property
    def authority(self) -> str:
        return self.get("authority", "name")

    @property
    def title(self) -> str:
        """The ordered service's title in the reader's language (as journalled if unknown)."""
        service = registry.default().get(self.get("service"))
        return service.title.get(self.language) if service else self.get("title")

    def day(self, *path: str) -> str:
        try:
            return localdate(dt.date.fromisoformat(self.get(*path)[:10]))
        except ValueError:
            return self.get(*path)


def _ordered(f: Facts) -> str:
    if f.p.get("follow_up_of"):
        return _(
            "Ordered as a follow-up of case file %(reference)s: %(title)s",
            reference=f.get("follow_up_of", "reference"),
            title=f.title,
        )
    return _("Ordered: %(title)s", title=f.title)


# Every action the code journals has its words here; tests/unit/app/test_history_wording.py
# finds the actions in the code and fails for one that is missing.
WORDING: dict[str, Callable[[Facts], str]] = {
    "case.opened": lambda f: _("Case file opened: %(title)s", title=f.get("title")),
    "document.added": lambda f: _("Document added: %(name)s", name=f.get("filename")),
    "party.added": lambda f: _("Party added: %(name)s", name=f.get("party", "name")),
    "delivery.accepted": lambda f: _(
        "Accepted for the mailbox of %(name)s: %(subject)s",
        name=f.get("recipient", "name"),
        subject=f.get("subject"),
    ),
    "delivery.available": lambda f: _("Available in the mailbox"),
    "delivery.opened": lambda f: _(
        "Opened by %(name)s (receipt recorded)", name=f.get("opened_by")
    ),
    "delivery.deemed_delivered": lambda f: _(
        "Deemed delivered: not opened within the period (receipt recorded)"
    ),
    "delivery.withdrawn": lambda f: _("Withdrawn by the authority"),
    "receipt.issued": lambda f: _("Sealed receipt issued"),
    "reply.received": lambda f: _("Message from the resident received"),
    "reply.handled": lambda f: _("Message handled"),
    "record.completed": lambda f: _("Records from before the journal sealed into it"),
    "case.ordered": _ordered,
    "case.follow_up_ordered": lambda f: _(
        "Follow-up ordered: %(title)s (case file %(reference)s)",
        title=f.title,
        reference=f.get("reference"),
    ),
    "case.process_done": lambda f: _("All steps of the order are finished"),
    # The lifecycle (casefiles/lifecycle.py, casefiles/appraisal.py).
    "case.closed": lambda f: _(
        "Case file closed; kept until %(date)s", date=f.day("retention_until")
    ),
    "case.transferred": lambda f: _("Handed over to the archive"),
    "appraisal.proposed": lambda f: (
        _("Proposed for the archive")
        if f.get("disposition") == "archive"
        else _("Proposed for destruction")
    ),
    "appraisal.approved": lambda f: (
        _("Archiving approved") if f.get("disposition") == "archive" else _("Destruction approved")
    ),
    "appraisal.rejected": lambda f: _("Appraisal rejected"),
    "step.opened": lambda f: _(
        "«%(step)s» started at %(authority)s", step=f.step, authority=f.authority
    ),
    "step.claimed": lambda f: _(
        "«%(step)s» taken on by %(authority)s", step=f.step, authority=f.authority
    ),
    "step.released": lambda f: _(
        "«%(step)s» back in the queue of %(authority)s", step=f.step, authority=f.authority
    ),
    "step.done": lambda f: _(
        "«%(step)s» done by %(authority)s", step=f.step, authority=f.authority
    ),
    "step.decided": lambda f: _(
        "«%(step)s» decided by %(authority)s", step=f.step, authority=f.authority
    ),
    "step.rejected": lambda f: _(
        "«%(step)s» rejected by %(authority)s", step=f.step, authority=f.authority
    ),
    "step.skipped": lambda f: _("«%(step)s» not needed", step=f.step),
    "step.forwarded": lambda f: _(
        "«%(step)s» forwarded by %(authority)s to another office",
        step=f.step,
        authority=f.authority,
    ),
    "step.information_requested": lambda f: _(
        "«%(step)s»: %(authority)s asks for information, answer by %(date)s",
        step=f.step,
        authority=f.authority,
        date=f.day("deadline"),
    ),
    "step.information_answered": lambda f: _(
        "«%(step)s»: the information was sent to %(authority)s",
        step=f.step,
        authority=f.authority,
    ),
    "step.reminded": lambda f: _(
        "«%(step)s»: reminder of the request for information", step=f.step
    ),
    "step.expired": lambda f: _(
        "«%(step)s»: the period for the information has passed", step=f.step
    ),
    "step.reopened": lambda f: _(
        "«%(step)s» in progress again at %(authority)s", step=f.step, authority=f.authority
    ),
    "fee.billed": lambda f: _(
        "Fee of CHF %(amount)s billed by %(authority)s",
        amount=f.get("fee", "amount"),
        authority=f.authority,
    ),
    "fee.paid": lambda f: _(
        "Fee of CHF %(amount)s marked as paid by %(authority)s",
        amount=f.get("fee", "amount"),
        authority=f.authority,
    ),
}


def describe(entry: JournalEntry, service: declared.Service | None = None) -> str:
    facts = Facts(entry.payload or {}, service)
    words = WORDING.get(entry.action)
    if words is not None:
        return words(facts)
    # Not reached for what the code journals today (the test above sees to it); an entry
    # written by a newer version still reads as words, never as a bare action name.
    if entry.action.startswith("step."):
        return _("«%(step)s»: status changed", step=facts.step)
    return _("Entry recorded")


def timeline(entries: list[JournalEntry], case: CaseFile | None = None) -> list[TimelineItem]:
    """The history lines; with the case file, steps are named as its declaration names them."""
    service = None
    if case is not None and case.case_type:
        from catalogue.steps import service_of

        try:
            service = service_of(db(), case)
        except NotFound:
            service = None
    return [
        TimelineItem(
            when=localtime(e.recorded_at, "dd.MM.yyyy, HH:mm:ss"),
            who=e.actor_label,
            what=describe(e, service),
            iso=e.recorded_at.isoformat(),
        )
        for e in entries
    ]
