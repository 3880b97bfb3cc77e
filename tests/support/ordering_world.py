"""Ordering services and acting on their steps from the test side: residents order with the
domain's `order` (as the web form does), clerks of any authority act through catalogue.steps.
Answers for any declaration are made from its fields, so a new service needs no test code."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

from PIL import Image
from sqlalchemy import select

from casefiles.documents import CheckedFile, Upload, check_upload
from catalogue.model import Field, Service
from catalogue.ordering import order
from directory.actors import Actor
from directory.models import Account, Authority, Party, Role
from directory.operations import create_account
from tests.conftest import make_pdf

PASSWORD = "a-long-test-password"


def actor_of(runtime: Any, login: str) -> Actor:
    with runtime.sessions() as session:
        account = session.scalars(select(Account).where(Account.login == login)).one()
        return Actor.for_account(account)


def clerk_of(runtime: Any, slug: str) -> Actor:
    """A clerk of the authority `slug` (made on first use)."""
    login = f"clerk@{slug}.test"
    with runtime.transaction() as session:
        account = session.scalar(select(Account).where(Account.login == login))
        if account is None:
            authority = session.scalars(select(Authority).where(Authority.slug == slug)).one()
            account = create_account(session, login=login, password=PASSWORD, role=Role.CLERK,
                                     display_name=f"Clerk {slug}", authority=authority)  # fmt: skip
        return Actor.for_account(account)


def slug_of(runtime: Any, authority_id: uuid.UUID | None) -> str | None:
    if authority_id is None:
        return None
    with runtime.sessions() as session:
        return session.get_one(Authority, authority_id).slug


def party_of(runtime: Any, actor: Actor) -> Party:
    with runtime.sessions() as session:
        party = session.get_one(Party, actor.party_id)
        session.expunge(party)
        return party


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _value(field: Field, party: Party, bfs: int) -> str | dict[str, str] | None:
    today = dt.date.today()
    if field.type in ("text", "textarea"):
        if field.pattern == "^[0-9]{15}$":
            return "756098765432101"
        return "Test"[: field.max_length or 4]
    if field.type == "number":
        low = int(field.min) if field.min is not None else 1
        return str(
            max(low, min(today.year - 1, int(field.max) if field.max is not None else 10**6))
        )
    if field.type == "date":
        if field.min not in (None, "today"):
            return str(field.min)
        return (today - dt.timedelta(days=400)).isoformat() if field.max == "today" or \
            field.min is None else today.isoformat()  # fmt: skip
    if field.type == "choice":
        return field.choices[0].value
    if field.type == "yesno":
        return "yes"
    if field.type == "ahvn13":
        return party.ahvn13 or "756.1234.5678.97"
    if field.type == "email":
        return "someone@example.ch"
    if field.type == "commune":
        return str(bfs)
    if field.type == "address":
        return {"street": "Bahnhofstrasse 1", "postcode": "6003", "town": "Luzern"}
    return None


def answers_for(
    service: Service, party: Party, *, bfs: int | None = None, checked: bool = False
) -> tuple[dict[str, Any], dict[str, CheckedFile]]:
    """Answers that satisfy the declaration (every applicable field filled), and its files
    checked by the intake policy."""
    raw: dict[str, Any] = {}
    files: dict[str, CheckedFile] = {}
    for field in service.fields():
        if field.type == "file":
            images_only = field.accept and "application/pdf" not in field.accept
            data, name = (png(), "bild.png") if images_only else (make_pdf(field.name), "a.pdf")
            if checked:
                kinds = field.accept or ("application/pdf",)
                upload = Upload(name, io.BytesIO(data))
                files[field.name] = check_upload(upload, field=field.name, allowed=tuple(kinds))
            else:  # as the intake policy passes them (its own tests check it): faster
                media_type = "image/png" if images_only else "application/pdf"
                files[field.name] = CheckedFile(name, media_type, len(data), io.BytesIO(data))
            continue
        value = _value(field, party, bfs or party.bfs or 1061)
        if isinstance(value, dict):
            raw.update({f"{field.name}.{k}": v for k, v in value.items()})
        elif value is not None:
            raw[field.name] = value
    return raw, files


def place(runtime: Any, resident: Actor, service: str, raw: dict[str, Any],
          files: dict[str, CheckedFile] | None = None, **kw: Any) -> uuid.UUID:  # fmt: skip
    with runtime.transaction() as session:
        return order(session, resident, service, raw, files or {}, **kw).id
