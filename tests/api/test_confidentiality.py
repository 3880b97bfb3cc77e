"""Residents in one matter never see each other's letters (issue 6, part 1).

An authority delivers to Anna under its file number SHARED-7; Anna opens the letter and replies
with an attachment; then the authority delivers to Beat in the same matter, by the same
external reference or by the id of Anna's case file. Beat gets a case file of his own, and no
page or download route shows him anything of Anna's.
"""

from __future__ import annotations

import io
import uuid

import pytest
from sqlalchemy import select

from casefiles.models import CaseFile, Document
from mailbox.models import Delivery, Direction, Message
from tests.api.support import letter, open_as_resident
from tests.conftest import csrf_token, login, make_pdf, post_multipart, wait_for

ANNA_SUBJECT = "Steuerausscheidung Anna vertraulich"
ANNA_REPLY = "Meine Einsprache mit Lohnausweis"


def _versions_of(runtime, case_id: str) -> dict[str, str]:
    """Filename -> current version id of every document in a case file."""
    with runtime.sessions() as session:
        documents = session.scalars(select(Document).where(Document.case_id == uuid.UUID(case_id)))
        return {d.current.filename: str(d.current.id) for d in documents}


def _receipt_filed(runtime, delivery_id: str) -> bool:
    with runtime.sessions() as session:
        delivery = session.get(Delivery, uuid.UUID(delivery_id))
        return delivery is not None and delivery.receipt_document_id is not None


@pytest.fixture
def anna_case(app, api, demo, runtime):
    """Anna's letter, opened, with her reply and its attachment, and the filed receipt."""
    meta = letter(demo, subject=ANNA_SUBJECT, external_ref="SHARED-7")
    created = api.deliver(meta, files=[("anna-private.pdf", make_pdf("Nur für Anna"))])
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    anna = open_as_resident(app, demo["resident"], body["delivery_id"])
    page = anna.get(f"/cases/{body['case_id']}").get_data(as_text=True)
    with runtime.sessions() as session:
        message_id = session.get_one(Delivery, uuid.UUID(body["delivery_id"])).message_id
    replied = post_multipart(
        anna,
        f"/cases/{body['case_id']}/reply",
        {
            "csrf_token": csrf_token(page),
            "in_reply_to": str(message_id),
            "text": ANNA_REPLY,
            "files": [(io.BytesIO(make_pdf("Lohnausweis Anna")), "anna-lohnausweis.pdf")],
        },
    )
    assert replied.status_code == 302
    wait_for(lambda: _receipt_filed(runtime, body["delivery_id"]))
    versions = _versions_of(runtime, body["case_id"])
    assert {"anna-private.pdf", "anna-lohnausweis.pdf"} <= set(versions)
    assert any(name.endswith(".json") for name in versions)
    return {**body, "versions": versions, "client": anna}


@pytest.mark.parametrize("link", ["external_ref", "case_id"])
def test_a_second_recipient_in_the_same_matter_sees_nothing_of_the_first(
    app, api, demo, runtime, anna_case, link
):
    same_matter = {"external_ref": "SHARED-7"} if link == "external_ref" else {}
    if link == "case_id":
        same_matter = {"case_id": anna_case["case_id"]}
    created = api.deliver(
        letter(demo, who="other_resident", subject="Kopie für Beat", **same_matter)
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    beats = created.get_json()
    assert beats["case_id"] != anna_case["case_id"]
    beat = open_as_resident(app, demo["other_resident"], beats["delivery_id"])
    wait_for(lambda: _receipt_filed(runtime, beats["delivery_id"]))

    # Beat's case file is in the same matter for the authority, and holds only his letter.
    with runtime.sessions() as session:
        case = session.get_one(CaseFile, uuid.UUID(beats["case_id"]))
        assert case.external_ref == "SHARED-7"
        assert case.title == "Kopie für Beat"

    anna_traces = [
        demo["resident"]["name"],
        ANNA_SUBJECT,
        ANNA_REPLY,
        "anna-private.pdf",
        "anna-lohnausweis.pdf",
        anna_case["case_id"],
        *anna_case["versions"].values(),
    ]
    pages = ["/", "/cases", f"/cases/{beats['case_id']}", f"/messages/{beats['delivery_id']}"]
    for path in pages:
        response = beat.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert "Kopie für Beat" in html, path
        for trace in anna_traces:
            assert trace not in html, (path, trace)

    # Anna's case file and every one of her documents: the delivered PDF, the reply
    # attachment, the receipt PDF and its signed JSON.
    assert beat.get(f"/cases/{anna_case['case_id']}").status_code == 404
    for name, version_id in anna_case["versions"].items():
        assert beat.get(f"/documents/{version_id}").status_code == 404, name
        # Anna herself still reads all of them.
        assert anna_case["client"].get(f"/documents/{version_id}").status_code == 200, name

    # Beat reads his own: the letter and his receipt.
    for name, version_id in _versions_of(runtime, beats["case_id"]).items():
        assert beat.get(f"/documents/{version_id}").status_code == 200, name


def test_the_authority_sees_both_case_files_of_its_matter(api, demo, anna_case):
    api.deliver(letter(demo, who="other_resident", external_ref="SHARED-7"))
    found = api.get("/cases?external_ref=SHARED-7").get_json()["cases"]
    assert len(found) == 2
    parties = [api.get(f"/cases/{c['id']}").get_json()["parties"] for c in found]
    assert sorted(p[0]["name"] for p in parties) == sorted(
        [demo["resident"]["name"], demo["other_resident"]["name"]]
    )
    assert all(len(p) == 1 for p in parties)


def test_a_resident_cannot_download_a_reply_of_someone_else(app, demo, runtime, anna_case):
    """The right to a document is checked for the document, not for the case file."""
    with runtime.sessions() as session:
        reply = session.scalars(select(Message).where(Message.direction == Direction.INBOUND)).one()
        attachment = reply.documents[0].current.id
    chiara = app.test_client()
    login(chiara, demo["other_resident"])
    assert chiara.get(f"/documents/{attachment}").status_code == 404
    assert anna_case["client"].get(f"/documents/{attachment}").status_code == 200
