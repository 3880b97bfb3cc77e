"""The intake policy from the users' side, in the browser forms: a clerk's delivery and a
resident's reply meet the same rules; images are stored as the portal encoded them again."""

from __future__ import annotations

import html
import io
import threading
import time

import pytest
from PIL import Image
from sqlalchemy import func, select

from casefiles.models import CaseFile, JournalEntry
from directory.api_clients import create_api_client, create_api_key
from directory.operations import find_authority
from mailbox.models import Direction, Message
from storage.blobs import Blob
from tests.api.support import Api, letter
from tests.conftest import csrf_token, login, post_multipart
from tests.support import hostile
from tests.support.hostile import warm_up_checkers


def deliver(client, ahvn13, files, **fields):
    page = client.get("/office/deliver?lang=en")
    data = {
        "csrf_token": csrf_token(page.get_data(as_text=True)),
        "recipient": ahvn13,
        "kind": "decision",
        "subject": "Verfügung",
        "files": [(io.BytesIO(content), name) for name, content in files],
        "reply_allowed": "1",
        **fields,
    }
    return post_multipart(client, "/office/deliver", data)


def reply(resident, case_url, files):
    page = resident.get(case_url + "?lang=en").get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(page),
        "text": "Anbei die Unterlagen.",
        "files": [(io.BytesIO(content), name) for name, content in files],
    }
    return post_multipart(resident, f"{case_url}/reply", data)


def stored(runtime) -> tuple[int, ...]:
    with runtime.sessions() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(m))
            for m in (CaseFile, JournalEntry, Blob)
        )


def shown(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        pytest.param(hostile.javascript_open_action, "contains JavaScript", id="javascript"),
        pytest.param(hostile.launch_link, "contains a Launch action", id="launch"),
        pytest.param(hostile.embedded_file, "contains embedded files", id="embedded-file"),
        pytest.param(hostile.html_polyglot_head, "a PDF and a web page (HTML)", id="html"),
    ],
)
def test_the_clerk_form_refuses_a_hostile_pdf_with_its_reason(app, demo, runtime, build, reason):
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    before = stored(runtime)
    response = deliver(clerk, demo["resident"]["ahvn13"], [("verfuegung.pdf", build())])
    assert response.status_code == 422
    assert reason in shown(response) and 'aria-invalid="true"' in shown(response)
    assert stored(runtime) == before


def test_sealing_an_encrypted_pdf_in_the_clerk_form_is_a_clear_422(app, demo, runtime):
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    before = stored(runtime)
    encrypted = hostile.encrypted_with_empty_password()
    response = deliver(clerk, demo["resident"]["ahvn13"], [("v.pdf", encrypted)], seal="1")
    assert response.status_code == 422
    assert "is encrypted" in shown(response) and "please send it unencrypted" in shown(response)
    assert stored(runtime) == before


def _delivered_case(app, demo) -> str:
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    response = deliver(clerk, demo["resident"]["ahvn13"], [("v.pdf", hostile.html_inside_text())])
    assert response.status_code == 302
    return response.headers["Location"]


def test_a_reply_invoice_html_that_is_a_polyglot_is_refused(app, demo, runtime):
    case_url = _delivered_case(app, demo)
    resident = app.test_client()
    login(resident, demo["resident"])
    before = stored(runtime)
    response = reply(resident, case_url, [("invoice.html", hostile.html_polyglot_head())])
    assert response.status_code == 422
    assert "invoice.html is a PDF and a web page (HTML) at once" in shown(response)
    assert stored(runtime) == before


def test_a_reply_named_html_reaches_the_clerk_as_a_pdf(app, demo, runtime):
    case_url = _delivered_case(app, demo)
    resident = app.test_client()
    login(resident, demo["resident"])
    response = reply(resident, case_url, [("invoice.html", hostile.html_inside_text())])
    assert response.status_code == 302
    [(filename, media_type, _)] = _reply_documents(runtime)
    assert (filename, media_type) == ("invoice.html.pdf", "application/pdf")


def test_a_png_signature_followed_by_html_is_refused(app, demo, runtime):
    case_url = _delivered_case(app, demo)
    resident = app.test_client()
    login(resident, demo["resident"])
    before = stored(runtime)
    response = reply(resident, case_url, [("beleg.png", hostile.PNG_THEN_HTML)])
    assert response.status_code == 422
    assert "The file beleg.png is not a valid PNG file." in shown(response)
    assert stored(runtime) == before


def test_reply_images_are_stored_without_their_metadata(app, demo, runtime):
    case_url = _delivered_case(app, demo)
    resident = app.test_client()
    login(resident, demo["resident"])
    png, jpeg = hostile.png_with_metadata(), hostile.jpeg_with_exif()
    assert b"secret-home-address" in png and b"secret-home-address" in jpeg
    response = reply(resident, case_url, [("beleg.png", png), ("foto.jpg", jpeg)])
    assert response.status_code == 302
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    documents = {
        name: (media_type, version) for name, media_type, version in _reply_documents(runtime)
    }
    assert set(documents) == {"beleg.png", "foto.jpg"}
    for name, (media_type, version_id) in documents.items():
        download = clerk.get(f"/documents/{version_id}")
        assert download.status_code == 200 and download.mimetype == media_type
        data = download.get_data()
        assert b"secret-home-address" not in data and b"SpyCam" not in data
        image = Image.open(io.BytesIO(data))
        image.load()
        assert not image.getexif(), name
        assert not {"Comment", "exif", "comment", "icc_profile"} & set(image.info), image.info
    # The photo's EXIF orientation (6: turned by 90°) is kept in its pixels.
    photo = Image.open(io.BytesIO(clerk.get(f"/documents/{documents['foto.jpg'][1]}").get_data()))
    assert photo.size == (30, 40)


def _reply_documents(runtime) -> list[tuple[str, str, str]]:
    """(filename, media type, version id) of the documents of the resident's reply."""
    with runtime.sessions() as session:
        message = session.scalars(
            select(Message).where(Message.direction == Direction.INBOUND)
        ).one()
        return [
            (d.current.filename, d.current.media_type, str(d.current.id)) for d in message.documents
        ]


@pytest.fixture
def other_api(app, demo, runtime) -> Api:
    """A specialist application of another authority, writing at the same time."""
    with runtime.transaction() as session:
        authority = find_authority(session, "lu-steuern")
        client = create_api_client(session, authority, "Steuerregister")
        _key, token = create_api_key(session, client)
    return Api(app.test_client(), token)


def test_a_slow_upload_check_in_the_clerk_form_does_not_hold_up_other_writers(app, demo, other_api):
    """The form's files are checked before the request's transaction begins (on SQLite the
    first statement takes the write lock), so another client's delivery goes through while a
    large file is parsed."""
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    large = hostile.many_objects(240_000)  # allowed, under the test portal's 2 MB; ~1 s to check
    answer = {}

    def send() -> None:
        answer["response"] = deliver(clerk, demo["resident"]["ahvn13"], [("register.pdf", large)])
        answer["done"] = time.monotonic()

    warm_up_checkers()
    form = threading.Thread(target=send)
    form.start()
    time.sleep(0.3)  # the clerk's file is being checked now
    other = other_api.deliver(letter(demo, subject="Steuerrechnung"))
    written = time.monotonic()
    form.join(60)
    assert other.status_code == 201, other.get_data(as_text=True)
    assert answer["response"].status_code == 302, shown(answer["response"])
    assert answer["done"] - written > 0.3, answer["done"] - written
