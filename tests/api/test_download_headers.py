"""Every document download, web and API, is an attachment that is neither sniffed nor cached,
and the server names no versions (issue 6, part 2)."""

from __future__ import annotations

import threading
import urllib.request
import uuid

from sqlalchemy import select
from werkzeug.serving import make_server

from app.downloads import PortalRequestHandler
from casefiles.models import Document
from mailbox.models import Delivery
from tests.api.support import letter, open_as_resident
from tests.conftest import wait_for


def _assert_download(response, media_type: str) -> None:
    assert response.status_code == 200
    assert response.mimetype == media_type
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"


def test_every_download_is_an_uncached_attachment(app, api, demo, runtime):
    created = api.deliver(letter(demo)).get_json()
    resident = open_as_resident(app, demo["resident"], created["delivery_id"])

    def receipt_filed():
        with runtime.sessions() as session:
            delivery = session.get_one(Delivery, uuid.UUID(created["delivery_id"]))
            return delivery.receipt_document_id is not None

    wait_for(receipt_filed)
    with runtime.sessions() as session:
        documents = session.scalars(
            select(Document).where(Document.case_id == uuid.UUID(created["case_id"]))
        ).all()
        by_type = {d.current.media_type: (d.id, d.current.id) for d in documents}
    assert set(by_type) == {"application/pdf", "application/json"}
    for media_type, (document_id, version_id) in by_type.items():
        _assert_download(resident.get(f"/documents/{version_id}"), media_type)
        _assert_download(api.get(f"/documents/{document_id}"), media_type)
    receipt = f"/deliveries/{created['delivery_id']}/receipt"
    _assert_download(api.get(receipt, {"Accept": "application/pdf"}), "application/pdf")
    _assert_download(api.get(receipt), "application/json")


def test_the_built_in_server_names_no_versions(app):
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=PortalRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/login"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (our own server)
            assert response.headers["Server"] == "Einwohnerportal"
    finally:
        server.shutdown()
        server.server_close()
