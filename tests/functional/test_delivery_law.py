"""Delivery as the law wants it, from the users' side: consent, withdrawal, deemed delivery
with a moved clock, periods, replies from inside the dossier, the office's work queue."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess

from sqlalchemy import func, select

from casefiles.models import CaseFile, JournalEntry
from mailbox.deadlines import period_end
from mailbox.models import Delivery, Message
from storage.blobs import Blob
from tests.conftest import csrf_token, login, post_multipart, wait_for
from tests.support.hostile import real_png
from tests.support.services import portal_executable

# A real image: images in replies are decoded and encoded again (intake policy).
PNG = real_png()


def deliver(client, ahvn13, pdf_bytes, **fields):
    page = client.get("/office/deliver?lang=en")
    data = {
        "csrf_token": csrf_token(page.get_data(as_text=True)),
        "recipient": ahvn13,
        "kind": "decision",
        "subject": "Steuerveranlagung 2025",
        "files": [(io.BytesIO(pdf_bytes), "veranlagung.pdf")],
        "reply_allowed": "1",
        **fields,
    }
    return post_multipart(client, "/office/deliver", data)


def only_delivery(runtime):
    with runtime.sessions() as session:
        return session.scalars(select(Delivery)).one()


def post_form(client, page_url, action, data=None):
    page = client.get(page_url).get_data(as_text=True)
    return client.post(action, data={"csrf_token": csrf_token(page), **(data or {})})


def test_consent_decides_whether_a_resident_can_be_reached(app, demo, pdf, runtime):
    chiara = [a for a in runtime_accounts(demo) if a["name"] == "Chiara Rossi"][0]
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    refused = deliver(clerk, chiara["ahvn13"], pdf())
    assert refused.status_code == 422
    assert "does not receive electronic deliveries" in refused.get_data(as_text=True)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CaseFile)) == 0
        assert session.scalar(select(func.count()).select_from(Blob)) == 0

    resident = app.test_client()
    login(resident, chiara)
    assert "on paper" in resident.get("/settings?lang=en").get_data(as_text=True)
    post_form(resident, "/settings", "/settings", {"consent": "give"})
    assert "You agreed on" in resident.get("/settings").get_data(as_text=True)
    assert deliver(clerk, chiara["ahvn13"], pdf()).status_code == 302

    post_form(resident, "/settings", "/settings", {"consent": "revoke"})
    assert deliver(clerk, chiara["ahvn13"], pdf()).status_code == 422


def runtime_accounts(demo):
    return [a for key, a in demo.items() if "@" in key]


def test_withdrawn_delivery_disappears_for_the_resident(app, demo, pdf, runtime):
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    case_url = deliver(clerk, demo["resident"]["ahvn13"], pdf()).headers["Location"]
    delivery = only_delivery(runtime)
    response = post_form(clerk, case_url, f"/office/deliveries/{delivery.id}/withdraw")
    assert response.status_code == 302
    assert only_delivery(runtime).status == "withdrawn"

    resident = app.test_client()
    login(resident, demo["resident"])
    assert "Steuerveranlagung" not in resident.get("/").get_data(as_text=True)
    assert resident.get(f"/messages/{delivery.id}").status_code == 404
    with runtime.sessions() as session:
        actions = session.scalars(select(JournalEntry.action).order_by(JournalEntry.seq)).all()
    assert actions[-1] == "delivery.withdrawn"


def test_opened_delivery_cannot_be_withdrawn(app, demo, pdf, runtime):
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    case_url = deliver(clerk, demo["resident"]["ahvn13"], pdf()).headers["Location"]
    delivery = only_delivery(runtime)
    resident = app.test_client()
    login(resident, demo["resident"])
    post_form(resident, f"/messages/{delivery.id}", f"/messages/{delivery.id}/open")
    response = post_form(clerk, case_url, f"/office/deliveries/{delivery.id}/withdraw")
    assert response.status_code == 302
    assert only_delivery(runtime).status == "opened"
    assert "cannot be withdrawn" in clerk.get(case_url + "?lang=en").get_data(as_text=True)


def sweep(runtime, as_of, tmp_path):
    env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
    return subprocess.run(
        [portal_executable(), "deliveries", "sweep", "--as-of", as_of],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sweep_with_a_moved_clock_marks_deemed_delivery(app, demo, pdf, runtime, tmp_path):
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    deliver(clerk, demo["resident"]["ahvn13"], pdf(), appeal_period_days="30")
    delivery = only_delivery(runtime)
    available = delivery.available_at

    early = sweep(runtime, (available + dt.timedelta(days=6)).isoformat(), tmp_path)
    assert early.returncode == 0, early.stderr
    assert early.stdout.startswith("0 deliveries")
    assert only_delivery(runtime).status == "available"

    late = (available + dt.timedelta(days=8)).isoformat()
    result = sweep(runtime, late, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1 deliveries")
    deemed = only_delivery(runtime)
    assert deemed.status == "deemed_delivered"
    # The legal moment is seven days after availability, not when the sweep ran.
    assert deemed.deemed_at == available + dt.timedelta(days=7)
    assert deemed.due_date == period_end(deemed.deemed_at, 30)
    again = sweep(runtime, late, tmp_path)
    assert again.stdout.startswith("0 deliveries")  # idempotent

    wait_for(lambda: only_delivery(runtime).receipt_document_id)
    resident = app.test_client()
    login(resident, demo["resident"])
    page = resident.get(f"/messages/{deemed.id}?lang=en").get_data(as_text=True)
    assert "Deemed delivered" in page
    assert deemed.due_date.strftime("%d.%m.%Y") in page
    # Deemed delivered documents are readable without an opening (no receipt is pending).
    download = re.search(r'href="(/documents/[0-9a-f-]+)"', page).group(1)
    assert resident.get(download).status_code == 200


def test_sweep_rejects_a_time_without_offset(runtime, tmp_path):
    result = sweep(runtime, "2026-12-01T00:00:00", tmp_path)
    assert result.returncode == 2
    assert "offset" in result.stderr


def test_due_date_is_shown_after_opening(app, demo, pdf, runtime):
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    deliver(clerk, demo["resident"]["ahvn13"], pdf(), appeal_period_days="30")
    delivery = only_delivery(runtime)
    resident = app.test_client()
    login(resident, demo["resident"])
    before = resident.get(f"/messages/{delivery.id}?lang=en").get_data(as_text=True)
    assert "counts as delivered on" in before
    post_form(resident, f"/messages/{delivery.id}", f"/messages/{delivery.id}/open")
    opened = only_delivery(runtime)
    assert opened.due_date == period_end(opened.opened_at, 30)
    page = resident.get(f"/messages/{delivery.id}?lang=en").get_data(as_text=True)
    assert f"Period ends on {opened.due_date:%d.%m.%Y}" in page
    inbox = resident.get("/").get_data(as_text=True)
    assert f"{opened.due_date:%d.%m.%Y}" in inbox


def test_reply_from_inside_the_dossier_reaches_the_work_queue(app, demo, pdf, runtime):
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    case_url = deliver(clerk, demo["resident"]["ahvn13"], pdf()).headers["Location"]
    delivery = only_delivery(runtime)
    resident = app.test_client()
    login(resident, demo["resident"])
    post_form(resident, f"/messages/{delivery.id}", f"/messages/{delivery.id}/open")
    page = resident.get(f"/messages/{delivery.id}").get_data(as_text=True)
    response = post_multipart(
        resident,
        f"{case_url}/reply",
        {
            "csrf_token": csrf_token(page),
            "in_reply_to": str(delivery.message_id),
            "text": "Ich erhebe Einsprache.\nBegründung folgt.",
            "files": [
                (io.BytesIO(pdf("Einsprache")), "einsprache.pdf"),
                (io.BytesIO(PNG), "beleg.png"),
            ],
        },
    )
    assert response.status_code == 302
    with runtime.sessions() as session:
        reply = session.scalars(select(Message).where(Message.direction == "inbound")).one()
        assert reply.in_reply_to_id == delivery.message_id
        assert sorted(d.current.filename for d in reply.documents) == [
            "beleg.png",
            "einsprache.pdf",
        ]
    queue = clerk.get("/office/replies").get_data(as_text=True)
    assert "Ich erhebe Einsprache." in queue and demo["resident"]["name"] in queue
    assert "1 message" in clerk.get("/office/?lang=en").get_data(as_text=True)
    post_form(clerk, "/office/replies", f"/office/replies/{reply.id}/handled")
    assert "Ich erhebe Einsprache." not in clerk.get("/office/replies").get_data(as_text=True)
    dossier = clerk.get(case_url + "?lang=en").get_data(as_text=True)
    assert "Message from the resident received" in dossier and "Message handled" in dossier


def test_bad_reply_attachment_is_refused_and_nothing_stored(app, demo, pdf, runtime):
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    case_url = deliver(clerk, demo["resident"]["ahvn13"], pdf()).headers["Location"]
    with runtime.sessions() as session:
        blobs_before = session.scalar(select(func.count()).select_from(Blob))
    resident = app.test_client()
    login(resident, demo["resident"])
    page = resident.get(case_url + "?lang=en").get_data(as_text=True)
    response = post_multipart(
        resident,
        f"{case_url}/reply",
        {
            "csrf_token": csrf_token(page),
            "text": "Anbei",
            "files": [(io.BytesIO(b"MZ\x90\x00 not an image"), "virus.png")],
        },
    )
    assert response.status_code == 422
    assert "is not a valid PDF, PNG, JPEG file" in response.get_data(as_text=True)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Blob)) == blobs_before
        assert (
            session.scalar(
                select(func.count()).select_from(Message).where(Message.direction == "inbound")
            )
            == 0
        )


def test_inbox_filters(app, demo, pdf, runtime):
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    deliver(clerk, demo["resident"]["ahvn13"], pdf(), kind="invoice", subject="Rechnung Abfall")
    tax = app.test_client()
    login(tax, demo["other_clerk"])
    deliver(tax, demo["resident"]["ahvn13"], pdf(), kind="decision", subject="Steuerverfügung")
    resident = app.test_client()
    login(resident, demo["resident"])
    both = resident.get("/").get_data(as_text=True)
    assert "Rechnung Abfall" in both and "Steuerverfügung" in both
    invoices = resident.get("/?kind=invoice").get_data(as_text=True)
    assert "Rechnung Abfall" in invoices and "Steuerverfügung" not in invoices
    authority = re.search(r'<option value="([0-9a-f-]+)"[^>]*>Dienststelle Steuern', both).group(1)
    by_authority = resident.get(f"/?authority={authority}").get_data(as_text=True)
    assert "Steuerverfügung" in by_authority and "Rechnung Abfall" not in by_authority
    assert "Rechnung Abfall" not in resident.get("/?status=opened").get_data(as_text=True)
