"""Deriving the rows from the record, in one pass over its entries: what each action says about
which row (the columns are declared in mailbox/projection.py).

A value an entry written before migration 0009 does not hold is NOT_RECORDED: `portal verify`
reports it as not covered until a `record.completed` entry (`portal journal complete`) holds it.
"""

from __future__ import annotations

import decimal
import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from casefiles.projection import NOT_RECORDED, Expected

COMPLETED = "record.completed"


class Entry(Protocol):
    """A journal or consent-chain entry, as the rules read it (an ORM row or a Core row)."""

    seq: int
    action: str
    actor_kind: str
    actor_id: str | None
    actor_label: str
    payload: dict[str, Any]


def _the(payload: Mapping[str, Any], name: str, member: str | None = None) -> Any:
    """A payload field, or NOT_RECORDED when the entry does not hold it."""
    if name not in payload:
        return NOT_RECORDED
    value = payload[name]
    return value[member] if member is not None and value is not None else value


Rule = Callable[[Expected, str, Entry, str], None]


def _case_opened(out: Expected, case: str, e: Entry, src: str) -> None:
    p = e.payload
    parties = p.get("parties") or []
    # The first party is the holder: how open_case has always made case files, and how
    # migration 0005 gave the earlier ones their holder.
    holder = p["holder"] if "holder" in p else (parties[0]["id"] if parties else NOT_RECORDED)
    values = {
        "reference": p["reference"],
        "title": p["title"],
        "authority_id": _the(p, "authority", "id"),
        "party_id": holder,
        "status": "open",
        "external_ref": p.get("external_ref"),
        "created_at": _the(p, "created_at"),
        # Set by case.ordered for a case file a resident ordered (catalogue/ordering.py).
        "case_type": None,
        "case_type_version": None,
        # Set by case.closed (casefiles/lifecycle.py).
        "closed_at": None,
        "retention_until": None,
        "disposition": None,
    }
    out.put("case_files", (case,), src, values)
    for party in parties:
        out.put("case_parties", (case, party["id"]), src, {"role": party["role"]})


def _document_added(out: Expected, case: str, e: Entry, src: str) -> None:
    p = e.payload
    document = p["document_id"]
    if (document,) not in out.tables.get("documents", {}):  # its first version made it
        values = {
            "case_id": case,
            "title": p["title"],
            "created_at": _the(p, "created_at"),
            "created_by": e.actor_label,
        }
        out.put("documents", (document,), src, values)
    version = {
        "document_id": document,
        "number": p["version"],
        "filename": p["filename"],
        "media_type": p["media_type"],
        "created_at": _the(p, "created_at"),
        "signatures": _the(p, "signatures"),
    }
    out.put("document_versions", (p["version_id"],), src, version)


def _documents(out: Expected, message: str, documents: Sequence[str], src: str) -> None:
    for position, document in enumerate(documents):
        out.put("message_documents", (message, document), src, {"position": position})


def _accepted(out: Expected, case: str, e: Entry, src: str) -> None:
    p = e.payload
    message = {
        "case_id": case,
        "direction": "outbound",
        "sender_authority_id": _the(p, "sender", "id"),
        "sender_party_id": None,
        "in_reply_to_id": None,
        "kind": p["kind"],
        "subject": p["subject"],
        "body": _the(p, "body_sha256"),
        "created_at": _the(p, "created_at"),
        "created_by": e.actor_label,
        "handled_at": None,
        "handled_by": None,
    }
    out.put("messages", (p["message_id"],), src, message)
    _documents(out, p["message_id"], p["documents"], src)
    delivery = {
        "message_id": p["message_id"],
        "recipient_party_id": p["recipient"]["id"],
        "status": "accepted",
        "accepted_at": _the(p, "accepted_at"),
        "deemed_after_days": _the(p, "deemed_after_days"),
        "appeal_period_days": p.get("appeal_period_days"),
        "reply_allowed": _the(p, "reply_allowed"),
        "api_client_id": e.actor_id if e.actor_kind == "api_client" else None,
        **dict.fromkeys(
            (
                "available_at",
                "deemed_due_at",
                "opened_at",
                "opened_by",
                "deemed_at",
                "withdrawn_at",
                "withdrawn_by",
                "due_date",
                "receipt_document_id",
            )
        ),
    }
    out.put("deliveries", (p["delivery_id"],), src, delivery)


