"""The core loop from the user's side: a clerk delivers, the resident opens, the file verifies."""

from __future__ import annotations

import re
import shutil
import subprocess

from sqlalchemy import select

from casefiles.anchor_check import trust_roots
from casefiles.models import JournalEntry
from mailbox.models import Delivery
from signing import validate_pdf
from storage.blobs import blob_bytes
from tests.conftest import csrf_token, login, post_multipart, wait_for
from tests.support.services import unavailable
from tests.support.tsa import check_pdf_timestamp, tsa_root_file


def deliver_letter(client, recipient_ahvn13, pdf_bytes, subject="Baubewilligung Nr. 2026-17"):
    page = client.get("/office/deliver")
    assert page.status_code == 200
    return post_multipart(
        client,
        "/office/deliver",
        {
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "recipient": recipient_ahvn13,
            "kind": "decision",
            "subject": subject,
            "body": "Bitte beachten Sie die Rechtsmittelbelehrung.",
            "files": [(__import__("io").BytesIO(pdf_bytes), "verfuegung.pdf")],
        },
    )


def test_clerk_delivers_and_resident_opens_with_receipt(
    app, client, demo, pdf, runtime, smtp_messages
):
    letter = pdf("Verfügung Baubewilligung")
    login(client, demo["clerk"])
    response = deliver_letter(client, demo["resident"]["ahvn13"], letter)
    assert response.status_code == 302
    case_url = response.headers["Location"]
    dossier = client.get(case_url).get_data(as_text=True)
    assert "Baubewilligung Nr. 2026-17" in dossier
    assert "verfuegung.pdf" in dossier
    client.post("/logout", data={"csrf_token": csrf_token(dossier)})

    # The resident is told by e-mail that something waits, never what it is.
    [notice] = wait_for(lambda: list(smtp_messages))
    assert notice["To"] == f"{demo['resident']['name']} <{demo['resident']['login']}>"
    text = notice.get_content()
    assert "Stadt Luzern, Einwohnerdienste" in text and "/messages/" in text
    assert "Baubewilligung" not in text and "Baubewilligung" not in notice["Subject"]

    resident = app.test_client()
    login(resident, demo["resident"])
    inbox = resident.get("/").get_data(as_text=True)
    assert "Baubewilligung Nr. 2026-17" in inbox
    assert "Stadt Luzern, Einwohnerdienste" in inbox
    message_url = re.search(r'href="(/messages/[0-9a-f-]+)"', inbox).group(1)

    # Before opening, the document is not handed out: the opening is what the receipt proves.
    message = resident.get(message_url).get_data(as_text=True)
    assert "Zustellung" in message or "delivery" in message.lower()
    assert "/documents/" not in message
    opened = resident.post(message_url + "/open", data={"csrf_token": csrf_token(message)})
    assert opened.status_code == 302
    message = resident.get(message_url).get_data(as_text=True)
    download_url = re.search(r'href="(/documents/[0-9a-f-]+)"', message).group(1)
    download = resident.get(download_url)
    assert download.status_code == 200
    assert download.mimetype == "application/pdf"
    assert download.data == letter

    with runtime.sessions() as session:
        actions = session.scalars(select(JournalEntry.action).order_by(JournalEntry.seq)).all()
        assert actions[:5] == [
            "case.opened",
            "document.added",
            "delivery.accepted",
            "delivery.available",
            "delivery.opened",
        ]
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.status == "opened"
        opened_entry = session.scalars(
            select(JournalEntry).where(JournalEntry.action == "delivery.opened")
        ).one()
        assert opened_entry.payload["opened_by"] == demo["resident"]["name"]
        assert (
            opened_entry.payload["documents"][0]["sha256"]
            == __import__("hashlib").sha256(letter).hexdigest()
        )

    def receipt_filed():
        with runtime.sessions() as session:
            d = session.scalars(select(Delivery)).one()
            if d.receipt_document_id is None:
                return None
            return blob_bytes(session, d.receipt_document.current.blob)

    receipt = wait_for(receipt_filed)
    [status] = validate_pdf(receipt, trust_roots(runtime.keyring))
    assert status.intact and status.valid and status.trusted
    # PAdES B-T: a time-stamp from the portal's TSA (the test TSA in the services profile).
    assert status.timestamp_trusted and status.timestamped_at is not None

    # Both see the dossier with the receipt in its history.
    timeline = resident.get(case_url).get_data(as_text=True)
    assert "Zustellnachweis" in timeline
    assert demo["clerk"]["name"] in timeline

    # An independent validator agrees: poppler's pdfsig (last: without it the test skips).
    if shutil.which("pdfsig") is None:
        unavailable("pdfsig (Debian package poppler-utils)")
    receipt_path = runtime.config.instance_path / "receipt-under-test.pdf"
    receipt_path.write_bytes(receipt)
    checked = subprocess.run(
        ["pdfsig", str(receipt_path)], capture_output=True, text=True, timeout=60
    )
    receipt_path.unlink()
    assert "Signature Validation: Signature is Valid." in checked.stdout, checked.stdout
    folder = runtime.config.instance_path / "receipt-timestamp"
    folder.mkdir(exist_ok=True)
    shown = check_pdf_timestamp(receipt, tsa_root_file(runtime, folder), folder)
    assert status.timestamped_at.strftime("%b %e %H:%M:%S") in shown
    shutil.rmtree(folder)
