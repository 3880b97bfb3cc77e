"""Bad input on the delivery form: a clear message in the form, nothing stored, never a 500."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from casefiles.models import CaseFile, JournalEntry
from storage.blobs import Blob
from tests.conftest import csrf_token, login, post_multipart


def post_delivery(client, **overrides):
    # English, so the assertions read the msgids; the German catalogue has its own test.
    page = client.get("/office/deliver?lang=en")
    data = {
        "csrf_token": csrf_token(page.get_data(as_text=True)),
        "recipient": overrides.pop("recipient"),
        "kind": "letter",
        "subject": "Mitteilung",
        **overrides,
    }
    return post_multipart(client, "/office/deliver", data)


def stored_anything(runtime) -> bool:
    with runtime.sessions() as session:
        counts = [
            session.scalar(select(func.count()).select_from(m))
            for m in (CaseFile, JournalEntry, Blob)
        ]
    keys = list(runtime.objects.store.iter_keys())
    return any(counts) or bool(keys)


@pytest.mark.parametrize(
    ("case", "field_message"),
    [
        ("not_a_pdf", "is not a valid PDF file"),
        ("empty", "is empty"),
        ("damaged_pdf", "is damaged"),
        ("oversize", "larger than 2 MB"),
        ("no_subject", "A subject is required"),
        ("no_file", "Attach at least one PDF document"),
        ("bad_recipient", "not a valid AHVN13"),
        ("unknown_recipient", "does not receive electronic deliveries"),
        ("bad_kind", "Choose what kind"),
    ],
)
def test_bad_delivery_is_refused_with_a_message(client, demo, pdf, runtime, case, field_message):
    login(client, demo["clerk"])
    ahvn = demo["resident"]["ahvn13"]
    good = (io.BytesIO(pdf()), "brief.pdf")
    overrides = {
        "not_a_pdf": {"files": [(io.BytesIO(b"Hello, I am text\n" * 20), "brief.pdf")]},
        "empty": {"files": [(io.BytesIO(b""), "brief.pdf")]},
        "damaged_pdf": {"files": [(io.BytesIO(b"%PDF-1.7\n" + b"\x00garbage" * 100), "x.pdf")]},
        "oversize": {"files": [(io.BytesIO(b"%PDF-1.7\n" + b"0" * (2 * 1024 * 1024)), "big.pdf")]},
        "no_subject": {"subject": "  ", "files": [good]},
        "no_file": {},
        "bad_recipient": {"recipient": "756.1234.5678.90", "files": [good]},
        "unknown_recipient": {"recipient": "756.9217.0769.85", "files": [good]},
        "bad_kind": {"kind": "love-letter", "files": [good]},
    }[case]
    response = post_delivery(client, recipient=overrides.pop("recipient", ahvn), **overrides)
    assert response.status_code == 422, response.status_code
    html = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in html
    assert field_message in html
    assert not stored_anything(runtime)


def test_upload_over_the_request_limit_is_a_clear_413(client, demo, runtime):
    login(client, demo["clerk"])
    huge = io.BytesIO(b"%PDF-1.7\n" + b"0" * (4 * 1024 * 1024))
    response = post_delivery(
        client, recipient=demo["resident"]["ahvn13"], files=[(huge, "huge.pdf")]
    )
    assert response.status_code == 413
    assert "MB" in response.get_data(as_text=True)
    assert not stored_anything(runtime)


def test_form_without_csrf_token_is_refused(client, demo, pdf, runtime):
    login(client, demo["clerk"])
    response = client.post(
        "/office/deliver",
        data={
            "recipient": demo["resident"]["ahvn13"],
            "kind": "letter",
            "subject": "X",
            "files": [(io.BytesIO(pdf()), "a.pdf")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert not stored_anything(runtime)


def test_wrong_password_is_refused_without_saying_which(client, demo):
    def attempt(login_name, password):
        page = client.get("/login?lang=en")
        return client.post(
            "/login",
            data={
                "login": login_name,
                "password": password,
                "csrf_token": csrf_token(page.get_data(as_text=True)),
            },
        )

    wrong_password = attempt(demo["resident"]["login"], "wrong-password-123")
    unknown_login = attempt("nobody@example.ch", "x" * 12)
    for response in (wrong_password, unknown_login):
        assert response.status_code == 401
        assert "Login or password is wrong." in response.get_data(as_text=True)