def _available(out: Expected, case: str, e: Entry, src: str) -> None:
    p = e.payload
    values = {
        "status": "available",
        "available_at": p["available_at"],
        "deemed_due_at": p["deemed_delivered_at"],
    }
    out.change("deliveries", (p["delivery_id"],), src, values)


def _delivered(out: Expected, case: str, e: Entry, src: str) -> None:
    # The receipt's facts (mailbox/receipts.py receipt_payload), for opened and deemed alike.
    p = e.payload
    values = {
        "status": e.action.removeprefix("delivery."),
        "opened_at": _the(p, "opened_at"),
        "opened_by": _the(p, "opened_by"),
        "deemed_at": _the(p, "deemed_delivered_at"),
        "due_date": _the(p, "due_date"),
    }
    out.change("deliveries", (p["delivery_id"],), src, values)


def _withdrawn(out: Expected, case: str, e: Entry, src: str) -> None:
    p = e.payload
    values = {
        "status": "withdrawn",
        "withdrawn_at": _the(p, "withdrawn_at"),
        "withdrawn_by": e.actor_label,
    }
    out.change("deliveries", (p["delivery_id"],), src, values)


def _receipt_issued(out: Expected, case: str, e: Entry, src: str) -> None:
    p = e.payload
    values = {"receipt_document_id": p["pdf_document_id"]}
    out.change("deliveries", (p["delivery_id"],), src, values)


def _reply_received(out: Expected, case: str, e: Entry, src: str) -> None:
    p = e.payload
    message = {
        "case_id": case,
        "direction": "inbound",
        "sender_authority_id": _the(p, "authority", "id"),
        "sender_party_id": _the(p, "sender_party", "id"),
        "in_reply_to_id": p.get("in_reply_to"),
        "kind": "reply",
        "subject": _the(p, "subject"),
        "body": hashlib.sha256(p["text"].encode()).hexdigest(),
        "created_at": _the(p, "created_at"),
        "created_by": e.actor_label,
        "handled_at": None,
        "handled_by": None,
    }
    out.put("messages", (p["message_id"],), src, message)
    _documents(out, p["message_id"], p["documents"], src)


def _reply_handled(out: Expected, case: str, e: Entry, src: str) -> None:
    p = e.payload
    values = {"handled_at": _the(p, "handled_at"), "handled_by": e.actor_label}
    out.change("messages", (p["message_id"],), src, values)


def _case_ordered(out: Expected, case: str, e: Entry, src: str) -> None:
    # The order: the case type, and the resident's order as a message with its documents.
    p = e.payload
    values = {"case_type": p["service"], "case_type_version": p["version"]}
    out.change("case_files", (case,), src, values)
    message = {
        "case_id": case,
        "direction": "inbound",
        "sender_authority_id": p["authority"]["id"],
        "sender_party_id": p["sender_party"]["id"],
        "in_reply_to_id": None,
        "kind": "order",
        "subject": p["subject"],
        "body": hashlib.sha256(p["text"].encode()).hexdigest(),
        "created_at": p["created_at"],
        "created_by": e.actor_label,
        "handled_at": None,
        "handled_by": None,
    }
    out.put("messages", (p["message_id"],), src, message)
    _documents(out, p["message_id"], p["documents"], src)
    # Who takes part, and each step's first state (catalogue/ordering.py).
    for authority in p.get("authorities", []):
        out.put("case_authorities", (case, authority["id"]), src, {"role": authority["role"]})
    for step in p.get("steps", []):
        values = {
            "case_id": case,
            "step_id": step["step"],
            "position": step["position"],
            "authority_id": step["authority"],
            "status": step["status"],
            "claimed_by": None,
            "opened_at": step["opened_at"],
            "due_at": None,
            "finished_at": step["finished_at"],
            "outcome": None,
            "note": None,
        }
        out.put("steps", (step["id"],), src, values)


def _step(out: Expected, case: str, e: Entry, src: str) -> None:
    # Every step.* entry holds the step's row as it is afterwards (catalogue/steps.py `facts`).
    s = e.payload["step"]
    values = {
        "case_id": case,
        "step_id": s["step"],
        "position": s["position"],
        "authority_id": s["authority"],
        **{name: s[name] for name in _STEP_FACTS},
    }
    out.change("steps", (s["id"],), src, values)
    if e.action in ("step.opened", "step.forwarded") and s["authority"] is not None:
        # The authority the step is now at takes part (catalogue.steps.take_part), once.
        key = (case, s["authority"])
        if key not in out.tables.get("case_authorities", {}):
            out.put("case_authorities", key, src, {"role": "step"})


