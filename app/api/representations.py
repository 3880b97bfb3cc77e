"""Domain objects as the API's JSON: plain members, ISO 8601 times in UTC, links to follow."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import g, url_for

from casefiles.models import CaseFile, Document, JournalEntry
from directory.models import Party
from mailbox.models import Delivery, Message

# Journal payload members an API client may read in the event log: identifiers, states, times
# and digests of its own case files. Free text written by residents (a reply's text), party
# records and nested structures stay out; the messages endpoint gives the texts deliberately.
EVENT_MEMBERS = frozenset(
    {
        "reference",
        "title",
        "external_ref",
        "delivery_id",
        "message_id",
        "in_reply_to",
        "document_id",
        "version_id",
        "version",
        "filename",
        "media_type",
        "size",
        "sha256",
        "kind",
        "subject",
        "status",
        "opened_by",
        "available_at",
        "opened_at",
        "deemed_delivered_at",
        "appeal_period_days",
        "due_date",
        "reason",
        "role",
        "pdf_document_id",
        "pdf_sha256",
        "json_document_id",
        "json_sha256",
    }
)


def iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


_DELIVERY_LINKS = {
    "self": "api.get_delivery",
    "receipt": "api.delivery_receipt",
    "withdraw": "api.withdraw",
}
_CASE_LINKS = {
    "case": "api.get_case_view",
    "events": "api.case_events",
    "messages": "api.case_messages_view",
}
_PLACEHOLDER = uuid.UUID(int=0)


def delivery_links(delivery: Delivery) -> dict[str, str]:
    return links(delivery.id, delivery.message.case_id)


def links(delivery_id: uuid.UUID, case_id: uuid.UUID) -> dict[str, str]:
    """The links of a delivery's answer. The URLs are built once a request with a placeholder
    id and filled in by replacing it: a batch answers 1000 deliveries, and six url_for calls
    each cost ~0.1 s of it."""
    templates = g.get("delivery_link_templates")
    if templates is None:
        templates = {
            name: (url_for(endpoint, delivery_id=_PLACEHOLDER), True)
            for name, endpoint in _DELIVERY_LINKS.items()
        } | {
            name: (url_for(endpoint, case_id=_PLACEHOLDER), False)
            for name, endpoint in _CASE_LINKS.items()
        }
        g.delivery_link_templates = templates
    placeholder, ids = str(_PLACEHOLDER), (str(delivery_id), str(case_id))
    return {
        name: url.replace(placeholder, ids[0] if of_delivery else ids[1])
        for name, (url, of_delivery) in templates.items()
    }


def delivery_summary(delivery: Delivery) -> dict[str, Any]:
    """The answer to a new delivery."""
    case = delivery.message.case
    return {
        "delivery_id": str(delivery.id),
        "case_id": str(case.id),
        "case_reference": case.reference,
        "status": delivery.status.value,
        "available_at": iso(delivery.available_at),
        "links": delivery_links(delivery),
    }


def identifier(party: Party) -> dict[str, str]:
    return {"ahvn13": party.ahvn13} if party.ahvn13 else {"uid": party.uid or ""}


def delivery_detail(delivery: Delivery) -> dict[str, Any]:
    message = delivery.message
    return {
        **delivery_summary(delivery),
        "kind": message.kind.value,
        "subject": message.subject,
        "external_ref": message.case.external_ref,
        "recipient": {"name": delivery.recipient.display_name, **identifier(delivery.recipient)},
        "accepted_at": iso(delivery.accepted_at),
        "opened_at": iso(delivery.opened_at),
        "opened_by": delivery.opened_by,
        "deemed_at": iso(delivery.deemed_at),
        "deemed_due_at": iso(delivery.deemed_due_at),
        "withdrawn_at": iso(delivery.withdrawn_at),
        "reply_allowed": delivery.reply_allowed,
        "appeal_period_days": delivery.appeal_period_days,
        "due_date": iso(delivery.due_date),
        "documents": [document_json(d) for d in message.documents],
    }


def document_json(document: Document) -> dict[str, Any]:
    version = document.current
    return {
        "id": str(document.id),
        "filename": version.filename,
        "media_type": version.media_type,
        "size": version.blob.size,
        "sha256": version.blob.sha256,
        "signatures": version.signatures or [],
        "links": {"download": url_for("api.download", document_id=document.id)},
    }


def case_json(case: CaseFile) -> dict[str, Any]:
    return {
        "id": str(case.id),
        "reference": case.reference,
        "title": case.title,
        "status": case.status.value,
        "external_ref": case.external_ref,
        "created_at": iso(case.created_at),
        "closed_at": iso(case.closed_at) if case.closed_at else None,
        "retention_until": case.retention_until.isoformat() if case.retention_until else None,
        "links": {
            "self": url_for("api.get_case_view", case_id=case.id),
            "events": url_for("api.case_events", case_id=case.id),
            "messages": url_for("api.case_messages_view", case_id=case.id),
        },
    }


def case_detail(case: CaseFile) -> dict[str, Any]:
    parties = [
        {"name": p.party.display_name, "role": p.role, **identifier(p.party)} for p in case.parties
    ]
    return {**case_json(case), "parties": parties}


def event_json(entry: JournalEntry) -> dict[str, Any]:
    data = {
        k: v
        for k, v in entry.payload.items()
        if k in EVENT_MEMBERS and (v is None or isinstance(v, str | int | bool))
    }
    return {
        "seq": entry.seq,
        "at": iso(entry.recorded_at),
        "action": entry.action,
        "actor": entry.actor_label,
        "data": data,
        "entry_hash": entry.entry_hash,
    }


def message_json(message: Message) -> dict[str, Any]:
    delivery = message.delivery
    return {
        "id": str(message.id),
        "direction": message.direction.value,
        "kind": message.kind.value,
        "subject": message.subject,
        "body": message.body,
        "created_at": iso(message.created_at),
        "created_by": message.created_by,
        "in_reply_to": str(message.in_reply_to_id) if message.in_reply_to_id else None,
        "documents": [document_json(d) for d in message.documents],
        "delivery": (
            {
                "delivery_id": str(delivery.id),
                "status": delivery.status.value,
                "links": {"self": url_for("api.get_delivery", delivery_id=delivery.id)},
            }
            if delivery is not None
            else None
        ),
    }
