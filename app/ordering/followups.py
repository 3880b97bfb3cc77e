"""Follow-ups: services ordered from inside a dossier (the case type's `follow_ups`), their form
pre-filled from that case file, and the links between the two case files.

What may be ordered from which case file is decided by catalogue.ordering (`follow_up_source`,
checked again when the order is placed); this module reads what the actor may see and shapes it
for the order form and the dossier (cases/_follow_ups.html)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import url_for
from flask_babel import get_locale
from sqlalchemy import select

from app.ordering import bp
from app.web import actor, db
from casefiles.errors import NotFound
from casefiles.models import CaseFile, JournalEntry
from casefiles.operations import get_case, get_document
from catalogue import registry
from catalogue.model import Field, Service
from catalogue.ordering import FOLLOW_UP_ORDERED, ORDERED
from catalogue.steps import service_of
from directory.actors import AccessDenied, Actor
from directory.models import Party, Role
from mailbox.queries import OpeningRequired, readable_version
from signing.canonical import canonical_json
from storage.blobs import blob_bytes


@dataclass
class Offer:
    """A follow-up the holder may order from this case file."""

    title: str
    summary: str
    url: str


@dataclass
class Linked:
    """Another case file this one is linked to; `url` only if the reader may open it."""

    reference: str
    title: str
    url: str | None


@dataclass
class FollowUps:
    offers: list[Offer] = field(default_factory=list)
    ordered_from: Linked | None = None
    ordered: list[Linked] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.offers or self.ordered_from or self.ordered)


def _language() -> str:
    return str(get_locale() or "de")[:2]


def case_title(case: CaseFile) -> str:
    """An ordered case file's service in the reader's language; else the file's own title."""
    service = registry.default().get(case.case_type or "")
    return service.title.get(_language()) if service else case.title


@bp.app_template_global("case_follow_ups")
def case_follow_ups(case: CaseFile) -> FollowUps:
    """What the dossier shows of follow-ups: the offers (to the holder only) and the links."""
    session, me = db(), actor()
    shown = FollowUps(offers=offers(case, me))
    stmt = (
        select(JournalEntry.action, JournalEntry.payload)
        .where(JournalEntry.case_id == case.id)
        .where(JournalEntry.action.in_((ORDERED, FOLLOW_UP_ORDERED)))
        .order_by(JournalEntry.seq)
    )
    for action, payload in session.execute(stmt):
        if action == ORDERED and payload.get("follow_up_of"):
            link = payload["follow_up_of"]
            if not isinstance(link, Mapping):  # the first orders named the case file by id only
                link = {"case_id": link, "reference": ""}
            shown.ordered_from = _linked(me, link, None)
        elif action == FOLLOW_UP_ORDERED:
            shown.ordered.append(_linked(me, payload, payload.get("service")))
    return shown


def offers(case: CaseFile, me: Actor) -> list[Offer]:
    """The case type's follow-ups the holder may order (none for anyone else)."""
    if me.role != Role.RESIDENT or case.party_id != me.party_id or not case.case_type:
        return []
    catalogue = registry.default()
    declared = catalogue.get(case.case_type)
    if declared is None:
        return []
    party = db().get_one(Party, case.party_id)
    language = _language()
    found: list[Offer] = []
    for service_id in declared.follow_ups:
        service = catalogue.get(service_id)
        if service is None or party.kind.value not in service.who:
            continue
        query: dict[str, Any] = {"from": str(case.id)}  # `from` is a Python keyword
        url = url_for("ordering.order_view", service_id=service.id, **query)
        found.append(Offer(service.title.get(language), service.summary.get(language), url))
    return found


def _linked(me: Actor, link: Mapping[str, Any], service_id: str | None) -> Linked:
    reference = str(link.get("reference", ""))
    service = registry.default().get(service_id or "")
    title = service.title.get(_language()) if service else str(link.get("title", ""))
    try:
        other = get_case(db(), me, uuid.UUID(str(link.get("case_id"))))
    except (NotFound, AccessDenied, ValueError):
        return Linked(reference, title, None)  # another authority's file: named, not opened
    if service is None and other.case_type:
        known = registry.default().get(other.case_type)
        title = known.title.get(_language()) if known else other.title
    return Linked(other.reference, title or other.title, url_for("portal.case", case_id=other.id))


def ordered_answers(case: CaseFile, me: Actor) -> dict[str, Any]:
    """The answers of the order that opened `case`, read from its JSON filing with the actor's
    rights, and only if they are what the journal's digest says; {} otherwise."""
    session = db()
    payload = session.scalar(
        select(JournalEntry.payload).where(
            JournalEntry.case_id == case.id, JournalEntry.action == ORDERED
        )
    )
    if not payload or not payload.get("form_json"):
        return {}
    try:
        document = get_document(session, me, uuid.UUID(payload["form_json"]))
        version = readable_version(session, me, document.current.id)
        filed = json.loads(blob_bytes(session, version.blob))
    except (NotFound, AccessDenied, OpeningRequired, ValueError):
        return {}
    answers = filed.get("answers") if isinstance(filed, dict) else None
    if not isinstance(answers, dict):
        return {}
    if hashlib.sha256(canonical_json(answers)).hexdigest() != payload.get("answers_sha256"):
        return {}  # the filing does not match its journal entry: better nothing than a guess
    return answers


def prefilled_from_case(service: Service, case: CaseFile, me: Actor) -> dict[str, Any]:
    """Form values taken from the case file a follow-up is ordered from.

    A field's declared `prefill` (case.reference|title|external_ref, answer.NAME) comes first;
    a field it leaves empty (or one without prefill) takes the original order's answer to the
    field of the same name and type: what the resident already told, they need not type again.
    Free text (textarea) is taken only when declared: reasons belong to their own request.
    """
    answers = ordered_answers(case, me)
    try:
        original = {f.name: f for f in service_of(db(), case).fields()}
    except NotFound:  # the declaration as ordered is unknown: declared prefills only
        original = {}
    known = {
        "case.reference": case.reference,
        "case.title": case.title,
        "case.external_ref": case.external_ref,
    }
    values: dict[str, Any] = {}
    for target in service.fields():
        wanted = target.prefill or ""
        if wanted in known and known[wanted]:
            values[target.name] = known[wanted]
            continue
        value = None
        if wanted.startswith("answer."):
            value = answers.get(wanted.removeprefix("answer."))
        source = original.get(target.name)
        if value is None and source is not None and source.type == target.type:
            # Free text (a textarea: the reasons for *that* request) is not carried over.
            value = None if target.type == "textarea" else answers.get(target.name)
        if value is not None:
            values.update(_as_form_values(target, value))
    return values


def _as_form_values(target: Field, value: Any) -> dict[str, str]:
    """An answer as the form posts it (what forms.validate reads back)."""
    name = target.name
    if target.type == "file":
        return {}  # a file is never copied into another case file unasked
    if target.type == "address":
        if not isinstance(value, dict):
            return {}
        parts = ("street", "postcode", "town")
        return {f"{name}.{part}": str(value.get(part) or "") for part in parts}
    if isinstance(value, bool):
        return {name: "yes" if value else "no"} if target.type == "yesno" else {}
    if isinstance(value, dict | list):
        return {}
    text = str(value)
    if target.type == "choice" and text not in {c.value for c in target.choices}:
        return {}  # not a choice of this form: the resident chooses
    return {name: text}