_STEP_FACTS = ("status", "claimed_by", "opened_at", "due_at", "finished_at", "outcome", "note")
_STEP_ACTIONS = (
    "claimed",
    "released",
    "done",
    "decided",
    "rejected",
    "skipped",
    "forwarded",
    "opened",
    "information_requested",
    "information_answered",
    "reminded",
    "expired",
    "reopened",
)


def _fee(out: Expected, case: str, e: Entry, src: str) -> None:
    # fee.billed and fee.paid hold the fee's row as it is afterwards (catalogue/fees.py `facts`);
    # the amount is recorded in francs as text, the row keeps Rappen.
    f = e.payload["fee"]
    values = {
        "case_id": case,
        "authority_id": f["authority"],
        "step_id": f["step"],
        "amount_rappen": int(decimal.Decimal(f["amount"]) * 100),
        **{name: f[name] for name in _FEE_FACTS},
    }
    out.put("fees", (f["id"],), src, values)


_FEE_FACTS = (
    "currency",
    "due",
    "reason",
    "account",
    "reference",
    "status",
    "billed_at",
    "paid_at",
    "paid_by",
)


def _case_closed(out: Expected, case: str, e: Entry, src: str) -> None:
    p = e.payload
    values = {
        "status": "closed",
        "closed_at": p["closed_at"],
        "retention_until": p["retention_until"],
        "disposition": p["disposition"],
    }
    out.change("case_files", (case,), src, values)


def _case_transferred(out: Expected, case: str, e: Entry, src: str) -> None:
    out.change("case_files", (case,), src, {"status": "transferred"})


def _completed(out: Expected, case: str, e: Entry, src: str) -> None:
    for row in e.payload.get("rows", []):
        out.complete(row["table"], tuple(row["key"]), src, row["values"])


_CASE_RULES: dict[str, Rule] = {
    "case.opened": _case_opened,
    "document.added": _document_added,
    "delivery.accepted": _accepted,
    "delivery.available": _available,
    "delivery.opened": _delivered,
    "delivery.deemed_delivered": _delivered,
    "delivery.withdrawn": _withdrawn,
    "receipt.issued": _receipt_issued,
    "reply.received": _reply_received,
    "reply.handled": _reply_handled,
    "case.ordered": _case_ordered,
    "case.closed": _case_closed,
    "case.transferred": _case_transferred,
    COMPLETED: _completed,
    **{f"step.{what}": _step for what in _STEP_ACTIONS},
    "fee.billed": _fee,
    "fee.paid": _fee,
}


def derive_case(case_id: uuid.UUID, journal: Sequence[Entry]) -> Expected:
    """The rows of a case file as its journal says they are."""
    out = Expected()
    case = str(case_id)
    for entry in journal:
        rule = _CASE_RULES.get(entry.action)
        if rule is not None:  # other actions (notes) say nothing about rows
            rule(out, case, entry, f"entry {entry.seq} {entry.action}")
    return out


def derive_consents(party_id: uuid.UUID | str, chain: Sequence[Entry]) -> Expected:
    """The consent rows of a party as its consent chain says they are."""
    out = Expected()
    party = str(party_id)
    for e in chain:
        p, src = e.payload, f"consent entry {e.seq} {e.action}"
        if e.action == "consent.given":
            values = {
                "party_id": party,
                "given_at": p["given_at"],
                "given_by": e.actor_label,
                "revoked_at": None,
                "revoked_by": None,
            }
            out.put("delivery_consents", (p["consent_id"],), src, values)
        elif e.action == "consent.revoked":
            values = {"revoked_at": p["revoked_at"], "revoked_by": e.actor_label}
            out.change("delivery_consents", (p["consent_id"],), src, values)
        elif e.action == COMPLETED:  # the consents from before the chain, as it started
            for c in p["consents"]:
                values = {k: c[k] for k in ("given_at", "given_by", "revoked_at", "revoked_by")}
                out.put("delivery_consents", (c["consent_id"],), src, {"party_id": party, **values})
    return out
