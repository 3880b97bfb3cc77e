"""Case files to export, built through the domain as an authority and a resident would: a letter
delivered and opened (its receipt, a sealed PDF and a signed JSON, filed by the receipt job),
then further documents added by the clerk. Shared by the export, check and benchmark tests."""

from __future__ import annotations

import hashlib
import io
import time
import uuid
from typing import Any

from sqlalchemy import select

from casefiles.documents import CheckedFile
from casefiles.journal import record
from casefiles.models import CaseFile, Document, DocumentVersion
from casefiles.operations import add_document
from directory.actors import Actor
from directory.models import Account, Role
from mailbox.models import Delivery
from mailbox.operations import deliver, open_delivery
from storage.blobs import store_blob
from storage.db import utcnow
from tests.conftest import make_pdf


def _accounts(runtime: Any) -> tuple[Actor, Actor]:
    from app.demo import create_demo

    create_demo(runtime)  # once per clean database; returns at once when it is there
    with runtime.sessions() as session:
        clerk = session.scalars(
            select(Account).where(Account.role == Role.CLERK).order_by(Account.login)
        ).first()
        resident = session.scalars(
            select(Account).where(
                Account.role == Role.RESIDENT, Account.login == "anna.muster@example.ch"
            )
        ).one()
        assert clerk is not None
        return Actor.for_account(clerk), Actor.for_account(resident)


def _file(name: str, media_type: str, data: bytes) -> CheckedFile:
    return CheckedFile(filename=name, media_type=media_type, size=len(data), spool=io.BytesIO(data))


def _payload(n: int, size: int | None) -> CheckedFile:
    if size is None:
        return _file(f"Beilage {n}.pdf", "application/pdf", make_pdf(f"Beilage {n}"))
    # Incompressible and distinct, cheap to make in bulk: SHAKE-256 of the document number.
    data = hashlib.shake_256(f"document {n}".encode()).digest(size)
    return _file(f"anhang-{n}.bin", "application/octet-stream", data)


def build_case(
    runtime: Any,
    documents: int = 3,
    size: int | None = None,
    receipt: bool = True,
    second_version: bool = False,
    title: str = "Baubewilligung Nr. 2026-17",
) -> uuid.UUID:
    """A case file with a delivered letter (and, with `receipt`, its receipt once opened) and
    `documents` further documents: PDFs, or `size` bytes each when given. With `second_version`
    the first further document gets a version 2 (journalled as `document.added`, version 2).
    Returns the case file's id; the receipt is filed when this returns."""
    clerk, resident = _accounts(runtime)
    with runtime.transaction() as session:
        delivery = deliver(
            session,
            clerk,
            recipient_id=resident.party_id,
            kind="decision",
            subject=title,
            files=[_file("verfuegung.pdf", "application/pdf", make_pdf("Verfügung"))],
        )
        delivery_id, case_id = delivery.id, delivery.message.case_id
    if receipt:
        with runtime.transaction() as session:
            open_delivery(session, resident, delivery_id)
        _wait_for_receipt(runtime, delivery_id)
    for start in range(0, documents, 50):  # one transaction per 50: bounded for big benches
        with runtime.transaction() as session:
            case = session.get_one(CaseFile, case_id)
            for n in range(start, min(documents, start + 50)):
                add_document(session, clerk, case, _payload(n + 1, size))
    if second_version and documents:
        with runtime.transaction() as session:
            _add_version(session, clerk, session.get_one(CaseFile, case_id))
    return case_id


def _wait_for_receipt(runtime: Any, delivery_id: uuid.UUID, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with runtime.sessions() as session:
            if session.get_one(Delivery, delivery_id).receipt_document_id is not None:
                return
        time.sleep(0.05)
    raise AssertionError("the receipt was not filed in time")


def _add_version(session: Any, actor: Actor, case: CaseFile) -> DocumentVersion:
    """A version 2 of the case file's first further document, as a later revision would be."""
    document = session.scalars(
        select(Document)
        .where(
            Document.case_id == case.id,
            Document.title.like("Beilage%") | Document.title.like("anhang%"),
        )
        .order_by(Document.created_at)
    ).first()
    assert document is not None
    data = make_pdf("Beilage, überarbeitet")
    blob = store_blob(session, io.BytesIO(data))
    now = utcnow()
    version = DocumentVersion(
        id=uuid.uuid4(),
        document_id=document.id,
        number=2,
        blob_id=blob.id,
        filename="Beilage 1 (v2).pdf",
        media_type="application/pdf",
        created_at=now,
    )
    session.add(version)
    session.flush()
    record(
        session,
        case,
        actor,
        "document.added",
        {
            "document_id": str(document.id),
            "version_id": str(version.id),
            "version": 2,
            "title": document.title,
            "filename": version.filename,
            "media_type": version.media_type,
            "size": blob.size,
            "sha256": blob.sha256,
            "signatures": None,
            "created_at": now.isoformat(),
        },
    )
    return version


def archivists(runtime: Any) -> tuple[Actor, Actor]:
    """Two archivists (four eyes): the demo's first and a second one made on first use."""
    from directory.operations import create_account

    _accounts(runtime)
    with runtime.transaction() as session:
        found = list(
            session.scalars(
                select(Account).where(Account.role == Role.ARCHIVIST).order_by(Account.created_at)
            )
        )
        if len(found) < 2:
            found.append(
                create_account(
                    session,
                    login="zweite.archivarin@staatsarchiv.test",
                    password="a-long-test-password",
                    role=Role.ARCHIVIST,
                    display_name="Zweite Archivarin",
                )
            )
        return Actor.for_account(found[0]), Actor.for_account(found[1])


def approve_for_archive(runtime: Any, case_id: uuid.UUID) -> Actor:
    """Close the case file (retention ending today), have one archivist propose to archive it
    and a second approve; returns the first archivist."""
    from casefiles.appraisal import decide, propose
    from casefiles.lifecycle import close_case

    clerk, _resident = _accounts(runtime)
    first, second = archivists(runtime)
    with runtime.transaction() as session:
        case = session.get_one(CaseFile, case_id)
        close_case(session, clerk, case, years=0, disposition="archive", automatic=False)
    with runtime.transaction() as session:
        appraisal_id = propose(session, first, case_id, "archive", "Von bleibendem Wert").id
    with runtime.transaction() as session:
        decide(session, second, appraisal_id, approve=True)
    return first


def damage_object(runtime: Any, key: str, at: float = 0.5) -> None:
    """Flip one bit of the stored object `key`, at the fraction `at` of its bytes, behind the
    portal's back (as a failing disk or someone with access to the bucket would)."""
    store = runtime.objects.store
    with store.open(key) as stored:
        data = bytearray(stored.read())
    data[int(len(data) * at)] ^= 0x01
    store.put(key, io.BytesIO(bytes(data)), len(data))
