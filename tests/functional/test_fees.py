"""Fees with a Swiss QR-bill: fee first (betreibungsregisterauszug: the steps wait until the fee
is paid), fee with the decision (hund-anmelden: the QR-bill is a second PDF of the decision's
delivery; wohnsitzbestaetigung: issued automatically, its bill follows), marked paid by the
billing authority only, and the bill itself: text, QR payload, seal."""

from __future__ import annotations

import decimal
import io
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from pypdf import PdfReader
from sqlalchemy import select
from stdnum.ch import esr

from casefiles.errors import InvalidInput, NotFound
from casefiles.models import CaseFile, JournalEntry
from catalogue import fees, qrbill_pdf, steps
from catalogue.models import Fee, FeeStatus, Step, StepStatus
from catalogue.outcomes import Decided
from directory.actors import AccessDenied
from directory.models import Authority
from mailbox.models import Message, MessageDocument
from storage.blobs import blob_bytes
from tests.functional.test_verify_cli import run_verify
from tests.support.ordering_world import actor_of, clerk_of, place
from tests.support.services import REQUIRE


def _fees(runtime: Any, case_id: uuid.UUID) -> list[Fee]:
    with runtime.sessions() as session:
        rows = list(session.scalars(select(Fee).where(Fee.case_id == case_id)))
        for row in rows:
            session.expunge(row)
        return rows


def _step_states(runtime: Any, case_id: uuid.UUID) -> dict[str, StepStatus]:
    with runtime.sessions() as session:
        rows = session.scalars(select(Step).where(Step.case_id == case_id))
        return {r.step_id: r.status for r in rows}


def _actions(runtime: Any, case_id: uuid.UUID) -> list[str]:
    with runtime.sessions() as session:
        return list(session.scalars(select(JournalEntry.action).where(
            JournalEntry.case_id == case_id).order_by(JournalEntry.seq)))  # fmt: skip


def _bill_pdfs(runtime: Any, case_id: uuid.UUID) -> list[tuple[str, bytes]]:
    """The bills delivered into the case file, as the resident downloads them."""
    found = []
    with runtime.sessions() as session:
        case = session.get_one(CaseFile, case_id)
        for document in case.documents:
            for version in document.versions:
                if version.filename.startswith("Rechnung"):
                    found.append((version.filename, blob_bytes(session, version.blob)))
    return found


def _order(runtime: Any, resident: Any, service: str) -> uuid.UUID:
    from catalogue import registry
    from tests.support.ordering_world import answers_for, party_of

    declared = registry.default().get(service)
    assert declared is not None
    raw, files = answers_for(declared, party_of(runtime, resident))
    return place(runtime, resident, service, raw, files)


def decode_qr(pdf: bytes, tmp_path: Path) -> str:
    """The QR code's payload, read from the rendered page with zbarimg. zbar does not find the
    symbol while the Swiss cross's white arms are in it (its finder search trips over them),
    though the code's error correction covers the cross: so the cross's square is painted
    over in black, the modules around it are read as printed."""
    (tmp_path / "bill.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "300", "-png", "-singlefile", str(tmp_path / "bill.pdf"),
                    str(tmp_path / "page")], check=True)  # fmt: skip
    image = Image.open(tmp_path / "page.png").convert("L")
    dpmm = 300 / 25.4
    # The QR code: 46 mm square, 67 mm from the left, its top 17 mm below the payment part's.
    middle_x, middle_y = (67 + 23) * dpmm, (297 - 105 + 17 + 23) * dpmm
    half = 3.6 * dpmm
    ImageDraw.Draw(image).rectangle(
        [middle_x - half, middle_y - half, middle_x + half, middle_y + half], fill=0
    )
    image.save(tmp_path / "masked.png")
    result = subprocess.run(["zbarimg", "-q", "--raw", str(tmp_path / "masked.png")],
                            capture_output=True, text=True, check=True)  # fmt: skip
    return result.stdout.rstrip("\n")


def _zbar() -> bool:
    """zbarimg reads the printed QR code; CI (PORTAL_REQUIRE_SERVICES=1) must have it."""
    if shutil.which("zbarimg"):
        return True
    if REQUIRE:
        pytest.fail("required tool unavailable: zbarimg (Debian package zbar-tools)")
    return False


