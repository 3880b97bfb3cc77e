"""Authorities' seals: the portal seals with the authority's key (file or PKCS#11 token), and
PDFs that an authority signed itself are validated on intake."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from directory.models import Authority
from mailbox.models import Delivery
from signing import generate_token_key, validate_pdf
from storage.blobs import blob_bytes
from tests.conftest import csrf_token, login, post_multipart


def deliver(client, ahvn13, pdf_bytes, **fields):
    page = client.get("/office/deliver?lang=en")
    return post_multipart(
        client,
        "/office/deliver",
        {
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "recipient": ahvn13,
            "kind": "decision",
            "subject": "Verfügung",
            "files": [(io.BytesIO(pdf_bytes), "v.pdf")],
            **fields,
        },
    )


def delivered_pdf(runtime):
    with runtime.sessions() as session:
        delivery = session.scalars(select(Delivery)).one()
        version = delivery.message.documents[0].current
        return blob_bytes(session, version.blob), version.signatures, delivery.id


def test_portal_seals_with_the_authority_file_key(app, demo, pdf, runtime):
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    assert deliver(clerk, demo["resident"]["ahvn13"], pdf(), seal="1").status_code == 302
    data, signatures, delivery_id = delivered_pdf(runtime)
    [status] = validate_pdf(data, [runtime.keyring.ca_certificate])
    assert status.intact and status.valid and status.trusted
    assert status.signer == "Siegel Stadt Luzern, Einwohnerdienste"
    assert signatures[0]["signer"] == status.signer and signatures[0]["trusted"]

    resident = app.test_client()
    login(resident, demo["resident"])
    page = resident.get(f"/messages/{delivery_id}").get_data(as_text=True)
    token = csrf_token(page)
    resident.post(f"/messages/{delivery_id}/open", data={"csrf_token": token})
    page = resident.get(f"/messages/{delivery_id}?lang=en").get_data(as_text=True)
    assert "Sealed by Siegel Stadt Luzern, Einwohnerdienste" in page and "seal valid" in page


def test_portal_seals_with_a_key_in_a_pkcs11_token(app, demo, pdf, runtime, softhsm, monkeypatch):
    key = generate_token_key(
        softhsm.module_path,
        softhsm.label,
        softhsm.pin,
        "steuern-seal",
        runtime.keyring,
        "Siegel Dienststelle Steuern",
        "Kanton Luzern",
    )
    monkeypatch.setenv("PORTAL_PKCS11_MODULE", softhsm.module_path)
    monkeypatch.setenv("PORTAL_PKCS11_PIN", softhsm.pin)
    with runtime.transaction() as session:
        authority = session.scalar(select(Authority).where(Authority.slug == "lu-steuern"))
        authority.seal_ref = f"pkcs11:token={softhsm.label};object=steuern-seal"
    clerk = app.test_client()
    login(clerk, demo["other_clerk"])
    assert deliver(clerk, demo["resident"]["ahvn13"], pdf(), seal="1").status_code == 302
    data, signatures, _ = delivered_pdf(runtime)
    [status] = validate_pdf(data, [runtime.keyring.ca_certificate])
    assert status.intact and status.trusted and status.signer == "Siegel Dienststelle Steuern"
    assert key.key_id  # the certificate came from the token


def test_presigned_pdf_is_validated_and_a_broken_one_refused(app, demo, pdf, runtime):
    from signing import seal_pdf

    signed = seal_pdf(pdf("Selbst gesiegelt"), runtime.keyring.seal, reason="Test")
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    assert deliver(clerk, demo["resident"]["ahvn13"], signed).status_code == 302
    _, signatures, _ = delivered_pdf(runtime)
    assert signatures[0]["intact"] and signatures[0]["signer"] == "Einwohnerportal Luzern Siegel"

    broken = bytearray(signed)
    at = broken.index(b"ReportLab")  # the producer string, inside the signed range
    broken[at] = ord("X")
    response = deliver(clerk, demo["resident"]["ahvn13"], bytes(broken))
    assert response.status_code == 422
    assert re.search(r"signature in v\.pdf is broken", response.get_data(as_text=True))


def test_authority_without_seal_cannot_ask_for_one(app, demo, pdf, runtime):
    with runtime.transaction() as session:
        for authority in session.scalars(select(Authority)):
            authority.seal_ref = None
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    response = deliver(clerk, demo["resident"]["ahvn13"], pdf(), seal="1")
    assert response.status_code == 422
    assert "no seal yet" in response.get_data(as_text=True)
