"""Mass mailings: many letters delivered at once, by the rules of `deliver`, written in bulk.

`deliver_many` writes exactly what `deliver` writes for each letter (case file, documents,
message, delivery, the four signed journal entries, webhook events, the notice) but checks every
letter first, resolves all recipients in two queries, stores all documents with one group commit,
builds the journal of each new case file in memory and inserts the rows table by table in a few
statements, with one notice job for the whole mailing. A letter that continues an existing case
file (`case_id`, or an `external_ref` already in use) goes through `deliver` itself, in a
savepoint of its own, after the others.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.documents import CheckedFile
from casefiles.errors import InvalidInput, NotFound
from casefiles.journal import head_of, keyring_of, new_journal
from casefiles.models import (
    CaseFile,
    CaseParty,
    CaseStatus,
    Document,
    DocumentVersion,
    JournalEntry,
)
from casefiles.operations import case_opened, document_added, new_case, new_document
from directory.actors import AccessDenied, Actor
from directory.consent import reachable_parties
from directory.models import Authority, Party
from mailbox.events import emit_many
from mailbox.letters import (
    DeliveryOptions,
    RecipientNotReachable,
    accepted_entry,
    accepted_values,
    available_entry,
    available_values,
    check_message,
    event_data,
    message_values,
    wants_notice,
)
from mailbox.models import Delivery, DeliveryStatus, Message, MessageDocument, MessageKind
from mailbox.operations import deliver
from mailbox.seals import prepare_pdf
from signing import Keyring
from storage.blobs import savepoint, store_blobs
from storage.bulk import insert_rows
from storage.db import utcnow
from storage.jobs import enqueue

# The faults of one letter; anything else (storage, database) fails the whole mailing.
ItemError = InvalidInput | NotFound | AccessDenied


@dataclass(frozen=True)
class Letter:
    """One letter of a mailing, as `deliver` takes it."""

    recipient_id: uuid.UUID | None
    kind: MessageKind | str
    subject: str
    files: Sequence[CheckedFile]
    body: str = ""
    options: DeliveryOptions = field(default_factory=DeliveryOptions)


@dataclass(frozen=True)
class Delivered:
    delivery_id: uuid.UUID
    case_id: uuid.UUID
    case_reference: str
    status: DeliveryStatus
    available_at: dt.datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> Delivered:
        case = delivery.message.case
        return cls(delivery.id, case.id, case.reference, delivery.status, delivery.available_at)


@dataclass(frozen=True)
class ItemResult:
    """A letter's outcome: delivered, or the error that `deliver` would have raised for it."""

    delivered: Delivered | None = None
    error: ItemError | None = None


@dataclass
class _Checked:
    index: int
    letter: Letter
    recipient: Party
    subject: str
    kind: MessageKind
    files: list[tuple[CheckedFile, list[dict[str, Any]] | None]]


def deliver_many(session: Session, actor: Actor, letters: Sequence[Letter]) -> list[ItemResult]:
    """Deliver many letters, each into a new case file (or as `deliver` does); a result each."""
    actor.require_authority()
    authority = session.get_one(Authority, actor.authority_id)
    results: list[ItemResult | None] = [None] * len(letters)
    continuing = _continuing(session, authority, letters)
    new = [(i, letter) for i, letter in enumerate(letters) if i not in continuing]
    checked = _check(session, authority, new, results)
    written = _write(session, actor, authority, checked)
    for c, delivered in zip(checked, written, strict=True):
        results[c.index] = ItemResult(delivered=delivered)
    for index in sorted(continuing):
        results[index] = _deliver_one(session, actor, letters[index])
    return [r if r is not None else ItemResult() for r in results]


def _continuing(session: Session, authority: Authority, letters: Sequence[Letter]) -> set[int]:
    """The letters that may go into a case file that exists, or that an earlier letter opens.

    Recipients are not resolved yet, so a reference in use by anyone sends the letter the slow
    way; `deliver` then finds the recipient's own case file for it or opens one.
    """
    refs = {letter.options.external_ref for letter in letters} - {None}
    existing = set()
    if refs:
        existing = set(
            session.scalars(
                select(CaseFile.external_ref).where(
                    CaseFile.authority_id == authority.id, CaseFile.external_ref.in_(refs)
                )
            )
        )
    continuing = set()
    for i, letter in enumerate(letters):
        ref = letter.options.external_ref
        if letter.options.case_id is not None or ref in existing:
            continuing.add(i)
        elif ref is not None:
            existing.add(ref)  # the next letter with this reference joins this one's case file
    return continuing


def _deliver_one(session: Session, actor: Actor, letter: Letter) -> ItemResult:
    try:
        with savepoint(session):
            delivery = deliver(
                session,
                actor,
                recipient_id=letter.recipient_id,
                kind=letter.kind,
                subject=letter.subject,
                files=letter.files,
                body=letter.body,
                options=letter.options,
            )
            return ItemResult(delivered=Delivered.of(delivery))
    except (InvalidInput, NotFound, AccessDenied) as exc:
        return ItemResult(error=exc)