def test_the_bill_is_a_swiss_qr_bill(tmp_path):
    account = "CH3830100000001061002"  # a QR-IBAN (institution id 30100)
    reference = qrbill_pdf.reference_for(account, 123456789)
    assert len(reference) == 27 and esr.is_valid(reference)
    creditor = qrbill_pdf.Address("Betreibungsamt Luzern", "Hirschengraben 19", "6002", "Luzern")
    debtor = qrbill_pdf.Address("Anna Muster", "Bahnhofstrasse 1", "6003", "Luzern")
    invoice = qrbill_pdf.Invoice(creditor, account, decimal.Decimal("17.00"), reference, debtor,
                                 "Rechnung: Auszug", ("Gebühr",), "Dossier X-1")  # fmt: skip
    pdf, payload = qrbill_pdf.render(invoice)
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "CH38 3010 0000 0010 6100 2" in text and "17.00" in text
    assert esr.format(reference) in text and "Zahlteil" in text and "Empfangsschein" in text
    lines = payload.split("\r\n")
    assert lines[:4] == ["SPC", "0200", "1", account]
    assert lines[18:20] == ["17.00", "CHF"] and lines[27:29] == ["QRR", reference]
    assert lines[-1] == "EPD"
    if _zbar():
        assert decode_qr(pdf, tmp_path).replace("\n", "\r\n") == payload
    # An ordinary IBAN takes an ISO 11649 creditor reference instead.
    plain = "CH9300762011623852957"
    scor = qrbill_pdf.reference_for(plain, 42)
    assert scor.startswith("RF")
    _, payload = qrbill_pdf.render(qrbill_pdf.Invoice(creditor, plain, decimal.Decimal("5.00"),
                                                      scor, None, "R", ()))  # fmt: skip
    assert "\r\nSCOR\r\n" + scor in payload


