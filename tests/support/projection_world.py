"""A portal with every legal state in it, for the projection tests, and the means to change its
rows behind the domain's back: plausible other values, and which record must notice."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import io
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Enum, Integer, Text, select
from sqlalchemy import Column as SqlColumn
from sqlalchemy import Table as SqlTable
from sqlalchemy.engine import Connection

from mailbox.models import Delivery, Message
from storage.db import Base
from tests.conftest import csrf_token, login, post_multipart, wait_for
from tests.functional.test_delivery_law import deliver, post_form, sweep


@dataclass(frozen=True)
class World:
    resident_party: uuid.UUID
    cases: list[uuid.UUID]


def build_world(app: Any, demo: dict[str, Any], pdf: Any, runtime: Any, tmp_path: Any) -> World:
    """A delivery opened (with its receipt), one deemed delivered by the sweep, one withdrawn,
    a reply with an attachment marked handled, consent given, revoked and given again."""
    clerk, resident = app.test_client(), app.test_client()
    login(clerk, demo["clerk"])
    login(resident, demo["resident"])
    # Someone else's case file: a row can be moved there (and must not be).
    deliver(clerk, demo["other_resident"]["ahvn13"], pdf("Beat"), subject="Für Beat")
    ahvn13 = demo["resident"]["ahvn13"]
    opened_url = deliver(clerk, ahvn13, pdf("Verfügung"), appeal_period_days="30").headers[
        "Location"
    ]
    opened = _latest_delivery(runtime)
    post_form(resident, f"/messages/{opened.id}", f"/messages/{opened.id}/open")
    deliver(clerk, ahvn13, pdf("Rechnung"), kind="invoice", subject="Rechnung Abfall")
    deemed = _latest_delivery(runtime)
    withdrawn_url = deliver(clerk, ahvn13, pdf("Irrtum"), subject="Irrtum").headers["Location"]
    withdrawn = _latest_delivery(runtime)
    post_form(clerk, withdrawn_url, f"/office/deliveries/{withdrawn.id}/withdraw")
    as_of = (deemed.available_at + dt.timedelta(days=8)).isoformat()
    assert sweep(runtime, as_of, tmp_path).returncode == 0

    page = resident.get(f"/messages/{opened.id}").get_data(as_text=True)
    answer = {
        "csrf_token": csrf_token(page),
        "in_reply_to": str(opened.message_id),
        "text": "Ich erhebe Einsprache.",
        "files": [(io.BytesIO(pdf("Einsprache")), "einsprache.pdf")],
    }
    assert post_multipart(resident, f"{opened_url}/reply", answer).status_code == 302
    with runtime.sessions() as session:
        reply = session.scalars(select(Message).where(Message.direction == "inbound")).one()
    post_form(clerk, "/office/replies", f"/office/replies/{reply.id}/handled")
    for choice in ("revoke", "give"):
        post_form(resident, "/settings", "/settings", {"consent": choice})

    def receipts() -> bool:
        with runtime.sessions() as session:
            rows = [session.get_one(Delivery, d.id) for d in (opened, deemed)]
            return all(d.receipt_document_id for d in rows)

    wait_for(receipts)
    ordered = _ordered_case(runtime, demo)
    with runtime.sessions() as session:
        delivered = [session.get_one(Delivery, d.id) for d in (opened, deemed, withdrawn)]
        assert [d.status for d in delivered] == ["opened", "deemed_delivered", "withdrawn"]
        cases = [d.message.case_id for d in delivered]
        return World(delivered[0].recipient_party_id, [*cases, ordered])


def _ordered_case(runtime: Any, demo: dict[str, Any]) -> uuid.UUID:
    """An ordered service whose steps are in every state that fills a column: a move from
    Luzern to Emmen; Emmen registers (decided, with a fee; the road traffic office's step
    opens), Luzern claims its step and asks the resident (catalogue/steps.py)."""
    from catalogue import steps
    from catalogue.models import Step
    from catalogue.outcomes import Decided, NeedsInformation
    from tests.functional.test_steps import MOVE
    from tests.support.ordering_world import actor_of, clerk_of, place

    case_id = place(runtime, actor_of(runtime, demo["resident"]["login"]), "umzug-melden", MOVE)
    with runtime.sessions() as session:
        rows = {
            s.step_id: s.id for s in session.scalars(select(Step).where(Step.case_id == case_id))
        }
    luzern = actor_of(runtime, demo["clerk"]["login"])
    emmen = clerk_of(runtime, "emmen-einwohnerdienste")
    with runtime.transaction() as session:
        # Decided with a fee: a fee row refers to the step (catalogue/fees.py).
        decided = Decided("Anmeldung", "Angemeldet.", [], None, decimal.Decimal("20.00"))
        steps.record_outcome(session, emmen, rows["register"], decided)
    with runtime.transaction() as session:
        steps.claim(session, luzern, rows["deregister"])
        steps.record_outcome(session, luzern, rows["deregister"], NeedsInformation("Wohin?"))
    return case_id


def _latest_delivery(runtime: Any) -> Delivery:
    with runtime.sessions() as session:
        return session.scalars(select(Delivery).order_by(Delivery.accepted_at.desc())).first()


def table(name: str) -> SqlTable:
    return Base.metadata.tables[name]


def referenced(name: str, column: str) -> bool:
    """Whether other rows refer to this column (the database refuses to change it then)."""
    target = table(name).c[column]
    return any(fk.column is target for t in Base.metadata.tables.values() for fk in t.foreign_keys)


def owner(conn: Connection, name: str, key: dict[str, Any]) -> tuple[str, uuid.UUID]:
    """Which record must notice a change of this row: ("case", id) or ("party", id)."""
    documents, messages = table("documents"), table("messages")
    versions = table("document_versions")
    if name in ("parties", "delivery_consents"):
        party = key["id"] if name == "parties" else _value(conn, name, key, "party_id")
        return "party", party
    if name == "case_files":
        return "case", key["id"]
    if name in ("case_parties", "documents", "messages", "steps", "case_authorities", "fees"):
        return "case", _value(conn, name, key, "case_id")
    if name in ("message_documents", "deliveries"):
        message = _value(conn, name, key, "message_id")
        return "case", conn.scalar(select(messages.c.case_id).where(messages.c.id == message))
    if name == "blobs":
        document = conn.scalar(
            select(versions.c.document_id).where(versions.c.blob_id == key["id"])
        )
    else:
        document = _value(conn, name, key, "document_id")
    return "case", conn.scalar(select(documents.c.case_id).where(documents.c.id == document))


def _value(conn: Connection, name: str, key: dict[str, Any], column: str) -> Any:
    t = table(name)
    return conn.scalar(select(t.c[column]).where(*(t.c[k] == v for k, v in key.items())))


def other_values(conn: Connection, name: str, column: str, current: Any) -> list[Any]:
    """Plausible values other than `current` for the column, best first."""
    col: SqlColumn[Any] = table(name).c[column]
    if col.foreign_keys:
        target = next(iter(col.foreign_keys)).column
        ids = conn.scalars(select(target).where(target != current) if current else select(target))
        return list(ids)
    if isinstance(col.type, Enum):
        return [v for v in col.type.enums if v != _plain(current)]
    kind = getattr(col.type, "impl", col.type)  # UTCDateTime is a DateTime underneath
    if isinstance(kind, DateTime):
        return [(current or dt.datetime(2026, 3, 2, tzinfo=dt.UTC)) + dt.timedelta(days=1)]
    if isinstance(kind, Date):
        return [(current or dt.date(2026, 3, 2)) + dt.timedelta(days=1)]
    if isinstance(kind, Boolean):
        return [not current]
    if isinstance(kind, Integer):
        return [(current or 0) + 1]
    if isinstance(kind, JSON):
        return [[] if current else [{"signer": "Jemand", "valid": True}]]
    if column == "id" or (isinstance(current, uuid.UUID)):
        return [uuid.uuid4()]
    if isinstance(kind, Text):
        return [(current or "") + " (geändert)"]
    text = current or "Jemand"
    return [text[:-1] + ("x" if text[-1] != "x" else "y")]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value