def _check(
    session: Session,
    authority: Authority,
    letters: list[tuple[int, Letter]],
    results: list[ItemResult | None],
) -> list[_Checked]:
    """Every check `deliver` makes before it writes, for all letters; failures go to results."""
    ids = {letter.recipient_id for _, letter in letters if letter.recipient_id is not None}
    parties = {p.id: p for p in session.scalars(select(Party).where(Party.id.in_(ids)))}
    reachable = reachable_parties(session, ids)
    checked = []
    for index, letter in letters:
        try:
            subject, kind = check_message(letter.subject, letter.kind, letter.files, letter.options)
            recipient = parties.get(letter.recipient_id) if letter.recipient_id else None
            if recipient is None:
                raise InvalidInput("recipient", "Choose a recipient.")
            if recipient.id not in reachable:
                raise RecipientNotReachable()
            seal = letter.options.seal
            files = [prepare_pdf(session, authority, f, seal=seal) for f in letter.files]
        except (InvalidInput, NotFound, AccessDenied) as exc:
            results[index] = ItemResult(error=exc)
            continue
        checked.append(_Checked(index, letter, recipient, subject, kind, files))
    return checked


def _write(
    session: Session, actor: Actor, authority: Authority, checked: list[_Checked]
) -> list[Delivered]:
    """Store the documents, then insert every row of the checked letters, table by table."""
    if not checked:
        return []
    # The case files' ids first: each one's documents are stored under its own key.
    case_ids = [uuid.uuid4() for _ in checked]
    spools = [f.spool for c in checked for f, _ in c.files]
    groups = [case_id for c, case_id in zip(checked, case_ids, strict=True) for _ in c.files]
    blobs = iter(store_blobs(session, spools, groups=groups))
    keyring = keyring_of(session)
    rows: dict[type, list[dict[str, Any]]] = defaultdict(list)
    done = [
        _rows_of(c, case_id, actor, authority, keyring, blobs, rows)
        for c, case_id in zip(checked, case_ids, strict=True)
    ]
    # Parents before children: the foreign keys are checked statement by statement.
    for model in (
        CaseFile,
        CaseParty,
        Document,
        DocumentVersion,
        Message,
        MessageDocument,
        Delivery,
        JournalEntry,
    ):
        insert_rows(session, model.__table__, rows[model])
    events = [event_data(d.delivery_id, d.case_id, d.status, None) for d in done]
    emit_many(session, authority.id, "delivery.available", events)
    notices = [
        str(d.delivery_id) for d, c in zip(done, checked, strict=True) if wants_notice(c.recipient)
    ]
    if notices:
        # One job for the mailing, not one per letter (rq runs ~200 jobs/s).
        enqueue(session, "mailbox.jobs.send_notices", *notices)
    return done


def _rows_of(
    c: _Checked,
    case_id: uuid.UUID,
    actor: Actor,
    authority: Authority,
    keyring: Keyring,
    blobs: Iterator[dict[str, Any]],
    rows: dict[type, list[dict[str, Any]]],
) -> Delivered:
    """Add the rows of one letter, in a new case file, to `rows`: what `deliver` would write."""
    now = utcnow()
    parties = [(c.recipient, "recipient")]
    case = new_case(
        title=c.subject,
        authority=authority,
        holder=c.recipient,
        external_ref=c.letter.options.external_ref,
    ) | {"id": case_id}
    journal = [case_opened(case, authority, parties)]
    rows[CaseParty].append({"case_id": case["id"], "party_id": c.recipient.id, "role": "recipient"})
    documents = []
    for file, signatures in c.files:
        blob = next(blobs)
        document, version = new_document(case["id"], actor, file, blob["id"], signatures=signatures)
        journal.append(document_added(document, version, blob["size"], blob["sha256"]))
        rows[Document].append(document)
        rows[DocumentVersion].append(version)
        documents.append(document["id"])
    message = message_values(case["id"], authority, actor, c.kind, c.subject, c.letter.body, now)
    rows[Message].append(message)
    rows[MessageDocument] += [
        {"message_id": message["id"], "document_id": d, "position": n}
        for n, d in enumerate(documents)
    ]
    options = c.letter.options
    delivery = accepted_values(message["id"], c.recipient, authority, actor, options, now)
    journal.append(accepted_entry(message, delivery, authority, c.recipient, documents))
    available = available_values(utcnow(), delivery["deemed_after_days"])
    journal.append(available_entry(delivery["id"], available))
    rows[Delivery].append(delivery | available)
    entries = new_journal(keyring, case["id"], actor, journal)
    rows[JournalEntry] += entries
    rows[CaseFile].append(case | {"status": CaseStatus.OPEN} | head_of(entries))
    status, available_at = available["status"], available["available_at"]
    return Delivered(delivery["id"], case["id"], case["reference"], status, available_at)