def test_fee_first_the_steps_wait_until_paid(runtime, demo, tmp_path):
    anna = actor_of(runtime, demo["resident"]["login"])  # lives in Luzern
    case_id = _order(runtime, anna, "betreibungsregisterauszug")
    (fee,) = _fees(runtime, case_id)
    assert fee.due == "before" and fee.status == FeeStatus.BILLED
    assert fee.amount_rappen == 1700 and esr.is_valid(fee.reference)
    assert set(_step_states(runtime, case_id).values()) == {StepStatus.WAITING}
    office = clerk_of(runtime, "betreibungsamt-luzern")
    with runtime.sessions() as session:
        assert steps.queue(session, office) == []  # nothing to do before the fee is paid
        authority = session.get_one(Authority, fee.authority_id)
        assert authority.slug == "betreibungsamt-luzern" and fee.account == authority.qr_iban
        case = session.get_one(CaseFile, case_id)
        assert [f.id for f in fees.fees_of(session, anna, case)] == [fee.id]

    # The bill went to Anna, sealed, with the office's QR-IBAN, her address and the amount.
    ((title, pdf),) = _bill_pdfs(runtime, case_id)
    reader = PdfReader(io.BytesIO(pdf))
    fields = (reader.get_fields() or {}).values()
    assert any(f.get("/FT") == "/Sig" and f.get("/V") for f in fields)  # sealed
    text = reader.pages[0].extract_text()
    assert "17.00" in text and esr.format(fee.reference) in text
    assert " ".join(fee.account[i : i + 4] for i in range(0, 21, 4)) in text
    if _zbar():
        payload = decode_qr(pdf, tmp_path).split("\n")
        assert payload[3] == fee.account and payload[18] == "17.00"
        assert payload[28] == fee.reference
        assert payload[20:22] == ["S", anna.display_name]  # the debtor: Anna, with her address

    # Another authority, the resident, another resident: the fee is not theirs to mark.
    with pytest.raises(NotFound), runtime.transaction() as session:
        fees.mark_paid(session, clerk_of(runtime, "emmen-einwohnerdienste"), fee.id)
    with pytest.raises(AccessDenied), runtime.transaction() as session:
        fees.mark_paid(session, anna, fee.id)
    beat = actor_of(runtime, demo["other_resident"]["login"])
    with runtime.sessions() as session, pytest.raises(NotFound):
        fees.get_fee(session, beat, fee.id)
    assert _fees(runtime, case_id)[0].status == FeeStatus.BILLED

    # Paid: the step opens in the office's queue; marking it again is refused, nothing changes.
    with runtime.transaction() as session:
        fees.mark_paid(session, office, fee.id)
    assert _step_states(runtime, case_id) == {"issue": StepStatus.OPEN}
    with runtime.sessions() as session:
        assert [s.step_id for s in steps.queue(session, office)] == ["issue"]
    with pytest.raises(fees.AlreadyPaid), runtime.transaction() as session:
        fees.mark_paid(session, office, fee.id)
    actions = _actions(runtime, case_id)
    assert actions.count("fee.paid") == 1 and actions.index("fee.billed") < actions.index(
        "fee.paid"
    )
    (paid,) = _fees(runtime, case_id)
    assert paid.status == FeeStatus.PAID and paid.paid_by == office.account_id
    with runtime.sessions() as session:
        entry = session.scalar(select(JournalEntry).where(
            JournalEntry.case_id == case_id, JournalEntry.action == "fee.paid"))  # fmt: skip
        assert entry is not None and entry.payload["fee"]["status"] == "paid"
        assert entry.payload["authority"]["name"] == authority.name
    result = run_verify(runtime, str(case_id), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_decision_carries_its_qr_bill(runtime, demo, tmp_path):
    anna = actor_of(runtime, demo["resident"]["login"])
    case_id = _order(runtime, anna, "hund-anmelden")
    assert _fees(runtime, case_id) == []  # due with the decision: nothing billed yet
    with runtime.sessions() as session:
        step = session.scalars(select(Step).where(Step.case_id == case_id)).first()
        assert step is not None
        step_id, authority = step.id, session.get_one(Authority, step.authority_id)
    clerk = clerk_of(runtime, authority.slug)
    with runtime.transaction() as session:
        steps.claim(session, clerk, step_id)
        decided = Decided("Hund registriert", "Ihr Hund ist registriert.", [], 30)
        steps.record_outcome(session, clerk, step_id, decided)
    (fee,) = _fees(runtime, case_id)
    assert fee.due == "with_decision" and fee.amount_rappen == 12000 and fee.step_id == step_id
    with runtime.sessions() as session:
        message = session.scalars(select(Message).where(
            Message.case_id == case_id, Message.subject == "Hund registriert"))\
            .one()  # fmt: skip
        documents = session.scalars(select(MessageDocument).where(
            MessageDocument.message_id == message.id)).all()  # fmt: skip
    assert len(documents) == 2  # the decision and its QR-bill, in one delivery
    ((_, pdf),) = _bill_pdfs(runtime, case_id)
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "120.00" in text and "Zahlteil" in text
    result = run_verify(runtime, str(case_id), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_fees_are_refused_and_store_nothing(runtime, demo):
    anna = actor_of(runtime, demo["resident"]["login"])
    case_id = _order(runtime, anna, "hund-anmelden")
    with runtime.sessions() as session:
        case = session.get_one(CaseFile, case_id)
        slug = session.get_one(Authority, case.authority_id).slug
    clerk = clerk_of(runtime, slug)
    for amount in ("0", "-5", "abc", "1.001", "1000000"):
        with pytest.raises(InvalidInput), runtime.transaction() as session:
            fees.bill(session, clerk, session.get_one(CaseFile, case_id), amount=amount,
                      reason="Gebühr")  # fmt: skip
    with pytest.raises(InvalidInput), runtime.transaction() as session:
        fees.bill(session, clerk, session.get_one(CaseFile, case_id), amount="5.00", reason=" ")
    outsider = clerk_of(runtime, "lu-migration")
    with pytest.raises(NotFound), runtime.transaction() as session:
        fees.bill(session, outsider, session.get_one(CaseFile, case_id), amount="5.00",
                  reason="Gebühr")  # fmt: skip
    with pytest.raises(NotFound), runtime.sessions() as session:
        fees.get_fee(session, clerk, uuid.uuid4())
    assert _fees(runtime, case_id) == []
    assert "fee.billed" not in _actions(runtime, case_id)


def test_the_dossier_shows_the_fee_and_the_office_marks_it_paid(app, runtime, demo):
    from tests.conftest import csrf_token, login

    anna = actor_of(runtime, demo["resident"]["login"])
    case_id = _order(runtime, anna, "hund-anmelden")
    with runtime.sessions() as session:
        step_id = session.scalars(select(Step.id).where(Step.case_id == case_id)).one()
    luzern = actor_of(runtime, demo["clerk"]["login"])  # Stadt Luzern, which bills the dog tax
    with runtime.transaction() as session:
        steps.claim(session, luzern, step_id)
        steps.record_outcome(session, luzern, step_id, Decided("Hund registriert", "", [], None))
    (fee,) = _fees(runtime, case_id)

    resident = app.test_client()
    login(resident, demo["resident"])
    page = resident.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="fees"' in page and "CHF 120.00" in page
    assert "Not paid yet" in page or "Noch nicht bezahlt" in page
    assert "Mark as paid" not in page and "Als bezahlt markieren" not in page
    assert resident.post(f"/office/fees/{fee.id}/paid").status_code in (400, 403)

    other = app.test_client()  # a clerk of another commune: the fee does not exist for them
    login(other, demo["other_clerk"])
    token = csrf_token(other.get("/office/").get_data(as_text=True))
    assert other.post(f"/office/fees/{fee.id}/paid", data={"csrf_token": token}).status_code == 404

    office = app.test_client()
    login(office, demo["clerk"])
    page = office.get(f"/cases/{case_id}").get_data(as_text=True)
    action = f'action="/office/fees/{fee.id}/paid"'
    assert action in page
    assert office.post(f"/office/fees/{fee.id}/paid").status_code == 400  # no CSRF token
    assert _fees(runtime, case_id)[0].status == FeeStatus.BILLED
    done = office.post(f"/office/fees/{fee.id}/paid", data={"csrf_token": csrf_token(page)})
    assert done.status_code == 302 and done.headers["Location"].endswith("#fees")
    assert _fees(runtime, case_id)[0].status == FeeStatus.PAID
    again = office.post(f"/office/fees/{fee.id}/paid", data={"csrf_token": csrf_token(page)})
    assert again.status_code == 409
    assert "already marked as paid" in again.get_data(as_text=True) or \
        "bereits als bezahlt" in again.get_data(as_text=True)  # fmt: skip
    assert _actions(runtime, case_id).count("fee.paid") == 1

    page = resident.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Payment recorded on" in page or "Zahlung erfasst am" in page
